"""The ledger as the consensus core's application: builds, validates, hashes and codes ledger blocks."""

from __future__ import annotations

import time

from node.config import ChainConfig
from node.consensus.core import BlockInfo, ChainHead, ConsensusConfig
from node.ledger.chain import Ledger
from sdk.errors import ConsensusError, InvalidBlock
from sdk.types import Block

#: Minimum spacing of the core's sync requests while it sees traffic for later heights.
DEFAULT_SYNC_RETRY_MS: int = 1_000
#: Assumed execution cost per transaction until the first blocks have been measured.
INITIAL_MS_PER_TX: float = 2.0
#: A proposer never bounds its block below this many transactions (progress under any load).
MIN_BLOCK_TXS: int = 20


def compute_consensus_config(chain: ChainConfig) -> ConsensusConfig:
    """Return the core's parameters from the chain's (consensus-critical) configuration."""
    return ConsensusConfig(
        chain_id=chain.chain_id,
        block_period_ms=chain.block_period_ms,
        round_timeout_base_ms=chain.round_timeout_ms,
        round_timeout_cap_ms=max(chain.max_round_timeout_ms, chain.round_timeout_ms),
        sync_retry_ms=DEFAULT_SYNC_RETRY_MS,
    )


def get_chain_head(ledger: Ledger) -> ChainHead:
    """Return the committed head as the core needs it (genesis has no proposer)."""
    head = ledger.head
    header = head.header
    return ChainHead(
        height=header.height,
        timestamp_ms=header.timestamp_ms,
        proposer_index=None if header.height == 0 else header.proposer_index,
        validators=head.validators,
    )


class LedgerBlockSource:
    """BlockSource[Block] over a Ledger.

    Re-proposals keep their header unchanged (``rehash_for_round`` returns the block as it is): the block
    hash covers the round, so re-rounding would fork the chain (docs/consensus.md). The core checks that a
    proposal's proposer matches its round; the ledger checks everything else by re-execution.
    """

    def __init__(self, ledger: Ledger, *, execution_budget_ms: int | None = None) -> None:
        self.ledger = ledger
        self.execution_budget_ms = execution_budget_ms
        self._ms_per_tx = INITIAL_MS_PER_TX

    @property
    def max_block_txs(self) -> int:
        """Transactions a proposed block may hold: the chain's limit, or fewer when executing that many
        at the measured speed would exceed ``execution_budget_ms`` (never below MIN_BLOCK_TXS)."""
        limit = self.ledger.chain.max_block_txs
        if self.execution_budget_ms is None:
            return limit
        fitting = int(self.execution_budget_ms / max(self._ms_per_tx, 1e-3))
        return max(min(MIN_BLOCK_TXS, limit), min(limit, fitting))

    def _observe(self, tx_count: int, elapsed_s: float) -> None:
        if tx_count >= 10:
            sample = elapsed_s * 1000 / tx_count
            self._ms_per_tx = 0.7 * self._ms_per_tx + 0.3 * sample

    def propose_block(self, height: int, round: int, proposer_index: int, now_ms: int) -> Block:
        """Build a block of pending transactions on the head. Raises ConsensusError if the head moved."""
        if height != self.ledger.height + 1:
            raise ConsensusError(
                "asked to propose a block that does not follow the head",
                height=height,
                head=self.ledger.height,
            )
        started = time.perf_counter()
        executed = self.ledger.build_block(
            round=round, proposer_index=proposer_index, now_ms=now_ms, max_txs=self.max_block_txs
        )
        self._observe(len(executed.block.transactions), time.perf_counter() - started)
        return executed.block

    def validate_block(self, block: Block, now_ms: int) -> None:
        """Return None when ``block`` extends the head (re-executed, every root compared).

        Raises InvalidBlock naming the first mismatch.
        """
        started = time.perf_counter()
        self.ledger.validate_block(block, now_ms=now_ms)
        self._observe(len(block.transactions), time.perf_counter() - started)

    def block_hash(self, block: Block) -> bytes:
        """Return SM3 of the block's header encoding."""
        return block.header.block_hash

    def block_info(self, block: Block) -> BlockInfo:
        """Return height, round, proposer index and timestamp from the header."""
        h = block.header
        return BlockInfo(h.height, h.round, h.proposer_index, h.timestamp_ms)

    def rehash_for_round(self, block: Block, round: int, proposer_index: int) -> Block:
        """Return ``block`` unchanged: its hash covers the round it was first proposed in."""
        return block

    def validators_after(self, block: Block) -> tuple[bytes, ...]:
        """Return the set deciding the height after ``block``.

        The block's carried set when it changes the set, otherwise the set in force at the committed head
        (the core asks after the block is stored). Raises ConsensusError for a block that is neither.
        """
        if block.next_validators:
            return tuple(block.next_validators)
        head = self.ledger.head
        if head.block_hash == block.header.block_hash:
            return head.validators
        raise InvalidBlock(
            "the validator set after an uncommitted block is unknown", height=block.header.height
        )

    def encode_block(self, block: Block) -> bytes:
        """Return the block's canonical RLP."""
        return block.encode()

    def decode_block(self, data: bytes) -> Block:
        """Return the block encoded in ``data``; raises EncodingError when malformed."""
        return Block.decode(data)
