"""Group commit: the durable writes of many threads share one SQL transaction (one sync to disk), and each
caller still returns only once its own item is durable."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sdk.errors import StorageError

T = TypeVar("T")


@dataclass(eq=False)
class _Ticket(Generic[T]):
    item: T
    done: bool = False
    error: BaseException | None = None


class GroupCommit(Generic[T]):
    """Writes items with ``write_batch`` (one durable transaction per call), batching concurrent callers.

    There is no writer thread: a caller that finds no batch being written writes every item queued so far
    (its own included); callers arriving meanwhile wait and go into the next batch, written as soon as this
    one ends. One caller alone pays one transaction, as without batching; many callers share the sync to
    disk that dominates a small durable write, so throughput grows with concurrency instead of being capped
    at one write per sync. ``write`` returns only after the transaction holding its item committed.
    """

    def __init__(self, write_batch: Callable[[list[T]], None]) -> None:
        self._write_batch = write_batch
        self._changed = threading.Condition()
        self._queue: list[_Ticket[T]] = []
        self._writing = False

    def write(self, item: T) -> None:
        """Return once ``item`` is durable (written in this call or in another caller's batch).

        Raises: what ``write_batch`` raised when this caller wrote the batch, else StorageError (from it)
        when the batch holding ``item`` failed.
        """
        self.write_many([item])

    def write_many(self, items: list[T]) -> None:
        """Return once every one of ``items`` is durable; they go into one batch (with other callers').

        Raises: as ``write``.
        """
        if not items:
            return
        tickets = [_Ticket(item) for item in items]
        last = tickets[-1]  # batches are taken whole and done in order: the last ticket is done last
        with self._changed:
            self._queue.extend(tickets)
            while self._writing and not last.done:
                self._changed.wait()
            if not last.done:
                batch, self._queue = self._queue, []
                self._writing = True
        if last.done:
            error = next((ticket.error for ticket in tickets if ticket.error is not None), None)
            if error is not None:
                raise StorageError(f"the durable write failed: {error}") from error
            return
        self._write(batch)

    def _write(self, batch: list[_Ticket[T]]) -> None:
        error: BaseException | None = None
        try:
            self._write_batch([ticket.item for ticket in batch])
        except BaseException as exc:
            error = exc
            raise
        finally:
            with self._changed:
                for ticket in batch:
                    ticket.done = True
                    ticket.error = error
                self._writing = False
                self._changed.notify_all()
