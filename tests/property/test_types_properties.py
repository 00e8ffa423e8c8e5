"""Property tests of the wire encoding: round-trips of every type; the lean RLP codec agrees with ``rlp``."""

from __future__ import annotations

import rlp
from hypothesis import HealthCheck, given, settings, strategies as st

from sdk.encoding import Item, decode, encode
from sdk.errors import EncodingError
from sdk.types import Block, BlockHeader, CommitCertificate, Log, Receipt, Seal, Transaction

SETTINGS = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])

uint = st.integers(0, (1 << 64) - 1)
h32 = st.binary(min_size=32, max_size=32)
blob = st.binary(max_size=300)

transactions = st.builds(
    Transaction,
    chain_id=uint,
    nonce=st.binary(min_size=16, max_size=16),
    expiry_height=uint,
    to=st.binary(min_size=20, max_size=20),
    data=blob,
    gas_limit=uint,
    public_key=st.binary(min_size=64, max_size=64),
    signature=st.binary(min_size=64, max_size=64),
)
headers = st.builds(
    BlockHeader,
    version=uint,
    chain_id=uint,
    height=uint,
    parent_hash=h32,
    timestamp_ms=uint,
    round=uint,
    proposer_index=uint,
    tx_root=h32,
    receipt_root=h32,
    state_root=h32,
    history_root=h32,
    validators_hash=h32,
    next_validators_hash=h32,
    gas_used=uint,
)
logs = st.builds(
    Log, address=st.binary(min_size=20, max_size=20), topics=st.lists(h32, max_size=4).map(tuple), data=blob
)
receipts = st.one_of(
    st.builds(
        Receipt,
        tx_hash=h32,
        status=st.just(1),
        gas_used=uint,
        logs=st.lists(logs, max_size=3).map(tuple),
        revert_reason=st.just(b""),
    ),
    st.builds(
        Receipt,
        tx_hash=h32,
        status=st.just(0),
        gas_used=uint,
        logs=st.lists(logs, max_size=3).map(tuple),
        revert_reason=blob,
    ),
)
certificates = st.builds(
    CommitCertificate,
    height=uint,
    round=uint,
    block_hash=h32,
    seals=st.lists(st.integers(0, 300), unique=True, max_size=8).flatmap(
        lambda idx: st.tuples(
            *(st.builds(Seal, st.just(i), st.binary(min_size=64, max_size=64)) for i in sorted(idx))
        )
    ),
)


@SETTINGS
@given(transactions)
def test_transaction_round_trips(tx: Transaction) -> None:
    data = tx.encode()
    again = Transaction.decode(data)
    assert again == tx and again.encode() == data
    assert again.tx_hash == tx.tx_hash and again.signing_preimage() == tx.signing_preimage()


@SETTINGS
@given(headers)
def test_header_round_trips(h: BlockHeader) -> None:
    again = BlockHeader.decode(h.encode())
    assert again == h and again.block_hash == h.block_hash


@SETTINGS
@given(receipts)
def test_receipt_round_trips(r: Receipt) -> None:
    assert Receipt.decode(r.encode()) == r


@SETTINGS
@given(certificates)
def test_certificate_round_trips(c: CommitCertificate) -> None:
    assert CommitCertificate.decode(c.encode()) == c


@SETTINGS
@given(headers, st.lists(transactions, max_size=4))
def test_block_round_trips(h: BlockHeader, txs: list[Transaction]) -> None:
    b = Block(h, tuple(txs))
    again = Block.decode(b.encode())
    assert again == b and again.encode() == b.encode()


@SETTINGS
@given(transactions, st.data())
def test_any_single_byte_change_either_is_refused_or_re_encodes_identically(
    tx: Transaction, data: st.DataObject
) -> None:
    enc = bytearray(tx.encode())
    i = data.draw(st.integers(0, len(enc) - 1))
    enc[i] ^= data.draw(st.integers(1, 255))
    try:
        again = Transaction.decode(bytes(enc))
    except EncodingError:
        return
    assert again.encode() == bytes(enc)  # accepted only if canonical
    assert again != tx


@SETTINGS
@given(transactions, st.integers(1, 400))
def test_truncated_transaction_is_refused(tx: Transaction, cut: int) -> None:
    enc = tx.encode()
    try:
        Transaction.decode(enc[: max(0, len(enc) - cut)])
    except EncodingError:
        return
    raise AssertionError("a truncated encoding decoded")


items = st.recursive(st.binary(max_size=80), lambda inner: st.lists(inner, max_size=5), max_leaves=20)


def _as_lists(x: object) -> object:
    return [_as_lists(y) for y in x] if isinstance(x, list) else x


@SETTINGS
@given(items)
def test_encoder_and_decoder_agree_with_rlp_package(item: Item) -> None:
    data = encode(item)
    assert data == rlp.encode(item)
    assert decode(data) == item == _as_lists(rlp.decode(data, strict=True))


@settings(deadline=None, max_examples=400)
@given(st.one_of(st.binary(max_size=80), items.map(encode)), st.data())
def test_decoder_accepts_exactly_what_rlp_strict_decode_accepts(data: bytes, draw: st.DataObject) -> None:
    if data and draw.draw(st.booleans()):
        b = bytearray(data)
        b[draw.draw(st.integers(0, len(b) - 1))] ^= draw.draw(st.integers(1, 255))
        data = bytes(b)
    try:
        ours: object = decode(data)
    except EncodingError:
        ours = None
    try:
        theirs: object = _as_lists(rlp.decode(data, strict=True))
    except (rlp.DecodingError, rlp.DeserializationError):
        theirs = None
    assert ours == theirs, data.hex()
