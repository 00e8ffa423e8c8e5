"""SM3 Merkle trees as in RFC 9162 (Certificate Transparency v2): roots, inclusion and consistency proofs."""

# Hashing is RFC 9162 §2.1.1 with SM3 in place of SHA-256: empty tree SM3(b""), leaf SM3(0x00 ‖ data),
# node SM3(0x01 ‖ left ‖ right), the left subtree holding the largest power of two of leaves strictly
# smaller than the tree size. Functions named ``…_from_leaf_hashes`` take leaf hashes instead of leaf
# data. Verification raises MerkleProofError and never returns a bool. ``compute_root_reference`` is the
# RFC's plain recursive MTH, kept beside the level-by-level MerkleTree and the incremental
# MerkleAccumulator; property tests make them agree.

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Self

from sdk.crypto import sm3
from sdk.errors import MerkleProofError

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT: bytes = sm3(b"")

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MerkleAccumulator",
    "MerkleHistory",
    "MerkleTree",
    "compute_consistency_proof",
    "compute_consistency_proof_from_leaf_hashes",
    "compute_inclusion_proof",
    "compute_inclusion_proof_from_leaf_hashes",
    "compute_leaf_hash",
    "compute_node_hash",
    "compute_root",
    "compute_root_from_leaf_hashes",
    "compute_root_reference",
    "verify_consistency",
    "verify_inclusion",
    "verify_inclusion_of_leaf_hash",
]


# --- hashing -----------------------------------------------------------------------------------------
def compute_leaf_hash(data: bytes) -> bytes:
    """Return the RFC 9162 leaf hash ``SM3(0x00 ‖ data)`` of one leaf's data."""
    return sm3(LEAF_PREFIX + data)


def compute_node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 interior node hash ``SM3(0x01 ‖ left ‖ right)``."""
    return sm3(NODE_PREFIX + left + right)


def _split_point(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n ≥ 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


# --- roots and proofs from a whole tree --------------------------------------------------------------
def _compute_levels(leaf_hashes: Sequence[bytes]) -> list[list[bytes]]:
    """All levels of the tree, leaves first, root level last (one node).

    Built level by level, carrying an unpaired last node up unchanged; this is the same tree as the RFC's
    split at the largest power of two: node ``j`` of level ``h`` is MTH of leaves
    ``[j·2^h, min((j+1)·2^h, n))``.
    """
    level = list(leaf_hashes)
    levels = [level]
    node = compute_node_hash
    while len(level) > 1:
        nxt = [node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) & 1:
            nxt.append(level[-1])
        levels.append(nxt)
        level = nxt
    return levels


class MerkleTree:
    """A whole Merkle tree held in memory (all levels): O(n) to build, O(log n) per proof.

    Use it to serve many proofs over one set of leaves (e.g. every transaction of a block).
    """

    __slots__ = ("_levels",)

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        """Build the tree over ``leaf_hashes`` (each ``compute_leaf_hash(data)``)."""
        self._levels = _compute_levels(leaf_hashes)

    @classmethod
    def from_leaves(cls, leaves: Sequence[bytes]) -> MerkleTree:
        """Build the tree over leaf data."""
        return cls([compute_leaf_hash(d) for d in leaves])

    @property
    def size(self) -> int:
        """The number of leaves."""
        return len(self._levels[0])

    @property
    def root(self) -> bytes:
        """The Merkle tree hash (``EMPTY_ROOT`` for no leaves)."""
        top = self._levels[-1]
        return top[0] if top else EMPTY_ROOT

    def _node(self, start: int, end: int) -> bytes:
        """MTH of leaves ``[start, end)``, a node of this tree (``start`` aligned, ``end`` ≤ size)."""
        h = (end - start - 1).bit_length()
        return self._levels[h][start >> h]

    def inclusion_proof(self, index: int) -> tuple[bytes, ...]:
        """Return the inclusion proof (RFC 9162 §2.1.3.1 PATH) of leaf ``index``, leaf sibling first.

        Raises ``MerkleProofError`` if ``index`` is not in ``[0, size)``.
        """
        size = self.size
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < size:
            raise MerkleProofError(
                f"leaf index {index} is outside a tree of {size} leaves", index=index, size=size
            )
        proof: list[bytes] = []
        i = index
        for level in self._levels[:-1]:
            sibling = i ^ 1
            if sibling < len(level):  # otherwise the node is carried up unchanged
                proof.append(level[sibling])
            i >>= 1
        return tuple(proof)

    def consistency_proof(self, m: int) -> tuple[bytes, ...]:
        """Return the consistency proof (RFC 9162 §2.1.4.1 PROOF) from the first ``m`` leaves to all.

        Empty when ``m`` is 0 or equals the size. Raises ``MerkleProofError`` if ``m`` is not in
        ``[0, size]``.
        """
        n = self.size
        if isinstance(m, bool) or not isinstance(m, int) or not 0 <= m <= n:
            raise MerkleProofError(f"old size {m} is outside [0, {n}]", old_size=m, new_size=n)
        if m == 0 or m == n:
            return ()
        # SUBPROOF(m, D[start:end], b) unrolled: each step adds the hash of the subtree not descended
        # into; they are collected top-down and the RFC lists them bottom-up, hence the reversal.
        proof: list[bytes] = []
        start, end, complete = 0, n, True
        while True:
            size = end - start
            if m == size:
                if not complete:
                    proof.append(self._node(start, end))
                break
            k = _split_point(size)
            if m <= k:
                proof.append(self._node(start + k, end))
                end = start + k
            else:
                proof.append(self._node(start, start + k))
                start += k
                m -= k
                complete = False
        proof.reverse()
        return tuple(proof)


def compute_root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return the Merkle tree hash of the leaves whose hashes are ``leaf_hashes`` (``EMPTY_ROOT`` if none)."""
    level = list(leaf_hashes)
    if not level:
        return EMPTY_ROOT
    node = compute_node_hash
    while len(level) > 1:
        nxt = [node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) & 1:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def compute_root(leaves: Sequence[bytes]) -> bytes:
    """Return the Merkle tree hash of ``leaves`` (leaf data, not hashes); ``EMPTY_ROOT`` if empty."""
    return compute_root_from_leaf_hashes([compute_leaf_hash(d) for d in leaves])


