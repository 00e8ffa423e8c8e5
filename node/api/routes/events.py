"""Live events: committed logs pushed to a member as server-sent events, filtered by the read policy.

``GET /v1/events`` takes the /v1/logs filter (contracts, positional topics) and streams, in chain order,
every matching log the member may read (the same ``ReadScope.may_read_log`` rule as /v1/logs), then waits
for the next commit. Each event's ``id`` is a cursor: a client that reconnects with ``?cursor=`` (or the
``Last-Event-ID`` header EventSource sends) resumes right after the last event it got, losing nothing and
receiving nothing twice. The first event, ``ready``, carries the position the stream starts after; after
each block range walked, a ``head`` event carries a cursor "after this block", so a quiet filter does not
resume from far back.

Bounds: a member-signed request opens a stream; the node keeps at most ``max_streams`` open, at most
``max_streams_per_organisation`` per organisation (429 ``too_many_streams``); a stream lasts at most
``max_stream_seconds`` and ends with an ``end`` event (resume from the last cursor); catching up reads one
page of logs at a time in the worker pool; a comment line every ``HEARTBEAT_S`` keeps proxies from
closing a quiet stream. The member's account is checked again at every block: a stream of an account
the committee deactivated ends with an ``error`` event.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Final

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from node.api.access import ReadScope
from node.api.auth import Member, MemberDep
from node.api.commits import CommitSignal
from node.api.convert import to_log_entry_public
from node.api.deps import LedgerDep, LimitsDep
from node.api.limits import StreamGate, StreamLease
from node.api.models import error_responses
from node.api.reader import LedgerReader
from node.api.routes.logs import LogFilterDep, LogFilterParams, parse_log_cursor
from node.ledger.chain import Ledger
from node.storage import LogCursor

router = APIRouter(prefix="/v1/events", tags=["events"])

#: Logs read per storage query while a stream catches up.
PAGE: Final = 200
#: Seconds between keep-alive comments on a quiet stream.
HEARTBEAT_S: Final = 15.0
#: What a client waits before reconnecting after the stream ends (the SSE ``retry`` field, ms).
RETRY_MS: Final = 2000


def _event(kind: str, data: object, cursor: LogCursor | None = None) -> str:
    head = f"id: {cursor.to_token()}\n" if cursor is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class _Walk:
    """Where one stream stands: the logs after ``after`` (from ``from_height`` on) are still to send."""

    def __init__(
        self,
        ledger: Ledger,
        member: Member,
        log_filter: LogFilterParams,
        after: LogCursor,
    ) -> None:
        self.ledger, self.member = ledger, member
        self.log_filter = log_filter
        self.after = after

    def next_page(self, head: int, max_range: int) -> list[str]:
        """Events for the next page of logs up to ``head`` (at most ``max_range`` blocks scanned), and a
        ``head`` event when a block range is done; moves ``after`` past them."""
        start = self.after.height + (1 if self.after.is_after_block else 0)
        end = min(head, start + max_range - 1)
        logs, next_cursor = self.log_filter.query(self.ledger, start, end, PAGE, self.after)
        scope = ReadScope(LedgerReader(self.ledger), self.member)
        events = [
            _event("log", to_log_entry_public(entry).model_dump(), entry.cursor)
            for entry in logs
            if scope.may_read_log(entry.log, entry.tx_hash)
        ]
        if next_cursor is not None:
            self.after = next_cursor
        else:
            self.after = LogCursor.after_block(end)
            events.append(_event("head", {"height": end}, self.after))
        return events

    def still_member(self) -> bool:
        return self.member.is_still_member(self.ledger)


async def _stream(
    request: Request, walk: _Walk, lease: StreamLease, lifetime_s: float, max_range: int
) -> AsyncIterator[str]:
    signal: CommitSignal = request.app.state.commit_signal
    ledger = walk.ledger
    deadline = time.monotonic() + lifetime_s
    checked_at = -1
    try:
        yield f"retry: {RETRY_MS}\n\n"
        yield _event("ready", {"cursor": walk.after.to_token()}, walk.after)  # where this stream starts
        while time.monotonic() < deadline:
            if await request.is_disconnected():
                return
            commit = signal.current()
            head = ledger.height
            if head != checked_at:
                if not await run_in_threadpool(walk.still_member):
                    gone = {"code": "not_a_member", "message": "the account is no longer active"}
                    yield _event("error", gone)
                    return
                checked_at = head
            if walk.after.height < head or (walk.after.height == head and not walk.after.is_after_block):
                for event in await run_in_threadpool(walk.next_page, head, max_range):
                    yield event
                continue
            if not await signal.wait(commit, min(HEARTBEAT_S, max(0.0, deadline - time.monotonic()))):
                yield ": keep-alive\n\n"
        yield _event("end", {"reason": "max_duration", "cursor": walk.after.to_token()})
    finally:
        lease.release()


@router.get(
    "",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "server-sent events: log, head, end, error",
        },
        **error_responses(400, 401, 403, 429),
    },
)
async def stream_events(
    request: Request,
    ledger: LedgerDep,
    member: MemberDep,
    limits: LimitsDep,
    log_filter: LogFilterDep,
    from_height: Annotated[
        int | None, Query(ge=0, le=2**63 - 1, description="start at this block; default: the next one")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=80, description="an event id: resume after it")] = None,
    last_event_id: Annotated[str | None, Header(max_length=80)] = None,
) -> StreamingResponse:
    """Stream the committed logs matching the filter that the member may read, as server-sent events.

    Member-signed. Starts after ``cursor`` (or the ``Last-Event-ID`` header), else at ``from_height``,
    else at the next block. Events: ``log`` (a LogEntryPublic; its id is the cursor to resume after it),
    ``ready`` (first: the position the stream starts after), ``head`` (a block range walked:
    ``{"height"}``), ``end`` (the stream's time is up: reconnect with the
    last id), ``error`` (the account stopped being a member).
    """
    token = cursor if cursor is not None else last_event_id
    if token is not None:
        after = parse_log_cursor(token, "an event id")
    elif from_height:
        after = LogCursor.after_block(from_height - 1)
    elif from_height == 0:
        after = LogCursor(0, -1, -1)  # before the first log of the genesis block
    else:
        after = LogCursor.after_block(ledger.height)
    gate: StreamGate = request.app.state.streams
    lease = gate.acquire(member.uscc)
    walk = _Walk(ledger, member, log_filter, after)
    return StreamingResponse(
        _stream(request, walk, lease, limits.max_stream_seconds, limits.max_log_block_range),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        background=BackgroundTask(lease.release),  # also when the stream never started
    )
