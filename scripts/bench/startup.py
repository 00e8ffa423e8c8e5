"""Start-up benchmark: how long a node takes to restart on a long chain (process start until /health answers).

    .venv/bin/python scripts/bench/startup.py                       # 100 000 blocks (built once, cached)
    .venv/bin/python scripts/bench/startup.py --blocks 1000 --blocks 100000   # compare two heights
    .venv/bin/python scripts/bench/startup.py --profile             # where an in-process open spends its time

The chain is built by scripts/bench/long_chain.py (real build, seal and commit path; cached under
/tmp/xinlian-bench-chains). Each run starts ``xinlian node run`` as a child process on the cached network
and times it until ``/health`` answers (the API answers only after the node opened its database, checked
its head and started consensus), then stops it with SIGTERM. A restart costing the same at every height is
the target: nothing at start-up may replay or scan the chain.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from node.config import NodeConfig  # noqa: E402
from scripts.bench.long_chain import CACHE_DIR, open_long_chain, progress  # noqa: E402
from scripts.bench.node_process import NodeProcess  # noqa: E402

#: The restart target at 100 000 blocks.
TARGET_S = 5.0


def time_restarts(blocks: int, runs: int, cache_dir: Path, code_dir: Path | None = None) -> list[float]:
    """Seconds from process start until /health answers, ``runs`` times, on the cached chain of ``blocks``
    (the node runs the code in ``code_dir``, by default this working tree)."""
    network = open_long_chain(blocks, cache_dir=cache_dir)
    node = NodeProcess(network, code_dir=code_dir)
    seconds: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        node.start()
        try:
            height = node.wait_healthy(timeout_s=300.0)
            seconds.append(time.perf_counter() - started)
        finally:
            node.terminate()
        if height < blocks:
            raise RuntimeError(f"the node answered at height {height}, below the chain's {blocks}")
    return seconds


def profile_open(blocks: int, cache_dir: Path) -> str:
    """cProfile of an in-process open (``Node(config)``: database, genesis, ledger load, head check) and
    the API app creation; the top 20 cumulative entries."""
    from node.api import create_app
    from node.api.metrics import Metrics
    from node.runtime import Node

    network = open_long_chain(blocks, cache_dir=cache_dir)
    profiler = cProfile.Profile()
    profiler.enable()
    node = Node(NodeConfig.load(network.config_path), exit_on_fatal=False)
    metrics = Metrics()
    metrics.attach(node.ledger)
    create_app(node.ledger, metrics=metrics, liveness=node.liveness, audience="bench")
    profiler.disable()
    node.stop()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(20)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--blocks", type=int, action="append", help="chain length (repeatable; default 100000)"
    )
    parser.add_argument("--runs", type=int, default=3, help="restarts per chain length (default 3)")
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    parser.add_argument("--profile", action="store_true", help="profile an in-process open instead")
    parser.add_argument("--code-dir", type=Path, help="run the node from another checkout (a baseline)")
    args = parser.parse_args()
    for blocks in args.blocks or [100_000]:
        if args.profile:
            print(profile_open(blocks, args.cache_dir))
            continue
        progress(f"chain of {blocks} blocks: {args.runs} restarts")
        seconds = time_restarts(blocks, args.runs, args.cache_dir, args.code_dir)
        best = min(seconds)
        verdict = "meets" if best < TARGET_S else "MISSES"
        runs = ", ".join(f"{s:.2f}" for s in seconds)
        target = f"{verdict} the {TARGET_S:.0f} s target"
        print(f"restart at {blocks} blocks: best {best:.2f} s (runs: {runs}) — {target}")


if __name__ == "__main__":
    main()
