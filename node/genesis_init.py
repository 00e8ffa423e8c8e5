"""Genesis set-up of the domain system contracts: which are installed and the call that initialises each."""

from __future__ import annotations

from collections.abc import Callable

from eth_abi.abi import encode as abi_encode
from eth_utils.abi import function_signature_to_4byte_selector

from node.genesis import (
    BUILD_DIR,
    GOVERNANCE_ADDRESS,
    SYSTEM_CONTRACT_ADDRESSES,
    SystemContract,
    load_runtime_code,
)
from sdk.domains.calendar import encode_calendar_initialize

# Domain contracts in installation order (Governance is always installed first by the engine). A contract is
# installed when its artifact exists in contracts/build/.
DOMAIN_CONTRACTS: tuple[str, ...] = (
    "Calendar",
    "LicenceRegistry",
    "DataAuthorisation",
    "DrugTrace",
    "BankConfirmation",
)


def encode_initialize_with_governance(governance: bytes) -> bytes:
    """The default set-up call: ``initialize(governance: address)``."""
    return function_signature_to_4byte_selector("initialize(address)") + abi_encode(["address"], [governance])


# Contracts whose genesis set-up needs more than the Governance address register a builder here.
INIT_DATA_BUILDERS: dict[str, Callable[[bytes], bytes]] = {
    "Calendar": encode_calendar_initialize,  # the official 2024–2026 holidays (sdk/domains/calendar.py)
}


def get_system_contracts() -> tuple[SystemContract, ...]:
    """The domain contracts to install at genesis, at their fixed addresses, with their set-up calls."""
    installed: list[SystemContract] = []
    for name in DOMAIN_CONTRACTS:
        if not (BUILD_DIR / f"{name}.json").exists():
            continue
        build = INIT_DATA_BUILDERS.get(name, encode_initialize_with_governance)
        installed.append(
            SystemContract(
                name=name,
                address=SYSTEM_CONTRACT_ADDRESSES[name],
                runtime_code=load_runtime_code(name),
                init_data=build(GOVERNANCE_ADDRESS),
            )
        )
    return tuple(installed)
