"""Unit tests for USCC and e-licence identifiers, plus the known-answer vectors of every identifier."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sdk.errors import IdentifierError, XinlianError
from sdk.identifiers import (
    LICENCE_ID_ROOT,
    USCC_CHARSET,
    USCC_CHECK_EXCEPTIONS,
    compute_licence_check,
    compute_uscc_check,
    is_valid_licence_id,
    is_valid_uscc,
    make_licence_id,
    parse_drug_trace_code,
    parse_gs1_element_string,
    parse_gtin,
    parse_licence_id,
    parse_resident_id,
    parse_uscc,
    validate_drug_trace_code,
    validate_gs1_element_string,
    validate_gtin,
    validate_licence_id,
    validate_resident_id,
    validate_uscc,
)

VECTORS = json.loads((Path(__file__).parents[2] / "vectors" / "identifiers.json").read_text("utf-8"))
VALIDATORS: dict[str, Callable[[str], Any]] = {
    "uscc": parse_uscc,
    "resident_id": parse_resident_id,
    "licence_id": parse_licence_id,
    "gtin": parse_gtin,
    "gs1": parse_gs1_element_string,
    "drug_trace_code": parse_drug_trace_code,
}
PUBLISHED_USCC = ["11100000000013338W", "91350200776049653A", "11430000006122244L", "11330105002500287C"]
PUBLISHED_LICENCE_IDS = [
    "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
    "1.2.156.3005.2.11100000000013338W009.11330105002500287C.2025052201.002.0",
]
ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _as_json(value: object) -> object:
    return value.isoformat() if isinstance(value, dt.date) else value


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: f"{c['kind']}:{c['value']!r}")
def test_known_answer_vectors(case: dict[str, Any]) -> None:
    validate = VALIDATORS[case["kind"]]
    if case["valid"]:
        parsed = dataclasses.asdict(validate(case["value"]))
        for name, expected in case["expect"].items():
            assert _as_json(parsed[name]) == expected, name
    else:
        with pytest.raises(IdentifierError) as info:
            validate(case["value"])
        assert case["error"] in str(info.value)


def test_vectors_cover_every_kind_and_every_published_example() -> None:
    assert {c["kind"] for c in VECTORS["cases"]} == set(VALIDATORS)
    values = {c["value"] for c in VECTORS["cases"] if c["valid"]}
    assert set(PUBLISHED_USCC + PUBLISHED_LICENCE_IDS) <= values


@pytest.mark.parametrize(
    ("validate", "good", "bad"),
    [
        (validate_uscc, "11100000000013338W", "11100000000013338X"),
        (validate_resident_id, "11010519491231002X", "110105194912310021"),
        (validate_licence_id, PUBLISHED_LICENCE_IDS[0], PUBLISHED_LICENCE_IDS[0][:-1] + "V"),
        (validate_gtin, "6291041500213", "6291041500214"),
        (validate_gs1_element_string, "(01)06291041500213", "(01)06291041500214"),
        (validate_drug_trace_code, "81234567890123456789", "8123456789012345678"),
    ],
)
def test_validate_functions_pass_good_values_and_raise_on_bad(
    validate: Callable[[str], None], good: str, bad: str
) -> None:
    validate(good)
    with pytest.raises(IdentifierError):
        validate(bad)


def test_identifier_error_is_a_value_error_in_the_xinlian_tree() -> None:
    with pytest.raises(IdentifierError) as info:
        parse_uscc("11100000000013338X")
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, XinlianError)
    assert info.value.to_dict()["code"] == "invalid_identifier"


# --- USCC -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", PUBLISHED_USCC)
def test_published_usccs_validate(code: str) -> None:
    parsed = parse_uscc(code)
    assert parsed.code == code
    assert not parsed.check_exception
    assert is_valid_uscc(code)


@pytest.mark.parametrize("code", PUBLISHED_USCC)
def test_every_wrong_uscc_check_char_is_refused_naming_the_expected_one(code: str) -> None:
    for wrong in USCC_CHARSET.replace(code[17], ""):
        with pytest.raises(IdentifierError) as info:
            parse_uscc(code[:17] + wrong)
        assert str(info.value) == f"USCC check character should be {code[17]!r}, got {wrong!r}"
        assert info.value.detail["expected"] == code[17]
        assert info.value.detail["got"] == wrong
        assert info.value.detail["field"] == "uscc"


@pytest.mark.parametrize("letter", "IOZSV")
def test_uscc_letters_outside_the_charset_are_refused(letter: str) -> None:
    with pytest.raises(IdentifierError, match=f"invalid character '{letter}' at position 9"):
        parse_uscc("91350200" + letter + "76049653A")


@pytest.mark.parametrize("code", ["", "91350200776049653", "91350200776049653AA", "9135 0200776049653A"])
def test_uscc_of_wrong_length_or_with_inner_space_is_refused(code: str) -> None:
    with pytest.raises(IdentifierError):
        parse_uscc(code)


def test_uscc_region_must_be_digits() -> None:
    body = "9135A200776049653"
    with pytest.raises(IdentifierError, match="USCC region code has an invalid character 'A' at position 5"):
        parse_uscc(body + compute_uscc_check(body))


def test_uscc_is_stripped_and_upper_cased() -> None:
    assert parse_uscc("\t91350200776049653a ").code == "91350200776049653A"


def test_uscc_refuses_non_ascii_before_case_folding() -> None:
    # 'ß'.upper() == 'SS' would change the length; full-width digits must not pass as digits either.
    for code in ["9135020077604965ßA", "９1350200776049653A"]:
        with pytest.raises(IdentifierError, match="non-ASCII"):
            parse_uscc(code)


def test_uscc_refuses_non_string_input() -> None:
    with pytest.raises(IdentifierError, match="must be a string"):
        parse_uscc(91350200776049653)  # type: ignore[arg-type]


def test_whitelisted_pilot_uscc_passes_and_is_flagged() -> None:
    assert "91350100M0001TGQXM" in USCC_CHECK_EXCEPTIONS
    parsed = parse_uscc("91350100M0001TGQXM")
    assert parsed.check_exception


def test_pilot_uscc_is_refused_without_the_whitelist() -> None:
    with pytest.raises(IdentifierError, match="should be '1', got 'M'"):
        parse_uscc("91350100M0001TGQXM", check_exceptions=frozenset())
    assert not is_valid_uscc("91350100M0001TGQXM", check_exceptions=frozenset())


def test_custom_whitelist_accepts_its_codes_only() -> None:
    assert parse_uscc("11100000000013338X", check_exceptions={"11100000000013338X"}).check_exception
    assert not is_valid_uscc("11100000000013338Y", check_exceptions={"11100000000013338X"})


def test_inner_org_code_check_is_reported_not_enforced_by_default() -> None:
    parsed = parse_uscc("913502007760496527")  # org code 776049652, should end in 3
    assert not parsed.org_code_valid
    with pytest.raises(IdentifierError, match="organisation code check character should be '3', got '2'"):
        parse_uscc("913502007760496527", require_org_code_check=True)


def test_compute_uscc_check_refuses_bad_bodies() -> None:
    with pytest.raises(IdentifierError):
        compute_uscc_check("1110000000001333")
    with pytest.raises(IdentifierError, match="invalid character 'I'"):
        compute_uscc_check("1110000000001333I")


# --- e-licence identifier -------------------------------------------------------------------------


@pytest.mark.parametrize("identifier", PUBLISHED_LICENCE_IDS)
def test_published_licence_ids_validate(identifier: str) -> None:
    parsed = parse_licence_id(identifier)
    assert parsed.identifier == identifier
    assert is_valid_licence_id(identifier)
    assert f"{LICENCE_ID_ROOT}.{parsed.type_code}.{parsed.issuer_code}.{parsed.serial}" in identifier


@pytest.mark.parametrize("identifier", PUBLISHED_LICENCE_IDS)
def test_every_wrong_licence_check_char_is_refused_naming_the_expected_one(identifier: str) -> None:
    body, check = identifier.rsplit(".", 1)
    for wrong in ALNUM.replace(check, ""):
        with pytest.raises(IdentifierError) as info:
            parse_licence_id(f"{body}.{wrong}")
        assert str(info.value) == f"e-licence identifier check character should be {check!r}, got {wrong!r}"


@pytest.mark.parametrize("identifier", PUBLISHED_LICENCE_IDS)
def test_make_licence_id_reproduces_published_examples(identifier: str) -> None:
    parsed = parse_licence_id(identifier)
    assert make_licence_id(parsed.type_code, parsed.issuer_code, parsed.serial, parsed.version) == identifier
    assert (
        make_licence_id(parsed.type_code, parsed.issuer_code, parsed.serial, int(parsed.version))
        == identifier
    )


def test_compute_licence_check_ignores_dots() -> None:
    assert compute_licence_check("11100000000013338W011.11430000006122244L.20230000403.001") == "U"
    assert compute_licence_check("11100000000013338W01111430000006122244L20230000403001") == "U"


def test_licence_id_is_normalised_to_upper_case() -> None:
    lower = PUBLISHED_LICENCE_IDS[0].lower()
    assert parse_licence_id(f" {lower} ").identifier == PUBLISHED_LICENCE_IDS[0]


def test_licence_id_with_region_issuer_is_accepted() -> None:
    identifier = make_licence_id("11100000000013338W011", "430000", "2024000001", 3)
    parsed = parse_licence_id(identifier)
    assert parsed.issuer_kind == "region"
    assert parsed.version == "003"


@pytest.mark.parametrize(
    ("identifier", "message"),
    [
        ("1.2.156.3005.3.11100000000013338W011.11430000006122244L.20230000403.001.U", "must start with"),
        ("1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.U", "5 segments"),
        (
            "1.2.156.3005.2.11100000000013338W11.11430000006122244L.20230000403.001.U",
            "type code segment must be 21",
        ),
        ("1.2.156.3005.2.11100000000013338W0A1.11430000006122244L.20230000403.001.U", "type code sequence"),
        ("1.2.156.3005.2.11100000000013338W011.1143000000612224.20230000403.001.U", "18 (USCC) or 6"),
        ("1.2.156.3005.2.11100000000013338W011.43000A.20230000403.001.U", "issuer region code"),
        ("1.2.156.3005.2.11100000000013338W011.11430000006122244L..001.U", "serial segment must be 1–32"),
        ("1.2.156.3005.2.11100000000013338W011.11430000006122244L." + "1" * 33 + ".001.U", "1–32"),
        ("1.2.156.3005.2.11100000000013338W011.11430000006122244L.2023_403.001.U", "invalid character '_'"),
        (
            "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.01.U",
            "version segment must be 3",
        ),
        (
            "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.UU",
            "check segment must be 1",
        ),
        (
            "1.2.156.3005.2.11100000000013338X011.11430000006122244L.20230000403.001.U",
            "defining authority USCC is invalid: USCC check character should be 'W', got 'X'",
        ),
    ],
)
def test_malformed_licence_ids_are_refused(identifier: str, message: str) -> None:
    with pytest.raises(IdentifierError, match=re.escape(message)):
        parse_licence_id(identifier)


def test_embedded_uscc_check_can_be_switched_off() -> None:
    identifier = make_licence_id(
        "11100000000013338X011", "11430000006122244M", "1", 1, check_embedded_uscc=False
    )
    assert parse_licence_id(identifier, check_embedded_uscc=False).defining_authority == "11100000000013338X"
    assert not is_valid_licence_id(identifier)


def test_make_licence_id_refuses_bad_parts() -> None:
    with pytest.raises(IdentifierError, match="version must be 0–999"):
        make_licence_id("11100000000013338W011", "430000", "1", 1000)
    with pytest.raises(IdentifierError, match=re.escape("must not contain '.'")):
        make_licence_id("11100000000013338W011", "430000", "1.2", 1)
    with pytest.raises(IdentifierError, match="serial segment must be 1–32"):
        make_licence_id("11100000000013338W011", "430000", "1" * 33, 1)
