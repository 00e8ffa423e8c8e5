"""In-process replay of a node's committed chain on each execution engine: what a follower's ledger does per
block (``Ledger.commit_block``: header and signature checks, re-execution, root checks, the SQL commit), timed
per height range, so the same blocks measure py-evm against the native engine on revm and on evmone.
scripts/bench/node.py uses it for the domain workloads (``--domains --compare-engines``).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from node.execution import ExecutionEngine, NativeExecutionEngine
from node.genesis import GenesisFile, build_genesis
from node.ledger.chain import Ledger
from node.storage import StateNodeStore, Store

#: The engines by ``NodeConfig.execution_engine`` name, py-evm (the baseline) first.
ENGINES: dict[str, Callable[[StateNodeStore, int], ExecutionEngine]] = {
    "pyevm": ExecutionEngine,
    "native": NativeExecutionEngine,
    "evmone": partial(NativeExecutionEngine, vm="evmone"),
}


def engine_list(text: str) -> list[str]:
    """An argparse type: comma-separated names of ENGINES (``--engines pyevm,native,evmone``)."""
    engines = [name.strip() for name in text.split(",")]
    if unknown := [name for name in engines if name not in ENGINES]:
        raise argparse.ArgumentTypeError(f"unknown engine(s) {unknown}: choose from {sorted(ENGINES)}")
    return engines


@dataclass
class RangeReplay:
    """One height range (a workload's blocks, its set-up included) replayed on one engine."""

    blocks: int = 0
    txs: int = 0
    seconds: float = 0.0
    tx_per_s: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)  # the native engine's counts over the range


def replay_chain(
    chain_db: Path,
    genesis: GenesisFile,
    engine: str,
    ranges: dict[str, tuple[int, int]],
    workdir: Path,
) -> dict[str, RangeReplay]:
    """Replay every block of the SQLite chain at ``chain_db`` on a fresh ledger running ``engine`` (a key
    of ENGINES) over its own SQLite file in ``workdir``; returns each range's timing (heights ``first`` to
    ``last`` inclusive). Raises InvalidBlock when the engine disagrees with a committed block.
    """
    source = Store(f"sqlite:///{chain_db}")
    store = Store(f"sqlite:///{workdir / f'replay-{engine}.db'}")
    state_db = StateNodeStore(store)
    executor = ENGINES[engine](state_db, genesis.chain.chain_id)
    ledger = Ledger(genesis.chain, store, state_db, executor, genesis.governance_address)
    try:
        ledger.load(build_genesis(executor, genesis))
        state_db.clear_pending()
        head = source.head()
        seconds: dict[int, float] = {}
        counts: dict[int, Counter[str]] = {}
        sizes: dict[int, int] = {}
        for height in range(1, (head[0] if head is not None else 0) + 1):
            block, certificate = source.get_block(height), source.get_certificate(height)
            if block is None or certificate is None:
                raise RuntimeError(f"the chain at {chain_db} has no block or certificate at {height}")
            before = executor.counts.copy() if isinstance(executor, NativeExecutionEngine) else Counter()
            started = time.perf_counter()
            ledger.commit_block(block, certificate)
            seconds[height] = time.perf_counter() - started
            after = executor.counts if isinstance(executor, NativeExecutionEngine) else Counter()
            counts[height] = after - before
            sizes[height] = len(block.transactions)
    finally:
        store.close()
        source.close()
    replays: dict[str, RangeReplay] = {}
    for name, (first, last) in ranges.items():
        heights = [h for h in range(first, last + 1) if h in seconds]
        total: Counter[str] = Counter()
        for height in heights:
            total.update(counts[height])
        replay = RangeReplay(
            blocks=len(heights),
            txs=sum(sizes[h] for h in heights),
            seconds=sum(seconds[h] for h in heights),
            counts={str(reason): n for reason, n in total.items()},
        )
        replay.tx_per_s = replay.txs / replay.seconds if replay.seconds else 0.0
        replays[name] = replay
    return replays
