"""Consensus never dies silently: send failures are survived, a failed thread ends the process, /health
reports consensus liveness."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from node.config import NodeConfig
from node.consensus.liveness import STALL_AFTER_S, ConsensusLiveness
from node.demo_network import init_network
from node.p2p.service import PeerService
from node.runtime import FATAL_EXIT_CODE, Node
from tests.support import make_p2p_tls, wait_until

if TYPE_CHECKING:
    from node_fixtures import RunningNode

pytest_plugins = ["node_fixtures"]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def one_node(tmp_path: Path) -> Iterator[Node]:
    init_network(tmp_path / "net", validators=1, chain_id=91, chain_overrides={"block_period_ms": 50})
    node = Node(
        NodeConfig.load(tmp_path / "net" / "nodes" / "node-0.json"),
        empty_block_interval_ms=200,
        exit_on_fatal=False,
    )
    yield node
    node.stop()


def test_liveness_is_stalled_after_a_minute_without_a_decision_and_down_when_stopped() -> None:
    assert ConsensusLiveness(True, 5, 0, 1.0).status == "ok"
    assert ConsensusLiveness(True, 5, 3, STALL_AFTER_S + 1).status == "stalled"
    assert ConsensusLiveness(False, 5, 0, 1.0).status == "down"
    assert ConsensusLiveness(True, 5, 0, 1.0, error="RuntimeError: x").status == "down"


class FailingPeers(PeerService):
    """A real peer service (never started) whose sends fail, as a broken socket or oversize frame would."""

    def broadcast(self, kind: object, payload: bytes) -> None:  # type: ignore[override]
        raise RuntimeError("send failed")


def test_a_failing_broadcast_does_not_stop_consensus(one_node: Node) -> None:
    one_node.start()
    driver = one_node.driver
    assert driver is not None
    driver.network = FailingPeers(
        chain_id=one_node.chain.chain_id,
        genesis_hash=one_node.genesis_hash,
        key=one_node.key,  # type: ignore[arg-type]
        tls=make_p2p_tls("liveness"),
        host="127.0.0.1",
        port=0,
        peers=(),
        handler=driver,
    )
    start = one_node.ledger.height
    wait_until(lambda: one_node.ledger.height >= start + 3, 20, "three blocks")
    assert driver.stats.get("send_failures") >= 3
    assert driver.running and one_node.liveness().status == "ok"


def test_an_unexpected_error_in_the_consensus_thread_is_reported_and_fatal(one_node: Node) -> None:
    one_node.start()
    wait_until(lambda: one_node.ledger.height >= 1, 20, "a first block")

    def broken_commit(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    one_node.ledger.commit_block = broken_commit  # type: ignore[method-assign]
    wait_until(lambda: one_node.fatal is not None, 20, "the fatal report")
    assert one_node.fatal is not None and "consensus driver" in one_node.fatal
    liveness = one_node.liveness()
    assert liveness.status == "down" and liveness.error is not None and "disk on fire" in liveness.error


def test_a_node_process_whose_consensus_thread_fails_exits_with_a_clear_log_line(tmp_path: Path) -> None:
    init_network(tmp_path / "net", validators=1, chain_id=92, chain_overrides={"block_period_ms": 50})
    script = textwrap.dedent(
        f"""
        import logging, time
        from node.config import NodeConfig
        from node.runtime import Node
        logging.basicConfig(level="INFO")
        node = Node(NodeConfig.load({str(tmp_path / "net" / "nodes" / "node-0.json")!r}),
                    empty_block_interval_ms=200)
        node.start()
        while node.ledger.height < 1:
            time.sleep(0.05)
        def broken_commit(*args, **kwargs):
            raise RuntimeError("disk on fire")
        node.ledger.commit_block = broken_commit
        time.sleep(30)
        print("still running")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == FATAL_EXIT_CODE, done.stderr[-2000:]
    assert "still running" not in done.stdout
    assert "fatal: the consensus driver stopped unexpectedly (RuntimeError: disk on fire)" in done.stderr


@pytest.fixture()
def running(tmp_path: Path) -> Iterator[RunningNode]:
    from node_fixtures import start_node, stop_node

    node = start_node(tmp_path / "net")
    yield node
    stop_node(node)


def test_health_reports_consensus_liveness_and_503_when_it_stopped(running: RunningNode) -> None:
    body = httpx.get(f"{running.url}/health").json()
    assert body["status"] == "ok"
    consensus = body["consensus"]
    assert consensus["running"] is True and consensus["height"] == body["height"] + 1
    assert consensus["decided_age_s"] < STALL_AFTER_S
    running.node.exit_on_fatal = False  # the watchdog will call it fatal: keep the test process alive
    running.node.driver.stop()  # type: ignore[union-attr]
    response = httpx.get(f"{running.url}/health")
    assert response.status_code == 503
    assert response.json()["status"] == "down"
    assert json.loads(response.text)["consensus"]["running"] is False
