"""Chain parameters (shared by every node of a consortium) and one node's local configuration."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from node.storage.pruning import DEFAULT_STATE_HISTORY, MIN_STATE_HISTORY
from sdk.errors import ConfigError as ConfigError  # defined in the one error tree; imported from here too

PROTOCOL_VERSION: int = 1
#: ``NodeConfig.execution_engine`` values: "native" runs messages on revm wherever it is exact and on py-evm
#: otherwise; "evmone" likewise on evmone, which also has the SM3/SM2 precompiles (its library is built by
#: ``make evmone``); "pyevm" on py-evm only (the reference); "auto" (the default) is "evmone" when its library
#: loads, else "native". All give identical results (docs/execution.md).
EXECUTION_ENGINES: tuple[str, ...] = ("auto", "native", "evmone", "pyevm")
#: Where the metrics listener goes when ``metrics_port`` is unset: this far above the API port.
METRICS_PORT_OFFSET: int = 1000


@dataclass(frozen=True)
class ChainConfig:
    """Consensus-critical parameters: every validator of a chain must hold identical values."""

    chain_id: int
    block_period_ms: int = 200
    round_timeout_ms: int = 2000
    max_round_timeout_ms: int = 30_000
    max_tx_bytes: int = 128 * 1024
    tx_gas_limit: int = 5_000_000
    block_gas_limit: int = 500_000_000
    max_block_txs: int = 2_000
    # Raw transaction bytes one block may carry: keeps every proposal far below the p2p frame limit and
    # bounds what validators hash, verify and store per height whatever the transactions cost in gas.
    max_block_bytes: int = 4 * 1024 * 1024
    expiry_window: int = 1_000  # a tx is valid while head < expiry_height <= head + expiry_window

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"chain parameter {f.name} must be a positive integer, got {value!r}")


#: ``NodeConfig.join`` values: replay from genesis, or join by snapshot.
JOIN_MODES = ("", "snapshot")


@dataclass(frozen=True)
class NodeConfig:
    """One node's local settings (paths, addresses); not consensus-critical."""

    name: str
    data_dir: str
    genesis_path: str
    database_url: str = ""
    validator_key_path: str = ""
    key_password_env: str = ""
    api_host: str = "127.0.0.1"
    api_port: int = 8545
    p2p_host: str = "127.0.0.1"
    p2p_port: int = 30300
    peers: tuple[str, ...] = field(default_factory=tuple)
    # Public keys (hex) of non-validator nodes allowed to connect over p2p (followers, archives); the
    # validators of the current set are always allowed, everyone else is refused at the handshake.
    allowed_peer_keys: tuple[str, ...] = field(default_factory=tuple)
    # The p2p identity key of a non-validator node (PEM); without one it gets a fresh key per start.
    node_key_path: str = ""
    # Mempool bounds: in total and per sender account (see docs/limits.md).
    mempool_capacity: int = 50_000
    mempool_max_bytes: int = 256 * 1024 * 1024
    mempool_sender_max_txs: int = 10_000
    mempool_sender_max_bytes: int = 16 * 1024 * 1024
    # Worker processes answering the API's read-only EVM calls (eth_call, /v1/call, domain queries) so that
    # they never hold the consensus process's GIL; 0 runs them in the node process.
    api_view_workers: int = 1
    # Worker processes checking the SM2 signatures of submitted batches (POST /v1/transactions/batch) off the
    # consensus process's GIL; 0 checks them in the node process.
    admission_workers: int = 1
    # Per-peer p2p budgets overriding the defaults by field name (see docs/limits.md), e.g.
    # {"send_queue_bytes": 33554432, "ban_s": 300}.
    p2p_limits: dict[str, float] = field(default_factory=dict)
    # API limits overriding the defaults (node.api.limits.ApiLimits) by field name (see docs/limits.md),
    # e.g. {"max_heavy_requests": 16, "auth_failure_burst": 0}.
    api_limits: dict[str, float] = field(default_factory=dict)
    log_level: str = "info"
    # The name members sign their API requests for (sdk.auth); empty: the node's ``name``. Unique per node,
    # so that a request signed for one node is refused by every other.
    api_audience: str = ""
    # TLS for the API (PEM certificate chain and key); both empty: plain HTTP (for a node behind a TLS proxy
    # on the same host only).
    api_tls_cert: str = ""
    api_tls_key: str = ""
    # The operator listener serving /metrics (Prometheus text), apart from the API that members and the
    # public reach: loopback by default; port None = api_port + 1000, 0 = no metrics listener. It serves
    # https with the API's certificate when the API has one.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    # Which EVM runs the blocks (one of EXECUTION_ENGINES); a local speed choice, never a consensus one.
    execution_engine: str = "auto"
    # With the native engine: re-execute every N-th committed block that holds transactions on py-evm in
    # the background and count divergences (node.ledger.audit); 0: never.
    execution_audit_every: int = 16
    # Keep the EVM state of the last N committed heights (older heights' state is deleted in the background
    # and reads of it answer "state_pruned"); 0: an archive node, every height's state is kept.
    state_history_blocks: int = DEFAULT_STATE_HISTORY
    # How a node with an empty database (genesis only) catches up: "" replays every block from its peers;
    # "snapshot" fetches the state at a recent sealed height from its peers (proven from genesis and the
    # validators' certificates) and follows from there (docs/operations.md).
    join: str = ""
    # With join "snapshot": proven manifests to wait for before choosing the height, and the time the
    # whole join may take before the node gives up (it exits; a restart tries again).
    join_min_peers: int = 2
    join_timeout_s: float = 300.0
    # A node that joined by snapshot fetches the blocks below its snapshot height from its peers in the
    # background (proven by their hash links to the snapshot block); false: it never holds them.
    history_backfill: bool = True

    def __post_init__(self) -> None:
        if self.join not in JOIN_MODES:
            raise ConfigError(f"join must be one of {list(JOIN_MODES)}, got {self.join!r}")
        if not isinstance(self.join_min_peers, int) or self.join_min_peers < 1 or self.join_timeout_s <= 0:
            raise ConfigError("join_min_peers is a whole number >= 1 and join_timeout_s a number > 0")
        if not isinstance(self.history_backfill, bool):
            raise ConfigError(f"history_backfill is true or false, got {self.history_backfill!r}")
        if self.execution_engine not in EXECUTION_ENGINES:
            raise ConfigError(
                f"execution_engine must be one of {list(EXECUTION_ENGINES)}, got {self.execution_engine!r}"
            )
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise ConfigError(f"metrics_port is 0 (off) to 65535 or null, got {self.metrics_port!r}")
        if not isinstance(self.state_history_blocks, int) or not (
            self.state_history_blocks == 0 or self.state_history_blocks >= MIN_STATE_HISTORY
        ):
            raise ConfigError(
                f"state_history_blocks is 0 (archive: keep every height's state) or at least "
                f"{MIN_STATE_HISTORY}, got {self.state_history_blocks!r}"
            )
        for name in ("execution_audit_every", "api_view_workers", "admission_workers"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{name} is a whole number >= 0, got {value!r}")

    def resolved_metrics_port(self) -> int:
        """The operator listener's port: ``metrics_port``, or api_port + 1000 when unset (0: none)."""
        return self.api_port + METRICS_PORT_OFFSET if self.metrics_port is None else self.metrics_port

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.data_dir) / 'chain.db'}"

    def to_json(self) -> str:
        data = asdict(self)
        data["peers"] = list(self.peers)
        data["allowed_peer_keys"] = list(self.allowed_peer_keys)
        data["p2p_limits"] = dict(self.p2p_limits)
        data["api_limits"] = dict(self.api_limits)
        return json.dumps(data, indent=2, ensure_ascii=False)

    @classmethod
    def load(cls, path: str | Path) -> NodeConfig:
        """Read a node config JSON file; relative paths are resolved against the file's folder.

        Raises ConfigError for a missing file, bad JSON or unknown keys.
        """
        p = Path(path)
        try:
            raw: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"node config {p} does not exist") from exc
        except json.JSONDecodeError as exc:
            raise ConfigError(f"node config {p} is not valid JSON: {exc}") from exc
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ConfigError(f"node config {p} has unknown keys: {sorted(unknown)}")
        base = p.resolve().parent
        for key in (
            "data_dir",
            "genesis_path",
            "validator_key_path",
            "node_key_path",
            "api_tls_cert",
            "api_tls_key",
        ):
            if raw.get(key) and not Path(raw[key]).is_absolute():
                raw[key] = str(base / raw[key])
        raw["peers"] = tuple(raw.get("peers", ()))
        raw["allowed_peer_keys"] = tuple(raw.get("allowed_peer_keys", ()))
        try:
            return cls(**raw)
        except TypeError as exc:
            raise ConfigError(f"node config {p}: {exc}") from exc
