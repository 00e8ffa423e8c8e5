"""Member authentication: an SM2-signed request, or a request within a session the member opened with one
(sdk.auth), from an active Governance account, accepted once.

The same check serves REST routes (``MemberDep``) and JSON-RPC (``authenticate``). The replay cache
remembers every accepted nonce for twice the signing window, bounded in total and per signing key, so a
captured request cannot be sent again, and one key cannot fill the node's memory. Sessions are stateless:
``SessionKeys`` derives each session's key from its token and a secret drawn when the node starts.
"""

from __future__ import annotations

import ipaddress
import secrets
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass
from functools import partial
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from node.api.limits import AUTH_FAILURE_BURST, AUTH_FAILURES_PER_S
from node.ledger.chain import Ledger
from sdk.auth import (
    HEADER_KEY,
    HEADER_SESSION,
    HEADER_SIGNATURE,
    MAX_SKEW_MS,
    SESSION_TAG,
    SESSION_TTL_MS,
    Session,
    SessionToken,
    has_signature,
    verify_query,
    verify_session_query,
)
from sdk.crypto import hmac_sm3
from sdk.encoding import encode
from sdk.errors import AuthenticationError, XinlianError


class NotAMember(XinlianError):
    """The request is signed, but not by an active account of a registered organisation."""

    code = "not_a_member"


@dataclass(frozen=True)
class Member:
    """Who asked: an active account and its organisation (USCC)."""

    address: bytes
    uscc: str
    public_key: bytes

    def is_still_member(self, ledger: Ledger) -> bool:
        """Whether the account is still active in the same organisation at ``ledger``'s head (streams and
        subscriptions ask at every block)."""
        return ledger.is_active_account(self.address) and ledger.organisation_of(self.address) == self.uscc


_K = TypeVar("_K", bytes, str)


class ReplayCache:
    """Nonces of accepted signed requests, each kept until its request could no longer be fresh.

    Bounded without ever forgetting a nonce that is still fresh (that would let it be replayed), so a full
    cache refuses (``signer_busy``) instead of evicting. Who is refused:
    - a key holding ``max_per_key`` nonces;
    - once the cache is half full, an organisation holding at least its fair share of the other half
      (half the capacity divided among the organisations holding nonces), so a few busy organisations
      cannot take the room of the others: a quiet organisation still gets in until the cache is full,
      which takes as many busy organisations as there are organisations holding nonces;
    - anyone when ``max_entries`` are held.
    """

    def __init__(
        self, *, window_ms: int = 2 * MAX_SKEW_MS, max_entries: int = 200_000, max_per_key: int = 20_000
    ) -> None:
        self.window_ms = window_ms
        self.max_entries = max_entries
        self.max_per_key = max_per_key
        # (key, nonce) -> (expiry, owner), in insertion order
        self._expiry: OrderedDict[tuple[bytes, bytes], tuple[int, str]] = OrderedDict()
        self._per_key: Counter[bytes] = Counter()
        self._per_owner: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._expiry)

    def remember(self, public_key: bytes, nonce: bytes, now_ms: int, *, owner: str | None = None) -> None:
        """Record ``nonce`` for ``public_key`` (whose organisation is ``owner``; default: the key alone).

        Raises AuthenticationError (``replayed_request``) when it was seen before, or ``signer_busy`` when
        the key, its organisation or the node holds too many fresh nonces (see the class).
        """
        entry, who = (public_key, nonce), owner if owner is not None else public_key.hex()
        with self._lock:
            self._forget_expired(now_ms)
            if entry in self._expiry:
                raise AuthenticationError(
                    "this signed request was already received: sign every request afresh (new nonce)",
                    code="replayed_request",
                )
            if self._per_key[public_key] >= self.max_per_key or not self._has_room_for(who):
                raise AuthenticationError(
                    "too many signed requests in the signing window; try again shortly",
                    code="signer_busy",
                )
            self._expiry[entry] = (now_ms + self.window_ms, who)
            self._per_key[public_key] += 1
            self._per_owner[who] += 1

    def _has_room_for(self, owner: str) -> bool:
        held = len(self._expiry)
        if held >= self.max_entries:
            return False
        half = self.max_entries // 2
        if held < half:
            return True
        owners = len(self._per_owner) + (0 if owner in self._per_owner else 1)
        return self._per_owner[owner] < max(1, half // owners)

    def _forget_expired(self, now_ms: int) -> None:
        # Insertion order is expiry order: entries are added with now + window and the clock only moves on.
        while self._expiry:
            (key, nonce), (expiry, owner) = next(iter(self._expiry.items()))
            if expiry > now_ms:
                return
            del self._expiry[(key, nonce)]
            _decrement(self._per_key, key)
            _decrement(self._per_owner, owner)


class FailedAuthLimit:
    """Failed SM2 verifications per client network, so an outsider cannot make the node verify signatures
    without end (each costs ~0.7 ms of the node's CPU, shared with consensus).

    Only failures that cost a verification count (``spent_a_verification``): a signature that does not
    verify, or one that verifies for a key that is no member or for a nonce already used, and a submitted
    transaction whose signature does not verify (``bad_signature``). Cheaper refusals
    (no or malformed headers, a stale time, another node's audience, a session's MAC) cost nothing and
    count nothing. A token bucket per client network (an IPv4 address, an IPv6 /64, which one holder gets
    whole): ``burst`` failures at once, then ``per_second``; a network with none left is refused
    (``auth_throttled``, 429) before its next signed request is verified. At most ``max_clients``
    networks are tracked, the least recently failing forgotten first (that only forgives one). Clients
    behind one proxy or NAT share its address, so a node behind a proxy should have the proxy limit
    failures instead (``burst=0`` turns this off).
    """

    def __init__(
        self,
        *,
        burst: int = AUTH_FAILURE_BURST,
        per_second: float = AUTH_FAILURES_PER_S,
        max_clients: int = 65_536,
    ) -> None:
        self.burst = burst
        self.per_second = per_second
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # network -> (tokens, at)
        self._lock = threading.Lock()

    def _tokens(self, client: str, now: float) -> float:
        tokens, at = self._buckets.get(client, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - at) * self.per_second)

    def check(self, client: str, now: float) -> None:
        """Raise AuthenticationError (``auth_throttled``) when ``client`` has no failure left."""
        if self.burst <= 0:
            return
        with self._lock:
            if client in self._buckets and self._tokens(client, now) < 1.0:
                raise AuthenticationError(
                    "too many failed signatures from this address; wait before signing again",
                    code="auth_throttled",
                )

    def failed(self, client: str, now: float) -> None:
        """Count one failed verification of ``client`` (never below an empty bucket: failures that raced
        past ``check`` together do not lengthen the wait)."""
        if self.burst <= 0:
            return
        with self._lock:
            self._buckets[client] = (max(0.0, self._tokens(client, now) - 1.0), now)
            self._buckets.move_to_end(client)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)


