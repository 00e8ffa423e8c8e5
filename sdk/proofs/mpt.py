"""Ethereum Merkle-Patricia trie proofs (eth_getProof): a small offline verifier over rlp and Keccak-256."""

# The EVM state root is py-evm's hexary Merkle-Patricia trie (Keccak inside the EVM). This module
# walks a proof (RLP-encoded nodes, root first) from a trusted root to the value stored under a key, or to
# the proof that no value is stored. It needs only ``rlp`` and ``eth_hash`` (light dependencies through
# web3), not the ``trie`` package, and is cross-checked against trie.HexaryTrie.get_from_proof in the tests.
# Keccak digests stay inside this module and the state proof they serve: every other digest is SM3.

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import rlp
from eth_hash.auto import keccak

from sdk.encoding import readable_repr
from sdk.errors import MptProofError

__all__ = [
    "BLANK_ROOT",
    "EMPTY_CODE_HASH",
    "MptProofError",
    "ProvenAccount",
    "compute_storage_slot",
    "get_account",
    "get_account_storage_root",
    "get_from_proof",
    "verify_storage_proof",
]

#: Keccak-256 of RLP(b""): the root of an empty trie.
BLANK_ROOT: bytes = keccak(rlp.encode(b""))
#: Keccak-256 of b"": the code hash of an account without code.
EMPTY_CODE_HASH: bytes = keccak(b"")
_MAX_PROOF_NODES = 64  # a 32-byte key has 64 nibbles: no valid path is longer


def _nibbles(key: bytes) -> list[int]:
    out: list[int] = []
    for b in key:
        out.append(b >> 4)
        out.append(b & 0x0F)
    return out


def _decode_path(encoded: bytes) -> tuple[list[int], bool]:
    """Hex-prefix decoding (Yellow Paper appendix C): the nibbles and whether the node is a leaf."""
    if not encoded:
        raise MptProofError("empty hex-prefix path in a trie node")
    flag = encoded[0] >> 4
    if flag > 3:
        raise MptProofError(f"bad hex-prefix flag {flag} in a trie node")
    nibbles = _nibbles(encoded)
    is_leaf = flag >= 2
    if flag & 1:
        return nibbles[1:], is_leaf
    if nibbles[1] != 0:
        raise MptProofError("hex-prefix padding nibble is not zero")
    return nibbles[2:], is_leaf


def get_from_proof(root: bytes, key: bytes, proof: Sequence[bytes]) -> bytes:
    """Return the value stored under ``key`` in the trie with ``root``, as proven by ``proof``.

    Takes: the 32-byte root (Keccak-256), the trie key (already hashed, e.g. keccak(address)) and the
    RLP-encoded proof nodes (root first; order is not relied on, every node is found by its hash).
    Returns: the stored RLP value, or b"" when the proof shows that nothing is stored under ``key``.
    Raises: MptProofError when a node is missing, malformed, or does not hash to its reference.
    """
    if len(root) != 32:
        raise MptProofError("trie root must be 32 bytes")
    if len(proof) > _MAX_PROOF_NODES:
        raise MptProofError(f"proof has {len(proof)} nodes, more than any 32-byte key needs")
    by_hash = {keccak(node): node for node in proof}
    path = _nibbles(key)
    if root == BLANK_ROOT and not proof:
        return b""
    ref: Any = root
    depth = 0
    while True:
        if isinstance(ref, bytes):
            if ref == b"":
                return b""
            if len(ref) != 32:
                raise MptProofError("trie node reference is neither a 32-byte hash nor an embedded node")
            encoded = by_hash.get(ref)
            if encoded is None:
                raise MptProofError(
                    f"proof lacks the trie node {ref.hex()} at depth {depth}", node=ref.hex(), depth=depth
                )
            try:
                node: Any = rlp.decode(encoded)
            except rlp.exceptions.DecodingError as exc:
                raise MptProofError(f"trie node at depth {depth} is not RLP") from exc
        else:
            node = ref  # embedded node (its encoding is shorter than 32 bytes)
        if not isinstance(node, list):
            raise MptProofError(f"trie node at depth {depth} is not a list")
        if len(node) == 17:
            if depth == len(path):
                value = node[16]
                if not isinstance(value, bytes):
                    raise MptProofError("branch value is not a string")
                return value
            ref = node[path[depth]]
            depth += 1
        elif len(node) == 2:
            if not isinstance(node[0], bytes):
                raise MptProofError("leaf/extension path is not a string")
            segment, is_leaf = _decode_path(node[0])
            if path[depth : depth + len(segment)] != segment:
                return b""  # the key leaves the trie here: proven absent
            depth += len(segment)
            if is_leaf:
                if depth != len(path):
                    return b""
                if not isinstance(node[1], bytes):
                    raise MptProofError("leaf value is not a string")
                return bytes(node[1])
            ref = node[1]
        else:
            raise MptProofError(f"trie node at depth {depth} has {len(node)} items, not 2 or 17")
        if depth > len(path):
            raise MptProofError("trie path is longer than the key")


