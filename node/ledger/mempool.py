"""A bounded pool of admitted transactions, with per-sender quotas and selection fair across senders."""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from node.ledger.rules import is_expired
from sdk.errors import InvalidTransaction
from sdk.types import Transaction

#: Transactions the whole pool holds (a node's configuration may change it).
DEFAULT_CAPACITY: int = 50_000
#: Bytes (raw encodings) the whole pool holds.
DEFAULT_MAX_BYTES: int = 256 * 1024 * 1024
#: Pending transactions one sender (account) may have in the pool at once.
DEFAULT_SENDER_MAX_TXS: int = 10_000
#: Pending bytes one sender may have in the pool at once: 128 transactions of the largest size.
DEFAULT_SENDER_MAX_BYTES: int = 16 * 1024 * 1024


@dataclass(frozen=True)
class MempoolLimits:
    """The pool's bounds: in total and per sender (transactions and raw bytes)."""

    capacity: int = DEFAULT_CAPACITY
    max_bytes: int = DEFAULT_MAX_BYTES
    sender_max_txs: int = DEFAULT_SENDER_MAX_TXS
    sender_max_bytes: int = DEFAULT_SENDER_MAX_BYTES


@dataclass
class _Entry:
    tx: Transaction
    size: int
    seq: int


class Mempool:
    """Thread-safe pool of admitted transactions, bounded in total and per sender.

    A full pool refuses new transactions (``mempool_full``, ``sender_quota``) rather than evicting admitted
    ones: a client whose submission was acknowledged must be able to rely on it. Blocks are filled fairly:
    one transaction per sender in turn (senders ordered by their oldest pending transaction, each sender's
    own transactions oldest first), so a member flooding the pool delays only its own transactions.
    """

    def __init__(self, limits: MempoolLimits | None = None) -> None:
        self.limits = limits or MempoolLimits()
        # sender -> (tx hash -> entry), each sender's transactions in arrival order.
        self._by_sender: dict[bytes, OrderedDict[bytes, _Entry]] = {}
        self._sender_bytes: dict[bytes, int] = {}
        self._sender_of: dict[bytes, bytes] = {}
        self._bytes = 0
        self._seq = itertools.count()
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int:
        return self.limits.capacity

    def __len__(self) -> int:
        return len(self._sender_of)

    def __contains__(self, tx_hash: object) -> bool:
        return tx_hash in self._sender_of

    @property
    def size_bytes(self) -> int:
        return self._bytes

    @property
    def sender_count(self) -> int:
        return len(self._by_sender)

    def get(self, tx_hash: bytes) -> Transaction | None:
        """Return the pending transaction with ``tx_hash``, or None."""
        with self._lock:
            sender = self._sender_of.get(tx_hash)
            return None if sender is None else self._by_sender[sender][tx_hash].tx

    def pending_of(self, sender: bytes) -> tuple[int, int]:
        """Return (transactions, bytes) ``sender`` has pending."""
        with self._lock:
            return len(self._by_sender.get(sender, ())), self._sender_bytes.get(sender, 0)

    def validate_room(self, sender: bytes, size: int) -> None:
        """Return None when a transaction of ``size`` bytes from ``sender`` would fit right now.

        Raises InvalidTransaction ``sender_quota`` or ``mempool_full``. Admission asks before it checks a
        signature, so that a flood over its quota is refused at the cost of a lookup.
        """
        with self._lock:
            self._validate_room(sender, size)

    def _validate_room(self, sender: bytes, size: int) -> None:
        limits = self.limits
        own = self._by_sender.get(sender)
        own_count = len(own) if own is not None else 0
        own_bytes = self._sender_bytes.get(sender, 0)
        if own_count >= limits.sender_max_txs or own_bytes + size > limits.sender_max_bytes:
            raise InvalidTransaction(
                "this sender has too many pending transactions; retry after some commit",
                code="sender_quota",
                pending=own_count,
                pending_bytes=own_bytes,
                max_txs=limits.sender_max_txs,
                max_bytes=limits.sender_max_bytes,
            )
        if len(self._sender_of) >= limits.capacity or self._bytes + size > limits.max_bytes:
            raise InvalidTransaction(
                "the mempool is full; retry later", code="mempool_full", capacity=limits.capacity
            )

    def add(self, tx_hash: bytes, tx: Transaction, size: int) -> None:
        """Add an admitted transaction of ``size`` raw bytes.

        Raises InvalidTransaction: ``duplicate``, ``sender_quota`` (this sender's share is used up: only
        its own transactions wait), ``mempool_full`` (the whole pool is full).
        """
        sender = tx.sender
        with self._lock:
            if tx_hash in self._sender_of:
                raise InvalidTransaction(
                    "transaction is already pending", code="duplicate", tx_hash=tx_hash.hex()
                )
            self._validate_room(sender, size)
            own = self._by_sender.get(sender)
            own_bytes = self._sender_bytes.get(sender, 0)
            if own is None:
                own = self._by_sender[sender] = OrderedDict()
            own[tx_hash] = _Entry(tx, size, next(self._seq))
            self._sender_bytes[sender] = own_bytes + size
            self._sender_of[tx_hash] = sender
            self._bytes += size

    def select(
        self, max_count: int, max_gas: int, max_bytes: int | None = None
    ) -> list[tuple[bytes, Transaction]]:
        """Up to ``max_count`` pending transactions whose gas limits fit ``max_gas`` and whose raw sizes fit
        ``max_bytes``, taken one per sender in turn (fair across senders, oldest first).

        A sender whose next transaction does not fit the remaining gas or bytes gets no more this block.
        """
        out: list[tuple[bytes, Transaction]] = []
        gas = 0
        size_total = 0
        byte_cap = max_bytes if max_bytes is not None else self.limits.max_bytes
        with self._lock:
            queues = sorted(
                (next(iter(own.values())).seq, sender, iter(own.items()))
                for sender, own in self._by_sender.items()
                if own
            )
            active: list[Iterator[tuple[bytes, _Entry]]] = [entries for _seq, _sender, entries in queues]
            while active and len(out) < max_count:
                still: list[Iterator[tuple[bytes, _Entry]]] = []
                for entries in active:
                    if len(out) >= max_count:
                        break
                    item = next(entries, None)
                    if item is None:
                        continue
                    tx_hash, entry = item
                    if gas + entry.tx.gas_limit > max_gas or size_total + entry.size > byte_cap:
                        continue
                    gas += entry.tx.gas_limit
                    size_total += entry.size
                    out.append((tx_hash, entry.tx))
                    still.append(entries)
                active = still
        return out

    def remove(self, tx_hashes: Iterable[bytes]) -> None:
        """Drop transactions (committed or no longer valid); unknown hashes are ignored."""
        with self._lock:
            for tx_hash in tx_hashes:
                sender = self._sender_of.pop(tx_hash, None)
                if sender is None:
                    continue
                own = self._by_sender[sender]
                entry = own.pop(tx_hash)
                self._bytes -= entry.size
                remaining = self._sender_bytes[sender] - entry.size
                if own:
                    self._sender_bytes[sender] = remaining
                else:
                    del self._by_sender[sender]
                    del self._sender_bytes[sender]

    def drop_expired(self, head_height: int) -> list[bytes]:
        """Remove transactions whose expiry height is at or below the head; returns their hashes."""
        with self._lock:
            gone = [
                tx_hash
                for own in self._by_sender.values()
                for tx_hash, entry in own.items()
                if is_expired(entry.tx, head_height)
            ]
        self.remove(gone)
        return gone
