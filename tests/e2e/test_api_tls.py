"""The API over TLS: a node started from `network init --tls` serves https with a certificate of the local
CA; the SDK and web3.py reach it with that CA, and refuse it without (or with another CA)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from web3 import Web3

from node.demo_network import init_network
from node.devnet import Devnet, describe_api_tls
from node.tls import create_local_ca
from sdk.client import Client
from sdk.crypto import PrivateKey
from sdk.errors import XinlianError
from sdk.signer import Signer
from sdk.web3 import XinlianProvider
from tests.support import free_ports, wait_until

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tls_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    base = tmp_path_factory.mktemp("tls")
    api_port, p2p_port = free_ports(2)
    init_network(base, validators=1, chain_id=4343, api_port=api_port, p2p_port=p2p_port, tls=True)
    log = (base / "node.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "sdk.cli", "node", "run", "--config", str(base / "nodes" / "node-0.json")],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url, ca = f"https://127.0.0.1:{api_port}", base / "tls" / "ca.pem"

    def healthy() -> bool:
        try:
            return httpx.get(
                url + "/health", verify=ssl.create_default_context(cafile=ca), timeout=2
            ).is_success
        except httpx.HTTPError:
            return False

    try:
        wait_until(healthy, 90, "the TLS node to answer /health")
        yield url, ca, base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_the_sdk_and_web3_read_over_tls_with_the_consortium_ca(tls_node: tuple[str, Path, Path]) -> None:
    url, ca, base = tls_node
    with Client(url, ca=ca) as client:
        assert client.chain_info().chain_id == 4343
    member = Signer(PrivateKey.from_pem((base / "keys" / "org-0.pem").read_bytes()))
    w3 = Web3(XinlianProvider(url, member, ca=str(ca)))
    assert w3.eth.chain_id == 4343
    assert isinstance(w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest"}), list)


def test_without_the_ca_or_with_another_ca_the_node_is_not_trusted(
    tls_node: tuple[str, Path, Path], tmp_path: Path
) -> None:
    url, _, _ = tls_node
    with Client(url) as client, pytest.raises(XinlianError):
        client.chain_info()  # the system trust store does not know the local CA
    create_local_ca(tmp_path / "other.pem", tmp_path / "other-key.pem", name="someone else's CA")
    with Client(url, ca=tmp_path / "other.pem") as client, pytest.raises(XinlianError):
        client.chain_info()
    with pytest.raises(httpx.HTTPError):  # and nothing is served in the clear on that port
        httpx.get(url.replace("https://", "http://") + "/health", timeout=5)


def test_what_make_run_prints_reaches_the_node_literally(tls_node: tuple[str, Path, Path]) -> None:
    url, ca, base = tls_node
    node = Devnet(base).nodes[0]  # how `make run` sees the network's nodes
    assert (node.url, node.ca) == (url, ca)
    assert node.height() is not None
    python, curl = describe_api_tls(node.url, base)[1:3]
    assert python.split(maxsplit=1)[1] == f'Client("{url}", ca="{ca}")'
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    command = curl.split(maxsplit=1)[1].split()
    answer = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert answer.returncode == 0 and '"height"' in answer.stdout, answer.stderr
