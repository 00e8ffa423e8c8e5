"""E-licence facade (电子证照): types, issuers, issuance, lifecycle, consented use, status and history.

Everything personal stays off chain. The chain sees the licence identifier (it names no person: type code,
issuer code, serial, version; the registry checks that it names its type and its issuing organisation and
keys the licence by its SM3 hash), a salted commitment to the holder (``compute_holder_commitment``; the
salt is always 32 bytes from ``secrets``), the document's hash and, to check the holder's consent to a use,
the hash of the holder's SM2 public key. The holder receives a credential file (``HolderCredential``) with
the GB/T 36903 metadata, the salt that opens the commitment and where the issuance was committed.

Every identifier is validated before anything is signed (IdentifierError, nothing sent): the GB/T 36904
licence identifier with its MOD 37,36 check character, the 21-character type code with its USCC, the holder
code (resident ID for type 111, USCC for type 001) and the jurisdiction region code.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Final

from sdk.contracts import Contract
from sdk.crypto import PrivateKey, PublicKey, sm3
from sdk.encoding import from_hex, to_hex
from sdk.errors import ClientError, DomainError, EncodingError, IdentifierError, WeakSaltError
from sdk.identifiers import LicenceId, parse_licence_id, parse_resident_id, parse_uscc
from sdk.identifiers._text import DIGITS, normalise_code, require_charset
from sdk.signer import Signer
from sdk.system import LICENCE_REGISTRY_ADDRESS

if TYPE_CHECKING:
    from sdk.client import Client, ReceiptResult

LICENCE_REGISTRY_NAME: Final = "LicenceRegistry"
ISSUER_ROLE: Final = "ISSUER"
LICENCE_GAS_LIMIT: Final = 1_500_000

#: Domain tag that starts every use-consent message (see LicenceRegistry.consent_message).
CONSENT_TAG: Final = b"xinlian/licence-use/1"
CREDENTIAL_FORMAT: Final = "xinlian/licence-credential/1"
HOLDER_SALT_BYTES: Final = 32
NONCE_BYTES: Final = 32
TYPE_CODE_LENGTH: Final = 21
USCC_LENGTH: Final = 18
JURISDICTION_LENGTHS: Final = (6, 9, 12)  # GB/T 2260 county, + township (3), + village (3)
MAX_REASON_BYTES: Final = 256
MAX_TYPE_NAME_BYTES: Final = 128

#: 持证主体代码类型 (GB/T 36903): the two this SDK validates.
HOLDER_CODE_RESIDENT_ID: Final = "111"  # 公民身份号码
HOLDER_CODE_USCC: Final = "001"  # 统一社会信用代码
HOLDER_CODE_TYPES: Final = (HOLDER_CODE_RESIDENT_ID, HOLDER_CODE_USCC)

CHINA_TZ: Final = dt.timezone(dt.timedelta(hours=8))


class LicenceStatus(IntEnum):
    """Status codes of LicenceRegistry.status / status_at."""

    UNKNOWN = 0
    VALID = 1
    NOT_YET_VALID = 2
    EXPIRED = 3
    SUSPENDED = 4
    REVOKED = 5
    SUPERSEDED = 6


# --- pure derivations (shared with the node API and verifiers) -------------------------------------------
def validate_type_code(type_code: str) -> str:
    """Return the normalised 21-character licence type code (defining authority USCC + 3 digits).

    Raises IdentifierError when the length, the USCC (with its check character) or the sequence is wrong.
    """
    code = normalise_code(type_code, field="type_code", label="licence type code")
    if len(code) != TYPE_CODE_LENGTH:
        raise IdentifierError(
            f"licence type code must be {TYPE_CODE_LENGTH} characters, got {len(code)}",
            field="type_code",
            value=code,
            expected=TYPE_CODE_LENGTH,
            got=len(code),
        )
    parse_uscc(code[:USCC_LENGTH])
    require_charset(
        code[USCC_LENGTH:],
        DIGITS,
        field="type_code",
        label="licence type code sequence",
        what="a digit",
        shown=code,
        offset=USCC_LENGTH,
    )
    return code


def compute_type_id(type_code: str) -> bytes:
    """Return the type id: SM3 of the validated type code (ASCII). Raises IdentifierError."""
    return sm3(validate_type_code(type_code).encode("ascii"))


def compute_licence_hash(identifier: str) -> bytes:
    """Return the licence id hash: SM3 of the validated, normalised GB/T 36904 identifier (ASCII).

    Raises IdentifierError for a malformed identifier or a wrong check character.
    """
    return sm3(parse_licence_id(identifier).identifier.encode("ascii"))


def validate_holder_code(code_type: str, code: str) -> str:
    """Return the normalised holder code after validating it for its 持证主体代码类型.

    Takes "111" (resident ID, GB 11643) or "001" (USCC, GB 32100) and the code.
    Raises IdentifierError for another type or a code that fails its format or check character (messages
    only ever show a resident ID masked).
    """
    if code_type == HOLDER_CODE_RESIDENT_ID:
        return parse_resident_id(code).number
    if code_type == HOLDER_CODE_USCC:
        return parse_uscc(code).code
    raise IdentifierError(
        f"holder code type must be one of {', '.join(HOLDER_CODE_TYPES)}, got {code_type!r}",
        field="holder_code_type",
        got=code_type,
    )


#: A salt that repeats a pattern this short (one byte, e.g. all zeros, up to 8 bytes) is refused.
MAX_REPEATED_SALT_PATTERN: Final = 8


def new_holder_salt() -> bytes:
    """Return a fresh holder salt: 32 bytes from the OS CSPRNG (``secrets``)."""
    return secrets.token_bytes(HOLDER_SALT_BYTES)


def validate_holder_salt(salt: bytes) -> bytes:
    """Return ``salt`` when it can hide a holder code; raise WeakSaltError otherwise.

    Refused: anything but 32 bytes, and 32 bytes that repeat a pattern of 1 to 8 bytes (all zeros, 0xFF…,
    "abcd" × 8). A salt from ``new_holder_salt`` is one of these with probability below 2**-190. The chain
    sees only the commitment, so it cannot check the salt: this check and ``new_holder_salt`` are the rule.
    """
    if not isinstance(salt, bytes) or len(salt) != HOLDER_SALT_BYTES:
        raise WeakSaltError(
            f"the holder salt is {HOLDER_SALT_BYTES} random bytes", code="weak_salt", field="salt"
        )
    for period in range(1, MAX_REPEATED_SALT_PATTERN + 1):
        if salt == (salt[:period] * (HOLDER_SALT_BYTES // period + 1))[:HOLDER_SALT_BYTES]:
            raise WeakSaltError(
                f"the holder salt repeats a {period}-byte pattern: use new_holder_salt()",
                code="weak_salt",
                field="salt",
                period=period,
            )
    return salt


def compute_holder_commitment(salt: bytes, code_type: str, code: str) -> bytes:
    """Return SM3(salt ‖ code type ‖ code), the holder commitment kept on chain.

    Takes the 32-byte salt (``new_holder_salt``), the code type ("111"/"001") and the holder code
    (validated first). Raises IdentifierError for a bad code, WeakSaltError (an EncodingError) for a salt
    that is not 32 bytes or repeats a short pattern (``validate_holder_salt``).
    """
    validate_holder_salt(salt)
    normalised = validate_holder_code(code_type, code)
    return sm3(salt + code_type.encode("ascii") + normalised.encode("ascii"))


def compute_holder_key_hash(public_key: PublicKey | bytes) -> bytes:
    """Return SM3 of the holder's 64-byte public key x‖y (checked to be a curve point; InvalidKeyError)."""
    key = public_key if isinstance(public_key, PublicKey) else PublicKey(public_key)
    return sm3(key.to_bytes())


