"""Drug traceability end to end through the SDK and the REST API against a real node (SM2, py-evm, SQLite)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from node.demo_network import make_uscc
from sdk.client import Client
from sdk.domains.calendar import day_of_date
from sdk.domains.drugs import (
    BillType,
    Category,
    CodeStatus,
    Drugs,
    KeyScheme,
    Level,
    LotPart,
    LotPlace,
    decode_alerts,
    parse_trace_code,
)
from sdk.domains.drugs.lots import LOTS_CONTRACT
from sdk.domains.drugs.queries import DrugQueries
from sdk.domains.governance import Governance
from sdk.errors import (
    DomainError,
    DrugAlertError,
    ExecutionError,
    IdentifierError,
    InputError,
    ProofError,
    XinlianError,
)
from sdk.identifiers import compute_gtin_check
from sdk.proofs.bundle import ProofBundle
from sdk.proofs.trust import load_trust
from sdk.proofs.verify import Verifier
from sdk.signer import Signer
from sdk.system import DRUG_LOTS_ADDRESS

if TYPE_CHECKING:
    from node_fixtures import RunningNode

pytest_plugins = ["node_fixtures"]

UNIT_KEY, CASE_KEY = "8691234", "8691235"
PRODUCTION, EXPIRY = dt.date(2025, 3, 1), dt.date(2028, 2, 29)
GTIN = "0690123456789" + compute_gtin_check("0690123456789")


def unit(n: int) -> str:
    return f"{UNIT_KEY}{n:013d}"


def case(n: int) -> str:
    return f"{CASE_KEY}{n:013d}"


def gs1(serial: str, batch: str = "L2025A", expiry: str = "280229") -> str:
    return f"(01){GTIN}(21){serial}(10){batch}(17){expiry}"


@dataclass
class Parties:
    client: Client
    mah: Drugs
    distributor: Drugs
    pharmacy: Drugs
    distributor_signer: Signer
    pharmacy_signer: Signer
    outsider: Signer  # a member with no drug role
    pharmacy_uscc: str
    distributor_uscc: str


def _register_trader(gov: Governance, regulator: Governance, uscc: str, name: str, role: str) -> Signer:
    signer = Signer.generate()
    assert gov.register_organisation(uscc, name).executed
    assert gov.register_account(signer.address, uscc).executed
    regulator.grant_role(signer.address, role)
    return signer


@pytest.fixture(scope="module")
def parties(running_node: RunningNode) -> Iterator[Parties]:
    with Client(running_node.url) as client:
        gov = Governance(client, running_node.committee.signer)
        regulator = Governance(client, running_node.member_with("DRUG_REGULATOR").signer)
        dist_uscc, pharm_uscc = make_uscc("330100", 70_000_001), make_uscc("330100", 70_000_002)
        dist = _register_trader(gov, regulator, dist_uscc, "Zhejiang Medicine Distribution", "DISTRIBUTOR")
        pharm = _register_trader(gov, regulator, pharm_uscc, "West Lake Pharmacy", "DISPENSER")
        mah_member = running_node.member_with("MAH")
        mah = Drugs(client, mah_member.signer)
        drug_regulator = Drugs(client, running_node.member_with("DRUG_REGULATOR").signer)
        drug_regulator.assign_key_prefix(
            KeyScheme.NMPA, "869123", mah_member.uscc, "code issuer's assignment"
        )
        drug_regulator.assign_key_prefix(KeyScheme.GS1, "6901234", mah_member.uscc, "GS1 China member")
        mah.register_product(UNIT_KEY, "Amoxicillin Capsules 0.25 g x 24", "国药准字H33020001")
        mah.register_product(
            CASE_KEY, "Amoxicillin Capsules, case of 10", "国药准字H33020001", packs=UNIT_KEY
        )
        mah.register_product(GTIN, "Hepatitis B Vaccine 10 µg", "国药准字S10960001", Category.VACCINE)
        outsider = running_node.member_with("BANK").signer
        yield Parties(
            client=client,
            mah=mah,
            distributor=Drugs(client, dist),
            pharmacy=Drugs(client, pharm),
            distributor_signer=dist,
            pharmacy_signer=pharm,
            outsider=outsider,
            pharmacy_uscc=pharm_uscc,
            distributor_uscc=dist_uscc,
        )


def test_a_pack_from_commissioning_to_a_refused_second_dispensing(parties: Parties) -> None:
    mah, dist, pharm = parties.mah, parties.distributor, parties.pharmacy
    units = [unit(i) for i in range(1, 11)]
    assert mah.commission(units, "B2025001", PRODUCTION, EXPIRY).count == 10
    mah.commission([case(1)], "B2025001", PRODUCTION, EXPIRY, Level.CASE)
    mah.aggregate(case(1), units)

    first = mah.ship([case(1)], parties.distributor_signer.address, BillType.SALE)
    assert dist.code_state(unit(3)).status is CodeStatus.IN_TRANSIT
    assert dist.code_state(unit(3)).custodian == mah.signer.address  # type: ignore[union-attr]
    dist.receive(first.shipment_id)
    assert dist.code_state(unit(3)).custodian == parties.distributor_signer.address

    second = dist.ship([case(1)], parties.pharmacy_signer.address, BillType.SALE)
    assert second.shipment_id == first.shipment_id + 1
    pharm.receive(second.shipment_id, [case(1)])
    pharm.dispense(unit(3))
    assert pharm.code_state(unit(3)).status is CodeStatus.DISPENSED
    assert pharm.code_state(unit(4)).status is CodeStatus.ACTIVE

    with pytest.raises(DrugAlertError) as refused:
        pharm.dispense(unit(3))
    assert refused.value.reason == "already dispensed"
    assert refused.value.code == "drug_alert"
    receipt = pharm.client.wait(refused.value.tx_hash)  # the pharmacy reads its own transaction
    assert receipt.succeeded
    [alert] = decode_alerts(receipt)
    assert alert.code_id == parse_trace_code(unit(3)).code_id
    assert alert.actor == parties.pharmacy_signer.address

    view = Drugs(parties.client).consumer_query(unit(3))
    assert view.authentic and view.status is CodeStatus.DISPENSED
    assert view.product_name.startswith("Amoxicillin") and view.batch_no == "B2025001"
    assert view.expiry_date == EXPIRY and not view.recalled
    steps = [(s.step, s.uscc) for s in view.trail]
    mah_uscc = view.mah_uscc
    assert steps == [
        ("commissioned", mah_uscc),
        ("shipped", mah_uscc),
        ("received", parties.distributor_uscc),
        ("shipped", parties.distributor_uscc),
        ("received", parties.pharmacy_uscc),
        ("dispensed", parties.pharmacy_uscc),
    ]
    assert view.trail[2].organisation == "Zhejiang Medicine Distribution"
    assert all(s.timestamp_ms for s in view.trail)


def test_product_keys_and_freezes_follow_separation_of_duties(
    running_node: RunningNode, parties: Parties
) -> None:
    assert parties.mah.registrant(UNIT_KEY) == running_node.member_with("MAH").uscc
    assert parties.mah.registrant(GTIN) == running_node.member_with("MAH").uscc
    assert parties.mah.registrant("8700001") is None
    with pytest.raises(ExecutionError, match="product key not assigned to you"):
        parties.mah.register_product("8700001", "Unassigned key", "国药准字H1")
    regulator = Drugs(parties.client, running_node.member_with("DRUG_REGULATOR").signer)
    parties.mah.commission([unit(900)], "B2025900", PRODUCTION, EXPIRY)
    regulator.freeze(UNIT_KEY, "B2025900", "inspection")
    with pytest.raises(ExecutionError, match="only a regulator lifts its freeze"):
        parties.mah.unfreeze(UNIT_KEY, "B2025900", "not yours to lift")
    parties.mah.freeze(UNIT_KEY, "B2025900", "voluntary hold")
    batch = parties.mah.batch(UNIT_KEY, "B2025900")
    assert batch.frozen and batch.regulator_freeze and batch.mah_hold
    regulator.unfreeze(UNIT_KEY, "B2025900", "inspection closed")
    parties.mah.unfreeze(UNIT_KEY, "B2025900", "deviation closed")
    assert not parties.mah.batch(UNIT_KEY, "B2025900").frozen


def test_refusals_before_and_after_signing(parties: Parties) -> None:
    # The test commissions its own pack (held by the MAH), so it holds whichever tests ran before it.
    held_by_mah = unit(600)
    parties.mah.commission([held_by_mah], "B2025600", PRODUCTION, EXPIRY)
    with pytest.raises(IdentifierError):
        parties.pharmacy.dispense("123")  # validated before anything is signed
    with pytest.raises(IdentifierError):
        Drugs(parties.client).consumer_query("(01)" + GTIN)  # no serial: names no single pack
    with pytest.raises(ExecutionError, match="not a dispenser"):
        parties.distributor.dispense(held_by_mah)
    with pytest.raises(DrugAlertError, match="unknown code"):
        parties.pharmacy.dispense(unit(999))
    with pytest.raises(DrugAlertError, match="not the custodian"):
        parties.distributor.ship([held_by_mah], parties.pharmacy_signer.address)


def test_large_commissioning_is_split_into_transactions(
    parties: Parties, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = parties.mah.commission_chunk_size()
    codes = [unit(10_000 + i) for i in range(size + 20)]
    client = parties.mah.client
    requests: list[int] = []
    submit_many = client.submit_many

    def counted(raws: Sequence[bytes]) -> list[bytes | XinlianError]:
        requests.append(len(raws))
        return submit_many(raws)

    monkeypatch.setattr(client, "submit_many", counted)
    result = parties.mah.commission(codes, "B2025002", PRODUCTION, EXPIRY)
    assert result.count == size + 20 and len(result.receipts) == 2
    assert requests == [2]  # the chunks went together, in one batch request
    assert parties.mah.batch(UNIT_KEY, "B2025002").commissioned == size + 20
    with pytest.raises(DrugAlertError) as again:
        parties.mah.commission([*codes[-3:], unit(20_000)], "B2025002", PRODUCTION, EXPIRY)
    assert again.value.reason == "already commissioned"
    assert len(again.value.alerts) == 3
    assert not parties.mah.code_state(unit(20_000)).known


def test_gs1_codes_and_printed_data_are_checked(parties: Parties) -> None:
    mah = parties.mah
    with pytest.raises(IdentifierError, match="prints batch"):
        mah.commission([gs1("S1", batch="OTHER")], "L2025A", PRODUCTION, EXPIRY)
    mah.commission([gs1("S1"), gs1("S2")], "L2025A", PRODUCTION, EXPIRY)
    public = Drugs(parties.client)
    view = public.consumer_query(gs1("S1"))
    assert view.authentic and view.category is Category.VACCINE
    forged = public.consumer_query(gs1("S1", batch="L2024Z"))
    assert not forged.authentic and forged.reason == "printed batch differs from the ledger"
    assert public.consumer_query(gs1("S9")).reason == "unknown code"


def test_recall_then_return_to_the_mah(parties: Parties) -> None:
    mah, dist = parties.mah, parties.distributor
    mah.commission([unit(500), unit(501)], "B2025009", PRODUCTION, EXPIRY)
    shipment = mah.ship([unit(500), unit(501)], parties.distributor_signer.address)
    dist.receive(shipment.shipment_id)
    mah.recall(UNIT_KEY, "B2025009", "dissolution out of specification")
    assert Drugs(parties.client).consumer_query(unit(500)).recalled
    with pytest.raises(DrugAlertError, match="recalled"):
        dist.ship([unit(500)], parties.pharmacy_signer.address)
    back = dist.ship([unit(500), unit(501)], mah.signer.address, BillType.RECALL)  # type: ignore[union-attr]
    mah.receive(back.shipment_id)
    mah.destroy([unit(500), unit(501)])
    assert mah.code_state(unit(500)).status is CodeStatus.DESTROYED


# --- REST ----------------------------------------------------------------------------------------------
def _get(url: str, path: str) -> httpx.Response:
    return httpx.get(url + path, timeout=30)


def test_consumer_endpoint_is_public_and_shows_no_volumes(
    running_node: RunningNode, parties: Parties
) -> None:
    parties.mah.commission([unit(700)], "B2025700", PRODUCTION, EXPIRY)
    response = _get(running_node.url, f"/v1/drugs/codes/{unit(700)}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["authentic"] is True and body["status"] == "active" and body["level"] == "unit"
    assert body["product"]["approval_number"] == "国药准字H33020001"
    assert body["expiry_date"] == EXPIRY.isoformat()
    assert [s["step"] for s in body["trail"]] == ["commissioned"]
    assert set(body["trail"][0]) == {"step", "uscc", "organisation", "height", "timestamp_ms"}
    unknown = _get(running_node.url, f"/v1/drugs/codes/{unit(701)}").json()
    assert unknown["authentic"] is False and unknown["status"] == "unknown"
    bad = _get(running_node.url, "/v1/drugs/codes/12345")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_identifier"
    # a GS1 element string, percent-encoded in the path: its own pack, so no other test must run first
    parties.mah.commission([gs1("S700")], "L2025A", PRODUCTION, EXPIRY)
    encoded = _get(running_node.url, "/v1/drugs/codes/" + httpx.URL(gs1("S700")).raw_path.decode())
    assert encoded.json()["authentic"] is True


def test_history_is_member_signed_and_limited_to_parties(running_node: RunningNode, parties: Parties) -> None:
    # Its own case of two packs, so the test does not depend on the order tests run in.
    mah, client = parties.mah, parties.client
    units = [unit(40), unit(41)]
    mah.commission(units, "B2025040", PRODUCTION, EXPIRY)
    mah.commission([case(40)], "B2025040", PRODUCTION, EXPIRY, Level.CASE)
    mah.aggregate(case(40), units)
    first = mah.ship([case(40)], parties.distributor_signer.address, BillType.SALE)
    parties.distributor.receive(first.shipment_id)
    second = parties.distributor.ship([case(40)], parties.pharmacy_signer.address, BillType.SALE)
    parties.pharmacy.receive(second.shipment_id, [case(40)])
    parties.pharmacy.dispense(unit(40))
    with pytest.raises(DrugAlertError):
        parties.pharmacy.dispense(unit(40))
    path = f"/v1/drugs/codes/{unit(40)}/history"
    body = client.signed_request(parties.pharmacy_signer, "GET", path)
    names = [e["event"] for e in body["events"]]
    assert names[0] == "Commissioned" and names[-1] == "Alert"
    assert "Aggregated" in names and "Dispensed" in names
    assert any(e["via"] for e in body["events"])  # the case's shipments, inherited by the unit
    assert body["state"]["status"] == "dispensed"
    assert body["state"]["custodian_uscc"] == parties.pharmacy_uscc
    code_id = "0x" + parse_trace_code(unit(40)).code_id.hex()
    regulator = running_node.member_with("DRUG_REGULATOR").signer
    assert (
        client.signed_request(regulator, "GET", f"/v1/drugs/codes/{code_id}/history")["events"]
        == body["events"]
    )
    with pytest.raises(Exception) as denied:
        client.signed_request(parties.outsider, "GET", path)
    assert getattr(denied.value, "code", "") == "forbidden"
    assert _get(running_node.url, path).status_code == 401


def test_batch_endpoint(running_node: RunningNode, parties: Parties) -> None:
    parties.mah.commission([unit(800), unit(801)], "B2025800", PRODUCTION, EXPIRY)
    body = parties.client.signed_request(parties.outsider, "GET", f"/v1/drugs/batches/{UNIT_KEY}/B2025800")
    assert body["commissioned"] == 2 and body["recalled"] is False
    assert body["product"]["mah_name"] == "Hangzhou Pharma Co., Ltd."
    with pytest.raises(Exception) as missing:
        parties.client.signed_request(parties.outsider, "GET", f"/v1/drugs/batches/{UNIT_KEY}/NOPE")
    assert getattr(missing.value, "code", "") == "not_found"


# --- exports ---------------------------------------------------------------------------------------------
def test_a_party_exports_epcis_and_csv_and_an_outsider_gets_nothing(
    parties: Parties, running_node: RunningNode, tmp_path: Any
) -> None:
    import csv
    import io
    import json as json_module

    from typer.testing import CliRunner

    from sdk.cli import app
    from sdk.domains.drugs import to_csv

    mah, dist, pharm = parties.mah, parties.distributor, parties.pharmacy
    units = [unit(n) for n in (91_001, 91_002)]
    mah.commission(units, "B2025910", PRODUCTION, EXPIRY)
    mah.commission([case(91)], "B2025910", PRODUCTION, EXPIRY, Level.CASE)
    mah.aggregate(case(91), units)
    shipment = mah.ship([case(91)], parties.distributor_signer.address, BillType.SALE)
    dist.receive(shipment.shipment_id)
    dist.disaggregate(case(91), units)
    second = dist.ship([units[0]], parties.pharmacy_signer.address, BillType.SALE)
    pharm.receive(second.shipment_id)
    pharm.dispense(units[0])

    # The MAH names the units and the case: each event once, the case's shipping under the case's id.
    orgs = json_module.loads((running_node.data_dir / "orgs.json").read_text(encoding="utf-8"))
    key = running_node.data_dir / next(o for o in orgs if "MAH" in o["roles"])["key"]
    result = CliRunner().invoke(
        app, ["drug", "export", *units, case(91), "--key", str(key), "--url", running_node.url]
    )
    assert result.exit_code == 0, result.stderr
    document = json_module.loads(result.stdout)
    assert document["type"] == "EPCISDocument" and document["schemaVersion"] == "2.0"
    steps = [(e["type"], e["action"], e["bizStep"]) for e in document["epcisBody"]["eventList"]]
    assert steps == [
        ("ObjectEvent", "ADD", "commissioning"),
        ("ObjectEvent", "ADD", "commissioning"),
        ("ObjectEvent", "ADD", "commissioning"),
        ("AggregationEvent", "ADD", "packing"),
        ("AggregationEvent", "ADD", "packing"),
        ("ObjectEvent", "OBSERVE", "shipping"),
        ("ObjectEvent", "OBSERVE", "receiving"),
        ("AggregationEvent", "DELETE", "unpacking"),
        ("AggregationEvent", "DELETE", "unpacking"),
        ("ObjectEvent", "OBSERVE", "shipping"),
        ("ObjectEvent", "OBSERVE", "receiving"),
        ("ObjectEvent", "OBSERVE", "dispensing"),
    ]
    events = document["epcisBody"]["eventList"]
    case_uri, unit_uri = f"urn:xinlian:drug-code:{case(91)}", f"urn:xinlian:drug-code:{units[0]}"
    assert events[3]["parentID"] == case_uri and events[3]["childEPCs"] == [
        f"urn:xinlian:drug-code:{units[0]}"
    ]
    assert events[5]["epcList"] == [case_uri]
    assert events[5]["destinationList"] == [
        {"type": "owning_party", "destination": f"urn:xinlian:uscc:{parties.distributor_uscc}"}
    ]
    assert events[11]["epcList"] == [unit_uri] and events[11]["disposition"] == "dispensed"
    assert len({e["eventID"] for e in events}) == len(events)

    # CSV, from the SDK: the same events.
    rows = list(csv.DictReader(io.StringIO(to_csv(mah.export_events([parse_trace_code(c) for c in units])))))
    assert [r["event"] for r in rows][-1] == "Dispensed" and rows[-1]["organisation"] == parties.pharmacy_uscc

    # A member with no part in these codes gets an empty document, not an error that would confirm them.
    outsider_key = running_node.data_dir / next(o for o in orgs if "BANK" in o["roles"])["key"]
    out = tmp_path / "outsider.json"
    argv = ["drug", "export", *units, "--key", str(outsider_key), "--url", running_node.url]
    result = CliRunner().invoke(app, [*argv, "--json", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    assert json_module.loads(result.stdout)["events"] == 0
    assert json_module.loads(out.read_text(encoding="utf-8"))["epcisBody"]["eventList"] == []


# --- lots commissioned by their root (DrugLots) -----------------------------------------------------------
def test_a_lot_by_its_root_materialises_codes_that_then_move_and_check_authentic(parties: Parties) -> None:
    mah = parties.mah
    codes = [unit(n) for n in range(5000, 5500)]
    start = parties.client.chain_info().height + 1
    parts = mah.commission_lot(codes, "B2025500", PRODUCTION, EXPIRY, part_size=200)
    assert [len(part.code_ids) for part in parts] == [200, 200, 100]
    assert len({part.part for part in parts}) == 3
    # A code in a part has no word yet; the node's lot index answers for it: held by its MAH.
    fresh = mah.consumer_query(codes[0])
    assert fresh.authentic and fresh.status == CodeStatus.ACTIVE and fresh.batch_no == "B2025500"
    assert [(s.step, s.uscc) for s in fresh.trail] == [("commissioned", fresh.mah_uscc)]
    assert mah.code_state(codes[0]).lot_part == parts[0].part  # type: ignore[union-attr]
    assert mah.code_state(codes[450]).lot_part == parts[2].part  # type: ignore[union-attr]
    kept = [LotPart.from_json(part.to_json()) for part in parts]  # what the MAH keeps, read back
    assert kept == list(parts)
    assert mah.lot_parts(from_height=start) == list(parts)  # or, lost, rebuilt from the chain

    mah.materialise(kept[1], codes[200:203])
    assert mah.consumer_query(codes[201]).authentic
    assert mah.code_state(codes[201]).lot_part is None  # type: ignore[union-attr]  # its own word now
    assert mah.code_state(codes[201]).custodian == mah.signer.address  # type: ignore[union-attr]
    shipped = mah.ship(codes[200:203], parties.distributor_signer.address, BillType.SALE)
    parties.distributor.receive(shipped.shipment_id)
    assert parties.distributor.code_state(codes[202]).custodian == parties.distributor_signer.address  # type: ignore[union-attr]

    mah.materialise(kept[2], codes[400:])  # the whole last part, one block: one path for all 100
    assert all(mah.consumer_query(code).authentic for code in (codes[400], codes[499]))

    with pytest.raises(DrugAlertError) as twice:
        mah.materialise(kept[1], [codes[200]])
    assert twice.value.alerts[0].reason == "already commissioned"
    with pytest.raises(InputError):
        mah.materialise(kept[0], [codes[300]])  # in part 2, not part 1
    with pytest.raises(DrugAlertError):
        mah.ship([codes[0]], parties.distributor_signer.address, BillType.SALE)  # never materialised


def test_a_lot_part_transaction_is_read_by_its_mah_and_the_regulator_only(
    running_node: RunningNode, parties: Parties
) -> None:
    (part,) = parties.mah.commission_lot([unit(n) for n in range(5600, 5610)], "B2025560", PRODUCTION, EXPIRY)
    path = f"/v1/transactions/0x{part.tx_hash.hex()}"
    client = parties.client
    regulator = running_node.member_with("DRUG_REGULATOR").signer
    for reader in (parties.mah.signer, regulator):
        assert client.signed_request(reader, "GET", path)["status"] == "committed"  # type: ignore[arg-type]
    for other in (parties.outsider, parties.distributor_signer):
        with pytest.raises(Exception) as denied:
            client.signed_request(other, "GET", path)
        assert getattr(denied.value, "code", "") == "forbidden"
    assert Drugs(client, regulator).lot_part(part.tx_hash) == part
    with pytest.raises(XinlianError) as denied:
        Drugs(client, parties.distributor_signer).lot_part(part.tx_hash)
    assert denied.value.code == "forbidden"
    with pytest.raises(DomainError) as other:
        parties.mah.lot_part(
            parties.mah.commission([unit(5620)], "B2025560", PRODUCTION, EXPIRY).receipts[0].tx_hash
        )
    assert other.value.code == "not_a_lot_part"


def test_a_code_only_in_its_lot_part_answers_from_the_lot_index(
    running_node: RunningNode, parties: Parties
) -> None:
    """Before it has a word, a lot code is checked, read and recalled through its part: the consumer sees it
    authentic and held by its MAH, only the MAH and the regulator read its history, and a recall of its batch
    reaches it too."""
    mah, client = parties.mah, parties.client
    codes = [unit(n) for n in range(5700, 5710)]
    (part,) = mah.commission_lot(codes, "B2025570", PRODUCTION, EXPIRY)

    code_id = "0x" + parse_trace_code(codes[7]).code_id.hex()
    path = f"/v1/drugs/lot-codes/{code_id}"
    height = mah.client.transaction(part.tx_hash).receipt.height  # type: ignore[union-attr]
    regulator = running_node.member_with("DRUG_REGULATOR").signer
    for reader in (mah.signer, regulator):
        lot = client.signed_request(reader, "GET", path)  # type: ignore[arg-type]
        mah_account = "0x" + mah.signer.address.hex()  # type: ignore[union-attr]
        assert lot == {
            "code_id": code_id,
            "parts": [{"part": part.part, "height": height, "mah": mah_account}],
        }
    for other in (parties.distributor_signer, parties.outsider):  # a code's part, like its part's tx: theirs
        with pytest.raises(XinlianError) as denied:
            client.signed_request(other, "GET", path)
        assert denied.value.code == "forbidden"
    assert _get(running_node.url, path).status_code == 401
    with pytest.raises(XinlianError) as missing:
        client.signed_request(mah.signer, "GET", f"/v1/drugs/lot-codes/{unit(5710)}")  # type: ignore[arg-type]
    assert missing.value.code == "not_found"

    body = _get(running_node.url, f"/v1/drugs/codes/{codes[7]}").json()
    assert body["authentic"] is True and body["status"] == "active" and body["batch_no"] == "B2025570"
    assert [s["step"] for s in body["trail"]] == ["commissioned"]
    assert body["trail"][0]["height"] == height

    path = f"/v1/drugs/codes/{codes[7]}/history"
    for reader in (mah.signer, regulator):
        history = client.signed_request(reader, "GET", path)  # type: ignore[arg-type]
        assert (
            history["state"]["lot_part"] == part.part
            and history["state"]["custodian_uscc"] == body["product"]["mah_uscc"]
        )
        assert [e["event"] for e in history["events"]] == ["LotCommissioned"]
    for other in (parties.distributor_signer, parties.outsider):
        with pytest.raises(XinlianError) as denied:
            client.signed_request(other, "GET", path)
        assert denied.value.code == "forbidden"

    # A movement tried before the code has its word records an Alert: it neither hides the commissioning
    # nor makes the distributor a party to the code.
    with pytest.raises(DrugAlertError):
        parties.distributor.ship([codes[7]], parties.pharmacy_signer.address, BillType.SALE)
    assert [s["step"] for s in _get(running_node.url, f"/v1/drugs/codes/{codes[7]}").json()["trail"]] == [
        "commissioned"
    ]
    events = client.signed_request(mah.signer, "GET", path)["events"]  # type: ignore[arg-type]
    assert [e["event"] for e in events] == ["LotCommissioned", "Alert"]
    with pytest.raises(XinlianError) as still:
        client.signed_request(parties.distributor_signer, "GET", path)
    assert still.value.code == "forbidden"

    mah.recall(UNIT_KEY, "B2025570", "sterility failure")
    recalled = Drugs(client).consumer_query(codes[3])
    assert recalled.authentic and recalled.recalled
    # A held batch gives no new words (commission's rule): its codes stay recalled in the part.
    with pytest.raises(ExecutionError, match="batch is on hold"):
        mah.materialise(part, [codes[3]])
    state = mah.code_state(codes[3])
    assert state.recalled and state.lot_part == part.part  # type: ignore[union-attr]


def test_a_lot_codes_consumer_check_walks_the_lot_index_once(
    parties: Parties, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The consumer check of a code still in its lot part finds the part once, for its state and its trail
    alike (each walk is a request and three contract reads); history given the place asks no more."""
    mah = parties.mah
    codes = [unit(n) for n in range(5720, 5723)]
    (part,) = mah.commission_lot(codes, "B2025572", PRODUCTION, EXPIRY)
    asked: list[bytes] = []
    lot_places = mah.ledger.lot_places

    def counted(code_id: bytes) -> Sequence[LotPlace]:
        asked.append(code_id)
        return lot_places(code_id)

    monkeypatch.setattr(mah.ledger, "lot_places", counted)
    queries = DrugQueries(mah.ledger)  # the read model the node's check runs, here over the MAH's reads
    view = queries.consumer_query(codes[1])
    code_id = parse_trace_code(codes[1]).code_id
    assert view.authentic and [s.step for s in view.trail] == ["commissioned"]
    assert asked == [code_id]

    state, lot = queries.get_code_and_lot(code_id)
    assert lot is not None and state.lot_part == lot.part == part.part
    assert [e.name for e in queries.history(code_id, lot=lot)] == ["LotCommissioned"]
    assert asked == [code_id, code_id]  # get_code_and_lot's walk only
    assert [e.name for e in queries.history(code_id)] == ["LotCommissioned"]  # without the place: one more
    assert len(asked) == 3


