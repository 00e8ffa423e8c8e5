"""Transactions: submit a signed transaction; read its status, receipt and encoding (optionally waiting)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from node.api.access import ReadScope
from node.api.auth import Member, MemberDep, signature_budget
from node.api.commits import CommitSignal
from node.api.convert import to_hex, to_receipt_public, to_transaction_fields
from node.api.deps import LedgerDep, LimitsDep, parse_hash, parse_hex
from node.api.errors import BadRequest, compute_status, error_body_of
from node.api.limits import HeavyGate, RefusalSummary, refuse
from node.api.models import (
    BatchOutcome,
    ErrorPublic,
    TransactionAccepted,
    TransactionBatchAccepted,
    TransactionBatchCreate,
    TransactionCreate,
    TransactionPublic,
    error_responses,
)
from node.api.reader import LedgerReader
from node.ledger.chain import Ledger
from node.ledger.types import Submission
from sdk.errors import XinlianError

router = APIRouter(prefix="/v1/transactions", tags=["transactions"])

#: A status request waits at most this long for a commit, whatever ``wait`` asks.
MAX_WAIT_S: float = 30.0

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorPublic, "description": text}
    for status, text in (
        (
            400,
            "bad_encoding, bad_signature, wrong_chain, gas_limit, gas_too_low (below intrinsic gas), "
            "expired, expiry_too_far",
        ),
        (403, "unknown_sender: not an active account of an active organisation"),
        (413, "oversize (transaction) or body_too_large (request)"),
        (415, "unsupported_media_type"),
        (422, "bad_request: malformed JSON or hex"),
        (
            429,
            "sender_quota: this sender has too many pending transactions; retry after commits. "
            "auth_throttled: too many signatures from this address did not verify; wait",
        ),
        (503, "mempool_full: retry later; storage_error: not recorded durably (resubmitting is safe)"),
    )
}

_SUBMIT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": TransactionCreate.model_json_schema()},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.post(
    "",
    status_code=202,
    response_model=TransactionAccepted,
    responses=_ERRORS,
    openapi_extra=_SUBMIT_BODY,
    summary="Submit a signed transaction",
)
async def submit_transaction(request: Request, ledger: LedgerDep) -> TransactionAccepted:
    """Admit a transaction to the mempool: JSON ``{"raw": "0x…"}`` or the raw bytes as octet-stream.

    202 means the node recorded the transaction durably before answering: it stays pending across a crash
    of this node until it commits or expires. Submitting it again is idempotent: 202 with ``status``
    ``pending``, or ``committed`` once it is in a block.
    """
    raw = _read_raw(request.headers.get("content-type", ""), await request.body())
    budget = signature_budget(request)  # a client whose signatures keep failing is refused unverified
    # Admission verifies an SM2 signature and asks Governance (EVM) about the sender, and the record waits
    # for its disk sync: off the event loop.
    try:
        submission = await run_in_threadpool(ledger.submit_transaction, raw)
    except XinlianError as exc:
        if exc.code == "bad_signature":
            budget.failed()
        raise
    return TransactionAccepted(tx_hash=to_hex(submission.tx_hash), status=submission.status)


@router.post(
    "/batch",
    status_code=202,
    response_model=TransactionBatchAccepted,
    responses={
        **error_responses(413, 422, 503),
        429: {
            "model": ErrorPublic,
            "description": "busy: max_submit_batches batches in admission, retry; auth_throttled: too many "
            "signatures from this address did not verify, wait",
        },
    },
    summary="Submit many signed transactions",
)
async def submit_transactions(
    request: Request, body: TransactionBatchCreate, ledger: LedgerDep, limits: LimitsDep
) -> TransactionBatchAccepted:
    """Admit up to ``max_submit_batch`` (500) transactions in one request, each as ``POST /v1/transactions``
    would: one result per transaction, in order, accepted (``pending`` / ``committed``) or ``refused`` with
    the error and status a single submission gets. Every accepted one was recorded durably before the
    answer (one disk sync for the batch). 413 ``batch_too_large`` when the batch has more transactions;
    429 ``busy`` when ``max_submit_batches`` (4) batches are being admitted already, ``auth_throttled`` when
    this address's failed signatures are spent (each ``bad_signature`` in a batch counts one); 503
    ``storage_error`` when the record failed (resubmitting the batch is safe).
    """
    if len(body.raws) > limits.max_submit_batch:
        raise refuse(
            "batch_too_large",
            f"batch of {len(body.raws)} transactions is larger than {limits.max_submit_batch}: split it",
            size=len(body.raws),
            limit=limits.max_submit_batch,
        )
    decoded: list[bytes | XinlianError] = []
    for index, raw in enumerate(body.raws):
        try:
            decoded.append(parse_hex(raw, name=f"raws[{index}]"))
        except XinlianError as exc:
            decoded.append(exc)
    raws = [raw for raw in decoded if isinstance(raw, bytes)]
    budget = signature_budget(request)
    gate: HeavyGate = request.app.state.batches
    with gate.slot("POST /v1/transactions/batch"):
        submitted = list(await run_in_threadpool(ledger.submit_transactions, raws))
    budget.failed(sum(1 for o in submitted if isinstance(o, XinlianError) and o.code == "bad_signature"))
    answers = iter(submitted)
    outcomes = [next(answers) if isinstance(raw, bytes) else raw for raw in decoded]
    return TransactionBatchAccepted(results=[_batch_outcome(request, outcome) for outcome in outcomes])


def _batch_outcome(request: Request, outcome: Submission | XinlianError) -> BatchOutcome:
    if isinstance(outcome, Submission):
        return BatchOutcome(tx_hash=to_hex(outcome.tx_hash), status=outcome.status)
    status = compute_status(outcome)
    summary: RefusalSummary | None = getattr(request.app.state, "refusals", None)
    if summary is not None:
        summary.note(outcome.code, status)
    return BatchOutcome(
        status="refused",
        error=ErrorPublic.model_validate(error_body_of(outcome)),
        http_status=status,
    )


def _read_raw(content_type: str, body: bytes) -> bytes:
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/octet-stream":
        return body
    if media in ("application/json", ""):
        try:
            created = TransactionCreate.model_validate_json(body)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False, include_input=False)) from exc
        return parse_hex(created.raw, name="raw")
    raise BadRequest(
        f"send application/json or application/octet-stream, not {media}",
        code="unsupported_media_type",
        content_type=media,
    )


@router.get(
    "/{tx_hash}",
    response_model=TransactionPublic,
    responses=error_responses(401, 403, 422),
)
async def get_transaction(
    request: Request,
    tx_hash: str,
    ledger: LedgerDep,
    member: MemberDep,
    wait: Annotated[
        float, Query(ge=0, le=3600, description=f"seconds to wait for a commit (≤ {MAX_WAIT_S})")
    ] = 0,
) -> TransactionPublic:
    """Return pending / committed (with receipt, position and raw encoding) / unknown.

    Member-signed. A committed transaction is shown to the organisation that sent it and to the parties
    of the records it touched (403 ``forbidden`` otherwise); pending and unknown say only that.
    """
    wanted = parse_hash(tx_hash, "tx_hash")
    signal: CommitSignal = request.app.state.commit_signal
    deadline = time.monotonic() + min(wait, MAX_WAIT_S)
    while True:
        event = signal.current()
        found = await run_in_threadpool(_lookup_transaction, ledger, wanted, member)
        remaining = deadline - time.monotonic()
        if found.status == "committed" or remaining <= 0:
            return found
        await signal.wait(event, remaining)


def _lookup_transaction(ledger: Ledger, tx_hash: bytes, member: Member) -> TransactionPublic:
    stored = ledger.get_transaction(tx_hash)
    if stored is not None:
        tx, height, index = stored
        receipt = ledger.get_receipt(tx_hash)
        logs = list(receipt.receipt.logs) if receipt is not None else []
        ReadScope(LedgerReader(ledger), member).check_transaction(tx_hash, logs)
        header = ledger.get_header(height)
        return TransactionPublic(
            tx_hash=to_hex(tx_hash),
            status="committed",
            height=height,
            index=index,
            block_hash=to_hex(header.block_hash) if header is not None else None,
            receipt=to_receipt_public(receipt.receipt) if receipt is not None else None,
            transaction=to_transaction_fields(tx),
            raw=to_hex(tx.encode()),
        )
    if ledger.is_pending(tx_hash):
        return TransactionPublic(tx_hash=to_hex(tx_hash), status="pending")
    return TransactionPublic(tx_hash=to_hex(tx_hash), status="unknown")
