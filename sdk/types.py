"""Wire types of the Xinlian ledger (frozen dataclasses): canonical RLP encoding, hashes, field checks."""

# Style: each type has ``encode() -> bytes`` and ``decode(data) -> Self`` (a classmethod); derived values
# are properties (``tx_hash``, ``sender``, ``block_hash``); signing preimages are methods or module
# functions (``commit_preimage``); roots and set hashes are ``compute_*`` module functions. Whether a
# certificate proves a block is sdk.proofs.certificate's rule.
#
# Field lists are fixed by the wire format (docs/wire-format.md). Every signed preimage starts with a
# domain tag and the chain id.
# Construction validates field sizes and raises EncodingError; decoding accepts only the canonical
# encoding, so ``decode(b).encode() == b`` always. Encodings and hashes are cached inside the (frozen)
# objects in slots that are not dataclass fields: equality, repr and ``dataclasses.fields`` ignore them.

from __future__ import annotations

import abc
import dataclasses
import functools
import itertools
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NewType, Self

from sdk.crypto import PublicKey, sm3
from sdk.encoding import (
    MAX_UINT64,
    Item,
    decode,
    decode_fields,
    decode_int,
    decode_list,
    decode_string,
    encode_bytes,
    encode_int,
    encode_list,
    list_payload,
    readable_repr,
    split_list,
)
from sdk.errors import (
    EncodingError,
    InvalidKeyError,
    InvalidSignatureError,
)
from sdk.keyholder import SigningKey, public_key_bytes, sign_checked
from sdk.proofs.merkle import compute_root

Height = NewType("Height", int)
Address = NewType("Address", bytes)  # 20 bytes: last 20 bytes of SM3(x‖y)
Hash32 = NewType("Hash32", bytes)  # an SM3 digest unless the name says otherwise

TX_TAG = b"xinlian/tx/1"
COMMIT_TAG = b"xinlian/commit/1"
VALIDATORS_TAG = b"xinlian/validators/1"

ADDRESS_BYTES = 20
HASH_BYTES = 32
PUBLIC_KEY_BYTES = 64
SIGNATURE_BYTES = 64
TX_NONCE_BYTES = 16
MAX_TOPICS = 4  # EVM LOG0..LOG4

_ENC_TX_TAG = encode_bytes(TX_TAG)
_ENC_COMMIT_TAG = encode_bytes(COMMIT_TAG)
_ENC_VALIDATORS_TAG = encode_bytes(VALIDATORS_TAG)
_ENC_SIGNATURE_LEN = 2 + SIGNATURE_BYTES  # 0xb8 0x40 ‖ r‖s: a signature is always the last 66 bytes


# --- field checks --------------------------------------------------------------------------------------
def _check_bytes(owner: str, name: str, value: object, size: int | None = None) -> None:
    if type(value) is not bytes:
        raise EncodingError(f"{owner}.{name} must be bytes, not {type(value).__name__}", field=name)
    if size is not None and len(value) != size:
        raise EncodingError(
            f"{owner}.{name} must be {size} bytes, got {len(value)}", field=name, length=len(value)
        )


def _check_uint(owner: str, name: str, value: object, maximum: int = MAX_UINT64) -> None:
    if type(value) is not int:
        raise EncodingError(f"{owner}.{name} must be an int, not {type(value).__name__}", field=name)
    if not 0 <= value <= maximum:
        raise EncodingError(f"{owner}.{name} = {value} is outside [0, {maximum}]", field=name)


def _as_tuple(obj: object, name: str, value: object) -> tuple[Any, ...]:
    """Lists are accepted for tuple fields and frozen into tuples (the objects stay hashable)."""
    if type(value) is tuple:
        return value
    if isinstance(value, list | tuple):
        t = tuple(value)
        object.__setattr__(obj, name, t)
        return t
    raise EncodingError(
        f"{type(obj).__name__}.{name} must be a tuple, not {type(value).__name__}", field=name
    )


class _Cached(abc.ABC):
    """Slots for caches that are not dataclass fields (set once with object.__setattr__), and the cached
    ``encode``: a type writes ``_encode``."""

    __slots__ = ("_encoded",)
    _encoded: bytes

    @abc.abstractmethod
    def _encode(self) -> bytes: ...

    def encode(self) -> bytes:
        """Return the canonical RLP encoding (computed once)."""
        try:
            return self._encoded
        except AttributeError:
            pass
        encoded = self._encode()
        object.__setattr__(self, "_encoded", encoded)
        return encoded


