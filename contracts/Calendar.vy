# pragma version 0.4.3
# pragma evm-version prague
"""
@title Xinlian Calendar: the consortium's working-day calendar (China, UTC+8)
@notice Deadlines in working days (e.g. a bank replies to a confirmation letter within 10 working days) are
        computed from this one on-chain calendar, so every node derives the same date.

Days
----
A day is the number of days since 1970-01-01 in China time: day = (unix_seconds + 8 * 3600) // 86400.
1970-01-01 was a Thursday, so weekday(day) = (day + 3) % 7 with Monday = 0 ... Sunday = 6.

Which days are working days
---------------------------
Monday to Friday are working days and Saturday / Sunday are not, unless the calendar lists the day:
* HOLIDAY (1): a non-working day (statutory holiday or 调休 rest day), even on a weekday;
* MAKE_UP (2): a make-up working day (调休上班), even on a weekend.
The listed days are those of the State Council General Office's annual notice (国务院办公厅关于XXXX年部分节假日
安排的通知). `covered_from` .. `covered_through` is the span whose notices have been entered; outside it only the
weekday rule applies (callers can see `covered_through` and decide whether a result is provisional).

Who maintains it
----------------
The committee, by proposal: deadlines (e.g. a bank's reply to a confirmation letter) are recomputed from this
calendar, so a change moves them, and no single account may make one. `set_days` and `set_covered_through`
accept calls only from the Governance contract, which makes them only while executing a committee proposal
that reached its threshold (actions SET_CALENDAR_DAYS and EXTEND_CALENDAR; see Governance.vy). Neither a
committee member alone nor a CALENDAR_KEEPER account changes anything here.
The past is immutable: a day can only be changed while it is still in the future (day > today), so a
deadline that has passed never moves.
"""

ORDINARY: public(constant(uint8)) = 0  # weekday rule
HOLIDAY: public(constant(uint8)) = 1  # non-working day
MAKE_UP: public(constant(uint8)) = 2  # make-up working day

SECONDS_PER_DAY: public(constant(uint256)) = 86400
UTC_OFFSET_SECONDS: public(constant(uint256)) = 28800  # China Standard Time, UTC+8
MAX_WORKING_DAYS: public(constant(uint256)) = 366  # largest n for add_working_days
MAX_SCAN_DAYS: constant(uint256) = 1024  # calendar days add_working_days may look at
MAX_SEED_DAYS: constant(uint256) = 512
MAX_EDIT_DAYS: constant(uint256) = 128

event DaySet:
    day: indexed(uint256)
    kind: uint8
    by: indexed(address)

event CoverageSet:
    covered_from: uint256
    covered_through: uint256
    by: indexed(address)

governance: public(address)
initialized: public(bool)
covered_from: public(uint256)
covered_through: public(uint256)
# one bit per day, 256 days per word: word index day // 256, bit day % 256
holiday_bits: HashMap[uint256, uint256]
make_up_bits: HashMap[uint256, uint256]


@external
def initialize(
    governance: address,
    covered_from: uint256,
    covered_through: uint256,
    holidays: DynArray[uint256, MAX_SEED_DAYS],
    make_up_days: DynArray[uint256, MAX_SEED_DAYS],
):
    """
    @notice Genesis set-up, callable exactly once: the Governance address, the covered span and the listed
            days (non-working days and make-up working days) of the published notices.
    """
    assert not self.initialized, "already initialized"
    assert governance != empty(address), "zero governance address"
    assert covered_from <= covered_through, "empty coverage"
    self.initialized = True
    self.governance = governance
    for day: uint256 in holidays:
        self._set_day(day, HOLIDAY, msg.sender)
    for day: uint256 in make_up_days:
        self._set_day(day, MAKE_UP, msg.sender)
    self.covered_from = covered_from
    self.covered_through = covered_through
    log CoverageSet(covered_from=covered_from, covered_through=covered_through, by=msg.sender)


# --- views ---------------------------------------------------------------------------------------------
@view
@internal
def _kind(day: uint256) -> uint8:
    word: uint256 = day // 256
    bit: uint256 = 1 << (day % 256)
    if self.holiday_bits[word] & bit != 0:
        return HOLIDAY
    if self.make_up_bits[word] & bit != 0:
        return MAKE_UP
    return ORDINARY


