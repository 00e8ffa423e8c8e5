"""Logs: eth_getLogs-style queries over committed logs, paginated by an opaque cursor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from node.api.access import ReadScope
from node.api.auth import MemberDep
from node.api.convert import to_log_entry_public
from node.api.deps import HeavyDep, LedgerDep, LimitsDep, parse_address, parse_hash
from node.api.errors import BadRequest
from node.api.models import LogsPage, error_responses
from node.api.reader import LedgerReader
from node.ledger.chain import Ledger
from node.storage import LogCursor, StoredLog
from sdk.errors import StorageError

router = APIRouter(prefix="/v1/logs", tags=["logs"])

MAX_PAGE: int = 1000
_MAX_FILTER_VALUES = 100
_MAX_CURSOR_PART = 2**63 - 1  # database integers are 64-bit

TopicParam = Annotated[list[str] | None, Query(description="repeat for OR; 32-byte hex")]


@dataclass(frozen=True, slots=True)
class LogFilterParams:
    """The contracts and positional topics of a log filter (each list: any of them; None: any value)."""

    addresses: list[bytes] | None
    topics: list[list[bytes] | None]

    def query(
        self, ledger: Ledger, first: int, last: int, limit: int, after: LogCursor | None
    ) -> tuple[list[StoredLog], LogCursor | None]:
        """One page of the matching logs of blocks ``first`` to ``last``, strictly after ``after``."""
        return ledger.query_logs(
            address=self.addresses,
            topics=self.topics,
            from_height=first,
            to_height=last,
            limit=limit,
            after=after,
        )


def log_filter(
    address: Annotated[list[str] | None, Query(description="emitting contract; repeat for OR")] = None,
    topic0: TopicParam = None,
    topic1: TopicParam = None,
    topic2: TopicParam = None,
    topic3: TopicParam = None,
) -> LogFilterParams:
    """The log filter of a /v1/logs or /v1/events query, at most ``_MAX_FILTER_VALUES`` values a field.
    Raises BadRequest naming the field."""
    addresses = [parse_address(a) for a in _capped(address, "address")] or None
    wanted: list[list[bytes] | None] = [
        [parse_hash(t, f"topic{i}") for t in _capped(values, f"topic{i}")] or None
        for i, values in enumerate((topic0, topic1, topic2, topic3))
    ]
    while wanted and wanted[-1] is None:
        wanted.pop()
    return LogFilterParams(addresses, wanted)


LogFilterDep = Annotated[LogFilterParams, Depends(log_filter)]


def parse_log_cursor(token: str, resume_with: str) -> LogCursor:
    """A log cursor a client sent back; raises BadRequest (field ``cursor``) telling it to pass
    ``resume_with`` unchanged when the token is malformed or out of range."""
    try:
        cursor = LogCursor.from_token(token)
    except StorageError as exc:
        raise BadRequest(f"cursor is malformed; pass {resume_with} unchanged", field="cursor") from exc
    if max(cursor) > _MAX_CURSOR_PART:
        raise BadRequest(f"cursor is out of range; pass {resume_with} unchanged", field="cursor")
    return cursor


@router.get(
    "",
    response_model=LogsPage,
    responses=error_responses(401, 403, 422, 429),
    dependencies=[HeavyDep],
)
def get_logs(
    ledger: LedgerDep,
    member: MemberDep,
    limits: LimitsDep,
    log_filter: LogFilterDep,
    from_height: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    to_height: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: Annotated[str | None, Query(max_length=80)] = None,
) -> LogsPage:
    """Return committed logs matching every given filter, in chain order; follow ``next_cursor`` for more.

    Member-signed. Only the logs the member may read are returned (docs/read-access.md: a record's
    parties and regulator, or the organisation that sent the transaction), so a page may hold fewer than
    ``limit``.

    One page scans at most ``MAX_LOG_BLOCK_RANGE`` blocks (node.api.limits): over a longer range a page may
    hold fewer than ``limit`` logs, even none, with a ``next_cursor``; the range is done when it is null.
    """
    after = parse_log_cursor(cursor, "next_cursor") if cursor else None
    # Bound the heights this page scans, so a sparse filter over a long chain costs one window per page.
    start = from_height
    if after is not None:
        start = max(start, after.height + (1 if after.is_after_block else 0))
    window_end = start + limits.max_log_block_range - 1
    end = ledger.height if to_height is None else to_height
    page_end = min(end, window_end)
    logs, next_cursor = log_filter.query(ledger, from_height, page_end, limit, after)
    if next_cursor is None and page_end < end:
        next_cursor = LogCursor.after_block(page_end)
    scope = ReadScope(LedgerReader(ledger), member)
    return LogsPage(
        logs=[to_log_entry_public(entry) for entry in logs if scope.may_read_log(entry.log, entry.tx_hash)],
        next_cursor=next_cursor.to_token() if next_cursor is not None else None,
    )


def _capped(values: list[str] | None, name: str) -> list[str]:
    if values is None:
        return []
    if len(values) > _MAX_FILTER_VALUES:
        raise BadRequest(f"at most {_MAX_FILTER_VALUES} values for {name}", field=name)
    return values
