"""``update_trie`` (a block's storage writes applied to a trie at once) against py-trie's ``HexaryTrie``
(one write at a time): the same root and the same new nodes stored, for any trie and any changes.

Short keys over few byte values make shared prefixes, extensions split and joined, branches emptied to one
child, and nodes small enough to be embedded in their parent; 32-byte keys are the shape of the state. The
adversarial shapes below add keys of mixed lengths (a key that is a prefix of another puts a value in a
branch), empty values (py-trie's delete), deleting absent keys and everything, roots small enough to be
embedded, keys sharing 63 nibbles, large batches, and chains of batches each applied to the last result."""

from __future__ import annotations

import os

import rlp
from hypothesis import given, settings, strategies as st
from trie import HexaryTrie

from node.execution.batch_trie import BLANK_ROOT, _rlp, _rlp_decode, update_trie

BYTES = st.sampled_from((0x00, 0x01, 0x10, 0x11, 0x12, 0x21, 0xA7, 0xFF))
VALUES = st.one_of(
    st.binary(min_size=1, max_size=1),  # under 0x80: its own RLP; the node fits in its parent
    st.binary(min_size=2, max_size=6),
    st.binary(min_size=33, max_size=40),  # the node is hashed whatever its path
)


@st.composite
def tries_and_changes(draw: st.DrawFn) -> tuple[dict[bytes, bytes], dict[bytes, bytes | None]]:
    size = draw(st.sampled_from((1, 2, 3, 32)))
    keys = st.lists(BYTES, min_size=size, max_size=size).map(bytes)
    if size == 32:
        keys = st.one_of(keys, st.binary(min_size=32, max_size=32))
    start = draw(st.dictionaries(keys, VALUES, max_size=40))
    known = st.sampled_from(sorted(start)) if start else keys
    changed = st.one_of(keys, known)
    changes = draw(st.dictionaries(changed, st.one_of(st.none(), VALUES), min_size=1, max_size=40))
    return start, changes


@settings(max_examples=200, deadline=None)
@given(case=tries_and_changes())
def test_a_batch_of_changes_gives_hexary_tries_root_and_nodes(
    case: tuple[dict[bytes, bytes], dict[bytes, bytes | None]],
) -> None:
    start, changes = case
    before, root, one_by_one = _one_by_one(start, changes)
    new_root, written = update_trie(before.__getitem__, root, changes)
    assert new_root == one_by_one.root_hash
    stored = one_by_one.db
    assert {k: v for k, v in written.items() if k not in before} == {
        k: v for k, v in stored.items() if k not in before
    }
    assert_same_as_hexary(start, changes)


def test_no_changes_keep_the_root_and_deleting_everything_gives_the_empty_root() -> None:
    db: dict[bytes, bytes] = {}
    trie = HexaryTrie(db)
    trie[b"\x01" * 32] = b"\x05"
    assert update_trie(db.__getitem__, trie.root_hash, {}) == (trie.root_hash, {})
    assert update_trie(db.__getitem__, trie.root_hash, {b"\x01" * 32: None}) == (BLANK_ROOT, {})


def test_a_missing_node_is_a_key_error() -> None:
    db: dict[bytes, bytes] = {}
    trie = HexaryTrie(db)
    for byte in range(40):
        trie[bytes([byte]) * 32] = b"\x05" * 33
    root = trie.root_hash
    del db[root]
    try:
        update_trie(db.__getitem__, root, {b"\x07" * 32: b"\x01"})
    except KeyError:
        return
    raise AssertionError("a missing root node went unnoticed")


RLP_ITEMS = st.recursive(st.binary(max_size=70), lambda inner: st.lists(inner, max_size=18), max_leaves=40)


@settings(max_examples=300, deadline=None)
@given(item=RLP_ITEMS)
def test_the_node_codec_is_pyrlps(item: object) -> None:
    encoded = rlp.encode(item)
    assert _rlp(item) == encoded
    assert _rlp_decode(encoded) == rlp.decode(encoded)


# --- adversarial shapes ------------------------------------------------------------------------------
Changes = dict[bytes, "bytes | None"]

