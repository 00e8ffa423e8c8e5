"""Governance (Governance.vy): organisations, accounts, roles, validators, the holiday calendar and committee
proposals."""

from sdk.domains.governance.encoders import ROLE_NAMES, Action, compute_role_id, encode_payload
from sdk.domains.governance.facade import (
    CALENDAR_PROPOSAL_GAS_LIMIT,
    DEFAULT_PROPOSAL_EXPIRY_BLOCKS,
    GOVERNANCE_GAS_LIMIT,
    LICENCE_TYPE_SCOPED_ROLES,
    Governance,
    compute_code_hash,
)
from sdk.domains.governance.model import (
    Account,
    Organisation,
    Proposal,
    ProposalResult,
    Upgrade,
    UpgradeStatus,
)

__all__ = [
    "CALENDAR_PROPOSAL_GAS_LIMIT",
    "DEFAULT_PROPOSAL_EXPIRY_BLOCKS",
    "GOVERNANCE_GAS_LIMIT",
    "LICENCE_TYPE_SCOPED_ROLES",
    "ROLE_NAMES",
    "Account",
    "Action",
    "Governance",
    "Organisation",
    "Proposal",
    "ProposalResult",
    "Upgrade",
    "UpgradeStatus",
    "compute_code_hash",
    "compute_role_id",
    "encode_payload",
]
