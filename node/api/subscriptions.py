"""``eth_subscribe`` over a WebSocket at ``/rpc``: committed logs and new block headers pushed to a client.

A WebSocket connection to ``/rpc`` speaks the same JSON-RPC as ``POST /rpc`` (one request or a batch per
message, the same methods and read rules) plus ``eth_subscribe`` and ``eth_unsubscribe``:

- ``eth_subscribe("newHeads")``: every new block's header (public, as ``eth_getBlockByNumber(…, false)``);
- ``eth_subscribe("logs", {address, topics, fromBlock})``: every new committed log matching the filter that
  the member may read (the read policy of ``eth_getLogs``); with ``fromBlock`` (an extension), first the
  matching logs of the committed blocks from there on, so a client that reconnects resumes without a gap.
  It needs a member: the handshake carries the signed headers of sdk.auth (a GET of ``/rpc`` with an empty
  body); an anonymous connection gets the UNAUTHENTICATED error for it (data.code ``unauthenticated``) and
  nothing else.

Notifications are ``{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":ID,"result":…}}``,
in chain order. Bounds: each connection takes a place of the node's event streams (``StreamGate``: per node
and per organisation, anonymous connections count under one owner), holds at most ``MAX_SUBSCRIPTIONS``,
sends at most ``max_body_bytes`` per message nested at most ``max_json_depth`` deep, and lasts at most
``max_stream_seconds`` (then it is closed with code 4000: reconnect and subscribe again). The member's
account is checked again at every block: a deactivated account's connection is closed with code 4403.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect

from node.api.auth import Member
from node.api.commits import CommitSignal
from node.api.limits import StreamLease
from node.api.rpc import LogQuery, RpcHandler, needs_member, parse_log_filter
from node.api.rpc_wire import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    LIMIT_EXCEEDED,
    UNAUTHENTICATED,
    RpcError,
    encode_response,
    error_response,
    is_valid_id,
    param_quantity,
    parse_rpc_json,
)
from node.storage import LogCursor

#: Subscriptions one connection may hold.
MAX_SUBSCRIPTIONS: Final = 16
#: Logs read per storage query while a subscription catches up to the head.
PAGE: Final = 200
#: Close codes (4000-4999 are the application's).
CLOSE_MAX_DURATION: Final = 4000
CLOSE_NOT_A_MEMBER: Final = 4403
#: The owner anonymous connections count under in the node's StreamGate.
ANONYMOUS_OWNER: Final = "anonymous"


@dataclass
class _Subscription:
    kind: str  # "logs" or "newHeads"
    after: LogCursor  # logs: the last position sent; newHeads: after_block(the last header sent)
    log_filter: LogQuery = field(default_factory=lambda: (None, []))


class Connection:
    """One client's WebSocket at /rpc: its requests answered in order, its subscriptions fed per commit."""

    def __init__(
        self,
        websocket: WebSocket,
        handler: RpcHandler,
        member: Member | None,
        lease: StreamLease,
        signal: CommitSignal,
    ) -> None:
        self.ws, self.handler, self.member = websocket, handler, member
        self.lease, self.signal = lease, signal
        self.ledger = handler.ledger
        self.subscriptions: dict[str, _Subscription] = {}
        self._send_lock = asyncio.Lock()
        self._added = asyncio.Event()  # a subscription was added: feed it without waiting for a commit

    async def run(self) -> None:
        """Serve until the client leaves, the connection's time is up or the member is deactivated."""
        pusher = asyncio.create_task(self._push())
        try:
            await self._receive()
        except WebSocketDisconnect:
            pass
        finally:
            pusher.cancel()
            self.lease.release()

    # --- requests ---------------------------------------------------------------------------------------
    async def _receive(self) -> None:
        limit, depth = self.handler.limits.max_body_bytes, self.handler.limits.max_json_depth
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            raw = message.get("bytes")  # web3.py sends binary frames, browsers text
            data = raw if raw is not None else str(message.get("text") or "").encode("utf-8", "replace")
            if len(data) > limit:
                error = RpcError(LIMIT_EXCEEDED, f"a message is at most {limit} bytes", {"code": "too_large"})
                await self._send(error_response(None, error))
                continue
            try:
                payload = parse_rpc_json(data, depth, "message")
            except RpcError as error:
                await self._send(error_response(None, error))
                continue
            answer = await self._answer(payload)
            if answer is not None:
                await self._send_bytes(answer)

    async def _answer(self, payload: Any) -> bytes | None:
        if isinstance(payload, dict) and payload.get("method") in ("eth_subscribe", "eth_unsubscribe"):
            return encode_response(await run_in_threadpool(self._subscription_request, payload))
        if not self._may_ask(payload):
            error = RpcError(
                UNAUTHENTICATED,
                "this method reads business data: open the WebSocket with a member's signed handshake",
                {"code": "unauthenticated"},
            )
            request_id = payload.get("id") if isinstance(payload, dict) else None
            return encode_response(error_response(request_id if is_valid_id(request_id) else None, error))
        return await run_in_threadpool(self.handler.answer, payload, self.member)

    def _may_ask(self, payload: Any) -> bool:
        items = payload if isinstance(payload, list) else [payload]
        return self.member is not None or not any(needs_member(item) for item in items)

    def _subscription_request(self, request: dict[str, Any]) -> dict[str, Any]:
        request_id = request.get("id")
        if not is_valid_id(request_id) or request.get("jsonrpc") != "2.0":
            return error_response(None, RpcError(INVALID_REQUEST, "invalid JSON-RPC 2.0 request"))
        params = request.get("params", [])
        if not isinstance(params, list):
            return error_response(request_id, RpcError(INVALID_PARAMS, "params must be a list"))
        try:
            if request["method"] == "eth_unsubscribe":
                return {"jsonrpc": "2.0", "id": request_id, "result": self._unsubscribe(params)}
            return {"jsonrpc": "2.0", "id": request_id, "result": self._subscribe(params)}
        except RpcError as exc:
            return error_response(request_id, exc)

    def _subscribe(self, params: list[Any]) -> str:
        kind = params[0] if params else None
        if kind not in ("logs", "newHeads"):
            raise RpcError(INVALID_PARAMS, 'eth_subscribe takes "logs" (with a filter) or "newHeads"')
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            raise RpcError(
                LIMIT_EXCEEDED,
                f"a connection holds at most {MAX_SUBSCRIPTIONS} subscriptions: unsubscribe one first",
                {"code": "too_many_subscriptions", "limit": MAX_SUBSCRIPTIONS},
            )
        subscription = _Subscription(kind, LogCursor.after_block(self.ledger.height))
        if kind == "logs":
            if self.member is None:
                raise RpcError(
                    UNAUTHENTICATED,
                    "log subscriptions read business data: open the WebSocket with a member's signed "
                    "handshake (sdk.auth headers)",
                    {"code": "unauthenticated"},
                )
            query = params[1] if len(params) > 1 else {}
            if not isinstance(query, dict) or set(query) - {"address", "topics", "fromBlock"}:
                raise RpcError(
                    INVALID_PARAMS, "a logs subscription takes a filter with address, topics and fromBlock"
                )
            subscription.log_filter = parse_log_filter(query)
            if query.get("fromBlock") is not None:  # resume: the logs of committed blocks from there on
                first = param_quantity(query["fromBlock"], "fromBlock")
                subscription.after = LogCursor.after_block(min(first, self.ledger.height + 1) - 1)
        subscription_id = "0x" + secrets.token_hex(16)
        self.subscriptions[subscription_id] = subscription
        self._added.set()
        return subscription_id

    def _unsubscribe(self, params: list[Any]) -> bool:
        if not params or not isinstance(params[0], str):
            return False
        return self.subscriptions.pop(params[0], None) is not None

    # --- notifications ----------------------------------------------------------------------------------
    async def _push(self) -> None:
        try:
            await self._feed()
        except (WebSocketDisconnect, RuntimeError):  # the client left while a notification was being sent
            return

    async def _feed(self) -> None:
        limits = self.handler.limits
        deadline = time.monotonic() + limits.max_stream_seconds
        checked_at = -1
        while time.monotonic() < deadline:
            commit = self.signal.current()
            head = self.ledger.height
            if self.member is not None and head != checked_at:
                if not await run_in_threadpool(self._still_member):
                    await self.ws.close(CLOSE_NOT_A_MEMBER, "the account is no longer active")
                    return
                checked_at = head
            for subscription_id, subscription in list(self.subscriptions.items()):
                while subscription_id in self.subscriptions and self._behind(subscription, head):
                    results = await run_in_threadpool(self._next_page, subscription, head)
                    for result in results:
                        await self._send(
                            {
                                "jsonrpc": "2.0",
                                "method": "eth_subscription",
                                "params": {"subscription": subscription_id, "result": result},
                            }
                        )
            await self._wait(commit, max(0.0, min(15.0, deadline - time.monotonic())))
        await self.ws.close(CLOSE_MAX_DURATION, "max_duration: reconnect and subscribe again")

    async def _wait(self, commit: asyncio.Event, timeout_s: float) -> None:
        """Until the next commit, a new subscription or ``timeout_s``."""
        added = asyncio.ensure_future(self._added.wait())
        committed = asyncio.ensure_future(commit.wait())
        await asyncio.wait((added, committed), timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        added.cancel()
        committed.cancel()
        self._added.clear()

    @staticmethod
    def _behind(subscription: _Subscription, head: int) -> bool:
        after = subscription.after
        return after.height < head or (after.height == head and not after.is_after_block)

    def _next_page(self, subscription: _Subscription, head: int) -> list[dict[str, Any]]:
        if subscription.kind == "newHeads":
            first = subscription.after.height + 1
            last = min(head, first + PAGE - 1)
            subscription.after = LogCursor.after_block(last)
            return self.handler.head_objects(first, last)
        assert self.member is not None  # logs subscriptions need a member (_subscribe)
        results, subscription.after = self.handler.logs_after(
            self.member, subscription.log_filter, subscription.after, head, PAGE
        )
        return results

    def _still_member(self) -> bool:
        return self.member is not None and self.member.is_still_member(self.ledger)

    # --- sending ----------------------------------------------------------------------------------------
    async def _send(self, message: dict[str, Any]) -> None:
        await self._send_bytes(encode_response(message))

    async def _send_bytes(self, data: bytes) -> None:
        async with self._send_lock:
            await self.ws.send_text(data.decode("utf-8"))
