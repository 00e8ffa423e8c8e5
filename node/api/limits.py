"""API limits: every bound on what one request may cost a node, and the ASGI middleware enforcing some."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sdk.errors import XinlianError
from sdk.system import SUBMIT_BATCH_MAX_BODY_BYTES, SUBMIT_BATCH_MAX_TXS

log = logging.getLogger("xinlian.api")

# --- defaults (each overridable per app through ApiLimits) ---------------------------------------------
# request body cap (1 MiB); larger bodies get 413 before any route reads
DEFAULT_MAX_BODY_BYTES: int = SUBMIT_BATCH_MAX_BODY_BYTES
MAX_JSON_DEPTH: int = 64  # array/object nesting of any JSON body: C parsers recurse once per level
MAX_RPC_BATCH: int = 100  # JSON-RPC requests per batch
# transactions per POST /v1/transactions/batch (500; each costs an SM2 verification)
MAX_SUBMIT_BATCH: int = SUBMIT_BATCH_MAX_TXS
MAX_SUBMIT_BATCHES: int = 4  # batches admitted at once per node (own slots: never the reads' heavy slots)
MAX_RPC_RESPONSE_BYTES: int = 8 * 1024 * 1024  # encoded JSON-RPC answer per HTTP request (batch total)
MAX_PROOF_STORAGE_KEYS: int = 64  # storage keys per eth_getProof (each costs a trie walk and ~1.5 KB)
MAX_LOG_BLOCK_RANGE: int = 10_000  # blocks one eth_getLogs query, or one /v1/logs page, may scan
MAX_LOG_RESULTS: int = 10_000  # logs one eth_getLogs query may return (REST pages by cursor instead)
MAX_CALL_GAS: int = 50_000_000  # gas of one eth_call or /v1/call: py-evm can only be stopped by gas
MAX_BATCH_CALL_GAS: int = 100_000_000  # eth_call gas reserved by all the calls of one JSON-RPC batch
MAX_HEAVY_REQUESTS: int = 8  # concurrent calls/proofs/log queries per node; one more is refused (busy)
AUTH_FAILURE_BURST: int = 50  # failed authentications per client address at once (0: no limit) ...
AUTH_FAILURES_PER_S: float = 5.0  # ... and per second after that; then auth_throttled before verifying
MAX_STREAMS: int = 64  # open event streams per node (each holds a connection and wakes on every commit)
MAX_STREAMS_PER_ORGANISATION: int = 4  # ... per member organisation, so one member cannot take them all
MAX_CACHED_STATEMENTS: int = 4096  # signed licence statements kept per (licence, height): no re-signing
STATEMENT_SIGNATURES_BURST: int = 64  # new licence statements a validator signs at once ...
STATEMENT_SIGNATURES_PER_S: float = 20.0  # ... and per second after that (cached answers are free)
MAX_STREAM_SECONDS: float = 3600.0  # a stream ends after this long; the client resumes from its cursor


@dataclass(frozen=True, slots=True)
class ApiLimits:
    """The limits one app enforces (defaults: the module constants above)."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_json_depth: int = MAX_JSON_DEPTH
    max_rpc_batch: int = MAX_RPC_BATCH
    max_submit_batch: int = MAX_SUBMIT_BATCH
    max_submit_batches: int = MAX_SUBMIT_BATCHES
    max_rpc_response_bytes: int = MAX_RPC_RESPONSE_BYTES
    max_proof_storage_keys: int = MAX_PROOF_STORAGE_KEYS
    max_log_block_range: int = MAX_LOG_BLOCK_RANGE
    max_log_results: int = MAX_LOG_RESULTS
    max_call_gas: int = MAX_CALL_GAS
    max_batch_call_gas: int = MAX_BATCH_CALL_GAS
    max_heavy_requests: int = MAX_HEAVY_REQUESTS
    auth_failure_burst: int = AUTH_FAILURE_BURST
    auth_failures_per_s: float = AUTH_FAILURES_PER_S
    max_streams: int = MAX_STREAMS
    max_streams_per_organisation: int = MAX_STREAMS_PER_ORGANISATION
    max_stream_seconds: float = MAX_STREAM_SECONDS
    max_cached_statements: int = MAX_CACHED_STATEMENTS
    statement_signatures_burst: int = STATEMENT_SIGNATURES_BURST
    statement_signatures_per_s: float = STATEMENT_SIGNATURES_PER_S


class LimitExceeded(XinlianError):
    """A request asks for more than a limit allows (``code`` says which); JSON-RPC answers -32005."""

    code = "limit_exceeded"


def log_refusal(code: str, **fields: object) -> None:
    """Log one line for a refused request: its class and sizes/limits only, never body contents."""
    log.info("refused %s %s", code, " ".join(f"{name}={value}" for name, value in fields.items()))


#: Client errors (refused transactions, bad requests) are summarised per code at most this often.
REFUSAL_LOG_INTERVAL_S: float = 10.0


