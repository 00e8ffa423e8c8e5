"""Builders of proof bundles, offline from the wire objects a node or a test holds: the event proof of one
transaction (and log), history proofs under a checkpoint, validator-set handovers and the whole bundle."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sdk.errors import FormatError
from sdk.proofs.bundle import EventProof, Handover, HistoryProof, ProofBundle, SealedHeader, StateProof
from sdk.proofs.merkle import MerkleTree, compute_leaf_hash
from sdk.types import Block, CommitCertificate, Receipt

__all__ = ["build_bundle", "build_event_proof", "build_handover", "build_history_proof"]


def build_event_proof(
    block: Block, receipts: Sequence[Receipt], tx_index: int, log_index: int | None = None
) -> EventProof:
    """Return the event proof of transaction ``tx_index`` of ``block`` (and optionally one of its logs).

    Takes: the block, its receipts in block order, the transaction's index, an optional log index.
    Raises: FormatError when the index, the receipts or the log index do not fit the block.
    """
    txs = block.transactions
    if len(receipts) != len(txs):
        raise FormatError(f"{len(receipts)} receipts for {len(txs)} transactions")
    if not 0 <= tx_index < len(txs):
        raise FormatError(f"transaction index {tx_index} is outside the block's {len(txs)}")
    receipt = receipts[tx_index]
    if log_index is not None and not 0 <= log_index < len(receipt.logs):
        raise FormatError(f"log index {log_index} is outside the receipt's {len(receipt.logs)} logs")
    tx_tree = MerkleTree([compute_leaf_hash(tx.encode()) for tx in txs])
    receipt_tree = MerkleTree([compute_leaf_hash(r.encode()) for r in receipts])
    return EventProof(
        tx=txs[tx_index],
        receipt=receipt,
        tx_index=tx_index,
        tx_count=len(txs),
        tx_proof=tx_tree.inclusion_proof(tx_index),
        receipt_proof=receipt_tree.inclusion_proof(tx_index),
        log_index=log_index,
    )


def build_history_proof(block_hashes: Sequence[bytes], height: int) -> HistoryProof:
    """Return the proof that ``block_hashes[height]`` is in the history root of header ``len(block_hashes)``.

    Takes: the hashes of blocks 0..H-1 (H = the checkpoint height) and the proven block's height.
    """
    tree = MerkleTree([compute_leaf_hash(h) for h in block_hashes])
    return HistoryProof(size=len(block_hashes), path=tree.inclusion_proof(height))


def build_handover(block: Block, certificate: CommitCertificate | None) -> Handover:
    """Return the handover entry of a block that carries a new validator set.

    Raises FormatError when the block carries no set.
    """
    if not block.next_validators:
        raise FormatError(f"block {block.header.height} does not hand over to a new validator set")
    return Handover(block.header, certificate, tuple(block.next_validators))


def build_bundle(
    *,
    genesis_hash: bytes,
    block: Block,
    certificate: CommitCertificate | None,
    receipts: Sequence[Receipt],
    tx_index: int,
    log_index: int | None = None,
    handovers: Sequence[Handover] = (),
    history: HistoryProof | None = None,
    state: StateProof | None = None,
    labels: Mapping[str, str] | None = None,
) -> ProofBundle:
    """Assemble a bundle for one transaction of ``block`` (see build_event_proof for the arguments).

    ``handovers`` are the validator-set changes since genesis (or since the checkpoint) up to the highest
    header in the bundle; ``history`` proves the block under a checkpoint instead of (or besides) its
    certificate. Raises FormatError as build_event_proof does.
    """
    return ProofBundle(
        chain_id=block.header.chain_id,
        genesis_hash=genesis_hash,
        event=build_event_proof(block, receipts, tx_index, log_index),
        block=SealedHeader(block.header, certificate, history),
        handovers=tuple(handovers),
        state=state,
        labels=dict(labels or {}),
    )
