"""Governance's chain of trust: trust anchors and account certificates, recorded at genesis or by committee
proposal, on the real engines (py-evm cross-checked with the native one). The contract records DER bytes; the
X.509 checks are the SDK's (tests/integration/test_organisation_certificates.py)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from eth_utils import keccak

from node.config import ChainConfig, ConfigError
from node.demo_network import make_uscc
from node.genesis import (
    GOVERNANCE_ADDRESS,
    GenesisAccount,
    GenesisCertificate,
    GenesisFile,
    GenesisOrganisation,
    compose_genesis,
)
from sdk.crypto import PrivateKey
from sdk.domains.governance import Action, encode_payload
from sdk.system import MAX_CHAIN_CERTIFICATE_BYTES, MAX_TRUST_ANCHORS
from tests.contracts.harness import genesis_chain
from tests.contracts.worlds.governance import (
    M1,
    M2,
    M3,
    MEMBER,
    ORG_A,
    ORG_C,
    OUTSIDER,
    PHARMA,
    V1,
    Chain,
    make_chain,
)


def der(tag: int, size: int = 300) -> bytes:
    """DER-shaped bytes (a SEQUENCE with a two-byte length): what the contract checks of a certificate."""
    body = bytes([tag]) * (size - 4)
    return b"\x30\x82" + len(body).to_bytes(2, "big") + body


USCC = make_uscc("330000", 42_000_001)  # a valid USCC: the genesis file checks it
CA, OTHER_CA = der(1), der(2)
CERT, NEW_CERT = der(3), der(4)


def decide(chain: Chain, action: Action, *values: object) -> list[str]:
    """Pass a proposal with two votes; the names of the events its executing vote logged."""
    proposal_id = chain.propose(M1, action, encode_payload(action, *values))
    receipt = chain.must(M2, "vote", proposal_id)
    return [e.name for e in chain.events(receipt)]


def refused(chain: Chain, action: Action, *values: object) -> str:
    """Propose with one vote, then the reason the executing vote reverts with (nothing changes)."""
    proposal_id = chain.propose(M1, action, encode_payload(action, *values))
    return chain.refused(M2, "vote", proposal_id)


def anchors(chain: Chain) -> list[bytes]:
    return list(chain.view("get_trust_anchors"))


def bound(chain: Chain, account: bytes) -> tuple[bytes, bytes, int]:
    certificate_id, certificate, block = chain.view("certificates", account)
    return certificate_id, certificate, block


@pytest.fixture()
def chain() -> Chain:
    return make_chain()


def test_the_committee_adds_a_trust_anchor_and_binds_an_account_certificate(chain: Chain) -> None:
    assert anchors(chain) == [] and bound(chain, PHARMA) == (bytes(32), b"", 0)
    assert "TrustAnchorAdded" in decide(chain, Action.ADD_TRUST_ANCHOR, CA)
    assert anchors(chain) == [keccak(CA)]
    assert chain.view("trust_anchors", keccak(CA)) == CA
    assert "CertificateBound" in decide(chain, Action.BIND_CERTIFICATE, PHARMA, CERT)
    assert bound(chain, PHARMA) == (keccak(CERT), CERT, chain.height)


def test_rebinding_replaces_the_certificate_and_names_the_previous_one(chain: Chain) -> None:
    decide(chain, Action.ADD_TRUST_ANCHOR, CA)
    decide(chain, Action.BIND_CERTIFICATE, PHARMA, CERT)
    proposal_id = chain.propose(
        M1, Action.BIND_CERTIFICATE, encode_payload(Action.BIND_CERTIFICATE, PHARMA, NEW_CERT)
    )
    (event,) = [e for e in chain.events(chain.must(M2, "vote", proposal_id)) if e.name == "CertificateBound"]
    assert event.args["previous"] == keccak(CERT) and event.args["certificate_id"] == keccak(NEW_CERT)
    assert bound(chain, PHARMA)[:2] == (keccak(NEW_CERT), NEW_CERT)
    assert refused(chain, Action.BIND_CERTIFICATE, PHARMA, NEW_CERT) == "certificate already bound"


def test_unbinding_and_removing_an_anchor(chain: Chain) -> None:
    decide(chain, Action.ADD_TRUST_ANCHOR, CA)
    decide(chain, Action.ADD_TRUST_ANCHOR, OTHER_CA)
    decide(chain, Action.BIND_CERTIFICATE, PHARMA, CERT)
    assert "CertificateUnbound" in decide(chain, Action.UNBIND_CERTIFICATE, PHARMA)
    assert bound(chain, PHARMA) == (bytes(32), b"", 0)
    assert refused(chain, Action.UNBIND_CERTIFICATE, PHARMA) == "no certificate bound"
    assert "TrustAnchorRemoved" in decide(chain, Action.REMOVE_TRUST_ANCHOR, keccak(CA))
    assert anchors(chain) == [keccak(OTHER_CA)] and chain.view("trust_anchors", keccak(CA)) == b""
    assert refused(chain, Action.REMOVE_TRUST_ANCHOR, keccak(CA)) == "not a trust anchor"


@pytest.mark.parametrize(
    ("action", "values", "reason"),
    [
        (Action.BIND_CERTIFICATE, (PHARMA, CERT), "no trust anchor"),
        (Action.ADD_TRUST_ANCHOR, (b"\x30\x81" + bytes(200),), "certificate is not DER"),
        (Action.ADD_TRUST_ANCHOR, (b"-----BEGIN CERTIFICATE-----",), "certificate is not DER"),
        (Action.ADD_TRUST_ANCHOR, (b"",), "certificate is not DER"),
        (Action.REMOVE_TRUST_ANCHOR, (keccak(CA),), "not a trust anchor"),
        (Action.UNBIND_CERTIFICATE, (PHARMA,), "no certificate bound"),
    ],
)
def test_what_the_contract_refuses_without_anchors(
    chain: Chain, action: Action, values: tuple[object, ...], reason: str
) -> None:
    assert refused(chain, action, *values) == reason


def test_what_the_contract_refuses_of_a_binding(chain: Chain) -> None:
    decide(chain, Action.ADD_TRUST_ANCHOR, CA)
    assert refused(chain, Action.ADD_TRUST_ANCHOR, CA) == "trust anchor already added"
    assert refused(chain, Action.BIND_CERTIFICATE, OUTSIDER, CERT) == "unknown account"
    assert refused(chain, Action.BIND_CERTIFICATE, PHARMA, CERT[:3]) == "certificate is not DER"
    # one byte over the on-chain limit does not decode: the vote reverts and nothing is bound
    oversized = der(5, MAX_CHAIN_CERTIFICATE_BYTES + 1)
    proposal_id = chain.propose(
        M1, Action.BIND_CERTIFICATE, encode_payload(Action.BIND_CERTIFICATE, PHARMA, oversized)
    )
    chain.refused(M2, "vote", proposal_id)
    decide(
        chain, Action.BIND_CERTIFICATE, PHARMA, der(6, MAX_CHAIN_CERTIFICATE_BYTES)
    )  # the limit itself fits
    assert len(bound(chain, PHARMA)[1]) == MAX_CHAIN_CERTIFICATE_BYTES


def test_at_most_max_trust_anchors(chain: Chain) -> None:
    for i in range(MAX_TRUST_ANCHORS):
        decide(chain, Action.ADD_TRUST_ANCHOR, der(0x10 + i))
    assert len(anchors(chain)) == MAX_TRUST_ANCHORS
    assert refused(chain, Action.ADD_TRUST_ANCHOR, der(0x90)) == "too many trust anchors"


def test_sdk_limits_match_the_contract(chain: Chain) -> None:
    assert chain.view("MAX_CERTIFICATE_BYTES") == MAX_CHAIN_CERTIFICATE_BYTES
    assert chain.view("MAX_TRUST_ANCHORS") == MAX_TRUST_ANCHORS
    assert [chain.view(a.name) for a in list(Action)[-4:]] == [16, 17, 18, 19]


def test_no_member_or_outsider_reaches_the_trust_records_directly(chain: Chain) -> None:
    # after genesis nobody applies a trust action outside a proposal: not a committee member acting alone,
    # not a member; and a committee member's proposal below the threshold changes nothing
    payload = encode_payload(Action.ADD_TRUST_ANCHOR, CA)
    for who in (M1, MEMBER, OUTSIDER):
        assert chain.refused(who, "initialize_trust", Action.ADD_TRUST_ANCHOR, payload) == "genesis only"
    chain.propose(M3, Action.ADD_TRUST_ANCHOR, payload)
    assert anchors(chain) == []


# --- genesis ----------------------------------------------------------------------------------------------
def genesis_with(anchors_: tuple[bytes, ...], certificates: tuple[GenesisCertificate, ...]) -> Chain:
    return genesis_chain(
        Chain,
        address=GOVERNANCE_ADDRESS,
        validators=(V1,),
        organisations=((ORG_A, "Committee Org"), (ORG_C, "某某制药有限公司")),
        accounts=((M1, ORG_A), (PHARMA, ORG_C)),
        committee=(M1,),
        trust_anchors=anchors_,
        certificates=certificates,
    )


def test_genesis_records_its_trust_anchors_and_certificates_in_state() -> None:
    chain = genesis_with((CA, OTHER_CA), (GenesisCertificate(PHARMA, CERT),))
    assert anchors(chain) == [keccak(CA), keccak(OTHER_CA)]
    assert bound(chain, PHARMA) == (keccak(CERT), CERT, 0)


def test_a_genesis_without_certificates_has_the_state_it_had_before() -> None:
    plain = genesis_with((), ())
    assert anchors(plain) == [] and bound(plain, PHARMA) == (bytes(32), b"", 0)


def plain_genesis_file() -> GenesisFile:
    validator = PrivateKey.generate().public_key.to_bytes()
    return compose_genesis(
        ChainConfig(chain_id=4242),
        validators=[validator],
        members=[(GenesisOrganisation(USCC, "某某制药有限公司"), GenesisAccount(PHARMA, USCC), ["MAH"])],
        committee=[PHARMA],
        threshold=1,
        timestamp_ms=0,
    )


def test_a_genesis_file_carries_its_trust_through_json() -> None:
    genesis = plain_genesis_file()
    trusted = replace(
        genesis,
        spec=replace(genesis.spec, trust_anchors=(CA,), certificates=(GenesisCertificate(PHARMA, CERT),)),
    )
    trusted.validate()
    assert GenesisFile.from_dict(json.loads(trusted.to_json())) == trusted
    assert "trust_anchors" not in json.loads(genesis.to_json())  # a genesis without them reads as before


@pytest.mark.parametrize(
    ("anchors_", "certificates", "message"),
    [
        ((), (GenesisCertificate(PHARMA, CERT),), "names no trust anchor"),
        ((CA, CA), (), "repeated"),
        ((CA,), (GenesisCertificate(OUTSIDER, CERT),), "not a genesis account"),
        ((CA,), (GenesisCertificate(PHARMA, CERT), GenesisCertificate(PHARMA, NEW_CERT)), "two certificates"),
        ((b"\x30\x81" + bytes(100),), (), "not DER"),
        ((der(7, MAX_CHAIN_CERTIFICATE_BYTES + 1),), (), "not DER"),
        (tuple(der(0x10 + i) for i in range(MAX_TRUST_ANCHORS + 1)), (), "more than"),
    ],
)
def test_a_genesis_file_with_inconsistent_trust_is_refused(
    anchors_: tuple[bytes, ...], certificates: tuple[GenesisCertificate, ...], message: str
) -> None:
    genesis = plain_genesis_file()
    broken = replace(genesis, spec=replace(genesis.spec, trust_anchors=anchors_, certificates=certificates))
    with pytest.raises(ConfigError, match=message):
        broken.validate()
