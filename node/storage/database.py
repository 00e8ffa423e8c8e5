"""The node's SQL database as the Store uses it: pooled reads, one-transaction writes, driver-level point
reads and bulk inserts, with the SQLite / PostgreSQL differences kept here (the Store says what is stored)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, func, select
from sqlalchemy.exc import SQLAlchemyError

from node.storage.engine import SQLITE_BEGIN_OPTION, create_store_engine
from sdk.errors import StorageError


@dataclass(frozen=True, slots=True)
class BulkInsert:
    """A plain-SQL INSERT of positional rows; SQLite and PostgreSQL both accept ON CONFLICT … as written."""

    table: Table
    columns: tuple[str, ...]
    suffix: str = ""

    def __post_init__(self) -> None:
        for column in self.columns:
            if column not in self.table.c:
                raise ValueError(f"{self.table.name} has no column {column}")

    def sql(self, rows: int = 1) -> str:
        """Return the statement for ``rows`` rows, with "?" placeholders."""
        group = "(" + ", ".join("?" for _ in self.columns) + ")"
        values = ", ".join(group for _ in range(rows))
        # Only our own table and column names are interpolated; values are always bound parameters.
        return f"INSERT INTO {self.table.name} ({', '.join(self.columns)}) VALUES {values}{self.suffix}"  # noqa: S608

    @property
    def rows_per_statement(self) -> int:
        # PostgreSQL takes at most 65535 bind parameters per statement.
        return max(1, min(1000, 65535 // len(self.columns)))


class Database:
    """One pooled engine over SQLite or PostgreSQL (chosen by URL) and the four ways the Store uses it.

    ``read`` and ``write`` hand out a SQLAlchemy connection (``write``: one transaction, committed when the
    block exits normally); ``fetch`` and ``execute_many`` go straight to the driver for the hot paths (point
    reads, block commits), where SQLAlchemy's per-row parameter processing would cost more than the work.
    Every database failure surfaces as StorageError. Thread-safe: each call uses its own pooled connection.
    """

    def __init__(self, url: str) -> None:
        """Build the engine for ``url``; raises StorageError for a malformed or unsupported URL."""
        self.engine = create_store_engine(url)
        self.dialect = self.engine.dialect.name
        self._dbapi_error: type[Exception] = self.engine.dialect.loaded_dbapi.Error

    def close(self) -> None:
        """Close every pooled connection; on a SQLite file, first move the write-ahead log into the database
        and empty it. SQLite does that itself when the last connection closes, but the API's view workers
        (other processes) may still have the database open: the log file would keep its largest size
        (megabytes) on disk until the next start."""
        if self.dialect == "sqlite" and self.engine.url.database not in (None, "", ":memory:"):
            # Best effort: with another process reading (the API's view workers) it checkpoints what it can
            # and leaves the log file as it is; nothing is lost either way.
            with contextlib.suppress(SQLAlchemyError), self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        self.engine.dispose()

    def safe_url(self) -> str:
        """The URL with its password hidden, for messages."""
        return self.engine.url.render_as_string(hide_password=True)

    def _sql(self, statement: str) -> str:
        # psycopg's placeholder is %s; our statements contain no other "?" or "%".
        return statement.replace("?", "%s") if self.dialect == "postgresql" else statement

    def fetch(self, statement: str, parameters: tuple[object, ...]) -> list[tuple[Any, ...]]:
        """Run a plain-SQL read (``?`` placeholders) on a pooled driver connection; return all its rows."""
        # A pooled driver connection without SQLAlchemy's execution machinery (~20 µs vs ~150 µs).
        try:
            raw = self.engine.raw_connection()
        except SQLAlchemyError as exc:
            raise StorageError(f"database read failed: {exc}") from exc
        try:
            cursor = raw.cursor()
            try:
                cursor.execute(self._sql(statement), parameters)
                return list(cursor.fetchall())
            finally:
                cursor.close()
        except self._dbapi_error as exc:
            raise StorageError(f"database read failed: {exc}") from exc
        finally:
            raw.close()

    def execute_many(self, conn: Connection, statement: BulkInsert, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert ``rows`` with ``statement`` on ``conn`` (inside ``write``)."""
        if self.dialect != "postgresql":
            # sqlite3's executemany reuses one prepared statement in-process: nothing to gain from batching.
            conn.exec_driver_sql(statement.sql(), list(rows))
            return
        # PostgreSQL: multi-row VALUES, so a block costs a few round trips rather than one per row.
        step = statement.rows_per_statement
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            flat = tuple(value for row in chunk for value in row)
            conn.exec_driver_sql(self._sql(statement.sql(len(chunk))), flat)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A pooled connection for reads."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StorageError(f"database read failed: {exc}") from exc

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection in one SQL transaction: committed when the block exits normally, rolled back on any
        exception (SQLite takes the write lock up front: BEGIN IMMEDIATE)."""
        try:
            with self.engine.connect() as conn:
                if self.dialect == "sqlite":
                    conn.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
                else:
                    # The engine autocommits; this connection runs one real transaction (reset on return).
                    conn.execution_options(isolation_level="READ COMMITTED")
                with conn.begin():
                    yield conn
        except SQLAlchemyError as exc:
            raise StorageError(f"database write failed: {exc}") from exc

    def index_names(self) -> set[str]:
        """The names of the indexes in the database (of the current schema on PostgreSQL), expression
        indexes included (SQLAlchemy's reflection skips those)."""
        if self.dialect == "postgresql":
            statement = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
        else:
            statement = "SELECT name FROM sqlite_master WHERE type = 'index'"
        with self.read() as conn:
            return {str(name) for (name,) in conn.exec_driver_sql(statement)}

    def bytes_on_disk(self) -> int:
        """Return the database size in bytes: file + ``-wal`` + ``-shm`` (SQLite) or pg_database_size."""
        if self.dialect == "postgresql":
            with self.read() as conn:
                return int(conn.execute(select(func.pg_database_size(func.current_database()))).scalar_one())
        path = self.engine.url.database
        if not path or path == ":memory:":
            return 0
        return sum(
            os.path.getsize(candidate)
            for candidate in (path, path + "-wal", path + "-shm")
            if os.path.exists(candidate)
        )
