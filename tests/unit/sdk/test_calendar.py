"""Working days in China time: the official 2024–2026 notices and the Python arithmetic (Calendar.vy agreeing:
tests/contracts/test_calendar_contract.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from sdk.domains.calendar import (
    CALENDAR_WARN_DAYS,
    NOTICES,
    OFFICIAL_CALENDAR,
    CalendarOutlook,
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


# --- how long the calendar lasts ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("days_left", "status"),
    [
        (400, "ok"),
        (CALENDAR_WARN_DAYS + 1, "ok"),
        (CALENDAR_WARN_DAYS, "ending"),
        (0, "ending"),
        (-1, "ended"),
    ],
)
def test_the_outlook_warns_sixty_days_ahead_and_ends_after_the_last_covered_day(
    days_left: int, status: str
) -> None:
    covered = day_of_date(dt.date(2026, 12, 31))
    outlook = CalendarOutlook(today=covered - days_left, covered_through=covered)
    assert outlook.days_left == days_left
    assert outlook.status == status


def test_a_day_past_the_covered_span_is_provisional() -> None:
    covered = day_of_date(dt.date(2026, 12, 31))
    outlook = CalendarOutlook(today=covered - 5, covered_through=covered)
    assert not outlook.is_provisional(covered)
    assert outlook.is_provisional(covered + 1)