class _Decoded(_Cached):
    """A cached type decoded from one RLP item: a type writes ``_encode`` and ``from_item``; ``decode``
    keeps the bytes it was given as the cached encoding."""

    __slots__ = ()

    @classmethod
    @abc.abstractmethod
    def from_item(cls, item: Item) -> Self:
        """Return the object from its decoded RLP item; raises EncodingError."""

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Return the object whose canonical encoding is ``data``.

        Raises EncodingError for malformed or non-canonical RLP, trailing bytes, a wrong number of fields
        or a field of the wrong size.
        """
        obj = cls.from_item(decode(data))
        object.__setattr__(obj, "_encoded", data)
        return obj


def _encode_flat(obj: object) -> bytes:
    """RLP of a flat wire type: its int and bytes fields in declaration order (the wire order)."""
    return encode_list(
        encode_int(v) if type(v) is int else encode_bytes(v)
        for v in (getattr(obj, name) for name, _ in _flat_layout(type(obj)))
    )


def _decode_flat(item: Item, owner: str, cls: type) -> list[Any]:
    """The field values of a flat wire type from its decoded RLP item; raises EncodingError."""
    layout = _flat_layout(cls)
    values = decode_fields(item, owner, len(layout))
    return [
        decode_int(v, name) if is_int else decode_string(v, name)
        for (name, is_int), v in zip(layout, values, strict=True)
    ]


_FLAT_LAYOUTS: dict[type, tuple[tuple[str, bool], ...]] = {}


def _flat_layout(cls: type) -> tuple[tuple[str, bool], ...]:
    """(field name, whether it is an int) of a flat wire type, in declaration order (computed once)."""
    layout = _FLAT_LAYOUTS.get(cls)
    if layout is None:
        layout = _FLAT_LAYOUTS[cls] = tuple((f.name, f.type == "int") for f in dataclasses.fields(cls))
    return layout


class _TxCached(_Decoded):
    __slots__ = ("_sender", "_tx_hash")
    _sender: bytes
    _tx_hash: bytes


class _HeaderCached(_Decoded):
    __slots__ = ("_block_hash",)
    _block_hash: bytes


# --- transaction -------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4096)
def public_key_of(raw: bytes) -> PublicKey:
    """Parsed public keys are cached: a few organisations sign most transactions and seals."""
    return PublicKey.from_bytes(raw)


@readable_repr
@dataclass(frozen=True, slots=True)
class Transaction(_TxCached):
    chain_id: int
    nonce: bytes  # 16 random bytes
    expiry_height: int
    to: bytes  # 20 bytes
    data: bytes  # ABI-encoded call
    gas_limit: int
    public_key: bytes  # 64 bytes x‖y
    signature: bytes  # 64 bytes r‖s

    def __post_init__(self) -> None:
        _check_uint("Transaction", "chain_id", self.chain_id)
        _check_bytes("Transaction", "nonce", self.nonce, TX_NONCE_BYTES)
        _check_uint("Transaction", "expiry_height", self.expiry_height)
        _check_bytes("Transaction", "to", self.to, ADDRESS_BYTES)
        _check_bytes("Transaction", "data", self.data)
        _check_uint("Transaction", "gas_limit", self.gas_limit)
        _check_bytes("Transaction", "public_key", self.public_key, PUBLIC_KEY_BYTES)
        _check_bytes("Transaction", "signature", self.signature, SIGNATURE_BYTES)

    @classmethod
    def create(
        cls,
        signer: SigningKey,
        *,
        chain_id: int,
        to: bytes,
        data: bytes,
        gas_limit: int,
        expiry_height: int,
        nonce: bytes | None = None,
    ) -> Transaction:
        """Return a transaction signed by ``signer`` (a KeyHolder: sdk.signer.Signer, a PKCS#11 token,
        a remote signer; or a bare PrivateKey), with a fresh 16-byte random nonce.

        Raises EncodingError for a malformed field (e.g. ``to`` not 20 bytes); SignerError subclasses
        from the key holder.
        """
        if nonce is None:
            nonce = secrets.token_bytes(TX_NONCE_BYTES)
        public_key = public_key_bytes(signer)
        # Validate before signing so a bad field is reported as such, not as a signing failure.
        unsigned = cls(
            chain_id, nonce, expiry_height, to, data, gas_limit, public_key, bytes(SIGNATURE_BYTES)
        )
        signature = sign_checked(signer, unsigned.signing_preimage())
        return cls(chain_id, nonce, expiry_height, to, data, gas_limit, public_key, signature)

    def _encode(self) -> bytes:
        """RLP([chain_id, nonce, expiry_height, to, data, gas_limit, public_key, signature])."""
        return _encode_flat(self)

    @classmethod
    def from_item(cls, item: Item) -> Transaction:
        return cls(*_decode_flat(item, "transaction", cls))

    def signing_preimage(self) -> bytes:
        """Return RLP([TX_TAG, chain_id, nonce, expiry_height, to, data, gas_limit, public_key]).

        This is the message the sender's SM2 signature covers (SM2 hashes it with Z_A itself).
        """
        # The encoding ends with the 66-byte signature item; the rest of its payload is the body.
        body = list_payload(self.encode())[:-_ENC_SIGNATURE_LEN]
        return encode_list((_ENC_TX_TAG, body))

    @property
    def tx_hash(self) -> bytes:
        """SM3 of the signing preimage (32 bytes): the transaction's identity."""
        try:
            return self._tx_hash
        except AttributeError:
            pass
        h = sm3(self.signing_preimage())
        object.__setattr__(self, "_tx_hash", h)
        return h

    @property
    def sender(self) -> bytes:
        """The 20-byte sender address: last 20 bytes of SM3(public_key).

        Same rule as ``sdk.crypto.address_from_public_key`` but never raises: whether the key is a curve
        point is checked by ``verify_signature``.
        """
        try:
            return self._sender
        except AttributeError:
            pass
        a = sm3(self.public_key)[-ADDRESS_BYTES:]
        object.__setattr__(self, "_sender", a)
        return a

    def verify_signature(self) -> None:
        """Return None if ``signature`` is the SM2 signature of ``public_key`` over the signing preimage.

        Raises InvalidSignatureError if it does not verify or the public key is not an SM2 curve point.
        """
        try:
            key = public_key_of(self.public_key)
        except InvalidKeyError as exc:
            raise InvalidSignatureError(
                f"transaction public key is not a valid SM2 key: {exc.message}", tx_hash=self.tx_hash.hex()
            ) from exc
        try:
            key.verify(self.signing_preimage(), self.signature)
        except InvalidSignatureError as exc:
            raise InvalidSignatureError(
                "transaction signature does not verify", tx_hash=self.tx_hash.hex(), sender=self.sender.hex()
            ) from exc


