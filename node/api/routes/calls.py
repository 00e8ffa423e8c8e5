"""Read-only contract calls at the head state."""

from __future__ import annotations

from fastapi import APIRouter

from node.api.access import ReadScope
from node.api.auth import MemberDep
from node.api.convert import to_hex
from node.api.deps import HeavyDep, LedgerDep, LimitsDep, parse_address, parse_hex
from node.api.models import CallCreate, CallResult, error_responses
from node.api.reader import LedgerReader, call_gas_allowance, call_or_raise

router = APIRouter(prefix="/v1/call", tags=["calls"])


@router.post(
    "",
    response_model=CallResult,
    responses=error_responses(400, 401, 403, 422, busy=True),
    dependencies=[HeavyDep],
)
def call_contract(body: CallCreate, ledger: LedgerDep, limits: LimitsDep, member: MemberDep) -> CallResult:
    """Run ``data`` against contract ``to`` without a transaction; a revert is 400 ``execution_reverted``.

    Member-signed. A view function that reads one record (a letter, a grant, a drug code, a shipment) is
    answered only to that record's parties and regulator (403 ``forbidden``; docs/read-access.md).
    """
    to = parse_address(body.to, "to")
    data = parse_hex(body.data, name="data", max_size=ledger.chain.max_tx_bytes)
    sender = parse_address(body.sender, "sender") if body.sender else bytes(20)
    ReadScope(LedgerReader(ledger), member).check_call(to, data, sender)
    gas = call_gas_allowance(ledger, limits.max_call_gas)
    return CallResult(result=to_hex(call_or_raise(ledger, to, data, sender, gas=gas)))
