"""The validator-set handovers of a node's chain (the blocks that carry a new set), for proof bundles and
snapshot manifests: found by one scan of the headers the first time they are asked, then incrementally."""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING

from sdk.errors import StorageError
from sdk.proofs.builders import build_handover
from sdk.proofs.bundle import Handover

if TYPE_CHECKING:
    from node.ledger.chain import Ledger


#: The blocks that carry a new set: their ``next_validators`` column holds more than the empty list (0xc0).
_SQL_HANDOVERS = (
    "SELECT height FROM blocks WHERE height > ? AND height <= ? AND length(next_validators) > 1 "
    "ORDER BY height"
)


class _HandoverIndex:
    """Heights of the blocks that carry a new validator set, kept per ledger and extended on demand."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scanned = 0  # every height <= this has been looked at (genesis is not a handover here)
        self._heights: list[int] = []

    def heights_up_to(self, ledger: Ledger, height: int) -> list[int]:
        with self._lock:
            if self._scanned < height:
                # One SQL scan of the blocks' set column (a header decode per block took ~0.2 ms each),
                # up to a head read first: a block committed meanwhile is scanned next time.
                head = ledger.store.head()
                top = min(height, head[0] if head is not None else 0)
                rows = ledger.store._db.fetch(_SQL_HANDOVERS, (self._scanned, top))
                self._heights += [int(row[0]) for row in rows]
                self._scanned = max(self._scanned, top)
            return [h for h in self._heights if h <= height]


_INDEXES: weakref.WeakKeyDictionary[Ledger, _HandoverIndex] = weakref.WeakKeyDictionary()
_INDEXES_LOCK = threading.Lock()


def collect_handovers(ledger: Ledger, up_to: int) -> list[Handover]:
    """The handovers of ``ledger``'s chain at heights 1..``up_to``, in height order (each with its block's
    header, certificate and new set). Raises StorageError (code ``not_found``) when a handover block is
    not stored here."""
    with _INDEXES_LOCK:
        index = _INDEXES.setdefault(ledger, _HandoverIndex())
    out = []
    for h in index.heights_up_to(ledger, up_to):
        block = ledger.get_block(h)
        if block is None:
            raise StorageError("a handover block is missing", code="not_found", height=h)
        out.append(build_handover(block, ledger.get_certificate(h)))
    return out
