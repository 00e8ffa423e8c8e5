"""A client's accepted transaction is recorded in the node's store before the 202 and reloaded into the
mempool at the next start; records leave with their transactions and obey the pool's bounds. Real nodes
(SM2, the EVM, SQLite and, with XINLIAN_TEST_PG_URL, PostgreSQL), restarted on the same database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_utils.abi import function_signature_to_4byte_selector
from node_fixtures import NODE_BACKENDS, database_for

from node.config import NodeConfig
from node.demo_network import init_network
from node.runtime import Node, SoloProducer
from sdk.crypto import PrivateKey
from sdk.errors import InvalidTransaction
from sdk.types import Transaction

pytest_plugins = ["node_fixtures"]

IS_ACTIVE = function_signature_to_4byte_selector("is_active_account(address)")
PROPOSE = function_signature_to_4byte_selector("propose(uint8,bytes,uint256)")
SET_ACCOUNT_ACTIVE = 4  # Governance proposal action


@pytest.fixture(params=NODE_BACKENDS)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    with database_for(request.param) as url:
        yield url


def make_network(base: Path, database_url: str, **chain: int) -> Path:
    init_network(base, validators=1, chain_id=78, committee_size=1, chain_overrides=chain or None)
    configure(base, database_url=database_url)
    return base


def configure(network: Path, **settings: Any) -> None:
    """Change the node's config file (what an operator edits between two runs)."""
    path = network / "nodes" / "node-0.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw.update(settings)
    path.write_text(json.dumps(raw), encoding="utf-8")


@pytest.fixture
def network(tmp_path: Path, database_url: str) -> Path:
    return make_network(tmp_path / "net", database_url)


@pytest.fixture
def nodes(network: Path) -> Iterator[list[Node]]:
    """The node runs opened with ``run`` (each restart a new Node on the same database), stopped after."""
    opened: list[Node] = []
    yield opened
    for node in opened:
        node.stop()


def run(network: Path, nodes: list[Node]) -> Node:
    """Open the node on its database, stopping the previous run first (a restart); not started."""
    if nodes:
        nodes[-1].stop()
        nodes.pop()
    node = Node(NodeConfig.load(network / "nodes" / "node-0.json"))
    nodes.append(node)
    return node


def member_key(network: Path, index: int = 0) -> PrivateKey:
    orgs = json.loads((network / "orgs.json").read_text())
    return PrivateKey.from_pem((network / orgs[index]["key"]).read_bytes())


def make_tx(node: Node, key: PrivateKey, *, expires_in: int = 10, data: bytes | None = None) -> Transaction:
    return Transaction.create(
        key,
        chain_id=node.chain.chain_id,
        to=node.genesis.governance_address,
        data=data if data is not None else IS_ACTIVE + encode(["address"], [key.public_key.address]),
        gas_limit=1_000_000,
        expiry_height=node.ledger.height + expires_in,
    )


def produce(node: Node) -> tuple[Transaction, ...]:
    """Commit one block; returns its transactions."""
    assert node.key is not None
    return SoloProducer(node.ledger, node.key).produce_once().block.transactions


def recorded(node: Node) -> list[bytes]:
    """The hashes the node's store records as accepted and pending, in arrival order."""
    return [tx_hash for tx_hash, _ in node.store.load_pending()]


def test_a_submission_is_recorded_before_it_returns_and_reloaded_after_a_restart(
    network: Path, nodes: list[Node]
) -> None:
    node = run(network, nodes)
    txs = [make_tx(node, member_key(network, i)) for i in range(3)]
    submissions = [node.ledger.submit_transaction(tx.encode()) for tx in txs]
    assert [(s.tx_hash, s.status) for s in submissions] == [(tx.tx_hash, "pending") for tx in txs]
    assert recorded(node) == [tx.tx_hash for tx in txs]
    gossiped = make_tx(node, member_key(network, 3))
    node.ledger.admit_transaction(gossiped.encode())  # a peer's: its own node recorded it
    assert recorded(node) == [tx.tx_hash for tx in txs]

    node = run(network, nodes)
    assert node.ledger.pending_count == 0
    restored = node.ledger.restore_pending()
    assert (restored.restored, restored.dropped) == (3, 0)
    assert all(node.ledger.is_pending(tx.tx_hash) for tx in txs)
    assert not node.ledger.is_pending(gossiped.tx_hash)
    assert set(produce(node)) == set(txs)
    assert recorded(node) == []


