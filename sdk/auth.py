"""Member-signed requests: SM2 request signatures that let a node reveal a member's own business records.

One scheme for REST and JSON-RPC. A signature covers the domain tag, the chain id, the node it is meant for
(its audience, published in ``/v1/chain``), the method, the exact path and query, the time, a fresh random
nonce and the SM3 of the body. A node accepts it once (it remembers nonces for the window), only within
``MAX_SKEW_MS`` of its clock, and only when the audience is its own: a request captured at one node cannot
be replayed there or at another node.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Generator
from dataclasses import dataclass

import httpx

from sdk.crypto import PrivateKey, PublicKey, sm3
from sdk.encoding import encode
from sdk.errors import AuthenticationError, InvalidSignatureError, XinlianError

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


def compute_query_preimage(
    chain_id: int,
    audience: str,
    method: str,
    path_and_query: str,
    timestamp_ms: int,
    nonce: bytes,
    body: bytes,
) -> bytes:
    """RLP([tag, chain id, audience, METHOD, path?query, timestamp ms, nonce, SM3(body)]): what a member
    signs for one request."""
    return encode(
        [
            QUERY_TAG,
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
    key: PrivateKey,
    *,
    chain_id: int,
    audience: str,
    method: str,
    path_and_query: str,
    body: bytes = b"",
    timestamp_ms: int | None = None,
    nonce: bytes | None = None,
) -> dict[str, str]:
    """Return the headers that authenticate one request to the node ``audience`` as ``key``'s account.

    A fresh CSPRNG nonce is drawn unless ``nonce`` is given (tests that replay a request pass one).
    """
    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    nonce = secrets.token_bytes(NONCE_BYTES) if nonce is None else nonce
    preimage = compute_query_preimage(chain_id, audience, method, path_and_query, ts, nonce, body)
    return {
        HEADER_KEY: key.public_key.to_bytes().hex(),
        HEADER_TIME: str(ts),
        HEADER_NONCE: nonce.hex(),
        HEADER_AUDIENCE: audience,
        HEADER_SIGNATURE: key.sign(preimage).hex(),
    }


@dataclass(frozen=True)
class SignedQuery:
    """A verified request signature: who signed (public key, address), when, and its nonce."""

    public_key: bytes
    address: bytes
    timestamp_ms: int
    nonce: bytes


def has_signature(headers: dict[str, str]) -> bool:
    """Whether a request carries any of the signature headers (a request with some of them is checked,
    and refused when they are incomplete)."""
    lowered = {k.lower() for k in headers}
    return any(name.lower() in lowered for name in SIGNED_HEADERS)


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
    try:
        key_hex, ts_text, nonce_hex, claimed_audience, sig_hex = (
            lowered[name.lower()] for name in SIGNED_HEADERS
        )
    except KeyError as exc:
        raise AuthenticationError(
            "this request reads member data and needs a member signature: with the SDK, "
            "Client(url, signer=Signer.from_pem(key_file)); over raw HTTP, the headers "
            + ", ".join(SIGNED_HEADERS)
            + " (docs/read-access.md)"
        ) from exc
    try:
        public = PublicKey.from_bytes(bytes.fromhex(key_hex))
        signature = bytes.fromhex(sig_hex)
        nonce = bytes.fromhex(nonce_hex)
        timestamp_ms = int(ts_text)
    except (ValueError, XinlianError) as exc:
        raise AuthenticationError("member signature headers are malformed") from exc
    if len(nonce) != NONCE_BYTES:
        raise AuthenticationError(f"the request nonce must be {NONCE_BYTES} random bytes (hex)")
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
    preimage = compute_query_preimage(chain_id, audience, method, path_and_query, timestamp_ms, nonce, body)
    try:
        public.verify(preimage, signature)
    except InvalidSignatureError as exc:
        raise AuthenticationError("member signature does not verify for this request") from exc
    return SignedQuery(
        public_key=public.to_bytes(), address=public.address, timestamp_ms=timestamp_ms, nonce=nonce
    )


class MemberAuth(httpx.Auth):
    """httpx authentication that signs every request as a member (``sign_query``), for callers who use
    httpx directly: ``httpx.Client(base_url=url, auth=MemberAuth(signer.private_key, chain_id, audience))``,
    with the chain id and audience the node publishes in ``/v1/chain``. The SDK's ``Client(url,
    signer=...)`` does the same for you."""

    requires_request_body = True

    def __init__(self, key: PrivateKey, chain_id: int, audience: str) -> None:
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
