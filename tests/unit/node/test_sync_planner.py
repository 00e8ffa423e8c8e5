"""Block sync from several peers (node.p2p.sync.SyncPlanner): spreading windows over peers, putting
answers back in order, failing over from slow or lying peers, and the bounds on what a peer can cause."""

from __future__ import annotations

import itertools
import random

import pytest

from node.p2p.sync import (
    BLAME_REST_MS,
    MIN_SYNC_WINDOW,
    SLOW_REST_MS,
    BlockRequest,
    SyncPlanner,
)

A, B, C, D = (bytes([i]) * 64 for i in range(1, 5))


def planner(**kwargs: int) -> SyncPlanner[str]:
    return SyncPlanner(rng=random.Random(7), **kwargs)


def answer(request: BlockRequest, count: int | None = None) -> list[tuple[int, str]]:
    """What an honest peer sends for ``request`` (``count`` of them)."""
    n = request.count if count is None else count
    return [(h, f"block-{h}") for h in range(request.from_height, request.from_height + n)]


def by_peer(requests: list[BlockRequest]) -> dict[bytes, BlockRequest]:
    return {r.peer: r for r in requests}


def test_a_node_far_behind_asks_several_peers_for_consecutive_windows() -> None:
    sync = planner(parallel=3, max_window=64)
    requests = sync.plan(0, 10, {A: 500, B: 500, C: 500, D: 500})
    assert len(requests) == 3 and len({r.peer for r in requests}) == 3  # one window per peer
    starts = sorted(requests, key=lambda r: r.from_height)
    assert starts[0].from_height == 11
    for first, second in itertools.pairwise(starts):
        assert second.from_height == first.from_height + first.count  # no gap, no overlap
    assert all(r.count == 64 for r in requests)
    assert sync.plan(1, 10, {A: 500, B: 500, C: 500, D: 500}) == []  # nothing more while they are out


def test_a_short_gap_is_split_but_not_below_the_minimum_window() -> None:
    sync = planner(parallel=3)
    requests = sync.plan(0, 100, {A: 110, B: 110, C: 110})
    assert sorted((r.from_height, r.count) for r in requests) == [(101, MIN_SYNC_WINDOW), (109, 2)]
    assert len({r.peer for r in requests}) == 2


def test_answers_out_of_order_are_held_back_and_released_in_height_order() -> None:
    sync = planner(parallel=2, max_window=4)
    first, second = sorted(sync.plan(0, 0, {A: 20, B: 20}), key=lambda r: r.from_height)
    assert sync.on_answer(second.peer, answer(second), 0, 10) == []  # 5..8 wait for 1..4
    assert sync.held == 4
    run = sync.on_answer(first.peer, answer(first), 0, 20)
    assert [b.height for b in run] == list(range(1, 9))
    assert [b.peer for b in run] == [first.peer] * 4 + [second.peer] * 4
    assert sync.held == 0
    assert sync.served == {first.peer: 4, second.peer: 4}


def test_a_peer_answering_what_no_honest_peer_sends_is_blamed_and_its_window_goes_to_another() -> None:
    sync = planner(parallel=2, max_window=4)
    first, second = sorted(sync.plan(0, 0, {A: 20, B: 20, C: 20}), key=lambda r: r.from_height)
    sync.on_answer(second.peer, answer(second), 0, 5)  # held
    holes = [(h, "forged") for h, _ in answer(first)][::2]  # heights 1, 3: not consecutive
    assert sync.on_answer(first.peer, holes, 0, 10) == []
    assert sync.is_resting(first.peer, 10) and sync.events == {"sync_wrong_answer": 1}
    again = sync.plan(20, 0, {A: 20, B: 20, C: 20})
    assert [(r.from_height, r.count) for r in again][:1] == [(1, 4)]
    assert first.peer not in {r.peer for r in again}
    # More blocks than a window is never an honest answer either.
    (retry,) = [r for r in again if r.from_height == 1]
    assert sync.on_answer(retry.peer, answer(retry, 5), 0, 30) == []
    assert sync.events["sync_wrong_answer"] == 2


def test_an_answer_for_other_heights_is_used_only_where_it_continues_the_chain() -> None:
    """It may be the late answer to an earlier request of ours: no blame, nothing held, the window waits."""
    sync = planner(parallel=1, max_window=4, timeout_ms=1_000)
    (request,) = sync.plan(0, 0, {A: 20})
    elsewhere = [(h + 8, f"block-{h + 8}") for h in range(1, 5)]
    assert sync.on_answer(A, elsewhere, 0, 10) == [] and sync.held == 0
    assert not sync.is_resting(A, 10) and sync.outstanding == [request]
    continuing = [(h, f"block-{h}") for h in range(5, 9)]
    assert [b.height for b in sync.on_answer(A, continuing, 4, 20)] == [5, 6, 7, 8]
    assert sync.outstanding == [request]


def test_blaming_a_peer_drops_what_it_sent_that_is_held_back() -> None:
    sync = planner(parallel=2, max_window=4)
    first, second = sorted(sync.plan(0, 0, {A: 20, B: 20, C: 20}), key=lambda r: r.from_height)
    sync.on_answer(second.peer, answer(second), 0, 5)
    sync.blame(second.peer, 6)  # e.g. one of its blocks carried a bad certificate
    assert sync.held == 0
    assert sync.on_answer(first.peer, answer(first), 0, 7) != []  # 1..4 still import
    later = sync.plan(8, 4, {A: 20, B: 20, C: 20})
    assert 5 in {r.from_height for r in later} and second.peer not in {r.peer for r in later}
    assert sync.is_resting(second.peer, 6 + BLAME_REST_MS - 1)
    assert not sync.is_resting(second.peer, 6 + BLAME_REST_MS)
    sync.blame(first.peer, 10, rest_ms=SLOW_REST_MS)  # a shorter rest when the fault may be ours
    assert not sync.is_resting(first.peer, 10 + SLOW_REST_MS)


