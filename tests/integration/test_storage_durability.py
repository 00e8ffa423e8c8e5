"""PostgreSQL durability settings the node enforces on its own connections, whatever the server defaults."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from node.storage import Store
from node.storage.engine import POSTGRES_MAX_OVERFLOW, POSTGRES_POOL_SIZE

PG_URL = os.environ.get("XINLIAN_TEST_PG_URL")
needs_pg = pytest.mark.skipif(not PG_URL, reason="XINLIAN_TEST_PG_URL is not set")


@pytest.fixture
def lax_database() -> Iterator[str]:
    """A fresh PostgreSQL database whose default is synchronous_commit=off (dropped after)."""
    assert PG_URL is not None
    name = f"xl_durable_{secrets.token_hex(5)}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.postgres
@needs_pg
def test_postgres_connections_commit_synchronously_even_when_the_database_says_off(lax_database):
    plain = create_engine(lax_database)
    try:
        with plain.connect() as conn:  # the database default really is off for an ordinary client
            assert conn.execute(text("SHOW synchronous_commit")).scalar() == "off"
    finally:
        plain.dispose()
    store = Store(lax_database)
    try:
        engine = store._db.engine
        # Every pooled connection (several at once, and the driver-level path) carries the setting.
        with engine.connect() as first, engine.connect() as second:
            assert first.execute(text("SHOW synchronous_commit")).scalar() == "on"
            assert second.execute(text("SHOW synchronous_commit")).scalar() == "on"
        assert store._db.fetch("SHOW synchronous_commit", ()) == [("on",)]
        with store._db.write() as conn:
            assert conn.execute(text("SHOW synchronous_commit")).scalar() == "on"
        pool = engine.pool
        assert pool.size() == POSTGRES_POOL_SIZE  # type: ignore[attr-defined]
        assert pool._max_overflow == POSTGRES_MAX_OVERFLOW  # type: ignore[attr-defined]
    finally:
        store.close()


@pytest.mark.postgres
@needs_pg
def test_the_urls_own_options_are_kept_beside_synchronous_commit(lax_database):
    schema = f"xl_opt_{secrets.token_hex(4)}"
    admin = create_engine(lax_database, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    url = (
        make_url(lax_database)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    store = Store(url)
    try:
        assert store._db.fetch("SHOW synchronous_commit", ()) == [("on",)]
        assert store._db.fetch("SHOW search_path", ()) == [(schema,)]
    finally:
        store.close()
