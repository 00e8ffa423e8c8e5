"""A one-validator network whose node holds a long chain of empty blocks, built once and cached.

Every block goes through the real path: ``Ledger.build_block`` (execution, validator-set read, header),
one SM2 commit seal by the validator's key over the chain's commit preimage, ``Ledger.commit_block``
(certificate check, SQL commit). Only the QBFT round messages are skipped (a one-validator chain decides
alone), which makes a block about 3× cheaper to produce than through the consensus core.

Timestamps end near the wall clock (block ``i`` at ``now - (blocks - i) × period``), so that a node
started on the chain afterwards produces its next block at once.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from node.config import NodeConfig
from node.demo_network import init_network
from node.runtime import Node
from scripts.bench.grants import Network, get_free_port, load_accounts, load_grantors
from sdk.types import CommitCertificate, Seal, commit_preimage

#: Where built chains are cached (one folder per length): reruns reuse them.
CACHE_DIR = Path("/tmp/xinlian-bench-chains")
CHAIN_ID = 7171
_DONE = "built.json"


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def open_long_chain(blocks: int, *, cache_dir: Path = CACHE_DIR) -> Network:
    """The cached network whose node-0 database holds ``blocks`` blocks above genesis (built when missing:
    about 5 ms a block on this machine; an interrupted build resumes). The node config gets free API and
    p2p ports and log level warning at each call."""
    base = cache_dir / f"chain-{blocks}"
    if not (base / _DONE).exists():
        if not (base / "genesis.json").exists():
            shutil.rmtree(base, ignore_errors=True)
            init_network(
                base, validators=1, chain_id=CHAIN_ID, api_port=get_free_port(), p2p_port=get_free_port()
            )
        _extend(base, blocks)
        (base / _DONE).write_text(json.dumps({"blocks": blocks}), encoding="utf-8")
    config_path = base / "nodes" / "node-0.json"
    raw = json.loads(config_path.read_text(encoding="utf-8"))
    raw.update(api_port=get_free_port(), p2p_port=get_free_port(), log_level="warning")
    config_path.write_text(json.dumps(raw, indent=2), encoding="utf-8")
    return Network(
        base, config_path, int(raw["api_port"]), CHAIN_ID, load_accounts(base), load_grantors(base)
    )


def _extend(base: Path, blocks: int) -> None:
    """Commit empty blocks on node-0's database until its head is at ``blocks``."""
    config = NodeConfig.load(base / "nodes" / "node-0.json")
    node = Node(config, exit_on_fatal=False)
    try:
        ledger, key = node.ledger, node.key
        if key is None:
            raise RuntimeError("node-0 of the bench network has no validator key")
        period = ledger.chain.block_period_ms
        end_ms = int(time.time() * 1000)
        started = time.perf_counter()
        first = ledger.height + 1
        for height in range(first, blocks + 1):
            executed = ledger.build_block(now_ms=end_ms - (blocks - height) * period)
            header = executed.block.header
            preimage = commit_preimage(header.chain_id, height, header.round, header.block_hash)
            seal = Seal(validator_index=0, signature=key.sign(preimage))
            ledger.commit_block(
                executed.block, CommitCertificate(height, header.round, header.block_hash, (seal,))
            )
            if height % 5000 == 0:
                rate = (height - first + 1) / (time.perf_counter() - started)
                progress(f"built {height}/{blocks} blocks ({rate:.0f} blocks/s)")
    finally:
        node.stop()
