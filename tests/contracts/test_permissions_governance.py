"""Governance against its rows of docs/permissions.md: every (function, caller) on a fresh chain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from eth_abi import encode
from eth_utils import keccak

from node.genesis import (
    AUDITOR,
    CALENDAR_ADDRESS,
    DATA_USER,
    GOVERNANCE_ADDRESS,
    ISSUER,
    MAH,
    load_runtime_code,
)
from sdk.domains.governance import Action as ProposalAction, encode_payload
from sdk.system import UPGRADE_NOTICE_BLOCKS
from sdk.types import Receipt
from tests.contracts.permissions import (
    PermissionRow,
    conditional,
    expect_allowed,
    expect_refused,
    row_id,
    rows_for,
)
from tests.contracts.worlds.governance import (
    AUDIT_BODY,
    AUTHORITY_A,
    DATA_ADMIN,
    GLOBAL,
    GRANT_ROLE,
    ISSUER_HOLDER,
    KEEPER,
    M1,
    M2,
    M3,
    MEMBER,
    OUTSIDER,
    PHARMA,
    REGULATOR,
    SCOPED_AUTHORITY,
    SET_THRESHOLD,
    TYPE_A,
    TYPE_B,
    Chain,
    make_chain,
)

ROWS = rows_for("Governance")
GRANTEE = PHARMA  # an account of an organisation none of the admins belongs to


@dataclass(frozen=True)
class Grant:
    """What a caller of grant_role / revoke_role tries: ``role`` for ``scope``, as ``actor``."""

    actor: bytes
    role: bytes
    scope: bytes


#: Each caller name of the table's grant_role / revoke_role rows as the grant it attempts.
GRANTS: dict[str, Grant] = {
    "outsider": Grant(OUTSIDER, ISSUER, TYPE_A),  # not registered anywhere
    "member": Grant(MEMBER, ISSUER, TYPE_A),
    "committee member": Grant(M1, ISSUER, TYPE_A),
    "LICENCE_AUTHORITY (own type)": Grant(AUTHORITY_A, ISSUER, TYPE_A),
    "LICENCE_AUTHORITY (other authority's type)": Grant(AUTHORITY_A, ISSUER, TYPE_B),
    "LICENCE_AUTHORITY (global scope)": Grant(AUTHORITY_A, ISSUER, GLOBAL),
    "LICENCE_AUTHORITY (scoped to the type)": Grant(SCOPED_AUTHORITY, ISSUER, TYPE_A),
    "LICENCE_AUTHORITY (scoped to another type)": Grant(SCOPED_AUTHORITY, ISSUER, TYPE_B),
    "DRUG_REGULATOR": Grant(REGULATOR, MAH, GLOBAL),
    "DRUG_REGULATOR (a role it does not administer)": Grant(REGULATOR, AUDITOR, GLOBAL),
    "AUDIT_ACCREDITOR": Grant(AUDIT_BODY, AUDITOR, GLOBAL),
    "DATA_REGULATOR": Grant(DATA_ADMIN, DATA_USER, GLOBAL),
    "ISSUER": Grant(ISSUER_HOLDER, ISSUER, TYPE_A),
}
#: Each caller name of the committee functions' rows as an account.
ACCOUNTS: dict[str, bytes] = {
    "outsider": OUTSIDER,
    "member": MEMBER,
    "committee member": M2,
    "CALENDAR_KEEPER": KEEPER,
}
PENDING = 2  # the proposal that execute() rows execute (see threshold_lowered)


def caller_of(row: PermissionRow) -> bytes:
    table = GRANTS if row.function in ("grant_role", "revoke_role") else ACCOUNTS
    assert row.caller in table, f"the test does not know the caller {row.caller!r} of {row.function}"
    if isinstance(table[row.caller], Grant):
        return GRANTS[row.caller].actor
    return ACCOUNTS[row.caller]


# --- prior states ------------------------------------------------------------------------------------------
def nothing(c: Chain, row: PermissionRow) -> None:
    pass


def granted_to_grantee(c: Chain, row: PermissionRow) -> None:
    """The committee has granted the row's role and scope to the grantee (what revoke_role removes)."""
    grant = GRANTS[row.caller]
    c.decide(GRANT_ROLE, encode(["address", "bytes32", "bytes32"], [GRANTEE, grant.role, grant.scope]))


