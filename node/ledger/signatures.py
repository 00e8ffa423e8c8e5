"""The SM2 signatures of submitted batches, checked in a worker process of their own: batch admission never
holds the node's GIL while it verifies, and never waits behind the API's read-only calls (their own
workers, node.api.views)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import BrokenExecutor, Future, TimeoutError as FutureTimeout

from node.workers import WorkerPool
from sdk.crypto import batch_verify
from sdk.errors import XinlianError

log = logging.getLogger("xinlian.ledger")

#: Worker processes a node starts for batch admission's signature checks.
DEFAULT_ADMISSION_WORKERS: int = 1
#: A batch not checked within this long is checked in the node process instead.
DEFAULT_TIMEOUT_S: float = 10.0


def _ready() -> None:
    """A signature worker needs no state: the SM2 backend is imported with this module."""


def _verify(items: list[tuple[bytes, bytes, bytes]]) -> list[bool]:
    """In a worker: whether each (public key, message, signature) verifies (``batch_verify``'s rule)."""
    return batch_verify(items, processes=1)


class SignatureWorkers(WorkerPool):
    """A ``Ledger.signature_checker`` answered by worker processes (spawned, at lower CPU priority)."""

    def __init__(
        self, processes: int = DEFAULT_ADMISSION_WORKERS, *, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        """Start ``processes`` workers. Raises XinlianError ``bad_config`` for a non-positive count."""
        if processes < 1:
            raise XinlianError("signature workers need at least one process", code="bad_config")
        super().__init__(processes, _ready, ())
        self.timeout_s = timeout_s

    def verify(self, items: Sequence[tuple[bytes, bytes, bytes]]) -> list[bool] | None:
        """For each (public key, message, signature), whether it verifies; None when the workers cannot
        answer in time (then the ledger verifies in its own process)."""
        try:
            future: Future[list[bool]] = self._executor.submit(_verify, list(items))
            return future.result(timeout=self.timeout_s)
        except (RuntimeError, BrokenExecutor, FutureTimeout) as exc:
            log.warning(
                "the signature workers did not check %d signatures (%r): checked here", len(items), exc
            )
            return None
