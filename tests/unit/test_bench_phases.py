"""The profile phases of scripts/bench/node.py name functions that exist where it looks for them: a function
moved to another module would otherwise make its phase read 0 s without a word."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from scripts.bench.node import PHASES  # noqa: E402


@pytest.mark.parametrize(("label", "suffix", "function"), PHASES, ids=[label.strip() for label, *_ in PHASES])
def test_each_phase_names_a_function_of_its_module(label: str, suffix: str, function: str) -> None:
    modules = [path for path in (ROOT / suffix, ROOT / "node" / suffix) if path.is_file()]
    assert len(modules) == 1, f"{label}: {len(modules)} modules end with {suffix}"
    tree = ast.parse(modules[0].read_text(encoding="utf-8"))
    defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    assert function in defined, f"{label}: {suffix} defines no {function}"
