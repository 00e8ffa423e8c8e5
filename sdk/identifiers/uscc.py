"""Unified social credit code (统一社会信用代码, GB 32100-2015): parse, validate, compute the check."""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from typing import Final

from sdk.identifiers._text import (
    DIGITS,
    check_mismatch,
    normalise_code,
    parses,
    require_charset,
    require_length,
)
from sdk.identifiers.checksums import USCC_CHARSET, compute_org_code_check, compute_uscc_check

USCC_LENGTH: Final = 18

# Codes that are legally issued but fail the GB 32100 check (early pilot issuance). Exact, normalised codes.
USCC_CHECK_EXCEPTIONS: Final[frozenset[str]] = frozenset({"91350100M0001TGQXM"})

_CHARSET_TEXT: Final = "0-9 or A-Z except I, O, Z, S, V"


@dataclass(frozen=True, slots=True)
class Uscc:
    """A USCC whose length, charset, region digits and check character (or whitelist entry) were checked.

    ``org_code_valid`` reports the inner GB 11714 organisation-code check separately: it is information,
    not a reason for refusal unless the caller asked for it (``require_org_code_check=True``).
    """

    code: str  # normalised (stripped, upper-case) 18 characters: store this, not the raw input
    registration_dept: str  # 登记管理部门代码, 1 char
    category: str  # 机构类别代码, 1 char
    region: str  # 登记管理机关行政区划码, GB/T 2260, 6 digits
    org_code: str  # 主体标识码 (组织机构代码, GB 11714), 9 chars incl. its own check
    check: str
    org_code_valid: bool
    check_exception: bool  # True when accepted only because it is whitelisted


def parse_uscc(
    value: str,
    *,
    check_exceptions: Set[str] = USCC_CHECK_EXCEPTIONS,
    require_org_code_check: bool = False,
) -> Uscc:
    """Parse and validate a USCC.

    Takes: the code (surrounding whitespace is stripped and letters upper-cased; the normalised form is
    returned in ``Uscc.code``); ``check_exceptions``, normalised codes accepted despite a wrong check
    character (default ``USCC_CHECK_EXCEPTIONS``); ``require_org_code_check`` to also refuse codes whose inner
    organisation code fails its GB 11714 check.
    Returns: the parsed ``Uscc``.
    Raises: IdentifierError on a wrong length, a character outside the GB 32100 charset, a non-digit region
    code, a wrong check character (message names the expected one) or, when required, a wrong inner check.
    """
    code = normalise_code(value, field="uscc", label="USCC")
    require_length(code, USCC_LENGTH, field="uscc", label="USCC", shown=code)
    require_charset(code, USCC_CHARSET, field="uscc", label="USCC", what=_CHARSET_TEXT, shown=code)
    require_charset(
        code[2:8], DIGITS, field="uscc", label="USCC region code", what="a digit", shown=code, offset=2
    )
    expected = compute_uscc_check(code[:17])
    exception = code[17] != expected
    if exception and code not in check_exceptions:
        raise check_mismatch("USCC check character", expected, code[17], field="uscc", shown=code)
    org_code = code[8:17]
    org_expected = compute_org_code_check(org_code[:8])
    org_valid = org_code[8] == org_expected
    if require_org_code_check and not org_valid:
        what = "USCC organisation code check character"
        raise check_mismatch(what, org_expected, org_code[8], field="uscc", shown=code)
    return Uscc(
        code=code,
        registration_dept=code[0],
        category=code[1],
        region=code[2:8],
        org_code=org_code,
        check=code[17],
        org_code_valid=org_valid,
        check_exception=exception,
    )


def validate_uscc(
    value: str, *, check_exceptions: Set[str] = USCC_CHECK_EXCEPTIONS, require_org_code_check: bool = False
) -> None:
    """Check a value like ``parse_uscc`` does, for callers that need no parsed parts.

    Takes: the same arguments as ``parse_uscc``. Returns: None. Raises: IdentifierError as it does.
    """
    parse_uscc(value, check_exceptions=check_exceptions, require_org_code_check=require_org_code_check)


def is_valid_uscc(value: str, *, check_exceptions: Set[str] = USCC_CHECK_EXCEPTIONS) -> bool:
    """Return True if ``parse_uscc(value, check_exceptions=...)`` would succeed (never raises)."""
    return parses(parse_uscc, value, check_exceptions=check_exceptions)
