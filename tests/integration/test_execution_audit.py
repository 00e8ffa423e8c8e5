"""The execution audit on a real node (native engine, SQLite, SM2): sampled committed blocks re-executed on
py-evm agree; a native engine that is wrong by one unit of gas is caught and counted."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from node_fixtures import make_tx, member_key

from node.config import ConfigError, NodeConfig
from node.execution import ExecutionResult, NativeExecutionEngine
from node.ledger.audit import ExecutionAuditor
from node.runtime import Node, RuntimeCollector, SoloProducer
from sdk.crypto import PrivateKey

pytest_plugins = ["node_fixtures"]


def member_keys(network: Path) -> list[PrivateKey]:
    orgs = json.loads((network / "orgs.json").read_text(encoding="utf-8"))
    return [member_key(network, i) for i in range(len(orgs))]


def commit_block_of_calls(node: Node, keys: list[PrivateKey]) -> None:
    """Admit one view-call transaction per key (real SM2 transactions) and commit them in one block."""
    assert node.key is not None
    for key in keys:
        node.ledger.admit_transaction(make_tx(node, key).encode())
    SoloProducer(node.ledger, node.key).produce_once()


def metric(node: Node, name: str) -> dict[tuple[str, ...], float]:
    for family in RuntimeCollector(node).collect():
        if family.name == name:
            return {tuple(s.labels.values()): s.value for s in family.samples if s.name.endswith("_total")}
    raise AssertionError(f"no metric {name}")


def auditor_for(node: Node, every: int, *, in_worker: bool) -> ExecutionAuditor:
    """The node's auditor, re-executing in a worker process (the node's default) or in its own thread."""
    url = node.config.resolved_database_url() if in_worker else ""
    auditor = ExecutionAuditor(node.ledger, every=every, database_url=url)
    assert auditor.in_worker is in_worker
    return auditor


@pytest.mark.parametrize("in_worker", [True, False], ids=["worker", "thread"])
def test_sampled_blocks_agree_on_py_evm(node: Node, network: Path, in_worker: bool) -> None:
    assert isinstance(node.engine, NativeExecutionEngine)
    auditor = auditor_for(node, 2, in_worker=in_worker)
    node.auditor = auditor
    auditor.start()
    keys = member_keys(network)
    for _ in range(6):
        commit_block_of_calls(node, keys)
    deadline = time.monotonic() + 60
    while auditor.audited < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert auditor.audited == 3  # every second of six blocks with transactions
    assert auditor.divergences == []
    assert metric(node, "xinlian_execution_audited_blocks") == {
        ("checked",): 3.0,
        ("skipped",): 0.0,
        ("failed",): 0.0,
    }
    assert metric(node, "xinlian_execution_divergences") == {(): 0.0}


@pytest.mark.parametrize("in_worker", [True, False], ids=["worker", "thread"])
def test_a_native_engine_wrong_by_one_gas_is_caught(node: Node, network: Path, in_worker: bool) -> None:
    """A test double of a wrong native result: each receipt one unit of gas too high. The node commits it
    (its own checks run the same engine); the audit on py-evm does not agree."""
    engine: Any = node.engine
    honest = engine.execute_block

    def one_gas_too_many(*args: Any, **kwargs: Any) -> ExecutionResult:
        result: ExecutionResult = honest(*args, **kwargs)
        receipts = tuple(dataclasses.replace(r, gas_used=r.gas_used + 1) for r in result.receipts)
        return dataclasses.replace(result, receipts=receipts, gas_used=result.gas_used + len(receipts))

    engine.execute_block = one_gas_too_many
    committed: list[tuple[Any, ExecutionResult]] = []
    node.ledger.on_commit.append(lambda block, _cert, result: committed.append((block, result)))
    commit_block_of_calls(node, member_keys(network)[:1])
    [(block, result)] = committed
    assert block.transactions and result.gas_used == block.header.gas_used

    auditor = auditor_for(node, 1, in_worker=in_worker)
    node.auditor = auditor
    found = auditor.audit(block, result)
    assert {d.field for d in found} == {"gas_used", "receipt 0"}
    assert all(d.height == block.header.height for d in found)
    assert metric(node, "xinlian_execution_divergences") == {(): 1.0}


def test_the_audit_setting_is_checked(network: Path) -> None:
    raw = json.loads((network / "nodes" / "node-0.json").read_text(encoding="utf-8"))
    raw["execution_audit_every"] = -1
    bad = network / "nodes" / "bad.json"
    bad.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ConfigError, match="execution_audit_every"):
        NodeConfig.load(bad)


def test_a_dead_audit_worker_is_counted_as_failed_not_as_a_divergence_and_replaced(
    node: Node, network: Path
) -> None:
    committed: list[tuple[Any, ExecutionResult]] = []
    node.ledger.on_commit.append(lambda block, _cert, result: committed.append((block, result)))
    commit_block_of_calls(node, member_keys(network)[:1])
    [(block, result)] = committed
    auditor = auditor_for(node, 1, in_worker=True)
    node.auditor = auditor
    # Other tests in this process may have left processes of their own (a pool that lives as long as the
    # process, workers on their way out): only the audit worker is killed.
    before = set(multiprocessing.active_children())
    assert auditor.audit(block, result) == []  # the worker starts and agrees
    workers = [p for p in multiprocessing.active_children() if p not in before]
    assert workers, "the audit worker process is not running"
    for worker in workers:  # as the out-of-memory killer would
        os.kill(worker.pid or 0, signal.SIGKILL)
        worker.join(timeout=10)
    assert auditor.audit(block, result) == []
    assert auditor.failed == 1 and auditor.divergences == []
    assert auditor.audit(block, result) == []  # a new worker re-executes the next sampled block
    assert auditor.audited == 2
    assert metric(node, "xinlian_execution_audited_blocks") == {
        ("checked",): 2.0,
        ("skipped",): 0.0,
        ("failed",): 1.0,
    }
    assert metric(node, "xinlian_execution_divergences") == {(): 0.0}


def test_warming_up_starts_the_worker_before_the_first_sampled_block(node: Node, network: Path) -> None:
    """``xinlian node run`` warms the audit's worker at start: the first sampled block then finds it
    running (no process is started under load), and an auditor without a worker has nothing to warm."""
    committed: list[tuple[Any, ExecutionResult]] = []
    node.ledger.on_commit.append(lambda block, _cert, result: committed.append((block, result)))
    commit_block_of_calls(node, member_keys(network)[:1])
    [(block, result)] = committed
    assert auditor_for(node, 1, in_worker=False).warm_up() is None
    auditor = auditor_for(node, 1, in_worker=True)
    node.auditor = auditor
    before = set(multiprocessing.active_children())
    warming = auditor.warm_up()
    assert warming is not None
    warming.result(timeout=120)
    workers = set(multiprocessing.active_children()) - before
    assert len(workers) == 1, "the warm-up did not start the audit worker"
    assert auditor.audit(block, result) == [] and auditor.audited == 1
    assert set(multiprocessing.active_children()) - before == workers  # the same worker audited
