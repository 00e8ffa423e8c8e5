"""Operations: liveness (``/health``) and Prometheus metrics (``/metrics``)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response

from node.api.deps import LedgerDep
from node.api.metrics import PROMETHEUS_CONTENT_TYPE, Metrics
from node.api.models import HealthPublic

router = APIRouter(tags=["operations"])

#: The head is called stale when no block was committed for this long (idle blocks come every few seconds).
STALE_HEAD_S: float = 60.0


@router.get("/health", response_model=HealthPublic)
def get_health(ledger: LedgerDep) -> HealthPublic:
    """Return ok (or stale), the head height and the seconds since the head block's timestamp."""
    header = ledger.head.header
    age_s = max(0.0, time.time() - header.timestamp_ms / 1000)
    return HealthPublic(
        status="ok" if age_s < STALE_HEAD_S else "stale", height=header.height, head_age_s=age_s
    )


@router.get("/metrics", response_class=Response, responses={200: {"content": {PROMETHEUS_CONTENT_TYPE: {}}}})
def get_metrics(request: Request) -> Response:
    """Return every metric in the Prometheus text format."""
    metrics: Metrics = request.app.state.metrics
    return Response(metrics.render(), media_type=PROMETHEUS_CONTENT_TYPE)
