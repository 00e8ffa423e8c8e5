"""QBFT consensus messages: frozen dataclasses, canonical RLP encoding and domain-tagged signing preimages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Generic, Protocol, TypeAlias, TypeVar

from sdk.encoding import decode as rlp_decode, encode as rlp_encode
from sdk.errors import EncodingError
from sdk.types import commit_preimage

#: Domain tag of every consensus-message signing preimage (commit seals use ``sdk.types.COMMIT_TAG``).
CONSENSUS_TAG: bytes = b"xinlian/qbft/1"
DIGEST_BYTES: int = 32
PUBLIC_KEY_BYTES: int = 64
SIGNATURE_BYTES: int = 64
#: Upper bound on the justification lists a message may carry (far above any validator set we run).
MAX_JUSTIFICATION_ENTRIES: int = 1024
#: Upper bound on an encoded message; larger inputs are refused before RLP decoding.
MAX_MESSAGE_BYTES: int = 64 * 1024 * 1024

BlockT = TypeVar("BlockT")
PayloadT = TypeVar("PayloadT")


class MessageKind(IntEnum):
    """The four QBFT message kinds; the value is the first item of every encoding and preimage."""

    PROPOSAL = 1
    PREPARE = 2
    COMMIT = 3
    ROUND_CHANGE = 4


# --- unsigned payloads -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ProposalPayload:
    height: int
    round: int
    digest: bytes  # block_hash of the proposed block (whose header carries this round)


@dataclass(frozen=True, slots=True)
class PreparePayload:
    height: int
    round: int
    digest: bytes


@dataclass(frozen=True, slots=True)
class CommitPayload:
    height: int
    round: int
    digest: bytes
    commit_seal: bytes  # SM2 signature over compute_commit_seal_preimage(chain_id, height, round, digest)


@dataclass(frozen=True, slots=True)
class RoundChangePayload:
    height: int
    round: int  # the round the author moves to
    prepared_round: int | None  # both None, or both set with prepared_round < round
    prepared_digest: bytes | None


@dataclass(frozen=True, slots=True)
class Signed(Generic[PayloadT]):
    """A payload with its author's 64-byte SM2 public key and signature over the domain-tagged preimage."""

    payload: PayloadT
    author: bytes
    signature: bytes


# --- messages ----------------------------------------------------------------------------------------
class _Positioned(Protocol):
    """What every payload carries: the height and round it speaks for."""

    @property
    def height(self) -> int: ...

    @property
    def round(self) -> int: ...


PositionedT = TypeVar("PositionedT", bound=_Positioned)


@dataclass(frozen=True, slots=True)
class _SignedMessage(Generic[PositionedT]):
    """The part every message shares: its signed payload, and the height, round and author read from it."""

    signed: Signed[PositionedT]

    @property
    def height(self) -> int:
        return self.signed.payload.height

    @property
    def round(self) -> int:
        return self.signed.payload.round

    @property
    def author(self) -> bytes:
        return self.signed.author


@dataclass(frozen=True, slots=True)
class Proposal(_SignedMessage[ProposalPayload], Generic[BlockT]):
    """PROPOSAL: the block plus, for round > 0, the round-change and prepare justifications."""

    block: BlockT
    round_changes: tuple[Signed[RoundChangePayload], ...] = ()
    prepares: tuple[Signed[PreparePayload], ...] = ()


@dataclass(frozen=True, slots=True)
class Prepare(_SignedMessage[PreparePayload]):
    """PREPARE: a validator's vote that it accepted the round's proposal."""


@dataclass(frozen=True, slots=True)
class Commit(_SignedMessage[CommitPayload]):
    """COMMIT: a validator's vote to commit the proposal, carrying its commit seal."""


@dataclass(frozen=True, slots=True)
class RoundChange(_SignedMessage[RoundChangePayload], Generic[BlockT]):
    """ROUND-CHANGE: the signed payload plus the prepared certificate (block and PREPAREs) it claims."""

    prepared_block: BlockT | None = None
    prepares: tuple[Signed[PreparePayload], ...] = ()


Message: TypeAlias = Proposal[BlockT] | Prepare | Commit | RoundChange[BlockT]


