"""EPCIS 2.0 and CSV rendering of exported drug events (sdk.domains.drugs.export), offline: the GS1
vocabulary (event types, actions, CBV business steps and dispositions), the required fields, identifiers."""

from __future__ import annotations

import csv
import io
import re

from sdk.domains.drugs import parse_trace_code
from sdk.domains.drugs.export import (
    CSV_COLUMNS,
    EPCIS_CONTEXT,
    ExportedEvent,
    code_uri,
    to_csv,
    to_epcis,
)

#: From the EPCIS 2.0 / CBV 2.0 vocabularies.
CBV_BIZ_STEPS = {"commissioning", "packing", "unpacking", "shipping", "receiving", "void_shipping"}
CBV_BIZ_STEPS |= {"dispensing", "destroying"}
CBV_DISPOSITIONS = {"active", "in_progress", "in_transit", "dispensed", "destroyed"}
OFFSET = re.compile(r"^[+-](0\d|1[0-3]):[0-5]\d$|^[+-]14:00$")
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00$")


def event(name: str, **fields: object) -> ExportedEvent:
    base: dict[str, object] = {
        "event": name,
        "time_ms": 1_767_225_600_000,  # 2026-01-01T08:00:00+08:00
        "code": "urn:xinlian:drug-code:86912340000000000001",
        "parent": None,
        "organisation": "91330100MA2XXXXXX1",
        "counterparty": None,
        "shipment": None,
        "height": 7,
        "tx_hash": bytes(range(32)),
        "log_index": 0,
    }
    base.update(fields)
    return ExportedEvent(**base)  # type: ignore[arg-type]


ALL = [
    event("Commissioned"),
    event("Aggregated", parent="urn:xinlian:drug-code:86912350000000000091", log_index=1),
    event("Shipped", shipment=3, counterparty="91330100MA2YYYYYY2", log_index=2),
    event("Received", shipment=3, counterparty="91330100MA2XXXXXX1", log_index=3),
    event("Disaggregated", parent="urn:xinlian:drug-code:86912350000000000091", log_index=4),
    event("ShipmentCancelledCode", shipment=4, log_index=5),
    event("Dispensed", log_index=6),
    event("Destroyed", log_index=7),
]


def test_the_document_follows_epcis_2_0() -> None:
    document = to_epcis(ALL, created_ms=1_767_225_600_000)
    assert document["@context"] == [EPCIS_CONTEXT]
    assert document["type"] == "EPCISDocument" and document["schemaVersion"] == "2.0"
    assert ISO.match(document["creationDate"])
    listed = document["epcisBody"]["eventList"]
    assert len(listed) == len(ALL)
    for item in listed:
        assert item["type"] in ("ObjectEvent", "AggregationEvent")
        assert item["action"] in ("ADD", "OBSERVE", "DELETE")
        assert item["bizStep"] in CBV_BIZ_STEPS and item.get("disposition", "active") in CBV_DISPOSITIONS
        assert ISO.match(item["eventTime"]) and OFFSET.match(item["eventTimeZoneOffset"])
        assert item["eventID"].startswith("urn:xinlian:event:0x")
        if item["type"] == "AggregationEvent":
            assert item["parentID"] and item["childEPCs"] and "epcList" not in item
        else:
            assert item["epcList"] and "parentID" not in item
        for source in item.get("sourceList", []):
            assert set(source) == {"type", "source"} and source["type"] == "owning_party"
        for destination in item.get("destinationList", []):
            assert set(destination) == {"type", "destination"}
    shipped, received = listed[2], listed[3]
    assert shipped["sourceList"][0]["source"] == "urn:xinlian:uscc:91330100MA2XXXXXX1"
    assert shipped["destinationList"][0]["destination"] == "urn:xinlian:uscc:91330100MA2YYYYYY2"
    assert shipped["bizTransactionList"] == [{"type": "desadv", "bizTransaction": "urn:xinlian:shipment:3"}]
    assert received["sourceList"][0]["source"] == "urn:xinlian:uscc:91330100MA2XXXXXX1"
    actions = [e["action"] for e in listed]
    assert actions == ["ADD", "ADD", "OBSERVE", "OBSERVE", "DELETE", "OBSERVE", "OBSERVE", "DELETE"]


def test_a_shipment_whose_sender_the_reader_may_not_see_names_only_the_receiver() -> None:
    [shipped] = to_epcis([event("Shipped", organisation="", counterparty="X", shipment=9)], created_ms=0)[
        "epcisBody"
    ]["eventList"]
    assert (
        "sourceList" not in shipped and shipped["destinationList"][0]["destination"] == "urn:xinlian:uscc:X"
    )


def test_identifiers() -> None:
    nmpa = parse_trace_code("86912340000000000001")
    assert code_uri(nmpa) == "urn:xinlian:drug-code:86912340000000000001"
    gs1 = parse_trace_code("(01)06901234567892(21)A/1%2(10)L1(17)280229")
    assert code_uri(gs1) == "https://id.gs1.org/01/06901234567892/21/A%2F1%252"


def test_csv_has_one_row_per_event_under_a_fixed_header() -> None:
    rows = list(csv.reader(io.StringIO(to_csv(ALL))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r[0] for r in rows[1:]] == [e.event for e in ALL]
    assert rows[3][CSV_COLUMNS.index("shipment")] == "3"
    assert rows[1][CSV_COLUMNS.index("tx_hash")] == "0x" + bytes(range(32)).hex()
