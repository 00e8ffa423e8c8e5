"""Read-only contract calls at the head state."""

from __future__ import annotations

from fastapi import APIRouter

from node.api.convert import decode_revert_reason, to_hex
from node.api.deps import HeavyDep, LedgerDep, LimitsDep, parse_address, parse_hex
from node.api.limits import MAX_CALL_GAS
from node.api.models import CallCreate, CallResult, ErrorPublic
from node.execution import BlockContext
from node.ledger.chain import Ledger
from sdk.errors import ExecutionError
from sdk.types import BlockHeader

router = APIRouter(prefix="/v1/call", tags=["calls"])


@router.post(
    "",
    response_model=CallResult,
    responses={
        400: {"model": ErrorPublic},
        422: {"model": ErrorPublic},
        429: {"model": ErrorPublic, "description": "busy: too many heavy requests; retry later"},
    },
    dependencies=[HeavyDep],
)
def call_contract(body: CallCreate, ledger: LedgerDep, limits: LimitsDep) -> CallResult:
    """Run ``data`` against contract ``to`` without a transaction; a revert is 400 ``execution_reverted``."""
    to = parse_address(body.to, "to")
    data = parse_hex(body.data, name="data", max_size=ledger.chain.max_tx_bytes)
    sender = parse_address(body.sender, "sender") if body.sender else bytes(20)
    gas = call_gas_allowance(ledger, limits.max_call_gas)
    return CallResult(result=to_hex(call_or_raise(ledger, to, data, sender, gas=gas)))


def call_gas_allowance(ledger: Ledger, cap: int = MAX_CALL_GAS, requested: int | None = None) -> int:
    """Return the gas a read-only call gets: ``requested`` (default: the chain's transaction gas limit),
    at most ``cap`` (py-evm cannot be interrupted, so gas is what bounds a call's time)."""
    wanted = ledger.chain.tx_gas_limit if requested is None else requested
    return max(0, min(wanted, cap))


def call_or_raise(
    ledger: Ledger,
    to: bytes,
    data: bytes,
    sender: bytes,
    header: BlockHeader | None = None,
    *,
    gas: int | None = None,
) -> bytes:
    """Run a read-only call on the state after ``header`` (default: the head), seeing its number and time.

    Returns: the return data.
    Raises: ExecutionError with code ``execution_reverted`` and the reason text (``reason``) and bytes
    (``data``, hex) in its detail when the call reverts; other ExecutionErrors (unknown state root, bad
    address) unchanged. ``gas`` defaults to ``call_gas_allowance(ledger)``.
    """
    if header is None:
        header = ledger.head.header
    ctx = BlockContext(
        height=header.height,
        timestamp_ms=header.timestamp_ms,
        gas_limit=ledger.chain.block_gas_limit,
        proposer=bytes(20),
    )
    try:
        gas_limit = call_gas_allowance(ledger) if gas is None else gas
        return ledger.view(header.state_root, sender, to, data, gas_limit, ctx)
    except ExecutionError as exc:
        if exc.code != "reverted":
            raise
        reason = exc.detail.get("revert_reason")
        text = reason if isinstance(reason, str) else decode_revert_reason(_as_bytes(reason)) or ""
        raise ExecutionError(
            f"execution reverted: {text}" if text else "execution reverted",
            code="execution_reverted",
            reason=text,
            data=to_hex(text.encode("utf-8")),
            gas_used=exc.detail.get("gas_used"),
        ) from exc


def _as_bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else b""