def validate_jurisdiction(code: str) -> str:
    """Return a 所属管辖属地编码 (GB/T 2260 region code of 6, 9 or 12 digits); raises IdentifierError."""
    text = normalise_code(code, field="jurisdiction", label="jurisdiction code")
    require_charset(text, DIGITS, field="jurisdiction", label="jurisdiction code", what="a digit", shown=text)
    if len(text) not in JURISDICTION_LENGTHS:
        raise IdentifierError(
            f"jurisdiction code must be 6, 9 or 12 digits, got {len(text)}",
            field="jurisdiction",
            value=text,
            got=len(text),
        )
    return text


def decode_jurisdiction(code: bytes) -> str:
    """Return the region code text of LicenceRegistry's stored bytes12 form (ASCII digits, zero-padded)."""
    return bytes(code).rstrip(b"\x00").decode("ascii", errors="replace")


def compute_purpose_hash(purpose: str | bytes) -> bytes:
    """Return SM3 of a use purpose (UTF-8 text or bytes); only this hash goes on chain."""
    return sm3(purpose.encode("utf-8") if isinstance(purpose, str) else bytes(purpose))


def compute_consent_message(
    *,
    chain_id: int,
    registry: bytes,
    id_hash: bytes,
    user: bytes,
    purpose_hash: bytes,
    nonce: bytes,
    not_after: int,
) -> bytes:
    """Return the bytes a holder signs to consent to one use (LicenceRegistry.consent_message).

    CONSENT_TAG ‖ chain_id (32) ‖ registry (20) ‖ id_hash (32) ‖ user (20) ‖ purpose_hash (32) ‖ nonce (32) ‖
    not_after (32), integers big-endian. Raises EncodingError for a field of the wrong size.
    """
    sizes: tuple[tuple[bytes, int, str], ...] = (
        (registry, 20, "registry"),
        (id_hash, 32, "id_hash"),
        (user, 20, "user"),
        (purpose_hash, 32, "purpose_hash"),
        (nonce, 32, "nonce"),
    )
    for value, size, name in sizes:
        if not isinstance(value, bytes) or len(value) != size:
            raise EncodingError(f"{name} must be {size} bytes", code="bad_arguments", field=name)
    if not 0 <= chain_id < 2**256 or not 0 <= not_after < 2**256:
        raise EncodingError("chain_id and not_after must fit 256 bits", code="bad_arguments")
    return (
        CONSENT_TAG
        + chain_id.to_bytes(32, "big")
        + registry
        + id_hash
        + user
        + purpose_hash
        + nonce
        + not_after.to_bytes(32, "big")
    )


