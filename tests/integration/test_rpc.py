"""JSON-RPC at /rpc read by a real web3.py (HTTPProvider) against a real node: blocks, logs, calls, proofs."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import rlp
from eth_utils.crypto import keccak
from trie import HexaryTrie
from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound
from web3.logs import DISCARD

from sdk.auth import sign_query
from sdk.client import Client
from sdk.contracts import Contract
from sdk.signer import Signer
from sdk.web3 import XinlianProvider

if TYPE_CHECKING:
    from node_fixtures import RunningNode

pytest_plugins = ["node_fixtures"]

GOV = Contract("Governance")
ARTIFACT = json.loads((Path(__file__).parents[2] / "contracts" / "build" / "Governance.json").read_text())


@pytest.fixture(scope="module")
def w3(running_node: RunningNode) -> Web3:
    """web3.py reading as a member: every request signed with the committee member's key."""
    return Web3(
        XinlianProvider(running_node.url, running_node.committee.signer, request_kwargs={"timeout": 20})
    )


@pytest.fixture(scope="module")
def registered(running_node: RunningNode) -> dict[str, Any]:
    """One committed governance transaction that registered a new account (so there are logs)."""
    account = Signer.generate().address
    with Client(running_node.url) as client:
        result = client.governance.with_signer(running_node.committee.signer).register_account(
            account, running_node.committee.uscc
        )
    return {"account": account, "receipt": result.receipt}


def _rpc(node: RunningNode, payload: Any, *, signer: Signer | None = None, expect: int = 200) -> Any:
    """POST ``payload`` to /rpc signed by ``signer`` (default: the committee member); None for anonymous."""
    body = json.dumps(payload).encode()
    headers = {"content-type": "application/json"}
    with Client(node.url) as client:
        headers |= client.sign_headers(signer or node.committee.signer, "POST", "/rpc", body)
    response = httpx.post(node.url + "/rpc", content=body, headers=headers)
    assert response.status_code == expect, response.text
    return response.json()


def test_chain_id_block_number_and_client_version(w3: Web3, running_node: RunningNode) -> None:
    assert w3.eth.chain_id == 4242
    assert w3.eth.block_number >= running_node.ledger.height - 1
    assert w3.net.version == "4242"
    assert w3.client_version.startswith("xinlian/")


def test_get_block_latest_earliest_and_by_number(
    w3: Web3, running_node: RunningNode, registered: Any
) -> None:
    latest = w3.eth.get_block("latest")
    assert latest["number"] >= 1 and len(latest["hash"]) == 32
    genesis = w3.eth.get_block("earliest")
    assert genesis["number"] == 0 and genesis["parentHash"] == b"\x00" * 32
    height = registered["receipt"].height
    block = w3.eth.get_block(height, full_transactions=True)
    header = running_node.ledger.store.get_header(height)
    assert block["hash"] == header.block_hash and block["stateRoot"] == header.state_root
    assert block["timestamp"] == header.timestamp_ms // 1000
    assert block["miner"] == Web3.to_checksum_address(running_node.node.key.address)
    tx = next(t for t in block["transactions"] if t["hash"] == registered["receipt"].tx_hash)
    assert tx["from"] == Web3.to_checksum_address(running_node.committee.signer.address)
    assert w3.eth.get_block(height)["transactions"][tx["transactionIndex"]] == tx["hash"]
    assert w3.eth.get_block(block["hash"])["number"] == height


def test_future_block_is_none_not_an_error(running_node: RunningNode) -> None:
    body = _rpc(
        running_node,
        {"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber", "params": ["0xffffff", False]},
    )
    assert body == {"jsonrpc": "2.0", "id": 1, "result": None}


