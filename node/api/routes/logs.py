"""Logs: eth_getLogs-style queries over committed logs, paginated by an opaque cursor."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from node.api.convert import to_log_entry_public
from node.api.deps import LedgerDep, parse_address, parse_hash
from node.api.errors import BadRequest
from node.api.models import ErrorPublic, LogsPage
from node.storage import LogCursor
from sdk.errors import StorageError

router = APIRouter(prefix="/v1/logs", tags=["logs"])

MAX_PAGE: int = 1000
_MAX_FILTER_VALUES = 100

TopicParam = Annotated[list[str] | None, Query(description="repeat for OR; 32-byte hex")]


@router.get("", response_model=LogsPage, responses={422: {"model": ErrorPublic}})
def get_logs(
    ledger: LedgerDep,
    address: Annotated[list[str] | None, Query(description="emitting contract; repeat for OR")] = None,
    topic0: TopicParam = None,
    topic1: TopicParam = None,
    topic2: TopicParam = None,
    topic3: TopicParam = None,
    from_height: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    to_height: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: Annotated[str | None, Query(max_length=80)] = None,
) -> LogsPage:
    """Return committed logs matching every given filter, in chain order; follow ``next_cursor`` for more."""
    addresses = [parse_address(a) for a in _capped(address, "address")] or None
    topics = [
        [parse_hash(t, f"topic{i}") for t in _capped(values, f"topic{i}")] or None
        for i, values in enumerate((topic0, topic1, topic2, topic3))
    ]
    while topics and topics[-1] is None:
        topics.pop()
    after = None
    if cursor:
        try:
            after = LogCursor.from_token(cursor)
        except StorageError as exc:
            raise BadRequest("cursor is malformed; pass next_cursor unchanged", field="cursor") from exc
    logs, next_cursor = ledger.store.query_logs(
        address=addresses,
        topics=topics,
        from_height=from_height,
        to_height=to_height,
        limit=limit,
        after=after,
    )
    return LogsPage(
        logs=[to_log_entry_public(entry) for entry in logs],
        next_cursor=next_cursor.to_token() if next_cursor is not None else None,
    )


def _capped(values: list[str] | None, name: str) -> list[str]:
    if values is None:
        return []
    if len(values) > _MAX_FILTER_VALUES:
        raise BadRequest(f"at most {_MAX_FILTER_VALUES} values for {name}", field=name)
    return values