def compute_root_reference(leaves: Sequence[bytes]) -> bytes:
    """Return MTH(leaves) by the RFC 9162 §2.1.1 recursion, literally (slow; for cross-checking only)."""
    n = len(leaves)
    if n == 0:
        return sm3(b"")
    if n == 1:
        return sm3(b"\x00" + leaves[0])
    k = _split_point(n)
    return sm3(b"\x01" + compute_root_reference(leaves[:k]) + compute_root_reference(leaves[k:]))


def compute_inclusion_proof_from_leaf_hashes(leaf_hashes: Sequence[bytes], index: int) -> tuple[bytes, ...]:
    """Return the inclusion proof of leaf ``index`` in the tree of ``leaf_hashes``, leaf sibling first.

    Raises ``MerkleProofError`` if ``index`` is not in ``[0, len(leaf_hashes))``.
    """
    return MerkleTree(leaf_hashes).inclusion_proof(index)


def compute_inclusion_proof(leaves: Sequence[bytes], index: int) -> tuple[bytes, ...]:
    """Return the inclusion proof of ``leaves[index]`` (leaves are data); raises like the hash form."""
    return MerkleTree.from_leaves(leaves).inclusion_proof(index)


def compute_consistency_proof_from_leaf_hashes(leaf_hashes: Sequence[bytes], m: int) -> tuple[bytes, ...]:
    """Return the consistency proof from the first ``m`` leaves to all of ``leaf_hashes``.

    Empty when ``m`` is 0 or ``len(leaf_hashes)``. Raises ``MerkleProofError`` if ``m`` is out of range.
    """
    return MerkleTree(leaf_hashes).consistency_proof(m)


def compute_consistency_proof(leaves: Sequence[bytes], m: int) -> tuple[bytes, ...]:
    """Return the consistency proof from the first ``m`` of ``leaves`` (data) to all; raises as above."""
    return MerkleTree.from_leaves(leaves).consistency_proof(m)


