"""Integration tests of node.storage on real SQLite files and, when configured, real PostgreSQL."""

from __future__ import annotations

import secrets

import pytest
from eth.constants import BLANK_ROOT_HASH
from eth.db.account import AccountDB
from sqlalchemy import text

from node.storage import LogCursor, StateNodeStore, Store, WalEntry
from sdk.errors import EncodingError, StorageError
from sdk.proofs.certificate import verify_certificate
from sdk.types import Log

ADDR_A = b"\xaa" * 20
ADDR_B = b"\xbb" * 20
TOPIC_X = b"\x01" * 32
TOPIC_Y = b"\x02" * 32
TOPIC_Z = b"\x03" * 32


def _count(store: Store, table: str) -> int:
    with store._db.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


# --- commit and read ------------------------------------------------------------------------------
def test_committed_block_reads_back_identically(store, chain):
    genesis, genesis_cert, _ = chain.commit(store)
    txs = [chain.make_tx(key=i) for i in range(3)]
    logs = [
        [Log(ADDR_A, (TOPIC_X, TOPIC_Y), b"data-0")],
        [],
        [Log(ADDR_B, (), b""), Log(ADDR_A, (TOPIC_Z,), b"x")],
    ]
    block, certificate, receipts = chain.make_block(txs, logs_per_tx=logs, next_validators=(b"\x05" * 64,))
    returned_hash = store.commit_block(block, certificate, receipts, state_nodes={b"k" * 32: b"node"})
    chain.advance(block)

    assert returned_hash == block.header.block_hash
    assert store.head() == (1, block.header.block_hash)
    assert store.get_block(1) == block
    assert store.get_block(0) == genesis
    assert store.get_block_by_hash(block.header.block_hash) == block
    assert store.get_height_by_hash(block.header.block_hash) == 1
    assert store.get_header(1) == block.header
    assert store.get_certificate(1) == certificate
    assert store.get_certificate(0) == genesis_cert
    for index, (tx, receipt) in enumerate(zip(txs, receipts, strict=True)):
        assert store.get_transaction(tx.tx_hash) == (tx, 1, index)
        assert store.get_receipt(tx.tx_hash) == (receipt, 1, index)
    assert store.get_block_receipts(1) == receipts
    assert store.get_block_receipts(0) == []
    assert store.get_block_hashes(0, 5) == [genesis.header.block_hash, block.header.block_hash]
    assert store.get_state_node(b"k" * 32) == b"node"


def test_missing_things_read_as_none(store, chain):
    assert store.head() is None
    chain.commit(store)
    unknown = secrets.token_bytes(32)
    assert store.get_block(1) is None
    assert store.get_block_by_hash(unknown) is None
    assert store.get_height_by_hash(unknown) is None
    assert store.get_header(9) is None
    assert store.get_certificate(9) is None
    assert store.get_transaction(unknown) is None
    assert store.get_receipt(unknown) is None
    assert store.get_block_receipts(3) is None
    assert store.get_state_node(unknown) is None
    assert store.get_metadata("nothing") is None
    assert store.get_block_hashes(5, 9) == []


def test_has_transactions_returns_only_committed_hashes(store, chain):
    chain.commit(store)
    txs = [chain.make_tx() for _ in range(1200)]  # more than one IN-list chunk
    chain.commit(store, txs, logs_per_tx=[[] for _ in txs])
    committed = {tx.tx_hash for tx in txs}
    unseen = {secrets.token_bytes(32) for _ in range(50)}
    assert store.has_transactions(list(committed | unseen)) == committed
    assert store.has_transactions([]) == set()


# --- refusals -------------------------------------------------------------------------------------
def test_empty_store_refuses_a_block_other_than_genesis(store, chain):
    block, certificate, receipts = chain.make_block(height=1)
    with pytest.raises(StorageError) as info:
        store.commit_block(block, certificate, receipts, state_nodes={})
    assert info.value.code == "not_next_block"
    assert store.head() is None


