"""Member-signed queries: SM2 request signatures that let a node reveal a member's own business records."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sdk.crypto import PrivateKey, PublicKey, sm3
from sdk.encoding import encode
from sdk.errors import AuthenticationError, InvalidSignatureError, XinlianError

QUERY_TAG = b"xinlian/query/1"
HEADER_KEY = "X-Xinlian-Key"
HEADER_TIME = "X-Xinlian-Time"
HEADER_SIGNATURE = "X-Xinlian-Signature"
MAX_SKEW_MS = 60_000


def compute_query_preimage(
    chain_id: int, method: str, path_and_query: str, timestamp_ms: int, body: bytes
) -> bytes:
    """RLP([tag, chain id, METHOD, path?query, timestamp ms, SM3(body)]): what a member signs for a query."""
    return encode(
        [
            QUERY_TAG,
            chain_id,
            method.upper().encode("ascii"),
            path_and_query.encode("utf-8"),
            timestamp_ms,
            sm3(body),
        ]
    )


def sign_query(
    key: PrivateKey,
    *,
    chain_id: int,
    method: str,
    path_and_query: str,
    body: bytes = b"",
    timestamp_ms: int | None = None,
) -> dict[str, str]:
    """Return the three headers that authenticate one request as coming from ``key``'s account."""
    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    signature = key.sign(compute_query_preimage(chain_id, method, path_and_query, ts, body))
    return {
        HEADER_KEY: key.public_key.to_bytes().hex(),
        HEADER_TIME: str(ts),
        HEADER_SIGNATURE: signature.hex(),
    }


@dataclass(frozen=True)
class SignedQuery:
    """A verified request signature: who signed (public key, address) and when."""

    public_key: bytes
    address: bytes
    timestamp_ms: int


def verify_query(
    headers: dict[str, str],
    *,
    chain_id: int,
    method: str,
    path_and_query: str,
    body: bytes,
    now_ms: int,
    max_skew_ms: int = MAX_SKEW_MS,
) -> SignedQuery:
    """Check the request signature headers; returns who signed, or raises AuthenticationError.

    Headers are looked up case-insensitively. The timestamp must be within ``max_skew_ms`` of ``now_ms``.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        key_hex = lowered[HEADER_KEY.lower()]
        ts_text = lowered[HEADER_TIME.lower()]
        sig_hex = lowered[HEADER_SIGNATURE.lower()]
    except KeyError as exc:
        raise AuthenticationError(
            f"this query needs a member signature: headers {HEADER_KEY}, {HEADER_TIME}, {HEADER_SIGNATURE}"
        ) from exc
    try:
        public = PublicKey.from_bytes(bytes.fromhex(key_hex))
        signature = bytes.fromhex(sig_hex)
        timestamp_ms = int(ts_text)
    except (ValueError, XinlianError) as exc:
        raise AuthenticationError("member signature headers are malformed") from exc
    if abs(now_ms - timestamp_ms) > max_skew_ms:
        raise AuthenticationError(
            f"request timestamp is {abs(now_ms - timestamp_ms) // 1000} s away from the node's clock "
            f"(limit {max_skew_ms // 1000} s)",
            code="stale_request",
        )
    preimage = compute_query_preimage(chain_id, method, path_and_query, timestamp_ms, body)
    try:
        public.verify(preimage, signature)
    except InvalidSignatureError as exc:
        raise AuthenticationError("member signature does not verify for this request") from exc
    return SignedQuery(public_key=public.to_bytes(), address=public.address, timestamp_ms=timestamp_ms)
