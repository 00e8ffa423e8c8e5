"""Working days in China time, mirroring contracts/Calendar.vy, with the official 2024–2026 holidays.

Days are counted as on chain: ``day = (unix_seconds + 8 * 3600) // 86400`` (days since 1970-01-01 in China
time). Monday to Friday are working days unless listed as non-working; Saturday and Sunday are not, unless
listed as make-up working days (调休上班). The listed days come from the State Council General Office's annual
notices (国务院办公厅关于XXXX年部分节假日安排的通知), entered in ``NOTICES`` below with their sources.

On chain the calendar changes only through Governance committee proposals (actions SET_CALENDAR_DAYS and
EXTEND_CALENDAR): ``calendar_extension(notice)`` turns a new year's notice into the EXTEND_CALENDAR payload,
which ``Governance.propose_calendar_extension`` proposes and the committee votes on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from eth_abi.abi import encode as abi_encode
from eth_utils.abi import function_signature_to_4byte_selector

from sdk.contracts import Contract
from sdk.errors import ClientError, DomainError

if TYPE_CHECKING:
    from sdk.client import Client

SECONDS_PER_DAY: Final = 86_400
UTC_OFFSET_SECONDS: Final = 8 * 3600  # China Standard Time; no daylight saving since 1991
CHINA_TZ: Final = dt.timezone(dt.timedelta(seconds=UTC_OFFSET_SECONDS), "CST")
MAX_WORKING_DAYS: Final = 366  # as Calendar.vy
MAX_SCAN_DAYS: Final = 1024  # as Calendar.vy
MAX_PROPOSAL_DAYS: Final = 60  # days per list in one calendar proposal, as Governance.MAX_CALENDAR_DAYS
_EPOCH: Final = dt.date(1970, 1, 1)

ORDINARY: Final = 0
HOLIDAY: Final = 1
MAKE_UP: Final = 2


@dataclass(frozen=True, slots=True)
class HolidayNotice:
    """One year's official arrangement: non-working date ranges (inclusive) and make-up working days."""

    year: int
    source: str
    holidays: tuple[tuple[dt.date, dt.date], ...]
    make_up_days: tuple[dt.date, ...]

    def holiday_dates(self) -> list[dt.date]:
        """Every listed non-working date, in order."""
        out: list[dt.date] = []
        for first, last in self.holidays:
            day = first
            while day <= last:
                out.append(day)
                day += dt.timedelta(days=1)
        return out


def _d(year: int, month: int, day: int) -> dt.date:
    return dt.date(year, month, day)


