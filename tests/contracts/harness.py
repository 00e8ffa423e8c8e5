"""The chain driver every contract suite runs on: the real native engine checked against py-evm on every
block (``CrossCheckedEngine``), one message per block.

A suite describes its world (organisations, accounts, roles, installed contracts) with :func:`genesis_chain`
and talks to the contracts through :class:`ContractChain`: ``send`` (no expectation), ``must`` (accepted),
``refused`` (reverted without touching state), ``view`` and ``events``.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Self, TypeVar

from eth_utils import keccak

from node.execution import (
    BlockContext,
    ExecutionEngine,
    ExecutionResult,
    Message,
    NativeExecutionEngine,
    ReferenceExecutionEngine,
)
from node.genesis import (
    GOVERNANCE_ADDRESS,
    INIT_DATA_BUILDERS,
    SYSTEM_CONTRACT_ADDRESSES,
    GenesisAccount,
    GenesisCertificate,
    GenesisOrganisation,
    GenesisRole,
    GenesisSpec,
    SystemContract,
    encode_initialize_with_governance,
    load_runtime_code,
)
from sdk.contracts import Contract, DecodedEvent
from sdk.types import Receipt

CHAIN_ID = 7
GAS_LIMIT = 30_000_000
VIEW_GAS = 5_000_000
NOBODY = bytes(20)
VALIDATOR = bytes([1]) * 64
#: Every contract's ABI by its genesis address (Governance included).
ABIS: dict[bytes, Contract] = {GOVERNANCE_ADDRESS: Contract("Governance")} | {
    address: Contract(name) for name, address in SYSTEM_CONTRACT_ADDRESSES.items()
}


class CrossCheckedEngine(NativeExecutionEngine):
    """The native engine on revm with every block also run on py-evm, the reference, and on the native engine
    on evmone (``evmone``), all over the same node store.

    A block whose receipts (status, gas, logs, revert reason), gas or state root differ between py-evm and
    either native VM fails the test that sent it: every contract suite, and every property model built on its
    worlds, is a differential test of the engines. The reference run writes py-evm's storage tries one slot at
    a time (``ReferenceExecutionEngine``), the engines a block's writes at once: the state roots also compare
    the two trie updates. Reads (``call``, proofs) are py-evm's in all of them.
    """

    def __init__(self, db: MutableMapping[bytes, bytes], chain_id: int) -> None:
        super().__init__(db, chain_id)
        self.evmone = NativeExecutionEngine(db, chain_id, vm="evmone")

    def execute_block(
        self, parent_state_root: bytes, ctx: BlockContext, messages: Sequence[Message]
    ) -> ExecutionResult:
        self.state_class = ReferenceExecutionEngine.state_class
        try:
            reference = ExecutionEngine.execute_block(self, parent_state_root, ctx, messages)
        finally:
            del self.state_class  # the engine's own again
        result = super().execute_block(parent_state_root, ctx, messages)
        assert result == reference, describe_difference(reference, result, "revm")
        on_evmone = self.evmone.execute_block(parent_state_root, ctx, messages)
        assert on_evmone == reference, describe_difference(reference, on_evmone, "evmone")
        return result


def describe_difference(reference: ExecutionResult, native: ExecutionResult, vm: str) -> str:
    """The first difference between py-evm's result of a block and the native engine's, for a failure."""
    for index, (want, got) in enumerate(zip(reference.receipts, native.receipts, strict=True)):
        if want != got:
            return f"message {index}: py-evm {want} != native on {vm} {got}"
    return f"py-evm root {reference.state_root.hex()} != native on {vm} {native.state_root.hex()}"


@dataclass
class ContractChain:
    """One message per block on a real engine. Each block advances the clock by ``step_ms``; calls go to
    ``address`` unless a ``to`` names another installed contract."""

    engine: CrossCheckedEngine
    root: bytes
    address: bytes
    now_ms: int = 0
    height: int = 0
    step_ms: int = 1000
    gas: int = 3_000_000
    proposer: bytes = NOBODY
    viewer: bytes = NOBODY
    receipts: list[Receipt] = field(default_factory=list)

    # --- the clock ------------------------------------------------------------------------------------
    @property
    def now(self) -> int:
        """The block time in seconds."""
        return self.now_ms // 1000

    @now.setter
    def now(self, seconds: int) -> None:
        self.now_ms = seconds * 1000

    def advance(self, seconds: int) -> None:
        self.now_ms += seconds * 1000

    def ctx(self, timestamp_ms: int | None = None) -> BlockContext:
        return BlockContext(
            height=self.height,
            timestamp_ms=self.now_ms if timestamp_ms is None else timestamp_ms,
            gas_limit=GAS_LIMIT,
            proposer=self.proposer,
        )

    def fork(self) -> Self:
        """A driver at the same state: state roots are immutable, so tests can share one set-up."""
        return replace(self, receipts=[])

    # --- transactions ---------------------------------------------------------------------------------
    def contract(self, to: bytes | None = None) -> Contract:
        return ABIS[self.address if to is None else to]

    def execute(self, sender: bytes, to: bytes, data: bytes, *, gas: int | None = None) -> Receipt:
        """Run one raw message in the next block."""
        self.height += 1
        self.now_ms += self.step_ms
        tx_hash = keccak(data + self.height.to_bytes(8, "big"))
        message = Message(sender, to, data, self.gas if gas is None else gas, tx_hash)
        result = self.engine.execute_block(self.root, self.ctx(), [message])
        receipt = result.receipts[0]
        if receipt.status != 1:
            assert result.state_root == self.root, "a refused transaction changed state"
        self.root = result.state_root
        self.receipts.append(receipt)
        return receipt

    def send(
        self, sender: bytes, name: str, *args: Any, to: bytes | None = None, gas: int | None = None
    ) -> Receipt:
        """Call ``name`` in the next block, expecting nothing."""
        address = self.address if to is None else to
        return self.execute(sender, address, self.contract(to).encode_call(name, list(args)), gas=gas)

    def must(self, sender: bytes, name: str, *args: Any, to: bytes | None = None) -> Receipt:
        receipt = self.send(sender, name, *args, to=to)
        assert receipt.status == 1, receipt.revert_reason
        return receipt

    def refused(self, sender: bytes, name: str, *args: Any, to: bytes | None = None) -> str:
        """Send, expect a refusal that changed no state and logged nothing; the revert reason."""
        before = self.root
        receipt = self.send(sender, name, *args, to=to)
        assert receipt.status == 0, f"{name} by {sender.hex()[:4]} was accepted"
        assert self.root == before, "a refused transaction changed state"
        assert receipt.logs == ()
        return receipt.revert_reason.decode()

    def view(self, name: str, *args: Any, to: bytes | None = None, at: int | None = None) -> Any:
        """A read-only call at the current state (``at``: block time in seconds, default now)."""
        contract = self.contract(to)
        ctx = self.ctx(None if at is None else at * 1000)
        address = self.address if to is None else to
        out = self.engine.call(
            self.root, self.viewer, address, contract.encode_call(name, list(args)), VIEW_GAS, ctx=ctx
        )
        return contract.decode_output(name, out)

    def events(self, receipt: Receipt, to: bytes | None = None) -> list[DecodedEvent]:
        """The receipt's logs decoded with the ABI of ``to`` (default: the driver's contract); logs of
        other contracts are skipped."""
        contract = self.contract(to)
        decoded = (contract.try_decode_log(log) for log in receipt.logs)
        return [event for event in decoded if event is not None]


C = TypeVar("C", bound=ContractChain)


def system_contract(name: str) -> SystemContract:
    """``name`` at its genesis address with the set-up call the node's genesis makes."""
    build = INIT_DATA_BUILDERS.get(name, encode_initialize_with_governance)
    return SystemContract(
        name, SYSTEM_CONTRACT_ADDRESSES[name], load_runtime_code(name), build(GOVERNANCE_ADDRESS)
    )