# --- block header ------------------------------------------------------------------------------------
_HEADER_HASH_FIELDS = (
    "parent_hash",
    "tx_root",
    "receipt_root",
    "state_root",
    "history_root",
    "validators_hash",
    "next_validators_hash",
)


@readable_repr
@dataclass(frozen=True, slots=True)
class BlockHeader(_HeaderCached):
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

    def __post_init__(self) -> None:
        for name in ("version", "chain_id", "height", "timestamp_ms", "round", "proposer_index", "gas_used"):
            _check_uint("BlockHeader", name, getattr(self, name))
        for name in _HEADER_HASH_FIELDS:
            _check_bytes("BlockHeader", name, getattr(self, name), HASH_BYTES)

    def _encode(self) -> bytes:
        """RLP of the 14 fields in declaration order (ints minimal big-endian, hashes 32 bytes)."""
        return _encode_flat(self)

    @classmethod
    def from_item(cls, item: Item) -> BlockHeader:
        return cls(*_decode_flat(item, "block header", cls))

    @property
    def block_hash(self) -> bytes:
        """SM3(RLP(header)) (32 bytes)."""
        try:
            return self._block_hash
        except AttributeError:
            pass
        h = sm3(self.encode())
        object.__setattr__(self, "_block_hash", h)
        return h


# --- commit certificate ------------------------------------------------------------------------------
@readable_repr
@dataclass(frozen=True, slots=True)
class Seal:
    validator_index: int
    signature: bytes  # 64 bytes r‖s over the commit preimage

    def __post_init__(self) -> None:
        _check_uint("Seal", "validator_index", self.validator_index)
        _check_bytes("Seal", "signature", self.signature, SIGNATURE_BYTES)


