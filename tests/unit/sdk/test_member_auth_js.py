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
from sdk.types import Transaction

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


TX_RUNNER = """
const vm = require("vm"), fs = require("fs");
vm.runInThisContext(fs.readFileSync(process.argv[2] + "/sm-crypto.js", "utf8"));
vm.runInThisContext(fs.readFileSync(process.argv[2] + "/member-auth.js", "utf8"));
const X = globalThis.XinlianAuth;
const c = JSON.parse(fs.readFileSync(0, "utf8"));
(async () => {
  const key = await X.loadKey(c.key);
  const out = c.txs.map((t) => {
    const tx = X.signTransaction(key, { chainId: t.chain_id, to: X.fromHex(t.to), data: X.fromHex(t.data),
      gasLimit: t.gas_limit, expiryHeight: t.expiry_height,
      nonce: t.nonce ? X.fromHex(t.nonce) : undefined });
    return { raw: X.toHex(tx.raw), hash: X.toHex(tx.hash) };
  });
  process.stdout.write(JSON.stringify(out));
})();
"""


def test_transactions_decode_and_verify_as_sdk_transactions(tmp_path: Path) -> None:
    key = PrivateKey.generate()
    txs: list[dict[str, Any]] = [
        {
            "chain_id": 4242,
            "to": "11" * 20,
            "data": "0121" + "00" * 35 + "07",
            "gas_limit": 2_000_000,
            "expiry_height": 1_000_123,
        },
        {
            "chain_id": 2**40,
            "to": "00" * 20,
            "data": "",
            "gas_limit": 0,
            "expiry_height": 0,
            "nonce": "ab" * 16,
        },
        {"chain_id": 1, "to": "ff" * 20, "data": "ee" * 3000, "gas_limit": 2**53 - 1, "expiry_height": 5},
    ]
    script = tmp_path / "tx.js"
    script.write_text(TX_RUNNER, encoding="utf-8")
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(script), str(STATIC)],
        input=json.dumps({"key": key.to_pem().decode(), "txs": txs}),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    for t, out in zip(txs, json.loads(done.stdout), strict=True):
        tx = Transaction.decode(bytes.fromhex(out["raw"]))
        tx.verify_signature()
        assert tx.encode().hex() == out["raw"]  # canonical
        assert tx.tx_hash.hex() == out["hash"]
        assert (tx.chain_id, tx.to.hex(), tx.data.hex(), tx.gas_limit, tx.expiry_height) == (
            t["chain_id"],
            t["to"],
            t["data"],
            t["gas_limit"],
            t["expiry_height"],
        )
        assert tx.sender == key.address and len(tx.nonce) == 16
        if "nonce" in t:
            assert tx.nonce.hex() == t["nonce"]


VERIFY_RUNNER = """
const vm = require("vm"), fs = require("fs");
vm.runInThisContext(fs.readFileSync(process.argv[2] + "/sm-crypto.js", "utf8"));
vm.runInThisContext(fs.readFileSync(process.argv[2] + "/member-auth.js", "utf8"));
const X = globalThis.XinlianAuth;
const cases = JSON.parse(fs.readFileSync(0, "utf8"));
const check = (c) => X.verify(X.fromHex(c.key), X.fromHex(c.message), X.fromHex(c.sig));
process.stdout.write(JSON.stringify(cases.map(check)));
"""


def test_the_signature_check_agrees_with_the_sdk(tmp_path: Path) -> None:
    """The self-check signing relies on (its own curve arithmetic) accepts the SDK's signatures and refuses
    a changed message, signature or key, a key off the curve, and r or s out of range."""
    key = PrivateKey.generate()
    public = key.public_key.to_bytes()
    message = "询证函 letter".encode()
    signature = key.sign(message)
    n = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
    off_curve = public[:32] + bytes([public[32] ^ 1]) + public[33:]
    cases = [
        (public, message, signature, True),
        (public, message + b"!", signature, False),
        (public, message, signature[:63] + bytes([signature[63] ^ 1]), False),
        (PrivateKey.generate().public_key.to_bytes(), message, signature, False),
        (off_curve, message, signature, False),
        (public, message, n.to_bytes(32, "big") + signature[32:], False),
        (public, message, signature[:32] + bytes(32), False),
    ]
    cases += [(public, m, key.sign(m), True) for m in (b"", bytes(range(256)) * 3)]
    script = tmp_path / "verify.js"
    script.write_text(VERIFY_RUNNER, encoding="utf-8")
    assert NODE is not None
    payload = [{"key": k.hex(), "message": m.hex(), "sig": s.hex()} for k, m, s, _ in cases]
    done = subprocess.run(
        [NODE, str(script), str(STATIC)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(done.stdout) == [expected for *_, expected in cases]
