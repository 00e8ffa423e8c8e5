"""Governance.vy behaviour (committee, delegated grants, roles, validators) on the real py-evm engine."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import keccak

from node.genesis import (
    AUDITOR,
    BANK,
    DISPENSER,
    DRUG_REGULATOR,
    GOVERNANCE_ADDRESS,
    ISSUER,
    LICENCE_AUTHORITY,
    MAH,
    encode_contract_name,
)
from sdk.crypto import sm3
from sdk.errors import ExecutionError
from tests.contracts.worlds.governance import (
    ADD_VALIDATOR,
    AUDIT_BODY,
    AUTHORITY_A,
    AUTHORITY_A_CLERK,
    AUTHORITY_B,
    GLOBAL,
    GRANT_ROLE,
    M1,
    M2,
    M3,
    NEWCOMER,
    ORG_C,
    OUTSIDER,
    PHARMA,
    REGISTER_ACCOUNT,
    REGISTER_CONTRACT,
    REGISTER_ORGANISATION,
    REGULATOR,
    REMOVE_VALIDATOR,
    SET_ACCOUNT_ACTIVE,
    SET_COMMITTEE_MEMBER,
    SET_ORGANISATION_ACTIVE,
    SET_ROLE_ADMIN,
    SET_THRESHOLD,
    TYPE_A,
    TYPE_B,
    V1,
    V2,
    V3,
    Chain,
    calldata,
    make_chain,
)


@pytest.fixture()
def chain() -> Chain:
    return make_chain()


# --- genesis ------------------------------------------------------------------------------------------
def test_genesis_sets_committee_validators_and_registry(chain: Chain) -> None:
    assert [bytes.fromhex(a[2:]) for a in chain.view("get_committee")] == [M1, M2, M3]
    assert chain.view("threshold") == 2
    assert chain.view("get_validators") == [V1, V2]
    assert chain.view("validator_set_version") == 2
    assert chain.view("contracts", encode_contract_name("Governance")) == "0x" + GOVERNANCE_ADDRESS.hex()
    assert chain.view("role_admin", MAH) == DRUG_REGULATOR
    assert chain.view("organisation_of", PHARMA) == ORG_C


# --- committee proposals ------------------------------------------------------------------------------
def test_proposal_executes_on_the_threshold_vote(chain: Chain) -> None:
    payload = encode(["string", "string"], ["91440300MA5F000000", "深圳某银行"])
    proposal_id = chain.propose(M1, REGISTER_ORGANISATION, payload)
    assert chain.view("organisations", "91440300MA5F000000")[2] is False  # one vote of two: not yet
    receipt = chain.must(M3, "vote", proposal_id)
    assert chain.view("organisations", "91440300MA5F000000") == ("深圳某银行", True, True)
    topics = [log.topics[0] for log in receipt.logs]
    assert topics == [
        keccak(text="ProposalVoted(uint256,address,uint256)"),
        keccak(text="OrganisationRegistered(string,string)"),
        keccak(text="ProposalExecuted(uint256,uint8)"),
    ]
    assert chain.refused(M2, "vote", proposal_id) == "proposal already executed"


def test_committee_vote_rules(chain: Chain) -> None:
    proposal_id = chain.propose(M1, SET_THRESHOLD, encode(["uint256"], [3]))
    assert chain.refused(M1, "vote", proposal_id) == "already voted"
    assert chain.refused(OUTSIDER, "vote", proposal_id) == "not a committee member"
    assert chain.refused(OUTSIDER, "propose", SET_THRESHOLD, b"", 1000) == "not a committee member"
    assert chain.refused(M1, "propose", 99, b"", 1000) == "unknown action"
    assert chain.refused(M1, "vote", 42) == "no such proposal"
    chain.must(M2, "vote", proposal_id)
    assert chain.view("threshold") == 3


def test_expired_proposal_cannot_be_voted(chain: Chain) -> None:
    proposal_id = chain.propose(M1, SET_THRESHOLD, encode(["uint256"], [1]), expiry=chain.height + 2)
    chain.must(M1, "propose", SET_THRESHOLD, encode(["uint256"], [3]), chain.height + 50)  # a block passes
    assert chain.refused(M2, "vote", proposal_id) == "proposal expired"
    assert chain.refused(M1, "propose", SET_THRESHOLD, b"", chain.height) == "expiry must be in the future"


def test_failing_action_reverts_the_deciding_vote(chain: Chain) -> None:
    proposal_id = chain.propose(M1, SET_THRESHOLD, encode(["uint256"], [4]))  # only 3 members
    assert chain.refused(M2, "vote", proposal_id) == "invalid threshold"
    assert chain.view("threshold") == 2


def test_committee_membership_and_threshold_changes(chain: Chain) -> None:
    chain.decide(SET_COMMITTEE_MEMBER, encode(["address", "bool"], [REGULATOR, True]))
    assert chain.view("is_committee_member", REGULATOR) is True
    chain.decide(SET_COMMITTEE_MEMBER, encode(["address", "bool"], [M3, False]))
    assert [bytes.fromhex(a[2:]) for a in chain.view("get_committee")] == [M1, M2, REGULATOR]
    chain.decide(SET_THRESHOLD, encode(["uint256"], [3]))
    proposal_id = chain.propose(M1, SET_COMMITTEE_MEMBER, encode(["address", "bool"], [M2, False]))
    chain.must(M2, "vote", proposal_id)
    assert chain.refused(REGULATOR, "vote", proposal_id) == "threshold exceeds committee size"


def test_execute_after_threshold_lowered(chain: Chain) -> None:
    chain.decide(SET_THRESHOLD, encode(["uint256"], [3]))
    waiting = chain.propose(
        M1, REGISTER_CONTRACT, encode(["bytes32", "address"], [b"X".ljust(32, b"\0"), M3])
    )
    assert chain.refused(M1, "execute", waiting) == "not enough votes"
    lower = chain.propose(M1, SET_THRESHOLD, encode(["uint256"], [1]))
    chain.must(M2, "vote", lower)
    chain.must(M3, "vote", lower)
    chain.must(M1, "execute", waiting)
    assert chain.view("contracts", b"X".ljust(32, b"\0")) == "0x" + M3.hex()


# --- organisations, accounts, roles -------------------------------------------------------------------
def test_account_and_organisation_activity_gate_roles(chain: Chain) -> None:
    chain.decide(REGISTER_ACCOUNT, encode(["address", "string"], [NEWCOMER, ORG_C]))
    chain.decide(GRANT_ROLE, encode(["address", "bytes32", "bytes32"], [NEWCOMER, MAH, GLOBAL]))
    assert chain.view("is_active_account", NEWCOMER) is True
    assert chain.view("has_role", NEWCOMER, MAH, keccak(b"any scope")) is True  # global grant covers scopes
    chain.decide(SET_ORGANISATION_ACTIVE, encode(["string", "bool"], [ORG_C, False]))
    assert chain.view("is_active_account", NEWCOMER) is False
    assert chain.view("has_role", NEWCOMER, MAH, GLOBAL) is False
    assert chain.view("role_granted", NEWCOMER, MAH, GLOBAL) is True
    chain.decide(SET_ORGANISATION_ACTIVE, encode(["string", "bool"], [ORG_C, True]))
    chain.decide(SET_ACCOUNT_ACTIVE, encode(["address", "bool"], [NEWCOMER, False]))
    assert chain.view("has_role", NEWCOMER, MAH, GLOBAL) is False
    assert chain.view("is_active_account", OUTSIDER) is False


def test_duplicate_registrations_are_refused(chain: Chain) -> None:
    p1 = chain.propose(M1, REGISTER_ACCOUNT, encode(["address", "string"], [PHARMA, ORG_C]))
    assert chain.refused(M2, "vote", p1) == "account already registered"
    p2 = chain.propose(M1, REGISTER_ORGANISATION, encode(["string", "string"], ["SHORT", "x"]))
    assert chain.refused(M2, "vote", p2) == "USCC must be 18 characters"


def test_drug_regulator_grants_and_revokes_mah_directly(chain: Chain) -> None:
    receipt = chain.must(REGULATOR, "grant_role", PHARMA, MAH, GLOBAL)
    assert receipt.logs[0].topics[0] == keccak(text="RoleGranted(address,bytes32,bytes32,address)")
    assert chain.view("has_role", PHARMA, MAH, GLOBAL) is True
    assert chain.refused(REGULATOR, "grant_role", PHARMA, MAH, GLOBAL) == "role already granted"
    assert chain.refused(PHARMA, "grant_role", PHARMA, DISPENSER, GLOBAL) == "not an admin of this role"
    assert chain.refused(REGULATOR, "grant_role", PHARMA, AUDITOR, GLOBAL) == "not an admin of this role"
    assert chain.refused(REGULATOR, "grant_role", OUTSIDER, MAH, GLOBAL) == "unknown account"
    assert (
        chain.refused(REGULATOR, "grant_role", PHARMA, DRUG_REGULATOR, GLOBAL)
        == "role has no delegated admin"
    )
    chain.must(AUDIT_BODY, "grant_role", PHARMA, AUDITOR, GLOBAL)
    chain.must(REGULATOR, "revoke_role", PHARMA, MAH, GLOBAL)
    assert chain.view("has_role", PHARMA, MAH, GLOBAL) is False
    assert chain.refused(REGULATOR, "revoke_role", PHARMA, MAH, GLOBAL) == "role not granted"


def test_scoped_licence_authority_grants_issuer_only_for_its_scope(chain: Chain) -> None:
    food, drug = keccak(b"food-licence"), keccak(b"drug-licence")
    chain.decide(GRANT_ROLE, encode(["address", "bytes32", "bytes32"], [REGULATOR, LICENCE_AUTHORITY, food]))
    chain.must(REGULATOR, "grant_role", PHARMA, ISSUER, food)
    assert chain.view("has_role", PHARMA, ISSUER, food) is True
    assert chain.view("has_role", PHARMA, ISSUER, drug) is False
    assert chain.refused(REGULATOR, "grant_role", PHARMA, ISSUER, drug) == "not an admin of this role"
    assert chain.refused(REGULATOR, "grant_role", PHARMA, ISSUER, GLOBAL) == "not an admin of this role"


def test_global_licence_authority_cannot_grant_issuer_for_another_authoritys_type(chain: Chain) -> None:
    # The attack: bureau A holds LICENCE_AUTHORITY globally and makes itself (or anyone) an issuer of
    # bureau B's licence type, raw transactions straight to Governance.
    reason = chain.refused(AUTHORITY_A, "grant_role", PHARMA, ISSUER, TYPE_B)
    assert reason == "the licence type is not defined by the admin's organisation"
    assert chain.view("has_role", PHARMA, ISSUER, TYPE_B) is False
    assert chain.refused(AUTHORITY_A, "grant_role", AUTHORITY_A, ISSUER, TYPE_B) != ""
    assert chain.view("has_role", AUTHORITY_A, ISSUER, TYPE_B) is False


def test_global_licence_authority_grants_and_revokes_issuer_for_its_own_type_only(chain: Chain) -> None:
    chain.must(AUTHORITY_A, "grant_role", PHARMA, ISSUER, TYPE_A)
    assert chain.view("has_role", PHARMA, ISSUER, TYPE_A) is True
    chain.must(AUTHORITY_B, "grant_role", PHARMA, ISSUER, TYPE_B)
    reason = chain.refused(AUTHORITY_A, "revoke_role", PHARMA, ISSUER, TYPE_B)
    assert reason == "the licence type is not defined by the admin's organisation"
    assert chain.view("has_role", PHARMA, ISSUER, TYPE_B) is True
    chain.must(AUTHORITY_A, "revoke_role", PHARMA, ISSUER, TYPE_A)
    assert chain.view("has_role", PHARMA, ISSUER, TYPE_A) is False
    undefined = sm3(b"91110000300000000C999")  # bureau A's code, but no such type defined
    assert (
        chain.refused(AUTHORITY_A, "grant_role", PHARMA, ISSUER, undefined)
        == "the licence type is not defined by the admin's organisation"
    )


def test_no_delegated_admin_grants_issuer_for_every_type(chain: Chain) -> None:
    # a global ISSUER grant would cover every authority's types: only the committee makes one
    assert (
        chain.refused(AUTHORITY_A, "grant_role", PHARMA, ISSUER, GLOBAL)
        == "a global grant of this role needs a committee proposal"
    )
    chain.decide(GRANT_ROLE, encode(["address", "bytes32", "bytes32"], [PHARMA, ISSUER, GLOBAL]))
    assert chain.view("has_role", PHARMA, ISSUER, TYPE_B) is True
    assert (
        chain.refused(AUTHORITY_A, "revoke_role", PHARMA, ISSUER, GLOBAL)
        == "a global grant of this role needs a committee proposal"
    )


def test_delegated_admin_cannot_grant_roles_within_its_own_organisation(chain: Chain) -> None:
    own = "cannot grant a role to the admin's own organisation: that needs a committee proposal"
    assert chain.refused(AUTHORITY_A, "grant_role", AUTHORITY_A, ISSUER, TYPE_A) == own
    assert chain.refused(AUTHORITY_A, "grant_role", AUTHORITY_A_CLERK, ISSUER, TYPE_A) == own
    assert chain.refused(REGULATOR, "grant_role", REGULATOR, MAH, GLOBAL) == own
    assert chain.refused(REGULATOR, "grant_role", AUDIT_BODY, MAH, GLOBAL) == own  # same organisation
    assert chain.refused(AUDIT_BODY, "grant_role", AUDIT_BODY, AUDITOR, GLOBAL) == own
    assert chain.view("has_role", AUTHORITY_A, ISSUER, TYPE_A) is False
    assert chain.view("has_role", REGULATOR, MAH, GLOBAL) is False
    # the committee may decide such a grant, and the admin may still revoke within its organisation
    chain.decide(GRANT_ROLE, encode(["address", "bytes32", "bytes32"], [AUTHORITY_A_CLERK, ISSUER, TYPE_A]))
    chain.must(AUTHORITY_A, "revoke_role", AUTHORITY_A_CLERK, ISSUER, TYPE_A)
    assert chain.view("has_role", AUTHORITY_A_CLERK, ISSUER, TYPE_A) is False


def test_role_admin_delegation_is_set_by_committee(chain: Chain) -> None:
    assert chain.refused(REGULATOR, "grant_role", PHARMA, BANK, GLOBAL) == "role has no delegated admin"
    chain.decide(SET_ROLE_ADMIN, encode(["bytes32", "bytes32"], [BANK, DRUG_REGULATOR]))
    chain.must(REGULATOR, "grant_role", PHARMA, BANK, GLOBAL)
    assert chain.view("has_role", PHARMA, BANK, GLOBAL) is True
    # delegating ISSUER does not let a global admin grant it globally or for types it does not own
    chain.decide(SET_ROLE_ADMIN, encode(["bytes32", "bytes32"], [ISSUER, DRUG_REGULATOR]))
    reason = chain.refused(REGULATOR, "grant_role", PHARMA, ISSUER, GLOBAL)
    assert reason == "a global grant of this role needs a committee proposal"
    reason = chain.refused(REGULATOR, "grant_role", PHARMA, ISSUER, TYPE_A)
    assert reason == "the licence type is not defined by the admin's organisation"
    chain.decide(SET_ROLE_ADMIN, encode(["bytes32", "bytes32"], [MAH, GLOBAL]))  # removes delegation
    assert chain.refused(REGULATOR, "grant_role", PHARMA, MAH, GLOBAL) == "role has no delegated admin"


# --- validators and registry --------------------------------------------------------------------------
def test_validator_add_and_remove_bump_the_version(chain: Chain) -> None:
    chain.decide(ADD_VALIDATOR, encode(["bytes"], [V3]))
    assert chain.view("get_validators") == [V1, V2, V3]
    assert chain.view("validator_set_version") == 3
    chain.decide(REMOVE_VALIDATOR, encode(["bytes"], [V1]))
    assert chain.view("get_validators") == [V2, V3]
    assert chain.view("validator_set_version") == 4
    dup = chain.propose(M1, ADD_VALIDATOR, encode(["bytes"], [V2]))
    assert chain.refused(M2, "vote", dup) == "validator already in set"
    short = chain.propose(M1, ADD_VALIDATOR, encode(["bytes"], [b"\x01" * 33]))
    assert chain.refused(M2, "vote", short) == "validator key must be 64 bytes"
    chain.decide(REMOVE_VALIDATOR, encode(["bytes"], [V2]))
    last = chain.propose(M1, REMOVE_VALIDATOR, encode(["bytes"], [V3]))
    assert chain.refused(M2, "vote", last) == "cannot remove the last validator"


def test_register_system_contract(chain: Chain) -> None:
    name = encode_contract_name("LicenceRegistry")
    receipt = chain.send(
        M1, "propose", REGISTER_CONTRACT, encode(["bytes32", "address"], [name, PHARMA]), 500
    )
    chain.must(M2, "vote", int(chain.view("proposal_count")))
    assert receipt.status == 1
    assert chain.view("contracts", name) == "0x" + PHARMA.hex()


def test_initialize_twice_is_refused(chain: Chain) -> None:
    with pytest.raises(ExecutionError, match="already initialized"):
        chain.engine.call(
            chain.root,
            OUTSIDER,
            GOVERNANCE_ADDRESS,
            calldata("initialize", [], 0, [], [], [], [], [], []),
            1_000_000,
        )
