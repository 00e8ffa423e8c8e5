"""Node benchmark: committed Governance grants/s, commit latency, bytes/tx, vs web3 + eth-tester.

``--domains`` adds the licence, authorisation and drug workloads on a fresh node, set against those grants.
``--engine`` picks the nodes' execution engine; ``--compare-engines`` measures the in-process ledger on each
engines in the same run (grants, and the domain node's chain replayed block by block).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))


from node.demo_network import init_network  # noqa: E402
from node.genesis import (  # noqa: E402
    DEFAULT_ROLE_ADMINS,
    GOVERNANCE_ADDRESS,
    ROLE_IDS,
    GenesisFile,
    encode_contract_name,
)
from scripts.bench.common import CommitFigures, CommitRun, split_evenly  # noqa: E402
from scripts.bench.grants import (  # noqa: E402
    GRANT_GAS_LIMIT,
    Grantor,
    Network,
    delegated_grants,
    encode_fresh_grant,
    get_free_port,
    grant_target,
    load_accounts,
    load_grantors,
)
from scripts.bench.node_process import NodeProcess  # noqa: E402
from scripts.bench.replay import ENGINES, replay_chain  # noqa: E402
from sdk.client import Client  # noqa: E402
from sdk.system import SUBMIT_BATCH_MAX_TXS  # noqa: E402
from sdk.types import Transaction  # noqa: E402

TX_PER_S_TARGET = 1_000
RATIO_TARGET = 20.0
CHAIN_ID = 5151
WARMUP_TXS = 10
REPLAY_ROUNDS = 2
BASELINE_CHECKS = 100
# Functions whose cumulative time the profile reports as the node's phases (file suffix, function name).
PHASES: tuple[tuple[str, str, str], ...] = (
    ("admission (all)", "ledger/admission.py", "admit_transaction"),
    ("  decode", "sdk/types.py", "decode"),
    ("  SM2 verify", "sdk/types.py", "verify_signature"),
    ("  Governance activity check (EVM)", "ledger/chain.py", "is_active_account"),
    ("build block (all)", "ledger/chain.py", "build_block"),
    ("  execution (py-evm)", "execution/engine.py", "execute_block"),
    ("  execution (native)", "execution/native.py", "execute_block"),
    ("  validator set read (EVM)", "ledger/chain.py", "governance_validators"),
    ("commit (all)", "ledger/chain.py", "commit_block"),
    ("  storage commit (SQL)", "storage/store.py", "commit_block"),
)


# --- the workload: delegated role grants through Governance --------------------------------------------
@dataclass(frozen=True)
class BenchNetwork(Network):
    """The grant workload's network and its genesis (whose chain parameters size the runs)."""

    genesis: GenesisFile

    @property
    def data_dir(self) -> Path:
        return self.base / "data" / "node-0"


_T0 = time.perf_counter()


def progress(message: str) -> None:
    """A progress line on stderr (stdout carries the report)."""
    print(f"[{time.perf_counter() - _T0:7.1f} s] {message}", file=sys.stderr, flush=True)


def create_network(base: Path, engine: str = "native", *, tls: bool = False) -> BenchNetwork:
    """A one-validator network (default chain parameters) with its API on a free port; its node runs
    ``engine`` (``NodeConfig.execution_engine``) and serves https with a local CA when ``tls``."""
    port = get_free_port()
    init_network(base, validators=1, chain_id=CHAIN_ID, api_port=port, p2p_port=get_free_port(), tls=tls)
    config_path = base / "nodes" / "node-0.json"
    raw = json.loads(config_path.read_text(encoding="utf-8"))
    raw["log_level"] = "warning"
    raw["execution_engine"] = engine
    config_path.write_text(json.dumps(raw, indent=2), encoding="utf-8")
    genesis = GenesisFile.load(base / "genesis.json")
    return BenchNetwork(base, config_path, port, CHAIN_ID, load_accounts(base), load_grantors(base), genesis)


def sign_grants(net: BenchNetwork, grantor: Grantor, count: int, expiry_height: int) -> list[bytes]:
    """``count`` SM2-signed grants by ``grantor`` (Transaction.create), encoded for the wire, each to an
    account of another organisation (a delegated admin never grants within its own)."""
    return [
        Transaction.create(
            grantor.key,
            chain_id=CHAIN_ID,
            to=GOVERNANCE_ADDRESS,
            data=encode_fresh_grant(grant_target(net.accounts, grantor, i), grantor.role),
            gas_limit=GRANT_GAS_LIMIT,
            expiry_height=expiry_height,
        ).encode()
        for i in range(count)
    ]


def database_bytes(data_dir: Path) -> int:
    """SQLite file + -wal + -shm, as Store.bytes_on_disk counts them."""
    return sum(p.stat().st_size for p in data_dir.glob("chain.db*") if p.is_file())


