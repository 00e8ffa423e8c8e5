"""Prometheus metrics of one node, each app with its own CollectorRegistry, served on the node's operator
listener (``serve_metrics``), never on the API that members and the public reach."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CONTENT_TYPE_LATEST as PROMETHEUS_CONTENT_TYPE,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)

from node.execution.types import ExecutionResult
from node.ledger.chain import Ledger
from sdk.types import Block, CommitCertificate

__all__ = ["PROMETHEUS_CONTENT_TYPE", "Metrics", "serve_metrics"]

_RATE_WINDOW_S = 10.0
_LATENCY_BUCKETS_S = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)


class Metrics:
    """Node metrics: height, committed transactions (total and per second), mempool size, commit latency.

    The runtime reports commits through ``observe_commit``; ``attach(ledger)`` does that from the ledger's
    ``on_commit`` hook, measuring latency as commit time minus the block's timestamp.
    """

    def __init__(self, *, clock_s: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._clock_s = clock_s
        self._lock = threading.Lock()
        self._recent: deque[tuple[float, int]] = deque()
        self.height = Gauge("xinlian_height", "Height of the committed head", registry=self.registry)
        self.committed_transactions = Counter(
            "xinlian_committed_transactions", "Transactions committed by this node", registry=self.registry
        )
        self.committed_blocks = Counter(
            "xinlian_committed_blocks", "Blocks committed by this node", registry=self.registry
        )
        self.tx_per_second = Gauge(
            "xinlian_committed_transactions_per_second",
            f"Committed transactions per second over the last {_RATE_WINDOW_S:.0f} s",
            registry=self.registry,
        )
        self.tx_per_second.set_function(self.compute_tx_per_second)
        self.mempool_size = Gauge(
            "xinlian_mempool_size", "Transactions waiting in the mempool", registry=self.registry
        )
        self.mempool_capacity = Gauge(
            "xinlian_mempool_capacity", "Transactions the mempool holds at most", registry=self.registry
        )
        self.commit_latency = Histogram(
            "xinlian_commit_latency_seconds",
            "Time from a block's timestamp to its commit on this node",
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.api_errors = Counter(
            "xinlian_api_errors", "API requests answered with a 5xx status", registry=self.registry
        )

    def attach(self, ledger: Ledger) -> None:
        """Follow ``ledger``: the head height now, every commit from now on, the mempool size on scrape."""
        self.height.set(ledger.height)
        self.mempool_size.set_function(lambda: ledger.pending_count)
        self.mempool_capacity.set_function(lambda: ledger.pending_capacity)
        ledger.on_commit.append(self._on_ledger_commit)

    def _on_ledger_commit(
        self, block: Block, _certificate: CommitCertificate, _result: ExecutionResult
    ) -> None:
        latency_s = max(0.0, self._clock_s() - block.header.timestamp_ms / 1000)
        self.observe_commit(block, latency_s)

    def observe_commit(self, block: Block, latency_s: float | None = None) -> None:
        """Record a committed block (height, transaction count) and, when given, its commit latency."""
        count = len(block.transactions)
        self.height.set(block.header.height)
        self.committed_blocks.inc()
        self.committed_transactions.inc(count)
        if latency_s is not None:
            self.commit_latency.observe(latency_s)
        now = self._clock_s()
        with self._lock:
            self._recent.append((now, count))
            self._trim(now)

    def compute_tx_per_second(self) -> float:
        """Return committed transactions per second over the recent window."""
        now = self._clock_s()
        with self._lock:
            self._trim(now)
            total = sum(count for _, count in self._recent)
        return total / _RATE_WINDOW_S

    def _trim(self, now: float) -> None:
        while self._recent and self._recent[0][0] < now - _RATE_WINDOW_S:
            self._recent.popleft()

    def render(self) -> bytes:
        """Return the Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


def serve_metrics(
    metrics: Metrics, host: str, port: int, *, tls_cert: str = "", tls_key: str = ""
) -> WSGIServer:
    """Serve ``metrics`` as Prometheus text on the operator listener ``host:port`` (https with
    ``tls_cert``/``tls_key``), in a daemon thread; stop it with ``server.shutdown()``. Raises OSError when
    the address cannot be bound."""
    server, _thread = start_http_server(
        port, addr=host, registry=metrics.registry, certfile=tls_cert or None, keyfile=tls_key or None
    )
    return server
