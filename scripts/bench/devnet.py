"""Devnet benchmark: committed tx/s and commit latency of a 4-validator devnet vs 1 validator, same code."""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402

from node.config import EXECUTION_ENGINES  # noqa: E402
from node.devnet import Devnet, init_devnet  # noqa: E402
from scripts.bench.common import CommitWatcher  # noqa: E402
from scripts.bench.grants import Network, get_free_port, load_accounts, load_grantors, make_grant  # noqa: E402
from sdk.types import Transaction  # noqa: E402

TX_PER_S_TARGET = 300.0
P50_TARGET_S = 1.5
CHAIN_ID = 6161


@dataclass
class Result:
    validators: int
    offered: int
    committed: int
    duration_s: float
    tx_per_s: float
    p50_s: float
    p99_s: float
    heights: list[int | None]
    blocks: int


def make_network(
    base: Path, validators: int, *, audit_every: int | None = None, engine: str | None = None
) -> tuple[Devnet, Network]:
    """A devnet of ``validators`` in ``base``; ``audit_every`` replaces each node's
    ``execution_audit_every`` and ``engine`` its ``execution_engine`` (None: the default)."""
    api_ports = [get_free_port() for _ in range(validators)]
    init_devnet(
        base,
        validators=validators,
        chain_id=CHAIN_ID,
        api_ports=api_ports,
        p2p_ports=[get_free_port() for _ in range(validators)],
        committee_size=1,
        log_level="warning",
    )
    overrides = {
        key: value
        for key, value in (("execution_audit_every", audit_every), ("execution_engine", engine))
        if value is not None
    }
    if overrides:
        for path in (base / "nodes").glob("node-*.json"):
            config = json.loads(path.read_text(encoding="utf-8"))
            config.update(overrides)
            path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    network = Network(
        base, base / "nodes" / "node-0.json", api_ports[0], CHAIN_ID, load_accounts(base), load_grantors(base)
    )
    return Devnet(base), network


def _submit(http: httpx.Client, url: str, txs: list[Transaction]) -> list[Transaction]:
    """POST ``txs`` (one: /v1/transactions; more: the batch route); returns the ones the node accepted."""
    if len(txs) == 1:
        response = http.post(
            f"{url}/v1/transactions",
            content=txs[0].encode(),
            headers={"content-type": "application/octet-stream"},
        )
        return txs if response.status_code == 202 else []
    response = http.post(
        f"{url}/v1/transactions/batch", json={"raws": ["0x" + tx.encode().hex() for tx in txs]}
    )
    if response.status_code != 202:
        return []
    results = response.json()["results"]
    return [tx for tx, result in zip(txs, results, strict=True) if result["status"] != "refused"]


