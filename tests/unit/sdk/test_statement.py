"""Licence status statements (sdk.proofs.statement) against hostile input: bounds on every field, the trust
anchor's validator set at the statement's height, and the encoder refusing what the decoder would refuse."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sdk.crypto import PrivateKey, sm3
from sdk.encoding import decode, encode
from sdk.errors import ChainError, FormatError, LicenceIdentifierError, SignatureError
from sdk.identifiers import make_licence_id
from sdk.proofs.statement import (
    MAX_STATEMENT_BYTES,
    LicenceStatement,
    StatementFacts,
    load_statement,
    verify_statement,
)
from sdk.proofs.trust import Checkpoint, Genesis
from sdk.types import BlockHeader, compute_validators_hash, sort_validators

CHAIN_ID = 4242
NOW_MS = 1_767_225_600_000


def _keys(n: int) -> list[PrivateKey]:
    keys = {k.public_key.to_bytes(): k for k in (PrivateKey.generate() for _ in range(n))}
    return [keys[p] for p in sort_validators(list(keys))]


def _facts(**over: object) -> StatementFacts:
    facts = StatementFacts(
        chain_id=CHAIN_ID,
        identifier=make_licence_id(
            "11100000000013338W032", "91110000MA01ABCDE0", "A1", 1, check_embedded_uscc=False
        ),
        holder_commitment=sm3(b"holder"),
        document_hash=sm3(b"document"),
        valid_from=1_735_689_600,
        valid_until=0,
        jurisdiction="110105",
        status_code=1,
        height=100,
        block_time_s=NOW_MS // 1000 - 60,
        block_hash=sm3(b"block 100"),
    )
    return replace(facts, **over)  # type: ignore[arg-type]


def _seal(facts: StatementFacts, keys: list[PrivateKey], signers: list[int]) -> LicenceStatement:
    return LicenceStatement(facts, tuple((i, keys[i].sign(facts.preimage())) for i in signers))


def _genesis(keys: list[PrivateKey]) -> Genesis:
    return Genesis(CHAIN_ID, sm3(b"genesis"), tuple(k.public_key.to_bytes() for k in keys))


def _checkpoint(keys: list[PrivateKey], height: int, *, hands_over: bool = False) -> Checkpoint:
    vhash = compute_validators_hash([k.public_key.to_bytes() for k in keys])
    header = BlockHeader(
        1, CHAIN_ID, height, bytes(32), NOW_MS, 0, 0, *(sm3(bytes([i])) for i in range(4)), vhash,
        sm3(b"another set") if hands_over else vhash, 0,
    )  # fmt: skip
    return Checkpoint(header, tuple(k.public_key.to_bytes() for k in keys), None)


def test_valid_statement_round_trips_and_verifies() -> None:
    keys = _keys(4)
    st = _seal(_facts(), keys, [0, 2, 3])
    assert load_statement(st.to_qr_bytes()) == st == load_statement(st.to_qr_text())
    verified = verify_statement(st, _genesis(keys), now_ms=NOW_MS)
    assert verified.sealed_by == (0, 2, 3) and verified.status == "VALID" and not verified.stale
    assert verify_statement(st, _genesis(keys), now_ms=NOW_MS + 2 * 86_400_000).stale


def test_oversized_and_malformed_payloads_are_format_errors() -> None:
    keys = _keys(1)
    good = _seal(_facts(), keys, [0]).encode()
    with pytest.raises(FormatError, match="at most"):
        LicenceStatement.decode(b"\xc0" * (MAX_STATEMENT_BYTES + 1))
    top = decode(good)
    assert isinstance(top, list) and isinstance(top[4], list)
    for bad_bitmap in (1 << 256, 0b11):  # a validator index beyond 255; two bits with one signature
        top[4][0] = bad_bitmap.to_bytes((bad_bitmap.bit_length() + 7) // 8, "big")
        with pytest.raises(FormatError):
            LicenceStatement.decode(encode(top))
    with pytest.raises(FormatError, match="XLS1"):
        load_statement(b"XL1:" + good)
    with pytest.raises(FormatError, match="base45"):
        load_statement("XLS1:not base45 ~~")
    for field, value in (("identifier", "1.2.156.3005.2.\x00"), ("jurisdiction", "x" * 200)):
        record = decode(good)
        assert isinstance(record, list) and isinstance(record[2], list)
        record[2][0 if field == "identifier" else 5] = value.removeprefix("1.2.156.3005.2.").encode()
        with pytest.raises(FormatError):
            LicenceStatement.decode(encode(record))


def test_encoder_refuses_what_the_decoder_refuses() -> None:
    keys = _keys(2)
    st = _seal(_facts(), keys, [0, 1])
    with pytest.raises(FormatError):
        LicenceStatement(st.facts, (st.seals[1], st.seals[0])).encode()  # out of order
    with pytest.raises(FormatError):
        LicenceStatement(st.facts, ((0, b"short"),)).encode()
    with pytest.raises(FormatError):
        LicenceStatement(replace(st.facts, identifier="2.1." + st.facts.identifier), st.seals).encode()


def test_identifier_with_a_wrong_check_character_is_refused_before_any_signature() -> None:
    keys = _keys(1)
    facts = _facts()
    wrong = facts.identifier[:-1] + ("0" if facts.identifier[-1] != "0" else "1")
    st = LicenceStatement(replace(facts, identifier=wrong), ((0, bytes(64)),))
    with pytest.raises(LicenceIdentifierError):
        verify_statement(st, _genesis(keys), now_ms=NOW_MS)


def test_the_trust_anchor_must_name_the_set_at_the_statements_height() -> None:
    keys = _keys(4)
    st = _seal(_facts(height=100), keys, [0, 1, 2])
    assert verify_statement(st, _checkpoint(keys, 50), now_ms=NOW_MS).height == 100
    with pytest.raises(ChainError, match="below the trusted checkpoint"):
        verify_statement(st, _checkpoint(keys, 150), now_ms=NOW_MS)
    with pytest.raises(ChainError, match="hands over"):
        verify_statement(st, _checkpoint(keys, 50, hands_over=True), now_ms=NOW_MS)
    with pytest.raises(ChainError, match="another block"):
        verify_statement(st, _checkpoint(keys, 100), now_ms=NOW_MS)  # the checkpoint's block hash differs
    with pytest.raises(SignatureError):  # a set the statement was not signed by
        verify_statement(st, _genesis(_keys(4)), now_ms=NOW_MS)


def test_card_qr_prefers_level_m_only_while_it_stays_at_version_15() -> None:
    """Level M while the card stays at version 15 or below, level L once M would need version 16."""
    import segno

    from sdk.proofs.qr import statement_qr_version

    assert statement_qr_version(b"XLS1:" + bytes(387)) == 15  # level M holds 412 bytes at version 15
    fits_l_only = b"XLS1:" + bytes(450)
    assert statement_qr_version(fits_l_only) == 14 == segno.make(fits_l_only, error="l", mode="byte").version