def test_moving_a_lot_code_before_its_word_says_to_materialise_it(parties: Parties) -> None:
    """The MAH that ships a code still only in its lot part is refused as for any unknown code, and the
    error names the part and the remedy; another party gets the plain refusal (the part is not theirs)."""
    mah = parties.mah
    codes = [unit(n) for n in range(5730, 5732)]
    (part,) = mah.commission_lot(codes, "B2025573", PRODUCTION, EXPIRY)
    with pytest.raises(DrugAlertError, match=f"lot part {part.part} without its word yet") as refused:
        mah.ship(codes, parties.distributor_signer.address, BillType.SALE)
    assert refused.value.detail["reason"] == "unknown code" and "materialise_codes" in refused.value.message
    with pytest.raises(DrugAlertError) as plain:
        parties.distributor.ship([codes[0]], parties.pharmacy_signer.address, BillType.SALE)
    assert plain.value.message == "shipment refused: unknown code"
    mah.materialise_codes(codes)
    mah.ship(codes, parties.distributor_signer.address, BillType.SALE)  # with its word, it moves


def test_materialise_codes_finds_each_codes_part_through_the_lot_index(parties: Parties) -> None:
    mah = parties.mah
    first = [unit(n) for n in range(5800, 5806)]
    second = [unit(n) for n in range(5806, 5810)]
    mah.commission_lot(first, "B2025580", PRODUCTION, EXPIRY)
    mah.commission_lot(second, "B2025580", PRODUCTION, EXPIRY)
    wanted = [second[1], first[4], first[0]]  # two parts, in no order

    with pytest.raises(DomainError) as outside:
        mah.materialise_codes([*wanted, unit(5810)])  # the last is in no part: nothing is sent
    assert outside.value.code == "not_in_a_lot"
    assert all(mah.code_state(code).lot_part is not None for code in wanted)  # type: ignore[union-attr]
    with pytest.raises(XinlianError) as unseen:  # only the part's MAH (and the regulator) sees its parts
        parties.distributor.materialise_codes(wanted)
    assert unseen.value.code == "forbidden"

    receipts = mah.materialise_codes(wanted)
    assert len(receipts) == 2 and all(r.succeeded for r in receipts)
    assert all(mah.code_state(code).lot_part is None for code in wanted)  # type: ignore[union-attr]
    assert mah.materialise_codes([wanted[0], first[2]])[0].succeeded  # a code with its word is left out
    assert mah.code_state(first[1]).lot_part is not None  # type: ignore[union-attr]  # not asked for
    shipped = mah.ship(wanted, parties.distributor_signer.address, BillType.SALE)
    assert shipped.shipment_id > 0


