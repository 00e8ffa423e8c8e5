"""The read model of Governance.vy: organisations, accounts and proposals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sdk.domains.governance.encoders import Action
from sdk.encoding import readable_repr

if TYPE_CHECKING:
    from sdk.answers import ReceiptResult


@dataclass(frozen=True, slots=True)
class Organisation:
    uscc: str
    name: str
    active: bool


@readable_repr
@dataclass(frozen=True, slots=True)
class Account:
    address: bytes
    uscc: str
    active: bool  # the account's own flag; ``Governance.is_active`` also needs an active organisation


@readable_repr
@dataclass(frozen=True, slots=True)
class Proposal:
    proposal_id: int
    action: Action
    payload: bytes
    proposer: bytes
    created_block: int
    expiry_block: int
    votes: int
    executed: bool


@dataclass(frozen=True, slots=True)
class ProposalResult:
    """What a propose / vote / execute transaction did."""

    proposal_id: int
    executed: bool  # the proposal's action ran in this transaction
    receipt: ReceiptResult
