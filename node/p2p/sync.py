"""Block sync from several peers: which heights to ask which peer for, and what to do with the answers.

A pure planner (no sockets, no clock, no threads: the driver passes the time and the peers' reported
heights in, sends the requests it returns and imports the blocks it hands back, in order):

* **spread**: a node behind asks up to ``parallel`` peers at once, each for its own window of consecutive
  heights (one outstanding request per peer), chosen at random among the peers that report those heights;
* **fail over**: a window unanswered by its deadline goes to another peer, and the slow peer rests a
  while; an answer no honest peer sends (heights not consecutive, more than a window, undecodable) or
  whose block the driver refuses (bad certificate, invalid block) is *blamed*: the peer is avoided for a
  longer while and everything it sent that is not imported yet is dropped (an answer for other heights
  than asked may be a late one to an earlier request: it is used only where it continues the chain);
* **bounded**: only heights up to ``parallel · window`` above our head are requested, so the answers held
  back for order (a later window answered before an earlier one) are at most that many blocks, each
  answer one p2p frame; a peer that claims a height it never serves costs one request per rest period.

A resting peer is asked again only when every connected peer rests (a false alarm must not stop sync): a
peer that claims heights nobody else has, and then does not serve them, is asked once per rest period.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from node.p2p.peers import MAX_BLOCKS_PER_ANSWER

T = TypeVar("T")

#: Peers asked at once while this node is behind.
DEFAULT_SYNC_PARALLEL: int = 3
#: The smallest window worth a request of its own (a short gap is not split further).
MIN_SYNC_WINDOW: int = 8
#: A request unanswered after this long goes to another peer.
DEFAULT_SYNC_TIMEOUT_MS: int = 3_000
#: How long a slow peer (timed out, or answered nothing for heights it claims) is not asked.
SLOW_REST_MS: int = 5_000
#: How long a peer that answered with something it was not asked for, or with a refused block, is not asked.
BLAME_REST_MS: int = 60_000


@dataclass(frozen=True, slots=True)
class BlockRequest:
    """Ask ``peer`` for ``count`` committed blocks from ``from_height`` on."""

    peer: bytes
    from_height: int
    count: int


@dataclass(slots=True)
class _Window:
    peer: bytes
    from_height: int
    count: int
    deadline_ms: int
    probe: bool = False  # asked without the peer claiming the height: an empty answer is no fault

    @property
    def end(self) -> int:
        """The last height of the window."""
        return self.from_height + self.count - 1


@dataclass(frozen=True, slots=True)
class SyncedBlock(Generic[T]):
    """One decoded answer item: its height, the payload the driver imports, and who sent it."""

    height: int
    item: T
    peer: bytes


class SyncPlanner(Generic[T]):
    """Plans block requests over several peers and puts their answers back in height order."""

    def __init__(
        self,
        *,
        parallel: int = DEFAULT_SYNC_PARALLEL,
        max_window: int = MAX_BLOCKS_PER_ANSWER,
        timeout_ms: int = DEFAULT_SYNC_TIMEOUT_MS,
        rng: random.Random | None = None,
    ) -> None:
        if parallel < 1 or max_window < 1 or timeout_ms < 1:
            raise ValueError("sync parallelism, window and timeout must be positive")
        self.parallel = parallel
        self.max_window = max_window
        self.timeout_ms = timeout_ms
        self._rng = rng if rng is not None else secrets.SystemRandom()
        self._windows: dict[bytes, _Window] = {}
        self._held: dict[int, SyncedBlock[T]] = {}
        self._resting: dict[bytes, int] = {}  # peer -> until (ms)
        #: Blocks each peer delivered in order (for metrics and tests).
        self.served: dict[bytes, int] = {}
        #: Why peers were blamed or rested, by reason (for metrics).
        self.events: dict[str, int] = {}

    # --- queries ---------------------------------------------------------------------------------------
    @property
    def outstanding(self) -> list[BlockRequest]:
        """The requests sent and not answered yet."""
        return [BlockRequest(w.peer, w.from_height, w.count) for w in self._windows.values()]

    @property
    def held(self) -> int:
        """Blocks received ahead of a gap, waiting for the earlier ones."""
        return len(self._held)

    def is_resting(self, peer: bytes, now_ms: int) -> bool:
        """Whether ``peer`` is avoided now (slow or blamed)."""
        return self._resting.get(peer, 0) > now_ms

    # --- planning --------------------------------------------------------------------------------------
    def plan(
        self, now_ms: int, my_height: int, peer_heights: Mapping[bytes, int], *, probe: bool = False
    ) -> list[BlockRequest]:
        """Return the requests to send now: windows above ``my_height`` that no peer is asked for, each
        to an idle peer that reports it (rested peers only when no other one does). With ``probe`` (the
        consensus saw traffic for later heights) and no peer reporting a height above ours yet, one peer
        is asked for the next block; it is not faulted for having none."""
        self._expire(now_ms, my_height, peer_heights)
        top = max(peer_heights.values(), default=my_height)
        if top <= my_height:
            return self._probe(now_ms, my_height, peer_heights) if probe else []
        limit = min(top, my_height + self.parallel * self.max_window)
        size = min(self.max_window, max(MIN_SYNC_WINDOW, -(-(top - my_height) // self.parallel)))
        out: list[BlockRequest] = []
        height = my_height + 1
        while height <= limit and len(self._windows) < self.parallel:
            covered = self._covered_until(height)
            if covered is not None:
                height = covered + 1
                continue
            count = min(size, limit - height + 1, self._gap_length(height, limit))
            peer = self._choose(height, now_ms, peer_heights)
            if peer is None:
                break
            count = min(count, peer_heights[peer] - height + 1)
            self._windows[peer] = _Window(peer, height, count, now_ms + self.timeout_ms)
            out.append(BlockRequest(peer, height, count))
            height += count
        return out

    def _probe(self, now_ms: int, my_height: int, peer_heights: Mapping[bytes, int]) -> list[BlockRequest]:
        if self._windows or not peer_heights:
            return []
        idle = sorted(p for p in peer_heights if not self.is_resting(p, now_ms)) or sorted(peer_heights)
        peer = self._rng.choice(idle)
        self._windows[peer] = _Window(peer, my_height + 1, 1, now_ms + self.timeout_ms, probe=True)
        return [BlockRequest(peer, my_height + 1, 1)]

    def _expire(self, now_ms: int, my_height: int, peer_heights: Mapping[bytes, int]) -> None:
        for peer, window in list(self._windows.items()):
            if peer not in peer_heights:  # disconnected: its answer will not come
                del self._windows[peer]
            elif window.deadline_ms <= now_ms:
                del self._windows[peer]
                self._rest(peer, now_ms + SLOW_REST_MS, "sync_timeout")
            elif window.end <= my_height:  # another peer's blocks got us past it
                del self._windows[peer]
        for height in [h for h in self._held if h <= my_height]:
            del self._held[height]
        for peer in [p for p, until in self._resting.items() if until <= now_ms]:
            del self._resting[peer]

    def _covered_until(self, height: int) -> int | None:
        """The last height of the outstanding window or held run that covers ``height``, if one does."""
        for window in self._windows.values():
            if window.from_height <= height <= window.end:
                return window.end
        if height in self._held:
            end = height
            while end + 1 in self._held:
                end += 1
            return end
        return None

    def _gap_length(self, height: int, limit: int) -> int:
        """How many heights from ``height`` on (up to ``limit``) nothing covers yet."""
        starts = [w.from_height for w in self._windows.values() if w.from_height > height]
        starts += [h for h in self._held if h > height]
        stop = min([limit + 1, *starts])
        return stop - height

    def _choose(self, height: int, now_ms: int, peer_heights: Mapping[bytes, int]) -> bytes | None:
        able = sorted(p for p, h in peer_heights.items() if h >= height and p not in self._windows)
        fresh = [p for p in able if not self.is_resting(p, now_ms)]
        if fresh:
            return self._rng.choice(fresh)
        if any(not self.is_resting(p, now_ms) for p in peer_heights):
            return None  # a peer in good standing is busy or not there yet: wait for it, not for a liar
        return self._rng.choice(able) if able else None

    # --- answers ---------------------------------------------------------------------------------------
    def on_answer(
        self, peer: bytes, items: Sequence[tuple[int, T]], my_height: int, now_ms: int
    ) -> list[SyncedBlock[T]]:
        """Take ``peer``'s answer (decoded (height, item) pairs) and return the blocks now importable in
        order, from ``my_height + 1`` on. An answer that no honest peer sends (heights not consecutive, more
        than a window) blames ``peer`` and gives nothing of it. An answer that matches no outstanding
        request of ours (none, or a late answer to an earlier one) is used only where it continues the
        chain at once: nothing of it is held."""
        heights = [height for height, _ in items]
        consecutive = bool(items) and heights == list(range(heights[0], heights[0] + len(items)))
        if items and (not consecutive or len(items) > self.max_window):
            self.blame(peer, now_ms, "sync_wrong_answer")
            return self._release(my_height)
        window = self._windows.get(peer)
        if window is None or (items and heights[0] != window.from_height) or len(items) > window.count:
            # No request of ours, or (a late answer to an earlier, timed-out one): use what continues the
            # chain at once; the current window, if any, stays outstanding until answered or late.
            self.events["sync_unexpected_answer"] = self.events.get("sync_unexpected_answer", 0) + 1
            if not items or heights[0] != my_height + 1:
                return []
            return [SyncedBlock(height, item, peer) for height, item in items]
        del self._windows[peer]
        if not items and not window.probe:
            self._rest(peer, now_ms + SLOW_REST_MS, "sync_empty_answer")
        for height, item in items:
            if height > my_height:
                self._held[height] = SyncedBlock(height, item, peer)
        return self._release(my_height)

    def _release(self, my_height: int) -> list[SyncedBlock[T]]:
        run = []
        height = my_height + 1
        while height in self._held:
            block = self._held.pop(height)
            run.append(block)
            self.served[block.peer] = self.served.get(block.peer, 0) + 1
            height += 1
        return run

    def blame(
        self, peer: bytes, now_ms: int, reason: str = "sync_blamed", *, rest_ms: int = BLAME_REST_MS
    ) -> None:
        """``peer`` sent something wrong: avoid it for ``rest_ms``, drop its request and every block of it
        that is held back (another peer is asked for those heights)."""
        self._windows.pop(peer, None)
        for height in [h for h, b in self._held.items() if b.peer == peer]:
            del self._held[height]
        self._rest(peer, now_ms + rest_ms, reason)

    def _rest(self, peer: bytes, until_ms: int, reason: str) -> None:
        self._resting[peer] = max(until_ms, self._resting.get(peer, 0))
        self.events[reason] = self.events.get(reason, 0) + 1
