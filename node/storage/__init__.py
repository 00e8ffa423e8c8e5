"""Durable storage of a node (SQLModel over SQLite or PostgreSQL): blocks, state nodes, consensus WAL."""

from node.storage.records import LogCursor, StoredLog, StoredReceipt, StoredTransaction, WalEntry
from node.storage.state import StateNodeStore
from node.storage.store import SCHEMA_VERSION, Store

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
