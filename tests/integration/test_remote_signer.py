"""The remote signer: `xinlian signer serve` in a real subprocess (HTTPS, a bearer token, an encrypted key
file), and RemoteSigner signing real transactions and member requests that a real node accepts."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from node.tls import issue_node_certificate
from sdk.auth import compute_query_preimage
from sdk.client import Client
from sdk.contracts import Contract
from sdk.crypto import PublicKey
from sdk.domains.authorisations.encoders import CONSENT_TAG
from sdk.encoding import encode
from sdk.errors import (
    SignerKeyNotFound,
    SignerLoginFailed,
    SignerRefused,
    SignerUnavailable,
    UnsupportedMechanism,
)
from sdk.keyholder import KeyHolder
from sdk.remote_signer import MAX_REQUEST_BYTES, RemoteSigner
from sdk.signer import Signer
from sdk.types import Transaction

if TYPE_CHECKING:
    from node_fixtures import RunningNode

from node_fixtures import start_node, stop_node

pytest_plugins = ["node_fixtures"]

ROOT = Path(__file__).resolve().parents[2]
GOV = Contract("Governance")
CHAIN_ID = 4242  # node_fixtures' chain
PASSWORD = "custodian password"


@dataclass
class Service:
    url: str
    token_file: Path
    ca: Path
    process: subprocess.Popen[str]


@pytest.fixture(scope="module")
def tls_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    running = start_node(tmp_path_factory.mktemp("remote-signer-node"), tls=True)
    try:
        yield running
    finally:
        stop_node(running)


def _start_service(
    base: Path, node: RunningNode, *, allow_decrypt: bool, chain_id: int = CHAIN_ID
) -> Service:
    """Start `xinlian signer serve` for the committee member's key, encrypted on disk, over TLS from the
    network's CA; return once it listens."""
    base.mkdir(parents=True, exist_ok=True)
    key_file = base / "member.pem"
    key_file.write_bytes(node.committee.signer.private_key.to_pem(PASSWORD.encode()))
    tls = node.data_dir / "tls"
    issue_node_certificate(
        tls / "ca.pem",
        tls / "ca-key.pem",
        base / "signer.pem",
        base / "signer-key.pem",
        name="signer",
        hosts=["127.0.0.1"],
    )
    token_file = base / "token"
    env = {**os.environ, "XINLIAN_KEY_PASSWORD": PASSWORD, "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [sys.executable, "-m", "sdk.cli", "signer", "token", "--out", str(token_file)],
        check=True,
        env=env,
        capture_output=True,
    )
    command = [
        sys.executable,
        "-m",
        "sdk.cli",
        "signer",
        "serve",
        "--key",
        str(key_file),
        "--chain-id",
        str(chain_id),
        "--token-file",
        str(token_file),
        "--tls-cert",
        str(base / "signer.pem"),
        "--tls-key",
        str(base / "signer-key.pem"),
        "--listen",
        "127.0.0.1:0",
    ]
    if allow_decrypt:
        command.append("--allow-decrypt")
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if "https://" not in line:
        process.kill()
        raise RuntimeError(f"the signer did not start: {line!r} {process.communicate()[1]!r}")
    return Service(
        url=line.split(" at ")[-1].strip(), token_file=token_file, ca=tls / "ca.pem", process=process
    )


def _stop(service: Service) -> str:
    service.process.terminate()
    try:
        _, stderr = service.process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        service.process.kill()
        _, stderr = service.process.communicate()
    return stderr


@pytest.fixture(scope="module")
def service(tls_node: RunningNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    running = _start_service(tmp_path_factory.mktemp("signer"), tls_node, allow_decrypt=True)
    try:
        yield running
    finally:
        log = _stop(running)
        # One line per request, never the token or a key.
        assert running.token_file.read_text().strip() not in log
        assert "signed a transaction preimage" in log


@pytest.fixture
def remote(service: Service) -> Iterator[RemoteSigner]:
    signer = RemoteSigner(service.url, token_file=service.token_file, ca=service.ca)
    try:
        yield signer
    finally:
        signer.close()


def test_a_transaction_signed_by_the_remote_signer_commits_on_a_real_node(
    tls_node: RunningNode, remote: RemoteSigner
) -> None:
    assert isinstance(remote, KeyHolder)
    assert remote.address == tls_node.committee.signer.address
    with Client(tls_node.url, timeout=10, ca=tls_node.data_dir / "tls" / "ca.pem", signer=remote) as client:
        receipt = client.send(remote, tls_node.ledger.governance_address, GOV.encode_call("threshold"))
        assert receipt.status == 1
        # A member-signed read: the session key the node seals to the member is opened by the service.
        me = client.signed_request(remote, "GET", "/v1/members/me")
        assert me["address"] == "0x" + remote.address.hex()
        assert client._sessions, "the client reads within a session opened through the remote signer"


def test_the_signature_verifies_with_the_sdk_verifier(remote: RemoteSigner) -> None:
    tx = Transaction.create(
        remote, chain_id=CHAIN_ID, to=bytes(20), data=b"", gas_limit=50_000, expiry_height=9
    )
    PublicKey.from_bytes(tx.public_key).verify(tx.signing_preimage(), tx.signature)
    assert tx.public_key == remote.public_key


def _query(chain_id: int) -> bytes:
    return compute_query_preimage(chain_id, "node", "GET", "/v1/members/me", 1, bytes(16), b"")


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (_query(CHAIN_ID + 1), "wrong_chain"),
        (b"any bytes at all", "not_a_preimage"),
        (encode([CONSENT_TAG, CHAIN_ID, b"", b"", b"", b"", b"", b""]), "unknown_tag"),
        (encode([b"xinlian/qbft/1", CHAIN_ID, b"", b"", b"", b"", b"", b""]), "unknown_tag"),
    ],
)
def test_the_service_refuses_what_is_not_an_sdk_preimage_of_its_chain(
    remote: RemoteSigner, message: bytes, reason: str
) -> None:
    with pytest.raises(SignerRefused) as caught:
        remote.sign(message)
    assert caught.value.detail["reason"] == reason


