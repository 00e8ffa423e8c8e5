"""The mempool's bounds (total, per sender, bytes), its fair selection across senders, and expiry."""

from __future__ import annotations

import pytest

from node.ledger.mempool import Mempool, MempoolLimits
from sdk.crypto import PrivateKey
from sdk.errors import InvalidTransaction
from sdk.types import Transaction

KEYS = [PrivateKey.generate() for _ in range(4)]


def make_tx(key: PrivateKey, *, gas: int = 100_000, expiry: int = 50, data: bytes = b"") -> Transaction:
    return Transaction.create(
        key, chain_id=7, to=b"\x11" * 20, data=data, gas_limit=gas, expiry_height=expiry
    )


def add(pool: Mempool, tx: Transaction, size: int | None = None) -> bytes:
    pool.add(tx.tx_hash, tx, len(tx.encode()) if size is None else size)
    return tx.tx_hash


def test_duplicate_is_refused_and_nothing_changes() -> None:
    pool = Mempool()
    tx = make_tx(KEYS[0])
    add(pool, tx)
    with pytest.raises(InvalidTransaction) as err:
        add(pool, tx)
    assert err.value.code == "duplicate"
    assert len(pool) == 1


def test_get_returns_the_pending_transaction_until_it_is_removed() -> None:
    pool = Mempool()
    tx = make_tx(KEYS[0])
    add(pool, tx)
    assert pool.get(tx.tx_hash) == tx
    pool.remove([tx.tx_hash])
    assert pool.get(tx.tx_hash) is None


def test_pool_refuses_beyond_its_byte_cap() -> None:
    pool = Mempool(MempoolLimits(max_bytes=1_000, sender_max_bytes=10_000))
    add(pool, make_tx(KEYS[0]), size=600)
    with pytest.raises(InvalidTransaction) as err:
        add(pool, make_tx(KEYS[1]), size=500)
    assert err.value.code == "mempool_full"
    assert len(pool) == 1 and pool.size_bytes == 600
    add(pool, make_tx(KEYS[1]), size=400)  # exactly at the cap still fits
    assert pool.size_bytes == 1_000


def test_pool_refuses_beyond_its_count_capacity() -> None:
    pool = Mempool(MempoolLimits(capacity=2))
    add(pool, make_tx(KEYS[0]))
    add(pool, make_tx(KEYS[1]))
    with pytest.raises(InvalidTransaction) as err:
        add(pool, make_tx(KEYS[2]))
    assert err.value.code == "mempool_full"


def test_one_sender_over_its_quota_is_refused_while_others_still_get_in() -> None:
    pool = Mempool(MempoolLimits(capacity=100, sender_max_txs=3))
    for _ in range(3):
        add(pool, make_tx(KEYS[0]))
    with pytest.raises(InvalidTransaction) as err:
        add(pool, make_tx(KEYS[0]))
    assert err.value.code == "sender_quota"
    assert err.value.detail["max_txs"] == 3
    add(pool, make_tx(KEYS[1]))
    assert pool.pending_of(KEYS[0].public_key.address)[0] == 3
    assert len(pool) == 4


def test_sender_byte_quota_counts_raw_sizes_and_frees_on_remove() -> None:
    pool = Mempool(MempoolLimits(sender_max_bytes=1_000))
    first = add(pool, make_tx(KEYS[0]), size=700)
    with pytest.raises(InvalidTransaction) as err:
        add(pool, make_tx(KEYS[0]), size=400)
    assert err.value.code == "sender_quota"
    pool.remove([first])
    add(pool, make_tx(KEYS[0]), size=400)
    assert pool.pending_of(KEYS[0].public_key.address) == (1, 400)


def test_selection_takes_one_transaction_per_sender_in_turn() -> None:
    pool = Mempool()
    flood = [add(pool, make_tx(KEYS[0])) for _ in range(10)]
    honest = [add(pool, make_tx(KEYS[i])) for i in (1, 2, 3)]
    chosen = [h for h, _ in pool.select(max_count=4, max_gas=10**9)]
    # The flooder arrived first, so it leads each turn, but gets one slot per turn like everyone else.
    assert chosen == [flood[0], *honest]


def test_selection_keeps_each_senders_arrival_order() -> None:
    pool = Mempool()
    a = [add(pool, make_tx(KEYS[0])) for _ in range(3)]
    b = [add(pool, make_tx(KEYS[1])) for _ in range(2)]
    chosen = [h for h, _ in pool.select(max_count=100, max_gas=10**9)]
    assert chosen == [a[0], b[0], a[1], b[1], a[2]]


def test_selection_respects_the_byte_budget() -> None:
    pool = Mempool()
    big = [add(pool, make_tx(KEYS[0]), size=3_000) for _ in range(5)]
    small = [add(pool, make_tx(KEYS[1]), size=100) for _ in range(5)]
    chosen = [h for h, _ in pool.select(max_count=100, max_gas=10**9, max_bytes=6_500)]
    total = sum(3_000 if h in big else 100 for h in chosen)
    assert total <= 6_500
    assert set(small) <= set(chosen)  # small transactions of another sender are not starved
    assert sum(h in big for h in chosen) == 2


def test_selection_respects_declared_gas() -> None:
    pool = Mempool()
    heavy = add(pool, make_tx(KEYS[0], gas=600_000))
    cheap = add(pool, make_tx(KEYS[1], gas=100_000))
    add(pool, make_tx(KEYS[0], gas=100_000))
    chosen = pool.select(max_count=10, max_gas=700_000)
    assert [h for h, _ in chosen] == [heavy, cheap]
    assert [h for h, _ in pool.select(max_count=10, max_gas=650_000)] == [heavy]


def test_selection_respects_the_count() -> None:
    pool = Mempool()
    for key in KEYS:
        for _ in range(3):
            add(pool, make_tx(key))
    assert len(pool.select(max_count=5, max_gas=10**9)) == 5


def test_expired_transactions_are_dropped_and_others_kept() -> None:
    pool = Mempool()
    old = add(pool, make_tx(KEYS[0], expiry=10))
    edge = add(pool, make_tx(KEYS[1], expiry=11))
    fresh = add(pool, make_tx(KEYS[0], expiry=12))
    assert pool.drop_expired(10) == [old]
    assert old not in pool and edge in pool and fresh in pool
    assert sorted(pool.drop_expired(11)) == [edge]
    assert len(pool) == 1
    assert pool.pending_of(KEYS[1].public_key.address) == (0, 0)
    assert pool.sender_count == 1


def test_removing_every_transaction_returns_the_pool_to_empty() -> None:
    pool = Mempool()
    hashes = [add(pool, make_tx(k)) for k in KEYS for _ in range(2)]
    pool.remove([*hashes, b"\x00" * 32])
    assert len(pool) == 0 and pool.size_bytes == 0 and pool.sender_count == 0
