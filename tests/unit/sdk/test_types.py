"""Unit tests of the wire types: encodings, preimages, hashes, field checks, signatures and certificates."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from sdk.crypto import PrivateKey, address_from_public_key, sm3
from sdk.encoding import decode, encode, encode_bytes, encode_int, encode_list
from sdk.errors import CertificateError, EncodingError, InvalidSignatureError
from sdk.proofs.certificate import compute_quorum, verify_certificate
from sdk.proofs.merkle import EMPTY_ROOT, compute_root
from sdk.types import (
    COMMIT_TAG,
    TX_TAG,
    VALIDATORS_TAG,
    Block,
    BlockHeader,
    CommitCertificate,
    Log,
    Receipt,
    Seal,
    Transaction,
    commit_preimage,
    compute_receipt_root,
    compute_tx_root,
    compute_validators_hash,
    sort_validators,
)

KEYS = [PrivateKey.from_hex(f"{i:02x}" * 32) for i in range(1, 8)]
PUBS = [k.public_key.to_bytes() for k in KEYS]
H = bytes(range(32))


def make_tx(**over: object) -> Transaction:
    fields: dict[str, object] = {
        "chain_id": 7,
        "nonce": b"\x05" * 16,
        "expiry_height": 100,
        "to": b"\x11" * 20,
        "data": b"\xde\xad",
        "gas_limit": 21000,
        "public_key": PUBS[0],
        "signature": b"\x01" * 64,
    }
    fields.update(over)
    return Transaction(**fields)  # type: ignore[arg-type]


def make_header(**over: object) -> BlockHeader:
    fields: dict[str, object] = {
        "version": 1,
        "chain_id": 7,
        "height": 5,
        "parent_hash": H,
        "timestamp_ms": 1_700_000_000_000,
        "round": 0,
        "proposer_index": 1,
        "tx_root": EMPTY_ROOT,
        "receipt_root": EMPTY_ROOT,
        "state_root": b"\x22" * 32,
        "history_root": b"\x33" * 32,
        "validators_hash": b"\x44" * 32,
        "next_validators_hash": b"\x44" * 32,
        "gas_used": 0,
    }
    fields.update(over)
    return BlockHeader(**fields)  # type: ignore[arg-type]


# --- transactions ------------------------------------------------------------------------------------
def test_transaction_encoding_is_rlp_of_its_fields_in_order() -> None:
    tx = make_tx()
    expected = encode([7, b"\x05" * 16, 100, b"\x11" * 20, b"\xde\xad", 21000, PUBS[0], b"\x01" * 64])
    assert tx.encode() == expected
    assert Transaction.decode(expected) == tx


def test_transaction_preimage_and_hash() -> None:
    tx = make_tx()
    pre = encode([TX_TAG, 7, b"\x05" * 16, 100, b"\x11" * 20, b"\xde\xad", 21000, PUBS[0]])
    assert tx.signing_preimage() == pre
    assert tx.tx_hash == sm3(pre)
    assert Transaction.decode(tx.encode()).signing_preimage() == pre
    # the signature is not part of the identity
    assert make_tx(signature=b"\x02" * 64).tx_hash == tx.tx_hash


def test_long_data_preimage_uses_long_list_header() -> None:
    tx = make_tx(data=b"\x00" * 5000)
    assert tx.signing_preimage() == encode(
        [TX_TAG, 7, b"\x05" * 16, 100, b"\x11" * 20, b"\x00" * 5000, 21000, PUBS[0]]
    )


def test_sender_is_address_of_public_key() -> None:
    assert make_tx().sender == address_from_public_key(PUBS[0]) == KEYS[0].public_key.address


def test_created_transaction_verifies_and_tampering_is_refused() -> None:
    tx = Transaction.create(
        KEYS[0], chain_id=7, to=b"\x11" * 20, data=b"call", gas_limit=50_000, expiry_height=9
    )
    assert len(tx.nonce) == 16 and tx.public_key == PUBS[0]
    tx.verify_signature()
    Transaction.decode(tx.encode()).verify_signature()
    bad_sig = bytes([tx.signature[0] ^ 1]) + tx.signature[1:]
    for bad in (
        dataclasses.replace(tx, signature=bad_sig),
        dataclasses.replace(tx, data=b"calm"),
        dataclasses.replace(tx, chain_id=8),
        dataclasses.replace(tx, public_key=PUBS[1]),
    ):
        with pytest.raises(InvalidSignatureError):
            bad.verify_signature()


def test_transaction_with_off_curve_key_is_refused_as_bad_signature() -> None:
    with pytest.raises(InvalidSignatureError, match="not a valid SM2 key"):
        make_tx(public_key=b"\x01" * 64).verify_signature()


def test_two_created_transactions_get_different_nonces() -> None:
    kw = {"chain_id": 1, "to": b"\x00" * 20, "data": b"", "gas_limit": 1, "expiry_height": 1}
    assert Transaction.create(KEYS[0], **kw).nonce != Transaction.create(KEYS[0], **kw).nonce  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("to", b"\x11" * 19, "to must be 20 bytes"),
        ("nonce", b"\x00" * 15, "nonce must be 16 bytes"),
        ("public_key", b"\x00" * 65, "public_key must be 64 bytes"),
        ("signature", b"\x00" * 63, "signature must be 64 bytes"),
        ("chain_id", -1, "chain_id = -1 is outside"),
        ("gas_limit", 1 << 64, "gas_limit"),
        ("expiry_height", True, "must be an int"),
        ("data", bytearray(b"x"), "data must be bytes"),
        ("data", "text", "data must be bytes"),
    ],
)
def test_malformed_transaction_fields_are_refused(field: str, value: object, match: str) -> None:
    with pytest.raises(EncodingError, match=match):
        make_tx(**{field: value})


def test_cached_values_do_not_affect_equality_repr_or_pickling() -> None:
    a, b = make_tx(), make_tx()
    _ = a.tx_hash, a.sender, a.encode()
    assert a == b and hash(a) == hash(b) and repr(a) == repr(b)
    assert [f.name for f in dataclasses.fields(a)] == [
        "chain_id",
        "nonce",
        "expiry_height",
        "to",
        "data",
        "gas_limit",
        "public_key",
        "signature",
    ]
    c = pickle.loads(pickle.dumps(a))
    assert c == a and c.tx_hash == a.tx_hash
    d = dataclasses.replace(a, gas_limit=1)
    assert d.encode() != a.encode() and d.tx_hash != a.tx_hash


# --- malformed encodings -----------------------------------------------------------------------------
def _tx_items() -> list[object]:
    return [7, b"\x05" * 16, 100, b"\x11" * 20, b"\xde\xad", 21000, PUBS[0], b"\x01" * 64]


def _tx_malformed() -> list[tuple[str, bytes]]:
    good = make_tx().encode()
    assert good[0] == 0xF8  # one length byte follows
    items = _tx_items()
    body = b"".join(encode(x) for x in items)  # type: ignore[arg-type]
    cases = [
        ("truncated", good[:-1]),
        ("truncated header", good[:1]),
        ("empty", b""),
        ("trailing byte", good + b"\x00"),
        ("two items", good + good),
        ("seven fields", encode(items[:7])),  # type: ignore[arg-type]
        ("nine fields", encode([*items, b""])),  # type: ignore[arg-type]
        ("a string", encode_bytes(good)),
        ("oversize to", encode([*items[:3], b"\x11" * 21, *items[4:]])),  # type: ignore[arg-type]
        ("undersize signature", encode([*items[:7], b"\x01" * 63])),  # type: ignore[arg-type]
        ("list as field", encode([*items[:4], [b"x"], *items[5:]])),  # type: ignore[arg-type]
        ("int with leading zero", encode([b"\x00\x07", *items[1:]])),  # type: ignore[arg-type]
        ("zero as 0x00", encode([b"\x00", *items[1:]])),  # type: ignore[arg-type]
        ("int over 64 bits", encode([1 << 64, *items[1:]])),  # type: ignore[arg-type]
        (
            "long list header for short list",
            b"\xf8" + bytes([len(body)]) + body if len(body) < 56 else b"\xf8",
        ),
        ("length with leading zero", b"\xfa\x00" + len(body).to_bytes(2, "big") + body),
        (
            "single byte with header",
            encode_list([b"\x81\x07", *(encode(x) for x in items[1:])]),  # type: ignore[arg-type]
        ),
        (
            "short string in long form",
            encode_list([encode(7), b"\xb8\x10" + b"\x05" * 16, *(encode(x) for x in items[2:])]),  # type: ignore[arg-type]
        ),
        ("list length one too long", good[:1] + bytes([good[1] + 1]) + good[2:]),
        ("list length one too short", good[:1] + bytes([good[1] - 1]) + good[2:]),
    ]
    return cases


@pytest.mark.parametrize(("label", "data"), _tx_malformed(), ids=[c[0] for c in _tx_malformed()])
def test_malformed_transaction_encoding_is_refused(label: str, data: bytes) -> None:
    with pytest.raises(EncodingError):
        Transaction.decode(data)


def test_decoding_refuses_non_bytes_and_deep_nesting() -> None:
    with pytest.raises(EncodingError, match="bytes"):
        Transaction.decode(bytearray(make_tx().encode()))  # type: ignore[arg-type]
    deep = b"\xc0"
    for _ in range(40):
        deep = encode_list([deep])
    with pytest.raises(EncodingError, match="deeper"):
        decode(deep)


# --- headers, blocks ---------------------------------------------------------------------------------
def test_header_round_trip_and_block_hash() -> None:
    h = make_header()
    assert BlockHeader.decode(h.encode()) == h
    assert h.block_hash == sm3(h.encode())
    assert make_header(round=1).block_hash != h.block_hash


@pytest.mark.parametrize(
    "field", ["parent_hash", "tx_root", "receipt_root", "state_root", "history_root", "validators_hash"]
)
def test_header_hash_fields_must_be_32_bytes(field: str) -> None:
    with pytest.raises(EncodingError, match=f"{field} must be 32 bytes"):
        make_header(**{field: b"\x00" * 31})


def test_header_wrong_arity_is_refused() -> None:
    items = decode(make_header().encode())
    assert isinstance(items, list)
    with pytest.raises(EncodingError, match="14 fields"):
        BlockHeader.decode(encode(items[:13]))


def test_block_round_trip_with_transactions_and_validator_set() -> None:
    txs = tuple(make_tx(nonce=bytes([i]) * 16) for i in range(3))
    keys = tuple(sort_validators(PUBS[:4]))
    header = make_header(tx_root=compute_tx_root(txs))
    block = Block(header, txs, keys)
    data = block.encode()
    assert data == encode_list([header.encode(), encode_list(t.encode() for t in txs), encode(list(keys))])
    again = Block.decode(data)
    assert again == block and again.encode() == data
    assert compute_tx_root(again.transactions) == header.tx_root == compute_root([t.encode() for t in txs])
    with pytest.raises(EncodingError):
        Block.decode(data + b"\x00")
    with pytest.raises(EncodingError, match="3 fields"):
        Block.decode(encode_list([header.encode(), encode_list([])]))


def test_block_validator_set_must_be_sorted_and_unique() -> None:
    keys = sort_validators(PUBS[:3])
    with pytest.raises(EncodingError, match="sorted by address"):
        Block(make_header(), (), (keys[1], keys[0], keys[2]))
    with pytest.raises(EncodingError, match="sorted by address"):
        Block(make_header(), (), (keys[0], keys[0]))
    with pytest.raises(EncodingError, match="twice"):
        sort_validators([PUBS[0], PUBS[0]])


def test_validators_hash_and_sort_order() -> None:
    keys = sort_validators(list(reversed(PUBS)))
    assert [address_from_public_key(k) for k in keys] == sorted(address_from_public_key(k) for k in PUBS)
    assert compute_validators_hash(keys) == sm3(encode([VALIDATORS_TAG, list(keys)]))
    with pytest.raises(EncodingError):
        compute_validators_hash([b"\x00" * 63])


# --- receipts ----------------------------------------------------------------------------------------
def test_receipt_round_trip_and_root() -> None:
    log = Log(b"\x0a" * 20, (H, b"\x01" * 32), b"payload")
    ok = Receipt(H, 1, 30_000, (log,), b"")
    reverted = Receipt(b"\x02" * 32, 0, 5, (), b"not allowed")
    assert ok.encode() == encode([H, 1, 30_000, [[b"\x0a" * 20, [H, b"\x01" * 32], b"payload"]], b""])
    assert Receipt.decode(ok.encode()) == ok and Receipt.decode(reverted.encode()) == reverted
    assert Log.decode(log.encode()) == log
    assert compute_receipt_root([ok, reverted]) == compute_root([ok.encode(), reverted.encode()])


def test_malformed_receipts_are_refused() -> None:
    with pytest.raises(EncodingError, match="status"):
        Receipt(H, 2, 0, (), b"")
    with pytest.raises(EncodingError, match="empty when status is 1"):
        Receipt(H, 1, 0, (), b"why")
    with pytest.raises(EncodingError, match="at most 4"):
        Log(b"\x00" * 20, (H,) * 5, b"")
    with pytest.raises(EncodingError, match="32 bytes"):
        Log(b"\x00" * 20, (H[:31],), b"")
    with pytest.raises(EncodingError, match="address must be 20 bytes"):
        Receipt.decode(encode([H, 1, 0, [[b"\x00" * 21, [], b""]], b""]))
    with pytest.raises(EncodingError, match="list"):
        Receipt.decode(encode([H, 1, 0, b"", b""]))


def test_list_fields_are_frozen_to_tuples() -> None:
    log = Log(b"\x00" * 20, [H], b"")  # type: ignore[arg-type]
    assert log.topics == (H,)
    hash(log)


# --- commit certificates -----------------------------------------------------------------------------
def sealed(header: BlockHeader, signers: list[int], keys: list[PrivateKey], **over: int) -> CommitCertificate:
    height = over.get("height", header.height)
    rnd = over.get("round", header.round)
    pre = commit_preimage(header.chain_id, height, rnd, header.block_hash)
    return CommitCertificate(
        height, rnd, header.block_hash, tuple(Seal(i, keys[i].sign(pre)) for i in signers)
    )


def test_commit_preimage_layout() -> None:
    assert commit_preimage(7, 5, 2, H) == encode([COMMIT_TAG, 7, 5, 2, H])


def test_quorum_is_ceil_two_thirds() -> None:
    assert [compute_quorum(n) for n in (1, 2, 3, 4, 5, 6, 7, 10, 100)] == [1, 2, 2, 3, 4, 4, 5, 7, 67]


def test_certificate_round_trip_and_verification() -> None:
    header = make_header()
    cert = sealed(header, [0, 2, 3], KEYS)
    assert CommitCertificate.decode(cert.encode()) == cert
    assert cert.encode() == encode(
        [5, 0, header.block_hash, [[s.validator_index, s.signature] for s in cert.seals]]
    )
    verify_certificate(cert, header, PUBS[:4])
    verify_certificate(sealed(header, [0], KEYS), header, PUBS[:1])  # n = 1 is the same path


def test_certificate_with_too_few_signers_is_refused() -> None:
    header = make_header()
    with pytest.raises(CertificateError, match="2 distinct validators, quorum of 4 is 3"):
        verify_certificate(sealed(header, [0, 1], KEYS), header, PUBS[:4])


def test_certificate_with_duplicate_or_unsorted_index_cannot_be_built_or_decoded() -> None:
    header = make_header()
    pre = commit_preimage(7, 5, 0, header.block_hash)
    s0, s0b = Seal(0, KEYS[0].sign(pre)), Seal(0, KEYS[0].sign(pre))  # randomised: two distinct signatures
    assert s0 != s0b
    with pytest.raises(EncodingError, match="without duplicates"):
        CommitCertificate(5, 0, header.block_hash, (s0, s0b))
    s1 = Seal(1, KEYS[1].sign(pre))
    with pytest.raises(EncodingError, match="sorted"):
        CommitCertificate(5, 0, header.block_hash, (s1, s0))
    raw = encode([5, 0, header.block_hash, [[0, s0.signature], [0, s0b.signature], [1, s1.signature]]])
    with pytest.raises(EncodingError, match="without duplicates"):
        CommitCertificate.decode(raw)


def test_certificate_with_non_validator_index_is_refused() -> None:
    header = make_header()
    with pytest.raises(CertificateError, match="index 4, but the set has 4"):
        verify_certificate(sealed(header, [0, 1, 2, 4], KEYS), header, PUBS[:4])


def test_certificate_seal_over_another_round_is_refused() -> None:
    header = make_header(round=1)
    good = sealed(header, [0, 1, 2], KEYS)
    verify_certificate(good, header, PUBS[:4])
    # seals signed for round 0, relabelled as round 1
    other = sealed(header, [0, 1, 2], KEYS, round=0)
    relabelled = CommitCertificate(header.height, 1, header.block_hash, other.seals)
    with pytest.raises(CertificateError, match="does not verify"):
        verify_certificate(relabelled, header, PUBS[:4])
    with pytest.raises(CertificateError, match="round 0"):
        verify_certificate(other, header, PUBS[:4])


def test_certificate_for_another_block_height_or_chain_is_refused() -> None:
    header = make_header()
    cert = sealed(header, [0, 1, 2], KEYS)
    with pytest.raises(CertificateError, match="another block"):
        verify_certificate(cert, make_header(gas_used=1), PUBS[:4])
    with pytest.raises(CertificateError, match="height"):
        verify_certificate(sealed(header, [0, 1, 2], KEYS, height=6), header, PUBS[:4])
    # same block fields but another chain id: the seals do not verify
    other_chain = make_header(chain_id=8)
    forged = CommitCertificate(5, 0, other_chain.block_hash, cert.seals)
    with pytest.raises(CertificateError, match="does not verify"):
        verify_certificate(forged, other_chain, PUBS[:4])


def test_certificate_with_tampered_or_foreign_seal_is_refused() -> None:
    header = make_header()
    cert = sealed(header, [0, 1, 2], KEYS)
    sig = cert.seals[1].signature
    tampered = (cert.seals[0], Seal(1, bytes([sig[0] ^ 1]) + sig[1:]), cert.seals[2])
    with pytest.raises(CertificateError, match="validator 1 does not verify"):
        verify_certificate(CommitCertificate(5, 0, header.block_hash, tampered), header, PUBS[:4])
    # a seal made by a key outside the set, placed at a member's index
    outsider = sealed(header, [0, 1, 2], [KEYS[0], KEYS[6], KEYS[2]])
    with pytest.raises(CertificateError, match="validator 1 does not verify"):
        verify_certificate(outsider, header, PUBS[:4])


def test_certificate_against_set_with_repeated_key_is_refused() -> None:
    header = make_header()
    cert = sealed(header, [0, 1, 2], [KEYS[0], KEYS[0], KEYS[0]])
    with pytest.raises(CertificateError, match="same public key twice"):
        verify_certificate(cert, header, [PUBS[0], PUBS[0], PUBS[0], PUBS[1]])
    with pytest.raises(CertificateError, match="empty"):
        verify_certificate(cert, header, [])


def test_encode_helpers_match_rlp_package() -> None:
    import rlp

    for value in (0, 1, 127, 128, 255, 256, 1 << 63):
        assert encode_int(value) == rlp.encode(value)
    for b in (b"", b"\x00", b"\x7f", b"\x80", b"x" * 55, b"x" * 56, b"x" * 70000):
        assert encode_bytes(b) == rlp.encode(b)
