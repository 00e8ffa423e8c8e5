"""The read model of DrugTrace.vy: products, codes, batches, shipments, alerts and decoded events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from sdk.answers import LogEntry
from sdk.contracts import Contract, LoggedEvent
from sdk.domains.drugs.encoders import Category, CodeStatus, DrugAction, Level
from sdk.encoding import readable_repr
from sdk.errors import EncodingError
from sdk.system import DRUG_TRACE_ADDRESS

if TYPE_CHECKING:
    from sdk.answers import ReceiptResult


DRUG_TRACE_CONTRACT: Final = Contract("DrugTrace")


# --- results ------------------------------------------------------------------------------------------
@readable_repr
@dataclass(frozen=True, slots=True)
class Product:
    product_id: bytes
    mah_uscc: str
    name: str
    approval_number: str
    category: Category
    drug_id: bytes  # the base product whose lots this product shares
    suspended: bool = False  # by a drug regulator: no code of it is commissioned


@readable_repr
@dataclass(frozen=True, slots=True)
class CodeState:
    """A code's state on the ledger; status, custodian and shipment are effective (from its root)."""

    code_id: bytes
    known: bool
    product_id: bytes
    batch_no: str
    production_date: dt.date | None
    expiry_date: dt.date | None
    level: Level | None
    status: CodeStatus
    custodian: bytes
    shipment_id: int
    parent: bytes | None
    recalled: bool
    frozen: bool
    expired: bool
    #: The DrugLots part that commissioned the code by its root, while the code has no word of its own: it is
    #: then in its MAH's custody, and its batch's holds are its own. None for a code with a word.
    lot_part: int | None = None


@readable_repr
@dataclass(frozen=True, slots=True)
class BatchState:
    product_id: bytes
    batch_no: str
    known: bool
    lot: bytes
    production_date: dt.date | None
    expiry_date: dt.date | None
    commissioned: int
    recalled: bool
    frozen: bool  # a regulator's freeze or the MAH's voluntary hold: nothing moves but receipts
    expired: bool
    regulator_freeze: bool = False  # lifted only by a drug regulator
    mah_hold: bool = False  # the MAH's voluntary hold, lifted only by the product's MAH


@readable_repr
@dataclass(frozen=True, slots=True)
class Shipment:
    shipment_id: int
    sender: bytes
    receiver: bytes
    bill_type: int
    count: int
    remaining: int
    status: int  # 1 open, 2 received, 3 cancelled


@readable_repr
@dataclass(frozen=True, slots=True)
class DrugAlert:
    """An Alert the contract recorded for a refused code."""

    code_id: bytes
    actor: bytes
    action: DrugAction
    reason: str


@readable_repr
@dataclass(frozen=True, slots=True)
class DrugEvent(LoggedEvent):
    """A DrugTrace event in a code's history; ``via`` is the ancestor it was packed in, when inherited."""

    via: bytes | None = None

    @property
    def position(self) -> tuple[int, int, int]:
        return (self.height, self.tx_index, self.log_index)


class LotPlace(NamedTuple):
    """A committed DrugLots part that holds a code: the part's number, the height that committed it and the
    account that commissioned it."""

    part: int
    height: int
    mah: bytes


@dataclass(frozen=True, slots=True)
class TrailStep:
    """One custody step a consumer may see: what happened, by which organisation, when (no volumes)."""

    step: str  # commissioned, shipped, received, shipment_cancelled, dispensed, destroyed
    uscc: str
    organisation: str
    height: int
    timestamp_ms: int | None


@readable_repr
@dataclass(frozen=True, slots=True)
class ConsumerView:
    """What a consumer learns from scanning a code (NMPAB/T 1012 style): authentic or not, and why."""

    code: str
    authentic: bool
    reason: str  # "" when authentic; else why not (unknown code, product mismatch, printed batch differs …)
    product_id: bytes | None  # the product the ledger registered the code under (None when unknown)
    product_name: str
    mah_uscc: str
    mah_name: str
    approval_number: str
    category: Category | None
    batch_no: str
    production_date: dt.date | None
    expiry_date: dt.date | None
    level: Level | None
    status: CodeStatus
    recalled: bool
    frozen: bool
    expired: bool
    trail: tuple[TrailStep, ...] = ()


@dataclass(frozen=True, slots=True)
class CommissionResult:
    count: int
    receipts: tuple[ReceiptResult, ...]


@dataclass(frozen=True, slots=True)
class ShipmentResult:
    shipment_id: int
    receipt: ReceiptResult


# Events whose topic1 is a code id, in the order a code lives through them.
CODE_EVENTS: Final = frozenset(
    {
        "Commissioned",
        "Aggregated",
        "Disaggregated",
        "Shipped",
        "Received",
        "ShipmentCancelledCode",
        "Dispensed",
        "Destroyed",
        "Alert",
    }
)


def decode_drug_event(entry: LogEntry) -> DrugEvent | None:
    """Decode a committed DrugTrace log into a DrugEvent, or None when it is no DrugTrace event."""
    return DrugEvent.from_entry(DRUG_TRACE_CONTRACT, entry)


def decode_alerts(receipt: ReceiptResult, address: bytes = DRUG_TRACE_ADDRESS) -> list[DrugAlert]:
    """Return the Alerts a DrugTrace transaction recorded (empty when none)."""
    return [
        DrugAlert(
            code_id=bytes(event.args["code"]),
            actor=event.args["actor"],
            action=DrugAction(int(event.args["action"])),
            reason=str(event.args["reason"]),
        )
        for event in DRUG_TRACE_CONTRACT.events_in(receipt.logs, address)
        if event.name == "Alert"
    ]


def consumer_view_from_json(body: Mapping[str, Any]) -> ConsumerView:
    """Decode the node's public consumer check (``GET /v1/drugs/codes/{code}``) into a ``ConsumerView``.

    Raises EncodingError when the answer does not have the documented shape.
    """
    try:
        product = body.get("product") or {}
        product_id = body.get("product_id")
        level = body.get("level")
        return ConsumerView(
            code=str(body["code"]),
            authentic=bool(body["authentic"]),
            reason=str(body["reason"]),
            product_id=bytes.fromhex(str(product_id)[2:]) if product_id else None,
            product_name=str(product.get("name", "")),
            mah_uscc=str(product.get("mah_uscc", "")),
            mah_name=str(product.get("mah_name", "")),
            approval_number=str(product.get("approval_number", "")),
            category=Category[str(product["category"]).upper()] if product else None,
            batch_no=str(body["batch_no"]),
            production_date=_optional_date(body.get("production_date")),
            expiry_date=_optional_date(body.get("expiry_date")),
            level=Level[str(level).upper()] if level else None,
            status=CodeStatus[str(body["status"]).upper()],
            recalled=bool(body["recalled"]),
            frozen=bool(body["frozen"]),
            expired=bool(body["expired"]),
            trail=tuple(
                TrailStep(
                    step=str(s["step"]),
                    uscc=str(s["uscc"]),
                    organisation=str(s["organisation"]),
                    height=int(s["height"]),
                    timestamp_ms=int(s["timestamp_ms"]) if s.get("timestamp_ms") is not None else None,
                )
                for s in body.get("trail", [])
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise EncodingError("the consumer check answer is malformed", code="bad_response") from exc


def _optional_date(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(str(value)) if value else None