# --- the official notices ---------------------------------------------------------------------------------
# Dates copied from the notices' text (weekday annotations in the notices are checked by
# tests/unit/sdk/test_calendar.py). Days the notices merely encourage employers to give off (e.g. 2024's
# 除夕 on 9 February, "鼓励各单位…安排职工在除夕休息") stay working days.
NOTICES: Final[tuple[HolidayNotice, ...]] = (
    HolidayNotice(
        year=2024,
        source=(
            "国务院办公厅关于2024年部分节假日安排的通知 (国办发明电〔2023〕7号, 2023-10-25); "
            "text as printed in 人民日报 2023-10-26 p.6 and 国务院公报 2023 No.31 (via zh.wikisource)"
        ),
        holidays=(
            (_d(2024, 1, 1), _d(2024, 1, 1)),  # 元旦, 与周末连休
            (_d(2024, 2, 10), _d(2024, 2, 17)),  # 春节
            (_d(2024, 4, 4), _d(2024, 4, 6)),  # 清明节
            (_d(2024, 5, 1), _d(2024, 5, 5)),  # 劳动节
            (_d(2024, 6, 10), _d(2024, 6, 10)),  # 端午节, 与周末连休
            (_d(2024, 9, 15), _d(2024, 9, 17)),  # 中秋节
            (_d(2024, 10, 1), _d(2024, 10, 7)),  # 国庆节
        ),
        make_up_days=(
            _d(2024, 2, 4),  # 星期日
            _d(2024, 2, 18),  # 星期日
            _d(2024, 4, 7),  # 星期日
            _d(2024, 4, 28),  # 星期日
            _d(2024, 5, 11),  # 星期六
            _d(2024, 9, 14),  # 星期六
            _d(2024, 9, 29),  # 星期日
            _d(2024, 10, 12),  # 星期六
        ),
    ),
    HolidayNotice(
        year=2025,
        source=(
            "国务院办公厅关于2025年部分节假日安排的通知 (国办发明电〔2024〕12号, 2024-11-12; "
            "first year of the revised 全国年节及纪念日放假办法); text as released by 新华社 2024-11-12"
        ),
        holidays=(
            (_d(2025, 1, 1), _d(2025, 1, 1)),  # 元旦 (周三), 不调休
            (_d(2025, 1, 28), _d(2025, 2, 4)),  # 春节: 除夕 (周二) 至 正月初七 (周二)
            (_d(2025, 4, 4), _d(2025, 4, 6)),  # 清明节 (周五至周日)
            (_d(2025, 5, 1), _d(2025, 5, 5)),  # 劳动节 (周四至周一)
            (_d(2025, 5, 31), _d(2025, 6, 2)),  # 端午节 (周六至周一)
            (_d(2025, 10, 1), _d(2025, 10, 8)),  # 国庆节、中秋节 (周三至周三)
        ),
        make_up_days=(
            _d(2025, 1, 26),  # 周日
            _d(2025, 2, 8),  # 周六
            _d(2025, 4, 27),  # 周日
            _d(2025, 9, 28),  # 周日
            _d(2025, 10, 11),  # 周六
        ),
    ),
    HolidayNotice(
        year=2026,
        source=(
            "国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04; document number not "
            "confirmed here); text as released by 新华社 2025-11-04 "
            "(光明网 politics.gmw.cn/2025-11/04/content_38391083.htm)"
        ),
        holidays=(
            (_d(2026, 1, 1), _d(2026, 1, 3)),  # 元旦 (周四至周六)
            (_d(2026, 2, 15), _d(2026, 2, 23)),  # 春节: 腊月二十八 (周日) 至 正月初七 (周一)
            (_d(2026, 4, 4), _d(2026, 4, 6)),  # 清明节 (周六至周一)
            (_d(2026, 5, 1), _d(2026, 5, 5)),  # 劳动节 (周五至周二)
            (_d(2026, 6, 19), _d(2026, 6, 21)),  # 端午节 (周五至周日)
            (_d(2026, 9, 25), _d(2026, 9, 27)),  # 中秋节 (周五至周日)
            (_d(2026, 10, 1), _d(2026, 10, 7)),  # 国庆节 (周四至周三)
        ),
        make_up_days=(
            _d(2026, 1, 4),  # 周日
            _d(2026, 2, 14),  # 周六
            _d(2026, 2, 28),  # 周六
            _d(2026, 5, 9),  # 周六
            _d(2026, 9, 20),  # 周日
            _d(2026, 10, 10),  # 周六
        ),
    ),
)


# --- day numbers ------------------------------------------------------------------------------------------
def day_of_date(date: dt.date) -> int:
    """Return the day number (days since 1970-01-01) of a calendar date."""
    return (date - _EPOCH).days


def date_of_day(day: int) -> dt.date:
    """Return the calendar date of a day number."""
    return _EPOCH + dt.timedelta(days=day)


def day_of_timestamp(timestamp_s: int) -> int:
    """Return the China-time day of a unix timestamp in seconds (as ``Calendar.day_of``)."""
    return (timestamp_s + UTC_OFFSET_SECONDS) // SECONDS_PER_DAY


def end_of_day(day: int) -> int:
    """Return the unix time (seconds) at which ``day`` ends in China time (as ``Calendar.end_of_day``)."""
    return (day + 1) * SECONDS_PER_DAY - UTC_OFFSET_SECONDS


def weekday_of_day(day: int) -> int:
    """Return the weekday of a day number, Monday = 0 … Sunday = 6 (1970-01-01 was a Thursday)."""
    return (day + 3) % 7


# --- how long the calendar lasts ---------------------------------------------------------------------------
#: Warn this many days before the last day whose official notice is on chain (the State Council publishes the
#: next year's notice in November or December; a committee proposal then has to pass).
CALENDAR_WARN_DAYS: Final = 60
CalendarStatus = Literal["ok", "ending", "ended"]


