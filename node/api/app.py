"""The node's HTTP API application: REST under /v1, JSON-RPC at /rpc, /health and /metrics."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import replace

from fastapi import APIRouter, FastAPI

import sdk
from node.api.auth import FailedAuthLimit, ReplayCache, SessionKeys
from node.api.commits import CommitSignal
from node.api.errors import install_error_handlers
from node.api.limits import (
    ApiLimits,
    BodySizeLimit,
    HeavyGate,
    JsonDepthLimit,
    RateGate,
    RefusalSummary,
    StreamGate,
)
from node.api.metrics import Metrics
from node.api.routes import (
    authorisations,
    blocks,
    calls,
    chain,
    confirmations,
    console,
    drugs,
    events,
    governance,
    licences,
    logs,
    members,
    ops,
    proofs,
    rpc,
    sessions,
    statements,
    transactions,
    verify_page,
)
from node.api.routes.statements import StatementCache
from node.api.rpc import RpcHandler
from node.api.tag_index import TagIndex
from node.consensus.liveness import ConsensusLiveness
from node.ledger.chain import Ledger
from node.workers import cap_recursion_limit
from sdk.crypto import PrivateKey


def create_app(
    ledger: Ledger,
    *,
    metrics: Metrics | None = None,
    max_body_bytes: int | None = None,
    limits: ApiLimits | None = None,
    liveness: Callable[[], ConsensusLiveness] | None = None,
    audience: str | None = None,
    statement_key: PrivateKey | None = None,
) -> FastAPI:
    """Build the API for one loaded ledger.

    Takes: the ledger; ``metrics`` to share with the runtime (when None, the app creates its own and
    attaches it to ``ledger.on_commit``; a metrics object passed in is expected to be attached by its
    owner, e.g. ``metrics.attach(ledger)`` or ``metrics.observe_commit(block, latency_s)``); the request
    body cap in bytes (overrides ``limits.max_body_bytes``); ``limits``, what one request may cost
    (default: the constants of node.api.limits); ``liveness``, the consensus driver's liveness for /health
    (a running node passes ``node.liveness``; without it /health judges by the head's age alone);
    ``audience``, the name members sign their requests for (``NodeConfig.api_audience``; by default a fresh
    random one, so a request signed for another node is never accepted here); ``statement_key``, this
    node's validator key when it signs licence statements (node.api.routes.statements; None: it does not).
    Returns: the FastAPI application (serve it with uvicorn).
    """
    limits = limits or ApiLimits()
    if max_body_bytes is not None:
        limits = replace(limits, max_body_bytes=max_body_bytes)
    # py_ecc (imported by py-evm) raised the recursion limit to 100000, far past what a thread's C stack
    # holds; py-evm needs 12288 for 1024 nested EVM calls. JSON depth is bounded before parsing anyway.
    cap_recursion_limit()
    app = FastAPI(
        title="Xinlian node API",
        version=sdk.__version__,
        summary="信链: submit signed transactions; read blocks, certificates, receipts, logs and state.",
    )
    app.state.ledger = ledger
    app.state.liveness = liveness
    if metrics is None:
        metrics = Metrics()
        metrics.attach(ledger)
    app.state.metrics = metrics
    signal = CommitSignal()
    signal.attach(ledger)
    app.state.commit_signal = signal
    app.state.limits = limits
    app.state.audience = audience or "node-" + secrets.token_hex(8)
    app.state.replay = ReplayCache()
    app.state.auth_failures = FailedAuthLimit(
        burst=limits.auth_failure_burst, per_second=limits.auth_failures_per_s
    )
    app.state.sessions = SessionKeys(ledger.chain.chain_id, app.state.audience)
    app.state.refusals = RefusalSummary()
    # One gate per node for calls, proofs and log queries, shared by REST and JSON-RPC.
    app.state.heavy = HeavyGate(limits.max_heavy_requests)
    # Transaction batches (anonymous: each transaction's signature is its authentication) have their own
    # slots, so that batches of bad signatures cannot take the slots members' reads need.
    app.state.batches = HeavyGate(limits.max_submit_batches)
    app.state.streams = StreamGate(
        limits.max_streams, limits.max_streams_per_organisation, limits.max_stream_seconds
    )
    app.state.letter_index = TagIndex[tuple[int, bytes]]()
    app.state.subject_index = TagIndex[int](remember_empty=False)  # commitments are the caller's choice
    app.state.statement_key = statement_key
    app.state.statements = StatementCache(limits.max_cached_statements)
    app.state.statement_signing = RateGate(
        limits.statement_signatures_burst, limits.statement_signatures_per_s
    )
    app.state.rpc = RpcHandler(ledger, limits=limits, gate=app.state.heavy)
    install_error_handlers(app)
    # The last added runs first: the size cap bounds what the depth scan buffers.
    app.add_middleware(JsonDepthLimit, max_depth=limits.max_json_depth)
    app.add_middleware(BodySizeLimit, max_body_bytes=limits.max_body_bytes)
    # Public resources reveal only what a proof holder may read anyway; member-only routes declare
    # ``MemberDep`` (node.api.auth).
    for router in ROUTERS:
        app.include_router(router)
    return app


#: One router per resource, in the order the API document lists them.
ROUTERS: tuple[APIRouter, ...] = (
    authorisations.router,
    blocks.router,
    calls.router,
    chain.router,
    confirmations.router,
    drugs.router,
    events.router,
    governance.router,
    licences.router,
    logs.router,
    members.router,
    sessions.router,
    statements.router,
    ops.router,
    proofs.router,
    rpc.router,
    transactions.router,
    verify_page.router,
    console.router,
)
