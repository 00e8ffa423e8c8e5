"""Unit tests for GTIN check digits, GS1 element strings and Chinese drug trace codes."""

from __future__ import annotations

import datetime as dt

import pytest

from sdk.errors import IdentifierError
from sdk.identifiers import (
    GS1_X_CHARSET,
    compute_gtin_check,
    is_valid_drug_trace_code,
    is_valid_gs1_element_string,
    is_valid_gtin,
    parse_drug_code,
    parse_drug_trace_code,
    parse_gs1_element_string,
    parse_gtin,
)

GS = "\x1d"
GTIN = "06291041500213"


# --- GTIN -----------------------------------------------------------------------------------------


def test_published_gtin_check_digit() -> None:
    assert compute_gtin_check("629104150021") == "3"
    assert parse_gtin("6291041500213").gtin14 == GTIN


@pytest.mark.parametrize("gtin", ["73513537", "036000291452", "4006381333931", GTIN])
def test_every_gtin_length_validates(gtin: str) -> None:
    assert is_valid_gtin(gtin)
    assert compute_gtin_check(gtin[:-1]) == gtin[-1]


def test_every_wrong_gtin_check_digit_is_refused_naming_the_expected_one() -> None:
    for wrong in "012456789":
        with pytest.raises(IdentifierError) as info:
            parse_gtin("629104150021" + wrong)
        assert str(info.value) == f"GTIN check digit should be '3', got {wrong!r}"


@pytest.mark.parametrize(
    "gtin", ["", "1234567", "123456789", "629104150021A", "6291041500213 1", "０6291041500213"]
)
def test_malformed_gtins_are_refused(gtin: str) -> None:
    with pytest.raises(IdentifierError):
        parse_gtin(gtin)


def test_compute_gtin_check_refuses_bodies_of_no_gtin_length() -> None:
    with pytest.raises(IdentifierError, match="7, 11, 12 or 13"):
        compute_gtin_check("123")


# --- GS1 element strings --------------------------------------------------------------------------


def test_gs1_character_set_has_82_characters() -> None:
    assert len(set(GS1_X_CHARSET)) == len(GS1_X_CHARSET) == 82


@pytest.mark.parametrize(
    "text",
    [
        f"(01){GTIN}(17)251231(10)ABC(21)XYZ",
        f"(21)XYZ(10)ABC(17)251231(01){GTIN}",
        f"01{GTIN}17251231" + f"10ABC{GS}21XYZ",
        f"]d201{GTIN}17251231" + f"10ABC{GS}21XYZ",
        f"]C101{GTIN}21XYZ{GS}10ABC{GS}17251231",
        f"{GS}01{GTIN}{GS}17251231{GS}10ABC{GS}21XYZ",
    ],
)
def test_element_string_forms_parse_to_the_same_fields(text: str) -> None:
    parsed = parse_gs1_element_string(text)
    assert (parsed.gtin, parsed.expiry, parsed.batch, parsed.serial) == (
        GTIN,
        dt.date(2025, 12, 31),
        "ABC",
        "XYZ",
    )
    assert parsed.raw == text
    assert is_valid_gs1_element_string(text)


def test_trailing_separator_is_tolerated() -> None:
    assert parse_gs1_element_string(f"01{GTIN}10ABC{GS}").batch == "ABC"


def test_optional_ais_may_be_absent() -> None:
    parsed = parse_gs1_element_string(f"(01){GTIN}")
    assert (parsed.serial, parsed.batch, parsed.expiry) == (None, None, None)


def test_serial_may_use_the_whole_gs1_character_set() -> None:
    serial = "aZ9!\"%&'()*+,-./:;<=>?_"[:20]
    assert parse_gs1_element_string(f"01{GTIN}21{serial}").serial == serial


@pytest.mark.parametrize(
    ("yymmdd", "expiry"),
    [("240200", dt.date(2024, 2, 29)), ("250200", dt.date(2025, 2, 28)), ("251100", dt.date(2025, 11, 30))],
)
def test_expiry_day_00_is_the_last_day_of_the_month(yymmdd: str, expiry: dt.date) -> None:
    assert parse_gs1_element_string(f"(01){GTIN}(17){yymmdd}").expiry == expiry