def genesis_chain(
    driver: type[C],
    *,
    address: bytes,
    organisations: Sequence[tuple[str, str]],
    accounts: Sequence[tuple[bytes, str]],
    roles: Sequence[tuple[bytes, bytes] | tuple[bytes, bytes, bytes]] = (),
    committee: Sequence[bytes],
    threshold: int = 1,
    contracts: Sequence[str] = (),
    validators: Sequence[bytes] = (VALIDATOR,),
    timestamp_ms: int = 0,
    chain_id: int = CHAIN_ID,
    trust_anchors: Sequence[bytes] = (),
    certificates: Sequence[GenesisCertificate] = (),
    **options: Any,
) -> C:
    """A fresh engine at the genesis of this world, driven by ``driver`` (``options`` set its fields);
    the clock starts at the genesis time."""
    spec = GenesisSpec(
        validators=tuple(validators),
        organisations=tuple(GenesisOrganisation(uscc, name) for uscc, name in organisations),
        accounts=tuple(GenesisAccount(account, uscc) for account, uscc in accounts),
        committee=tuple(committee),
        threshold=threshold,
        roles=tuple(GenesisRole(*role) for role in roles),
        system_contracts=tuple(system_contract(name) for name in contracts),
        timestamp_ms=timestamp_ms,
        trust_anchors=tuple(trust_anchors),
        certificates=tuple(certificates),
    )
    engine = CrossCheckedEngine({}, chain_id=chain_id)
    options.setdefault("now_ms", timestamp_ms)
    return driver(engine, engine.create_genesis(spec), address, **options)
