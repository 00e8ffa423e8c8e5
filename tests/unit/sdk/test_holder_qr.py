"""The holder QR (`HolderCredential.holder_qr_text` / `verify_link`, `xinlian credential holder-qr`): what the
/verify page scans for its holder check — the commitment's opening, never a key; the CLI never prints it."""

from __future__ import annotations

import json
from pathlib import Path

from test_verify import OTHER_ORG, TYPE_CODE, licence_identifier
from typer.testing import CliRunner

from sdk.cli import app
from sdk.crypto import sm3
from sdk.domains.licences import compute_holder_commitment, new_holder_salt
from sdk.domains.licences.credentials import HOLDER_QR_PREFIX, HolderCredential
from sdk.encoding import decode, decode_fields, decode_string
from sdk.proofs.base45 import b45decode
from sdk.system import LICENCE_REGISTRY_ADDRESS

CODE = "11010519491231002X"


def _credential() -> HolderCredential:
    identifier = licence_identifier(issuer=OTHER_ORG)  # a valid USCC: the file is checked when read
    salt = new_holder_salt()
    return HolderCredential(
        licence_name="食品经营许可证",
        type_code=TYPE_CODE,
        identifier=identifier,
        issuer_code=OTHER_ORG,
        issue_date="2024-01-01",
        valid_from="2024-01-01T00:00:00+08:00",
        valid_until="长期",
        jurisdiction="110105",
        holder_name="张三",
        holder_code=CODE,
        holder_code_type="111",
        holder_salt=salt,
        document_hash=bytes(32),
        chain_id=4242,
        registry=LICENCE_REGISTRY_ADDRESS,
        id_hash=sm3(identifier.encode()),
        holder_commitment=compute_holder_commitment(salt, "111", CODE),
        holder_key_hash=bytes(32),
    )


def test_holder_qr_carries_the_opening_and_nothing_else() -> None:
    credential = _credential()
    text = credential.holder_qr_text()
    assert text.startswith(HOLDER_QR_PREFIX) and len(text) < 160
    fields = decode_fields(decode(b45decode(text.removeprefix(HOLDER_QR_PREFIX))), "holder opening", 5)
    version, id_hash, salt, code_type, code = (decode_string(f, "field") for f in fields)
    assert (version, id_hash, salt, code_type, code) == (
        b"\x01",
        credential.id_hash,
        credential.holder_salt,
        b"111",
        CODE.encode(),
    )
    assert compute_holder_commitment(salt, code_type.decode(), code.decode()) == credential.holder_commitment
    link = credential.verify_link("https://node.example/")
    assert link.startswith(f"https://node.example/verify#licence=0x{credential.id_hash.hex()}&h=")


def test_cli_renders_the_holder_qr_without_printing_it(tmp_path: Path) -> None:
    credential = _credential()
    source = tmp_path / "credential.json"
    source.write_text(credential.to_json(), encoding="utf-8")
    runner = CliRunner()
    for extra, kind in (([], "holder"), (["--base-url", "https://node.example"], "link")):
        out = tmp_path / f"{kind}.svg"
        argv = ["credential", "holder-qr", "--credential", str(source), "--out", str(out), *extra, "--json"]
        result = runner.invoke(app, argv)
        assert result.exit_code == 0, result.output
        body = json.loads(result.stdout)
        assert body["kind"] == kind and body["out"] == str(out) and 1 <= body["qr_version"] <= 15
        assert out.read_text().startswith("<?xml")
        assert CODE not in result.stdout and credential.holder_salt.hex() not in result.stdout
    broken = json.loads(credential.to_json())
    broken["持证主体代码"] = "110105194912310021"  # no longer opens the commitment
    source.write_text(json.dumps(broken, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(app, ["credential", "holder-qr", "--credential", str(source), "--out", str(out)])
    assert result.exit_code == 3, result.output  # unreadable input
