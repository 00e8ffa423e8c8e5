"""DrugTrace against its rows of docs/permissions.md: every (function, caller) on a fresh chain (real py-evm).

Allowed rows must succeed without an Alert and change what the call is about; refused rows must change no
state at all, either by reverting or, where the table's DrugTrace preamble says so (a code's state refusing a
drug-trade account's movement), by a successful transaction that records only Alerts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from node.genesis import (
    GOVERNANCE_ADDRESS,
)
from sdk.domains.calendar import day_of_date
from sdk.domains.drugs import BillType, Level, compute_product_id
from sdk.types import Receipt
from tests.contracts.permissions import PermissionRow, conditional, row_id, rows_for
from tests.contracts.worlds.drugs import (
    CALLERS,
    CASE_KEY,
    DIST,
    DRUG,
    EXPIRY,
    KEY_NMPA,
    MAH_PREFIX,
    ORG_MAH,
    ORG_REG,
    ORG_RIVAL,
    PHARMA,
    PHARMACY,
    PRODUCTION,
    REGULATOR,
    UNIT_KEY,
    UNREGISTERED,
    Chain,
    case,
    cid,
    new_chain,
    unit,
)

ROWS = rows_for("DrugTrace")
UNIT_ID, CASE_ID = compute_product_id(UNIT_KEY), compute_product_id(CASE_KEY)
DAYS = (day_of_date(PRODUCTION), day_of_date(EXPIRY))
SALE = int(BillType.SALE)
OPEN_SHIPMENT = 3  # unit 9, DIST -> PHARMACY, in the `in_custody` state


@pytest.fixture()
def chain() -> Chain:
    return new_chain()


# --- prior states ---------------------------------------------------------------------------------------
def shipment_id(receipt: Receipt) -> int:
    created = [e for e in (DRUG.decode_log(log) for log in receipt.logs) if e.name == "ShipmentCreated"]
    return int(created[0].args["shipment"])


def bound(c: Chain) -> None:
    """The regulator bound the 药品标识码 block of both products to the MAH's organisation."""
    c.must(REGULATOR, "assign_key_prefix", KEY_NMPA, MAH_PREFIX, ORG_MAH, "code issuer's assignment")


def registered(c: Chain) -> None:
    bound(c)
    c.must(PHARMA, "register_product", UNIT_KEY, "Amoxicillin 250 mg x 24", "国药准字H20000001", 0, bytes(32))
    c.must(PHARMA, "register_product", CASE_KEY, "Amoxicillin case of 10", "国药准字H20000001", 0, UNIT_ID)


def in_custody(c: Chain) -> None:
    """Batch B001: DIST holds units 1-9 (3 and 4 packed in case 1) and case 2 after a receipt; PHARMACY holds
    unit 7; unit 9 is in transit from DIST to PHARMACY (shipment 3); the MAH holds units 10-20."""
    registered(c)
    c.must(
        PHARMA, "commission", UNIT_ID, "B001", *DAYS, int(Level.UNIT), [cid(unit(i)) for i in range(1, 21)]
    )
    c.must(PHARMA, "commission", CASE_ID, "B001", *DAYS, int(Level.CASE), [cid(case(1)), cid(case(2))])
    c.must(PHARMA, "aggregate", cid(case(1)), [cid(unit(3)), cid(unit(4))])
    to_dist = [
        cid(x) for x in (case(1), case(2), unit(1), unit(2), unit(5), unit(6), unit(7), unit(8), unit(9))
    ]
    c.must(DIST, "receive", shipment_id(c.must(PHARMA, "ship", to_dist, DIST, SALE)), to_dist)
    c.must(
        PHARMACY, "receive", shipment_id(c.must(DIST, "ship", [cid(unit(7))], PHARMACY, SALE)), [cid(unit(7))]
    )
    assert shipment_id(c.must(DIST, "ship", [cid(unit(9))], PHARMACY, SALE)) == OPEN_SHIPMENT


def frozen_by_regulator(c: Chain) -> None:
    c.must(REGULATOR, "freeze", UNIT_ID, "B001", "suspected counterfeit")


def on_mah_hold(c: Chain) -> None:
    c.must(PHARMA, "freeze", UNIT_ID, "B001", "deviation under investigation")


def recalled(c: Chain) -> None:
    in_custody(c)
    c.must(PHARMA, "recall", UNIT_ID, "B001", "contamination")


def regulator_freeze_set(c: Chain) -> None:
    in_custody(c)
    frozen_by_regulator(c)


def mah_hold_set(c: Chain) -> None:
    in_custody(c)
    on_mah_hold(c)


def both_holds_set(c: Chain) -> None:
    in_custody(c)
    on_mah_hold(c)
    frozen_by_regulator(c)


def recalled_and_frozen(c: Chain) -> None:
    recalled(c)
    frozen_by_regulator(c)


def shipment_received(c: Chain) -> None:
    in_custody(c)
    c.must(PHARMACY, "receive", OPEN_SHIPMENT, [cid(unit(9))])


