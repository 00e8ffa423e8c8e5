"""Drug traceability facade (DrugTrace.vy): products, codes, packing, shipments, holds, consumer queries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Final, Protocol

from sdk.client import LogEntry
from sdk.contracts import Contract, DecodedEvent
from sdk.crypto import sm3
from sdk.errors import ClientError, DomainError, DrugAlertError, EncodingError, IdentifierError
from sdk.identifiers import GS1_X_CHARSET, parse_drug_code, parse_gtin, parse_uscc
from sdk.signer import Signer
from sdk.system import DRUG_TRACE_ADDRESS

if TYPE_CHECKING:
    from sdk.client import Client, ReceiptResult

CODE_TAG: Final = b"xinlian/drug-code/1"
PRODUCT_SUSPENDED: Final = 2  # DrugTrace.PRODUCT_SUSPENDED
PRODUCT_TAG: Final = b"xinlian/drug-product/1"
MAX_CODES_PER_CALL: Final = 200  # DrugTrace.MAX_CODES
MAX_BATCH_NO_LENGTH: Final = 20  # GS1 AI (10)
MAX_PARENT_DEPTH: Final = 3
EPOCH: Final = dt.date(1970, 1, 1)
CHINA_TZ: Final = dt.timezone(dt.timedelta(hours=8))
# Gas: a commissioned code costs one new storage slot (22.1k) plus its event and loop; the rest is per call.
COMMISSION_GAS_PER_CODE: Final = 25_000
COMMISSION_GAS_BASE: Final = 350_000  # a new batch record, role checks, the batch event
PACK_GAS_PER_CODE: Final = 33_000  # a new parent link and the packed flag per child
MOVE_GAS_PER_CODE: Final = 20_000
CALL_GAS_BASE: Final = 250_000
MIN_PREFIX_LENGTH: Final = 4  # DrugTrace.MIN_PREFIX_LENGTH
# longest key prefix by KeyScheme: a whole 药品标识码 / a GS1 company prefix + item reference (one GTIN)
MAX_PREFIX_LENGTHS: Final = {1: 7, 2: 12}

_CONTRACT: Final = Contract("DrugTrace")


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


def compute_code_id(canonical: str) -> bytes:
    """Return the ledger id of a canonical code: SM3(CODE_TAG || 0x00 || canonical)."""
    return sm3(CODE_TAG + b"\x00" + canonical.encode("ascii"))


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
    return TraceCode(
        canonical=canonical,
        kind=parsed.kind,
        product_key=parsed.product_key,
        batch=parsed.batch,
        expiry=parsed.expiry,
        code_id=compute_code_id(canonical),
        product_id=compute_product_id(parsed.product_key),
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


def compute_day(date: dt.date) -> int:
    """Return a date as the contract stores it: days since 1970-01-01."""
    return (date - EPOCH).days


def compute_date(day: int) -> dt.date:
    """Return the date of a contract day number."""
    return EPOCH + dt.timedelta(days=day)


# --- results ------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Product:
    product_id: bytes
    mah_uscc: str
    name: str
    approval_number: str
    category: Category
    drug_id: bytes  # the base product whose lots this product shares
    suspended: bool = False  # by a drug regulator: no code of it is commissioned


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


@dataclass(frozen=True, slots=True)
class Shipment:
    shipment_id: int
    sender: bytes
    receiver: bytes
    bill_type: int
    count: int
    remaining: int
    status: int  # 1 open, 2 received, 3 cancelled


@dataclass(frozen=True, slots=True)
class DrugAlert:
    """An Alert the contract recorded for a refused code."""

    code_id: bytes
    actor: bytes
    action: DrugAction
    reason: str


@dataclass(frozen=True, slots=True)
class DrugEvent:
    """A DrugTrace event in a code's history; ``via`` is the ancestor it was packed in, when inherited."""

    name: str
    args: dict[str, Any]
    height: int
    tx_hash: bytes
    tx_index: int
    log_index: int
    via: bytes | None = None

    @property
    def position(self) -> tuple[int, int, int]:
        return (self.height, self.tx_index, self.log_index)


