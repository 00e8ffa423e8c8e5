"""Offline proof-bundle verification per second on one core, against raw SM2 verify/s in the same run.

Run: ``.venv/bin/python scripts/bench/verify.py [--seconds 3] [--url URL --network var/devnet]``.
Without ``--url`` it starts a one-validator node in a temporary folder (real SQLite, py-evm, HTTP), issues an
e-licence as the Municipal Market Regulation Bureau, and benchmarks the bundles that node serves: the licence
bundle (issuance event + current status state proof: 3 SM2 verifications) and an event-only bundle (2).
Each verification starts from the JSON document (parsing included), as a verifier receiving a file would;
the node is stopped before timing.
Target: ≥ 500 bundle verifications/s per core.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402

from scripts.bench.common import rate  # noqa: E402
from scripts.demo_common import find_network_ca, http_verify  # noqa: E402
from scripts.samples import issue_sample_licence  # noqa: E402
from sdk.client import Client  # noqa: E402
from sdk.crypto import PrivateKey  # noqa: E402
from sdk.proofs.bundle import ProofBundle  # noqa: E402
from sdk.proofs.qr import make_credential_payload  # noqa: E402
from sdk.proofs.trust import load_trust  # noqa: E402
from sdk.proofs.verify import Verifier  # noqa: E402
from sdk.signer import Signer  # noqa: E402

TARGET_PER_S = 500
ISSUER_ORG = "Municipal Market Regulation Bureau"


def issue_licence(url: str, signer: Signer, uscc: str, *, ca: str | None = None) -> str:
    """Issue one licence (defining its type once) at the node at ``url`` (an https node checked against
    ``ca``); return its identifier."""
    from sdk.domains.licences import Licences

    return issue_sample_licence(Licences(Client(url, ca=ca), signer), uscc).identifier


def issuer_of(network: Path) -> tuple[Signer, str]:
    """The licence issuer's signer and USCC from a network folder's orgs.json."""
    for entry in json.loads((network / "orgs.json").read_text(encoding="utf-8")):
        if entry["name"] == ISSUER_ORG or "ISSUER" in entry["roles"]:
            return Signer(PrivateKey.from_pem((network / entry["key"]).read_bytes())), entry["uscc"]
    raise SystemExit(f"no ISSUER organisation in {network}/orgs.json")


def fetch(url: str, network: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Issue a licence on the node at ``url`` (an https node is checked against the network's CA); return
    (trust file, licence bundle) as JSON documents."""
    signer, uscc = issuer_of(network)
    ca = find_network_ca(network)
    identifier = issue_licence(url, signer, uscc, ca=ca)
    trust = httpx.get(f"{url}/v1/proofs/trust", timeout=30, verify=http_verify(ca)).json()
    bundle = httpx.get(f"{url}/v1/proofs/licences/{identifier}", timeout=30, verify=http_verify(ca))
    return trust, bundle.json()


@contextmanager
def node_at(url: str | None, network: Path, prefix: str) -> Iterator[tuple[str, Path]]:
    """The node to measure against and its network folder: the one at ``url`` when given, else one started
    in a fresh temporary folder (``prefix``) by the integration tests' fixtures and stopped on leaving, so
    that its work does not share the measured core."""
    if url:
        yield url.rstrip("/"), network
        return
    sys.path.insert(0, str(REPO_ROOT / "tests" / "integration"))
    from node_fixtures import start_node, stop_node

    base = Path(tempfile.mkdtemp(prefix=prefix))
    running = start_node(base)
    try:
        yield running.url, base
    finally:
        stop_node(running)


def measure(trust_doc: dict[str, Any], licence_doc: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Time SM2 verify, bundle parsing and bundle verification (licence and event-only) on this core."""
    trust = load_trust(trust_doc)
    event_doc = dict(licence_doc, state=None)
    verifier = Verifier(trust=trust)
    verifier.verify_bundle(licence_doc)  # must verify before it is timed

    key = PrivateKey.generate()
    message = secrets.token_bytes(200)
    signature = key.sign(message)
    public = key.public_key
    sm2_per_s = rate(lambda: public.verify(message, signature), seconds, chunk=20)
    licence_per_s = rate(lambda: verifier.verify_bundle(licence_doc), seconds, chunk=20)
    event_per_s = rate(lambda: verifier.verify_bundle(event_doc), seconds, chunk=20)
    parse_per_s = rate(lambda: ProofBundle.from_json(licence_doc), seconds, chunk=20)

    bundle = ProofBundle.from_json(licence_doc)
    event_bundle = ProofBundle.from_json(event_doc)
    qr = make_credential_payload(bundle)
    qr_event = make_credential_payload(event_bundle)
    return {
        "sm2_verify_per_s": round(sm2_per_s),
        "licence_bundle_verify_per_s": round(licence_per_s),
        "event_bundle_verify_per_s": round(event_per_s),
        "bundle_parse_per_s": round(parse_per_s),
        "licence_bundle_vs_sm2_bound": round(licence_per_s / (sm2_per_s / 3), 3),
        "event_bundle_vs_sm2_bound": round(event_per_s / (sm2_per_s / 2), 3),
        "sizes_bytes": {
            "licence_json": len(json.dumps(licence_doc, separators=(",", ":"))),
            "licence_compact": len(bundle.to_compact()),
            "licence_deflated": len(zlib.compress(bundle.to_compact(), 9)),
            "licence_qr_text_chars": len(qr.payload),
            "licence_qr_version": qr.version,
            "event_compact": len(event_bundle.to_compact()),
            "event_deflated": len(zlib.compress(event_bundle.to_compact(), 9)),
            "event_qr_text_chars": len(qr_event.payload),
            "event_qr_version": qr_event.version,
        },
        "target_per_s": TARGET_PER_S,
        "meets_target": licence_per_s >= TARGET_PER_S,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--url", help="a running node (default: start one in a temporary folder)")
    parser.add_argument("--network", type=Path, default=Path("var/devnet"), help="network folder (orgs.json)")
    args = parser.parse_args()
    with node_at(args.url, args.network, "xl-bench-verify-") as (url, network):
        trust, licence = fetch(url, network)
    result = measure(trust, licence, args.seconds)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
