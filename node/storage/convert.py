"""Conversion between wire types (sdk.types) and database rows, in one place."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sdk.encoding import decode, encode_bytes, encode_list
from sdk.errors import StorageError
from sdk.types import MAX_TOPICS, Block, CommitCertificate, Receipt, Transaction

T = TypeVar("T")

# Column orders of the positional rows below; the store's INSERT statements are built from these.
BLOCK_COLUMNS = (
    "height",
    "block_hash",
    "header",
    "certificate",
    "tx_count",
    "timestamp_ms",
    "next_validators",
)
TRANSACTION_COLUMNS = ("tx_hash", "height", "tx_index", "encoded", "sender", "to_address")
RECEIPT_COLUMNS = ("tx_hash", "height", "tx_index", "encoded", "status")
LOG_COLUMNS = (
    "height",
    "tx_index",
    "log_index",
    "tx_hash",
    "address",
    "topic0",
    "topic1",
    "topic2",
    "topic3",
    "data",
)
KEY_VALUE_COLUMNS = ("key", "value")
PENDING_COLUMNS = ("tx_hash", "encoded")

_NO_TOPICS: tuple[None, ...] = (None,) * MAX_TOPICS


def encode_validators(public_keys: Sequence[bytes]) -> bytes:
    """Return the RLP list encoding of a validator set (64-byte public keys), as in ``Block.encode``."""
    return encode_list(encode_bytes(key) for key in public_keys)


def decode_validators(data: bytes) -> tuple[bytes, ...]:
    """Return the validator public keys of an RLP list; raises StorageError if ``data`` is not one."""
    items = decode_stored("validator set", decode, data)
    if not isinstance(items, list) or not all(isinstance(item, bytes) for item in items):
        raise StorageError("stored validator set is not a list of byte strings")
    return tuple(item for item in items if isinstance(item, bytes))


def decode_stored(kind: str, decoder: Callable[[bytes], T], data: bytes, **where: Any) -> T:
    """Decode stored canonical bytes with ``decoder``; raises StorageError naming ``kind`` and ``where``."""
    try:
        return decoder(data)
    except Exception as exc:
        raise StorageError(f"stored {kind} does not decode: {exc}", **where) from exc


def block_row(block: Block, certificate: CommitCertificate, block_hash: bytes) -> tuple[Any, ...]:
    """Return the ``blocks`` row (BLOCK_COLUMNS order) of a committed block."""
    header = block.header
    return (
        header.height,
        block_hash,
        header.encode(),
        certificate.encode(),
        len(block.transactions),
        header.timestamp_ms,
        encode_validators(block.next_validators),
    )


def transaction_rows(
    height: int, transactions: Sequence[Transaction], tx_hashes: Sequence[bytes]
) -> list[tuple[Any, ...]]:
    """Return the ``transactions`` rows (TRANSACTION_COLUMNS order) of a block, in block order."""
    return [
        (tx_hash, height, index, tx.encode(), tx.sender, tx.to)
        for index, (tx, tx_hash) in enumerate(zip(transactions, tx_hashes, strict=True))
    ]


def receipt_and_log_rows(
    height: int, receipts: Sequence[Receipt]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Return the ``receipts`` rows and ``logs`` rows (RECEIPT_/LOG_COLUMNS order) of a block."""
    receipt_rows = []
    log_rows = []
    for index, receipt in enumerate(receipts):
        tx_hash = receipt.tx_hash
        receipt_rows.append((tx_hash, height, index, receipt.encode(), receipt.status))
        for log_index, log in enumerate(receipt.logs):
            # Log guarantees at most MAX_TOPICS topics; missing positions are NULL.
            topics = (*log.topics, *_NO_TOPICS)
            log_rows.append((height, index, log_index, tx_hash, log.address, *topics[:MAX_TOPICS], log.data))
    return receipt_rows, log_rows
