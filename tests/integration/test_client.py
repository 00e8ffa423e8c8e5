"""The SDK Client, Signer, Contract bindings and Governance facade against a real node over real HTTP."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sdk.answers import ReceiptResult
from sdk.client import Client
from sdk.contracts import ABI_DIR, Contract, render_abi
from sdk.domains.governance import Action, compute_role_id
from sdk.errors import (
    ClientError,
    EncodingError,
    ExecutionError,
    IdentifierError,
    InvalidTransaction,
    NodeUnreachable,
    TransactionExpired,
)
from sdk.proofs.certificate import verify_certificate
from sdk.signer import Signer
from sdk.types import Transaction

if TYPE_CHECKING:
    from node_fixtures import RunningNode

pytest_plugins = ["node_fixtures"]

ROOT = Path(__file__).resolve().parents[2]
GOV = Contract("Governance")


@pytest.fixture
def client(running_node: RunningNode) -> Client:
    with Client(running_node.url, timeout=10, signer=running_node.committee.signer) as c:
        yield c  # type: ignore[misc]


def test_sdk_ships_an_up_to_date_copy_of_every_contract_abi() -> None:
    for artifact_path in sorted((ROOT / "contracts" / "build").glob("*.json")):
        artifact = json.loads(artifact_path.read_text(encoding="utf-8"))
        shipped = ABI_DIR / artifact_path.name
        assert shipped.is_file(), f"sdk/abi/{artifact_path.name} is missing: run the contract build"
        assert shipped.read_text(encoding="utf-8") == render_abi(artifact["abi"])


def test_send_waits_for_the_receipt_and_wait_returns_it_again(
    client: Client, running_node: RunningNode
) -> None:
    signer = running_node.committee.signer
    gov = running_node.ledger.governance_address
    receipt = client.send(signer, gov, GOV.encode_call("threshold"))
    assert isinstance(receipt, ReceiptResult) and receipt.succeeded and receipt.gas_used > 0
    assert client.wait(receipt.tx_hash, timeout=5) == receipt
    status = client.transaction(receipt.tx_hash)
    assert status.status == "committed" and status.transaction is not None
    assert status.transaction.sender == signer.address
    block = client.block(receipt.height)
    assert block.transactions[receipt.index] == receipt.tx_hash and block.block_hash == receipt.block_hash


def test_send_without_wait_returns_the_hash(client: Client, running_node: RunningNode) -> None:
    tx_hash = client.send(
        running_node.committee.signer, running_node.ledger.governance_address, b"", wait=False
    )
    assert isinstance(tx_hash, bytes) and len(tx_hash) == 32
    assert client.wait(tx_hash, timeout=20).tx_hash == tx_hash


def test_admission_refusal_is_raised_as_invalid_transaction_with_code_and_detail(client: Client) -> None:
    stranger = Signer.generate()
    with pytest.raises(InvalidTransaction) as refused:
        client.send(stranger, bytes(20), b"")
    assert refused.value.code == "unknown_sender"
    assert refused.value.detail["sender"] == "0x" + stranger.address.hex()
    assert refused.value.detail["http_status"] == 403
    with pytest.raises(InvalidTransaction) as garbage:
        client.submit_raw(b"\x01\x02\x03")
    assert garbage.value.code == "bad_encoding"


def test_resubmitting_the_same_transaction_is_idempotent(client: Client, running_node: RunningNode) -> None:
    info = client.chain_info()
    tx = running_node.committee.signer.sign_transaction(
        chain_id=info.chain_id, to=bytes(20), data=b"", gas_limit=100_000, expiry_height=info.height + 10
    )
    assert client.submit(tx) == tx.tx_hash
    assert client.submit(tx) == tx.tx_hash
    client.wait(tx.tx_hash, timeout=20)
    assert client.submit(tx) == tx.tx_hash


def _closed_port_url() -> str:
    """The URL of a port on 127.0.0.1 that nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_send_fails_over_from_a_dead_node_to_a_live_one(running_node: RunningNode) -> None:
    signer = running_node.committee.signer
    gov = running_node.ledger.governance_address
    with Client(_closed_port_url(), failover=[running_node.url], timeout=5, signer=signer) as client:
        receipt = client.send(signer, gov, GOV.encode_call("threshold"))
        tx_hash = client.send(signer, gov, GOV.encode_call("threshold"), wait=False)
    assert receipt.succeeded
    with Client(running_node.url, signer=signer) as live:
        assert live.transaction(receipt.tx_hash).status == "committed"
        assert live.wait(tx_hash, timeout=20).succeeded


