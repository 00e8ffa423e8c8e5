"""`xinlian` starts without the node's heavy parts: py-evm, pyrevm and SQLAlchemy load only for the
commands that use them. Registering the node's commands reads its configuration module, which once pulled
in the whole storage package (py-evm's forks, SQLAlchemy): 2.2 s before `--help` printed a line."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("eth", "pyrevm", "sqlalchemy", "sqlmodel")

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
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60)
    assert "genesis" in done.stdout  # the node's commands are registered
    assert done.stderr.strip().splitlines()[-1] == "loaded: []", done.stderr


def test_the_storage_package_still_offers_its_classes() -> None:
    import node.storage
    from node.storage.store import Store

    assert node.storage.Store is Store
    assert isinstance(node.storage.SCHEMA_VERSION, int)
