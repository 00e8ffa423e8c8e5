"""Unit tests for resident ID validation, with the rule that the clear-text number never leaks."""

from __future__ import annotations

import datetime as dt

import pytest

from sdk.errors import IdentifierError
from sdk.identifiers import compute_resident_id_check, is_valid_resident_id, parse_resident_id

EXAMPLE = "11010519491231002X"
MASKED = "1101**********002X"


def _with_check(body: str) -> str:
    return body + compute_resident_id_check(body)


def _refusal(value: str, today: dt.date | None = None) -> IdentifierError:
    with pytest.raises(IdentifierError) as info:
        parse_resident_id(value, today=today)
    return info.value


def _assert_nothing_personal_leaks(error: IdentifierError, value: str) -> None:
    text = f"{error} {error.detail!r} {error.to_dict()!r}"
    assert value.strip().upper() not in text
    assert value[6:14] not in text  # the birth date
    assert value[:6] + value[6:10] not in text  # region + birth year


def test_published_example_parses() -> None:
    parsed = parse_resident_id(EXAMPLE)
    assert parsed.region == "110105"
    assert parsed.birth_date == dt.date(1949, 12, 31)
    assert parsed.sequence == "002"
    assert parsed.sex == "female"
    assert parsed.masked == MASKED
    assert is_valid_resident_id(EXAMPLE)


def test_odd_sequence_is_male() -> None:
    assert parse_resident_id(_with_check("11010519491231003")).sex == "male"


def test_repr_and_str_show_only_the_masked_number() -> None:
    parsed = parse_resident_id(EXAMPLE)
    assert EXAMPLE not in repr(parsed)
    assert "19491231" not in repr(parsed)
    assert "1949" not in str(parsed)
    assert MASKED in repr(parsed)


def test_lower_case_x_and_whitespace_are_normalised() -> None:
    assert parse_resident_id(" 11010519491231002x\n").number == EXAMPLE


def test_every_wrong_check_char_is_refused_naming_the_expected_one_and_masking_the_number() -> None:
    for wrong in "0123456789":
        value = EXAMPLE[:17] + wrong
        error = _refusal(value)
        masked = MASKED[:-1] + wrong
        assert str(error) == f"resident ID {masked} check character should be 'X', got {wrong!r}"
        assert error.detail == {"field": "resident_id", "value": masked, "expected": "X", "got": wrong}
        _assert_nothing_personal_leaks(error, value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("11010519491231002", "must be 18 characters, got 17"),
        ("11010519491231002X1", "must be 18 characters, got 19"),
        ("110105194912310A2X", "invalid character 'A' at position 16 (expected a digit)"),
        ("11010519491231002Y", "invalid character 'Y' at position 18 (expected a digit or X)"),
        ("11010519491331002X", "birth date is not a real calendar date"),
        ("11010519490230002X", "birth date is not a real calendar date"),
        ("11010519490001002X", "birth date is not a real calendar date"),
        ("11010519000229002X", "birth date is not a real calendar date"),
        ("11010518991231002X", "birth year is before 1900"),
        ("11010519491231002é", "non-ASCII"),
    ],
)
def test_malformed_resident_ids_are_refused_without_leaking(value: str, message: str) -> None:
    error = _refusal(value)
    assert message in str(error)
    _assert_nothing_personal_leaks(error, value)


def test_short_input_is_masked_completely_and_wrong_length_hides_the_tail() -> None:
    assert _refusal("110105").detail["value"] == "******"
    assert _refusal("1101051949123100").detail["value"] == "1101************"


def test_leap_day_of_a_leap_year_is_accepted() -> None:
    assert parse_resident_id(_with_check("44030420000229001")).birth_date == dt.date(2000, 2, 29)


def test_birth_date_in_the_future_is_refused_only_when_today_is_given() -> None:
    value = _with_check("11010520300101001")
    error = _refusal(value, today=dt.date(2026, 1, 1))
    assert "birth date is in the future" in str(error)
    _assert_nothing_personal_leaks(error, value)
    assert parse_resident_id(value).birth_date == dt.date(2030, 1, 1)
    assert parse_resident_id(value, today=dt.date(2030, 1, 1)).birth_date == dt.date(2030, 1, 1)


def test_compute_check_refuses_bad_bodies_without_echoing_them() -> None:
    for body in ["1101051949123100", "1101051949123100A"]:
        with pytest.raises(IdentifierError) as info:
            compute_resident_id_check(body)
        assert body not in str(info.value)
