"""Operations: liveness (``/health``). Metrics are served on the operator listener (node.api.metrics)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict

from fastapi import APIRouter, Request, Response

from node.api.deps import LedgerDep
from node.api.models import CalendarOutlookPublic, ConsensusLivenessPublic, HealthPublic
from node.consensus.liveness import ConsensusLiveness
from node.ledger.backfill import history_floor
from node.ledger.chain import Ledger
from sdk.domains.calendar import date_of_day

router = APIRouter(tags=["operations"])

#: The head is called stale when no block was committed for this long (idle blocks come every few seconds).
STALE_HEAD_S: float = 60.0


@router.get(
    "/health",
    response_model=HealthPublic,
    responses={503: {"model": HealthPublic, "description": "consensus has stalled or stopped"}},
)
def get_health(ledger: LedgerDep, request: Request, response: Response) -> HealthPublic:
    """Return the head height, the seconds since the head block's timestamp, consensus liveness and how far
    the working-day calendar reaches (``calendar.status`` ``ending`` 60 days before its last covered date).

    ``status`` is ``ok`` while consensus decides heights; ``stalled`` when it has decided nothing for a
    minute and ``down`` when its driver stopped — both answered with HTTP 503 so that a supervisor or load
    balancer sees the node as unhealthy although it still answers.
    """
    header = ledger.head.header
    age_s = max(0.0, time.time() - header.timestamp_ms / 1000)
    calendar = _calendar(ledger)
    history_from = history_floor(ledger.store)
    source: Callable[[], ConsensusLiveness] | None = request.app.state.liveness
    if source is None:
        return HealthPublic(
            status="ok" if age_s < STALE_HEAD_S else "stale",
            height=header.height,
            head_age_s=age_s,
            history_from=history_from,
            calendar=calendar,
        )
    liveness = source()
    if liveness.status != "ok":
        response.status_code = 503
    return HealthPublic(
        status=liveness.status,
        height=header.height,
        head_age_s=age_s,
        history_from=history_from,
        consensus=ConsensusLivenessPublic(**asdict(liveness)),
        calendar=calendar,
    )


def _calendar(ledger: Ledger) -> CalendarOutlookPublic | None:
    outlook = ledger.calendar_outlook()
    if outlook is None:
        return None
    return CalendarOutlookPublic(
        covered_through=date_of_day(outlook.covered_through).isoformat(),
        days_left=outlook.days_left,
        status=outlook.status,
    )
