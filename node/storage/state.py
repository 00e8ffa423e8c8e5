"""StateNodeStore: py-evm's key-value database for MPT nodes, over the Store with a write overlay."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from eth.abc import AtomicWriteBatchAPI
from eth.db.atomic import AtomicDBWriteBatch
from eth.db.backends.base import BaseAtomicDB

if TYPE_CHECKING:
    from node.storage.store import Store

DEFAULT_CACHE_NODES = 200_000


class StateNodeStore(BaseAtomicDB):
    """The EVM state database (``eth.abc.AtomicDatabaseAPI``) that ``AccountDB``/``HexaryTrie`` run on.

    Reads look in the write overlay, then an LRU cache of stored nodes, then SQL. Writes (including
    ``atomic_batch`` commits) only reach the overlay. The overlay may hold several executions of one height
    (the proposals of successive rounds): the ledger runs each inside ``recording()``, which collects the
    overlay keys that execution wrote or read, passes only the committed block's nodes (``pending(keys)``)
    to ``Store.commit_block``, then calls ``discard_pending()``: the nodes of abandoned proposals are never
    stored. Deletes are ignored: nodes are content-addressed and every height's state stays readable.
    """

    def __init__(self, store: Store, *, cache_nodes: int = DEFAULT_CACHE_NODES) -> None:
        """Wrap ``store``; ``cache_nodes`` bounds the LRU cache of nodes read from (or committed to) SQL."""
        self._store = store
        self._cache_nodes = cache_nodes
        self._overlay: dict[bytes, bytes] = {}
        self._cache: OrderedDict[bytes, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._recording: set[bytes] | None = None

    def __getitem__(self, key: bytes) -> bytes:
        value = self._overlay.get(key)
        if value is not None:
            recording = self._recording
            if recording is not None:
                recording.add(key)
            return value
        with self._lock:
            value = self._cache.get(key)
            if value is not None:
                self._cache.move_to_end(key)
                return value
        value = self._store.get_state_node(key)
        if value is None:
            raise KeyError(key)
        self._remember(key, value)
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        if not isinstance(key, bytes) or not isinstance(value, bytes):
            raise TypeError("state node keys and values are bytes")
        self._overlay[key] = value
        recording = self._recording
        if recording is not None:
            recording.add(key)

    def __delitem__(self, key: bytes) -> None:
        # Content-addressed nodes are never removed: older state roots must stay readable.
        return None

    def _exists(self, key: bytes) -> bool:
        try:
            self[key]
        except KeyError:
            return False
        return True

    @contextmanager
    def atomic_batch(self) -> Iterator[AtomicWriteBatchAPI]:
        """Batch writes; they reach the overlay together when the context exits without an exception."""
        with AtomicDBWriteBatch._commit_unless_raises(self) as batch:
            yield batch

    @contextmanager
    def recording(self) -> Iterator[set[bytes]]:
        """Collect, into the set yielded, every overlay key written or read until the context exits.

        What one block's execution touched in the overlay: the nodes its state needs beyond the stored
        ones (a node an earlier execution already wrote is read, or checked for, before being reused).
        Recordings do not nest; the caller serialises executions (the ledger's lock).
        """
        keys: set[bytes] = set()
        previous, self._recording = self._recording, keys
        try:
            yield keys
        finally:
            self._recording = previous

    def pending(self, keys: Iterable[bytes] | None = None) -> Mapping[bytes, bytes]:
        """Return a copy of the nodes written since the last commit (for ``Store.commit_block``); with
        ``keys``, only those of them in the overlay (one recorded execution's nodes)."""
        if keys is None:
            return dict(self._overlay)
        overlay = self._overlay
        return {key: overlay[key] for key in keys if key in overlay}

    def clear_pending(self, keys: Iterable[bytes] | None = None) -> None:
        """Forget the overlay after ``Store.commit_block`` stored it; its nodes stay cached. With ``keys``,
        only those leave the overlay (cached); the rest stays pending."""
        if keys is None:
            overlay, self._overlay = self._overlay, {}
        else:
            overlay = {key: value for key in keys if (value := self._overlay.pop(key, None)) is not None}
        for key, value in overlay.items():
            self._remember(key, value)

    def discard_pending(self) -> None:
        """Drop the overlay without storing it (its executed blocks will not be committed)."""
        self._overlay = {}

    def _remember(self, key: bytes, value: bytes) -> None:
        if self._cache_nodes <= 0:
            return
        with self._lock:
            self._cache[key] = value
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_nodes:
                self._cache.popitem(last=False)
