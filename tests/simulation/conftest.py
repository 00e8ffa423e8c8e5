"""Simulation options: ``--seed N`` (or XINLIAN_SIM_SEED) replays a seed; XINLIAN_SIM_SEEDS sizes sweeps."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The simulator's helper modules live beside the tests (tests/ is not a package).
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


def pytest_addoption(parser: pytest.Parser) -> None:
    try:
        parser.addoption("--seed", type=int, default=None, help="replay one consensus-simulation seed")
        parser.addoption("--sim-n", type=int, default=None, help="validator count for --seed (1, 4 or 7)")
    except ValueError:  # another plugin already defines the option; the environment variables still work
        pass
