"""No accepted write is lost: a transaction a node answered 202 for is committed even when that node is
killed (SIGKILL) before any peer or block saw it, and killed again right after it restarted."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.devnet import Devnet, init_devnet
from node.storage import Store
from scripts.bench.grants import load_accounts, load_grantors
from sdk.client import Client
from sdk.signer import Signer
from tests.e2e.helpers import Network, get_free_port, make_grant

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ACCEPTED = 12
COMMIT_WAIT_S = 120.0


def two_validators(base: Path) -> tuple[Devnet, Network]:
    """A network of two validator processes: one alone has no quorum (2 of 2), so it commits nothing."""
    api_ports = [get_free_port() for _ in range(2)]
    init_devnet(
        base,
        validators=2,
        chain_id=4646,
        api_ports=api_ports,
        p2p_ports=[get_free_port() for _ in range(2)],
        committee_size=1,
        log_level="info",
    )
    network = Network(
        base=base,
        config_path=base / "nodes" / "node-0.json",
        port=api_ports[0],
        chain_id=4646,
        accounts=load_accounts(base),
        grantors=load_grantors(base),
    )
    return Devnet(base), network


def test_every_202_commits_although_its_node_was_killed_before_gossiping(tmp_path: Path) -> None:
    base = tmp_path / "net"
    net, network = two_validators(base)
    accepting, other = net.nodes
    grantor = network.grantors[0]
    try:
        # The other validator is down: what `accepting` admits can reach no block and no peer.
        accepting.start()
        accepting.wait_healthy()
        with Client(accepting.url, timeout=10.0) as client:
            head = client.chain_info().height
            txs = [make_grant(network, grantor, head_height=head, index=i) for i in range(ACCEPTED)]
            accepted = [client.submit(tx) for tx in txs]
        accepting.kill()  # at once after the last 202

        # Restarted alone it holds every accepted transaction again (still uncommittable) …
        accepting.start()
        accepting.wait_healthy()
        with Client(accepting.url, timeout=10.0, signer=Signer(grantor.key)) as reader:
            assert [reader.transaction(h).status for h in accepted] == ["pending"] * ACCEPTED
        accepting.kill()  # … and a second crash right after the reload loses nothing either.

        accepting.start()
        other.start()
        accepting.wait_healthy()
        with Client(accepting.url, timeout=10.0, signer=Signer(grantor.key)) as reader:
            receipts = [reader.wait(h, timeout=COMMIT_WAIT_S) for h in accepted]
        assert all(receipt.succeeded for receipt in receipts)
    finally:
        net.stop()
    # Committed transactions leave the node's record of accepted ones.
    store = Store(f"sqlite:///{base / 'data' / 'node-0' / 'chain.db'}")
    try:
        assert store.load_pending() == []
    finally:
        store.close()
