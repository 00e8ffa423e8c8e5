"""DrugLots against its rows of docs/permissions.md: every (function, caller) on a fresh chain (real engines).

Allowed rows must succeed without an Alert and change what the call is about; refused rows must revert and
change no state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from sdk.domains.calendar import day_of_date
from sdk.domains.drugs import Level, compute_product_id
from sdk.domains.drugs.lots import LotTree
from sdk.system import DRUG_LOTS_ADDRESS
from sdk.types import Receipt
from tests.contracts.permissions import PermissionRow, conditional, row_id, rows_for
from tests.contracts.worlds.drugs import (
    CALLERS,
    EXPIRY,
    PHARMA,
    PRODUCTION,
    REGULATOR,
    UNIT_KEY,
    Chain,
    alerts_of,
    cid,
    new_chain,
    register,
    unit,
)

ROWS = rows_for("DrugLots")
UNIT_ID = compute_product_id(UNIT_KEY)
DAYS = (day_of_date(PRODUCTION), day_of_date(EXPIRY))
LOT = [cid(unit(100)), cid(unit(101)), cid(unit(102))]


Step = Callable[[Chain], None]
Action = Callable[[Chain, bytes], Receipt]


def lot_part(c: Chain) -> None:
    """Products registered; PHARMA commissioned units 100-102 of batch B002 as lot part 1."""
    register(c)
    c.must(PHARMA, "commission_lot", UNIT_ID, "B002", *DAYS, int(Level.UNIT), LOT, to=DRUG_LOTS_ADDRESS)


def suspended(c: Chain) -> None:
    register(c)
    c.must(REGULATOR, "settle_product", UNIT_ID, c.view("products", UNIT_ID)["mah_org"], True, "contested")


def part_on_hold(c: Chain) -> None:
    lot_part(c)
    c.must(REGULATOR, "freeze", UNIT_ID, "B002", "suspected counterfeit")


@dataclass(frozen=True)
class Scenario:
    holds: Step
    action: Action
    observe: Callable[[Chain], Any]
    breaks: Step


SCENARIOS: dict[str, Scenario] = {
    "commission_lot": Scenario(
        register,
        lambda c, who: c.send(
            who, "commission_lot", UNIT_ID, "B002", *DAYS, int(Level.UNIT), LOT, to=DRUG_LOTS_ADDRESS
        ),
        lambda c: c.view("part_count", to=DRUG_LOTS_ADDRESS),
        suspended,
    ),
    "materialise": Scenario(
        lot_part,
        lambda c, who: c.send(
            who, "materialise", 1, [LOT[1]], [1], [list(LotTree(LOT).path(1))], to=DRUG_LOTS_ADDRESS
        ),
        lambda c: tuple(sorted(c.code(unit(101)).items())),
        part_on_hold,
    ),
    "materialise_range": Scenario(  # the part's only block: all three codes, its node the root
        lot_part,
        lambda c, who: c.send(who, "materialise_range", 1, 0, LOT, [], to=DRUG_LOTS_ADDRESS),
        lambda c: tuple(sorted(c.code(unit(102)).items())),
        part_on_hold,
    ),
}


def assert_refused(c: Chain, scenario: Scenario, who: bytes, row: PermissionRow) -> None:
    root, seen = c.root, scenario.observe(c)
    receipt = scenario.action(c, who)
    assert receipt.status == 0, f"{row} was allowed"
    assert c.root == root and scenario.observe(c) == seen, f"{row}: a refused call changed state"


@pytest.fixture()
def chain() -> Chain:
    return new_chain()


@pytest.mark.parametrize("row", ROWS, ids=row_id)
def test_the_contract_enforces_the_permissions_table(chain: Chain, row: PermissionRow) -> None:
    scenario = SCENARIOS[row.function]
    who = CALLERS[row.caller]
    scenario.holds(chain)
    if not row.allowed:
        assert_refused(chain, scenario, who, row)
        return
    root, seen = chain.root, scenario.observe(chain)
    receipt = scenario.action(chain, who)
    assert receipt.status == 1, f"{row} was refused: {receipt.revert_reason!r}"
    assert not alerts_of(receipt), f"{row} was refused by Alerts"
    assert chain.root != root and scenario.observe(chain) != seen, f"{row}: an allowed call changed nothing"


@pytest.mark.parametrize("row", conditional(ROWS), ids=row_id)
def test_allowed_if_rows_are_refused_when_their_condition_does_not_hold(
    chain: Chain, row: PermissionRow
) -> None:
    scenario = SCENARIOS[row.function]
    scenario.breaks(chain)
    assert_refused(chain, scenario, CALLERS[row.caller], row)


def test_every_row_names_a_caller_and_function_the_test_knows() -> None:
    assert {row.function for row in ROWS} == set(SCENARIOS)
    assert {row.caller for row in ROWS} <= set(CALLERS)
