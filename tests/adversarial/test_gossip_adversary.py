"""A Byzantine validator gossiping invalid transactions: they are refused, counted against it, and it is
banned; honest gossip from it is admitted until then. Real nodes, real TCP, real SM2."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.config import NodeConfig
from node.devnet import init_devnet
from node.driver import INVALID_GOSSIP_POINTS
from node.genesis import GOVERNANCE_ADDRESS
from node.runtime import Node
from sdk.crypto import PrivateKey
from sdk.types import Transaction
from tests.support import free_ports, wait_until

CHAIN = {"block_period_ms": 100, "round_timeout_ms": 1_000, "max_round_timeout_ms": 3_000}


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Node, Node, PrivateKey]]:
    # Two of four validators: no quorum, so nothing commits and the pool only grows by gossip.
    paths = init_devnet(
        tmp_path / "net",
        validators=4,
        chain_id=5252,
        api_ports=free_ports(4),
        p2p_ports=free_ports(4),
        chain_overrides=CHAIN,
        committee_size=1,
        log_level="warning",
    )
    nodes = [Node(NodeConfig.load(p), exit_on_fatal=False) for p in paths[:2]]
    for node in nodes:
        node.start()
    orgs = json.loads((tmp_path / "net" / "orgs.json").read_text())
    member = PrivateKey.from_pem((tmp_path / "net" / orgs[0]["key"]).read_bytes())
    try:
        wait_until(
            lambda: all(n.p2p is not None and len(n.p2p.connected_peers()) == 1 for n in nodes), 20, "link"
        )
        yield nodes[0], nodes[1], member
    finally:
        for node in nodes:
            node.stop()


def signed(node: Node, key: PrivateKey, salt: int) -> Transaction:
    return Transaction.create(
        key,
        chain_id=node.chain.chain_id,
        to=GOVERNANCE_ADDRESS,
        data=b"\x12\x34\x56\x78" + salt.to_bytes(32, "big"),
        gas_limit=100_000,
        expiry_height=node.ledger.height + 100,
    )


def test_validator_gossiping_invalid_transactions_is_charged_and_banned(
    pair: tuple[Node, Node, PrivateKey],
) -> None:
    victim, byzantine, member = pair
    assert victim.p2p is not None and byzantine.p2p is not None and victim.driver is not None
    byzantine_key = byzantine.p2p.public_key
    honest = signed(victim, member, 0)
    byzantine.p2p.gossip_transaction(honest.encode())
    wait_until(lambda: honest.tx_hash in victim.ledger.mempool, 10, "honest gossip admitted")
    assert victim.p2p.peer_scores().get(byzantine_key, 0.0) == 0.0

    # Forged signatures: a node admits before it forwards, so no honest node gossips these.
    needed = int(100 / INVALID_GOSSIP_POINTS) + 2
    for i in range(1, needed + 1):
        tx = signed(victim, member, i)
        forged = dataclasses.replace(tx, signature=tx.signature[:32] + bytes(32))
        byzantine.p2p.gossip_transaction(forged.encode())
    wait_until(lambda: byzantine_key in victim.p2p.banned_peers(), 20, "the forger banned")
    assert victim.driver.stats.get("gossip_refused_bad_signature") >= 100 / INVALID_GOSSIP_POINTS
    assert len(victim.ledger.mempool) == 1  # nothing forged was stored
    assert byzantine_key not in victim.p2p.connected_peers()


def test_gossip_refused_for_honest_reasons_costs_the_peer_nothing(
    pair: tuple[Node, Node, PrivateKey],
) -> None:
    victim, forwarder, member = pair
    assert victim.p2p is not None and forwarder.p2p is not None and victim.driver is not None
    tx = signed(victim, member, 7)
    for _ in range(30):  # the same transaction again and again: duplicates, not misbehaviour
        forwarder.p2p.gossip_transaction(tx.encode())
    wait_until(lambda: victim.driver.stats.get("gossip_refused_duplicate") >= 5, 10, "duplicates seen")
    assert victim.p2p.peer_scores().get(forwarder.p2p.public_key, 0.0) == 0.0
    assert forwarder.p2p.public_key in victim.p2p.connected_peers()
