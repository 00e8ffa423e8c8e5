"""The browser verifier (node/api/static/verify.js, run under Node.js) agrees with sdk.proofs.verify in
every case: valid, each tampered field, QR forms, multi-validator handovers, a missing handover, revoked,
wrong chain."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from test_verify import (
    HOLDER,
    OTHER_ORG,
    REGISTRY,
    REVOKED,
    SALT,
    TAMPERS,
    TYPE_CODE,
    SyntheticChain,
    issue,
    licence_identifier,
    licence_slot,
)

from sdk.crypto import sm3
from sdk.domains.licences.credentials import HOLDER_QR_PREFIX, HolderCredential
from sdk.errors import VerificationError
from sdk.proofs.trust import load_trust, trust_to_json
from sdk.proofs.verify import Verifier
from sdk.system import LICENCE_REGISTRY_ADDRESS

STATIC = Path(__file__).resolve().parents[3] / "node" / "api" / "static"
NODE = shutil.which("node")
#: Loads the browser verifier (the page's scripts, as the page does) into Node.js.
PRELUDE = """
const vm = require("vm"), fs = require("fs");
vm.runInThisContext(fs.readFileSync(process.argv[2] + "/sm-crypto.js", "utf8"));
vm.runInThisContext(fs.readFileSync(process.argv[2] + "/verify.js", "utf8"));
"""
RUNNER = (
    PRELUDE
    + """const X = globalThis.XinlianVerify;
