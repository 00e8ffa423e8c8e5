"""The built wheel is what an operator installs: it must carry the compiled system contracts, and a network
must be creatable from the installed layout alone (no repository on the path)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from node.genesis import DOMAIN_CONTRACTS

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # Built from a copy of the tracked files: no build/ folder of the checkout can leak into the wheel, and
    # none is left behind in it.
    source = out / "source"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True).stdout
    for name in tracked.decode().split("\0"):
        if name and (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    command = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation"]
    subprocess.run([*command, "-q", "-w", str(out)], check=True, capture_output=True, cwd=out)
    (built,) = out.glob("xinlian-*.whl")
    return built


def test_the_wheel_ships_every_compiled_system_contract(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for contract in ("Governance", *DOMAIN_CONTRACTS):
        assert f"contracts/build/{contract}.json" in names, contract
        assert f"contracts/{contract}.vy" in names, contract


def test_a_network_is_created_from_the_installed_wheel_alone(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)  # a pure wheel unpacks to exactly its site-packages layout
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    where = subprocess.run(
        [sys.executable, "-c", "import node.genesis as g; print(g.BUILD_DIR)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert where.stdout.strip() == str(site / "contracts" / "build")  # not the repository's copy
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sdk.cli",
            "network",
            "init",
            "--dir",
            str(tmp_path / "net"),
            "--validators",
            "1",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    genesis = json.loads((tmp_path / "net" / "genesis.json").read_text(encoding="utf-8"))
    assert genesis["chain"]["chain_id"] == 1001
    assert genesis["governance_code"].startswith("0x") and len(genesis["governance_code"]) > 1000
    assert len(genesis["system_contracts"]) == len(DOMAIN_CONTRACTS)  # every contract found in the wheel
