"""On the light install (no xinlian[node]), every node command says what to install, on stderr, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    "command",
    [
        ["node", "run", "--config", "node.json"],
        ["network", "init", "--dir", "net"],
        ["genesis", "keys", "--dir", "net"],
        ["demo"],
        ["devnet"],
    ],
    ids=["node run", "network init", "genesis keys", "demo", "devnet"],
)
def test_node_commands_on_the_light_install_say_what_to_install(tmp_path: Path, command: list[str]) -> None:
    # Without py-evm: `import eth` fails, as on an install without the node extra.
    (tmp_path / "sitecustomize.py").write_text('import sys\nsys.modules["eth"] = None\n', encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    done = subprocess.run(
        [sys.executable, "-m", "sdk.cli", *command], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    assert "pip install 'xinlian[node]'" in done.stderr and "eth" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "net").exists()  # nothing half-written
