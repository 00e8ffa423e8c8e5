"""Governance reads: organisations, accounts and roles, via read-only calls to the Governance contract."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from node.api.convert import to_hex
from node.api.deps import LedgerDep, parse_address, parse_hash
from node.api.errors import BadRequest, NotFound
from node.api.models import AccountPublic, OrganisationPublic, RolePublic, error_responses
from node.api.reader import LedgerReader
from node.ledger.chain import Ledger
from sdk.contracts import Contract
from sdk.domains.governance import compute_role_id as compute_name_role_id
from sdk.errors import EncodingError

router = APIRouter(prefix="/v1", tags=["governance"])

_GOVERNANCE = Contract("Governance")
_RESPONSES = error_responses(404, 422)


def _read(ledger: Ledger, function: str, *args: object) -> Any:
    reader = LedgerReader(ledger)
    return reader.read(_GOVERNANCE, reader.governance_address, function, *args)


@router.get("/organisations/{uscc}", response_model=OrganisationPublic, responses=_RESPONSES)
def get_organisation(
    uscc: Annotated[str, Path(min_length=1, max_length=18)], ledger: LedgerDep
) -> OrganisationPublic:
    """Return a registered organisation by its unified social credit code; 404 if unknown."""
    code = uscc.strip().upper()
    org = _read(ledger, "organisations", code)
    if not isinstance(org, dict) or not org.get("registered"):
        raise NotFound("no such organisation", uscc=code)
    return OrganisationPublic(uscc=code, name=org["name"], active=org["active"], registered=True)


@router.get("/accounts/{address}", response_model=AccountPublic, responses=_RESPONSES)
def get_account(address: str, ledger: LedgerDep) -> AccountPublic:
    """Return an account (its organisation, own flag and whether it may transact); 404 if unknown."""
    account = parse_address(address)
    row = _read(ledger, "accounts", account)
    if not isinstance(row, dict) or not row.get("registered"):
        raise NotFound("no such account", address=to_hex(account))
    return AccountPublic(
        address=to_hex(account),
        uscc=row["uscc"],
        registered=True,
        active=row["active"],
        is_active=bool(_read(ledger, "is_active_account", account)),
    )


@router.get("/accounts/{address}/roles/{role}", response_model=RolePublic, responses=_RESPONSES)
def get_account_role(
    address: str,
    role: Annotated[str, Path(min_length=1, max_length=66)],
    ledger: LedgerDep,
    scope: Annotated[str | None, Query(max_length=66, description="bytes32 hex; omitted = global")] = None,
) -> RolePublic:
    """Return whether ``address`` holds ``role`` (an upper-case name or a bytes32 id) for ``scope``."""
    account = parse_address(address)
    role_id = compute_role_id(role)
    scope_id = parse_hash(scope, "scope") if scope else bytes(32)
    return RolePublic(
        address=to_hex(account),
        role=to_hex(role_id),
        scope=to_hex(scope_id),
        has_role=bool(_read(ledger, "has_role", account, role_id, scope_id)),
        granted=bool(_read(ledger, "role_granted", account, role_id, scope_id)),
    )


def compute_role_id(role: str) -> bytes:
    """Return the bytes32 role id for a name (``keccak256(NAME)``, Governance's convention) or a hex id.

    Raises BadRequest for anything else.
    """
    if role.startswith("0x"):
        return parse_hash(role, "role")
    if role.replace("_", "").isalnum():
        try:
            return compute_name_role_id(role)
        except EncodingError:
            pass
    raise BadRequest("role must be an upper-case name such as ISSUER or a 0x bytes32 id", field="role")
