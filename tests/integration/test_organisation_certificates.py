"""The chain of trust on a real node: the committee trusts a CA and binds an account to its organisation's
SM2 X.509 certificate (real openssl-made certificates); any member re-checks the binding from chain state,
and a binding the committee approved without the SDK's checks is still refused by that re-check."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak
from typer.testing import CliRunner

from node.demo_network import make_uscc
from sdk.cli import app
from sdk.client import Client
from sdk.crypto import sm3
from sdk.domains.governance import (
    Action,
    BoundCertificate,
    Governance,
    TrustAnchor,
    compute_certificate_id,
    encode_payload,
)
from sdk.errors import IdentityCertificateError
from sdk.exit_codes import ExitCode
from sdk.identity.x509 import to_der
from sdk.system import MAX_CHAIN_CERTIFICATE_BYTES
from tests import sm2_certs
from tests.integration.node_fixtures import Member, RunningNode, start_node, stop_node
from tests.sm2_certs import Issued


@dataclasses.dataclass(frozen=True)
class World:
    running: RunningNode
    ca: Issued
    stranger_ca: Issued
    subject: Member  # the account being certified
    good: Issued  # its certificate, from the CA
    wrong_key: Issued  # the CA certifies another key for its USCC
    wrong_uscc: Issued  # the CA certifies its key for another USCC
    stranger: Issued  # another CA certifies it


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    certs = tmp_path_factory.mktemp("certs")
    running = start_node(tmp_path_factory.mktemp("node"))
    try:
        subject = running.members[1]
        key = subject.signer.public_key
        ca = sm2_certs.self_signed_ca(certs, "Consortium CA")
        stranger_ca = sm2_certs.self_signed_ca(certs, "Stranger CA")
        org = f"/O={subject.name}/serialNumber={subject.uscc}"
        yield World(
            running=running,
            ca=ca,
            stranger_ca=stranger_ca,
            subject=subject,
            good=sm2_certs.issue(certs, "good", org, ca, for_key=key),
            wrong_key=sm2_certs.issue(certs, "wrong-key", org, ca),
            wrong_uscc=sm2_certs.issue(
                certs,
                "wrong-uscc",
                f"/O=Other/serialNumber={make_uscc('330000', 43_000_001)}",
                ca,
                for_key=key,
            ),
            stranger=sm2_certs.issue(certs, "stranger", org, stranger_ca, for_key=key),
        )
    finally:
        stop_node(running)


@pytest.fixture()
def governance(world: World) -> Iterator[Governance]:
    """The committee member's facade (threshold 1: its proposals execute at once)."""
    with Client(world.running.url, signer=world.running.committee.signer) as client:
        yield Governance(client, world.running.committee.signer)


def reset(governance: Governance, world: World, *, trusted: bool) -> None:
    """Bring the shared node to a known state (tests of this module may run in any order, on any worker):
    the subject's account unbound, the CA trusted or not."""
    account = world.subject.signer.address
    if governance.bound_certificate(account) is not None:
        governance.propose_unbind_certificate(account)
    present = bool(governance.trust_anchors())
    if present and not trusted:
        governance.propose_remove_trust_anchor(compute_certificate_id(world.ca.pem))
    elif trusted and not present:
        governance.propose_trust_anchor(world.ca.pem)


def refusal(call: object) -> str:
    assert callable(call)
    with pytest.raises(IdentityCertificateError) as caught:
        call()
    return caught.value.code


def test_the_chain_of_trust_from_anchor_to_binding_to_removal(world: World, governance: Governance) -> None:
    reset(governance, world, trusted=False)
    account = world.subject.signer.address
    assert governance.trust_anchors() == [] and governance.bound_certificate(account) is None
    assert refusal(lambda: governance.check_certificate(account)) == "x509_not_bound"
    # nothing to chain to yet: the SDK refuses before signing
    assert refusal(lambda: governance.propose_certificate(account, world.good.pem)) == "x509_unknown_issuer"

    assert governance.propose_trust_anchor(world.ca.pem).executed
    ca_der = to_der(world.ca.pem)
    assert governance.trust_anchors() == [TrustAnchor(anchor_id=keccak(ca_der), certificate=ca_der)]

    result = governance.propose_certificate(account, world.good.pem)
    assert result.executed
    bound = governance.bound_certificate(account)
    assert bound is not None and bound.certificate == to_der(world.good.pem)
    assert bound.bound_block == result.receipt.height
    identity = governance.check_certificate(account)
    assert identity.fingerprint == sm3(bound.certificate)
    assert identity.issuer_fingerprint == sm3(ca_der)
    assert world.subject.uscc in identity.subject
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    assert refusal(lambda: governance.check_certificate(account, at=later)) == "x509_expired"

    # the committee stops trusting the CA: the binding stays on chain but no longer checks
    assert governance.propose_remove_trust_anchor(compute_certificate_id(world.ca.pem)).executed
    assert governance.trust_anchors() == []
    assert refusal(lambda: governance.check_certificate(account)) == "x509_unknown_issuer"
    assert governance.propose_trust_anchor(world.ca.pem).executed  # trusted again
    assert governance.check_certificate(account).fingerprint == identity.fingerprint

    assert governance.propose_unbind_certificate(account).executed
    assert refusal(lambda: governance.check_certificate(account)) == "x509_not_bound"


