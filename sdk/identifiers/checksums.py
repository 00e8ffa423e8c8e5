"""Check-character algorithms used by Chinese and GS1 identifiers (pure functions over validated text)."""

from __future__ import annotations

from typing import Final

from sdk.errors import IdentifierError
from sdk.identifiers._text import UPPER_ALNUM

# GB 32100-2015: 31 characters, the 26 Latin letters less I O Z S V; value = index.
USCC_CHARSET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS: Final = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# GB 11714-1997 organisation code: 8 body characters (0-9 → 0-9, A-Z → 10-35) and a check.
ORG_CODE_WEIGHTS: Final = (3, 7, 9, 10, 5, 8, 4, 2)
# GB 11643-1999 / ISO 7064 MOD 11-2 over the first 17 digits.
RESIDENT_ID_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RESIDENT_ID_CHECK_CHARS: Final = "10X98765432"

_USCC_VALUES: Final = {ch: i for i, ch in enumerate(USCC_CHARSET)}
_ALNUM_VALUES: Final = {ch: i for i, ch in enumerate(UPPER_ALNUM)}


def compute_uscc_check(body: str) -> str:
    """Compute the GB 32100 check character (weighted MOD 31) of a 17-character USCC body.

    Takes: 17 characters from ``USCC_CHARSET``. Returns: one character of ``USCC_CHARSET``.
    Raises: IdentifierError on a wrong length or a character outside ``USCC_CHARSET``.
    """
    if len(body) != len(USCC_WEIGHTS):
        raise IdentifierError(
            f"USCC body must be {len(USCC_WEIGHTS)} characters, got {len(body)}", field="uscc"
        )
    total = sum(
        _value(_USCC_VALUES, ch, "USCC", "uscc") * w for ch, w in zip(body, USCC_WEIGHTS, strict=True)
    )
    return USCC_CHARSET[(31 - total % 31) % 31]


def compute_org_code_check(body: str) -> str:
    """Compute the GB 11714 organisation-code check character (MOD 11) of an 8-character body.

    Takes: 8 characters in 0-9 A-Z. Returns: '0'-'9' or 'X'.
    Raises: IdentifierError on a wrong length or a character outside 0-9 A-Z.
    """
    if len(body) != len(ORG_CODE_WEIGHTS):
        raise IdentifierError(
            f"organisation code body must be 8 characters, got {len(body)}", field="org_code"
        )
    total = sum(
        _value(_ALNUM_VALUES, ch, "organisation code", "org_code") * w
        for ch, w in zip(body, ORG_CODE_WEIGHTS, strict=True)
    )
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def compute_mod11_2_check(body: str) -> str:
    """Compute the ISO 7064 MOD 11-2 check character of a 17-digit resident ID body.

    Takes: 17 ASCII digits. Returns: '0'-'9' or 'X'.
    Raises: IdentifierError on a wrong length or a non-digit (the body is never echoed: it is personal).
    """
    if len(body) != len(RESIDENT_ID_WEIGHTS) or not all("0" <= ch <= "9" for ch in body):
        raise IdentifierError("resident ID body must be 17 ASCII digits", field="resident_id")
    total = sum((ord(ch) - 48) * w for ch, w in zip(body, RESIDENT_ID_WEIGHTS, strict=True))
    return RESIDENT_ID_CHECK_CHARS[total % 11]


def compute_mod37_36_check(payload: str) -> str:
    """Compute the ISO/IEC 7064 MOD 37,36 (hybrid) check character of an alphanumeric payload.

    Takes: characters in 0-9 A-Z (0-9 → 0-9, A-Z → 10-35). Returns: one character in 0-9 A-Z.
    Raises: IdentifierError on an empty payload or a character outside 0-9 A-Z.
    """
    if not payload:
        raise IdentifierError("MOD 37,36 payload must not be empty", field="payload")
    p = 36
    for ch in payload:
        p = (p + _value(_ALNUM_VALUES, ch, "MOD 37,36 payload", "payload")) % 36 or 36
        p = (2 * p) % 37
    return UPPER_ALNUM[(37 - p) % 36]


def compute_gs1_check_digit(body: str) -> str:
    """Compute the GS1 mod-10 check digit (weights 3,1,3,… from the right) of a digit string.

    Takes: 1 or more ASCII digits (the GTIN without its check digit). Returns: one digit.
    Raises: IdentifierError on an empty string or a non-digit.
    """
    if not body or not all("0" <= ch <= "9" for ch in body):
        raise IdentifierError("GS1 check digit body must be one or more ASCII digits", field="gtin")
    total = sum((ord(ch) - 48) * (3 if i % 2 == 0 else 1) for i, ch in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def _value(values: dict[str, int], ch: str, label: str, field: str) -> int:
    value = values.get(ch)
    if value is None:
        raise IdentifierError(f"{label} has an invalid character {ch!r}", field=field, got=ch)
    return value
