"""Member files carrying an organisation's SM2 X.509 certificate: assembling a genesis checks each one against
the coordinator's trusted CA certificates (real openssl-made certificates, real genesis execution)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak

from node.ceremony import MemberFile, assemble_genesis, compute_genesis_hash, create_org_keys
from node.config import ConfigError
from node.demo_network import make_uscc
from node.execution import ExecutionEngine
from sdk.contracts import Contract
from sdk.crypto import sm3
from sdk.domains.governance import BoundCertificate, TrustAnchor, check_bound_certificate
from sdk.identity.x509 import to_der
from sdk.system import GOVERNANCE_ADDRESS
from tests import sm2_certs
from tests.sm2_certs import Issued

GOVERNANCE = Contract("Governance")


@dataclasses.dataclass(frozen=True)
class Setup:
    ca: Issued
    other_ca: Issued
    members: list[MemberFile]
    certs: list[Issued]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    base = tmp_path_factory.mktemp("certified")
    ca = sm2_certs.self_signed_ca(base, "Consortium CA")
    other = sm2_certs.self_signed_ca(base, "Stranger CA")
    members, certs = [], []
    for i in range(2):
        uscc = make_uscc("330000", 41_000_001 + i)
        keys = create_org_keys(base / f"org-{i}", password=None)
        # the organisation's account key is the one its CA certified (made with openssl)
        cert = sm2_certs.issue(base, f"org-{i}", f"/O=Organisation {i}/serialNumber={uscc}", ca)
        certs.append(cert)
        members.append(
            MemberFile(
                uscc=uscc,
                name=f"Organisation {i}",
                roles=(),
                account_key=cert.public_key,
                node_key=keys.node_key,
                validator=True,
                api=f"127.0.0.1:{18_100 + i}",
                p2p=f"127.0.0.1:{19_100 + i}",
                certificate=cert.pem.decode() if i == 0 else None,  # the second has none: still fine
            )
        )
    return Setup(ca, other, members, certs)


def test_a_member_file_carries_its_certificate(setup: Setup, tmp_path: Path) -> None:
    path = tmp_path / "member.json"
    path.write_text(setup.members[0].to_json(), encoding="utf-8")
    assert MemberFile.load(path) == setup.members[0]
    path.write_text(setup.members[1].to_json(), encoding="utf-8")
    assert MemberFile.load(path).certificate is None


def test_assembling_checks_certificates_against_the_trusted_cas(setup: Setup) -> None:
    genesis = assemble_genesis(setup.members, chain_id=9292, cas=[setup.ca.pem])
    assert len(compute_genesis_hash(genesis)) == 32


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("stranger_ca", "x509_unknown_issuer"),
        ("other_key", "x509_key_mismatch"),
        ("other_uscc", "x509_uscc_mismatch"),
        ("expired", "x509_expired"),
    ],
)
def test_assembling_refuses_a_certificate_that_does_not_check(setup: Setup, change: str, reason: str) -> None:
    members = list(setup.members)
    cas = [setup.ca.pem]
    timestamp_ms = 0
    if change == "stranger_ca":
        cas = [setup.other_ca.pem]
    elif change == "other_key":
        members[0] = dataclasses.replace(members[0], certificate=setup.certs[1].pem.decode())
    elif change == "other_uscc":
        members[0] = dataclasses.replace(members[0], uscc=make_uscc("330000", 41_000_009))
    else:  # a genesis dated after the certificate's 10 days
        timestamp_ms = 4_102_444_800_000  # 2100-01-01
    with pytest.raises(ConfigError) as info:
        assemble_genesis(members, chain_id=9292, cas=cas, timestamp_ms=timestamp_ms)
    assert info.value.detail["reason"] == reason


def test_a_certificate_needs_a_trusted_ca(setup: Setup) -> None:
    with pytest.raises(ConfigError, match="no CA certificate"):
        assemble_genesis(setup.members, chain_id=9292)


def test_an_oversized_certificate_is_refused_in_the_member_file(setup: Setup) -> None:
    member = dataclasses.replace(setup.members[0], certificate="A" * (17 * 1024))
    with pytest.raises(ConfigError, match="exceeds"):
        member.validate()


def test_the_cli_writes_and_checks_member_certificates(tmp_path: Path) -> None:
    """`genesis member --certificate` puts the PEM in the member file; `genesis assemble --ca` checks it."""
    from typer.testing import CliRunner

    from node.ceremony import OrgKeys
    from node.ceremony_cli import genesis_app as app

    runner = CliRunner()
    ca = sm2_certs.self_signed_ca(tmp_path, "CLI CA")
    uscc = make_uscc("330000", 41_000_021)
    keys_dir = tmp_path / "keys"
    assert runner.invoke(app, ["keys", "--dir", str(keys_dir), "--no-encrypt"]).exit_code == 0
    account = OrgKeys.load(keys_dir).account_key
    cert = sm2_certs.issue(tmp_path, "org", f"/O=CLI Org/serialNumber={uscc}", ca, for_key=account)
    member = tmp_path / "member.json"
    result = runner.invoke(app, [
        "member", "--uscc", uscc, "--name", "CLI Org", "--keys", str(keys_dir),
        "--p2p", "127.0.0.1:19201", "--api", "127.0.0.1:18201", "--out", str(member),
        "--certificate", str(cert.cert),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert MemberFile.load(member).certificate == cert.pem.decode()
    base = ["assemble", str(member), "--chain-id", "9393", "--json"]
    refused = runner.invoke(app, [*base, "--out", str(tmp_path / "g0.json")])
    assert isinstance(refused.exception, ConfigError) and "no CA certificate" in refused.exception.message
    stranger = sm2_certs.self_signed_ca(tmp_path, "Stranger")
    refused = runner.invoke(app, [*base, "--out", str(tmp_path / "g1.json"), "--ca", str(stranger.cert)])
    assert isinstance(refused.exception, ConfigError)
    assert refused.exception.detail["reason"] == "x509_unknown_issuer"
    ok = runner.invoke(app, [*base, "--out", str(tmp_path / "g2.json"), "--ca", str(ca.cert)])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "g2.json").exists()


def test_the_genesis_records_the_chain_of_trust_it_checked(setup: Setup) -> None:
    """The CA becomes a trust anchor and the first member's certificate is bound to its account, in the
    genesis state (so the validators' genesis signatures cover them); the second member has none."""
    genesis = assemble_genesis(setup.members, chain_id=9393, cas=[setup.ca.pem])
    engine = ExecutionEngine({}, chain_id=9393)
    root = engine.create_genesis(genesis.spec)

    def read(function: str, *args: object) -> Any:
        def call(to: bytes, data: bytes) -> bytes:
            return engine.call(root, bytes(20), to, data, 5_000_000)

        return GOVERNANCE.read(call, GOVERNANCE_ADDRESS, function, *args)

    ca_der = to_der(setup.ca.pem)
    assert [bytes(a) for a in read("get_trust_anchors")] == [keccak(ca_der)]
    certified = setup.members[0].address
    row = read("certificates", certified)
    bound = BoundCertificate(certified, row["certificate_id"], row["certificate"], row["bound_block"])
    identity = check_bound_certificate(
        bound,
        anchors=[TrustAnchor(keccak(ca_der), ca_der)],
        uscc=setup.members[0].uscc,
        at=dt.datetime.now(dt.UTC),
    )
    assert identity.issuer_fingerprint == sm3(ca_der) and bound.bound_block == 0
    assert read("certificates", setup.members[1].address)["certificate"] == b""