def test_expiry_century_follows_the_gs1_sliding_window_when_today_is_given() -> None:
    today = dt.date(2026, 6, 1)
    assert parse_gs1_element_string(f"(01){GTIN}(17)760101", today=today).expiry == dt.date(2076, 1, 1)
    assert parse_gs1_element_string(f"(01){GTIN}(17)770101", today=today).expiry == dt.date(1977, 1, 1)
    assert parse_gs1_element_string(f"(01){GTIN}(17)990101").expiry == dt.date(2099, 1, 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("(01)06291041500214", "GTIN check digit should be '3', got '4'"),
        (f"(01){GTIN}(17)251331", "expiry month must be 01–12"),
        (f"(01){GTIN}(17)250230", "is not a real date"),
        (f"(01){GTIN}(17)2512", "must be 6 digits, got 4"),
        (f"(01){GTIN}(99)X", "'99' is not supported"),
        (f"(01){GTIN}(21)A(21)B", "(21) appears twice"),
        ("(21)XYZ", "has no GTIN (01)"),
        (f"01{GTIN}21" + "A" * 21, "missing GS separator"),
        (f"01{GTIN}21A B", "invalid character ' '"),
        (f"(01){GTIN}(21)", "must be 1–20 characters, got 0"),
        (f"01{GTIN}21A{GS}{GS}10B", "is not supported"),
        ("010629104150021", "must be 14 digits, got 13"),
        (f"X(01){GTIN}", "is not supported"),
        (f"(01){GTIN}(10)A{GS}B", "invalid character"),
        ("", "is empty"),
    ],
)
def test_malformed_element_strings_are_refused(text: str, message: str) -> None:
    with pytest.raises(IdentifierError) as info:
        parse_gs1_element_string(text)
    assert message in str(info.value)


# --- drug trace codes -----------------------------------------------------------------------------


def test_drug_trace_code_structure_is_parsed() -> None:
    parsed = parse_drug_trace_code(" 81234567890123456789 ")
    assert (parsed.code, parsed.product_code, parsed.serial_part) == (
        "81234567890123456789",
        "8123456",
        "7890123456789",
    )
    assert not parsed.is_special
    assert parse_drug_trace_code("89123456789012345678").is_special


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("8123456789012345678", "must be 20 digits, got 19"),
        ("812345678901234567890", "must be 20 digits, got 21"),
        ("8123456789012345678A", "invalid character 'A' at position 20"),
        ("71234567890123456789", "should start with '8', got '7'"),
    ],
)
def test_malformed_drug_trace_codes_are_refused(code: str, message: str) -> None:
    with pytest.raises(IdentifierError) as info:
        parse_drug_trace_code(code)
    assert message in str(info.value)


def test_leading_8_can_be_waived() -> None:
    assert not is_valid_drug_trace_code("71234567890123456789")
    assert is_valid_drug_trace_code("71234567890123456789", require_prefix=False)


def test_parse_drug_code_reads_both_kinds_into_one_shape() -> None:
    nmpa = parse_drug_code("81234567890123456789")
    assert (nmpa.kind, nmpa.product_key, nmpa.serial, nmpa.batch, nmpa.expiry) == (
        "nmpa",
        "8123456",
        "7890123456789",
        None,
        None,
    )
    gs1 = parse_drug_code(f"]d201{GTIN}17251200" + f"10L1{GS}21S1")
    assert (gs1.kind, gs1.product_key, gs1.serial, gs1.batch, gs1.expiry) == (
        "gs1",
        GTIN,
        "S1",
        "L1",
        dt.date(2025, 12, 31),
    )


def test_twenty_digits_starting_01_are_read_as_gs1() -> None:
    # 01 + GTIN-14 + 10 + 2-digit batch is also 20 digits; a leading 01 never starts a 码上放心 code.
    parsed = parse_drug_code(f"01{GTIN}1012")
    assert (parsed.kind, parsed.batch) == ("gs1", "12")


def test_parse_drug_code_refuses_garbage() -> None:
    for text in ["", "123", "71234567890123456789", "(01)06291041500214"]:
        with pytest.raises(IdentifierError):
            parse_drug_code(text)
