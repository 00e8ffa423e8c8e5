"""End-to-end fixtures: a one-validator network in tmp_path and its node as a real child process; the built
wheel and fresh venvs installed from it (built once per session, only when a test asks for them)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.helpers import (
    Network,
    NodeProcess,
    Venv,
    build_wheel,
    create_network,
    make_venv,
    snapshot_code,
)


@pytest.fixture
def network(tmp_path: Path) -> Network:
    """A fresh one-validator network (genesis, keys, node config on a free port) under tmp_path."""
    return create_network(tmp_path / "net")


@pytest.fixture
def node_process(network: Network, tmp_path: Path) -> Iterator[NodeProcess]:
    """The network's node as an `xinlian node run` process (not started) on a snapshot of the code."""
    process = NodeProcess(network, code_dir=snapshot_code(tmp_path / "code"))
    try:
        yield process
    finally:
        process.kill()


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The xinlian wheel, built from the working tree as a release builds it."""
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def node_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A fresh venv with `pip install 'xinlian[node]'` from the wheel (not editable, no repository)."""
    return make_venv(tmp_path_factory.mktemp("node-venv") / "venv", wheel, extras="node")


@pytest.fixture(scope="session")
def light_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A fresh venv with the light install (`pip install xinlian`, no extras) from the wheel, then without
    tongsuopy: what a platform tongsuopy ships no wheel for (aarch64 Linux) gets."""
    venv = make_venv(tmp_path_factory.mktemp("light-venv") / "venv", wheel)
    subprocess.run(
        [str(venv.python), "-m", "pip", "uninstall", "-y", "-q", "tongsuopy"], check=True, capture_output=True
    )
    return venv
