"""The node's lot index (``lot_codes``) on real SQLite files and, when configured, real PostgreSQL: which
DrugLots part holds a code commissioned by its part's root, filled from committed ``commission_lot`` call
data, and nothing else."""

from __future__ import annotations

import secrets

import pytest
from eth_abi.abi import encode as abi_encode
from sqlalchemy import text

from node.storage import LotCode, Store
from node.storage.lot_index import LOT_INDEX_KEY, MAX_LOT_ACCOUNTS
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


MAH = b"\x0a" * 20


def commit_parts(
    store, chain, parts: list[tuple[int, list[bytes]]], *, status: int = 1, by: bytes = MAH
) -> int:
    """Commit a block holding a ``commission_lot`` per (part number, codes) by ``by``; return its height."""
    txs = [chain.make_tx(to=DRUG_LOTS_ADDRESS, data=commission_lot_data(codes)) for _, codes in parts]
    block, certificate, receipts = chain.make_block(
        txs, logs_per_tx=[[lot_commissioned(n, codes, by)] for n, codes in parts]
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
    assert store.get_lot_codes(first[0]) == [LotCode(part=1, leaf=0, height=height, mah=MAH)]
    assert store.get_lot_codes(first[299]) == [LotCode(part=1, leaf=299, height=height, mah=MAH)]
    assert store.get_lot_codes(second[4]) == [LotCode(part=2, leaf=4, height=height, mah=MAH)]
    assert store.get_lot_codes(code_ids(1)[0]) == []
    assert lot_rows(store) == 305
    assert store.get_metadata(LOT_INDEX_KEY) == str(height).encode()  # kept up by every commit


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
    chain.commit(store, other, logs_per_tx=[[lot_commissioned(1, codes, MAH)]] * 2)
    assert all(store.get_lot_codes(code) == [] for code in codes)
    assert lot_rows(store) == 0


def test_a_code_in_several_parts_is_answered_with_each_accounts_first_part(store, chain):
    """Which part answers for the code is the readers' choice (one its product's MAH can still materialise);
    the index gives each account's first part, in part order, however the rows were stored (back-fill stores
    downwards), and counts an account's many parts once."""
    chain.commit(store)
    codes = code_ids(4)
    rival, maker = b"\x0b" * 20, b"\x0c" * 20
    first = commit_parts(store, chain, [(1, codes)], by=rival)
    commit_parts(store, chain, [(2, [codes[2]]), (3, [codes[2]])], by=rival)  # the same account again
    third = commit_parts(store, chain, [(4, [*code_ids(3), codes[2]])], by=maker)
    assert store.get_lot_codes(codes[2]) == [LotCode(1, 2, first, rival), LotCode(4, 3, third, maker)]
    again = code_ids(1)[0]  # twice in one part: its first leaf
    height = commit_parts(store, chain, [(5, [again, *code_ids(2), again])])
    assert store.get_lot_codes(again) == [LotCode(5, 0, height, MAH)]


def test_a_squatter_with_many_accounts_is_looked_at_no_further_than_the_bound(store, chain):
    chain.commit(store)
    code = code_ids(1)[0]
    for n in range(1, MAX_LOT_ACCOUNTS + 3):
        commit_parts(store, chain, [(n, [code])], by=n.to_bytes(20, "big"))
    found = store.get_lot_codes(code)
    assert [c.part for c in found] == list(range(1, MAX_LOT_ACCOUNTS + 1))


def _with_padding_in_the_batch_number(data: bytes) -> bytes:
    at = data.find(b"B001")
    return data[: at + 8] + b"A" + data[at + 9 :]


def _far_offset(data: bytes) -> bytes:
    return data[:164] + (10**6).to_bytes(32, "big") + data[196:]  # the codes' offset word, after the selector


def _cut(data: bytes) -> bytes:
    return data[:-20]  # the last code's low bytes: the contract reads zeros there


CALL_DATA_CASES = [
    ("canonical", lambda data: data, True),
    ("non-zero string padding (a strict decoder refuses it)", _with_padding_in_the_batch_number, True),
    ("a batch number that is not UTF-8", lambda data: data.replace(b"B001", b"\xff001"), True),
    ("trailing bytes", lambda data: data + b"\x01" * 5, True),
    ("cut-off call data", _cut, True),
    (
        "an offset beyond the call data",
        lambda data: data[:164] + (10**6).to_bytes(32, "big") + data[196:],
        False,
    ),
    ("no codes at all", lambda data: data[:100], False),
]


@pytest.mark.parametrize(("name", "change", "indexed"), CALL_DATA_CASES, ids=[c[0] for c in CALL_DATA_CASES])
def test_call_data_the_contract_reads_is_read_alike_and_nothing_else_is_indexed(
    store, chain, name: str, change, indexed: bool
):
    """The index reads a part's codes as Vyper does, whatever its other arguments look like; when what it
    reads does not make the log's root it indexes nothing. Either way the block commits."""
    chain.commit(store)
    codes = code_ids(3)
    if name == "cut-off call data":
        codes[-1] = codes[-1][:12] + bytes(20)  # what the contract read from the cut-off data
    data = change(commission_lot_data(codes))
    tx = chain.make_tx(to=DRUG_LOTS_ADDRESS, data=data)
    block, certificate, receipts = chain.make_block([tx], logs_per_tx=[[lot_commissioned(1, codes, MAH)]])
    store.commit_block(block, certificate, receipts, state_nodes={})
    chain.advance(block)
    assert store.head() == (block.header.height, block.header.block_hash)
    expected = [LotCode(1, 0, block.header.height, MAH)] if indexed else []
    assert store.get_lot_codes(codes[0]) == expected


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
        assert reopened.get_lot_codes(codes[1150]) == [LotCode(part=2, leaf=50, height=height, mah=MAH)]
        assert reopened.get_metadata(LOT_INDEX_KEY) == str(height).encode()
    finally:
        reopened.close()


def test_parts_a_version_without_the_index_committed_are_indexed_at_the_next_open(store_url, chain):
    """A downgrade to a version that does not keep the index, then an upgrade: the parts committed meanwhile
    (above the height the index kept up to) are indexed when the store is opened again."""
    store = Store(store_url)
    try:
        chain.commit(store)
        early = code_ids(3)
        kept = commit_parts(store, chain, [(1, early)])
        late = code_ids(4)
        commit_parts(store, chain, [(2, late)])
        with store._db.engine.begin() as conn:  # what the older version left: no rows, an older mark
            conn.execute(text("DELETE FROM lot_codes WHERE part = 2"))
            conn.execute(
                text("UPDATE metadata SET value = :v WHERE key = :key"),
                {"v": str(kept).encode(), "key": LOT_INDEX_KEY},
            )
    finally:
        store.close()
    reopened = Store(store_url)
    try:
        assert [c.part for c in reopened.get_lot_codes(late[3])] == [2]
        assert [c.part for c in reopened.get_lot_codes(early[0])] == [1]
    finally:
        reopened.close()
