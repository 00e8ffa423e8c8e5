"""`xinlian` and the node's signature workers start without the node's heavy parts: py-evm, pyrevm,
SQLAlchemy and FastAPI load only where they are used.

Registering the node's commands reads its configuration module, which once pulled in the whole storage
package (py-evm's forks, SQLAlchemy): 2.2 s before `--help` printed a line. A signature worker, which only
verifies SM2 signatures, imported the whole API and node through ``node.api.limits``: 3 s of CPU per worker
at every node start. And every spawned worker imported the ``xinlian`` script again, the whole CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from node.ledger.signatures import SignatureWorkers

REPO_ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("eth", "pyrevm", "sqlalchemy", "sqlmodel", "fastapi")

PROBE = f"""
import sys
from sdk.cli import main
sys.argv = ["xinlian", "--help"]
try:
    main()
except SystemExit:
    pass
print("loaded:", sorted(name for name in {HEAVY!r} if name in sys.modules), file=sys.stderr)
"""


def test_help_loads_neither_the_evm_nor_the_database() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    assert "genesis" in done.stdout  # the node's commands are registered
    assert done.stderr.strip().splitlines()[-1] == "loaded: []", done.stderr


def test_the_storage_package_still_offers_its_classes() -> None:
    import node.storage
    from node.storage.store import Store

    assert node.storage.Store is Store
    assert isinstance(node.storage.SCHEMA_VERSION, int)


def test_a_signature_worker_loads_neither_the_evm_nor_the_api() -> None:
    workers = SignatureWorkers(1)
    try:
        probe = f"sorted(m for m in {HEAVY!r} if m in __import__('sys').modules)"
        loaded = workers._executor.submit(eval, probe).result(timeout=60)
        assert loaded == []
        assert workers.verify([(b"\x04" + bytes(64), b"message", bytes(64))]) == [False]  # it still works
    finally:
        workers.close()


SCRIPT = """
import sys
import sdk.cli  # what the `xinlian` command imports first
from node.workers import WorkerPool, skip_main_module_in_workers

if __name__ == "__main__":
    skip_main_module_in_workers()  # as `xinlian node run` does first
    pool = WorkerPool(1, int, (0,))
    try:
        probe = "'sdk.cli' in __import__('sys').modules"
        print("worker imported the CLI:", pool._executor.submit(eval, probe).result(timeout=60))
    finally:
        pool.close()
"""


@pytest.mark.parametrize("run_as", ["file", "module"])  # the `xinlian` command; `python -m sdk.cli` (devnets)
def test_node_workers_do_not_import_the_command_again(tmp_path: Path, run_as: str) -> None:
    script = tmp_path / "xinlian_like.py"
    script.write_text(SCRIPT, encoding="utf-8")
    command = [str(script)] if run_as == "file" else ["-m", "xinlian_like"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT)])}
    done = subprocess.run(
        [sys.executable, *command], capture_output=True, text=True, check=True, timeout=120, env=env
    )
    assert done.stdout.strip() == "worker imported the CLI: False", done.stdout + done.stderr


def test_the_node_command_renames_its_main_module_before_anything_else(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import node.cli
    import node.workers

    class Called(Exception):
        pass

    def called() -> None:
        raise Called

    monkeypatch.setattr(node.workers, "skip_main_module_in_workers", called)
    with pytest.raises(Called):  # before the config is read: this one does not exist
        node.cli.serve(tmp_path / "node.json")