def suspended(c: Chain) -> None:
    registered(c)
    c.must(REGULATOR, "settle_product", UNIT_ID, ORG_MAH, True, "registration contested")


def nothing(c: Chain) -> None:
    pass


Step = Callable[[Chain], None]
Action = Callable[[Chain, bytes], Receipt]
Observe = Callable[[Chain], Any]


def code_state(code: str) -> Observe:
    return lambda c: tuple(sorted(c.code(code).items()))


def batch_state(c: Chain) -> Any:
    return tuple(sorted(c.view("get_batch", UNIT_ID, "B001").items()))


def product_state(c: Chain) -> Any:
    return tuple(sorted(c.view("products", UNIT_ID).items()))


def shipment_state(c: Chain) -> Any:
    return (code_state(unit(9))(c), tuple(sorted(c.view("get_shipment", OPEN_SHIPMENT).items())))


@dataclass(frozen=True)
class Scenario:
    holds: Step  # a prior state in which every allowed row's condition holds
    action: Action  # the call, sent by the row's caller
    observe: Observe  # the part of the state the call changes
    breaks: dict[str, Step] | None = None  # by caller: a prior state in which the condition does not hold
    violating: Action | None = None  # or: a call whose arguments break the condition
    parties: dict[str, bytes] | None = None  # the scenario's parties by the table's name


CODE_PARTIES = {"custodian": DIST}
SHIPMENT_PARTIES = {"sender": DIST, "receiver": PHARMACY}

SCENARIOS: dict[str, Scenario] = {
    "initialize": Scenario(
        nothing, lambda c, who: c.send(who, "initialize", GOVERNANCE_ADDRESS), lambda c: 0
    ),
    "assign_key_prefix": Scenario(
        nothing,
        lambda c, who: c.send(
            who, "assign_key_prefix", KEY_NMPA, "861299", ORG_MAH, "code issuer's assignment"
        ),
        lambda c: c.view("registrant_of", "8612991"),
        violating=lambda c, who: c.send(who, "assign_key_prefix", KEY_NMPA, "861299", ORG_REG, "to itself"),
    ),
    "register_product": Scenario(
        bound,
        lambda c, who: c.send(
            who, "register_product", UNIT_KEY, "Amoxicillin", "国药准字H20000001", 0, bytes(32)
        ),
        product_state,
        breaks={"*": nothing},  # no prefix bound: the key is nobody's
    ),
    "settle_product": Scenario(
        registered,
        lambda c, who: c.send(who, "settle_product", UNIT_ID, ORG_RIVAL, False, "ruling 2026-7"),
        product_state,
        violating=lambda c, who: c.send(who, "settle_product", UNIT_ID, ORG_REG, False, "to itself"),
    ),
    "commission": Scenario(
        registered,
        lambda c, who: c.send(who, "commission", UNIT_ID, "B002", *DAYS, int(Level.UNIT), [cid(unit(100))]),
        code_state(unit(100)),
        breaks={"*": suspended},
    ),
    "commission_for": Scenario(  # only DrugLots calls it: every account is refused, even for itself
        registered,
        lambda c, who: c.send(
            who, "commission_for", who, UNIT_ID, "B002", *DAYS, int(Level.UNIT), [cid(unit(100))]
        ),
        code_state(unit(100)),
    ),
    "aggregate": Scenario(
        in_custody,
        lambda c, who: c.send(who, "aggregate", cid(case(2)), [cid(unit(1)), cid(unit(2))]),
        code_state(unit(1)),
        breaks={"*": regulator_freeze_set},
        parties=CODE_PARTIES,
    ),
    "disaggregate": Scenario(
        in_custody,
        lambda c, who: c.send(who, "disaggregate", cid(case(1)), [cid(unit(3))]),
        code_state(unit(3)),
        breaks={"*": regulator_freeze_set},
        parties=CODE_PARTIES,
    ),
    "ship": Scenario(
        in_custody,
        lambda c, who: c.send(who, "ship", [cid(unit(5))], PHARMACY, SALE),
        code_state(unit(5)),
        breaks={"*": regulator_freeze_set},
        parties=CODE_PARTIES,
    ),
    "receive": Scenario(
        in_custody,
        lambda c, who: c.send(who, "receive", OPEN_SHIPMENT, [cid(unit(9))]),
        shipment_state,
        breaks={"*": shipment_received},
        parties=SHIPMENT_PARTIES,
    ),
    "cancel_shipment": Scenario(
        in_custody,
        lambda c, who: c.send(who, "cancel_shipment", OPEN_SHIPMENT, [cid(unit(9))]),
        shipment_state,
        breaks={"*": shipment_received},
        parties=SHIPMENT_PARTIES,
    ),
    "dispense": Scenario(
        in_custody,
        lambda c, who: c.send(who, "dispense", [cid(unit(7))]),
        code_state(unit(7)),
        breaks={"*": regulator_freeze_set},
        parties={"custodian": PHARMACY},
    ),
    "destroy": Scenario(
        recalled,  # a recalled code may still be destroyed
        lambda c, who: c.send(who, "destroy", [cid(unit(6))]),
        code_state(unit(6)),
        breaks={"*": recalled_and_frozen},
        parties=CODE_PARTIES,
    ),
    "recall": Scenario(
        in_custody,
        lambda c, who: c.send(who, "recall", UNIT_ID, "B001", "contamination"),
        batch_state,
        breaks={"*": recalled},
    ),
    "freeze": Scenario(
        in_custody,
        lambda c, who: c.send(who, "freeze", UNIT_ID, "B001", "investigation"),
        batch_state,
        breaks={"MAH (own product)": mah_hold_set, "DRUG_REGULATOR": regulator_freeze_set},
    ),
    "unfreeze": Scenario(
        both_holds_set,
        lambda c, who: c.send(who, "unfreeze", UNIT_ID, "B001", "cleared"),
        batch_state,
        # the attack: the MAH lifting a regulator's freeze; and the converse
        breaks={"MAH (own product)": regulator_freeze_set, "DRUG_REGULATOR": mah_hold_set},
    ),
}

