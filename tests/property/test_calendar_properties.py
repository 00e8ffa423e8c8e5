"""Calendar.vy equals the Python calendar on random dates and spans."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from sdk.domains.calendar import OFFICIAL_CALENDAR
from tests.contracts.worlds.calendar import Chain, day, make_chain


@pytest.fixture(scope="module")
def onchain() -> Chain:
    return make_chain()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    start=st.integers(min_value=day("2023-11-01"), max_value=day("2027-03-01")),
    n=st.integers(min_value=0, max_value=40),
)
def test_contract_equals_python_for_random_dates(onchain: Chain, start: int, n: int) -> None:
    assert onchain.add_working_days(start, n) == OFFICIAL_CALENDAR.add_working_days(start, n)
    assert onchain.is_working_day(start) == OFFICIAL_CALENDAR.is_working_day(start)
