"""`xinlian node backup` and `xinlian node restore`: a consistent copy of a node's database, taken while the
node runs, and its restoration into a stopped node.

A backup is one tar file: ``manifest.json`` (what was copied: chain id, genesis hash, head, format) and the
database — ``chain.db``, a SQLite online backup (the sqlite3 backup API, one read transaction), or
``chain.pgdump``, a ``pg_dump`` custom-format archive taken in the same exported snapshot the manifest was
read in. The signing guard (``signed-height`` in the data folder) is never part of a backup and a restore
never touches it: it is what keeps a restored validator from signing again what it signed after the backup.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from node.config import NodeConfig
from node.storage.engine import create_store_engine
from node.storage.migrate import SCHEMA_VERSION, SCHEMA_VERSION_KEY
from node.storage.models import ALL_TABLES
from sdk.errors import InputError, OutputError, StorageError, UsageError
from sdk.types import BlockHeader

BACKUP_FORMAT = "xinlian-node-backup"
BACKUP_VERSION = 1
MANIFEST_NAME = "manifest.json"
SQLITE_MEMBER = "chain.db"
POSTGRES_MEMBER = "chain.pgdump"
_COPY_CHUNK = 1 << 20
_SQL_HEAD = "SELECT height, block_hash, header FROM blocks ORDER BY height DESC LIMIT 1"
_SQL_GENESIS = "SELECT block_hash FROM blocks WHERE height = 0"
_SQL_SCHEMA_VERSION = "SELECT value FROM metadata WHERE key = :key"


@dataclass(frozen=True)
class BackupManifest:
    """What a backup holds. ``schema`` is the PostgreSQL schema the tables were in ("" for SQLite)."""

    format: str
    format_version: int
    database: str
    data_file: str
    data_sha256: str
    data_bytes: int
    chain_id: int
    genesis_hash: str
    head_height: int
    head_hash: str
    schema_version: int
    schema: str
    created_ms: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """The chain and head the backup holds, for people: ``chain 1001 at height 42 (0x…)``."""
        return f"chain {self.chain_id} at height {self.head_height} ({self.head_hash})"


@dataclass(frozen=True)
class _Snapshot:
    chain_id: int
    genesis_hash: bytes
    head_height: int
    head_hash: bytes
    schema_version: int
    schema: str = ""


def _snapshot_from_rows(head: Any, genesis: Any, schema_version: Any, *, where: str) -> _Snapshot:
    if head is None or genesis is None:
        raise InputError(f"{where} holds no chain (no blocks)", code="no_chain")
    height, block_hash, header_bytes = head
    header = BlockHeader.decode(bytes(header_bytes))
    return _Snapshot(
        chain_id=header.chain_id,
        genesis_hash=bytes(genesis[0]),
        head_height=int(height),
        head_hash=bytes(block_hash),
        schema_version=int(bytes(schema_version[0]).decode()) if schema_version else SCHEMA_VERSION,
    )


# --- backing up ------------------------------------------------------------------------------------------
def backup_node(config: NodeConfig, out: Path, *, force: bool = False) -> BackupManifest:
    """Write a consistent backup of ``config``'s database to ``out`` while the node may run.

    Raises UsageError (``out`` exists without ``force``; ``pg_dump`` missing), InputError (no chain in
    the database), OutputError (``out`` cannot be written) or StorageError (the copy failed).
    """
    if out.exists() and not force:
        raise UsageError(f"{out} exists; pass --force to replace it", code="output_exists", path=str(out))
    url = config.resolved_database_url()
    work = out.parent / f".{out.name}.partial-{secrets.token_hex(4)}"
    try:
        work.mkdir(parents=True)
    except OSError as exc:
        raise OutputError(f"cannot write the backup to {out}: {exc.strerror or exc}", path=str(out)) from exc
    try:
        if make_url(url).get_backend_name() == "sqlite":
            member, snapshot = SQLITE_MEMBER, _backup_sqlite(_sqlite_path(url), work / SQLITE_MEMBER)
        else:
            member, snapshot = POSTGRES_MEMBER, _backup_postgres(url, work / POSTGRES_MEMBER)
        data = work / member
        manifest = BackupManifest(
            format=BACKUP_FORMAT,
            format_version=BACKUP_VERSION,
            database="sqlite" if member == SQLITE_MEMBER else "postgresql",
            data_file=member,
            data_sha256=_sha256_file(data),
            data_bytes=data.stat().st_size,
            chain_id=snapshot.chain_id,
            genesis_hash="0x" + snapshot.genesis_hash.hex(),
            head_height=snapshot.head_height,
            head_hash="0x" + snapshot.head_hash.hex(),
            schema_version=snapshot.schema_version,
            schema=snapshot.schema,
            created_ms=int(time.time() * 1000),
        )
        archive = work / "backup.tar"
        try:
            with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
                encoded = json.dumps(manifest.to_json(), indent=2).encode()
                info = tarfile.TarInfo(MANIFEST_NAME)
                info.size, info.mtime, info.mode = len(encoded), int(time.time()), 0o600
                tar.addfile(info, io.BytesIO(encoded))
                tar.add(data, arcname=member, recursive=False)
            _fsync_file(archive)
            os.replace(archive, out)
            _fsync_folder(out.parent)
        except OSError as exc:
            raise OutputError(
                f"cannot write the backup to {out}: {exc.strerror or exc}", path=str(out)
            ) from exc
        return manifest
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise UsageError("an in-memory database cannot be backed up or restored", code="no_database_file")
    return Path(database)


def _backup_sqlite(source: Path, copy: Path) -> _Snapshot:
    """Copy the live database with the sqlite3 backup API (all pages in one step, under one read lock, so
    the copy is one committed state even while the node writes), then read the manifest from the copy."""
    if not source.is_file():
        raise InputError(f"there is no database at {source}", code="no_database", path=str(source))
    try:
        src = sqlite3.connect(source, timeout=30)
        try:
            dst = sqlite3.connect(copy)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
        _fsync_file(copy)
        return _read_sqlite_snapshot(copy)
    except sqlite3.Error as exc:
        raise StorageError(f"the SQLite backup failed: {exc}", path=str(source)) from exc


def _read_sqlite_snapshot(path: Path) -> _Snapshot:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        try:
            head = db.execute(_SQL_HEAD).fetchone()
            genesis = db.execute(_SQL_GENESIS).fetchone()
            version = db.execute(_SQL_SCHEMA_VERSION.replace(":key", "?"), (SCHEMA_VERSION_KEY,)).fetchone()
        except sqlite3.Error as exc:
            raise InputError(f"{path} is not a node database: {exc}", code="no_chain") from exc
        return _snapshot_from_rows(head, genesis, version, where=str(path))
    finally:
        db.close()


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The libpq URI of a SQLAlchemy PostgreSQL URL (its options kept) and the environment carrying its
    password (never on a command line)."""
    parsed: URL = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise UsageError(
            f"{name} is not on PATH: backups of a PostgreSQL node need the PostgreSQL client tools",
            code="pg_tools_missing",
            tool=name,
        )
    return found


