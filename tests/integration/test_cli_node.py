"""The `xinlian` commands that ask a node, against a real one (SQLite, SM2, HTTP): `licence status`, `drug
check` and `verify` of a node's URL — their verdicts, exit statuses, --json keys and the node's own errors."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from scripts.samples import issue_sample_licence
from sdk.cli import app
from sdk.client import Client
from sdk.domains.drugs import Drugs, KeyScheme
from sdk.domains.licences import Licences
from sdk.exit_codes import ExitCode

if TYPE_CHECKING:
    from node_fixtures import RunningNode

pytest_plugins = ["node_fixtures"]

runner = CliRunner()
ISO_SHANGHAI = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?\+08:00"
PRODUCT_KEY = "8691234"
LICENCE_KEYS = [
    "identifier",
    "id_hash",
    "status",
    "status_code",
    "type_id",
    "type_code",
    "type_name",
    "issuer",
    "issuer_org",
    "holder_commitment",
    "document_hash",
    "valid_from",
    "valid_until",
    "jurisdiction",
    "issued_height",
    "previous",
    "next",
    "annotations",
    "uses",
    "height",
    "read_at",
]
DRUG_KEYS = [
    "ok",
    "problems",
    "code",
    "authentic",
    "reason",
    "product_id",
    "product",
    "batch_no",
    "production_date",
    "expiry_date",
    "level",
    "status",
    "recalled",
    "frozen",
    "expired",
    "trail",
]


def code(n: int) -> str:
    return f"{PRODUCT_KEY}{n:013d}"


@dataclass(frozen=True)
class World:
    url: str
    valid: str  # a VALID licence's identifier
    valid_hash: str
    revoked: str  # a revoked licence's identifier
    commissioned: str  # a commissioned drug code


@pytest.fixture(scope="module")
def world(running_node: RunningNode) -> World:
    url = running_node.url
    with Client(url) as client:
        issuer = running_node.member_with("ISSUER")
        licences = Licences(client, issuer.signer)
        valid = issue_sample_licence(licences, issuer.uscc)
        revoked = issue_sample_licence(licences, issuer.uscc)
        licences.revoke(revoked.identifier, "吊销：测试")
        mah = running_node.member_with("MAH")
        regulator = Drugs(client, running_node.member_with("DRUG_REGULATOR").signer)
        regulator.assign_key_prefix(KeyScheme.NMPA, "869123", mah.uscc, "code issuer's assignment")
        drugs = Drugs(client, mah.signer)
        drugs.register_product(PRODUCT_KEY, "Amoxicillin Capsules 0.25 g x 24", "国药准字H33020001")
        drugs.commission([code(1)], "B2025001", dt.date(2025, 3, 1), dt.date(2099, 2, 28))
    return World(url, valid.identifier, "0x" + valid.id_hash.hex(), revoked.identifier, code(1))


def run(argv: list[str]) -> tuple[int, str, str]:
    result = runner.invoke(app, argv)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@dataclass(frozen=True)
class Case:
    id: str
    argv: Callable[[World], list[str]]
    status: ExitCode
    says: str = ""  # expected in stdout when the status is OK or NOT_VERIFIED, else in the stderr line


CASES = [
    Case("licence valid", lambda w: ["licence", "status", w.valid, "--url", w.url], ExitCode.OK, "VALID"),
    Case(
        "licence by hash", lambda w: ["licence", "status", w.valid_hash, "--url", w.url], ExitCode.OK, "VALID"
    ),
    Case(
        "licence revoked",
        lambda w: ["licence", "status", w.revoked, "--url", w.url],
        ExitCode.NOT_VERIFIED,
        "REVOKED",
    ),
    Case(
        "licence unknown",
        lambda w: ["licence", "status", "0x" + secrets.token_hex(32), "--url", w.url],
        ExitCode.NOT_VERIFIED,
        "UNKNOWN",
    ),
    Case(
        "drug authentic",
        lambda w: ["drug", "check", w.commissioned, "--url", w.url],
        ExitCode.OK,
        "authentic",
    ),
    Case(
        "drug unknown",
        lambda w: ["drug", "check", code(999), "--url", w.url],
        ExitCode.NOT_VERIFIED,
        "not authentic: unknown code",
    ),
    Case(
        "verify the node's licence bundle",
        lambda w: ["verify", f"{w.url}/v1/proofs/licences/{w.valid}", "--trust", w.url],
        ExitCode.OK,
        "VALID at height",
    ),
    Case(
        "verify a /verify link",
        lambda w: ["verify", "--qr-payload", f"{w.url}/verify#licence={w.valid_hash}"],
        ExitCode.OK,
        "VALID at height",
    ),
    Case(
        "verify the node's revoked licence",
        lambda w: ["verify", f"{w.url}/v1/proofs/licences/{w.revoked}"],
        ExitCode.NOT_VERIFIED,
    ),
    Case(
        "node answers 404",
        lambda w: ["verify", f"{w.url}/v1/proofs/tx/0x{secrets.token_hex(32)}", "--trust", w.url],
        ExitCode.NODE_ERROR,
        "http_status=",
    ),
    Case(
        "node is no trust source",
        lambda w: [
            "verify",
            f"{w.url}/v1/proofs/licences/{w.valid}",
            "--trust",
            f"{w.url}/v1/proofs/nowhere",
        ],
        ExitCode.NODE_ERROR,
        "http_status=404",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_commands_against_a_node(case: Case, world: World) -> None:
    status, out, err = run(case.argv(world))
    assert status == case.status, out + err
    if status == ExitCode.OK:
        assert case.says in out
        assert err == "" or err.startswith("warning: UNSAFE trust")  # a trust anchor taken from the node
        return
    if status == ExitCode.NOT_VERIFIED:
        assert case.says in out + err
    else:
        assert out == "" and case.says in err
    error_lines = [line for line in err.splitlines() if not line.startswith("warning: ")]
    assert len(error_lines) == 1 and error_lines[0].startswith("error: ")


def test_licence_status_json(world: World) -> None:
    status, out, _ = run(["licence", "status", world.valid, "--url", world.url, "--json"])
    assert status == ExitCode.OK
    facts = json.loads(out)
    assert list(facts) == LICENCE_KEYS
    assert facts["status"] == "VALID" and facts["id_hash"] == world.valid_hash
    assert re.fullmatch(ISO_SHANGHAI, facts["valid_from"]) and facts["valid_until"] is None
    assert re.fullmatch(ISO_SHANGHAI, facts["read_at"])
    status, out, err = run(["licence", "status", world.revoked, "--url", world.url, "--json"])
    assert status == ExitCode.NOT_VERIFIED and json.loads(out)["status"] == "REVOKED"
    assert err.startswith(f"error: licence {world.revoked} is REVOKED")


def test_drug_check_json(world: World) -> None:
    status, out, _ = run(["drug", "check", world.commissioned, "--url", world.url, "--json"])
    assert status == ExitCode.OK
    facts = json.loads(out)
    assert list(facts) == DRUG_KEYS
    assert facts["ok"] is True and facts["problems"] == [] and facts["expiry_date"] == "2099-02-28"
    (step,) = facts["trail"]
    assert step["step"] == "commissioned" and re.fullmatch(ISO_SHANGHAI, step["time"])
    assert "timestamp_ms" not in step
    status, out, _ = run(["drug", "check", code(998), "--url", world.url, "--json"])
    assert status == ExitCode.NOT_VERIFIED
    assert json.loads(out)["problems"] == ["not authentic: unknown code"]


def test_an_issuer_lists_its_licences_as_json_and_csv(world: World, running_node: RunningNode) -> None:
    import csv
    import io

    orgs = json.loads((running_node.data_dir / "orgs.json").read_text(encoding="utf-8"))
    issuer_key = str(running_node.data_dir / next(o for o in orgs if "ISSUER" in o["roles"])["key"])
    status, out, err = run(["licence", "list", "--key", issuer_key, "--url", world.url, "--json"])
    assert status == ExitCode.OK, err
    listed = {item["identifier"]: item for item in json.loads(out)["licences"]}
    assert listed[world.valid]["status"] == "VALID" and listed[world.revoked]["status"] == "REVOKED"
    assert listed[world.valid]["id_hash"] == world.valid_hash
    assert re.fullmatch(ISO_SHANGHAI, listed[world.valid]["valid_from"])
    status, out, _ = run(["licence", "list", "--key", issuer_key, "--url", world.url, "--csv"])
    rows = {row["identifier"]: row for row in csv.DictReader(io.StringIO(out))}
    assert rows[world.revoked]["status"] == "REVOKED" and rows[world.valid]["previous"] == ""
    # Another organisation asking for this issuer's licences gets none: the node shows an issuer's records
    # to its own organisation (and the type's authority) only.
    issuer = running_node.member_with("ISSUER").signer
    with Client(world.url) as client:
        bank = Licences(client, running_node.member_with("BANK").signer)
        assert bank.issued(by=issuer.address) == []
        assert {x.identifier for x in Licences(client, issuer).issued()} >= {world.valid, world.revoked}
