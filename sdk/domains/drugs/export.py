"""Drug events out of the ledger: GS1 EPCIS 2.0 JSON-LD and CSV, for the parties who may read them.

``DrugQueries.export_events(codes)`` reads each code's history through the read model (the node answers a
member only the codes its organisation may read: docs/read-access.md) and turns every event once into an
``ExportedEvent``; ``to_epcis`` and ``to_csv`` render them. Events a case went through are exported once,
with the case's identifier, as EPCIS does (the units inside follow from the aggregation events).

Identifiers (EPCs): a GS1 code (GTIN + serial) is its GS1 Digital Link URI ``https://id.gs1.org/01/<GTIN>/21/
<serial>``; a 20-digit NMPA 追溯码, which has no EPC scheme, is ``urn:xinlian:drug-code:<code>``; a code the
caller did not name (a case it only knows by its on-chain id) is ``urn:xinlian:drug-code-id:0x<SM3 id>``.
Parties are ``urn:xinlian:uscc:<USCC>`` (owning parties); the ledger transaction is the event's
``eventID`` (``urn:xinlian:event:0x<tx hash>:<log index>``) and a shipment its ``desadv`` business
transaction (``urn:xinlian:shipment:<id>``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

from sdk.domains.calendar import CHINA_TZ
from sdk.domains.drugs.encoders import TraceCode
from sdk.encoding import readable_repr

#: The JSON-LD context of an EPCIS 2.0 document.
EPCIS_CONTEXT: Final = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"

#: Per DrugTrace event: EPCIS event type, action, CBV business step and disposition.
_EPCIS: Final[dict[str, tuple[str, str, str, str | None]]] = {
    "Commissioned": ("ObjectEvent", "ADD", "commissioning", "active"),
    "Aggregated": ("AggregationEvent", "ADD", "packing", "in_progress"),
    "Disaggregated": ("AggregationEvent", "DELETE", "unpacking", "in_progress"),
    "Shipped": ("ObjectEvent", "OBSERVE", "shipping", "in_transit"),
    "Received": ("ObjectEvent", "OBSERVE", "receiving", "in_progress"),
    "ShipmentCancelledCode": ("ObjectEvent", "OBSERVE", "void_shipping", "in_progress"),
    "Dispensed": ("ObjectEvent", "OBSERVE", "dispensing", "dispensed"),
    "Destroyed": ("ObjectEvent", "DELETE", "destroying", "destroyed"),
}
EXPORTED_EVENTS: Final = frozenset(_EPCIS)
CSV_COLUMNS: Final = (
    "event",
    "time",
    "code",
    "parent",
    "organisation",
    "counterparty",
    "shipment",
    "height",
    "tx_hash",
    "log_index",
)


@readable_repr
@dataclass(frozen=True, slots=True)
class ExportedEvent:
    """One DrugTrace event as exported: what happened to which identifier, by whom, when, where on chain."""

    event: str  # the DrugTrace event name (Commissioned, Shipped, …)
    time_ms: int
    code: str  # the identifier URI of the code the event names (a case for what its units went through)
    parent: str | None  # Aggregated / Disaggregated: the case
    organisation: str  # USCC of the acting organisation (the receiver for Received)
    counterparty: str | None  # Shipped: the receiver; Received: the sender
    shipment: int | None
    height: int
    tx_hash: bytes
    log_index: int


def code_uri(code: TraceCode) -> str:
    """The EPC URI of a checked trace code (see the module's notes)."""
    if code.kind == "gs1":
        serial = code.canonical.split("(21)", 1)[1]
        return f"https://id.gs1.org/01/{code.product_key}/21/{quote(serial, safe='')}"
    return f"urn:xinlian:drug-code:{code.canonical}"


def code_id_uri(code_id: bytes) -> str:
    return f"urn:xinlian:drug-code-id:0x{code_id.hex()}"


def party_uri(uscc: str) -> str:
    return f"urn:xinlian:uscc:{uscc}"


def _iso(time_ms: int) -> str:
    return dt.datetime.fromtimestamp(time_ms / 1000, CHINA_TZ).isoformat(timespec="milliseconds")


def to_epcis(events: Sequence[ExportedEvent], *, created_ms: int) -> dict[str, Any]:
    """An EPCIS 2.0 JSON-LD document (``EPCISDocument``) of ``events``, in order."""
    listed = [_epcis_event(event) for event in events]
    return {
        "@context": [EPCIS_CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": _iso(created_ms),
        "epcisBody": {"eventList": listed},
    }


def _epcis_event(event: ExportedEvent) -> dict[str, Any]:
    kind, action, biz_step, disposition = _EPCIS[event.event]
    out: dict[str, Any] = {
        "type": kind,
        "eventTime": _iso(event.time_ms),
        "eventTimeZoneOffset": "+08:00",
        "eventID": f"urn:xinlian:event:0x{event.tx_hash.hex()}:{event.log_index}",
    }
    if kind == "AggregationEvent":
        out["parentID"] = event.parent
        out["childEPCs"] = [event.code]
    else:
        out["epcList"] = [event.code]
    out["action"] = action
    out["bizStep"] = biz_step
    if disposition is not None:
        out["disposition"] = disposition
    if event.shipment is not None:
        shipment = f"urn:xinlian:shipment:{event.shipment}"
        out["bizTransactionList"] = [{"type": "desadv", "bizTransaction": shipment}]
    source, destination = (
        (event.organisation, event.counterparty)
        if event.event == "Shipped"
        else (event.counterparty, event.organisation)
        if event.event == "Received"
        else (None, None)
    )
    if source:
        out["sourceList"] = [{"type": "owning_party", "source": party_uri(source)}]
    if destination:
        out["destinationList"] = [{"type": "owning_party", "destination": party_uri(destination)}]
    return out


def to_csv(events: Iterable[ExportedEvent]) -> str:
    """The events as CSV (UTF-8 text, a header row of ``CSV_COLUMNS``, times ISO 8601 in China time)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in events:
        writer.writerow(
            [
                e.event,
                _iso(e.time_ms),
                e.code,
                e.parent or "",
                e.organisation,
                e.counterparty or "",
                "" if e.shipment is None else e.shipment,
                e.height,
                "0x" + e.tx_hash.hex(),
                e.log_index,
            ]
        )
    return out.getvalue()


def exported_event(
    event: Any,
    *,
    uri_of: Mapping[bytes, str],
    organisation_of: Callable[[bytes], str],
    shipment_parties: Callable[[int], tuple[bytes, bytes] | None],
    time_ms: int,
) -> ExportedEvent | None:
    """The export of one DrugEvent (None for events that are no custody or packing step).

    ``uri_of`` maps code ids to identifier URIs (others get ``code_id_uri``); ``shipment_parties`` gives a
    shipment's (sender, receiver) accounts.
    """
    if event.name not in EXPORTED_EVENTS:
        return None
    args = event.args
    code_id = bytes(args["code"])
    parent = bytes(args["parent"]) if "parent" in args else None
    shipment = int(args["shipment"]) if "shipment" in args else None
    parties = shipment_parties(shipment) if shipment is not None else None
    # Shipped names its receiver, Received its receiver; the sender is in the shipment, which only its
    # parties and a regulator may read (else it stays unknown: "").
    actor: bytes = bytes(args["receiver"]) if event.name == "Received" else bytes(args.get("by") or b"")
    counterparty: bytes | None = None
    if event.name == "Shipped":
        actor, counterparty = (parties[0] if parties is not None else b""), bytes(args["receiver"])
    elif event.name == "Received" and parties is not None:
        counterparty = parties[0]
    return ExportedEvent(
        event=event.name,
        time_ms=time_ms,
        code=uri_of.get(code_id) or code_id_uri(code_id),
        parent=(uri_of.get(parent) or code_id_uri(parent)) if parent is not None else None,
        organisation=organisation_of(actor) if actor else "",
        counterparty=organisation_of(counterparty) if counterparty else None,
        shipment=shipment,
        height=event.height,
        tx_hash=bytes(event.tx_hash),
        log_index=int(event.log_index),
    )