@dataclass(frozen=True, slots=True)
class PreparedCertificate(Generic[BlockT]):
    """What a validator holds after a quorum of PREPAREs: the round, the block and those PREPAREs."""

    round: int
    block: BlockT
    prepares: tuple[Signed[PreparePayload], ...]


def _rlp_encode(item: list[object]) -> bytes:
    return rlp_encode(item)


# --- signing -----------------------------------------------------------------------------------------
class Signer(Protocol):
    """Signs consensus preimages with this validator's SM2 key; the core never sees the key itself."""

    @property
    def public_key(self) -> bytes:
        """The 64-byte SM2 public key x‖y."""
        ...

    def sign(self, message: bytes) -> bytes:
        """Return a 64-byte r‖s SM2 signature of ``message`` (Z_A with the default user ID)."""
        ...


class SignatureVerifier(Protocol):
    """Checks an SM2 signature; returns None or raises InvalidSignatureError (never returns a bool)."""

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> None:
        """Return None when ``signature`` is a valid SM2 signature of ``message`` by ``public_key``.

        Raises InvalidSignatureError (also for a malformed key or signature).
        """
        ...


def compute_commit_seal_preimage(chain_id: int, height: int, round: int, block_hash: bytes) -> bytes:
    """Return RLP([COMMIT_TAG, chain_id, height, round, block_hash]): the bytes a commit seal signs.

    Delegates to ``sdk.types.commit_preimage`` so seals made here verify with the SDK's certificate check;
    raises EncodingError for a negative number or a block hash that is not 32 bytes.
    """
    return commit_preimage(chain_id, height, round, block_hash)


def _payload_fields(payload: object) -> tuple[MessageKind, list[object]]:
    if isinstance(payload, ProposalPayload):
        return MessageKind.PROPOSAL, [payload.height, payload.round, payload.digest]
    if isinstance(payload, PreparePayload):
        return MessageKind.PREPARE, [payload.height, payload.round, payload.digest]
    if isinstance(payload, CommitPayload):
        return MessageKind.COMMIT, [payload.height, payload.round, payload.digest, payload.commit_seal]
    if isinstance(payload, RoundChangePayload):
        prepared: list[object] = []
        if payload.prepared_round is not None and payload.prepared_digest is not None:
            prepared = [payload.prepared_round, payload.prepared_digest]
        elif payload.prepared_round is not None or payload.prepared_digest is not None:
            # Kept distinguishable from "not prepared" so a half-filled payload never verifies as one.
            prepared = [b"\xff"]
        return MessageKind.ROUND_CHANGE, [payload.height, payload.round, prepared]
    raise EncodingError(f"not a consensus payload: {type(payload).__name__}")


def compute_signing_preimage(chain_id: int, payload: object) -> bytes:
    """Return RLP([CONSENSUS_TAG, chain_id, kind, *fields]) for a consensus payload.

    Takes the chain id and one of the four payload dataclasses; raises EncodingError for anything else.
    """
    kind, fields = _payload_fields(payload)
    return _rlp_encode([CONSENSUS_TAG, chain_id, int(kind), *fields])


def sign_payload(chain_id: int, payload: PayloadT, signer: Signer) -> Signed[PayloadT]:
    """Return ``payload`` signed by ``signer`` over its domain-tagged preimage."""
    return Signed(payload, signer.public_key, signer.sign(compute_signing_preimage(chain_id, payload)))


def verify_signed(chain_id: int, signed: Signed[PayloadT], verifier: SignatureVerifier) -> None:
    """Return None when ``signed.signature`` is its author's signature of the payload preimage.

    Raises InvalidSignatureError otherwise.
    """
    verifier.verify(signed.author, compute_signing_preimage(chain_id, signed.payload), signed.signature)


# --- canonical RLP encoding --------------------------------------------------------------------------
def _encode_signed(signed: Signed[PayloadT]) -> list[object]:
    _, fields = _payload_fields(signed.payload)
    return [fields, signed.author, signed.signature]


