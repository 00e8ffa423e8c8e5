"""The chain: its parameters and head, and the validator set in force."""

from __future__ import annotations

from fastapi import APIRouter, Request

from node.api.convert import to_chain_config_public, to_hex, to_validators_public
from node.api.deps import LedgerDep
from node.api.models import ChainPublic, HeadPublic, ValidatorSetPublic
from node.config import PROTOCOL_VERSION

router = APIRouter(prefix="/v1", tags=["chain"])


@router.get("/chain", response_model=ChainPublic)
def get_chain(ledger: LedgerDep, request: Request) -> ChainPublic:
    """Return the chain id, protocol version, head, chain parameters, the Governance address and this node's
    audience for signed requests."""
    head = ledger.head
    genesis = ledger.get_header(0)
    return ChainPublic(
        chain_id=ledger.chain.chain_id,
        protocol_version=PROTOCOL_VERSION,
        head=HeadPublic(
            height=head.header.height,
            block_hash=to_hex(head.block_hash),
            timestamp_ms=head.header.timestamp_ms,
            state_root=to_hex(head.header.state_root),
        ),
        config=to_chain_config_public(ledger.chain),
        governance_address=to_hex(ledger.governance_address),
        genesis_hash=to_hex(genesis.block_hash) if genesis is not None else None,
        audience=request.app.state.audience,
    )


@router.get("/validators", response_model=ValidatorSetPublic)
def get_validators(ledger: LedgerDep) -> ValidatorSetPublic:
    """Return the validator set that seals the next block (index order = seal index)."""
    head = ledger.head
    return ValidatorSetPublic(height=head.header.height, validators=to_validators_public(head.validators))
