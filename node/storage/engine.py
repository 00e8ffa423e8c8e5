"""SQLAlchemy engines for the node's database: SQLite (WAL, synchronous FULL) or PostgreSQL, by URL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from sdk.errors import StorageError

SQLITE_BUSY_TIMEOUT_MS = 10_000
# Execution option naming the SQLite BEGIN mode of a connection's next transaction.
SQLITE_BEGIN_OPTION = "xinlian_sqlite_begin"


def create_store_engine(url: str) -> Engine:
    """Build the engine for ``url`` (``sqlite:///path.db``, ``sqlite://`` or ``postgresql+psycopg://…``).

    Takes: a SQLAlchemy database URL.
    Returns: an engine whose connections are configured for durable, serialisable block commits.
    Raises: StorageError if the URL is malformed or names an unsupported database.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StorageError(f"malformed database URL: {exc}", url=url) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _create_sqlite_engine(url, in_memory=parsed.database in (None, "", ":memory:"))
    if backend == "postgresql":
        return _create_postgresql_engine(url, parsed.query.get("options"))
    raise StorageError(f"unsupported database {backend!r}: use sqlite or postgresql", url=url)


#: Server settings every PostgreSQL connection of the node carries (libpq ``options``), whatever the role's or
#: database's defaults say: a commit returns only once its WAL record is flushed to disk.
POSTGRES_SESSION_OPTIONS = "-c synchronous_commit=on"
#: The PostgreSQL pool: connections kept open, extra ones allowed under bursts, recycled after this long.
POSTGRES_POOL_SIZE = 5
POSTGRES_MAX_OVERFLOW = 10
POSTGRES_POOL_RECYCLE_S = 1800


def _create_postgresql_engine(url: str, url_options: str | tuple[str, ...] | None) -> Engine:
    # libpq takes one ``options`` string: the URL's own (e.g. a search_path) with the node's appended, so a
    # role or database default of synchronous_commit=off cannot weaken a block commit or a WAL append.
    given = " ".join(url_options) if isinstance(url_options, tuple) else (url_options or "")
    options = f"{given} {POSTGRES_SESSION_OPTIONS}".strip()
    # Connections autocommit by default, so point reads cost one round trip (no BEGIN/ROLLBACK);
    # writes switch their connection to READ COMMITTED for one explicit transaction (Database.write).
    # No pre-ping (another round trip per checkout): a connection broken by a server restart fails
    # once, SQLAlchemy then invalidates the pool, and the caller's retry gets a fresh connection.
    return create_engine(
        url,
        isolation_level="AUTOCOMMIT",
        pool_size=POSTGRES_POOL_SIZE,
        max_overflow=POSTGRES_MAX_OVERFLOW,
        pool_recycle=POSTGRES_POOL_RECYCLE_S,
        pool_pre_ping=False,
        connect_args={"options": options},
    )


def _create_sqlite_engine(url: str, *, in_memory: bool) -> Engine:
    extra: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if in_memory:
        # One shared connection, or every checkout would see a fresh empty database.
        extra["poolclass"] = StaticPool
    engine = create_engine(url, **extra)
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module, so BEGIN is ours (see _on_sqlite_begin)
    # and PRAGMAs run outside any transaction.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _on_sqlite_begin(connection: Connection) -> None:
    # Writers take the write lock up front (BEGIN IMMEDIATE) so that two writers queue on busy_timeout
    # instead of failing to upgrade a read lock half-way through a block.
    mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")