def test_a_lot_codes_bundle_proves_its_listing_offline_without_the_parts_other_codes(
    running_node: RunningNode, parties: Parties
) -> None:
    codes = [unit(n) for n in range(5900, 5913)]
    (part,) = parties.mah.commission_lot(codes, "B2025590", PRODUCTION, EXPIRY)
    body = parties.mah.code_bundle(codes[11])
    assert body["event"]["tx"] is None and body["event"]["tx_proof"] == []
    others = {parse_trace_code(c).code_id.hex() for c in codes} - {parse_trace_code(codes[11]).code_id.hex()}
    assert not any(other in json.dumps(body) for other in others)  # no other code id travels

    trust = load_trust(httpx.get(f"{running_node.url}/v1/proofs/trust").json())
    for form in (body, ProofBundle.from_json(body).to_qr_text()):
        event = Verifier(trust=trust).verify_bundle(form)
        lot = event.lot
        assert lot is not None and lot.code_id == parse_trace_code(codes[11]).code_id
        assert (lot.part, lot.leaf, lot.batch_no, lot.level) == (part.part, 11, "B2025590", int(Level.UNIT))
        assert event.sender == lot.mah == parties.mah.signer.address  # type: ignore[union-attr]
        assert event.tx_hash == part.tx_hash and event.sender_public_key == b""

    # Another code's path, or this one's path for another code, proves nothing.
    forged = json.loads(json.dumps(body))
    forged["lot"]["code_id"] = "0x" + parse_trace_code(codes[3]).code_id.hex()
    with pytest.raises(ProofError):
        Verifier(trust=trust).verify_bundle(forged)
    # The bundle shows its part's size: the product's MAH and the regulator have it, and hand it on.
    regulator = Drugs(parties.client, running_node.member_with("DRUG_REGULATOR").signer)
    assert regulator.code_bundle(codes[11])["lot"] == body["lot"]
    with pytest.raises(XinlianError) as denied:
        parties.distributor.code_bundle(codes[11])
    assert denied.value.code == "forbidden"
    path = f"/v1/proofs/drug-codes/{codes[11]}"
    assert httpx.get(f"{running_node.url}{path}").status_code == 401
    with pytest.raises(XinlianError) as missing:  # in no part
        parties.mah.code_bundle(unit(5913))
    assert missing.value.code == "not_found"
    parties.mah.materialise(part, [codes[4]])
    with pytest.raises(XinlianError) as worded:  # its own Commissioned event proves it now
        parties.mah.code_bundle(codes[4])
    assert worded.value.code == "not_found"

    # From a shell: `xinlian verify` checks the bundle offline.
    from typer.testing import CliRunner

    from sdk.cli import app

    result = CliRunner().invoke(app, ["verify", json.dumps(body), "--trust", running_node.url, "--json"])
    assert result.exit_code == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["verified"] and facts["facts"]["lot"]["code_id"] == body["lot"]["code_id"]
    assert facts["facts"]["lot"]["part"] == part.part


