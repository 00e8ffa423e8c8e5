"""DrugTrace.vy on the real py-evm engine: every transition, and every refusal (revert or alert-only)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from node.demo_network import make_uscc
from node.genesis import (
    GOVERNANCE_ADDRESS,
)
from sdk.domains.calendar import day_of_date
from sdk.domains.drugs import (
    CALL_GAS_BASE,
    COMMISSION_GAS_BASE,
    COMMISSION_GAS_PER_CODE,
    MOVE_GAS_PER_CODE,
    PACK_GAS_PER_CODE,
    BillType,
    Category,
    CodeStatus,
    Level,
    compute_commission_chunk_size,
    compute_product_id,
)
from sdk.types import Receipt
from tests.contracts.worlds.drugs import (
    CASE_KEY,
    COMMITTEE,
    DIST,
    DRUG,
    EXPIRY,
    GTIN,
    KEY_GS1,
    KEY_NMPA,
    MAH_PREFIX,
    ORG_MAH,
    ORG_REG,
    ORG_RIVAL,
    OUTSIDER,
    PHARMA,
    PHARMA_2,
    PHARMACY,
    PRODUCTION,
    REGULATOR,
    RIVAL,
    SALE,
    UNIT_KEY,
    Chain,
    bind,
    case,
    cid,
    commission,
    new_chain,
    register,
    ship,
    stock,
    unit,
)


@pytest.fixture()
def chain() -> Chain:
    return new_chain()


@pytest.fixture()
def stocked(chain: Chain) -> Chain:
    return stock(chain)


# --- set-up and products --------------------------------------------------------------------------------
def test_initialize_runs_once_at_genesis(chain: Chain) -> None:
    assert chain.view("governance") == GOVERNANCE_ADDRESS
    assert chain.refused(COMMITTEE, "initialize", COMMITTEE) == "already initialized"


def test_mah_registers_products_for_its_organisation(chain: Chain) -> None:
    register(chain)
    unit_product = chain.view("products", compute_product_id(UNIT_KEY))
    assert unit_product["mah_org"] == ORG_MAH
    assert unit_product["drug"] == compute_product_id(UNIT_KEY)
    assert chain.view("products", compute_product_id(CASE_KEY))["drug"] == compute_product_id(UNIT_KEY)
    vaccine = "8612349"
    chain.must(
        PHARMA, "register_product", vaccine, "Hep B vaccine", "国药准字S1", int(Category.VACCINE), bytes(32)
    )
    assert chain.view("products", compute_product_id(vaccine))["category"] == Category.VACCINE
    assert chain.view("products", compute_product_id(vaccine))["status"] == 1


def test_the_contract_derives_the_product_id_the_sdk_computes(chain: Chain) -> None:
    bind(chain, "6901234", ORG_MAH, KEY_GS1)
    receipt = chain.must(PHARMA, "register_product", GTIN, "Vaccine", "国药准字S2", 1, bytes(32))
    [event] = [DRUG.decode_log(log) for log in receipt.logs]
    assert event.name == "ProductRegistered" and event.args["product_key"] == GTIN
    assert bytes(event.args["product"]) == compute_product_id(GTIN) == compute_product_id(GTIN[1:])
    assert chain.view("products", compute_product_id(GTIN))["mah_org"] == ORG_MAH


def test_product_registration_refusals_revert(chain: Chain) -> None:
    register(chain)
    other = "8612340"
    assert chain.refused(DIST, "register_product", other, "X", "A", 0, bytes(32)) == "not a MAH"
    assert (
        chain.refused(PHARMA, "register_product", UNIT_KEY, "X", "A", 0, bytes(32))
        == "product already registered"
    )
    assert chain.refused(PHARMA, "register_product", other, "X", "A", 9, bytes(32)) == "unknown category"
    assert chain.refused(PHARMA, "register_product", "861234", "X", "A", 0, bytes(32)) == (
        "a product key is 7 or 14 digits"
    )
    assert chain.refused(PHARMA, "register_product", "86123x5", "X", "A", 0, bytes(32)) == (
        "a product key is 7 or 14 digits"
    )
    bind(chain, "8612399", ORG_RIVAL)
    assert (
        chain.refused(RIVAL, "register_product", "8612399", "X", "A", 0, compute_product_id(UNIT_KEY))
        == "packed product belongs to another MAH"
    )


# --- commissioning --------------------------------------------------------------------------------------
def test_commissioning_records_codes_with_the_mah_as_custodian(chain: Chain) -> None:
    register(chain)
    receipt = commission(chain, [unit(1), unit(2)], Level.UNIT)
    state = chain.code(unit(1))
    assert state["known"] and state["status"] == CodeStatus.ACTIVE and state["custodian"] == PHARMA
    assert state["batch_no"] == "B001" and state["level"] == Level.UNIT
    assert state["expiry_day"] == day_of_date(EXPIRY) and not state["expired"]
    assert [DRUG.decode_log(log).name for log in receipt.logs] == ["Commissioned"] * 2 + ["BatchCommissioned"]
    assert chain.view("get_batch", compute_product_id(UNIT_KEY), "B001")["commissioned"] == 2
    assert chain.code(unit(3))["known"] is False


def test_a_full_commissioning_chunk_fits_the_default_gas_limit(chain: Chain) -> None:
    register(chain)
    size = compute_commission_chunk_size(5_000_000)
    assert size >= 180
    receipt = commission(chain, [unit(i) for i in range(1, size + 1)], Level.UNIT)
    assert receipt.gas_used <= COMMISSION_GAS_BASE + size * COMMISSION_GAS_PER_CODE
    assert chain.code(unit(size))["status"] == CodeStatus.ACTIVE


def test_two_hundred_codes_move_in_one_transaction(chain: Chain) -> None:
    register(chain)
    codes = [unit(i) for i in range(1, 201)]
    commission(chain, codes[:100], Level.UNIT)
    commission(chain, codes[100:], Level.UNIT)
    receipt = chain.must(PHARMA, "ship", [cid(c) for c in codes], DIST, SALE)
    assert receipt.gas_used <= CALL_GAS_BASE + 200 * MOVE_GAS_PER_CODE
    assert chain.code(unit(200))["status"] == CodeStatus.IN_TRANSIT


def test_commissioning_a_known_code_is_refused_with_an_alert(chain: Chain) -> None:
    register(chain)
    commission(chain, [unit(1)], Level.UNIT)
    product = compute_product_id(UNIT_KEY)
    days = (day_of_date(PRODUCTION), day_of_date(EXPIRY))
    alerts = chain.alerted(PHARMA, "commission", product, "B001", *days, 1, [cid(unit(2)), cid(unit(1))])
    assert alerts == [(cid(unit(1)), "already commissioned")]
    assert chain.code(unit(2))["known"] is False


def test_commissioning_refusals_revert(chain: Chain) -> None:
    register(chain)
    product = compute_product_id(UNIT_KEY)
    days = (day_of_date(PRODUCTION), day_of_date(EXPIRY))
    codes = [cid(unit(1))]
    assert chain.refused(RIVAL, "commission", product, "B1", *days, 1, codes) == "not the product's MAH"
    assert chain.refused(DIST, "commission", product, "B1", *days, 1, codes) == "not a MAH"
    assert chain.refused(PHARMA, "commission", product, "B1", *days, 4, codes) == "unknown packaging level"
    assert chain.refused(PHARMA, "commission", bytes(32), "B1", *days, 1, codes) == "unknown product"
    assert chain.refused(PHARMA, "commission", product, "B1", *days, 1, []) == "no codes"
    dup = [cid(unit(1)), cid(unit(1))]
    assert chain.refused(PHARMA, "commission", product, "B1", *days, 1, dup) == "duplicate code in call"
    chain.must(PHARMA_2, "commission", product, "B1", *days, 1, codes)  # another account of the MAH
    later = (days[0] + 1, days[1])
    assert (
        chain.refused(PHARMA, "commission", product, "B1", *later, 1, [cid(unit(2))])
        == "batch production day differs"
    )


# --- packing --------------------------------------------------------------------------------------------
def test_the_largest_pack_the_sdk_allows_fits_the_default_gas_limit(chain: Chain) -> None:
    register(chain)
    children = (5_000_000 - CALL_GAS_BASE) // PACK_GAS_PER_CODE
    units = [unit(i) for i in range(1, children + 1)]
    commission(chain, units, Level.UNIT)
    commission(chain, [case(1)], Level.CASE)
    receipt = chain.must(PHARMA, "aggregate", cid(case(1)), [cid(u) for u in units])
    assert receipt.gas_used <= CALL_GAS_BASE + children * PACK_GAS_PER_CODE
    assert chain.code(unit(children))["parent"] == cid(case(1))


def test_children_move_with_their_parent(stocked: Chain) -> None:
    assert stocked.code(unit(3))["parent"] == cid(case(1))
    shipment = ship(stocked, PHARMA, [case(1)], DIST)
    inside = stocked.code(unit(3))
    assert inside["status"] == CodeStatus.IN_TRANSIT and inside["custodian"] == PHARMA
    assert inside["shipment"] == shipment
    stocked.must(DIST, "receive", shipment, [cid(case(1))])
    assert stocked.code(unit(3))["custodian"] == DIST
    assert stocked.code(unit(3))["status"] == CodeStatus.ACTIVE
    assert stocked.code(unit(11))["custodian"] == PHARMA  # not packed: did not move


def test_packing_refusals_alert(stocked: Chain) -> None:
    assert stocked.alerted(PHARMA, "aggregate", cid(case(2)), [cid(unit(1))]) == [
        (cid(unit(1)), "packed in a parent")
    ]
    assert stocked.alerted(PHARMA, "aggregate", cid(unit(12)), [cid(unit(11))]) == [
        (cid(unit(11)), "level not below parent")
    ]
    assert stocked.alerted(DIST, "aggregate", cid(case(2)), [cid(unit(11))]) == [
        (cid(case(2)), "not the custodian"),
        (cid(unit(11)), "not the custodian"),
    ]
    assert stocked.alerted(PHARMA, "disaggregate", cid(case(2)), [cid(unit(1))]) == [
        (cid(unit(1)), "not packed in this parent")
    ]
    assert stocked.refused(OUTSIDER, "aggregate", cid(case(2)), [cid(unit(11))]) == (
        "not a MAH, distributor or dispenser"
    )


def test_disaggregated_child_is_held_by_whoever_held_the_parent(stocked: Chain) -> None:
    shipment = ship(stocked, PHARMA, [case(1)], DIST)
    stocked.must(DIST, "receive", shipment, [cid(case(1))])
    stocked.must(DIST, "disaggregate", cid(case(1)), [cid(unit(1)), cid(unit(2))])
    assert stocked.code(unit(1))["parent"] == bytes(32)
    assert stocked.code(unit(1))["custodian"] == DIST
    ship(stocked, DIST, [case(1)], PHARMACY)
    assert stocked.code(unit(3))["status"] == CodeStatus.IN_TRANSIT
    assert stocked.code(unit(1))["status"] == CodeStatus.ACTIVE  # unpacked before the case left


# --- shipping and receiving -----------------------------------------------------------------------------
def test_custody_moves_only_when_the_receiver_confirms(stocked: Chain) -> None:
    shipment = ship(stocked, PHARMA, [unit(11), unit(12)], DIST)
    assert stocked.code(unit(11))["custodian"] == PHARMA
    assert stocked.view("get_shipment", shipment)["remaining"] == 2
    assert (
        stocked.refused(PHARMACY, "receive", shipment, [cid(unit(11))]) == "not the receiver of this shipment"
    )
    stocked.must(DIST, "receive", shipment, [cid(unit(11))])
    assert stocked.code(unit(11))["custodian"] == DIST
    assert stocked.code(unit(12))["status"] == CodeStatus.IN_TRANSIT
    receipt = stocked.must(DIST, "receive", shipment, [cid(unit(12))])
    assert "ShipmentClosed" in [DRUG.decode_log(log).name for log in receipt.logs]
    assert stocked.view("get_shipment", shipment)["status"] == 2
    assert stocked.refused(DIST, "receive", shipment, [cid(unit(12))]) == "no open shipment with that id"


def test_receiving_a_code_outside_the_shipment_alerts(stocked: Chain) -> None:
    shipment = ship(stocked, PHARMA, [unit(11)], DIST)
    assert stocked.alerted(DIST, "receive", shipment, [cid(unit(11)), cid(unit(12))]) == [
        (cid(unit(12)), "not in this shipment")
    ]
    assert stocked.code(unit(11))["status"] == CodeStatus.IN_TRANSIT


def test_shipping_by_a_non_custodian_is_refused_with_an_alert(stocked: Chain) -> None:
    assert stocked.alerted(DIST, "ship", [cid(unit(11))], PHARMACY, SALE) == [
        (cid(unit(11)), "not the custodian")
    ]
    shipment = ship(stocked, PHARMA, [unit(11)], DIST)
    assert stocked.alerted(PHARMA, "ship", [cid(unit(11))], PHARMACY, SALE) == [(cid(unit(11)), "in transit")]
    assert stocked.alerted(PHARMA, "ship", [cid(unit(1))], DIST, SALE) == [
        (cid(unit(1)), "packed in a parent")
    ]
    assert stocked.view("shipment_count") == shipment


def test_shipping_refusals_revert(stocked: Chain) -> None:
    codes = [cid(unit(11))]
    assert stocked.refused(PHARMA, "ship", codes, DIST, 205) == "unknown outbound bill type"
    assert (
        stocked.refused(PHARMA, "ship", codes, OUTSIDER, SALE)
        == "receiver is not a MAH, distributor or dispenser"
    )
    assert stocked.refused(PHARMA, "ship", codes, PHARMA, SALE) == "cannot ship to oneself"
    assert stocked.refused(OUTSIDER, "ship", codes, DIST, SALE) == "not a MAH, distributor or dispenser"
    assert stocked.refused(PHARMA, "ship", codes + codes, DIST, SALE) == "duplicate code in call"


def test_cancelled_shipment_returns_codes_to_the_sender(stocked: Chain) -> None:
    shipment = ship(stocked, PHARMA, [unit(11), unit(12)], DIST)
    stocked.must(DIST, "cancel_shipment", shipment, [cid(unit(11)), cid(unit(12))])
    assert stocked.code(unit(11))["status"] == CodeStatus.ACTIVE
    assert stocked.code(unit(11))["custodian"] == PHARMA
    assert stocked.view("get_shipment", shipment)["status"] == 3
    assert stocked.refused(PHARMACY, "cancel_shipment", shipment, [cid(unit(11))]) == (
        "no open shipment with that id"
    )


# --- dispensing -----------------------------------------------------------------------------------------
def deliver(chain: Chain, codes: list[str]) -> None:
    first = ship(chain, PHARMA, codes, DIST)
    chain.must(DIST, "receive", first, [cid(c) for c in codes])
    second = ship(chain, DIST, codes, PHARMACY)
    chain.must(PHARMACY, "receive", second, [cid(c) for c in codes])


def test_dispensing_is_terminal_and_a_second_dispensing_alerts(stocked: Chain) -> None:
    deliver(stocked, [unit(11)])
    stocked.must(PHARMACY, "dispense", [cid(unit(11))])
    assert stocked.code(unit(11))["status"] == CodeStatus.DISPENSED
    assert stocked.alerted(PHARMACY, "dispense", [cid(unit(11))]) == [(cid(unit(11)), "already dispensed")]
    assert stocked.alerted(PHARMACY, "ship", [cid(unit(11))], DIST, 202) == [
        (cid(unit(11)), "already dispensed")
    ]


def test_dispensing_from_a_received_case_takes_the_unit_out(stocked: Chain) -> None:
    deliver(stocked, [case(1)])
    receipt = stocked.must(PHARMACY, "dispense", [cid(unit(5))])
    assert [DRUG.decode_log(log).name for log in receipt.logs] == ["Disaggregated", "Dispensed"]
    assert stocked.code(unit(5))["parent"] == bytes(32)
    assert stocked.code(unit(5))["status"] == CodeStatus.DISPENSED
    assert stocked.code(unit(6))["status"] == CodeStatus.ACTIVE


def test_a_failed_code_refuses_the_whole_call(stocked: Chain) -> None:
    deliver(stocked, [unit(11), unit(12)])
    unknown = f"{UNIT_KEY}{999:013d}"
    alerts = stocked.alerted(PHARMACY, "dispense", [cid(unit(11)), cid(unknown), cid(unit(13))])
    assert alerts == [(cid(unknown), "unknown code"), (cid(unit(13)), "not the custodian")]
    assert stocked.code(unit(11))["status"] == CodeStatus.ACTIVE


def test_dispensing_needs_the_dispenser_role(stocked: Chain) -> None:
    assert stocked.refused(DIST, "dispense", [cid(unit(11))]) == "not a dispenser"
    assert stocked.refused(PHARMACY, "dispense", []) == "no codes"


def test_unknown_code_alert_names_the_actor(stocked: Chain) -> None:
    receipt = stocked.send(PHARMACY, "dispense", [cid(f"{UNIT_KEY}{777:013d}")])
    alert = decode_alerts_of(receipt)
    assert alert["actor"] == PHARMACY and alert["action"] == 6 and alert["reason"] == "unknown code"


def decode_alerts_of(receipt: Receipt) -> dict[str, Any]:
    event = DRUG.decode_log(receipt.logs[0])
    assert event.name == "Alert"
    return event.args


# --- holds and expiry -----------------------------------------------------------------------------------
def test_recalled_batch_cannot_be_dispensed_but_can_be_returned(stocked: Chain) -> None:
    deliver(stocked, [unit(11)])
    stocked.must(PHARMA, "recall", compute_product_id(UNIT_KEY), "B001", "contamination")
    assert stocked.code(unit(11))["recalled"] is True
    assert stocked.alerted(PHARMACY, "dispense", [cid(unit(11))]) == [(cid(unit(11)), "recalled")]
    assert stocked.alerted(PHARMACY, "ship", [cid(unit(11))], DIST, SALE) == [(cid(unit(11)), "recalled")]
    back = ship(stocked, PHARMACY, [unit(11)], PHARMA, int(BillType.RECALL))
    stocked.must(PHARMA, "receive", back, [cid(unit(11))])
    stocked.must(PHARMA, "destroy", [cid(unit(11))])
    assert stocked.code(unit(11))["status"] == CodeStatus.DESTROYED
    assert stocked.alerted(PHARMA, "destroy", [cid(unit(11))]) == [(cid(unit(11)), "destroyed")]


def test_recall_by_unit_product_stops_cases_of_the_same_lot(stocked: Chain) -> None:
    stocked.must(REGULATOR, "recall", compute_product_id(CASE_KEY), "B001", "regulator order")
    assert stocked.code(unit(15))["recalled"] is True  # the case product shares the unit product's lot
    assert stocked.alerted(PHARMA, "ship", [cid(case(2))], DIST, SALE) == [(cid(case(2)), "recalled")]
    product, days = compute_product_id(UNIT_KEY), (day_of_date(PRODUCTION), day_of_date(EXPIRY))
    assert (
        stocked.refused(PHARMA, "commission", product, "B001", *days, 1, [cid(unit(99))])
        == "batch is on hold"
    )


def test_hold_refusals_revert(stocked: Chain) -> None:
    product = compute_product_id(UNIT_KEY)
    assert (
        stocked.refused(RIVAL, "recall", product, "B001", "x")
        == "not the product's MAH or the drug regulator"
    )
    assert (
        stocked.refused(DIST, "freeze", product, "B001", "x") == "not the product's MAH or the drug regulator"
    )
    assert stocked.refused(PHARMA, "recall", product, "NOPE", "x") == "unknown batch"
    assert stocked.refused(PHARMA, "unfreeze", product, "B001", "x") == "hold not set"
    stocked.must(PHARMA, "recall", product, "B001", "x")
    assert stocked.refused(REGULATOR, "recall", product, "B001", "x") == "hold already set"


def test_frozen_batch_stops_movement_until_unfrozen(stocked: Chain) -> None:
    shipment = ship(stocked, PHARMA, [unit(11)], DIST)
    stocked.must(REGULATOR, "freeze", compute_product_id(UNIT_KEY), "B001", "suspected counterfeit")
    stocked.must(DIST, "receive", shipment, [cid(unit(11))])  # receipts still record custody
    assert stocked.alerted(DIST, "ship", [cid(unit(11))], PHARMACY, SALE) == [(cid(unit(11)), "frozen")]
    assert stocked.alerted(PHARMA, "destroy", [cid(unit(12))]) == [(cid(unit(12)), "frozen")]
    assert stocked.alerted(DIST, "ship", [cid(unit(11))], PHARMA, int(BillType.RETURN)) == [
        (cid(unit(11)), "frozen")
    ]
    stocked.must(REGULATOR, "unfreeze", compute_product_id(UNIT_KEY), "B001", "cleared")
    ship(stocked, DIST, [unit(11)], PHARMACY)


def test_expired_codes_cannot_be_dispensed_or_sold(stocked: Chain) -> None:
    deliver(stocked, [unit(11)])
    end_of_expiry_day_cst = dt.datetime(2027, 2, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    stocked.now_ms = int(end_of_expiry_day_cst.timestamp() * 1000) - 1000
    assert stocked.code(unit(11))["expired"] is False
    stocked.now_ms += 1000
    assert stocked.code(unit(11))["expired"] is True
    assert stocked.alerted(PHARMACY, "dispense", [cid(unit(11))]) == [(cid(unit(11)), "expired")]
    assert stocked.alerted(PHARMACY, "ship", [cid(unit(11))], DIST, SALE) == [(cid(unit(11)), "expired")]
    ship(stocked, PHARMACY, [unit(11)], DIST, int(BillType.RETURN))


def test_batch_view(stocked: Chain) -> None:
    batch = stocked.view("get_batch", compute_product_id(UNIT_KEY), "B001")
    assert batch["known"] and batch["commissioned"] == 20 and not batch["recalled"]
    assert stocked.view("get_batch", compute_product_id(UNIT_KEY), "B999")["known"] is False


# --- separation of duties: who lifts a freeze, who may register a product key ----------------------------
def batch_holds(chain: Chain) -> tuple[bool, bool, bool]:
    batch = chain.view("get_batch", compute_product_id(UNIT_KEY), "B001")
    return batch["frozen"], batch["regulator_freeze"], batch["mah_hold"]


def test_attack_the_mah_cannot_lift_a_regulators_freeze(stocked: Chain) -> None:
    product = compute_product_id(UNIT_KEY)
    stocked.must(REGULATOR, "freeze", product, "B001", "suspected counterfeit")
    for mah in (PHARMA, PHARMA_2):
        assert stocked.refused(mah, "unfreeze", product, "B001", "we disagree") == (
            "only a regulator lifts its freeze"
        )
    assert stocked.alerted(PHARMA, "ship", [cid(unit(11))], DIST, SALE) == [(cid(unit(11)), "frozen")]
    stocked.must(REGULATOR, "unfreeze", product, "B001", "cleared")
    assert batch_holds(stocked) == (False, False, False)


def test_the_mah_freezing_its_own_batch_sets_a_voluntary_hold_only_the_mah_lifts(stocked: Chain) -> None:
    product = compute_product_id(UNIT_KEY)
    receipt = stocked.must(PHARMA, "freeze", product, "B001", "deviation under investigation")
    event = DRUG.decode_log(receipt.logs[0])
    assert (event.args["regulator_freeze"], event.args["mah_hold"]) == (False, True)
    assert batch_holds(stocked) == (True, False, True)
    assert stocked.alerted(PHARMA, "ship", [cid(unit(11))], DIST, SALE) == [(cid(unit(11)), "frozen")]
    assert stocked.refused(REGULATOR, "unfreeze", product, "B001", "x") == "hold not set"
    assert (
        stocked.refused(RIVAL, "unfreeze", product, "B001", "x")
        == "not the product's MAH or the drug regulator"
    )
    stocked.must(
        PHARMA_2, "unfreeze", product, "B001", "deviation closed"
    )  # any MAH account of the organisation
    assert batch_holds(stocked) == (False, False, False)
    ship(stocked, PHARMA, [unit(11)], DIST)


def test_a_regulators_freeze_and_a_voluntary_hold_are_lifted_separately(stocked: Chain) -> None:
    product = compute_product_id(UNIT_KEY)
    stocked.must(PHARMA, "freeze", product, "B001", "voluntary")
    stocked.must(REGULATOR, "freeze", product, "B001", "inspection")
    assert stocked.refused(REGULATOR, "freeze", product, "B001", "again") == "hold already set"
    stocked.must(PHARMA, "unfreeze", product, "B001", "our part is done")
    assert batch_holds(stocked) == (True, True, False)
    assert stocked.alerted(PHARMA, "destroy", [cid(unit(12))]) == [(cid(unit(12)), "frozen")]
    assert stocked.refused(PHARMA, "unfreeze", product, "B001", "x") == "only a regulator lifts its freeze"
    stocked.must(REGULATOR, "unfreeze", product, "B001", "inspection closed")
    assert batch_holds(stocked) == (False, False, False)


def test_attack_a_maker_cannot_register_another_makers_product_key(chain: Chain) -> None:
    bind(chain, MAH_PREFIX, ORG_MAH)
    bind(chain, "6901234", ORG_MAH, KEY_GS1)
    squatted = [UNIT_KEY, GTIN, "1" + GTIN[1:]]  # the 药品标识码, the GTIN, the GTIN's case level
    for key in squatted:
        assert chain.refused(RIVAL, "register_product", key, "Fake", "A", 0, bytes(32)) == (
            "product key not assigned to you"
        )
    unbound = "8700001"  # nobody's prefix: not first come, first served either
    assert chain.refused(RIVAL, "register_product", unbound, "X", "A", 0, bytes(32)) == (
        "product key not assigned to you"
    )
    assert chain.refused(PHARMA, "register_product", unbound, "X", "A", 0, bytes(32)) == (
        "product key not assigned to you"
    )
    chain.must(PHARMA, "register_product", UNIT_KEY, "Amoxicillin", "国药准字H1", 0, bytes(32))
    chain.must(PHARMA, "register_product", GTIN, "Vaccine", "国药准字S1", 1, bytes(32))
    assert chain.view("products", compute_product_id(GTIN))["mah_org"] == ORG_MAH


def test_the_longest_bound_prefix_decides_who_registers(chain: Chain) -> None:
    bind(chain, "8612", ORG_MAH)
    bind(chain, "861299", ORG_RIVAL)  # a block carved out of the MAH's range for another maker
    assert chain.view("registrant_of", "8612345") == ORG_MAH
    assert chain.view("registrant_of", "8612991") == ORG_RIVAL
    assert chain.refused(PHARMA, "register_product", "8612991", "X", "A", 0, bytes(32)) == (
        "product key not assigned to you"
    )
    chain.must(RIVAL, "register_product", "8612991", "Rival drug", "国药准字H2", 0, bytes(32))
    receipt = chain.must(REGULATOR, "assign_key_prefix", KEY_NMPA, "861299", "", "assignment withdrawn")
    assert DRUG.decode_log(receipt.logs[0]).args["previous_org"] == ORG_RIVAL
    assert chain.view("registrant_of", "8612992") == ORG_MAH


def test_only_a_regulator_binds_prefixes_and_never_to_its_own_organisation(chain: Chain) -> None:
    for who in (PHARMA, DIST, OUTSIDER):
        assert (
            chain.refused(who, "assign_key_prefix", KEY_NMPA, "8612", ORG_MAH, "x") == "not a drug regulator"
        )
    assert chain.refused(REGULATOR, "assign_key_prefix", KEY_NMPA, "8612", ORG_REG, "x") == (
        "regulator's own organisation"
    )
    unregistered = make_uscc("330000", 99)
    assert chain.refused(REGULATOR, "assign_key_prefix", KEY_NMPA, "8612", unregistered, "x") == (
        "unknown or inactive organisation"
    )
    assert chain.refused(REGULATOR, "assign_key_prefix", KEY_NMPA, "86123456", ORG_MAH, "x") == (
        "prefix length out of range"
    )
    assert chain.refused(REGULATOR, "assign_key_prefix", KEY_GS1, "690", ORG_MAH, "x") == (
        "prefix length out of range"
    )
    assert chain.refused(REGULATOR, "assign_key_prefix", 3, "8612", ORG_MAH, "x") == "unknown key scheme"
    assert (
        chain.refused(REGULATOR, "assign_key_prefix", KEY_NMPA, "86a2", ORG_MAH, "x") == "a prefix is digits"
    )
    assert chain.refused(REGULATOR, "assign_key_prefix", KEY_NMPA, "8612", ORG_MAH, "") == "empty reason"
    bind(chain, "8612", ORG_MAH)
    assert chain.refused(REGULATOR, "assign_key_prefix", KEY_NMPA, "8612", ORG_MAH, "x") == (
        "prefix already bound so"
    )


def test_a_regulator_reassigns_a_squatted_product_to_its_maker(chain: Chain) -> None:
    # a registration made before the prefix was bound to its rightful maker
    bind(chain, MAH_PREFIX, ORG_RIVAL)
    chain.must(RIVAL, "register_product", UNIT_KEY, "Squatted", "国药准字H9", 0, bytes(32))
    bind(chain, MAH_PREFIX, ORG_MAH)
    product = compute_product_id(UNIT_KEY)
    assert chain.refused(PHARMA, "settle_product", product, ORG_MAH, False, "mine") == "not a drug regulator"
    receipt = chain.must(
        REGULATOR, "settle_product", product, ORG_MAH, False, "GS1/NMPA assignment: case 2026-7"
    )
    event = DRUG.decode_log(receipt.logs[0])
    assert event.name == "ProductSettled"
    assert (event.args["previous_org"], event.args["mah_org"], event.args["suspended"]) == (
        ORG_RIVAL,
        ORG_MAH,
        False,
    )
    assert chain.view("products", product)["mah_org"] == ORG_MAH
    days = (day_of_date(PRODUCTION), day_of_date(EXPIRY))
    assert (
        chain.refused(RIVAL, "commission", product, "B1", *days, 1, [cid(unit(1))]) == "not the product's MAH"
    )
    commission(chain, [unit(1)], Level.UNIT, batch="B1")
    assert chain.refused(RIVAL, "recall", product, "B1", "x") == "not the product's MAH or the drug regulator"


def test_a_suspended_product_commissions_nothing_until_reinstated(stocked: Chain) -> None:
    product = compute_product_id(UNIT_KEY)
    stocked.must(REGULATOR, "settle_product", product, ORG_MAH, True, "registration contested")
    assert stocked.view("products", product)["status"] == 2
    days = (day_of_date(PRODUCTION), day_of_date(EXPIRY))
    assert stocked.refused(PHARMA, "commission", product, "B002", *days, 1, [cid(unit(99))]) == (
        "product registration suspended"
    )
    assert stocked.refused(PHARMA, "register_product", "8612347", "Case", "A", 0, product) == (
        "packed product suspended"
    )
    ship(stocked, PHARMA, [unit(11)], DIST)  # stock already out moves on; a freeze would stop it
    stocked.must(REGULATOR, "settle_product", product, ORG_MAH, False, "dispute settled")
    commission(stocked, [unit(99)], Level.UNIT, batch="B002")
    assert stocked.refused(REGULATOR, "settle_product", product, ORG_REG, False, "x") == (
        "regulator's own organisation"
    )


def test_attack_a_maker_cannot_commission_another_makers_codes_under_its_own_product(chain: Chain) -> None:
    """A rival MAH that learns a maker's codes before they are commissioned tries to commission them under
    its own product (its maker's commissioning would then be refused, and consumers would see the packs as
    registered under another product): a code id carries its product's prefix, and the call is refused."""
    register(chain)
    bind(chain, "8613", ORG_RIVAL)
    chain.must(RIVAL, "register_product", "8613001", "Rival drug", "国药准字H9", 0, bytes(32))
    rival_product = compute_product_id("8613001")
    days = (day_of_date(PRODUCTION), day_of_date(EXPIRY))
    squatted = [cid(unit(1))]
    assert (
        chain.refused(RIVAL, "commission", rival_product, "R1", *days, 1, squatted)
        == "code of another product"
    )
    # nor under the maker's product with the wrong level's codes: a case code is not a unit of this product
    product = compute_product_id(UNIT_KEY)
    assert (
        chain.refused(PHARMA, "commission", product, "B1", *days, 1, [cid(case(1))])
        == "code of another product"
    )
    commission(chain, [unit(1)], Level.UNIT)  # its maker commissions it
    assert chain.code(unit(1))["custodian"] == PHARMA
