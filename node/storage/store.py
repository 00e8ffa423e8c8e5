"""The node's durable store: blocks, transactions, receipts, logs, EVM state nodes, consensus WAL."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType
from typing import Any, TypeVar, Unpack

from sqlalchemy import Column, ColumnElement, Connection, delete, func, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel

from node.storage.convert import (
    BLOCK_COLUMNS,
    KEY_VALUE_COLUMNS,
    LOG_COLUMNS,
    PENDING_COLUMNS,
    TRANSACTION_COLUMNS,
    block_row,
    decode_stored,
    decode_validators,
    log_rows,
    stored_log,
    stored_receipt,
    transaction_rows,
    with_public_key,
)
from node.storage.database import BulkInsert, Database
from node.storage.logs import LogFilter, log_page, log_statement, page_limit
from node.storage.lot_index import (
    LOT_INDEX_KEY,
    MAX_LOT_ACCOUNTS,
    SQL_GET_LOT_CODES,
    SQL_INSERT_LOT_CODES,
    decode_lot_codes,
    fill_lot_index,
    lot_code_rows,
)
from node.storage.migrate import check_schema_version
from node.storage.models import (
    ALL_TABLES,
    BLOCKS,
    LOGS,
    METADATA,
    PENDING,
    PUBLIC_KEYS,
    STATE_NODES,
    TRANSACTIONS,
    WAL,
)
from node.storage.pruning import KEPT_VALUE_BYTES, Collection, StopFlag, mark_reachable
from node.storage.records import LogCursor, LotCode, StoredLog, StoredReceipt, StoredTransaction, WalEntry
from sdk.closing import Closing
from sdk.errors import StorageError
from sdk.types import Block, BlockHeader, CommitCertificate, Log, Receipt, Transaction

#: Metadata: the lowest height whose state is kept whole (absent: archive, every height).
STATE_PRUNED_BELOW_KEY = "state_pruned_below"
#: Metadata: the height a node joined at by snapshot (absent: it holds every block from genesis).
SNAPSHOT_HEIGHT_KEY = "snapshot_height"
#: Keys examined per sweep transaction of ``collect_state`` (block commits wait for one transaction).
_COLLECT_BATCH = 5000
DEFAULT_CERTIFICATE_DEPTH = 128
# Bound on bind parameters per statement (SQLite allows 32766, PostgreSQL 65535).
_IN_CHUNK = 900
_VERIFY_BATCH = 1000
_NO_METADATA: Mapping[str, bytes] = MappingProxyType({})
#: Keccak root of the empty trie: a state with no nodes at all.
BLANK_STATE_ROOT = bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")

DecodedT = TypeVar("DecodedT")
CertificateCheck = Callable[[BlockHeader, CommitCertificate], object]


# The hot paths (block commits, point reads) go straight to the driver (Database.execute_many and fetch);
# everything else uses Core expressions.
_SQL_INSERT_BLOCK = BulkInsert(BLOCKS, BLOCK_COLUMNS)
_SQL_INSERT_TRANSACTIONS = BulkInsert(TRANSACTIONS, TRANSACTION_COLUMNS)
_SQL_INSERT_LOGS = BulkInsert(LOGS, LOG_COLUMNS)
_SQL_INSERT_STATE_NODES = BulkInsert(STATE_NODES, KEY_VALUE_COLUMNS, " ON CONFLICT (key) DO NOTHING")
_SQL_UPSERT_METADATA = BulkInsert(
    METADATA, KEY_VALUE_COLUMNS, " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
_SQL_INSERT_PENDING = BulkInsert(PENDING, PENDING_COLUMNS, " ON CONFLICT (tx_hash) DO NOTHING")
_SQL_HEAD = "SELECT height, block_hash FROM blocks ORDER BY height DESC LIMIT 1"
_SQL_GET_STATE_NODE = "SELECT value FROM state_nodes WHERE key = ?"
_SQL_GET_TRANSACTION = (
    "SELECT t.encoded, t.height, t.tx_index, k.key FROM transactions t "
    "LEFT JOIN public_keys k ON k.id = t.key_id WHERE t.tx_hash = ?"
)
_SQL_INSERT_PUBLIC_KEYS = BulkInsert(PUBLIC_KEYS, ("key",), " ON CONFLICT (key) DO NOTHING")
_SQL_GET_RECEIPT = "SELECT receipt, height, tx_index FROM transactions WHERE tx_hash = ?"
_SQL_GET_TX_LOGS = (
    "SELECT address, topic0, topic1, topic2, topic3, data FROM logs "
    "WHERE height = ? AND tx_index = ? ORDER BY log_index"
)
_SQL_GET_METADATA = "SELECT value FROM metadata WHERE key = ?"


@dataclass(frozen=True, slots=True)
class _BlockRows:
    """A block to insert, with its rows encoded before the write lock is taken."""

    block: Block
    receipts: Sequence[Receipt]
    block_row: tuple[Any, ...]
    log_rows: list[tuple[Any, ...]]
    lot_code_rows: list[tuple[Any, ...]]


def _check_parts(block: Block, certificate: CommitCertificate, receipts: Sequence[Receipt]) -> None:
    """Raise StorageError unless ``certificate`` seals ``block`` and ``receipts`` are its, one per
    transaction in order."""
    height = block.header.height
    if certificate.height != height or certificate.block_hash != block.header.block_hash:
        raise StorageError(
            "the certificate does not seal this block", height=height, certificate_height=certificate.height
        )
    tx_hashes = [tx.tx_hash for tx in block.transactions]
    if len(receipts) != len(tx_hashes):
        raise StorageError(
            "one receipt per transaction is needed",
            height=height,
            transactions=len(tx_hashes),
            receipts=len(receipts),
        )
    for index, (tx_hash, receipt) in enumerate(zip(tx_hashes, receipts, strict=True)):
        if receipt.tx_hash != tx_hash:
            raise StorageError("a receipt names another transaction", height=height, index=index)


def _hash_chunks(tx_hashes: Iterable[bytes]) -> Iterator[tuple[bytes, ...]]:
    """The distinct ``tx_hashes`` (or other keys) in chunks small enough to bind in one statement."""
    wanted = list(dict.fromkeys(tx_hashes))
    for start in range(0, len(wanted), _IN_CHUNK):
        yield tuple(wanted[start : start + _IN_CHUNK])


def _pairs_by_key(
    conn: Connection, key: Column[Any], value: Column[Any], keys: Iterable[bytes]
) -> Iterator[tuple[bytes, Any]]:
    """``(key, value)`` of the rows whose ``key`` is among ``keys``: one IN query per bindable chunk, so any
    number of keys can be looked up."""
    for chunk in _hash_chunks(keys):
        for row in conn.execute(select(key, value).where(key.in_(chunk))):
            yield bytes(row[0]), row[1]


def _transactions_in_block(conn: Connection, height: int) -> list[bytes]:
    """The canonical encodings of the transactions at ``height``, in block order (public keys put back)."""
    rows = conn.execute(
        select(TRANSACTIONS.c.encoded, PUBLIC_KEYS.c.key)
        .select_from(TRANSACTIONS.outerjoin(PUBLIC_KEYS, PUBLIC_KEYS.c.id == TRANSACTIONS.c.key_id))
        .where(TRANSACTIONS.c.height == height)
        .order_by(TRANSACTIONS.c.tx_index)
    )
    return [
        decode_stored(
            "transaction",
            partial(with_public_key, public_key=None if key is None else bytes(key)),
            bytes(encoded),
            height=height,
        )
        for encoded, key in rows
    ]


class Store(Closing):
    """Durable storage of one node, over SQLite (default) or PostgreSQL, chosen by URL.

    Every committed block is written in one SQL transaction (``commit_block``); reads return decoded wire
    objects. The canonical encodings in the rows are the truth; the other columns only index them.
    Thread-safe: each call uses its own pooled connection.
    """

    def __init__(self, url: str = "sqlite:///xinlian.db") -> None:
        """Open (creating if needed) the database at ``url``.

        Takes: ``sqlite:///path.db`` (WAL, synchronous FULL), ``sqlite://`` (in memory, for tools) or
        ``postgresql+psycopg://user:password@host/db``.
        Raises: StorageError if the database cannot be opened or has another schema version.
        """
        self.url = url
        self._db = Database(url)
        try:
            SQLModel.metadata.create_all(self._db.engine, tables=list(ALL_TABLES))
        except SQLAlchemyError as exc:
            self._db.close()
            raise StorageError(f"cannot open the database: {exc}", url=self._db.safe_url()) from exc
        try:
            with self._db.write() as conn:
                check_schema_version(conn)
            self._create_missing_indexes()
            fill_lot_index(self)
        except SQLAlchemyError as exc:
            self._db.close()
            raise StorageError(f"cannot open the database: {exc}", url=self._db.safe_url()) from exc
        except StorageError:
            self._db.close()
            raise

    # --- lifecycle ----------------------------------------------------------------------------------
    def close(self) -> None:
        """Close every pooled connection; the Store must not be used afterwards."""
        self._db.close()

    @property
    def dialect(self) -> str:
        """The database kind: ``"sqlite"`` or ``"postgresql"``."""
        return self._db.dialect

    def _create_missing_indexes(self) -> None:
        # create_all skips the indexes of a table that exists: a database made before an index was added
        # gets it here (once; building it over a long chain's logs takes a while at that start-up).
        existing = self._db.index_names()
        for table in ALL_TABLES:
            for index in table.indexes:
                if index.name not in existing:
                    index.create(self._db.engine)

    # --- committing blocks --------------------------------------------------------------------------
    def commit_block(
        self,
        block: Block,
        certificate: CommitCertificate,
        receipts: Sequence[Receipt],
        *,
        state_nodes: Mapping[bytes, bytes],
        metadata: Mapping[str, bytes] = _NO_METADATA,
        snapshot: bool = False,
    ) -> bytes:
        """Write a committed block, its transactions, receipts, logs, new state nodes and metadata atomically.

        Takes: the block, the certificate that seals it, one receipt per transaction (same order), the MPT
        nodes written while executing it (e.g. ``StateNodeStore.pending()``; nodes already stored are
        skipped) and metadata to set in the same transaction.
        Returns: the block hash.
        Raises: StorageError if the block is not the child of the stored head (height ≠ head + 1, or
        parent_hash ≠ head hash; an empty store takes only height 0), if the certificate or receipts do not
        belong to the block, or if the database refuses the write. Nothing of the block is stored then.
        With ``snapshot``, a store holding only genesis takes any height (a node joining by snapshot).
        """
        header = block.header
        _check_parts(block, certificate, receipts)
        # Encode everything before taking the write lock, so the lock is held only for the inserts.
        rows = _BlockRows(
            block,
            receipts,
            block_row(block, certificate, header.block_hash),
            log_rows(header.height, receipts),
            lot_code_rows(header.height, block.transactions, receipts),
        )
        # In key order: the hashes are random, and a B-tree takes a block's thousands of nodes faster one leaf
        # page after the next than in the order execution wrote them (scripts/bench/README.md).
        new_nodes = sorted(state_nodes.items())
        new_metadata = [*metadata.items(), (LOT_INDEX_KEY, str(header.height).encode())]
        with self._db.write() as conn:
            self._validate_next(conn, header, snapshot)
            self._insert_block(conn, rows)
            if new_nodes:
                self._db.execute_many(conn, _SQL_INSERT_STATE_NODES, new_nodes)
            if new_metadata:
                self._db.execute_many(conn, _SQL_UPSERT_METADATA, new_metadata)
        return header.block_hash

    def commit_history(
        self,
        entries: Sequence[tuple[Block, CommitCertificate, Sequence[Receipt]]],
        metadata: Mapping[str, bytes],
    ) -> None:
        """Write back-filled blocks below the lowest block held above genesis (a node that joined by
        snapshot), highest first, with their transactions, receipts and logs, and ``metadata``, atomically.

        The caller proves the blocks (node.ledger.backfill); this checks again, inside the write, that they
        are consecutive downwards and that the highest one is the parent of the stored block just above it.
        Raises StorageError (code ``not_history_link``) otherwise; nothing is stored then.
        """
        batch = []
        for block, certificate, receipts in entries:
            _check_parts(block, certificate, receipts)
            row = block_row(block, certificate, block.header.block_hash)
            height = block.header.height
            batch.append(
                _BlockRows(
                    block,
                    receipts,
                    row,
                    log_rows(height, receipts),
                    lot_code_rows(height, block.transactions, receipts),
                )
            )
        with self._db.write() as conn:
            for rows in batch:
                header = rows.block.header
                above = conn.execute(
                    select(BLOCKS.c.header).where(BLOCKS.c.height == header.height + 1)
                ).scalar_one_or_none()
                parent_hash = None if above is None else BlockHeader.decode(bytes(above)).parent_hash
                if header.height < 1 or parent_hash != header.block_hash:
                    raise StorageError(
                        "a back-filled block is not the parent of the block above it",
                        code="not_history_link",
                        height=header.height,
                    )
                self._insert_block(conn, rows)
            if metadata:
                self._db.execute_many(conn, _SQL_UPSERT_METADATA, list(metadata.items()))

    def _insert_block(self, conn: Connection, rows: _BlockRows) -> None:
        """Insert a checked block, its transactions, receipts and logs (inside ``conn``'s write)."""
        block = rows.block
        self._db.execute_many(conn, _SQL_INSERT_BLOCK, [rows.block_row])
        if block.transactions:
            key_ids = self._public_key_ids(conn, [tx.public_key for tx in block.transactions])
            new_transactions = transaction_rows(
                block.header.height, block.transactions, rows.receipts, key_ids
            )
            self._db.execute_many(conn, _SQL_INSERT_TRANSACTIONS, new_transactions)
        if rows.log_rows:
            self._db.execute_many(conn, _SQL_INSERT_LOGS, rows.log_rows)
        if rows.lot_code_rows:
            self._db.execute_many(conn, SQL_INSERT_LOT_CODES, rows.lot_code_rows)

    def _public_key_ids(self, conn: Connection, keys: Sequence[bytes]) -> dict[bytes, int]:
        """The ``public_keys`` ids of ``keys``, inserting the new ones (inside the block's transaction)."""
        wanted = list(dict.fromkeys(keys))
        self._db.execute_many(conn, _SQL_INSERT_PUBLIC_KEYS, [(key,) for key in wanted])
        pairs = _pairs_by_key(conn, PUBLIC_KEYS.c.key, PUBLIC_KEYS.c.id, wanted)
        return {key: int(key_id) for key, key_id in pairs}

    def _validate_next(self, conn: Connection, header: BlockHeader, snapshot: bool = False) -> None:
        row = conn.exec_driver_sql(_SQL_HEAD).first()
        head = None if row is None else (int(row[0]), bytes(row[1]))
        if snapshot and head is not None and head[0] == 0 and header.height > 0:
            return
        if head is None:
            if header.height != 0:
                raise StorageError(
                    "an empty store takes only the genesis block (height 0)",
                    code="not_next_block",
                    height=header.height,
                )
            return
        head_height, head_hash = head
        if header.height != head_height + 1:
            raise StorageError(
                f"block height {header.height} does not follow the stored head {head_height}",
                code="not_next_block",
                height=header.height,
                head_height=head_height,
            )
        if header.parent_hash != head_hash:
            raise StorageError(
                f"block {header.height} does not link to the stored head",
                code="not_next_block",
                height=header.height,
                parent_hash=header.parent_hash.hex(),
                head_hash=head_hash.hex(),
            )

    # --- reading blocks -----------------------------------------------------------------------------
    def head(self) -> tuple[int, bytes] | None:
        """Return ``(height, block_hash)`` of the highest committed block, or None for an empty store."""
        rows = self._db.fetch(_SQL_HEAD, ())
        return None if not rows else (int(rows[0][0]), bytes(rows[0][1]))

    def get_header(self, height: int) -> BlockHeader | None:
        """Return the header at ``height``, or None; raises StorageError if the stored bytes are corrupt."""
        return self._decode_block_column(BLOCKS.c.header, "header", BlockHeader.decode, height)

    def get_certificate(self, height: int) -> CommitCertificate | None:
        """Return the commit certificate of the block at ``height``, or None."""
        return self._decode_block_column(
            BLOCKS.c.certificate, "certificate", CommitCertificate.decode, height
        )

    def _decode_block_column(
        self, column: ColumnElement[Any], what: str, decode: Callable[[bytes], DecodedT], height: int
    ) -> DecodedT | None:
        with self._db.read() as conn:
            data = conn.execute(select(column).where(BLOCKS.c.height == height)).scalar()
        return None if data is None else decode_stored(what, decode, bytes(data), height=height)

    def get_height_by_hash(self, block_hash: bytes) -> int | None:
        """Return the height of the committed block with ``block_hash``, or None."""
        with self._db.read() as conn:
            height = conn.execute(select(BLOCKS.c.height).where(BLOCKS.c.block_hash == block_hash)).scalar()
        return None if height is None else int(height)

    def get_block(self, height: int) -> Block | None:
        """Return the committed block at ``height`` (header, transactions, next validators), or None."""
        with self._db.read() as conn:
            return self._load_block(conn, BLOCKS.c.height == height)

    def get_block_by_hash(self, block_hash: bytes) -> Block | None:
        """Return the committed block whose hash is ``block_hash``, or None."""
        with self._db.read() as conn:
            return self._load_block(conn, BLOCKS.c.block_hash == block_hash)

    def _load_block(self, conn: Connection, where: ColumnElement[bool]) -> Block | None:
        row = conn.execute(
            select(BLOCKS.c.height, BLOCKS.c.header, BLOCKS.c.tx_count, BLOCKS.c.next_validators).where(where)
        ).first()
        if row is None:
            return None
        height = int(row.height)
        encoded_txs = _transactions_in_block(conn, height)
        if len(encoded_txs) != row.tx_count:
            raise StorageError(
                "stored transactions do not match the block's count",
                height=height,
                expected=row.tx_count,
                found=len(encoded_txs),
            )
        header = decode_stored("header", BlockHeader.decode, bytes(row.header), height=height)
        transactions = tuple(
            decode_stored("transaction", Transaction.decode, data, height=height, index=index)
            for index, data in enumerate(encoded_txs)
        )
        return Block(
            header=header,
            transactions=transactions,
            next_validators=decode_validators(bytes(row.next_validators)),
        )

    def get_block_hashes(self, from_height: int, to_height: int) -> list[bytes]:
        """Return the hashes of blocks ``from_height..to_height`` (inclusive) in height order.

        Heights above the head are simply absent from the list. Raises StorageError if a height inside
        the stored range is missing.
        """
        with self._db.read() as conn:
            rows = conn.execute(
                select(BLOCKS.c.height, BLOCKS.c.block_hash)
                .where(BLOCKS.c.height >= from_height, BLOCKS.c.height <= to_height)
                .order_by(BLOCKS.c.height)
            ).all()
        hashes = []
        for offset, row in enumerate(rows):
            if row.height != from_height + offset:
                raise StorageError("a block is missing from the store", height=from_height + offset)
            hashes.append(bytes(row.block_hash))
        return hashes

    # --- reading transactions and receipts ----------------------------------------------------------
    def get_transaction(self, tx_hash: bytes) -> StoredTransaction | None:
        """Return ``(transaction, height, index)`` of a committed transaction, or None."""
        rows = self._db.fetch(_SQL_GET_TRANSACTION, (tx_hash,))
        if not rows:
            return None
        encoded, height, index, key = rows[0]
        public_key = None if key is None else bytes(key)
        transaction = decode_stored(
            "transaction",
            lambda data: Transaction.decode(with_public_key(data, public_key)),
            bytes(encoded),
            tx_hash=tx_hash.hex(),
        )
        return StoredTransaction(transaction, int(height), int(index))

    def get_receipt(self, tx_hash: bytes) -> StoredReceipt | None:
        """Return ``(receipt, height, index)`` of a committed transaction, or None."""
        rows = self._db.fetch(_SQL_GET_RECEIPT, (tx_hash,))
        if not rows:
            return None
        outcome, height, index = bytes(rows[0][0]), int(rows[0][1]), int(rows[0][2])
        # The logs were committed with the transaction row, in the same SQL transaction.
        logs = [
            stored_log(row[0], row[1:5], row[5]) for row in self._db.fetch(_SQL_GET_TX_LOGS, (height, index))
        ]
        return StoredReceipt(stored_receipt(tx_hash, outcome, logs, transaction=tx_hash.hex()), height, index)

    def _find_by_tx_hash(
        self, statement: str, what: str, decode: Callable[[bytes], DecodedT], tx_hash: bytes
    ) -> tuple[DecodedT, int, int] | None:
        """Run ``statement`` (selecting encoded, height, tx_index by tx_hash); decode what it found."""
        rows = self._db.fetch(statement, (tx_hash,))
        if not rows:
            return None
        encoded, height, index = rows[0]
        return decode_stored(what, decode, bytes(encoded), tx_hash=tx_hash.hex()), int(height), int(index)

    def get_block_receipts(self, height: int) -> list[Receipt] | None:
        """Return the receipts of the block at ``height`` in transaction order, or None if no such block."""
        with self._db.read() as conn:
            if conn.execute(select(BLOCKS.c.height).where(BLOCKS.c.height == height)).first() is None:
                return None
            outcomes = conn.execute(
                select(TRANSACTIONS.c.tx_hash, TRANSACTIONS.c.receipt)
                .where(TRANSACTIONS.c.height == height)
                .order_by(TRANSACTIONS.c.tx_index)
            ).all()
            log_rows_ = conn.execute(
                select(
                    LOGS.c.tx_index,
                    LOGS.c.address,
                    LOGS.c.topic0,
                    LOGS.c.topic1,
                    LOGS.c.topic2,
                    LOGS.c.topic3,
                    LOGS.c.data,
                )
                .where(LOGS.c.height == height)
                .order_by(LOGS.c.tx_index, LOGS.c.log_index)
            ).all()
        logs: dict[int, list[Log]] = {}
        for row in log_rows_:
            logs.setdefault(int(row.tx_index), []).append(
                stored_log(row.address, (row.topic0, row.topic1, row.topic2, row.topic3), row.data)
            )
        return [
            stored_receipt(
                bytes(row.tx_hash), bytes(row.receipt), logs.get(index, ()), height=height, index=index
            )
            for index, row in enumerate(outcomes)
        ]

    def has_transactions(self, tx_hashes: Iterable[bytes]) -> set[bytes]:
        """Return the subset of ``tx_hashes`` that are already committed (admission's duplicate check)."""
        found: set[bytes] = set()
        for chunk in _hash_chunks(tx_hashes):
            marks = ", ".join("?" for _ in chunk)  # placeholders only; the hashes are bound parameters
            rows = self._db.fetch(f"SELECT tx_hash FROM transactions WHERE tx_hash IN ({marks})", chunk)  # noqa: S608
            found.update(bytes(row[0]) for row in rows)
        return found

    # --- accepted transactions not yet committed ----------------------------------------------------
    def add_pending(self, rows: Sequence[tuple[bytes, bytes]]) -> None:
        """Record accepted transactions ``(tx_hash, encoding)`` in one SQL transaction, committed (on SQLite
        synced to disk: synchronous FULL) before returning; a hash already recorded keeps its row.

        This is what makes the API's 202 survive a crash of the node. Raises: StorageError.
        """
        if not rows:
            return
        with self._db.write() as conn:
            self._db.execute_many(conn, _SQL_INSERT_PENDING, rows)

    def delete_pending(self, tx_hashes: Iterable[bytes]) -> None:
        """Forget the recorded transactions among ``tx_hashes`` (they left the mempool); others are
        ignored. Raises: StorageError."""
        chunks = list(_hash_chunks(tx_hashes))
        if not chunks:
            return
        with self._db.write() as conn:
            for chunk in chunks:
                conn.execute(delete(PENDING).where(PENDING.c.tx_hash.in_(chunk)))

    def load_pending(self) -> list[tuple[bytes, bytes]]:
        """Return the recorded ``(tx_hash, encoding)`` pairs in the order they were accepted."""
        with self._db.read() as conn:
            rows = conn.execute(select(PENDING.c.tx_hash, PENDING.c.encoded).order_by(PENDING.c.seq)).all()
        return [(bytes(row.tx_hash), bytes(row.encoded)) for row in rows]

    # --- logs ---------------------------------------------------------------------------------------
    def query_logs(self, **log_filter: Unpack[LogFilter]) -> tuple[list[StoredLog], LogCursor | None]:
        """Return committed logs matching an eth_getLogs-style filter (``LogFilter``), in chain order, one
        page at a time.

        ``address`` is one contract address or a list (any of them; an empty list filters nothing);
        ``topics`` is positional: ``None`` (or an empty list) matches anything, bytes must equal that topic,
        a list matches any of its members.
        Returns: ``(logs, next_cursor)``; ``next_cursor`` is None when there are no more matching logs.
        Raises: StorageError (code ``invalid_log_query``) for more than four topic positions or a bad limit.
        """
        statement = log_statement(log_filter)
        with self._db.read() as conn:
            rows = conn.execute(statement).all()
        return log_page(rows, page_limit(log_filter))

    # --- the lot index ------------------------------------------------------------------------------
    def get_lot_codes(self, code_id: bytes, limit: int = MAX_LOT_ACCOUNTS) -> list[LotCode]:
        """Return the committed lot parts that hold a code (``LotCode``): each MAH account's first such part,
        in part order, for at most ``limit`` accounts; empty for a code in no part."""
        return decode_lot_codes(self._db.fetch(SQL_GET_LOT_CODES, (code_id, code_id, limit)))

    def insert_lot_codes(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Add ``lot_code_rows`` to the index outside a block commit (catching up when the store opens)."""
        if rows:
            with self._db.write() as conn:
                self._db.execute_many(conn, SQL_INSERT_LOT_CODES, rows)

    # --- state nodes and metadata -------------------------------------------------------------------
    def get_state_node(self, key: bytes) -> bytes | None:
        """Return the stored MPT node (or code) under ``key``, or None."""
        rows = self._db.fetch(_SQL_GET_STATE_NODE, (key,))
        return bytes(rows[0][0]) if rows else None

    def get_metadata(self, key: str) -> bytes | None:
        """Return the metadata value under ``key``, or None."""
        rows = self._db.fetch(_SQL_GET_METADATA, (key,))
        return bytes(rows[0][0]) if rows else None

    def set_metadata(self, key: str, value: bytes) -> None:
        """Set (insert or replace) the metadata value under ``key``, durably.

        Raises: StorageError if ``value`` is not bytes or the write fails.
        """
        if not isinstance(value, bytes):
            raise StorageError("metadata values are bytes", key=key)
        with self._db.write() as conn:
            self._db.execute_many(conn, _SQL_UPSERT_METADATA, [(key, value)])

    # --- pruned state ------------------------------------------------------------------------------
    def state_pruned_below(self) -> int:
        """The lowest height whose state is kept whole (0: every height's state is kept, archive mode).

        Heights below it may have lost state nodes to ``collect_state``: their state is not readable.
        """
        value = self.get_metadata(STATE_PRUNED_BELOW_KEY)
        return 0 if value is None else int(value.decode())

    def require_state(self, height: int) -> None:
        """Raise StorageError (code ``state_pruned``) if the state of ``height`` is no longer kept."""
        floor = self.state_pruned_below()
        if height < floor:
            raise StorageError(
                f"the state at height {height} is pruned: this node keeps the state of heights {floor} and "
                "above (an archive node keeps every height)",
                code="state_pruned",
                height=height,
                oldest_state_height=floor,
            )

    def _load_state_nodes(self, conn: Connection, keys: list[bytes]) -> dict[bytes, bytes]:
        pairs = _pairs_by_key(conn, STATE_NODES.c.key, STATE_NODES.c.value, keys)
        return {key: bytes(value) for key, value in pairs}

    def _state_roots(self, conn: Connection, from_height: int, to_height: int | None = None) -> list[bytes]:
        query = select(BLOCKS.c.height, BLOCKS.c.header).where(BLOCKS.c.height >= from_height)
        if to_height is not None:
            query = query.where(BLOCKS.c.height <= to_height)
        return [
            decode_stored("header", BlockHeader.decode, bytes(row.header), height=int(row.height)).state_root
            for row in conn.execute(query)
        ]

    def collect_state(
        self, history: int, *, batch: int = _COLLECT_BATCH, stop: StopFlag | None = None
    ) -> Collection | None:
        """Delete the state nodes no longer reachable from the state roots of the last ``history`` committed
        heights; the state of older heights is no longer readable afterwards (``require_state``).

        First a mark: every node reachable from those roots, read without blocking commits (nodes are only
        ever added meanwhile). Then a sweep, in SQL transactions of ``batch`` keys each, which lock out block
        commits: each first marks what blocks committed since then reach (their new nodes only), raises the
        recorded ``state_pruned_below`` (the first one, before anything is deleted), then deletes the
        unmarked nodes of its key range. Every deletion happens while every kept root's nodes are marked, so
        a crash or ``stop`` between (or inside) these transactions never loses a node a kept height needs;
        the next collection finishes the job.
        ``stop`` is checked during the mark and before each sweep transaction: once set, the collection ends
        there.
        Returns: what was done, or None when nothing is old enough or ``stop`` ended the collection.
        Raises: StorageError if the database fails (what was committed before stays consistent).
        """
        if history < 1:
            raise StorageError("a pruned node keeps the state of at least one height", history=history)
        head = self.head()
        # The same floor again finishes an interrupted collection; a lower one has nothing to do.
        if head is None or head[0] - history + 1 < max(1, self.state_pruned_below()):
            return None
        marked_to = head[0]
        floor = marked_to - history + 1
        marked: set[bytes] = set()
        with self._db.read() as conn:
            roots = self._state_roots(conn, floor, marked_to)
            if not mark_reachable(roots, partial(self._load_state_nodes, conn), marked, stop):
                return None
        deleted = 0
        after = b""
        while stop is None or not stop.is_set():
            with self._db.write() as conn:
                if self.dialect == "postgresql":
                    # Block commits (their inserts) until this transaction ends; readers go on.
                    conn.exec_driver_sql("LOCK TABLE state_nodes IN SHARE ROW EXCLUSIVE MODE")
                current = conn.exec_driver_sql(_SQL_HEAD).first()
                if current is not None and int(current[0]) > marked_to:
                    roots = self._state_roots(conn, marked_to + 1)
                    mark_reachable(roots, partial(self._load_state_nodes, conn), marked)
                    marked_to = int(current[0])
                if after == b"":
                    self._db.execute_many(
                        conn, _SQL_UPSERT_METADATA, [(STATE_PRUNED_BELOW_KEY, str(floor).encode())]
                    )
                rows = conn.execute(
                    select(STATE_NODES.c.key, func.length(STATE_NODES.c.value).label("size"))
                    .where(STATE_NODES.c.key > after)
                    .order_by(STATE_NODES.c.key)
                    .limit(batch)
                ).all()
                if not rows:
                    return Collection(floor, marked_to, len(marked), deleted)
                doomed = [
                    bytes(row.key)
                    for row in rows
                    if row.size > KEPT_VALUE_BYTES and bytes(row.key) not in marked
                ]
                for chunk in _hash_chunks(doomed):
                    conn.execute(delete(STATE_NODES).where(STATE_NODES.c.key.in_(chunk)))
                deleted += len(doomed)
                after = bytes(rows[-1].key)
        return None

    def bytes_on_disk(self) -> int:
        """Return the database size in bytes: file + ``-wal`` + ``-shm`` (SQLite) or pg_database_size."""
        return self._db.bytes_on_disk()

    # --- consensus write-ahead log ------------------------------------------------------------------
    def append_wal(self, height: int, round: int, step: str, value: bytes, encoded: bytes) -> None:
        """Record durably (committed and synced before returning) what this validator signed.

        Takes: the (height, round, step) slot, the value signed there (e.g. a block hash) and the encoded
        message. Appending the identical entry again is a no-op (restarts replay).
        Raises: StorageError (code ``wal_conflict``) if the slot already holds a different entry — the
        caller was about to equivocate — or if the write fails.
        """
        with self._db.write() as conn:
            existing = conn.execute(
                select(WAL.c.value, WAL.c.encoded).where(
                    WAL.c.height == height, WAL.c.round == round, WAL.c.step == step
                )
            ).first()
            if existing is not None:
                if bytes(existing.value) == value and bytes(existing.encoded) == encoded:
                    return
                raise StorageError(
                    "the consensus WAL already holds a different entry for this slot",
                    code="wal_conflict",
                    height=height,
                    round=round,
                    step=step,
                )
            conn.execute(
                insert(WAL),
                [{"height": height, "round": round, "step": step, "value": value, "encoded": encoded}],
            )

    def load_wal(self, from_height: int = 0) -> list[WalEntry]:
        """Return the WAL entries at ``from_height`` and above, in the order they were appended."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(WAL.c.height, WAL.c.round, WAL.c.step, WAL.c.value, WAL.c.encoded)
                .where(WAL.c.height >= from_height)
                .order_by(WAL.c.id)
            ).all()
        return [
            WalEntry(int(r.height), int(r.round), str(r.step), bytes(r.value), bytes(r.encoded)) for r in rows
        ]

    def prune_wal(self, below_height: int) -> int:
        """Delete the WAL entries of heights below ``below_height``; returns how many were deleted."""
        with self._db.write() as conn:
            result = conn.execute(delete(WAL).where(WAL.c.height < below_height))
        return int(result.rowcount)

    # --- startup check ------------------------------------------------------------------------------
    def verify_chain(
        self,
        verify_certificate: CertificateCheck,
        *,
        certificate_depth: int | None = DEFAULT_CERTIFICATE_DEPTH,
    ) -> tuple[int, bytes] | None:
        """Check the stored chain before the node uses it.

        Every stored header is decoded and re-hashed (the hash must equal its row, its height its row's),
        heights must be contiguous and each header's parent_hash must be the previous block's hash. For the
        last ``certificate_depth`` blocks (None = all) the certificate must name the block and
        ``verify_certificate(header, certificate)`` must not raise, and the transaction count must match.
        Returns: the head ``(height, block_hash)``, or None for an empty store.
        Raises: StorageError with ``height`` of the first inconsistency found.
        """
        head = self.head()
        if head is None:
            return None
        head_height = head[0]
        certify_from = 0 if certificate_depth is None else head_height - certificate_depth + 1
        previous: tuple[int, bytes] | None = None
        next_height: int | None = None
        while True:
            with self._db.read() as conn:
                query = select(BLOCKS.c.height, BLOCKS.c.block_hash, BLOCKS.c.header).order_by(
                    BLOCKS.c.height
                )
                if next_height is not None:
                    query = query.where(BLOCKS.c.height >= next_height)
                rows = conn.execute(query.limit(_VERIFY_BATCH)).all()
            if not rows:
                break
            for row in rows:
                height, block_hash = int(row.height), bytes(row.block_hash)
                header = decode_stored("header", BlockHeader.decode, bytes(row.header), height=height)
                if header.height != height:
                    raise StorageError("a stored header sits at another height", height=height)
                if header.block_hash != block_hash:
                    raise StorageError("a stored header does not hash to its block hash", height=height)
                if previous is not None:
                    if height != previous[0] + 1:
                        raise StorageError("a block is missing from the store", height=previous[0] + 1)
                    if header.parent_hash != previous[1]:
                        raise StorageError("a stored block does not link to its parent", height=height)
                if height >= certify_from:
                    self._verify_stored_certificate(header, block_hash, verify_certificate)
                previous = (height, block_hash)
            next_height = previous[0] + 1 if previous is not None else None
        if previous != head:
            raise StorageError("the stored head changed during verification", height=head_height)
        return head

    def verify_head(self, verify_certificate: CertificateCheck) -> tuple[int, bytes] | None:
        """Check the stored head cheaply, at every start: what ``verify_chain`` checks, for the last block.

        The head header is decoded and re-hashed (hash and height must equal its row's), it must link to
        the stored parent (whose header must hash to its row too), its certificate must seal it and
        ``verify_certificate(header, certificate)`` must not raise (not for genesis, sealed by its file),
        its transaction count must match, and its state root must be in the state store.
        Returns: the head ``(height, block_hash)``, or None for an empty store.
        Raises: StorageError (code ``corrupt_head``) naming the first inconsistency.
        """
        head = self.head()
        if head is None:
            return None
        height, block_hash = head
        try:
            with self._db.read() as conn:
                rows = conn.execute(
                    select(BLOCKS.c.height, BLOCKS.c.block_hash, BLOCKS.c.header)
                    .where(BLOCKS.c.height >= height - 1, BLOCKS.c.height <= height)
                    .order_by(BLOCKS.c.height)
                ).all()
            headers: dict[int, BlockHeader] = {}
            for row in rows:
                row_height = int(row.height)
                header = decode_stored("header", BlockHeader.decode, bytes(row.header), height=row_height)
                if header.height != row_height:
                    raise StorageError("a stored header sits at another height", height=row_height)
                if header.block_hash != bytes(row.block_hash):
                    raise StorageError("a stored header does not hash to its block hash", height=row_height)
                headers[row_height] = header
            header = headers[height]
            if height > 0:
                parent = headers.get(height - 1)
                if parent is None:  # a node that joined by snapshot at this height has no parent stored
                    if self.get_metadata(SNAPSHOT_HEIGHT_KEY) != str(height).encode():
                        raise StorageError("the head's parent is missing from the store", height=height - 1)
                elif header.parent_hash != parent.block_hash:
                    raise StorageError("the stored head does not link to its parent", height=height)
                self._verify_stored_certificate(header, block_hash, verify_certificate)
            if header.state_root != BLANK_STATE_ROOT and self.get_state_node(header.state_root) is None:
                raise StorageError("the head's state root is not in the state store", height=height)
        except StorageError as exc:
            if exc.code == "corrupt_head":
                raise
            raise StorageError(
                f"the stored head is corrupt: {exc.message}", code="corrupt_head", **exc.detail
            ) from exc
        return head

    def _verify_stored_certificate(
        self, header: BlockHeader, block_hash: bytes, verify_certificate: CertificateCheck
    ) -> None:
        height = header.height
        with self._db.read() as conn:
            row = conn.execute(
                select(BLOCKS.c.certificate, BLOCKS.c.tx_count).where(BLOCKS.c.height == height)
            ).one()
            tx_count = conn.execute(
                select(func.count()).select_from(TRANSACTIONS).where(TRANSACTIONS.c.height == height)
            ).scalar_one()
        if tx_count != row.tx_count:
            raise StorageError("stored transactions do not match the block's count", height=height)
        certificate = decode_stored(
            "certificate", CommitCertificate.decode, bytes(row.certificate), height=height
        )
        if certificate.height != height or certificate.block_hash != block_hash:
            raise StorageError("a stored certificate seals another block", height=height)
        try:
            verify_certificate(header, certificate)
        except Exception as exc:
            raise StorageError(f"a stored certificate does not verify: {exc}", height=height) from exc
