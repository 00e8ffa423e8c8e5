"""A 4-validator devnet of real processes under load: one down, the rest go on; it restarts and catches up."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from node.config import METRICS_PORT_OFFSET
from node.devnet import Devnet, init_devnet
from node.genesis import GenesisFile
from node.storage import Store
from sdk.client import Client
from sdk.crypto import PrivateKey
from sdk.errors import ClientError, XinlianError
from tests.e2e.helpers import Grantor, Network, get_free_port, make_grant

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

VALIDATORS = 4
LOAD_THREADS = 3
CHAIN: dict[str, int] = {}  # the devnet defaults (node.devnet.DEVNET_CHAIN)


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str, net: Devnet) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {n.config.name}\n{n.log_tail(15)}" for n in net.nodes)
            raise AssertionError(
                f"timed out after {timeout_s} s waiting for {what}; heights {net.heights()}\n{tails}"
            )
        time.sleep(0.2)


class Load:
    """Threads submitting signed grants to whichever validators answer (no waiting for commits)."""

    def __init__(self, network: Network, urls: list[str]) -> None:
        self.network = network
        self.urls = urls
        self.accepted = 0
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._guard, args=(i,), daemon=True) for i in range(LOAD_THREADS)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=20)

    def _guard(self, worker: int) -> None:
        try:
            self._run(worker)
        except BaseException as exc:  # surfaced by the test
            self.errors.append(exc)

    def _run(self, worker: int) -> None:
        rng = random.Random(worker)
        grantor = self.network.grantors[worker % len(self.network.grantors)]
        clients = [Client(url, timeout=5.0) for url in self.urls]
        try:
            while not self._stop.is_set():
                client = rng.choice(clients)
                try:
                    head = client.chain_info().height
                    for _ in range(5):
                        tx = make_grant(self.network, grantor, head_height=head, index=rng.randrange(1 << 30))
                        client.submit(tx)
                        self.accepted += 1
                except (ClientError, XinlianError):
                    self._stop.wait(0.05)  # that node is down, restarting or busy: try another
                self._stop.wait(0.02)
        finally:
            for c in clients:
                c.close()


def make_network(base: Path) -> tuple[Devnet, Network]:
    api_ports = [get_free_port() for _ in range(VALIDATORS)]
    init_devnet(
        base,
        validators=VALIDATORS,
        chain_id=4545,
        api_ports=api_ports,
        p2p_ports=[get_free_port() for _ in range(VALIDATORS)],
        chain_overrides=CHAIN,
        committee_size=1,
        log_level="warning",
    )
    import json

    from node.genesis import DEFAULT_ROLE_ADMINS, ROLE_IDS

    names = {role_id: name for name, role_id in ROLE_IDS.items()}
    admin_of = {names[admin]: names[role] for role, admin in DEFAULT_ROLE_ADMINS}
    directory = json.loads((base / "orgs.json").read_text(encoding="utf-8"))
    grantors = tuple(
        Grantor(entry["name"], PrivateKey.from_pem((base / entry["key"]).read_bytes()), admin_of[role])
        for entry in directory
        for role in entry["roles"]
        if role in admin_of
    )
    accounts = tuple(bytes.fromhex(e["address"].removeprefix("0x")) for e in directory)
    network = Network(base, base / "nodes" / "node-0.json", api_ports[0], 4545, accounts, grantors)
    return Devnet(base), network


def read_chain(base: Path, index: int, height: int) -> tuple[list[bytes], bytes]:
    """Block hashes 0..height and the state root at ``height`` from node ``index``'s SQLite file."""
    store = Store(f"sqlite:///{base / 'data' / f'node-{index}' / 'chain.db'}")
    try:
        header = store.get_header(height)
        assert header is not None
        return store.get_block_hashes(0, height), header.state_root
    finally:
        store.close()


def test_devnet_survives_one_crash_and_the_restarted_node_catches_up(tmp_path: Path) -> None:
    base = tmp_path / "devnet"
    net, network = make_network(base)
    started = time.monotonic()
    load = Load(network, [n.url for n in net.nodes])
    try:
        net.start()
        load.start()
        wait_for(lambda: min(h or 0 for h in net.heights()) >= 5, 60, "four validators to commit", net)
        # Operators read metrics on the operator listener (the API port + 1000), never on the API.
        api_port = urlsplit(net.nodes[0].url).port
        assert api_port is not None
        assert net.nodes[0].metrics_url.endswith(f":{api_port + METRICS_PORT_OFFSET}/metrics")
        metrics = net.nodes[0].metrics()
        assert "xinlian_height " in metrics and "xinlian_execution_divergences_total 0.0" in metrics
        assert httpx.get(f"{net.nodes[0].url}/metrics", timeout=10).status_code == 404

        # One of four down (f = 1): the others keep committing.
        net.nodes[3].kill()
        h1 = net.nodes[0].height() or 0
        wait_for(lambda: (net.nodes[0].height() or 0) >= h1 + 5, 60, "three validators to go on", net)

        # It comes back, syncs the blocks it missed, and the four decide again. Two of four down is
        # tests/e2e/test_faults.py's: kill -9 of two (restart, no accepted write lost, agreement) and the
        # two-against-two partition (no side without a quorum commits).
        top = max(h or 0 for h in net.heights())
        net.nodes[3].start()
        wait_for(lambda: min(h or 0 for h in net.heights()) >= top + 3, 90, "the chain to resume", net)
        load.stop()
        assert not load.errors, load.errors
        assert load.accepted > 0
        # Quiesce: once the load stops the heights converge (idle blocks come every few seconds).
        wait_for(lambda: len(set(net.heights())) == 1, 30, "heights to converge", net)
    finally:
        load.stop()
        net.stop()
    heights = []
    for i in range(VALIDATORS):
        store = Store(f"sqlite:///{base / 'data' / f'node-{i}' / 'chain.db'}")
        head = store.head()
        store.close()
        assert head is not None
        heights.append(head[0])
    common = min(heights)
    chains = [read_chain(base, i, common) for i in range(VALIDATORS)]
    assert all(chain == chains[0] for chain in chains), "the four nodes hold different chains"
    genesis = GenesisFile.load(base / "genesis.json")
    assert chains[0][0][0] != b"" and genesis.chain.chain_id == 4545
    print(f"devnet e2e: {time.monotonic() - started:.0f} s, heights {heights}, {load.accepted} txs accepted")
