"""What DrugTrace.vy is told, checked before anything is signed: trace codes parsed and validated with
sdk.identifiers, code and product ids, batch numbers, the contract's enumerations and gas budgets."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Final

from sdk.crypto import sm3
from sdk.encoding import readable_repr
from sdk.errors import IdentifierError
from sdk.identifiers import GS1_X_CHARSET, parse_drug_code, parse_gtin

if TYPE_CHECKING:
    pass


CODE_TAG: Final = b"xinlian/drug-code/2"


PRODUCT_SUSPENDED: Final = 2  # DrugTrace.PRODUCT_SUSPENDED


PRODUCT_TAG: Final = b"xinlian/drug-product/1"


CODE_PRODUCT_PREFIX_BYTES: Final = 8  # DrugTrace.commission compares the top 64 bits of code and product ids


MAX_CODES_PER_CALL: Final = 200  # DrugTrace.MAX_CODES


MAX_BATCH_NO_LENGTH: Final = 20  # GS1 AI (10)


MAX_PARENT_DEPTH: Final = 3


# Gas: a commissioned code costs one new storage slot (22.1k) plus its event and loop; the rest is per call.
COMMISSION_GAS_PER_CODE: Final = 25_000


COMMISSION_GAS_BASE: Final = 350_000  # a new batch record, role checks, the batch event


PACK_GAS_PER_CODE: Final = 33_000  # a new parent link and the packed flag per child


MOVE_GAS_PER_CODE: Final = 20_000


CALL_GAS_BASE: Final = 250_000


MIN_PREFIX_LENGTH: Final = 4  # DrugTrace.MIN_PREFIX_LENGTH


# longest key prefix by KeyScheme: a whole 药品标识码 / a GS1 company prefix + item reference (one GTIN)
MAX_PREFIX_LENGTHS: Final = {1: 7, 2: 12}


class Level(IntEnum):
    """Packaging level of a trace code (码上放心: 小包 / 中包 / 箱)."""

    UNIT = 1
    BUNDLE = 2
    CASE = 3


class Category(IntEnum):
    """Key-category flag: the NMPA traces vaccines, narcotics, psychotropics and blood products first."""

    ORDINARY = 0
    VACCINE = 1
    NARCOTIC = 2
    PSYCHOTROPIC = 3
    BLOOD_PRODUCT = 4


class KeyScheme(IntEnum):
    """How a product key is numbered, and where its prefixes are taken from (``assign_key_prefix``)."""

    NMPA = 1  # 7-digit 药品标识码: a prefix is a block of its 4-7 leading digits
    GS1 = 2  # GTIN-14: a prefix is a GS1 company prefix (4-12 digits after the indicator digit)


class BillType(IntEnum):
    """Outbound bill types (码上放心) accepted by ``ship``; destruction (205) is ``destroy``."""

    SALE = 201
    RETURN = 202
    TRANSFER = 203
    SAMPLING = 206
    DIRECT = 207
    RECALL = 211


class CodeStatus(IntEnum):
    """A code's effective status (its root ancestor's); UNKNOWN = never commissioned."""

    UNKNOWN = 0
    ACTIVE = 1
    IN_TRANSIT = 2
    DISPENSED = 3
    DESTROYED = 4


class DrugAction(IntEnum):
    """The action an Alert names."""

    COMMISSION = 1
    AGGREGATE = 2
    DISAGGREGATE = 3
    SHIP = 4
    RECEIVE = 5
    DISPENSE = 6
    DESTROY = 7
    CANCEL = 8


# --- identifiers --------------------------------------------------------------------------------------
@readable_repr
@dataclass(frozen=True, slots=True)
class TraceCode:
    """A validated trace code: its canonical text, product key and the ids the ledger knows it by.

    ``batch`` and ``expiry`` are what a GS1 code prints (AIs 10 and 17); None for 20-digit NMPA codes.
    """

    canonical: str  # 20 digits, or "(01)<GTIN-14>(21)<serial>"
    kind: str  # "nmpa" or "gs1"
    product_key: str  # 7-digit 药品标识码 or GTIN-14
    batch: str | None
    expiry: dt.date | None
    code_id: bytes
    product_id: bytes


def compute_commission_chunk_size(tx_gas_limit: int) -> int:
    """Return how many codes one commissioning transaction carries under a per-transaction gas limit."""
    return max(1, min(MAX_CODES_PER_CALL, (tx_gas_limit - COMMISSION_GAS_BASE) // COMMISSION_GAS_PER_CODE))


def compute_code_id(canonical: str, product_id: bytes) -> bytes:
    """Return the ledger id of a canonical code of the product ``product_id``: the product id's first 8 bytes,
    then the first 24 of SM3(CODE_TAG || 0x00 || canonical). DrugTrace commissions a code only under the
    product its prefix names, so no maker can commission another's codes."""
    return (
        product_id[:CODE_PRODUCT_PREFIX_BYTES]
        + sm3(CODE_TAG + b"\x00" + canonical.encode("ascii"))[: 32 - CODE_PRODUCT_PREFIX_BYTES]
    )


