"""Genesis state specification: fixed system-contract addresses, Governance role ids and the first members.

The execution engine turns a ``GenesisSpec`` into the genesis EVM state (``ExecutionEngine.create_genesis``):
it installs runtime code at the fixed addresses and runs ``Governance.initialize`` once. Everything here is
plain data; no EVM import.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from sdk.errors import ExecutionError
from sdk.system import (
    AUDIT_ACCREDITOR as AUDIT_ACCREDITOR,
)
from sdk.system import (
    AUDITOR as AUDITOR,
)
from sdk.system import (
    BANK as BANK,
)
from sdk.system import (
    BANK_CONFIRMATION_ADDRESS as BANK_CONFIRMATION_ADDRESS,
)
from sdk.system import (
    CALENDAR_ADDRESS as CALENDAR_ADDRESS,
)
from sdk.system import (
    CALENDAR_KEEPER as CALENDAR_KEEPER,
)
from sdk.system import (
    DATA_AUTHORISATION_ADDRESS as DATA_AUTHORISATION_ADDRESS,
)
from sdk.system import (
    DATA_HOLDER as DATA_HOLDER,
)
from sdk.system import (
    DATA_REGULATOR as DATA_REGULATOR,
)
from sdk.system import (
    DATA_USER as DATA_USER,
)
from sdk.system import (
    DISPENSER as DISPENSER,
)
from sdk.system import (
    DISTRIBUTOR as DISTRIBUTOR,
)
from sdk.system import (
    DRUG_REGULATOR as DRUG_REGULATOR,
)
from sdk.system import (
    DRUG_TRACE_ADDRESS as DRUG_TRACE_ADDRESS,
)
from sdk.system import (
    GLOBAL_SCOPE as GLOBAL_SCOPE,
)
from sdk.system import (  # defined once for SDK and node; re-exported for node modules
    GOVERNANCE_ADDRESS as GOVERNANCE_ADDRESS,
)
from sdk.system import (
    ISSUER as ISSUER,
)
from sdk.system import (
    LICENCE_AUTHORITY as LICENCE_AUTHORITY,
)
from sdk.system import (
    LICENCE_REGISTRY_ADDRESS as LICENCE_REGISTRY_ADDRESS,
)
from sdk.system import (
    MAH as MAH,
)
from sdk.system import (
    ROLE_IDS as ROLE_IDS,
)
from sdk.system import (
    SYSTEM_CONTRACT_ADDRESSES as SYSTEM_CONTRACT_ADDRESSES,
)

BUILD_DIR: Final = Path(__file__).resolve().parent.parent / "contracts" / "build"

# msg.sender of the genesis initialisation calls
GENESIS_SENDER: Final = bytes(20)


def encode_contract_name(name: str) -> bytes:
    """Return the bytes32 registry key of a system contract: its ASCII name, right-padded with zeros.

    Raises ExecutionError when the name is empty, not ASCII or longer than 32 bytes.
    """
    raw = name.encode("ascii", errors="strict") if name.isascii() else b""
    if not raw or len(raw) > 32:
        raise ExecutionError(f"invalid system contract name {name!r}", code="bad_genesis")
    return raw.ljust(32, b"\x00")


def load_runtime_code(contract_name: str, build_dir: Path = BUILD_DIR) -> bytes:
    """Return the runtime bytecode of ``contracts/build/<contract_name>.json``.

    Raises ExecutionError when the artifact is missing or malformed.
    """
    path = build_dir / f"{contract_name}.json"
    try:
        artifact = json.loads(path.read_text(encoding="utf-8"))
        return bytes.fromhex(str(artifact["deployed_bytecode"]).removeprefix("0x"))
    except (OSError, ValueError, KeyError) as exc:
        raise ExecutionError(f"cannot load contract artifact {path}", code="bad_artifact") from exc


@dataclass(frozen=True, slots=True)
class GenesisOrganisation:
    uscc: str  # 18-character unified social credit code
    name: str


@dataclass(frozen=True, slots=True)
class GenesisAccount:
    address: bytes  # 20 bytes (SM3-derived from the account's SM2 key)
    uscc: str  # the organisation it belongs to


@dataclass(frozen=True, slots=True)
class GenesisRole:
    address: bytes
    role: bytes  # 32-byte role id (ROLE_IDS)
    scope: bytes = GLOBAL_SCOPE


@dataclass(frozen=True, slots=True)
class SystemContract:
    """A contract installed at genesis at a fixed address and listed in the Governance registry."""

    name: str  # registry name (<= 32 ASCII bytes), e.g. "LicenceRegistry"
    address: bytes  # 20 bytes
    runtime_code: bytes
    init_data: bytes = b""  # optional call (from GENESIS_SENDER) run after Governance.initialize


DEFAULT_ROLE_ADMINS: Final[tuple[tuple[bytes, bytes], ...]] = (
    (ISSUER, LICENCE_AUTHORITY),
    (AUDITOR, AUDIT_ACCREDITOR),
    (MAH, DRUG_REGULATOR),
    (DISTRIBUTOR, DRUG_REGULATOR),
    (DISPENSER, DRUG_REGULATOR),
    (DATA_HOLDER, DATA_REGULATOR),
    (DATA_USER, DATA_REGULATOR),
)


@dataclass(frozen=True, slots=True)
class GenesisSpec:
    """What the genesis EVM state contains.

    ``validators`` are 64-byte SM2 public keys in Governance order; committee members must be listed in
    ``accounts``; ``role_admins`` are (role, admin_role) pairs. ``governance_code`` defaults to the
    committed artifact contracts/build/Governance.json.
    """

    validators: tuple[bytes, ...]
    organisations: tuple[GenesisOrganisation, ...]
    accounts: tuple[GenesisAccount, ...]
    committee: tuple[bytes, ...]
    threshold: int
    roles: tuple[GenesisRole, ...] = ()
    role_admins: tuple[tuple[bytes, bytes], ...] = DEFAULT_ROLE_ADMINS
    system_contracts: tuple[SystemContract, ...] = ()
    timestamp_ms: int = 0
    gas_limit: int = 1_000_000_000
    governance_code: bytes = field(default_factory=lambda: load_runtime_code("Governance"))