@dataclass(frozen=True, slots=True)
class TrailStep:
    """One custody step a consumer may see: what happened, by which organisation, when (no volumes)."""

    step: str  # commissioned, shipped, received, shipment_cancelled, dispensed, destroyed
    uscc: str
    organisation: str
    height: int
    timestamp_ms: int | None


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


# --- reading the ledger -------------------------------------------------------------------------------
class DrugLedger(Protocol):
    """What the readers need from a ledger: calls, logs and block times (a node client or a node itself)."""

    @property
    def governance_address(self) -> bytes: ...

    def call(self, to: bytes, data: bytes) -> bytes: ...

    def logs(self, address: bytes, topics: Sequence[bytes | None]) -> Iterable[LogEntry]: ...

    def block_time_ms(self, height: int) -> int | None: ...


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
    event: DecodedEvent | None = _CONTRACT.try_decode_log(entry.log)
    if event is None:
        return None
    return DrugEvent(
        name=event.name,
        args=event.args,
        height=entry.height,
        tx_hash=entry.tx_hash,
        tx_index=entry.tx_index,
        log_index=entry.log_index,
    )


def decode_alerts(receipt: ReceiptResult, address: bytes = DRUG_TRACE_ADDRESS) -> list[DrugAlert]:
    """Return the Alerts a DrugTrace transaction recorded (empty when none)."""
    alerts: list[DrugAlert] = []
    for log in receipt.logs:
        if log.address != address:
            continue
        event = _CONTRACT.try_decode_log(log)
        if event is not None and event.name == "Alert":
            alerts.append(
                DrugAlert(
                    code_id=bytes(event.args["code"]),
                    actor=event.args["actor"],
                    action=DrugAction(int(event.args["action"])),
                    reason=str(event.args["reason"]),
                )
            )
    return alerts


