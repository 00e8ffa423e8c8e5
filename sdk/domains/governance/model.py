"""The read model of Governance.vy: organisations, accounts, proposals and the certificates on chain."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
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


class UpgradeStatus(IntEnum):
    """Where a contract upgrade stands (Governance.vy's UPGRADE_* constants)."""

    SCHEDULED = 1  # approved, waiting for its activation block
    ACTIVATED = 2  # the code was installed (and the migration call succeeded) at the activation block
    MIGRATION_FAILED = 3  # the migration call failed: the old code stays
    CODE_UNAVAILABLE = (
        4  # no logged code with the approved hash, or no contract at the target: old code stays
    )


@readable_repr
@dataclass(frozen=True, slots=True)
class Upgrade:
    """An approved contract upgrade (``Governance.upgrades(proposal_id)``)."""

    proposal_id: int
    target: bytes
    code_hash: bytes  # keccak256 of the new runtime code: the target's codeHash once activated
    activation_block: int
    migration: bytes  # calldata of the migration call (empty: none)
    status: UpgradeStatus
    previous_code_hash: bytes  # the code hash before the activation block (zero until then)


@readable_repr
@dataclass(frozen=True, slots=True)
class TrustAnchor:
    """A CA certificate the committee trusts to issue organisation certificates
    (``Governance.trust_anchors``)."""

    anchor_id: bytes  # keccak256 of the DER, as the contract computes it
    certificate: bytes  # DER


@readable_repr
@dataclass(frozen=True, slots=True)
class BoundCertificate:
    """The SM2 X.509 certificate bound to an account (``Governance.certificates(account)``)."""

    account: bytes
    certificate_id: bytes  # keccak256 of the DER
    certificate: bytes  # DER
    bound_block: int  # the block whose proposal vote bound it (0: genesis)