def _threshold_call(running_node: RunningNode, *, expires_in: int = 10) -> Transaction:
    """A signed read of Governance's threshold by the committee member, expiring ``expires_in`` blocks on."""
    return running_node.committee.signer.sign_transaction(
        chain_id=running_node.ledger.chain.chain_id,
        to=running_node.ledger.governance_address,
        data=GOV.encode_call("threshold"),
        gas_limit=100_000,
        expiry_height=running_node.ledger.height + expires_in,
    )


def test_deliver_resubmits_a_transaction_the_live_node_already_committed(running_node: RunningNode) -> None:
    signer = running_node.committee.signer
    tx = _threshold_call(running_node)
    with Client(running_node.url, signer=signer) as live:
        first = live.deliver(tx)
    with Client(_closed_port_url(), failover=[running_node.url], signer=signer) as client:
        assert client.deliver(tx) == first


def test_deliver_gives_up_with_node_unreachable_when_no_node_answers(running_node: RunningNode) -> None:
    signer = running_node.committee.signer
    dead = [_closed_port_url(), _closed_port_url()]
    tx = _threshold_call(running_node)
    with Client(dead[0], failover=dead[1:], signer=signer) as client:
        with pytest.raises(NodeUnreachable) as gave_up:
            client.deliver(tx, timeout=1.0)
        with pytest.raises(NodeUnreachable) as no_chain:
            client.send(signer, bytes(20), b"")
    assert gave_up.value.code == "unreachable" and isinstance(gave_up.value, ClientError)
    assert gave_up.value.detail["tx_hash"] == "0x" + tx.tx_hash.hex()
    assert sorted(gave_up.value.detail["nodes"]) == sorted(dead)
    assert sorted(no_chain.value.detail["nodes"]) == sorted(dead)


def test_an_expired_transaction_is_refused_as_transaction_expired(running_node: RunningNode) -> None:
    tx = _threshold_call(running_node, expires_in=0)
    client = Client(_closed_port_url(), failover=[running_node.url], signer=running_node.committee.signer)
    with client, pytest.raises(TransactionExpired) as expired:
        client.deliver(tx)
    assert expired.value.code == "expired" and isinstance(expired.value, InvalidTransaction)


def test_reverted_transaction_raises_execution_error_when_checked(
    client: Client, running_node: RunningNode
) -> None:
    outsider = running_node.member_with("BANK").signer
    data = GOV.encode_call("vote", [1])
    with pytest.raises(ExecutionError) as reverted:
        client.send(outsider, running_node.ledger.governance_address, data)
    assert reverted.value.code == "execution_reverted"
    assert reverted.value.detail["reason"] == "not a committee member"
    receipt = client.send(outsider, running_node.ledger.governance_address, data, check=False)
    assert receipt.status == 0 and receipt.revert_reason == "not a committee member"


def test_call_returns_data_and_revert_raises_execution_error(
    client: Client, running_node: RunningNode
) -> None:
    gov = running_node.ledger.governance_address
    out = client.call(gov, GOV.encode_call("is_active_account", [running_node.committee.signer.address]))
    assert GOV.decode_output("is_active_account", out) is True
    with pytest.raises(ExecutionError) as reverted:
        client.call(gov, GOV.encode_call("vote", [1]))
    assert reverted.value.code == "execution_reverted" and "committee" in reverted.value.detail["reason"]


def test_chain_info_head_block_certificate_and_validators(client: Client, running_node: RunningNode) -> None:
    info = client.chain_info()
    assert info.chain_id == 4242 and info.governance_address == running_node.ledger.governance_address
    head = client.head()
    assert head.height >= info.height
    assert client.block(head.block_hash) == head
    certificate = client.certificate(head.height)
    verify_certificate(certificate, head.header, client.validators())
    assert client.health()["status"] == "ok"
    with pytest.raises(ClientError) as missing:
        client.block(10**12)
    assert missing.value.code == "not_found"


def test_logs_iterate_across_pages_in_chain_order(client: Client, running_node: RunningNode) -> None:
    governance = client.governance.with_signer(running_node.committee.signer)
    start = client.chain_info().height + 1
    accounts = [Signer.generate().address for _ in range(3)]
    for account in accounts:
        governance.register_account(account, running_node.committee.uscc)
    topic = GOV.event_topic("AccountRegistered")
    small_pages = list(
        client.logs(address=governance.address, topics=[topic], from_height=start, page_size=1)
    )
    assert [GOV.decode_log(entry.log).args["account"] for entry in small_pages] == accounts
    all_logs = list(client.logs(from_height=start, page_size=1000))
    assert list(client.logs(from_height=start, page_size=2)) == all_logs
    positions = [(e.height, e.tx_index, e.log_index) for e in all_logs]
    assert positions == sorted(positions)


def test_unreachable_node_raises_client_error() -> None:
    with Client(_closed_port_url(), timeout=2) as offline, pytest.raises(ClientError) as failed:
        offline.chain_info()
    assert failed.value.code == "unreachable"


