"""Property tests for identifier check characters: slow references, round trips, error detection."""

from __future__ import annotations

import datetime as dt
import random
import re

from hypothesis import given, settings, strategies as st

from sdk.errors import IdentifierError
from sdk.identifiers import (
    GS1_X_CHARSET,
    USCC_CHARSET,
    compute_gtin_check,
    compute_licence_check,
    compute_mod37_36_check,
    compute_org_code_check,
    compute_resident_id_check,
    compute_uscc_check,
    is_valid_uscc,
    make_licence_id,
    parse_gs1_element_string,
    parse_licence_id,
    parse_resident_id,
    parse_uscc,
)
from sdk.identifiers.checksums import RESIDENT_ID_WEIGHTS, USCC_WEIGHTS

DIGITS = "0123456789"
ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
NO_EXCEPTIONS: frozenset[str] = frozenset()


def _text(charset: str, size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=charset, min_size=size, max_size=size)


uscc_bodies = st.builds(
    lambda head, region, org: head + region + org,
    _text(USCC_CHARSET, 2),
    _text(DIGITS, 6),
    _text(USCC_CHARSET, 9),
)
birth_dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2025, 12, 31))
resident_bodies = st.builds(
    lambda region, born, seq: region + born.strftime("%Y%m%d") + seq,
    _text(DIGITS, 6),
    birth_dates,
    _text(DIGITS, 3),
)
gtin_bodies = st.sampled_from([7, 11, 12, 13]).flatmap(lambda n: _text(DIGITS, n))


# --- slow references, straight from the standards' "valid if the full sum is …" formulation -------------


def _reference_uscc_check(body: str) -> str:
    # GB 32100: the check character makes Σ value·weight (check weight 1) ≡ 0 mod 31.
    total = sum(USCC_CHARSET.index(c) * w for c, w in zip(body, USCC_WEIGHTS, strict=True))
    return next(c for c in USCC_CHARSET if (total + USCC_CHARSET.index(c)) % 31 == 0)


def _reference_mod11_2_check(body: str) -> str:
    # ISO 7064 MOD 11-2: Σ a_i·2^(n−i) + check ≡ 1 mod 11, X standing for 10.
    total = sum(int(c) * pow(2, 17 - i, 11) for i, c in enumerate(body))
    assert [pow(2, 17 - i, 11) for i in range(17)] == list(RESIDENT_ID_WEIGHTS)
    return next(c for c in "0123456789X" if (total + (10 if c == "X" else int(c))) % 11 == 1)


def _reference_mod37_36_valid(text: str) -> bool:
    # ISO 7064 hybrid MOD 37,36, validation form: run every character including the check through
    # P ← 2·(((P + a) mod 36) or 36) mod 37; the string is valid if the last (P + a) mod 36 is 1.
    p = 36
    for c in text[:-1]:
        p = (2 * (((p + ALNUM.index(c)) % 36) or 36)) % 37
    return (p + ALNUM.index(text[-1])) % 36 == 1


def _reference_gtin_valid(gtin: str) -> bool:
    return sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(reversed(gtin))) % 10 == 0


@given(uscc_bodies)
def test_uscc_check_matches_slow_reference(body: str) -> None:
    assert compute_uscc_check(body) == _reference_uscc_check(body)


@given(resident_bodies)
def test_resident_id_check_matches_slow_reference(body: str) -> None:
    assert compute_resident_id_check(body) == _reference_mod11_2_check(body)


@given(st.text(alphabet=ALNUM, min_size=1, max_size=80))
def test_mod37_36_check_matches_slow_reference(payload: str) -> None:
    check = compute_mod37_36_check(payload)
    assert _reference_mod37_36_valid(payload + check)
    assert [c for c in ALNUM if _reference_mod37_36_valid(payload + c)] == [check]


@given(gtin_bodies)
def test_gtin_check_matches_slow_reference(body: str) -> None:
    assert [d for d in DIGITS if _reference_gtin_valid(body + d)] == [compute_gtin_check(body)]


# --- round trips and single-substitution detection ------------------------------------------------------


@settings(max_examples=50)
@given(uscc_bodies)
def test_uscc_round_trips_and_detects_every_single_substitution(body: str) -> None:
    code = body + compute_uscc_check(body)
    assert parse_uscc(code, check_exceptions=NO_EXCEPTIONS).code == code
    # Weights are powers of 3 mod the prime 31, never 0, and values differ by < 31: always detected.
    for i, original in enumerate(code):
        charset = DIGITS if 2 <= i < 8 else USCC_CHARSET
        for other in charset.replace(original, ""):
            assert not is_valid_uscc(code[:i] + other + code[i + 1 :], check_exceptions=NO_EXCEPTIONS)


@settings(max_examples=50)
@given(resident_bodies)
def test_resident_id_round_trips_and_detects_every_single_substitution(body: str) -> None:
    number = body + compute_resident_id_check(body)
    assert parse_resident_id(number).number == number
    # MOD 11-2: weights 2^k mod 11 are never 0 and digits differ by < 11, so the check always changes.
    for i, original in enumerate(body):
        for other in DIGITS.replace(original, ""):
            changed = body[:i] + other + body[i + 1 :]
            assert compute_resident_id_check(changed) != number[17]


