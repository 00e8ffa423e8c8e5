"""Read-only EVM calls in worker processes, so that heavy API reads never hold the consensus process's GIL."""

from __future__ import annotations

import logging
from concurrent.futures import BrokenExecutor, Future, TimeoutError as FutureTimeout
from typing import Any

from node.execution import BlockContext, ExecutionEngine
from node.storage import StateNodeStore, Store
from node.workers import WorkerPool, can_share_database, error_as_data, rebuild_error
from sdk.errors import ExecutionError, XinlianError

log = logging.getLogger("xinlian.api")

#: Worker processes a node starts for read-only calls (each holds its own EVM and state-node cache).
DEFAULT_VIEW_WORKERS: int = 1
#: A call not answered within this long is refused (``call_timeout``); the gas cap bounds it anyway.
DEFAULT_VIEW_TIMEOUT_S: float = 15.0

# The worker's engine: one per worker process, opened by _init_worker.
_engine: ExecutionEngine | None = None


def _init_worker(database_url: str, chain_id: int) -> None:
    global _engine
    _engine = ExecutionEngine(StateNodeStore(Store(database_url)), chain_id)


def _run_call(
    state_root: bytes, sender: bytes, to: bytes, data: bytes, gas_limit: int, ctx: BlockContext
) -> tuple[bool, Any]:
    """Run one call in a worker; returns (True, output) or (False, the error as plain data)."""
    if _engine is None:
        return False, ("XinlianError", "the view worker has no engine", "view_worker", {})
    try:
        return True, _engine.call(state_root, sender, to, data, gas_limit, ctx=ctx)
    except XinlianError as exc:
        return False, error_as_data(exc)


class ViewCallPool(WorkerPool):
    """Read-only calls at committed state roots, answered by worker processes reading the node's database.

    Committed state nodes are in SQL before a block becomes the head, so a worker sees every state root the
    API can name. The node's own consensus thread keeps its in-process engine: only API reads come here.
    """

    def __init__(
        self,
        database_url: str,
        chain_id: int,
        *,
        processes: int = DEFAULT_VIEW_WORKERS,
        timeout_s: float = DEFAULT_VIEW_TIMEOUT_S,
    ) -> None:
        """Start ``processes`` workers on ``database_url``. Raises ConfigError-like XinlianError for an
        in-memory database (a worker cannot see it) or a non-positive process count."""
        if processes < 1:
            raise XinlianError("a view pool needs at least one worker", code="bad_config")
        if not can_share_database(database_url):
            raise XinlianError("view workers cannot share an in-memory database", code="bad_config")
        super().__init__(processes, _init_worker, (database_url, chain_id))
        self.timeout_s = timeout_s

    def call(
        self, state_root: bytes, sender: bytes, to: bytes, data: bytes, gas_limit: int, ctx: BlockContext
    ) -> bytes:
        """Execute a read-only call in a worker. Raises what the engine raises (ExecutionError on revert),
        or ExecutionError ``call_timeout`` / ``view_unavailable``."""
        try:
            future: Future[tuple[bool, Any]] = self._executor.submit(
                _run_call, state_root, sender, to, data, gas_limit, ctx
            )
        except (RuntimeError, BrokenExecutor) as exc:
            raise ExecutionError("read-only calls are unavailable", code="view_unavailable") from exc
        try:
            ok, value = future.result(timeout=self.timeout_s)
        except FutureTimeout as exc:
            future.cancel()
            log.warning("refused: a read-only call took longer than %.0f s (call_timeout)", self.timeout_s)
            raise ExecutionError(
                f"the call did not finish within {self.timeout_s:g} s", code="call_timeout"
            ) from exc
        except BrokenExecutor as exc:
            raise ExecutionError("read-only calls are unavailable", code="view_unavailable") from exc
        if ok:
            output: bytes = value
            return output
        raise rebuild_error(value)
