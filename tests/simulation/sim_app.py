"""A deterministic toy application for the consensus core: header-like blocks, a chain, real SM2 keys."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from node.consensus.core import BlockInfo, ChainHead
from node.consensus.signing import CachingVerifier, Sm2Signer, Sm2Verifier
from sdk.crypto import PrivateKey, sm3
from sdk.encoding import decode as rlp_decode, encode as rlp_encode
from sdk.errors import EncodingError, InvalidBlock
from sdk.types import CommitCertificate

#: A proposal may carry a timestamp this far ahead of the receiver's clock (the ledger's rule).
MAX_CLOCK_AHEAD_MS = 1_000
INVALID_PAYLOAD = b"invalid"


@dataclass(frozen=True, slots=True)
class SimBlock:
    """Header-like block: its hash covers height, round, proposer, parent, time and payload."""

    height: int
    round: int
    proposer_index: int
    parent_hash: bytes
    timestamp_ms: int
    payload: bytes

    def encode(self) -> bytes:
        fields = [
            self.height,
            self.round,
            self.proposer_index,
            self.parent_hash,
            self.timestamp_ms,
            self.payload,
        ]
        return rlp_encode(fields)

    @property
    def hash(self) -> bytes:
        return sm3(self.encode())


def decode_sim_block(data: bytes) -> SimBlock:
    items = rlp_decode(data)
    if not isinstance(items, list) or len(items) != 6 or not all(isinstance(i, bytes) for i in items):
        raise EncodingError("bad sim block shape")
    h, r, p, parent, ts, payload = items
    for raw in (h, r, p, ts):
        if raw[:1] == b"\x00" or len(raw) > 8:
            raise EncodingError("non-canonical integer in sim block")
    block = SimBlock(
        int.from_bytes(h, "big"),
        int.from_bytes(r, "big"),
        int.from_bytes(p, "big"),
        parent,
        int.from_bytes(ts, "big"),
        payload,
    )
    if block.encode() != data:
        raise EncodingError("non-canonical sim block")
    return block


GENESIS = SimBlock(0, 0, 0, b"\x00" * 32, 0, b"genesis")


class SimApp:
    """BlockSource over an in-memory chain; the chain is this node's 'disk' and survives crashes."""

    def __init__(
        self, node_index: int, validators: tuple[bytes, ...], block_period_ms: int, *, reround: bool = False
    ) -> None:
        self.node_index = node_index
        # reround=False: a re-proposed prepared block is sent unchanged (its hash covers the round it was
        # first proposed in, as Xinlian's header hash does). True: the Dafny/Besu re-rounding, which forks a
        # chain whose block hash covers the round (see docs/consensus.md).
        self.reround = reround
        self.validators = validators
        self.block_period_ms = block_period_ms
        self.chain: list[SimBlock] = [GENESIS]
        self.certificates: list[CommitCertificate | None] = [None]
        self.payload_override: bytes | None = None

    # --- BlockSource ---------------------------------------------------------------------------------
    def propose_block(self, height: int, round: int, proposer_index: int, now_ms: int) -> SimBlock:
        parent = self.chain[-1]
        payload = self.payload_override or f"n{self.node_index}/h{height}/r{round}".encode()
        timestamp = max(now_ms, parent.timestamp_ms + self.block_period_ms)
        return SimBlock(height, round, proposer_index, parent.hash, timestamp, payload)

    def validate_block(self, block: SimBlock, now_ms: int) -> None:
        parent = self.chain[-1]
        if block.height != parent.height + 1:
            raise InvalidBlock("wrong height", height=block.height)
        if block.parent_hash != parent.hash:
            raise InvalidBlock("wrong parent")
        if block.timestamp_ms < parent.timestamp_ms + self.block_period_ms:
            raise InvalidBlock("too early")
        if block.timestamp_ms > now_ms + MAX_CLOCK_AHEAD_MS:
            raise InvalidBlock("from the future")
        if block.payload == INVALID_PAYLOAD:
            raise InvalidBlock("invalid payload")

    def block_hash(self, block: SimBlock) -> bytes:
        return block.hash

    def block_info(self, block: SimBlock) -> BlockInfo:
        return BlockInfo(block.height, block.round, block.proposer_index, block.timestamp_ms)

    def rehash_for_round(self, block: SimBlock, round: int, proposer_index: int) -> SimBlock:
        if not self.reround:
            return block
        return dataclasses.replace(block, round=round, proposer_index=proposer_index)

    def validators_after(self, block: SimBlock) -> tuple[bytes, ...]:
        return self.validators

    def encode_block(self, block: SimBlock) -> bytes:
        return block.encode()

    def decode_block(self, data: bytes) -> SimBlock:
        return decode_sim_block(data)

    # --- the chain -----------------------------------------------------------------------------------
    @property
    def height(self) -> int:
        return self.chain[-1].height

    def head(self) -> ChainHead:
        last = self.chain[-1]
        proposer = None if last.height == 0 else last.proposer_index
        return ChainHead(last.height, last.timestamp_ms, proposer, self.validators)

    def append(self, block: SimBlock, certificate: CommitCertificate) -> None:
        self.chain.append(block)
        self.certificates.append(certificate)


class KeyPool:
    """SM2 keys made once per process (key generation is slow; keys do not affect a run's behaviour)."""

    _keys: ClassVar[list[PrivateKey]] = []

    @classmethod
    def get(cls, count: int) -> list[PrivateKey]:
        while len(cls._keys) < count:
            cls._keys.append(PrivateKey.generate())
        return cls._keys[:count]

    @classmethod
    def signers(cls, count: int) -> list[Sm2Signer]:
        return [Sm2Signer(k) for k in cls.get(count)]


#: One memo of SM2 verdicts for the whole process: simulated nodes verify the same messages.
SHARED_VERIFIER = CachingVerifier(Sm2Verifier(), max_entries=200_000)
