"""Memo of "which records carry my tag", extended block by block instead of rescanned on every request.

Letters and grants name their parties by per-record tags (a hash over the record id and the party's
identifier), so no storage index can answer "the letters of organisation X": the node walks the records'
logs and hashes one tag per record. Done on every request, that costs a full walk of the chain's letters
per listing. ``TagIndex`` remembers, per key (e.g. auditor + USCC), the records found and the height
walked to, and later requests walk only the blocks committed since. The chain is final (BFT: a committed
block never changes), so a remembered match never goes stale.

Bounded: at most ``capacity`` keys, least recently used first out; a key evicted is walked again from
genesis when next asked. The node keeps this memo in memory only: it holds nothing a node does not
already know.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

Id = TypeVar("Id")

#: Keys remembered per index: organisations (listings) or subject commitments members asked about. An index
#: for caller-chosen keys remembers only keys that matched something (``remember_empty=False``), so random
#: keys cannot push the others out; real ones cost their finder a walk of the chain each.
DEFAULT_CAPACITY = 1024

#: ``scan(from_height, to_height)``: (height, id) of the records matching the key in that range, in chain
#: order.
Scan = Callable[[int, int], Iterable[tuple[int, Id]]]


@dataclass(frozen=True)
class _Walked(Generic[Id]):
    height: int  # every block up to and including this height has been walked
    found: tuple[tuple[int, Id], ...]  # (height, id) in chain order


class TagIndex(Generic[Id]):
    """Per-key memo of matching record ids, extended to the head on each lookup (thread-safe)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, *, remember_empty: bool = True) -> None:
        if capacity < 1:
            raise ValueError("a TagIndex remembers at least one key")
        self.capacity = capacity
        self.remember_empty = remember_empty
        self._walked: OrderedDict[Hashable, _Walked[Id]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._walked)

    def ids(self, key: Hashable, head: int, scan: Scan[Id]) -> tuple[Id, ...]:
        """The ids matching ``key`` in blocks 0..``head``, in chain order: the remembered ones, plus
        ``scan(from, head)`` over the blocks not walked yet for this key.

        The walk runs outside the lock, so concurrent lookups never wait on each other's walks; of two
        walks of one key, the one that reached further is kept.
        """
        with self._lock:
            known = self._walked.get(key)
            if known is not None:
                self._walked.move_to_end(key)
        if known is not None and known.height >= head:  # a lookup at an older head sees no newer record
            return tuple(record for height, record in known.found if height <= head)
        start = 0 if known is None else known.height + 1
        found = (known.found if known is not None else ()) + tuple(scan(start, head))
        walked = _Walked(head, found)
        if not found and not self.remember_empty:
            return ()
        with self._lock:
            current = self._walked.get(key)
            if current is None or current.height < head:
                self._walked[key] = walked
                self._walked.move_to_end(key)
                while len(self._walked) > self.capacity:
                    self._walked.popitem(last=False)
        return tuple(record for _, record in found)