def _backup_postgres(url: str, dump: Path) -> _Snapshot:
    """Export a snapshot, read the manifest in it and run pg_dump in that same snapshot (custom format, the
    node's tables only): the archive and the manifest describe one committed state."""
    pg_dump = _tool("pg_dump")
    engine = create_store_engine(url)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                snapshot_id = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                schema = str(conn.execute(text("SELECT current_schema()")).scalar_one())
                if conn.execute(text("SELECT to_regclass('blocks')")).scalar() is None:
                    raise InputError("the database holds no chain (no blocks table)", code="no_chain")
                head = conn.execute(text(_SQL_HEAD)).first()
                genesis = conn.execute(text(_SQL_GENESIS)).first()
                version = conn.execute(text(_SQL_SCHEMA_VERSION), {"key": SCHEMA_VERSION_KEY}).first()
                found = _snapshot_from_rows(head, genesis, version, where="the database")
                libpq_url, env = _libpq(url)
                tables = [arg for table in ALL_TABLES for arg in ("--table", f'"{schema}"."{table.name}"')]
                command = [pg_dump, "--format=custom", f"--snapshot={snapshot_id}", "--no-owner"]
                command += ["--no-privileges", f"--file={dump}", *tables, libpq_url]
                result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
                if result.returncode != 0:
                    raise StorageError(
                        f"pg_dump failed: {result.stderr.strip() or result.returncode}", code="pg_dump_failed"
                    )
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot read the database: {exc}") from exc
    finally:
        engine.dispose()
    _fsync_file(dump)
    return _Snapshot(
        found.chain_id, found.genesis_hash, found.head_height, found.head_hash, found.schema_version, schema
    )