# --- Xinlian over HTTP ------------------------------------------------------------------------------------
@dataclass
class HttpResult(CommitFigures):
    submitted: int = 0
    committed: int = 0
    tx_per_s: float = 0.0
    bytes_per_tx: float = 0.0
    bytes_per_tx_live: float = 0.0
    sign_per_s: float = 0.0
    node_cpu_s: float = 0.0
    client_cpu_s: float = 0.0


def run_http(
    txs: int, clients: int, seconds: float | None, workdir: Path, engine: str, *, per_request: int = 1
) -> HttpResult:
    """Start a node process running ``engine``, submit ``txs`` signed grants from ``clients`` threads
    (``per_request`` transactions per HTTP request), measure commits."""
    net = create_network(workdir / "http", engine)
    node = NodeProcess(net)
    node.start()
    result = HttpResult()
    try:
        height = node.wait_healthy(timeout_s=120)
        progress(f"node up at height {height}; signing")
        grantors = [net.grantors[k % len(net.grantors)] for k in range(clients)]
        shares = split_evenly(txs, clients)
        started = time.perf_counter()
        batches = [
            sign_grants(net, g, n, height + net.genesis.chain.expiry_window - 50)
            for g, n in zip(grantors, shares, strict=True)
        ]
        result.sign_per_s = txs / (time.perf_counter() - started)
        bytes_before = database_bytes(net.data_dir)
        run = CommitRun(net.url, batches, height, per_request=per_request)
        progress("submitting")
        run.start(seconds)
        node_cpu, client_cpu = node.cpu_seconds(), time.process_time()
        progress(f"{run.join()} accepted; waiting for commits")
        run.wait_for_commits(60)
        result.node_cpu_s = node.cpu_seconds() - node_cpu
        result.client_cpu_s = time.process_time() - client_cpu
        run.stop()
        result.record(run)
        accepted, committed = run.accepted, run.committed
        result.submitted = len(accepted)
        result.committed = len(committed)
        if committed:
            result.tx_per_s = len(committed) / result.seconds
            result.bytes_per_tx_live = (database_bytes(net.data_dir) - bytes_before) / len(committed)
    finally:
        node.terminate(timeout_s=20)
    if result.committed:
        # After a clean stop SQLite has checkpointed the WAL into the main file: the durable size
        # (genesis included, a few tens of KB).
        result.bytes_per_tx = database_bytes(net.data_dir) / result.committed
    return result


# --- Xinlian in process (ledger ceiling, no HTTP) ---------------------------------------------------------
@dataclass
class InprocessResult:
    committed: int = 0
    seconds: float = 0.0
    tx_per_s: float = 0.0
    admission_per_s: float = 0.0
    produce_per_s: float = 0.0
    blocks: int = 0
    bytes_per_tx: float = 0.0
    phases_s: dict[str, float] = field(default_factory=dict)
    profile_top: str = ""


def run_inprocess(
    txs: int, workdir: Path, *, profile: bool, engine: str, name: str = "inprocess"
) -> InprocessResult:
    """Admit ``txs`` grants into the ledger of a ``node.runtime.Node`` running ``engine`` and produce blocks
    with SoloProducer."""
    from node.config import NodeConfig
    from node.runtime import Node, SoloProducer

    net = create_network(workdir / f"{name}-{engine}", engine)
    node = Node(NodeConfig.load(net.config_path))
    result = InprocessResult()
    try:
        if node.key is None:
            raise RuntimeError("the node config names no validator key")
        producer = SoloProducer(node.ledger, node.key)
        expiry = node.ledger.height + net.genesis.chain.expiry_window - 50
        per = split_evenly(txs, len(net.grantors))
        raws = [raw for g, n in zip(net.grantors, per, strict=True) for raw in sign_grants(net, g, n, expiry)]
        block_txs = net.genesis.chain.max_block_txs
        # An untimed warm-up block (code caches, SQLite pages), as the baseline gets warm-up transactions.
        for raw in sign_grants(net, net.grantors[0], WARMUP_TXS, expiry):
            node.ledger.admit_transaction(raw)
        producer.produce_once()
        admit_s = produce_s = 0.0
        profiler = cProfile.Profile() if profile else None

        def drive() -> None:
            nonlocal admit_s, produce_s
            for start in range(0, len(raws), block_txs):
                t0 = time.perf_counter()
                for raw in raws[start : start + block_txs]:
                    node.ledger.admit_transaction(raw)
                t1 = time.perf_counter()
                while len(node.ledger.mempool):
                    executed = producer.produce_once()
                    result.committed += len(executed.block.transactions)
                    result.blocks += 1
                admit_s += t1 - t0
                produce_s += time.perf_counter() - t1

        started = time.perf_counter()
        if profiler is not None:
            profiler.runcall(drive)
        else:
            drive()
        result.seconds = time.perf_counter() - started
        result.tx_per_s = result.committed / result.seconds
        result.admission_per_s = len(raws) / admit_s
        result.produce_per_s = result.committed / produce_s
        if profiler is not None:
            stats = pstats.Stats(profiler)
            result.phases_s = phase_times(stats)
            out = io.StringIO()
            stats.stream = out  # type: ignore[attr-defined]
            stats.sort_stats("cumulative").print_stats(15)
            result.profile_top = out.getvalue()
    finally:
        node.stop()
    result.bytes_per_tx = database_bytes(net.data_dir) / max(1, result.committed)  # checkpointed, as above
    return result