def test_a_squatters_part_never_answers_for_the_makers_codes(
    running_node: RunningNode, parties: Parties
) -> None:
    """A rival registered a product before its key prefix was bound to the real maker, and listed the maker's
    coming code ids in a part. After the regulator settles the product on the maker, only the maker's own
    part can give those codes their words: the consumer check, holds and materialising follow it."""
    client, mah = parties.client, parties.mah
    gov = Governance(client, running_node.committee.signer)
    gov_regulator = Governance(client, running_node.member_with("DRUG_REGULATOR").signer)
    regulator = Drugs(client, running_node.member_with("DRUG_REGULATOR").signer)
    rival_uscc = make_uscc("330100", 70_000_003)
    rival = Drugs(client, _register_trader(gov, gov_regulator, rival_uscc, "Rival Pharmaceutical", "MAH"))
    key, maker_uscc = "8691250", running_node.member_with("MAH").uscc
    regulator.assign_key_prefix(KeyScheme.NMPA, "869125", rival_uscc, "assigned in error")
    rival.register_product(key, "Ibuprofen Tablets (squatted)", "国药准字H99999999")
    codes = [f"{key}{n:013d}" for n in range(1, 6)]
    (squat,) = rival.commission_lot(codes, "FAKE01", PRODUCTION, EXPIRY)
    regulator.assign_key_prefix(KeyScheme.NMPA, "869125", maker_uscc, "corrected")
    regulator.settle_product(key, maker_uscc, reason="the key is the maker's")
    (genuine,) = mah.commission_lot(codes, "B2025001", PRODUCTION, EXPIRY)
    assert squat.part < genuine.part

    view = Drugs(client).consumer_query(codes[0])
    assert view.authentic and view.batch_no == "B2025001" and view.mah_uscc == maker_uscc
    assert mah.code_state(codes[0]).lot_part == genuine.part  # type: ignore[union-attr]
    bundle = Verifier(trust=load_trust(client.public_get("/v1/proofs/trust"))).verify_bundle(
        mah.code_bundle(codes[0])
    )
    assert bundle.lot is not None and bundle.lot.part == genuine.part
    with pytest.raises(XinlianError) as unseen:
        rival.materialise_codes(codes[:1])
    assert unseen.value.code == "forbidden"
    assert mah.materialise_codes(codes[:2])[0].succeeded
    mah.recall(key, "B2025001", "recalled after settlement")
    assert Drugs(client).consumer_query(codes[3]).recalled


