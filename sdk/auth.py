"""Member-signed requests: SM2 request signatures that let a node reveal a member's own business records.

One scheme for REST and JSON-RPC. A signature covers the domain tag, the chain id, the node it is meant for
(its audience, published in ``/v1/chain``), the method, the exact path and query, the time, a fresh random
nonce and the SM3 of the body. A node accepts it once (it remembers nonces for the window), only within
``MAX_SKEW_MS`` of its clock, and only when the audience is its own: a request captured at one node cannot
be replayed there or at another node.

Sessions make the same guarantees cheaper for a member that sends many requests to one node over https: one
signed ``POST /v1/sessions`` returns a session (a token and a key, for ``SESSION_TTL_MS``), and each later
request carries the token and an HMAC-SM3 of the same preimage under the session key instead of an SM2
signature, with the same audience, time window and once-only nonce. The key travels only in that https
answer; the node derives it from the token and a secret of its own, so it keeps no session table, and a
restarted node ends every session (``session_expired``: open a new one).
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import httpx

from sdk.crypto import PublicKey, hmac_sm3, sm3
from sdk.encoding import encode
from sdk.errors import AuthenticationError, InvalidSignatureError, XinlianError
from sdk.keyholder import SigningKey, public_key_bytes, sign_checked

QUERY_TAG = b"xinlian/query/2"
HEADER_KEY = "X-Xinlian-Key"
HEADER_TIME = "X-Xinlian-Time"
HEADER_NONCE = "X-Xinlian-Nonce"
HEADER_AUDIENCE = "X-Xinlian-Audience"
HEADER_SIGNATURE = "X-Xinlian-Signature"
SIGNED_HEADERS = (HEADER_KEY, HEADER_TIME, HEADER_NONCE, HEADER_AUDIENCE, HEADER_SIGNATURE)
#: How far a request's time may be from the node's clock; nonces are remembered for twice this.
MAX_SKEW_MS = 30_000
NONCE_BYTES = 16
MAX_AUDIENCE_BYTES = 128

MAC_TAG = b"xinlian/query-mac/1"
SESSION_TAG = b"xinlian/session/1"
HEADER_SESSION = "X-Xinlian-Session"
HEADER_MAC = "X-Xinlian-Mac"
SESSION_HEADERS = (HEADER_SESSION, HEADER_TIME, HEADER_NONCE, HEADER_AUDIENCE, HEADER_MAC)
SESSION_VERSION = 1
SESSION_TOKEN_BYTES = 1 + 8 + 8 + 64 + 16
#: How long a session lasts; membership is still checked on every request.
SESSION_TTL_MS = 10 * 60_000


def compute_query_preimage(
    chain_id: int,
    audience: str,
    method: str,
    path_and_query: str,
    timestamp_ms: int,
    nonce: bytes,
    body: bytes,
    *,
    tag: bytes = QUERY_TAG,
) -> bytes:
    """RLP([tag, chain id, audience, METHOD, path?query, timestamp ms, nonce, SM3(body)]): what a member
    signs for one request (``QUERY_TAG``), or authenticates within a session (``MAC_TAG``)."""
    return encode(
        [
            tag,
            chain_id,
            audience.encode("utf-8"),
            method.upper().encode("ascii"),
            path_and_query.encode("utf-8"),
            timestamp_ms,
            nonce,
            sm3(body),
        ]
    )


def sign_query(
    key: SigningKey,
    *,
    chain_id: int,
    audience: str,
    method: str,
    path_and_query: str,
    body: bytes = b"",
    timestamp_ms: int | None = None,
    nonce: bytes | None = None,
) -> dict[str, str]:
    """Return the headers that authenticate one request to the node ``audience`` as ``key``'s account
    (``key``: a KeyHolder, or a bare PrivateKey).

    A fresh CSPRNG nonce is drawn unless ``nonce`` is given (tests that replay a request pass one).
    """
    preimage, stamp = _stamp(QUERY_TAG, chain_id, audience, method, path_and_query, body, timestamp_ms, nonce)
    return {
        HEADER_KEY: public_key_bytes(key).hex(),
        **stamp,
        HEADER_SIGNATURE: sign_checked(key, preimage).hex(),
    }


def _stamp(
    tag: bytes,
    chain_id: int,
    audience: str,
    method: str,
    path_and_query: str,
    body: bytes,
    timestamp_ms: int | None,
    nonce: bytes | None,
) -> tuple[bytes, dict[str, str]]:
    """The preimage of one request under ``tag``, stamped now (unless ``timestamp_ms``) with a fresh CSPRNG
    nonce (unless ``nonce``), and the time, nonce and audience headers that every authenticated request
    carries."""
    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    nonce = secrets.token_bytes(NONCE_BYTES) if nonce is None else nonce
    preimage = compute_query_preimage(chain_id, audience, method, path_and_query, ts, nonce, body, tag=tag)
    return preimage, {HEADER_TIME: str(ts), HEADER_NONCE: nonce.hex(), HEADER_AUDIENCE: audience}


@dataclass(frozen=True)
class SignedQuery:
    """A verified request signature: who signed (public key, address), when, and its nonce."""

    public_key: bytes
    address: bytes
    timestamp_ms: int
    nonce: bytes


def has_signature(headers: dict[str, str]) -> bool:
    """Whether a request carries any of the signature or session headers (a request with some of them is
    checked, and refused when they are incomplete)."""
    lowered = {k.lower() for k in headers}
    return any(name.lower() in lowered for name in (*SIGNED_HEADERS, HEADER_SESSION, HEADER_MAC))


def _header_values(lowered: dict[str, str], names: tuple[str, ...]) -> list[str]:
    try:
        return [lowered[name.lower()] for name in names]
    except KeyError as exc:
        raise AuthenticationError(
            "this request reads member data and needs a member signature: with the SDK, "
            "Client(url, signer=Signer.from_pem(key_file)); over raw HTTP, the headers "
            + ", ".join(SIGNED_HEADERS)
            + " (docs/read-access.md)"
        ) from exc


def _check_fresh(
    claimed_audience: str, audience: str, timestamp_ms: int, now_ms: int, max_skew_ms: int
) -> None:
    """The audience is this node's (constant time) and the time within ``max_skew_ms`` of its clock."""
    claimed = claimed_audience.encode("utf-8", errors="replace")
    if len(claimed) > MAX_AUDIENCE_BYTES or not hmac.compare_digest(claimed, audience.encode("utf-8")):
        raise AuthenticationError(
            "the request is signed for another node (its audience is not this node's; see /v1/chain)",
            code="wrong_audience",
        )
    if abs(now_ms - timestamp_ms) > max_skew_ms:
        raise AuthenticationError(
            f"request timestamp is {abs(now_ms - timestamp_ms) // 1000} s away from the node's clock "
            f"(limit {max_skew_ms // 1000} s)",
            code="stale_request",
        )