def test_receipt_and_logs_decode_with_web3_contract_events(
    w3: Web3, running_node: RunningNode, registered: Any
) -> None:
    governance = w3.eth.contract(
        address=Web3.to_checksum_address(running_node.ledger.governance_address), abi=GOV.abi
    )
    receipt = w3.eth.get_transaction_receipt(registered["receipt"].tx_hash)
    assert receipt["status"] == 1 and receipt["blockNumber"] == registered["receipt"].height
    events = governance.events.AccountRegistered().process_receipt(receipt, errors=DISCARD)
    assert [e["args"]["account"] for e in events] == [Web3.to_checksum_address(registered["account"])]
    assert [log["logIndex"] for log in receipt["logs"]] == list(range(len(receipt["logs"])))

    logs = w3.eth.get_logs(
        {
            "fromBlock": 0,
            "toBlock": "latest",
            "address": governance.address,
            "topics": [Web3.to_hex(GOV.event_topic("AccountRegistered"))],
        }
    )
    assert registered["account"].rjust(32, b"\x00") in [log["topics"][1] for log in logs]
    decoded = governance.events.AccountRegistered().get_logs(from_block=registered["receipt"].height)
    assert decoded[0]["args"]["uscc"] == running_node.committee.uscc
    by_hash = w3.eth.get_logs({"blockHash": receipt["blockHash"]})
    assert [log["transactionHash"] for log in by_hash] == [receipt["transactionHash"]] * len(receipt["logs"])
    with pytest.raises(TransactionNotFound):
        w3.eth.get_transaction_receipt("0x" + "00" * 32)


def test_eth_call_through_a_web3_contract_and_revert_raises(w3: Web3, running_node: RunningNode) -> None:
    governance = w3.eth.contract(
        address=Web3.to_checksum_address(running_node.ledger.governance_address), abi=GOV.abi
    )
    member = Web3.to_checksum_address(running_node.committee.signer.address)
    assert governance.functions.is_active_account(member).call() is True
    assert governance.functions.threshold().call() == 1
    assert governance.functions.is_active_account(member).call(block_identifier=0) is True
    with pytest.raises(ContractLogicError, match="not a committee member"):
        governance.functions.vote(1).call()


def test_get_code_is_the_deployed_governance_bytecode(w3: Web3, running_node: RunningNode) -> None:
    code = w3.eth.get_code(Web3.to_checksum_address(running_node.ledger.governance_address))
    assert code.hex() == ARTIFACT["deployed_bytecode"].removeprefix("0x")
    assert w3.eth.get_code(Web3.to_checksum_address("0x" + "12" * 20)) == b""


def test_get_proof_verifies_against_the_block_state_root(w3: Web3, running_node: RunningNode) -> None:
    address = Web3.to_checksum_address(running_node.ledger.governance_address)
    block = w3.eth.get_block("latest")
    proof = w3.eth.get_proof(address, [0], block["number"])
    nodes = [rlp.decode(bytes(node)) for node in proof["accountProof"]]
    account = HexaryTrie.get_from_proof(block["stateRoot"], keccak(bytes.fromhex(address[2:])), nodes)
    _nonce, _balance, storage_hash, code_hash = rlp.decode(account)
    assert storage_hash == proof["storageHash"] and code_hash == proof["codeHash"]
    assert code_hash == keccak(bytes.fromhex(ARTIFACT["deployed_bytecode"][2:]))
    slot = proof["storageProof"][0]
    value = HexaryTrie.get_from_proof(
        proof["storageHash"], keccak((0).to_bytes(32, "big")), [rlp.decode(bytes(n)) for n in slot["proof"]]
    )
    assert int.from_bytes(rlp.decode(value) if value else b"", "big") == int.from_bytes(slot["value"], "big")


def test_json_rpc_errors_follow_the_specification(running_node: RunningNode) -> None:
    url = running_node.url
    call = functools.partial(_rpc, running_node)
    parse = httpx.post(
        url + "/rpc", content=b"{not json", headers={"content-type": "application/json"}
    ).json()
    assert parse["error"]["code"] == -32700 and parse["id"] is None
    assert (
        call({"jsonrpc": "2.0", "id": 1, "method": "eth_sendTransaction", "params": []})["error"]["code"]
        == -32601
    )
    assert call({"jsonrpc": "1.0", "id": 2, "method": "eth_chainId"})["error"]["code"] == -32600
    assert (
        call({"jsonrpc": "2.0", "id": 3, "method": "eth_getCode", "params": ["0x12"]})["error"]["code"]
        == -32602
    )
    assert (
        call({"jsonrpc": "2.0", "id": 4, "method": "eth_getBlockByNumber", "params": []})["error"]["code"]
        == -32602
    )
    assert (
        call({"jsonrpc": "2.0", "id": 5, "method": "eth_chainId", "params": {"a": 1}})["error"]["code"]
        == -32602
    )
    assert call([])["error"]["code"] == -32600
    assert call(42)["error"]["code"] == -32600
    reverted = call(
        {
            "jsonrpc": "2.0",
            "id": 6,
            "method": "eth_call",
            "params": [
                {
                    "to": "0x" + running_node.ledger.governance_address.hex(),
                    "data": "0x" + GOV.encode_call("vote", [1]).hex(),
                },
                "latest",
            ],
        },
    )
    assert reverted["error"]["code"] == 3 and "not a committee member" in reverted["error"]["message"]
    assert reverted["error"]["data"].startswith("0x08c379a0")