def to_unix_seconds(value: int | dt.datetime | dt.date, *, end_of_day: bool = False) -> int:
    """Return unix seconds for an int, an aware datetime, or a date (China time, UTC+8).

    A date means its first second, or its last second when ``end_of_day`` (for 有效期截止). A naive datetime
    is read as China time. Raises EncodingError for a negative value or another type.
    """
    if isinstance(value, bool):
        raise EncodingError("a time must be unix seconds, a datetime or a date", code="bad_arguments")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, dt.datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=CHINA_TZ)
        seconds = int(moment.timestamp())
    elif isinstance(value, dt.date):
        clock = dt.time(23, 59, 59) if end_of_day else dt.time(0, 0, 0)
        seconds = int(dt.datetime.combine(value, clock, tzinfo=CHINA_TZ).timestamp())
    else:
        raise EncodingError("a time must be unix seconds, a datetime or a date", code="bad_arguments")
    if seconds < 0:
        raise EncodingError("a time must not be before 1970", code="bad_arguments")
    return seconds


def _format_time(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=CHINA_TZ).isoformat()


def _validate_reason(reason: str) -> str:
    text = reason.strip() if isinstance(reason, str) else ""
    if not text or len(text.encode("utf-8")) > MAX_REASON_BYTES:
        raise EncodingError(f"a reason is 1 to {MAX_REASON_BYTES} UTF-8 bytes", code="bad_arguments")
    return text


# --- typed results -----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LicenceType:
    type_id: bytes
    type_code: str
    name: str
    authority: bytes  # defining account
    authority_org: str  # its organisation (the USCC inside the type code)


@dataclass(frozen=True, slots=True)
class LicenceRecord:
    """A licence as LicenceRegistry holds it, with its status at the time it was read."""

    id_hash: bytes
    type_id: bytes
    issuer: bytes
    issuer_org: str
    holder_commitment: bytes
    holder_key_hash: bytes  # 32 zero bytes: no holder key bound
    document_hash: bytes
    valid_from: int
    valid_until: int  # 0 = no end date
    jurisdiction: str
    status: LicenceStatus
    suspended_since: int
    ended_at: int
    previous: bytes  # 32 zero bytes: none
    next: bytes
    annotations: int
    uses: int


@dataclass(frozen=True, slots=True)
class LicenceEvent:
    """One step of a licence's history: an event of LicenceRegistry and where it was committed."""

    name: str  # LicenceIssued, LicenceSuspended, …
    height: int
    tx_hash: bytes
    args: dict[str, Any]


# HolderCredential field -> its GB/T 36903 metadata name in the credential file
_CREDENTIAL_LABELS: Final[dict[str, str]] = {
    "licence_name": "证照名称",
    "type_code": "证照类型代码",
    "identifier": "证照标识",
    "issuer_code": "颁发机构代码",
    "issue_date": "颁发日期",
    "valid_from": "有效期起始",
    "valid_until": "有效期截止",
    "jurisdiction": "所属管辖属地编码",
    "holder_name": "持证主体",
    "holder_code": "持证主体代码",
    "holder_code_type": "持证主体代码类型",
}


