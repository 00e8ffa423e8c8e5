"""The LicenceRegistry world: a ministry that defines licence types, issuing bureaus, a relying bank."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils import keccak

from node.genesis import (
    GOVERNANCE_ADDRESS,
    LICENCE_AUTHORITY,
    LICENCE_REGISTRY_ADDRESS,
)
from scripts.samples import SAMPLE_RESIDENT_ID
from sdk.contracts import Contract
from sdk.crypto import PrivateKey, sm3
from sdk.domains.licences import (
    Consent,
    LicenceStatus,
    compute_holder_commitment,
    compute_holder_key_hash,
    compute_type_id,
)
from sdk.identifiers import make_licence_id
from sdk.types import Receipt
from tests.contracts.harness import ContractChain, genesis_chain

CHAIN_ID = 7
T0 = 1_700_000_000
DAY = 86_400

REGISTRY = Contract("LicenceRegistry")
GOVERNANCE = Contract("Governance")

COMMITTEE_ORG = "91350100M0001TGQXM"
MINISTRY_ORG = "11100000000013338W"  # defines the types 11100000000013338W032 / 033
CITY_ORG = "11430000006122244L"  # issuing organisation
DISTRICT_ORG = "11330105002500287C"  # another issuing organisation
BANK_ORG = "91350200776049653A"  # a relying party that records uses

M1, AUTHORITY, CITY, CITY_DESK, DISTRICT, BANK, BANK_AUTHORITY, OUTSIDER, CITY_CLERK, DISTRICT_DESK = (
    bytes([0x10 + i]) * 20 for i in range(10)
)
TYPE_CODE = MINISTRY_ORG + "032"
OTHER_TYPE_CODE = MINISTRY_ORG + "033"
TYPE_ID = compute_type_id(TYPE_CODE)
OTHER_TYPE_ID = compute_type_id(OTHER_TYPE_CODE)
ISSUER_ROLE = keccak(text="ISSUER")
JURISDICTION = "430100"
RESIDENT_ID = SAMPLE_RESIDENT_ID
HOLDER_KEY = PrivateKey.generate()
SALT = bytes(range(32))
COMMITMENT = compute_holder_commitment(SALT, "111", RESIDENT_ID)
DOC_HASH = sm3(b"licence document v1")
STATUS = LicenceStatus


def licence_id(serial: str, version: int = 1, issuer: str = CITY_ORG, type_code: str = TYPE_CODE) -> str:
    return make_licence_id(type_code, issuer, serial, version)


@dataclass
class Chain(ContractChain):
    """Calls go to the LicenceRegistry; one second passes per block."""

    def status(self, id_hash: bytes) -> LicenceStatus:
        return LicenceStatus(self.view("status", id_hash))

    def named_events(self, receipt: Receipt) -> list[tuple[str, dict[str, Any]]]:
        return [(event.name, event.args) for event in self.events(receipt)]

    # --- domain helpers ----------------------------------------------------------------------------
    def issue(
        self,
        identifier: str,
        *,
        sender: bytes = CITY,
        valid_from: int | None = None,
        valid_until: int | None = None,
        holder_key_hash: bytes | None = None,
        commitment: bytes = COMMITMENT,
    ) -> tuple[bytes, Receipt]:
        id_hash = sm3(identifier.encode("ascii"))  # as the contract hashes it (no normalisation)
        receipt = self.send(
            sender,
            "issue",
            *self.issue_args(identifier, valid_from, valid_until, holder_key_hash, commitment),
        )
        return id_hash, receipt

    def issue_args(
        self,
        identifier: str,
        valid_from: int | None = None,
        valid_until: int | None = None,
        holder_key_hash: bytes | None = None,
        commitment: bytes = COMMITMENT,
    ) -> list[Any]:
        return [
            identifier,
            commitment,
            compute_holder_key_hash(HOLDER_KEY.public_key) if holder_key_hash is None else holder_key_hash,
            DOC_HASH,
            self.now if valid_from is None else valid_from,
            self.now + 365 * DAY if valid_until is None else valid_until,
            JURISDICTION,
        ]

    def consent(
        self,
        id_hash: bytes,
        *,
        user: bytes = BANK,
        key: PrivateKey = HOLDER_KEY,
        chain_id: int = CHAIN_ID,
        not_after: int | None = None,
        nonce: bytes | None = None,
    ) -> Consent:
        return Consent.create(
            key,
            chain_id=chain_id,
            id_hash=id_hash,
            user=user,
            purpose="开立对公账户 account opening",
            not_after=self.now + 600 if not_after is None else not_after,
            registry=LICENCE_REGISTRY_ADDRESS,
            nonce=nonce,
        )

    @staticmethod
    def use_args(
        consent: Consent, *, public_key: bytes | None = None, signature: bytes | None = None
    ) -> list[Any]:
        return [
            consent.id_hash,
            consent.purpose_hash,
            consent.nonce,
            consent.not_after,
            consent.holder_public_key if public_key is None else public_key,
            consent.signature if signature is None else signature,
        ]


def _genesis() -> Chain:
    return genesis_chain(
        Chain,
        address=LICENCE_REGISTRY_ADDRESS,
        organisations=(
            (COMMITTEE_ORG, "Committee"),
            (MINISTRY_ORG, "某部委"),
            (CITY_ORG, "长沙市市场监督管理局"),
            (DISTRICT_ORG, "某区行政审批局"),
            (BANK_ORG, "某银行"),
        ),
        accounts=(
            (M1, COMMITTEE_ORG),
            (AUTHORITY, MINISTRY_ORG),
            (CITY, CITY_ORG),
            (CITY_DESK, CITY_ORG),
            (CITY_CLERK, CITY_ORG),  # of the issuing organisation, without ISSUER
            (DISTRICT, DISTRICT_ORG),
            (DISTRICT_DESK, DISTRICT_ORG),  # ISSUER of the same type, another organisation
            (BANK, BANK_ORG),
            (BANK_AUTHORITY, BANK_ORG),
        ),
        committee=(M1,),
        roles=((AUTHORITY, LICENCE_AUTHORITY), (BANK_AUTHORITY, LICENCE_AUTHORITY)),
        contracts=("LicenceRegistry",),
        timestamp_ms=T0 * 1000,
        proposer=M1,
        viewer=OUTSIDER,
    )


def make_base() -> Chain:
    """Genesis, the type defined by the ministry, CITY (and CITY_DESK by org) authorised to issue it."""
    chain = _genesis()
    chain.must(AUTHORITY, "define_type", TYPE_CODE, "营业执照")
    chain.must(AUTHORITY, "define_type", OTHER_TYPE_CODE, "食品经营许可证")
    chain.must(AUTHORITY, "grant_role", CITY, ISSUER_ROLE, TYPE_ID, to=GOVERNANCE_ADDRESS)
    chain.must(AUTHORITY, "grant_role", CITY_DESK, ISSUER_ROLE, TYPE_ID, to=GOVERNANCE_ADDRESS)
    chain.must(AUTHORITY, "grant_role", DISTRICT, ISSUER_ROLE, OTHER_TYPE_ID, to=GOVERNANCE_ADDRESS)
    chain.must(AUTHORITY, "grant_role", DISTRICT_DESK, ISSUER_ROLE, TYPE_ID, to=GOVERNANCE_ADDRESS)
    return chain
