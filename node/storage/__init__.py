"""Durable storage of a node (SQLModel over SQLite or PostgreSQL): blocks, state nodes, consensus WAL.

``Store`` and ``StateNodeStore`` are imported on first use: they bring SQLAlchemy and py-evm, and the
commands that only read the node's configuration (``node.config`` takes its limits from
``node.storage.pruning``) should not pay for them — ``xinlian --help`` loads this package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from node.storage.records import LogCursor, StoredLog, StoredReceipt, StoredTransaction, WalEntry

if TYPE_CHECKING:
    from node.storage.state import StateNodeStore
    from node.storage.store import SCHEMA_VERSION, Store

_LAZY = {
    "StateNodeStore": "node.storage.state",
    "SCHEMA_VERSION": "node.storage.store",
    "Store": "node.storage.store",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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
