"""History back-fill: the blocks below the height a node joined at by snapshot, fetched from peers later and
proven without re-executing them.

A HISTORY answer carries committed blocks *downwards* from a height, each with its certificate and
receipts:

    RLP [[block h, certificate h, [receipt, ...]], [block h-1, ...], ...]

The anchor is the lowest block this node holds above genesis (at first the snapshot block, proven by a
quorum of seals when the node joined). A block below it is believed only when its hash is the
``parent_hash`` of the block above it (hash chaining downwards, so no other block can be placed there), its
transactions give the header's ``tx_root``, its receipts (hence their logs) the header's ``receipt_root``,
the validator set it carries the header's ``next_validators_hash``, and its certificate names it. The
certificate's seals are not checked again: the hash chain already proves the block, the certificate is kept
to serve it to peers that sync it.

The lowest block held (``history_floor``) is stored with each batch in the same transaction, so a restart
resumes where the back-fill stopped, from one metadata row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from node.storage.store import SNAPSHOT_HEIGHT_KEY, Store
from sdk.encoding import decode, encode
from sdk.errors import EncodingError, StorageError, VerificationError
from sdk.types import (
    Block,
    CommitCertificate,
    Receipt,
    compute_receipt_root,
    compute_tx_root,
    compute_validators_hash,
)

#: Metadata of a node that joined by snapshot: the lowest height from which it holds every block up to its
#: head (absent: the snapshot height; 0 once the back-fill reached genesis).
HISTORY_FLOOR_KEY = "history_floor"
#: Blocks one HISTORY answer holds at most (and one request asks for).
MAX_HISTORY_BLOCKS = 64
#: Bytes of blocks, certificates and receipts one HISTORY answer holds (at least one block, even above).
MAX_HISTORY_ANSWER_BYTES = 4 * 1024 * 1024


class HistoryError(VerificationError):
    """A HISTORY answer a peer sent is malformed or does not link to the blocks this node holds."""

    code = "bad_history"


class StaleHistoryError(HistoryError):
    """A HISTORY answer starts above the height asked: a late answer to an earlier request (no fault)."""

    code = "stale_history"


@dataclass(frozen=True)
class HistoryEntry:
    """One proven back-filled block with what is stored beside it."""

    block: Block
    certificate: CommitCertificate
    receipts: tuple[Receipt, ...]

    @property
    def height(self) -> int:
        return self.block.header.height


def history_floor(store: Store) -> int:
    """The lowest height from which this node holds every block up to its head: 0 for a node that holds
    the whole chain (genesis included), else the height its back-fill reached (at first its snapshot
    height). One metadata read or two."""
    stored = store.get_metadata(HISTORY_FLOOR_KEY) or store.get_metadata(SNAPSHOT_HEIGHT_KEY)
    floor = int(stored.decode()) if stored else 0
    return 0 if floor <= 1 else floor


def require_history(store: Store, height: int) -> None:
    """Raise StorageError (code ``history_not_filled``) when block ``height`` lies between genesis and the
    lowest block this node holds: it joined by snapshot and has not back-filled it yet."""
    floor = history_floor(store)
    if 0 < height < floor:
        joined = store.get_metadata(SNAPSHOT_HEIGHT_KEY)
        raise StorageError(
            f"this node joined the chain by snapshot and holds no block below height {floor} yet (its "
            "history is back-filled in the background): ask a node that holds the whole chain",
            code="history_not_filled",
            height=height,
            held_from=floor,
            joined_at=int(joined.decode()) if joined else floor,
        )


# --- serving ---------------------------------------------------------------------------------------------
def read_history_answer(store: Store, top_height: int, max_count: int, max_bytes: int) -> bytes:
    """This node's HISTORY payload: blocks ``top_height`` downwards (at most ``max_count``, down to height
    1, within ``max_bytes`` but at least one), stopping at the first one it does not hold."""
    out: list[list[object]] = []
    budget = max_bytes
    for height in range(top_height, max(0, top_height - min(max_count, MAX_HISTORY_BLOCKS)), -1):
        block, certificate = store.get_block(height), store.get_certificate(height)
        receipts = store.get_block_receipts(height)
        if block is None or certificate is None or receipts is None:
            break
        raw_block, raw_certificate = block.encode(), certificate.encode()
        raw_receipts = [r.encode() for r in receipts]
        budget -= len(raw_block) + len(raw_certificate) + sum(len(r) for r in raw_receipts)
        if budget < 0 and out:
            break
        out.append([raw_block, raw_certificate, raw_receipts])
    return encode(out)


# --- checking --------------------------------------------------------------------------------------------
def verify_history_answer(
    payload: bytes, anchor_parent_hash: bytes, top_height: int, max_count: int
) -> list[HistoryEntry]:
    """Decode a HISTORY payload answering a request for ``top_height`` downwards and prove each block by
    the hash chain from the block above ``top_height`` (whose ``parent_hash`` is ``anchor_parent_hash``).
    Returns the entries, highest first (none when the peer holds none of them). Raises StaleHistoryError
    for an answer starting above ``top_height`` (a late one to an earlier request), HistoryError when
    the answer is malformed, holds more than ``max_count`` blocks, other heights, or a block that does not
    link or whose body does not give its header's roots."""
    try:
        entries = _decode_history(payload, max_count)
    except (EncodingError, ValueError, TypeError) as exc:
        raise HistoryError(f"the history answer is malformed: {exc}") from exc
    if entries and entries[0].height > top_height:
        raise StaleHistoryError("the history answer starts above the height asked", height=entries[0].height)
    expected_hash = anchor_parent_hash
    for offset, entry in enumerate(entries):
        header = entry.block.header
        if header.height != top_height - offset or header.height < 1:
            raise HistoryError("the history answer holds other heights than asked", height=header.height)
        if header.block_hash != expected_hash:
            raise HistoryError(
                "a back-filled block is not the parent of the block above it", height=header.height
            )
        check_block_body(entry)
        expected_hash = header.parent_hash
    return entries


