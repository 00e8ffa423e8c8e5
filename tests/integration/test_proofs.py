"""Proof bundles served by a real node over HTTP (SQLite, py-evm, SM2), verified offline by the Verifier."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from scripts.samples import SAMPLE_RESIDENT_ID, issue_sample_licence
from sdk.client import Client
from sdk.contracts import Contract
from sdk.domains.governance import Action, encode_payload
from sdk.errors import ChainError, StatusError
from sdk.proofs.bundle import ProofBundle
from sdk.proofs.mpt import compute_storage_slot
from sdk.proofs.trust import Checkpoint, Genesis, load_trust
from sdk.proofs.verify import Verifier
from sdk.system import LICENCE_REGISTRY_ADDRESS
from sdk.types import Transaction
from tests.support import member_auth

if TYPE_CHECKING:
    from node_fixtures import Member, RunningNode

pytest_plugins = ["node_fixtures"]

GOV = Contract("Governance")
COMMITTEE_MEMBER_SLOT = 233  # Governance.is_committee_member: HashMap[address, bool] (storage layout)


def _propose(node: RunningNode) -> str:
    """Commit one Governance proposal by the committee; return its transaction hash (0x hex)."""
    account = secrets.token_bytes(20)
    payload = encode_payload(Action.REGISTER_ACCOUNT, account, node.committee.uscc)
    data = GOV.encode_call("propose", [int(Action.REGISTER_ACCOUNT), payload, node.ledger.height + 1000])
    tx = Transaction.create(
        node.committee.signer.private_key,
        chain_id=node.ledger.chain.chain_id,
        to=node.ledger.governance_address,
        data=data,
        gas_limit=2_000_000,
        expiry_height=node.ledger.height + 100,
    )
    raw = "0x" + tx.encode().hex()
    assert httpx.post(f"{node.url}/v1/transactions", json={"raw": raw}).status_code in (200, 201, 202)
    body = httpx.get(
        f"{node.url}/v1/transactions/0x{tx.tx_hash.hex()}",
        params={"wait": 20},
        timeout=30,
        auth=member_auth(node.url, node.committee.signer),
    )
    assert body.json()["status"] == "committed", body.text
    return "0x" + tx.tx_hash.hex()


def _trust(node: RunningNode) -> Genesis:
    trust = load_trust(httpx.get(f"{node.url}/v1/proofs/trust").json())
    assert isinstance(trust, Genesis)
    return trust


def test_served_bundle_verifies_offline(running_node: RunningNode) -> None:
    tx_hash = _propose(running_node)
    anonymous = httpx.get(f"{running_node.url}/v1/proofs/tx/{tx_hash}", params={"log_index": 0})
    assert anonymous.status_code == 401  # a governance transaction's bundle is for members
    auth = member_auth(running_node.url, running_node.committee.signer)
    body = httpx.get(f"{running_node.url}/v1/proofs/tx/{tx_hash}", params={"log_index": 0}, auth=auth).json()
    event = Verifier(trust=_trust(running_node)).verify_bundle(body)
    assert "0x" + event.tx_hash.hex() == tx_hash
    assert event.sender == running_node.committee.signer.private_key.public_key.address
    assert event.log is not None and event.log.contract_name == "Governance"
    assert event.validators == tuple(running_node.ledger.store.get_block(0).next_validators)
    size = len(ProofBundle.from_json(body).to_compact())
    assert size < 2000, size  # a one-validator event bundle fits a QR code


def test_state_proof_of_a_governance_slot_is_checked_against_the_head(running_node: RunningNode) -> None:
    tx_hash = _propose(running_node)
    committee = running_node.committee.signer.private_key.public_key.address
    slot = compute_storage_slot(COMMITTEE_MEMBER_SLOT, bytes(12) + committee)
    body = httpx.get(
        f"{running_node.url}/v1/proofs/tx/{tx_hash}",
        params={
            "state_address": "0x" + running_node.ledger.governance_address.hex(),
            "state_slot": hex(slot),
        },
        auth=member_auth(running_node.url, running_node.committee.signer),
    ).json()
    event = Verifier(trust=_trust(running_node)).verify_bundle(body)
    assert event.state is not None and event.state.value == 1 and event.state.height >= event.height


def test_checkpoint_mode_bundle_verifies_against_a_checkpoint(running_node: RunningNode) -> None:
    tx_hash = _propose(running_node)
    event_height = running_node.ledger.store.get_receipt(bytes.fromhex(tx_hash[2:])).height
    assert running_node.ledger.wait_for_height(event_height + 2, 20)
    top = event_height + 2
    checkpoint = load_trust(
        httpx.get(f"{running_node.url}/v1/proofs/checkpoint", params={"height": top}).json()
    )
    assert isinstance(checkpoint, Checkpoint) and checkpoint.certificate is not None
    auth = member_auth(running_node.url, running_node.committee.signer)
    body = httpx.get(
        f"{running_node.url}/v1/proofs/tx/{tx_hash}", params={"checkpoint_height": top}, auth=auth
    ).json()
    assert body["handovers"] == [] and body["block"]["history"]["size"] == top
    event = Verifier(trust=checkpoint).verify_bundle(body)
    assert event.height == event_height


def test_bundle_from_another_node_is_refused(running_node: RunningNode, idle_node: RunningNode) -> None:
    """Both test chains use chain id 4242 but different genesis blocks and validator keys."""
    tx_hash = _propose(running_node)
    auth = member_auth(running_node.url, running_node.committee.signer)
    body = httpx.get(f"{running_node.url}/v1/proofs/tx/{tx_hash}", auth=auth).json()
    with pytest.raises(ChainError, match="another chain"):
        Verifier(trust=_trust(idle_node)).verify_bundle(body)


def test_unknown_transaction_and_bad_parameters(running_node: RunningNode) -> None:
    url = running_node.url
    auth = member_auth(url, running_node.committee.signer)
    assert httpx.get(f"{url}/v1/proofs/tx/0x{'00' * 32}").json()["code"] == "not_found"
    assert httpx.get(f"{url}/v1/proofs/tx/0x1234").status_code == 422
    tx_hash = _propose(running_node)
    assert httpx.get(f"{url}/v1/proofs/tx/{tx_hash}", params={"log_index": 99}, auth=auth).status_code == 422
    assert (
        httpx.get(f"{url}/v1/proofs/tx/{tx_hash}", params={"state_slot": "1"}, auth=auth).status_code == 422
    )
    assert httpx.get(f"{url}/v1/proofs/licences/not-a-licence").status_code == 422
    assert httpx.get(f"{url}/v1/proofs/licences/0x{'11' * 32}").json()["code"] == "not_found"


# --- licences -----------------------------------------------------------------------------------------
def issue_licence(url: str, issuer: Member, serial: str | None = None) -> Any:
    """Define a licence type (once) and issue a licence as ``issuer``; return the IssueResult."""
    from sdk.domains.licences import Licences

    return issue_sample_licence(Licences(Client(url), issuer.signer), issuer.uscc, serial)


def test_licence_bundle_reports_validity_then_revocation_with_its_height(running_node: RunningNode) -> None:
    pytest.importorskip("sdk.domains.licences")
    issuer = running_node.member_with("ISSUER")
    result = issue_licence(running_node.url, issuer)
    verifier = Verifier(trust=_trust(running_node))
    body = httpx.get(f"{running_node.url}/v1/proofs/licences/{result.identifier}").json()
    event = verifier.verify_bundle(body)
    assert event.licence is not None and event.licence.id_hash == result.id_hash
    assert event.licence.issuer == issuer.signer.private_key.public_key.address
    assert event.state is not None and event.state.licence is not None
    assert event.state.licence.name == "VALID"
    credential = result.credential
    assert event.licence.is_holder(credential.holder_salt, "111", SAMPLE_RESIDENT_ID)
    # the proven state word is what py-evm's LicenceRegistry.status returns (layout check on a real EVM)
    from sdk.domains.licences import Licences

    licences = Licences(Client(running_node.url), issuer.signer)
    assert int(licences.status(result.identifier)) == event.state.value == 1
    assert event.state.address == LICENCE_REGISTRY_ADDRESS

    revoked = licences.revoke(result.identifier, "吊销：虚假材料")
    body = httpx.get(f"{running_node.url}/v1/proofs/licences/0x{result.id_hash.hex()}").json()
    with pytest.raises(StatusError) as info:
        verifier.verify_bundle(body)
    assert info.value.detail["status"] == "REVOKED"
    assert info.value.detail["issued_at_height"] == event.height
    assert info.value.detail["height"] >= revoked.height > event.height
    assert f"REVOKED at height {info.value.detail['height']}" in info.value.message