@given(resident_bodies, st.sampled_from("0123456789X"))
def test_resident_id_errors_never_carry_the_number_or_birth_date(body: str, check: str) -> None:
    number = body + check
    try:
        parse_resident_id(number, today=dt.date(2025, 12, 31))
    except IdentifierError as error:
        text = f"{error} {error.to_dict()!r}"
        assert number not in text
        assert body[6:14] not in text


@given(st.text(alphabet=ALNUM, min_size=1, max_size=60), st.data())
def test_mod37_36_detects_every_single_substitution(payload: str, data: st.DataObject) -> None:
    text = payload + compute_mod37_36_check(payload)
    i = data.draw(st.integers(0, len(text) - 1))
    other = data.draw(st.sampled_from(ALNUM.replace(text[i], "")))
    changed = text[:i] + other + text[i + 1 :]
    assert compute_mod37_36_check(changed[:-1]) != changed[-1]


@given(
    uscc_bodies,
    _text(DIGITS, 3),
    st.one_of(uscc_bodies.map(lambda b: b + compute_uscc_check(b)), _text(DIGITS, 6)),
    st.text(alphabet=ALNUM, min_size=1, max_size=32),
    st.integers(0, 999),
)
def test_make_licence_id_round_trips(body: str, seq: str, issuer: str, serial: str, version: int) -> None:
    type_code = body + compute_uscc_check(body) + seq
    identifier = make_licence_id(type_code, issuer, serial, version)
    parsed = parse_licence_id(identifier)
    assert (parsed.type_code, parsed.issuer_code, parsed.serial, parsed.version) == (
        type_code,
        issuer,
        serial,
        f"{version:03d}",
    )
    assert parsed.check == compute_licence_check(identifier.removeprefix("1.2.156.3005.2.")[:-2])


@given(gtin_bodies, st.data())
def test_gtin_detects_every_single_substitution(body: str, data: st.DataObject) -> None:
    # Weights 1 and 3 are both invertible mod 10, so a single changed digit always changes the sum.
    gtin = body + compute_gtin_check(body)
    i = data.draw(st.integers(0, len(gtin) - 1))
    other = data.draw(st.sampled_from(DIGITS.replace(gtin[i], "")))
    changed = gtin[:i] + other + gtin[i + 1 :]
    assert compute_gtin_check(changed[:-1]) != changed[-1]


@given(gtin_bodies, st.data())
def test_gtin_detects_adjacent_transpositions_except_digits_five_apart(
    body: str, data: st.DataObject
) -> None:
    # Not guaranteed: swapping neighbours a,b changes the sum by 2·(a−b), which is 0 mod 10 when |a−b| = 5.
    gtin = body + compute_gtin_check(body)
    i = data.draw(st.integers(0, len(gtin) - 2))
    swapped = gtin[:i] + gtin[i + 1] + gtin[i] + gtin[i + 2 :]
    detected = compute_gtin_check(swapped[:-1]) != swapped[-1]
    assert detected == (gtin[i] != gtin[i + 1] and abs(int(gtin[i]) - int(gtin[i + 1])) != 5)


@given(_text(ALNUM, 8), st.data())
def test_org_code_detects_single_digit_substitutions(body: str, data: st.DataObject) -> None:
    # GB 11714 is MOD 11 over values 0–35: only substitutions whose values differ by less than 11
    # (e.g. digit for digit) are guaranteed to be caught.
    i = data.draw(st.integers(0, 7))
    other = data.draw(st.sampled_from(ALNUM))
    if other != body[i] and abs(ALNUM.index(other) - ALNUM.index(body[i])) % 11 != 0:
        assert compute_org_code_check(body[:i] + other + body[i + 1 :]) != compute_org_code_check(body)


def test_org_code_misses_substitutions_eleven_values_apart() -> None:
    assert compute_org_code_check("00000000") == compute_org_code_check("B0000000")


# --- GS1 element strings --------------------------------------------------------------------------------

gs1_values = st.text(alphabet=GS1_X_CHARSET, min_size=1, max_size=20)


@given(
    _text(DIGITS, 13),
    st.one_of(st.none(), gs1_values),
    st.one_of(st.none(), gs1_values),
    st.one_of(st.none(), st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31))),
    st.randoms(use_true_random=False),
)
def test_gs1_raw_and_human_readable_forms_round_trip(
    body: str, serial: str | None, batch: str | None, expiry: dt.date | None, rnd: random.Random
) -> None:
    gtin = body + compute_gtin_check(body)
    fields = [("01", gtin)]
    fields += [("21", serial)] if serial is not None else []
    fields += [("10", batch)] if batch is not None else []
    fields += [("17", expiry.strftime("%y%m%d"))] if expiry is not None else []
    rnd.shuffle(fields)
    raw = "]d2" + "".join(ai + v + ("\x1d" if ai in ("10", "21") else "") for ai, v in fields)
    expected = (gtin, serial, batch, expiry)
    parsed = parse_gs1_element_string(raw)
    assert (parsed.gtin, parsed.serial, parsed.batch, parsed.expiry) == expected
    if not any(re.search(r"\(\d\d\)", v) for _, v in fields):  # otherwise the HRI form is ambiguous
        hri = "".join(f"({ai}){v}" for ai, v in fields)
        parsed = parse_gs1_element_string(hri)
        assert (parsed.gtin, parsed.serial, parsed.batch, parsed.expiry) == expected
