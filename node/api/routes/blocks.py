"""Blocks and commit certificates by height, by hash, or the latest."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from node.api.convert import to_block_public, to_certificate_public
from node.api.deps import LedgerDep, parse_hash
from node.api.errors import NotFound
from node.api.models import BlockPublic, CertificatePublic, error_responses
from node.ledger.backfill import require_history
from node.ledger.chain import Ledger
from sdk.types import Block

router = APIRouter(prefix="/v1/blocks", tags=["blocks"])

_NOT_FOUND = error_responses(404, 422)
HeightParam = Annotated[int, Path(ge=0, le=2**63 - 1)]


def _found(block: Block | None, ledger: Ledger | None = None, **where: Any) -> Block:
    if block is None:
        if ledger is not None and "height" in where:
            require_history(ledger.store, where["height"])  # below a snapshot: history_not_filled (410)
        raise NotFound("no such block", **where)
    return block


@router.get("/latest", response_model=BlockPublic, responses=_NOT_FOUND)
def get_latest_block(ledger: LedgerDep) -> BlockPublic:
    """Return the committed head block."""
    height = ledger.height
    return to_block_public(_found(ledger.get_block(height), height=height))


@router.get("/by-hash/{block_hash}", response_model=BlockPublic, responses=_NOT_FOUND)
def get_block_by_hash(block_hash: str, ledger: LedgerDep) -> BlockPublic:
    """Return the block whose SM3 hash is ``block_hash``."""
    wanted = parse_hash(block_hash, "block_hash")
    return to_block_public(_found(ledger.get_block_by_hash(wanted), block_hash=block_hash))


@router.get("/{height}", response_model=BlockPublic, responses=_NOT_FOUND)
def get_block(height: HeightParam, ledger: LedgerDep) -> BlockPublic:
    """Return the block at ``height``."""
    return to_block_public(_found(ledger.get_block(height), ledger, height=height))


@router.get("/{height}/certificate", response_model=CertificatePublic, responses=_NOT_FOUND)
def get_certificate(height: HeightParam, ledger: LedgerDep) -> CertificatePublic:
    """Return the commit certificate of the block at ``height``, with the encodings a verifier checks."""
    certificate = ledger.get_certificate(height)
    header = ledger.get_header(height)
    if certificate is None or header is None:
        require_history(ledger.store, height)
        raise NotFound("no such block", height=height)
    return to_certificate_public(certificate, header)
