"""Helpers shared by the benchmarks: rates and quantiles, a watcher that timestamps committed transactions,
concurrent submitters, one timed run of pre-signed batches from first submission to last commit, and the
figures every workload reports of such a run."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sdk.client import Client
from sdk.errors import XinlianError
from sdk.submission import compute_submit_batches


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (nearest rank) of ``values``; 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def split_evenly(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` shares that differ by at most one (the larger ones first)."""
    return [total // parts + (1 if k < total % parts else 0) for k in range(parts)]


def rate(operation: Callable[[], object], seconds: float, chunk: int = 50) -> float:
    """Return operations per second of ``operation`` run repeatedly, ``chunk`` at a time, for about
    ``seconds`` (after one warm-up call)."""
    operation()
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(chunk):
            operation()
        count += chunk
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


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

    A full mempool is retried after ``retry_s``; any other refusal is counted by its code. ``submit_times``
    maps each accepted transaction hash to the moment it was sent; ``deadline`` (perf_counter seconds)
    stops submitting early. ``per_request`` > 1 sends up to that many per request (``POST
    /v1/transactions/batch``, split as the SDK's ``submit_all`` splits: also within a node's default body
    cap).
    """

    def __init__(
        self, url: str, batches: Sequence[Sequence[bytes]], *, retry_s: float = 0.05, per_request: int = 1
    ) -> None:
        self.url = url
        self.per_request = per_request
        self.retry_s = retry_s
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
            for batch in compute_submit_batches(raws, max_txs=self.per_request):
                if time.perf_counter() > self.deadline:
                    return
                waiting = batch
                while waiting:
                    sent = time.perf_counter()
                    retry: list[bytes] = []
                    for raw, outcome in zip(waiting, self._send(client, waiting), strict=True):
                        with self._lock:
                            if isinstance(outcome, bytes):
                                self.submit_times[outcome] = sent
                            elif outcome.code == "mempool_full":
                                retry.append(raw)
                            else:
                                self.refusals[outcome.code] = self.refusals.get(outcome.code, 0) + 1
                    if retry:
                        time.sleep(self.retry_s)
                    waiting = retry

    def _send(self, client: Client, raws: list[bytes]) -> list[bytes | XinlianError]:
        """One request: ``POST /v1/transactions`` for one transaction, else the batch route (again while
        the node answers busy)."""
        try:
            if self.per_request == 1:
                return [client.submit_raw(raws[0])]
            return client.submit_all(raws)  # as the SDK sends many: a busy node is waited out
        except XinlianError as exc:
            return [exc] * len(raws)


class CommitRun:
    """One timed run: ``batches`` submitted from one client thread each while a CommitWatcher timestamps
    the commits. Call ``start``, ``join``, ``wait_for_commits``, then ``stop``; the properties read the
    outcome."""

    def __init__(
        self, url: str, batches: Sequence[Sequence[bytes]], start_height: int, *, per_request: int = 1
    ) -> None:
        self.watcher = CommitWatcher(url, start_height)
        self.submitter = ConcurrentSubmitter(url, batches, per_request=per_request)
        self.first_submit = 0.0
        self.submitted_at = 0.0
        self.committed: dict[bytes, float] = {}

    def start(self, seconds: float | None = None) -> float:
        """Start watching and submitting (stop submitting after ``seconds``); returns the first submit
        time."""
        self.watcher.start()
        self.first_submit = self.submitter.start()
        if seconds is not None:
            self.submitter.deadline = self.first_submit + seconds
        return self.first_submit

    def join(self) -> int:
        """Wait until every batch is submitted; returns how many transactions the node accepted."""
        self.submitted_at = self.submitter.join()
        return len(self.submit_times)

    def wait_for_commits(self, wait_s: float) -> None:
        """After ``join``: wait up to ``wait_s`` for each accepted transaction to commit."""
        accepted = self.accepted
        wait_until = self.submitted_at + wait_s
        while time.perf_counter() < wait_until and not accepted <= self.watcher.commit_times.keys():
            time.sleep(0.05)

    def stop(self) -> None:
        self.watcher.stop()
        commits = self.watcher.commit_times
        self.committed = {h: commits[h] for h in self.accepted if h in commits}

    def measure(self, wait_s: float, seconds: float | None = None) -> None:
        """The whole run: ``start``, ``join``, ``wait_for_commits`` (``wait_s``) and ``stop``."""
        self.start(seconds)
        self.join()
        self.wait_for_commits(wait_s)
        self.stop()

    @property
    def submit_times(self) -> dict[bytes, float]:
        return self.submitter.submit_times

    @property
    def accepted(self) -> set[bytes]:
        return set(self.submitter.submit_times)

    @property
    def refusals(self) -> dict[str, int]:
        return self.submitter.refusals

    @property
    def blocks(self) -> int:
        return self.watcher.blocks

    @property
    def seconds(self) -> float:
        """First submission to the last commit seen."""
        return max(self.committed.values()) - self.first_submit

    @property
    def submit_per_s(self) -> float:
        """Accepted submissions per second of submitting."""
        return len(self.accepted) / max(self.submitted_at - self.first_submit, 1e-9)

    def latency_ms(self, fraction: float) -> float:
        """The ``fraction`` quantile of submit-to-commit latency, in milliseconds."""
        return 1000 * percentile([self.committed[h] - self.submit_times[h] for h in self.committed], fraction)


@dataclass
class CommitFigures:
    """What a workload reports of its CommitRun; a workload's result type adds its own counts and rates.

    The timings stay 0.0 when nothing committed.
    """

    refused: int = 0  # refused at admission (not counting mempool_full retries)
    refusals: dict[str, int] = field(default_factory=dict)
    blocks: int = 0
    seconds: float = 0.0  # first submit → last commit seen
    submit_per_s: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p99_ms: float = 0.0

    def record(self, run: CommitRun) -> None:
        """Take the figures of ``run`` once it has stopped."""
        self.refusals = run.refusals
        self.refused = sum(run.refusals.values())
        self.blocks = run.blocks
        if run.committed:
            self.seconds = run.seconds
            self.submit_per_s = run.submit_per_s
            self.latency_p50_ms, self.latency_p99_ms = run.latency_ms(0.50), run.latency_ms(0.99)
