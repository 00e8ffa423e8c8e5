"""Committed contract artifacts (contracts/build/*.json) match a fresh compile of contracts/*.vy."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_contracts", ROOT / "scripts" / "build_contracts.py")
    if spec is None or spec.loader is None:
        raise ImportError("cannot load scripts/build_contracts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_build_script()
SOURCES = build.get_sources()


def test_every_source_has_an_artifact_and_no_orphans() -> None:
    expected = {f"{s.stem}.json" for s in SOURCES}
    present = {p.name for p in build.BUILD_DIR.glob("*.json")}
    assert "Governance.json" in expected
    assert expected == present


@pytest.mark.parametrize("source", SOURCES, ids=[s.stem for s in SOURCES])
def test_committed_artifact_matches_fresh_compile(source: Path) -> None:
    committed = build.get_artifact_path(source).read_text(encoding="utf-8")
    fresh = build.render_artifact(build.compile_contract(source))
    assert committed == fresh, f"{source.name} changed: run python scripts/build_contracts.py"


@pytest.mark.parametrize("source", SOURCES, ids=[s.stem for s in SOURCES])
def test_artifact_records_sm3_of_source_and_runtime_code(source: Path) -> None:
    from sdk.crypto import sm3

    artifact = json.loads(build.get_artifact_path(source).read_text(encoding="utf-8"))
    assert artifact["source_sm3"] == sm3(source.read_bytes()).hex()
    assert artifact["deployed_bytecode"].startswith("0x") and len(artifact["deployed_bytecode"]) > 2
    assert artifact["compiler"].startswith("vyper 0.4.3")
