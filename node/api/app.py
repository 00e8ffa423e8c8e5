"""The node's HTTP API application: REST under /v1, JSON-RPC at /rpc, /health and /metrics."""

from __future__ import annotations

from fastapi import FastAPI

import sdk
from node.api.commits import CommitSignal
from node.api.errors import install_error_handlers
from node.api.limits import DEFAULT_MAX_BODY_BYTES, BodySizeLimit
from node.api.metrics import Metrics
from node.api.routes import blocks, calls, chain, governance, logs, ops, rpc, transactions
from node.api.rpc import RpcHandler
from node.ledger.chain import Ledger


def create_app(
    ledger: Ledger,
    *,
    metrics: Metrics | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> FastAPI:
    """Build the API for one loaded ledger.

    Takes: the ledger; ``metrics`` to share with the runtime (when None, the app creates its own and
    attaches it to ``ledger.on_commit``; a metrics object passed in is expected to be attached by its
    owner, e.g. ``metrics.attach(ledger)`` or ``metrics.observe_commit(block, latency_s)``); the request
    body cap in bytes.
    Returns: the FastAPI application (serve it with uvicorn).
    """
    app = FastAPI(
        title="Xinlian node API",
        version=sdk.__version__,
        summary="信链: submit signed transactions; read blocks, certificates, receipts, logs and state.",
    )
    app.state.ledger = ledger
    if metrics is None:
        metrics = Metrics()
        metrics.attach(ledger)
    app.state.metrics = metrics
    signal = CommitSignal()
    signal.attach(ledger)
    app.state.commit_signal = signal
    app.state.rpc = RpcHandler(ledger)
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_body_bytes=max_body_bytes)
    # Public resources: what a proof holder may read anyway. Member-signed business queries get their own
    # routers, included with ``dependencies=[Depends(<member auth>)]`` (see node.api.deps).
    for router in (
        transactions.router,
        blocks.router,
        logs.router,
        calls.router,
        chain.router,
        governance.router,
        rpc.router,
        ops.router,
    ):
        app.include_router(router)
    return app
