"""Shared XLS1 licence statement vectors (statement_vectors.json, written by make_statement_vectors.py): the
Python verifier (sdk.proofs.statement) and the browser's (node/api/static/verify.js, under Node.js) reach the
same verdict on each case, and both reject every single-byte change of a valid statement."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sdk.encoding import encode
from sdk.errors import VerificationError
from sdk.proofs.statement import STATEMENT_TAG, verify_statement
from sdk.proofs.trust import load_trust
from sdk.types import COMMIT_TAG, TX_TAG, VALIDATORS_TAG, commit_preimage

V: dict[str, Any] = json.loads((Path(__file__).parent / "statement_vectors.json").read_text(encoding="utf-8"))
STATIC = Path(__file__).resolve().parents[2] / "node" / "api" / "static"
NODE = shutil.which("node")
RUNNER = """
const vm = require("vm"), fs = require("fs");
vm.runInThisContext(fs.readFileSync(process.argv[2] + "/sm-crypto.js", "utf8"));
vm.runInThisContext(fs.readFileSync(process.argv[2] + "/verify.js", "utf8"));
const X = globalThis.XinlianVerify;
const job = JSON.parse(fs.readFileSync(0, "utf8"));
const out = job.cases.map((c) => {
  try {
    const r = X.verifyStatement(Uint8Array.from(Buffer.from(c.payload, "hex")), c.trust, job.now_ms);
    return ["", r.stale];
  } catch (e) { return [e.kind || ("JS:" + e.stack), null]; }
});
process.stdout.write(JSON.stringify(out));
"""


def _python(payload: bytes, trust: dict[str, Any]) -> tuple[str, bool | None]:
    try:
        verified = verify_statement(payload, load_trust(trust), now_ms=V["now_ms"])
    except VerificationError as exc:
        return type(exc).__name__, None
    return "", verified.stale


def _flips() -> list[dict[str, Any]]:
    case = next(c for c in V["cases"] if c["name"] == V["flip"])
    payload = bytes.fromhex(case["payload"])
    return [
        {
            "payload": (payload[:i] + bytes([payload[i] ^ 0x01]) + payload[i + 1 :]).hex(),
            "trust": case["trust"],
        }
        for i in range(len(payload))
    ]


@pytest.mark.parametrize("case", V["cases"], ids=[c["name"] for c in V["cases"]])
def test_python_verdicts(case: dict[str, Any]) -> None:
    assert _python(bytes.fromhex(case["payload"]), case["trust"]) == (
        case["error"],
        case["stale"] if not case["error"] else None,
    )


def test_every_flipped_byte_is_rejected_in_python() -> None:
    for i, flip in enumerate(_flips()):
        error, _ = _python(bytes.fromhex(flip["payload"]), flip["trust"])
        assert error, f"byte {i} flipped still verifies"


if NODE is None and os.environ.get("XINLIAN_REQUIRE_BROWSER"):  # CI installs Node.js: never skip there
    raise RuntimeError("XINLIAN_REQUIRE_BROWSER is set but Node.js (node) is missing")


@pytest.mark.skipif(NODE is None, reason="needs Node.js to run the browser verifier")
def test_browser_verifier_agrees_on_every_case_and_flip(tmp_path: Path) -> None:
    cases = [*V["cases"], *_flips()]
    runner = tmp_path / "run.js"
    runner.write_text(RUNNER, encoding="utf-8")
    done = subprocess.run(
        [str(NODE), str(runner), str(STATIC)],
        input=json.dumps({"now_ms": V["now_ms"], "cases": cases}),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    verdicts = json.loads(done.stdout)
    named = V["cases"]
    for case, (error, stale) in zip(named, verdicts, strict=False):
        assert (error, stale) == (case["error"], case["stale"] if not case["error"] else None), case["name"]
    flipped = verdicts[len(named) :]
    assert len(flipped) == len(_flips())
    assert all(error and not error.startswith("JS:") for error, _ in flipped), [
        (i, e) for i, (e, _) in enumerate(flipped) if not e or e.startswith("JS:")
    ]


def test_statement_preimage_never_collides_with_other_signed_messages() -> None:
    """Every signed preimage is an RLP list whose first item is its own domain tag: a statement's (15 items,
    tag xinlian/licence-statement/1) can never equal a commit seal's (5 items, xinlian/commit/1) or a
    transaction's."""
    tags = {STATEMENT_TAG, COMMIT_TAG, TX_TAG, VALIDATORS_TAG}
    assert len(tags) == 4
    commit = commit_preimage(4242, 1234, 0, bytes(32))
    statement_head = encode([STATEMENT_TAG])[1:]  # the tag as the list's first item
    assert not commit[1:].startswith(statement_head) and commit[2:].find(STATEMENT_TAG) == -1