@dataclass(frozen=True, slots=True)
class CalendarOutlook:
    """How far the entered notices reach, seen from ``today`` (day numbers, China time).

    ``status`` is ``ok``; ``ending`` within CALENDAR_WARN_DAYS of ``covered_through`` (propose the next year's
    notice now); ``ended`` once ``today`` is past it: deadlines computed from then on use the weekday rule
    only and are provisional (they move when the notice is entered).
    """

    today: int
    covered_through: int
    warn_days: int = CALENDAR_WARN_DAYS

    @property
    def days_left(self) -> int:
        """Days from ``today`` to ``covered_through`` (0 on the last covered day, negative after it)."""
        return self.covered_through - self.today

    @property
    def status(self) -> CalendarStatus:
        if self.days_left < 0:
            return "ended"
        return "ending" if self.days_left <= self.warn_days else "ok"

    def is_provisional(self, day: int) -> bool:
        """True when a deadline falling on ``day`` lies beyond the entered notices."""
        return day > self.covered_through


# --- the calendar ------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    """Listed non-working days and make-up working days plus the span the listings cover (day numbers)."""

    holidays: frozenset[int]
    make_up_days: frozenset[int]
    covered_from: int
    covered_through: int

    @classmethod
    def from_notices(cls, notices: Iterable[HolidayNotice]) -> WorkingCalendar:
        """Build a calendar covering 1 January of the first notice's year to 31 December of the last.

        Raises DomainError when the notices are empty or a date is both a holiday and a make-up day.
        """
        ordered = sorted(notices, key=lambda n: n.year)
        if not ordered:
            raise DomainError("a calendar needs at least one notice", code="bad_calendar")
        holidays = {day_of_date(d) for n in ordered for d in n.holiday_dates()}
        make_up = {day_of_date(d) for n in ordered for d in n.make_up_days}
        if holidays & make_up:
            clash = sorted(date_of_day(d).isoformat() for d in holidays & make_up)
            raise DomainError(
                "a day cannot be both a holiday and a make-up day", code="bad_calendar", days=clash
            )
        return cls(
            holidays=frozenset(holidays),
            make_up_days=frozenset(make_up),
            covered_from=day_of_date(dt.date(ordered[0].year, 1, 1)),
            covered_through=day_of_date(dt.date(ordered[-1].year, 12, 31)),
        )

    def day_kind(self, day: int) -> int:
        """ORDINARY (weekday rule), HOLIDAY or MAKE_UP, as ``Calendar.day_kind``."""
        if day in self.holidays:
            return HOLIDAY
        if day in self.make_up_days:
            return MAKE_UP
        return ORDINARY

    def is_working_day(self, day: int) -> bool:
        """True for a make-up working day or a Monday–Friday that is not a listed non-working day."""
        kind = self.day_kind(day)
        if kind != ORDINARY:
            return kind == MAKE_UP
        return weekday_of_day(day) < 5

    def is_covered(self, day: int) -> bool:
        """True when ``day`` lies in the span whose official notices are entered."""
        return self.covered_from <= day <= self.covered_through

    def add_working_days(self, start_day: int, n: int) -> int:
        """Return the day of the ``n``-th working day strictly after ``start_day`` (``start_day`` for n = 0).

        Mirrors ``Calendar.add_working_days`` exactly, including its limits. Raises DomainError when
        ``n`` is negative or above MAX_WORKING_DAYS, or no such day lies within MAX_SCAN_DAYS.
        """
        if not 0 <= n <= MAX_WORKING_DAYS:
            raise DomainError(f"n must be between 0 and {MAX_WORKING_DAYS}", code="bad_calendar", n=n)
        day, count = start_day, 0
        for _ in range(MAX_SCAN_DAYS):
            if count == n:
                break
            day += 1
            if self.is_working_day(day):
                count += 1
        if count != n:
            raise DomainError("no such working day within the scan window", code="bad_calendar")
        return day

    def working_days_between(self, first_day: int, last_day: int) -> int:
        """Return how many working days lie in ``first_day``..``last_day`` inclusive (0 if empty)."""
        return sum(1 for d in range(first_day, last_day + 1) if self.is_working_day(d))


