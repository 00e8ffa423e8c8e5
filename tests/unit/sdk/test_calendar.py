"""Working days in China time: the official 2024–2026 notices, Python arithmetic, and Calendar.vy agreeing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector, keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.execution import BlockContext, ExecutionEngine, Message
from node.genesis import (
    CALENDAR_ADDRESS,
    CALENDAR_KEEPER,
    GOVERNANCE_ADDRESS,
    INIT_DATA_BUILDERS,
    GenesisAccount,
    GenesisOrganisation,
    GenesisRole,
    GenesisSpec,
    SystemContract,
    load_runtime_code,
)
from sdk.calendar import (
    HOLIDAY,
    NOTICES,
    OFFICIAL_CALENDAR,
    date_of_day,
    day_of_date,
    day_of_timestamp,
    end_of_day,
    weekday_of_day,
)
from sdk.errors import DomainError

ORG = "91350100M000100Y43"
KEEPER, MEMBER, OUTSIDER = bytes([0x21]) * 20, bytes([0x22]) * 20, bytes([0x23]) * 20


def day(iso: str) -> int:
    return day_of_date(dt.date.fromisoformat(iso))


def add(iso: str, n: int) -> str:
    return date_of_day(OFFICIAL_CALENDAR.add_working_days(day(iso), n)).isoformat()


# --- the data -----------------------------------------------------------------------------------------
def test_make_up_days_fall_on_weekends_and_holidays_never_clash() -> None:
    for notice in NOTICES:
        for d in notice.make_up_days:
            assert d.weekday() >= 5, f"{d} is listed as a make-up working day but is a weekday"
            assert d.year == notice.year
        assert not set(notice.holiday_dates()) & set(notice.make_up_days)


@pytest.mark.parametrize(
    ("iso", "weekday"),
    [  # weekday labels printed in the notices
        ("2025-01-01", 2),
        ("2025-01-28", 1),
        ("2025-02-04", 1),
        ("2025-10-01", 2),
        ("2025-10-08", 2),
        ("2026-01-01", 3),
        ("2026-02-15", 6),
        ("2026-02-23", 0),
        ("2026-05-05", 1),
        ("2026-10-07", 2),
        ("2026-09-20", 6),
    ],
)
def test_notice_weekday_labels_match(iso: str, weekday: int) -> None:
    assert dt.date.fromisoformat(iso).weekday() == weekday
    assert weekday_of_day(day(iso)) == weekday


def test_holiday_counts_per_year() -> None:
    counts = {n.year: (len(n.holiday_dates()), len(n.make_up_days)) for n in NOTICES}
    # 2024: 1+8+3+5+1+3+7; 2025: 1+8+3+5+3+8; 2026: 3+9+3+5+3+3+7
    assert counts == {2024: (28, 8), 2025: (28, 5), 2026: (33, 6)}


def test_day_numbers_use_china_time() -> None:
    midnight_cst = int(dt.datetime(2026, 2, 14, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp())
    assert day_of_timestamp(midnight_cst) == day("2026-02-14")
    assert day_of_timestamp(midnight_cst - 1) == day("2026-02-13")  # 15:59:59 UTC on the 13th
    assert end_of_day(day("2026-02-13")) == midnight_cst
    assert weekday_of_day(0) == 3  # 1970-01-01 was a Thursday


# --- Python arithmetic ------------------------------------------------------------------------------------
def test_spring_festival_2026_with_make_up_saturdays() -> None:
    cal = OFFICIAL_CALENDAR
    assert cal.is_working_day(day("2026-02-14"))  # Saturday, make-up
    assert not cal.is_working_day(day("2026-02-16"))  # Monday in the festival
    assert cal.is_working_day(day("2026-02-28"))  # Saturday, make-up
    # Received Friday 13 Feb: Sat 14 (make-up) counts, 15-23 do not, then 24, 25, 26, 27, 28 (Sat), 2, 3, 4, 5
    assert add("2026-02-13", 1) == "2026-02-14"
    assert add("2026-02-13", 2) == "2026-02-24"
    assert add("2026-02-13", 10) == "2026-03-05"


def test_national_day_2025_merged_with_mid_autumn() -> None:
    # Received Fri 26 Sep: Sun 28 (make-up), Mon 29, Tue 30, holiday 1-8 Oct, Thu 9, Fri 10, Sat 11 (make-up)
    assert add("2025-09-26", 1) == "2025-09-28"
    assert add("2025-09-26", 3) == "2025-09-30"
    assert add("2025-09-26", 4) == "2025-10-09"
    assert add("2025-09-26", 6) == "2025-10-11"
    assert add("2025-09-26", 10) == "2025-10-16"


def test_spring_festival_2024_eve_is_a_working_day() -> None:
    assert OFFICIAL_CALENDAR.is_working_day(day("2024-02-09"))  # 除夕: only "encouraged" off
    assert add("2024-02-08", 1) == "2024-02-09"
    assert add("2024-02-09", 1) == "2024-02-18"  # Sunday make-up after 10-17 Feb


def test_outside_coverage_only_the_weekday_rule_applies() -> None:
    cal = OFFICIAL_CALENDAR
    assert not cal.is_covered(day("2027-01-01"))
    assert cal.is_working_day(day("2027-01-01"))  # a Friday; its notice is not entered
    assert add("2026-12-30", 2) == "2027-01-01"


def test_zero_and_too_many_working_days() -> None:
    assert OFFICIAL_CALENDAR.add_working_days(day("2026-02-15"), 0) == day("2026-02-15")
    with pytest.raises(DomainError):
        OFFICIAL_CALENDAR.add_working_days(0, 367)
    with pytest.raises(DomainError):
        OFFICIAL_CALENDAR.add_working_days(0, -1)


# --- on chain -----------------------------------------------------------------------------------------
class CalendarChain:
    def __init__(self) -> None:
        spec = GenesisSpec(
            validators=(bytes([1]) * 64,),
            organisations=(GenesisOrganisation(ORG, "Consortium Office"),),
            accounts=(
                GenesisAccount(KEEPER, ORG),
                GenesisAccount(MEMBER, ORG),
                GenesisAccount(OUTSIDER, ORG),
            ),
            committee=(MEMBER,),
            threshold=1,
            roles=(GenesisRole(KEEPER, CALENDAR_KEEPER),),
            system_contracts=(
                SystemContract(
                    name="Calendar",
                    address=CALENDAR_ADDRESS,
                    runtime_code=load_runtime_code("Calendar"),
                    init_data=INIT_DATA_BUILDERS["Calendar"](GOVERNANCE_ADDRESS),
                ),
            ),
            timestamp_ms=day_of_date(dt.date(2026, 1, 10)) * 86_400_000,
        )
        self.engine = ExecutionEngine({}, chain_id=7)
        self.root = self.engine.create_genesis(spec)
        self.height = 0
        self.now_ms = spec.timestamp_ms

    def ctx(self) -> BlockContext:
        return BlockContext(
            height=self.height, timestamp_ms=self.now_ms, gas_limit=30_000_000, proposer=KEEPER
        )

    def view(self, signature: str, out: list[str], types: list[str], *args: Any) -> Any:
        data = function_signature_to_4byte_selector(signature) + encode(types, list(args))
        raw = self.engine.call(self.root, OUTSIDER, CALENDAR_ADDRESS, data, 5_000_000, ctx=self.ctx())
        return decode(out, raw)[0]

    def add_working_days(self, start: int, n: int) -> int:
        return int(
            self.view("add_working_days(uint256,uint256)", ["uint256"], ["uint256", "uint256"], start, n)
        )

    def is_working_day(self, d: int) -> bool:
        return bool(self.view("is_working_day(uint256)", ["bool"], ["uint256"], d))

    def send(self, sender: bytes, signature: str, types: list[str], *args: Any) -> tuple[int, str]:
        self.height += 1
        self.now_ms += 1000
        data = function_signature_to_4byte_selector(signature) + encode(types, list(args))
        result = self.engine.execute_block(
            self.root, self.ctx(), [Message(sender, CALENDAR_ADDRESS, data, 2_000_000, keccak(data))]
        )
        self.root = result.state_root
        receipt = result.receipts[0]
        return receipt.status, receipt.revert_reason.decode()


@pytest.fixture(scope="module")
def onchain() -> CalendarChain:
    return CalendarChain()


def test_genesis_seed_matches_the_python_calendar(onchain: CalendarChain) -> None:
    assert onchain.view("covered_from()", ["uint256"], []) == OFFICIAL_CALENDAR.covered_from
    assert onchain.view("covered_through()", ["uint256"], []) == OFFICIAL_CALENDAR.covered_through
    for d in range(OFFICIAL_CALENDAR.covered_from - 3, OFFICIAL_CALENDAR.covered_through + 4, 1):
        kind = onchain.view("day_kind(uint256)", ["uint8"], ["uint256"], d)
        assert kind == OFFICIAL_CALENDAR.day_kind(d), date_of_day(d)


@pytest.mark.parametrize(
    ("start", "n"),
    [("2026-02-13", 10), ("2025-09-26", 10), ("2024-02-08", 3), ("2026-12-30", 2), ("2026-02-15", 0)],
)
def test_contract_agrees_on_festival_deadlines(onchain: CalendarChain, start: str, n: int) -> None:
    assert onchain.add_working_days(day(start), n) == OFFICIAL_CALENDAR.add_working_days(day(start), n)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    start=st.integers(min_value=day("2023-11-01"), max_value=day("2027-03-01")),
    n=st.integers(min_value=0, max_value=40),
)
def test_contract_equals_python_for_random_dates(onchain: CalendarChain, start: int, n: int) -> None:
    assert onchain.add_working_days(start, n) == OFFICIAL_CALENDAR.add_working_days(start, n)
    assert onchain.is_working_day(start) == OFFICIAL_CALENDAR.is_working_day(start)


def test_day_helpers_agree(onchain: CalendarChain) -> None:
    ts = 1_780_000_000
    assert onchain.view("day_of(uint256)", ["uint256"], ["uint256"], ts) == day_of_timestamp(ts)
    assert onchain.view("end_of_day(uint256)", ["uint256"], ["uint256"], 20_000) == end_of_day(20_000)
    assert onchain.view("today()", ["uint256"], []) == day_of_timestamp(onchain.now_ms // 1000)


def test_no_account_changes_the_calendar_directly() -> None:
    # Changes are Governance committee proposals (tests/unit/node/test_calendar_proposals.py); a keeper, a
    # committee member or anyone else calling the Calendar directly is refused.
    chain = CalendarChain()
    future = day("2026-03-02")
    sig, types = "set_days(uint256[],uint8)", ["uint256[]", "uint8"]
    refused = (0, "only a passed Governance proposal changes the calendar")
    for sender in (OUTSIDER, KEEPER, MEMBER):  # MEMBER is the committee
        assert chain.send(sender, sig, types, [future], HOLIDAY) == refused
        assert chain.send(sender, "set_covered_through(uint256)", ["uint256"], day("2027-12-31")) == refused
    assert chain.is_working_day(future)
    assert chain.view("covered_through()", ["uint256"], []) == OFFICIAL_CALENDAR.covered_through
