"""The node's HTTP API (FastAPI): REST under /v1, JSON-RPC at /rpc, /health and /metrics."""

from node.api.app import create_app
from node.api.metrics import Metrics

__all__ = ["Metrics", "create_app"]
