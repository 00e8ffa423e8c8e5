"""Edge cases of the LicenceRegistry's word-wise identifier check, against the SDK's parser.

The contract reads each segment of an identifier as one 32-byte word and classifies its bytes all at once
(``_segment_values``): these cases aim at what such a check can get wrong — lengths at the edges (62, 63, 94,
95 bytes), a 32-character serial read up to the padding, characters just outside 0-9 and A-Z, bytes with the
high bit set (a byte that is "0" or "A" plus 0x80 classifies as a digit or a letter once the high bit is
forced), multi-byte UTF-8, dots where a segment or the check character should be. Where a character is
refused, the check character given is the one the contract's arithmetic would compute if it had let the
character through, so only the character check can refuse it. The contract must issue exactly what the SDK
accepts as already normalised.
"""

from __future__ import annotations

import pytest

from sdk.errors import IdentifierError
from sdk.identifiers import parse_licence_id
from tests.contracts.worlds.licences import CITY, CITY_ORG, TYPE_CODE, make_base

BASE = make_base()
ROOT = b"1.2.156.3005.2."
PREFIX = ROOT + f"{TYPE_CODE}.{CITY_ORG}.".encode()
ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _contract_value(c: int, as_letter: bool) -> int:
    """The MOD 37,36 value the contract's byte arithmetic gives byte ``c`` if its class check let it pass."""
    return (c - (55 if as_letter else 48)) & 255


def _would_be_check(body: bytes, as_letter: bool = False) -> bytes:
    """The check character the contract would accept for ``body`` (type, issuer, serial, version bytes,
    no dots) if every byte passed its class check: letters (A-Z) as letters, others as ``as_letter`` says."""
    p = 36
    for c in body:
        v = _contract_value(c, as_letter or 65 <= c <= 90)
        p = (((p + v + 35) % 36) + 1) * 2 % 37
    return ALNUM[(37 - p) % 36].encode()


def _identifier(
    serial: bytes, version: bytes = b"001", check: bytes | None = None, as_letter: bool = False
) -> bytes:
    if check is None:
        check = _would_be_check(f"{TYPE_CODE}{CITY_ORG}".encode() + serial + version, as_letter)
    return PREFIX + serial + b"." + version + b"." + check


def _sdk_accepts(raw: bytes) -> bool:
    try:
        identifier = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    try:
        parsed = parse_licence_id(identifier, check_embedded_uscc=False)
    except IdentifierError:
        return False
    return parsed.identifier == identifier  # the contract hashes the bytes it gets: no normalisation


def _issue(raw: bytes) -> tuple[bool, str | None]:
    """Issue ``raw`` (any bytes, not only UTF-8) as the identifier: the ABI string carries its bytes."""
    chain = BASE.fork()
    placeholder = bytes(b if b < 0x80 else 0x7E for b in raw).decode("ascii")
    args = chain.issue_args(placeholder)
    data = chain.contract().encode_call("issue", args)
    assert data.count(placeholder.encode()) == 1
    data = data.replace(placeholder.encode(), raw)
    receipt = chain.execute(CITY, chain.address, data)
    return receipt.status == 1, receipt.revert_reason


OUTSIDE = [b"/", b":", b"@", b"[", b"`", b"{", b"\x00", b"\x7f", b"\xff", b" ", b".", b"a", b"z", b"-"]
HIGH = [bytes([c | 0x80]) for c in b"09AZ."] + [
    b"\x80",
    b"\xc0\xae",
    "é".encode(),
    "中".encode(),
    "Ａ".encode(),
]

CASES: dict[str, bytes] = {}


def _case(name: str, raw: bytes) -> None:
    assert name not in CASES
    CASES[name] = raw


# Valid identifiers at the edges: serial lengths 1 (63 bytes), 2, 31, 32 (94 bytes); extreme characters.
for length in (1, 2, 16, 31, 32):
    for fill in "0Z9A":
        _case(f"valid serial {fill}*{length}", _identifier(fill.encode() * length))
_case("valid serial mixed 32", _identifier(b"0123456789ABCDEFGHIJKLMNOPQRSTUV"))
_case("valid serial mixed 32 tail", _identifier(b"WXYZ0123456789ABCDEFGHIJKLMNOPQR"))
for version in (b"000", b"999", b"090"):
    _case(f"valid version {version.decode()}", _identifier(b"A1", version))
# Serials whose check character is 0 and Z (the ends of the check alphabet), found by search.
for want in "0Z9A":
    found = next(
        s
        for i in range(2000)
        if _would_be_check(f"{TYPE_CODE}{CITY_ORG}S{i}001".encode()) == want.encode()
        for s in [f"S{i}".encode()]
    )
    _case(f"valid check {want}", _identifier(found))
    _case(f"valid check {want} 32", _identifier(found.ljust(32, b"0")))

# Every wrong check character on a short and on a full serial.
for serial in (b"7", b"Z" * 32):
    right = _identifier(serial)
    for ch in ALNUM:
        if ch.encode() != right[-1:]:
            _case(f"wrong check {ch} serial {len(serial)}", right[:-1] + ch.encode())

