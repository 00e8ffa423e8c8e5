"""Calendar against its rows of docs/permissions.md: every (function, caller) on a fresh chain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from node.genesis import CALENDAR_ADDRESS, GOVERNANCE_ADDRESS
from sdk.domains.calendar import HOLIDAY, CalendarExtension
from sdk.domains.governance import Action, encode_payload
from sdk.types import Receipt
from tests.contracts.permissions import (
    PermissionRow,
    conditional,
    expect_allowed,
    expect_refused,
    row_id,
    rows_for,
)
from tests.contracts.worlds.governance import (
    CALENDAR,
    KEEPER,
    M1,
    M2,
    MEMBER,
    MONDAY,
    OUTSIDER,
    Chain,
    make_chain,
)

ROWS = rows_for("Calendar")
#: The Governance contract executing a passed proposal: the call is a proposal and its deciding vote.
PASSED_PROPOSAL = GOVERNANCE_ADDRESS

#: Each caller name of the table as an account of the test chain.
CALLERS: dict[str, bytes] = {
    "outsider": OUTSIDER,
    "member": MEMBER,
    "committee member": M1,
    "CALENDAR_KEEPER": KEEPER,
    "Governance (passed committee proposal)": PASSED_PROPOSAL,
}


def covered_through(c: Chain) -> int:
    return int(c.view("covered_through", to=CALENDAR_ADDRESS))


def through_calendar(
    c: Chain, who: bytes, function: str, args: list[Any], action: Action, payload: bytes
) -> Receipt:
    """``who`` calls ``function`` directly, or (PASSED_PROPOSAL) the committee passes the matching proposal:
    the receipt is that of the deciding vote, in which Governance calls the Calendar."""
    if who != PASSED_PROPOSAL:
        return c.execute(who, CALENDAR_ADDRESS, CALENDAR.encode_call(function, args))
    proposal_id = c.propose(M1, int(action), payload)
    return c.send(M2, "vote", proposal_id)


def set_days(c: Chain, who: bytes, day: int = MONDAY, kind: int = HOLIDAY) -> Receipt:
    payload = encode_payload(Action.SET_CALENDAR_DAYS, [day], kind)
    return through_calendar(c, who, "set_days", [[day], kind], Action.SET_CALENDAR_DAYS, payload)


def set_covered_through(c: Chain, who: bytes, grow_by: int = 365) -> Receipt:
    target = covered_through(c) + grow_by
    payload = CalendarExtension(covered_through=target, holidays=(), make_up_days=()).payload()
    return through_calendar(c, who, "set_covered_through", [target], Action.EXTEND_CALENDAR, payload)


def initialize(c: Chain, who: bytes) -> Receipt:
    args = [GOVERNANCE_ADDRESS, 1, 2, [], []]
    return c.execute(who, CALENDAR_ADDRESS, CALENDAR.encode_call("initialize", args))


def today(c: Chain) -> int:
    return int(c.view("today", to=CALENDAR_ADDRESS))


CallAction = Callable[[Chain, bytes], Receipt]


@dataclass(frozen=True)
class Scenario:
    action: CallAction
    violating: tuple[CallAction, ...] = ()  # calls whose arguments break an `allowed if` condition


SCENARIOS: dict[str, Scenario] = {
    "initialize": Scenario(initialize),
    "set_days": Scenario(
        set_days,
        violating=(
            lambda c, who: set_days(c, who, day=today(c)),  # a day that has begun
            lambda c, who: set_days(c, who, kind=3),  # no such kind
        ),
    ),
    "set_covered_through": Scenario(
        set_covered_through, violating=(lambda c, who: set_covered_through(c, who, grow_by=-1),)
    ),
}


def snapshot(c: Chain) -> tuple[Any, ...]:
    days = (today(c), MONDAY)
    kinds = tuple(c.view("day_kind", d, to=CALENDAR_ADDRESS) for d in days)
    return (
        kinds,
        c.view("covered_from", to=CALENDAR_ADDRESS),
        covered_through(c),
        c.view("governance", to=CALENDAR_ADDRESS),
    )


def assert_refused(c: Chain, action: CallAction, who: bytes, row: PermissionRow) -> None:
    expect_refused(row, lambda: action(c, who), lambda: snapshot(c))


@pytest.fixture()
def chain() -> Chain:
    return make_chain()


@pytest.mark.parametrize("row", ROWS, ids=row_id)
def test_the_contract_enforces_the_permissions_table(chain: Chain, row: PermissionRow) -> None:
    assert row.caller in CALLERS, f"the test does not know the caller {row.caller!r}: add it to CALLERS"
    assert row.function in SCENARIOS, f"the test has no scenario for {row.function!r}"
    who, action = CALLERS[row.caller], SCENARIOS[row.function].action
    if not row.allowed:
        assert_refused(chain, action, who, row)
        return
    expect_allowed(row, lambda: action(chain, who), lambda: snapshot(chain))


@pytest.mark.parametrize("row", conditional(ROWS), ids=row_id)
def test_allowed_if_rows_are_refused_when_their_condition_does_not_hold(
    chain: Chain, row: PermissionRow
) -> None:
    violating = SCENARIOS[row.function].violating
    assert violating, f"no call breaking the condition of {row}"
    for action in violating:
        assert_refused(chain, action, CALLERS[row.caller], row)


def test_an_unregistered_account_is_refused_by_the_contract_too(chain: Chain) -> None:
    # The ledger refuses an outsider at admission; the Calendar does not rely on it.
    assert set_days(chain, OUTSIDER).status == 0
    assert set_covered_through(chain, OUTSIDER).status == 0
