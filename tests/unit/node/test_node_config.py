"""Node settings: p2p budget overrides are checked when the node config is read, and so is the engine."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from node.api.limits import ApiLimits
from node.config import ConfigError, NodeConfig
from node.execution import ExecutionEngine, NativeExecutionEngine, evmone
from node.p2p.peers import DEFAULT_BAN_S, P2PLimits
from node.runtime import compute_api_limits, compute_p2p_limits, make_engine
from node.storage import StateNodeStore, Store
from sdk.errors import ExecutionError


def write_config(tmp_path: Path, **extra: object) -> NodeConfig:
    path = tmp_path / "node.json"
    raw = {"name": "n", "data_dir": "data", "genesis_path": "genesis.json", **extra}
    path.write_text(json.dumps(raw), encoding="utf-8")
    return NodeConfig.load(path)


def test_p2p_limit_overrides_apply_and_the_rest_keep_their_defaults(tmp_path: Path) -> None:
    config = write_config(tmp_path, p2p_limits={"send_queue_bytes": 1_048_576, "ban_s": 300})
    limits = compute_p2p_limits(config)
    assert limits.send_queue_bytes == 1_048_576 and limits.ban_s == 300
    assert compute_p2p_limits(write_config(tmp_path)) == P2PLimits()
    assert P2PLimits().ban_s == DEFAULT_BAN_S


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [({"send_queue_byte": 1}, "unknown keys"), ({"ban_s": 0}, "positive"), ({"ban_s": "long"}, "positive")],
)
def test_bad_p2p_limits_are_a_config_error_naming_the_budget(
    tmp_path: Path, overrides: dict[str, object], needle: str
) -> None:
    with pytest.raises(ConfigError) as err:
        compute_p2p_limits(write_config(tmp_path, p2p_limits=overrides))
    assert needle in err.value.message


def test_api_limit_overrides_apply_and_the_rest_keep_their_defaults(tmp_path: Path) -> None:
    config = write_config(tmp_path, api_limits={"auth_failure_burst": 0, "auth_failures_per_s": 0.5})
    limits = compute_api_limits(config)
    assert limits.auth_failure_burst == 0 and limits.auth_failures_per_s == 0.5
    assert limits.max_heavy_requests == ApiLimits().max_heavy_requests
    assert compute_api_limits(write_config(tmp_path)) == ApiLimits()
    assert json.loads(config.to_json())["api_limits"] == {"auth_failure_burst": 0, "auth_failures_per_s": 0.5}


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"max_heavy_request": 1}, "unknown keys"),
        ({"max_heavy_requests": -1}, "> 0"),
        ({"max_heavy_requests": 0}, "> 0"),
        ({"max_heavy_requests": "many"}, "> 0"),
        ({"max_heavy_requests": 2.5}, "whole number"),
        ({"auth_failures_per_s": float("nan")}, "finite"),
        ({"auth_failures_per_s": 0}, "> 0"),
        ({"max_body_bytes": float("inf")}, "finite"),
        ({"auth_failure_burst": -1}, ">= 0"),
    ],
)
def test_bad_api_limits_are_a_config_error_naming_the_limit(
    tmp_path: Path, overrides: dict[str, object], needle: str
) -> None:
    with pytest.raises(ConfigError) as err:
        compute_api_limits(write_config(tmp_path, api_limits=overrides))
    assert needle in err.value.message


def test_config_round_trips_its_resource_settings(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, mempool_sender_max_txs=5, api_view_workers=0, p2p_limits={"max_handshakes": 4}
    )
    again = json.loads(config.to_json())
    assert again["mempool_sender_max_txs"] == 5 and again["api_view_workers"] == 0
    assert again["p2p_limits"] == {"max_handshakes": 4}


def test_the_execution_engine_is_auto_unless_the_config_names_one(tmp_path: Path) -> None:
    assert write_config(tmp_path).execution_engine == "auto"
    assert write_config(tmp_path, execution_engine="pyevm").execution_engine == "pyevm"


def test_a_misspelt_execution_engine_is_a_config_error(tmp_path: Path) -> None:
    # a typo must not quietly pick an engine
    with pytest.raises(ConfigError) as err:
        write_config(tmp_path, execution_engine="revm")
    assert "execution_engine" in err.value.message


@pytest.mark.parametrize(
    ("name", "engine", "vm"),
    [
        ("auto", NativeExecutionEngine, "evmone"),  # make test builds the library
        ("native", NativeExecutionEngine, "revm"),
        ("evmone", NativeExecutionEngine, "evmone"),
        ("pyevm", ExecutionEngine, None),
    ],
)
def test_the_node_runs_the_engine_its_config_names(
    tmp_path: Path, name: str, engine: type[ExecutionEngine], vm: str | None
) -> None:
    config = write_config(tmp_path, execution_engine=name)
    made = make_engine(config, StateNodeStore(Store("sqlite://")), chain_id=1)
    assert type(made) is engine
    assert getattr(made, "vm", None) == vm


@pytest.mark.parametrize(("present", "level"), [(False, logging.INFO), (True, logging.WARNING)])
def test_auto_runs_revm_when_evmone_is_not_there_and_says_why(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    present: bool,
    level: int,
) -> None:
    """Not built (a wheel install): revm, said at INFO; present but refused (another build): a WARNING. Named
    explicitly, evmone is never replaced."""
    library = tmp_path / "libxevm.so"
    if present:
        library.write_bytes(b"not a library")
    monkeypatch.setattr(evmone, "_loaded", None)
    monkeypatch.setenv(evmone.LIBRARY_ENV, str(library))
    store = StateNodeStore(Store("sqlite://"))
    with caplog.at_level(logging.INFO, logger="xinlian.node"):
        made = make_engine(write_config(tmp_path, execution_engine="auto"), store, chain_id=1)
    assert isinstance(made, NativeExecutionEngine) and made.vm == "revm"
    (record,) = [r for r in caplog.records if "execution engine" in r.getMessage()]
    assert record.levelno == level and "evmone is not available" in record.getMessage()
    with pytest.raises(ExecutionError) as err:
        make_engine(write_config(tmp_path, execution_engine="evmone"), store, chain_id=1)
    assert err.value.code == "native_engine_unavailable"
