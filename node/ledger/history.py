"""The chain's history tree (every header's ``history_root``): known at once after a restart, filled for
inclusion proofs in the background.

Every header names the Merkle root over the hashes of all blocks before it. Building a block needs only
that root, which the tree's frontier (``MerkleAccumulator``: O(log n) hashes) gives; the commit of block
``h`` stores the frontier over blocks ``0..h-1`` beside it, so a restart reads one metadata row and checks
it against the head header's ``history_root`` instead of re-reading every block hash. Inclusion proofs of
old blocks need every subtree hash (``MerkleHistory``): that tree is filled from the stored block hashes in
the background (``fill``) or at the first proof asked, and must end at the same root.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sdk.errors import MerkleProofError, StorageError
from sdk.proofs.merkle import MerkleAccumulator, MerkleHistory
from sdk.types import BlockHeader

log = logging.getLogger("xinlian.ledger")

#: Metadata key of the frontier over the blocks below the head (stored with each block's commit).
HISTORY_FRONTIER_KEY = "history_frontier"
#: Block hashes read per query while the tree is filled.
FILL_BATCH = 20_000

#: ``read_hashes(first, last)``: the stored hashes of blocks ``first..last`` (inclusive), in order.
ReadHashes = Callable[[int, int], list[bytes]]


class ChainHistory:
    """The history of one node's chain: the frontier (always), the full tree once filled. Thread-safe:
    the ledger appends under its lock, proofs are read from API threads, ``fill`` runs in any thread."""

    def __init__(self, frontier: MerkleAccumulator | None = None) -> None:
        self._lock = threading.Lock()
        self._fill_lock = threading.Lock()
        self._frontier = frontier if frontier is not None else MerkleAccumulator()
        # An empty chain's tree is complete at once; a resumed one is filled later.
        self._tree: MerkleHistory | None = MerkleHistory() if self._frontier.size == 0 else None
        self._stop = threading.Event()

    @classmethod
    def resume(
        cls, stored_frontier: bytes | None, head: BlockHeader, read_hashes: ReadHashes
    ) -> ChainHistory:
        """The history of a stored chain whose head is ``head``, from the frontier stored with the head's
        commit (over blocks ``0..head-1``): checked against the head's ``history_root``, then the head's
        hash appended. The frontier only caches what the block hashes give: without one (a database
        written before frontiers were stored) or with one that does not give the head's root, the tree is
        built from every stored hash (once; the next commit stores the frontier again).

        Raises StorageError (code ``corrupt_head``) when the stored hashes do not give the head's root.
        """
        frontier = _parse_frontier(stored_frontier)
        if frontier is None or frontier.size != head.height or frontier.root() != head.history_root:
            if stored_frontier is not None:
                log.warning(
                    "the stored history frontier does not give the head's root: rebuilt from the blocks"
                )
            tree, frontier = MerkleHistory(), MerkleAccumulator()
            for first in range(0, head.height, FILL_BATCH):
                for block_hash in read_hashes(first, min(head.height, first + FILL_BATCH) - 1):
                    tree.append(block_hash)
                    frontier.append(block_hash)
            history = cls(frontier)
            history._tree = tree
        else:
            history = cls(frontier)
        if frontier.size != head.height or frontier.root() != head.history_root:
            raise StorageError(
                "the stored history does not give the head's history root",
                code="corrupt_head",
                height=head.height,
                history_size=frontier.size,
            )
        history.append(head.block_hash)
        return history

    @property
    def size(self) -> int:
        """The number of block hashes in the history (the head's height + 1)."""
        return self._frontier.size

    @property
    def filled(self) -> bool:
        """Whether inclusion proofs can be answered without reading the store."""
        return self._tree is not None

    def root(self) -> bytes:
        """The root over every block hash so far: the next header's ``history_root``."""
        with self._lock:
            return self._frontier.root()

    def frontier_bytes(self) -> bytes:
        """The serialised frontier (stored with the next block's commit)."""
        with self._lock:
            return self._frontier.to_bytes()

    def append(self, block_hash: bytes) -> None:
        """Add a committed block's hash."""
        with self._lock:
            self._frontier.append(block_hash)
            if self._tree is not None:
                self._tree.append(block_hash)

    def inclusion_proof(self, height: int, size: int, read_hashes: ReadHashes) -> tuple[bytes, ...]:
        """The inclusion proof of block ``height`` in the root over blocks ``0..size-1``, filling the tree
        from the store first if it is not yet. Raises MerkleProofError for heights outside the history, and
        StorageError from ``fill``."""
        tree = self._tree
        if tree is None:
            self.fill(read_hashes)
            tree = self._tree
        if tree is None:  # stopped while filling
            raise StorageError("the chain history is not loaded yet", code="not_loaded")
        return tree.inclusion_proof(height, size)

    def fill(self, read_hashes: ReadHashes) -> None:
        """Build the full tree from the stored block hashes (blocks committed meanwhile included), unless
        it is built already or ``stop`` is called. Raises StorageError (code ``corrupt_history``) when the
        stored hashes do not give the frontier's root, or (code ``history_not_filled``) when a block below
        the head is not stored (a node that joined by snapshot holds no block below its snapshot height
        until they are back-filled)."""
        with self._fill_lock:
            tree = MerkleHistory()
            while self._tree is None and not self._stop.is_set():
                with self._lock:
                    target = self._frontier.size
                    if tree.size == target:
                        if tree.root() != self._frontier.root():
                            raise StorageError(
                                "the stored block hashes do not give the chain's history root",
                                code="corrupt_history",
                                size=target,
                            )
                        self._tree = tree
                        return
                last = min(target, tree.size + FILL_BATCH) - 1
                try:
                    hashes = read_hashes(tree.size, last)
                except StorageError as exc:
                    raise _not_filled(exc.detail.get("height", tree.size)) from exc
                if len(hashes) != last - tree.size + 1:
                    raise _not_filled(tree.size + len(hashes))
                for block_hash in hashes:
                    tree.append(block_hash)

    def stop(self) -> None:
        """End a ``fill`` in progress (at its next batch)."""
        self._stop.set()


def _not_filled(height: object) -> StorageError:
    return StorageError(
        "a block below the head is not stored on this node (a node that joined by snapshot holds no "
        "history below its snapshot height): ask another node",
        code="history_not_filled",
        height=height,
    )


def _parse_frontier(stored: bytes | None) -> MerkleAccumulator | None:
    if stored is None:
        return None
    try:
        return MerkleAccumulator.from_bytes(stored)
    except MerkleProofError:
        return None
