"""The node's HTTP API (FastAPI): REST under /v1, JSON-RPC at /rpc, /health and /metrics.

``create_app`` and ``Metrics`` are imported on first use: a read-only-call worker imports
``node.api.views`` only, and should not load FastAPI, the routes and the ledger to do so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from node.lazy import lazy_exports

if TYPE_CHECKING:
    from node.api.app import create_app
    from node.api.metrics import Metrics

__getattr__ = lazy_exports(
    __name__,
    {"create_app": "node.api.app", "Metrics": "node.api.metrics"},
)


__all__ = ["Metrics", "create_app"]