def test_height_gap_is_refused(store, chain):
    chain.commit(store)
    block, certificate, receipts = chain.make_block(height=2)
    with pytest.raises(StorageError) as info:
        store.commit_block(block, certificate, receipts, state_nodes={})
    assert info.value.detail["head_height"] == 0
    assert store.get_block(2) is None


def test_same_height_twice_is_refused(store, chain):
    genesis, _, _ = chain.commit(store)
    block, certificate, receipts = chain.make_block(height=0, parent_hash=b"\x00" * 32)
    with pytest.raises(StorageError):
        store.commit_block(block, certificate, receipts, state_nodes={})
    assert store.head() == (0, genesis.header.block_hash)


def test_wrong_parent_hash_is_refused(store, chain):
    chain.commit(store)
    block, certificate, receipts = chain.make_block([chain.make_tx()], parent_hash=b"\x99" * 32)
    with pytest.raises(StorageError) as info:
        store.commit_block(block, certificate, receipts, state_nodes={})
    assert "link" in info.value.message
    assert store.head()[0] == 0
    assert store.get_transaction(block.transactions[0].tx_hash) is None


def test_certificate_of_another_block_is_refused(store, chain):
    chain.commit(store)
    block, _, receipts = chain.make_block()
    _, other_certificate, _ = chain.make_block()
    with pytest.raises(StorageError):
        store.commit_block(block, other_certificate, receipts, state_nodes={})
    assert store.head()[0] == 0


def test_receipts_must_match_transactions(store, chain):
    chain.commit(store)
    block, certificate, receipts = chain.make_block([chain.make_tx(), chain.make_tx()])
    with pytest.raises(StorageError):
        store.commit_block(block, certificate, receipts[:1], state_nodes={})
    with pytest.raises(StorageError):
        store.commit_block(block, certificate, list(reversed(receipts)), state_nodes={})
    assert store.head()[0] == 0


# --- atomicity ------------------------------------------------------------------------------------
def _assert_nothing_of(store: Store, block, nodes: dict[bytes, bytes], metadata_key: str, known=()) -> None:
    height = block.header.height
    assert store.head()[0] == height - 1
    assert store.get_block(height) is None
    assert store.get_block_by_hash(block.header.block_hash) is None
    for tx in block.transactions:
        if tx in known:
            continue
        assert store.get_transaction(tx.tx_hash) is None
        assert store.get_receipt(tx.tx_hash) is None
    assert store.query_logs(from_height=height)[0] == []
    for key in nodes:
        assert store.get_state_node(key) is None
    assert store.get_metadata(metadata_key) is None


def test_unique_violation_mid_commit_leaves_nothing_of_the_block(store, chain):
    chain.commit(store)
    old_tx = chain.make_tx()
    chain.commit(store, [old_tx])
    before = {t: _count(store, t) for t in ("blocks", "transactions", "logs", "state_nodes")}
    # The repeated transaction violates the transactions primary key after the block row was inserted.
    txs = [old_tx, chain.make_tx(), chain.make_tx()]
    logs = [[], [Log(ADDR_A, (TOPIC_X,), b"a")], [Log(ADDR_B, (TOPIC_Y,), b"b")]]
    block, certificate, receipts = chain.make_block(txs, logs_per_tx=logs)
    nodes = {secrets.token_bytes(32): b"n1", secrets.token_bytes(32): b"n2"}
    with pytest.raises(StorageError):
        store.commit_block(block, certificate, receipts, state_nodes=nodes, metadata={"atomic": b"1"})
    _assert_nothing_of(store, block, nodes, "atomic", known=[old_tx])
    assert {t: _count(store, t) for t in before} == before


def test_failure_at_the_last_statement_leaves_nothing_of_the_block(store, chain):
    chain.commit(store)
    txs = [chain.make_tx(), chain.make_tx()]
    logs = [[Log(ADDR_A, (TOPIC_X,), b"a")], []]
    block, certificate, receipts = chain.make_block(txs, logs_per_tx=logs)
    nodes = {secrets.token_bytes(32): b"n1"}
    # Metadata is written last: a NULL value violates NOT NULL after every other insert ran.
    bad_metadata = {"head": b"ok", "broken": None}
    with pytest.raises(StorageError):
        store.commit_block(block, certificate, receipts, state_nodes=nodes, metadata=bad_metadata)
    _assert_nothing_of(store, block, nodes, "head")


