"""Apply many changes to a Merkle Patricia trie at once: each node on a changed path is read, encoded and
hashed once, instead of once per key as ``trie.HexaryTrie`` does.

py-evm writes a block's storage changes into an account's storage trie one slot at a time. Each write
re-encodes and re-hashes every node from the leaf to the root, and the next write replaces most of them
again: a block that commissions 2,000 drug codes encodes ≈ 10,000 nodes to keep ≈ 3,000. ``update_trie``
takes the block's changes together and builds only the final nodes. The trie is canonical (one shape per
key-value set), so the root and the stored nodes are the ones ``HexaryTrie`` gives: tests/property
compares both on random change sets, and every block's state root is checked by the node as before.

Nodes in memory are tuples: ``(LEAF, path, value)``, ``(EXTENSION, path, child)``,
``(BRANCH, children, value)`` and ``(REF, ref)`` for a subtree not read (a 32-byte hash, or the decoded
list of a node embedded in its parent); ``None`` is the empty trie. Paths are strings of hex digits, one
per nibble (slicing, comparing and grouping them runs in C).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from os.path import commonprefix
from typing import Any

import rlp
from eth_hash.auto import keccak

#: keccak256(rlp(b"")): the root of the empty trie (never stored, as in ``HexaryTrie``).
BLANK_ROOT = keccak(rlp.encode(b""))

LEAF, EXTENSION, BRANCH, REF = 0, 1, 2, 3

Node = tuple[Any, ...] | None
Item = tuple[str, bytes | None]

_HEX = "0123456789abcdef"
_DIGIT = {digit: index for index, digit in enumerate(_HEX)}


def _rlp(item: Any) -> bytes:
    """RLP of a byte string or a (nested) list of them: what ``rlp.encode`` gives, without its type
    inference (most of the update's time when it was used)."""
    if isinstance(item, bytes):
        if len(item) == 1 and item[0] < 0x80:
            return item
        return _length_prefix(len(item), 0x80) + item
    payload = b"".join([_rlp(part) for part in item])
    return _length_prefix(len(payload), 0xC0) + payload


def _length_prefix(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes((offset + length,))
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((offset + 55 + len(size),)) + size


def _rlp_decode(data: bytes) -> Any:
    """The byte strings and lists of a stored node's RLP (``rlp.decode``'s result, without its sedes
    machinery). Raises ValueError when the bytes are not one RLP item."""
    item, end = _rlp_item(data, 0)
    if end != len(data):
        raise ValueError("trailing bytes after a trie node's RLP")
    return item


def _rlp_item(data: bytes, start: int) -> tuple[Any, int]:
    first = data[start]
    if first < 0x80:
        return data[start : start + 1], start + 1
    if first < 0xB8:
        end = start + 1 + first - 0x80
        return data[start + 1 : end], end
    if first < 0xC0:
        body = start + 1 + first - 0xB7
        end = body + int.from_bytes(data[start + 1 : body], "big")
        return data[body:end], end
    if first < 0xF8:
        position, end = start + 1, start + 1 + first - 0xC0
    else:
        position = start + 1 + first - 0xF7
        end = position + int.from_bytes(data[start + 1 : position], "big")
    items = []
    while position < end:
        item, position = _rlp_item(data, position)
        items.append(item)
    if position != end or end > len(data):
        raise ValueError("a trie node's RLP list overruns its length")
    return items, end


def _hp_encode(path: str, leaf: bool) -> bytes:
    """Hex-prefix encoding of a path: flag nibble (2 leaf, 0 extension, +1 odd length), then the path."""
    if len(path) % 2:
        return bytes.fromhex(("3" if leaf else "1") + path)
    return bytes.fromhex(("20" if leaf else "00") + path)


def _hp_decode(data: bytes) -> tuple[str, bool]:
    """The path and the leaf flag of a hex-prefix encoded path."""
    digits = data.hex()
    flag = _DIGIT[digits[0]]
    return (digits[1:] if flag & 1 else digits[2:]), flag >= 2


class _Trie:
    """One batch update: reads nodes through ``read``, collects the new nodes in ``written``."""

    def __init__(self, read: Callable[[bytes], bytes]) -> None:
        self.read = read
        self.written: dict[bytes, bytes] = {}

    def resolve(self, ref: Any) -> tuple[Any, ...]:
        """The node a reference names (read and decoded), its children left as references."""
        raw = _rlp_decode(self.read(ref)) if isinstance(ref, bytes) else ref
        if len(raw) == 17:
            children = [None if child == b"" else (REF, child) for child in raw[:16]]
            return (BRANCH, children, raw[16])
        path, leaf = _hp_decode(raw[0])
        if leaf:
            return (LEAF, path, raw[1])
        return (EXTENSION, path, (REF, raw[1]))

    def update(self, node: Node, items: list[Item]) -> Node:
        """``node`` with ``items`` (suffix path, value or None to delete) applied; never a REF."""
        if node is None:
            return self.build([(path, value) for path, value in items if value is not None])
        if node[0] == REF:
            node = self.resolve(node[1])
        kind = node[0]
        if kind == LEAF:
            merged: dict[str, bytes] = {node[1]: node[2]}
            for path, value in items:
                if value is None:
                    merged.pop(path, None)
                else:
                    merged[path] = value
            return self.build(list(merged.items()))
        if kind == EXTENSION:
            path, child = node[1], node[2]
            size = len(path)
            if all(item.startswith(path) for item, _ in items):
                return self.extend(path, self.update(child, [(item[size:], value) for item, value in items]))
            # Some change leaves the extension's path: it becomes a branch on its first nibble.
            children: list[Node] = [None] * 16
            children[_DIGIT[path[0]]] = (EXTENSION, path[1:], child) if size > 1 else child
            return self.update((BRANCH, children, b""), items)
        children = list(node[1])
        value = node[2]
        groups: dict[str, list[Item]] = {}
        for path, new in items:
            if path:
                groups.setdefault(path[0], []).append((path[1:], new))
            else:
                value = b"" if new is None else new
        for digit, group in groups.items():
            nibble = _DIGIT[digit]
            children[nibble] = self.update(children[nibble], group)
        return self.branch(children, value)

    def build(self, entries: list[tuple[str, bytes]]) -> Node:
        """The trie of ``entries`` (distinct paths, values not empty)."""
        if not entries:
            return None
        if len(entries) == 1:
            return (LEAF, entries[0][0], entries[0][1])
        # character by character is what is wanted: one hex digit is one nibble
        shared = len(commonprefix([path for path, _ in entries]))  # noqa: RUF071
        if shared:
            branch = self.build_branch([(path[shared:], value) for path, value in entries])
            return (EXTENSION, entries[0][0][:shared], branch)
        return self.build_branch(entries)

    def build_branch(self, entries: list[tuple[str, bytes]]) -> Node:
        """A branch over ``entries`` whose paths differ in their first nibble (or one is empty)."""
        value = b""
        groups: dict[str, list[tuple[str, bytes]]] = {}
        for path, item in entries:
            if path:
                groups.setdefault(path[0], []).append((path[1:], item))
            else:
                value = item
        children: list[Node] = [None] * 16
        for digit, group in groups.items():
            children[_DIGIT[digit]] = self.build(group)
        return (BRANCH, children, value)

    def extend(self, path: str, child: Node) -> Node:
        """``path`` in front of ``child``: joined into a leaf or extension below it, or an extension."""
        if child is None:
            return None
        if child[0] == LEAF:
            return (LEAF, path + child[1], child[2])
        if child[0] == EXTENSION:
            return (EXTENSION, path + child[1], child[2])
        return (EXTENSION, path, child)

    def branch(self, children: list[Node], value: bytes) -> Node:
        """A branch, or what it reduces to when it holds one thing only."""
        live = [index for index, child in enumerate(children) if child is not None]
        if not live:
            return (LEAF, "", value) if value else None
        if len(live) == 1 and not value:
            only = children[live[0]]
            assert only is not None
            if only[0] == REF:
                resolved = self.resolve(only[1])
                if resolved[0] == BRANCH:
                    return (EXTENSION, _HEX[live[0]], only)
                only = resolved
            return self.extend(_HEX[live[0]], only)
        return (BRANCH, children, value)

    def encode(self, node: Node, root: bool = False) -> Any:
        """The reference to ``node`` in its parent: its hash (the node stored), or the node itself when its
        encoding is under 32 bytes (embedded). The root is always hashed and stored."""
        assert node is not None
        kind = node[0]
        if kind == REF:
            return node[1]
        if kind == LEAF:
            raw: list[Any] = [_hp_encode(node[1], True), node[2]]
        elif kind == EXTENSION:
            raw = [_hp_encode(node[1], False), self.encode(node[2])]
        else:
            raw = [b"" if child is None else self.encode(child) for child in node[1]]
            raw.append(node[2])
        encoded = _rlp(raw)
        if len(encoded) < 32 and not root:
            return raw
        digest = keccak(encoded)
        self.written[digest] = encoded
        return digest


def update_trie(
    read: Callable[[bytes], bytes], root: bytes, changes: Mapping[bytes, bytes | None]
) -> tuple[bytes, dict[bytes, bytes]]:
    """Apply ``changes`` (key → value, or None to delete the key) to the trie whose root hash is ``root``.

    ``read(hash)`` returns a stored node's encoding (raising KeyError for a missing one). Returns the new
    root hash and the new nodes to store (hash → encoding): those of the changed paths, as
    ``HexaryTrie`` would store them; the empty trie's root is not stored.
    """
    if not changes:
        return root, {}
    trie = _Trie(read)
    start: Node = None if root == BLANK_ROOT else (REF, root)
    items = [(key.hex(), value if value else None) for key, value in changes.items()]
    result = trie.update(start, items)
    if result is None:
        return BLANK_ROOT, trie.written
    return trie.encode(result, root=True), trie.written
