"""A pruned node (``state_history_blocks``): the ledger keeps proofs and calls at recent heights, answers
``state_pruned`` for older ones (HTTP 410 in the API), still passes its start-up head check, and an archive
node (0) keeps every height."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.api.errors import compute_status
from node.config import NodeConfig
from node.demo_network import init_network
from node.genesis import GOVERNANCE_ADDRESS
from node.runtime import Node, SoloProducer
from scripts.bench.grants import (
    GRANT_GAS_LIMIT,
    encode_fresh_grant,
    grant_target,
    load_accounts,
    load_grantors,
)
from sdk.errors import ConfigError, StorageError
from sdk.types import Transaction

HISTORY = 16


def _network(tmp_path: Path, history: int) -> Path:
    base = tmp_path / "net"
    init_network(base, validators=1, chain_id=91)
    config = base / "nodes" / "node-0.json"
    raw = json.loads(config.read_text(encoding="utf-8"))
    raw["state_history_blocks"] = history
    config.write_text(json.dumps(raw), encoding="utf-8")
    return base


def _grow(base: Path, node: Node, blocks: int) -> None:
    """Commit ``blocks`` blocks of two Governance grants each (each grant writes new storage)."""
    assert node.key is not None
    producer = SoloProducer(node.ledger, node.key)
    grantor = load_grantors(base)[0]
    accounts = load_accounts(base)
    for index in range(blocks):
        for k in range(2):
            tx = Transaction.create(
                grantor.key,
                chain_id=node.chain.chain_id,
                to=GOVERNANCE_ADDRESS,
                data=encode_fresh_grant(grant_target(accounts, grantor, 2 * index + k), grantor.role),
                gas_limit=GRANT_GAS_LIMIT,
                expiry_height=node.ledger.height + 100,
            )
            node.ledger.admit_transaction(tx.encode())
        executed = producer.produce_once()
        assert all(r.status == 1 for r in executed.result.receipts)


def test_a_pruned_node_answers_recent_heights_and_refuses_older_ones(tmp_path: Path) -> None:
    base = _network(tmp_path, HISTORY)
    config = NodeConfig.load(base / "nodes" / "node-0.json")
    node = Node(config)
    try:
        assert node.state_collector is not None and node.state_collector.history == HISTORY
        _grow(base, node, HISTORY + 8)
        head = node.ledger.height
        done = node.store.collect_state(HISTORY)
        assert done is not None and done.deleted_nodes > 0 and done.pruned_below == head - HISTORY + 1
        ledger = node.ledger
        for height in (head - HISTORY + 1, head):
            header = ledger.get_header(height)
            assert header is not None
            proof = ledger.get_proof(ledger.state_root_at(header), GOVERNANCE_ADDRESS, [0, 1, 2])
            assert proof.code_hash and len(proof.storage_proof) == 3
            assert ledger.get_code(ledger.state_root_at(header), GOVERNANCE_ADDRESS)
        old = ledger.get_header(head - HISTORY)
        assert old is not None
        with pytest.raises(StorageError) as refused:
            ledger.state_root_at(old)
        assert refused.value.code == "state_pruned" and compute_status(refused.value) == 410
        # Blocks, transactions, receipts and logs of pruned heights are all still there.
        block = ledger.store.get_block(1)
        assert block is not None and block.transactions
        assert ledger.store.get_receipt(block.transactions[0].tx_hash) is not None
        _grow(base, node, 1)  # the node goes on executing on its kept head state
    finally:
        node.stop()
    reopened = Node(config)  # the start-up head check passes on a pruned store
    try:
        assert reopened.ledger.height == head + 1
    finally:
        reopened.stop()


def test_json_rpc_at_a_pruned_block_answers_state_pruned_and_at_a_kept_one_answers(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from node.api import create_app
    from node.api.metrics import Metrics
    from sdk.signer import Signer
    from tests.support import post_signed_rpc

    base = _network(tmp_path, HISTORY)
    node = Node(NodeConfig.load(base / "nodes" / "node-0.json"))
    try:
        _grow(base, node, HISTORY + 4)
        head = node.ledger.height
        assert node.store.collect_state(HISTORY) is not None
        client = TestClient(create_app(node.ledger, metrics=Metrics()))
        member = Signer(load_grantors(base)[0].key)
        governance = "0x" + GOVERNANCE_ADDRESS.hex()

        def rpc(method: str, *params: object) -> dict[str, object]:
            body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
            response = post_signed_rpc(client, member, body.encode())
            assert response.status_code == 200, response.text
            answer: dict[str, object] = response.json()
            return answer

        old, kept = hex(head - HISTORY), hex(head - HISTORY + 1)
        for method, params in (
            ("eth_getProof", (governance, ["0x0"])),
            ("eth_getCode", (governance,)),
            ("eth_call", ({"to": governance, "data": "0x"},)),
        ):
            refused = rpc(method, *params, old)
            error = refused["error"]
            assert isinstance(error, dict) and error["data"]["code"] == "state_pruned", refused
            assert "pruned" in error["message"]
        assert "result" in rpc("eth_getProof", governance, ["0x0"], kept)
        assert rpc("eth_getCode", governance, kept)["result"] not in ("0x", None)
    finally:
        node.stop()


def test_an_archive_node_keeps_every_height(tmp_path: Path) -> None:
    base = _network(tmp_path, 0)
    node = Node(NodeConfig.load(base / "nodes" / "node-0.json"))
    try:
        assert node.state_collector is None
        _grow(base, node, 3)
        header = node.ledger.get_header(1)
        assert header is not None
        assert node.ledger.get_proof(node.ledger.state_root_at(header), GOVERNANCE_ADDRESS, [0]).code_hash
    finally:
        node.stop()


@pytest.mark.parametrize("history", [1, 15, -1])
def test_a_state_history_too_short_for_the_head_check_and_the_audit_is_refused(
    tmp_path: Path, history: int
) -> None:
    base = _network(tmp_path, history)
    with pytest.raises(ConfigError, match="state_history_blocks"):
        NodeConfig.load(base / "nodes" / "node-0.json")