OFFICIAL_CALENDAR: Final = WorkingCalendar.from_notices(NOTICES)


def encode_calendar_initialize(governance: bytes, calendar: WorkingCalendar = OFFICIAL_CALENDAR) -> bytes:
    """Return the genesis call ``Calendar.initialize(governance, covered_from, covered_through, holidays,
    make_up_days)`` seeding ``calendar`` (the official 2024–2026 notices by default)."""
    selector = function_signature_to_4byte_selector("initialize(address,uint256,uint256,uint256[],uint256[])")
    args = [
        governance,
        calendar.covered_from,
        calendar.covered_through,
        sorted(calendar.holidays),
        sorted(calendar.make_up_days),
    ]
    return selector + abi_encode(["address", "uint256", "uint256", "uint256[]", "uint256[]"], args)


# --- changes, through Governance proposals -----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CalendarExtension:
    """The EXTEND_CALENDAR proposal of one notice: its listed days, then coverage through its last day."""

    covered_through: int
    holidays: tuple[int, ...]
    make_up_days: tuple[int, ...]

    def payload(self) -> bytes:
        """The payload: abi.encode(uint256 covered_through, uint256[] holidays, uint256[] make_up_days)."""
        return abi_encode(
            ["uint256", "uint256[]", "uint256[]"],
            [self.covered_through, list(self.holidays), list(self.make_up_days)],
        )


def check_proposal_days(days: Iterable[int], *, allow_empty: bool = False) -> list[int]:
    """Return ``days`` sorted and de-duplicated; raises DomainError when there are more than
    MAX_PROPOSAL_DAYS, none (unless ``allow_empty``), or a negative day number."""
    out = sorted(set(days))
    if len(out) > MAX_PROPOSAL_DAYS or not (out or allow_empty):
        raise DomainError(
            f"a calendar proposal lists 1 to {MAX_PROPOSAL_DAYS} days per kind",
            code="bad_calendar",
            days=len(out),
        )
    if out and out[0] < 0:
        raise DomainError("a day number is not negative", code="bad_calendar", day=out[0])
    return out


def calendar_extension(notice: HolidayNotice) -> CalendarExtension:
    """The EXTEND_CALENDAR proposal entering ``notice`` and covering its year through 31 December.

    Raises DomainError when a date is both a holiday and a make-up day, or a list is too long for one
    proposal (MAX_PROPOSAL_DAYS).
    """
    calendar = WorkingCalendar.from_notices([notice])
    return CalendarExtension(
        covered_through=calendar.covered_through,
        holidays=tuple(check_proposal_days(calendar.holidays, allow_empty=True)),
        make_up_days=tuple(check_proposal_days(calendar.make_up_days, allow_empty=True)),
    )


class OnChainCalendar:
    """Reads of the Calendar contract through a node. Changes are Governance committee proposals
    (``Governance.propose_calendar_days`` / ``propose_calendar_extension``), never direct calls."""

    def __init__(self, client: Client, *, address: bytes | None = None) -> None:
        self.client = client
        self._address = address
        self.contract = Contract("Calendar")

    @property
    def address(self) -> bytes:
        """The Calendar address, from the Governance system contract registry."""
        if self._address is None:
            found = self.client.governance.contract_address("Calendar")
            if found is None:
                raise ClientError("no Calendar is registered in Governance", code="no_calendar")
            self._address = found
        return self._address

    def _read(self, function: str, *args: Any) -> Any:
        return self.contract.read(self.client.call, self.address, function, *args)

    def day_kind(self, day: int) -> int:
        """ORDINARY, HOLIDAY or MAKE_UP as listed on chain for ``day``."""
        return int(self._read("day_kind", day))

    def is_working_day(self, day: int) -> bool:
        return bool(self._read("is_working_day", day))

    def covered_through(self) -> int:
        """The last day whose official notice has been entered on chain."""
        return int(self._read("covered_through"))

    def today(self) -> int:
        """The China-time day of the head block, as the contract sees it."""
        return int(self._read("today"))
