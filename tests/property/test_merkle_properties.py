"""Property tests of the SM3 Merkle tree: fast, incremental and literal-RFC implementations agree; every
leaf and every prefix is provable; any altered proof, index, size, leaf or root is refused."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from sdk.crypto import sm3
from sdk.errors import MerkleProofError
from sdk.proofs.merkle import (
    MerkleAccumulator,
    MerkleHistory,
    MerkleTree,
    compute_leaf_hash,
    compute_root,
    compute_root_from_leaf_hashes,
    compute_root_reference,
    verify_consistency,
    verify_inclusion,
    verify_inclusion_of_leaf_hash,
)

MAX_SIZE = 2000
SMALL = 33  # sizes 0..SMALL-1 are checked exhaustively (every index, every m)
LEAVES = [b"leaf %d" % i for i in range(MAX_SIZE)]  # distinct: a proof names exactly one position
LEAF_HASHES = [compute_leaf_hash(d) for d in LEAVES]

SETTINGS = settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])


@functools.lru_cache(maxsize=256)
def tree(size: int) -> MerkleTree:
    return MerkleTree(LEAF_HASHES[:size])


@functools.lru_cache(maxsize=4096)
def root(size: int) -> bytes:
    return tree(size).root


# --- the RFC 9162 §2.1.3.1 / §2.1.4.1 definitions, literally (reference for proof generation) --------
def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    return compute_root_from_leaf_hashes(d)


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _split(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def flip(h: bytes, bit: int = 0) -> bytes:
    return bytes([h[0] ^ (1 << bit)]) + h[1:]


def refused(fn: object, *args: object) -> bool:
    try:
        fn(*args)  # type: ignore[operator]
    except MerkleProofError:
        return True
    return False


# --- roots: three implementations agree ---------------------------------------------------------------
def test_fast_incremental_and_reference_roots_agree_for_small_sizes() -> None:
    acc = MerkleAccumulator()
    for n in range(SMALL * 2):
        assert compute_root(LEAVES[:n]) == compute_root_reference(LEAVES[:n]) == acc.root() == root(n)
        acc.append(LEAVES[n])


@SETTINGS
@given(st.lists(st.binary(max_size=40), max_size=70))
def test_fast_and_reference_roots_agree_on_arbitrary_leaves(leaves: list[bytes]) -> None:
    acc = MerkleAccumulator()
    for d in leaves:
        acc.append(d)
    assert compute_root(leaves) == compute_root_reference(leaves) == acc.root()
    assert MerkleAccumulator.from_bytes(acc.to_bytes()).root() == acc.root()


@SETTINGS
@given(st.integers(0, MAX_SIZE))
def test_reference_root_agrees_with_fast_root_up_to_max_size(n: int) -> None:
    assert compute_root_reference(LEAVES[:n]) == root(n)


def test_accumulator_root_is_correct_at_every_size_up_to_max() -> None:
    # Each prefix root from the accumulator must be the old root of a valid consistency proof into the
    # full tree: this checks all MAX_SIZE prefix roots in O(n log n) hashes.
    big = tree(MAX_SIZE)
    acc = MerkleAccumulator()
    for m in range(MAX_SIZE + 1):
        verify_consistency(m, MAX_SIZE, acc.root(), big.root, big.consistency_proof(m))
        assert MerkleAccumulator.from_bytes(acc.to_bytes()) == acc
        if m < MAX_SIZE:
            acc.append_leaf_hash(LEAF_HASHES[m])
    assert acc.root() == big.root


# --- inclusion ---------------------------------------------------------------------------------------
def check_inclusion_and_tampering(n: int, i: int) -> None:
    t = tree(n)
    proof = t.inclusion_proof(i)
    r = t.root
    verify_inclusion(LEAVES[i], i, n, proof, r)
    verify_inclusion_of_leaf_hash(LEAF_HASHES[i], i, n, proof, r)
    for j in range(len(proof)):  # any altered element
        for bit in (0, 7):
            bad = (*proof[:j], flip(proof[j], bit), *proof[j + 1 :])
            assert refused(verify_inclusion, LEAVES[i], i, n, bad, r)
    if proof:  # wrong length
        assert refused(verify_inclusion, LEAVES[i], i, n, proof[:-1], r)
        assert refused(verify_inclusion, LEAVES[i], i, n, proof[1:], r)
    assert refused(verify_inclusion, LEAVES[i], i, n, (*proof, sm3(b"x")), r)
    assert refused(verify_inclusion, LEAVES[i], i, n, (sm3(b"x"), *proof), r)
    assert refused(verify_inclusion, LEAVES[i] + b"!", i, n, proof, r)  # other leaf
    assert refused(verify_inclusion, LEAVES[(i + 1) % MAX_SIZE], i, n, proof, r)
    assert refused(verify_inclusion, LEAVES[i], i, n, proof, flip(r))  # other root
    for j in {i - 1, i + 1, i ^ 1, i ^ 2, n - 1 - i, n, n + 5}:  # other index
        if j != i and j >= 0:
            assert refused(verify_inclusion, LEAVES[i], j, n, proof, r)
    for n2 in {n - 1, n + 1, 2 * n, n // 2}:  # other size, with that size's genuine root
        if n2 != n and 0 <= n2 <= MAX_SIZE:
            assert refused(verify_inclusion, LEAVES[i], i, n2, proof, root(n2))


def test_every_leaf_of_every_small_tree_is_provable_and_tampering_is_refused() -> None:
    for n in range(1, SMALL):
        d = LEAF_HASHES[:n]
        for i in range(n):
            assert list(tree(n).inclusion_proof(i)) == ref_path(i, d)
            check_inclusion_and_tampering(n, i)


def test_every_leaf_of_the_largest_tree_is_provable() -> None:
    t = tree(MAX_SIZE)
    for i in range(MAX_SIZE):
        verify_inclusion_of_leaf_hash(LEAF_HASHES[i], i, MAX_SIZE, t.inclusion_proof(i), t.root)


@pytest.mark.parametrize("n", sorted({*(2**k + d for k in range(1, 11) for d in (-1, 0, 1)), MAX_SIZE}))
def test_first_middle_and_last_leaves_provable_at_power_of_two_boundaries(n: int) -> None:
    for i in {0, n // 2, max(n - 2, 0), n - 1}:
        check_inclusion_and_tampering(n, i)


@SETTINGS
@given(st.data())
def test_sampled_leaves_of_sampled_sizes_are_provable(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, MAX_SIZE), label="size")
    i = data.draw(st.integers(0, n - 1), label="index")
    assert list(tree(n).inclusion_proof(i)) == ref_path(i, LEAF_HASHES[:n])
    check_inclusion_and_tampering(n, i)


# --- consistency -------------------------------------------------------------------------------------
def check_consistency_and_tampering(m: int, n: int) -> None:
    t = tree(n)
    proof = t.consistency_proof(m)
    rm, rn = root(m), t.root
    verify_consistency(m, n, rm, rn, proof)
    for j in range(len(proof)):
        bad = (*proof[:j], flip(proof[j]), *proof[j + 1 :])
        assert refused(verify_consistency, m, n, rm, rn, bad)
    if proof:
        assert refused(verify_consistency, m, n, rm, rn, proof[:-1])
        assert refused(verify_consistency, m, n, rm, rn, proof[1:])
    assert refused(verify_consistency, m, n, rm, rn, (*proof, sm3(b"x")))
    assert refused(verify_consistency, m, n, rm, rn, (sm3(b"x"), *proof))
    if m < n:
        assert refused(verify_consistency, m, n, flip(rm), rn, proof)
    if m > 0:  # the empty tree is a prefix of every tree: only the new root's 32-byte form is checked
        assert refused(verify_consistency, m, n, rm, flip(rn), proof)
    for m2 in {m - 1, m + 1, 2 * m, m // 2}:  # other old size, with its genuine root
        if m2 != m and (0 < m2 < n or (m2 == n and proof)):
            assert refused(verify_consistency, m2, n, root(m2), rn, proof)
    for n2 in {n - 1, n + 1, 2 * n}:  # other new size, with its genuine root
        if n2 != n and m < n2 <= MAX_SIZE and m > 0:  # m = 0: the empty tree is a prefix of all
            assert refused(verify_consistency, m, n2, rm, root(n2), proof)


def test_every_prefix_of_every_small_tree_is_consistent_and_tampering_is_refused() -> None:
    for n in range(SMALL):
        d = LEAF_HASHES[:n]
        for m in range(n + 1):
            expected = [] if m in (0, n) else ref_subproof(m, d, True)
            assert list(tree(n).consistency_proof(m)) == expected
            check_consistency_and_tampering(m, n)


@SETTINGS
@given(st.data())
def test_sampled_prefixes_of_sampled_sizes_are_consistent(data: st.DataObject) -> None:
    n = data.draw(st.integers(0, MAX_SIZE), label="new size")
    m = data.draw(st.integers(0, n), label="old size")
    if 0 < m < n:
        assert list(tree(n).consistency_proof(m)) == ref_subproof(m, LEAF_HASHES[:n], True)
    check_consistency_and_tampering(m, n)


@SETTINGS
@given(st.lists(st.binary(max_size=8), min_size=1, max_size=50), st.data())
def test_proofs_over_arbitrary_leaves_verify(leaves: list[bytes], data: st.DataObject) -> None:
    t = MerkleTree.from_leaves(leaves)
    i = data.draw(st.integers(0, len(leaves) - 1))
    verify_inclusion(leaves[i], i, len(leaves), t.inclusion_proof(i), t.root)
    m = data.draw(st.integers(0, len(leaves)))
    verify_consistency(m, len(leaves), compute_root(leaves[:m]), t.root, t.consistency_proof(m))


# --- MerkleHistory: every earlier size served from one growing tree ------------------------------------
HISTORY = MerkleHistory.from_leaf_hashes(LEAF_HASHES)


def test_history_root_and_proofs_match_the_whole_tree_for_every_small_size() -> None:
    for n in range(SMALL):
        assert HISTORY.root(n) == root(n)
        for m in range(n):
            assert HISTORY.inclusion_proof(m, n) == tuple(ref_path(m, LEAF_HASHES[:n]))


@SETTINGS
@given(st.data())
def test_history_proofs_of_sampled_sizes_equal_the_reference_and_verify(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, MAX_SIZE))
    m = data.draw(st.integers(0, n - 1))
    proof = HISTORY.inclusion_proof(m, n)
    assert proof == tree(n).inclusion_proof(m)
    verify_inclusion(LEAVES[m], m, n, proof, root(n))


def test_history_grows_leaf_by_leaf_with_the_accumulators_roots() -> None:
    history, acc = MerkleHistory(), MerkleAccumulator()
    for leaf_hash in LEAF_HASHES[:300]:
        history.append_leaf_hash(leaf_hash)
        acc.append_leaf_hash(leaf_hash)
        assert history.root() == acc.root()
    assert history.size == 300


@pytest.mark.parametrize(("index", "size"), [(0, 0), (5, 5), (-1, 3), (0, MAX_SIZE + 1), (True, 4)])
def test_history_refuses_indices_and_sizes_outside_the_tree(index: int, size: int) -> None:
    with pytest.raises(MerkleProofError):
        HISTORY.inclusion_proof(index, size)