class DrugQueries:
    """Read-only DrugTrace queries over any ``DrugLedger``: code state, batches, histories, consumer views."""

    def __init__(self, ledger: DrugLedger, address: bytes = DRUG_TRACE_ADDRESS) -> None:
        self.ledger = ledger
        self.address = address
        self.contract = _CONTRACT
        self._governance = Contract("Governance")
        self._org_names: dict[str, str] = {}
        self._account_orgs: dict[bytes, str] = {}

    def _read(self, function: str, *args: Any) -> Any:
        out = self.ledger.call(self.address, self.contract.encode_call(function, list(args)))
        return self.contract.decode_output(function, out)

    def _read_governance(self, function: str, *args: Any) -> Any:
        out = self.ledger.call(
            self.ledger.governance_address, self._governance.encode_call(function, list(args))
        )
        return self._governance.decode_output(function, out)

    # --- state -----------------------------------------------------------------------------------------
    def get_code(self, code_id: bytes) -> CodeState:
        """Return a code's state by its id (``known`` False for a code never commissioned)."""
        row = self._read("get_code", code_id)
        known = bool(row["known"])
        parent = bytes(row["parent"])
        return CodeState(
            code_id=code_id,
            known=known,
            product_id=bytes(row["product"]),
            batch_no=str(row["batch_no"]),
            production_date=compute_date(int(row["production_day"])) if known else None,
            expiry_date=compute_date(int(row["expiry_day"])) if known else None,
            level=Level(int(row["level"])) if known else None,
            status=CodeStatus(int(row["status"])),
            custodian=row["custodian"],
            shipment_id=int(row["shipment"]),
            parent=parent if any(parent) else None,
            recalled=bool(row["recalled"]),
            frozen=bool(row["frozen"]),
            expired=bool(row["expired"]),
        )

    def get_product(self, product_id: bytes) -> Product | None:
        """Return a registered product by id, or None."""
        row = self._read("products", product_id)
        status = int(row["status"])
        if status == 0:
            return None
        return Product(
            product_id=product_id,
            mah_uscc=str(row["mah_org"]),
            name=str(row["name"]),
            approval_number=str(row["approval_number"]),
            category=Category(int(row["category"])),
            drug_id=bytes(row["drug"]),
            suspended=status == PRODUCT_SUSPENDED,
        )

    def registrant(self, product_key: str) -> str | None:
        """Return the USCC of the MAH organisation that may register a product key (the organisation a drug
        regulator bound the key's longest bound prefix to), or None. Raises: IdentifierError."""
        uscc = str(self._read("registrant_of", normalise_product_key(product_key)))
        return uscc or None

    def get_batch(self, product_id: bytes, batch_no: str) -> BatchState:
        """Return a batch of a product (``known`` False when nothing was commissioned in it)."""
        row = self._read("get_batch", product_id, batch_no)
        known = bool(row["known"])
        return BatchState(
            product_id=product_id,
            batch_no=batch_no,
            known=known,
            lot=bytes(row["lot"]),
            production_date=compute_date(int(row["production_day"])) if known else None,
            expiry_date=compute_date(int(row["expiry_day"])) if known else None,
            commissioned=int(row["commissioned"]),
            recalled=bool(row["recalled"]),
            frozen=bool(row["frozen"]),
            expired=bool(row["expired"]),
            regulator_freeze=bool(row["regulator_freeze"]),
            mah_hold=bool(row["mah_hold"]),
        )

    def get_shipment(self, shipment_id: int) -> Shipment | None:
        """Return a shipment, or None when no shipment has that id."""
        row = self._read("get_shipment", shipment_id)
        if int(row["status"]) == 0:
            return None
        return Shipment(
            shipment_id=shipment_id,
            sender=row["sender"],
            receiver=row["receiver"],
            bill_type=int(row["bill_type"]),
            count=int(row["count"]),
            remaining=int(row["remaining"]),
            status=int(row["status"]),
        )

    def organisation_of(self, account: bytes) -> str:
        """Return the USCC of an account's organisation ("" when unknown), cached."""
        if account not in self._account_orgs:
            self._account_orgs[account] = str(self._read_governance("organisation_of", account))
        return self._account_orgs[account]

    def organisation_name(self, uscc: str) -> str:
        """Return a registered organisation's name ("" when unknown), cached."""
        if not uscc:
            return ""
        if uscc not in self._org_names:
            self._org_names[uscc] = str(self._read_governance("organisations", uscc)["name"])
        return self._org_names[uscc]

    # --- history ---------------------------------------------------------------------------------------
    def history(self, code_id: bytes) -> list[DrugEvent]:
        """Return a code's events in chain order, including those of the parents it was packed in while it
        was packed (marked with ``via``): what happened to a case happened to the units inside it."""
        return sorted(self._history(code_id, None, (0, 0, 0), None, 0), key=lambda e: e.position)

    def _history(
        self,
        code_id: bytes,
        via: bytes | None,
        start: tuple[int, int, int],
        end: tuple[int, int, int] | None,
        depth: int,
    ) -> list[DrugEvent]:
        events: list[DrugEvent] = []
        for entry in self.ledger.logs(self.address, [None, code_id]):
            event = decode_drug_event(entry)
            if event is None or event.name not in CODE_EVENTS:
                continue
            if event.position < start or (end is not None and event.position > end):
                continue
            events.append(event if via is None else _with_via(event, via))
        if depth >= MAX_PARENT_DEPTH:
            return events
        inherited: list[DrugEvent] = []
        for i, event in enumerate(events):
            if event.name != "Aggregated" or bytes(event.args["code"]) != code_id:
                continue
            parent = bytes(event.args["parent"])
            until = next(
                (
                    later.position
                    for later in events[i + 1 :]
                    if later.name in ("Disaggregated", "Dispensed", "Destroyed")
                    and bytes(later.args["code"]) == code_id
                ),
                end,
            )
            inherited += self._history(parent, via or parent, event.position, until, depth + 1)
        return events + [e for e in inherited if e.name != "Alert"]

    def trail(self, events: Sequence[DrugEvent]) -> tuple[TrailStep, ...]:
        """Return the custody trail of a history: organisations and heights, no volumes, no alerts."""
        steps: list[TrailStep] = []
        for event in events:
            step, account = _custody_step(event, self.get_shipment)
            if not step:
                continue
            uscc = self.organisation_of(account)
            steps.append(
                TrailStep(
                    step=step,
                    uscc=uscc,
                    organisation=self.organisation_name(uscc),
                    height=event.height,
                    timestamp_ms=self.ledger.block_time_ms(event.height),
                )
            )
        return tuple(steps)

    def involved_organisations(self, events: Sequence[DrugEvent]) -> set[str]:
        """Return the USCCs of every organisation acting or receiving in ``events`` (for access checks)."""
        accounts: set[bytes] = set()
        for event in events:
            for key in ("by", "receiver", "actor"):
                value = event.args.get(key)
                if isinstance(value, bytes) and len(value) == 20:
                    accounts.add(value)
            if event.name == "Shipped":
                shipment = self.get_shipment(int(event.args["shipment"]))
                if shipment is not None:
                    accounts.add(shipment.sender)
        return {self.organisation_of(a) for a in accounts} - {""}

    # --- consumer ----------------------------------------------------------------------------------------
    def consumer_query(self, code: str, *, today: dt.date | None = None) -> ConsumerView:
        """Answer a consumer's scan: authentic or not, product, batch, expiry, status, holds, custody trail.

        Takes: a 20-digit code or a GS1 element string (validated before anything is asked of the ledger).
        Returns: the ``ConsumerView``; an unknown code is not authentic. Raises: IdentifierError.
        """
        trace = parse_trace_code(code, today=today)
        state = self.get_code(trace.code_id)
        if not state.known:
            return _unknown_view(trace, "unknown code")
        product = self.get_product(state.product_id)
        reason = ""
        if state.product_id != trace.product_id or product is None:
            reason = "code registered under another product"
        elif trace.batch is not None and trace.batch != state.batch_no:
            reason = "printed batch differs from the ledger"
        elif trace.expiry is not None and trace.expiry != state.expiry_date:
            reason = "printed expiry differs from the ledger"
        mah = product.mah_uscc if product else ""
        return ConsumerView(
            code=trace.canonical,
            authentic=reason == "",
            reason=reason,
            product_id=state.product_id,
            product_name=product.name if product else "",
            mah_uscc=mah,
            mah_name=self.organisation_name(mah),
            approval_number=product.approval_number if product else "",
            category=product.category if product else None,
            batch_no=state.batch_no,
            production_date=state.production_date,
            expiry_date=state.expiry_date,
            level=state.level,
            status=state.status,
            recalled=state.recalled,
            frozen=state.frozen,
            expired=state.expired,
            trail=self.trail(self.history(trace.code_id)),
        )


