"""Join benchmark: a new follower joins a long chain by snapshot (process start until /health answers, then
until it has followed a new block), against the validator's cached chain.

    .venv/bin/python scripts/bench/join.py                  # 100 000 blocks (built once, cached)
    .venv/bin/python scripts/bench/join.py --blocks 1000 --runs 3

The chain is scripts/bench/long_chain.py's (one validator, real seals). Each run: the validator runs as a
``xinlian node run`` child process with its p2p service open to the follower's node key; a fresh follower
(empty database, ``xinlian node run --join snapshot``) is started as another child process. Timed: from
its process start until /health answers (it answers once the snapshot is proven, downloaded, stored and
consensus started), and until its height passes the height it joined at (it follows new blocks). The
follower's database is deleted after each run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402

from scripts.bench.grants import Network, get_free_port  # noqa: E402
from scripts.bench.long_chain import CACHE_DIR, open_long_chain, progress  # noqa: E402
from scripts.bench.node_process import NodeProcess  # noqa: E402
from sdk.crypto import PrivateKey  # noqa: E402

#: The join target at 100 000 blocks.
TARGET_S = 60.0


def _follower(network: Network, validator_p2p: int, p2p_port: int) -> Network:
    """Write a follower's config (fresh data folder, node key, the validator as its peer, join snapshot)."""
    base = network.base
    config = json.loads(network.config_path.read_text(encoding="utf-8"))
    port = get_free_port()
    shutil.rmtree(base / "data" / "follower", ignore_errors=True)
    config.update(
        name="follower",
        data_dir="../data/follower",
        validator_key_path="",
        node_key_path="../keys/follower.pem",
        api_port=port,
        p2p_port=p2p_port,
        peers=[f"127.0.0.1:{validator_p2p}"],
        join="snapshot",
        join_min_peers=1,
        metrics_port=0,
        log_level="info",
    )
    path = base / "nodes" / "follower.json"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return Network(base, path, port, network.chain_id, network.accounts, network.grantors)


def time_joins(blocks: int, runs: int, cache_dir: Path) -> list[tuple[float, float, int]]:
    """(seconds to /health, seconds to the first followed block, height joined at) per run."""
    network = open_long_chain(blocks, cache_dir=cache_dir)
    key = PrivateKey.generate()
    (network.base / "keys" / "follower.pem").write_bytes(key.to_pem())
    raw = json.loads(network.config_path.read_text(encoding="utf-8"))
    follower_p2p = get_free_port()
    raw.update(allowed_peer_keys=[key.public_key.to_bytes().hex()], peers=[f"127.0.0.1:{follower_p2p}"])
    network.config_path.write_text(json.dumps(raw, indent=2), encoding="utf-8")
    validator = NodeProcess(network)
    validator.start()
    out = []
    try:
        validator.wait_healthy(timeout_s=300.0)
        for _ in range(runs):
            follower_net = _follower(network, int(raw["p2p_port"]), follower_p2p)
            follower = NodeProcess(follower_net, log_path=network.base / "follower.log")
            started = time.perf_counter()
            follower.start()
            try:
                joined = follower.wait_healthy(timeout_s=600.0)
                healthy = time.perf_counter() - started
                while httpx.get(f"{follower_net.url}/health", timeout=5).json()["height"] <= joined:
                    time.sleep(0.05)
                followed = time.perf_counter() - started
            finally:
                follower.terminate()
            out.append((healthy, followed, joined))
    finally:
        validator.terminate()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--blocks", type=int, default=100_000, help="chain length (default 100000)")
    parser.add_argument("--runs", type=int, default=3, help="joins (default 3)")
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    args = parser.parse_args()
    progress(f"chain of {args.blocks} blocks: {args.runs} joins by snapshot")
    results = time_joins(args.blocks, args.runs, args.cache_dir)
    for healthy, followed, joined in results:
        print(f"joined at height {joined}: /health after {healthy:.2f} s, next block after {followed:.2f} s")
    best = min(r[1] for r in results)
    verdict = "meets" if best < TARGET_S else "MISSES"
    print(
        f"join by snapshot at {args.blocks} blocks: best {best:.2f} s — {verdict} the {TARGET_S:.0f} s target"
    )


if __name__ == "__main__":
    main()