@view
@internal
def _is_working_day(day: uint256) -> bool:
    kind: uint8 = self._kind(day)
    if kind == HOLIDAY:
        return False
    if kind == MAKE_UP:
        return True
    return (day + 3) % 7 < 5


@view
@internal
def _add_working_days(start_day: uint256, n: uint256) -> uint256:
    assert n <= MAX_WORKING_DAYS, "too many working days"
    day: uint256 = start_day
    count: uint256 = 0
    for _: uint256 in range(MAX_SCAN_DAYS):
        if count == n:
            break
        day += 1
        if self._is_working_day(day):
            count += 1
    assert count == n, "no such working day within the scan window"
    return day


@view
@internal
def _today() -> uint256:
    return (block.timestamp + UTC_OFFSET_SECONDS) // SECONDS_PER_DAY


@view
@external
def day_kind(day: uint256) -> uint8:
    """
    @notice ORDINARY (0, weekday rule), HOLIDAY (1) or MAKE_UP (2) as listed for `day`.
    """
    return self._kind(day)


@view
@external
def is_working_day(day: uint256) -> bool:
    """
    @notice True for a make-up working day, or a Monday-Friday that is not a listed non-working day.
    """
    return self._is_working_day(day)


@view
@external
def add_working_days(start_day: uint256, n: uint256) -> uint256:
    """
    @notice The day on which the n-th working day strictly after `start_day` falls (`start_day` itself for
            n = 0). Beyond `covered_through` only the weekday rule applies.
    """
    return self._add_working_days(start_day, n)


@view
@external
def day_of(timestamp: uint256) -> uint256:
    """
    @notice The China-time day of a unix timestamp in seconds.
    """
    return (timestamp + UTC_OFFSET_SECONDS) // SECONDS_PER_DAY


@view
@external
def end_of_day(day: uint256) -> uint256:
    """
    @notice The unix time (seconds) at which `day` ends in China time (midnight starting day + 1).
    """
    return (day + 1) * SECONDS_PER_DAY - UTC_OFFSET_SECONDS


@view
@external
def today() -> uint256:
    """
    @notice The China-time day of the current block.
    """
    return self._today()


# --- maintenance ---------------------------------------------------------------------------------------
@view
@internal
def _check_passed_proposal(sender: address):
    # Governance calls the calendar only from the execution of a committee proposal that reached its threshold
    assert sender == self.governance, "only a passed Governance proposal changes the calendar"


@internal
def _set_day(day: uint256, kind: uint8, by: address):
    word: uint256 = day // 256
    bit: uint256 = 1 << (day % 256)
    self.holiday_bits[word] = self.holiday_bits[word] & ~bit
    self.make_up_bits[word] = self.make_up_bits[word] & ~bit
    if kind == HOLIDAY:
        self.holiday_bits[word] = self.holiday_bits[word] | bit
    elif kind == MAKE_UP:
        self.make_up_bits[word] = self.make_up_bits[word] | bit
    log DaySet(day=day, kind=kind, by=by)


@external
def set_days(days: DynArray[uint256, MAX_EDIT_DAYS], kind: uint8):
    """
    @notice List `days` as HOLIDAY, MAKE_UP or back to ORDINARY (Governance, executing a passed proposal).
            Every day must be in the future (after today), so passed deadlines never move.
    """
    self._check_passed_proposal(msg.sender)
    assert kind <= MAKE_UP, "unknown day kind"
    today: uint256 = self._today()
    for day: uint256 in days:
        assert day > today, "cannot change a day that has begun"
        self._set_day(day, kind, msg.sender)


@external
def set_covered_through(covered_through: uint256):
    """
    @notice Extend the span whose official notices have been entered (Governance, executing a passed
            proposal); never shrinks.
    """
    self._check_passed_proposal(msg.sender)
    assert covered_through > self.covered_through, "coverage only grows"
    self.covered_through = covered_through
    log CoverageSet(covered_from=self.covered_from, covered_through=covered_through, by=msg.sender)