const cases = JSON.parse(fs.readFileSync(0, "utf8"));
(async () => {
  const out = [];
  for (const c of cases) {
    try {
      const doc = typeof c.bundle === "string" ? await X.loadPayload(c.bundle) : c.bundle;
      X.verifyBundle(doc, c.trust);
      out.push("");
    } catch (e) { out.push(e.kind || ("JS:" + e.stack)); }
  }
  process.stdout.write(JSON.stringify(out));
})();
"""
)


def _python(bundle: Any, trust: dict[str, Any]) -> str:
    try:
        Verifier(trust=load_trust(trust)).verify_bundle(bundle)
    except VerificationError as exc:
        return type(exc).__name__
    return ""


if NODE is None and os.environ.get("XINLIAN_REQUIRE_BROWSER"):  # CI installs Node.js: never skip there
    raise RuntimeError("XINLIAN_REQUIRE_BROWSER is set but Node.js (node) is missing")


@pytest.mark.skipif(NODE is None, reason="needs Node.js to run the browser verifier")
def test_browser_verifier_agrees_with_python_verifier(tmp_path: Path) -> None:
    c = SyntheticChain.start()
    height, id_hash = issue(c)
    c.add_block()
    trust = trust_to_json(c.genesis, c.blocks[0].header)
    doc = c.bundle(height, 2, state_height=2).to_json()
    cases: list[dict[str, Any]] = []
    for name, tamper, _ in [("valid", lambda d: None, None), *TAMPERS]:
        d = copy.deepcopy(doc)
        tamper(d)
        cases.append({"name": name, "bundle": d, "trust": trust})
    b = c.bundle(height, 2, state_height=2)
    cases.append({"name": "qr", "bundle": b.to_qr_text(), "trust": trust})
    cases.append({"name": "link", "bundle": "https://x/verify#b=" + b.to_link_fragment(), "trust": trust})
    rot = SyntheticChain.start(1)
    issue(rot, 0)
    rot.add_block(next_validators=rot.new_keys(4))
    h3, _ = issue(rot, 1)
    rot.add_block(next_validators=rot.new_keys(3))
    h5, _ = issue(rot, 2)
    rot.add_block()
    rot_trust = trust_to_json(rot.genesis, rot.blocks[0].header)
    missing = replace(rot.bundle(h5, 2), handovers=rot.bundle(h5, 2).handovers[:1])
    for name, bundle in (
        ("rot5", rot.bundle(h5, 2, state_height=6)),
        ("rot3", rot.bundle(h3, 1)),
        ("missing", missing),
    ):
        cases.append({"name": name, "bundle": bundle.to_json(), "trust": rot_trust})
    c.add_block(storage={licence_slot(id_hash): REVOKED})
    revoked = c.bundle(height, 2, state_height=3).to_json()
    cases.append({"name": "revoked", "bundle": revoked, "trust": trust})
    cases.append({"name": "wrong-chain", "bundle": revoked, "trust": rot_trust})

    cases.extend(_identifier_cases())

    runner = tmp_path / "run.js"  # a file, not -e: there `module` is global and the UMD build would hide
    runner.write_text(RUNNER, encoding="utf-8")
    done = subprocess.run(
        [str(NODE), str(runner), str(STATIC)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    browser = json.loads(done.stdout)
    python = [_python(case["bundle"], case["trust"]) for case in cases]
    assert dict(zip([c["name"] for c in cases], browser, strict=True)) == dict(
        zip([c["name"] for c in cases], python, strict=True)
    )
    verdicts = dict(zip([c["name"] for c in cases], python, strict=True))
    assert verdicts["valid"] == "" and verdicts["revoked"] == "StatusError"
    assert verdicts["wrong-chain"] == "ChainError" and verdicts["missing"] == "ChainError"
    assert verdicts["rot5"] == "" and verdicts["rot3"] == ""
    assert verdicts["id-valid"] == "" and verdicts["id-renew"] == ""
    refused = [n for n in verdicts if n.startswith("id-") and n not in ("id-valid", "id-renew")]
    assert refused and all(verdicts[n] == "LicenceIdentifierError" for n in refused)


def _identifier_cases() -> list[dict[str, Any]]:
    """Bundles whose issuing call names an identifier of another issuer, another type or a region code, is not
    an issuance at all, or carries an identifier other than the one the licence was issued under."""
    identifier = licence_identifier()
    variants: list[tuple[str, dict[str, Any]]] = [
        ("id-valid", {}),
        ("id-other-issuer", {"identifier": licence_identifier(issuer=OTHER_ORG)}),
        ("id-other-type", {"identifier": licence_identifier(type_code=OTHER_ORG + "001")}),
        ("id-region", {"identifier": licence_identifier(issuer="110101")}),
        ("id-not-issuance", {"call_data": b"\x01\x02" + bytes(32)}),
        (
            "id-other-identifier",
            {
                "call_data": REGISTRY.encode_call(
                    "issue", [licence_identifier(), HOLDER, bytes(32), bytes(32), 0, 0, "1"]
                )
            },
        ),
        (
            "id-renew",
            {
                "identifier": identifier,
                "call_data": REGISTRY.encode_call("renew", [bytes([7]) * 32, identifier, bytes(32), 0, 0]),
            },
        ),
    ]
    cases = []
    for name, licence in variants:
        chain = SyntheticChain.start()
        height, _ = issue(chain, 0, **licence)
        chain.add_block()
        trust = trust_to_json(chain.genesis, chain.blocks[0].header)
        cases.append(
            {
                "name": name,
                "bundle": chain.bundle(height, 0, state_height=height + 1).to_json(),
                "trust": trust,
            }
        )
    return cases


HOLDER_RUNNER = (
    PRELUDE
    + """const X = globalThis.XinlianVerify;
