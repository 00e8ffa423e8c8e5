"""Licence status statements (XLS1) signed by a real validator node over HTTP (SQLite, py-evm, SM2), collected
and verified offline; the route's refusals."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from scripts.samples import issue_sample_licence
from sdk.client import Client
from sdk.errors import QuorumError, StatusError
from sdk.proofs.collect import collect_statement
from sdk.proofs.statement import LicenceStatement, load_statement, verify_statement
from sdk.proofs.trust import Genesis, load_trust

if TYPE_CHECKING:
    from node_fixtures import RunningNode

pytest_plugins = ["node_fixtures"]


def _trust(node: RunningNode) -> Genesis:
    trust = load_trust(httpx.get(f"{node.url}/v1/proofs/trust").json())
    assert isinstance(trust, Genesis)
    return trust


def test_validator_signs_a_statement_that_verifies_offline_then_shows_revocation(
    running_node: RunningNode,
) -> None:
    from sdk.domains.licences import Licences

    issuer = running_node.member_with("ISSUER")
    licences = Licences(Client(running_node.url), issuer.signer)
    issued = issue_sample_licence(licences, issuer.uscc, None)
    trust = _trust(running_node)
    statement = collect_statement([running_node.url], issued.identifier, trust)
    verified = verify_statement(statement.to_qr_bytes(), trust)
    assert verified.identifier == issued.identifier and verified.id_hash == issued.id_hash
    assert verified.status == "VALID" and verified.sealed_by == (0,) and not verified.stale
    assert verified.issuer_org == issuer.uscc
    assert load_statement(statement.to_qr_text()) == statement == load_statement(statement.to_qr_bytes())
    # the same (licence, height) is answered from the cache: the very same signature
    url = f"{running_node.url}/v1/licences/{issued.identifier}/statement?height={statement.facts.height}"
    assert httpx.get(url).json() == httpx.get(url).json()

    licences.revoke(issued.identifier, "吊销")
    later = collect_statement([running_node.url], issued.identifier, trust)
    assert later.facts.height > statement.facts.height and later.facts.status_code == 5
    with pytest.raises(StatusError) as refused:
        verify_statement(later.to_qr_bytes(), trust)
    assert refused.value.detail["status"] == "REVOKED"
    # the older statement still verifies: it says what held at its height, and its time says how old it is
    assert verify_statement(statement, trust).height == statement.facts.height


def test_statement_route_refuses_what_it_cannot_sign(running_node: RunningNode) -> None:
    issuer = running_node.member_with("ISSUER")
    from sdk.domains.licences import Licences

    issued = issue_sample_licence(Licences(Client(running_node.url), issuer.signer), issuer.uscc, None)
    base = f"{running_node.url}/v1/licences/{issued.identifier}/statement"
    head = running_node.ledger.head.header.height
    ahead = httpx.get(base, params={"height": head + 1000})
    assert ahead.status_code == 404 and ahead.json()["code"] == "not_found"
    before = httpx.get(base, params={"height": 1})  # the licence was not issued yet at height 1
    assert before.status_code == 404
    assert httpx.get(base).status_code == 422  # the height is the caller's only other choice, and required
    assert httpx.get(base, params={"height": 0}).status_code == 422
    # too few answers: a collector given no working node names what failed
    with pytest.raises(QuorumError) as short:
        collect_statement(
            [running_node.url + "/nowhere"], issued.identifier, _trust(running_node), height=head
        )
    assert short.value.detail["failures"]


def test_non_validator_node_answers_not_a_validator(running_node: RunningNode) -> None:
    from fastapi.testclient import TestClient

    from node.api import create_app

    app = create_app(running_node.ledger)  # no validator key: an observer's API
    with TestClient(app) as client:
        answer = client.get("/v1/licences/0x" + "11" * 32 + "/statement", params={"height": 1})
    assert answer.status_code == 409 and answer.json()["code"] == "not_a_validator"


def test_statement_is_smaller_than_a_qr_version_15(running_node: RunningNode) -> None:
    from sdk.proofs.qr import statement_qr_version

    issuer = running_node.member_with("ISSUER")
    from sdk.domains.licences import Licences

    issued = issue_sample_licence(Licences(Client(running_node.url), issuer.signer), issuer.uscc, None)
    statement = collect_statement([running_node.url], issued.identifier, _trust(running_node))
    assert isinstance(statement, LicenceStatement)
    assert statement_qr_version(statement.to_qr_bytes()) <= 15


def test_cli_card_then_verify(running_node: RunningNode, tmp_path: Path) -> None:
    """`xinlian licence card` writes the QR code and prints its version; `xinlian verify` takes the XLS1
    text and a file of the binary payload, and refuses a changed one."""
    import zxingcpp
    from PIL import Image
    from typer.testing import CliRunner

    from sdk.cli import app
    from sdk.domains.licences import Licences

    issuer = running_node.member_with("ISSUER")
    issued = issue_sample_licence(Licences(Client(running_node.url), issuer.signer), issuer.uscc, None)
    trust_file = tmp_path / "trust.json"
    trust_file.write_text(httpx.get(f"{running_node.url}/v1/proofs/trust").text, encoding="utf-8")
    runner = CliRunner()
    card = tmp_path / "card.png"
    base = ["licence", "card", issued.identifier, "--node", running_node.url, "--trust", str(trust_file)]
    made = runner.invoke(app, [*base, "-o", str(card)])
    assert made.exit_code == 0, made.output
    assert "QR version" in made.output
    # QR codes only: a scan for every format sometimes also finds a DataBar in the QR pattern (1 in ≈ 400)
    (read,) = zxingcpp.read_barcodes(Image.open(card), formats=zxingcpp.BarcodeFormat.QRCode)
    payload = bytes(read.bytes)
    assert payload.startswith(b"XLS1:")
    binary = tmp_path / "card.bin"
    binary.write_bytes(payload)
    ok = runner.invoke(app, ["verify", str(binary), "--trust", str(trust_file)])
    assert ok.exit_code == 0 and "VERIFIED licence statement" in ok.output, ok.output
    text = runner.invoke(app, [*base, "--text"]).stdout.strip()
    assert runner.invoke(app, ["verify", "--qr-payload", text, "--trust", str(trust_file)]).exit_code == 0
    binary.write_bytes(payload[:-1] + bytes([payload[-1] ^ 1]))
    bad = runner.invoke(app, ["verify", str(binary), "--trust", str(trust_file)])
    assert bad.exit_code == 1


def test_signing_is_rate_limited_but_cached_answers_are_not(running_node: RunningNode) -> None:
    """A caller asking for many (licence, height) pairs exhausts the node's signing budget (429
    rate_limited); the pair already signed is still answered, with the same signature."""
    from fastapi.testclient import TestClient

    from node.api import create_app
    from node.api.limits import ApiLimits
    from sdk.domains.licences import Licences

    issuer = running_node.member_with("ISSUER")
    licences = Licences(Client(running_node.url), issuer.signer)
    issued = issue_sample_licence(licences, issuer.uscc, None)
    other = issue_sample_licence(licences, issuer.uscc, None)
    limits = ApiLimits(statement_signatures_burst=1, statement_signatures_per_s=0.001)
    app = create_app(running_node.ledger, limits=limits, statement_key=running_node.node.key)
    head = running_node.ledger.head.header.height
    path = f"/v1/licences/{issued.identifier}/statement"
    with TestClient(app) as client:
        first = client.get(path, params={"height": head})
        assert first.status_code == 200
        refused = client.get(f"/v1/licences/{other.identifier}/statement", params={"height": head})
        assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
        again = client.get(path, params={"height": head})
        assert again.status_code == 200 and again.json() == first.json()