def test_batches_and_notifications(running_node: RunningNode) -> None:
    url = running_node.url
    answers = _rpc(
        running_node,
        [
            {"jsonrpc": "2.0", "id": "a", "method": "eth_chainId"},
            {"jsonrpc": "2.0", "id": "b", "method": "nope"},
            {"jsonrpc": "2.0", "method": "eth_blockNumber"},  # a notification: no answer
            "garbage",
        ],
    )
    assert [a["id"] for a in answers] == ["a", "b", None]
    assert answers[0]["result"] == hex(4242) and answers[1]["error"]["code"] == -32601
    assert answers[2]["error"]["code"] == -32600
    response = httpx.post(url + "/rpc", json={"jsonrpc": "2.0", "method": "eth_chainId"})
    assert response.status_code == 204


# --- who may read what (docs/read-access.md) ------------------------------------------------------------
def test_anonymous_callers_get_chain_identity_and_headers_only(running_node: RunningNode) -> None:
    url = running_node.url
    public = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_getBlockByNumber", "params": ["latest", False]},
    ]
    answers = httpx.post(url + "/rpc", json=public).json()
    assert answers[0]["result"] == hex(4242) and answers[1]["result"]["transactions"] is not None
    for method, params in [
        ("eth_getLogs", [{"fromBlock": "0x0"}]),
        ("eth_call", [{"to": "0x" + "00" * 18 + "1000", "data": "0x"}, "latest"]),
        ("eth_getProof", ["0x" + "00" * 18 + "1000", [], "latest"]),
        ("eth_getTransactionByHash", ["0x" + "11" * 32]),
        ("eth_getTransactionReceipt", ["0x" + "11" * 32]),
        ("eth_getBlockByNumber", ["latest", True]),
    ]:
        request = {"jsonrpc": "2.0", "id": 9, "method": method, "params": params}
        # alone, or hidden in a batch after a public request: the whole request is refused, nothing answered
        for payload in (request, [public[0], request]):
            response = httpx.post(url + "/rpc", json=payload)
            assert response.status_code == 401, (method, response.text)
            body = response.json()
            assert isinstance(body, dict) and "result" not in body, method
            assert body["error"]["code"] == -32001 and body["error"]["data"]["code"] == "unauthenticated"


def test_a_signed_request_is_accepted_once_and_only_by_its_node(running_node: RunningNode) -> None:
    url = running_node.url
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [{"fromBlock": "0x0"}]})
    with Client(url) as client:
        headers = client.sign_headers(running_node.committee.signer, "POST", "/rpc", body.encode())
        audience = client.chain_info().audience
    headers["content-type"] = "application/json"
    assert httpx.post(url + "/rpc", content=body, headers=headers).status_code == 200
    replayed = httpx.post(url + "/rpc", content=body, headers=headers)
    assert replayed.status_code == 401 and replayed.json()["error"]["data"]["code"] == "replayed_request"
    other = sign_query(
        running_node.committee.signer.private_key,
        chain_id=4242,
        audience=audience + "-elsewhere",
        method="POST",
        path_and_query="/rpc",
        body=body.encode(),
    )
    refused = httpx.post(url + "/rpc", content=body, headers={**other, "content-type": "application/json"})
    assert refused.status_code == 401 and refused.json()["error"]["data"]["code"] == "wrong_audience"


def test_an_outsider_signature_reads_nothing(running_node: RunningNode) -> None:
    answer = _rpc(
        running_node,
        {"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [{"fromBlock": "0x0"}]},
        signer=Signer.generate(),
        expect=403,
    )
    assert "result" not in answer and answer["error"]["data"]["code"] == "not_a_member"
