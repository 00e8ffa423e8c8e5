"""Resident identity number (公民身份号码, GB 11643-1999): parse and validate without leaking it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Final, Literal

from sdk.errors import IdentifierError
from sdk.identifiers._text import (
    DIGITS,
    check_mismatch,
    mask_personal_id,
    normalise_code,
    parses,
    require_charset,
    require_length,
)
from sdk.identifiers.checksums import compute_mod11_2_check

RESIDENT_ID_LENGTH: Final = 18
MIN_BIRTH_YEAR: Final = 1900

_LABEL: Final = "resident ID"
_FIELD: Final = "resident_id"


@dataclass(frozen=True, slots=True)
class ResidentId:
    """A checked resident ID. ``repr`` shows only the masked number: it is personal data."""

    number: str = field(repr=False)  # normalised 18 characters ('x' upper-cased)
    region: str = field(repr=False)  # 6 digits, GB/T 2260 address code at first issue
    birth_date: dt.date = field(repr=False)
    sequence: str = field(repr=False)  # 3 digits; odd = male, even = female
    check: str = field(repr=False)
    sex: Literal["male", "female"] = field(repr=False)
    masked: str  # e.g. 1101**********002X: the only form fit for logs and messages


def parse_resident_id(value: str, *, today: dt.date | None = None) -> ResidentId:
    """Parse and validate an 18-character resident ID.

    Takes: the number (surrounding whitespace stripped, a trailing 'x' upper-cased); ``today`` if the birth
    date must not be in the future (without it that check is skipped: no clock is read here).
    Returns: the parsed ``ResidentId``.
    Raises: IdentifierError on a wrong length, a non-digit in the first 17 places, a check character other
    than 0-9/X, a birth date that is not a real date, before 1900 or after ``today``, or a wrong check
    character. Messages and details only ever carry the masked number.
    """
    number = normalise_code(value, field=_FIELD, label=_LABEL, mask=True)
    shown = mask_personal_id(number, keep_tail=len(number) == RESIDENT_ID_LENGTH)
    require_length(number, RESIDENT_ID_LENGTH, field=_FIELD, label=_LABEL, shown=shown)
    require_charset(number[:17], DIGITS, field=_FIELD, label=_LABEL, what="a digit", shown=shown)
    require_charset(
        number[17], DIGITS + "X", field=_FIELD, label=_LABEL, what="a digit or X", shown=shown, offset=17
    )
    birth_date = _birth_date(number[6:14], shown=shown, today=today)
    expected = compute_mod11_2_check(number[:17])
    if number[17] != expected:
        raise check_mismatch(
            f"{_LABEL} {shown} check character", expected, number[17], field=_FIELD, shown=shown
        )
    sequence = number[14:17]
    return ResidentId(
        number=number,
        region=number[:6],
        birth_date=birth_date,
        sequence=sequence,
        check=number[17],
        sex="male" if int(sequence) % 2 else "female",
        masked=shown,
    )


def validate_resident_id(value: str, *, today: dt.date | None = None) -> None:
    """Check a value like ``parse_resident_id`` does, for callers that need no parsed parts.

    Takes: the same arguments as ``parse_resident_id``. Returns: None. Raises: IdentifierError as it does.
    """
    parse_resident_id(value, today=today)


def is_valid_resident_id(value: str, *, today: dt.date | None = None) -> bool:
    """Return True if ``parse_resident_id(value, today=today)`` would succeed (never raises)."""
    return parses(parse_resident_id, value, today=today)


def _birth_date(text: str, *, shown: str, today: dt.date | None) -> dt.date:
    # The birth date itself is personal data: messages say what is wrong with it, never what it is.
    year, month, day = int(text[:4]), int(text[4:6]), int(text[6:8])
    try:
        birth_date = dt.date(year, month, day)
    except ValueError as exc:
        raise IdentifierError(
            f"{_LABEL} {shown} birth date is not a real calendar date", field=_FIELD, value=shown
        ) from exc
    if year < MIN_BIRTH_YEAR:
        raise IdentifierError(
            f"{_LABEL} {shown} birth year is before {MIN_BIRTH_YEAR}",
            field=_FIELD,
            value=shown,
            expected=f">= {MIN_BIRTH_YEAR}",
        )
    if today is not None and birth_date > today:
        raise IdentifierError(f"{_LABEL} {shown} birth date is in the future", field=_FIELD, value=shown)
    return birth_date


def compute_resident_id_check(body: str) -> str:
    """Compute the check character of a resident ID from its first 17 digits.

    Takes: 17 ASCII digits. Returns: '0'-'9' or 'X'.
    Raises: IdentifierError on a wrong length or a non-digit (the body is never echoed).
    """
    return compute_mod11_2_check(body)
