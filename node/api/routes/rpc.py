"""The ``/rpc`` endpoint: Ethereum JSON-RPC 2.0 (single and batch) for web3.py reads."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from node.api.limits import json_too_deep, log_refusal
from node.api.models import JsonRpcResponse
from node.api.rpc import RpcHandler
from node.api.rpc_wire import PARSE_ERROR, RpcError

router = APIRouter(tags=["json-rpc"])

_RPC_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": ["object", "array"], "title": "JSON-RPC request"}}
        },
    }
}


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
    # The json module recurses per nesting level in C: scan before parsing (whatever the content type).
    depth = handler.limits.max_json_depth
    if json_too_deep(body, depth):
        log_refusal("too_deep", path="/rpc", limit=depth, size=len(body))
        error = RpcError(
            PARSE_ERROR,
            f"parse error: JSON nesting is deeper than {depth} levels (or its brackets do not balance)",
            {"code": "too_deep", "limit": depth},
        )
        return JSONResponse({"jsonrpc": "2.0", "id": None, "error": error.to_dict()})
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        error = RpcError(PARSE_ERROR, "parse error: the body is not JSON")
        return JSONResponse({"jsonrpc": "2.0", "id": None, "error": error.to_dict()})
    # Every method reads SQL or runs py-evm: answer from a worker thread, never on the event loop.
    answer = await run_in_threadpool(handler.answer, payload)
    if answer is None:
        return Response(status_code=204)
    return Response(content=answer, media_type="application/json")
