"""Licence status statements (``XLS1``): a licence's facts and its status at one height, sealed directly by a
quorum of the validators in force. The compact offline credential: it fits a QR code of version ≤ 15.

Wire form (docs/proof-bundle.md, "Licence status statement"): the bytes ``XLS1:`` then
RLP [1, chain_id, record, status, seals] with
record = [identifier without "1.2.156.3005.2.", holder_commitment, document_hash, valid_from, valid_until,
jurisdiction], status = [status_code, height, block_time_s, block_hash], seals = [bitmap of the signing
validators' indexes, their 64-byte SM2 signatures back to back in index order]. Every validator signs
``statement_preimage`` (SM3 with Z_A), which carries its own domain tag and the chain id.

``verify_statement(payload, trust)`` reads top-down as named steps: parse → validate_chain_id →
read_identifier → validators_at → check_seals → judge_status. Each step raises a VerificationError subclass;
the result holds only checked fields. The trust model is the bundle's (sdk/proofs/verify.py) minus
handovers: the trust file must name the set in force at the statement's height.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sdk.encoding import (
    decode,
    decode_fields,
    decode_int,
    decode_string,
    encode,
    readable_repr,
)
from sdk.errors import CertificateError, ChainError, EncodingError, FormatError
from sdk.proofs.base45 import b45decode, b45encode
from sdk.proofs.certificate import as_verification_error, check_seals
from sdk.proofs.licence import (
    is_stale,
    read_licence_identifier,
    require_valid,
    status_name,
)
from sdk.proofs.trust import Checkpoint, Genesis, Trust
from sdk.system import LICENCE_REGISTRY_ADDRESS

__all__ = [
    "IDENTIFIER_ROOT",
    "MAX_STATEMENT_BYTES",
    "STATEMENT_PREFIX",
    "STATEMENT_TAG",
    "LicenceStatement",
    "StatementFacts",
    "VerifiedStatement",
    "is_statement_payload",
    "load_statement",
    "statement_preimage",
    "verify_statement",
]

STATEMENT_TAG = b"xinlian/licence-statement/1"  # never the first item of a commit or transaction preimage
STATEMENT_PREFIX = b"XLS1:"  # binary QR mode: these 5 bytes, then the RLP statement
STATEMENT_VERSION = 1
IDENTIFIER_ROOT = "1.2.156.3005.2."  # GB/T 36904 e-licence root: not carried
MAX_STATEMENT_BYTES = 2953  # the most a QR code holds (version 40-L, binary): anything longer is not ours
MAX_VALIDATORS = 256  # the bitmap is at most 32 bytes
SIGNATURE_BYTES = 64
_MAX_TEXT = 128  # identifier suffix and jurisdiction code
_MAX_INT = (1 << 53) - 1  # the largest integer field both verifiers (Python, verify.js numbers) read exactly


# --- the statement --------------------------------------------------------------------------------------
@readable_repr
@dataclass(frozen=True, slots=True)
class StatementFacts:
    """What the validators sign: a licence's record and its status at a committed height."""

    chain_id: int
    identifier: str  # the whole GB/T 36904 identifier
    holder_commitment: bytes
    document_hash: bytes
    valid_from: int  # unix seconds
    valid_until: int  # unix seconds, 0 = no end date
    jurisdiction: str
    status_code: int
    height: int
    block_time_s: int
    block_hash: bytes

    def preimage(self) -> bytes:
        """The message each validator signs (``statement_preimage``); raises LicenceIdentifierError."""
        return statement_preimage(self)

    def to_json(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "identifier": self.identifier,
            "holder_commitment": "0x" + self.holder_commitment.hex(),
            "document_hash": "0x" + self.document_hash.hex(),
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
            "jurisdiction": self.jurisdiction,
            "status_code": self.status_code,
            "height": self.height,
            "block_time_s": self.block_time_s,
            "block_hash": "0x" + self.block_hash.hex(),
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> StatementFacts:
        """Read the facts a node returned; raises FormatError (nothing here is trusted yet)."""

        def hash32(name: str) -> bytes:
            text = obj[name]
            if not isinstance(text, str) or len(text) != 66 or not text.startswith("0x"):
                raise FormatError(f"{name} must be 0x and 32 bytes of hex", field=name)
            return bytes.fromhex(text[2:])

        def uint(name: str) -> int:
            value = obj[name]
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _MAX_INT:
                raise FormatError(f"{name} must be an integer from 0 to 2^53 - 1", field=name)
            return value

        def text(name: str) -> str:
            value = obj[name]
            if not isinstance(value, str) or len(value) > _MAX_TEXT + len(IDENTIFIER_ROOT):
                raise FormatError(f"{name} must be a short string", field=name)
            return value

        try:
            return cls(
                chain_id=uint("chain_id"),
                identifier=text("identifier"),
                holder_commitment=hash32("holder_commitment"),
                document_hash=hash32("document_hash"),
                valid_from=uint("valid_from"),
                valid_until=uint("valid_until"),
                jurisdiction=text("jurisdiction"),
                status_code=uint("status_code"),
                height=uint("height"),
                block_time_s=uint("block_time_s"),
                block_hash=hash32("block_hash"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"statement fields are malformed: {exc}") from exc


def statement_preimage(facts: StatementFacts) -> bytes:
    """RLP [STATEMENT_TAG, chain_id, registry, id_hash, type_id, issuer_org, holder_commitment,
    document_hash, valid_from, valid_until, jurisdiction, status_code, height, block_time_s, block_hash].

    id_hash, type_id and issuer_org are rebuilt from the identifier (read_licence_identifier), so a
    statement cannot name one licence and sign another's hash. Raises LicenceIdentifierError.
    """
    named = read_licence_identifier(facts.identifier)
    return encode(
        [
            STATEMENT_TAG,
            facts.chain_id,
            LICENCE_REGISTRY_ADDRESS,
            named.id_hash,
            named.type_id,
            named.issuer_org.encode("ascii"),
            facts.holder_commitment,
            facts.document_hash,
            facts.valid_from,
            facts.valid_until,
            facts.jurisdiction.encode("utf-8"),
            facts.status_code,
            facts.height,
            facts.block_time_s,
            facts.block_hash,
        ]
    )


@readable_repr
@dataclass(frozen=True, slots=True)
class LicenceStatement:
    """Statement facts and the seals of the validators that signed them ((index, signature), by index)."""

    facts: StatementFacts
    seals: tuple[tuple[int, bytes], ...]

    def encode(self) -> bytes:
        """RLP [1, chain_id, record, status, [bitmap, signatures]] (raises FormatError on bad seals)."""
        f = self.facts
        if not f.identifier.startswith(IDENTIFIER_ROOT):
            raise FormatError(f"a licence identifier starts with {IDENTIFIER_ROOT}")
        indexes = [i for i, _ in self.seals]
        if indexes != sorted(set(indexes)) or any(len(s) != SIGNATURE_BYTES for _, s in self.seals):
            raise FormatError("seals must be 64-byte signatures from distinct validators in index order")
        if indexes and indexes[-1] >= MAX_VALIDATORS:
            raise FormatError(f"a statement names validators 0..{MAX_VALIDATORS - 1} only")
        record = [
            f.identifier.removeprefix(IDENTIFIER_ROOT).encode("ascii"),
            f.holder_commitment,
            f.document_hash,
            f.valid_from,
            f.valid_until,
            f.jurisdiction.encode("utf-8"),
        ]
        status = [f.status_code, f.height, f.block_time_s, f.block_hash]
        bitmap = sum(1 << i for i in indexes)
        signatures = b"".join(s for _, s in self.seals)
        return encode([STATEMENT_VERSION, f.chain_id, record, status, [bitmap, signatures]])

    def to_qr_bytes(self) -> bytes:
        """The binary-mode QR payload: ``XLS1:`` and the RLP statement."""
        return STATEMENT_PREFIX + self.encode()

    def to_qr_text(self) -> str:
        """The same as text (``XLS1:`` and base45), for pasting and alphanumeric QR codes."""
        return STATEMENT_PREFIX.decode() + b45encode(self.encode())

    @classmethod
    def decode(cls, raw: bytes) -> LicenceStatement:
        """Parse the RLP statement (no signature checked). Raises FormatError."""
        if len(raw) > MAX_STATEMENT_BYTES:
            raise FormatError(f"a statement is at most {MAX_STATEMENT_BYTES} bytes, got {len(raw)}")
        try:
            top = decode_fields(decode(raw), "statement", 5)
            version = decode_int(top[0], "version")
            if version != STATEMENT_VERSION:
                raise FormatError(f"unsupported statement version {version}; this verifier reads 1")
            record = decode_fields(top[2], "statement.record", 6)
            status = decode_fields(top[3], "statement.status", 4)
            seals = decode_fields(top[4], "statement.seals", 2)
            facts = StatementFacts(
                chain_id=decode_int(top[1], "chain_id", maximum=_MAX_INT),
                identifier=IDENTIFIER_ROOT + _text(record[0], "identifier", ascii_only=True),
                holder_commitment=_hash(record[1], "holder_commitment"),
                document_hash=_hash(record[2], "document_hash"),
                valid_from=decode_int(record[3], "valid_from", maximum=_MAX_INT),
                valid_until=decode_int(record[4], "valid_until", maximum=_MAX_INT),
                jurisdiction=_text(record[5], "jurisdiction", ascii_only=False),
                status_code=decode_int(status[0], "status_code", maximum=_MAX_INT),
                height=decode_int(status[1], "height", maximum=_MAX_INT),
                block_time_s=decode_int(status[2], "block_time_s", maximum=_MAX_INT),
                block_hash=_hash(status[3], "block_hash"),
            )
            bitmap = decode_int(seals[0], "seal bitmap", maximum=(1 << MAX_VALIDATORS) - 1)
            signatures = decode_string(seals[1], "seal signatures")
        except EncodingError as exc:
            raise FormatError(f"the statement is malformed: {exc.message}") from exc
        indexes = [i for i in range(bitmap.bit_length()) if bitmap >> i & 1]
        if len(signatures) != SIGNATURE_BYTES * len(indexes):
            raise FormatError(
                f"the seal bitmap names {len(indexes)} validators but {len(signatures)} bytes of "
                f"signatures follow ({SIGNATURE_BYTES} each)",
                signers=len(indexes),
                signature_bytes=len(signatures),
            )
        seal_list = tuple(
            (i, signatures[k * SIGNATURE_BYTES : (k + 1) * SIGNATURE_BYTES]) for k, i in enumerate(indexes)
        )
        return cls(facts, seal_list)


def _hash(item: Any, what: str) -> bytes:
    value = decode_string(item, what)
    if len(value) != 32:
        raise FormatError(f"{what} must be 32 bytes, got {len(value)}", field=what)
    return value


def _text(item: Any, what: str, *, ascii_only: bool) -> str:
    value = decode_string(item, what)
    if len(value) > _MAX_TEXT:
        raise FormatError(f"{what} is longer than {_MAX_TEXT} bytes", field=what)
    try:
        text = value.decode("ascii" if ascii_only else "utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"{what} is not {'ASCII' if ascii_only else 'UTF-8'} text", field=what) from exc
    if not text.isprintable():
        raise FormatError(f"{what} has control characters", field=what)
    return text


def is_statement_payload(data: str | bytes) -> bool:
    """Whether a QR payload (bytes from a binary-mode code, or text) is a statement's (``XLS1:``)."""
    head = data[: len(STATEMENT_PREFIX)]
    return (head.encode("latin-1") if isinstance(head, str) else bytes(head)) == STATEMENT_PREFIX


def load_statement(data: str | bytes | LicenceStatement) -> LicenceStatement:
    """Read a statement from its QR payload: ``XLS1:`` then RLP bytes (binary mode) or base45 text.

    Raises FormatError for anything else.
    """
    if isinstance(data, LicenceStatement):
        return data
    if isinstance(data, str):
        data = data.strip().encode("latin-1", "replace")
    if not is_statement_payload(data):
        raise FormatError("not a licence statement: an XLS1 payload starts with 'XLS1:'")
    body = bytes(data[len(STATEMENT_PREFIX) :])
    if body[:1] and body[0] < 0xC0:  # base45 text (RLP lists start at 0xc0)
        try:
            body = b45decode(body.decode("ascii").strip())
        except (UnicodeDecodeError, ValueError) as exc:
            raise FormatError("the XLS1 text is not base45") from exc
    return LicenceStatement.decode(body)


# --- verification -----------------------------------------------------------------------------------------
@readable_repr
@dataclass(frozen=True, slots=True)
class VerifiedStatement:
    """What a statement proves, and nothing else: every field here was checked."""

    chain_id: int
    trust: str
    identifier: str
    id_hash: bytes
    type_code: str
    issuer_org: str
    holder_commitment: bytes
    document_hash: bytes
    valid_from: int
    valid_until: int
    jurisdiction: str
    status: str  # VALID (any other status is a StatusError)
    height: int
    block_time_ms: int
    block_hash: bytes
    validators: int  # the size of the set in force
    sealed_by: tuple[int, ...]
    stale: bool  # older than STALE_AFTER_MS at verification time: the status may have changed since


def verify_statement(
    payload: str | bytes | LicenceStatement, trust: Trust, *, now_ms: int | None = None
) -> VerifiedStatement:
    """Verify a licence statement offline against a trust anchor and return what it proves.

    Steps, in the order verify.js runs them too: parse the payload; the chain id is the trusted one; the
    identifier is well formed (its hash, type and issuer are rebuilt from it); the trust file names the
    validator set in force at the statement's height; a quorum of that set signed the statement; the
    status is VALID. A statement older than 24 h verifies with ``stale`` set.

    Raises: FormatError, ChainError, LicenceIdentifierError, QuorumError, SignatureError or StatusError
    (all VerificationError); never returns a failure value.
    """
    import time

    st = load_statement(payload)
    f = st.facts
    _validate_chain_id(f, trust)
    named = read_licence_identifier(f.identifier)
    validators = _validators_at(trust, f)
    try:
        sealed_by = check_seals(st.seals, validators, statement_preimage(f))
    except CertificateError as exc:
        raise as_verification_error(exc, validators, "the statement", height=f.height) from exc
    block_time_ms = f.block_time_s * 1000
    require_valid(f.status_code, f.height, block_time_ms)
    now = int(time.time() * 1000) if now_ms is None else now_ms
    return VerifiedStatement(
        chain_id=f.chain_id,
        trust=trust.describe(),
        identifier=named.identifier,
        id_hash=named.id_hash,
        type_code=named.type_code,
        issuer_org=named.issuer_org,
        holder_commitment=f.holder_commitment,
        document_hash=f.document_hash,
        valid_from=f.valid_from,
        valid_until=f.valid_until,
        jurisdiction=f.jurisdiction,
        status=status_name(f.status_code),
        height=f.height,
        block_time_ms=block_time_ms,
        block_hash=f.block_hash,
        validators=len(validators),
        sealed_by=sealed_by,
        stale=is_stale(block_time_ms, now),
    )


def _validate_chain_id(f: StatementFacts, trust: Trust) -> None:
    if f.chain_id != trust.chain_id:
        raise ChainError(
            f"the statement is for chain {f.chain_id}, the trusted chain is {trust.chain_id}",
            statement_chain_id=f.chain_id,
            trusted_chain_id=trust.chain_id,
        )


def validators_at(trust: Trust, height: int, block_hash: bytes | None = None) -> tuple[bytes, ...]:
    """The validator set the trust anchor names for ``height``, or ChainError when it names none.

    A genesis anchor names its first set (a statement carries no handovers: after a validator-set change,
    verify against a checkpoint trust file taken after it). A checkpoint names its set from its own height
    on, unless it hands over to a set it does not carry.
    """
    if isinstance(trust, Genesis):
        if height == 0:
            raise ChainError("a statement at height 0 (the genesis) proves no licence", height=height)
        return trust.validators
    if not isinstance(trust, Checkpoint):
        raise FormatError("trust must be a Genesis or a Checkpoint")
    anchor = trust.header
    if height < anchor.height:
        raise ChainError(
            f"the statement is at height {height}, below the trusted checkpoint ({anchor.height}): the trust "
            "file does not name the validator set in force then",
            height=height,
            checkpoint_height=anchor.height,
        )
    if height == anchor.height and block_hash is not None and block_hash != anchor.block_hash:
        raise ChainError("the statement names another block than the trusted checkpoint", height=height)
    if height > anchor.height and anchor.next_validators_hash != anchor.validators_hash:
        raise ChainError(
            f"the trusted checkpoint hands over to a new validator set, which the trust file lacks "
            f"(statement at height {height})",
            height=height,
        )
    return trust.validators


def _validators_at(trust: Trust, f: StatementFacts) -> tuple[bytes, ...]:
    return validators_at(trust, f.height, f.block_hash)


def seal_statement(facts: StatementFacts, signatures: Sequence[tuple[int, bytes]]) -> LicenceStatement:
    """The statement with ``signatures`` ((validator index, signature)) sorted by index."""
    return LicenceStatement(facts, tuple(sorted(signatures)))
