"""A node as a real ``xinlian node run`` child process: start, wait for /health, CPU used, stop or kill.

Shared by the benchmarks and the end-to-end tests (tests/e2e/helpers.py re-exports it).
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

import httpx

from node.devnet import read_log_tail
from scripts.bench.grants import Network

REPO_ROOT = Path(__file__).resolve().parents[2]


class NodeProcess:
    """``xinlian node run`` as a child process whose output goes to a log file (appended across restarts).

    ``code_dir`` (from ``snapshot_code``) is the code the process runs; by default the working tree.
    ``cli`` instead runs an installed ``xinlian`` (e.g. ``[venv/bin/xinlian]``) with exactly ``env`` and no
    PYTHONPATH, from ``network.base``.
    """

    def __init__(
        self,
        network: Network,
        *,
        code_dir: Path | None = None,
        log_path: Path | None = None,
        cli: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.network = network
        self.code_dir = code_dir or REPO_ROOT
        self.cli = tuple(cli) if cli is not None else None
        self.env = dict(env) if env is not None else None
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
        run = ["node", "run", "--config", str(self.network.config_path)]
        if self.cli is None:
            env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(self.code_dir)}
            command, cwd = [sys.executable, "-m", "sdk.cli", *run], self.code_dir
        else:
            env = {**(self.env if self.env is not None else os.environ), "PYTHONUNBUFFERED": "1"}
            command, cwd = [*self.cli, *run], self.network.base
        self.process = subprocess.Popen(command, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self.starts += 1

    def wait_healthy(self, timeout_s: float = 60.0) -> int:
        """Wait for ``/health``; returns the node's height. Raises RuntimeError with the log tail."""
        ca = self.network.ca
        verify = ssl.create_default_context(cafile=ca) if ca is not None else True
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"the node exited during start-up:\n{self.log_tail()}")
            try:
                response = httpx.get(f"{self.network.url}/health", timeout=2.0, verify=verify)
                if response.status_code == 200:
                    return int(response.json()["height"])
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the node did not answer /health within {timeout_s} s:\n{self.log_tail()}")

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the running node process so far (Linux /proc; 0.0 elsewhere)."""
        if self.process is None:
            return 0.0
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

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
        return read_log_tail(self.log_path, lines)
