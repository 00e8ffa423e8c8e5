"""End-to-end helpers: a one-validator network on disk and a snapshot of the code its node runs. The grant
workload (``Grantor``, ``Network``, ``make_grant``) and the node process (``NodeProcess``) come from
scripts/bench/, shared with the benchmarks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from node.demo_network import init_network
from scripts.bench.grants import (
    Grantor,
    Network,
    get_free_port,
    load_accounts,
    load_grantors,
    make_grant,
)
from scripts.bench.node_process import REPO_ROOT, NodeProcess

__all__ = [
    "REPO_ROOT",
    "Grantor",
    "Network",
    "NodeProcess",
    "create_network",
    "get_free_port",
    "make_grant",
    "run_walkthrough",
    "snapshot_code",
    "start_demo_network",
]


def create_network(
    base: Path, *, chain_id: int = 4343, block_period_ms: int = 200, mempool_capacity: int = 50_000
) -> Network:
    """Initialise a one-validator network under ``base`` with its API on a free port."""
    port = get_free_port()
    init_network(
        base,
        validators=1,
        chain_id=chain_id,
        api_port=port,
        p2p_port=get_free_port(),
        committee_size=1,
        chain_overrides={"block_period_ms": block_period_ms},
    )
    config_path = base / "nodes" / "node-0.json"
    raw = json.loads(config_path.read_text(encoding="utf-8"))
    raw["mempool_capacity"] = mempool_capacity
    raw["log_level"] = "warning"
    config_path.write_text(json.dumps(raw, indent=2), encoding="utf-8")
    return Network(
        base=base,
        config_path=config_path,
        port=port,
        chain_id=chain_id,
        accounts=load_accounts(base),
        grantors=load_grantors(base),
    )


def start_demo_network(base: Path) -> tuple[Network, NodeProcess]:
    """Initialise under ``base`` a network set up like `make run`'s (default committee, API over https under
    its local CA) with one validator, start its node and wait until it is healthy. The caller terminates
    the returned process."""
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
    process = NodeProcess(network)
    process.start()
    try:
        process.wait_healthy(timeout_s=120)
    except BaseException:
        process.terminate()
        raise
    return network, process


def run_walkthrough(network: Network, script: str, cwd: Path) -> str:
    """Run the walkthrough ``scripts/<script>`` against ``network`` as the README does and return its
    output; AssertionError with the output's end when it fails."""
    command = [sys.executable, str(REPO_ROOT / "scripts" / script)]
    done = subprocess.run(
        [*command, "--url", network.url, "--network", str(network.base)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{script} failed:\n{output[-4000:]}"
    return output


def snapshot_code(dest: Path) -> Path:
    """Copy the node's code (sdk/, node/, contracts/build/) to ``dest`` and return it.

    A restarted node must run the same software as before its crash. The working tree is shared and edited
    while tests run, and genesis installs whichever contract artifacts exist at start-up, so a node run
    from the live tree may compute another genesis after a restart; a snapshot keeps every restart equal.
    """
    for package in ("sdk", "node"):
        shutil.copytree(REPO_ROOT / package, dest / package)
    shutil.copytree(REPO_ROOT / "contracts" / "build", dest / "contracts" / "build")
    return dest
