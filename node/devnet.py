"""A local multi-validator consortium: one `xinlian node run` process per validator, SQLite each."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO, Any

import httpx

from node.config import ConfigError, NodeConfig
from node.demo_network import get_local_ca_path, init_network, seal_demo_genesis
from node.tls import issue_node_certificate
from sdk.crypto import PrivateKey

#: Chain parameters of a devnet (four processes sharing a few cores). Round 0 must fit building a block
#: and re-executing it on the validators (the runtime sizes blocks to a quarter of the round timeout at
#: the measured execution speed); the cap keeps a stopped validator's cost to seconds.
DEVNET_CHAIN: dict[str, int] = {
    "block_period_ms": 200,
    "round_timeout_ms": 3_000,
    "max_round_timeout_ms": 8_000,
}
REPO_ROOT = Path(__file__).resolve().parents[1]


def init_devnet(
    out_dir: str | Path,
    *,
    validators: int = 4,
    chain_id: int = 1001,
    api_ports: Sequence[int] | None = None,
    p2p_ports: Sequence[int] | None = None,
    base_api_port: int = 8545,
    base_p2p_port: int = 30300,
    chain_overrides: dict[str, int] | None = None,
    committee_size: int = 3,
    log_level: str = "info",
    tls: bool = False,
    candidates: int = 0,
) -> list[Path]:
    """Write a network of ``validators`` genesis validators and ``candidates`` further nodes under
    ``out_dir``; returns the node config paths (validators first).

    A candidate has a validator key of its own (keys/validator-N.pem) that is not in the genesis set: it
    follows the chain (syncs every block) until a committee proposal adds its key, and takes part in
    consensus from the height after the block that executed the proposal (docs/operations.md, "Changing
    the validator set"). With candidates, every node allows every node's key on its p2p links, so that a
    candidate syncs before it is added and a removed validator keeps following the chain.
    Ports default to ``base + i``; explicit ``api_ports`` / ``p2p_ports`` (one per node) override them.
    Every node lists every other node as a peer. With ``tls`` the APIs serve https under a local CA
    (tls/ca.pem). Raises ConfigError when ``out_dir`` holds a network.
    """
    if candidates < 0:
        raise ConfigError("the number of candidate nodes cannot be negative")
    out = Path(out_dir)
    init_network(
        out,
        validators=validators,
        chain_id=chain_id,
        api_port=base_api_port,
        p2p_port=base_p2p_port,
        committee_size=committee_size,
        chain_overrides={**DEVNET_CHAIN, **(chain_overrides or {})},
        tls=tls,
    )
    total = validators + candidates
    apis = list(api_ports) if api_ports is not None else [base_api_port + i for i in range(total)]
    p2ps = list(p2p_ports) if p2p_ports is not None else [base_p2p_port + i for i in range(total)]
    if len(apis) != total or len(p2ps) != total:
        raise ConfigError("one API port and one p2p port per node are needed")
    candidate_keys = [_write_candidate(out, i) for i in range(validators, total)]
    genesis_keys = [
        PrivateKey.from_pem((out / "keys" / f"validator-{i}.pem").read_bytes()).public_key.to_bytes()
        for i in range(validators)
    ]
    paths = node_config_paths(out)
    for i, path in enumerate(paths):
        raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        raw["api_port"] = apis[i]
        raw["p2p_port"] = p2ps[i]
        raw["peers"] = [f"127.0.0.1:{p}" for j, p in enumerate(p2ps) if j != i]
        raw["log_level"] = log_level
        if candidates:
            raw["allowed_peer_keys"] = [key.hex() for key in genesis_keys + candidate_keys]
        path.write_text(json.dumps(raw, indent=2), encoding="utf-8")
    return paths


def _write_candidate(out: Path, index: int) -> bytes:
    """Write node ``index``'s validator key (outside the genesis set) and a config like node 0's; returns
    the key's 64-byte public key."""
    key = PrivateKey.generate()
    path = out / "keys" / f"validator-{index}.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.to_pem())
    raw: dict[str, Any] = json.loads((out / "nodes" / "node-0.json").read_text(encoding="utf-8"))
    raw["name"] = f"node-{index}"
    raw["data_dir"] = f"../data/node-{index}"
    raw["validator_key_path"] = f"../keys/validator-{index}.pem"
    if raw.get("api_tls_cert"):
        issue_node_certificate(
            get_local_ca_path(out),
            out / "tls" / "ca-key.pem",
            out / "tls" / f"node-{index}.pem",
            out / "tls" / f"node-{index}-key.pem",
            name=f"node-{index}",
            hosts=["127.0.0.1", "localhost"],
        )
        raw["api_tls_cert"] = f"../tls/node-{index}.pem"
        raw["api_tls_key"] = f"../tls/node-{index}-key.pem"
    (out / "nodes" / f"node-{index}.json").write_text(json.dumps(raw, indent=2), encoding="utf-8")
    return key.public_key.to_bytes()


def node_config_paths(out_dir: str | Path) -> list[Path]:
    """Return nodes/node-N.json under ``out_dir`` in node order. Raises ConfigError when there are none."""
    nodes = Path(out_dir) / "nodes"
    paths = sorted(nodes.glob("node-*.json"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    if not paths:
        raise ConfigError(f"{nodes} holds no node configs")
    return paths


def read_log_tail(path: Path, lines: int = 40) -> str:
    """Return the last ``lines`` lines of a node's log file, or "(no log)" when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class DevnetNode:
    """One node process of a devnet (output appended to ``<data_dir>/node.log`` across restarts); an https
    API is checked against ``ca`` (the network's local CA)."""

    config_path: Path
    config: NodeConfig
    ca: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.config.api_tls_cert else "http"
        return f"{scheme}://{self.config.api_host}:{self.config.api_port}"

    @property
    def metrics_url(self) -> str:
        """Where the node's operator listener serves /metrics (https with the API's certificate)."""
        scheme = "https" if self.config.api_tls_cert else "http"
        return f"{scheme}://{self.config.metrics_host}:{self.config.resolved_metrics_port()}/metrics"

    def metrics(self) -> str:
        """The node's metrics (Prometheus text), checked against ``ca`` like the API."""
        return httpx.get(self.metrics_url, timeout=10, verify=self._verify).text

    @cached_property
    def _verify(self) -> ssl.SSLContext | bool:
        """What the API's certificate is checked against: ``ca``, or the system's trust store."""
        return ssl.create_default_context(cafile=self.ca) if self.ca is not None else True

    @property
    def log_path(self) -> Path:
        return Path(self.config.data_dir) / "node.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start ``xinlian node run`` for this node. Raises RuntimeError when it already runs."""
        if self.running:
            raise RuntimeError(f"{self.config.name} is already running")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 — closed when the process is reaped
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(  # noqa: S603 — our own interpreter and CLI, fixed arguments
            [sys.executable, "-m", "sdk.cli", "node", "run", "--config", str(self.config_path)],
            cwd=REPO_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def kill(self) -> None:
        """SIGKILL the process (nothing runs in it afterwards) and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        self._reap(10.0)

    def terminate(self, timeout_s: float = 15.0) -> None:
        """SIGTERM (clean stop), then SIGKILL after ``timeout_s``."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._reap(10.0)

    def _reap(self, timeout_s: float) -> None:
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout_s)
        if self._log is not None:
            self._log.close()
            self._log = None

    def height(self, timeout_s: float = 2.0) -> int | None:
        """Return the node's /health height, or None when it does not answer."""
        try:
            response = httpx.get(f"{self.url}/health", timeout=timeout_s, verify=self._verify)
        except httpx.HTTPError:
            return None
        # 503 still carries the height: the node answers while its consensus is stalled or stopped.
        if response.status_code not in (200, 503):
            return None
        try:
            return int(response.json()["height"])
        except (ValueError, KeyError, TypeError):
            return None

    def wait_healthy(self, timeout_s: float = 60.0) -> int:
        """Wait until /health answers; returns the height. Raises RuntimeError (with the log tail)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"{self.config.name} exited during start-up:\n{self.log_tail()}")
            height = self.height()
            if height is not None:
                return height
            time.sleep(0.2)
        raise RuntimeError(f"{self.config.name} did not answer within {timeout_s} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        """Return the last lines of the node's log."""
        return read_log_tail(self.log_path, lines)


class Devnet:
    """The node processes of a network directory written by ``init_devnet`` (or ``network init``)."""

    def __init__(self, out_dir: str | Path) -> None:
        self.dir = Path(out_dir)
        ca = get_local_ca_path(self.dir)
        self.ca = ca if ca.exists() else None
        self.nodes = [DevnetNode(p, NodeConfig.load(p), self.ca) for p in node_config_paths(self.dir)]

    def start(self, timeout_s: float = 90.0) -> None:
        """Start every node and wait until each answers /health. Raises RuntimeError otherwise."""
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            node.wait_healthy(timeout_s)

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL)."""
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)
        for node in self.nodes:
            node.terminate()

    def heights(self) -> list[int | None]:
        """Return each node's height (None for a node that does not answer)."""
        return [node.height() for node in self.nodes]


def describe_api_tls(url: str, network_dir: Path) -> list[str]:
    """Return the lines telling a newcomer how to reach an https API of the network in ``network_dir``,
    whose certificate chains to the network's own CA: from the SDK, curl, a browser, the walkthroughs."""
    ca = get_local_ca_path(network_dir)
    return [
        f"the APIs serve https under this network's own CA {ca} (no system trusts it); to connect:",
        f'  Python        Client("{url}", ca="{ca}")',
        f"  curl          curl --cacert {ca} {url}/health",
        f"  browser       trust {ca} as a certificate authority, or accept the warning for 127.0.0.1",
        f"  walkthroughs  .venv/bin/python scripts/demo_governance.py --url {url} --network {network_dir}",
    ]


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_devnet(
    out_dir: str | Path,
    *,
    validators: int = 4,
    base_api_port: int = 8545,
    base_p2p_port: int = 30300,
    echo: Any = print,
    candidates: int = 0,
) -> None:
    """Initialise a devnet under ``out_dir`` once, run every node until Ctrl-C, then stop them all.

    Takes the folder, the validator and candidate counts (used only when initialising), the base ports and
    a printer. A new devnet serves its APIs over https under a local CA (tls/ca.pem); its peer links are TLS
    like every network's. Raises RuntimeError when a node does not come up.
    """
    out = Path(out_dir)
    # Ctrl-C (SIGINT, even where a launcher ignored it) and SIGTERM both stop every node cleanly.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    if not (out / "genesis.json").exists():
        init_devnet(
            out,
            validators=validators,
            base_api_port=base_api_port,
            base_p2p_port=base_p2p_port,
            tls=True,
            candidates=candidates,
        )
        echo(f"initialised a {validators}-validator consortium in {out}")
        if candidates:
            echo(f"with {candidates} candidate nodes (keys/validator-N.pem outside the genesis set)")
    else:
        if seal_demo_genesis(out):
            echo(f"signed the genesis of {out} with its validator keys (nodes need a signed genesis now)")
        echo(f"resuming the consortium in {out} (delete the folder to start over)")
    net = Devnet(out)
    try:
        net.start()
        echo(f"organisations, their USCCs, addresses and keys: {out / 'orgs.json'}")
        for node in net.nodes:
            echo(
                f"{node.config.name}: API {node.url} (docs {node.url}/docs, JSON-RPC {node.url}/rpc), "
                f"p2p {node.config.p2p_host}:{node.config.p2p_port} (TLS 1.3), log {node.log_path}"
            )
        if net.ca is not None:
            for line in describe_api_tls(net.nodes[0].url, out):
                echo(line)
        echo("Ctrl-C stops every node")
        while True:
            time.sleep(1.0)
            for node in net.nodes:
                if not node.running:
                    echo(f"{node.config.name} exited; restarting it (log {node.log_path})")
                    node.start()
    except KeyboardInterrupt:
        echo("stopping")
    finally:
        net.stop()
