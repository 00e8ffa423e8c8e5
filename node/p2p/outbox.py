"""Local transactions waiting to be gossiped, taken off in paced TRANSACTIONS-frame batches."""

from __future__ import annotations

import logging
import threading
from collections import deque

from node.p2p.peers import (
    MAX_TXS_PER_FRAME,
    RLP_ITEM_OVERHEAD_BYTES,
    P2PLimits,
    P2PStats,
    _TokenBucket,
)

log = logging.getLogger("xinlian.p2p")


class TransactionOutbox:
    """A byte-bounded queue of raw transactions (any thread puts, the loop takes frame-sized batches).

    Our own gossip is paced at half a receiver's budget, so an honest node never trips an honest peer's.
    """

    def __init__(self, limits: P2PLimits, stats: P2PStats, now: float) -> None:
        self.limits = limits
        self.stats = stats
        self._queue: deque[bytes] = deque()
        self._bytes = 0
        self._lock = threading.Lock()
        self._pacer = _TokenBucket(limits.tx_bytes_per_s / 2, limits.tx_burst_bytes / 2, now)

    def put(self, raw: bytes) -> None:
        """Queue ``raw`` for the next batch (not gossiped, and counted, when it cannot fit a frame or the
        outbox is full)."""
        cost = len(raw) + RLP_ITEM_OVERHEAD_BYTES
        if cost + RLP_ITEM_OVERHEAD_BYTES + 1 > self.limits.max_tx_frame_bytes:
            self.stats.add("oversized_outbound")
            log.warning("not gossiping a %d-byte transaction: above the TRANSACTIONS frame limit", len(raw))
            return
        with self._lock:
            if self._bytes + cost > self.limits.tx_outbox_bytes:
                self.stats.add("transactions_outbox_dropped")
                return
            self._queue.append(raw)
            self._bytes += cost

    def take(self, now: float) -> list[bytes] | None:
        """Take the next TRANSACTIONS batch off the outbox; None when it is empty or the pacer says wait."""
        with self._lock:
            size = RLP_ITEM_OVERHEAD_BYTES + 1
            count = 0
            for raw in self._queue:
                cost = len(raw) + RLP_ITEM_OVERHEAD_BYTES
                if count == MAX_TXS_PER_FRAME or (count and size + cost > self.limits.max_tx_frame_bytes):
                    break
                size += cost
                count += 1
            if count == 0 or not self._pacer.take(size, now):
                return None
            chunk = [self._queue.popleft() for _ in range(count)]
            self._bytes -= size - RLP_ITEM_OVERHEAD_BYTES - 1
            return chunk