def test_wait_for_an_unknown_transaction_times_out(client: Client) -> None:
    with pytest.raises(ClientError) as timed_out:
        client.wait(b"\x42" * 32, timeout=0.5)
    assert timed_out.value.code == "timeout"


# --- Signer -------------------------------------------------------------------------------------------
def test_signer_loads_encrypted_pem_from_path_and_bytes(tmp_path: Path) -> None:
    signer = Signer.generate()
    pem = signer.private_key.to_pem(b"s3cret")
    path = tmp_path / "key.pem"
    path.write_bytes(pem)
    assert Signer.from_pem(path, password="s3cret").address == signer.address
    assert Signer.from_pem(pem, password=b"s3cret").public_key == signer.public_key
    assert signer.address.hex() in repr(signer) and signer.private_key.to_hex() not in repr(signer)


# --- Governance facade --------------------------------------------------------------------------------
def test_governance_registers_organisation_and_account_and_manages_roles(
    client: Client, running_node: RunningNode
) -> None:
    committee = client.governance.with_signer(running_node.committee.signer)
    from node.demo_network import make_uscc

    uscc = make_uscc("320100", 77_000_000 + running_node.ledger.height)
    created = committee.register_organisation(uscc, "Nanjing Pharmacy Co.")
    assert created.executed and created.proposal_id >= 1
    organisation = committee.organisation(uscc)
    assert organisation is not None and organisation.name == "Nanjing Pharmacy Co." and organisation.active

    pharmacist = Signer.generate()
    assert committee.register_account(pharmacist.address, uscc).executed
    assert committee.is_active(pharmacist.address)
    account = committee.account(pharmacist.address)
    assert account is not None and account.uscc == uscc
    assert committee.organisation_of(pharmacist.address) == uscc

    # The drug regulator grants DISPENSER directly (delegated admin), then revokes it.
    regulator = client.governance.with_signer(running_node.member_with("DRUG_REGULATOR").signer)
    assert not regulator.has_role(pharmacist.address, "DISPENSER")
    regulator.grant_role(pharmacist.address, "DISPENSER")
    assert regulator.has_role(pharmacist.address, "DISPENSER")
    regulator.revoke_role(pharmacist.address, "DISPENSER")
    assert not regulator.has_role(pharmacist.address, "DISPENSER")

    # Not the admin of BANK: the contract's reason comes back as an ExecutionError.
    with pytest.raises(ExecutionError, match="no delegated admin"):
        regulator.grant_role(pharmacist.address, "BANK")

    # A committee grant through a proposal, and disabling the organisation disables its accounts.
    assert committee.propose_grant_role(pharmacist.address, "DATA_USER").executed
    assert committee.has_role(pharmacist.address, compute_role_id("DATA_USER"))
    assert committee.set_organisation_active(uscc, False).executed
    assert not committee.is_active(pharmacist.address)
    assert not committee.has_role(pharmacist.address, "DATA_USER")

    proposal = committee.proposal(created.proposal_id)
    assert proposal is not None and proposal.action is Action.REGISTER_ORGANISATION and proposal.executed
    assert committee.proposal(10**6) is None


def test_governance_reads_validators_committee_and_threshold(
    client: Client, running_node: RunningNode
) -> None:
    governance = client.governance
    key = running_node.node.key
    assert key is not None
    assert governance.get_validators() == [key.public_key.to_bytes()]
    assert governance.get_committee() == [running_node.committee.signer.address]
    assert governance.threshold() == 1


def test_governance_refuses_bad_input_before_signing(client: Client, running_node: RunningNode) -> None:
    committee = client.governance.with_signer(running_node.committee.signer)
    with pytest.raises(IdentifierError):
        committee.register_organisation("91110000MA0000000X", "Bad check character")
    with pytest.raises(EncodingError):
        compute_role_id("not upper")
    with pytest.raises(ClientError) as no_signer:
        client.governance.grant_role(bytes(20), "MAH")
    assert no_signer.value.code == "no_signer"


def test_a_client_pinned_to_another_chain_refuses_to_sign_for_this_node(running_node: RunningNode) -> None:
    signer = running_node.committee.signer
    with Client(running_node.url) as probe:
        info = probe.chain_info()
    with (
        Client(running_node.url, chain_id=info.chain_id + 1) as pinned,
        pytest.raises(ClientError) as refused,
    ):
        pinned.send(signer, info.governance_address, b"")
    assert refused.value.code == "wrong_chain"
    with Client(running_node.url, chain_id=info.chain_id, genesis_hash=info.genesis_hash) as pinned:
        assert pinned.chain_info().chain_id == info.chain_id