def test_restore_drops_committed_and_expired_records_and_deletes_them(
    network: Path, nodes: list[Node]
) -> None:
    node = run(network, nodes)
    expiring = make_tx(node, member_key(network, 0), expires_in=2)
    committed = make_tx(node, member_key(network, 1))
    kept = make_tx(node, member_key(network, 2))
    for tx in (expiring, committed, kept):
        node.ledger.submit_transaction(tx.encode())

    node = run(network, nodes)
    # A peer brings `committed` and it is committed before this node reloads its records; its record is
    # written again, as a crash between that block and the record's deletion leaves it.
    node.ledger.admit_transaction(committed.encode())
    assert produce(node) == (committed,)
    node.store.add_pending([(committed.tx_hash, committed.encode())])
    assert produce(node) == ()  # the head reaches `expiring`'s expiry height
    restored = node.ledger.restore_pending()
    assert (restored.restored, restored.dropped) == (1, 2)
    assert recorded(node) == [kept.tx_hash]
    assert node.ledger.is_pending(kept.tx_hash) and node.ledger.pending_count == 1


def test_records_obey_the_pool_bounds_at_admission_and_at_restore(network: Path, nodes: list[Node]) -> None:
    configure(network, mempool_sender_max_txs=3)
    node = run(network, nodes)
    first, second = member_key(network, 0), member_key(network, 1)
    txs = [make_tx(node, first) for _ in range(3)] + [make_tx(node, second) for _ in range(2)]
    for tx in txs:
        node.ledger.submit_transaction(tx.encode())
    with pytest.raises(InvalidTransaction) as over:
        node.ledger.submit_transaction(make_tx(node, first).encode())
    assert over.value.code == "sender_quota"
    assert recorded(node) == [tx.tx_hash for tx in txs]

    # The operator lowers the bounds: the restart keeps the oldest records that fit, in arrival order.
    configure(network, mempool_sender_max_txs=2, mempool_capacity=3)
    node = run(network, nodes)
    restored = node.ledger.restore_pending()
    assert (restored.restored, restored.dropped) == (3, 2)
    kept = [txs[0].tx_hash, txs[1].tx_hash, txs[3].tx_hash]
    assert recorded(node) == kept
    assert sorted(h for h in kept if node.ledger.is_pending(h)) == sorted(kept)


def test_a_client_resubmitting_a_transaction_a_peer_gossiped_gets_it_recorded(
    network: Path, nodes: list[Node]
) -> None:
    node = run(network, nodes)
    tx = make_tx(node, member_key(network))
    node.ledger.admit_transaction(tx.encode())
    assert recorded(node) == []
    submission = node.ledger.submit_transaction(tx.encode())
    assert (submission.tx_hash, submission.status) == (tx.tx_hash, "pending")
    assert recorded(node) == [tx.tx_hash]


def test_a_committed_transaction_resubmitted_even_after_its_expiry_is_reported_committed(
    network: Path, nodes: list[Node]
) -> None:
    node = run(network, nodes)
    tx = make_tx(node, member_key(network), expires_in=1)
    node.ledger.submit_transaction(tx.encode())
    assert produce(node) == (tx,)
    assert recorded(node) == []
    produce(node)  # the head is past its expiry now
    submission = node.ledger.submit_transaction(tx.encode())
    assert (submission.tx_hash, submission.status) == (tx.tx_hash, "committed")
    assert recorded(node) == []
    with pytest.raises(InvalidTransaction) as late:
        node.ledger.submit_transaction(make_tx(node, member_key(network), expires_in=0).encode())
    assert late.value.code == "expired"


def test_a_transaction_dropped_from_the_pool_loses_its_record(tmp_path: Path, database_url: str) -> None:
    network = make_network(tmp_path / "net", database_url, max_block_txs=1)
    node = Node(NodeConfig.load(network / "nodes" / "node-0.json"))
    try:
        committee, member = member_key(network, 0), member_key(network, 1)
        # The committee (threshold 1) disables the member's account; blocks carry one transaction each.
        payload = encode(["address", "bool"], [member.public_key.address, False])
        data = PROPOSE + encode(
            ["uint8", "bytes", "uint256"], [SET_ACCOUNT_ACTIVE, payload, node.ledger.height + 100]
        )
        disable = make_tx(node, committee, data=data)
        node.ledger.submit_transaction(disable.encode())
        stranded = make_tx(node, member)
        node.ledger.submit_transaction(stranded.encode())
        assert produce(node) == (disable,)
        assert recorded(node) == [stranded.tx_hash]
        assert produce(node) == ()  # the member is no longer active: dropped, not executed
        assert not node.ledger.is_pending(stranded.tx_hash)
        assert recorded(node) == []
    finally:
        node.stop()
