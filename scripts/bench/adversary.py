"""Adversarial benchmark: one member floods a devnet with max-size cheap transactions (and another can hammer
/rpc with heavy calls) while honest grants arrive; prints what the honest traffic sees and each node's RSS."""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402
from eth_abi.abi import encode as abi_encode  # noqa: E402
from eth_utils.abi import function_signature_to_4byte_selector  # noqa: E402

from node.devnet import Devnet  # noqa: E402
from node.genesis import CALENDAR_ADDRESS, GOVERNANCE_ADDRESS  # noqa: E402
from node.ledger.rules import compute_minimum_gas  # noqa: E402
from scripts.bench.common import CommitWatcher  # noqa: E402
from scripts.bench.devnet import make_network  # noqa: E402
from scripts.bench.grants import Network, make_grant  # noqa: E402
from sdk.client import Client  # noqa: E402
from sdk.crypto import PrivateKey  # noqa: E402
from sdk.signer import Signer  # noqa: E402
from sdk.types import Transaction  # noqa: E402

#: Targets of the issue this benchmark measures (honest commit p50, node memory).
P50_TARGET_S = 3.0
RSS_TARGET_MB = 1024.0
ADD_WORKING_DAYS = function_signature_to_4byte_selector("add_working_days(uint256,uint256)")


@dataclass
class FloodResult:
    """What one run measured (latencies in seconds, memory in MB)."""

    honest_offered: int
    honest_committed: int
    honest_p50_s: float
    honest_p99_s: float
    flood_offered: int
    flood_accepted: int
    flood_refusals: dict[str, int]
    rpc_batches: int
    rpc_outcomes: dict[str, int]
    peak_rss_mb: list[float]
    heights: list[int | None]
    alive: list[bool]
    agree: bool
    blocks: int
    duration_s: float
    notes: list[str] = field(default_factory=list)


def make_flood_tx(network: Network, key: PrivateKey, head: int, max_tx_bytes: int, *, cheap: bool) -> bytes:
    """A transaction of (nearly) ``max_tx_bytes``: zero calldata to Governance (no such function: it reverts
    at once). ``cheap`` declares gas 1 (below intrinsic gas); otherwise the least gas admission accepts."""
    data = bytes(max_tx_bytes - 400)
    gas = 1 if cheap else compute_minimum_gas(data) + 30_000
    tx = Transaction.create(
        key,
        chain_id=network.chain_id,
        to=GOVERNANCE_ADDRESS,
        data=secrets.token_bytes(4) + data[4:],
        gas_limit=gas,
        expiry_height=head + 900,
    )
    raw = tx.encode()
    if len(raw) > max_tx_bytes:
        raise RuntimeError(f"flood transaction is {len(raw)} bytes, over {max_tx_bytes}")
    return raw


def heavy_call_batch(size: int) -> list[dict[str, object]]:
    """A JSON-RPC batch of ``eth_call``s of Calendar.add_working_days(day, 366) (a long loop each)."""
    out: list[dict[str, object]] = []
    for i in range(size):
        data = ADD_WORKING_DAYS + abi_encode(["uint256", "uint256"], [20_000 + i, 366])
        out.append(
            {
                "jsonrpc": "2.0",
                "id": i,
                "method": "eth_call",
                "params": [{"to": "0x" + CALENDAR_ADDRESS.hex(), "data": "0x" + data.hex()}, "latest"],
            }
        )
    return out


