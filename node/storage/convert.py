"""Conversion between wire types (sdk.types) and database rows, in one place."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import rlp

from sdk.crypto import address_from_public_key
from sdk.errors import StorageError
from sdk.types import Block, CommitCertificate, Receipt, Transaction

T = TypeVar("T")

MAX_LOG_TOPICS = 4  # LOG0..LOG4


def encode_validators(public_keys: Sequence[bytes]) -> bytes:
    """Return the RLP list encoding of a validator set (64-byte public keys)."""
    encoded: bytes = rlp.encode(list(public_keys))
    return encoded


def decode_validators(data: bytes) -> tuple[bytes, ...]:
    """Return the validator public keys of an RLP list; raises StorageError if ``data`` is not one."""
    try:
        items = rlp.decode(data)
    except rlp.DecodingError as exc:
        raise StorageError("stored validator set does not decode") from exc
    if not isinstance(items, list) or not all(isinstance(item, bytes) for item in items):
        raise StorageError("stored validator set is not a list of byte strings")
    return tuple(items)


def decode_stored(kind: str, decode: Callable[[bytes], T], data: bytes, **where: Any) -> T:
    """Decode stored canonical bytes with ``decode``; raises StorageError naming ``kind`` and ``where``."""
    try:
        return decode(data)
    except Exception as exc:
        raise StorageError(f"stored {kind} does not decode: {exc}", **where) from exc


def block_row(block: Block, certificate: CommitCertificate, block_hash: bytes) -> dict[str, Any]:
    """Return the ``blocks`` row of a committed block."""
    header = block.header
    return {
        "height": header.height,
        "block_hash": block_hash,
        "header": header.encode(),
        "certificate": certificate.encode(),
        "tx_count": len(block.transactions),
        "timestamp_ms": header.timestamp_ms,
        "next_validators": encode_validators(block.next_validators),
    }


def transaction_rows(
    height: int, transactions: Sequence[Transaction], tx_hashes: Sequence[bytes]
) -> list[dict[str, Any]]:
    """Return the ``transactions`` rows of a block (in block order)."""
    senders: dict[bytes, bytes] = {}
    rows = []
    for index, (tx, tx_hash) in enumerate(zip(transactions, tx_hashes, strict=True)):
        sender = senders.get(tx.public_key)
        if sender is None:
            sender = senders[tx.public_key] = address_from_public_key(tx.public_key)
        rows.append(
            {
                "tx_hash": tx_hash,
                "height": height,
                "tx_index": index,
                "encoded": tx.encode(),
                "sender": sender,
                "to_address": tx.to,
            }
        )
    return rows


def receipt_and_log_rows(
    height: int, receipts: Sequence[Receipt]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return the ``receipts`` rows and ``logs`` rows of a block (receipts in block order)."""
    receipt_rows = []
    log_rows = []
    for index, receipt in enumerate(receipts):
        receipt_rows.append(
            {
                "tx_hash": receipt.tx_hash,
                "height": height,
                "tx_index": index,
                "encoded": receipt.encode(),
                "status": receipt.status,
            }
        )
        for log_index, log in enumerate(receipt.logs):
            if len(log.topics) > MAX_LOG_TOPICS:
                raise StorageError(
                    "a log has more than four topics", height=height, tx_index=index, log_index=log_index
                )
            topics = list(log.topics) + [None] * (MAX_LOG_TOPICS - len(log.topics))
            log_rows.append(
                {
                    "height": height,
                    "tx_index": index,
                    "log_index": log_index,
                    "tx_hash": receipt.tx_hash,
                    "address": log.address,
                    "topic0": topics[0],
                    "topic1": topics[1],
                    "topic2": topics[2],
                    "topic3": topics[3],
                    "data": log.data,
                }
            )
    return receipt_rows, log_rows