def check_block_body(entry: HistoryEntry) -> None:
    """Raise HistoryError unless the block's transactions, receipts and carried validator set give its
    header's roots and its certificate names it."""
    block, header = entry.block, entry.block.header
    if compute_tx_root(block.transactions) != header.tx_root:
        raise HistoryError("the block's transactions do not give its tx root", height=header.height)
    if [r.tx_hash for r in entry.receipts] != [tx.tx_hash for tx in block.transactions]:
        raise HistoryError("the receipts are not the block's, one per transaction", height=header.height)
    if compute_receipt_root(entry.receipts) != header.receipt_root:
        raise HistoryError("the receipts do not give the block's receipt root", height=header.height)
    changes = header.next_validators_hash != header.validators_hash or block.next_validators
    if changes and compute_validators_hash(block.next_validators) != header.next_validators_hash:
        raise HistoryError("the block carries another set than its header names", height=header.height)
    certificate = entry.certificate
    if certificate.height != header.height or certificate.block_hash != header.block_hash:
        raise HistoryError("the certificate seals another block", height=header.height)


def _decode_history(payload: bytes, max_count: int) -> list[HistoryEntry]:
    item = decode(payload)
    if not isinstance(item, list) or len(item) > max_count:
        raise EncodingError(f"expected a list of at most {max_count} [block, certificate, receipts]")
    out = []
    for entry in item:
        if not isinstance(entry, list) or len(entry) != 3 or not isinstance(entry[2], list):
            raise EncodingError("expected [block, certificate, [receipt, ...]]")
        block = Block.decode(_string(entry[0]))
        if len(entry[2]) != len(block.transactions):
            raise EncodingError("one receipt per transaction is needed")
        receipts = tuple(Receipt.decode(_string(r)) for r in entry[2])
        out.append(HistoryEntry(block, CommitCertificate.decode(_string(entry[1])), receipts))
    return out


def _string(item: object) -> bytes:
    if not isinstance(item, bytes):
        raise EncodingError("expected a string")
    return item


# --- storing ---------------------------------------------------------------------------------------------
def store_history(store: Store, entries: Sequence[HistoryEntry]) -> int:
    """Store proven ``entries`` (highest first, the highest the parent of the lowest block held) and move
    the history floor down to the lowest of them, in one transaction. Returns the new floor. Raises
    StorageError (nothing stored) when they no longer link (another writer moved the floor)."""
    floor = entries[-1].height if entries else history_floor(store)
    store.commit_history(
        [(e.block, e.certificate, e.receipts) for e in entries],
        {HISTORY_FLOOR_KEY: str(floor).encode()},
    )
    return 0 if floor <= 1 else floor
