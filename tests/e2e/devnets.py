"""Devnets of separate node processes for end-to-end tests: one genesis validator and candidates that the
committee can add (``make_net``), its committee's signers, and waiting for a condition with the nodes' log
tails on failure."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from node.devnet import Devnet, init_devnet
from scripts.bench.faults import FaultNet
from scripts.bench.grants import Network, get_free_port, load_accounts, load_grantors
from sdk.crypto import PrivateKey
from sdk.signer import Signer

CHAIN_ID = 5151


def wait_for(what: str, check: Callable[[], bool], timeout_s: float, net: Devnet) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if check():
            return time.monotonic() - start
        time.sleep(0.2)
    tails = "\n".join(f"--- {n.config.name}\n{n.log_tail(15)}" for n in net.nodes)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}\n{tails}")


def make_net(base: Path, nodes: int, validators: int = 1) -> FaultNet:
    """``validators`` genesis validators and candidates up to ``nodes`` under ``base`` (not started)."""
    api_ports = [get_free_port() for _ in range(nodes)]
    p2p_ports = [get_free_port() for _ in range(nodes)]
    paths = init_devnet(
        base,
        validators=validators,
        candidates=nodes - validators,
        chain_id=CHAIN_ID,
        api_ports=api_ports,
        p2p_ports=p2p_ports,
        committee_size=3,
        log_level="info",
        chain_overrides={"expiry_window": 10_000},
    )
    network = Network(base, paths[0], api_ports[0], CHAIN_ID, load_accounts(base), load_grantors(base))
    return FaultNet(Devnet(base), network, {}, [f"http://127.0.0.1:{p}" for p in api_ports])


def committee_signers(net: FaultNet) -> list[Signer]:
    """The first two committee members (the genesis committee is org-0 … org-2, threshold 2)."""
    keys = net.devnet.dir / "keys"
    return [Signer(PrivateKey.from_pem((keys / f"org-{i}.pem").read_bytes())) for i in (0, 1)]
