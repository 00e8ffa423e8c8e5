"""``_BatchedStorageLookup`` against py-evm's ``StorageLookup`` call by call. In py-evm's pipeline the held
writes live only inside ``make_state_root`` (flushed from the journal, then applied when the root is asked
for), so reads of held writes, ``new_trie`` with writes held and rollbacks dropping held writes are never
reached from the state: these drive the lookup directly so that those paths are held to py-evm's too."""

from __future__ import annotations

from typing import Any

from eth.db.atomic import AtomicDB
from eth.db.storage import StorageLookup
from hypothesis import given, settings, strategies as st

from node.execution.engine import BLANK_ROOT_HASH, _BatchedStorageLookup

ADDRESS = b"\xaa" * 20
KEYS = st.sampled_from([bytes([n]) for n in range(1, 9)] + [b"\x01\x00", b"\xff" * 32])
VALUES = st.sampled_from((b"\x01", b"\x7f", b"\x81\x80", b"\xa0" + b"\x11" * 32))
OPS = st.one_of(
    st.tuples(st.just("set"), KEYS, VALUES),
    st.tuples(st.just("set"), KEYS, VALUES),
    st.tuples(st.just("del"), KEYS),
    st.tuples(st.just("get"), KEYS),
    st.tuples(st.just("contains"), KEYS),
    st.tuples(st.just("root")),
    st.tuples(st.just("new_trie")),
    st.tuples(st.just("rollback"), st.integers(0, 3)),
    st.tuples(st.just("commit")),
    st.tuples(st.just("changed")),
)


def run(lookup: Any, db: Any, op: tuple[Any, ...]) -> Any:
    kind = op[0]
    if kind == "set":
        lookup[op[1]] = op[2]
        return None
    if kind == "del":
        del lookup[op[1]]
        return None
    if kind == "get":
        return lookup[op[1]]
    if kind == "contains":
        return op[1] in lookup
    if kind == "root":
        return lookup.get_changed_root()
    if kind == "new_trie":
        return lookup.new_trie()
    if kind == "rollback":
        lookup.rollback_trie(op[1])
        return None
    if kind == "commit":
        lookup.commit_to(db)
        return None
    if kind == "changed":
        return lookup.has_changed_root
    raise AssertionError(kind)


def outcome(lookup: Any, db: Any, op: tuple[Any, ...]) -> tuple[str, Any]:
    try:
        return "ok", run(lookup, db, op)
    except Exception as exc:  # both must fail alike
        return "raised", type(exc).__name__


def run_both(ops: list[tuple[Any, ...]]) -> None:
    dbs = AtomicDB(), AtomicDB()
    root = BLANK_ROOT_HASH
    batched = _BatchedStorageLookup(dbs[0], root, ADDRESS)
    reference = StorageLookup(dbs[1], root, ADDRESS)
    for op in ops:
        got, expected = outcome(batched, dbs[0], op), outcome(reference, dbs[1], op)
        assert got == expected, (op, got, expected)
    for key in [bytes([n]) for n in range(1, 9)]:
        assert outcome(batched, dbs[0], ("get", key)) == outcome(reference, dbs[1], ("get", key))
    assert outcome(batched, dbs[0], ("root",)) == outcome(reference, dbs[1], ("root",))


@settings(max_examples=500, deadline=None)
@given(ops=st.lists(OPS, min_size=1, max_size=30))
def test_the_batched_lookup_matches_py_evms_call_by_call(ops: list[tuple[Any, ...]]) -> None:
    run_both(ops)


def test_held_writes_are_read_back_and_deletes_hide_keys() -> None:
    run_both(
        [
            ("set", b"\x01", b"\x05"),
            ("get", b"\x01"),
            ("contains", b"\x01"),
            ("del", b"\x01"),
            ("get", b"\x01"),
            ("contains", b"\x01"),
            ("root",),
        ]
    )


def test_writes_held_at_a_new_trie_come_back_with_the_rollback() -> None:
    run_both(
        [
            ("set", b"\x01", b"\x05"),
            ("new_trie",),
            ("get", b"\x01"),
            ("set", b"\x02", b"\x06"),
            ("rollback", 0),
            ("get", b"\x01"),
            ("get", b"\x02"),
            ("root",),
        ]
    )


def test_writes_after_a_root_and_a_new_trie_are_dropped_by_the_rollback() -> None:
    run_both(
        [
            ("set", b"\x01", b"\x05"),
            ("root",),
            ("set", b"\x03", b"\x07"),
            ("new_trie",),
            ("set", b"\x02", b"\x06"),
            ("root",),
            ("set", b"\x04", b"\x06"),
            ("rollback", 0),
            ("get", b"\x03"),
            ("get", b"\x04"),
            ("commit",),
            ("get", b"\x03"),
        ]
    )
