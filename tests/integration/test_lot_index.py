"""The node's lot index (``lot_codes``) on real SQLite files and, when configured, real PostgreSQL: which
DrugLots part holds a code commissioned by its part's root, filled from committed ``commission_lot`` call
data, and nothing else."""

from __future__ import annotations

import secrets

from eth_abi.abi import encode as abi_encode
from sqlalchemy import text

from node.storage import LotCode, Store
from node.storage.store import LOT_INDEX_KEY
from sdk.domains.drugs.lots import LOTS_CONTRACT, LotTree
from sdk.system import DRUG_LOTS_ADDRESS
from sdk.types import Log, Receipt

PRODUCT = bytes.fromhex("0123456789abcdef") + bytes(24)
TOPIC = LOTS_CONTRACT.event_topic("LotCommissioned")


def code_ids(count: int) -> list[bytes]:
    return [PRODUCT[:8] + secrets.token_bytes(24) for _ in range(count)]


def commission_lot_data(codes: list[bytes]) -> bytes:
    return LOTS_CONTRACT.encode_call("commission_lot", [PRODUCT, "B001", 20000, 20700, 1, codes])


def lot_commissioned(part: int, codes: list[bytes], by: bytes) -> Log:
    """The log DrugLots writes for a part (storage does not run the EVM: the test writes what it would)."""
    data = abi_encode(["string", "uint8", "bytes32", "uint256"], ["B001", 1, LotTree(codes).root, len(codes)])
    return Log(DRUG_LOTS_ADDRESS, (TOPIC, part.to_bytes(32, "big"), PRODUCT, bytes(12) + by), data)


def commit_parts(store, chain, parts: list[tuple[int, list[bytes]]], *, status: int = 1) -> int:
    """Commit one block holding a ``commission_lot`` per (part number, codes); returns its height."""
    txs = [chain.make_tx(to=DRUG_LOTS_ADDRESS, data=commission_lot_data(codes)) for _, codes in parts]
    block, certificate, receipts = chain.make_block(
        txs, logs_per_tx=[[lot_commissioned(n, codes, b"\x0a" * 20)] for n, codes in parts]
    )
    receipts = [
        Receipt(r.tx_hash, status, r.gas_used, r.logs if status else (), r.revert_reason) for r in receipts
    ]
    store.commit_block(block, certificate, receipts, state_nodes={})
    chain.advance(block)
    return block.header.height


def lot_rows(store: Store) -> int:
    with store._db.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM lot_codes")).scalar_one())


def test_a_committed_part_indexes_each_code_with_its_leaf(store, chain):
    chain.commit(store)
    first, second = code_ids(300), code_ids(5)
    height = commit_parts(store, chain, [(1, first), (2, second)])
    assert store.get_lot_code(first[0]) == LotCode(part=1, leaf=0, height=height)
    assert store.get_lot_code(first[299]) == LotCode(part=1, leaf=299, height=height)
    assert store.get_lot_code(second[4]) == LotCode(part=2, leaf=4, height=height)
    assert store.get_lot_code(code_ids(1)[0]) is None
    assert lot_rows(store) == 305


def test_only_successful_commission_lot_transactions_are_indexed(store, chain):
    chain.commit(store)
    codes = code_ids(10)
    commit_parts(store, chain, [(1, codes)], status=0)  # reverted: no part
    # Another DrugLots call (materialise) with a log it could not have written, and the same call data
    # sent to another contract: neither is a part.
    tree = LotTree(codes)
    materialise = LOTS_CONTRACT.encode_call("materialise", [1, codes[:1], [0], [list(tree.path(0))]])
    other = [
        chain.make_tx(to=DRUG_LOTS_ADDRESS, data=materialise),
        chain.make_tx(to=b"\xcc" * 20, data=commission_lot_data(codes)),
    ]
    chain.commit(store, other, logs_per_tx=[[lot_commissioned(1, codes, b"\x0a" * 20)]] * 2)
    assert all(store.get_lot_code(code) is None for code in codes)
    assert lot_rows(store) == 0


def test_a_code_in_two_parts_keeps_its_first(store, chain):
    """The same code id in a second part is its MAH's error, refused on chain when that part materialises
    it; the index keeps answering with the first part."""
    chain.commit(store)
    codes = code_ids(4)
    first = commit_parts(store, chain, [(1, codes)])
    commit_parts(store, chain, [(2, [codes[2], *code_ids(2)])])
    assert store.get_lot_code(codes[2]) == LotCode(part=1, leaf=2, height=first)
    # Within one block too: the earlier part, and within a part the earlier leaf.
    again = code_ids(3)
    height = commit_parts(store, chain, [(3, [*code_ids(5), again[0], again[1]]), (4, [again[1], again[0]])])
    assert store.get_lot_code(again[0]) == LotCode(part=3, leaf=5, height=height)
    assert store.get_lot_code(again[1]) == LotCode(part=3, leaf=6, height=height)
    height = commit_parts(store, chain, [(5, [again[2], *code_ids(3), again[2]])])
    assert store.get_lot_code(again[2]) == LotCode(part=5, leaf=0, height=height)


def test_a_database_from_before_the_index_gets_its_parts_indexed_at_open(store_url, chain):
    store = Store(store_url)
    try:
        chain.commit(store)
        codes = code_ids(1200)  # more rows than one insert statement's bind limit allows
        height = commit_parts(store, chain, [(1, codes[:1100]), (2, codes[1100:])])
        with store._db.engine.begin() as conn:
            conn.execute(text("DELETE FROM lot_codes"))
            conn.execute(text("DELETE FROM metadata WHERE key = :key"), {"key": LOT_INDEX_KEY})
    finally:
        store.close()
    reopened = Store(store_url)
    try:
        assert lot_rows(reopened) == 1200
        assert reopened.get_lot_code(codes[1150]) == LotCode(part=2, leaf=50, height=height)
        assert reopened.get_metadata(LOT_INDEX_KEY) == b"1"
    finally:
        reopened.close()
