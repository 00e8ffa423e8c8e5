"""End-to-end fixtures: a one-validator network in tmp_path and its node as a real child process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.helpers import Network, NodeProcess, create_network


@pytest.fixture
def network(tmp_path: Path) -> Network:
    """A fresh one-validator network (genesis, keys, node config on a free port) under tmp_path."""
    return create_network(tmp_path / "net")


@pytest.fixture
def node_process(network: Network) -> Iterator[NodeProcess]:
    """The network's node as an `xinlian node run` process (not started); killed at teardown."""
    process = NodeProcess(network)
    try:
        yield process
    finally:
        process.kill()
