"""The schema version of a node's database, and the migration of a version 1 database (receipts in their own
table) to version 2."""

from __future__ import annotations

from sqlalchemy import BigInteger, Connection, LargeBinary, insert, select, text

from node.storage.convert import decode_stored, encode_outcome, stored_log, stored_receipt
from node.storage.models import METADATA
from sdk.errors import StorageError
from sdk.types import Receipt

#: 2: receipts kept as their outcome in the transaction row (logs not stored twice), no unused sender / to
#: columns and indexes, logs without their transaction hash. A version 1 database is migrated when opened.
SCHEMA_VERSION = 2
SCHEMA_VERSION_KEY = "schema_version"
#: Receipts converted per statement when a version 1 database is migrated.
_MIGRATE_BATCH = 1000


def migrate_from_1(conn: Connection) -> None:
    """Turn a version 1 database into version 2 on ``conn`` (inside the caller's transaction).

    Each receipt becomes the outcome column of its transaction (its logs are already ``logs`` rows, which
    must rebuild it exactly: checked per receipt), then the ``receipts`` table, the transactions' sender and
    to_address columns with their indexes and the logs' tx_hash column are dropped. Raises StorageError when
    a stored receipt does not decode or does not match its transaction and logs (nothing is changed then).
    """
    binary = LargeBinary().compile(dialect=conn.dialect)
    conn.execute(text(f"ALTER TABLE transactions ADD COLUMN receipt {binary}"))
    # Version 1 rows keep their complete encodings (key_id NULL); new rows store the key once.
    big = BigInteger().compile(dialect=conn.dialect)
    conn.execute(text(f"ALTER TABLE transactions ADD COLUMN key_id {big}"))
    after = b""
    while True:
        rows = conn.execute(
            text(
                "SELECT r.tx_hash, r.encoded, r.height, r.tx_index FROM receipts r "
                "WHERE r.tx_hash > :after ORDER BY r.tx_hash LIMIT :limit"
            ),
            {"after": after, "limit": _MIGRATE_BATCH},
        ).all()
        if not rows:
            break
        updates = []
        for tx_hash, encoded, height, index in rows:
            where = {"height": int(height), "index": int(index)}
            receipt = decode_stored("receipt", Receipt.decode, bytes(encoded), **where)
            logs = conn.execute(
                text(
                    "SELECT address, topic0, topic1, topic2, topic3, data FROM logs "
                    "WHERE height = :height AND tx_index = :index ORDER BY log_index"
                ),
                where,
            ).all()
            rebuilt = stored_receipt(
                bytes(tx_hash),
                encode_outcome(receipt),
                [stored_log(r[0], r[1:5], r[5]) for r in logs],
                **where,
            )
            if rebuilt != receipt:
                raise StorageError(
                    "a stored receipt does not match its logs; not migrating",
                    height=where["height"],
                    index=where["index"],
                )
            updates.append({"outcome": encode_outcome(receipt), "tx_hash": bytes(tx_hash)})
        conn.execute(text("UPDATE transactions SET receipt = :outcome WHERE tx_hash = :tx_hash"), updates)
        after = bytes(rows[-1][0])
    missing = conn.execute(text("SELECT count(*) FROM transactions WHERE receipt IS NULL")).scalar_one()
    if missing:
        raise StorageError("transactions without a receipt; not migrating", transactions=int(missing))
    for statement in (
        "DROP TABLE receipts",
        "DROP INDEX IF EXISTS ix_transactions_sender",
        "DROP INDEX IF EXISTS ix_transactions_to",
        "ALTER TABLE transactions DROP COLUMN sender",
        "ALTER TABLE transactions DROP COLUMN to_address",
        "ALTER TABLE logs DROP COLUMN tx_hash",
        # Replaced by the prefix indexes (created when the Store opens).
        "DROP INDEX IF EXISTS ix_logs_topic0_height",
        "DROP INDEX IF EXISTS ix_logs_topic1_height",
        "DROP INDEX IF EXISTS ix_logs_topic2_height",
        "DROP INDEX IF EXISTS ix_logs_topic3_height",
    ):
        conn.execute(text(statement))


def check_schema_version(conn: Connection) -> None:
    """Record the schema version in a new database, migrate a version 1 database (in the caller's
    transaction: a failure, or a crash, leaves it untouched), and refuse any other version with a
    StorageError."""
    expected = str(SCHEMA_VERSION).encode()
    found = conn.execute(
        select(METADATA.c.value).where(METADATA.c.key == SCHEMA_VERSION_KEY)
    ).scalar_one_or_none()
    if found is None:
        conn.execute(insert(METADATA), [{"key": SCHEMA_VERSION_KEY, "value": expected}])
    elif found == b"1":
        migrate_from_1(conn)
        conn.execute(METADATA.update().where(METADATA.c.key == SCHEMA_VERSION_KEY).values(value=expected))
    elif found != expected:
        raise StorageError(
            "the database has another schema version (made by a newer node?): this node reads "
            f"version {SCHEMA_VERSION} and migrates version 1",
            found=bytes(found).decode(errors="replace"),
            expected=SCHEMA_VERSION,
        )
