"""Signed reads: what member authentication (sdk.auth) costs a node per request, against the same request
sent anonymously in the same run.

A one-validator node runs as a child process (`xinlian node run`). The request is a public JSON-RPC read
(`eth_getBlockByNumber("latest", false)`), so the same bytes can be sent both ways: anonymously (the
baseline) and signed by a member account (audience, fresh nonce, SM2 signature; the node verifies the
signature, checks membership and the replay cache). Requests are signed before each round's clock starts: the
figures are the node's cost; the client's signing rate is printed apart. Rounds alternate the two arms and
keep each arm's best, because the machine is shared. A third arm times a member's signed `eth_getLogs`
over the whole chain, to put the authentication cost against a business read (anonymous callers may not
read logs, so that arm has no anonymous twin).

    python scripts/bench/signed_reads.py [--requests 1000] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402

from scripts.bench.node import create_network  # noqa: E402
from scripts.bench.node_process import NodeProcess  # noqa: E402
from sdk.client import Client  # noqa: E402
from sdk.crypto import PrivateKey  # noqa: E402
from sdk.signer import Signer  # noqa: E402

BODY = json.dumps(
    {"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber", "params": ["latest", False]}
).encode()
LOGS_BODY = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "eth_getLogs",
        "params": [{"fromBlock": "0x0", "toBlock": "latest"}],
    }
).encode()
JSON = {"content-type": "application/json"}


def requests_per_second(http: httpx.Client, headers: list[dict[str, str]], body: bytes = BODY) -> float:
    start = time.perf_counter()
    for h in headers:
        response = http.post("/rpc", content=body, headers=h)
        if response.status_code != 200 or "result" not in response.json():
            raise RuntimeError(f"the node refused a benchmark request: {response.text[:300]}")
    return len(headers) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=1000, help="requests per arm and round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds, best kept (default 3)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xinlian-signed-reads-") as tmp:
        net = create_network(Path(tmp))
        directory = json.loads((net.base / "orgs.json").read_text(encoding="utf-8"))
        member = Signer(PrivateKey.from_pem((net.base / directory[0]["key"]).read_bytes()))
        node = NodeProcess(net)
        node.start()
        try:
            node.wait_healthy(timeout_s=120)
            client = Client(net.url)
            anonymous = signed = logs = 0.0
            signing_s = 0.0
            with httpx.Client(base_url=net.url, timeout=30.0) as http:
                requests_per_second(http, [JSON] * 50)  # warm up connections and caches
                for _ in range(args.rounds):
                    # Signed just before the round (a signature is fresh for 30 s), not timed.
                    sign_start = time.perf_counter()
                    headers = [
                        client.sign_headers(member, "POST", "/rpc", BODY) | JSON for _ in range(args.requests)
                    ]
                    signing_s += time.perf_counter() - sign_start
                    anonymous = max(anonymous, requests_per_second(http, [JSON] * args.requests))
                    signed = max(signed, requests_per_second(http, headers))
                    # A member's business read (all logs of the chain), for the overhead's share of it.
                    logs_headers = [
                        client.sign_headers(member, "POST", "/rpc", LOGS_BODY) | JSON
                        for _ in range(args.requests)
                    ]
                    logs = max(logs, requests_per_second(http, logs_headers, LOGS_BODY))
            signing_rate = args.rounds * args.requests / signing_s
        finally:
            node.terminate()
    overhead = (anonymous / signed - 1) * 100 if signed else float("nan")
    added_ms = (1 / signed - 1 / anonymous) * 1000
    # The same per-request cost against a signed eth_getLogs: its share of a business read.
    logs_share = added_ms / (1000 / logs - added_ms) * 100 if logs else float("nan")
    report = {
        "anonymous_rps": round(anonymous, 1),
        "signed_rps": round(signed, 1),
        "overhead_per_request_ms": round(added_ms, 3),
        "overhead_percent": round(overhead, 1),
        "signed_get_logs_rps": round(logs, 1),
        "overhead_percent_of_get_logs": round(logs_share, 1),
        "client_signing_rps": round(signing_rate, 1),
        "requests": args.requests,
        "rounds": args.rounds,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"anonymous   {anonymous:8.1f} req/s  (baseline, same run)")
        print(f"signed      {signed:8.1f} req/s  ({overhead:+.1f}% time per request: {added_ms:.2f} ms)")
        print(f"signed eth_getLogs {logs:8.1f} req/s  (auth: {logs_share:.1f}% of it, target <= 20%)")
        print(f"client signing {signing_rate:8.1f} signatures/s (not in the figures above)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
