"""The handshake of a link, once TLS is up: HELLO (version, chain, genesis, key, nonce, height) then AUTH
both ways.

Each side proves its SM2 key by signing the other's fresh nonce under a domain tag with the chain id, the
genesis hash and the hashes of both TLS certificates, so a link is bound to one chain and one TLS session,
and neither side's signature can be replayed or relayed on another link.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Container
from dataclasses import dataclass

from node.p2p.peers import P2PStats
from node.p2p.wire import (
    HANDSHAKE_MAX_FRAME_BYTES,
    P2P_VERSION,
    FrameType,
    Hello,
    P2PError,
    compute_handshake_preimage,
    decode_hello,
    encode_frame,
    encode_hello,
    read_frame,
)
from sdk.crypto import PrivateKey, PublicKey
from sdk.errors import CryptoError


@dataclass(frozen=True, slots=True)
class LinkCertificates:
    """The SHA-256 of the TLS certificates of one link, as this node sees them: its own and its peer's."""

    own: bytes
    peer: bytes


async def exchange_hellos(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    ours: Hello,
    key: PrivateKey,
    certificates: LinkCertificates,
    own_nonces: Container[bytes],
    refusal: Callable[[bytes], str | None],
    stats: P2PStats,
) -> tuple[Hello, bool]:
    """Run HELLO/AUTH; returns the peer's HELLO and whether the peer is this node itself.

    ``certificates`` are the link's TLS certificates, which both signatures cover; ``own_nonces`` are the
    nonces of this node's live handshakes; ``refusal`` says why a peer key is refused (None to go on).
    Nothing is decided on the peer's key before its AUTH verified, except refusing the link. Raises
    P2PError, EncodingError for a malformed HELLO (and the I/O errors of a broken exchange).
    """
    writer.write(encode_frame(FrameType.HELLO, encode_hello(ours)))
    await writer.drain()
    kind, payload = await read_frame(reader, HANDSHAKE_MAX_FRAME_BYTES)
    if kind != FrameType.HELLO:
        raise P2PError("expected HELLO")
    theirs = decode_hello(payload)
    if theirs.version != P2P_VERSION:
        raise P2PError("unsupported p2p version", version=theirs.version)
    if theirs.chain_id != ours.chain_id or theirs.genesis_hash != ours.genesis_hash:
        raise P2PError("peer is on another chain", chain_id=theirs.chain_id)
    is_self = theirs.public_key == ours.public_key
    if is_self:
        # Only another live handshake of this node carries its key with one of its nonces; our own nonce
        # echoed back would let the peer reflect our AUTH as its own.
        if theirs.nonce == ours.nonce or theirs.nonce not in own_nonces:
            stats.add("impostor_hellos")
            raise P2PError("peer claims this node's key")
    else:
        reason = refusal(theirs.public_key)
        if reason is not None:
            raise P2PError(reason)
    preimage = compute_handshake_preimage(
        ours.chain_id,
        ours.genesis_hash,
        theirs.nonce,
        ours.public_key,
        theirs.public_key,
        certificates.own,
        certificates.peer,
    )
    writer.write(encode_frame(FrameType.AUTH, key.sign(preimage)))
    await writer.drain()
    kind, signature = await read_frame(reader, HANDSHAKE_MAX_FRAME_BYTES)
    if kind != FrameType.AUTH:
        raise P2PError("expected AUTH")
    expected = compute_handshake_preimage(
        ours.chain_id,
        ours.genesis_hash,
        ours.nonce,
        theirs.public_key,
        ours.public_key,
        certificates.peer,
        certificates.own,
    )
    try:
        PublicKey.from_bytes(theirs.public_key).verify(expected, signature)
    except CryptoError as exc:
        stats.add("bad_auth_signatures")
        raise P2PError("the peer's AUTH does not verify for its key on this TLS link") from exc
    return theirs, is_self
