"""Conversion between wire types (sdk.types) and database rows, in one place."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from sdk.encoding import (
    decode,
    decode_fields,
    decode_int,
    decode_string,
    encode_bytes,
    encode_int,
    encode_list,
    split_list,
)
from sdk.errors import StorageError
from sdk.types import MAX_TOPICS, Block, CommitCertificate, Log, Receipt, Transaction

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
TRANSACTION_COLUMNS = ("tx_hash", "height", "tx_index", "encoded", "key_id", "receipt")
LOG_COLUMNS = (
    "height",
    "tx_index",
    "log_index",
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


def encode_outcome(receipt: Receipt) -> bytes:
    """The part of ``receipt`` stored with its transaction: RLP ``[status, gas_used, revert_reason]`` (its
    transaction hash is the row's key, its logs are ``logs`` rows)."""
    return encode_list(
        (encode_int(receipt.status), encode_int(receipt.gas_used), encode_bytes(receipt.revert_reason))
    )


def _decode_outcome(data: bytes) -> tuple[int, int, bytes]:
    fields = decode_fields(decode(data), "receipt outcome", 3)
    return (
        decode_int(fields[0], "status"),
        decode_int(fields[1], "gas_used"),
        decode_string(fields[2], "revert_reason"),
    )


def stored_receipt(tx_hash: bytes, outcome: bytes, logs: Sequence[Log], **where: Any) -> Receipt:
    """Rebuild the receipt of ``tx_hash`` from its stored outcome and its logs (in log order).

    Raises: StorageError naming ``where`` if the outcome does not decode or the parts do not form a receipt.
    """
    status, gas_used, revert_reason = decode_stored("receipt", _decode_outcome, outcome, **where)
    return decode_stored(
        "receipt",
        lambda _: Receipt(
            tx_hash=tx_hash, status=status, gas_used=gas_used, logs=tuple(logs), revert_reason=revert_reason
        ),
        outcome,
        **where,
    )


#: The position of the public key among a transaction's RLP items (sdk.types.Transaction's wire order).
PUBLIC_KEY_ITEM = 6
_EMPTY_ITEM = b"\x80"


def without_public_key(tx: Transaction) -> bytes:
    """The canonical encoding of ``tx`` with its public key item emptied (the key is stored apart)."""
    items = split_list(tx.encode())
    items[PUBLIC_KEY_ITEM] = _EMPTY_ITEM
    return encode_list(items)


def with_public_key(stored: bytes, public_key: bytes | None) -> bytes:
    """The canonical encoding of a stored transaction: ``stored`` itself when ``public_key`` is None (a
    complete encoding), else ``stored`` with ``public_key`` put back. Raises EncodingError or StorageError
    if ``stored`` is not such an encoding."""
    if public_key is None:
        return stored
    items = split_list(stored)
    if len(items) <= PUBLIC_KEY_ITEM or items[PUBLIC_KEY_ITEM] != _EMPTY_ITEM:
        raise StorageError("a stored transaction has no emptied public key item")
    items[PUBLIC_KEY_ITEM] = encode_bytes(public_key)
    return encode_list(items)


def transaction_rows(
    height: int,
    transactions: Sequence[Transaction],
    receipts: Sequence[Receipt],
    key_ids: Mapping[bytes, int],
) -> list[tuple[Any, ...]]:
    """Return the ``transactions`` rows (TRANSACTION_COLUMNS order) of a block, in block order: each
    transaction without its public key (``key_ids`` maps each sender key to its ``public_keys`` id) and with
    the outcome of its receipt (same order; the receipt names the transaction)."""
    return [
        (
            receipt.tx_hash,
            height,
            index,
            without_public_key(tx),
            key_ids[tx.public_key],
            encode_outcome(receipt),
        )
        for index, (tx, receipt) in enumerate(zip(transactions, receipts, strict=True))
    ]


def log_rows(height: int, receipts: Sequence[Receipt]) -> list[tuple[Any, ...]]:
    """Return the ``logs`` rows (LOG_COLUMNS order) of a block's receipts."""
    rows = []
    for index, receipt in enumerate(receipts):
        for log_index, log in enumerate(receipt.logs):
            # Log guarantees at most MAX_TOPICS topics; missing positions are NULL.
            topics = (*log.topics, *_NO_TOPICS)
            rows.append((height, index, log_index, log.address, *topics[:MAX_TOPICS], log.data))
    return rows


def stored_log(address: bytes, topics: Sequence[bytes | None], data: bytes) -> Log:
    """The Log of a ``logs`` row (NULL topic positions dropped)."""
    return Log(
        address=bytes(address), topics=tuple(bytes(t) for t in topics if t is not None), data=bytes(data)
    )