# --- reading a backup ------------------------------------------------------------------------------------
@contextlib.contextmanager
def open_backup(source: Path) -> Iterator[tuple[BackupManifest, IO[bytes]]]:
    """The manifest of the backup at ``source`` and its database member as a stream.

    Raises InputError for a missing file, a file that is not a node backup, or another format version.
    """
    try:
        tar = tarfile.open(source, "r:")  # noqa: SIM115 (closed by the with below)
    except (OSError, tarfile.TarError) as exc:
        raise InputError(
            f"cannot read the backup {source}: {exc}", code="bad_backup", path=str(source)
        ) from exc
    with tar:
        try:
            raw = tar.extractfile(MANIFEST_NAME)
            if raw is None:
                raise KeyError(MANIFEST_NAME)
            document = json.loads(raw.read().decode("utf-8"))
            if document.get("format") != BACKUP_FORMAT:
                raise ValueError("not a node backup")
            if document.get("format_version") != BACKUP_VERSION:
                raise ValueError(f"format version {document.get('format_version')} is not {BACKUP_VERSION}")
            manifest = BackupManifest(**document)
            data = tar.extractfile(manifest.data_file)
            if data is None or manifest.data_file not in (SQLITE_MEMBER, POSTGRES_MEMBER):
                raise KeyError(manifest.data_file)
        except (KeyError, ValueError, TypeError, UnicodeDecodeError, tarfile.TarError) as exc:
            raise InputError(
                f"{source} is not a readable node backup: {exc}", code="bad_backup", path=str(source)
            ) from exc
        yield manifest, data


# --- restoring -------------------------------------------------------------------------------------------
def restore_node(config: NodeConfig, source: Path, *, force: bool = False) -> BackupManifest:
    """Replace ``config``'s database with the backup at ``source``; the node must be stopped.

    Refuses (UsageError) while a node holds the data folder (``node_running``) or when a database with a
    chain exists and ``force`` is not given (``database_exists``); refuses (InputError) a backup of another
    chain than the node's genesis file (``backup_of_another_chain``) or one whose data does not match its
    manifest (``bad_backup``). The signing guard in the data folder is left as it is.
    """
    from node.runtime import lock_data_dir

    data_dir = Path(config.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        lock = lock_data_dir(data_dir, exclusive=True)
    except BlockingIOError as exc:
        raise UsageError(
            f"a node is running on {data_dir}: stop it before restoring",
            code="node_running",
            path=str(data_dir),
        ) from exc
    with lock, open_backup(source) as (manifest, data):
        _check_chain(config, manifest)
        url = config.resolved_database_url()
        if make_url(url).get_backend_name() == "sqlite":
            if manifest.database != "sqlite":
                raise InputError("this backup is of a PostgreSQL node", code="backup_of_another_database")
            _restore_sqlite(_sqlite_path(url), data, manifest, force=force)
        else:
            if manifest.database != "postgresql":
                raise InputError("this backup is of a SQLite node", code="backup_of_another_database")
            _restore_postgres(url, data, manifest, force=force)
    return manifest


def _check_chain(config: NodeConfig, manifest: BackupManifest) -> None:
    from node.execution import ExecutionEngine
    from node.genesis import GenesisFile, build_genesis

    genesis = GenesisFile.load(config.genesis_path)
    genesis_hash = build_genesis(ExecutionEngine({}, genesis.chain.chain_id), genesis).header.block_hash
    if manifest.genesis_hash != "0x" + genesis_hash.hex() or manifest.chain_id != genesis.chain.chain_id:
        raise InputError(
            "the backup is of another chain than this node's genesis file",
            code="backup_of_another_chain",
            backup_genesis=manifest.genesis_hash,
            node_genesis="0x" + genesis_hash.hex(),
        )


def _copy_checked(data: IO[bytes], target: Path, manifest: BackupManifest) -> None:
    digest = hashlib.sha256()
    with target.open("wb") as out:
        while chunk := data.read(_COPY_CHUNK):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    if digest.hexdigest() != manifest.data_sha256:
        raise InputError("the backup's database does not match its manifest (damaged)", code="bad_backup")


def _restore_sqlite(path: Path, data: IO[bytes], manifest: BackupManifest, *, force: bool) -> None:
    if path.exists() and path.stat().st_size > 0 and not force:
        raise UsageError(
            f"{path} exists; pass --force to replace it with the backup",
            code="database_exists",
            path=str(path),
        )
    staged = path.with_name(path.name + ".restoring")
    try:
        _copy_checked(data, staged, manifest)
        found = _read_sqlite_snapshot(staged)
        if (found.head_height, "0x" + found.head_hash.hex()) != (manifest.head_height, manifest.head_hash):
            raise InputError(
                "the backup's database does not hold the head its manifest names", code="bad_backup"
            )
        # The old database's WAL and shared memory must not be applied to the restored file.
        for leftover in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)
        os.replace(staged, path)
        _fsync_folder(path.parent)
    except OSError as exc:
        raise OutputError(f"cannot restore into {path}: {exc.strerror or exc}", path=str(path)) from exc
    finally:
        staged.unlink(missing_ok=True)


