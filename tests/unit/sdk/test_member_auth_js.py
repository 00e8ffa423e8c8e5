"""The console's request signing (node/api/static/member-auth.js, run under Node.js) is the SDK's: its
preimages equal sdk.auth.compute_query_preimage, sdk.auth.verify_query accepts the headers it writes, and it
reads the key files the CLI writes (plain and encrypted PKCS#8 PEM, hex) to the same key."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sdk.auth import compute_query_preimage, verify_query
from sdk.crypto import PrivateKey
from sdk.errors import AuthenticationError

STATIC = Path(__file__).resolve().parents[3] / "node" / "api" / "static"
NODE = shutil.which("node")
RUNNER = """
const vm = require("vm"), fs = require("fs");
vm.runInThisContext(fs.readFileSync(process.argv[2] + "/sm-crypto.js", "utf8"));
vm.runInThisContext(fs.readFileSync(process.argv[2] + "/member-auth.js", "utf8"));
const X = globalThis.XinlianAuth;
const cases = JSON.parse(fs.readFileSync(0, "utf8"));
const utf8 = (s) => new TextEncoder().encode(s);
(async () => {
  const out = [];
  for (const c of cases) {
    try {
      const key = await X.loadKey(c.key, c.password);
      const r = { address: X.toHex(key.address), public_key: X.toHex(key.publicKey) };
      if (c.request) {
        const q = c.request;
        const body = utf8(q.body);
        const nonce = X.fromHex(q.nonce);
        r.preimage = X.toHex(X.queryPreimage(q.chain_id, q.audience, q.method, q.path, q.ts, nonce, body));
        const req = { chainId: q.chain_id, audience: q.audience, method: q.method, pathAndQuery: q.path };
        r.headers = X.signQuery(key, { ...req, body, timestampMs: q.ts });
      }
      out.push(r);
    } catch (e) { out.push({ error: e.kind || ("JS:" + e.stack) }); }
  }
  process.stdout.write(JSON.stringify(out));
})();
"""

if NODE is None and os.environ.get("XINLIAN_REQUIRE_BROWSER"):  # CI installs Node.js: never skip there
    raise RuntimeError("XINLIAN_REQUIRE_BROWSER is set but Node.js (node) is missing")
pytestmark = pytest.mark.skipif(NODE is None, reason="needs Node.js to run the console's signing code")


def _run(tmp_path: Path, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    script = tmp_path / "runner.js"
    script.write_text(RUNNER, encoding="utf-8")
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(script), str(STATIC)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    out: list[dict[str, Any]] = json.loads(done.stdout)
    return out


REQUESTS = [
    {"chain_id": 4242, "audience": "node-0", "method": "get", "path": "/v1/members/me", "body": ""},
    {
        "chain_id": 2**40 + 7,
        "audience": "https://节点.example:8443",
        "method": "POST",
        "path": "/v1/confirmations/as-bank?status=SENT&limit=500&cursor=1.2.%E4%BF%A1",
        "body": '{"询证函": [1, 2, 3]}',
    },
    {
        "chain_id": 1,
        "audience": "a" * 120,
        "method": "GET",
        "path": "/v1/events?address=0x12&topic0=0xab",
        "body": "",
    },
]


def test_signed_requests_verify_with_the_sdk_and_preimages_match(tmp_path: Path) -> None:
    key = PrivateKey.generate()
    pem = key.to_pem().decode()
    cases = []
    for i, request in enumerate(REQUESTS):
        q = {**request, "ts": 1_700_000_000_000 + i, "nonce": os.urandom(16).hex()}
        cases.append({"key": pem, "request": q})
    results = _run(tmp_path, cases)
    for case, result in zip(cases, results, strict=True):
        assert "error" not in result, result
        q = case["request"]
        body = q["body"].encode()
        expected = compute_query_preimage(
            q["chain_id"], q["audience"], q["method"], q["path"], q["ts"], bytes.fromhex(q["nonce"]), body
        )
        assert result["preimage"] == expected.hex()
        headers: dict[str, str] = result["headers"]
        assert len(headers["X-Xinlian-Signature"]) == 128 and len(headers["X-Xinlian-Nonce"]) == 32
        signed = verify_query(
            headers,
            chain_id=q["chain_id"],
            audience=q["audience"],
            method=q["method"],
            path_and_query=q["path"],
            body=body,
            now_ms=q["ts"],
        )
        assert signed.address == key.address and signed.public_key == key.public_key.to_bytes()
        with pytest.raises(AuthenticationError):  # the signature covers the path
            verify_query(
                headers,
                chain_id=q["chain_id"],
                audience=q["audience"],
                method=q["method"],
                path_and_query=q["path"] + "&x=1",
                body=body,
                now_ms=q["ts"],
            )
    nonces = {r["headers"]["X-Xinlian-Nonce"] for r in results}
    assert len(nonces) == len(results)  # a fresh nonce per request


def test_key_files_load_to_the_same_key(tmp_path: Path) -> None:
    key = PrivateKey.generate()
    address = key.address.hex()
    pkcs8 = serialization.PrivateFormat.PKCS8
    other_curve = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption())
        .decode()
    )
    cases: list[dict[str, Any]] = [
        {"key": key.to_pem().decode()},
        {"key": key.to_pem(b"correct horse").decode(), "password": "correct horse"},
        {"key": key.to_pem("密码-口令".encode()).decode(), "password": "密码-口令"},
        {"key": "0x" + key.to_hex()},
        {"key": key.to_hex() + "\n"},
        {"key": key.to_pem(b"correct horse").decode(), "password": "wrong horse"},
        {"key": key.to_pem(b"correct horse").decode()},
        {"key": key.public_key.to_pem().decode()},
        {"key": other_curve},
        {"key": "hello"},
        {"key": "0x" + "00" * 32},
    ]
    results = _run(tmp_path, cases)
    for result in results[:5]:
        assert result.get("address") == address, result
        assert result["public_key"] == key.public_key.to_bytes().hex()
    assert [r.get("error") for r in results[5:]] == [
        "WrongPassword",
        "PasswordNeeded",
        "PublicKeyOnly",
        "NotSm2",
        "KeyFormat",
        "KeyRange",
    ]
