"""Durable storage of a node (SQLModel over SQLite or PostgreSQL): blocks, state nodes, consensus WAL.

``Store`` and ``StateNodeStore`` are imported on first use: they bring SQLAlchemy and py-evm, and the
commands that only read the node's configuration (``node.config`` takes its limits from
``node.storage.pruning``) should not pay for them — ``xinlian --help`` loads this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from node.lazy import lazy_exports
from node.storage.records import LogCursor, LotCode, StoredLog, StoredReceipt, StoredTransaction, WalEntry

if TYPE_CHECKING:
    from node.storage.migrate import SCHEMA_VERSION
    from node.storage.state import StateNodeStore
    from node.storage.store import Store

__getattr__ = lazy_exports(
    __name__,
    {
        "StateNodeStore": "node.storage.state",
        "SCHEMA_VERSION": "node.storage.migrate",
        "Store": "node.storage.store",
    },
)


__all__ = [
    "SCHEMA_VERSION",
    "LogCursor",
    "LotCode",
    "StateNodeStore",
    "Store",
    "StoredLog",
    "StoredReceipt",
    "StoredTransaction",
    "WalEntry",
]
