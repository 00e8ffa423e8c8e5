"""Chinese drug trace codes (药品追溯码, NMPAB/T 1002, 码上放心 20-digit form) and a GS1-or-NMPA parser."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final, Literal

from sdk.errors import IdentifierError
from sdk.identifiers._text import DIGITS, normalise_code, parses, require_charset, require_length
from sdk.identifiers.gs1 import GS, SYMBOLOGY_IDENTIFIERS, parse_gs1_element_string

DRUG_TRACE_CODE_LENGTH: Final = 20
DRUG_PRODUCT_CODE_LENGTH: Final = 7  # 药品标识码
DRUG_TRACE_CODE_PREFIX: Final = "8"  # 码上放心 practice
SPECIAL_DRUG_PREFIX: Final = "89"  # 码上放心: special drugs (特殊药品)


@dataclass(frozen=True, slots=True)
class DrugTraceCode:
    """A structurally valid 20-digit trace code; its check digit is unverified (algorithm not public)."""

    code: str
    product_code: str  # 药品标识码, first 7 digits (one per product, specification and packaging level)
    serial_part: str  # 生产标识码 + 校验位, last 13 digits; their inner layout is not public
    is_special: bool  # starts with 89


@dataclass(frozen=True, slots=True)
class DrugCode:
    """A drug code of either kind, in the shape the traceability domain uses.

    ``product_key`` is the 7-digit 药品标识码 (kind "nmpa") or the GTIN-14 (kind "gs1"); ``serial`` is the
    13-digit serial part (nmpa) or AI (21) if present (gs1); batch and expiry come only from GS1 AIs.
    """

    kind: Literal["nmpa", "gs1"]
    product_key: str
    serial: str | None
    batch: str | None
    expiry: dt.date | None
    raw: str


def parse_drug_trace_code(value: str, *, require_prefix: bool = True) -> DrugTraceCode:
    """Validate the structure of a 20-digit drug trace code.

    Takes: the code (surrounding whitespace stripped); ``require_prefix`` to insist on the leading '8' of
    码上放心 codes (on by default; pass False for other 20-digit NMPAB/T 1002 codes).
    Returns: the parsed ``DrugTraceCode``.
    Raises: IdentifierError on a wrong length, a non-digit or (when required) a first digit other than 8.
    """
    code = normalise_code(value, field="drug_trace_code", label="drug trace code", upper=False)
    require_length(
        code,
        DRUG_TRACE_CODE_LENGTH,
        field="drug_trace_code",
        label="drug trace code",
        shown=code,
        unit="digits",
    )
    require_charset(
        code, DIGITS, field="drug_trace_code", label="drug trace code", what="a digit", shown=code
    )
    if require_prefix and not code.startswith(DRUG_TRACE_CODE_PREFIX):
        raise IdentifierError(
            f"drug trace code should start with {DRUG_TRACE_CODE_PREFIX!r}, got {code[0]!r}",
            field="drug_trace_code",
            value=code,
            expected=DRUG_TRACE_CODE_PREFIX,
            got=code[0],
        )
    return DrugTraceCode(
        code=code,
        product_code=code[:DRUG_PRODUCT_CODE_LENGTH],
        serial_part=code[DRUG_PRODUCT_CODE_LENGTH:],
        is_special=code.startswith(SPECIAL_DRUG_PREFIX),
    )


def validate_drug_trace_code(value: str, *, require_prefix: bool = True) -> None:
    """Check a value like ``parse_drug_trace_code`` does, for callers that need no parsed parts.

    Takes: the same arguments as ``parse_drug_trace_code``. Returns: None. Raises: IdentifierError as it does.
    """
    parse_drug_trace_code(value, require_prefix=require_prefix)


def is_valid_drug_trace_code(value: str, *, require_prefix: bool = True) -> bool:
    """Return True if ``parse_drug_trace_code`` would succeed with the same option (never raises)."""
    return parses(parse_drug_trace_code, value, require_prefix=require_prefix)


def parse_drug_code(value: str, *, today: dt.date | None = None) -> DrugCode:
    """Parse a drug code that is either a 20-digit trace code or a GS1 element string.

    Takes: the scanned or typed text; ``today`` for the GS1 expiry century (see
    ``parse_gs1_element_string``). A text starting with '(', ']', GS or '01' is read as GS1; anything else
    as a 20-digit trace code with the leading '8' required (so ``01…`` is never mistaken for one).
    Returns: the common ``DrugCode``.
    Raises: IdentifierError from the parser chosen.
    """
    text = normalise_code(value, field="drug_code", label="drug code", upper=False)
    if text.startswith(("(", GS, "01", *SYMBOLOGY_IDENTIFIERS)):
        gs1 = parse_gs1_element_string(text, today=today)
        return DrugCode(
            kind="gs1", product_key=gs1.gtin, serial=gs1.serial, batch=gs1.batch, expiry=gs1.expiry, raw=value
        )
    nmpa = parse_drug_trace_code(text)
    return DrugCode(
        kind="nmpa",
        product_key=nmpa.product_code,
        serial=nmpa.serial_part,
        batch=None,
        expiry=None,
        raw=value,
    )
