"""API reads in worker processes: the same answers and errors as the node's own engine, from another
process, on the real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_abi.abi import encode
from eth_utils.abi import function_signature_to_4byte_selector

from node.api.views import ViewCallPool
from node.config import NodeConfig
from node.demo_network import init_network
from node.execution import BlockContext
from node.genesis import CALENDAR_ADDRESS
from node.runtime import Node, SoloProducer
from node.workers import EVM_RECURSION_LIMIT
from sdk.crypto import PrivateKey
from sdk.errors import ExecutionError, XinlianError

IS_ACTIVE = function_signature_to_4byte_selector("is_active_account(address)")
ADD_WORKING_DAYS = function_signature_to_4byte_selector("add_working_days(uint256,uint256)")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def node_and_pool(tmp_path: Path) -> Iterator[tuple[Node, ViewCallPool, Path]]:
    init_network(tmp_path / "net", validators=1, chain_id=93)
    config = NodeConfig.load(tmp_path / "net" / "nodes" / "node-0.json")
    node = Node(config, exit_on_fatal=False)
    pool = ViewCallPool(config.resolved_database_url(), node.chain.chain_id, processes=1)
    yield node, pool, tmp_path / "net"
    pool.close()
    node.stop()


def member(net: Path) -> PrivateKey:
    orgs = json.loads((net / "orgs.json").read_text())
    return PrivateKey.from_pem((net / orgs[0]["key"]).read_bytes())


def head_context(node: Node) -> tuple[bytes, BlockContext]:
    header = node.ledger.head.header
    ctx = BlockContext(header.height, header.timestamp_ms, node.chain.block_gas_limit, bytes(20))
    return header.state_root, ctx


def test_worker_answers_equal_the_in_process_engine(node_and_pool: tuple[Node, ViewCallPool, Path]) -> None:
    node, pool, net = node_and_pool
    SoloProducer(node.ledger, node.key).produce_once()  # type: ignore[arg-type]  # a committed block
    root, ctx = head_context(node)
    for to, data in (
        (node.genesis.governance_address, IS_ACTIVE + encode(["address"], [member(net).public_key.address])),
        (node.genesis.governance_address, IS_ACTIVE + encode(["address"], [bytes(20)])),
        (CALENDAR_ADDRESS, ADD_WORKING_DAYS + encode(["uint256", "uint256"], [20_000, 30])),
    ):
        expected = node.engine.call(root, bytes(20), to, data, 5_000_000, ctx=ctx)
        assert pool.call(root, bytes(20), to, data, 5_000_000, ctx) == expected


def test_worker_raises_the_engines_typed_errors(node_and_pool: tuple[Node, ViewCallPool, Path]) -> None:
    node, pool, _net = node_and_pool
    root, ctx = head_context(node)
    bad = (root, bytes(20), node.genesis.governance_address, b"\xde\xad\xbe\xef", 5_000_000, ctx)
    with pytest.raises(ExecutionError) as in_process:
        node.engine.call(*bad[:5], ctx=ctx)
    with pytest.raises(ExecutionError) as in_worker:
        pool.call(*bad)
    assert in_worker.value.code == in_process.value.code
    assert in_worker.value.detail == in_process.value.detail


def test_ledger_reads_go_to_the_workers_when_attached(node_and_pool: tuple[Node, ViewCallPool, Path]) -> None:
    node, pool, net = node_and_pool
    calls: list[int] = []

    def counting(*args: object) -> bytes:
        calls.append(os.getpid())
        return pool.call(*args)  # type: ignore[arg-type]

    data = IS_ACTIVE + encode(["address"], [member(net).public_key.address])
    local = node.ledger.call(node.genesis.governance_address, data)
    node.ledger.view_executor = counting
    assert node.ledger.call(node.genesis.governance_address, data) == local
    assert len(calls) == 1
    # Admission and block building keep the node's own engine (consensus never waits on a worker).
    assert node.ledger.is_active_account(member(net).public_key.address)
    assert len(calls) == 1


def test_pool_refuses_an_in_memory_database_and_answers_after_close_with_a_typed_error(
    node_and_pool: tuple[Node, ViewCallPool, Path],
) -> None:
    node, pool, _net = node_and_pool
    with pytest.raises(XinlianError) as refused:
        ViewCallPool("sqlite://", 1)
    assert refused.value.code == "bad_config"
    root, ctx = head_context(node)
    pool.close()
    with pytest.raises(ExecutionError) as closed:
        pool.call(root, bytes(20), node.genesis.governance_address, IS_ACTIVE, 100_000, ctx)
    assert closed.value.code == "view_unavailable"


def test_workers_exit_when_their_node_process_is_killed(tmp_path: Path) -> None:
    init_network(tmp_path / "net", validators=1, chain_id=94)
    config = NodeConfig.load(tmp_path / "net" / "nodes" / "node-0.json")
    Node(config, exit_on_fatal=False).stop()  # writes genesis to the database
    script = (
        "import sys, time\n"
        "from node.api.views import ViewCallPool\n"
        f"pool = ViewCallPool({config.resolved_database_url()!r}, 94, processes=2)\n"
        "pool.warm_up()\n"
        "print(' '.join(str(p) for p in pool._executor._processes), flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        workers = [int(p) for p in parent.stdout.readline().split()]
        assert len(workers) == 2 and all(pid_alive(p) for p in workers)
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 10
        while any(pid_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(pid_alive(p) for p in workers), "view workers outlived their killed node process"
    finally:
        parent.kill()


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


def test_a_view_worker_caps_the_recursion_limit_py_ecc_raised(
    node_and_pool: tuple[Node, ViewCallPool, Path],
) -> None:
    """A worker imports py-evm, whose py_ecc raises the limit to 100000: past what a C stack holds."""
    _, pool, _ = node_and_pool
    pool.warm_up()
    assert pool._executor.submit(sys.getrecursionlimit).result(timeout=60) == EVM_RECURSION_LIMIT