#: Movements a code's state refuses with Alerts when a drug-trade account asks (see the table's preamble).
ALERTING_FUNCTIONS = {"aggregate", "disaggregate", "ship", "destroy"}
DRUG_TRADERS = {"custodian", "MAH (own product)", "MAH (other product)", "distributor", "dispenser"}
DISPENSERS = {"custodian", "dispenser"}  # for `dispense`


def refused_by_alert(row: PermissionRow) -> bool:
    if row.function in ALERTING_FUNCTIONS:
        return row.caller in DRUG_TRADERS
    if row.function == "dispense":
        return row.caller in DISPENSERS
    return False


def account_of(row: PermissionRow, scenario: Scenario) -> bytes:
    parties = scenario.parties or {}
    known = {**CALLERS, **parties}
    assert row.caller in known, f"the test does not know the caller {row.caller!r} of {row.function}"
    return known[row.caller]


def alerts_only(receipt: Receipt) -> bool:
    return bool(receipt.logs) and all(DRUG.decode_log(log).name == "Alert" for log in receipt.logs)


def assert_refused(c: Chain, scenario: Scenario, action: Action, who: bytes, row: PermissionRow) -> None:
    root, seen = c.root, scenario.observe(c)
    receipt = action(c, who)
    if refused_by_alert(row):
        assert receipt.status == 1, f"{row}: expected an Alert, got a revert {receipt.revert_reason!r}"
        assert alerts_only(receipt), f"{row} was allowed"
    else:
        assert receipt.status == 0, f"{row} was allowed"
    assert c.root == root and scenario.observe(c) == seen, f"{row}: a refused call changed state"


@pytest.mark.parametrize("row", ROWS, ids=row_id)
def test_the_contract_enforces_the_permissions_table(chain: Chain, row: PermissionRow) -> None:
    assert row.function in SCENARIOS, f"the test has no scenario for {row.function!r}"
    scenario = SCENARIOS[row.function]
    who = account_of(row, scenario)
    scenario.holds(chain)
    if not row.allowed:
        assert_refused(chain, scenario, scenario.action, who, row)
        return
    root, seen = chain.root, scenario.observe(chain)
    receipt = scenario.action(chain, who)
    assert receipt.status == 1, f"{row} was refused: {receipt.revert_reason!r}"
    assert not any(DRUG.decode_log(log).name == "Alert" for log in receipt.logs), (
        f"{row} was refused by Alerts"
    )
    assert chain.root != root and scenario.observe(chain) != seen, f"{row}: an allowed call changed nothing"


@pytest.mark.parametrize("row", conditional(ROWS), ids=row_id)
def test_allowed_if_rows_are_refused_when_their_condition_does_not_hold(
    chain: Chain, row: PermissionRow
) -> None:
    scenario = SCENARIOS[row.function]
    who = account_of(row, scenario)
    if scenario.violating is not None:
        scenario.holds(chain)
        assert_refused(chain, scenario, scenario.violating, who, row)
        return
    breaks = scenario.breaks or {}
    step = breaks.get(row.caller) or breaks.get("*")
    assert step is not None, f"no state breaking the condition of {row}"
    step(chain)
    assert_refused(chain, scenario, scenario.action, who, row)


def test_every_row_names_a_caller_the_test_knows() -> None:
    for row in ROWS:
        account_of(row, SCENARIOS[row.function])


def test_an_unregistered_account_is_refused_by_the_contract_too(chain: Chain) -> None:
    # The ledger refuses an outsider at admission; the contract does not rely on it.
    in_custody(chain)
    root = chain.root
    for name, *args in (
        ("assign_key_prefix", KEY_NMPA, "8612", ORG_MAH, "x"),
        ("register_product", UNIT_KEY, "X", "A", 0, bytes(32)),
        ("ship", [cid(unit(5))], PHARMACY, SALE),
        ("unfreeze", UNIT_ID, "B001", "x"),
    ):
        assert chain.send(UNREGISTERED, name, *args).status == 0, name
    assert chain.root == root
