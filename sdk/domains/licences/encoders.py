"""What the licence registry is told, computed before anything is signed: validated type codes, holder codes
and region codes, identifier hashes, salted holder commitments and the holder's consent message.

Everything personal stays off chain: the chain sees the licence identifier (it names no person), a salted
commitment to the holder (the salt is always 32 bytes from ``secrets``), the document's hash and the hash
of the holder's SM2 public key."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import TYPE_CHECKING, Final

from sdk.crypto import PublicKey, sm3
from sdk.domains.calendar import CHINA_TZ
from sdk.errors import EncodingError, IdentifierError, WeakSaltError
from sdk.identifiers import parse_licence_id, parse_resident_id, parse_uscc
from sdk.identifiers._text import DIGITS, normalise_code, require_charset, require_length

if TYPE_CHECKING:
    pass


#: Domain tag that starts every use-consent message (see LicenceRegistry.consent_message).
CONSENT_TAG: Final = b"xinlian/licence-use/1"


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


# --- pure derivations (shared with the node API and verifiers) -------------------------------------------
def validate_type_code(type_code: str) -> str:
    """Return the normalised 21-character licence type code (defining authority USCC + 3 digits).

    Raises IdentifierError when the length, the USCC (with its check character) or the sequence is wrong.
    """
    code = normalise_code(type_code, field="type_code", label="licence type code")
    require_length(code, TYPE_CODE_LENGTH, field="type_code", label="licence type code", shown=code)
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


def to_validity(
    valid_from: int | dt.datetime | dt.date, valid_until: int | dt.datetime | dt.date | None
) -> tuple[int, int]:
    """Return a validity as the registry takes it: (start, end) unix seconds, end 0 for no end date.

    ``valid_until`` None means no end date; a date ends at its last second. Raises EncodingError as
    ``to_unix_seconds`` does.
    """
    start = to_unix_seconds(valid_from)
    end = 0 if valid_until is None else to_unix_seconds(valid_until, end_of_day=True)
    return start, end


def format_time(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=CHINA_TZ).isoformat()


def validate_reason(reason: str) -> str:
    text = reason.strip() if isinstance(reason, str) else ""
    if not text or len(text.encode("utf-8")) > MAX_REASON_BYTES:
        raise EncodingError(f"a reason is 1 to {MAX_REASON_BYTES} UTF-8 bytes", code="bad_arguments")
    return text