def test_receipt_whose_encoding_raises_leaves_nothing_of_the_block(store, chain):
    chain.commit(store)
    txs = [chain.make_tx(), chain.make_tx()]
    block, certificate, receipts = chain.make_block(txs, logs_per_tx=[[Log(ADDR_A, (), b"")], []])
    # A receipt that slipped past its own checks: its outcome cannot be encoded.
    object.__setattr__(receipts[-1], "gas_used", -1)
    nodes = {secrets.token_bytes(32): b"n1"}
    with pytest.raises(EncodingError):
        store.commit_block(block, certificate, receipts, state_nodes=nodes, metadata={"m": b"1"})
    _assert_nothing_of(store, block, nodes, "m")
    assert store.get_transaction(txs[0].tx_hash) is None


def test_failed_commit_does_not_block_the_next_one(store, chain):
    chain.commit(store)
    old_tx = chain.make_tx()
    chain.commit(store, [old_tx])
    block, certificate, receipts = chain.make_block([old_tx])
    with pytest.raises(StorageError):
        store.commit_block(block, certificate, receipts, state_nodes={})
    fresh, _, _ = chain.commit(store, [chain.make_tx()])
    assert store.head() == (2, fresh.header.block_hash)


# --- logs -----------------------------------------------------------------------------------------
@pytest.fixture
def logged_store(store, chain):
    """Blocks 1..6 with 3 txs each; tx i emits logs from A (topics X,[Y|Z]) and, for odd i, from B."""
    chain.commit(store)
    expected = []
    for _ in range(6):
        txs = [chain.make_tx() for _ in range(3)]
        logs_per_tx = []
        for i in range(3):
            tx_logs = [Log(ADDR_A, (TOPIC_X, TOPIC_Y if i % 2 else TOPIC_Z), bytes([chain.height, i]))]
            if i % 2:
                tx_logs.append(Log(ADDR_B, (TOPIC_Y,), b"b"))
            logs_per_tx.append(tx_logs)
        block, _, _ = chain.commit(store, txs, logs_per_tx=logs_per_tx)
        for i, (tx, tx_logs) in enumerate(zip(txs, logs_per_tx, strict=True)):
            for j, log in enumerate(tx_logs):
                expected.append((block.header.height, block.header.block_hash, tx.tx_hash, i, j, log))
    return store, expected


def _as_tuples(logs):
    return [(s.height, s.block_hash, s.tx_hash, s.tx_index, s.log_index, s.log) for s in logs]


def test_unfiltered_log_query_returns_all_logs_in_chain_order(logged_store):
    store, expected = logged_store
    logs, cursor = store.query_logs()
    assert _as_tuples(logs) == expected
    assert cursor is None


def test_log_query_filters_by_address_topics_and_heights(logged_store):
    store, expected = logged_store

    def matching(pred):
        return [e for e in expected if pred(e)]

    logs, _ = store.query_logs(address=ADDR_B)
    assert _as_tuples(logs) == matching(lambda e: e[5].address == ADDR_B)
    logs, _ = store.query_logs(address=[ADDR_A, ADDR_B])
    assert _as_tuples(logs) == expected
    logs, _ = store.query_logs(address=[])
    assert _as_tuples(logs) == expected
    logs, _ = store.query_logs(topics=[TOPIC_X])
    assert _as_tuples(logs) == matching(lambda e: e[5].topics[:1] == (TOPIC_X,))
    logs, _ = store.query_logs(topics=[None, TOPIC_Y])
    assert _as_tuples(logs) == matching(lambda e: e[5].topics[1:2] == (TOPIC_Y,))
    logs, _ = store.query_logs(topics=[[TOPIC_X, TOPIC_Y], [TOPIC_Z, TOPIC_Y]])
    assert _as_tuples(logs) == matching(lambda e: len(e[5].topics) == 2)
    logs, _ = store.query_logs(topics=[TOPIC_Y])
    assert _as_tuples(logs) == matching(lambda e: e[5].topics[:1] == (TOPIC_Y,))
    logs, _ = store.query_logs(address=ADDR_A, topics=[None, TOPIC_Z], from_height=2, to_height=4)
    want = matching(lambda e: e[5].address == ADDR_A and e[5].topics[1] == TOPIC_Z and 2 <= e[0] <= 4)
    assert _as_tuples(logs) == want
    assert len(want) == 6
    logs, _ = store.query_logs(topics=[TOPIC_X, None, TOPIC_X])
    assert logs == []


