"""Governance (Governance.vy): organisations, accounts, roles, validators, the holiday calendar and committee
proposals."""

from sdk.domains.governance.certificates import (
    chain_certificate,
    check_bound_certificate,
    checked_anchor,
    checked_binding,
    compute_certificate_id,
)
from sdk.domains.governance.encoders import (
    ROLE_NAMES,
    Action,
    compute_role_id,
    decode_payload,
    encode_payload,
)
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
    BoundCertificate,
    Organisation,
    Proposal,
    ProposalResult,
    TrustAnchor,
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
    "BoundCertificate",
    "Governance",
    "Organisation",
    "Proposal",
    "ProposalResult",
    "TrustAnchor",
    "Upgrade",
    "UpgradeStatus",
    "chain_certificate",
    "check_bound_certificate",
    "checked_anchor",
    "checked_binding",
    "compute_certificate_id",
    "compute_code_hash",
    "compute_role_id",
    "decode_payload",
    "encode_payload",
]
