"""Unit tests of StateNodeStore's overlay and LRU cache, and of log cursor tokens (in-memory SQLite)."""

from __future__ import annotations

import pytest

from node.storage import LogCursor, StateNodeStore, Store
from sdk.errors import StorageError


@pytest.fixture
def store():
    opened = Store("sqlite://")
    yield opened
    opened.close()


class CountingStore:
    """Wraps a Store to count the SQL point reads StateNodeStore makes."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.reads = 0

    def get_state_node(self, key: bytes) -> bytes | None:
        self.reads += 1
        return self.store.get_state_node(key)


def _stored_nodes(store: Store, count: int) -> dict[bytes, bytes]:
    nodes = {bytes([i]) * 32: b"value-%d" % i for i in range(count)}
    with store._db.engine.begin() as conn:
        for key, value in nodes.items():
            conn.exec_driver_sql("INSERT INTO state_nodes (key, value) VALUES (?, ?)", (key, value))
    return nodes


def test_stored_nodes_are_read_once_then_served_from_the_cache(store):
    nodes = _stored_nodes(store, 3)
    counting = CountingStore(store)
    db = StateNodeStore(counting, cache_nodes=10)  # type: ignore[arg-type]
    for _ in range(3):
        assert all(db[key] == value for key, value in nodes.items())
    assert counting.reads == 3


def test_least_recently_used_node_is_evicted_first(store):
    nodes = _stored_nodes(store, 3)
    keys = list(nodes)
    counting = CountingStore(store)
    db = StateNodeStore(counting, cache_nodes=2)  # type: ignore[arg-type]
    db.get(keys[0]), db.get(keys[1])
    db.get(keys[0])  # keys[1] is now the least recently used
    db.get(keys[2])  # evicts keys[1]
    assert counting.reads == 3
    db.get(keys[0])
    assert counting.reads == 3
    db.get(keys[1])
    assert counting.reads == 4


def test_overlay_shadows_nothing_and_wins_over_sql(store):
    db = StateNodeStore(store)
    with pytest.raises(KeyError):
        db[b"\x07" * 32]
    db[b"\x07" * 32] = b"new"
    assert db[b"\x07" * 32] == b"new"
    assert db.pending() == {b"\x07" * 32: b"new"}
    with pytest.raises(TypeError):
        db[b"\x08" * 32] = "text"  # type: ignore[assignment]


def test_state_node_store_refuses_iteration_like_any_py_evm_database(store):
    db = StateNodeStore(store)
    with pytest.raises(NotImplementedError):
        iter(db)
    with pytest.raises(NotImplementedError):
        len(db)


@pytest.mark.parametrize("token", ["", "1.2", "1.2.3.4", "a.b.c", "-1.0.0", "1.2.x"])
def test_malformed_log_cursor_tokens_are_refused(token):
    with pytest.raises(StorageError):
        LogCursor.from_token(token)


def test_log_cursor_token_round_trips():
    cursor = LogCursor(123456, 7, 0)
    assert LogCursor.from_token(cursor.to_token()) == cursor