def phase_times(stats: pstats.Stats) -> dict[str, float]:
    """Cumulative seconds of each PHASES function in a profile (summed over its entries)."""
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    times: dict[str, float] = {}
    for label, suffix, function in PHASES:
        times[label] = sum(
            entry[3]
            for (path, _line, name), entry in raw.items()
            if name == function and path.endswith(suffix)
        )
    return times


# --- domain workloads on a fresh node (licences, authorisations, drug traceability) ----------------------
@dataclass
class DomainSizes:
    licences: int = 500
    uses: int = 300
    codes: int = 2000
    shipments: int = 100
    codes_per_shipment: int = 10
    commission_per_request: int = SUBMIT_BATCH_MAX_TXS  # as Drugs.commission sends a lot's chunks
    lot_codes: int = 0  # codes commissioned by their root (DrugLots), in parts
    lot_materialise: int = 0  # of those, codes then materialised (their first movement's extra step)
    licences_per_request: int = 1  # issuances per HTTP request (more: the batch route, as a batch issuance)


@dataclass
class DomainRow:
    """One domain workload's committed rate, normalised across the workload modules' own result types."""

    workload: str
    unit: str  # what ``items`` counts: licences, uses, codes, shipments, receipts
    requested: int
    items: int = 0  # committed items (read back from the contract where the workload does)
    items_per_tx: int = 1
    transactions: int = 0  # accepted (submitted) transactions
    refused: int = 0
    failed: int = 0  # accepted but not in effect: reverted, or not committed/counted within the wait
    seconds: float = 0.0  # first submit → last commit seen
    per_s: float = 0.0  # committed items per second
    tx_per_s: float = 0.0
    latency_p50_ms: float | None = None  # None: the workload does not measure it
    latency_p99_ms: float | None = None
    untimed_s: float = 0.0  # the rest of the workload's wall time: set-up transactions, signing, read-backs
    node_cpu_s: float | None = None  # node process CPU over the whole workload, untimed part included
    error: str = ""
    ratio_to_grants: float | None = None  # per_s / same-run Governance grants over HTTP (tx/s)
    ratio_to_baseline: float | None = None  # per_s / web3 + eth-tester grants tx/s (one item per tx only)
    result: dict[str, Any] = field(default_factory=dict)  # the workload module's own result
    heights: tuple[int, int] = (0, 0)  # the node's first and last block of the workload, set-up included