@dataclass(frozen=True)
class SignatureBudget:
    """One request's client network and the failed SM2 verifications it has left (``FailedAuthLimit``)."""

    limit: FailedAuthLimit
    client: str
    now: float

    def failed(self, count: int = 1) -> None:
        """Count ``count`` signatures of this request that did not verify."""
        for _ in range(count):
            self.limit.failed(self.client, self.now)


def signature_budget(request: HTTPConnection) -> SignatureBudget:
    """The failed-verification budget of ``request``'s client network, shared by signed requests and
    submitted transactions. Raises AuthenticationError (429 ``auth_throttled``) when none is left: then
    nothing the request carries is verified."""
    client = client_network(request.client.host) if request.client is not None else ""
    budget = SignatureBudget(request.app.state.auth_failures, client, time.monotonic())
    budget.limit.check(client, budget.now)
    return budget


def client_network(host: str) -> str:
    """The network a client address is counted under: an IPv4 address itself (also when IPv4-mapped), an
    IPv6 address's /64; any other name (a Unix socket, a test client) as it is."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def spent_a_verification(error: XinlianError) -> bool:
    """Whether a refused signed request cost the node an SM2 verification: its signature did not verify,
    or it verified for a key that is no member or for a nonce already used."""
    return error.code in {"not_a_member", "replayed_request"} or error.detail.get("step") == "signature"


def _decrement(counter: Counter[_K], name: _K) -> None:
    """One less for ``name``; a name at zero leaves the counter (its size counts the holders)."""
    counter[name] -= 1
    if not counter[name]:
        del counter[name]


class SessionKeys:
    """Opens member sessions for one node and derives their keys: HMAC-SM3 under a secret drawn (CSPRNG)
    when the node starts, over the session tag, the chain id, the node's audience and the token. Nothing is
    stored per session; a restarted node has a new secret and epoch, so every older session ends."""

    def __init__(self, chain_id: int, audience: str, *, ttl_ms: int = SESSION_TTL_MS) -> None:
        self.chain_id = chain_id
        self.audience = audience
        self.ttl_ms = ttl_ms
        self._secret = secrets.token_bytes(32)
        self._epoch = secrets.token_bytes(8)

    def open(self, public_key: bytes, now_ms: int) -> Session:
        """A new session for the member whose account key is ``public_key``."""
        token = SessionToken(self._epoch, now_ms + self.ttl_ms, public_key, secrets.token_bytes(16))
        raw = token.to_bytes()
        return Session(token=raw, key=self._derive(raw), expires_ms=token.expires_ms)

    def key_for(self, token: SessionToken, now_ms: int) -> bytes:
        """The key of a token this node issued; raises AuthenticationError (``session_expired``) when the
        session has ended or was opened before the node restarted."""
        if token.epoch != self._epoch or now_ms >= token.expires_ms:
            raise AuthenticationError(
                "the session has ended (it expired, or the node restarted): open a new one "
                "(POST /v1/sessions)",
                code="session_expired",
            )
        return self._derive(token.to_bytes())

    def _derive(self, token: bytes) -> bytes:
        return hmac_sm3(
            self._secret, encode([SESSION_TAG, self.chain_id, self.audience.encode("utf-8"), token])
        )


def authenticate(
    ledger: Ledger,
    replay: ReplayCache,
    audience: str,
    *,
    headers: dict[str, str],
    method: str,
    path_and_query: str,
    body: bytes,
    sessions: SessionKeys | None = None,
) -> Member:
    """Verify a signed request (sdk.auth.verify_query) or a session request (verify_session_query, when the
    node has ``sessions``), accept its nonce once, and check membership.

    Raises AuthenticationError (401: unauthenticated, wrong_audience, stale_request, session_expired; then
    NotAMember 403; then replayed_request 401 or signer_busy 429).
    """
    now_ms = int(time.time() * 1000)
    lowered = {k.lower() for k in headers}
    in_session = HEADER_SESSION.lower() in lowered
    if in_session and (HEADER_KEY.lower() in lowered or HEADER_SIGNATURE.lower() in lowered):
        raise AuthenticationError("a request is either signed or within a session, not both")
    verify = (
        partial(verify_session_query, session_key=sessions.key_for)
        if sessions is not None and in_session
        else verify_query
    )
    signed = verify(
        headers,
        chain_id=ledger.chain.chain_id,
        audience=audience,
        method=method,
        path_and_query=path_and_query,
        body=body,
        now_ms=now_ms,
    )
    if not ledger.is_active_account(signed.address):
        raise NotAMember(
            "the signing key is not an active account of a registered organisation",
            address="0x" + signed.address.hex(),
        )
    # Only members' nonces are kept: keys anyone can generate never take room in the cache.
    uscc = ledger.organisation_of(signed.address)
    replay.remember(signed.public_key, signed.nonce, now_ms, owner=uscc)
    return Member(address=signed.address, uscc=uscc, public_key=signed.public_key)


def raw_path_and_query(request: HTTPConnection) -> str:
    """The path and query exactly as sent (percent-encoding included): what the member signed."""
    raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    query: bytes = request.scope.get("query_string") or b""
    return raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")


def authenticate_request(request: HTTPConnection, body: bytes) -> Member:
    """The member who signed ``request`` (whose body is ``body``), by the app's replay cache, audience and
    sessions (``authenticate``), within the failures its client address has left (``FailedAuthLimit``).
    A WebSocket handshake is a GET with an empty body.

    Raises AuthenticationError (429 ``auth_throttled`` first, before an SM2-signed request is verified, when
    the client's network has failed too many verifications; then as ``authenticate``) or NotAMember (403).
    """
    state = request.app.state
    headers = dict(request.headers)
    signed = HEADER_SIGNATURE.lower() in {k.lower() for k in headers}
    budget = signature_budget(request) if signed else None
    try:
        return authenticate(
            state.ledger,
            state.replay,
            state.audience,
            headers=headers,
            method=str(request.scope.get("method", "GET")),
            path_and_query=raw_path_and_query(request),
            body=body,
            sessions=state.sessions,
        )
    except XinlianError as exc:
        if budget is not None and spent_a_verification(exc):
            budget.failed()
        raise


async def get_signed_member(request: Request) -> Member:
    """FastAPI dependency: the member who signed this request.

    Raises AuthenticationError (401 / 429) or NotAMember (403). A request without signature headers is
    refused without its body being read: a body that never arrives holds nothing but its own connection.
    """
    known: Member | None = getattr(request.state, "member", None)
    if known is not None:  # authenticated already by another dependency (e.g. the heavy-request slot)
        return known
    body = await request.body() if has_signature(dict(request.headers)) else b""
    member = authenticate_request(request, body)
    request.state.member = member
    return member


async def get_optional_member(request: Request) -> Member | None:
    """FastAPI dependency: the signing member of a signed request, None for an anonymous one (a route that
    serves some things publicly decides). A bad signature is refused as by ``get_signed_member``."""
    if not has_signature(dict(request.headers)):
        return None
    return await get_signed_member(request)


MemberDep = Annotated[Member, Depends(get_signed_member)]
OptionalMemberDep = Annotated[Member | None, Depends(get_optional_member)]

__all__ = [
    "AuthenticationError",
    "Member",
    "MemberDep",
    "NotAMember",
    "OptionalMemberDep",
    "ReplayCache",
    "SessionKeys",
    "authenticate",
    "authenticate_request",
    "get_optional_member",
    "get_signed_member",
    "raw_path_and_query",
]
