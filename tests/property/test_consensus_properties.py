"""QBFT arithmetic holds for every validator-set size."""

from __future__ import annotations

from hypothesis import given, strategies as st

from node.consensus.core import compute_max_faulty, compute_quorum


@given(st.integers(min_value=1, max_value=200))
def test_two_quorums_intersect_in_a_correct_validator(n: int) -> None:
    assert 2 * compute_quorum(n) - n >= compute_max_faulty(n) + 1
    assert n - compute_max_faulty(n) >= compute_quorum(n)  # the correct validators alone form a quorum
