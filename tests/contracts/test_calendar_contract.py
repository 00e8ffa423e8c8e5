"""Calendar.vy agrees with the Python calendar (sdk/domains/calendar.py); no account changes it directly."""

from __future__ import annotations

import pytest

from sdk.domains.calendar import (
    HOLIDAY,
    OFFICIAL_CALENDAR,
    date_of_day,
    day_of_timestamp,
    end_of_day,
)
from tests.contracts.worlds.calendar import KEEPER, MEMBER, OUTSIDER, Chain, day, make_chain


@pytest.fixture(scope="module")
def onchain() -> Chain:
    return make_chain()


def test_genesis_seed_matches_the_python_calendar(onchain: Chain) -> None:
    assert onchain.view("covered_from") == OFFICIAL_CALENDAR.covered_from
    assert onchain.view("covered_through") == OFFICIAL_CALENDAR.covered_through
    for d in range(OFFICIAL_CALENDAR.covered_from - 3, OFFICIAL_CALENDAR.covered_through + 4, 1):
        kind = onchain.view("day_kind", d)
        assert kind == OFFICIAL_CALENDAR.day_kind(d), date_of_day(d)


@pytest.mark.parametrize(
    ("start", "n"),
    [("2026-02-13", 10), ("2025-09-26", 10), ("2024-02-08", 3), ("2026-12-30", 2), ("2026-02-15", 0)],
)
def test_contract_agrees_on_festival_deadlines(onchain: Chain, start: str, n: int) -> None:
    assert onchain.add_working_days(day(start), n) == OFFICIAL_CALENDAR.add_working_days(day(start), n)


def test_day_helpers_agree(onchain: Chain) -> None:
    ts = 1_780_000_000
    assert onchain.view("day_of", ts) == day_of_timestamp(ts)
    assert onchain.view("end_of_day", 20_000) == end_of_day(20_000)
    assert onchain.view("today") == day_of_timestamp(onchain.now_ms // 1000)


def test_no_account_changes_the_calendar_directly() -> None:
    # Changes are Governance committee proposals (tests/contracts/test_calendar_proposals.py); a keeper, a
    # committee member or anyone else calling the Calendar directly is refused.
    chain = make_chain()
    future = day("2026-03-02")
    refused = "only a passed Governance proposal changes the calendar"
    for sender in (OUTSIDER, KEEPER, MEMBER):  # MEMBER is the committee
        assert chain.refused(sender, "set_days", [future], HOLIDAY) == refused
        assert chain.refused(sender, "set_covered_through", day("2027-12-31")) == refused
    assert chain.is_working_day(future)
    assert chain.view("covered_through") == OFFICIAL_CALENDAR.covered_through
