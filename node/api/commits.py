"""Wake async request handlers when the ledger commits a block (no thread parked per waiting request)."""

from __future__ import annotations

import asyncio

from node.execution.types import ExecutionResult
from node.ledger.chain import Ledger
from sdk.types import Block, CommitCertificate


class CommitSignal:
    """An asyncio event per commit, fired from the ledger's committing thread.

    Usage: ``event = signal.current()`` *before* looking something up, then ``await signal.wait(event, t)``:
    any commit after ``current()`` sets that event, so a commit between the lookup and the wait is not lost.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def attach(self, ledger: Ledger) -> None:
        """Fire on every block ``ledger`` commits from now on."""
        ledger.on_commit.append(self._on_commit)

    def current(self) -> asyncio.Event:
        """Return the event the next commit sets (call from the event loop)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._event is None:
            self._loop = loop
            self._event = asyncio.Event()
        return self._event

    async def wait(self, event: asyncio.Event, timeout_s: float) -> bool:
        """Wait until ``event`` is set or ``timeout_s`` passes; returns whether a commit happened."""
        try:
            await asyncio.wait_for(event.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def _on_commit(self, _block: Block, _certificate: CommitCertificate, _result: ExecutionResult) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._fire)
            except RuntimeError:  # the loop closed between the check and the call
                return

    def _fire(self) -> None:
        event = self._event
        self._event = asyncio.Event()
        if event is not None:
            event.set()
