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


class _HandoverIndex:
    """Heights of the blocks that carry a new validator set, kept per ledger and extended on demand."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scanned = 0  # every height <= this has been looked at (genesis is not a handover here)
        self._heights: list[int] = []

    def heights_up_to(self, ledger: Ledger, height: int) -> list[int]:
        with self._lock:
            while self._scanned < height:
                h = self._scanned + 1
                header = ledger.get_header(h)
                if header is None:
                    break
                if header.next_validators_hash != header.validators_hash:
                    self._heights.append(h)
                self._scanned = h
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