def _time_and_nonce(ts_text: str, nonce_hex: str) -> tuple[int, bytes]:
    try:
        timestamp_ms, nonce = int(ts_text), bytes.fromhex(nonce_hex)
    except ValueError as exc:
        raise AuthenticationError("member signature headers are malformed") from exc
    if len(nonce) != NONCE_BYTES:
        raise AuthenticationError(f"the request nonce must be {NONCE_BYTES} random bytes (hex)")
    return timestamp_ms, nonce


def verify_query(
    headers: dict[str, str],
    *,
    chain_id: int,
    audience: str,
    method: str,
    path_and_query: str,
    body: bytes,
    now_ms: int,
    max_skew_ms: int = MAX_SKEW_MS,
) -> SignedQuery:
    """Check the request signature headers; returns who signed, or raises AuthenticationError.

    Checks, cheapest first: all headers present and well formed (``unauthenticated``), the audience is this
    node (``wrong_audience``), the time within ``max_skew_ms`` of ``now_ms`` (``stale_request``), the SM2
    signature (``unauthenticated``). Whether the nonce was seen before is the caller's replay cache's job.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    key_hex, ts_text, nonce_hex, claimed_audience, sig_hex = _header_values(lowered, SIGNED_HEADERS)
    timestamp_ms, nonce = _time_and_nonce(ts_text, nonce_hex)
    try:
        public = PublicKey.from_bytes(bytes.fromhex(key_hex))
        signature = bytes.fromhex(sig_hex)
    except (ValueError, XinlianError) as exc:
        raise AuthenticationError("member signature headers are malformed") from exc
    _check_fresh(claimed_audience, audience, timestamp_ms, now_ms, max_skew_ms)
    preimage = compute_query_preimage(chain_id, audience, method, path_and_query, timestamp_ms, nonce, body)
    try:
        public.verify(preimage, signature)
    except InvalidSignatureError as exc:
        raise AuthenticationError(
            "member signature does not verify for this request", step="signature"
        ) from exc
    return SignedQuery(
        public_key=public.to_bytes(), address=public.address, timestamp_ms=timestamp_ms, nonce=nonce
    )


# --- sessions: one SM2 signature, then an HMAC-SM3 per request --------------------------------------------
@dataclass(frozen=True)
class SessionToken:
    """The public half of a member session, as the node issued it: ``version(1) || epoch(8) ||
    expires_ms(8) || public key(64) || id(16)``. The epoch names the node's session secret (a restarted
    node has a new one, so its old sessions end); the node derives the session key from the token."""

    epoch: bytes
    expires_ms: int
    public_key: bytes
    session_id: bytes

    def to_bytes(self) -> bytes:
        return (
            bytes([SESSION_VERSION])
            + self.epoch
            + self.expires_ms.to_bytes(8, "big")
            + self.public_key
            + self.session_id
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> SessionToken:
        """Parse a token; raises AuthenticationError (``unauthenticated``) when it is not one."""
        if len(raw) != SESSION_TOKEN_BYTES or raw[0] != SESSION_VERSION:
            raise AuthenticationError(
                "the session token is malformed: open a new session (POST /v1/sessions)"
            )
        return cls(raw[1:9], int.from_bytes(raw[9:17], "big"), raw[17:81], raw[81:97])


@dataclass(frozen=True)
class Session:
    """A member session: the token the node issued, the key only the member and the node know, and when
    it ends (unix ms)."""

    token: bytes
    key: bytes = field(repr=False)  # never printed
    expires_ms: int


def mac_query(
    session: Session,
    *,
    chain_id: int,
    audience: str,
    method: str,
    path_and_query: str,
    body: bytes = b"",
    timestamp_ms: int | None = None,
    nonce: bytes | None = None,
) -> dict[str, str]:
    """Return the headers that authenticate one request within ``session``: the same preimage as
    ``sign_query`` under its own domain tag, authenticated with HMAC-SM3 under the session key."""
    preimage, stamp = _stamp(MAC_TAG, chain_id, audience, method, path_and_query, body, timestamp_ms, nonce)
    return {HEADER_SESSION: session.token.hex(), **stamp, HEADER_MAC: hmac_sm3(session.key, preimage).hex()}


def verify_session_query(
    headers: dict[str, str],
    *,
    session_key: Callable[[SessionToken, int], bytes],
    chain_id: int,
    audience: str,
    method: str,
    path_and_query: str,
    body: bytes,
    now_ms: int,
    max_skew_ms: int = MAX_SKEW_MS,
) -> SignedQuery:
    """Check the session headers (``mac_query``); returns whose session it is, or raises
    AuthenticationError. ``session_key(token, now_ms)`` is the node's: it returns the token's key, or raises
    ``session_expired``. The MAC is compared in constant time."""
    lowered = {k.lower(): v for k, v in headers.items()}
    token_hex, ts_text, nonce_hex, claimed_audience, mac_hex = _header_values(lowered, SESSION_HEADERS)
    timestamp_ms, nonce = _time_and_nonce(ts_text, nonce_hex)
    try:
        token = SessionToken.from_bytes(bytes.fromhex(token_hex))
        mac = bytes.fromhex(mac_hex)
        public = PublicKey.from_bytes(token.public_key)
    except (ValueError, XinlianError) as exc:
        raise AuthenticationError("member session headers are malformed") from exc
    _check_fresh(claimed_audience, audience, timestamp_ms, now_ms, max_skew_ms)
    key = session_key(token, now_ms)
    preimage = compute_query_preimage(
        chain_id, audience, method, path_and_query, timestamp_ms, nonce, body, tag=MAC_TAG
    )
    if not hmac.compare_digest(hmac_sm3(key, preimage), mac):
        raise AuthenticationError("the session MAC does not verify for this request")
    return SignedQuery(
        public_key=token.public_key, address=public.address, timestamp_ms=timestamp_ms, nonce=nonce
    )


class MemberAuth(httpx.Auth):
    """httpx authentication that signs every request as a member (``sign_query``), for callers who use
    httpx directly: ``httpx.Client(base_url=url, auth=MemberAuth(signer, chain_id, audience))`` with any
    sdk.keyholder.KeyHolder as ``signer``, and the chain id and audience the node publishes in
    ``/v1/chain``. The SDK's ``Client(url, signer=...)`` does the same for you."""

    requires_request_body = True

    def __init__(self, key: SigningKey, chain_id: int, audience: str) -> None:
        self.key = key
        self.chain_id = chain_id
        self.audience = audience

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(
            sign_query(
                self.key,
                chain_id=self.chain_id,
                audience=self.audience,
                method=request.method,
                path_and_query=request.url.raw_path.decode("ascii"),
                body=request.content,
            )
        )
        yield request
