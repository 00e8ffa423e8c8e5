"""History back-fill: after a join by snapshot, the blocks below the snapshot height are fetched from peers in
the background, downwards, and proven by hash chaining from the snapshot block (node.ledger.backfill).

One batch at a time: the thread asks one peer for at most MAX_HISTORY_BLOCKS blocks (an answer of at most
MAX_HISTORY_ANSWER_BYTES, one block above it at most) below the lowest block held, waits for its HISTORY
answer, proves it and stores it with the new floor in one transaction, then pauses before the next batch
so that consensus and block sync (which share the database and the peers' request budgets) keep going. A
peer is asked at most once per REQUEST_SPACING_S (within its block-request budget) and never while the
block sync has a request outstanding with it (a peer serves one request at a time).

* a peer whose answer is malformed, too long, of other heights or does not link to the blocks held is
  charged SCORE_BAD_FRAME and not asked again for BLAME_REST_MS; nothing of its answer is stored;
* a peer that does not answer within REQUEST_TIMEOUT_S, or holds none of the blocks (it joined by
  snapshot too), rests SLOW_REST_MS; another peer is asked.

The floor is stored with each batch, so a restart resumes there. When it reaches genesis ``on_done`` runs
(the node fills its history tree for proofs).
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable

from node.ledger.backfill import (
    MAX_HISTORY_BLOCKS,
    HistoryError,
    StaleHistoryError,
    history_floor,
    store_history,
    verify_history_answer,
)
from node.p2p.join import REQUEST_SPACING_S
from node.p2p.peers import SCORE_BAD_FRAME
from node.p2p.service import PeerService
from node.p2p.sync import BLAME_REST_MS, SLOW_REST_MS
from node.storage.store import Store
from sdk.errors import StorageError

log = logging.getLogger("xinlian.backfill")

#: A history request unanswered after this long goes to another peer.
REQUEST_TIMEOUT_S: float = 10.0
#: The pause after each stored batch (consensus and sync go first).
BATCH_PAUSE_S: float = 0.02
#: How long to wait when no peer can be asked now.
IDLE_WAIT_S: float = 0.25
#: HISTORY answers waiting for the back-fill thread; beyond this they are dropped (one is asked at a time).
ANSWER_QUEUE: int = 4


class HistoryBackfill:
    """Fetches, proves and stores the blocks below the lowest one held, on its own daemon thread."""

    def __init__(
        self,
        store: Store,
        service: PeerService,
        *,
        busy_peers: Callable[[], frozenset[bytes]] = frozenset,
        on_done: Callable[[], None] | None = None,
        batch: int = MAX_HISTORY_BLOCKS,
        pause_s: float = BATCH_PAUSE_S,
    ) -> None:
        if not 1 <= batch <= MAX_HISTORY_BLOCKS:
            raise ValueError(f"a back-fill batch is 1 to {MAX_HISTORY_BLOCKS} blocks")
        self.store = store
        self.service = service
        self.busy_peers = busy_peers
        self.on_done = on_done
        self.batch = batch
        self.pause_s = pause_s
        #: The lowest height from which every block up to the head is held (0: the whole chain).
        self.floor = history_floor(store)
        #: Counters by event (blocks stored, batches, refused answers, timeouts, ...), for metrics.
        self.stats: dict[str, int] = {}
        self._answers: queue.Queue[tuple[bytes, bytes]] = queue.Queue(ANSWER_QUEUE)
        self._resting: dict[bytes, float] = {}
        self._asked_at: dict[bytes, float] = {}
        self._rng = secrets.SystemRandom()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def done(self) -> bool:
        return self.floor == 0

    def start(self) -> None:
        """Run the back-fill on a daemon thread until the floor reaches genesis or ``stop``."""
        self._thread = threading.Thread(target=self._run, name="xinlian-backfill", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the back-fill (a batch being stored completes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def offer(self, payload: bytes, peer: bytes) -> None:
        """Take a HISTORY answer (p2p loop thread; decoded and checked on the back-fill thread)."""
        try:
            self._answers.put_nowait((payload, peer))
        except queue.Full:
            self._count("answers_dropped")

    # --- the thread ------------------------------------------------------------------------------------
    def _run(self) -> None:
        started, first_floor = time.monotonic(), self.floor
        try:
            while not self._stop.is_set() and self.floor > 0:
                peer = self._choose(time.monotonic())
                if peer is None:
                    self._stop.wait(IDLE_WAIT_S)
                    continue
                if self.run_batch(peer):
                    self._stop.wait(self.pause_s)
        except Exception:  # the back-fill must never take the node down: it resumes at the next start
            log.exception("the history back-fill stopped at height %d", self.floor)
            return
        if self.floor == 0:
            log.info(
                "history back-filled: %d blocks in %.1f s",
                first_floor - 1,
                time.monotonic() - started,
            )
            if self.on_done is not None:
                self.on_done()

    def run_batch(self, peer: bytes) -> bool:
        """Ask ``peer`` for the next batch below the floor, prove and store its answer. Returns whether
        blocks were stored."""
        anchor = self.store.get_header(self.floor)
        if anchor is None:
            raise StorageError("the lowest block held is missing", height=self.floor)
        top = self.floor - 1
        count = min(self.batch, top)
        while not self._answers.empty():  # late answers to earlier requests
            self._answers.get_nowait()
        now = time.monotonic()
        self._asked_at[peer] = now
        self.service.request_history(peer, top, count)
        payload = self._await(peer, now + REQUEST_TIMEOUT_S)
        if payload is None:
            self._rest(peer, SLOW_REST_MS, "timeouts")
            return False
        try:
            entries = verify_history_answer(payload, anchor.parent_hash, top, count)
        except StaleHistoryError:
            self._count("stale_answers")
            return False
        except HistoryError as exc:
            log.warning("peer %s… sent history that is not proven: %s", peer[:6].hex(), exc)
            self.service.report_misbehaviour(peer, SCORE_BAD_FRAME, "bad history")
            self._rest(peer, BLAME_REST_MS, "refused_answers")
            return False
        if not entries:
            self._rest(peer, SLOW_REST_MS, "empty_answers")
            return False
        self.floor = store_history(self.store, entries)
        self._count("batches")
        self._count("blocks", len(entries))
        return True

    def _await(self, peer: bytes, deadline: float) -> bytes | None:
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                payload, sender = self._answers.get(timeout=min(left, IDLE_WAIT_S))
            except queue.Empty:
                continue
            if sender == peer:
                return payload
        return None

    def _choose(self, now: float) -> bytes | None:
        """A connected peer not resting, not busy with the block sync, and not asked too recently."""
        busy = self.busy_peers()
        able = [
            p
            for p in sorted(self.service.connected_peers())
            if self._resting.get(p, 0.0) <= now
            and p not in busy
            and now - self._asked_at.get(p, -REQUEST_SPACING_S) >= REQUEST_SPACING_S
        ]
        return self._rng.choice(able) if able else None

    def _rest(self, peer: bytes, rest_ms: int, reason: str) -> None:
        self._resting[peer] = time.monotonic() + rest_ms / 1000
        self._count(reason)

    def _count(self, name: str, amount: int = 1) -> None:
        self.stats[name] = self.stats.get(name, 0) + amount
