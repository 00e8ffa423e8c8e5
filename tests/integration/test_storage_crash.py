"""kill -9 of a process committing blocks leaves each block whole or absent, and the chain resumable."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from node.storage import Store
from sdk.proofs.certificate import verify_certificate

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

# The child pre-signs its transactions so that most of its time is spent inside commit_block.
CHILD = textwrap.dedent(
    """
    import secrets, sys
    sys.path[:0] = [{here!r}, {root!r}]
    from conftest import ChainBuilder
    from node.storage import Store
    from sdk.types import Log

    store = Store({url!r})
    chain = ChainBuilder.from_dump({keys!r})
    head = store.head()
    if head is not None:
        chain.height, chain.parent_hash = head[0] + 1, head[1]
    else:
        chain.commit(store)
    txs = [chain.make_tx(key=i) for i in range(600)]
    while True:
        for start in range(0, len(txs), 150):
            batch = txs[start : start + 150]
            logs = [[Log(b"\\xaa" * 20, (secrets.token_bytes(32),), b"x")] for _ in batch]
            nodes = {{secrets.token_bytes(32): secrets.token_bytes(200) for _ in range(900)}}
            block, _, _ = chain.commit(store, batch, logs_per_tx=logs, state_nodes=nodes)
            print(block.header.height, flush=True)
        txs = [chain.make_tx(key=i) for i in range(600)]
    """
)


def _run_and_kill(url: str, keys: object, tmp_path: Path, min_blocks: int, seed: int) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(here=str(HERE), root=str(ROOT), url=url, keys=keys))
    child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        deadline = time.monotonic() + 120
        committed = 0
        for line in child.stdout:
            if line.strip().isdigit():
                committed += 1
                if committed >= min_blocks:
                    break
            if time.monotonic() > deadline:
                pytest.fail("the committing child made no progress")
        time.sleep(random.Random(seed).uniform(0.0, 0.15))
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()


def _assert_whole_blocks(store: Store, validator_keys: list[bytes]) -> int:
    head = store.verify_chain(
        lambda header, certificate: verify_certificate(certificate, header, validator_keys),
        certificate_depth=None,
    )
    assert head is not None
    with store._db.engine.connect() as conn:
        declared = conn.execute(text("SELECT coalesce(sum(tx_count), 0) FROM blocks")).scalar_one()
        stored_txs = conn.execute(text("SELECT count(*) FROM transactions")).scalar_one()
        stored_receipts = conn.execute(
            text("SELECT count(*) FROM transactions WHERE receipt IS NOT NULL")
        ).scalar_one()
        stored_logs = conn.execute(text("SELECT count(*) FROM logs")).scalar_one()
    assert stored_txs == stored_receipts == stored_logs == declared
    for height in range(1, head[0] + 1):
        block = store.get_block(height)
        receipts = store.get_block_receipts(height)
        assert block is not None and receipts is not None
        assert [r.tx_hash for r in receipts] == [tx.tx_hash for tx in block.transactions]
    return head[0]


@pytest.mark.slow
def test_kill_during_commits_leaves_whole_blocks_and_a_resumable_chain(store_url, tmp_path, chain):
    keys = chain.dump()
    heights = []
    for attempt in range(2):
        _run_and_kill(store_url, keys, tmp_path, min_blocks=2, seed=attempt)
        with Store(store_url) as store:
            heights.append(_assert_whole_blocks(store, chain.validator_keys))
    assert heights == sorted(heights) and heights[-1] >= 4
