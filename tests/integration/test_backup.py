"""`xinlian node backup` / `restore` on a real node: SQLite and (with XINLIAN_TEST_PG_URL) PostgreSQL.

A backup taken while the node produces blocks restores to exactly the state it names; restore refuses a
running node, another chain, an existing database without --force, and leaves the signing guard alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from node_fixtures import NODE_BACKENDS, database_for

from node.backup import BACKUP_VERSION, MANIFEST_NAME, backup_node, open_backup, restore_node
from node.config import NodeConfig
from node.consensus.signing_guard import GUARD_FILE_NAME
from node.demo_network import init_network
from node.runtime import Node, SoloProducer
from sdk.errors import InputError, UsageError
from sdk.exit_codes import ExitCode

REPO = Path(__file__).resolve().parents[2]


def cli(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m sdk.cli` as a process (the node commands are a plugin of the CLI)."""
    return subprocess.run(
        [sys.executable, "-m", "sdk.cli", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )


def make_network(base: Path, database_url: str, chain_id: int = 91) -> Path:
    init_network(base, validators=1, chain_id=chain_id, committee_size=1)
    path = base / "nodes" / "node-0.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["database_url"] = database_url
    path.write_text(json.dumps(raw), encoding="utf-8")
    return path


@pytest.fixture(params=NODE_BACKENDS)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    with database_for(request.param) as url:
        yield url


@pytest.fixture
def config_path(tmp_path: Path, database_url: str) -> Path:
    return make_network(tmp_path / "net", database_url)


def produce(node: Node, blocks: int) -> None:
    assert node.key is not None
    producer = SoloProducer(node.ledger, node.key, wal=node.wal)
    for _ in range(blocks):
        producer.produce_once()


def test_an_online_backup_restores_to_the_state_it_names(config_path: Path, tmp_path: Path) -> None:
    config = NodeConfig.load(config_path)
    node = Node(config)
    out = tmp_path / "backup.tar"
    try:
        produce(node, 3)
        # Back up while the node keeps committing blocks in another thread.
        stop = threading.Event()

        def keep_producing() -> None:
            while not stop.is_set():
                produce(node, 1)

        worker = threading.Thread(target=keep_producing)
        worker.start()
        try:
            manifest = backup_node(config, out)
        finally:
            stop.set()
            worker.join()
        produce(node, 2)
        later = node.ledger.height
        assert later > manifest.head_height >= 3
        expected_hash = node.store.get_block(manifest.head_height).header.block_hash  # type: ignore[union-attr]
        assert manifest.head_hash == "0x" + expected_hash.hex()
        assert manifest.genesis_hash == "0x" + node.genesis_hash.hex()
        assert manifest.chain_id == node.chain.chain_id and manifest.format_version == BACKUP_VERSION
        # Restore refuses while the node runs.
        with pytest.raises(UsageError) as running:
            restore_node(config, out, force=True)
        assert running.value.code == "node_running"
    finally:
        node.stop()
    guard = Path(config.data_dir) / GUARD_FILE_NAME
    guard_bytes = guard.read_bytes()
    assert guard_bytes  # the node signed blocks: it has a guard
    with tarfile.open(out) as tar:
        assert sorted(tar.getnames()) == sorted([MANIFEST_NAME, manifest.data_file])  # no guard inside

    with pytest.raises(UsageError) as exists:
        restore_node(config, out)
    assert exists.value.code == "database_exists"
    restored = restore_node(config, out, force=True)
    assert restored == manifest
    assert guard.read_bytes() == guard_bytes  # the restore never touches the guard

    node = Node(config)  # starts: the restored head passes the start-up check
    try:
        assert node.ledger.height == manifest.head_height
        assert node.ledger.head.block_hash.hex() == manifest.head_hash[2:]
        # The guard is above the restored head: this validator signs nothing through its last signed height.
        assert node.signing_held_through == later
        assert node.liveness().signing_held_through == later
    finally:
        node.stop()


def test_a_backup_of_another_chain_is_refused(config_path: Path, tmp_path: Path) -> None:
    config = NodeConfig.load(config_path)
    node = Node(config)
    node.stop()
    out = tmp_path / "b.tar"
    backup_node(config, out)
    other = NodeConfig.load(make_network(tmp_path / "other", config.database_url, chain_id=92))
    with pytest.raises(InputError) as refused:
        restore_node(other, out, force=True)
    assert refused.value.code == "backup_of_another_chain"


def test_a_damaged_or_foreign_backup_file_is_refused(config_path: Path, tmp_path: Path) -> None:
    config = NodeConfig.load(config_path)
    Node(config).stop()
    out = tmp_path / "b.tar"
    backup_node(config, out)
    with open_backup(out) as (manifest, _):
        pass
    damaged = tmp_path / "damaged.tar"
    with tarfile.open(out) as src, tarfile.open(damaged, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == manifest.data_file:
                data = data[:-1] + bytes([data[-1] ^ 1])
            info = tarfile.TarInfo(member.name)
            info.size = len(data)
            import io

            dst.addfile(info, io.BytesIO(data))
    with pytest.raises(InputError) as bad:
        restore_node(config, damaged, force=True)
    assert bad.value.code == "bad_backup"
    (tmp_path / "junk.tar").write_bytes(b"not a tar")
    with pytest.raises(InputError):
        restore_node(config, tmp_path / "junk.tar", force=True)
    Node(config).stop()  # the database was left as it was


def test_cli_backup_and_restore_json(config_path: Path, tmp_path: Path) -> None:
    Node(NodeConfig.load(config_path)).stop()
    out = tmp_path / "cli.tar"
    result = cli("node", "backup", "-c", str(config_path), "-o", str(out), "--json")
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    assert document["backup"] == str(out) and document["head_height"] == 0
    again = cli("node", "backup", "-c", str(config_path), "-o", str(out))
    assert again.returncode == ExitCode.USAGE and "output_exists" in again.stderr
    assert again.stderr.count("\n") == 1 and again.stdout == ""
    refused = cli("node", "restore", "-c", str(config_path), "--from", str(out))
    assert refused.returncode == ExitCode.USAGE and "database_exists" in refused.stderr
    restored = cli("node", "restore", "-c", str(config_path), "--from", str(out), "--force", "--json")
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout)["genesis_hash"] == document["genesis_hash"]


def test_postgres_backup_needs_pg_dump(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import shutil

    config = NodeConfig.load(make_network(tmp_path / "pg", "postgresql+psycopg://x:y@127.0.0.1:1/none"))
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(UsageError) as missing:
        backup_node(config, tmp_path / "b.tar")
    assert missing.value.code == "pg_tools_missing"
