"""The README's walkthrough scripts run green against a real node set up like `make run`'s network.

The network has the default committee (three members, threshold two) and serves its API over https under
its local CA as `make run` does, but has one validator instead of four so the suite stays quick; the scripts
use only the SDK, web3.py and the node's API, and find the CA in the network folder.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from node.demo_network import init_network
from tests.e2e.helpers import REPO_ROOT, Network, NodeProcess, get_free_port

WALKTHROUGHS = [
    ("demo_governance.py", "web3 eth_getProof"),
    ("demo_licences.py", "REVOKED"),
    ("demo_authorisations.py", "GrantRevoked"),
    ("demo_drugs.py", "authentic=False"),
    ("demo_confirmations.py", "OVERDUE"),
    ("demo_verify.py", "REVOKED at height"),
]


@pytest.fixture(scope="module")
def demo_node(tmp_path_factory: pytest.TempPathFactory) -> Network:
    base = tmp_path_factory.mktemp("walkthrough") / "net"
    port = get_free_port()
    init_network(base, validators=1, api_port=port, p2p_port=get_free_port(), tls=True)
    network = Network(
        base=base,
        config_path=base / "nodes" / "node-0.json",
        port=port,
        chain_id=1001,
        accounts=(),
        grantors=(),
    )
    assert network.url.startswith("https://")
    process = NodeProcess(network)
    process.start()
    try:
        process.wait_healthy(timeout_s=120)
        yield network
    finally:
        process.terminate()


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize(("script", "expected"), WALKTHROUGHS, ids=[s for s, _ in WALKTHROUGHS])
def test_walkthrough_script_runs_green(
    demo_node: Network, tmp_path: Path, script: str, expected: str
) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "scripts" / script),
            "--url",
            demo_node.url,
            "--network",
            str(demo_node.base),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{script} failed:\n{output[-4000:]}"
    assert expected in output, f"{script} did not report {expected!r}:\n{output[-4000:]}"
