"""Log queries: an eth_getLogs-style filter as one SQL statement, and its result rows as a page of logs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

from sqlalchemy import ColumnElement, Row, Select, and_, select, tuple_

from node.storage.convert import stored_log
from node.storage.models import BLOCKS, LOGS, TOPIC_COLUMNS, TOPIC_PREFIX_BYTES, TRANSACTIONS, topic_prefix
from node.storage.records import LogCursor, StoredLog
from sdk.errors import StorageError
from sdk.types import MAX_TOPICS

DEFAULT_LOG_LIMIT = 1000
MAX_LOG_LIMIT = 10_000

#: One contract address, or a list of them (any matches; an empty list filters nothing), or None.
AddressFilter = bytes | Sequence[bytes] | None
#: Per topic position: None (or an empty list) matches anything, bytes that topic, a list any member.
TopicFilter = Sequence[bytes | Sequence[bytes] | None]


class LogFilter(TypedDict, total=False):
    """An eth_getLogs-style filter, the keyword arguments of ``Store.query_logs`` and ``Ledger.query_logs``.

    Every key is optional: ``address`` (default any), ``topics`` (default any), ``from_height`` (default 0)
    and ``to_height`` (inclusive; default the head), at most ``limit`` logs (default DEFAULT_LOG_LIMIT, at
    most MAX_LOG_LIMIT), and ``after``, a previous page's cursor to resume strictly after.
    """

    address: AddressFilter
    topics: TopicFilter
    from_height: int
    to_height: int | None
    limit: int
    after: LogCursor | None


def page_limit(log_filter: LogFilter) -> int:
    """The filter's ``limit``; raises StorageError (code ``invalid_log_query``) outside 1..MAX_LOG_LIMIT."""
    limit = log_filter.get("limit", DEFAULT_LOG_LIMIT)
    if not 1 <= limit <= MAX_LOG_LIMIT:
        raise StorageError(
            f"limit must be between 1 and {MAX_LOG_LIMIT}", code="invalid_log_query", limit=limit
        )
    return limit


def log_statement(log_filter: LogFilter) -> Select[Any]:
    """Return the SELECT of up to ``limit + 1`` matching logs in chain order (one more than a page, so
    the caller sees whether another page follows).

    Raises: StorageError (code ``invalid_log_query``) for more than four topic positions or a bad limit.
    """
    topics = log_filter.get("topics", ())
    if len(topics) > MAX_TOPICS:
        raise StorageError("a log filter has at most four topic positions", code="invalid_log_query")
    limit = page_limit(log_filter)
    conditions: list[ColumnElement[bool]] = [LOGS.c.height >= log_filter.get("from_height", 0)]
    to_height = log_filter.get("to_height")
    if to_height is not None:
        conditions.append(LOGS.c.height <= to_height)
    address = log_filter.get("address")
    if address is not None:
        addresses = [address] if isinstance(address, bytes) else list(address)
        if len(addresses) == 1:
            conditions.append(LOGS.c.address == addresses[0])
        elif addresses:
            conditions.append(LOGS.c.address.in_(addresses))
    for column, wanted in zip(TOPIC_COLUMNS, topics, strict=False):
        if wanted is None:
            continue
        # The topic indexes hold prefixes: the prefix condition picks the index, the whole topic decides.
        if isinstance(wanted, bytes):
            wanted = [wanted]
        if len(wanted) == 1:
            conditions.append(topic_prefix(column) == wanted[0][:TOPIC_PREFIX_BYTES])
            conditions.append(column == wanted[0])
        elif wanted:
            conditions.append(topic_prefix(column).in_(sorted({w[:TOPIC_PREFIX_BYTES] for w in wanted})))
            conditions.append(column.in_(list(wanted)))
    position = tuple_(LOGS.c.height, LOGS.c.tx_index, LOGS.c.log_index)
    after = log_filter.get("after")
    if after is not None:
        # The plain height bound lets every backend use a height-leading index for the range.
        conditions.append(LOGS.c.height >= after.height)
        conditions.append(position > tuple_(after.height, after.tx_index, after.log_index))
    return (
        select(
            LOGS.c.height,
            LOGS.c.tx_index,
            LOGS.c.log_index,
            TRANSACTIONS.c.tx_hash,
            LOGS.c.address,
            *TOPIC_COLUMNS,
            LOGS.c.data,
            BLOCKS.c.block_hash,
        )
        .join(BLOCKS, BLOCKS.c.height == LOGS.c.height)
        # A log's transaction hash is its transaction's key (found by position), not stored again.
        .join(
            TRANSACTIONS,
            and_(TRANSACTIONS.c.height == LOGS.c.height, TRANSACTIONS.c.tx_index == LOGS.c.tx_index),
        )
        .where(and_(*conditions))
        .order_by(LOGS.c.height, LOGS.c.tx_index, LOGS.c.log_index)
        .limit(limit + 1)
    )


def log_page(rows: Sequence[Row[Any]], limit: int) -> tuple[list[StoredLog], LogCursor | None]:
    """Return the first ``limit`` rows of ``log_statement`` as logs, and the cursor of the next page
    (None when no row is left over)."""
    logs = [
        StoredLog(
            height=int(row.height),
            block_hash=bytes(row.block_hash),
            tx_hash=bytes(row.tx_hash),
            tx_index=int(row.tx_index),
            log_index=int(row.log_index),
            log=stored_log(row.address, (row.topic0, row.topic1, row.topic2, row.topic3), row.data),
        )
        for row in rows[:limit]
    ]
    next_cursor = logs[-1].cursor if len(rows) > limit else None
    return logs, next_cursor