def test_a_part_in_call_data_a_strict_decoder_refuses_is_indexed_and_the_chain_goes_on(
    running_node: RunningNode, parties: Parties
) -> None:
    """Vyper accepts a commission_lot whose batch number has non-zero ABI padding; the lot index reads the
    codes as the contract does, so the block commits, the chain goes on and the codes answer."""
    mah = parties.mah
    codes = [unit(n) for n in range(9100, 9103)]
    ids = [parse_trace_code(c).code_id for c in codes]
    product = parse_trace_code(codes[0]).product_id
    days = (day_of_date(PRODUCTION), day_of_date(EXPIRY))
    data = bytearray(LOTS_CONTRACT.encode_call("commission_lot", [product, "B9100", *days, 1, ids]))
    data[data.find(b"B9100") + 10] = 0x41  # a padding byte of the batch number's word
    receipt = mah.client.send(mah.signer, DRUG_LOTS_ADDRESS, bytes(data), gas_limit=5_000_000)
    assert receipt.succeeded
    later = mah.commission([unit(9103)], "B9100", PRODUCTION, EXPIRY).receipts[0]
    assert later.height > receipt.height  # the chain committed the block and went on
    assert Drugs(parties.client).consumer_query(codes[2]).authentic
    assert mah.code_state(codes[1]).lot_part is not None  # type: ignore[union-attr]


