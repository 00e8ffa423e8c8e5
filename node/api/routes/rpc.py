"""The ``/rpc`` endpoint: Ethereum JSON-RPC 2.0 (single and batch) for web3.py reads, over HTTP POST and
over a WebSocket, which adds ``eth_subscribe`` (node.api.subscriptions)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, WebSocket
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from node.api.auth import Member, authenticate_request
from node.api.errors import compute_status
from node.api.limits import LimitExceeded, log_refusal
from node.api.models import JsonRpcResponse
from node.api.rpc import RpcHandler, needs_member
from node.api.rpc_wire import (
    LIMIT_EXCEEDED,
    UNAUTHENTICATED,
    RpcError,
    encode_response,
    error_response,
    parse_rpc_json,
)
from node.api.subscriptions import ANONYMOUS_OWNER, Connection
from sdk.auth import has_signature
from sdk.errors import AuthenticationError, XinlianError

router = APIRouter(tags=["json-rpc"])

_RPC_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": ["object", "array"], "title": "JSON-RPC request"}}
        },
    }
}


def _authenticate(request: Request, body: bytes, payload: Any) -> Member | None:
    """Return who signed the request (None: anonymous).

    Raises the authentication error that refuses the whole request (no partial answers): a bad
    signature, or an anonymous request any of whose items needs a member.
    """
    items = payload if isinstance(payload, list) else [payload]
    headers = dict(request.headers)
    if has_signature(headers):
        return authenticate_request(request, body)
    if not any(needs_member(item) for item in items):
        return None
    raise AuthenticationError(
        "this method reads business data: sign the request as a member "
        "(sdk.web3.XinlianProvider, or the headers of sdk.auth)"
    )


@router.post(
    "/rpc",
    response_model=JsonRpcResponse | list[JsonRpcResponse],
    openapi_extra=_RPC_BODY,
    summary="Ethereum JSON-RPC subset",
)
async def json_rpc(request: Request) -> Response:
    """Answer a JSON-RPC 2.0 request or batch; errors are JSON-RPC error objects with HTTP 200."""
    handler: RpcHandler = request.app.state.rpc
    body = await request.body()
    depth = handler.limits.max_json_depth
    try:  # whatever the content type
        payload = parse_rpc_json(body, depth, "body")
    except RpcError as error:
        if isinstance(error.data, dict) and error.data.get("code") == "too_deep":
            log_refusal("too_deep", path="/rpc", limit=depth, size=len(body))
        return JSONResponse(error_response(None, error))
    # Every method reads SQL or runs py-evm (and a signature check costs an SM2 verification): answer from
    # a worker thread, never on the event loop.
    return await run_in_threadpool(_answer, request, handler, body, payload)


def _answer(request: Request, handler: RpcHandler, body: bytes, payload: Any) -> Response:
    try:
        member = _authenticate(request, body, payload)
    except XinlianError as exc:
        error = RpcError(UNAUTHENTICATED, exc.message, {"code": exc.code})
        return JSONResponse(
            {"jsonrpc": "2.0", "id": None, "error": error.to_dict()}, status_code=compute_status(exc)
        )
    answer = handler.answer(payload, member)
    if answer is None:
        return Response(status_code=204)
    return Response(content=answer, media_type="application/json")


#: Close codes of a refused WebSocket handshake (after one JSON-RPC error message saying why).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_TRY_LATER = 1013


@router.websocket("/rpc")
async def json_rpc_socket(websocket: WebSocket) -> None:
    """JSON-RPC over a WebSocket, with ``eth_subscribe`` ("logs", "newHeads") and ``eth_unsubscribe``.

    Anonymous, or member-signed: the handshake carries sdk.auth's headers for a GET of ``/rpc`` with an
    empty body. A bad signature, or no room for another connection, is answered with one JSON-RPC error
    message (``data.code`` says why) and the socket is closed.
    """
    state = websocket.app.state
    try:
        member = None
        if has_signature(dict(websocket.headers)):
            member = await run_in_threadpool(authenticate_request, websocket, b"")
        lease = state.streams.acquire(member.uscc if member is not None else ANONYMOUS_OWNER)
    except XinlianError as exc:
        limited = isinstance(exc, LimitExceeded)
        error = RpcError(LIMIT_EXCEEDED if limited else UNAUTHENTICATED, exc.message, {"code": exc.code})
        await websocket.accept()
        await websocket.send_text(encode_response(error_response(None, error)).decode("utf-8"))
        await websocket.close(CLOSE_TRY_LATER if limited else CLOSE_UNAUTHENTICATED)
        return
    await websocket.accept()
    await Connection(websocket, state.rpc, member, lease, state.commit_signal).run()
