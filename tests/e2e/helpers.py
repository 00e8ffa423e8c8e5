"""End-to-end helpers: a network on disk and its node as a real `xinlian node run` process; the grant
workload (``Grantor``, ``Network``, ``make_grant``) comes from scripts/bench/grants.py, shared with the
benchmarks."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

from node.demo_network import init_network
from scripts.bench.grants import (
    Grantor,
    Network,
    get_free_port,
    load_accounts,
    load_grantors,
    make_grant,
)

__all__ = [
    "REPO_ROOT",
    "Grantor",
    "Network",
    "NodeProcess",
    "create_network",
    "get_free_port",
    "make_grant",
    "snapshot_code",
]

REPO_ROOT = Path(__file__).resolve().parents[2]


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
    return Network(
        base=base,
        config_path=config_path,
        port=port,
        chain_id=chain_id,
        accounts=load_accounts(base),
        grantors=load_grantors(base),
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