def proposed_by_another_member(c: Chain, row: PermissionRow) -> None:
    c.propose(M1, SET_THRESHOLD, encode(["uint256"], [3]))  # one vote of two


def proposed_by_the_voter(c: Chain, row: PermissionRow) -> None:
    c.propose(M2, SET_THRESHOLD, encode(["uint256"], [3]))  # M2 has voted already


def pending_with_two_votes(c: Chain, row: PermissionRow) -> None:
    """Threshold 3; proposal PENDING has two votes: not enough."""
    c.decide(SET_THRESHOLD, encode(["uint256"], [3]))
    pending = c.propose(M1, SET_THRESHOLD, encode(["uint256"], [1]))
    assert pending == PENDING
    c.must(M3, "vote", PENDING)


def threshold_lowered(c: Chain, row: PermissionRow) -> None:
    """As pending_with_two_votes, then the committee lowers the threshold to 2: PENDING may execute."""
    pending_with_two_votes(c, row)
    lower = c.propose(M1, SET_THRESHOLD, encode(["uint256"], [2]))
    c.must(M2, "vote", lower)
    c.must(M3, "vote", lower)
    assert c.view("threshold") == 2


# --- calls -------------------------------------------------------------------------------------------------
def grant(c: Chain, row: PermissionRow) -> Receipt:
    g = GRANTS[row.caller]
    return c.send(g.actor, "grant_role", GRANTEE, g.role, g.scope)


def grant_to_own_organisation(c: Chain, row: PermissionRow) -> Receipt:
    g = GRANTS[row.caller]
    return c.send(g.actor, "grant_role", g.actor, g.role, g.scope)


def revoke(c: Chain, row: PermissionRow) -> Receipt:
    g = GRANTS[row.caller]
    return c.send(g.actor, "revoke_role", GRANTEE, g.role, g.scope)


def initialize(c: Chain, row: PermissionRow) -> Receipt:
    return c.send(caller_of(row), "initialize", [M1], 1, [], [], [], [], [bytes([9]) * 64], [])


def initialize_trust(c: Chain, row: PermissionRow) -> Receipt:
    anchor = encode_payload(ProposalAction.ADD_TRUST_ANCHOR, b"\x30\x82\x01\x00" + bytes(256))  # DER-shaped
    return c.send(caller_of(row), "initialize_trust", ProposalAction.ADD_TRUST_ANCHOR, anchor)


def propose(c: Chain, row: PermissionRow) -> Receipt:
    return c.send(caller_of(row), "propose", SET_THRESHOLD, encode(["uint256"], [1]), c.height + 100)


def propose_unknown_action(c: Chain, row: PermissionRow) -> Receipt:
    return c.send(caller_of(row), "propose", 99, b"", c.height + 100)


def propose_upgrade(c: Chain, row: PermissionRow, code_hash: bytes | None = None) -> Receipt:
    code = load_runtime_code("Calendar")  # the same code again: what is checked is who may propose
    activation, expiry = c.height + UPGRADE_NOTICE_BLOCKS + 5, c.height + 100
    digest = keccak(code) if code_hash is None else code_hash
    args = (CALENDAR_ADDRESS, digest, code, b"", activation, expiry)
    return c.send(caller_of(row), "propose_upgrade", *args, gas=4_000_000)


def propose_upgrade_with_wrong_hash(c: Chain, row: PermissionRow) -> Receipt:
    return propose_upgrade(c, row, bytes(32))


def record_upgrade(c: Chain, row: PermissionRow) -> Receipt:
    return c.send(caller_of(row), "record_upgrade", 1, bytes(32), 2)


def vote(c: Chain, row: PermissionRow) -> Receipt:
    return c.send(caller_of(row), "vote", 1)