# --- verification ------------------------------------------------------------------------------------
def _check_hash(value: object, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        raise MerkleProofError(f"{what} must be {HASH_SIZE} bytes", what=what)
    return bytes(value)


def _check_size(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MerkleProofError(f"{what} must be a non-negative integer, not {value!r}", what=what)
    return value


def _walk_path(
    fn: int, sn: int, path: Iterable[bytes], wrong_length: Callable[[str], MerkleProofError]
) -> Iterator[tuple[bytes, bool]]:
    """Yield each proof element with whether it hashes in on the left, walking up from node ``fn`` of a tree
    whose last node is ``sn`` (RFC 9162 §2.1.3.2 and §2.1.4.2 walk the same way). Raises
    ``wrong_length("long")`` when elements remain past the root, ``wrong_length("short")`` when they run out
    below it."""
    for element in path:
        if sn == 0:
            raise wrong_length("long")
        on_left = bool(fn & 1) or fn == sn
        yield element, on_left
        if on_left and not fn & 1:
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise wrong_length("short")


def _check_root(computed: bytes, expected: bytes, message: str, **detail: Any) -> None:
    """Raise ``MerkleProofError(message)`` with both roots in its detail unless a proof led to the root
    it had to."""
    if computed != expected:
        raise MerkleProofError(message, **detail, computed_root=computed.hex(), expected_root=expected.hex())


def verify_inclusion_of_leaf_hash(
    leaf_hash: bytes,
    index: int,
    size: int,
    proof: Sequence[bytes],
    root: bytes,
    *,
    node: Callable[[bytes, bytes], bytes] = compute_node_hash,
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves with hash ``root``.

    Follows RFC 9162 §2.1.3.2 exactly. Returns None. As in RFC 9162, ``size`` is authenticated only
    together with ``root``: take both from the same trusted source (a sealed header), never from the proof.
    ``node`` hashes two children (SM3 by default; a DrugLots part's tree uses keccak256,
    ``sdk.domains.drugs.lots``). Raises ``MerkleProofError`` saying why the proof does not hold (index out
    of range, wrong proof length, malformed hash, or the recomputed root differs).
    """
    _check_size(index, "leaf index")
    _check_size(size, "tree size")
    r = _check_hash(leaf_hash, "leaf hash")
    root = _check_hash(root, "root")
    if index >= size:
        raise MerkleProofError(
            f"leaf index {index} is outside a tree of {size} leaves", index=index, size=size
        )

    def wrong_length(what: str) -> MerkleProofError:
        return MerkleProofError(
            f"inclusion proof is too {what} for leaf {index} of {size}", index=index, size=size
        )

    path = (_check_hash(p, "proof element") for p in proof)
    for p, on_left in _walk_path(index, size - 1, path, wrong_length):
        r = node(p, r) if on_left else node(r, p)
    _check_root(
        r,
        root,
        f"inclusion proof of leaf {index} of {size} does not lead to the expected root",
        index=index,
        size=size,
    )


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that the leaf data ``leaf`` is leaf ``index`` of the tree of ``size`` leaves with ``root``.

    Returns None; raises ``MerkleProofError`` otherwise (see ``verify_inclusion_of_leaf_hash``).
    """
    if not isinstance(leaf, bytes | bytearray):
        raise MerkleProofError("leaf data must be bytes")
    verify_inclusion_of_leaf_hash(compute_leaf_hash(bytes(leaf)), index, size, proof, root)


def verify_consistency(m: int, n: int, root_m: bytes, root_n: bytes, proof: Sequence[bytes]) -> None:
    """Check that the tree of ``n`` leaves with ``root_n`` extends the tree of ``m`` leaves with ``root_m``.

    Follows RFC 9162 §2.1.4.2 exactly for ``0 < m < n``. For ``m == n`` the proof must be empty and the
    roots equal; for ``m == 0`` the proof must be empty and ``root_m`` the empty-tree root.
    Returns None; raises ``MerkleProofError`` saying why the proof does not hold.
    """
    _check_size(m, "old size")
    _check_size(n, "new size")
    root_m = _check_hash(root_m, "old root")
    root_n = _check_hash(root_n, "new root")
    path = [_check_hash(c, "proof element") for c in proof]
    if m > n:
        raise MerkleProofError(f"old size {m} exceeds new size {n}", old_size=m, new_size=n)
    if m == n:
        if path:
            raise MerkleProofError("a consistency proof between equal sizes must be empty", size=n)
        if root_m != root_n:
            raise MerkleProofError(f"two different roots for the same size {n}", size=n)
        return
    if m == 0:
        if path:
            raise MerkleProofError("a consistency proof from the empty tree must be empty")
        if root_m != EMPTY_ROOT:
            raise MerkleProofError("the root of the empty tree is not SM3 of the empty string")
        return
    if not path:
        raise MerkleProofError(f"empty consistency proof from size {m} to {n}", old_size=m, new_size=n)
    if m & (m - 1) == 0:  # m is a power of two: the old root is itself a node of the new tree
        path.insert(0, root_m)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]

    def wrong_length(what: str) -> MerkleProofError:
        return MerkleProofError(
            f"consistency proof from size {m} to {n} is too {what}", old_size=m, new_size=n
        )

    node = compute_node_hash
    for c, on_left in _walk_path(fn, sn, path[1:], wrong_length):
        if on_left:
            fr = node(c, fr)
            sr = node(c, sr)
        else:
            sr = node(sr, c)
    sizes = {"old_size": m, "new_size": n}
    _check_root(fr, root_m, f"consistency proof does not lead to the old root of size {m}", **sizes)
    _check_root(sr, root_n, f"consistency proof does not lead to the new root of size {n}", **sizes)


# --- incremental -------------------------------------------------------------------------------------
class _AppendOnlyTree(abc.ABC):
    """What the append-only trees share: leaves arrive as data or as leaf hashes."""

    __slots__ = ()

    @property
    @abc.abstractmethod
    def size(self) -> int: ...

    @abc.abstractmethod
    def append_leaf_hash(self, leaf_hash: bytes) -> None: ...

    @abc.abstractmethod
    def root(self) -> bytes: ...

    @classmethod
    def from_leaf_hashes(cls, leaf_hashes: Iterable[bytes]) -> Self:
        """Return a tree holding the given leaf hashes in order.

        Raises ``MerkleProofError`` if a leaf hash is not 32 bytes.
        """
        tree = cls()
        for h in leaf_hashes:
            tree.append_leaf_hash(h)
        return tree

    def append(self, leaf: bytes) -> None:
        """Append one leaf given as data."""
        self.append_leaf_hash(compute_leaf_hash(leaf))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, root={self.root().hex()})"


class MerkleAccumulator(_AppendOnlyTree):
    """An append-only Merkle tree keeping only its frontier: O(log n) memory, O(log n) root.

    The frontier holds the roots of the perfect subtrees that make up the tree, one per set bit of
    ``size``, largest (leftmost) first. ``to_bytes``/``from_bytes`` serialise it compactly
    (8-byte big-endian size followed by the frontier hashes); ``from_leaf_hashes`` rebuilds it.
    """

    __slots__ = ("_frontier", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._frontier: list[bytes] = []

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    @property
    def frontier(self) -> tuple[bytes, ...]:
        """The perfect-subtree roots, largest first (``popcount(size)`` of them)."""
        return tuple(self._frontier)

    @classmethod
    def from_frontier(cls, size: int, frontier: Sequence[bytes]) -> MerkleAccumulator:
        """Return an accumulator of ``size`` leaves with the given frontier (largest subtree first).

        Raises ``MerkleProofError`` if the frontier length is not the number of set bits in ``size``.
        """
        _check_size(size, "tree size")
        hashes = [_check_hash(h, "frontier hash") for h in frontier]
        if len(hashes) != size.bit_count():
            raise MerkleProofError(
                f"a tree of {size} leaves has {size.bit_count()} frontier hashes, not {len(hashes)}",
                size=size,
            )
        acc = cls()
        acc._size = size
        acc._frontier = hashes
        return acc

    def append_leaf_hash(self, leaf_hash: bytes) -> None:
        """Append one leaf given as its leaf hash. Raises ``MerkleProofError`` if it is not 32 bytes."""
        h = _check_hash(leaf_hash, "leaf hash")
        frontier = self._frontier
        # Merge equal-height subtrees: one merge per trailing one bit of the old size.
        size = self._size
        while size & 1:
            h = compute_node_hash(frontier.pop(), h)
            size >>= 1
        frontier.append(h)
        self._size += 1

    def root(self) -> bytes:
        """Return the Merkle tree hash of all leaves appended so far (``EMPTY_ROOT`` if none)."""
        frontier = self._frontier
        if not frontier:
            return EMPTY_ROOT
        r = frontier[-1]
        for h in reversed(frontier[:-1]):
            r = compute_node_hash(h, r)
        return r

    def copy(self) -> MerkleAccumulator:
        """Return an independent copy (e.g. to compute a candidate block's root without committing)."""
        acc = MerkleAccumulator()
        acc._size = self._size
        acc._frontier = list(self._frontier)
        return acc

    def to_bytes(self) -> bytes:
        """Return the compact serialisation: 8-byte big-endian size, then the frontier hashes."""
        return self._size.to_bytes(8, "big") + b"".join(self._frontier)

    @classmethod
    def from_bytes(cls, data: bytes) -> MerkleAccumulator:
        """Inverse of ``to_bytes``. Raises ``MerkleProofError`` if ``data`` is malformed."""
        if len(data) < 8:
            raise MerkleProofError("serialised accumulator is shorter than its 8-byte size")
        size = int.from_bytes(data[:8], "big")
        body = data[8:]
        if len(body) != HASH_SIZE * size.bit_count():
            raise MerkleProofError(
                f"serialised accumulator of {size} leaves must carry {size.bit_count()} hashes",
                size=size,
            )
        return cls.from_frontier(size, [body[i : i + HASH_SIZE] for i in range(0, len(body), HASH_SIZE)])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MerkleAccumulator):
            return NotImplemented
        return self._size == other._size and self._frontier == other._frontier

    __hash__ = None  # type: ignore[assignment]  # mutable


class MerkleHistory(_AppendOnlyTree):
    """An append-only tree that keeps the hash of every complete (aligned, power-of-two) subtree.

    Appending costs one hash amortised; the root and the inclusion proof of any leaf under any tree size
    up to the current one cost O(log n) reads and O(log² n) hashes at worst, never a rebuild over all
    leaves. It holds about 2n hashes: serving history proofs over every block of a chain is its use.
    Safe to read from other threads while one thread appends (readers only touch complete subtrees of
    the size they ask for).
    """

    __slots__ = ("_levels",)

    def __init__(self) -> None:
        # _levels[h][j] = MTH of leaves [j·2^h, (j+1)·2^h), present once that subtree is complete.
        self._levels: list[list[bytes]] = [[]]

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return len(self._levels[0])

    def append_leaf_hash(self, leaf_hash: bytes) -> None:
        """Append one leaf given as its leaf hash. Raises ``MerkleProofError`` if it is not 32 bytes."""
        node = _check_hash(leaf_hash, "leaf hash")
        levels = self._levels
        height = 0
        while True:
            level = levels[height]
            level.append(node)
            if len(level) & 1:
                return
            # A pair completed a subtree one level up.
            node = compute_node_hash(level[-2], level[-1])
            height += 1
            if height == len(levels):
                levels.append([])

    def _subtree(self, start: int, end: int) -> bytes:
        """MTH of leaves ``[start, end)`` (``start`` aligned to the largest power of two ≤ end - start)."""
        n = end - start
        if n & (n - 1) == 0:
            h = n.bit_length() - 1
            return self._levels[h][start >> h]
        k = _split_point(n)
        return compute_node_hash(self._subtree(start, start + k), self._subtree(start + k, end))

    def _checked_size(self, size: int | None) -> int:
        current = self.size
        if size is None:
            return current
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= current:
            raise MerkleProofError(f"tree size {size} is outside [0, {current}]", size=size)
        return size

    def root(self, size: int | None = None) -> bytes:
        """Return the Merkle tree hash of the first ``size`` leaves (default: all; ``EMPTY_ROOT`` if 0).

        Raises ``MerkleProofError`` if ``size`` exceeds the leaves appended.
        """
        n = self._checked_size(size)
        return self._subtree(0, n) if n else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> tuple[bytes, ...]:
        """Return the inclusion proof (RFC 9162 PATH) of leaf ``index`` in the tree of the first ``size``
        leaves (default: all), leaf sibling first.

        Raises ``MerkleProofError`` if ``size`` exceeds the leaves appended or ``index`` is not below it.
        """
        n = self._checked_size(size)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n:
            raise MerkleProofError(f"leaf index {index} is outside a tree of {n} leaves", index=index, size=n)
        # PATH(m, D[start:end]) unrolled top-down; the RFC lists the siblings bottom-up, hence the reversal.
        proof: list[bytes] = []
        start, end, m = 0, n, index
        while end - start > 1:
            k = _split_point(end - start)
            if m < k:
                proof.append(self._subtree(start + k, end))
                end = start + k
            else:
                proof.append(self._subtree(start, start + k))
                start += k
                m -= k
        proof.reverse()
        return tuple(proof)
