"""The benchmark workloads and a demo sample on a node running the native engine on revm, replayed block by
block on py-evm and on fresh native engines on revm and on evmone: receipts (status, gas, logs, revert
reasons), gas and state roots must agree at every height. Also checks which workloads each native VM runs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from node_fixtures import RunningNode, replay_chain, start_node, stop_node

from node.execution import NativeExecutionEngine
from node.execution.native import NATIVE, Fallback
from node.runtime import RuntimeCollector
from scripts.bench.authorisations_workload import run_authorisation_workload
from scripts.bench.drugs_workload import prepare_drug_actors, run_commission_workload, run_shipment_workload
from scripts.bench.grants import Network, load_accounts, load_grantors, make_grant
from scripts.bench.licences_workload import issue_licences, load_issuers, prepare_licence_type
from scripts.samples import issue_sample_licence
from sdk.client import Client
from sdk.domains.licences import Licences
from tests.support import wait_until


@dataclass
class Workloads:
    """The node after the workloads, and what its engine counted during each."""

    running: RunningNode
    counts: dict[str, Counter[str]]


def run_grants(running: RunningNode, client: Client, count: int) -> None:
    base = running.data_dir
    network = Network(
        base,
        base / "nodes" / "node-0.json",
        int(running.url.rsplit(":", 1)[1]),
        client.chain_info().chain_id,
        load_accounts(base),
        load_grantors(base),
    )
    head = client.chain_info().height
    hashes = [
        client.submit_raw(make_grant(network, grantor, head_height=head, index=i).encode())
        for i in range(count)
        for grantor in network.grantors[:2]
    ]
    for tx_hash in hashes:
        client.wait(tx_hash, check=True)


@pytest.fixture(scope="module")
def workloads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workloads]:
    # revm on the node (its counts are what the revm tests below read); evmone and py-evm replay its chain
    running = start_node(tmp_path_factory.mktemp("workloads"), execution_engine="native")
    engine = running.node.engine
    assert isinstance(engine, NativeExecutionEngine) and engine.vm == "revm"
    counts: dict[str, Counter[str]] = {}
    base: Path = running.data_dir

    def measure(name: str, work: Callable[[Client], object]) -> None:
        before = engine.counts.copy()
        with Client(running.url, timeout=30.0, signer=running.committee.signer) as client:
            work(client)
            # let the last block commit: the counts are taken per workload
            wait_until(lambda: not running.ledger.pending_count, 30, f"{name} to commit")
        counts[name] = engine.counts - before

    def licences(client: Client) -> None:
        issuers = load_issuers(base, count=2)
        result = issue_licences(
            client, issuers, 12, type_code=prepare_licence_type(client, issuers), clients=2
        )
        assert result.committed == 12

    def sample_licence(client: Client) -> None:
        issuer = running.member_with("ISSUER")
        assert issue_sample_licence(Licences(client, issuer.signer), issuer.uscc).receipt.status == 1

    try:
        measure("grants", lambda client: run_grants(running, client, 6))
        measure("licences", licences)
        measure("sample licence", sample_licence)
        measure(
            "authorisation uses",
            lambda client: run_authorisation_workload(running.url, base, uses=8, clients=2),
        )
        actors = prepare_drug_actors(Client(running.url, timeout=30.0, signer=running.committee.signer), base)
        measure("commission", lambda client: run_commission_workload(running.url, actors, 40, clients=2))
        measure(
            "ship and receive",
            lambda client: run_shipment_workload(running.url, actors, 3, codes_per_shipment=4, clients=2),
        )
        yield Workloads(running, counts)
    finally:
        stop_node(running)


def test_pyevm_agrees_with_every_block_the_native_node_committed(workloads: Workloads) -> None:
    assert workloads.running.ledger.height > 20
    replay_chain(workloads.running, "pyevm")


def test_a_fresh_native_engine_agrees_too(workloads: Workloads) -> None:
    # a follower: its copy of the state is loaded from genesis and follows every block
    replayer = replay_chain(workloads.running, "native")
    assert isinstance(replayer, NativeExecutionEngine)
    assert replayer.counts[NATIVE] > 0 and not replayer.disabled


def test_a_fresh_evmone_engine_agrees_and_runs_every_workload_natively(workloads: Workloads) -> None:
    # evmone has the GM precompiles: the licence issuances that revm leaves to py-evm run natively too; only
    # the messages that failed (revert reasons are py-evm's to give) ran on py-evm
    replayer = replay_chain(workloads.running, "evmone")
    assert isinstance(replayer, NativeExecutionEngine) and replayer.vm == "evmone"
    assert not replayer.disabled
    native_here = sum(workloads.counts[name][NATIVE] for name in workloads.counts)
    issued = 12 + 1
    assert replayer.counts[NATIVE] >= native_here + issued, replayer.counts
    assert set(replayer.counts) <= {NATIVE, Fallback.FAILED}, replayer.counts


def test_revm_runs_the_workloads_that_never_reach_a_gm_precompile(workloads: Workloads) -> None:
    counts = workloads.counts
    for name in ("grants", "authorisation uses", "commission", "ship and receive"):
        assert set(counts[name]) == {NATIVE}, (name, counts[name])
    # LicenceRegistry.issue hashes the type code with the SM3 precompile: revm gets no digest, the issuance
    # reverts there and runs on py-evm
    for name, issued in (("licences", 12), ("sample licence", 1)):
        assert counts[name][Fallback.FAILED] >= issued, (name, counts[name])


def test_the_node_reports_where_its_messages_ran(workloads: Workloads) -> None:
    families = RuntimeCollector(workloads.running.node).collect()
    (family,) = [f for f in families if f.name == "xinlian_execution_messages"]
    where = {sample.labels["where"]: sample.value for sample in family.samples}
    assert where[NATIVE] > 0 and where[Fallback.FAILED.value] > 0
