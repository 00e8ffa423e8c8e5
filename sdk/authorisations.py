"""Data-sharing authorisations facade (DataAuthorisation.vy): resources, requests, consent, grants, uses."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Final, TypeVar

from sdk.client import from_node_hex
from sdk.contracts import Contract
from sdk.crypto import PrivateKey, PublicKey, sm3
from sdk.errors import ClientError, DomainError
from sdk.identifiers import parse_resident_id
from sdk.signer import Signer
from sdk.system import DATA_AUTHORISATION_ADDRESS

if TYPE_CHECKING:
    from sdk.client import Client, ReceiptResult


CONSENT_TAG: Final = b"xinlian/consent/1"
REVOCATION_TAG: Final = b"xinlian/consent-revoke/1"
SUBJECT_KEY_TAG: Final = b"xinlian/subject-key/1"
SUBJECT_COMMITMENT_TAG: Final = b"xinlian/subject/1"
PURPOSE_TAG: Final = b"xinlian/purpose/1"
#: 持证主体代码类型 of a resident ID (公民身份号码), as in GB/T 36903 licence metadata.
ID_TYPE_RESIDENT: Final = "111"
SALT_BYTES: Final = 32
MAX_FIELD_ID: Final = 255
AUTHORISATION_GAS_LIMIT: Final = 1_000_000
DEFAULT_QUERY_LIMIT: Final = 100

_WORD: Final = 32
_E = TypeVar("_E", bound=IntEnum)


class Level(IntEnum):
    """Data level (数据安全法 art. 21, GB/T 43697-2024)."""

    GENERAL = 1  # 一般数据
    IMPORTANT = 2  # 重要数据
    CORE = 3  # 核心数据: a DATA_REGULATOR approves each request before the grant


class ShareType(IntEnum):
    """Government data sharing type."""

    UNCONDITIONAL = 1  # 无条件共享
    CONDITIONAL = 2  # 有条件共享: needs a condition hash, acknowledged by each request
    NONE = 3  # 不予共享: needs a basis hash; nothing is granted or used


class GrantStatus(IntEnum):
    """Status of a request / grant (one id for both); EXPIRED is derived from the period."""

    NONE = 0
    REQUESTED = 1
    APPROVED = 2
    GRANTED = 3
    REFUSED = 4
    REVOKED = 5
    EXPIRED = 6


# --- pure helpers ---------------------------------------------------------------------------------------
def compute_fields_mask(field_ids: Iterable[int]) -> int:
    """Return the uint256 bitmask of field ids (0..255).

    Raises DomainError for an empty list or an id out of range.
    """
    mask = 0
    for field_id in field_ids:
        if isinstance(field_id, bool) or not isinstance(field_id, int) or not 0 <= field_id <= MAX_FIELD_ID:
            raise DomainError(
                f"field ids are integers 0..{MAX_FIELD_ID}", code="bad_arguments", field="fields"
            )
        mask |= 1 << field_id
    if mask == 0:
        raise DomainError("at least one field id is needed", code="bad_arguments", field="fields")
    return mask


def compute_field_ids(mask: int) -> tuple[int, ...]:
    """Return the field ids set in a uint256 bitmask, ascending."""
    return tuple(i for i in range(MAX_FIELD_ID + 1) if mask >> i & 1)


def compute_purpose(purpose: str | bytes) -> bytes:
    """Return the bytes32 purpose code: 32 bytes pass through, a text becomes SM3(tag ‖ UTF-8 text).

    Raises DomainError for an empty text or bytes of another length.
    """
    if isinstance(purpose, bytes):
        if len(purpose) != _WORD or purpose == bytes(_WORD):
            raise DomainError("a purpose code is 32 non-zero bytes", code="bad_arguments", field="purpose")
        return purpose
    if not purpose.strip():
        raise DomainError("empty purpose", code="bad_arguments", field="purpose")
    return sm3(PURPOSE_TAG + purpose.encode("utf-8"))


def new_salt() -> bytes:
    """Return a fresh random 32-byte salt for a subject commitment (keep it with the subject's record)."""
    return secrets.token_bytes(SALT_BYTES)


def compute_subject_commitment(resident_id: str, salt: bytes, *, id_type: str = ID_TYPE_RESIDENT) -> bytes:
    """Return the salted commitment to a data subject: SM3(tag ‖ salt(32) ‖ id_type(3) ‖ ID(18)).

    Takes: the resident ID (checked with sdk.identifiers: length, birth date, MOD 11-2 check character), the
    32-byte salt, the 3-digit ID type code. Returns: 32 bytes; the clear ID never leaves this function.
    Raises: IdentifierError (messages carry only the masked ID), DomainError for a bad salt or ID type.
    """
    if len(salt) != SALT_BYTES or salt == bytes(SALT_BYTES):
        raise DomainError("the subject salt is 32 random bytes", code="bad_arguments", field="salt")
    if len(id_type) != 3 or not id_type.isdigit() or not id_type.isascii():
        raise DomainError("the ID type code is 3 digits, e.g. 111", code="bad_arguments", field="id_type")
    number = parse_resident_id(resident_id).number
    return sm3(SUBJECT_COMMITMENT_TAG + salt + id_type.encode("ascii") + number.encode("ascii"))


def _word(value: int) -> bytes:
    return value.to_bytes(_WORD, "big")


@dataclass(frozen=True, slots=True)
class ConsentTerms:
    """What a data subject consents to: one request on one chain and contract (PIPL art. 14, 23)."""

    chain_id: int
    contract: bytes  # 20 bytes
    grant_id: int
    resource_id: int
    requester: bytes  # 20 bytes: the account that will receive the data
    subject_commitment: bytes  # 32 bytes
    purpose: bytes  # 32 bytes
    fields: int  # bitmask
    valid_from: int  # unix seconds
    valid_until: int
    use_limit: int

    def message(self) -> bytes:
        """Return the consent preimage (fixed-width fields, as DataAuthorisation.consent_message builds)."""
        return compute_consent_message(self)


def compute_consent_message(terms: ConsentTerms) -> bytes:
    """Return the bytes a subject signs to consent: tag ‖ chain id ‖ contract ‖ grant id ‖ resource id ‖
    requester ‖ commitment ‖ purpose ‖ fields ‖ valid from ‖ valid until ‖ use limit (words are 32-byte
    big-endian, addresses 20 bytes). Raises DomainError for a field of the wrong size."""
    if len(terms.contract) != 20 or len(terms.requester) != 20:
        raise DomainError("contract and requester are 20-byte addresses", code="bad_arguments")
    if len(terms.subject_commitment) != _WORD or len(terms.purpose) != _WORD:
        raise DomainError("subject commitment and purpose are 32 bytes", code="bad_arguments")
    return b"".join(
        (
            CONSENT_TAG,
            _word(terms.chain_id),
            terms.contract,
            _word(terms.grant_id),
            _word(terms.resource_id),
            terms.requester,
            terms.subject_commitment,
            terms.purpose,
            _word(terms.fields),
            _word(terms.valid_from),
            _word(terms.valid_until),
            _word(terms.use_limit),
        )
    )


def compute_revocation_message(
    chain_id: int, contract: bytes, grant_id: int, subject_commitment: bytes
) -> bytes:
    """Return the bytes a subject signs to withdraw consent: tag ‖ chain id ‖ contract ‖ grant id ‖ subject
    commitment (words 32-byte big-endian, the contract address 20 bytes).

    Raises DomainError for a field of the wrong size.
    """
    if len(contract) != 20 or len(subject_commitment) != _WORD:
        raise DomainError("contract is 20 bytes and the commitment 32", code="bad_arguments")
    return REVOCATION_TAG + _word(chain_id) + contract + _word(grant_id) + subject_commitment


def compute_subject_key_message(
    chain_id: int, contract: bytes, subject_commitment: bytes, key_hash: bytes, version: int
) -> bytes:
    """Return the bytes a subject signs, with the key being bound, to have it bound to her commitment:
    tag ‖ chain id ‖ contract ‖ subject commitment ‖ SM3(key) ‖ version (1 for the first binding, the
    current version + 1 for a rebind; words 32-byte big-endian, the contract address 20 bytes).

    Raises DomainError for a field of the wrong size or a version below 1.
    """
    if len(contract) != 20 or len(subject_commitment) != _WORD or len(key_hash) != _WORD:
        raise DomainError("contract is 20 bytes, the commitment and key hash 32", code="bad_arguments")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise DomainError("a key version is a positive integer", code="bad_arguments", field="version")
    return SUBJECT_KEY_TAG + _word(chain_id) + contract + subject_commitment + key_hash + _word(version)


@dataclass(frozen=True, slots=True)
class SubjectKeyBinding:
    """A data subject's own request, signed with the key it names, to bind that key to her commitment.

    A DATA_REGULATOR relays it with ``bind_subject_key`` (version 1) or ``propose_subject_key_rebind``.
    """

    subject_commitment: bytes  # 32 bytes
    public_key: bytes  # 64 bytes x‖y; SM3 of it is what gets bound
    signature: bytes  # 64 bytes r‖s over compute_subject_key_message(…, version)
    version: int

    @property
    def key_hash(self) -> bytes:
        return sm3(self.public_key)


@dataclass(frozen=True, slots=True)
class SubjectConsent:
    """A data subject's signed consent to one request, ready for the holder's ``grant``."""

    terms: ConsentTerms
    public_key: bytes  # 64 bytes x‖y of the subject's SM2 key (its SM3 is bound to the grant)
    signature: bytes  # 64 bytes r‖s over terms.message()


@dataclass(frozen=True, slots=True)
class SubjectRevocation:
    """A data subject's signed withdrawal of consent for one grant; any member account may relay it."""

    grant_id: int
    public_key: bytes
    signature: bytes


def sign_consent(subject_key: PrivateKey, terms: ConsentTerms) -> SubjectConsent:
    """Sign consent ``terms`` with the subject's key (SM2, default user ID); returns the SubjectConsent."""
    return SubjectConsent(
        terms=terms, public_key=subject_key.public_key.to_bytes(), signature=subject_key.sign(terms.message())
    )


def sign_subject_key_binding(
    subject_key: PrivateKey, *, chain_id: int, contract: bytes, subject_commitment: bytes, version: int = 1
) -> SubjectKeyBinding:
    """Sign, with the key to be bound, the request to bind it to ``subject_commitment`` as ``version``."""
    public_key = subject_key.public_key.to_bytes()
    message = compute_subject_key_message(chain_id, contract, subject_commitment, sm3(public_key), version)
    return SubjectKeyBinding(
        subject_commitment=subject_commitment,
        public_key=public_key,
        signature=subject_key.sign(message),
        version=version,
    )


def sign_revocation(
    subject_key: PrivateKey, *, chain_id: int, contract: bytes, grant_id: int, subject_commitment: bytes
) -> SubjectRevocation:
    """Sign the withdrawal of consent for ``grant_id``; returns the SubjectRevocation to relay."""
    message = compute_revocation_message(chain_id, contract, grant_id, subject_commitment)
    return SubjectRevocation(
        grant_id=grant_id, public_key=subject_key.public_key.to_bytes(), signature=subject_key.sign(message)
    )


def _enum(kind: type[_E], value: int, name: str) -> _E:
    try:
        return kind(value)
    except ValueError as exc:
        allowed = ", ".join(str(int(m)) for m in kind)
        raise DomainError(f"{name} must be one of {allowed}", code="bad_arguments", field=name) from exc


def _seconds(value: int | dt.datetime, name: str) -> int:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise DomainError(f"{name} must be timezone-aware", code="bad_arguments", field=name)
        return int(value.timestamp())
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DomainError(f"{name} is unix seconds or an aware datetime", code="bad_arguments", field=name)
    return value


def _hash32(value: bytes | None, name: str, *, required: bool) -> bytes:
    if value is None:
        if required:
            raise DomainError(f"{name} is required", code="bad_arguments", field=name)
        return bytes(_WORD)
    if len(value) != _WORD:
        raise DomainError(f"{name} must be 32 bytes", code="bad_arguments", field=name)
    if required and value == bytes(_WORD):
        raise DomainError(f"{name} must not be zero", code="bad_arguments", field=name)
    return value


# --- typed results -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Resource:
    resource_id: int
    holder: str  # USCC of the holding organisation
    registrant: bytes
    level: Level
    share_type: ShareType
    schema_hash: bytes
    condition_hash: bytes
    fields: tuple[int, ...]
    personal: bool


@dataclass(frozen=True, slots=True)
class Grant:
    """A request / grant as the contract holds it (``status`` already accounts for expiry)."""

    grant_id: int
    resource_id: int
    requester: bytes
    requester_org: str
    holder_org: str
    purpose: bytes
    fields: tuple[int, ...]
    valid_from: int
    valid_until: int
    use_limit: int
    uses: int
    status: GrantStatus
    subject_commitment: bytes | None
    subject_key_hash: bytes | None
    approved_by: bytes | None
    granted_by: bytes | None
    requested_at: int
    granted_at: int


@dataclass(frozen=True, slots=True)
class SubjectKeyRecord:
    """The key currently bound to a subject commitment and who vouched for it."""

    subject_commitment: bytes
    key_hash: bytes  # SM3 of the 64-byte SM2 public key
    version: int  # 1 for the first binding, +1 per confirmed rebind
    attested_by: bytes  # the DATA_REGULATOR that bound it or proposed the rebind
    attester_org: str
    confirmed_by: bytes | None  # the second regulator of a rebind (None for a first binding)
    confirmer_org: str | None
    bound_at: int


@dataclass(frozen=True, slots=True)
class ResourceResult:
    resource_id: int
    receipt: ReceiptResult


@dataclass(frozen=True, slots=True)
class RequestResult:
    grant_id: int
    receipt: ReceiptResult


@dataclass(frozen=True, slots=True)
class UseResult:
    grant_id: int
    use_number: int
    receipt: ReceiptResult


@dataclass(frozen=True, slots=True)
class TrailEvent:
    """One step of a grant's use trail, from the node's member-signed API."""

    event: str
    height: int
    tx_hash: bytes
    log_index: int
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class GrantRecord:
    """A grant with its resource's level and share type and its use trail, as the node's API returns it."""

    grant_id: int
    resource_id: int
    requester: bytes
    requester_org: str
    holder_org: str
    status: GrantStatus
    fields: tuple[int, ...]
    valid_from: int
    valid_until: int
    use_limit: int
    uses: int
    level: Level
    share_type: ShareType
    personal: bool
    subject_commitment: bytes | None
    trail: tuple[TrailEvent, ...] = field(default=())


def _opt(value: bytes, size: int) -> bytes | None:
    return None if value == bytes(size) else value


class Authorisations:
    """Reads of DataAuthorisation through a node, signed writes with ``signer``, member-signed queries.

    Writes wait for the commit and raise ExecutionError with the contract's reason on a refusal (e.g.
    ``use limit reached``); inputs are checked before anything is signed (DomainError, IdentifierError).
    """

    def __init__(self, client: Client, signer: Signer | None = None, *, address: bytes | None = None) -> None:
        self.client = client
        self.signer = signer
        self.address = address if address is not None else DATA_AUTHORISATION_ADDRESS
        self.contract = Contract("DataAuthorisation")

    def with_signer(self, signer: Signer) -> Authorisations:
        """Return a facade that signs writes with ``signer``."""
        return Authorisations(self.client, signer, address=self.address)

    # --- reads --------------------------------------------------------------------------------------
    def _read(self, function: str, *args: Any) -> Any:
        out = self.client.call(self.address, self.contract.encode_call(function, list(args)))
        return self.contract.decode_output(function, out)

    def resource(self, resource_id: int) -> Resource | None:
        """Return a registered resource, or None."""
        row = self._read("resources", resource_id)
        if int(row["level"]) == 0:
            return None
        return Resource(
            resource_id=resource_id,
            holder=str(row["holder"]),
            registrant=row["registrant"],
            level=Level(row["level"]),
            share_type=ShareType(row["share_type"]),
            schema_hash=bytes(row["schema_hash"]),
            condition_hash=bytes(row["condition_hash"]),
            fields=compute_field_ids(int(row["fields"])),
            personal=bool(row["personal"]),
        )

    def get_grant(self, grant_id: int) -> Grant | None:
        """Return a request / grant by id (status with expiry derived), or None when there is none."""
        row = self._read("grants", grant_id)
        if int(row["status"]) == GrantStatus.NONE:
            return None
        return Grant(
            grant_id=grant_id,
            resource_id=int(row["resource_id"]),
            requester=row["requester"],
            requester_org=str(row["requester_org"]),
            holder_org=str(row["holder_org"]),
            purpose=bytes(row["purpose"]),
            fields=compute_field_ids(int(row["fields"])),
            valid_from=int(row["valid_from"]),
            valid_until=int(row["valid_until"]),
            use_limit=int(row["use_limit"]),
            uses=int(row["uses"]),
            status=self.status(grant_id),
            subject_commitment=_opt(bytes(row["subject_commitment"]), _WORD),
            subject_key_hash=_opt(bytes(row["subject_key_hash"]), _WORD),
            approved_by=_opt(row["approved_by"], 20),
            granted_by=_opt(row["granted_by"], 20),
            requested_at=int(row["requested_at"]),
            granted_at=int(row["granted_at"]),
        )

    def status(self, grant_id: int) -> GrantStatus:
        """Return the status of a request / grant (NONE for an unknown id; EXPIRED once its period ended)."""
        return GrantStatus(int(self._read("status_of", grant_id)))

    def can_use(self, grant_id: int, field_ids: Iterable[int]) -> bool:
        """Whether a use of ``field_ids`` would pass the grant's checks now (not the sender's role)."""
        return bool(self._read("can_use", grant_id, compute_fields_mask(field_ids)))

    def subject_key(self, subject_commitment: bytes) -> bytes | None:
        """Return SM3 of the SM2 key bound to ``subject_commitment``, or None when none is bound.

        Raises DomainError for a commitment that is not 32 non-zero bytes.
        """
        record = self.subject_key_record(subject_commitment)
        return None if record is None else record.key_hash

    def subject_key_record(self, subject_commitment: bytes) -> SubjectKeyRecord | None:
        """Return the current key binding of ``subject_commitment`` (key hash, version, attesting
        regulators), or None when none is bound. Raises DomainError for a malformed commitment."""
        commitment = _hash32(subject_commitment, "subject_commitment", required=True)
        row = self._read("subject_keys", commitment)
        if bytes(row["key_hash"]) == bytes(_WORD):
            return None
        return SubjectKeyRecord(
            subject_commitment=commitment,
            key_hash=bytes(row["key_hash"]),
            version=int(row["version"]),
            attested_by=row["attested_by"],
            attester_org=str(row["attester_org"]),
            confirmed_by=_opt(row["confirmed_by"], 20),
            confirmer_org=str(row["confirmer_org"]) or None,
            bound_at=int(row["bound_at"]),
        )

    def subject_key_history(self, subject_commitment: bytes) -> list[bytes]:
        """Return the key hashes bound to ``subject_commitment`` so far, oldest first (version 1, 2, …)."""
        record = self.subject_key_record(subject_commitment)
        if record is None:
            return []
        return [
            bytes(self._read("subject_key_history", record.subject_commitment, version))
            for version in range(1, record.version + 1)
        ]

    def consent_terms(self, grant_id: int) -> ConsentTerms:
        """Return the terms of request ``grant_id`` that its data subject consents to.

        Raises DomainError when there is no such request or it concerns no personal data.
        """
        grant = self.get_grant(grant_id)
        if grant is None:
            raise DomainError(f"no request {grant_id}", code="not_found", grant_id=grant_id)
        if grant.subject_commitment is None:
            raise DomainError("this request concerns no personal data", code="no_subject", grant_id=grant_id)
        return ConsentTerms(
            chain_id=self.client.chain_info(refresh=False).chain_id,
            contract=self.address,
            grant_id=grant_id,
            resource_id=grant.resource_id,
            requester=grant.requester,
            subject_commitment=grant.subject_commitment,
            purpose=grant.purpose,
            fields=compute_fields_mask(grant.fields),
            valid_from=grant.valid_from,
            valid_until=grant.valid_until,
            use_limit=grant.use_limit,
        )

    # --- the data subject's side ---------------------------------------------------------------------
    def subject_key_binding(
        self, subject_key: PrivateKey, *, resident_id: str, salt: bytes
    ) -> SubjectKeyBinding:
        """Sign the subject's own request to bind ``subject_key`` to her commitment, for the next key version
        (1 when none is bound yet, else current + 1: a rebind).

        Takes: the subject's SM2 key, her resident ID and the commitment salt (turned into the commitment
        locally; the ID is never sent). Returns: the SubjectKeyBinding a DATA_REGULATOR relays.
        Raises: IdentifierError (bad ID, masked), DomainError.
        """
        commitment = compute_subject_commitment(resident_id, salt)
        current = self.subject_key_record(commitment)
        return sign_subject_key_binding(
            subject_key,
            chain_id=self.client.chain_info(refresh=False).chain_id,
            contract=self.address,
            subject_commitment=commitment,
            version=1 if current is None else current.version + 1,
        )

    def subject_consent(
        self, subject_key: PrivateKey, grant_id: int, *, resident_id: str, salt: bytes
    ) -> SubjectConsent:
        """Build and sign the subject's consent to request ``grant_id``.

        Takes: the subject's own SM2 key, the request id, the subject's resident ID and the commitment salt.
        The ID is validated and turned into the salted commitment locally; it is never sent. Returns: the
        SubjectConsent for ``grant``. Raises: IdentifierError (bad ID, masked in the message), DomainError
        when the request names another subject (the commitment differs) or concerns no personal data.
        """
        commitment = compute_subject_commitment(resident_id, salt)
        terms = self.consent_terms(grant_id)
        if terms.subject_commitment != commitment:
            raise DomainError(
                "request names another data subject (commitment differs)",
                code="wrong_subject",
                grant_id=grant_id,
            )
        return sign_consent(subject_key, terms)

    def subject_revocation(self, subject_key: PrivateKey, grant_id: int) -> SubjectRevocation:
        """Sign the subject's withdrawal of consent for ``grant_id`` (to relay with ``revoke_by_subject``).

        The key must be the one that consented or the one bound to the subject's commitment now (after a
        supervised rebind). Raises DomainError when the grant has no data subject or the key is neither.
        """
        grant = self.get_grant(grant_id)
        if grant is None or grant.subject_commitment is None:
            raise DomainError(
                "no grant with a data subject under this id", code="no_subject", grant_id=grant_id
            )
        key_hash = sm3(subject_key.public_key.to_bytes())
        if grant.subject_key_hash is not None and key_hash not in (
            grant.subject_key_hash,
            self.subject_key(grant.subject_commitment),
        ):
            raise DomainError("another key consented to this grant", code="wrong_subject", grant_id=grant_id)
        return sign_revocation(
            subject_key,
            chain_id=self.client.chain_info(refresh=False).chain_id,
            contract=self.address,
            grant_id=grant_id,
            subject_commitment=grant.subject_commitment,
        )

    # --- writes -------------------------------------------------------------------------------------
    def _send(self, function: str, *args: Any) -> ReceiptResult:
        if self.signer is None:
            raise ClientError(
                "this Authorisations facade has no signer; use with_signer(signer)", code="no_signer"
            )
        data = self.contract.encode_call(function, list(args))
        return self.client.send(
            self.signer, self.address, data, gas_limit=AUTHORISATION_GAS_LIMIT, check=True
        )

    def _event(self, receipt: ReceiptResult, name: str) -> dict[str, Any]:
        for log in receipt.logs:
            if log.address != self.address:
                continue
            event = self.contract.try_decode_log(log)
            if event is not None and event.name == name:
                return event.args
        raise ClientError(f"the receipt carries no {name} event", code="bad_response")

    def register_resource(
        self,
        *,
        level: Level | int,
        share_type: ShareType | int,
        schema_hash: bytes,
        field_ids: Iterable[int],
        personal: bool,
        condition_hash: bytes | None = None,
    ) -> ResourceResult:
        """List a resource of the signer's organisation (signer needs DATA_HOLDER).

        Takes: level 1/2/3, share type 1/2/3 (2 needs a condition hash, 3 a basis hash), the schema hash,
        the field ids, whether it holds personal information. Returns: the resource id and receipt.
        Raises: DomainError before signing; ExecutionError when the contract refuses.
        """
        level_value = _enum(Level, level, "level")
        share_value = _enum(ShareType, share_type, "share_type")
        condition = _hash32(condition_hash, "condition_hash", required=share_value != ShareType.UNCONDITIONAL)
        if share_value == ShareType.UNCONDITIONAL and condition != bytes(_WORD):
            raise DomainError("unconditional sharing takes no condition", code="bad_arguments")
        receipt = self._send(
            "register_resource",
            int(level_value),
            int(share_value),
            _hash32(schema_hash, "schema_hash", required=True),
            condition,
            compute_fields_mask(field_ids),
            bool(personal),
        )
        return ResourceResult(int(self._event(receipt, "ResourceRegistered")["resource_id"]), receipt)

    def set_share_type(
        self, resource_id: int, share_type: ShareType | int, condition_hash: bytes | None = None
    ) -> ReceiptResult:
        """Reclassify a resource's share type (holder). Raises DomainError, ExecutionError."""
        share_value = _enum(ShareType, share_type, "share_type")
        condition = _hash32(condition_hash, "condition_hash", required=share_value != ShareType.UNCONDITIONAL)
        return self._send("set_share_type", resource_id, int(share_value), condition)

    def request(
        self,
        resource_id: int,
        *,
        purpose: str | bytes,
        field_ids: Iterable[int],
        valid_from: int | dt.datetime,
        valid_until: int | dt.datetime,
        use_limit: int,
        subject_commitment: bytes | None = None,
        condition_hash: bytes | None = None,
    ) -> RequestResult:
        """Request access to a resource (signer needs DATA_USER).

        Takes: the resource id, a purpose (text → SM3 code, or a 32-byte code), the field ids, the period
        (unix seconds or aware datetimes, until exclusive), the use limit, the subject commitment for
        personal data (``compute_subject_commitment``) and the resource's condition hash when it is shared
        conditionally. Returns: the request (= grant) id and receipt.
        Raises: DomainError before signing; ExecutionError when the contract refuses.
        """
        start, end = _seconds(valid_from, "valid_from"), _seconds(valid_until, "valid_until")
        if start >= end:
            raise DomainError(
                "valid_from must be before valid_until", code="bad_arguments", field="valid_until"
            )
        if isinstance(use_limit, bool) or not isinstance(use_limit, int) or use_limit < 1:
            raise DomainError("use_limit must be a positive integer", code="bad_arguments", field="use_limit")
        receipt = self._send(
            "request",
            resource_id,
            compute_purpose(purpose),
            compute_fields_mask(field_ids),
            start,
            end,
            use_limit,
            _hash32(subject_commitment, "subject_commitment", required=False),
            _hash32(condition_hash, "condition_hash", required=False),
        )
        return RequestResult(int(self._event(receipt, "AccessRequested")["grant_id"]), receipt)

    def bind_subject_key(self, binding: SubjectKeyBinding) -> ReceiptResult:
        """Bind the subject's key to her commitment (signer needs DATA_REGULATOR and has checked her identity
        off chain), relaying her own ``binding`` signed with that key (``subject_key_binding``). Needed before
        any personal-data grant for the commitment; grants refuse a key attested by the holder's or the
        requester's organisation.

        Raises: DomainError / InvalidKeyError before signing; ExecutionError when the contract refuses
        (``not a data regulator``, ``subject key already bound``, ``subject key signature is invalid``).
        """
        self._check_binding(binding)
        if binding.version != 1:
            raise DomainError(
                "a first binding is version 1; use propose_subject_key_rebind", code="bad_arguments"
            )
        return self._send(
            "bind_subject_key", binding.subject_commitment, binding.public_key, binding.signature
        )

    def propose_subject_key_rebind(self, binding: SubjectKeyBinding, reason_hash: bytes) -> ReceiptResult:
        """First step of the supervised rebind (signer needs DATA_REGULATOR): propose the subject's new key,
        signed by it for the next version, with the hash of the reason (case file). A DATA_REGULATOR of
        another organisation confirms it (``confirm_subject_key_rebind``).

        Raises: DomainError before signing; ExecutionError (``subject key not bound``, ``subject key
        signature is invalid`` e.g. for a stale version, ``key already bound to the commitment``).
        """
        self._check_binding(binding)
        return self._send(
            "propose_subject_key_rebind",
            binding.subject_commitment,
            binding.public_key,
            binding.signature,
            _hash32(reason_hash, "reason_hash", required=True),
        )

    def confirm_subject_key_rebind(self, subject_commitment: bytes, new_public_key: bytes) -> ReceiptResult:
        """Second step of the supervised rebind (signer needs DATA_REGULATOR of another organisation than the
        proposer's): the proposed key replaces the bound one; the old hash stays in the history.

        Raises: DomainError / InvalidKeyError before signing; ExecutionError (``no such rebind proposal``,
        ``rebind proposal is stale``, ``a rebind needs a regulator of another organisation``).
        """
        commitment = _hash32(subject_commitment, "subject_commitment", required=True)
        key = PublicKey.from_bytes(new_public_key).to_bytes()
        return self._send("confirm_subject_key_rebind", commitment, sm3(key))

    def _check_binding(self, binding: SubjectKeyBinding) -> None:
        _hash32(binding.subject_commitment, "subject_commitment", required=True)
        # raises InvalidKeyError for a key off the curve; the contract hashes exactly these 64 bytes
        if PublicKey.from_bytes(binding.public_key).to_bytes() != binding.public_key:
            raise DomainError("the subject key is 64 bytes x‖y", code="bad_arguments")
        if len(binding.signature) != 64:
            raise DomainError("a subject key signature is 64 bytes", code="bad_arguments")

    def approve(self, grant_id: int) -> ReceiptResult:
        """Approve a pending request for 核心 data (signer needs DATA_REGULATOR, of neither the holder's nor
        the requester's organisation). Raises ExecutionError."""
        return self._send("approve", grant_id)

    def refuse(self, grant_id: int, reason_hash: bytes | None = None) -> ReceiptResult:
        """Refuse a pending request (holder; or a regulator for 核心 data). Raises ExecutionError."""
        return self._send("refuse", grant_id, _hash32(reason_hash, "reason_hash", required=False))

    def grant(self, grant_id: int, consent: SubjectConsent | None = None) -> ReceiptResult:
        """Grant a pending request (holder). Personal data needs the subject's ``consent`` for this request.

        Raises: DomainError when the consent is for another request or malformed; ExecutionError when the
        contract refuses (e.g. ``subject key not bound``, ``consent key is not the subject's bound key``,
        ``subject key attested by the holder organisation``, ``subject consent signature is invalid``,
        ``core data needs regulator approval first``).
        """
        if consent is None:
            return self._send("grant", grant_id, b"", b"")
        if consent.terms.grant_id != grant_id or consent.terms.contract != self.address:
            raise DomainError("the consent is for another request", code="bad_arguments", grant_id=grant_id)
        PublicKey.from_bytes(consent.public_key)  # raises InvalidKeyError for a key off the curve
        if len(consent.signature) != 64:
            raise DomainError("a consent signature is 64 bytes", code="bad_arguments")
        return self._send("grant", grant_id, consent.public_key, consent.signature)

    def record_use(self, grant_id: int, field_ids: Iterable[int], result_digest: bytes) -> UseResult:
        """Record one use of a grant: the fields read and SM3 of what was returned (holder or requester).

        Raises: DomainError before signing; ExecutionError when the contract refuses (``use limit
        reached``, ``fields outside the grant``, ``grant revoked``, ``grant expired`` …).
        """
        receipt = self._send(
            "record_use",
            grant_id,
            compute_fields_mask(field_ids),
            _hash32(result_digest, "result_digest", required=True),
        )
        return UseResult(grant_id, int(self._event(receipt, "UseRecorded")["use_number"]), receipt)

    def revoke(self, grant_id: int, reason_hash: bytes | None = None) -> ReceiptResult:
        """Revoke a grant in force (holder). Raises DomainError, ExecutionError."""
        return self._send("revoke", grant_id, _hash32(reason_hash, "reason_hash", required=False))

    def revoke_by_subject(
        self, subject: PrivateKey | SubjectRevocation, grant_id: int | None = None
    ) -> ReceiptResult:
        """Relay a data subject's withdrawal of consent, signed here with the subject's key or beforehand.

        Takes: the subject's PrivateKey and the grant id, or a SubjectRevocation. Raises DomainError,
        ExecutionError (e.g. ``not the consenting subject's key``, ``grant revoked`` for a replay).
        """
        if isinstance(subject, SubjectRevocation):
            revocation = subject
            if grant_id is not None and grant_id != revocation.grant_id:
                raise DomainError("the revocation is for another grant", code="bad_arguments")
        else:
            if grant_id is None:
                raise DomainError("grant_id is required with a subject key", code="bad_arguments")
            revocation = self.subject_revocation(subject, grant_id)
        return self._send(
            "revoke_by_subject", revocation.grant_id, revocation.public_key, revocation.signature
        )

    def expire(self, grant_id: int) -> ReceiptResult:
        """Mark a grant whose period is over as expired. Raises ExecutionError."""
        return self._send("expire", grant_id)

    # --- member-signed queries of the node API -------------------------------------------------------
    def _query(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        if self.signer is None:
            raise ClientError(
                "member-signed queries need a signer; use with_signer(signer)", code="no_signer"
            )
        return self.client.signed_request(self.signer, "GET", path, params=dict(params or {}))

    def grant_record(self, grant_id: int) -> GrantRecord:
        """Return one grant with its use trail (the signer's organisation must be a party, or a regulator)."""
        return _to_record(self._query(f"/v1/authorisations/grants/{int(grant_id)}"))

    def grants_by_resource(self, resource_id: int, *, limit: int = DEFAULT_QUERY_LIMIT) -> list[GrantRecord]:
        """Return the grants of a resource that the signer's organisation may see, with their trails."""
        body = self._query(f"/v1/authorisations/by-resource/{int(resource_id)}", {"limit": limit})
        return [_to_record(g) for g in body["grants"]]

    def grants_by_requester(self, requester: bytes, *, limit: int = DEFAULT_QUERY_LIMIT) -> list[GrantRecord]:
        """Return the grants requested by account ``requester`` that the signer may see, with their trails."""
        body = self._query(f"/v1/authorisations/by-requester/0x{requester.hex()}", {"limit": limit})
        return [_to_record(g) for g in body["grants"]]

    def grants_by_subject(
        self, subject_commitment: bytes, *, limit: int = DEFAULT_QUERY_LIMIT
    ) -> list[GrantRecord]:
        """Return the grants about a subject commitment that the signer's organisation is party to."""
        commitment = _hash32(subject_commitment, "subject_commitment", required=True)
        body = self._query(f"/v1/authorisations/by-subject/0x{commitment.hex()}", {"limit": limit})
        return [_to_record(g) for g in body["grants"]]


def _to_record(body: Any) -> GrantRecord:
    try:
        commitment = body.get("subject_commitment")
        return GrantRecord(
            grant_id=int(body["grant_id"]),
            resource_id=int(body["resource_id"]),
            requester=from_node_hex(body["requester"]),
            requester_org=str(body["requester_org"]),
            holder_org=str(body["holder_org"]),
            status=GrantStatus[str(body["status"])],
            fields=tuple(int(f) for f in body["fields"]),
            valid_from=int(body["valid_from"]),
            valid_until=int(body["valid_until"]),
            use_limit=int(body["use_limit"]),
            uses=int(body["uses"]),
            level=Level(int(body["level"])),
            share_type=ShareType(int(body["share_type"])),
            personal=bool(body["personal"]),
            subject_commitment=from_node_hex(commitment) if commitment else None,
            trail=tuple(
                TrailEvent(
                    event=str(e["event"]),
                    height=int(e["height"]),
                    tx_hash=from_node_hex(e["tx_hash"]),
                    log_index=int(e["log_index"]),
                    args=dict(e["args"]),
                )
                for e in body["trail"]
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ClientError("the node's authorisation record is malformed", code="bad_response") from exc
