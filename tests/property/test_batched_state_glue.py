"""The batched storage and account tries inside py-evm's state (``ExecutionEngine``) against py-evm's own
one-key-at-a-time tries (``ReferenceExecutionEngine``), driven through the state objects directly: storage
writes and reads within a block, checkpoints and reverts, account and storage deletion (a new storage trie)
with writes after it and reverts crossing it, locks between "transactions", state roots asked for mid-block
and several blocks on one state object. Every read, every exception and every root must be the same, and
every slot of every persisted root must be readable (with the same proof) from the batched engine's store."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings, strategies as st

from node.execution import BlockContext
from node.execution.engine import BLANK_ROOT_HASH, ExecutionEngine, ReferenceExecutionEngine

ADDRESSES = tuple(bytes([0xA0 + n]) * 20 for n in range(3))
SLOTS = (0, 1, 2, 3, 2**255, 2**256 - 1)
BULK = tuple(range(100, 140))
UNIVERSE = SLOTS + BULK
VALUES = st.sampled_from((0, 0, 1, 2, 0xFF, 2**200, 2**256 - 1))
CTX = BlockContext(height=1, timestamp_ms=0, gas_limit=30_000_000, proposer=bytes(20))

address = st.sampled_from(ADDRESSES)
slot = st.sampled_from(SLOTS)
OPS = st.one_of(
    st.tuples(st.just("set"), address, slot, VALUES),
    st.tuples(st.just("set"), address, slot, VALUES),
    st.tuples(st.just("set"), address, slot, VALUES),
    st.tuples(st.just("get"), address, slot),
    st.tuples(st.just("bulk"), address, st.integers(0, 30), st.integers(1, 10), VALUES),
    st.tuples(st.just("snapshot")),
    st.tuples(st.just("snapshot")),
    st.tuples(st.just("revert")),
    st.tuples(st.just("revert")),
    st.tuples(st.just("commit")),
    st.tuples(st.just("delete_account"), address),
    st.tuples(st.just("delete_storage"), address),
    st.tuples(st.just("nonce"), address, st.integers(0, 2)),
    st.tuples(st.just("lock")),
    st.tuples(st.just("lock")),
    st.tuples(st.just("state_root")),
    st.tuples(st.just("persist")),
    st.tuples(st.just("read_all")),
)


class Side:
    """One engine and its state object, with the checkpoints opened on it."""

    def __init__(self, engine_class: Any) -> None:
        self.db: dict[bytes, bytes] = {}
        self.engine = engine_class(self.db, chain_id=1)
        self.state = self.engine._get_state(BLANK_ROOT_HASH, CTX)
        self.snapshots: list[Any] = []

    def run(self, op: tuple[Any, ...]) -> Any:
        state, kind = self.state, op[0]
        if kind == "set":
            state.set_storage(op[1], op[2], op[3])
            return None
        if kind == "get":
            return state.get_storage(op[1], op[2])
        if kind == "bulk":
            for n in range(op[2], op[2] + op[3]):
                state.set_storage(op[1], BULK[n % len(BULK)], op[4])
            return None
        if kind == "snapshot":
            self.snapshots.append(state.snapshot())
            return None
        if kind == "revert":
            state.revert(self.snapshots.pop())
            return None
        if kind == "commit":
            state.commit(self.snapshots.pop())
            return None
        if kind == "delete_account":
            state.delete_account(op[1])
            return None
        if kind == "delete_storage":
            state.delete_storage(op[1])
            return None
        if kind == "nonce":
            state.set_nonce(op[1], op[2])
            return None
        if kind == "lock":
            state.lock_changes()
            return None
        if kind == "state_root":
            return bytes(state.make_state_root())
        if kind == "persist":
            state.persist()
            return bytes(state.state_root)
        if kind == "read_all":
            return [state.get_storage(a, s) for a in ADDRESSES for s in UNIVERSE]
        raise AssertionError(kind)


def outcome(side: Side, op: tuple[Any, ...]) -> tuple[str, Any]:
    try:
        return "ok", side.run(op)
    except Exception as exc:  # both sides must fail alike
        return "raised", type(exc).__name__


def check_persisted_root(batched: Side, reference: Side, root: bytes) -> None:
    for a in ADDRESSES:
        for s in UNIVERSE:
            assert batched.engine.get_storage(root, a, s) == reference.engine.get_storage(root, a, s)
        assert batched.engine.get_proof(root, a, list(SLOTS)) == reference.engine.get_proof(
            root, a, list(SLOTS)
        )


def run_both(ops: list[tuple[Any, ...]]) -> None:
    batched, reference = Side(ExecutionEngine), Side(ReferenceExecutionEngine)
    for op in ops:
        if op[0] in ("revert", "commit") and not reference.snapshots:
            continue
        got, expected = outcome(batched, op), outcome(reference, op)
        assert got == expected, (op, got, expected)
        if expected[0] == "raised":
            return
        if op[0] == "persist":
            check_persisted_root(batched, reference, expected[1])
    while reference.snapshots:
        got, expected = outcome(batched, ("commit",)), outcome(reference, ("commit",))
        assert got == expected
    got, expected = outcome(batched, ("persist",)), outcome(reference, ("persist",))
    assert got == expected, (got, expected)
    if expected[0] == "ok":
        check_persisted_root(batched, reference, expected[1])


@settings(max_examples=100, deadline=None)
@given(ops=st.lists(OPS, min_size=1, max_size=40))
def test_batched_state_matches_slot_by_slot_state(ops: list[tuple[Any, ...]]) -> None:
    run_both(ops)


A, B = ADDRESSES[0], ADDRESSES[1]


def test_a_read_after_a_write_in_a_later_transaction_of_the_block() -> None:
    run_both(
        [
            ("nonce", A, 1),
            ("set", A, 1, 7),
            ("lock",),
            ("get", A, 1),
            ("set", A, 2, 8),
            ("lock",),
            ("read_all",),
        ]
    )


def test_a_write_after_a_mid_block_root_is_read_back() -> None:
    run_both(
        [
            ("set", A, 1, 7),
            ("lock",),
            ("state_root",),
            ("set", A, 1, 9),
            ("get", A, 1),
            ("state_root",),
            ("state_root",),
        ]
    )


def test_a_reverted_write_and_a_slot_written_then_zeroed() -> None:
    run_both(
        [
            ("set", A, 1, 7),
            ("lock",),
            ("persist",),
            ("snapshot",),
            ("set", A, 1, 0),
            ("set", A, 2, 5),
            ("revert",),
            ("set", A, 3, 4),
            ("set", A, 3, 0),
            ("get", A, 1),
            ("persist",),
        ]
    )


def test_a_revert_across_a_storage_deletion_with_writes_after_it() -> None:
    run_both(
        [
            ("nonce", A, 1),
            ("bulk", A, 0, 10, 3),
            ("set", A, 1, 7),
            ("persist",),
            ("set", A, 2, 9),
            ("lock",),
            ("state_root",),
            ("snapshot",),
            ("delete_account", A),
            ("set", A, 3, 1),
            ("get", A, 1),
            ("revert",),
            ("get", A, 1),
            ("read_all",),
            ("persist",),
        ]
    )


def test_a_revert_across_a_deletion_after_a_mid_block_root() -> None:
    run_both(
        [
            ("nonce", A, 1),
            ("set", A, 1, 7),
            ("persist",),
            ("snapshot",),
            ("delete_storage", A),
            ("set", A, 3, 1),
            ("commit",),
            ("lock",),
            ("state_root",),
            ("snapshot",),
            ("delete_storage", A),
            ("set", A, 4, 2),
            ("revert",),
            ("read_all",),
            ("state_root",),
            ("persist",),
        ]
    )


def test_deleted_then_rewritten_storage_of_many_accounts() -> None:
    run_both(
        [
            ("nonce", A, 1),
            ("nonce", B, 1),
            ("bulk", A, 0, 30, 5),
            ("bulk", B, 5, 30, 6),
            ("persist",),
            ("delete_account", A),
            ("bulk", A, 3, 4, 9),
            ("lock",),
            ("delete_storage", B),
            ("lock",),
            ("set", B, 2, 1),
            ("persist",),
            ("read_all",),
            ("persist",),
        ]
    )


# --- well-formed blocks: transactions of nested calls, each call committed or reverted -------------------

LEAF_OPS = st.one_of(
    st.tuples(st.just("set"), address, slot, VALUES),
    st.tuples(st.just("set"), address, slot, VALUES),
    st.tuples(st.just("get"), address, slot),
    st.tuples(st.just("bulk"), address, st.integers(0, 30), st.integers(1, 10), VALUES),
    st.tuples(st.just("delete_account"), address),
    st.tuples(st.just("delete_storage"), address),
    st.tuples(st.just("nonce"), address, st.integers(0, 2)),
)


def _call(body: list[Any], end: str) -> list[tuple[Any, ...]]:
    ops: list[tuple[Any, ...]] = [("snapshot",)]
    for part in body:
        ops.extend(part if isinstance(part, list) else [part])
    return [*ops, (end,)]


ENDS = st.sampled_from(("commit", "commit", "revert"))
CALLS = st.recursive(
    st.builds(_call, st.lists(LEAF_OPS, max_size=6), ENDS),
    lambda inner: st.builds(_call, st.lists(st.one_of(LEAF_OPS, inner), max_size=5), ENDS),
    max_leaves=12,
)
TRANSACTIONS = st.builds(
    lambda calls, mid_root: (
        [op for call in calls for op in call] + [("lock",)] + ([("state_root",)] if mid_root else [])
    ),
    st.lists(CALLS, min_size=1, max_size=3),
    st.booleans(),
)
BLOCKS = st.lists(TRANSACTIONS, min_size=1, max_size=5).map(
    lambda txs: [op for tx in txs for op in tx] + [("read_all",), ("persist",)]
)


@settings(max_examples=50, deadline=None)
@given(blocks=st.lists(BLOCKS, min_size=1, max_size=3))
def test_well_formed_blocks_match_slot_by_slot_state(blocks: list[list[tuple[Any, ...]]]) -> None:
    run_both([op for block in blocks for op in block])