@readable_repr
@dataclass(frozen=True, slots=True)
class CommitCertificate(_Decoded):
    height: int
    round: int
    block_hash: bytes
    seals: tuple[Seal, ...]  # sorted by validator_index, unique

    def __post_init__(self) -> None:
        _check_uint("CommitCertificate", "height", self.height)
        _check_uint("CommitCertificate", "round", self.round)
        _check_bytes("CommitCertificate", "block_hash", self.block_hash, HASH_BYTES)
        previous = -1
        for seal in _as_tuple(self, "seals", self.seals):
            if not isinstance(seal, Seal):
                raise EncodingError(f"CommitCertificate.seals holds a {type(seal).__name__}, not a Seal")
            if seal.validator_index <= previous:
                raise EncodingError(
                    "CommitCertificate.seals must be sorted by validator_index without duplicates",
                    validator_index=seal.validator_index,
                )
            previous = seal.validator_index

    def _encode(self) -> bytes:
        """RLP([height, round, block_hash, [[validator_index, signature], …]])."""
        seals = encode_list(_encode_flat(s) for s in self.seals)
        return encode_list(
            (encode_int(self.height), encode_int(self.round), encode_bytes(self.block_hash), seals)
        )

    @classmethod
    def from_item(cls, item: Item) -> CommitCertificate:
        f = decode_fields(item, "commit certificate", 4)
        seals = tuple(Seal(*_decode_flat(s, "seal", Seal)) for s in decode_list(f[3], "seals"))
        return cls(
            decode_int(f[0], "height"), decode_int(f[1], "round"), decode_string(f[2], "block_hash"), seals
        )


def commit_preimage(chain_id: int, height: int, round: int, block_hash: bytes) -> bytes:
    """Return RLP([COMMIT_TAG, chain_id, height, round, block_hash]), the message every seal signs.

    Raises EncodingError for a negative integer or a block hash that is not 32 bytes.
    """
    _check_uint("commit", "chain_id", chain_id)
    _check_uint("commit", "height", height)
    _check_uint("commit", "round", round)
    _check_bytes("commit", "block_hash", block_hash, HASH_BYTES)
    return encode_list(
        (
            _ENC_COMMIT_TAG,
            encode_int(chain_id),
            encode_int(height),
            encode_int(round),
            encode_bytes(block_hash),
        )
    )


# --- receipts ----------------------------------------------------------------------------------------
@readable_repr
@dataclass(frozen=True, slots=True)
class Log:
    address: bytes  # 20 bytes, the emitting contract
    topics: tuple[bytes, ...]  # 32 bytes each (EVM event topics)
    data: bytes

    def __post_init__(self) -> None:
        _check_bytes("Log", "address", self.address, ADDRESS_BYTES)
        topics = _as_tuple(self, "topics", self.topics)
        if len(topics) > MAX_TOPICS:
            raise EncodingError(f"Log.topics has {len(topics)} topics, at most {MAX_TOPICS}")
        for t in topics:
            _check_bytes("Log", "topics[]", t, HASH_BYTES)
        _check_bytes("Log", "data", self.data)

    def encode(self) -> bytes:
        """Return RLP([address, [topics…], data])."""
        return encode_list(
            (
                encode_bytes(self.address),
                encode_list(encode_bytes(t) for t in self.topics),
                encode_bytes(self.data),
            )
        )

    @classmethod
    def decode(cls, data: bytes) -> Log:
        """Return the log whose canonical encoding is ``data``; raises EncodingError."""
        return cls.from_item(decode(data))

    @classmethod
    def from_item(cls, item: Item) -> Log:
        """Return the log from its decoded RLP item; raises EncodingError."""
        f = decode_fields(item, "log", 3)
        topics = tuple(decode_string(t, "topic") for t in decode_list(f[1], "topics"))
        return cls(decode_string(f[0], "address"), topics, decode_string(f[2], "data"))


@readable_repr
@dataclass(frozen=True, slots=True)
class Receipt(_Decoded):
    tx_hash: bytes
    status: int  # 1 success, 0 reverted
    gas_used: int
    logs: tuple[Log, ...]
    revert_reason: bytes  # empty on success

    def __post_init__(self) -> None:
        _check_bytes("Receipt", "tx_hash", self.tx_hash, HASH_BYTES)
        _check_uint("Receipt", "status", self.status, 1)
        _check_uint("Receipt", "gas_used", self.gas_used)
        for log in _as_tuple(self, "logs", self.logs):
            if not isinstance(log, Log):
                raise EncodingError(f"Receipt.logs holds a {type(log).__name__}, not a Log")
        _check_bytes("Receipt", "revert_reason", self.revert_reason)
        if self.status == 1 and self.revert_reason:
            raise EncodingError("Receipt.revert_reason must be empty when status is 1 (success)")

    def _encode(self) -> bytes:
        """RLP([tx_hash, status, gas_used, [[address, [topics…], data], …], revert_reason])."""
        return encode_list(
            (
                encode_bytes(self.tx_hash),
                encode_int(self.status),
                encode_int(self.gas_used),
                encode_list(log.encode() for log in self.logs),
                encode_bytes(self.revert_reason),
            )
        )

    @classmethod
    def from_item(cls, item: Item) -> Receipt:
        f = decode_fields(item, "receipt", 5)
        return cls(
            decode_string(f[0], "tx_hash"),
            decode_int(f[1], "status"),
            decode_int(f[2], "gas_used"),
            tuple(Log.from_item(x) for x in decode_list(f[3], "logs")),
            decode_string(f[4], "revert_reason"),
        )