NIBBLE_BYTES = st.sampled_from((0x00, 0x01, 0x10, 0x11, 0x12, 0xFF))
MIXED_KEYS = st.lists(NIBBLE_BYTES, min_size=0, max_size=3).map(bytes)  # b"" and prefixes of each other
SHAPE_VALUES = st.one_of(
    st.binary(min_size=1, max_size=1),
    st.binary(min_size=2, max_size=5),
    st.binary(min_size=33, max_size=36),
)


def _one_by_one(start: dict[bytes, bytes], changes: Changes) -> tuple[dict[bytes, bytes], bytes, HexaryTrie]:
    db: dict[bytes, bytes] = {}
    trie = HexaryTrie(db, prune=True)
    for key, value in start.items():
        trie[key] = value
    before = dict(db)
    root = trie.root_hash
    for key, value in changes.items():
        if value is None:
            del trie[key]
        else:
            trie[key] = value  # b"" is a delete in py-trie
    return before, root, trie


def assert_same_as_hexary(start: dict[bytes, bytes], changes: Changes) -> None:
    before, root, trie = _one_by_one(start, changes)
    new_root, written = update_trie(before.__getitem__, root, changes)
    assert new_root == trie.root_hash, (start, changes)
    reread = HexaryTrie({**before, **written}, root_hash=new_root)
    final = dict(start)
    for key, value in changes.items():
        if value:
            final[key] = value
        else:
            final.pop(key, None)
    for key, value in final.items():
        assert reread[key] == value


# --- keys of different lengths: a key that is a prefix of another (branch values) -------------------------


def test_deleting_the_only_child_of_a_branch_with_a_value_under_an_extension() -> None:
    # extension 1,2 -> branch(value a, 3 -> leaf 4): deleting 0x1234 leaves the branch's value alone
    assert_same_as_hexary({b"\x12": b"a", b"\x12\x34": b"b"}, {b"\x12\x34": None})


def test_deleting_all_children_of_a_branch_with_a_value() -> None:
    assert_same_as_hexary(
        {b"\x12": b"a", b"\x12\x34": b"b", b"\x12\x35": b"c"}, {b"\x12\x34": None, b"\x12\x35": None}
    )


def test_the_root_branch_with_the_empty_key_loses_its_only_child() -> None:
    assert_same_as_hexary({b"": b"a", b"\x12": b"b"}, {b"\x12": None})


def test_the_root_is_a_branch_with_a_value_only_after_the_batch() -> None:
    assert_same_as_hexary({b"": b"a", b"\x12": b"b", b"\x34": b"c"}, {b"\x12": None, b"\x34": None})


def test_a_branch_value_is_added_and_removed() -> None:
    assert_same_as_hexary({b"\x12\x34": b"b", b"\x12\x35": b"c"}, {b"\x12": b"a"})
    assert_same_as_hexary({b"\x12": b"a", b"\x12\x34": b"b", b"\x12\x35": b"c"}, {b"\x12": None})
    assert_same_as_hexary({b"\x12": b"a", b"\x12\x34": b"b"}, {b"\x12": None})


@settings(max_examples=250, deadline=None)
@given(
    start=st.dictionaries(MIXED_KEYS, SHAPE_VALUES, max_size=25),
    changes=st.dictionaries(
        MIXED_KEYS, st.one_of(st.none(), st.just(b""), SHAPE_VALUES), min_size=1, max_size=25
    ),
)
def test_mixed_key_lengths_give_hexary_tries_root(start: dict[bytes, bytes], changes: Changes) -> None:
    assert_same_as_hexary(start, changes)


