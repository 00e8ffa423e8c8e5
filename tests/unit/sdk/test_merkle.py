"""Unit tests of the SM3 Merkle tree: hashing rules, small trees by hand, argument checking, accumulator."""

from __future__ import annotations

import pytest

from sdk.crypto import sm3
from sdk.errors import MerkleProofError
from sdk.proofs.merkle import (
    EMPTY_ROOT,
    MerkleAccumulator,
    MerkleTree,
    compute_consistency_proof,
    compute_inclusion_proof,
    compute_leaf_hash,
    compute_root,
    compute_root_from_leaf_hashes,
    compute_root_reference,
    verify_consistency,
    verify_inclusion,
    verify_inclusion_of_leaf_hash,
)


def leaf(i: int) -> bytes:
    return b"leaf-%d" % i


def L(i: int) -> bytes:
    return sm3(b"\x00" + leaf(i))


def N(a: bytes, b: bytes) -> bytes:
    return sm3(b"\x01" + a + b)


def test_empty_tree_root_is_sm3_of_empty_string() -> None:
    assert compute_root([]) == EMPTY_ROOT == sm3(b"")
    assert compute_root_reference([]) == EMPTY_ROOT
    assert MerkleAccumulator().root() == EMPTY_ROOT
    assert MerkleTree([]).root == EMPTY_ROOT


def test_single_leaf_root_is_the_leaf_hash_with_zero_prefix() -> None:
    assert compute_root([leaf(0)]) == L(0) == compute_leaf_hash(leaf(0))


def test_five_leaf_tree_splits_at_largest_power_of_two_below_size() -> None:
    expected = N(N(N(L(0), L(1)), N(L(2), L(3))), L(4))
    leaves = [leaf(i) for i in range(5)]
    assert compute_root(leaves) == expected
    assert compute_root_reference(leaves) == expected
    assert compute_root_from_leaf_hashes([L(i) for i in range(5)]) == expected


def test_seven_leaf_tree_structure() -> None:
    expected = N(N(N(L(0), L(1)), N(L(2), L(3))), N(N(L(4), L(5)), L(6)))
    assert compute_root([leaf(i) for i in range(7)]) == expected


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    # A 64-byte leaf equal to two child hashes must not hash like the interior node above them.
    two = [leaf(0), leaf(1)]
    assert compute_root([L(0) + L(1)]) != compute_root(two)


def test_inclusion_proof_of_leaf_in_seven_leaf_tree_matches_rfc_path() -> None:
    leaves = [leaf(i) for i in range(7)]
    # RFC 9162 §2.1.5 example shape: the proof for d (index 3) is [c, g, l]-like.
    proof = compute_inclusion_proof(leaves, 3)
    assert proof == (L(2), N(L(0), L(1)), N(N(L(4), L(5)), L(6)))
    verify_inclusion(leaves[3], 3, 7, proof, compute_root(leaves))
    proof6 = compute_inclusion_proof(leaves, 6)
    assert proof6 == (N(L(4), L(5)), N(N(L(0), L(1)), N(L(2), L(3))))


def test_consistency_proofs_match_rfc_example() -> None:
    # RFC 9162 §2.1.5: proof between hash0 (3 leaves) and hash (7 leaves) is [c, d, g, l].
    leaves = [leaf(i) for i in range(7)]
    c, d, g = L(2), L(3), N(L(0), L(1))
    ll = N(N(L(4), L(5)), L(6))
    assert compute_consistency_proof(leaves, 3) == (c, d, g, ll)
    # between hash1 (4 leaves) and hash: [l]
    assert compute_consistency_proof(leaves, 4) == (ll,)
    # between hash2 (6 leaves) and hash: [i, j, k] = [N(e,f), g-leaf, k = N(a..d)]
    assert compute_consistency_proof(leaves, 6) == (N(L(4), L(5)), L(6), N(N(L(0), L(1)), N(L(2), L(3))))
    for m in range(8):
        verify_consistency(
            m, 7, compute_root(leaves[:m]), compute_root(leaves), compute_consistency_proof(leaves, m)
        )


def test_inclusion_proof_index_out_of_range_is_refused() -> None:
    with pytest.raises(MerkleProofError, match="outside"):
        compute_inclusion_proof([leaf(0)], 1)
    with pytest.raises(MerkleProofError, match="outside"):
        compute_inclusion_proof([], 0)
    with pytest.raises(MerkleProofError, match="outside"):
        compute_inclusion_proof([leaf(0)], -1)


def test_consistency_proof_size_out_of_range_is_refused() -> None:
    with pytest.raises(MerkleProofError, match="outside"):
        compute_consistency_proof([leaf(0)], 2)


def test_verify_inclusion_refuses_index_at_or_beyond_size() -> None:
    leaves = [leaf(i) for i in range(4)]
    root = compute_root(leaves)
    with pytest.raises(MerkleProofError, match="outside a tree of 4"):
        verify_inclusion(leaves[0], 4, 4, compute_inclusion_proof(leaves, 0), root)
    with pytest.raises(MerkleProofError, match="outside a tree of 0"):
        verify_inclusion(leaves[0], 0, 0, (), EMPTY_ROOT)


