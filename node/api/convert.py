"""Conversion from wire types (sdk.types) and store results to the API's pydantic shapes — the one place."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from node.api.models import (
    BlockHeaderPublic,
    BlockPublic,
    CertificatePublic,
    ChainConfigPublic,
    LogEntryPublic,
    LogPublic,
    ReceiptPublic,
    SealPublic,
    TransactionFields,
    ValidatorPublic,
)
from node.config import ChainConfig
from node.storage import StoredLog
from sdk.crypto import address_from_public_key
from sdk.types import Block, BlockHeader, CommitCertificate, Receipt, Transaction


def to_hex(data: bytes) -> str:
    """Return ``data`` as 0x-prefixed lower-case hex."""
    return "0x" + data.hex()


def to_optional_hex(data: bytes) -> str | None:
    """Return ``data`` as 0x-hex, or None when it is all zeros (an unset hash or address)."""
    return to_hex(data) if any(data) else None


def to_plain(value: Any) -> Any:
    """Return a decoded contract value (an event argument) as JSON: bytes as 0x-hex, lists element by
    element, bool, int, str and None as they are, anything else as its text."""
    if isinstance(value, bytes):
        return to_hex(value)
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


def decode_revert_reason(data: bytes) -> str | None:
    """Return the revert reason as text, or None when it is empty or not UTF-8.

    Accepts both the bare reason bytes and a Solidity/Vyper ``Error(string)`` ABI payload.
    """
    if not data:
        return None
    if data[:4] == bytes.fromhex("08c379a0") and len(data) >= 68:
        length = int.from_bytes(data[36:68], "big")
        if 68 + length <= len(data):
            data = data[68 : 68 + length]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def to_receipt_public(receipt: Receipt) -> ReceiptPublic:
    """Return the API shape of a receipt (log_index counts within the transaction)."""
    return ReceiptPublic(
        status=receipt.status,
        gas_used=receipt.gas_used,
        logs=[
            LogPublic(
                address=to_hex(log.address),
                topics=[to_hex(t) for t in log.topics],
                data=to_hex(log.data),
                log_index=i,
            )
            for i, log in enumerate(receipt.logs)
        ],
        revert_reason=decode_revert_reason(receipt.revert_reason),
        revert_data=to_hex(receipt.revert_reason),
    )


def to_transaction_fields(tx: Transaction) -> TransactionFields:
    """Return the decoded fields of a transaction, plus its sender address."""
    return TransactionFields(
        chain_id=tx.chain_id,
        nonce=to_hex(tx.nonce),
        expiry_height=tx.expiry_height,
        to=to_hex(tx.to),
        data=to_hex(tx.data),
        gas_limit=tx.gas_limit,
        public_key=to_hex(tx.public_key),
        signature=to_hex(tx.signature),
        sender=to_hex(tx.sender),
    )


def to_header_public(header: BlockHeader) -> BlockHeaderPublic:
    """Return a header with its byte fields as hex."""
    fields: dict[str, Any] = {k: to_hex(v) if isinstance(v, bytes) else v for k, v in asdict(header).items()}
    return BlockHeaderPublic(**fields)


def to_block_public(block: Block) -> BlockPublic:
    """Return a block: header fields, the canonical header encoding, tx hashes and any validator handover."""
    header = block.header
    return BlockPublic(
        height=header.height,
        block_hash=to_hex(header.block_hash),
        header=to_header_public(header),
        header_raw=to_hex(header.encode()),
        transactions=[to_hex(tx.tx_hash) for tx in block.transactions],
        next_validators=[to_hex(v) for v in block.next_validators],
    )


def to_certificate_public(certificate: CommitCertificate, header: BlockHeader) -> CertificatePublic:
    """Return a commit certificate with its canonical encoding and the certified header's encoding."""
    return CertificatePublic(
        height=certificate.height,
        round=certificate.round,
        block_hash=to_hex(certificate.block_hash),
        seals=[
            SealPublic(validator_index=s.validator_index, signature=to_hex(s.signature))
            for s in certificate.seals
        ],
        raw=to_hex(certificate.encode()),
        header_raw=to_hex(header.encode()),
    )


def to_log_entry_public(stored: StoredLog) -> LogEntryPublic:
    """Return a committed log with its position."""
    return LogEntryPublic(
        address=to_hex(stored.log.address),
        topics=[to_hex(t) for t in stored.log.topics],
        data=to_hex(stored.log.data),
        height=stored.height,
        tx_hash=to_hex(stored.tx_hash),
        tx_index=stored.tx_index,
        log_index=stored.log_index,
    )


def to_validators_public(validators: tuple[bytes, ...]) -> list[ValidatorPublic]:
    """Return the validator set in index order with each key's address."""
    return [
        ValidatorPublic(index=i, public_key=to_hex(key), address=to_hex(address_from_public_key(key)))
        for i, key in enumerate(validators)
    ]


def to_chain_config_public(chain: ChainConfig) -> ChainConfigPublic:
    """Return the consensus-critical chain parameters."""
    return ChainConfigPublic(**asdict(chain))