# Characters just outside the ranges (and bytes with the high bit set) in the serial: first, last, middle,
# and as the only character; in the version; as the check character; with the check the arithmetic expects.
for bad in OUTSIDE + HIGH:
    label = bad.hex()
    for as_letter in (False, True):
        kind = "letter" if as_letter else "digit"
        _case(f"serial only {label} as {kind}", _identifier(bad, as_letter=as_letter))
        _case(f"serial first {label} as {kind}", _identifier(bad + b"12", as_letter=as_letter))
        _case(f"serial last {label} as {kind}", _identifier(b"12" + bad, as_letter=as_letter))
        _case(
            f"serial 32 first {label} as {kind}",
            _identifier(bad + b"1" * (32 - len(bad)), as_letter=as_letter),
        )
        _case(
            f"serial 32 last {label} as {kind}",
            _identifier(b"1" * (32 - len(bad)) + bad, as_letter=as_letter),
        )
        if len(bad) == 1:
            _case(f"version {label} as {kind}", _identifier(b"12", b"0" + bad + b"1", as_letter=as_letter))
            _case(f"version first {label} as {kind}", _identifier(b"12", bad + b"01", as_letter=as_letter))
            _case(f"version last {label} as {kind}", _identifier(b"12", b"01" + bad, as_letter=as_letter))
    _case(f"check {label}", _identifier(b"12", check=bad))
    if len(bad) == 1 and bad != b".":
        for at in (36, 55):
            raw = bytearray(_identifier(b"12"))
            raw[at] = bad[0]
            _case(f"dot at {at} is {label}", bytes(raw))
        raw = _identifier(b"12")
        _case(f"version dot is {label}", raw[:-6] + bad + raw[-5:])
        _case(f"check dot is {label}", raw[:-2] + bad + raw[-1:])

# Lengths at the edges and misplaced segments.
good = _identifier(b"12345")
_case("62 bytes: empty serial", PREFIX + b".001." + _would_be_check(f"{TYPE_CODE}{CITY_ORG}001".encode()))
_case("95 bytes: 33-character serial", _identifier(b"1" * 33))
_case("94 bytes of which 2 é", _identifier(b"1" * 30 + "é".encode()))
_case("95 bytes: 31 characters and é", _identifier(b"1" * 31 + "é".encode()))
_case("dot where the check is", good[:-1] + b".")
_case("no check", good[:-1])
_case("two check characters", good + b"0")
_case("trailing NUL", good + b"\x00")
_case("trailing space", good + b" ")
_case("leading space", b" " + good[:-1])
_case("version 2 digits", _identifier(b"1234", b"01"))
_case("version 4 digits", _identifier(b"123", b"0001"))
_case("serial dot inside", _identifier(b"12.34"))
_case("serial dot inside, 32", _identifier(b"1" * 15 + b"." + b"1" * 16))
_case(
    "version and serial swapped",
    PREFIX + b"001.12345." + _would_be_check(f"{TYPE_CODE}{CITY_ORG}00112345".encode()),
)
_case("lower-case serial", _identifier(b"abc", as_letter=True))
_case("lower-case issuer", PREFIX.replace(CITY_ORG.encode(), CITY_ORG.lower().encode()) + good[len(PREFIX) :])
_case("six segments", _identifier(b"12") + b".0")
_case("extra dot before check", good[:-1] + b"." + good[-1:])
_case("extra dot before version", good[:-6] + b"." + good[-6:])


@pytest.mark.parametrize("raw", list(CASES.values()), ids=list(CASES))
def test_the_contract_issues_an_edge_case_exactly_when_the_sdk_accepts_it(raw: bytes) -> None:
    issued, reason = _issue(raw)
    assert issued == _sdk_accepts(raw), (raw, reason)


def test_the_edge_cases_include_valid_identifiers() -> None:
    """Both directions are tested: a check that refused everything would fail the valid cases above."""
    assert sum(_sdk_accepts(raw) for raw in CASES.values()) >= 30


def _substituted(raw: bytes, at: int, byte: int) -> list[bytes]:
    """``raw`` with ``byte`` at ``at`` and each check character the contract's arithmetic could expect."""
    changed = bytearray(raw)
    changed[at] = byte
    body = bytes(changed[len(ROOT) : -2]).replace(b".", b"")
    if at == len(raw) - 1:
        return [bytes(changed)]
    return [bytes(changed[:-1]) + _would_be_check(body, as_letter) for as_letter in (False, True)]


#: A 94-byte (32-character serial) and a 63-byte (1-character serial) identifier: the type and issuer dots,
#: the serial's first and last bytes, the version dot, the version's digits, the check dot and the
#: check character.
SWEPT = [
    (_identifier(b"Z9" * 16), (36, 55, 56, 87, 88, 89, 91, 92, 93)),
    (_identifier(b"A"), (56, 57, 59, 61, 62)),
]


@pytest.mark.slow
@pytest.mark.parametrize("byte", range(256), ids=lambda b: f"{b:02x}")
def test_every_byte_at_every_checked_position_is_issued_exactly_when_the_sdk_accepts_it(byte: int) -> None:
    for raw, positions in SWEPT:
        for at in positions:
            for candidate in _substituted(raw, at, byte):
                issued, reason = _issue(candidate)
                assert issued == _sdk_accepts(candidate), (candidate, reason)
