"""Inputs and outputs of the execution engine (frozen dataclasses; no py-evm types cross this boundary)."""

from __future__ import annotations

from dataclasses import dataclass

from sdk.types import Receipt


@dataclass(frozen=True, slots=True)
class Message:
    """One transaction as the EVM sees it: the ledger has already checked its SM2 signature."""

    sender: bytes  # 20 bytes, SM3-derived address of the signer
    to: bytes  # 20 bytes, a contract address
    data: bytes  # ABI call data
    gas_limit: int
    tx_hash: bytes  # 32 bytes (SM3), copied into the receipt


@dataclass(frozen=True, slots=True)
class BlockContext:
    """Block-level values visible to contracts (NUMBER, TIMESTAMP, GASLIMIT, COINBASE)."""

    height: int  # block.number
    timestamp_ms: int  # block.timestamp = timestamp_ms // 1000
    gas_limit: int  # block gas limit (block.gaslimit); the ledger keeps the sum of tx gas under it
    proposer: bytes  # 20 bytes, block.coinbase (receives nothing: gas price is 0)


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    state_root: bytes  # EVM state root (Keccak MPT) after the block
    receipts: tuple[Receipt, ...]  # one per message, same order
    gas_used: int  # sum of receipts' gas_used


@dataclass(frozen=True, slots=True)
class StorageProof:
    key: int  # storage slot
    value: int  # 0 when absent (the proof then shows absence)
    proof: tuple[bytes, ...]  # RLP-encoded MPT nodes, root first


@dataclass(frozen=True, slots=True)
class AccountProof:
    """eth_getProof result: the account's fields and MPT proofs against a state root."""

    address: bytes
    balance: int
    code_hash: bytes  # Keccak-256 of the code (EVM rule)
    nonce: int
    storage_hash: bytes  # root of the account's storage trie
    account_proof: tuple[bytes, ...]  # RLP-encoded MPT nodes, root first
    storage_proof: tuple[StorageProof, ...]