class RefusalSummary:
    """One log line per refused request class and interval: the first refusal of a code at once, then a
    count per ``interval_s``, so that a flood of refusals cannot flood the log too."""

    def __init__(self, interval_s: float = REFUSAL_LOG_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._pending: dict[str, int] = {}
        self._last_s: dict[str, float] = {}

    def note(self, code: str, status: int) -> None:
        now = time.monotonic()
        with self._lock:
            count = self._pending.get(code, 0) + 1
            last = self._last_s.get(code)
            if last is not None and now - last < self.interval_s:
                self._pending[code] = count
                return
            self._pending[code] = 0
            self._last_s[code] = now
        if last is None:
            log.info("refused %s status=%d", code, status)
        else:
            log.info("refused %s status=%d count=%d in the last %.0f s", code, status, count, now - last)


def refuse(code: str, message: str, **detail: object) -> LimitExceeded:
    """Log the refusal and return the error to raise."""
    log_refusal(code, **detail)
    return LimitExceeded(message, code=code, **detail)


# --- heavy-request gate --------------------------------------------------------------------------------
class HeavyGate:
    """At most ``capacity`` heavy requests at once per node; one more is refused at once, never queued.

    A queue would only move the overload into memory and latency; a 429 tells the client to back off.
    """

    def __init__(self, capacity: int = MAX_HEAVY_REQUESTS) -> None:
        self.capacity = capacity
        self._slots = threading.BoundedSemaphore(capacity)

    @contextmanager
    def slot(self, what: str) -> Iterator[None]:
        """Hold one slot while the block runs. Raises LimitExceeded (``busy``) when none is free."""
        if not self._slots.acquire(blocking=False):
            raise refuse(
                "busy",
                f"the node is running {self.capacity} heavy requests already; retry later",
                request=what,
                limit=self.capacity,
            )
        try:
            yield
        finally:
            self._slots.release()


# --- rate of one costly action -------------------------------------------------------------------------
class RateGate:
    """A token bucket for one action of the whole node (e.g. signing a new licence statement): ``burst`` at
    once, then ``per_second``; one more is refused at once (``rate_limited``, 429), never queued."""

    def __init__(self, burst: int, per_second: float) -> None:
        self.burst = burst
        self.per_second = per_second
        self._tokens = float(burst)
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def take(self, what: str, now: float | None = None) -> None:
        """Spend one token. Raises LimitExceeded (``rate_limited``) when none is left."""
        with self._lock:
            at = time.monotonic() if now is None else now
            self._tokens = min(float(self.burst), self._tokens + max(0.0, at - self._at) * self.per_second)
            self._at = at
            if self._tokens < 1.0:
                raise refuse(
                    "rate_limited",
                    f"the node does {what} at most {self.per_second:g} times per second; retry later",
                    request=what,
                    per_second=self.per_second,
                )
            self._tokens -= 1.0


# --- event streams -------------------------------------------------------------------------------------
class StreamLease:
    """One open stream's place in a StreamGate; ``release`` may be called any number of times."""

    def __init__(self, gate: StreamGate, key: int, owner: str) -> None:
        self._gate, self._key, self.owner = gate, key, owner

    def release(self) -> None:
        self._gate._release(self._key)


class StreamGate:
    """At most ``capacity`` open event streams per node and ``per_owner`` per organisation; one more is
    refused at once (429 ``too_many_streams``). A lease not released within ``lifetime_s`` (a stream lasts
    at most that long) no longer counts, so a connection torn down before its stream started cannot hold
    a place for ever."""

    def __init__(self, capacity: int, per_owner: int, lifetime_s: float) -> None:
        self.capacity, self.per_owner, self.lifetime_s = capacity, per_owner, lifetime_s
        self._lock = threading.Lock()
        self._open: dict[int, tuple[str, float]] = {}
        self._next = 0

    def acquire(self, owner: str) -> StreamLease:
        """A place for one stream of ``owner``'s. Raises LimitExceeded (``too_many_streams``)."""
        now = time.monotonic()
        with self._lock:
            horizon = now - self.lifetime_s - 60.0
            self._open = {k: v for k, v in self._open.items() if v[1] > horizon}
            mine = sum(1 for who, _ in self._open.values() if who == owner)
            if len(self._open) >= self.capacity or mine >= self.per_owner:
                full = len(self._open) >= self.capacity
                raise refuse(
                    "too_many_streams",
                    "the node has no room for another event stream"
                    if full
                    else f"your organisation has {mine} event streams open already; close one first",
                    limit=self.capacity if full else self.per_owner,
                )
            self._next += 1
            self._open[self._next] = (owner, now)
            return StreamLease(self, self._next, owner)

    def _release(self, key: int) -> None:
        with self._lock:
            self._open.pop(key, None)

    @property
    def open_count(self) -> int:
        with self._lock:
            return len(self._open)


# --- JSON nesting depth ----------------------------------------------------------------------------------
_FOLD_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_RUN = re.compile(rb"\[+|\]+")
_OPEN = ord("[")
# Each pass removes every innermost pair; what survives k passes has at most len/(k+1) bracket runs.
_SHALLOW_PASSES = 8


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when JSON ``body`` nests arrays/objects deeper than ``limit``.

    Linear and mostly C-speed, whatever the body: strings are stripped (``_strip_strings``), brackets
    kept by translate; a few ``replace`` passes drop shallow ``[]`` pairs, so at most len/(passes+1) runs
    of equal brackets remain for the Python loop, which stops at the first level above ``limit``.
    Unbalanced input counts as deep only if it opens more than ``limit`` levels before the parser stops.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    brackets = _strip_strings(body).translate(_FOLD_BRACKETS, _NOT_BRACKETS)
    if brackets.count(b"[") <= limit:
        return False
    if b"[" * (limit + 1) in brackets:
        return True
    # Each pass lowers every peak by one level and leaves the depth of every other bracket unchanged.
    passes = 0
    while passes < min(_SHALLOW_PASSES, limit):
        reduced = brackets.replace(b"[]", b"")
        if len(reduced) == len(brackets):
            break
        brackets = reduced
        passes += 1
    depth = 0
    for run in _BRACKET_RUN.finditer(brackets):
        start, end = run.span()
        if brackets[start] == _OPEN:
            depth += end - start
            if depth > limit - passes:
                return True
        else:
            depth -= end - start
            if depth < 0:  # a stray closer: the parser stops here
                return False
    return False


def _strip_strings(body: bytes) -> bytes:
    """``body`` without its JSON strings (their brackets are not structure), by C-speed replace and split.

    Escapes go first: ``\\\\`` pairs, then ``\\"``, as the JSON tokenizer reads them left to right. A
    backslash outside a string or an unterminated string may be misread here, but the parser stops there,
    so nothing it would recurse into is missed.
    """
    if b"\\" in body:
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    if b'"' in body:
        body = b"".join(body.split(b'"')[0::2])
    return body


class JsonDepthLimit:
    """Refuse request bodies nested deeper than ``max_depth`` with 400 ``{code: "too_deep", …}``.

    Runs before any route parses JSON (FastAPI parses bodies with the recursive json module). Bodies sent
    as application/octet-stream are never parsed as JSON and pass unscanned; ``skip_paths`` scan their
    bodies themselves (/rpc answers a JSON-RPC parse error instead).
    """

    def __init__(
        self, app: ASGIApp, max_depth: int = MAX_JSON_DEPTH, skip_paths: tuple[str, ...] = ("/rpc",)
    ) -> None:
        self.app = app
        self.max_depth = max_depth
        self.skip_paths = frozenset(skip_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("path") in self.skip_paths
            or _media_type(scope) == b"application/octet-stream"
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        ended: Message | None = None
        while True:
            message = await receive()
            if message["type"] != "http.request":
                ended = message  # the client left: let the app see it
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if ended is None and json_too_deep(body, self.max_depth):
            log_refusal("too_deep", path=scope.get("path", ""), limit=self.max_depth, size=len(body))
            await send_json_error(
                send,
                400,
                "too_deep",
                f"JSON nesting is deeper than {self.max_depth} levels (or its brackets do not balance)",
                {"limit": self.max_depth},
            )
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                if ended is not None:
                    return ended
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


# --- body size ---------------------------------------------------------------------------------------
class BodyTooLarge(HTTPException):
    """Raised inside ``receive`` when a streamed body passes the cap (no Content-Length given).

    An HTTPException so that FastAPI's body reader passes it through to the error handler unchanged.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body exceeds {limit} bytes")


class BodySizeLimit:
    """Refuse request bodies above ``max_body_bytes`` with 413 ``{code: "body_too_large", …}``.

    A declared Content-Length above the cap is refused before reading; a chunked body is counted as it
    streams and cut off at the cap.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._refuse(scope, send, declared)
            return
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not response_started:
                await self._refuse(scope, send, received)

    async def _refuse(self, scope: Scope, send: Send, size: int) -> None:
        log_refusal("body_too_large", path=scope.get("path", ""), limit=self.max_body_bytes, size=size)
        await send_json_error(
            send,
            413,
            "body_too_large",
            f"request body exceeds {self.max_body_bytes} bytes",
            {"limit": self.max_body_bytes},
            close=True,
        )


async def send_json_error(
    send: Send, status: int, code: str, message: str, detail: dict[str, object], *, close: bool = False
) -> None:
    """Answer with the API's error shape from a middleware (below the exception handlers)."""
    body = json.dumps({"code": code, "message": message, "detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _media_type(scope: Scope) -> bytes:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return bytes(value).split(b";", 1)[0].strip().lower()
    return b""
