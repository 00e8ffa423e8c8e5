"""Durable storage of a node (SQLModel over SQLite or PostgreSQL): blocks, state nodes, consensus WAL."""

from node.storage.state import StateNodeStore
from node.storage.store import (
    SCHEMA_VERSION,
    LogCursor,
    Store,
    StoredLog,
    StoredReceipt,
    StoredTransaction,
    WalEntry,
)

__all__ = [
    "SCHEMA_VERSION",
    "LogCursor",
    "StateNodeStore",
    "Store",
    "StoredLog",
    "StoredReceipt",
    "StoredTransaction",
    "WalEntry",
]