def test_a_part_with_a_batch_number_that_is_not_utf8_reads_as_its_log_does(
    running_node: RunningNode, parties: Parties
) -> None:
    """The contract takes any bytes as a batch number, which a strict ABI decoder refuses. The readers read a
    part's record and log by position, so such a part answers like any other (the bytes shown as U+FFFD), and
    its MAH reads its parts."""
    mah = parties.mah
    codes = [unit(n) for n in range(9200, 9203)]
    ids = [parse_trace_code(c).code_id for c in codes]
    product = parse_trace_code(codes[0]).product_id
    days = (day_of_date(PRODUCTION), day_of_date(EXPIRY))
    data = LOTS_CONTRACT.encode_call("commission_lot", [product, "B9200", *days, 1, ids])
    odd = data.replace(b"B9200", b"\xff9200")
    assert mah.client.send(mah.signer, DRUG_LOTS_ADDRESS, odd, gas_limit=5_000_000).succeeded
    view = Drugs(parties.client).consumer_query(codes[0])
    assert (
        view.authentic and view.batch_no == "\ufffd9200" and [s.step for s in view.trail] == ["commissioned"]
    )
    (part,) = mah.commission_lot(codes, "B9201", PRODUCTION, EXPIRY)  # the same account's later part
    lot = parties.client.signed_request(mah.signer, "GET", f"/v1/drugs/lot-codes/{codes[1]}")  # type: ignore[arg-type]
    assert [p["part"] for p in lot["parts"]] == [part.part - 1]  # an account's first part answers
    assert mah.code_state(codes[1]).batch_no == "\ufffd9200"  # type: ignore[union-attr]