def compute_product_id(product_key: str) -> bytes:
    """Return the ledger id of a product from its 7-digit 药品标识码 or GTIN (-8/-12/-13/-14).

    Raises: IdentifierError for anything else (a GTIN must have the right check digit).
    """
    return sm3(PRODUCT_TAG + b"\x00" + normalise_product_key(product_key).encode("ascii"))


def normalise_product_key(product_key: str) -> str:
    """Return a product key as the ledger hashes it: 7 digits, or a GTIN padded to 14 digits.

    Raises: IdentifierError when it is neither.
    """
    text = product_key.strip() if isinstance(product_key, str) else ""
    if len(text) == 7 and text.isascii() and text.isdigit():
        return text
    try:
        return parse_gtin(text).gtin14
    except IdentifierError as exc:
        raise IdentifierError(
            "a product key is a 7-digit 药品标识码 or a GTIN", field="product_key", value=text
        ) from exc


def parse_trace_code(code: str, *, today: dt.date | None = None) -> TraceCode:
    """Validate a scanned or typed code (20-digit NMPA code or GS1 element string) with sdk.identifiers.

    Takes: the code text; ``today`` for the GS1 expiry century. Returns: the ``TraceCode``.
    Raises: IdentifierError when malformed, or a GS1 code without serial (21): it names no single pack.
    """
    parsed = parse_drug_code(code, today=today)
    if parsed.kind == "gs1":
        if not parsed.serial:
            raise IdentifierError(
                "a GS1 trace code needs a serial number (21) to identify one pack", field="drug_code"
            )
        canonical = f"(01){parsed.product_key}(21){parsed.serial}"
    else:
        canonical = parsed.product_key + (parsed.serial or "")
    product_id = compute_product_id(parsed.product_key)
    return TraceCode(
        canonical=canonical,
        kind=parsed.kind,
        product_key=parsed.product_key,
        batch=parsed.batch,
        expiry=parsed.expiry,
        code_id=compute_code_id(canonical, product_id),
        product_id=product_id,
    )


def validate_batch_no(batch_no: str) -> str:
    """Return a batch number checked as GS1 AI (10): 1–20 characters of GS1 character set 82.

    Raises: IdentifierError otherwise.
    """
    if not isinstance(batch_no, str) or not 1 <= len(batch_no) <= MAX_BATCH_NO_LENGTH:
        raise IdentifierError("a batch number is 1–20 characters", field="batch_no", value=str(batch_no))
    bad = [ch for ch in batch_no if ch not in GS1_X_CHARSET]
    if bad:
        raise IdentifierError(
            f"batch number character {bad[0]!r} is outside GS1 character set 82", field="batch_no"
        )
    return batch_no
