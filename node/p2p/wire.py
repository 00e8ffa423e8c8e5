"""P2P wire format (inside a TLS 1.3 link): length-prefixed frames, the authenticated handshake, and the
payload codecs (RLP)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

from sdk.encoding import decode, decode_int, encode
from sdk.errors import EncodingError, XinlianError

#: Protocol version carried in HELLO; peers with another version are refused. Version 2 runs over TLS 1.3
#: and binds the handshake signature to both TLS certificates.
P2P_VERSION: int = 2
#: Domain tag of the handshake signature (never valid as a transaction, seal or consensus signature).
HANDSHAKE_TAG: bytes = b"xinlian/p2p-handshake/2"
#: Largest accepted frame (type byte + payload): a full proposal with its justification fits.
MAX_FRAME_BYTES: int = 32 * 1024 * 1024
#: Before a peer has proven its key, frames are tiny (HELLO, AUTH): refuse anything larger unread.
HANDSHAKE_MAX_FRAME_BYTES: int = 4 * 1024
#: After the handshake, STATUS and GET_BLOCKS frames (a couple of integers) are never larger than this.
MAX_CONTROL_FRAME_BYTES: int = 1024
#: Frame header: 4-byte big-endian length of what follows (type byte + payload).
FRAME_HEADER_BYTES: int = 4
NONCE_BYTES: int = 32
PUBLIC_KEY_BYTES: int = 64


class P2PError(XinlianError):
    """A peer broke the protocol (bad frame, bad handshake, wrong chain)."""

    code = "p2p_error"


class FrameType(IntEnum):
    HELLO = 1  # [version, chain_id, genesis_hash, public_key, nonce, height]
    AUTH = 2  # [signature over the peer's nonce]
    CONSENSUS = 3  # one encoded consensus message (signed by its author inside)
    TRANSACTIONS = 4  # [raw transaction, ...]
    GET_BLOCKS = 5  # [from_height, max_count]
    BLOCKS = 6  # [[block, certificate], ...]
    STATUS = 7  # [height]
    GET_SNAPSHOT = 8  # [0] (the peer's most recent sealed state snapshot)
    SNAPSHOT = 9  # one encoded snapshot manifest (node.ledger.snapshot)
    GET_STATE = 10  # [state node key, ...]
    STATE = 11  # [state node value, ...] (what the peer has of the keys asked)
    GET_HISTORY = 12  # [top_height, max_count] (blocks below a snapshot, for a node back-filling them)
    HISTORY = 13  # [[block, certificate, [receipt, ...]], ...] from top_height down (node.ledger.backfill)


@dataclass(frozen=True, slots=True)
class Hello:
    version: int
    chain_id: int
    genesis_hash: bytes
    public_key: bytes
    nonce: bytes
    height: int


# --- frames ----------------------------------------------------------------------------------------------
def encode_frame(kind: FrameType, payload: bytes) -> bytes:
    """Return ``length ‖ type ‖ payload``. Raises P2PError for a payload above MAX_FRAME_BYTES."""
    size = len(payload) + 1
    if size > MAX_FRAME_BYTES:
        raise P2PError("frame too large", size=size, limit=MAX_FRAME_BYTES)
    return size.to_bytes(FRAME_HEADER_BYTES, "big") + bytes([kind]) + payload


async def read_frame(
    reader: asyncio.StreamReader,
    max_bytes: int = MAX_FRAME_BYTES,
    kind_limits: Mapping[int, int] | None = None,
) -> tuple[int, bytes]:
    """Read one frame; returns (type byte, payload).

    ``kind_limits`` caps the frame size per type byte (a type absent from it is held to ``max_bytes``); the
    type is read before the payload so an oversized frame is refused unread. Raises P2PError for an empty or
    oversized frame, asyncio.IncompleteReadError at end of stream.
    """
    header = await reader.readexactly(FRAME_HEADER_BYTES)
    size = int.from_bytes(header, "big")
    if size == 0 or size > max_bytes:
        raise P2PError("bad frame length", size=size)
    kind = (await reader.readexactly(1))[0]
    if kind_limits is not None and size > kind_limits.get(kind, max_bytes):
        raise P2PError("frame too large for its type", kind=kind, size=size)
    payload = await reader.readexactly(size - 1) if size > 1 else b""
    return kind, payload


# --- handshake -------------------------------------------------------------------------------------------
def encode_hello(hello: Hello) -> bytes:
    """Return the RLP payload of a HELLO frame."""
    return encode(
        [
            hello.version,
            hello.chain_id,
            hello.genesis_hash,
            hello.public_key,
            hello.nonce,
            hello.height,
        ]
    )


def decode_hello(payload: bytes) -> Hello:
    """Return the HELLO in ``payload``. Raises EncodingError when malformed."""
    item = decode(payload)
    if not isinstance(item, list) or len(item) != 6:
        raise EncodingError("HELLO must be a 6-item list")
    version, chain_id, genesis_hash, public_key, nonce, height = item
    if not isinstance(genesis_hash, bytes) or len(genesis_hash) != 32:
        raise EncodingError("HELLO genesis hash must be 32 bytes")
    if not isinstance(public_key, bytes) or len(public_key) != PUBLIC_KEY_BYTES:
        raise EncodingError("HELLO public key must be 64 bytes")
    if not isinstance(nonce, bytes) or len(nonce) != NONCE_BYTES:
        raise EncodingError("HELLO nonce must be 32 bytes")
    return Hello(
        version=decode_int(version, "version"),
        chain_id=decode_int(chain_id, "chain_id"),
        genesis_hash=genesis_hash,
        public_key=public_key,
        nonce=nonce,
        height=decode_int(height, "height"),
    )


def compute_handshake_preimage(
    chain_id: int,
    genesis_hash: bytes,
    challenge: bytes,
    signer_key: bytes,
    verifier_key: bytes,
    signer_certificate_hash: bytes,
    verifier_certificate_hash: bytes,
) -> bytes:
    """Return what a node signs to prove its key to a peer: the tag, the chain, the peer's fresh nonce, both
    keys and the SHA-256 of both ends' TLS certificates as the signer sees them.

    A signature is bound to this chain, this session, this pair of nodes and this TLS link: relayed over
    another link (a man in the middle holding another TLS key), the verifier sees other certificates and
    the signature does not verify.
    """
    return encode(
        [
            HANDSHAKE_TAG,
            chain_id,
            genesis_hash,
            challenge,
            signer_key,
            verifier_key,
            signer_certificate_hash,
            verifier_certificate_hash,
        ]
    )


# --- payloads --------------------------------------------------------------------------------------------
def encode_bytes_list(items: list[bytes]) -> bytes:
    """Return RLP([item, ...]) (TRANSACTIONS payloads)."""
    return encode(items)


def decode_bytes_list(payload: bytes, *, limit: int) -> list[bytes]:
    """Return the strings of an RLP list. Raises EncodingError for nesting or more than ``limit`` items."""
    item = decode(payload)
    if not isinstance(item, list) or len(item) > limit:
        raise EncodingError("expected a bounded list of strings")
    out: list[bytes] = []
    for x in item:
        if not isinstance(x, bytes):
            raise EncodingError("expected a list of strings")
        out.append(x)
    return out


def encode_uints(*values: int) -> bytes:
    """Return RLP([value, ...]) (GET_BLOCKS and STATUS payloads)."""
    return encode(list(values))


def decode_uints(payload: bytes, count: int) -> tuple[int, ...]:
    """Return the ``count`` integers of an RLP list. Raises EncodingError otherwise."""
    item = decode(payload)
    if not isinstance(item, list) or len(item) != count:
        raise EncodingError(f"expected a list of {count} integers")
    return tuple(decode_int(x, "integer") for x in item)


def encode_block_pairs(pairs: list[tuple[bytes, bytes]]) -> bytes:
    """Return RLP([[block, certificate], ...]) (BLOCKS payloads; both already canonical encodings)."""
    return encode([[block, cert] for block, cert in pairs])


def decode_block_pairs(payload: bytes, *, limit: int) -> list[tuple[bytes, bytes]]:
    """Return the (block, certificate) encodings of a BLOCKS payload. Raises EncodingError when malformed."""
    item = decode(payload)
    if not isinstance(item, list) or len(item) > limit:
        raise EncodingError("expected a bounded list of [block, certificate]")
    out: list[tuple[bytes, bytes]] = []
    for pair in item:
        if not isinstance(pair, list) or len(pair) != 2:
            raise EncodingError("expected [block, certificate]")
        block, cert = pair
        if not isinstance(block, bytes) or not isinstance(cert, bytes):
            raise EncodingError("expected [block, certificate] strings")
        out.append((block, cert))
    return out