def _with_via(event: DrugEvent, via: bytes) -> DrugEvent:
    return DrugEvent(
        name=event.name,
        args=event.args,
        height=event.height,
        tx_hash=event.tx_hash,
        tx_index=event.tx_index,
        log_index=event.log_index,
        via=via,
    )


def _custody_step(event: DrugEvent, get_shipment: Callable[[int], Shipment | None]) -> tuple[str, bytes]:
    name = event.name
    if name == "Commissioned":
        return "commissioned", bytes(event.args["by"])
    if name == "Shipped":
        shipment = get_shipment(int(event.args["shipment"]))
        return ("shipped", shipment.sender) if shipment is not None else ("", b"")
    if name == "Received":
        return "received", bytes(event.args["receiver"])
    if name == "ShipmentCancelledCode":
        return "shipment_cancelled", bytes(event.args["by"])
    if name == "Dispensed":
        return "dispensed", bytes(event.args["by"])
    if name == "Destroyed":
        return "destroyed", bytes(event.args["by"])
    return "", b""


def _unknown_view(trace: TraceCode, reason: str) -> ConsumerView:
    return ConsumerView(
        code=trace.canonical,
        authentic=False,
        reason=reason,
        product_id=None,
        product_name="",
        mah_uscc="",
        mah_name="",
        approval_number="",
        category=None,
        batch_no="",
        production_date=None,
        expiry_date=None,
        level=None,
        status=CodeStatus.UNKNOWN,
        recalled=False,
        frozen=False,
        expired=False,
    )


