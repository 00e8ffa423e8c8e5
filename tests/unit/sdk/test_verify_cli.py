"""`xinlian verify` and `xinlian credential qr` on bundles from a synthetic chain (see test_verify.py)."""

from __future__ import annotations

import json
import secrets
from dataclasses import replace
from pathlib import Path

import pytest
import typer
import zxingcpp
from PIL import Image
from test_verify import REVOKED, SyntheticChain, issue, licence_slot
from typer.testing import CliRunner

from sdk.cli import app as xinlian
from sdk.proofs.bundle import decode_compact
from sdk.proofs.qr import make_credential_payload
from sdk.proofs.trust import trust_to_json

runner = CliRunner()


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    return xinlian  # the real command line: its root group turns typed failures into exit statuses


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    c = SyntheticChain.start()
    height, id_hash = issue(c)
    c.add_block()
    base = tmp_path_factory.mktemp("cli")
    out = {
        "trust": base / "genesis.json",
        "bundle": base / "bundle.json",
        "revoked": base / "revoked.json",
    }
    out["trust"].write_text(json.dumps(trust_to_json(c.genesis, c.blocks[0].header)))
    out["bundle"].write_text(c.bundle(height, 2, state_height=2).dumps())
    c.add_block(storage={licence_slot(id_hash): REVOKED})
    out["revoked"].write_text(c.bundle(height, 2, state_height=3).dumps())
    return out


def test_verify_prints_the_verified_facts(app: typer.Typer, files: dict[str, Path]) -> None:
    result = runner.invoke(app, ["verify", str(files["bundle"]), "--trust", str(files["trust"])])
    assert result.exit_code == 0, result.output
    assert "VERIFIED" in result.stdout and "VALID at height 2" in result.stdout
    assert result.stderr == ""
    as_json = runner.invoke(app, ["verify", str(files["bundle"]), "--trust", str(files["trust"]), "--json"])
    state = json.loads(as_json.stdout)["facts"]["state"]
    assert len(state["code_hash"]) == 66 and state["code_hash"] in result.stdout  # the code in force


def test_verify_exits_1_with_the_diagnostic(app: typer.Typer, files: dict[str, Path], tmp_path: Path) -> None:
    result = runner.invoke(app, ["verify", str(files["revoked"]), "--trust", str(files["trust"])])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: not verified: the licence is REVOKED at height 3")
    assert "error=StatusError" in result.stderr and result.stderr.count("\n") == 1
    doc = json.loads(files["bundle"].read_text())
    doc["event"]["tx_proof"][0] = "0x" + "00" * 32
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(doc))
    result = runner.invoke(app, ["verify", str(tampered), "--trust", str(files["trust"]), "--json"])
    assert result.exit_code == 1
    verdict = json.loads(result.stdout)
    assert verdict["verified"] is False and verdict["error"] == "ProofError"
    assert verdict["code"] == "bundle_proof" and result.stderr.startswith("error: not verified: ")


def test_verify_without_trust_is_a_usage_error(app: typer.Typer, files: dict[str, Path]) -> None:
    result = runner.invoke(app, ["verify", str(files["bundle"])])
    assert result.exit_code == 2 and "no trust anchor" in result.stderr and result.stdout == ""


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_credential_qr_round_trips_through_the_verifier(
    app: typer.Typer, files: dict[str, Path], tmp_path: Path, suffix: str
) -> None:
    image = tmp_path / f"credential{suffix}"
    payload = tmp_path / "payload.txt"
    result = runner.invoke(
        app,
        [
            "credential",
            "qr",
            "--bundle",
            str(files["bundle"]),
            "--out",
            str(image),
            "--payload-out",
            str(payload),
        ],
    )
    assert result.exit_code == 0, result.output
    assert image.stat().st_size > 0 and payload.read_text().startswith("XL1:")
    if suffix == ".png":  # scan the rendered image back, as a phone would, and get the same payload
        # QR codes only: a scan for every format sometimes also finds a DataBar in the QR pattern
        scanned = zxingcpp.read_barcodes(Image.open(image), formats=zxingcpp.BarcodeFormat.QRCode)
        assert [code.text for code in scanned] == [payload.read_text().strip()]
    result = runner.invoke(
        app, ["verify", "--qr-payload", payload.read_text(), "--trust", str(files["trust"])]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["verify", str(payload), "--trust", str(files["trust"])])
    assert result.exit_code == 0, result.output


def test_link_payload_carries_the_bundle_when_it_fits_else_a_reference() -> None:
    c = SyntheticChain.start()
    height, id_hash = issue(c)
    c.add_block()
    small = c.bundle(height, 2)
    credential = make_credential_payload(small, "https://node.example")
    assert credential.kind == "bundle" and credential.payload.startswith("https://node.example/verify#b=")
    assert decode_compact(credential.payload).event == small.event
    state = c.state_proof(2, licence_slot(id_hash))
    noise = tuple(secrets.token_bytes(500) for _ in range(6))  # incompressible: too big for any QR code
    big = replace(small, state=replace(state, account_proof=state.account_proof + noise))
    credential = make_credential_payload(big, "https://node.example")
    assert credential.kind == "link"
    assert credential.payload == f"https://node.example/verify#licence=0x{id_hash.hex()}"
