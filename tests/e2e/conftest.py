"""End-to-end fixtures: a one-validator network in tmp_path and its node as a real child process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.helpers import Network, NodeProcess, create_network, snapshot_code


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
