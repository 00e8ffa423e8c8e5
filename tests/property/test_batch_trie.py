"""``update_trie`` (a block's storage writes applied to a trie at once) against py-trie's ``HexaryTrie``
(one write at a time): the same root and the same new nodes stored, for any trie and any changes.

Short keys over few byte values make shared prefixes, extensions split and joined, branches emptied to one
child, and nodes small enough to be embedded in their parent; 32-byte keys are the shape of the state."""

from __future__ import annotations

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


@settings(max_examples=400, deadline=None)
@given(case=tries_and_changes())
def test_a_batch_of_changes_gives_hexary_tries_root_and_nodes(
    case: tuple[dict[bytes, bytes], dict[bytes, bytes | None]],
) -> None:
    start, changes = case
    db: dict[bytes, bytes] = {}
    one_by_one = HexaryTrie(db, prune=True)
    for key, value in start.items():
        one_by_one[key] = value
    before = dict(db)
    root = one_by_one.root_hash
    for key, value in changes.items():
        if value is None:
            del one_by_one[key]
        else:
            one_by_one[key] = value

    new_root, written = update_trie(before.__getitem__, root, changes)

    assert new_root == one_by_one.root_hash
    assert {k: v for k, v in written.items() if k not in before} == {
        k: v for k, v in db.items() if k not in before
    }
    reread = HexaryTrie({**before, **written}, root_hash=new_root)
    final = {**start, **{k: v for k, v in changes.items() if v is not None}}
    for key in changes:
        if changes[key] is None:
            final.pop(key, None)
    for key, value in final.items():
        assert reread[key] == value


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
