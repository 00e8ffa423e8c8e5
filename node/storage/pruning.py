"""Pruned state: which stored state nodes the last K committed state roots still reach, and a background
collector that deletes the others.

Archive mode (K = 0) keeps every state node, so every committed height's state stays readable. Pruned mode
keeps the nodes reachable from the state roots of the last K committed blocks; older heights answer
StorageError with code ``state_pruned`` (see ``Store.collect_state`` for why a collection is crash-safe).

Reachability is conservative: a stored node's encoding is walked as RLP, and every 32-byte string in it (a
child reference, an account's storage root or code hash, …) that is the key of a stored row is kept too.
Over-keeping is harmless; missing a reference is not, which is why nothing here parses the trie by its
rules. Rows of at most 32 bytes are never deleted: they are the preimages of trie keys (addresses and slots,
which the native engine lists the state by) and a few tiny trie roots, not worth telling apart.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

import rlp
from rlp.exceptions import RLPException

from sdk.errors import XinlianError

if TYPE_CHECKING:
    from node.storage.store import Store

log = logging.getLogger("xinlian.storage")

KEY_BYTES: Final = 32
#: Rows whose value is at most this long are never collected (preimages of trie keys).
KEPT_VALUE_BYTES: Final = 32
#: The default number of committed heights whose state a pruned node keeps (NodeConfig.state_history_blocks).
DEFAULT_STATE_HISTORY: Final = 4096
#: The fewest heights a pruned node keeps: the start-up head check reads the parent's state, and the
#: execution audit re-executes queued blocks (node.ledger.audit.MAX_QUEUED_BLOCKS) over their parents'.
MIN_STATE_HISTORY: Final = 16


class StopFlag(Protocol):
    """What ends a collection early (a ``threading.Event``)."""

    def is_set(self) -> bool: ...


#: Loads stored nodes by key: the found ones, by key (missing keys are absent).
NodeLoader = Callable[[list[bytes]], Mapping[bytes, bytes]]


def _references(item: object, found: set[bytes]) -> None:
    if isinstance(item, list):
        for child in item:
            _references(child, found)
    elif isinstance(item, bytes):
        if len(item) == KEY_BYTES:
            found.add(item)
        elif len(item) > KEY_BYTES:
            # A leaf value is itself RLP (an account: nonce, balance, storage root, code hash).
            try:
                decoded = rlp.decode(item)
            except RLPException:  # not RLP: a value, not a structure to search
                return
            _references(decoded, found)


def node_references(value: bytes) -> set[bytes]:
    """Every 32-byte string in the RLP structure of a stored node (nested RLP in leaf values included):
    the keys the node may reference. Returns an empty set for a value that is not RLP (contract code)."""
    found: set[bytes] = set()
    try:
        decoded = rlp.decode(value)
    except RLPException:  # code or a preimage: references nothing
        return found
    _references(decoded, found)
    return found


def mark_reachable(
    roots: Iterable[bytes], load: NodeLoader, marked: set[bytes], stop: StopFlag | None = None
) -> bool:
    """Add to ``marked`` every stored node reachable from ``roots`` that is not marked yet.

    A marked node's whole subtree is marked (nodes are content-addressed, so subtrees never change): the
    walk stops at marked nodes, so marking from a new root after an earlier closure costs only its new nodes.
    Returns: False if ``stop`` was set before the walk ended (``marked`` is then incomplete), else True.
    """
    frontier = {root for root in roots if root not in marked}
    while frontier:
        if stop is not None and stop.is_set():
            return False
        found = load(list(frontier))
        frontier = set()
        for key, value in found.items():
            if key in marked:
                continue
            marked.add(key)
            frontier.update(ref for ref in node_references(value) if ref not in marked)
    return True


@dataclass(frozen=True, slots=True)
class Collection:
    """What one ``Store.collect_state`` did: the heights kept, the nodes kept and deleted."""

    pruned_below: int
    head_height: int
    kept_nodes: int
    deleted_nodes: int


class StateCollector:
    """Runs ``Store.collect_state(history)`` in a background thread every ``every`` committed blocks.

    ``on_commit(height)`` is cheap (the ledger's commit callback); one collection runs at a time and commits
    arriving meanwhile only wake it again. ``stop`` interrupts a collection between two of its SQL
    transactions (each of which leaves the store consistent).
    """

    def __init__(self, store: Store, history: int, *, every: int | None = None) -> None:
        if history < 1:
            raise ValueError("a pruned node keeps the state of at least one height")
        self.store = store
        self.history = history
        self.every = every if every is not None else max(1, min(1024, history // 4))
        self.collections = 0
        self.deleted_nodes = 0
        self.failures = 0
        self._last_height = -1
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="state-collector", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def on_commit(self, height: int) -> None:
        """Note a committed height; wakes the collector every ``every`` heights."""
        if self._last_height < 0:
            self._last_height = height
        if height - self._last_height >= self.every:
            self._last_height = height
            self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                done = self.store.collect_state(self.history, stop=self._stopping)
            except Exception as exc:  # the thread must outlive one failed collection
                self.failures += 1
                reason = exc.message if isinstance(exc, XinlianError) else repr(exc)
                log.error("state collection failed (nothing a kept height needs was deleted): %s", reason)
                continue
            if done is not None:
                self.collections += 1
                self.deleted_nodes += done.deleted_nodes
                log.info(
                    "state collected: kept heights >= %d (%d nodes), deleted %d nodes",
                    done.pruned_below,
                    done.kept_nodes,
                    done.deleted_nodes,
                )
