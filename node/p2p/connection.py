"""One authenticated link to a peer: a bounded send queue drained by a write loop."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque

from node.p2p.peers import (
    DEFAULT_SEND_QUEUE_BYTES,
    DEFAULT_SEND_QUEUE_FRAMES,
    WRITE_BATCH_BYTES,
    P2PStats,
)


class _SelfConnectionError(Exception):
    """The handshake proved (by a signature of this node's own key) that the peer is this node."""


class _Connection:
    """One authenticated link: a byte-bounded send queue drained by a writer task."""

    def __init__(
        self,
        peer: bytes,
        address: str,
        outbound: bool,
        writer: asyncio.StreamWriter,
        height: int,
        stats: P2PStats,
        *,
        queue_frames: int = DEFAULT_SEND_QUEUE_FRAMES,
        queue_bytes: int = DEFAULT_SEND_QUEUE_BYTES,
    ) -> None:
        self.peer = peer
        self.address = address
        self.outbound = outbound
        self.writer = writer
        self.height = height
        self.established_s = time.monotonic()
        self.stats = stats
        self.queue_frames = queue_frames
        self.queue_bytes = queue_bytes
        self.queue: deque[bytes] = deque()
        # Bytes queued plus bytes handed to the transport whose drain has not returned yet.
        self.queued_bytes = 0
        self.peak_queued_bytes = 0
        # When a frame was first dropped for lack of room with no write progress since.
        self.stalled_since: float | None = None
        self.closed = False
        self._wakeup = asyncio.Event()

    def send(self, frame: bytes) -> bool:
        """Queue ``frame``; returns False (and counts a drop) when the queue is over budget or the link
        closed. An empty queue always takes one frame, so a budget below the frame size never mutes a link."""
        if self.closed:
            return False
        size = len(frame)
        over = self.queued_bytes > 0 and (
            len(self.queue) >= self.queue_frames or self.queued_bytes + size > self.queue_bytes
        )
        if over:
            self.stats.add("dropped_outbound")
            self.stats.add("dropped_outbound_bytes", size)
            if self.stalled_since is None:
                self.stalled_since = time.monotonic()
            return False
        self.queue.append(frame)
        self.queued_bytes += size
        self.peak_queued_bytes = max(self.peak_queued_bytes, self.queued_bytes)
        self._wakeup.set()
        return True

    async def write_loop(self) -> None:
        try:
            while not self.closed:
                if not self.queue:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                batch_bytes = 0
                count = 0
                while self.queue and (count == 0 or batch_bytes < WRITE_BATCH_BYTES):
                    frame = self.queue.popleft()
                    self.writer.write(frame)
                    batch_bytes += len(frame)
                    count += 1
                await self.writer.drain()
                if not self.closed:
                    self.queued_bytes -= batch_bytes
                    self.stalled_since = None
                self.stats.add("frames_out", count)
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            self.close()

    def close(self, *, abort: bool = False) -> None:
        """Close the link; ``abort`` also discards what the transport still buffers (a stalled reader
        would otherwise keep it alive)."""
        if self.closed:
            return
        self.closed = True
        self.queue.clear()
        self.queued_bytes = 0
        self._wakeup.set()
        with contextlib.suppress(Exception):
            if abort:
                self.writer.transport.abort()
            else:
                self.writer.close()
