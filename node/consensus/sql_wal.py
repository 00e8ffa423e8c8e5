"""The consensus write-ahead log in the node's database: each signed step is durable before it leaves."""

from __future__ import annotations

from node.consensus.messages import MessageKind
from node.consensus.wal import EquivocationRefused, WalRecord
from node.storage import Store
from sdk.errors import StorageError

#: Committed heights are pruned in batches: one DELETE per this many heights instead of one per block.
PRUNE_EVERY_HEIGHTS: int = 32


class SqlWal:
    """ConsensusWal over ``Store.append_wal / load_wal / prune_wal``.

    ``step`` is stored by name, ``value`` is the record's digest and ``encoded`` its payload. Each append is
    its own committed SQL transaction (SQLite synchronous FULL, or a PostgreSQL commit), so a record is on
    disk before the core returns the signed message.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pruned_below = 0

    def append(self, record: WalRecord) -> None:
        """Persist ``record`` durably.

        Raises EquivocationRefused when the slot holds another value, StorageError when the write fails.
        """
        try:
            self.store.append_wal(
                record.height, record.round, record.step.name, record.digest, record.payload
            )
        except StorageError as exc:
            if exc.code == "wal_conflict":
                raise EquivocationRefused.for_record(record) from exc
            raise

    def get_records(self, height: int) -> tuple[WalRecord, ...]:
        """Return the records of ``height`` in append order; unknown step names are skipped."""
        records: list[WalRecord] = []
        for entry in self.store.load_wal(height):
            if entry.height != height or entry.step not in MessageKind.__members__:
                continue
            records.append(
                WalRecord(entry.height, entry.round, MessageKind[entry.step], entry.value, entry.encoded)
            )
        return tuple(records)

    def prune_below(self, height: int) -> None:
        """Forget records below ``height`` (batched: ``get_records`` never reads other heights anyway)."""
        if height - self._pruned_below < PRUNE_EVERY_HEIGHTS:
            return
        self.store.prune_wal(height)
        self._pruned_below = height
