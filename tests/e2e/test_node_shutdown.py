"""`xinlian node run` stops cleanly on SIGTERM (a supervisor's stop) and on Ctrl-C: the node is stopped and
its database closed before the process exits (0 after SIGTERM, 130 after SIGINT), nothing is left in the
SQLite write-ahead log, and the node resumes at the same height."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from node.devnet import Devnet, DevnetNode, init_devnet
from tests.e2e.helpers import get_free_port

pytestmark = [pytest.mark.e2e]


def wait_for_height(node: DevnetNode, height: int, timeout_s: float = 60.0) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        seen = node.height()
        if seen is not None and seen >= height:
            return seen
        time.sleep(0.2)
    raise AssertionError(f"the node did not reach height {height}:\n{node.log_tail()}")


def test_a_stopped_node_closes_its_database_and_resumes(tmp_path: Path) -> None:
    """SIGTERM, then Ctrl-C, on one node: each stop leaves a closed database and the node resumes."""
    base = tmp_path / "net"
    init_devnet(
        base,
        validators=1,
        chain_id=4646,
        api_ports=[get_free_port()],
        p2p_ports=[get_free_port()],
        chain_overrides={"block_period_ms": 100},
        log_level="info",
    )
    node = Devnet(base).nodes[0]
    node.start()
    try:
        height = wait_for_height(node, 1)
        for stop, status in ((signal.SIGTERM, 0), (signal.SIGINT, 130)):
            assert node.process is not None
            node.process.send_signal(stop)
            assert node.process.wait(30) == status, (stop.name, node.log_tail())
            wal = Path(node.config.data_dir) / "chain.db-wal"
            assert not wal.exists() or wal.stat().st_size == 0, f"{stop.name}: the database was not closed"
            node.start()
            height = wait_for_height(node, height + 1)
    finally:
        node.terminate()
