"""Read-only DrugTrace queries over any ledger (a node client, or the node itself through an adapter): code
state, batches, histories, custody trails and the consumer view."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from sdk.answers import LogEntry
from sdk.contracts import Contract
from sdk.domains.calendar import date_of_day
from sdk.domains.drugs.encoders import (
    MAX_PARENT_DEPTH,
    PRODUCT_SUSPENDED,
    Category,
    CodeStatus,
    Level,
    TraceCode,
    normalise_product_key,
    parse_trace_code,
)
from sdk.domains.drugs.export import ExportedEvent, code_uri, exported_event
from sdk.domains.drugs.lots import (
    LOT_COMMISSIONED_TOPIC,
    LOTS_CONTRACT,
    read_lot_commissioned_log,
    read_part_record,
)
from sdk.domains.drugs.model import (
    CODE_EVENTS,
    DRUG_TRACE_CONTRACT,
    BatchState,
    CodeState,
    ConsumerView,
    DrugEvent,
    LotPlace,
    Product,
    Shipment,
    TrailStep,
    decode_drug_event,
)
from sdk.errors import XinlianError
from sdk.system import DRUG_LOTS_ADDRESS, DRUG_TRACE_ADDRESS

if TYPE_CHECKING:
    pass


# --- reading the ledger -------------------------------------------------------------------------------
class DrugLedger(Protocol):
    """What the readers need from a ledger: calls, logs and block times (a node client or a node itself)."""

    @property
    def governance_address(self) -> bytes: ...

    def call(self, to: bytes, data: bytes) -> bytes: ...

    def logs(
        self,
        address: bytes,
        topics: Sequence[bytes | None],
        *,
        from_height: int = 0,
        to_height: int | None = None,
    ) -> Iterable[LogEntry]: ...

    def block_time_ms(self, height: int) -> int | None: ...

    def lot_places(self, code_id: bytes) -> Sequence[LotPlace]:
        """The committed DrugLots parts that hold a code, in part order (the node keeps this index: nothing on
        chain maps a code to its part before the code has a word); empty for a code in no part, or for a
        reader who may not see lot parts (only the product's MAH and a DRUG_REGULATOR do)."""
        ...


class DrugQueries:
    """Read-only DrugTrace queries over any ``DrugLedger``: code state, batches, histories, consumer views."""

    def __init__(self, ledger: DrugLedger, address: bytes = DRUG_TRACE_ADDRESS) -> None:
        self.ledger = ledger
        self.address = address
        self.contract = DRUG_TRACE_CONTRACT
        self._governance = Contract("Governance")
        self._org_names: dict[str, str] = {}
        self._account_orgs: dict[bytes, str] = {}

    def _read(self, function: str, *args: Any) -> Any:
        return self.contract.read(self.ledger.call, self.address, function, *args)

    def _read_governance(self, function: str, *args: Any) -> Any:
        return self._governance.read(self.ledger.call, self.ledger.governance_address, function, *args)

    # --- state -----------------------------------------------------------------------------------------
    def has_word(self, code_id: bytes) -> bool:
        """Whether DrugTrace holds a word for the code (commissioned one by one, or materialised from its lot
        part): one call, without the lot index."""
        return bool(self._read("get_code", code_id)["known"])

    def get_code(self, code_id: bytes) -> CodeState:
        """Return a code's state by its id (``known`` False for a code never commissioned)."""
        return self.get_code_and_lot(code_id)[0]

    def get_code_and_lot(self, code_id: bytes) -> tuple[CodeState, LotPlace | None]:
        """A code's state, and the lot place it was answered from: set only for a code without a word that
        a lot part holds. Hand the place to ``history(code_id, lot=...)`` to spare it a second walk of the
        lot index."""
        row = self._read("get_code", code_id)
        known = bool(row["known"])
        if not known:
            found = self.lot_part_of(code_id)
            if found is not None:
                return self._lot_code_state(code_id, *found), found[0]
        parent = bytes(row["parent"])
        state = CodeState(
            code_id=code_id,
            known=known,
            product_id=bytes(row["product"]),
            batch_no=str(row["batch_no"]),
            production_date=date_of_day(int(row["production_day"])) if known else None,
            expiry_date=date_of_day(int(row["expiry_day"])) if known else None,
            level=Level(int(row["level"])) if known else None,
            status=CodeStatus(int(row["status"])),
            custodian=row["custodian"],
            shipment_id=int(row["shipment"]),
            parent=parent if any(parent) else None,
            recalled=bool(row["recalled"]),
            frozen=bool(row["frozen"]),
            expired=bool(row["expired"]),
        )
        return state, None

    def lot_part_record(self, part: int) -> Mapping[str, Any] | None:
        """A lot part's DrugLots record (``size`` 0 for no such part), read by position
        (``sdk.domains.drugs.lots.read_part_record``: any batch number reads, as in the logs)."""
        return read_part_record(
            self.ledger.call(DRUG_LOTS_ADDRESS, LOTS_CONTRACT.encode_call("parts", [part]))
        )

    def lot_part_of(
        self, code_id: bytes, *, mah: bytes | None = None
    ) -> tuple[LotPlace, Mapping[str, Any]] | None:
        """The lot part that can still give a code its word, with its DrugLots record: the first part holding
        the code (in part order; each account's first part, for at most 8 accounts) whose MAH account belongs
        to the product's MAH organisation, as ``DrugLots.materialise`` requires; with ``mah``, only that
        account's part. None when no part holds the code, or none of them can (say a squatter's part of a
        product the regulator then settled on its real maker)."""
        for place in self.ledger.lot_places(code_id):
            if mah is not None and place.mah != mah:
                continue
            part = self.lot_part_record(place.part)
            product = self.get_product(bytes(part["product"])) if part is not None else None
            if (
                part is not None
                and product is not None
                and self.organisation_of(place.mah) == product.mah_uscc
            ):
                return place, part
        return None

    def _lot_code_state(self, code_id: bytes, place: LotPlace, part: Mapping[str, Any]) -> CodeState:
        """The state of a code a DrugLots part commissioned and nothing has materialised yet: what its word
        will say when it is (active, held by its MAH, its batch's holds)."""
        product_id, batch_no = bytes(part["product"]), str(part["batch_no"])
        batch = self.get_batch(product_id, batch_no)
        return CodeState(
            code_id=code_id,
            known=True,
            product_id=product_id,
            batch_no=batch_no,
            production_date=date_of_day(int(part["production_day"])),
            expiry_date=date_of_day(int(part["expiry_day"])),
            level=Level(int(part["level"])),
            status=CodeStatus.ACTIVE,
            custodian=part["mah"],
            shipment_id=0,
            parent=None,
            recalled=batch.recalled,
            frozen=batch.frozen,
            expired=batch.expired,
            lot_part=place.part,
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
            production_date=date_of_day(int(row["production_day"])) if known else None,
            expiry_date=date_of_day(int(row["expiry_day"])) if known else None,
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
    def history(self, code_id: bytes, *, lot: LotPlace | None = None) -> list[DrugEvent]:
        """Return a code's events in chain order, including those of the parents it was packed in while it
        was packed (marked with ``via``): what happened to a case happened to the units inside it. ``lot``:
        the place ``get_code_and_lot`` answered from, if the caller has it (else the lot index is asked)."""
        events = self._history(code_id, None, (0, 0, 0), None, 0)
        if not any(event.name == "Commissioned" for event in events):
            # No word yet: the code's commissioning is its lot part's LotCommissioned (an Alert about it, say
            # a movement tried too early, does not hide it).
            if lot is None:
                found = self.lot_part_of(code_id)
                lot = found[0] if found is not None else None
            if lot is not None:
                events += self._lot_commissioning(lot)
        return sorted(events, key=lambda e: e.position)

    def _lot_commissioning(self, place: LotPlace) -> list[DrugEvent]:
        topics = [LOT_COMMISSIONED_TOPIC, place.part.to_bytes(32, "big")]
        events: list[DrugEvent] = []
        for entry in self.ledger.logs(
            DRUG_LOTS_ADDRESS, topics, from_height=place.height, to_height=place.height
        ):
            log = read_lot_commissioned_log(entry.log)  # by position: any batch number reads
            if log is not None:
                args = {
                    "part": log.part,
                    "product": log.product_id,
                    "batch_no": log.batch_no,
                    "level": log.level,
                    "root": log.root,
                    "count": log.count,
                    "by": log.mah,
                }
                name, at = "LotCommissioned", (entry.height, entry.tx_hash, entry.tx_index, entry.log_index)
                events.append(DrugEvent(name, args, *at))
        return events

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

    def export_events(self, codes: Sequence[TraceCode]) -> list[ExportedEvent]:
        """Every custody and packing event of ``codes`` (with what their cases went through), each once, in
        chain order, ready for ``to_epcis`` / ``to_csv`` (sdk.domains.drugs.export)."""
        uri_of = {code.code_id: code_uri(code) for code in codes}
        seen: dict[tuple[int, int, int], DrugEvent] = {}
        for code in codes:
            for event in self.history(code.code_id):
                seen.setdefault(event.position, event)
        shipments: dict[int, tuple[bytes, bytes] | None] = {}

        def parties(shipment_id: int) -> tuple[bytes, bytes] | None:
            """A shipment's (sender, receiver), or None when this reader may not read the shipment (only its
            parties and a regulator may: an MAH sees its codes move on, not who sold to whom)."""
            if shipment_id not in shipments:
                try:
                    found = self.get_shipment(shipment_id)
                except XinlianError as exc:
                    if exc.code != "forbidden":
                        raise
                    found = None
                shipments[shipment_id] = (found.sender, found.receiver) if found is not None else None
            return shipments[shipment_id]

        exported = (
            exported_event(
                event,
                uri_of=uri_of,
                organisation_of=self.organisation_of,
                shipment_parties=parties,
                time_ms=self.ledger.block_time_ms(event.height) or 0,
            )
            for _, event in sorted(seen.items())
        )
        return [e for e in exported if e is not None]

    def involved_organisations(self, events: Sequence[DrugEvent]) -> set[str]:
        """Return the USCCs of every organisation acting or receiving in ``events`` (for access checks)."""
        accounts: set[bytes] = set()
        for event in events:
            if event.name == "Alert":
                continue  # a refused attempt, which anyone may provoke on any code, makes no one a party
            for key in ("by", "receiver"):
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
        state, lot = self.get_code_and_lot(trace.code_id)
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
            trail=self.trail(self.history(trace.code_id, lot=lot)),
        )


def _with_via(event: DrugEvent, via: bytes) -> DrugEvent:
    return dataclasses.replace(event, via=via)


def _custody_step(event: DrugEvent, get_shipment: Callable[[int], Shipment | None]) -> tuple[str, bytes]:
    name = event.name
    if name in ("Commissioned", "LotCommissioned"):
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
