"""Calendar.vy changes only through a Governance committee proposal reaching its threshold (real py-evm)."""

from __future__ import annotations

import datetime as dt

import pytest
from eth_abi import encode

from node.genesis import CALENDAR_ADDRESS, CALENDAR_KEEPER, GOVERNANCE_ADDRESS
from sdk.domains.calendar import (
    HOLIDAY,
    MAKE_UP,
    NOTICES,
    ORDINARY,
    HolidayNotice,
    calendar_extension,
    day_of_date,
)
from sdk.domains.governance import Action, encode_payload
from tests.contracts.worlds.governance import (
    CALENDAR,
    GRANT_ROLE,
    M1,
    M2,
    M3,
    MONDAY,
    PHARMA,
    Chain,
    make_chain,
)

SET_CALENDAR_DAYS, EXTEND_CALENDAR = 13, 14


@pytest.fixture()
def chain() -> Chain:
    return make_chain()


def kind_of(chain: Chain, day: int) -> int:
    return int(chain.view("day_kind", day, to=CALENDAR_ADDRESS))


def covered_through(chain: Chain) -> int:
    return int(chain.view("covered_through", to=CALENDAR_ADDRESS))


def set_days_directly(chain: Chain, sender: bytes, days: list[int], kind: int) -> tuple[int, str]:
    receipt = chain.execute(sender, CALENDAR_ADDRESS, CALENDAR.encode_call("set_days", [days, kind]))
    return receipt.status, receipt.revert_reason.decode()


def test_a_single_committee_member_cannot_change_the_calendar_directly(chain: Chain) -> None:
    # The attack: one member declares a holiday and so moves every letter's due date, without a vote.
    assert set_days_directly(chain, M1, [MONDAY], HOLIDAY) == (
        0,
        "only a passed Governance proposal changes the calendar",
    )
    assert kind_of(chain, MONDAY) == ORDINARY
    cover = CALENDAR.encode_call("set_covered_through", [covered_through(chain) + 365])
    before = covered_through(chain)
    assert chain.execute(M1, CALENDAR_ADDRESS, cover).status == 0
    assert covered_through(chain) == before


def test_a_calendar_keeper_cannot_change_the_calendar_directly(chain: Chain) -> None:
    chain.decide(GRANT_ROLE, encode(["address", "bytes32", "bytes32"], [PHARMA, CALENDAR_KEEPER, bytes(32)]))
    assert chain.view("has_role", PHARMA, CALENDAR_KEEPER, bytes(32)) is True
    assert set_days_directly(chain, PHARMA, [MONDAY], HOLIDAY)[0] == 0
    assert kind_of(chain, MONDAY) == ORDINARY


def test_calendar_days_change_when_a_proposal_reaches_the_threshold(chain: Chain) -> None:
    payload = encode_payload(Action.SET_CALENDAR_DAYS, [MONDAY, MONDAY + 1], HOLIDAY)
    proposal_id = chain.propose(M1, SET_CALENDAR_DAYS, payload)
    assert kind_of(chain, MONDAY) == ORDINARY  # one vote of two: nothing moves yet
    receipt = chain.must(M2, "vote", proposal_id)
    assert kind_of(chain, MONDAY) == HOLIDAY
    assert kind_of(chain, MONDAY + 1) == HOLIDAY
    events = [CALENDAR.try_decode_log(log) for log in receipt.logs if log.address == CALENDAR_ADDRESS]
    assert [(e.name, e.args["by"]) for e in events if e is not None] == [
        ("DaySet", GOVERNANCE_ADDRESS),
        ("DaySet", GOVERNANCE_ADDRESS),
    ]
    back = chain.propose(M3, SET_CALENDAR_DAYS, encode_payload(Action.SET_CALENDAR_DAYS, [MONDAY], ORDINARY))
    chain.must(M1, "vote", back)
    assert kind_of(chain, MONDAY) == ORDINARY


def test_a_proposal_cannot_change_a_day_that_has_begun(chain: Chain) -> None:
    today = int(chain.view("today", to=CALENDAR_ADDRESS))
    proposal_id = chain.propose(
        M1, SET_CALENDAR_DAYS, encode_payload(Action.SET_CALENDAR_DAYS, [today], MAKE_UP)
    )
    assert chain.refused(M2, "vote", proposal_id) == "cannot change a day that has begun"
    assert kind_of(chain, today) == ORDINARY
    bad_kind = chain.propose(M1, SET_CALENDAR_DAYS, encode_payload(Action.SET_CALENDAR_DAYS, [MONDAY], 3))
    assert chain.refused(M2, "vote", bad_kind) == "unknown day kind"


def test_the_committee_extends_the_calendar_with_a_new_years_notice(chain: Chain) -> None:
    notice = HolidayNotice(
        year=2027,
        source="a test notice",
        holidays=((dt.date(2027, 1, 1), dt.date(2027, 1, 3)), (dt.date(2027, 2, 5), dt.date(2027, 2, 13))),
        make_up_days=(dt.date(2027, 2, 14),),
    )
    extension = calendar_extension(notice)
    assert extension.covered_through == day_of_date(dt.date(2027, 12, 31))
    proposal_id = chain.propose(M1, EXTEND_CALENDAR, extension.payload())
    assert covered_through(chain) == day_of_date(dt.date(2026, 12, 31))
    chain.must(M2, "vote", proposal_id)
    assert covered_through(chain) == day_of_date(dt.date(2027, 12, 31))
    assert kind_of(chain, day_of_date(dt.date(2027, 2, 8))) == HOLIDAY
    assert kind_of(chain, day_of_date(dt.date(2027, 2, 14))) == MAKE_UP
    assert kind_of(chain, day_of_date(dt.date(2027, 3, 1))) == ORDINARY
    # coverage never shrinks: re-entering an older notice is refused as a whole
    again = chain.propose(M1, EXTEND_CALENDAR, calendar_extension(NOTICES[-1]).payload())
    assert chain.refused(M2, "vote", again) == "coverage only grows"
