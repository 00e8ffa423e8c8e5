"""The lot index: which committed DrugLots parts hold a drug code commissioned by its part's root, so that the
node answers for the code before it has a word of its own (docs/drugs.md, "Large lots")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from node.storage.database import BulkInsert
from node.storage.logs import MAX_LOG_LIMIT
from node.storage.models import LOT_CODES
from node.storage.records import LotCode
from sdk.domains.drugs.lots import LOT_COMMISSIONED_TOPIC, decode_committed_part
from sdk.errors import StorageError
from sdk.system import DRUG_LOTS_ADDRESS
from sdk.types import Receipt, Transaction

if TYPE_CHECKING:
    from node.storage.store import Store

#: Metadata: the height up to which ``lot_codes`` indexes every committed lot part (set with each block this
#: version commits; a database made before the index, or written by such a version since, is caught up when
#: it is opened).
LOT_INDEX_KEY = "lot_index"
#: MAH accounts whose parts the index returns for one code: a code id listed by more accounts than this is
#: a squatter's doing (a rival that registered a product before the regulator settled it), and the readers
#: look no further. Each account needs the MAH role, which only a regulator grants.
MAX_LOT_ACCOUNTS = 8
LOT_CODE_COLUMNS = ("code_id", "part", "leaf", "height", "mah")
# A code twice in one part keeps its first leaf (the rows of a block are sorted).
SQL_INSERT_LOT_CODES = BulkInsert(LOT_CODES, LOT_CODE_COLUMNS, " ON CONFLICT (code_id, part) DO NOTHING")
# Each account's first part holding the code, in part order: an account's later parts add nothing, and a
# squatter's many parts count once.
SQL_GET_LOT_CODES = (
    "SELECT l.part, l.leaf, l.height, l.mah FROM lot_codes l "
    "JOIN (SELECT mah, MIN(part) AS first FROM lot_codes WHERE code_id = ? GROUP BY mah) f "
    "ON f.first = l.part WHERE l.code_id = ? ORDER BY l.part LIMIT ?"
)


def lot_code_rows(
    height: int, transactions: Sequence[Transaction], receipts: Sequence[Receipt]
) -> list[tuple[Any, ...]]:
    """Return the ``lot_codes`` rows (LOT_CODE_COLUMNS order) of a block, sorted: one per code id of each
    successful ``DrugLots.commission_lot`` in it whose codes make its log's root, with its part number, leaf
    index and MAH account. Never raises: it runs while the block commits."""
    rows: list[tuple[Any, ...]] = []
    for tx, receipt in zip(transactions, receipts, strict=True):
        part = decode_committed_part(tx.to, tx.data, receipt.status == 1, receipt.logs)
        if part is not None:
            rows.extend(
                (code_id, part.part, leaf, height, part.mah) for leaf, code_id in enumerate(part.code_ids)
            )
    # In key order (the ids are hashes: a B-tree takes them faster one leaf page after the next); a code twice
    # in one part sorts its first leaf first, so the insert keeps that one.
    rows.sort()
    return rows


def decode_lot_codes(rows: Sequence[tuple[Any, ...]]) -> list[LotCode]:
    return [LotCode(int(part), int(leaf), int(height), bytes(mah)) for part, leaf, height, mah in rows]


def fill_lot_index(store: Store) -> None:
    """Index the lot parts committed since the index last kept up (when the store is opened): all of them in
    a database made before ``lot_codes`` existed, those a node of such a version committed after a
    downgrade. Each ``LotCommissioned`` log names a part's transaction, whose call data holds its codes."""
    head = store.head()
    marked = store.get_metadata(LOT_INDEX_KEY)
    start = int(marked.decode()) + 1 if marked is not None else 0
    if head is None or start > head[0]:
        return
    cursor = None
    while True:
        page, cursor = store.query_logs(
            address=DRUG_LOTS_ADDRESS,
            topics=[LOT_COMMISSIONED_TOPIC],
            from_height=start,
            to_height=head[0],
            after=cursor,
            limit=MAX_LOG_LIMIT,
        )
        for entry in page:
            stored, receipt = store.get_transaction(entry.tx_hash), store.get_receipt(entry.tx_hash)
            if stored is None or receipt is None:
                raise StorageError("a lot part's transaction is missing", tx_hash=entry.tx_hash.hex())
            store.insert_lot_codes(lot_code_rows(entry.height, [stored.transaction], [receipt.receipt]))
        if cursor is None:
            break
    store.set_metadata(LOT_INDEX_KEY, str(head[0]).encode())
