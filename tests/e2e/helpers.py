"""End-to-end helpers: a network on disk, its node as a real `xinlian node run` process, grant writers."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
from eth_abi.abi import encode as abi_encode
from eth_utils.abi import function_signature_to_4byte_selector

from node.demo_network import init_network
from node.genesis import DEFAULT_ROLE_ADMINS, GOVERNANCE_ADDRESS, ROLE_IDS
from sdk.crypto import PrivateKey
from sdk.domains.governance import LICENCE_TYPE_SCOPED_ROLES
from sdk.types import Transaction

REPO_ROOT = Path(__file__).resolve().parents[2]
GRANT_ROLE_SELECTOR = function_signature_to_4byte_selector("grant_role(address,bytes32,bytes32)")
GRANT_GAS_LIMIT = 300_000
_ROLE_NAMES = {role_id: name for name, role_id in ROLE_IDS.items()}


def get_free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Grantor:
    """A genesis organisation that may grant ``role`` (it holds that role's admin role globally)."""

    name: str
    key: PrivateKey
    role: str


@dataclass(frozen=True)
class Network:
    """A one-validator network written by ``init_network``: where its files are and who may write."""

    base: Path
    config_path: Path
    port: int
    chain_id: int
    accounts: tuple[bytes, ...]  # every genesis account (grant targets)
    grantors: tuple[Grantor, ...]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_path(self) -> Path:
        return self.base / "data" / "node-0" / "chain.db"


def create_network(
    base: Path, *, chain_id: int = 4343, block_period_ms: int = 200, mempool_capacity: int = 50_000
) -> Network:
    """Initialise a one-validator network under ``base`` with its API on a free port."""
    port = get_free_port()
    init_network(
        base,
        validators=1,
        chain_id=chain_id,
        api_port=port,
        p2p_port=get_free_port(),
        committee_size=1,
        chain_overrides={"block_period_ms": block_period_ms},
    )
    config_path = base / "nodes" / "node-0.json"
    raw = json.loads(config_path.read_text(encoding="utf-8"))
    raw["mempool_capacity"] = mempool_capacity
    raw["log_level"] = "warning"
    config_path.write_text(json.dumps(raw, indent=2), encoding="utf-8")
    directory = json.loads((base / "orgs.json").read_text(encoding="utf-8"))
    admin_of = {_ROLE_NAMES[admin]: _ROLE_NAMES[role] for role, admin in DEFAULT_ROLE_ADMINS}
    grantors = []
    for entry in directory:
        for role in entry["roles"]:
            # A random scope is not a licence type the grantor defined: such grants would only revert.
            if role in admin_of and admin_of[role] not in LICENCE_TYPE_SCOPED_ROLES:
                key = PrivateKey.from_pem((base / entry["key"]).read_bytes())
                grantors.append(Grantor(name=entry["name"], key=key, role=admin_of[role]))
    accounts = tuple(bytes.fromhex(entry["address"].removeprefix("0x")) for entry in directory)
    return Network(
        base=base,
        config_path=config_path,
        port=port,
        chain_id=chain_id,
        accounts=accounts,
        grantors=tuple(grantors),
    )


def encode_grant_role(account: bytes, role: str, scope: bytes) -> bytes:
    """ABI call data of ``Governance.grant_role(account, role, scope)``."""
    return GRANT_ROLE_SELECTOR + abi_encode(
        ["address", "bytes32", "bytes32"], [account, ROLE_IDS[role], scope]
    )


def make_grant(network: Network, grantor: Grantor, *, head_height: int, index: int) -> Transaction:
    """A signed delegated grant of ``grantor.role`` for a fresh random scope (never a reverting repeat) to
    an account of another organisation (a delegated admin never grants within its own)."""
    own = grantor.key.public_key.address
    others = [a for a in network.accounts if a != own]
    account = others[index % len(others)]
    data = encode_grant_role(account, grantor.role, secrets.token_bytes(32))
    return Transaction.create(
        grantor.key,
        chain_id=network.chain_id,
        to=GOVERNANCE_ADDRESS,
        data=data,
        gas_limit=GRANT_GAS_LIMIT,
        expiry_height=head_height + 500,
    )


def snapshot_code(dest: Path) -> Path:
    """Copy the node's code (sdk/, node/, contracts/build/) to ``dest`` and return it.

    A restarted node must run the same software as before its crash. The working tree is shared and edited
    while tests run, and genesis installs whichever contract artifacts exist at start-up, so a node run
    from the live tree may compute another genesis after a restart; a snapshot keeps every restart equal.
    """
    for package in ("sdk", "node"):
        shutil.copytree(REPO_ROOT / package, dest / package)
    shutil.copytree(REPO_ROOT / "contracts" / "build", dest / "contracts" / "build")
    return dest


class NodeProcess:
    """``xinlian node run`` as a child process whose output goes to a log file (appended across restarts).

    ``code_dir`` (from ``snapshot_code``) is the code the process runs; by default the working tree.
    """

    def __init__(
        self, network: Network, *, code_dir: Path | None = None, log_path: Path | None = None
    ) -> None:
        self.network = network
        self.code_dir = code_dir or REPO_ROOT
        self.log_path = log_path or network.base / "node.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        """Start the node (it must not be running)."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("the node is already running")
        self._log = open(self.log_path, "ab")  # noqa: SIM115 — closed in wait_exit
        self._log.write(f"--- start {self.starts} ---\n".encode())
        self._log.flush()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(self.code_dir)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sdk.cli", "node", "run", "--config", str(self.network.config_path)],
            cwd=self.code_dir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.starts += 1

    def wait_healthy(self, timeout_s: float = 60.0) -> int:
        """Wait for ``/health``; returns the node's height. Raises RuntimeError with the log tail."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"the node exited during start-up:\n{self.log_tail()}")
            try:
                response = httpx.get(f"{self.network.url}/health", timeout=2.0)
                if response.status_code == 200:
                    return int(response.json()["height"])
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the node did not answer /health within {timeout_s} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the node (no clean-up runs in it) and reap it."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.wait_exit()

    def terminate(self, timeout_s: float = 15.0) -> None:
        """Stop the node with SIGTERM (SIGKILL if it does not exit in time) and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.wait_exit()

    def wait_exit(self) -> None:
        if self.process is not None:
            self.process.wait(timeout=30)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])