def encode_message(message: Message[BlockT], encode_block: Callable[[BlockT], bytes]) -> bytes:
    """Return the canonical RLP encoding of a consensus message.

    Layouts: PROPOSAL [1, signed, block, [rc…], [prepare…]]; PREPARE [2, signed]; COMMIT [3, signed];
    ROUND-CHANGE [4, signed, [block] or [], [prepare…]], where signed = [[fields…], author, signature].
    """
    if isinstance(message, Proposal):
        return _rlp_encode(
            [
                int(MessageKind.PROPOSAL),
                _encode_signed(message.signed),
                encode_block(message.block),
                [_encode_signed(rc) for rc in message.round_changes],
                [_encode_signed(p) for p in message.prepares],
            ]
        )
    if isinstance(message, Prepare):
        return _rlp_encode([int(MessageKind.PREPARE), _encode_signed(message.signed)])
    if isinstance(message, Commit):
        return _rlp_encode([int(MessageKind.COMMIT), _encode_signed(message.signed)])
    block = [] if message.prepared_block is None else [encode_block(message.prepared_block)]
    return _rlp_encode(
        [
            int(MessageKind.ROUND_CHANGE),
            _encode_signed(message.signed),
            block,
            [_encode_signed(p) for p in message.prepares],
        ]
    )


def encode_prepared_certificate(
    certificate: PreparedCertificate[BlockT], encode_block: Callable[[BlockT], bytes]
) -> bytes:
    """Return RLP([round, block, [prepare…]]) for a prepared certificate (the WAL stores it)."""
    return _rlp_encode(
        [
            certificate.round,
            encode_block(certificate.block),
            [_encode_signed(p) for p in certificate.prepares],
        ]
    )


def _as_list(item: object, what: str, length: int | None = None) -> list[object]:
    if not isinstance(item, list):
        raise EncodingError(f"{what}: expected an RLP list")
    if length is not None and len(item) != length:
        raise EncodingError(f"{what}: expected {length} items, got {len(item)}")
    return item


def _as_bytes(item: object, what: str, length: int | None = None) -> bytes:
    if not isinstance(item, bytes):
        raise EncodingError(f"{what}: expected an RLP string")
    if length is not None and len(item) != length:
        raise EncodingError(f"{what}: expected {length} bytes, got {len(item)}")
    return item


def _as_uint(item: object, what: str) -> int:
    raw = _as_bytes(item, what)
    if raw[:1] == b"\x00":
        raise EncodingError(f"{what}: integer with a leading zero byte is not canonical")
    if len(raw) > 8:
        raise EncodingError(f"{what}: integer wider than 64 bits")
    return int.from_bytes(raw, "big")


def _decode_proposal_payload(item: object) -> ProposalPayload:
    h, r, d = _as_list(item, "proposal payload", 3)
    return ProposalPayload(*_decode_height_round_digest(h, r, d))


def _decode_prepare_payload(item: object) -> PreparePayload:
    h, r, d = _as_list(item, "prepare payload", 3)
    return PreparePayload(*_decode_height_round_digest(h, r, d))


def _decode_height_round_digest(h: object, r: object, d: object) -> tuple[int, int, bytes]:
    return _as_uint(h, "height"), _as_uint(r, "round"), _as_bytes(d, "digest", DIGEST_BYTES)


def _decode_commit_payload(item: object) -> CommitPayload:
    h, r, d, s = _as_list(item, "commit payload", 4)
    return CommitPayload(*_decode_height_round_digest(h, r, d), _as_bytes(s, "commit seal", SIGNATURE_BYTES))


def _decode_round_change_payload(item: object) -> RoundChangePayload:
    h, r, prepared_item = _as_list(item, "round-change payload", 3)
    height, round_ = _as_uint(h, "height"), _as_uint(r, "round")
    prepared = _as_list(prepared_item, "prepared metadata")
    if not prepared:
        return RoundChangePayload(height, round_, None, None)
    if len(prepared) != 2:
        raise EncodingError("prepared metadata: expected [] or [round, digest]")
    return RoundChangePayload(
        height,
        round_,
        _as_uint(prepared[0], "prepared round"),
        _as_bytes(prepared[1], "prepared digest", DIGEST_BYTES),
    )


def _decode_signed(item: object, decode_payload: Callable[[object], PayloadT]) -> Signed[PayloadT]:
    fields, author, signature = _as_list(item, "signed payload", 3)
    return Signed(
        decode_payload(fields),
        _as_bytes(author, "author", PUBLIC_KEY_BYTES),
        _as_bytes(signature, "signature", SIGNATURE_BYTES),
    )


