"""What DataAuthorisation.vy is told: field masks, purposes, salted subject commitments, per-grant subject
tags, and the messages a data subject signs (consent, revocation, key binding) with their signatures."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Final

from eth_utils.crypto import keccak

from sdk.crypto import PrivateKey, sm3
from sdk.encoding import readable_repr
from sdk.errors import DomainError
from sdk.identifiers import parse_resident_id

if TYPE_CHECKING:
    pass


CONSENT_TAG: Final = b"xinlian/consent/1"


REVOCATION_TAG: Final = b"xinlian/consent-revoke/1"


SUBJECT_KEY_TAG: Final = b"xinlian/subject-key/1"


SUBJECT_COMMITMENT_TAG: Final = b"xinlian/subject/1"


#: Domain tag of a grant's subject tag (DataAuthorisation._subject_tag).
GRANT_SUBJECT_TAG: Final = b"xinlian/grant-subject/1"


PURPOSE_TAG: Final = b"xinlian/purpose/1"


#: 持证主体代码类型 of a resident ID (公民身份号码), as in GB/T 36903 licence metadata.
ID_TYPE_RESIDENT: Final = "111"


SALT_BYTES: Final = 32


MAX_FIELD_ID: Final = 255


WORD_BYTES: Final = 32


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
        if len(purpose) != WORD_BYTES or purpose == bytes(WORD_BYTES):
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


def encode_word(value: int) -> bytes:
    return value.to_bytes(WORD_BYTES, "big")


def compute_subject_tag(chain_id: int, contract: bytes, grant_id: int, subject_commitment: bytes) -> bytes:
    """Return the grant's subject tag, what AccessRequested, AccessGranted (indexed) and the ``grants`` view
    show instead of the subject commitment: keccak256(tag ‖ chain id ‖ contract ‖ grant id ‖ commitment)
    (words 32-byte big-endian, the contract address 20 bytes); 32 zero bytes for a zero commitment
    (non-personal data).

    One tag per grant: grants about one person share no tag, so their readers cannot link them; whoever
    knows the commitment (the subject, the holder, the requester) recomputes it to find a grant.
    Raises DomainError for a field of the wrong size or a negative number.
    """
    if len(contract) != 20 or len(subject_commitment) != WORD_BYTES:
        raise DomainError("contract is 20 bytes and the commitment 32", code="bad_arguments")
    if min(chain_id, grant_id) < 0:
        raise DomainError("chain id and grant id are unsigned", code="bad_arguments")
    if subject_commitment == bytes(WORD_BYTES):
        return bytes(WORD_BYTES)
    return keccak(
        GRANT_SUBJECT_TAG + encode_word(chain_id) + contract + encode_word(grant_id) + subject_commitment
    )


@readable_repr
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
    if len(terms.subject_commitment) != WORD_BYTES or len(terms.purpose) != WORD_BYTES:
        raise DomainError("subject commitment and purpose are 32 bytes", code="bad_arguments")
    return b"".join(
        (
            CONSENT_TAG,
            encode_word(terms.chain_id),
            terms.contract,
            encode_word(terms.grant_id),
            encode_word(terms.resource_id),
            terms.requester,
            terms.subject_commitment,
            terms.purpose,
            encode_word(terms.fields),
            encode_word(terms.valid_from),
            encode_word(terms.valid_until),
            encode_word(terms.use_limit),
        )
    )


def compute_revocation_message(
    chain_id: int, contract: bytes, grant_id: int, subject_commitment: bytes
) -> bytes:
    """Return the bytes a subject signs to withdraw consent: tag ‖ chain id ‖ contract ‖ grant id ‖ subject
    commitment (words 32-byte big-endian, the contract address 20 bytes).

    Raises DomainError for a field of the wrong size.
    """
    if len(contract) != 20 or len(subject_commitment) != WORD_BYTES:
        raise DomainError("contract is 20 bytes and the commitment 32", code="bad_arguments")
    return REVOCATION_TAG + encode_word(chain_id) + contract + encode_word(grant_id) + subject_commitment


def compute_subject_key_message(
    chain_id: int, contract: bytes, subject_commitment: bytes, key_hash: bytes, version: int
) -> bytes:
    """Return the bytes a subject signs, with the key being bound, to have it bound to her commitment:
    tag ‖ chain id ‖ contract ‖ subject commitment ‖ SM3(key) ‖ version (1 for the first binding, the
    current version + 1 for a rebind; words 32-byte big-endian, the contract address 20 bytes).

    Raises DomainError for a field of the wrong size or a version below 1.
    """
    if len(contract) != 20 or len(subject_commitment) != WORD_BYTES or len(key_hash) != WORD_BYTES:
        raise DomainError("contract is 20 bytes, the commitment and key hash 32", code="bad_arguments")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise DomainError("a key version is a positive integer", code="bad_arguments", field="version")
    return (
        SUBJECT_KEY_TAG
        + encode_word(chain_id)
        + contract
        + subject_commitment
        + key_hash
        + encode_word(version)
    )


@readable_repr
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


@readable_repr
@dataclass(frozen=True, slots=True)
class SubjectConsent:
    """A data subject's signed consent to one request, ready for the holder's ``grant``."""

    terms: ConsentTerms
    public_key: bytes  # 64 bytes x‖y of the subject's SM2 key (its SM3 is bound to the grant)
    signature: bytes  # 64 bytes r‖s over terms.message()


@readable_repr
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