# --- block -------------------------------------------------------------------------------------------
@readable_repr
@dataclass(frozen=True, slots=True)
class Block(_Cached):
    header: BlockHeader
    transactions: tuple[Transaction, ...]
    # The validator set (64-byte public keys, sorted by address) that takes over after this block; empty
    # unless this block changes the set (genesis always carries the first set).
    next_validators: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.header, BlockHeader):
            raise EncodingError(f"Block.header must be a BlockHeader, not {type(self.header).__name__}")
        for tx in _as_tuple(self, "transactions", self.transactions):
            if not isinstance(tx, Transaction):
                raise EncodingError(f"Block.transactions holds a {type(tx).__name__}, not a Transaction")
        keys = _as_tuple(self, "next_validators", self.next_validators)
        if keys:
            _check_validator_set("Block.next_validators", keys)

    def _encode(self) -> bytes:
        """RLP([header, [transaction…], [next validator public key…]]) (header and txs nested)."""
        return encode_list(
            (
                self.header.encode(),
                encode_list(tx.encode() for tx in self.transactions),
                encode_list(encode_bytes(k) for k in self.next_validators),
            )
        )

    @classmethod
    def decode(cls, data: bytes) -> Block:
        """Return the block whose canonical encoding is ``data``; raises EncodingError.

        Not through ``from_item``: the transactions' encodings are split out whole, so each keeps its
        bytes as its cached encoding without being encoded again.
        """
        parts = split_list(data)
        if len(parts) != 3:
            raise EncodingError(f"block must have 3 fields, found {len(parts)}", arity=len(parts))
        header = BlockHeader.decode(parts[0])
        if parts[1][0] < 0xC0:
            raise EncodingError("block transactions must be an RLP list, found a string")
        txs = tuple(Transaction.decode(raw) for raw in split_list(parts[1]))
        keys = tuple(
            decode_string(k, "next validator key") for k in decode_list(decode(parts[2]), "next_validators")
        )
        block = cls(header, txs, keys)
        object.__setattr__(block, "_encoded", data)
        return block


# --- roots and validator sets ------------------------------------------------------------------------
def _check_validator_set(what: str, keys: Sequence[bytes]) -> None:
    for k in keys:
        _check_bytes(what, "[]", k, PUBLIC_KEY_BYTES)
    addresses = [sm3(k)[-ADDRESS_BYTES:] for k in keys]
    if any(b <= a for a, b in itertools.pairwise(addresses)):
        raise EncodingError(f"{what} must be sorted by address without duplicates")


def sort_validators(pubkeys: Sequence[bytes]) -> list[bytes]:
    """Return the 64-byte public keys sorted by their 20-byte address (the canonical set order).

    Raises EncodingError for a key that is not 64 bytes or a key given twice.
    """
    keys = list(pubkeys)
    for k in keys:
        _check_bytes("validators", "[]", k, PUBLIC_KEY_BYTES)
    ordered = sorted(keys, key=lambda k: sm3(k)[-ADDRESS_BYTES:])
    if len(set(ordered)) != len(ordered):
        raise EncodingError("the validator set names the same public key twice")
    return ordered


def compute_validators_hash(pubkeys: Sequence[bytes]) -> bytes:
    """Return SM3(RLP([VALIDATORS_TAG, [pubkey…]])) of the set in the given (canonical) order.

    Raises EncodingError for a key that is not 64 bytes.
    """
    for k in pubkeys:
        _check_bytes("validators", "[]", k, PUBLIC_KEY_BYTES)
    return sm3(encode_list((_ENC_VALIDATORS_TAG, encode_list(encode_bytes(k) for k in pubkeys))))


def compute_tx_root(txs: Sequence[Transaction]) -> bytes:
    """Return the SM3 Merkle root (RFC 9162) over the transactions' encodings."""
    return compute_root([tx.encode() for tx in txs])


def compute_receipt_root(receipts: Sequence[Receipt]) -> bytes:
    """Return the SM3 Merkle root (RFC 9162) over the receipts' encodings."""
    return compute_root([r.encode() for r in receipts])
