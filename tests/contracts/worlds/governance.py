"""The Governance world: a committee, every kind of delegated admin, the LicenceRegistry and the Calendar."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi import decode, encode
from eth_utils import function_abi_to_4byte_selector

from node.genesis import (
    AUDIT_ACCREDITOR,
    CALENDAR_KEEPER,
    DATA_REGULATOR,
    DRUG_REGULATOR,
    GOVERNANCE_ADDRESS,
    ISSUER,
    LICENCE_AUTHORITY,
    LICENCE_REGISTRY_ADDRESS,
)
from sdk.contracts import Contract
from sdk.crypto import sm3
from sdk.domains.calendar import day_of_date
from tests.contracts.harness import ContractChain, genesis_chain

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
CALENDAR = Contract("Calendar")
V1, V2, V3 = (bytes([i]) * 64 for i in (1, 2, 3))
REGISTER_ORGANISATION, SET_ORGANISATION_ACTIVE, REGISTER_ACCOUNT, SET_ACCOUNT_ACTIVE = 1, 2, 3, 4
GRANT_ROLE, REVOKE_ROLE, ADD_VALIDATOR, REMOVE_VALIDATOR = 5, 6, 7, 8
SET_COMMITTEE_MEMBER, SET_THRESHOLD, SET_ROLE_ADMIN, REGISTER_CONTRACT = 9, 10, 11, 12
GLOBAL = bytes(32)
MONDAY = day_of_date(dt.date(2026, 3, 2))  # an ordinary working day, far in the future of the test chain


def calldata(name: str, *args: Any) -> bytes:
    entry = FUNCTIONS[name]
    types = [_abi_type(i) for i in entry["inputs"]]
    return function_abi_to_4byte_selector(entry) + encode(types, list(args))


def _abi_type(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in param["components"]) + ")" + param["type"][5:]
    return str(param["type"])


@dataclass
class Chain(ContractChain):
    """Calls go to Governance; its views decode as the raw ABI does (addresses as 0x-strings)."""

    def view(self, name: str, *args: Any, to: bytes | None = None, at: int | None = None) -> Any:
        if to not in (None, GOVERNANCE_ADDRESS):
            return super().view(name, *args, to=to, at=at)
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
    c = genesis_chain(
        Chain,
        address=GOVERNANCE_ADDRESS,
        validators=(V1, V2),
        organisations=(
            (ORG_A, "Committee Org"),
            (ORG_B, "国家药品监督管理局"),
            (ORG_C, "某某制药有限公司"),
            (BUREAU_A_ORG, "某市市场监督管理局"),
            (BUREAU_B_ORG, "某省卫生健康委员会"),
            (SCOPED_ORG, "某区行政审批局"),
            (DATA_ORG, "某市数据局"),
        ),
        accounts=(
            (M1, ORG_A),
            (M2, ORG_A),
            (M3, ORG_A),
            (REGULATOR, ORG_B),
            (PHARMA, ORG_C),
            (AUDIT_BODY, ORG_B),
            (AUTHORITY_A, BUREAU_A_ORG),
            (AUTHORITY_A_CLERK, BUREAU_A_ORG),
            (AUTHORITY_B, BUREAU_B_ORG),
            (SCOPED_AUTHORITY, SCOPED_ORG),
            (DATA_ADMIN, DATA_ORG),
            (ISSUER_HOLDER, DATA_ORG),
            (KEEPER, DATA_ORG),
            (MEMBER, ORG_C),
        ),
        committee=(M1, M2, M3),
        threshold=2,
        roles=(
            (REGULATOR, DRUG_REGULATOR),
            (AUDIT_BODY, AUDIT_ACCREDITOR),
            (AUTHORITY_A, LICENCE_AUTHORITY),
            (AUTHORITY_B, LICENCE_AUTHORITY),
            (SCOPED_AUTHORITY, LICENCE_AUTHORITY, TYPE_A),
            (DATA_ADMIN, DATA_REGULATOR),
            (ISSUER_HOLDER, ISSUER, TYPE_A),
            (KEEPER, CALENDAR_KEEPER),
        ),
        contracts=("Calendar", "LicenceRegistry"),
        gas=2_000_000,
        proposer=M1,
        viewer=OUTSIDER,
    )
    for authority, code in ((AUTHORITY_A, TYPE_A_CODE), (AUTHORITY_B, TYPE_B_CODE)):
        c.must(authority, "define_type", code, "某类许可证", to=LICENCE_REGISTRY_ADDRESS)
    return c