# --- empty values, absent keys, everything deleted -------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    start=st.dictionaries(st.binary(min_size=32, max_size=32), SHAPE_VALUES, max_size=20),
    extra=st.dictionaries(
        st.binary(min_size=32, max_size=32), st.sampled_from((None, b"")), min_size=1, max_size=10
    ),
)
def test_empty_values_and_absent_deletes_are_deletes(start: dict[bytes, bytes], extra: Changes) -> None:
    changes: Changes = {key: b"" for key in list(start)[: len(start) // 2]}
    changes.update(extra)
    assert_same_as_hexary(start, changes)


def test_deleting_an_absent_key_keeps_the_root() -> None:
    start = {bytes([n]) * 32: b"\x05" for n in range(5)}
    before, root, _ = _one_by_one(start, {})
    assert update_trie(before.__getitem__, root, {b"\x09" * 32: None})[0] == root
    assert update_trie(before.__getitem__, root, {b"\x09" * 32: b""})[0] == root


def test_deleting_everything_in_one_batch() -> None:
    start = {os.urandom(32): os.urandom(33) for _ in range(300)}
    before, root, _ = _one_by_one(start, {})
    new_root, written = update_trie(before.__getitem__, root, dict.fromkeys(start))
    assert new_root == BLANK_ROOT
    assert written == {}


def test_deleting_everything_and_writing_new_keys_in_one_batch() -> None:
    start = {os.urandom(32): os.urandom(3) for _ in range(50)}
    changes: Changes = dict.fromkeys(start)
    changes.update({os.urandom(32): os.urandom(3) for _ in range(50)})
    assert_same_as_hexary(start, changes)


# --- embedded roots, long shared prefixes, large batches ------------------------------------------------


def test_a_root_under_32_bytes_is_still_hashed_and_stored() -> None:
    assert_same_as_hexary({}, {b"\x01": b"\x02"})
    assert_same_as_hexary({b"\x01": b"\x02"}, {b"\x01": b"\x03"})
    assert_same_as_hexary({b"\x01": b"\x02", b"\x02": b"\x03"}, {b"\x01": None})
    assert_same_as_hexary({b"\x01": b"\x02", b"\x02": b"\x03"}, {b"\x03": b"\x04"})


def test_keys_sharing_63_nibbles() -> None:
    base = b"\xab" * 31
    keys = [base + bytes([0xC0 + n]) for n in range(16)]
    start = {key: bytes([n + 1]) for n, key in enumerate(keys[:8])}
    assert_same_as_hexary(start, {keys[0]: None})
    assert_same_as_hexary(start, {key: None for key in keys[1:8]})  # one leaf left: the extension goes
    assert_same_as_hexary(start, {key: None for key in keys[:8]})
    assert_same_as_hexary(start, {key: b"\x09" * 40 for key in keys[8:]})
    assert_same_as_hexary({keys[0]: b"\x01"}, {keys[1]: b"\x02"})
    assert_same_as_hexary({keys[0]: b"\x01", keys[1]: b"\x02"}, {keys[1]: None, b"\xab" * 32: b"\x03"})


def test_keys_differing_in_the_first_nibble_only() -> None:
    keys = [bytes([n << 4]) + b"\x00" * 31 for n in range(16)]
    start = {key: b"\x01" for key in keys}
    assert_same_as_hexary(start, {key: None for key in keys[1:]})
    assert_same_as_hexary(start, {key: None for key in keys[:15]})


def test_a_large_batch() -> None:
    start = {os.urandom(32): os.urandom(33) for _ in range(2000)}
    keys = list(start)
    changes: Changes = {key: None for key in keys[:500]}
    changes.update({key: os.urandom(2) for key in keys[500:1000]})
    changes.update({os.urandom(32): os.urandom(33) for _ in range(3000)})
    assert_same_as_hexary(start, changes)


# --- batches applied one after another (one block after another on the same trie) ----------------------


@settings(max_examples=80, deadline=None)
@given(
    batches=st.lists(
        st.dictionaries(
            st.lists(NIBBLE_BYTES, min_size=32, max_size=32).map(bytes),
            st.one_of(st.none(), SHAPE_VALUES),
            min_size=1,
            max_size=15,
        ),
        min_size=1,
        max_size=6,
    )
)
def test_chained_batches_follow_hexary_trie(batches: list[Changes]) -> None:
    db: dict[bytes, bytes] = {}
    trie = HexaryTrie(db, prune=False)
    store: dict[bytes, bytes] = {}
    root = BLANK_ROOT
    for changes in batches:
        for key, value in changes.items():
            if value is None:
                del trie[key]
            else:
                trie[key] = value
        root, written = update_trie(store.__getitem__, root, changes)
        store.update(written)
        assert root == trie.root_hash
