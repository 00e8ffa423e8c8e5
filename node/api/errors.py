"""The API's one error shape: every failure becomes HTTP status + ``{code, message, detail}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from node.api.limits import LimitExceeded, RefusalSummary
from sdk.errors import (
    AccessDenied,
    CryptoError,
    DomainError,
    EncodingError,
    ExecutionError,
    IdentifierError,
    InvalidTransaction,
    StorageError,
    XinlianError,
)

log = logging.getLogger("xinlian.api")


class BadRequest(XinlianError):
    """The request is malformed (bad hex, out-of-range parameter, wrong content type …)."""

    code = "bad_request"


class NotFound(XinlianError):
    """The requested block, transaction, organisation … does not exist on this node."""

    code = "not_found"


class Forbidden(AccessDenied):
    """The signed member may not read this record (its organisation is no party to it and holds no role
    that sees it)."""

    code = "forbidden"


# Codes whose status differs from their class's (admission refusals mostly).
_CODE_STATUS: dict[str, int] = {
    "bad_request": 422,
    "not_found": 404,
    "method_not_allowed": 405,
    "unsupported_media_type": 415,
    "oversize": 413,
    "body_too_large": 413,
    "duplicate": 409,
    "not_a_validator": 409,
    "unknown_sender": 403,
    "mempool_full": 503,
    "sender_quota": 429,
    "call_timeout": 503,
    "view_unavailable": 503,
    "not_loaded": 503,
    "execution_reverted": 400,
    # The state of an old height on a node that keeps only recent state (ask an archive node).
    "state_pruned": 410,
    # A block below the height a node joined at by snapshot (ask a node that holds the whole chain).
    "history_not_filled": 410,
    "unauthenticated": 401,
    "stale_request": 401,
    "wrong_audience": 401,
    "replayed_request": 401,
    "session_expired": 401,
    "insecure_transport": 403,
    "signer_busy": 429,
    "auth_throttled": 429,
    "not_a_member": 403,
    "forbidden": 403,
    # Limits (node.api.limits): the request asks too much of the node, or the node is saturated.
    "too_deep": 400,
    "busy": 429,
    "rate_limited": 429,
    "too_many_streams": 429,
    "range_too_large": 422,
    "too_many_results": 422,
    "too_many_records": 422,
    "too_many_keys": 422,
    "response_too_large": 413,
    "call_gas_budget": 422,
    "limit_exceeded": 422,
    "batch_too_large": 413,
}

# Walked along the exception's MRO; the first match wins.
_CLASS_STATUS: tuple[tuple[type[XinlianError], int], ...] = (
    (InvalidTransaction, 400),
    (EncodingError, 400),
    (IdentifierError, 400),
    (CryptoError, 400),
    (ExecutionError, 400),
    (DomainError, 400),
    (StorageError, 503),
)


def compute_status(error: XinlianError) -> int:
    """Return the HTTP status for ``error``: by its code first, then by its class, else 500."""
    status = _CODE_STATUS.get(error.code)
    if status is not None:
        return status
    for cls, class_status in _CLASS_STATUS:
        if isinstance(error, cls):
            return class_status
    return 500


def error_body(code: str, message: str, detail: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the JSON body of an error response."""
    return {"code": code, "message": message, "detail": detail or {}}


def error_body_of(error: XinlianError) -> dict[str, Any]:
    """Return the JSON body that answers ``error`` (its status: ``compute_status``)."""
    return error_body(error.code, error.message, _jsonable_detail(error.detail))


def error_response(
    code: str, message: str, status: int, detail: dict[str, Any] | None = None
) -> JSONResponse:
    """Return a JSON error response in the API's one error shape."""
    return JSONResponse(error_body(code, message, detail), status_code=status)


def _jsonable_detail(detail: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in detail.items():
        if isinstance(value, bytes):
            out[key] = "0x" + value.hex()
        elif isinstance(value, str | int | float | bool) or value is None:
            out[key] = value
        elif isinstance(value, list | tuple):
            out[key] = [("0x" + v.hex()) if isinstance(v, bytes) else v for v in value]
        else:
            out[key] = str(value)
    return out


def _count_server_error(request: Request) -> None:
    metrics = getattr(request.app.state, "metrics", None)
    counter = getattr(metrics, "api_errors", None)
    if counter is not None:
        counter.inc()


async def _on_xinlian_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, XinlianError):  # registered for XinlianError only; keep mypy honest
        return await _on_unexpected(request, exc)
    status = compute_status(exc)
    if status >= 500:
        _count_server_error(request)
        log.warning("request failed with %s: %s", exc.code, exc.message)
    else:
        # Limit refusals logged their own line when raised (node.api.limits.refuse).
        summary: RefusalSummary | None = getattr(request.app.state, "refusals", None)
        if summary is not None and not isinstance(exc, LimitExceeded):
            summary.note(exc.code, status)
    response = JSONResponse(error_body_of(exc), status_code=status)
    if status == 429:
        response.headers["Retry-After"] = "1"  # heavy requests finish within seconds (gas-bounded)
    return response


async def _on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    errors: list[dict[str, Any]] = []
    if isinstance(exc, RequestValidationError):
        for err in exc.errors()[:20]:
            errors.append(
                {
                    "loc": [str(part) for part in err.get("loc", ())],
                    "msg": str(err.get("msg", "")),
                    "type": str(err.get("type", "")),
                }
            )
    return error_response("bad_request", "the request is not valid", 422, {"errors": errors})


async def _on_http_exception(_request: Request, exc: Exception) -> JSONResponse:
    status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
    code = {
        400: "bad_request",
        404: "not_found",
        405: "method_not_allowed",
        413: "body_too_large",
        415: "unsupported_media_type",
    }
    message = str(exc.detail) if isinstance(exc, StarletteHTTPException) else "error"
    return error_response(code.get(status, "http_error"), message, status)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Log the cause for the operator; never send internals (paths, SQL, stack) to the caller.
    _count_server_error(request)
    log.error("unexpected error serving a request", exc_info=exc)
    return error_response("internal", "internal error", 500)


def install_error_handlers(app: FastAPI) -> None:
    """Register the one mapping from exceptions to ``{code, message, detail}`` responses on ``app``."""
    app.add_exception_handler(XinlianError, _on_xinlian_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(Exception, _on_unexpected)