@dataclass(frozen=True, slots=True)
class HolderCredential:
    """The holder's credential file: GB/T 36903 metadata, the commitment's salt and the commit location.

    Holds personal data (the holder's name and code): it is the holder's to keep, never sent to the chain.
    """

    licence_name: str  # 证照名称
    type_code: str  # 证照类型代码
    identifier: str  # 证照标识
    issuer_code: str  # 颁发机构代码
    issue_date: str  # 颁发日期 (ISO date, China time)
    valid_from: str  # 有效期起始 (ISO datetime, UTC+8)
    valid_until: str  # 有效期截止 (ISO datetime, or "长期" for no end date)
    jurisdiction: str  # 所属管辖属地编码
    holder_name: str = field(repr=False)  # 持证主体 (personal: never in a repr or log)
    holder_code: str = field(repr=False)  # 持证主体代码
    holder_code_type: str  # 持证主体代码类型
    holder_salt: bytes = field(repr=False)
    document_hash: bytes
    chain_id: int
    registry: bytes
    id_hash: bytes
    holder_commitment: bytes
    holder_key_hash: bytes
    tx_hash: bytes = b""
    height: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return the credential as JSON-ready data: Chinese metadata keys plus a ``xinlian`` section."""
        values = asdict(self)
        out: dict[str, Any] = {label: values[name] for name, label in _CREDENTIAL_LABELS.items()}
        out["xinlian"] = {
            "format": CREDENTIAL_FORMAT,
            "holder_salt": to_hex(self.holder_salt),
            "document_hash": to_hex(self.document_hash),
            "chain_id": self.chain_id,
            "registry": to_hex(self.registry),
            "id_hash": to_hex(self.id_hash),
            "holder_commitment": to_hex(self.holder_commitment),
            "holder_key_hash": to_hex(self.holder_key_hash),
            "tx_hash": to_hex(self.tx_hash),
            "height": self.height,
        }
        return out

    def to_json(self) -> str:
        """Return the credential file's text (UTF-8 JSON, Chinese keys kept readable)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> HolderCredential:
        """Parse a credential file and check it: identifier, holder code and the commitment's opening.

        Raises EncodingError for malformed JSON or fields, IdentifierError for a bad identifier or code,
        DomainError (``commitment_mismatch``) when salt and holder code do not open the commitment.
        """
        try:
            body = json.loads(text)
            chain = body["xinlian"]
            if chain.get("format") != CREDENTIAL_FORMAT:
                raise EncodingError("not a Xinlian licence credential", code="bad_encoding")
            fields = {name: str(body[label]) for name, label in _CREDENTIAL_LABELS.items()}
            credential = cls(
                **fields,
                holder_salt=from_hex(chain["holder_salt"], "holder_salt", size=HOLDER_SALT_BYTES),
                document_hash=from_hex(chain["document_hash"], "document_hash", size=32),
                chain_id=int(chain["chain_id"]),
                registry=from_hex(chain["registry"], "registry", size=20),
                id_hash=from_hex(chain["id_hash"], "id_hash", size=32),
                holder_commitment=from_hex(chain["holder_commitment"], "holder_commitment", size=32),
                holder_key_hash=from_hex(chain["holder_key_hash"], "holder_key_hash", size=32),
                tx_hash=from_hex(chain.get("tx_hash", "0x"), "tx_hash"),
                height=int(chain.get("height", 0)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise EncodingError(
                f"malformed licence credential: {type(exc).__name__} (contents not echoed)",
                code="bad_encoding",
            ) from exc
        credential.validate()
        return credential

    def validate(self) -> None:
        """Return None when identifier, id hash and commitment are consistent; raise otherwise.

        Raises IdentifierError for a bad identifier or holder code, DomainError (``commitment_mismatch``)
        when the id hash or the salted holder code do not match.
        """
        if compute_licence_hash(self.identifier) != self.id_hash:
            raise DomainError("the credential's id hash is not its identifier's", code="commitment_mismatch")
        commitment = compute_holder_commitment(self.holder_salt, self.holder_code_type, self.holder_code)
        if commitment != self.holder_commitment:
            raise DomainError(
                "the credential's salt and holder code do not open its commitment", code="commitment_mismatch"
            )


@dataclass(frozen=True, slots=True)
class PreparedIssue:
    """An issuance checked and encoded but not yet sent: call data plus the credential (no tx fields)."""

    data: bytes
    id_hash: bytes
    credential: HolderCredential


@dataclass(frozen=True, slots=True)
class IssueResult:
    """What ``issue`` / ``renew`` committed, and the holder's credential file."""

    identifier: str
    id_hash: bytes
    receipt: ReceiptResult
    credential: HolderCredential


@dataclass(frozen=True, slots=True)
class Consent:
    """A holder's SM2-signed consent to one use of a licence by one account (用证授权)."""

    id_hash: bytes
    user: bytes  # the account that will record the use
    purpose_hash: bytes
    nonce: bytes
    not_after: int  # unix seconds
    holder_public_key: bytes  # 64 bytes x‖y
    signature: bytes  # 64 bytes r‖s
    chain_id: int = 0
    registry: bytes = field(default=LICENCE_REGISTRY_ADDRESS)

    @classmethod
    def create(
        cls,
        holder_key: PrivateKey,
        *,
        chain_id: int,
        id_hash: bytes,
        user: bytes,
        purpose: str | bytes,
        not_after: int | dt.datetime,
        registry: bytes = LICENCE_REGISTRY_ADDRESS,
        nonce: bytes | None = None,
    ) -> Consent:
        """Sign a consent with the holder's key (offline; nothing is sent).

        Takes the holder's private key, the chain id, the licence id hash, the using account, the purpose
        (hashed), the last second it may be used, the registry address and an optional 32-byte nonce.
        Raises EncodingError for a field of the wrong size.
        """
        nonce = secrets.token_bytes(NONCE_BYTES) if nonce is None else nonce
        deadline = to_unix_seconds(not_after)
        purpose_hash = compute_purpose_hash(purpose)
        message = compute_consent_message(
            chain_id=chain_id,
            registry=registry,
            id_hash=id_hash,
            user=user,
            purpose_hash=purpose_hash,
            nonce=nonce,
            not_after=deadline,
        )
        return cls(
            id_hash=id_hash,
            user=user,
            purpose_hash=purpose_hash,
            nonce=nonce,
            not_after=deadline,
            holder_public_key=holder_key.public_key.to_bytes(),
            signature=holder_key.sign(message),
            chain_id=chain_id,
            registry=registry,
        )

    def message(self) -> bytes:
        """Return the signed consent message."""
        return compute_consent_message(
            chain_id=self.chain_id,
            registry=self.registry,
            id_hash=self.id_hash,
            user=self.user,
            purpose_hash=self.purpose_hash,
            nonce=self.nonce,
            not_after=self.not_after,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the consent as JSON-ready data (hex bytes), e.g. to hand it to the using organisation."""
        return {
            "id_hash": to_hex(self.id_hash),
            "user": to_hex(self.user),
            "purpose_hash": to_hex(self.purpose_hash),
            "nonce": to_hex(self.nonce),
            "not_after": self.not_after,
            "holder_public_key": to_hex(self.holder_public_key),
            "signature": to_hex(self.signature),
            "chain_id": self.chain_id,
            "registry": to_hex(self.registry),
        }

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> Consent:
        """Parse ``to_dict`` output; raises EncodingError for missing or malformed fields."""
        try:
            return cls(
                id_hash=from_hex(body["id_hash"], "id_hash", size=32),
                user=from_hex(body["user"], "user", size=20),
                purpose_hash=from_hex(body["purpose_hash"], "purpose_hash", size=32),
                nonce=from_hex(body["nonce"], "nonce", size=32),
                not_after=int(body["not_after"]),
                holder_public_key=from_hex(body["holder_public_key"], "holder_public_key", size=64),
                signature=from_hex(body["signature"], "signature", size=64),
                chain_id=int(body["chain_id"]),
                registry=from_hex(body["registry"], "registry", size=20),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EncodingError(
                f"malformed consent: {type(exc).__name__} (contents not echoed)", code="bad_encoding"
            ) from exc


# --- the facade ----------------------------------------------------------------------------------------
class Licences:
    """LicenceRegistry through a node: reads, and writes signed with ``signer``.

    ``Licences(client)`` reads; ``Licences(client, signer)`` (or ``.with_signer(signer)``) also writes.
    Writes wait for the commit and raise ExecutionError with the contract's reason on a refusal; every
    identifier is validated first (IdentifierError: nothing is signed or sent).
    """

    def __init__(self, client: Client, signer: Signer | None = None, *, address: bytes | None = None) -> None:
        self.client = client
        self.signer = signer
        self._address = address
        self.contract = Contract(LICENCE_REGISTRY_NAME)
        self._types: dict[bytes, LicenceType] = {}
        self._orgs: dict[bytes, str] = {}

    def with_signer(self, signer: Signer) -> Licences:
        """Return a facade that signs writes with ``signer`` (sharing the registry address)."""
        return Licences(self.client, signer, address=self._address)

    @property
    def address(self) -> bytes:
        """The LicenceRegistry address: from Governance's contract registry, else the genesis default."""
        if self._address is None:
            governance = self.client.governance
            out = self.client.call(
                governance.address,
                governance.contract.encode_call(
                    "contracts", [LICENCE_REGISTRY_NAME.encode().ljust(32, b"\0")]
                ),
            )
            found = governance.contract.decode_output("contracts", out)
            self._address = found if found != bytes(20) else LICENCE_REGISTRY_ADDRESS
        return self._address

    # --- reads --------------------------------------------------------------------------------------
    def _read(self, function: str, *args: Any) -> Any:
        out = self.client.call(self.address, self.contract.encode_call(function, list(args)))
        return self.contract.decode_output(function, out)

    @staticmethod
    def _id_hash(licence: str | bytes) -> bytes:
        if isinstance(licence, bytes):
            if len(licence) != 32:
                raise EncodingError("a licence id hash is 32 bytes", code="bad_arguments")
            return licence
        return compute_licence_hash(licence)

    def get_type(self, type_code: str) -> LicenceType | None:
        """Return a defined licence type, or None. Raises IdentifierError for a malformed type code."""
        type_id = compute_type_id(type_code)
        cached = self._types.get(type_id)
        if cached is not None:
            return cached
        row = self._read("licence_types", type_id)
        if not row["defined"]:
            return None
        found = LicenceType(
            type_id=type_id,
            type_code=row["type_code"],
            name=row["name"],
            authority=row["authority"],
            authority_org=row["authority_org"],
        )
        self._types[type_id] = found  # a definition never changes
        return found

    def get(self, licence: str | bytes) -> LicenceRecord | None:
        """Return the licence (by identifier or id hash) with its current status, or None when unknown.

        Raises IdentifierError for a malformed identifier.
        """
        id_hash = self._id_hash(licence)
        row = self._read("get_licence", id_hash)
        if int(row["state"]) == LicenceStatus.UNKNOWN:
            return None
        return LicenceRecord(
            id_hash=id_hash,
            type_id=row["type_id"],
            issuer=row["issuer"],
            issuer_org=row["issuer_org"],
            holder_commitment=row["holder_commitment"],
            holder_key_hash=row["holder_key_hash"],
            document_hash=row["document_hash"],
            valid_from=int(row["valid_from"]),
            valid_until=int(row["valid_until"]),
            jurisdiction=decode_jurisdiction(row["jurisdiction"]),
            status=LicenceStatus(int(self._read("status", id_hash))),
            suspended_since=int(row["suspended_since"]),
            ended_at=int(row["ended_at"]),
            previous=row["previous"],
            next=row["next"],
            annotations=int(row["annotations"]),
            uses=int(row["uses"]),
        )

    def status(self, licence: str | bytes) -> LicenceStatus:
        """Return the licence's status at the head (UNKNOWN when never issued)."""
        return LicenceStatus(int(self._read("status", self._id_hash(licence))))

    def status_at(self, licence: str | bytes, when: int | dt.datetime | dt.date) -> LicenceStatus:
        """Return the licence's status at ``when`` by its current record (LicenceRegistry.status_at)."""
        return LicenceStatus(int(self._read("status_at", self._id_hash(licence), to_unix_seconds(when))))

    def is_issuer(self, account: bytes, type_code: str) -> bool:
        """Whether ``account`` may issue licences of ``type_code``."""
        return bool(self._read("is_issuer", account, compute_type_id(type_code)))

    def history(self, licence: str | bytes) -> list[LicenceEvent]:
        """Return every event of the licence in chain order (from the node's log index).

        A renewal shows as LicenceRenewed here and LicenceIssued (``previous`` = this) in the new version's
        history. Raises IdentifierError, ClientError.
        """
        id_hash = self._id_hash(licence)
        return decode_history(self.contract, self.client.logs(address=self.address, topics=[None, id_hash]))

    # --- writes -------------------------------------------------------------------------------------
    def _require_signer(self) -> Signer:
        if self.signer is None:
            raise ClientError("this Licences facade has no signer; use with_signer(signer)", code="no_signer")
        return self.signer

    def _send(self, function: str, *args: Any) -> ReceiptResult:
        signer = self._require_signer()
        data = self.contract.encode_call(function, list(args))
        return self.client.send(signer, self.address, data, gas_limit=LICENCE_GAS_LIMIT, check=True)

    def _organisation_of(self, account: bytes) -> str:
        org = self._orgs.get(account)
        if org is None:
            org = self._orgs[account] = self.client.governance.organisation_of(account)
        return org

    def define_type(self, type_code: str, name: str) -> LicenceType:
        """Define a licence type as its authority (the signer's organisation is the code's USCC).

        Raises IdentifierError (bad code), DomainError (``wrong_organisation``: the code's USCC is not the
        signer's organisation; nothing sent), ExecutionError (refused on chain, e.g. not a licence authority).
        """
        code = validate_type_code(type_code)
        name = name.strip()
        if not name or len(name.encode("utf-8")) > MAX_TYPE_NAME_BYTES:
            raise EncodingError(
                f"a type name is 1 to {MAX_TYPE_NAME_BYTES} UTF-8 bytes", code="bad_arguments"
            )
        signer = self._require_signer()
        if self._organisation_of(signer.address) != code[:USCC_LENGTH]:
            raise DomainError(
                "the type code's defining authority is not the signer's organisation",
                code="wrong_organisation",
                type_code=code,
            )
        self._send("define_type", code, name)
        found = self.get_type(code)
        if found is None:
            raise ClientError("the type definition committed but cannot be read", code="bad_response")
        return found

    def authorise_issuer(self, org_account: bytes, type_code: str) -> ReceiptResult:
        """Grant ISSUER for the type to ``org_account`` through Governance (the signer administers ISSUER).

        Raises IdentifierError, DomainError (``unknown_type``, or ``not_type_authority`` when the signer's
        organisation did not define the type; nothing sent), ExecutionError.
        """
        licence_type = self._require_type(type_code)
        self._require_authority(licence_type)
        return self.client.governance.with_signer(self._require_signer()).grant_role(
            org_account, ISSUER_ROLE, licence_type.type_id
        )

    def deauthorise_issuer(self, org_account: bytes, type_code: str) -> ReceiptResult:
        """Revoke the type's ISSUER grant from ``org_account`` (as for ``authorise_issuer``)."""
        licence_type = self._require_type(type_code)
        self._require_authority(licence_type)
        return self.client.governance.with_signer(self._require_signer()).revoke_role(
            org_account, ISSUER_ROLE, licence_type.type_id
        )

    def _require_type(self, type_code: str) -> LicenceType:
        licence_type = self.get_type(type_code)
        if licence_type is None:
            raise DomainError("no such licence type", code="unknown_type", type_code=type_code)
        return licence_type

    def _require_authority(self, licence_type: LicenceType) -> None:
        if self._organisation_of(self._require_signer().address) != licence_type.authority_org:
            raise DomainError(
                "only the type's defining authority authorises its issuers",
                code="not_type_authority",
                type_code=licence_type.type_code,
            )

    def _check_issuer_code(self, parsed: LicenceId) -> None:
        # LicenceRegistry checks the same on chain: this only saves a refused transaction
        if parsed.issuer_kind != "uscc":
            raise DomainError(
                "the registry issues identifiers whose issuer code is the issuer's USCC, not a region code",
                code="wrong_organisation",
                issuer_code=parsed.issuer_code,
            )
        if self._organisation_of(self._require_signer().address) != parsed.issuer_code:
            raise DomainError(
                "the identifier's issuer code is not the signer's organisation",
                code="wrong_organisation",
                issuer_code=parsed.issuer_code,
            )

    def prepare_issue(
        self,
        identifier: str,
        *,
        holder_name: str,
        holder_code: str,
        holder_code_type: str,
        document_hash: bytes,
        valid_from: int | dt.datetime | dt.date,
        valid_until: int | dt.datetime | dt.date | None,
        jurisdiction: str,
        holder_public_key: PublicKey | bytes | None = None,
        licence_name: str | None = None,
        issue_date: dt.date | None = None,
    ) -> PreparedIssue:
        """Validate and encode an issuance without sending it (``issue`` sends it; benchmarks batch it).

        Takes the GB/T 36904 identifier (its type code must be a defined type and its issuer code the USCC
        of the signer's organisation: the registry checks both on chain), the holder's name, code and code
        type ("111"/"001"), the SM3 of the licence document, the validity (``valid_until`` None = no end
        date), the jurisdiction region code, optionally the holder's public key (needed for consented use
        records), the licence name (default: the type's name) and the issue date (default: today, China
        time). The commitment's salt is always fresh from ``secrets`` (``new_holder_salt``): no caller
        chooses it.
        Returns: the call data, id hash and the credential (without tx hash and height).
        Raises: IdentifierError, EncodingError, DomainError (``unknown_type``, ``wrong_organisation``).
        """
        parsed = parse_licence_id(identifier)
        code = validate_holder_code(holder_code_type, holder_code)
        region = validate_jurisdiction(jurisdiction)
        if not isinstance(document_hash, bytes) or len(document_hash) != 32:
            raise EncodingError(
                "document_hash is the 32-byte SM3 of the licence document", code="bad_arguments"
            )
        start = to_unix_seconds(valid_from)
        end = 0 if valid_until is None else to_unix_seconds(valid_until, end_of_day=True)
        if end and end < start:
            raise EncodingError("valid_until is before valid_from", code="bad_arguments")
        licence_type = self._require_type(parsed.type_code)
        self._check_issuer_code(parsed)
        salt = new_holder_salt()
        commitment = compute_holder_commitment(salt, holder_code_type, code)
        key_hash = compute_holder_key_hash(holder_public_key) if holder_public_key is not None else bytes(32)
        id_hash = sm3(parsed.identifier.encode("ascii"))
        data = self.contract.encode_call(
            "issue", [parsed.identifier, commitment, key_hash, document_hash, start, end, region]
        )
        credential = HolderCredential(
            licence_name=licence_name or licence_type.name,
            type_code=parsed.type_code,
            identifier=parsed.identifier,
            issuer_code=parsed.issuer_code,
            issue_date=(issue_date or dt.datetime.now(CHINA_TZ).date()).isoformat(),
            valid_from=_format_time(start),
            valid_until=_format_time(end) if end else "长期",
            jurisdiction=region,
            holder_name=holder_name,
            holder_code=code,
            holder_code_type=holder_code_type,
            holder_salt=salt,
            document_hash=document_hash,
            chain_id=self.client.chain_info(refresh=False).chain_id,
            registry=self.address,
            id_hash=id_hash,
            holder_commitment=commitment,
            holder_key_hash=key_hash,
        )
        return PreparedIssue(data=data, id_hash=id_hash, credential=credential)

    def issue(
        self,
        identifier: str,
        *,
        holder_name: str,
        holder_code: str,
        holder_code_type: str,
        document_hash: bytes,
        valid_from: int | dt.datetime | dt.date,
        valid_until: int | dt.datetime | dt.date | None,
        jurisdiction: str,
        holder_public_key: PublicKey | bytes | None = None,
        licence_name: str | None = None,
        issue_date: dt.date | None = None,
    ) -> IssueResult:
        """Issue a licence and return the committed result with the holder's credential file.

        Takes the arguments of ``prepare_issue``. Raises what it raises, and ExecutionError when the chain
        refuses (``not an issuer of this licence type``, ``licence already issued`` …).
        """
        prepared = self.prepare_issue(
            identifier,
            holder_name=holder_name,
            holder_code=holder_code,
            holder_code_type=holder_code_type,
            document_hash=document_hash,
            valid_from=valid_from,
            valid_until=valid_until,
            jurisdiction=jurisdiction,
            holder_public_key=holder_public_key,
            licence_name=licence_name,
            issue_date=issue_date,
        )
        receipt = self.client.send(
            self._require_signer(), self.address, prepared.data, gas_limit=LICENCE_GAS_LIMIT, check=True
        )
        return _committed(prepared.credential, receipt)

    def suspend(self, licence: str | bytes, reason: str) -> ReceiptResult:
        """Suspend a licence (issuing organisation). Raises IdentifierError, EncodingError, ExecutionError."""
        return self._send("suspend", self._id_hash(licence), _validate_reason(reason))

    def resume(self, licence: str | bytes, reason: str) -> ReceiptResult:
        """Lift a suspension (issuing organisation). Raises IdentifierError, EncodingError, ExecutionError."""
        return self._send("resume", self._id_hash(licence), _validate_reason(reason))

    def revoke(self, licence: str | bytes, reason: str) -> ReceiptResult:
        """Revoke a licence for good (issuing organisation). Raises as ``suspend``."""
        return self._send("revoke", self._id_hash(licence), _validate_reason(reason))

    def renew(
        self,
        credential: HolderCredential,
        new_identifier: str,
        *,
        document_hash: bytes,
        valid_from: int | dt.datetime | dt.date,
        valid_until: int | dt.datetime | dt.date | None,
        issue_date: dt.date | None = None,
    ) -> IssueResult:
        """Issue the next version of the licence in ``credential``; the old one becomes SUPERSEDED.

        The new identifier must have the same type code; holder, holder key and jurisdiction carry over, so
        the returned credential keeps the salt. Raises IdentifierError, EncodingError, DomainError
        (``wrong_type``, ``wrong_organisation``), ExecutionError.
        """
        parsed = parse_licence_id(new_identifier)
        if parsed.type_code != credential.type_code:
            raise DomainError(
                "a renewal keeps the licence type", code="wrong_type", type_code=parsed.type_code
            )
        self._check_issuer_code(parsed)
        if not isinstance(document_hash, bytes) or len(document_hash) != 32:
            raise EncodingError(
                "document_hash is the 32-byte SM3 of the licence document", code="bad_arguments"
            )
        start = to_unix_seconds(valid_from)
        end = 0 if valid_until is None else to_unix_seconds(valid_until, end_of_day=True)
        new_hash = sm3(parsed.identifier.encode("ascii"))
        receipt = self._send("renew", credential.id_hash, parsed.identifier, document_hash, start, end)
        renewed = replace(
            credential,
            identifier=parsed.identifier,
            issuer_code=parsed.issuer_code,
            issue_date=(issue_date or dt.datetime.now(CHINA_TZ).date()).isoformat(),
            valid_from=_format_time(start),
            valid_until=_format_time(end) if end else "长期",
            document_hash=document_hash,
            id_hash=new_hash,
        )
        return _committed(renewed, receipt)

    def annotate(
        self,
        licence: str | bytes,
        *,
        annotation_hash: bytes,
        reason: str,
        valid_from: int | dt.datetime | dt.date = 0,
        valid_until: int | dt.datetime | dt.date | None = None,
    ) -> ReceiptResult:
        """Attach a 加注件 (the SM3 of its document, 事由, validity) to a live licence (issuing organisation).

        The reason is public on chain: never put personal data in it. Raises IdentifierError, EncodingError,
        ExecutionError.
        """
        if not isinstance(annotation_hash, bytes) or len(annotation_hash) != 32:
            raise EncodingError("annotation_hash is a 32-byte SM3 digest", code="bad_arguments")
        start = to_unix_seconds(valid_from)
        end = 0 if valid_until is None else to_unix_seconds(valid_until, end_of_day=True)
        return self._send(
            "annotate", self._id_hash(licence), annotation_hash, _validate_reason(reason), start, end
        )

    def bind_holder_key(self, licence: str | bytes, holder_public_key: PublicKey | bytes) -> ReceiptResult:
        """Bind (or replace) the holder key whose consent use records need.

        The signer must be an account of the issuing organisation holding ISSUER for the licence's type
        (checked on chain); HolderKeyBound records the replaced key's hash. Raises ExecutionError
        (``not an issuer of this licence type``, ``holder key already bound`` …).
        """
        return self._send(
            "bind_holder_key", self._id_hash(licence), compute_holder_key_hash(holder_public_key)
        )

    def make_consent(
        self,
        holder_key: PrivateKey,
        licence: str | bytes,
        *,
        user: bytes,
        purpose: str | bytes,
        valid_for_s: int = 600,
    ) -> Consent:
        """Sign, as the holder, a consent for ``user`` to record one use within ``valid_for_s`` seconds.

        Uses this node's chain id and registry address; nothing is sent. Raises IdentifierError.
        """
        info = self.client.chain_info(refresh=False)
        return Consent.create(
            holder_key,
            chain_id=info.chain_id,
            id_hash=self._id_hash(licence),
            user=user,
            purpose=purpose,
            not_after=info.head_timestamp_ms // 1000 + valid_for_s,
            registry=self.address,
        )

    def record_use(self, consent: Consent) -> ReceiptResult:
        """Record a use of the licence by the signer, carrying the holder's consent (checked on chain).

        Raises DomainError (``wrong_user``: the consent names another account; nothing sent), ExecutionError
        (``bad consent signature``, ``consent already used``, ``licence suspended`` …).
        """
        if consent.user != self._require_signer().address:
            raise DomainError("the consent names another using account", code="wrong_user")
        return self._send(
            "record_use",
            consent.id_hash,
            consent.purpose_hash,
            consent.nonce,
            consent.not_after,
            consent.holder_public_key,
            consent.signature,
        )


def _committed(credential: HolderCredential, receipt: ReceiptResult) -> IssueResult:
    done = replace(credential, tx_hash=receipt.tx_hash, height=receipt.height)
    return IssueResult(identifier=done.identifier, id_hash=done.id_hash, receipt=receipt, credential=done)


def decode_history(contract: Contract, logs: Iterable[Any]) -> list[LicenceEvent]:
    """Decode LicenceRegistry log entries (objects with ``log``, ``height``, ``tx_hash``) into events.

    Entries that are not licence events are skipped.
    """
    events: list[LicenceEvent] = []
    for entry in logs:
        decoded = contract.try_decode_log(entry.log)
        if decoded is None or decoded.name == "LicenceTypeDefined":
            continue
        events.append(LicenceEvent(decoded.name, entry.height, entry.tx_hash, decoded.args))
    return events
