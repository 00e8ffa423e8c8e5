"""E-licence identifier (电子证照标识, GB/T 36904): parse, validate and make with its MOD 37,36 check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from sdk.errors import IdentifierError
from sdk.identifiers._text import DIGITS, UPPER_ALNUM, check_mismatch, normalise_code, parses, require_charset
from sdk.identifiers.checksums import compute_mod37_36_check
from sdk.identifiers.uscc import USCC_CHECK_EXCEPTIONS, USCC_LENGTH, parse_uscc

LICENCE_ID_ROOT: Final = "1.2.156.3005.2"
LICENCE_TYPE_CODE_LENGTH: Final = USCC_LENGTH + 3
LICENCE_REGION_ISSUER_LENGTH: Final = 6  # one deployment identifies issuers by region code
LICENCE_SERIAL_MAX_LENGTH: Final = 32
LICENCE_VERSION_LENGTH: Final = 3

_FIELD: Final = "licence_id"
_LABEL: Final = "e-licence identifier"


@dataclass(frozen=True, slots=True)
class LicenceId:
    """A checked e-licence identifier and its segments (all normalised to upper case)."""

    identifier: str  # the full normalised identifier: store this, not the raw input
    type_code: str  # 证照类型代码, 21 chars
    defining_authority: str  # the USCC inside the type code
    type_sequence: str  # its last 3 digits
    issuer_code: str  # 颁发机构代码
    issuer_kind: Literal["uscc", "region"]
    serial: str  # 流水号
    version: str  # 版本号, 3 digits
    check: str  # 校验位


def compute_licence_check(payload: str) -> str:
    """Compute the 校验位 over the segments that follow the root.

    Takes: ``type.issuer.serial.version`` (dots are removed before computing; the root must not be
    included). Returns: one character in 0-9 A-Z.
    Raises: IdentifierError if a character other than 0-9, A-Z or '.' is present or nothing is left.
    """
    return compute_mod37_36_check(payload.replace(".", ""))


def parse_licence_id(value: str, *, check_embedded_uscc: bool = True) -> LicenceId:
    """Parse and validate an e-licence identifier.

    Takes: the identifier (surrounding whitespace stripped, letters upper-cased); ``check_embedded_uscc``
    to also verify the check characters of the defining authority's and the issuer's USCC (whitelisted
    pilot codes in ``USCC_CHECK_EXCEPTIONS`` pass; the inner organisation-code check is not required).
    Returns: the parsed ``LicenceId``.
    Raises: IdentifierError on a wrong root, segment count, segment length or charset, an embedded USCC
    that fails its check, or a wrong 校验位 (the message names the expected character).
    """
    identifier = normalise_code(value, field=_FIELD, label=_LABEL)
    prefix = LICENCE_ID_ROOT + "."
    if not identifier.startswith(prefix):
        raise IdentifierError(
            f"{_LABEL} must start with {prefix!r}", field=_FIELD, value=identifier, expected=prefix
        )
    segments = identifier[len(prefix) :].split(".")
    if len(segments) != 5:
        raise IdentifierError(
            f"{_LABEL} must have 5 segments after the root (type, issuer, serial, version, check), "
            f"got {len(segments)}",
            field=_FIELD,
            value=identifier,
            expected=5,
            got=len(segments),
        )
    type_code, issuer_code, serial, version, check = segments
    issuer_kind = _check_body(
        type_code, issuer_code, serial, version, shown=identifier, check_uscc=check_embedded_uscc
    )
    _check_segment(check, "check", identifier, UPPER_ALNUM, "0-9 or A-Z", 1)
    expected = compute_licence_check(type_code + issuer_code + serial + version)
    if check != expected:
        raise check_mismatch(f"{_LABEL} check character", expected, check, field=_FIELD, shown=identifier)
    return LicenceId(
        identifier=identifier,
        type_code=type_code,
        defining_authority=type_code[:USCC_LENGTH],
        type_sequence=type_code[USCC_LENGTH:],
        issuer_code=issuer_code,
        issuer_kind=issuer_kind,
        serial=serial,
        version=version,
        check=check,
    )


def validate_licence_id(value: str, *, check_embedded_uscc: bool = True) -> None:
    """Check a value like ``parse_licence_id`` does, for callers that need no parsed parts.

    Takes: the same arguments as ``parse_licence_id``. Returns: None. Raises: IdentifierError as it does.
    """
    parse_licence_id(value, check_embedded_uscc=check_embedded_uscc)


def is_valid_licence_id(value: str, *, check_embedded_uscc: bool = True) -> bool:
    """Return True if ``parse_licence_id`` would succeed with the same options (never raises)."""
    return parses(parse_licence_id, value, check_embedded_uscc=check_embedded_uscc)


def make_licence_id(
    type_code: str, issuer_code: str, serial: str, version: int | str, *, check_embedded_uscc: bool = True
) -> str:
    """Build an e-licence identifier with its 校验位.

    Takes: the 21-char type code, the issuer code (18-char USCC or 6-digit region code), the serial (1–32
    of 0-9 A-Z; lower case is upper-cased) and the version (int 0–999 or a 3-digit string).
    Returns: the full identifier ``1.2.156.3005.2.{type}.{issuer}.{serial}.{version}.{check}``.
    Raises: IdentifierError if any part is malformed (the result is validated before it is returned).
    """
    if isinstance(version, int) and not isinstance(version, bool):
        if not 0 <= version <= 999:
            raise IdentifierError(f"{_LABEL} version must be 0–999, got {version}", field=_FIELD, got=version)
        version = f"{version:03d}"
    parts = [normalise_code(p, field=_FIELD, label=_LABEL) for p in (type_code, issuer_code, serial, version)]
    body = ".".join(parts)
    if any("." in p for p in parts):
        raise IdentifierError(f"{_LABEL} segments must not contain '.'", field=_FIELD, value=body)
    # Each part is checked first, so a bad character is reported by segment rather than as a checksum error.
    _check_body(*parts, shown=body, check_uscc=check_embedded_uscc)
    identifier = f"{LICENCE_ID_ROOT}.{body}.{compute_licence_check(body)}"
    return identifier


def _check_body(
    type_code: str, issuer_code: str, serial: str, version: str, *, shown: str, check_uscc: bool
) -> Literal["uscc", "region"]:
    _check_type_code(type_code, shown, check_uscc)
    issuer_kind = _check_issuer_code(issuer_code, shown, check_uscc)
    _check_segment(serial, "serial", shown, UPPER_ALNUM, "0-9 or A-Z", 1, LICENCE_SERIAL_MAX_LENGTH)
    _check_segment(version, "version", shown, DIGITS, "a digit", LICENCE_VERSION_LENGTH)
    return issuer_kind


def _check_segment(
    segment: str,
    name: str,
    identifier: str,
    charset: str,
    what: str,
    min_length: int,
    max_length: int | None = None,
) -> None:
    max_length = min_length if max_length is None else max_length
    if not min_length <= len(segment) <= max_length:
        wanted = str(min_length) if min_length == max_length else f"{min_length}–{max_length}"
        raise IdentifierError(
            f"{_LABEL} {name} segment must be {wanted} characters, got {len(segment)}",
            field=_FIELD,
            value=identifier,
            segment=name,
            expected=wanted,
            got=len(segment),
        )
    require_charset(
        segment, charset, field=_FIELD, label=f"{_LABEL} {name} segment", what=what, shown=identifier
    )


def _check_type_code(type_code: str, identifier: str, check_uscc: bool) -> None:
    _check_segment(type_code, "type code", identifier, UPPER_ALNUM, "0-9 or A-Z", LICENCE_TYPE_CODE_LENGTH)
    require_charset(
        type_code[USCC_LENGTH:],
        DIGITS,
        field=_FIELD,
        label=f"{_LABEL} type code sequence",
        what="a digit",
        shown=identifier,
        offset=USCC_LENGTH,
    )
    if check_uscc:
        _check_embedded_uscc(type_code[:USCC_LENGTH], "defining authority", identifier)


def _check_issuer_code(issuer_code: str, identifier: str, check_uscc: bool) -> Literal["uscc", "region"]:
    if len(issuer_code) not in (LICENCE_REGION_ISSUER_LENGTH, USCC_LENGTH):
        raise IdentifierError(
            f"{_LABEL} issuer code segment must be {USCC_LENGTH} (USCC) or {LICENCE_REGION_ISSUER_LENGTH} "
            f"(region code) characters, got {len(issuer_code)}",
            field=_FIELD,
            value=identifier,
            segment="issuer code",
            expected=f"{USCC_LENGTH} or {LICENCE_REGION_ISSUER_LENGTH}",
            got=len(issuer_code),
        )
    if len(issuer_code) == LICENCE_REGION_ISSUER_LENGTH:
        require_charset(
            issuer_code,
            DIGITS,
            field=_FIELD,
            label=f"{_LABEL} issuer region code",
            what="a digit",
            shown=identifier,
        )
        return "region"
    _check_segment(issuer_code, "issuer code", identifier, UPPER_ALNUM, "0-9 or A-Z", USCC_LENGTH)
    if check_uscc:
        _check_embedded_uscc(issuer_code, "issuer", identifier)
    return "uscc"


def _check_embedded_uscc(code: str, role: str, identifier: str) -> None:
    try:
        parse_uscc(code, check_exceptions=USCC_CHECK_EXCEPTIONS)
    except IdentifierError as exc:
        raise IdentifierError(
            f"{_LABEL} {role} USCC is invalid: {exc.message}",
            field=_FIELD,
            value=identifier,
            segment=role,
            **{k: v for k, v in exc.detail.items() if k in ("expected", "got", "position")},
        ) from exc
