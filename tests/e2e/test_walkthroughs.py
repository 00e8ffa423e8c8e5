"""The README's walkthrough scripts run green against a real node set up like `make run`'s network.

The network has the default committee (three members, threshold two) and serves its API over https under
its local CA as `make run` does, but has one validator instead of four so the suite stays quick; the scripts
use only the SDK, web3.py and the node's API, and find the CA in the network folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.helpers import Network, run_walkthrough, start_demo_network

WALKTHROUGHS = [
    ("demo_governance.py", "web3 eth_getProof"),
    ("demo_licences.py", "REVOKED"),
    ("demo_authorisations.py", "GrantRevoked"),
    ("demo_drugs.py", "authentic=False"),
    ("demo_confirmations.py", "OVERDUE"),
    ("demo_verify.py", "REVOKED at height"),
]


@pytest.fixture(scope="module")
def demo_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    network, process = start_demo_network(tmp_path_factory.mktemp("walkthrough") / "net")
    assert network.url.startswith("https://")
    try:
        yield network
    finally:
        process.terminate()


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize(("script", "expected"), WALKTHROUGHS, ids=[s for s, _ in WALKTHROUGHS])
def test_walkthrough_script_runs_green(
    demo_node: Network, tmp_path: Path, script: str, expected: str
) -> None:
    output = run_walkthrough(demo_node, script, tmp_path)
    assert expected in output, f"{script} did not report {expected!r}:\n{output[-4000:]}"
