"""Demo: issue an e-licence, export its bundle and QR credential, verify offline, revoke, verify again.

Run against a running devnet: ``.venv/bin/python scripts/demo_verify.py [--url https://127.0.0.1:8545]
[--network var/devnet] [--out var/demo-verify]``. The "Municipal Market Regulation Bureau" (orgs.json; holds
LICENCE_AUTHORITY and ISSUER) defines a licence type and issues a licence; the node's bundle is saved with the
chain's trust file and a QR code, checked with `xinlian verify`; the /verify link is printed for a browser.
After revocation both verifiers report REVOKED with the height of the state proof.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from demo_common import ROOT, demo_parser, find_network_ca, http_verify

sys.path.insert(0, str(ROOT / "scripts" / "bench"))

import httpx
from typer.testing import CliRunner

from sdk.cli import app as xinlian
from sdk.client import Client
from sdk.proofs.bundle import ProofBundle
from sdk.proofs.qr import make_credential_payload, render_qr


def export(url: str, ca: str | None, identifier: str, out: Path, tag: str) -> Path:
    """Save the licence's bundle and its QR credential under ``out``; return the bundle file."""
    doc = httpx.get(f"{url}/v1/proofs/licences/{identifier}", timeout=30, verify=http_verify(ca)).json()
    path = out / f"licence-{tag}.json"
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    credential = make_credential_payload(ProofBundle.from_json(doc), url)
    version = render_qr(credential.payload, out / f"licence-{tag}.png")
    print(f"  bundle {path} ({path.stat().st_size} bytes JSON, {credential.bundle_bytes} deflated)")
    print(f"  QR {out / f'licence-{tag}.png'} (version {version}, {credential.kind}); open in a browser:")
    print(f"  {credential.payload[:100]}{'…' if len(credential.payload) > 100 else ''}")
    return path


def main() -> None:
    from verify import issue_licence, issuer_of  # scripts/bench/verify.py

    parser = demo_parser(__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("var/demo-verify"))
    args = parser.parse_args()
    url = args.url.rstrip("/")
    ca = find_network_ca(args.network)
    args.out.mkdir(parents=True, exist_ok=True)
    trust = args.out / "trust.json"
    answer = httpx.get(f"{url}/v1/proofs/trust", timeout=30, verify=http_verify(ca))
    trust.write_text(json.dumps(answer.json(), indent=1))
    print(f"1. trust anchor (genesis) saved to {trust}; compare its genesis_hash with the consortium's")

    signer, uscc = issuer_of(args.network)
    identifier = issue_licence(url, signer, uscc, ca=ca)
    print(f"2. issued licence {identifier}")
    valid = export(url, ca, identifier, args.out, "valid")

    runner = CliRunner()
    result = runner.invoke(xinlian, ["verify", str(valid), "--trust", str(trust)])
    print(f"3. xinlian verify → exit {result.exit_code}\n{result.output}")

    from sdk.domains.licences import Licences

    receipt = Licences(Client(url, ca=ca), signer).revoke(identifier, "吊销：演示")
    print(f"4. revoked at height {receipt.height}")
    revoked = export(url, ca, identifier, args.out, "revoked")
    result = runner.invoke(xinlian, ["verify", str(revoked), "--trust", str(trust)])
    print(f"5. xinlian verify → exit {result.exit_code}\n{result.output}")
    print(f"   the browser page shows the same: {url}/verify#licence={identifier}")


if __name__ == "__main__":
    main()