def run_domains(
    sizes: DomainSizes, clients: int, workdir: Path, engine: str, *, replay_engines: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Start a fresh one-validator node running ``engine`` and run each domain workload against it, one
    after the other; then replay its chain in process on each of ``replay_engines`` (``replay.py``).

    Takes: the workload sizes (0 skips one), client threads, the temporary folder, the engines. Returns: the
    client count, the sizes, the wall seconds of it all (node start-up and untimed set-up included), one
    DomainRow (as a dict) per workload — a workload that raises is reported in its row's ``error`` and the
    others still run — and, per replay engine, each workload's replay (``RangeReplay`` as a dict). The
    ratios are added by ``add_domain_ratios`` once the same run's grants are known.
    """
    from scripts.bench.authorisations_workload import run_authorisation_workload
    from scripts.bench.drugs_workload import (
        prepare_drug_actors,
        run_commission_workload,
        run_lot_workload,
        run_shipment_workload,
    )
    from scripts.bench.licences_workload import issue_licences, load_issuers, prepare_licence_type

    net = create_network(workdir / "domains", engine)
    node = NodeProcess(net)
    node.start()
    rows: list[DomainRow] = []
    started = time.perf_counter()

    def head_height() -> int:
        with Client(net.url, timeout=30.0) as client:
            return client.chain_info().height

    def measure(row: DomainRow, work: Any) -> None:
        cpu, wall = node.cpu_seconds(), time.perf_counter()
        first = head_height() + 1
        try:
            work(row)
        except Exception as exc:  # reported in the row; the other workloads still run
            row.error = f"{type(exc).__name__}: {exc}"[:300]
            progress(f"domains: {row.workload} failed: {row.error}")
        row.heights = (first, head_height())
        row.node_cpu_s = node.cpu_seconds() - cpu
        row.untimed_s = time.perf_counter() - wall - row.seconds
        rows.append(row)

    def licences(row: DomainRow) -> None:
        issuers = load_issuers(net.base, count=2)
        with Client(net.url, timeout=30.0) as client:
            type_code = prepare_licence_type(client, issuers)
            progress(f"domains: {sizes.licences} licence issuances (type {type_code})")
            r = issue_licences(
                client,
                issuers,
                sizes.licences,
                type_code=type_code,
                clients=clients,
                per_request=sizes.licences_per_request,
            )
        row.result = asdict(r)
        row.items, row.transactions, row.refused = r.committed, r.submitted, r.refused
        row.seconds, row.per_s, row.tx_per_s = r.seconds, r.licences_per_s, r.licences_per_s
        row.latency_p50_ms, row.latency_p99_ms = r.latency_p50_ms, r.latency_p99_ms
        row.failed = max(0, r.submitted - r.committed)

    def authorisations(row: DomainRow) -> None:
        progress(f"domains: {sizes.uses} authorisation uses (set-up: DATA_USER grant, resource, grants)")
        r = run_authorisation_workload(net.url, net.base, uses=sizes.uses, clients=clients)
        row.result = asdict(r)
        row.items, row.transactions, row.refused = r.uses_committed, r.uses_submitted, r.refused
        row.seconds, row.per_s, row.tx_per_s = r.seconds, r.uses_per_s, r.uses_per_s
        row.latency_p50_ms, row.latency_p99_ms = r.latency_p50_ms, r.latency_p99_ms
        row.failed = max(0, r.uses_submitted - r.uses_committed)

    def from_drugs(row: DomainRow, r: Any) -> None:
        row.workload, row.result = r.name, asdict(r)
        row.items, row.transactions, row.refused, row.failed = r.items, r.committed, r.refused, r.reverted
        row.seconds, row.per_s, row.tx_per_s = r.seconds, r.per_s, r.tx_per_s
        row.latency_p50_ms, row.latency_p99_ms = r.latency_p50_ms, r.latency_p99_ms

    actors: list[Any] = []  # prepared once, for the commission and shipment workloads

    def drug_actors() -> Any:
        if not actors:
            with Client(net.url, timeout=30.0) as client:
                actors.append(prepare_drug_actors(client, net.base))
        return actors[0]

    def commission(row: DomainRow) -> None:
        actor = drug_actors()
        progress(f"domains: commission {sizes.codes} codes")
        r = run_commission_workload(
            net.url, actor, sizes.codes, clients=clients, per_request=sizes.commission_per_request
        )
        from_drugs(row, r)
        row.items_per_tx = -(-r.items // r.committed) if r.committed else 1  # ceil

    materialised: list[Any] = []

    def lots(row: DomainRow) -> None:
        actor = drug_actors()
        made = [] if not sizes.lot_materialise else [f", then materialise {sizes.lot_materialise}"]
        progress(f"domains: commission {sizes.lot_codes} codes by their root{''.join(made)}")
        results = run_lot_workload(
            net.url, actor, sizes.lot_codes, materialise=sizes.lot_materialise, clients=clients
        )
        from_drugs(row, results[0])
        row.items_per_tx = -(-results[0].items // results[0].committed) if results[0].committed else 1
        materialised.extend(results[1:])

    shipped_received: list[Any] = []

    def ship(row: DomainRow) -> None:
        actor = drug_actors()
        progress(
            f"domains: {sizes.shipments} shipments of {sizes.codes_per_shipment} codes "
            "(commissioned untimed first), then their receipts"
        )
        shipped_received.extend(
            run_shipment_workload(
                net.url, actor, sizes.shipments, codes_per_shipment=sizes.codes_per_shipment, clients=clients
            )
        )
        from_drugs(row, shipped_received[0])

    try:
        height = node.wait_healthy(timeout_s=120)
        progress(f"domains: node up at height {height} ({time.perf_counter() - started:.1f} s)")
        if sizes.licences:
            measure(DomainRow("licence issuance", "licences", sizes.licences), licences)
        if sizes.uses:
            measure(DomainRow("authorisation use", "uses", sizes.uses), authorisations)
        if sizes.codes:
            measure(DomainRow("commission", "codes", sizes.codes), commission)
        if sizes.lot_codes:
            measure(DomainRow("commission by root", "codes", sizes.lot_codes), lots)
            if materialised:
                made = DomainRow("materialise", "codes", sizes.lot_materialise)
                from_drugs(made, materialised[0])
                made.items_per_tx = -(-made.items // made.transactions) if made.transactions else 1
                rows[-1].untimed_s -= made.seconds  # one call ran both; CPU stays in the lots row
                rows.append(made)
        if sizes.shipments:
            measure(DomainRow("ship", "shipments", sizes.shipments), ship)
            if len(shipped_received) == 2:
                received = DomainRow("receive", "receipts", sizes.shipments)
                from_drugs(received, shipped_received[1])
                rows[-1].untimed_s -= received.seconds  # one call ran both; CPU stays in the ship row
                rows.append(received)
    finally:
        node.terminate(timeout_s=20)
    seconds = time.perf_counter() - started
    # ship's range holds the receipts too: one call ran both
    ranges = {row.workload: row.heights for row in rows if row.heights != (0, 0) and not row.error}
    # Alternating rounds, each workload's best kept per engine: the first replay of a process also warms
    # caches both engines share (py-evm's JUMPDEST analysis, parsed SM2 keys).
    replays: dict[str, dict[str, Any]] = {name: {} for name in replay_engines}
    for round_ in range(REPLAY_ROUNDS if replay_engines else 0):
        for replay_engine in replay_engines:
            progress(f"domains: the chain replayed in process on {replay_engine} (round {round_ + 1})")
            folder = workdir / f"replay-{replay_engine}-{round_}"
            folder.mkdir()
            measured = replay_chain(net.data_dir / "chain.db", net.genesis, replay_engine, ranges, folder)
            for name, replay in measured.items():
                best = replays[replay_engine].get(name)
                if best is None or replay.tx_per_s > best["tx_per_s"]:
                    replays[replay_engine][name] = asdict(replay)
    return {
        "clients": clients,
        "sizes": asdict(sizes),
        "engine": engine,
        "seconds": seconds,
        "rows": [asdict(row) for row in rows],
        "replays": replays,
    }


def add_domain_ratios(report: dict[str, Any]) -> None:
    """Ratios of each domain rate to the same run's grant rates (HTTP node; eth-tester where meaningful)."""
    domains: dict[str, Any] | None = report.get("domains")
    if not domains:
        return
    grants = (report.get("http") or {}).get("tx_per_s") or 0.0
    base = (report.get("baseline") or {}).get("tx_per_s") or 0.0
    for row in domains["rows"]:
        if row["error"] or not row["per_s"]:
            continue
        row["ratio_to_grants"] = row["per_s"] / grants if grants else None
        # eth-tester ran grant_role, one call per transaction: only a one-item-per-transaction rate is set
        # against it (a batched rate — codes/s — over its tx/s would mostly measure the batch size)
        row["ratio_to_baseline"] = row["per_s"] / base if base and row["items_per_tx"] == 1 else None


# --- baseline: web3.py + eth-tester (PyEVMBackend), the same contract and call --------------------------
@dataclass
class BaselineResult:
    sent: int = 0
    checked: int = 0
    succeeded: int = 0
    seconds: float = 0.0
    tx_per_s: float = 0.0


def run_baseline(txs: int, genesis: GenesisFile) -> BaselineResult:
    """Deploy the Governance artifact on eth-tester, initialise it like genesis, send ``txs`` grants."""
    from eth_tester import EthereumTester, PyEVMBackend
    from web3 import EthereumTesterProvider, Web3

    artifact = json.loads((REPO_ROOT / "contracts" / "build" / "Governance.json").read_text(encoding="utf-8"))
    w3 = Web3(EthereumTesterProvider(EthereumTester(PyEVMBackend())))
    accounts = list(w3.eth.accounts)
    spec = genesis.spec
    orgs = spec.organisations
    if len(accounts) < len(orgs):
        raise RuntimeError("eth-tester has fewer accounts than the genesis has organisations")
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    deployed = w3.eth.wait_for_transaction_receipt(factory.constructor().transact({"from": accounts[0]}))
    governance = w3.eth.contract(address=deployed["contractAddress"], abi=artifact["abi"])
    # Same organisations, roles, role admins, validators and registry as genesis; the org accounts are
    # eth-tester's secp256k1 accounts (eth-tester cannot sign with SM2), org i ↔ account i.
    account_of = {m.uscc: accounts[i] for i, m in enumerate(spec.accounts)}
    uscc_of = {m.address: m.uscc for m in spec.accounts}
    committee_usccs = [m.uscc for m in spec.accounts if m.address in spec.committee]
    roles = [(account_of[uscc_of[r.address]], r.role, r.scope) for r in spec.roles]
    w3.eth.wait_for_transaction_receipt(
        governance.functions.initialize(
            [account_of[u] for u in committee_usccs],
            spec.threshold,
            [(o.uscc, o.name) for o in orgs],
            [(account_of[m.uscc], m.uscc) for m in spec.accounts],
            roles,
            [(role, admin) for role, admin in DEFAULT_ROLE_ADMINS],
            list(genesis.validator_keys()),
            [(encode_contract_name("Governance"), governance.address)],
        ).transact({"from": accounts[0], "gas": 20_000_000})
    )
    progress("baseline: Governance deployed and initialised")
    grants = {ROLE_IDS[admin]: role for admin, role in delegated_grants().items()}
    grantors = [(account_of[uscc_of[r.address]], grants[r.role]) for r in spec.roles if r.role in grants]
    targets = [bytes.fromhex(account_of[m.uscc][2:]) for m in spec.accounts]

    def grant(i: int) -> tuple[str, bytes]:
        sender, role = grantors[i % len(grantors)]
        others = [t for t in targets if t != bytes.fromhex(sender[2:])]
        return sender, encode_fresh_grant(others[i % len(others)], role)

    payloads = [grant(i) for i in range(txs + WARMUP_TXS)]
    for sender, data in payloads[:WARMUP_TXS]:  # untimed, like the in-process warm-up block
        w3.eth.send_transaction(
            {"from": sender, "to": governance.address, "data": data, "gas": GRANT_GAS_LIMIT}
        )
    payloads = payloads[WARMUP_TXS:]
    result = BaselineResult()
    hashes = []
    started = time.perf_counter()
    for sender, data in payloads:
        hashes.append(
            w3.eth.send_transaction(
                {"from": sender, "to": governance.address, "data": data, "gas": GRANT_GAS_LIMIT}
            )
        )
    result.seconds = time.perf_counter() - started
    result.sent = len(hashes)
    result.tx_per_s = result.sent / result.seconds
    # Check the grants took effect through the contract's role_granted getter, on an evenly spaced sample:
    # eth-tester finds receipts and logs by scanning its chain, which makes a full check quadratic.
    step = max(1, len(payloads) // BASELINE_CHECKS)
    sample = payloads[::step]
    result.checked = len(sample)
    result.succeeded = sum(
        1
        for _, data in sample
        if governance.functions.role_granted(
            Web3.to_checksum_address(data[16:36]), data[36:68], data[68:100]
        ).call()
    )
    return result


# --- report ------------------------------------------------------------------------------------------------
def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def print_report(report: dict[str, Any], args: argparse.Namespace) -> None:
    http: dict[str, Any] | None = report.get("http")
    inproc: dict[str, Any] | None = report.get("inprocess")
    base: dict[str, Any] | None = report.get("baseline")
    print(
        "workload: Governance.grant_role by the delegated admins (accreditor → AUDITOR, …); "
        f"{os.cpu_count()} cores; nodes run the {report['engine']} engine"
    )
    if http:
        print(
            f"Xinlian node over HTTP ({args.clients} clients, {args.per_request} tx per request, "
            "1 validator, SQLite): "
            f"{http['committed']}/{http['submitted']} committed in {http['seconds']:.2f} s = "
            f"{http['tx_per_s']:.0f} tx/s (submissions {http['submit_per_s']:.0f}/s, {http['blocks']} blocks)"
        )
        print(
            f"  commit latency p50 {http['latency_p50_ms']:.0f} ms, p99 {http['latency_p99_ms']:.0f} ms; "
            f"{http['bytes_per_tx']:.0f} bytes on disk per tx after stop "
            f"({http['bytes_per_tx_live']:.0f} live, db + WAL); client SM2 signing {http['sign_per_s']:.0f}/s"
            + (f"; refused {http['refusals']}" if http["refusals"] else "")
        )
        print(
            f"  CPU while submitting: node process {http['node_cpu_s']:.1f} s, "
            f"clients {http['client_cpu_s']:.1f} s, over {http['seconds']:.1f} s wall"
        )
    runs: dict[str, Any] = report.get("inprocess_engines") or ({report["engine"]: inproc} if inproc else {})
    for engine, run in runs.items():
        print(
            f"Xinlian ledger in process on {engine} (Node + SoloProducer.produce_once, no HTTP): "
            f"{run['committed']} tx "
            f"in {run['seconds']:.2f} s = {run['tx_per_s']:.0f} tx/s "
            f"(admission {run['admission_per_s']:.0f}/s, execute+commit {run['produce_per_s']:.0f}/s, "
            f"{run['blocks']} blocks, {run['bytes_per_tx']:.0f} bytes/tx)"
        )
    if len(runs) == len(ENGINES):
        pyevm = runs["pyevm"]
        for engine, native in runs.items():
            if engine != "pyevm":
                print(
                    f"ratio in process {engine} / py-evm (same run): "
                    f"{ratio(native['tx_per_s'], pyevm['tx_per_s']):.2f}x overall, "
                    f"{ratio(native['produce_per_s'], pyevm['produce_per_s']):.2f}x execute+commit"
                )
    if base:
        print(
            "web3.py + eth-tester (PyEVMBackend, auto-mine): "
            f"{base['sent']} sent in {base['seconds']:.2f} s = {base['tx_per_s']:.0f} tx/s "
            f"({base['succeeded']}/{base['checked']} sampled grants in effect)"
        )
    for name, part in (("HTTP", http), ("in-process", inproc)):
        if part and base:
            x = ratio(part["tx_per_s"], base["tx_per_s"])
            verdict = "meets" if part["tx_per_s"] >= TX_PER_S_TARGET and x >= RATIO_TARGET else "short of"
            print(
                f"ratio Xinlian {name} / baseline = {x:.1f}x — {verdict} the targets "
                f"(≥ {TX_PER_S_TARGET} tx/s and ≥ {RATIO_TARGET:.0f}x)"
            )
    if report.get("domains"):
        print_domains(report)
    prof: dict[str, Any] | None = report.get("profile")
    if prof:
        print(f"\nprofile of the in-process path ({prof['committed']} tx, under cProfile, so slower):")
        total = prof["seconds"]
        for label, seconds in prof["phases_s"].items():
            print(f"  {label:<36} {seconds:7.2f} s  {100 * seconds / total:5.1f} %")
        print(prof["profile_top"])


def _cell(value: float | None, fmt: str, width: int) -> str:
    """``value`` formatted and right-aligned in ``width``; an em dash when there is none."""
    text = "—" if value is None else format(value, fmt.removesuffix("x")) + ("x" if fmt.endswith("x") else "")
    return f"{text:>{width}}"


def print_domains(report: dict[str, Any]) -> None:
    domains: dict[str, Any] = report["domains"]
    grants = (report.get("http") or {}).get("tx_per_s")
    base = (report.get("baseline") or {}).get("tx_per_s")
    print(
        f"\ndomain workloads on a fresh 1-validator node ({domains['clients']} clients, one workload "
        f"after the other; {domains['seconds']:.1f} s with untimed set-up)"
    )
    print(
        "same-run references: Governance grants over HTTP "
        + (f"{grants:.0f} tx/s" if grants else "not measured (--no-http)")
        + "; web3 + eth-tester grants "
        + (f"{base:.0f} tx/s" if base else "not measured (--no-baseline)")
    )
    print(
        f"  {'workload':<28} {'committed':>20} {'per s':>7} {'tx/s':>6} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'×grants':>8} {'×eth-tester':>11}"
    )
    notes: list[str] = []
    for row in domains["rows"]:
        if row["error"]:
            print(f"  {row['workload']:<28} failed: {row['error']}")
            continue
        committed = f"{row['items']}/{row['requested']} {row['unit']}"
        print(
            f"  {row['workload']:<28} {committed:>20} {row['per_s']:7.1f} {row['tx_per_s']:6.1f} "
            f"{_cell(row['latency_p50_ms'], '.0f', 7)} {_cell(row['latency_p99_ms'], '.0f', 7)} "
            f"{_cell(row['ratio_to_grants'], '.2fx', 8)} {_cell(row['ratio_to_baseline'], '.1fx', 11)}"
        )
        if row["refused"] or row["failed"]:
            notes.append(
                f"{row['workload']}: {row['refused']} refused at admission "
                f"{row['result'].get('refusals') or ''}, {row['failed']} accepted but not in effect"
            )
    print(
        "  per s = committed items / (last commit − first submit); ×grants = per s ÷ the grants' HTTP\n"
        "  tx/s above; ×eth-tester = per s ÷ eth-tester's grant tx/s, one-item-per-transaction rows only\n"
        "  (eth-tester ran grant_role, not these calls); p50/p99 = submit → commit seen"
    )
    for note in notes:
        print(f"  note — {note}")
    if domains.get("replays"):
        print_replays(domains["replays"])


def print_replays(replays: dict[str, dict[str, Any]]) -> None:
    """Each workload's blocks replayed in process on each engine (``replay.py``): py-evm, then each native
    engine's tx/s and its ratio to py-evm, then where each native engine ran the messages."""
    pyevm = replays["pyevm"]
    natives = [engine for engine in replays if engine != "pyevm"]
    print(
        "\nthe domain node's chain replayed in process (Ledger.commit_block per block: signature checks, "
        "execution, roots, SQL)"
    )
    columns = "".join(f" {engine + ' tx/s':>11} {'×':>6}" for engine in natives)
    print(
        f"  {'workload (its set-up included)':<32} {'blocks':>6} {'txs':>5} {'py-evm tx/s':>11}{columns}"
        "  messages by where they ran"
    )
    for name, base in pyevm.items():
        cells = "".join(
            f" {replays[engine][name]['tx_per_s']:>11.0f}"
            f" {ratio(replays[engine][name]['tx_per_s'], base['tx_per_s']):>5.2f}x"
            for engine in natives
        )
        where = "; ".join(f"{engine} {replays[engine][name]['counts']}" for engine in natives)
        print(f"  {name:<32} {base['blocks']:>6} {base['txs']:>5} {base['tx_per_s']:>11.0f}{cells}  {where}")
    print("  (ship's blocks hold the receipts too; commission's hold the distributor and product set-up)")


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--txs", type=int, default=2000, help="transactions per measurement (default 2000)")
    parser.add_argument("--clients", type=int, default=4, help="HTTP client threads, one org key each")
    parser.add_argument("--seconds", type=float, default=None, help="stop submitting after S seconds (HTTP)")
    parser.add_argument(
        "--per-request",
        type=int,
        default=1,
        help="transactions per HTTP request (default 1: POST /v1/transactions; more: the batch route)",
    )
    parser.add_argument(
        "--baseline-txs", type=int, default=None, help="baseline transactions (default --txs)"
    )
    parser.add_argument("--inprocess", action="store_true", help="also drive the ledger in process (no HTTP)")
    parser.add_argument("--profile", action="store_true", help="cProfile the in-process path: phases, top 15")
    parser.add_argument("--no-http", action="store_true", help="skip the node-over-HTTP measurement")
    parser.add_argument("--no-baseline", action="store_true", help="skip web3 + eth-tester")
    parser.add_argument(
        "--domains",
        action="store_true",
        help="also run the licence, authorisation and drug workloads on a fresh node (sizes below)",
    )
    sizes = DomainSizes()
    parser.add_argument(
        "--licences",
        type=int,
        default=sizes.licences,
        help=f"licence issuances (default {sizes.licences}; 0 skips)",
    )
    parser.add_argument(
        "--uses", type=int, default=sizes.uses, help=f"authorisation uses (default {sizes.uses}; 0 skips)"
    )
    parser.add_argument(
        "--codes", type=int, default=sizes.codes, help=f"codes commissioned (default {sizes.codes}; 0 skips)"
    )
    parser.add_argument(
        "--shipments",
        type=int,
        default=sizes.shipments,
        help=f"shipments, then receipts (default {sizes.shipments}; 0 skips)",
    )
    parser.add_argument(
        "--codes-per-shipment",
        type=int,
        default=sizes.codes_per_shipment,
        help=f"codes per shipment (default {sizes.codes_per_shipment})",
    )
    parser.add_argument(
        "--commission-per-request",
        type=positive_int,
        default=sizes.commission_per_request,
        help="commissioning transactions per HTTP request (default: in batch requests within the node's "
        "limits, as the SDK's Drugs.commission sends them; 1: one POST /v1/transactions each)",
    )
    parser.add_argument(
        "--licences-per-request",
        type=positive_int,
        default=sizes.licences_per_request,
        help="licence issuances per HTTP request (default 1: one POST /v1/transactions each; more: the batch "
        "route, as an agency sending a batch of issuances)",
    )
    parser.add_argument(
        "--lot-codes",
        type=int,
        default=sizes.lot_codes,
        help="codes commissioned by their root in DrugLots parts, as Drugs.commission_lot sends them "
        f"(default {sizes.lot_codes}: skipped)",
    )
    parser.add_argument(
        "--lot-materialise",
        type=int,
        default=sizes.lot_materialise,
        help="of the --lot-codes, how many to materialise afterwards, timed apart (default 0)",
    )
    parser.add_argument(
        "--engine",
        choices=sorted(ENGINES),
        default="native",
        help="the execution engine of every node the benchmark starts (default native)",
    )
    parser.add_argument(
        "--compare-engines",
        action="store_true",
        help="with --inprocess: the in-process grants on py-evm, native and evmone; with --domains: the "
        "domain node's chain replayed in process on each",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    parser.add_argument("--keep", action="store_true", help="keep the temporary networks (paths printed)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="xinlian-bench-"))
    report: dict[str, Any] = {
        "txs": args.txs,
        "clients": args.clients,
        "per_request": args.per_request,
        "cores": os.cpu_count(),
        "engine": args.engine,
    }
    try:
        if not args.no_http:
            progress(f"Xinlian over HTTP: {args.txs} tx, {args.clients} clients")
            report["http"] = asdict(
                run_http(
                    args.txs, args.clients, args.seconds, workdir, args.engine, per_request=args.per_request
                )
            )
        engines = tuple(ENGINES) if args.compare_engines else (args.engine,)  # py-evm first: the baseline
        if args.inprocess:
            runs = {}
            for engine in engines:
                progress(f"Xinlian in process on {engine}: {args.txs} tx")
                runs[engine] = asdict(run_inprocess(args.txs, workdir, profile=False, engine=engine))
            report["inprocess"] = runs[args.engine]
            if args.compare_engines:
                report["inprocess_engines"] = runs
        if args.profile:
            progress(f"Xinlian in process under cProfile: {args.txs} tx")
            report["profile"] = asdict(
                run_inprocess(args.txs, workdir, profile=True, engine=args.engine, name="profile")
            )
        if args.domains:
            progress(f"domain workloads on a fresh node, {args.clients} clients")
            domain_sizes = DomainSizes(
                args.licences,
                args.uses,
                args.codes,
                args.shipments,
                args.codes_per_shipment,
                args.commission_per_request,
                args.lot_codes,
                args.lot_materialise,
                args.licences_per_request,
            )
            replays = engines if args.compare_engines else ()
            report["domains"] = run_domains(
                domain_sizes, args.clients, workdir, args.engine, replay_engines=replays
            )
        if not args.no_baseline:
            progress(f"web3 + eth-tester: {args.baseline_txs or args.txs} tx")
            genesis = create_network(workdir / "baseline").genesis
            report["baseline"] = asdict(run_baseline(args.baseline_txs or args.txs, genesis))
        add_domain_ratios(report)
        progress("done")
    finally:
        if args.keep:
            print(f"networks kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report, args)


if __name__ == "__main__":
    main()
