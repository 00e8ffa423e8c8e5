"""Helpers shared by the node benchmarks: quantiles and a watcher that timestamps committed transactions."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from sdk.client import Client
from sdk.errors import XinlianError


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (nearest rank) of ``values``; 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


class CommitWatcher:
    """Polls a node's head and records when each transaction was first seen committed (one GET per block).

    Timing commits from the outside keeps the node under test free of thousands of waiting requests.
    """

    def __init__(self, url: str, start_height: int) -> None:
        self.client = Client(url, timeout=30.0)
        self.seen_height = start_height
        self.commit_times: dict[bytes, float] = {}
        self.blocks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="commit-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                head = self.client.head()
                now = time.perf_counter()
                for height in range(self.seen_height + 1, head.height + 1):
                    block = head if height == head.height else self.client.block(height)
                    for tx_hash in block.transactions:
                        self.commit_times.setdefault(tx_hash, now)
                    self.blocks += 1
                self.seen_height = max(self.seen_height, head.height)
            except XinlianError:
                pass
            self._stop.wait(0.01)


class ConcurrentSubmitter:
    """Client threads, one per batch, submit pre-signed transactions as fast as the node takes them.

    A full mempool is retried after 50 ms; any other refusal is counted by its code. ``submit_times`` maps
    each accepted transaction hash to the moment it was sent; ``deadline`` (perf_counter seconds) stops
    submitting early.
    """

    def __init__(self, url: str, batches: Sequence[Sequence[bytes]]) -> None:
        self.url = url
        self.submit_times: dict[bytes, float] = {}
        self.refusals: dict[str, int] = {}
        self.deadline = float("inf")
        self._lock = threading.Lock()
        self._go = threading.Barrier(len(batches) + 1)
        self._threads = [
            threading.Thread(target=self._submit_all, args=(list(b),), daemon=True) for b in batches
        ]

    def start(self) -> float:
        """Start every thread at once; returns the perf_counter time of the first submission."""
        for thread in self._threads:
            thread.start()
        self._go.wait()
        return time.perf_counter()

    def join(self) -> float:
        """Wait until every batch is submitted; returns the perf_counter time it finished."""
        for thread in self._threads:
            thread.join()
        return time.perf_counter()

    def _submit_all(self, raws: list[bytes]) -> None:
        with Client(self.url, timeout=30.0) as client:
            self._go.wait()
            for raw in raws:
                if time.perf_counter() > self.deadline:
                    return
                while True:
                    sent = time.perf_counter()
                    try:
                        tx_hash = client.submit_raw(raw)
                    except XinlianError as exc:
                        if exc.code == "mempool_full":
                            time.sleep(0.05)
                            continue
                        with self._lock:
                            self.refusals[exc.code] = self.refusals.get(exc.code, 0) + 1
                        break
                    with self._lock:
                        self.submit_times[tx_hash] = sent
                    break