@pytest.mark.parametrize("bad", [-1, True, 1.0, "1"])
def test_verify_inclusion_refuses_non_integer_or_negative_index(bad: object) -> None:
    with pytest.raises(MerkleProofError, match="non-negative integer"):
        verify_inclusion(leaf(0), bad, 1, (), L(0))  # type: ignore[arg-type]


def test_verify_inclusion_refuses_malformed_hashes() -> None:
    leaves = [leaf(i) for i in range(2)]
    root = compute_root(leaves)
    with pytest.raises(MerkleProofError, match="proof element must be 32 bytes"):
        verify_inclusion(leaves[0], 0, 2, (L(1)[:31],), root)
    with pytest.raises(MerkleProofError, match="root must be 32 bytes"):
        verify_inclusion(leaves[0], 0, 2, (L(1),), root + b"\x00")
    with pytest.raises(MerkleProofError, match="leaf hash must be 32 bytes"):
        verify_inclusion_of_leaf_hash(b"", 0, 2, (L(1),), root)
    with pytest.raises(MerkleProofError, match="leaf data must be bytes"):
        verify_inclusion("x", 0, 2, (L(1),), root)  # type: ignore[arg-type]


def test_verify_inclusion_error_says_which_root_was_computed() -> None:
    leaves = [leaf(i) for i in range(3)]
    with pytest.raises(MerkleProofError) as info:
        verify_inclusion(leaves[1], 1, 3, compute_inclusion_proof(leaves, 1), EMPTY_ROOT)
    assert info.value.detail["expected_root"] == EMPTY_ROOT.hex()
    assert info.value.detail["computed_root"] == compute_root(leaves).hex()


def test_verify_consistency_edge_cases() -> None:
    leaves = [leaf(i) for i in range(3)]
    r3 = compute_root(leaves)
    verify_consistency(3, 3, r3, r3, ())
    verify_consistency(0, 3, EMPTY_ROOT, r3, ())
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, ())
    with pytest.raises(MerkleProofError, match="must be empty"):
        verify_consistency(3, 3, r3, r3, (r3,))
    with pytest.raises(MerkleProofError, match="different roots"):
        verify_consistency(3, 3, r3, EMPTY_ROOT, ())
    with pytest.raises(MerkleProofError, match="empty tree"):
        verify_consistency(0, 3, r3, r3, ())
    with pytest.raises(MerkleProofError, match="must be empty"):
        verify_consistency(0, 3, EMPTY_ROOT, r3, (r3,))
    with pytest.raises(MerkleProofError, match="exceeds"):
        verify_consistency(3, 2, r3, r3, ())
    with pytest.raises(MerkleProofError, match="empty consistency proof"):
        verify_consistency(2, 3, compute_root(leaves[:2]), r3, ())
    with pytest.raises(MerkleProofError, match="old root must be 32 bytes"):
        verify_consistency(2, 3, b"", r3, (L(2),))


def test_accumulator_serialises_as_size_and_frontier() -> None:
    acc = MerkleAccumulator()
    for i in range(11):  # 0b1011: three frontier hashes
        acc.append(leaf(i))
    assert acc.size == 11
    assert len(acc.frontier) == 3
    data = acc.to_bytes()
    assert len(data) == 8 + 3 * 32
    again = MerkleAccumulator.from_bytes(data)
    assert again == acc
    assert again.root() == compute_root([leaf(i) for i in range(11)])
    again.append(leaf(11))
    assert again.root() == compute_root([leaf(i) for i in range(12)])
    assert acc.size == 11  # from_bytes gave an independent object


def test_accumulator_rebuilt_from_leaf_hashes_and_copy_is_independent() -> None:
    hashes = [L(i) for i in range(6)]
    acc = MerkleAccumulator.from_leaf_hashes(hashes)
    assert acc.root() == compute_root_from_leaf_hashes(hashes)
    cp = acc.copy()
    cp.append_leaf_hash(L(6))
    assert acc.size == 6 and cp.size == 7
    assert cp.root() == compute_root_from_leaf_hashes([*hashes, L(6)])


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00" * 7, (3).to_bytes(8, "big") + b"\x00" * 32, (3).to_bytes(8, "big") + b"\x00" * 65],
)
def test_malformed_accumulator_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(MerkleProofError):
        MerkleAccumulator.from_bytes(data)


def test_accumulator_refuses_malformed_leaf_hash() -> None:
    with pytest.raises(MerkleProofError, match="32 bytes"):
        MerkleAccumulator().append_leaf_hash(b"\x00" * 31)


def test_accumulator_frontier_must_match_size() -> None:
    with pytest.raises(MerkleProofError, match="frontier"):
        MerkleAccumulator.from_frontier(3, [L(0)])