class RssSampler:
    """Samples each node process's resident memory (Linux /proc) and keeps the peak."""

    def __init__(self, net: Devnet, interval_s: float = 0.25) -> None:
        self.net = net
        self.interval_s = interval_s
        self.peak_kb = [0] * len(net.nodes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> list[float]:
        self._stop.set()
        self._thread.join(timeout=5)
        return [kb / 1024 for kb in self.peak_kb]

    def _run(self) -> None:
        while not self._stop.is_set():
            for i, node in enumerate(self.net.nodes):
                process = node.process
                if process is not None:
                    self.peak_kb[i] = max(self.peak_kb[i], _tree_rss_kb(process.pid))
            self._stop.wait(self.interval_s)


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of ``pid`` and its child processes (a node's view workers), in KiB."""
    total = 0
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += _tree_rss_kb(int(child))
    return total


def _post_all(urls: list[str], raws: list[bytes], refusals: dict[str, int], lock: threading.Lock) -> int:
    accepted = 0
    with httpx.Client(timeout=30.0) as http:
        for i, raw in enumerate(raws):
            try:
                response = http.post(
                    f"{urls[i % len(urls)]}/v1/transactions",
                    content=raw,
                    headers={"content-type": "application/octet-stream"},
                )
            except httpx.HTTPError as exc:
                code = type(exc).__name__
            else:
                if response.status_code < 300:
                    accepted += 1
                    continue
                try:
                    code = str(response.json().get("code", response.status_code))
                except ValueError:
                    code = str(response.status_code)
            with lock:
                refusals[code] = refusals.get(code, 0) + 1
    return accepted


def run_flood_scenario(
    base: Path,
    *,
    validators: int = 4,
    flood_txs: int = 1_600,
    flood_threads: int = 8,
    cheap_share: float = 0.25,
    honest_txs: int = 400,
    honest_rate: float = 20.0,
    rpc_threads: int = 0,
    rpc_batch: int = 100,
    settle_s: float = 60.0,
) -> FloodResult:
    """Start a devnet, run the flood beside honest grants, and measure. Stops the devnet before returning.

    ``cheap_share`` of the flood declares gas 1 (refused as below intrinsic gas); the rest declares the
    least admissible gas. ``rpc_threads`` > 0 adds a second adversary posting JSON-RPC batches of
    ``rpc_batch`` heavy ``eth_call``s for as long as the honest traffic runs.
    """
    net, network = make_network(base, validators)
    net.start()
    sampler = RssSampler(net)
    sampler.start()
    try:
        urls = [n.url for n in net.nodes]
        head = net.nodes[0].height() or 0
        chain = httpx.get(f"{urls[0]}/v1/chain", timeout=10).json()["config"]
        max_tx_bytes = int(chain["max_tx_bytes"])
        honest = [
            make_grant(network, network.grantors[i % len(network.grantors)], head_height=head, index=i)
            for i in range(honest_txs)
        ]
        grantor_keys = {g.key.public_key.to_bytes() for g in network.grantors}
        directory = json.loads((base / "orgs.json").read_text(encoding="utf-8"))
        members = [PrivateKey.from_pem((base / e["key"]).read_bytes()) for e in directory]
        # The flooder is an ordinary member: an active account that grants nothing in this run.
        flooder = next((k for k in members if k.public_key.to_bytes() not in grantor_keys), members[-1])
        flood = [
            make_flood_tx(network, flooder, head, max_tx_bytes, cheap=(i % 100) < cheap_share * 100)
            for i in range(flood_txs)
        ]
        watcher = CommitWatcher(urls[0], net.nodes[0].height() or 0)
        watcher.start()
        stop_rpc = threading.Event()
        rpc_outcomes: dict[str, int] = {}
        rpc_batches = 0
        lock = threading.Lock()

        sdk_clients = [Client(url) for url in urls]

        def rpc_adversary(worker: int) -> None:
            nonlocal rpc_batches
            body = json.dumps(heavy_call_batch(rpc_batch)).encode()
            # The flooder is a member: its requests are signed (anonymous ones are refused at no cost).
            signer = Signer(flooder)
            with httpx.Client(timeout=60.0) as http:
                i = worker
                while not stop_rpc.is_set():
                    try:
                        node = sdk_clients[i % len(urls)]
                        headers = node.sign_headers(signer, "POST", "/rpc", body)
                        headers["content-type"] = "application/json"
                        response = http.post(f"{node.url}/rpc", content=body, headers=headers)
                        answers = response.json()
                        kinds = (
                            [str(a.get("error", {}).get("code", "ok")) for a in answers]
                            if isinstance(answers, list)
                            else [str(answers.get("error", {}).get("code", response.status_code))]
                        )
                    except (httpx.HTTPError, ValueError) as exc:
                        kinds = [type(exc).__name__]
                    with lock:
                        rpc_batches += 1
                        for kind in kinds:
                            rpc_outcomes[kind] = rpc_outcomes.get(kind, 0) + 1
                    i += 1

        flood_refusals: dict[str, int] = {}
        flood_accepted = [0]

        def flooder_thread(part: list[bytes]) -> None:
            got = _post_all(urls, part, flood_refusals, lock)
            with lock:
                flood_accepted[0] += got

        submitted: dict[bytes, float] = {}
        start = time.perf_counter()
        threads = [
            threading.Thread(target=flooder_thread, args=(flood[w::flood_threads],), daemon=True)
            for w in range(flood_threads)
        ]
        threads += [
            threading.Thread(target=rpc_adversary, args=(w,), daemon=True) for w in range(rpc_threads)
        ]
        for thread in threads:
            thread.start()
        with httpx.Client(timeout=30.0) as http:
            for i, tx in enumerate(honest):
                delay = start + i / honest_rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                sent = time.perf_counter()
                try:
                    response = http.post(
                        f"{urls[i % len(urls)]}/v1/transactions",
                        content=tx.encode(),
                        headers={"content-type": "application/octet-stream"},
                    )
                except httpx.HTTPError:
                    continue
                if response.status_code < 300:
                    submitted[tx.tx_hash] = sent
        deadline = time.perf_counter() + settle_s
        while time.perf_counter() < deadline and not all(h in watcher.commit_times for h in submitted):
            time.sleep(0.2)
        stop_rpc.set()
        for thread in threads:
            thread.join(timeout=120)
        watcher.stop()
        latencies = sorted(
            watcher.commit_times[h] - t for h, t in submitted.items() if h in watcher.commit_times
        )
        alive = [n.running for n in net.nodes]
        heights = net.heights()
        agree = _nodes_agree(urls, heights)
        notes = []
        if len(submitted) < honest_txs:
            notes.append(f"{honest_txs - len(submitted)} honest submissions were refused or failed")
        return FloodResult(
            honest_offered=honest_txs,
            honest_committed=len(latencies),
            honest_p50_s=statistics.median(latencies) if latencies else float("nan"),
            honest_p99_s=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
            if latencies
            else float("nan"),
            flood_offered=flood_txs,
            flood_accepted=flood_accepted[0],
            flood_refusals=flood_refusals,
            rpc_batches=rpc_batches,
            rpc_outcomes=rpc_outcomes,
            peak_rss_mb=sampler.stop(),
            heights=heights,
            alive=alive,
            agree=agree,
            blocks=watcher.blocks,
            duration_s=time.perf_counter() - start,
            notes=notes,
        )
    finally:
        sampler.stop()
        net.stop()


def _nodes_agree(urls: list[str], heights: list[int | None]) -> bool:
    """Every answering node holds the same block hash at the lowest height they all reached."""
    known = [h for h in heights if h is not None]
    if len(known) != len(urls):
        return False
    common = min(known)
    hashes = set()
    for url in urls:
        try:
            hashes.add(httpx.get(f"{url}/v1/blocks/{common}", timeout=10).json()["block_hash"])
        except (httpx.HTTPError, ValueError, KeyError):
            return False
    return len(hashes) == 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--validators", type=int, default=4)
    parser.add_argument(
        "--flood-txs", type=int, default=1_600, help="max-size transactions the flooder sends"
    )
    parser.add_argument("--flood-threads", type=int, default=8)
    parser.add_argument("--honest-txs", type=int, default=400)
    parser.add_argument("--honest-rate", type=float, default=20.0, help="honest grants per second")
    parser.add_argument("--rpc-threads", type=int, default=0, help="threads posting heavy JSON-RPC batches")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the same-run baseline (honest traffic alone)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the network folders")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="xinlian-bench-adversary-"))
    runs: dict[str, FloodResult] = {}
    try:
        common = {
            "validators": args.validators,
            "honest_txs": args.honest_txs,
            "honest_rate": args.honest_rate,
        }
        if not args.no_baseline:
            print("baseline: honest grants alone on a fresh devnet", file=sys.stderr)
            runs["baseline"] = run_flood_scenario(workdir / "baseline", flood_txs=0, rpc_threads=0, **common)
        print(
            f"attack: {args.validators} validators; flood {args.flood_txs} max-size txs from "
            f"{args.flood_threads} threads; honest {args.honest_txs} grants at {args.honest_rate:g}/s; "
            f"RPC adversary threads {args.rpc_threads}",
            file=sys.stderr,
        )
        runs["attack"] = run_flood_scenario(
            workdir / "attack",
            flood_txs=args.flood_txs,
            flood_threads=args.flood_threads,
            rpc_threads=args.rpc_threads,
            **common,
        )
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps({name: asdict(result) for name, result in runs.items()}, indent=2))
        return
    for name, result in runs.items():
        print(f"--- {name}")
        print_result(result)
    if "baseline" in runs:
        base, attack = runs["baseline"], runs["attack"]
        print(
            f"--- honest commit p50 under attack / alone: {attack.honest_p50_s:.2f} s / "
            f"{base.honest_p50_s:.2f} s (x{attack.honest_p50_s / max(base.honest_p50_s, 1e-9):.2f})"
        )


def print_result(result: FloodResult) -> None:
    ok = lambda flag: "yes" if flag else "NO"  # noqa: E731
    print(f"honest committed / offered   {result.honest_committed} / {result.honest_offered}")
    print(
        f"honest commit p50 / p99      {result.honest_p50_s:.2f} s / {result.honest_p99_s:.2f} s "
        f"(target p50 <= {P50_TARGET_S:g} s)"
    )
    if result.flood_offered:
        print(
            f"flood accepted / offered     {result.flood_accepted} / {result.flood_offered}; "
            f"refusals {result.flood_refusals}"
        )
    if result.rpc_batches:
        print(f"RPC batches sent             {result.rpc_batches}; answers by outcome {result.rpc_outcomes}")
    rss = ", ".join(f"{mb:.0f}" for mb in result.peak_rss_mb)
    print(f"peak RSS per node (MB)       {rss} (node process and its workers; target < {RSS_TARGET_MB:g})")
    print(
        f"nodes alive / agree          {ok(all(result.alive))} / {ok(result.agree)}; heights {result.heights}"
    )
    print(f"blocks during the run        {result.blocks} in {result.duration_s:.1f} s")
    for note in result.notes:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
