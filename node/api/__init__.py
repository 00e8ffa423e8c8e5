"""The node's HTTP API (FastAPI): REST under /v1, JSON-RPC at /rpc, /health and /metrics.

``create_app`` and ``Metrics`` are imported on first use: the node's worker processes import light parts
of this package (``node.api.limits``), and should not load FastAPI and the whole node to do so.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from node.api.app import create_app
    from node.api.metrics import Metrics

_LAZY = {"create_app": "node.api.app", "Metrics": "node.api.metrics"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = ["Metrics", "create_app"]