def test_log_pages_concatenate_to_the_full_result(logged_store):
    store, expected = logged_store
    wanted = [e for e in expected if e[5].address == ADDR_A]
    pages = []
    cursor = None
    while True:
        page, cursor = store.query_logs(address=ADDR_A, limit=4, after=cursor)
        pages.append(page)
        assert len(page) <= 4
        if cursor is None:
            break
        cursor = LogCursor.from_token(cursor.to_token())
    assert _as_tuples([log for page in pages for log in page]) == wanted
    assert len(pages) == -(-len(wanted) // 4)


def test_bad_log_queries_are_refused(logged_store):
    store, _ = logged_store
    with pytest.raises(StorageError):
        store.query_logs(topics=[None] * 5)
    with pytest.raises(StorageError):
        store.query_logs(limit=0)
    with pytest.raises(StorageError):
        LogCursor.from_token("1.2")


# --- state nodes ----------------------------------------------------------------------------------
def test_state_node_writes_stay_in_the_overlay_until_committed(store, chain):
    chain.commit(store)
    nodes = StateNodeStore(store)
    nodes[b"a" * 32] = b"A"
    with nodes.atomic_batch() as batch:
        batch[b"b" * 32] = b"B"
    assert nodes[b"a" * 32] == b"A" and nodes[b"b" * 32] == b"B"
    assert b"b" * 32 in nodes and b"c" * 32 not in nodes
    assert store.get_state_node(b"a" * 32) is None
    assert StateNodeStore(store).exists(b"a" * 32) is False

    chain.commit(store, state_nodes=dict(nodes.pending()))
    nodes.clear_pending()
    assert nodes.pending() == {}
    assert nodes[b"a" * 32] == b"A"
    fresh = StateNodeStore(store)
    assert fresh[b"a" * 32] == b"A" and fresh[b"b" * 32] == b"B"
    with pytest.raises(KeyError):
        fresh[b"c" * 32]


def test_state_node_batch_is_dropped_on_error_and_deletes_are_ignored(store):
    nodes = StateNodeStore(store)
    with pytest.raises(ValueError), nodes.atomic_batch() as batch:
        batch[b"x" * 32] = b"X"
        raise ValueError("abort")
    assert b"x" * 32 not in nodes
    nodes[b"y" * 32] = b"Y"
    del nodes[b"y" * 32]
    nodes.delete(b"y" * 32)
    assert nodes[b"y" * 32] == b"Y"
    nodes.discard_pending()
    assert b"y" * 32 not in nodes


def test_evm_state_survives_commit_and_reopen(store_url, chain):
    store = Store(store_url)
    contract = b"\x42" * 20
    nodes = StateNodeStore(store)
    accounts = AccountDB(nodes, BLANK_ROOT_HASH)
    accounts.set_code(contract, b"\x60\x00")
    for slot in range(50):
        accounts.set_storage(contract, slot, slot * 7 + 1)
    accounts.persist()
    root = accounts.state_root
    chain.commit(store, state_nodes=dict(nodes.pending()))
    nodes.clear_pending()
    # Duplicates of stored nodes are skipped, not refused.
    chain.commit(store, state_nodes={root: nodes[root]})
    store.close()

    reopened = Store(store_url)
    try:
        state = AccountDB(StateNodeStore(reopened), root)
        assert state.get_code(contract) == b"\x60\x00"
        assert [state.get_storage(contract, slot) for slot in range(50)] == [s * 7 + 1 for s in range(50)]
    finally:
        reopened.close()


# --- consensus WAL --------------------------------------------------------------------------------
def test_wal_entries_survive_reopen_in_append_order(store_url):
    store = Store(store_url)
    store.append_wal(5, 0, "prepare", b"h5", b"enc-1")
    store.append_wal(5, 0, "commit", b"h5", b"enc-2")
    store.append_wal(6, 1, "prepare", b"h6", b"enc-3")
    store.close()

    reopened = Store(store_url)
    try:
        assert reopened.load_wal() == [
            WalEntry(5, 0, "prepare", b"h5", b"enc-1"),
            WalEntry(5, 0, "commit", b"h5", b"enc-2"),
            WalEntry(6, 1, "prepare", b"h6", b"enc-3"),
        ]
        assert reopened.load_wal(6) == [WalEntry(6, 1, "prepare", b"h6", b"enc-3")]
        assert reopened.prune_wal(6) == 2
        assert reopened.load_wal() == [WalEntry(6, 1, "prepare", b"h6", b"enc-3")]
    finally:
        reopened.close()


def test_wal_refuses_a_different_entry_for_the_same_slot(store):
    store.append_wal(3, 2, "commit", b"block-a", b"enc-a")
    store.append_wal(3, 2, "commit", b"block-a", b"enc-a")  # an identical replay is harmless
    with pytest.raises(StorageError) as info:
        store.append_wal(3, 2, "commit", b"block-b", b"enc-b")
    assert info.value.code == "wal_conflict"
    assert store.load_wal() == [WalEntry(3, 2, "commit", b"block-a", b"enc-a")]


# --- reopen, metadata, size -----------------------------------------------------------------------
def test_reopened_store_resumes_at_the_head(store_url, chain):
    store = Store(store_url)
    for _ in range(4):
        chain.commit(store, [chain.make_tx()], metadata={"head_note": bytes([chain.height])})
    head = store.head()
    store.close()

    reopened = Store(store_url)
    try:
        assert reopened.head() == head == (3, chain.parent_hash)
        assert reopened.get_metadata("head_note") == b"\x03"
        block, _, _ = chain.commit(reopened, [chain.make_tx()])
        assert reopened.head() == (4, block.header.block_hash)
    finally:
        reopened.close()


# --- accepted transactions (the durable mempool) ------------------------------------------------------
def test_pending_records_survive_reopen_in_arrival_order_and_are_deleted_by_hash(store_url, chain):
    txs = [chain.make_tx(key=i) for i in range(3)]
    rows = [(tx.tx_hash, tx.encode()) for tx in txs]
    store = Store(store_url)
    store.add_pending(rows[:2])
    store.add_pending([rows[2], (txs[0].tx_hash, b"another copy")])  # a recorded hash keeps its row
    store.close()

    reopened = Store(store_url)
    try:
        assert reopened.load_pending() == rows
        reopened.delete_pending([txs[1].tx_hash, b"\x42" * 32])  # unknown hashes are ignored
        assert reopened.load_pending() == [rows[0], rows[2]]
    finally:
        reopened.close()


def test_pending_records_are_deleted_in_chunks_beyond_one_statements_bind_limit(store):
    hashes = [secrets.token_bytes(32) for _ in range(2_000)]
    store.add_pending([(tx_hash, b"raw") for tx_hash in hashes])
    store.delete_pending(hashes[:1_999])
    assert store.load_pending() == [(hashes[-1], b"raw")]


def test_a_database_from_before_the_pending_table_gets_it_at_open(store_url):
    store = Store(store_url)
    with store._db.engine.begin() as conn:
        conn.execute(text("DROP TABLE pending_transactions"))
    store.close()
    reopened = Store(store_url)
    try:
        assert reopened.load_pending() == []
    finally:
        reopened.close()


def test_metadata_set_and_replace(store):
    store.set_metadata("k", b"1")
    store.set_metadata("k", b"2")
    assert store.get_metadata("k") == b"2"
    with pytest.raises(StorageError):
        store.set_metadata("k", "not bytes")  # type: ignore[arg-type]


def test_database_of_another_schema_version_is_refused(store_url):
    Store(store_url).close()
    store = Store(store_url)
    store.set_metadata("schema_version", b"999")
    store.close()
    with pytest.raises(StorageError):
        Store(store_url)


def test_bytes_on_disk_grows_with_blocks(store, chain):
    chain.commit(store)
    before = store.bytes_on_disk()
    assert before > 0
    chain.commit(store, [chain.make_tx(data=secrets.token_bytes(2000)) for _ in range(100)])
    assert store.bytes_on_disk() > before


def test_sqlite_connections_are_durable(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'node.db'}")
    try:
        with store._db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0
    finally:
        store.close()


# --- startup verification -------------------------------------------------------------------------
def test_verify_chain_returns_the_head_and_checks_recent_certificates(store, chain):
    for _ in range(6):
        chain.commit(store, [chain.make_tx()])
    checked = []

    def check(header, certificate):
        verify_certificate(certificate, header, chain.validator_keys)
        checked.append((header.height, certificate.height))

    head = store.verify_chain(check, certificate_depth=3)
    assert head == store.head()
    assert checked == [(3, 3), (4, 4), (5, 5)]
    checked.clear()
    store.verify_chain(lambda header, cert: checked.append(header.height), certificate_depth=None)
    assert checked == list(range(6))


def test_verify_chain_of_an_empty_store_is_none(store):
    assert store.verify_chain(lambda header, cert: None) is None


def test_verify_chain_reports_a_failing_certificate_with_its_height(store, chain):
    for _ in range(4):
        chain.commit(store)

    def reject_height_2(header, certificate):
        if header.height == 2:
            raise ValueError("quorum not reached")

    with pytest.raises(StorageError) as info:
        store.verify_chain(reject_height_2, certificate_depth=None)
    assert info.value.detail["height"] == 2


def test_verify_chain_detects_a_tampered_header(store, chain):
    blocks = [chain.commit(store)[0] for _ in range(4)]
    forged = chain.make_header(height=2, parent_hash=blocks[1].header.block_hash)
    with store._db.engine.begin() as conn:
        conn.execute(
            text("UPDATE blocks SET header = :h WHERE height = 2"),
            {"h": forged.encode()},
        )
    with pytest.raises(StorageError) as info:
        store.verify_chain(lambda header, cert: None)
    assert info.value.detail["height"] == 2


def test_a_senders_public_key_is_stored_once_and_put_back_on_read(store, chain):
    chain.commit(store)
    first = [chain.make_tx(key=i) for i in range(3)]
    chain.commit(store, first)
    again = [chain.make_tx(key=i) for i in range(3)]
    chain.commit(store, again)
    assert _count(store, "public_keys") == 3
    with store._db.engine.connect() as conn:
        stored = dict(conn.execute(text("SELECT tx_hash, encoded FROM transactions")).all())
    for tx in first + again:
        assert tx.public_key not in bytes(stored[tx.tx_hash])
        assert len(stored[tx.tx_hash]) == len(tx.encode()) - len(tx.public_key) - 1
        found = store.get_transaction(tx.tx_hash)
        assert found is not None and found.transaction.encode() == tx.encode()
    block = store.get_block(2)
    assert block is not None and [tx.encode() for tx in block.transactions] == [tx.encode() for tx in again]


def test_closing_a_sqlite_store_empties_its_write_ahead_log(tmp_path, chain):
    import os
    import sqlite3

    path = tmp_path / "node.db"
    store = Store(f"sqlite:///{path}")
    chain.commit(store)
    chain.commit(store, [chain.make_tx() for _ in range(20)])
    assert os.path.getsize(f"{path}-wal") > 0
    # Another process's idle connection (an API view worker): SQLite would not empty the log at the last
    # close of the node's own connections, since they are not the last.
    other = sqlite3.connect(path)
    try:
        other.execute("SELECT count(*) FROM blocks").fetchall()
        store.close()
        assert os.path.getsize(f"{path}-wal") == 0
    finally:
        other.close()
    with Store(f"sqlite:///{path}") as reopened:
        assert reopened.head() is not None and reopened.head()[0] == 1