def run(
    validators: int,
    txs: int,
    rate: float,
    clients: int,
    workdir: Path,
    *,
    per_request: int = 1,
    audit_every: int | None = None,
    engine: str | None = None,
) -> Result:
    base = workdir / f"devnet{validators}"
    net, network = make_network(base, validators, audit_every=audit_every, engine=engine)
    net.start()
    try:
        urls = [n.url for n in net.nodes]
        head = net.nodes[0].height() or 0
        signed = [
            make_grant(network, network.grantors[i % len(network.grantors)], head_height=head, index=i)
            for i in range(txs)
        ]
        for tx in signed[:5]:  # warm-up (first EVM calls, connection set-up): not measured
            httpx.post(f"{urls[0]}/v1/transactions", content=tx.encode(), timeout=10.0)
        time.sleep(3.0)
        work = signed[5:]
        submitted: dict[bytes, float] = {}
        watcher = CommitWatcher(urls[0], net.nodes[0].height() or 0)
        watcher.start()
        lock = threading.Lock()
        start = time.perf_counter()

        chunks = [work[i : i + per_request] for i in range(0, len(work), per_request)]

        def client(worker: int) -> None:
            with httpx.Client(timeout=30.0) as http:
                for c in range(worker, len(chunks), clients):
                    if rate > 0:
                        delay = start + c * per_request / rate - time.perf_counter()
                        if delay > 0:
                            time.sleep(delay)
                    url = urls[c % len(urls)]  # spread over every validator's API
                    t0 = time.perf_counter()
                    for tx in _submit(http, url, chunks[c]):
                        with lock:
                            submitted[tx.tx_hash] = t0

        threads = [threading.Thread(target=client, args=(w,), daemon=True) for w in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        deadline = time.perf_counter() + max(60.0, len(work) / 50)
        while time.perf_counter() < deadline:
            if all(h in watcher.commit_times for h in submitted):
                break
            time.sleep(0.2)
        watcher.stop()
        latencies = sorted(
            watcher.commit_times[h] - t for h, t in submitted.items() if h in watcher.commit_times
        )
        ends = [watcher.commit_times[h] for h in submitted if h in watcher.commit_times]
        duration = (max(ends) - start) if ends else float("nan")
        committed = len(latencies)
        return Result(
            validators=validators,
            offered=len(work),
            committed=committed,
            duration_s=duration,
            tx_per_s=committed / duration if ends else 0.0,
            p50_s=statistics.median(latencies) if latencies else float("nan"),
            p99_s=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
            if latencies
            else float("nan"),
            heights=net.heights(),
            blocks=watcher.blocks,
        )
    finally:
        net.stop()


def _audit_every(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes a whole number, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"takes 0 (off) or more, not {value}")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--validators", type=int, default=4)
    parser.add_argument("--txs", type=int, default=3_000, help="transactions per run")
    parser.add_argument("--rate", type=float, default=400.0, help="offered tx/s (0 = as fast as possible)")
    parser.add_argument("--clients", type=int, default=8, help="submitting threads")
    parser.add_argument(
        "--per-request",
        type=int,
        default=1,
        help="transactions per HTTP request (default 1; more: POST /v1/transactions/batch)",
    )
    parser.add_argument(
        "--audit-every",
        type=_audit_every,
        default=None,
        help="each node's execution_audit_every (default: the node's default, 16; 0 turns the audit off)",
    )
    parser.add_argument(
        "--engine",
        choices=EXECUTION_ENGINES,
        help="each node's execution_engine (default: the node's default, native)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the network folders")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="xinlian-bench-devnet-"))
    try:
        print(
            f"baseline: 1 validator, same runtime (QBFT, quorum 1), {args.txs} txs, {args.rate:g} tx/s, "
            f"{args.per_request} per request"
        )

        def measure(validators: int) -> Result:
            return run(
                validators,
                args.txs,
                args.rate,
                args.clients,
                workdir,
                per_request=args.per_request,
                audit_every=args.audit_every,
                engine=args.engine,
            )

        base = measure(1)
        print(f"devnet: {args.validators} validators (separate processes, loopback TCP, SQLite each)")
        dev = measure(args.validators)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(f"{'':>26} {'1 validator':>14} {f'{args.validators} validators':>14} {'ratio':>8}")
    for name, a, b in (
        ("committed tx/s", base.tx_per_s, dev.tx_per_s),
        ("commit latency p50 (s)", base.p50_s, dev.p50_s),
        ("commit latency p99 (s)", base.p99_s, dev.p99_s),
    ):
        print(f"{name:>26} {a:>14.2f} {b:>14.2f} {b / a if a else float('nan'):>8.2f}")
    print(
        f"{'committed / offered':>26} {base.committed:>8}/{base.offered:<5} "
        f"{dev.committed:>8}/{dev.offered:<5}"
    )
    print(f"{'blocks':>26} {base.blocks:>14} {dev.blocks:>14}")
    print()
    ok_tps = dev.tx_per_s >= TX_PER_S_TARGET
    ok_p50 = dev.p50_s <= P50_TARGET_S
    print(
        f"targets: >= {TX_PER_S_TARGET:g} tx/s: {'met' if ok_tps else 'NOT met'} ({dev.tx_per_s:.0f}); "
        f"p50 <= {P50_TARGET_S} s: {'met' if ok_p50 else 'NOT met'} ({dev.p50_s:.2f} s)"
    )
    import os

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
