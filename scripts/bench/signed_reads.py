"""Member reads: what authenticating a member costs a node per request, against the same request sent
anonymously in the same run, for both schemes of sdk.auth: an SM2 signature per request, and a session (one
signed request opens it; each request then carries an HMAC-SM3).

A one-validator node runs as a child process (`xinlian node run`) serving https with a local CA, as a
deployed node does. The cost arms send a public JSON-RPC read (`eth_getBlockByNumber("latest", false)`), so
the same bytes go anonymously (the baseline), SM2-signed, and within a session: the difference is the
authentication alone. Headers are made before each round's clock starts, so the figures are the node's
cost; the client's rates are printed apart. Rounds alternate the arms and keep each arm's best, because the
machine is shared. The business arms time a member's `GET /v1/logs` (one page of 100 Governance logs of
a chain that holds `--grants` role grants) in a session and SM2-signed, and give the authentication's
per-request cost as a share of that read (anonymous callers may not read logs, so that arm has no
anonymous twin).

    python scripts/bench/signed_reads.py [--requests 1000] [--rounds 3] [--grants 300] [--json]
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402

from scripts.bench.node import BenchNetwork, create_network, sign_grants  # noqa: E402
from scripts.bench.node_process import NodeProcess  # noqa: E402
from sdk.client import Client  # noqa: E402
from sdk.crypto import PrivateKey  # noqa: E402
from sdk.signer import Signer  # noqa: E402
from sdk.system import GOVERNANCE_ADDRESS  # noqa: E402

BODY = json.dumps(
    {"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber", "params": ["latest", False]}
).encode()
JSON = {"content-type": "application/json"}


def logs_path() -> str:
    return "/v1/logs?address=0x" + GOVERNANCE_ADDRESS.hex() + "&limit=100"


def requests_per_second(
    http: httpx.Client, headers: list[dict[str, str]], *, body: bytes | None = BODY, path: str = "/rpc"
) -> float:
    start = time.perf_counter()
    for h in headers:
        if body is None:
            response = http.get(path, headers=h)
            ok = response.status_code == 200 and len(response.json()["logs"]) > 0
        else:
            response = http.post(path, content=body, headers=h)
            ok = response.status_code == 200 and "result" in response.json()
        if not ok:
            raise RuntimeError(f"the node refused a benchmark request: {response.text[:300]}")
    return len(headers) / (time.perf_counter() - start)


def seed_logs(net: BenchNetwork, client: Client, grants: int) -> None:
    """Commit ``grants`` Governance role grants, so /v1/logs has pages of real logs to read."""
    height = client.chain_info().height
    raws = sign_grants(net, net.grantors[0], grants, height + net.genesis.chain.expiry_window - 50)
    hashes = [client.submit_raw(raw) for raw in raws]
    client.as_member(Signer(net.grantors[0].key)).wait(hashes[-1], timeout=120)  # its sender reads it


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=1000, help="requests per arm and round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds, best kept (default 3)")
    parser.add_argument("--grants", type=int, default=300, help="role grants committed before the log arms")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    best: dict[str, float] = {}
    signing_s = mac_s = 0.0

    def keep(arm: str, rate: float) -> None:
        best[arm] = max(best.get(arm, 0.0), rate)

    with tempfile.TemporaryDirectory(prefix="xinlian-signed-reads-") as tmp:
        net = create_network(Path(tmp), tls=True)
        directory = json.loads((net.base / "orgs.json").read_text(encoding="utf-8"))
        member = Signer(PrivateKey.from_pem((net.base / directory[0]["key"]).read_bytes()))
        node = NodeProcess(net)
        node.start()
        try:
            node.wait_healthy(timeout_s=120)
            verify = ssl.create_default_context(cafile=str(net.ca))
            signing = Client(net.url, ca=net.ca, sessions=False)  # an SM2 signature per request
            session = Client(net.url, ca=net.ca)  # one session, an HMAC-SM3 per request
            seed_logs(net, signing, args.grants)
            logs = logs_path()
            with httpx.Client(base_url=net.url, timeout=30.0, verify=verify) as http:
                requests_per_second(http, [JSON] * 50)  # warm up connections and caches
                for _ in range(args.rounds):
                    # Made just before the round (a request is fresh for 30 s), not timed.
                    t = time.perf_counter()
                    signed = [
                        signing.sign_headers(member, "POST", "/rpc", BODY) | JSON
                        for _ in range(args.requests)
                    ]
                    signed_logs = [
                        signing.sign_headers(member, "GET", logs, b"") for _ in range(args.requests)
                    ]
                    signing_s += time.perf_counter() - t
                    t = time.perf_counter()
                    macs = [
                        session.sign_headers(member, "POST", "/rpc", BODY) | JSON
                        for _ in range(args.requests)
                    ]
                    mac_logs = [session.sign_headers(member, "GET", logs, b"") for _ in range(args.requests)]
                    mac_s += time.perf_counter() - t
                    keep("anonymous", requests_per_second(http, [JSON] * args.requests))
                    keep("signed", requests_per_second(http, signed))
                    keep("session", requests_per_second(http, macs))
                    keep("signed_logs", requests_per_second(http, signed_logs, body=None, path=logs))
                    keep("session_logs", requests_per_second(http, mac_logs, body=None, path=logs))
            signing.close()
            session.close()
        finally:
            node.terminate()
    made = 2 * args.rounds * args.requests
    report: dict[str, float | int] = {f"{arm}_rps": round(rate, 1) for arm, rate in best.items()}
    for scheme in ("signed", "session"):
        added_ms = (1 / best[scheme] - 1 / best["anonymous"]) * 1000
        logs_ms = 1000 / best[f"{scheme}_logs"]
        report[f"{scheme}_overhead_ms"] = round(added_ms, 3)
        report[f"{scheme}_overhead_percent_of_cheap_read"] = round(
            added_ms / (1000 / best["anonymous"]) * 100, 1
        )
        # The same per-request cost against the /v1/logs read it authenticates: its share of that read.
        report[f"{scheme}_overhead_percent_of_logs"] = round(added_ms / (logs_ms - added_ms) * 100, 1)
    report |= {
        "client_signatures_per_s": round(made / signing_s, 1),
        "client_macs_per_s": round(made / mac_s, 1),
        "requests": args.requests,
        "rounds": args.rounds,
        "grants": args.grants,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"anonymous          {best['anonymous']:8.1f} req/s  (eth_getBlockByNumber, baseline, same run)")
    for scheme in ("signed", "session"):
        print(
            f"{scheme:<18} {best[scheme]:8.1f} req/s  "
            f"(+{report[f'{scheme}_overhead_ms']:.3f} ms per request: "
            f"{report[f'{scheme}_overhead_percent_of_cheap_read']:+.1f}% of that read)"
        )
    for scheme in ("signed", "session"):
        print(
            f"{scheme + ' /v1/logs':<18} {best[scheme + '_logs']:8.1f} req/s  (authentication: "
            f"{report[f'{scheme}_overhead_percent_of_logs']:.1f}% of it, target <= 20%)"
        )
    print(
        f"client: {report['client_signatures_per_s']:.0f} signatures/s, "
        f"{report['client_macs_per_s']:.0f} MACs/s "
        "(not in the figures above)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
