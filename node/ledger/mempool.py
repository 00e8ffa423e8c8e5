"""A bounded, insertion-ordered pool of admitted transactions waiting for a block."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from sdk.errors import InvalidTransaction
from sdk.types import Transaction


class Mempool:
    """Thread-safe FIFO of admitted transactions, bounded in count and bytes.

    A full pool refuses new transactions (``mempool_full``) rather than evicting admitted ones: a client
    whose submission was acknowledged must be able to rely on it.
    """

    def __init__(self, capacity: int, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._txs: OrderedDict[bytes, tuple[Transaction, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._txs)

    def __contains__(self, tx_hash: object) -> bool:
        return tx_hash in self._txs

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def add(self, tx_hash: bytes, tx: Transaction, size: int) -> None:
        """Add an admitted transaction; raises InvalidTransaction (duplicate, mempool_full)."""
        with self._lock:
            if tx_hash in self._txs:
                raise InvalidTransaction(
                    "transaction is already pending", code="duplicate", tx_hash=tx_hash.hex()
                )
            if len(self._txs) >= self.capacity or self._bytes + size > self.max_bytes:
                raise InvalidTransaction(
                    "the mempool is full; retry later", code="mempool_full", capacity=self.capacity
                )
            self._txs[tx_hash] = (tx, size)
            self._bytes += size

    def select(self, max_count: int, max_gas: int) -> list[tuple[bytes, Transaction]]:
        """Up to ``max_count`` pending transactions, in arrival order, whose gas limits fit ``max_gas``."""
        out: list[tuple[bytes, Transaction]] = []
        gas = 0
        with self._lock:
            for tx_hash, (tx, _size) in self._txs.items():
                if len(out) >= max_count:
                    break
                if gas + tx.gas_limit > max_gas:
                    continue
                gas += tx.gas_limit
                out.append((tx_hash, tx))
        return out

    def remove(self, tx_hashes: Iterable[bytes]) -> None:
        """Drop transactions (committed or no longer valid); unknown hashes are ignored."""
        with self._lock:
            for tx_hash in tx_hashes:
                entry = self._txs.pop(tx_hash, None)
                if entry is not None:
                    self._bytes -= entry[1]

    def drop_expired(self, head_height: int) -> list[bytes]:
        """Remove transactions whose expiry height is at or below the head; returns their hashes."""
        with self._lock:
            gone = [h for h, (tx, _s) in self._txs.items() if tx.expiry_height <= head_height]
        self.remove(gone)
        return gone