@readable_repr
@dataclass(frozen=True, slots=True)
class ProvenAccount:
    """The fields of an account record a state proof proves (nonce and balance are always 0 here)."""

    storage_root: bytes  # 32 bytes, BLANK_ROOT for no storage
    code_hash: bytes  # Keccak-256 of the account's code: which code was in force at that state


def get_account(state_root: bytes, address: bytes, account_proof: Sequence[bytes]) -> ProvenAccount:
    """Return the storage root and code hash of ``address`` in the state trie with ``state_root``.

    Takes: the state root (Keccak-256), a 20-byte address, the account proof nodes.
    Returns: the account's fields (BLANK_ROOT and EMPTY_CODE_HASH for an account proven absent).
    Raises: MptProofError when the proof does not hold or the account record is malformed.
    """
    encoded = get_from_proof(state_root, keccak(address), account_proof)
    if not encoded:
        return ProvenAccount(BLANK_ROOT, EMPTY_CODE_HASH)
    try:
        fields = rlp.decode(encoded)
    except rlp.exceptions.DecodingError as exc:
        raise MptProofError("account record is not RLP", address=address.hex()) from exc
    if not isinstance(fields, list) or len(fields) != 4 or not all(isinstance(f, bytes) for f in fields[2:]):
        raise MptProofError("account record is not [nonce, balance, storage_root, code_hash]")
    if len(fields[2]) != 32 or len(fields[3]) != 32:
        raise MptProofError("account storage root or code hash is not 32 bytes", address=address.hex())
    return ProvenAccount(bytes(fields[2]), bytes(fields[3]))


def get_account_storage_root(state_root: bytes, address: bytes, account_proof: Sequence[bytes]) -> bytes:
    """Return the storage root of ``address`` in the state trie with ``state_root`` (``get_account``)."""
    return get_account(state_root, address, account_proof).storage_root


def verify_storage_proof(
    state_root: bytes,
    address: bytes,
    slot: int,
    account_proof: Sequence[bytes],
    storage_proof: Sequence[bytes],
) -> int:
    """Return the 256-bit value of storage ``slot`` of ``address`` proven against ``state_root``.

    Takes: the EVM state root from a sealed header, the contract address, the slot number, and the two
    eth_getProof node lists. Returns: the value (0 when the slot is proven empty).
    Raises: MptProofError when either proof does not hold or the stored value is malformed.
    """
    if not 0 <= slot < 1 << 256:
        raise MptProofError("storage slot is outside 0..2^256-1")
    storage_root = get_account_storage_root(state_root, address, account_proof)
    encoded = get_from_proof(storage_root, keccak(slot.to_bytes(32, "big")), storage_proof)
    if not encoded:
        return 0
    try:
        raw = rlp.decode(encoded)
    except rlp.exceptions.DecodingError as exc:
        raise MptProofError("storage value is not RLP", slot=hex(slot)) from exc
    if not isinstance(raw, bytes) or len(raw) > 32 or (raw and raw[0] == 0):
        raise MptProofError("storage value is not a minimal 32-byte integer", slot=hex(slot))
    return int.from_bytes(raw, "big")


def compute_storage_slot(base_slot: int, *keys: bytes) -> int:
    """Return the storage slot of a (nested) Vyper HashMap entry: keccak256(slot ‖ key) per level.

    Takes: the HashMap's declared slot (from the contract's storage layout) and each key ABI-encoded to 32
    bytes. Returns: the slot of the entry (add a member's offset for a struct value).
    """
    slot = base_slot
    for key in keys:
        if len(key) != 32:
            raise MptProofError("a HashMap key must be ABI-encoded to 32 bytes")
        slot = int.from_bytes(keccak(slot.to_bytes(32, "big") + key), "big")
    return slot