def test_a_slow_peer_loses_its_window_to_another_at_the_deadline() -> None:
    sync = planner(parallel=1, timeout_ms=1_000)
    (request,) = sync.plan(0, 0, {A: 50, B: 50})
    assert sync.plan(999, 0, {A: 50, B: 50}) == []
    (retry,) = sync.plan(1_000, 0, {A: 50, B: 50})
    assert retry.peer != request.peer and retry.from_height == 1
    assert sync.is_resting(request.peer, 1_000) and sync.events == {"sync_timeout": 1}
    assert not sync.is_resting(request.peer, 1_000 + SLOW_REST_MS)


def test_a_peer_claiming_heights_it_does_not_serve_rests_and_others_are_asked() -> None:
    sync = planner(parallel=1)
    (request,) = sync.plan(0, 0, {A: 1_000, B: 30})
    liar = request.peer
    assert sync.on_answer(liar, [], 0, 10) == []
    assert sync.events == {"sync_empty_answer": 1}
    (retry,) = sync.plan(20, 0, {A: 1_000, B: 30})
    assert retry.peer != liar
    if liar == A:  # once B's heights are imported, A's claim alone brings no request until it rested
        sync.on_answer(B, answer(retry), 0, 30)
        assert sync.plan(40, 30, {A: 1_000, B: 30}) == []


def test_a_resting_peer_is_still_asked_when_it_alone_has_the_heights() -> None:
    sync = planner(parallel=2)
    (request,) = sync.plan(0, 0, {A: 40})
    sync.blame(A, 5)
    assert sync.plan(10, 0, {A: 40}) == [BlockRequest(A, 1, request.count)]


def test_a_busy_good_peer_is_waited_for_rather_than_a_resting_one_asked() -> None:
    sync = planner(parallel=2, max_window=8)
    sync.blame(B, 0)
    (request,) = sync.plan(1, 0, {A: 100, B: 100})
    assert request.peer == A  # 9..16: A is busy, B rests: wait for A
    sync.on_answer(A, answer(request), 0, 2)
    assert [r.peer for r in sync.plan(3, 8, {A: 100, B: 100})] == [A]


def test_a_resting_peer_claiming_heights_nobody_else_has_is_not_asked_while_a_good_peer_is_there() -> None:
    sync = planner(parallel=2, max_window=8)
    sync.blame(B, 0)
    requests = sync.plan(1, 0, {A: 8, B: 100})  # A has 1..8; 9.. only B (resting) claims
    assert [(r.peer, r.from_height) for r in requests] == [(A, 1)]
    sync.on_answer(A, answer(requests[0]), 0, 2)
    assert sync.plan(3, 8, {A: 8, B: 100}) == []  # wait for A to go on, not for B's claim
    assert [r.peer for r in sync.plan(4, 8, {A: 20, B: 100})] == [A]
    assert [r.peer for r in sync.plan(BLAME_REST_MS, 8, {A: 8, B: 100})] == [B]  # its rest is over


def test_requests_and_held_blocks_stay_within_parallel_windows_above_the_head() -> None:
    sync = planner(parallel=3, max_window=16)
    peers = {bytes([i]) * 64: 10_000 for i in range(10, 20)}
    for now in range(1, 51):  # every window answered except the lowest: held blocks pile up to the bound
        for request in sync.plan(now, 0, peers):
            assert request.from_height + request.count - 1 <= 3 * 16
            if request.from_height != 1:
                sync.on_answer(request.peer, answer(request), 0, now)
        assert sync.held <= 3 * 16


def test_an_answer_nobody_asked_for_is_used_only_where_it_continues_the_chain() -> None:
    sync = planner()
    assert [b.height for b in sync.on_answer(A, [(5, "b5"), (6, "b6")], 4, 0)] == [5, 6]
    assert sync.on_answer(A, [(9, "b9")], 4, 0) == []
    assert sync.held == 0 and not sync.is_resting(A, 0)
    assert sync.on_answer(B, [(5, "b5"), (6, "b6"), (8, "b8")], 4, 0) == []  # a hole: no honest answer
    assert sync.is_resting(B, 0)


def test_a_disconnected_peer_loses_its_window_without_a_penalty() -> None:
    sync = planner(parallel=1)
    (request,) = sync.plan(0, 0, {A: 10})
    assert request.peer == A
    (retry,) = sync.plan(1, 0, {B: 10})
    assert retry.peer == B and not sync.is_resting(A, 1)


def test_nothing_is_asked_when_no_peer_is_ahead() -> None:
    assert planner().plan(0, 10, {A: 10, B: 3}) == []
    assert planner().plan(0, 10, {}) == []


def test_a_probe_asks_one_peer_for_the_next_block_without_faulting_it_for_having_none() -> None:
    """Consensus traffic for later heights arrived before any peer's STATUS said so."""
    sync = planner()
    (request,) = sync.plan(0, 10, {A: 10, B: 10}, probe=True)
    assert (request.from_height, request.count) == (11, 1)
    assert sync.plan(1, 10, {A: 10, B: 10}, probe=True) == []  # one probe at a time
    assert sync.on_answer(request.peer, [], 10, 2) == []
    assert not sync.is_resting(request.peer, 2) and sync.events == {}
    (again,) = sync.plan(3, 10, {A: 10, B: 10}, probe=True)
    assert [b.height for b in sync.on_answer(again.peer, [(11, "b11")], 10, 4)] == [11]


def test_the_parameters_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SyncPlanner(parallel=0)
