"""Governance.vy behaviour (committee, delegated grants, roles, validators) on the real py-evm engine."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_abi import decode, encode
from eth_utils import function_abi_to_4byte_selector, keccak

from node.execution import BlockContext, ExecutionEngine, Message
from node.genesis import (
    AUDIT_ACCREDITOR,
    AUDITOR,
    BANK,
    CALENDAR_ADDRESS,
    CALENDAR_KEEPER,
    DATA_REGULATOR,
    DISPENSER,
    DRUG_REGULATOR,
    GOVERNANCE_ADDRESS,
    INIT_DATA_BUILDERS,
    ISSUER,
    LICENCE_AUTHORITY,
    LICENCE_REGISTRY_ADDRESS,
    MAH,
    GenesisAccount,
    GenesisOrganisation,
    GenesisRole,
    GenesisSpec,
    SystemContract,
    encode_contract_name,
    encode_initialize_with_governance,
    load_runtime_code,
)
from sdk.contracts import Contract
from sdk.crypto import sm3
from sdk.errors import ExecutionError
from sdk.types import Receipt

ROOT = Path(__file__).resolve().parents[3]
ABI: list[dict[str, Any]] = json.loads((ROOT / "contracts/build/Governance.json").read_text())["abi"]
FUNCTIONS = {e["name"]: e for e in ABI if e.get("type") == "function"}

ORG_A, ORG_B, ORG_C = "91350100M000100Y43", "91110000100000000A", "91310000200000000B"
BUREAU_A_ORG, BUREAU_B_ORG = "91110000300000000C", "91440300400000000D"  # two licence authorities
SCOPED_ORG, DATA_ORG = "91120000500000000E", "91440300600000000F"
M1, M2, M3 = (bytes([0x10 + i]) * 20 for i in range(3))
REGULATOR, PHARMA, AUDIT_BODY, OUTSIDER = (bytes([0x40 + i]) * 20 for i in range(4))
AUTHORITY_A, AUTHORITY_A_CLERK, AUTHORITY_B = (bytes([0x50 + i]) * 20 for i in range(3))
SCOPED_AUTHORITY, DATA_ADMIN, ISSUER_HOLDER, KEEPER, MEMBER = (bytes([0x60 + i]) * 20 for i in range(5))
NEWCOMER = bytes([0x77]) * 20
TYPE_A_CODE, TYPE_B_CODE = BUREAU_A_ORG + "001", BUREAU_B_ORG + "001"
TYPE_A, TYPE_B = sm3(TYPE_A_CODE.encode()), sm3(TYPE_B_CODE.encode())
LICENCES = Contract("LicenceRegistry")
CALENDAR = Contract("Calendar")
V1, V2, V3 = (bytes([i]) * 64 for i in (1, 2, 3))
REGISTER_ORGANISATION, SET_ORGANISATION_ACTIVE, REGISTER_ACCOUNT, SET_ACCOUNT_ACTIVE = 1, 2, 3, 4
GRANT_ROLE, REVOKE_ROLE, ADD_VALIDATOR, REMOVE_VALIDATOR = 5, 6, 7, 8
SET_COMMITTEE_MEMBER, SET_THRESHOLD, SET_ROLE_ADMIN, REGISTER_CONTRACT = 9, 10, 11, 12
GLOBAL = bytes(32)


def calldata(name: str, *args: Any) -> bytes:
    entry = FUNCTIONS[name]
    types = [_abi_type(i) for i in entry["inputs"]]
    return function_abi_to_4byte_selector(entry) + encode(types, list(args))


def _abi_type(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in param["components"]) + ")" + param["type"][5:]
    return str(param["type"])


@dataclass
class Chain:
    """A tiny chain driver: one message per block, heights counting up."""

    engine: ExecutionEngine
    root: bytes
    height: int = 0
    receipts: list[Receipt] = field(default_factory=list)

    def send(self, sender: bytes, name: str, *args: Any, gas: int = 2_000_000) -> Receipt:
        return self.send_to(sender, GOVERNANCE_ADDRESS, calldata(name, *args), gas=gas)

    def send_to(self, sender: bytes, to: bytes, data: bytes, *, gas: int = 2_000_000) -> Receipt:
        self.height += 1
        ctx = BlockContext(
            height=self.height, timestamp_ms=self.height * 1000, gas_limit=30_000_000, proposer=M1
        )
        tx_hash = keccak(data + self.height.to_bytes(8, "big"))
        result = self.engine.execute_block(self.root, ctx, [Message(sender, to, data, gas, tx_hash)])
        self.root = result.state_root
        self.receipts.append(result.receipts[0])
        return result.receipts[0]

    def view_of(self, contract: Contract, address: bytes, name: str, *args: Any) -> Any:
        ctx = BlockContext(
            height=self.height, timestamp_ms=self.height * 1000, gas_limit=30_000_000, proposer=M1
        )
        data = contract.encode_call(name, list(args))
        return contract.decode_output(
            name, self.engine.call(self.root, OUTSIDER, address, data, 5_000_000, ctx=ctx)
        )

    def must(self, sender: bytes, name: str, *args: Any) -> Receipt:
        receipt = self.send(sender, name, *args)
        assert receipt.status == 1, receipt.revert_reason
        return receipt

    def refused(self, sender: bytes, name: str, *args: Any) -> str:
        receipt = self.send(sender, name, *args)
        assert receipt.status == 0
        return receipt.revert_reason.decode()

    def view(self, name: str, *args: Any) -> Any:
        entry = FUNCTIONS[name]
        out = self.engine.call(self.root, OUTSIDER, GOVERNANCE_ADDRESS, calldata(name, *args), 1_000_000)
        decoded = decode([_abi_type(o) for o in entry["outputs"]], out)
        value = decoded[0] if len(decoded) == 1 else decoded
        return (
            list(value) if isinstance(value, tuple) and entry["outputs"][0]["type"].endswith("[]") else value
        )

    def propose(self, sender: bytes, action: int, payload: bytes, expiry: int | None = None) -> int:
        expiry_block = self.height + 100 if expiry is None else expiry
        self.must(sender, "propose", action, payload, expiry_block)
        return int(self.view("proposal_count"))

    def decide(self, action: int, payload: bytes) -> None:
        """Pass a proposal with two of the three committee votes."""
        proposal_id = self.propose(M1, action, payload)
        self.must(M2, "vote", proposal_id)


def make_chain() -> Chain:
    """Three committee members (threshold 2), a drug regulator, an audit accreditor, a data regulator, two
    licence authorities (global LICENCE_AUTHORITY), each of which has defined one licence type of its own, a
    licence authority for type A only, an issuer of type A, a calendar keeper and a member without roles;
    the LicenceRegistry and the Calendar are installed."""
    spec = GenesisSpec(
        validators=(V1, V2),
        organisations=(
            GenesisOrganisation(ORG_A, "Committee Org"),
            GenesisOrganisation(ORG_B, "国家药品监督管理局"),
            GenesisOrganisation(ORG_C, "某某制药有限公司"),
            GenesisOrganisation(BUREAU_A_ORG, "某市市场监督管理局"),
            GenesisOrganisation(BUREAU_B_ORG, "某省卫生健康委员会"),
            GenesisOrganisation(SCOPED_ORG, "某区行政审批局"),
            GenesisOrganisation(DATA_ORG, "某市数据局"),
        ),
        accounts=(
            GenesisAccount(M1, ORG_A),
            GenesisAccount(M2, ORG_A),
            GenesisAccount(M3, ORG_A),
            GenesisAccount(REGULATOR, ORG_B),
            GenesisAccount(PHARMA, ORG_C),
            GenesisAccount(AUDIT_BODY, ORG_B),
            GenesisAccount(AUTHORITY_A, BUREAU_A_ORG),
            GenesisAccount(AUTHORITY_A_CLERK, BUREAU_A_ORG),
            GenesisAccount(AUTHORITY_B, BUREAU_B_ORG),
            GenesisAccount(SCOPED_AUTHORITY, SCOPED_ORG),
            GenesisAccount(DATA_ADMIN, DATA_ORG),
            GenesisAccount(ISSUER_HOLDER, DATA_ORG),
            GenesisAccount(KEEPER, DATA_ORG),
            GenesisAccount(MEMBER, ORG_C),
        ),
        committee=(M1, M2, M3),
        threshold=2,
        roles=(
            GenesisRole(REGULATOR, DRUG_REGULATOR),
            GenesisRole(AUDIT_BODY, AUDIT_ACCREDITOR),
            GenesisRole(AUTHORITY_A, LICENCE_AUTHORITY),
            GenesisRole(AUTHORITY_B, LICENCE_AUTHORITY),
            GenesisRole(SCOPED_AUTHORITY, LICENCE_AUTHORITY, TYPE_A),
            GenesisRole(DATA_ADMIN, DATA_REGULATOR),
            GenesisRole(ISSUER_HOLDER, ISSUER, TYPE_A),
            GenesisRole(KEEPER, CALENDAR_KEEPER),
        ),
        system_contracts=(
            SystemContract(
                "Calendar",
                CALENDAR_ADDRESS,
                load_runtime_code("Calendar"),
                INIT_DATA_BUILDERS["Calendar"](GOVERNANCE_ADDRESS),
            ),
            SystemContract(
                "LicenceRegistry",
                LICENCE_REGISTRY_ADDRESS,
                load_runtime_code("LicenceRegistry"),
                encode_initialize_with_governance(GOVERNANCE_ADDRESS),
            ),
        ),
    )
    engine = ExecutionEngine({}, chain_id=7)
    c = Chain(engine, engine.create_genesis(spec))
    for authority, code in ((AUTHORITY_A, TYPE_A_CODE), (AUTHORITY_B, TYPE_B_CODE)):
        receipt = c.send_to(
            authority, LICENCE_REGISTRY_ADDRESS, LICENCES.encode_call("define_type", [code, "某类许可证"])
        )
        assert receipt.status == 1, receipt.revert_reason
    return c


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
