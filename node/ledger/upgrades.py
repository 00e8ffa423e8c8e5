"""Contract upgrades at their activation block: the ledger's own step before a block's transactions.

The committee approves an UPGRADE_CONTRACT proposal (contracts/Governance.vy, ``propose_upgrade``): a
system contract, the keccak256 hash of its new runtime code, a migration call and an activation block. The
code itself travels in the proposal's transaction and is logged once by Governance (``UpgradeCode``), so
every node that holds the chain holds it. At the start of the activation block every node, building or
validating the block, does the same deterministic transition (``apply_due_upgrade``):

1. read ``Governance.upgrade_at(height)`` at the parent state (none: nothing to do);
2. take the code from the committed ``UpgradeCode`` log of that proposal and check its hash;
3. install it at the target outside the EVM and apply the migration call (from Governance's address, at
   most ``MIGRATION_GAS``), all or nothing, on py-evm — whichever engine runs the block's transactions (a
   new Governance must also still answer the ledger's reads, ``answers_the_ledger``);
4. report the outcome with ``Governance.record_upgrade(id, previous code hash, status)`` from
   ``SYSTEM_SENDER``, which keeps it in Governance's state (``upgrades(id)``).

Nothing here can stop the chain: missing code or a failing migration leaves the old code in force and is
recorded as such (``UpgradeStatus``); a Governance without upgrades simply has none due.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from eth_abi.abi import decode as abi_decode, encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_utils.abi import event_signature_to_log_topic, function_signature_to_4byte_selector
from eth_utils.crypto import keccak

from node.execution import BlockContext, ExecutionEngine, ExecutionResult, Message
from node.execution.engine import EMPTY_CODE_HASH
from node.ledger.rules import compute_messages
from node.storage import Store
from sdk.domains.governance.model import UpgradeStatus
from sdk.errors import ExecutionError
from sdk.system import SYSTEM_SENDER
from sdk.types import Transaction, sort_validators

log = logging.getLogger("xinlian.ledger")

#: Gas of an upgrade's migration call (the chain's default transaction gas limit).
MIGRATION_GAS: Final = 5_000_000
_RECORD_GAS: Final = 1_000_000
_VIEW_GAS: Final = 1_000_000
UPGRADE_CODE_TOPIC: Final = event_signature_to_log_topic("UpgradeCode(uint256,bytes32,bytes)")
_UPGRADE_AT: Final = function_signature_to_4byte_selector("upgrade_at(uint256)")
_UPGRADES: Final = function_signature_to_4byte_selector("upgrades(uint256)")
_RECORD_UPGRADE: Final = function_signature_to_4byte_selector("record_upgrade(uint256,bytes32,uint8)")
_GET_VALIDATORS: Final = function_signature_to_4byte_selector("get_validators()")
_IS_ACTIVE: Final = function_signature_to_4byte_selector("is_active_account(address)")
_UPGRADE_TYPE: Final = "(address,bytes32,uint256,bytes,uint8,bytes32)"
_NO_TX: Final = bytes(32)

#: Finds an upgrade's code: (proposal id, code hash, activation height) -> the code logged before that
#: height, or None.
CodeSource = Callable[[int, bytes, int], bytes | None]


@dataclass(frozen=True, slots=True)
class DueUpgrade:
    """The scheduled upgrade whose activation block is being executed."""

    proposal_id: int
    target: bytes
    code_hash: bytes
    migration: bytes


def read_due_upgrade(
    engine: ExecutionEngine, state_root: bytes, governance: bytes, ctx: BlockContext
) -> DueUpgrade | None:
    """The upgrade Governance schedules for block ``ctx.height``, read at its parent ``state_root``. None
    when there is none, or Governance does not answer (one built before upgrades existed)."""
    at = _read(engine, state_root, governance, _UPGRADE_AT + _word(ctx.height), "uint256")
    if not at:
        return None
    upgrade = _read(engine, state_root, governance, _UPGRADES + _word(at), _UPGRADE_TYPE)
    if upgrade is None:
        return None
    target, code_hash, activation, migration, status, _ = upgrade
    if status != UpgradeStatus.SCHEDULED or activation != ctx.height:
        return None
    return DueUpgrade(int(at), bytes.fromhex(target[2:]), bytes(code_hash), bytes(migration))


def read_validators(engine: ExecutionEngine, state_root: bytes, governance: bytes) -> tuple[bytes, ...]:
    """The validator set Governance holds in the state at ``state_root`` (sorted: the consensus order).
    Raises ExecutionError when Governance does not answer."""
    out = engine.call(state_root, bytes(20), governance, _GET_VALIDATORS, _VIEW_GAS)
    return tuple(sort_validators(list(abi_decode(["bytes[]"], out)[0])))


def _read(engine: ExecutionEngine, state_root: bytes, governance: bytes, data: bytes, kind: str) -> Any:
    """One value of ``kind`` that Governance returns for ``data``; None when it reverts or answers
    something else (deterministic either way: every node reads the same state)."""
    try:
        out = engine.call(state_root, bytes(20), governance, data, _VIEW_GAS)
        return abi_decode([kind], out)[0]
    except (ExecutionError, DecodingError, ValueError):  # a revert, or an answer of another shape
        return None


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def apply_due_upgrade(
    engine: ExecutionEngine, state_root: bytes, governance: bytes, ctx: BlockContext, find_code: CodeSource
) -> bytes:
    """The state the block's transactions start from: ``state_root`` with the upgrade due at ``ctx.height``
    applied and recorded (module docstring), or ``state_root`` itself when none is due."""
    due = read_due_upgrade(engine, state_root, governance, ctx)
    if due is None:
        return state_root
    previous = engine.get_code_hash(state_root, due.target)
    code = find_code(due.proposal_id, due.code_hash, ctx.height)
    root, status = install_upgrade(engine, state_root, governance, ctx, due, code)
    recorded = record_upgrade(engine, root, governance, ctx, due, previous, status)
    if recorded is None and root != state_root:
        # A new Governance that cannot record its own upgrade: keep the old one, which can.
        status = UpgradeStatus.MIGRATION_FAILED
        recorded = record_upgrade(engine, state_root, governance, ctx, due, previous, status)
    log.info(
        "upgrade %d of %s at height %d: %s (code %s -> %s)",
        due.proposal_id,
        due.target.hex(),
        ctx.height,
        status.name,
        previous.hex(),
        due.code_hash.hex(),
    )
    return state_root if recorded is None else recorded


def install_upgrade(
    engine: ExecutionEngine,
    state_root: bytes,
    governance: bytes,
    ctx: BlockContext,
    due: DueUpgrade,
    code: bytes | None,
) -> tuple[bytes, UpgradeStatus]:
    """Install ``code`` at the target and run the migration call, all or nothing: the resulting state and
    status (the parent's state unless ACTIVATED). A new Governance must still answer the reads the ledger
    makes of it (``answers_the_ledger``), or the chain could not go on: it is refused like a failed
    migration."""
    if (
        code is None
        or keccak(code) != due.code_hash
        or engine.get_code_hash(state_root, due.target) == EMPTY_CODE_HASH
    ):
        return state_root, UpgradeStatus.CODE_UNAVAILABLE
    migration = (
        Message(governance, due.target, due.migration, MIGRATION_GAS, _NO_TX) if due.migration else None
    )
    root, receipt = engine.apply_system_step(state_root, ctx, migration, install=(due.target, code))
    if receipt is not None and receipt.status != 1:
        reason = receipt.revert_reason.decode("utf-8", "replace")
        log.warning("upgrade %d: the migration call failed (%s), the old code stays", due.proposal_id, reason)
        return state_root, UpgradeStatus.MIGRATION_FAILED
    if due.target == governance and not answers_the_ledger(engine, root, governance, ctx):
        log.warning(
            "upgrade %d: the new Governance does not answer the ledger, the old code stays", due.proposal_id
        )
        return state_root, UpgradeStatus.MIGRATION_FAILED
    return root, UpgradeStatus.ACTIVATED


def answers_the_ledger(
    engine: ExecutionEngine, state_root: bytes, governance: bytes, ctx: BlockContext
) -> bool:
    """Whether Governance at ``state_root`` answers what every block needs of it: a non-empty validator set,
    account activity and the next height's upgrade."""
    validators = _read(engine, state_root, governance, _GET_VALIDATORS, "bytes[]")
    active = _read(engine, state_root, governance, _IS_ACTIVE + _word(0), "bool")
    upgrade = _read(engine, state_root, governance, _UPGRADE_AT + _word(ctx.height + 1), "uint256")
    return bool(validators) and active is not None and upgrade is not None


def record_upgrade(
    engine: ExecutionEngine,
    state_root: bytes,
    governance: bytes,
    ctx: BlockContext,
    due: DueUpgrade,
    previous: bytes,
    status: UpgradeStatus,
) -> bytes | None:
    """``Governance.record_upgrade`` from SYSTEM_SENDER on ``state_root``: the new state, None if refused."""
    data = _RECORD_UPGRADE + abi_encode(["uint256", "bytes32", "uint8"], [due.proposal_id, previous, status])
    root, receipt = engine.apply_system_step(
        state_root, ctx, Message(SYSTEM_SENDER, governance, data, _RECORD_GAS, _NO_TX)
    )
    if receipt is not None and receipt.status != 1:
        log.error("upgrade %d: Governance refused its record: %r", due.proposal_id, receipt.revert_reason)
        return None
    return root


def logged_upgrade_code(store: Store, governance: bytes) -> CodeSource:
    """The ``CodeSource`` of a node: the ``UpgradeCode`` log Governance wrote in a committed block."""

    def find(proposal_id: int, code_hash: bytes, height: int) -> bytes | None:
        logs, _ = store.query_logs(
            address=governance,
            topics=[UPGRADE_CODE_TOPIC, proposal_id.to_bytes(32, "big"), code_hash],
            to_height=height - 1,
            limit=1,
        )
        if not logs:
            return None
        try:
            return bytes(abi_decode(["bytes"], logs[0].log.data)[0])
        except Exception:  # eth_abi raises several types; Governance's own log always decodes
            return None

    return find


# --- executing a block: one rule for building, validating and auditing ---------------------------------
def execute_block_body(
    engine: ExecutionEngine,
    store: Store,
    governance: bytes,
    parent_state_root: bytes,
    ctx: BlockContext,
    txs: Sequence[Transaction],
) -> ExecutionResult:
    """Execute a block on its parent's state: the contract upgrade due at its height, if any (the ledger's
    own step, node.ledger.upgrades), then its transactions in order."""
    code = logged_upgrade_code(store, governance)
    start = apply_due_upgrade(engine, parent_state_root, governance, ctx, code)
    return engine.execute_block(start, ctx, compute_messages(txs))
