"""A node where tongsuopy is not installed (aarch64 Linux, for which it ships no wheel), forced here by
blocking its import in the node's process: the node opens its password-encrypted PEM validator key, seals
blocks with SM2 on the gmssl backend and commits a member's transaction; the process never loads tongsuopy."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from node.genesis import GLOBAL_SCOPE, GOVERNANCE_ADDRESS
from scripts.bench.grants import encode_grant_role
from scripts.bench.node_process import REPO_ROOT, NodeProcess
from sdk.client import Client
from sdk.crypto import PrivateKey
from sdk.signer import Signer
from tests.e2e.helpers import create_network

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PASSWORD_ENV = "XL_NO_TONGSUO_KEY_PW"


def test_a_node_runs_and_commits_without_tongsuopy(tmp_path: Path) -> None:
    network = create_network(tmp_path / "net", block_period_ms=200)
    # the validator key as an operator keeps it: encrypted (written here with tongsuopy, opened there without)
    config = json.loads(network.config_path.read_text(encoding="utf-8"))
    key_path = Path(config["validator_key_path"])
    key_path = key_path if key_path.is_absolute() else network.config_path.parent / key_path
    key_path.write_bytes(PrivateKey.from_pem(key_path.read_bytes()).to_pem(b"validator-pw"))
    config["key_password_env"] = PASSWORD_ENV
    network.config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")

    blocker = tmp_path / "block-tongsuo"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        'import sys\nsys.modules["tongsuopy"] = None\n', encoding="utf-8"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(blocker), str(REPO_ROOT)]),
        PASSWORD_ENV: "validator-pw",
    }
    env.pop("XINLIAN_SM2_BACKEND", None)
    process = NodeProcess(network, cli=[sys.executable, "-m", "sdk.cli"], env=env)
    process.start()
    try:
        process.wait_healthy(timeout_s=120)
        grantor = network.grantors[0]
        signer = Signer(grantor.key)
        with Client(network.url, signer=signer, chain_id=network.chain_id) as client:
            tx_hash = client.send(
                signer,
                GOVERNANCE_ADDRESS,
                encode_grant_role(network.accounts[-1], grantor.role, GLOBAL_SCOPE),
                gas_limit=300_000,
                wait=False,
            )
            receipt = client.wait(tx_hash, timeout=120, check=True)
        assert receipt.height >= 1
        assert process.process is not None
        maps = Path(f"/proc/{process.process.pid}/maps").read_text(encoding="utf-8")
        assert "tongsuopy" not in maps, "the node process loaded tongsuopy"
    except BaseException:
        print(process.log_tail())
        raise
    finally:
        process.terminate()
