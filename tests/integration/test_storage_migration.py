"""A database written in the version 1 layout (receipts table, sender / to columns, tx_hash in logs) is
migrated to version 2 when a Store opens it, and reads back exactly what was committed; a version 1 database
that cannot be migrated is refused and left as it was."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    UniqueConstraint,
    create_engine,
    insert,
    text,
    update,
)

from node.storage import Store
from node.storage.migrate import SCHEMA_VERSION, SCHEMA_VERSION_KEY
from node.storage.models import BLOCKS, METADATA, PENDING, STATE_NODES, WAL
from sdk.errors import StorageError
from sdk.types import Block, CommitCertificate, Log, Receipt

ADDR = b"\xaa" * 20
TOPIC = b"\x01" * 32

# The version 1 tables that version 2 changed, as version 1 created them.
V1 = MetaData()
V1_TRANSACTIONS = Table(
    "transactions",
    V1,
    Column("tx_hash", LargeBinary, primary_key=True),
    Column("height", BigInteger, nullable=False),
    Column("tx_index", Integer, nullable=False),
    Column("encoded", LargeBinary, nullable=False),
    Column("sender", LargeBinary, nullable=False),
    Column("to_address", LargeBinary, nullable=False),
    UniqueConstraint("height", "tx_index", name="uq_transactions_position"),
    Index("ix_transactions_sender", "sender"),
    Index("ix_transactions_to", "to_address"),
)
V1_RECEIPTS = Table(
    "receipts",
    V1,
    Column("tx_hash", LargeBinary, primary_key=True),
    Column("height", BigInteger, nullable=False),
    Column("tx_index", Integer, nullable=False),
    Column("encoded", LargeBinary, nullable=False),
    Column("status", Integer, nullable=False),
    UniqueConstraint("height", "tx_index", name="uq_receipts_position"),
)
V1_LOGS = Table(
    "logs",
    V1,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("height", BigInteger, nullable=False),
    Column("tx_index", Integer, nullable=False),
    Column("log_index", Integer, nullable=False),
    Column("tx_hash", LargeBinary, nullable=False),
    Column("address", LargeBinary, nullable=False),
    Column("topic0", LargeBinary),
    Column("topic1", LargeBinary),
    Column("topic2", LargeBinary),
    Column("topic3", LargeBinary),
    Column("data", LargeBinary, nullable=False),
    UniqueConstraint("height", "tx_index", "log_index", name="uq_logs_position"),
    Index("ix_logs_address_height", "address", "height", "tx_index", "log_index"),
    Index("ix_logs_topic0_height", "topic0", "height", "tx_index", "log_index"),
)
UNCHANGED = (BLOCKS, STATE_NODES, WAL, METADATA, PENDING)


def _write_v1(url: str, chain_blocks: Sequence[tuple[Block, CommitCertificate, list[Receipt]]]) -> None:
    """Write ``chain_blocks`` into an empty database at ``url`` exactly as a version 1 node stored them."""
    from node.storage.convert import block_row

    engine = create_engine(url)
    try:
        for table in UNCHANGED:
            table.create(engine)
        V1.create_all(engine)
        with engine.begin() as conn:
            conn.execute(insert(METADATA), [{"key": SCHEMA_VERSION_KEY, "value": b"1"}])
            for block, certificate, receipts in chain_blocks:
                height = block.header.height
                row = dict(
                    zip(
                        [c.name for c in BLOCKS.columns],
                        block_row(block, certificate, block.header.block_hash),
                        strict=True,
                    )
                )
                conn.execute(insert(BLOCKS), [row])
                for index, (tx, receipt) in enumerate(zip(block.transactions, receipts, strict=True)):
                    conn.execute(
                        insert(V1_TRANSACTIONS),
                        [
                            dict(
                                tx_hash=tx.tx_hash,
                                height=height,
                                tx_index=index,
                                encoded=tx.encode(),
                                sender=tx.sender,
                                to_address=tx.to,
                            )
                        ],
                    )
                    conn.execute(
                        insert(V1_RECEIPTS),
                        [
                            dict(
                                tx_hash=tx.tx_hash,
                                height=height,
                                tx_index=index,
                                encoded=receipt.encode(),
                                status=receipt.status,
                            )
                        ],
                    )
                    for log_index, log in enumerate(receipt.logs):
                        topics = [*log.topics, None, None, None, None]
                        conn.execute(
                            insert(V1_LOGS),
                            [
                                dict(
                                    height=height,
                                    tx_index=index,
                                    log_index=log_index,
                                    tx_hash=tx.tx_hash,
                                    address=log.address,
                                    topic0=topics[0],
                                    topic1=topics[1],
                                    topic2=topics[2],
                                    topic3=topics[3],
                                    data=log.data,
                                )
                            ],
                        )
    finally:
        engine.dispose()


def _v1_chain(chain) -> list[tuple[Block, CommitCertificate, list[Receipt]]]:
    made = []
    genesis = chain.make_block(height=0, parent_hash=b"\x00" * 32)
    chain.advance(genesis[0])
    made.append(genesis)
    txs = [chain.make_tx(key=i) for i in range(3)]
    logs = [[Log(ADDR, (TOPIC, TOPIC), b"zero")], [], [Log(ADDR, (), b""), Log(ADDR, (TOPIC,), b"two")]]
    block = chain.make_block(txs, logs_per_tx=logs)
    chain.advance(block[0])
    made.append(block)
    return made


def test_a_version_1_database_is_migrated_and_reads_back_what_was_committed(store_url, chain):
    made = _v1_chain(chain)
    _write_v1(store_url, made)
    with Store(store_url) as store:
        assert store.get_metadata(SCHEMA_VERSION_KEY) == str(SCHEMA_VERSION).encode()
        for block, _certificate, receipts in made:
            height = block.header.height
            assert store.get_block(height) == block
            assert store.get_block_receipts(height) == receipts
            for index, (tx, receipt) in enumerate(zip(block.transactions, receipts, strict=True)):
                assert store.get_receipt(tx.tx_hash) == (receipt, height, index)
                assert store.get_transaction(tx.tx_hash) == (tx, height, index)
        logs, _ = store.query_logs(topics=[TOPIC])
        assert [(entry.tx_hash, entry.log) for entry in logs] == [
            (made[1][0].transactions[0].tx_hash, made[1][2][0].logs[0]),
            (made[1][0].transactions[2].tx_hash, made[1][2][2].logs[1]),
        ]
        # The node goes on committing in the migrated layout.
        chain.commit(store, [chain.make_tx()])
        assert store.head() is not None and store.head()[0] == 2
    with Store(store_url) as reopened:  # opening again does not migrate twice
        assert reopened.get_block_receipts(1) == made[1][2]


def test_a_version_1_database_whose_receipt_disagrees_with_its_logs_is_refused_untouched(store_url, chain):
    made = _v1_chain(chain)
    _write_v1(store_url, made)
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                update(V1_LOGS).where(V1_LOGS.c.height == 1, V1_LOGS.c.tx_index == 0).values(data=b"forged")
            )
    finally:
        engine.dispose()
    with pytest.raises(StorageError, match="does not match its logs"):
        Store(store_url)
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            version = conn.execute(
                text("SELECT value FROM metadata WHERE key = 'schema_version'")
            ).scalar_one()
            receipts = conn.execute(text("SELECT count(*) FROM receipts")).scalar_one()
            senders = conn.execute(text("SELECT count(sender) FROM transactions")).scalar_one()
    finally:
        engine.dispose()
    assert bytes(version) == b"1" and receipts == 3 and senders == 3


def test_a_database_of_a_newer_schema_is_refused(store_url):
    with Store(store_url) as store:
        store.set_metadata(SCHEMA_VERSION_KEY, str(SCHEMA_VERSION + 1).encode())
    with pytest.raises(StorageError, match="another schema version"):
        Store(store_url)