def _restore_postgres(url: str, data: IO[bytes], manifest: BackupManifest, *, force: bool) -> None:
    pg_restore = _tool("pg_restore")
    engine = create_store_engine(url)
    try:
        with engine.connect() as conn:
            schema = str(conn.execute(text("SELECT current_schema()")).scalar_one())
            has_blocks = conn.execute(text("SELECT to_regclass('blocks')")).scalar() is not None
            has_chain = has_blocks and conn.execute(text("SELECT 1 FROM blocks LIMIT 1")).first() is not None
        if schema != manifest.schema:
            raise InputError(
                f"the backup holds schema {manifest.schema!r}; this node's database uses {schema!r}",
                code="backup_of_another_schema",
            )
        if has_chain and not force:
            raise UsageError(
                "the node's database holds a chain; pass --force to replace it with the backup",
                code="database_exists",
            )
        libpq_url, env = _libpq(url)
        staged = Path(os.environ.get("TMPDIR", "/tmp")) / f"xinlian-restore-{secrets.token_hex(6)}.pgdump"  # noqa: S108
        try:
            _copy_checked(data, staged, manifest)
            command = [pg_restore, "--clean", "--if-exists", "--single-transaction", "--exit-on-error"]
            command += ["--no-owner", "--no-privileges", f"--dbname={libpq_url}", str(staged)]
            result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
        finally:
            staged.unlink(missing_ok=True)
        if result.returncode != 0:
            raise StorageError(
                f"pg_restore failed: {result.stderr.strip() or result.returncode}", code="pg_restore_failed"
            )
        with engine.connect() as conn:
            head = conn.execute(text(_SQL_HEAD)).first()
        if head is None or (int(head[0]), "0x" + bytes(head[1]).hex()) != (
            manifest.head_height,
            manifest.head_hash,
        ):
            raise StorageError(
                "the restored database does not hold the backup's head", code="restore_mismatch"
            )
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot reach the node's database: {exc}") from exc
    finally:
        engine.dispose()


# --- files -----------------------------------------------------------------------------------------------
def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_COPY_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_file(path: Path) -> None:
    with path.open("rb+") as handle:
        os.fsync(handle.fileno())


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


__all__ = [
    "BACKUP_FORMAT",
    "BACKUP_VERSION",
    "BackupManifest",
    "backup_node",
    "open_backup",
    "restore_node",
]
