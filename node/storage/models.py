"""SQLModel table rows of the node's database (the only ``table=True`` models in Xinlian)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
    func,
    literal_column,
)
from sqlmodel import Field, SQLModel

# SQLite only auto-numbers an ``INTEGER PRIMARY KEY``; PostgreSQL needs 64 bits for long-lived chains.
_ROW_ID = BigInteger().with_variant(Integer(), "sqlite")


class BlockRow(SQLModel, table=True):
    """One committed block: its canonical header and commit certificate encodings are the truth."""

    __tablename__ = "blocks"

    height: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    block_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False, unique=True))
    header: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    certificate: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    tx_count: int = Field(sa_column=Column(Integer, nullable=False))
    timestamp_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    # RLP list of 64-byte public keys; empty list unless the block hands over the validator set.
    next_validators: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class TransactionRow(SQLModel, table=True):
    """A committed transaction and the outcome of its execution.

    ``encoded`` is its canonical encoding (the truth); ``receipt`` the compact part of its receipt that
    nothing else holds (RLP ``[status, gas_used, revert_reason]``): the receipt's transaction hash is this
    row's ``tx_hash`` and its logs are the ``logs`` rows at the same position, so a receipt is rebuilt byte
    for byte without storing any of it twice. On SQLite the table is keyed by position alone (WITHOUT
    ROWID): no row id in the table and in the hash index.
    """

    __tablename__ = "transactions"
    __table_args__ = (
        UniqueConstraint("tx_hash", name="uq_transactions_hash"),
        {"sqlite_with_rowid": False},
    )

    # Keyed by position: rows are appended in key order, so their pages fill up (a random hash key leaves
    # them part empty); lookups by hash go through the unique index.
    tx_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    height: int = Field(
        sa_column=Column(BigInteger, ForeignKey("blocks.height"), primary_key=True, autoincrement=False)
    )
    tx_index: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    # The canonical encoding with its 64-byte public key item emptied when ``key_id`` names the key in
    # ``public_keys`` (a sender's key is stored once, not in each of its transactions); NULL: complete.
    encoded: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    key_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    receipt: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class PublicKeyRow(SQLModel, table=True):
    """A sender public key (64 bytes), stored once for all the transactions it signed (``key_id``)."""

    __tablename__ = "public_keys"

    id: int | None = Field(default=None, sa_column=Column(_ROW_ID, primary_key=True, autoincrement=True))
    key: bytes = Field(sa_column=Column(LargeBinary, nullable=False, unique=True))


class LogRow(SQLModel, table=True):
    """One EVM log, at its position (height, tx_index, log_index), so that eth_getLogs-style queries use
    indexes; the receipt of the transaction at (height, tx_index) lists these rows as its logs, and that
    transaction's row gives their transaction hash."""

    __tablename__ = "logs"
    __table_args__ = (
        Index("ix_logs_address_height", "address", "height", "tx_index", "log_index"),
        # One index per topic position (below, after the table): indexed arguments (topics 1-3) are what
        # callers filter by most (an account, an id hash); without these a filter on them alone scans the
        # whole log range.
        # On SQLite the position is the table's key (WITHOUT ROWID): rows in chain order, no row id stored
        # in the table and in every index, no separate position index.
        {"sqlite_with_rowid": False},
    )

    # The position is the key: also the height index and the (height, tx_index, log_index) pagination order.
    height: int = Field(
        sa_column=Column(BigInteger, ForeignKey("blocks.height"), primary_key=True, autoincrement=False)
    )
    tx_index: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    log_index: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    address: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    topic0: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    topic1: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    topic2: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    topic3: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class LotCodeRow(SQLModel, table=True):
    """A code commissioned by its lot part's root (DrugLots): which parts hold it and where, so that the node
    answers for it before it has a word of its own. Filled from the call data of each committed
    ``commission_lot`` whose codes make the root its log records. A code in several parts has a row for each
    (only a part of the product's MAH can still give it its word: the readers choose,
    ``sdk.domains.drugs.DrugQueries.lot_part_of``). On
    SQLite keyed by (``code_id``, ``part``) alone (WITHOUT ROWID)."""

    __tablename__ = "lot_codes"
    __table_args__ = ({"sqlite_with_rowid": False},)

    code_id: bytes = Field(sa_column=Column(LargeBinary, primary_key=True))
    part: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    leaf: int = Field(sa_column=Column(Integer, nullable=False))
    height: int = Field(sa_column=Column(BigInteger, nullable=False))
    mah: bytes = Field(
        sa_column=Column(LargeBinary, nullable=False)
    )  # the account that commissioned the part