def execute(c: Chain, row: PermissionRow) -> Receipt:
    return c.send(caller_of(row), "execute", PENDING)


Step = Callable[[Chain, PermissionRow], None]
Action = Callable[[Chain, PermissionRow], Receipt]


@dataclass(frozen=True)
class Scenario:
    holds: Step  # the prior state in which the row's condition holds
    action: Action
    breaks: Step | None = None  # a prior state in which it does not (for the same action) ...
    violating: Action | None = None  # ... or a call whose arguments break it


SCENARIOS: dict[str, Scenario] = {
    "initialize": Scenario(nothing, initialize),
    "initialize_trust": Scenario(nothing, initialize_trust),
    "grant_role": Scenario(nothing, grant, violating=grant_to_own_organisation),
    "revoke_role": Scenario(granted_to_grantee, revoke),
    "propose": Scenario(nothing, propose, violating=propose_unknown_action),
    "vote": Scenario(proposed_by_another_member, vote, breaks=proposed_by_the_voter),
    "execute": Scenario(threshold_lowered, execute, breaks=pending_with_two_votes),
    "propose_upgrade": Scenario(nothing, propose_upgrade, violating=propose_upgrade_with_wrong_hash),
    "record_upgrade": Scenario(nothing, record_upgrade),
}


def snapshot(c: Chain, row: PermissionRow) -> tuple[Any, ...]:
    """What any call of the row could change: the grants involved, the proposals and the committee."""
    grants: tuple[Any, ...] = ()
    if row.caller in GRANTS:
        g = GRANTS[row.caller]
        grants = tuple(c.view("role_granted", who, g.role, g.scope) for who in (GRANTEE, g.actor))
    count = int(c.view("proposal_count"))
    proposals = tuple(tuple(c.view("proposals", i)) for i in range(1, count + 1))
    upgrades = tuple(tuple(c.view("upgrades", i)) for i in range(1, count + 1))
    state = (c.view("threshold"), c.view("get_committee"), c.view("initialized"), c.view("get_trust_anchors"))
    return grants, count, proposals, upgrades, state


def assert_refused(c: Chain, action: Action, row: PermissionRow) -> None:
    expect_refused(row, lambda: action(c, row), lambda: snapshot(c, row))


@pytest.fixture()
def chain() -> Chain:
    return make_chain()


@pytest.mark.parametrize("row", ROWS, ids=row_id)
def test_the_contract_enforces_the_permissions_table(chain: Chain, row: PermissionRow) -> None:
    assert row.function in SCENARIOS, f"the test has no scenario for {row.function!r}"
    caller_of(row)  # fails for a caller the test does not know
    scenario = SCENARIOS[row.function]
    scenario.holds(chain, row)
    if not row.allowed:
        assert_refused(chain, scenario.action, row)
        return
    expect_allowed(row, lambda: scenario.action(chain, row), lambda: snapshot(chain, row))


@pytest.mark.parametrize("row", conditional(ROWS), ids=row_id)
def test_allowed_if_rows_are_refused_when_their_condition_does_not_hold(
    chain: Chain, row: PermissionRow
) -> None:
    scenario = SCENARIOS[row.function]
    if scenario.violating is not None:
        scenario.holds(chain, row)
        assert_refused(chain, scenario.violating, row)
        return
    assert scenario.breaks is not None, f"no state breaking the condition of {row}"
    scenario.breaks(chain, row)
    assert_refused(chain, scenario.action, row)


def test_an_unregistered_account_is_refused_by_the_contract_too(chain: Chain) -> None:
    # The ledger refuses an outsider at admission; Governance does not rely on it.
    assert chain.send(OUTSIDER, "propose", SET_THRESHOLD, encode(["uint256"], [1]), 500).status == 0
    assert chain.send(OUTSIDER, "grant_role", GRANTEE, ISSUER, TYPE_A).status == 0
    assert chain.send(GOVERNANCE_ADDRESS, "grant_role", GRANTEE, ISSUER, TYPE_A).status == 0
