"""The built wheel is what an operator installs: it must carry the compiled system contracts, and a network
must be creatable from the installed layout alone (no repository on the path)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from node.genesis import DOMAIN_CONTRACTS

pytestmark = pytest.mark.e2e


def test_the_wheel_ships_every_compiled_system_contract(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for contract in ("Governance", *DOMAIN_CONTRACTS):
        assert f"contracts/build/{contract}.json" in names, contract
        assert f"contracts/{contract}.vy" in names, contract


def test_the_wheel_ships_the_verify_page_types_and_licence(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for static in (
        "verify.html",
        "verify.js",
        "verify-ui.js",
        "verify-i18n.js",
        "verify.css",
        "sm-crypto.js",
        "vendor/jsqr.js",
        "console.html",
        "console.js",
        "console-i18n.js",
        "console.css",
        "member-auth.js",
        "page-i18n.js",
        "page.css",
        "page.html",
    ):
        assert f"node/api/static/{static}" in names, static
    assert {"sdk/py.typed", "node/py.typed"} <= names
    assert not any(name.startswith(("tests/", "scripts/")) for name in names)
    dist_info = next(name.split("/")[0] for name in names if name.endswith(".dist-info/METADATA"))
    assert f"{dist_info}/licenses/LICENSE" in names
    metadata = zipfile.ZipFile(wheel).read(f"{dist_info}/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata and "Classifier: Typing :: Typed" in metadata
    requires = [
        line.removeprefix("Requires-Dist: ") for line in metadata.splitlines() if "Requires-Dist" in line
    ]
    light = [r for r in requires if "extra ==" not in r]
    assert not any(r.startswith(("web3", "py-evm", "fastapi", "sqlmodel")) for r in light), light
    assert any(r.startswith("eth-hash[pycryptodome]") for r in light), light
    # tongsuopy only where it ships wheels (1.0.1 has none for aarch64 Linux, and no sdist).
    (tongsuo,) = [r for r in light if r.startswith("tongsuopy")]
    assert 'platform_machine == "x86_64"' in tongsuo and 'sys_platform == "darwin"' in tongsuo
    for card in ("web3", "py-evm", "fastapi", "sqlmodel"):  # still declared, in the node extra
        assert any(r.startswith(card) and 'extra == "node"' in r for r in requires), card


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
