"""GS1 identifiers: GTIN check digits and element strings with AIs (01), (10), (17), (21)."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Final

from sdk.errors import IdentifierError
from sdk.identifiers._text import DIGITS, check_mismatch, normalise_code, parses, require_charset
from sdk.identifiers.checksums import compute_gs1_check_digit

GTIN_LENGTHS: Final = frozenset({8, 12, 13, 14})
GS: Final = "\x1d"  # ASCII group separator: FNC1 as transmitted after a variable-length field
# Symbology identifiers a scanner may prefix: GS1 DataMatrix, GS1-128, GS1 QR Code, GS1 DataBar.
SYMBOLOGY_IDENTIFIERS: Final = ("]d2", "]C1", "]Q3", "]e0")
# GS1 General Specifications, "GS1 AI encodable character set 82".
GS1_X_CHARSET: Final = (
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789" + "!\"%&'()*+,-./:;<=>?_"
)


@dataclass(frozen=True, slots=True)
class _AiSpec:
    name: str
    fixed_length: int | None  # None: variable length up to max_length, ended by GS or the end
    max_length: int
    numeric: bool


AI_SPECS: Final[dict[str, _AiSpec]] = {
    "01": _AiSpec("GTIN", 14, 14, numeric=True),
    "10": _AiSpec("batch", None, 20, numeric=False),
    "17": _AiSpec("expiry", 6, 6, numeric=True),
    "21": _AiSpec("serial", None, 20, numeric=False),
}

_HRI_AI: Final = re.compile(r"\((\d{2})\)")


@dataclass(frozen=True, slots=True)
class Gtin:
    """A checked GTIN: ``gtin`` as given (8/12/13/14 digits) and ``gtin14`` left-padded with zeros."""

    gtin: str
    gtin14: str
    check_digit: str


@dataclass(frozen=True, slots=True)
class Gs1ElementString:
    """The AIs this SDK understands from one element string; ``gtin`` is the 14-digit AI (01)."""

    gtin: str
    serial: str | None
    batch: str | None
    expiry: dt.date | None
    raw: str


def compute_gtin_check(body: str) -> str:
    """Compute the check digit of a GTIN body (7, 11, 12 or 13 digits).

    Takes: the GTIN without its check digit. Returns: one digit.
    Raises: IdentifierError on a length that is not a GTIN body or a non-digit.
    """
    if len(body) + 1 not in GTIN_LENGTHS:
        raise IdentifierError(
            f"GTIN body must be 7, 11, 12 or 13 digits, got {len(body)}", field="gtin", got=len(body)
        )
    require_charset(body, DIGITS, field="gtin", label="GTIN", what="a digit", shown=body)
    return compute_gs1_check_digit(body)


def parse_gtin(value: str) -> Gtin:
    """Parse and validate a GTIN-8, -12, -13 or -14.

    Takes: the digits (surrounding whitespace stripped). Returns: the parsed ``Gtin``.
    Raises: IdentifierError on a wrong length, a non-digit or a wrong check digit.
    """
    gtin = normalise_code(value, field="gtin", label="GTIN", upper=False)
    if len(gtin) not in GTIN_LENGTHS:
        raise IdentifierError(
            f"GTIN must be 8, 12, 13 or 14 digits, got {len(gtin)}",
            field="gtin",
            value=gtin,
            expected="8, 12, 13 or 14",
            got=len(gtin),
        )
    require_charset(gtin, DIGITS, field="gtin", label="GTIN", what="a digit", shown=gtin)
    expected = compute_gs1_check_digit(gtin[:-1])
    if gtin[-1] != expected:
        raise check_mismatch("GTIN check digit", expected, gtin[-1], field="gtin", shown=gtin)
    return Gtin(gtin=gtin, gtin14=gtin.rjust(14, "0"), check_digit=gtin[-1])


def validate_gtin(value: str) -> None:
    """Check a value like ``parse_gtin`` does, for callers that need no parsed parts.

    Takes: the same arguments as ``parse_gtin``. Returns: None. Raises: IdentifierError as it does.
    """
    parse_gtin(value)


def is_valid_gtin(value: str) -> bool:
    """Return True if ``parse_gtin(value)`` would succeed (never raises)."""
    return parses(parse_gtin, value)


def parse_gs1_element_string(value: str, *, today: dt.date | None = None) -> Gs1ElementString:
    """Parse a GS1 element string carrying (01) and optionally (10), (17), (21).

    Takes: either the human-readable form ``(01)…(17)…(10)…`` or the raw scanned form where a GS
    (``\\x1d``, FNC1) ends each variable-length field that is not last, optionally prefixed by a symbology
    identifier (``]d2``, ``]C1``, ``]Q3``, ``]e0``) and/or a leading GS. Surrounding whitespace is stripped,
    and Python counts GS as whitespace, so a leading or trailing GS is tolerated. ``today`` selects the
    century of the expiry year with the GS1 sliding window (−49…+50 years); without it years are 2000–2099.
    In the human-readable form a variable-length value must not itself contain ``(NN)`` with NN a digit
    pair: that is read as the next AI.
    Returns: the parsed ``Gs1ElementString`` (``gtin`` always present, 14 digits).
    Raises: IdentifierError on an unknown or repeated AI, a missing (01), a wrong length, a character
    outside the GS1 set, a wrong GTIN check digit or an impossible expiry date.
    """
    raw = value if isinstance(value, str) else ""
    text = normalise_code(value, field="gs1", label="GS1 element string", upper=False)
    fields = _split_hri(text) if text.startswith("(") else _split_raw(text)
    found: dict[str, str] = {}
    for ai, data in fields:
        if ai in found:
            raise IdentifierError(f"GS1 AI ({ai}) appears twice", field="gs1", value=text, got=ai)
        found[ai] = _check_ai_value(ai, data, text)
    if "01" not in found:
        raise IdentifierError("GS1 element string has no GTIN (01)", field="gs1", value=text)
    gtin = parse_gtin(found["01"]).gtin
    expiry = _expiry(found["17"], text, today) if "17" in found else None
    return Gs1ElementString(gtin=gtin, serial=found.get("21"), batch=found.get("10"), expiry=expiry, raw=raw)


def validate_gs1_element_string(value: str, *, today: dt.date | None = None) -> None:
    """Check a value like ``parse_gs1_element_string`` does, for callers that need no parsed parts.

    Takes: the same arguments as ``parse_gs1_element_string``. Returns: None.
    Raises: IdentifierError as it does.
    """
    parse_gs1_element_string(value, today=today)


def is_valid_gs1_element_string(value: str) -> bool:
    """Return True if ``parse_gs1_element_string(value)`` would succeed (never raises)."""
    return parses(parse_gs1_element_string, value)


def _split_hri(text: str) -> list[tuple[str, str]]:
    matches = list(_HRI_AI.finditer(text))
    if not matches or matches[0].start() != 0:
        raise IdentifierError("GS1 element string must start with '(AI)'", field="gs1", value=text)
    fields: list[tuple[str, str]] = []
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        ai = match.group(1)
        _spec(ai, text)
        fields.append((ai, text[match.end() : end]))
    return fields


def _split_raw(text: str) -> list[tuple[str, str]]:
    for prefix in SYMBOLOGY_IDENTIFIERS:
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    pos = 1 if text.startswith(GS) else 0
    fields: list[tuple[str, str]] = []
    while pos < len(text):
        ai = text[pos : pos + 2]
        spec = _spec(ai, text)
        pos += 2
        if spec.fixed_length is not None:
            data = text[pos : pos + spec.fixed_length]
            pos += spec.fixed_length
        else:
            end = text.find(GS, pos)
            end = len(text) if end == -1 else end
            data = text[pos:end]
            pos = end
        fields.append((ai, data))
        if text.startswith(GS, pos):  # required after a variable field, tolerated after a fixed one
            pos += 1
    if not fields:
        raise IdentifierError("GS1 element string is empty", field="gs1", value=text)
    return fields


def _spec(ai: str, text: str) -> _AiSpec:
    spec = AI_SPECS.get(ai)
    if spec is None:
        raise IdentifierError(
            f"GS1 AI {ai!r} is not supported (supported: 01, 10, 17, 21)",
            field="gs1",
            value=text,
            expected=sorted(AI_SPECS),
            got=ai,
        )
    return spec


def _check_ai_value(ai: str, data: str, text: str) -> str:
    spec = AI_SPECS[ai]
    if spec.fixed_length is not None and len(data) != spec.fixed_length:
        raise IdentifierError(
            f"GS1 AI ({ai}) {spec.name} must be {spec.fixed_length} digits, got {len(data)}",
            field="gs1",
            value=text,
            expected=spec.fixed_length,
            got=len(data),
        )
    if not 1 <= len(data) <= spec.max_length:
        hint = " (missing GS separator?)" if len(data) > spec.max_length else ""
        raise IdentifierError(
            f"GS1 AI ({ai}) {spec.name} must be 1–{spec.max_length} characters, got {len(data)}{hint}",
            field="gs1",
            value=text,
            expected=f"1–{spec.max_length}",
            got=len(data),
        )
    charset, what = (
        (DIGITS, "a digit") if spec.numeric else (GS1_X_CHARSET, "a GS1 character set 82 character")
    )
    require_charset(data, charset, field="gs1", label=f"GS1 AI ({ai}) {spec.name}", what=what, shown=text)
    return data


def _expiry(data: str, text: str, today: dt.date | None) -> dt.date:
    yy, month, day = int(data[:2]), int(data[2:4]), int(data[4:6])
    year = 2000 + yy if today is None else _gs1_year(yy, today)
    if not 1 <= month <= 12:
        raise IdentifierError(
            f"GS1 AI (17) expiry month must be 01–12, got {data[2:4]}", field="gs1", value=text, got=data
        )
    if day == 0:  # GS1: day 00 means the last day of the month
        day = calendar.monthrange(year, month)[1]
    try:
        return dt.date(year, month, day)
    except ValueError as exc:
        raise IdentifierError(
            f"GS1 AI (17) expiry {data} is not a real date", field="gs1", value=text, got=data
        ) from exc


def _gs1_year(yy: int, today: dt.date) -> int:
    # GS1 General Specifications 7.12: a year 51–99 ahead is in the previous century, 50–99 behind the next.
    century, current = divmod(today.year, 100)
    difference = yy - current
    if difference >= 51:
        century -= 1
    elif difference <= -50:
        century += 1
    return century * 100 + yy