const input = JSON.parse(fs.readFileSync(0, "utf8"));
(async () => {
  const licence = X.verifyBundle(input.bundle, input.trust).licence;
  const out = {};
  for (const [name, text] of Object.entries(input.holders)) {
    try {
      const r = await X.checkHolder(licence, X.parseHolderOpening(text));
      out[name] = r.match ? "match:" + r.codeType + ":" + r.code : "no-match";
    } catch (e) { out[name] = e.kind || ("JS:" + e.stack); }
  }
  process.stdout.write(JSON.stringify(out));
})();
"""
)


def _holder_credential(id_hash: bytes, identifier: str, **changes: Any) -> HolderCredential:
    fields: dict[str, Any] = {
        "licence_name": "食品经营许可证",
        "type_code": TYPE_CODE,
        "identifier": identifier,
        "issuer_code": "91110000MA01ABCDE0",
        "issue_date": "2024-01-01",
        "valid_from": "2024-01-01T00:00:00+08:00",
        "valid_until": "长期",
        "jurisdiction": "110105",
        "holder_name": "张三",
        "holder_code": "11010519491231002X",
        "holder_code_type": "111",
        "holder_salt": SALT,
        "document_hash": bytes(32),
        "chain_id": 4242,
        "registry": LICENCE_REGISTRY_ADDRESS,
        "id_hash": id_hash,
        "holder_commitment": HOLDER,
        "holder_key_hash": bytes(32),
    }
    fields.update(changes)
    return HolderCredential(**fields)


@pytest.mark.skipif(NODE is None, reason="needs Node.js to run the browser verifier")
def test_browser_holder_check_reads_file_qr_and_link_without_typed_hex(tmp_path: Path) -> None:
    """The page's holder check opens the verified licence's holder commitment from what the holder shows:
    her credential file, her XLH1: QR text or a /verify link's h=; another code does not match, another
    licence's credential is a HolderError, and garbage a FormatError. No key is in any of them."""
    c = SyntheticChain.start()
    identifier = licence_identifier()
    height, id_hash = issue(c, identifier=identifier)
    c.add_block()
    trust = trust_to_json(c.genesis, c.blocks[0].header)
    good = _holder_credential(id_hash, identifier)
    wrong_code = _holder_credential(id_hash, identifier, holder_code="110105194912310021")
    other = licence_identifier()
    other_licence = _holder_credential(sm3(other.encode()), other)
    assert good.holder_qr_text().startswith(HOLDER_QR_PREFIX)
    opening = good.holder_opening()
    assert SALT in opening and b"11010519491231002X" in opening and len(opening) < 100
    holders = {
        "file": good.to_json(),
        "qr": good.holder_qr_text(),
        "link": good.verify_link("https://node.example/"),
        "wrong-code-file": wrong_code.to_json(),
        "wrong-code-qr": wrong_code.holder_qr_text(),
        "other-licence": other_licence.holder_qr_text(),
        "not-a-credential": '{"format": "xinlian/proof-bundle"}',
        "truncated-qr": good.holder_qr_text()[:-6],
        "link-without-h": f"https://node.example/verify#licence=0x{id_hash.hex()}",
    }
    runner = tmp_path / "holder.js"
    runner.write_text(HOLDER_RUNNER, encoding="utf-8")
    done = subprocess.run(
        [str(NODE), str(runner), str(STATIC)],
        input=json.dumps(
            {"bundle": c.bundle(height, 2, state_height=2).to_json(), "trust": trust, "holders": holders}
        ),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert json.loads(done.stdout) == {
        "file": "match:111:11010519491231002X",
        "qr": "match:111:11010519491231002X",
        "link": "match:111:11010519491231002X",
        "wrong-code-file": "no-match",
        "wrong-code-qr": "no-match",
        "other-licence": "HolderError",
        "not-a-credential": "FormatError",
        "truncated-qr": "FormatError",
        "link-without-h": "FormatError",
    }


CODE_RUNNER = (
    PRELUDE
    + """const c = JSON.parse(fs.readFileSync(0, "utf8"));
process.stdout.write(globalThis.XinlianVerify.verifyBundle(c.bundle, c.trust).state.codeHash);
"""
)


@pytest.mark.skipif(NODE is None, reason="needs Node.js to run the browser verifier")
def test_browser_verifier_reports_the_code_hash_python_reports(tmp_path: Path) -> None:
    """A state proof proves the contract's account, code hash included: which code was in force."""
    c = SyntheticChain.start()
    height, _ = issue(c)
    c.add_block()
    trust = trust_to_json(c.genesis, c.blocks[0].header)
    bundle = c.bundle(height, 2, state_height=2).to_json()
    state = Verifier(trust=load_trust(trust)).verify_bundle(bundle).state
    assert state is not None and len(state.code_hash) == 32
    runner = tmp_path / "code.js"
    runner.write_text(CODE_RUNNER, encoding="utf-8")
    done = subprocess.run(
        [str(NODE), str(runner), str(STATIC)],
        input=json.dumps({"bundle": bundle, "trust": trust}),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.removeprefix("0x") == state.code_hash.hex()