class StateNodeRow(SQLModel, table=True):
    """A content-addressed node of the EVM state trie (or contract code), kept for every height. On SQLite
    keyed by ``key`` alone (WITHOUT ROWID): the 32-byte hash is stored once."""

    __tablename__ = "state_nodes"
    __table_args__ = ({"sqlite_with_rowid": False},)

    key: bytes = Field(sa_column=Column(LargeBinary, primary_key=True))
    value: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class WalRow(SQLModel, table=True):
    """What this validator signed at (height, round, step): never sign two different things there."""

    __tablename__ = "consensus_wal"
    __table_args__ = (UniqueConstraint("height", "round", "step", name="uq_consensus_wal_slot"),)

    id: int | None = Field(default=None, sa_column=Column(_ROW_ID, primary_key=True, autoincrement=True))
    height: int = Field(sa_column=Column(BigInteger, nullable=False))
    round: int = Field(sa_column=Column(Integer, nullable=False))
    step: str = Field(sa_column=Column(String(32), nullable=False))
    value: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    encoded: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class PendingTransactionRow(SQLModel, table=True):
    """A transaction this node's API accepted (answered 202) that has not left the mempool yet (committed,
    expired or dropped): what the node reloads into its mempool after a crash. ``seq`` is arrival order."""

    __tablename__ = "pending_transactions"

    seq: int | None = Field(default=None, sa_column=Column(_ROW_ID, primary_key=True, autoincrement=True))
    tx_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False, unique=True))
    encoded: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class MetadataRow(SQLModel, table=True):
    """Small named values: the schema version, and whatever the node commits with a block."""

    __tablename__ = "metadata"

    key: str = Field(sa_column=Column(String(128), primary_key=True))
    value: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


# The tables as SQLAlchemy Core sees them (the store writes and queries through these).
BLOCKS: Table = BlockRow.__table__  # type: ignore[attr-defined]
TRANSACTIONS: Table = TransactionRow.__table__  # type: ignore[attr-defined]
PUBLIC_KEYS: Table = PublicKeyRow.__table__  # type: ignore[attr-defined]
LOGS: Table = LogRow.__table__  # type: ignore[attr-defined]
STATE_NODES: Table = StateNodeRow.__table__  # type: ignore[attr-defined]
WAL: Table = WalRow.__table__  # type: ignore[attr-defined]
METADATA: Table = MetadataRow.__table__  # type: ignore[attr-defined]
PENDING: Table = PendingTransactionRow.__table__  # type: ignore[attr-defined]
LOT_CODES: Table = LotCodeRow.__table__  # type: ignore[attr-defined]
#: Topic indexes hold the first bytes of the topic only (topics are 32-byte hashes: 8 bytes tell them apart
#: as well as 32 do), a quarter of the index. A query filters on the prefix (to use the index) and on the
#: whole topic (``topic_prefix``).
TOPIC_PREFIX_BYTES = 8
TOPIC_COLUMNS = (LOGS.c.topic0, LOGS.c.topic1, LOGS.c.topic2, LOGS.c.topic3)


def topic_prefix(column: ColumnElement[bytes]) -> ColumnElement[bytes]:
    """The indexed expression of a topic column: its first TOPIC_PREFIX_BYTES bytes (constants, not bound
    parameters, so that the planners match queries to the index expression)."""
    return func.substr(column, literal_column("1"), literal_column(str(TOPIC_PREFIX_BYTES)))


for _position, _column in enumerate(TOPIC_COLUMNS):
    _name = f"ix_logs_topic{_position}_prefix"
    Index(_name, topic_prefix(_column), LOGS.c.height, LOGS.c.tx_index, LOGS.c.log_index)

ALL_TABLES: tuple[Table, ...] = (
    BLOCKS,
    PUBLIC_KEYS,
    TRANSACTIONS,
    LOGS,
    STATE_NODES,
    WAL,
    METADATA,
    PENDING,
    LOT_CODES,
)