def test_the_service_signs_a_member_query_of_its_chain(remote: RemoteSigner) -> None:
    message = _query(CHAIN_ID)
    PublicKey.from_bytes(remote.public_key).verify(message, remote.sign(message))


def test_the_service_refuses_a_transaction_of_another_sender(remote: RemoteSigner) -> None:
    other = Signer.generate()
    tx = Transaction.create(
        other, chain_id=CHAIN_ID, to=bytes(20), data=b"", gas_limit=50_000, expiry_height=9
    )
    with pytest.raises(SignerRefused) as caught:
        remote.sign(tx.signing_preimage())
    assert caught.value.detail["reason"] == "wrong_key"


def test_the_service_refuses_a_request_larger_than_its_limit(service: Service) -> None:
    token = service.token_file.read_text().strip()
    with httpx.Client(verify=ssl.create_default_context(cafile=str(service.ca)), timeout=10) as http:
        response = http.post(
            f"{service.url}/v1/sign",
            content=b"{" + b" " * (MAX_REQUEST_BYTES + 1) + b"}",
            headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
        )
    assert response.status_code == 413
    assert response.json()["detail"]["reason"] == "too_large"


def test_a_wrong_token_is_refused_as_a_failed_login(service: Service) -> None:
    with pytest.raises(SignerLoginFailed):
        RemoteSigner(service.url, token="x" * 43, ca=service.ca)


def test_an_unexpected_key_is_refused(service: Service) -> None:
    with pytest.raises(SignerKeyNotFound):
        RemoteSigner(service.url, token_file=service.token_file, ca=service.ca, address=bytes(20))


def test_a_service_that_does_not_answer_is_unavailable(service: Service, tmp_path: Path) -> None:
    with pytest.raises(SignerUnavailable):
        RemoteSigner("https://127.0.0.1:9", token_file=service.token_file, ca=service.ca, timeout=2)
    # A certificate from a CA the client does not trust is no answer either.
    from node.tls import create_local_ca

    create_local_ca(tmp_path / "other-ca.pem", tmp_path / "other-ca-key.pem")
    with pytest.raises(SignerUnavailable):
        RemoteSigner(service.url, token_file=service.token_file, ca=tmp_path / "other-ca.pem")


def test_the_token_never_appears_in_repr(remote: RemoteSigner, service: Service) -> None:
    assert service.token_file.read_text().strip() not in repr(remote)
    assert remote.address.hex() in repr(remote)


def test_a_service_without_decryption_refuses_it_and_the_client_signs_each_request(
    tls_node: RunningNode, tmp_path: Path
) -> None:
    service = _start_service(tmp_path / "no-decrypt", tls_node, allow_decrypt=False)
    try:
        remote = RemoteSigner(service.url, token_file=service.token_file, ca=service.ca)
        with pytest.raises(UnsupportedMechanism):
            remote.decrypt(bytes(97 + 16))
        with Client(tls_node.url, timeout=10, ca=service.ca, signer=remote) as client:
            me = client.signed_request(remote, "GET", "/v1/members/me")
            assert me["address"] == "0x" + remote.address.hex()
            assert not client._sessions
        remote.close()
    finally:
        _stop(service)


def test_a_service_for_another_chain_refuses_this_chains_transactions(
    tls_node: RunningNode, tmp_path: Path
) -> None:
    service = _start_service(tmp_path / "other-chain", tls_node, allow_decrypt=False, chain_id=CHAIN_ID + 1)
    try:
        remote = RemoteSigner(service.url, token_file=service.token_file, ca=service.ca)
        with pytest.raises(SignerRefused) as caught:
            Transaction.create(
                remote, chain_id=CHAIN_ID, to=bytes(20), data=b"", gas_limit=50_000, expiry_height=9
            )
        assert caught.value.detail["reason"] == "wrong_chain"
        remote.close()
    finally:
        _stop(service)