@pytest.mark.parametrize(
    ("which", "code"),
    [
        ("wrong_key", "x509_key_mismatch"),
        ("wrong_uscc", "x509_uscc_mismatch"),
        ("stranger", "x509_unknown_issuer"),
    ],
)
def test_the_sdk_refuses_to_propose_a_certificate_that_does_not_check(
    world: World, governance: Governance, which: str, code: str
) -> None:
    reset(governance, world, trusted=True)
    proposals = governance._read("proposal_count")
    certificate = getattr(world, which).pem
    assert refusal(lambda: governance.propose_certificate(world.subject.signer.address, certificate)) == code
    assert governance._read("proposal_count") == proposals  # refused before signing: nothing was sent


def test_a_binding_the_committee_approved_unchecked_is_refused_by_the_re_check(
    world: World, governance: Governance
) -> None:
    """The contract records bytes; trust comes from the relying party's check. A committee that binds the
    certificate of another key (bypassing the SDK's pre-check with a raw proposal) binds nothing trusted."""
    reset(governance, world, trusted=True)
    account = world.subject.signer.address
    der = to_der(world.wrong_key.pem)
    assert governance.propose(
        Action.BIND_CERTIFICATE, encode_payload(Action.BIND_CERTIFICATE, account, der)
    ).executed
    assert governance.bound_certificate(account) == BoundCertificate(
        account=account,
        certificate_id=keccak(der),
        certificate=der,
        bound_block=governance.bound_certificate(account).bound_block,  # type: ignore[union-attr]
    )
    assert refusal(lambda: governance.check_certificate(account)) == "x509_key_mismatch"
    # what `xinlian proposal show` tells a voter of that proposal, and of a sound one
    raw_id = governance._read("proposal_count")
    status, shown, _ = cli(world, "proposal", "show", str(raw_id))
    assert status == ExitCode.OK and shown["certificate"]["checked"] is False
    assert shown["certificate"]["code"] == "x509_key_mismatch"
    sound = governance.propose_certificate(account, world.good.pem)
    status, shown, _ = cli(world, "proposal", "show", str(sound.proposal_id))
    assert shown["certificate"]["checked"] is True and world.subject.uscc in shown["certificate"]["subject"]
    status, shown, _ = cli(
        world, "proposal", "show", str(sound.proposal_id - 1)
    )  # a proposal of another kind
    assert "certificate" not in shown or shown["action"] in ("BIND_CERTIFICATE", "ADD_TRUST_ANCHOR")
    governance.propose_unbind_certificate(account)


def test_a_trust_anchor_must_be_an_sm2_ca_that_fits_on_chain(
    world: World, governance: Governance, tmp_path: Path
) -> None:
    assert refusal(lambda: governance.propose_trust_anchor(world.good.pem)) == "x509_issuer_not_ca"
    assert (
        refusal(lambda: governance.propose_trust_anchor(sm2_certs.p256_ca(tmp_path, "p256").pem))
        == "x509_malformed"
    )
    assert refusal(lambda: governance.propose_trust_anchor(b"not a certificate")) == "x509_malformed"
    big = sm2_certs.self_signed_ca(tmp_path, "Big CA", comment="x" * MAX_CHAIN_CERTIFICATE_BYTES)
    assert refusal(lambda: governance.propose_trust_anchor(big.pem)) == "x509_too_large"