class _ClientLedger:
    """A node client seen as a DrugLedger (calls and logs over HTTP)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._times: dict[int, int] = {}

    @property
    def governance_address(self) -> bytes:
        return self.client.chain_info(refresh=False).governance_address

    def call(self, to: bytes, data: bytes) -> bytes:
        return self.client.call(to, data)

    def logs(self, address: bytes, topics: Sequence[bytes | None]) -> Iterable[LogEntry]:
        return self.client.logs(address=address, topics=topics)

    def block_time_ms(self, height: int) -> int | None:
        if height not in self._times:
            self._times[height] = self.client.block(height).header.timestamp_ms
        return self._times[height]


# --- the facade ---------------------------------------------------------------------------------------
@dataclass
class _Prepared:
    codes: list[TraceCode] = field(default_factory=list)

    @property
    def ids(self) -> list[bytes]:
        return [c.code_id for c in self.codes]


class Drugs(DrugQueries):
    """DrugTrace through a node: reads, and writes signed by ``signer``.

    Every code is validated with sdk.identifiers before anything is signed. Writes wait for the commit;
    a revert (malformed call, missing role) raises ExecutionError with the contract's reason; a refusal
    for the codes' state (recorded as Alerts) raises DrugAlertError (a DomainError) with the reason.
    """

    def __init__(
        self, client: Client, signer: Signer | None = None, *, address: bytes = DRUG_TRACE_ADDRESS
    ) -> None:
        super().__init__(_ClientLedger(client), address)
        self.client = client
        self.signer = signer

    def with_signer(self, signer: Signer) -> Drugs:
        """Return a facade that signs writes with ``signer``."""
        return Drugs(self.client, signer, address=self.address)

    # --- plumbing ----------------------------------------------------------------------------------------
    def _require_signer(self) -> Signer:
        if self.signer is None:
            raise ClientError("this Drugs facade has no signer; use with_signer(signer)", code="no_signer")
        return self.signer

    def _gas(self, per_item: int, count: int, base: int = CALL_GAS_BASE) -> int:
        limit = self.client.chain_info(refresh=False).tx_gas_limit
        return min(limit, base + per_item * count)

    def _send(self, function: str, args: Sequence[Any], *, gas_limit: int) -> ReceiptResult:
        signer = self._require_signer()
        data = self.contract.encode_call(function, list(args))
        return self.client.send(signer, self.address, data, gas_limit=gas_limit, check=True)

    def _check_alerts(self, receipt: ReceiptResult, what: str) -> None:
        alerts = decode_alerts(receipt, self.address)
        if alerts:
            raise DrugAlertError(
                f"{what} refused: {alerts[0].reason}"
                + (f" (+{len(alerts) - 1} more)" if len(alerts) > 1 else ""),
                alerts=alerts,
                tx_hash=receipt.tx_hash,
            )

    @staticmethod
    def _prepare(codes: Sequence[str] | str, *, limit: int | None = MAX_CODES_PER_CALL) -> _Prepared:
        items = [codes] if isinstance(codes, str) else list(codes)
        if not items:
            raise EncodingError("no codes given", code="bad_arguments")
        if limit is not None and len(items) > limit:
            raise EncodingError(f"at most {limit} codes per call, got {len(items)}", code="bad_arguments")
        prepared = _Prepared([parse_trace_code(c) for c in items])
        if len(set(prepared.ids)) != len(prepared.ids):
            raise EncodingError("a code is listed twice", code="bad_arguments")
        return prepared

    def _move(
        self, function: str, args: Sequence[Any], count: int, what: str, per_code: int = MOVE_GAS_PER_CODE
    ) -> ReceiptResult:
        receipt = self._send(function, args, gas_limit=self._gas(per_code, count))
        self._check_alerts(receipt, what)
        return receipt

    # --- products ----------------------------------------------------------------------------------------
    def register_product(
        self,
        product_key: str,
        name: str,
        approval_number: str,
        category: Category = Category.ORDINARY,
        *,
        packs: str | None = None,
    ) -> ReceiptResult:
        """Register a product (7-digit 药品标识码 or GTIN) for the signer's organisation as MAH.

        The key must fall under a prefix a drug regulator bound to the signer's organisation
        (``assign_key_prefix``; see ``registrant``). ``packs`` names the product key this one packs (a case's
        unit product): they then share lots. The contract derives the product id from the key.
        Raises: IdentifierError, ExecutionError (``not a MAH``, ``product key not assigned to you``,
        ``product already registered`` …).
        """
        packs_id = compute_product_id(packs) if packs is not None else bytes(32)
        args = [normalise_product_key(product_key), name, approval_number, int(Category(category)), packs_id]
        return self._send("register_product", args, gas_limit=CALL_GAS_BASE + 300_000)

    def assign_key_prefix(
        self, scheme: KeyScheme, prefix: str, mah_uscc: str | None, reason: str
    ) -> ReceiptResult:
        """Bind a product-key prefix to an MAH organisation, or withdraw the binding (``mah_uscc`` None).
        By a DRUG_REGULATOR.

        ``scheme`` NMPA: a block of 4-7 leading digits of 药品标识码; GS1: a GS1 company prefix (4-12 digits,
        as it follows the GTIN-14 indicator digit). Raises: IdentifierError / EncodingError before signing;
        ExecutionError (``not a drug regulator``, ``regulator's own organisation`` …).
        """
        scheme = KeyScheme(scheme)
        if not (prefix.isascii() and prefix.isdigit()):
            raise IdentifierError("a key prefix is digits", field="prefix", value=prefix)
        if not MIN_PREFIX_LENGTH <= len(prefix) <= MAX_PREFIX_LENGTHS[scheme]:
            raise IdentifierError(
                f"a {scheme.name} key prefix has {MIN_PREFIX_LENGTH}-{MAX_PREFIX_LENGTHS[scheme]} digits",
                field="prefix",
                value=prefix,
            )
        uscc = parse_uscc(mah_uscc).code if mah_uscc is not None else ""
        if not reason:
            raise EncodingError("a reason is required", code="bad_arguments")
        args = [int(scheme), prefix, uscc, reason]
        return self._send("assign_key_prefix", args, gas_limit=CALL_GAS_BASE + 200_000)

    def settle_product(
        self, product_key: str, mah_uscc: str, *, suspended: bool = False, reason: str
    ) -> ReceiptResult:
        """Rule on a contested product registration: the MAH organisation that holds it (the current one to
        keep it) and whether it is suspended (no code of it is commissioned). By a DRUG_REGULATOR.

        Raises: IdentifierError / EncodingError before signing; ExecutionError (``unknown product``,
        ``unknown or inactive organisation``, ``regulator's own organisation`` …).
        """
        if not reason:
            raise EncodingError("a reason is required", code="bad_arguments")
        args = [compute_product_id(product_key), parse_uscc(mah_uscc).code, suspended, reason]
        return self._send("settle_product", args, gas_limit=CALL_GAS_BASE + 200_000)

    # --- commissioning -----------------------------------------------------------------------------------
    def commission_chunk_size(self) -> int:
        """Return how many codes one commissioning transaction carries under the chain's gas limit."""
        return compute_commission_chunk_size(self.client.chain_info(refresh=False).tx_gas_limit)

    def commission(
        self,
        codes: Sequence[str],
        batch_no: str,
        production_date: dt.date,
        expiry: dt.date,
        level: Level = Level.UNIT,
        *,
        chunk_size: int | None = None,
    ) -> CommissionResult:
        """Commission codes of one product and batch, in as many transactions as the gas limit needs
        (submitted together, then awaited).

        Takes: the codes (all of one product key; a GS1 code's printed batch/expiry must match), the batch
        number, production and expiry dates, the packaging level.
        Returns: the count and the receipts. Raises: IdentifierError / EncodingError before signing;
        ExecutionError on a revert; DrugAlertError when a code was commissioned before (``count`` in its
        detail says how many of this call's codes were recorded by the other transactions).
        """
        signer = self._require_signer()
        prepared = self._prepare(codes, limit=None)
        batch_no = validate_batch_no(batch_no)
        if expiry < production_date:
            raise EncodingError("expiry is before production", code="bad_arguments")
        products = {c.product_key for c in prepared.codes}
        if len(products) != 1:
            raise EncodingError("codes of one commissioning must share one product key", code="bad_arguments")
        for trace in prepared.codes:
            if trace.batch is not None and trace.batch != batch_no:
                raise IdentifierError(f"code prints batch {trace.batch}, not {batch_no}", field="batch_no")
            if trace.expiry is not None and trace.expiry != expiry:
                raise IdentifierError(f"code prints expiry {trace.expiry}, not {expiry}", field="expiry")
        product_id = prepared.codes[0].product_id
        size = chunk_size or self.commission_chunk_size()
        if not 1 <= size <= MAX_CODES_PER_CALL:
            raise EncodingError(f"chunk size must be 1..{MAX_CODES_PER_CALL}", code="bad_arguments")
        ids = prepared.ids
        hashes: list[bytes] = []
        for start in range(0, len(ids), size):
            chunk = ids[start : start + size]
            data = self.contract.encode_call(
                "commission",
                [product_id, batch_no, compute_day(production_date), compute_day(expiry), int(level), chunk],
            )
            gas = self._gas(COMMISSION_GAS_PER_CODE, len(chunk), COMMISSION_GAS_BASE)
            hashes.append(self.client.send(signer, self.address, data, gas_limit=gas, wait=False))
        receipts = tuple(self.client.wait(h, check=True) for h in hashes)
        alerts: list[DrugAlert] = []
        refused: list[ReceiptResult] = []
        recorded = 0
        for start, receipt in zip(range(0, len(ids), size), receipts, strict=True):
            chunk_alerts = decode_alerts(receipt, self.address)
            if chunk_alerts:
                alerts += chunk_alerts
                refused.append(receipt)
            else:
                recorded += len(ids[start : start + size])
        if refused:
            raise DrugAlertError(
                f"commissioning refused: {alerts[0].reason} ({recorded} of {len(ids)} codes recorded)",
                alerts=alerts,
                tx_hash=refused[0].tx_hash,
                count=recorded,
            )
        return CommissionResult(count=len(ids), receipts=receipts)

    # --- packing -----------------------------------------------------------------------------------------
    def aggregate(self, parent: str, children: Sequence[str]) -> ReceiptResult:
        """Pack children into a parent of a higher level (both held by the signer, both top-level).

        Raises: IdentifierError, ExecutionError, DrugAlertError.
        """
        parent_id = parse_trace_code(parent).code_id
        prepared = self._prepare(children)
        limit = (self.client.chain_info(refresh=False).tx_gas_limit - CALL_GAS_BASE) // PACK_GAS_PER_CODE
        if len(prepared.ids) > limit:
            raise EncodingError(
                f"at most {limit} children per aggregate under the gas limit; pack in several calls",
                code="bad_arguments",
            )
        return self._move(
            "aggregate", [parent_id, prepared.ids], len(prepared.ids), "aggregation", PACK_GAS_PER_CODE
        )

    def disaggregate(self, parent: str, children: Sequence[str]) -> ReceiptResult:
        """Unpack children from a parent held by the signer. Raises as ``aggregate``."""
        parent_id = parse_trace_code(parent).code_id
        prepared = self._prepare(children)
        return self._move("disaggregate", [parent_id, prepared.ids], len(prepared.ids), "disaggregation")

    # --- shipping ----------------------------------------------------------------------------------------
    def ship(self, codes: Sequence[str], to: bytes, bill_type: BillType = BillType.SALE) -> ShipmentResult:
        """Ship top-level codes the signer holds to account ``to`` under an outbound bill type.

        Returns: the shipment id and receipt. Raises: IdentifierError, ExecutionError (unknown bill type,
        receiver without a drug-trade role …), DrugAlertError (not the custodian, recalled, expired …).
        """
        prepared = self._prepare(codes)
        if len(to) != 20:
            raise EncodingError("the receiver is a 20-byte account address", code="bad_arguments")
        receipt = self._move(
            "ship", [prepared.ids, to, int(BillType(bill_type))], len(prepared.ids), "shipment"
        )
        for log in receipt.logs:
            event = self.contract.try_decode_log(log) if log.address == self.address else None
            if event is not None and event.name == "ShipmentCreated":
                return ShipmentResult(shipment_id=int(event.args["shipment"]), receipt=receipt)
        raise ClientError("the shipment receipt carries no ShipmentCreated event", code="bad_response")

    def shipment_codes(self, shipment_id: int) -> list[bytes]:
        """Return the ids of the codes shipped under ``shipment_id`` that are still in transit in it."""
        topic = self.contract.encode_topic("Shipped", "shipment", shipment_id)
        ids = [
            bytes(e.args["code"])
            for e in (decode_drug_event(x) for x in self.ledger.logs(self.address, [None, None, topic]))
            if e is not None and e.name == "Shipped"
        ]
        return [i for i in ids if self.get_code(i).shipment_id == shipment_id]

    def _settle(
        self, function: str, shipment_id: int, codes: Sequence[str] | None, what: str
    ) -> ReceiptResult:
        ids = self.shipment_codes(shipment_id) if codes is None else self._prepare(codes).ids
        if not ids:
            raise DomainError(f"shipment {shipment_id} has no codes in transit", code="nothing_in_transit")
        if len(ids) > MAX_CODES_PER_CALL:
            raise EncodingError(f"at most {MAX_CODES_PER_CALL} codes per call", code="bad_arguments")
        return self._move(function, [shipment_id, ids], len(ids), what)

    def receive(self, shipment_id: int, codes: Sequence[str] | None = None) -> ReceiptResult:
        """Confirm receipt (the signer is the shipment's receiver) of ``codes``, or of every code still in
        transit in it when None: custody moves to the signer. Raises: ExecutionError, DrugAlertError."""
        return self._settle("receive", shipment_id, codes, "receipt")

    def cancel_shipment(self, shipment_id: int, codes: Sequence[str] | None = None) -> ReceiptResult:
        """Withdraw (sender) or refuse (receiver) codes still in transit: they return to the sender."""
        return self._settle("cancel_shipment", shipment_id, codes, "cancellation")

    # --- terminal ----------------------------------------------------------------------------------------
    def dispense(self, codes: Sequence[str] | str) -> ReceiptResult:
        """Dispense codes the signer (a DISPENSER) holds: terminal.

        Raises: IdentifierError, ExecutionError (``not a dispenser``), DrugAlertError (``already dispensed``,
        ``recalled``, ``expired``, ``unknown code`` …) — the refusal itself is recorded on chain as Alerts.
        """
        prepared = self._prepare(codes)
        return self._move("dispense", [prepared.ids], len(prepared.ids), "dispensing")

    def destroy(self, codes: Sequence[str] | str) -> ReceiptResult:
        """Destroy codes the signer holds (also recalled or expired ones): terminal. Raises like dispense."""
        prepared = self._prepare(codes)
        return self._move("destroy", [prepared.ids], len(prepared.ids), "destruction")

    # --- holds -------------------------------------------------------------------------------------------
    def _hold(self, function: str, product_key: str, batch_no: str, reason: str) -> ReceiptResult:
        args = [compute_product_id(product_key), validate_batch_no(batch_no), reason]
        return self._send(function, args, gas_limit=CALL_GAS_BASE + 200_000)

    def recall(self, product_key: str, batch_no: str, reason: str) -> ReceiptResult:
        """Recall a batch (all packaging levels of the drug). By the product's MAH or the drug regulator.

        Raises: IdentifierError, ExecutionError (``unknown batch``, ``hold already set``, wrong role).
        """
        return self._hold("recall", product_key, batch_no, reason)

    def freeze(self, product_key: str, batch_no: str, reason: str) -> ReceiptResult:
        """Freeze a batch: nothing but receipts moves until it is lifted. A drug regulator's freeze is lifted
        only by a drug regulator; the product's MAH puts its own batch on a voluntary hold.
        Raises as ``recall``."""
        return self._hold("freeze", product_key, batch_no, reason)

    def unfreeze(self, product_key: str, batch_no: str, reason: str) -> ReceiptResult:
        """Lift the signer's kind of freeze: a drug regulator's freeze (by a regulator) or the MAH's voluntary
        hold (by the product's MAH; ``only a regulator lifts its freeze`` when a regulator froze it).
        Raises as ``recall``."""
        return self._hold("unfreeze", product_key, batch_no, reason)

    # --- reads by code text ------------------------------------------------------------------------------
    def code_state(self, code: str) -> CodeState:
        """Return a code's state (validated first). Raises: IdentifierError."""
        return self.get_code(parse_trace_code(code).code_id)

    def code_history(self, code: str) -> list[DrugEvent]:
        """Return a code's full history, with its parents' events while packed. Raises: IdentifierError."""
        return self.history(parse_trace_code(code).code_id)

    def product(self, product_key: str) -> Product | None:
        """Return a registered product by its 药品标识码 / GTIN, or None. Raises: IdentifierError."""
        return self.get_product(compute_product_id(product_key))

    def batch(self, product_key: str, batch_no: str) -> BatchState:
        """Return a batch's state by product key and batch number. Raises: IdentifierError."""
        return self.get_batch(compute_product_id(product_key), validate_batch_no(batch_no))