def _decode_list(
    item: object, decode_payload: Callable[[object], PayloadT], what: str
) -> tuple[Signed[PayloadT], ...]:
    entries = _as_list(item, what)
    if len(entries) > MAX_JUSTIFICATION_ENTRIES:
        raise EncodingError(f"{what}: more than {MAX_JUSTIFICATION_ENTRIES} entries")
    return tuple(_decode_signed(e, decode_payload) for e in entries)


def _rlp_decode(data: bytes) -> object:
    if not isinstance(data, bytes):
        raise EncodingError(f"a consensus message must be bytes, not {type(data).__name__}")
    if len(data) > MAX_MESSAGE_BYTES:
        raise EncodingError(f"a consensus message is at most {MAX_MESSAGE_BYTES} bytes")
    return rlp_decode(data)


def _decode_block(decode_block: Callable[[bytes], BlockT], item: object) -> BlockT:
    raw = _as_bytes(item, "block")
    try:
        return decode_block(raw)
    except EncodingError:
        raise
    except Exception as exc:  # the application codec is untrusted input handling: normalise its failure
        raise EncodingError(f"malformed block in consensus message ({exc})") from exc


def decode_message(data: bytes, decode_block: Callable[[bytes], BlockT]) -> Message[BlockT]:
    """Return the consensus message encoded by ``encode_message``.

    Takes the bytes and the application's block decoder; raises EncodingError for anything that is not
    exactly one canonical encoding (wrong kind, lengths, non-canonical integers, trailing bytes).
    """
    top = _as_list(_rlp_decode(data), "message")
    if not top:
        raise EncodingError("message: empty list")
    kind_value = _as_uint(top[0], "message kind")
    try:
        kind = MessageKind(kind_value)
    except ValueError as exc:
        raise EncodingError(f"unknown consensus message kind {kind_value}") from exc
    if kind is MessageKind.PREPARE:
        _, signed = _as_list(top, "prepare", 2)
        return Prepare(_decode_signed(signed, _decode_prepare_payload))
    if kind is MessageKind.COMMIT:
        _, signed = _as_list(top, "commit", 2)
        return Commit(_decode_signed(signed, _decode_commit_payload))
    if kind is MessageKind.PROPOSAL:
        _, signed, block, rcs, prepares = _as_list(top, "proposal", 5)
        return Proposal(
            _decode_signed(signed, _decode_proposal_payload),
            _decode_block(decode_block, block),
            _decode_list(rcs, _decode_round_change_payload, "round changes"),
            _decode_list(prepares, _decode_prepare_payload, "prepares"),
        )
    _, signed, block_item, prepares = _as_list(top, "round change", 4)
    block_list = _as_list(block_item, "prepared block")
    if len(block_list) > 1:
        raise EncodingError("prepared block: expected [] or [block]")
    prepared_block = _decode_block(decode_block, block_list[0]) if block_list else None
    return RoundChange(
        _decode_signed(signed, _decode_round_change_payload),
        prepared_block,
        _decode_list(prepares, _decode_prepare_payload, "prepares"),
    )


def decode_prepared_certificate(
    data: bytes, decode_block: Callable[[bytes], BlockT]
) -> PreparedCertificate[BlockT]:
    """Return the prepared certificate encoded by ``encode_prepared_certificate``; raises EncodingError."""
    round_item, block, prepares = _as_list(_rlp_decode(data), "prepared certificate", 3)
    return PreparedCertificate(
        _as_uint(round_item, "prepared round"),
        _decode_block(decode_block, block),
        _decode_list(prepares, _decode_prepare_payload, "prepares"),
    )


__all__ = [
    "CONSENSUS_TAG",
    "Commit",
    "CommitPayload",
    "Message",
    "MessageKind",
    "Prepare",
    "PreparePayload",
    "PreparedCertificate",
    "Proposal",
    "ProposalPayload",
    "RoundChange",
    "RoundChangePayload",
    "SignatureVerifier",
    "Signed",
    "Signer",
    "compute_commit_seal_preimage",
    "compute_signing_preimage",
    "decode_message",
    "decode_prepared_certificate",
    "encode_message",
    "encode_prepared_certificate",
    "sign_payload",
    "verify_signed",
]
