"""End-to-end helpers: a one-validator network on disk and a snapshot of the code its node runs. The grant
workload (``Grantor``, ``Network``, ``make_grant``) and the node process (``NodeProcess``) come from
scripts/bench/, shared with the benchmarks."""

from __future__ import annotations

import json
import shutil
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
    "snapshot_code",
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