# --- the command line -------------------------------------------------------------------------------------
def cli(world: World, *argv: str) -> tuple[int, Any, str]:
    """Run `xinlian ARGV --key <committee key> --url <node> --json`: status, parsed stdout, stderr."""
    orgs = json.loads((world.running.data_dir / "orgs.json").read_text(encoding="utf-8"))
    key = str(world.running.data_dir / orgs[0]["key"])
    result = CliRunner().invoke(app, [*argv, "--key", key, "--url", world.running.url, "--json"])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, json.loads(result.stdout) if result.stdout else None, result.stderr


def plain(world: World, *argv: str) -> str:
    """Run `xinlian ARGV --key <committee key> --url <node>` without --json: its stdout (status 0)."""
    orgs = json.loads((world.running.data_dir / "orgs.json").read_text(encoding="utf-8"))
    key = str(world.running.data_dir / orgs[0]["key"])
    result = CliRunner().invoke(app, [*argv, "--key", key, "--url", world.running.url])
    assert result.exit_code == ExitCode.OK, result.stderr
    return result.stdout


def test_the_command_line_proposes_lists_and_checks(
    world: World, governance: Governance, tmp_path: Path
) -> None:
    reset(governance, world, trusted=False)
    account = "0x" + world.subject.signer.address.hex()
    status, out, err = cli(world, "proposal", "trust-anchor", "--certificate", str(world.ca.cert))
    assert status == ExitCode.OK and out["executed"] is True, err
    status, out, _ = cli(world, "certificate", "anchors")
    assert status == ExitCode.OK and [a["subject"] for a in out["trust_anchors"]] == ["CN=Consortium CA"]
    shown = plain(world, "certificate", "anchors")  # the rows a person reads: the id as 0x-hex, whole
    assert out["trust_anchors"][0]["anchor_id"] in shown and "CN=Consortium CA" in shown and "b'" not in shown

    status, out, err = cli(
        world, "proposal", "certificate", account, "--certificate", str(world.wrong_key.cert)
    )
    assert status == ExitCode.NOT_VERIFIED and out["verified"] is False and out["code"] == "x509_key_mismatch"
    assert "not verified" in err
    status, out, err = cli(world, "proposal", "certificate", account, "--certificate", str(world.good.cert))
    assert status == ExitCode.OK and out["executed"] is True, err

    status, out, err = cli(world, "certificate", "check", account)
    assert status == ExitCode.OK, err
    assert out["verified"] is True and out["uscc"] == world.subject.uscc and out["bound_block"] > 0
    assert out["fingerprint"] == "0x" + sm3(to_der(world.good.pem)).hex()
    assert out["not_after"].endswith("+08:00")  # the CLI's one time convention
    status, out, _ = cli(world, "certificate", "check", account, "--at", "2099-01-01T00:00:00+08:00")
    assert status == ExitCode.NOT_VERIFIED and out["code"] == "x509_expired"

    # what the user typed wrong, and files that are no certificate
    assert cli(world, "certificate", "check", account, "--at", "2026-12-06T10:00:00")[0] == ExitCode.USAGE
    assert cli(world, "certificate", "check", "0x1234")[0] == ExitCode.USAGE
    missing = str(tmp_path / "missing.pem")
    assert cli(world, "proposal", "certificate", account, "--certificate", missing)[0] == ExitCode.INPUT
    (tmp_path / "junk.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    status, _, err = cli(world, "proposal", "trust-anchor", "--certificate", str(tmp_path / "junk.pem"))
    assert status == ExitCode.INPUT and "not a PEM or DER" in err

    assert cli(world, "proposal", "unbind-certificate", account)[0] == ExitCode.OK
    status, out, _ = cli(world, "certificate", "check", account)
    assert status == ExitCode.NOT_VERIFIED and out["code"] == "x509_not_bound"

    # removing the anchor by id (as `certificate anchors` lists it) or by its certificate, never both
    anchor = "0x" + compute_certificate_id(world.ca.pem).hex()
    both = ("--anchor-id", anchor, "--certificate", str(world.ca.cert))
    assert cli(world, "proposal", "remove-trust-anchor", *both)[0] == ExitCode.USAGE
    assert cli(world, "proposal", "remove-trust-anchor", "--anchor-id", "0x12")[0] == ExitCode.USAGE
    status, out, err = cli(world, "proposal", "remove-trust-anchor", "--anchor-id", anchor)
    assert status == ExitCode.OK and out["executed"] is True, err
    assert cli(world, "certificate", "anchors")[1]["trust_anchors"] == []


# --- attacks and odd states ---------------------------------------------------------------------------------
def test_a_ca_rolling_its_key_over_keeps_both_keys_certifying_on_chain(
    world: World, governance: Governance, tmp_path: Path
) -> None:
    """Two anchors with one subject name (the CA's new key added while the old one is still trusted): a
    certificate of the newer key checks although the older anchor, first by name, did not sign it."""
    reset(governance, world, trusted=True)
    account = world.subject.signer.address
    rolled_dir = tmp_path / "rolled"
    rolled_dir.mkdir()
    rolled = sm2_certs.self_signed_ca(rolled_dir, "Consortium CA")  # the name of world.ca, a new key
    org = f"/O={world.subject.name}/serialNumber={world.subject.uscc}"
    of_rolled = sm2_certs.issue(tmp_path, "of-rolled", org, rolled, for_key=world.subject.signer.public_key)
    try:
        assert governance.propose_trust_anchor(rolled.pem).executed
        assert governance.propose_certificate(account, of_rolled.pem).executed
        assert governance.check_certificate(account).issuer_fingerprint == sm3(to_der(rolled.pem))
    finally:
        governance.propose_unbind_certificate(account)
        governance.propose_remove_trust_anchor(compute_certificate_id(rolled.pem))


def test_an_anchor_that_is_no_certificate_neither_hides_the_others_nor_breaks_the_command_line(
    world: World, governance: Governance
) -> None:
    """A committee that approved DER-shaped bytes that are no certificate (a raw proposal): voters were told
    it is refused, every other binding still checks, the command line reports it without a traceback and
    shows times in its one convention (ISO 8601 with the display zone's offset, +08:00 by default)."""
    reset(governance, world, trusted=True)
    account = world.subject.signer.address
    garbage = b"\x30\x82\x01\x00" + bytes(256)
    added = governance.propose(Action.ADD_TRUST_ANCHOR, encode_payload(Action.ADD_TRUST_ANCHOR, garbage))
    try:
        assert added.executed
        status, shown, _ = cli(world, "proposal", "show", str(added.proposal_id))
        assert status == ExitCode.OK and shown["certificate"]["checked"] is False
        assert shown["certificate"]["code"] == "x509_malformed"

        assert governance.propose_certificate(account, world.good.pem).executed
        status, out, err = cli(world, "certificate", "check", "0x" + account.hex())
        assert status == ExitCode.OK and out["verified"] is True, err
        assert out["not_before"].endswith("+08:00") and out["not_after"].endswith("+08:00")

        status, out, err = cli(world, "certificate", "anchors")
        assert status == ExitCode.OK, err  # listed, so the committee sees the id to remove
        [unreadable] = [a for a in out["trust_anchors"] if not a["readable"]]
        assert unreadable["anchor_id"] == "0x" + keccak(garbage).hex() and unreadable["subject"] is None
    finally:
        governance.propose_unbind_certificate(account)
        governance.propose(
            Action.REMOVE_TRUST_ANCHOR, encode_payload(Action.REMOVE_TRUST_ANCHOR, keccak(garbage))
        )


def test_a_proposal_show_of_a_trust_anchor_uses_the_house_time_convention(
    world: World, governance: Governance
) -> None:
    reset(governance, world, trusted=False)
    result = governance.propose_trust_anchor(world.ca.pem)
    status, shown, _ = cli(world, "proposal", "show", str(result.proposal_id))
    assert status == ExitCode.OK and shown["certificate"]["checked"] is True
    assert shown["certificate"]["subject"] == "CN=Consortium CA"
    assert shown["certificate"]["not_after"].endswith("+08:00")
    status, out, _ = cli(world, "certificate", "anchors")
    assert status == ExitCode.OK
    (listed,) = out["trust_anchors"]
    assert listed["not_before"].endswith("+08:00") and listed["not_after"].endswith("+08:00")


def test_the_command_line_refuses_removing_what_is_no_anchor_without_a_traceback(
    world: World, governance: Governance
) -> None:
    reset(governance, world, trusted=True)
    status, _, err = cli(
        world, "proposal", "remove-trust-anchor", "--certificate", str(world.stranger_ca.cert)
    )
    assert status in (ExitCode.NOT_VERIFIED, ExitCode.NODE_ERROR) and "not a trust anchor" in err
    assert [a.certificate for a in governance.trust_anchors()] == [to_der(world.ca.pem)]
