"""Wire types of the Xinlian ledger (frozen dataclasses) and their canonical RLP encoding.

Field lists are fixed by DESIGN.md; encoding, decoding, signing preimages and hashes are defined here and
nowhere else. Every signed preimage starts with a domain tag and the chain id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NewType

Height = NewType("Height", int)
Address = NewType("Address", bytes)  # 20 bytes: last 20 bytes of SM3(x‖y)
Hash32 = NewType("Hash32", bytes)  # an SM3 digest unless the name says otherwise

TX_TAG = b"xinlian/tx/1"
COMMIT_TAG = b"xinlian/commit/1"


@dataclass(frozen=True, slots=True)
class Transaction:
    chain_id: int
    nonce: bytes  # 16 random bytes
    expiry_height: int
    to: bytes  # 20 bytes
    data: bytes  # ABI-encoded call
    gas_limit: int
    public_key: bytes  # 64 bytes x‖y
    signature: bytes  # 64 bytes r‖s


@dataclass(frozen=True, slots=True)
class BlockHeader:
    version: int
    chain_id: int
    height: int
    parent_hash: bytes
    timestamp_ms: int
    round: int
    proposer_index: int
    tx_root: bytes
    receipt_root: bytes
    state_root: bytes  # EVM state root (py-evm MPT, Keccak inside the EVM)
    history_root: bytes  # SM3 Merkle root over the hashes of blocks 0..height-1
    validators_hash: bytes
    next_validators_hash: bytes
    gas_used: int


@dataclass(frozen=True, slots=True)
class Seal:
    validator_index: int
    signature: bytes  # 64 bytes r‖s over the commit preimage


@dataclass(frozen=True, slots=True)
class CommitCertificate:
    height: int
    round: int
    block_hash: bytes
    seals: tuple[Seal, ...]  # sorted by validator_index, unique


@dataclass(frozen=True, slots=True)
class Log:
    address: bytes  # 20 bytes, the emitting contract
    topics: tuple[bytes, ...]  # 32 bytes each (EVM event topics)
    data: bytes


@dataclass(frozen=True, slots=True)
class Receipt:
    tx_hash: bytes
    status: int  # 1 success, 0 reverted
    gas_used: int
    logs: tuple[Log, ...]
    revert_reason: bytes  # empty on success


@dataclass(frozen=True, slots=True)
class Block:
    header: BlockHeader
    transactions: tuple[Transaction, ...]
    # The validator set (64-byte public keys, sorted by address) that takes over after this block; empty
    # unless this block changes the set (genesis always carries the first set).
    next_validators: tuple[bytes, ...] = ()
