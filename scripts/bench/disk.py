"""Disk per transaction, by table: commit N Governance grants on a real one-validator ledger (in process) and
report the bytes each table and index holds per committed transaction.

Disk is deterministic (unlike timings), so one run on a busy machine is exact. SQLite: per-table sums from the
``dbstat`` virtual table (pages of the table and of its indexes), and the file size after a WAL checkpoint and
after VACUUM. PostgreSQL (``--pg URL``, an empty database the run may fill): ``pg_table_size`` and
``pg_indexes_size`` per table. The genesis chain is measured first and subtracted, so the figures are the cost
of the N grants alone.

    .venv/bin/python scripts/bench/disk.py                       # 2000 grants, blocks of 200, SQLite
    .venv/bin/python scripts/bench/disk.py --txs 2000 --block-txs 200 --json
    .venv/bin/python scripts/bench/disk.py --pg postgresql+psycopg://xinlian:xinlian@127.0.0.1:5432/xinlian_bench
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from scripts.bench.node import create_network, progress, sign_grants  # noqa: E402


def sqlite_table_bytes(path: Path) -> dict[str, int]:
    """Bytes of each table of the SQLite database at ``path``, its indexes included (``dbstat`` pages)."""
    conn = sqlite3.connect(path)
    try:
        owner = {
            name: table
            for name, table in conn.execute(
                "SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"
            )
        }
        sizes: dict[str, int] = {}
        for name, pgsize in conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
            table = owner.get(name, name)
            sizes[table] = sizes.get(table, 0) + int(pgsize)
        return sizes
    finally:
        conn.close()


def sqlite_index_bytes(path: Path) -> dict[str, int]:
    """Bytes of each table's b-tree and each index's, by name (``dbstat``)."""
    conn = sqlite3.connect(path)
    try:
        return {
            name: int(size)
            for name, size in conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")
        }
    finally:
        conn.close()


def sqlite_checkpoint(path: Path) -> int:
    """Checkpoint the WAL into the main file (TRUNCATE) and return the main file's size."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return path.stat().st_size


def sqlite_vacuumed_size(path: Path, workdir: Path) -> int:
    """The size of a VACUUM INTO copy of the database (free pages dropped, b-trees packed)."""
    target = workdir / "vacuumed.db"
    target.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    try:
        conn.execute("VACUUM INTO ?", (str(target),))
    finally:
        conn.close()
    size = target.stat().st_size
    target.unlink()
    return size


def pg_table_bytes(url: str, *, compact: bool = False) -> dict[str, int]:
    """``pg_table_size`` (heap + TOAST) and ``pg_indexes_size`` of every table of the node's schema; with
    ``compact``, after VACUUM FULL (deleted rows, e.g. pruned state nodes, take space until then)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if compact:
                conn.execute(text("VACUUM FULL"))
            rows = conn.execute(
                text(
                    "SELECT c.relname, pg_table_size(c.oid), pg_indexes_size(c.oid) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.relkind = 'r' AND n.nspname = current_schema()"
                )
            ).all()
    finally:
        engine.dispose()
    sizes: dict[str, int] = {}
    for name, table, indexes in rows:
        sizes[str(name)] = int(table) + int(indexes)
        sizes[f"{name} (indexes)"] = int(indexes)
    return sizes


def pg_drop_all(url: str) -> None:
    """Empty the PostgreSQL database at ``url`` (every table of its current schema, an older release's
    included) so the run starts from genesis."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            names = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))
            for (name,) in names.all():
                conn.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))
    finally:
        engine.dispose()


def run(
    txs: int, block_txs: int, workdir: Path, pg_url: str | None, engine: str, history: int = 0
) -> dict[str, Any]:
    """Commit ``txs`` grants in blocks of ``block_txs`` on an in-process node; return the size figures.

    ``history`` > 0 prunes the state as a pruned node does (``Store.collect_state(history)`` every
    ``StateCollector.every`` blocks, and once at the end); 0 keeps every height's state (archive)."""
    from node.config import NodeConfig
    from node.runtime import Node, SoloProducer
    from node.storage.pruning import StateCollector

    net = create_network(workdir / "disk", engine)
    raw = json.loads(net.config_path.read_text(encoding="utf-8"))
    raw["state_history_blocks"] = 0  # this run collects the state itself, in process (--history)
    if pg_url:
        pg_drop_all(pg_url)
        raw["database_url"] = pg_url
    net.config_path.write_text(json.dumps(raw, indent=2), encoding="utf-8")
    db_path = net.data_dir / "chain.db"

    def measure() -> dict[str, int]:
        if pg_url:
            return pg_table_bytes(pg_url)
        sqlite_checkpoint(db_path)
        sizes = sqlite_table_bytes(db_path)
        sizes.update({f"[{name}]": size for name, size in sqlite_index_bytes(db_path).items()})
        return sizes

    node = Node(NodeConfig.load(net.config_path))
    collect_every = StateCollector(node.store, history).every if history else 0
    committed = blocks = 0
    try:
        if node.key is None:
            raise RuntimeError("the node config names no validator key")
        producer = SoloProducer(node.ledger, node.key)
        before = measure()
        file_before = 0 if pg_url else sqlite_checkpoint(db_path)
        expiry = node.ledger.height + net.genesis.chain.expiry_window - 50
        per = [
            txs // len(net.grantors) + (1 if k < txs % len(net.grantors) else 0)
            for k in range(len(net.grantors))
        ]
        progress(f"signing {txs} grants")
        # Interleave grantors so each block mixes senders, as concurrent clients do.
        batches = [sign_grants(net, g, n, expiry) for g, n in zip(net.grantors, per, strict=True)]
        raws = [batch[i] for i in range(max(per)) for batch in batches if i < len(batch)]
        progress(f"committing in blocks of {block_txs}")
        for start in range(0, len(raws), block_txs):
            for raw in raws[start : start + block_txs]:
                node.ledger.admit_transaction(raw)
            while len(node.ledger.mempool):
                executed = producer.produce_once()
                committed += len(executed.block.transactions)
                blocks += 1
                # What the consensus driver does after each commit (the WAL keeps recent heights only).
                producer.wal.prune_below(node.ledger.height + 1)
                if collect_every and blocks % collect_every == 0:
                    node.store.collect_state(history)
        if history:
            node.store.collect_state(history)
    finally:
        node.stop()
    after = measure()
    compacted = pg_table_bytes(pg_url, compact=True) if pg_url else None
    report: dict[str, Any] = {
        "backend": "postgresql" if pg_url else "sqlite",
        "txs": txs,
        "committed": committed,
        "blocks": blocks,
        "block_txs": block_txs,
        "state_history": history,
        "bytes_per_tx_by_table": {
            name: (after.get(name, 0) - before.get(name, 0)) / max(1, committed)
            for name in sorted(set(after) | set(before))
            if not name.startswith("[")
        },
        "bytes_per_tx_by_btree": {
            name[1:-1]: (after.get(name, 0) - before.get(name, 0)) / max(1, committed)
            for name in sorted(set(after) | set(before))
            if name.startswith("[")
        },
    }
    if compacted is not None:
        report["bytes_per_tx_by_table_after_vacuum_full"] = {
            name: (compacted.get(name, 0) - before.get(name, 0)) / max(1, committed)
            for name in sorted(set(compacted) | set(before))
        }
    if not pg_url:
        file_after = sqlite_checkpoint(db_path)
        vacuumed = sqlite_vacuumed_size(db_path, workdir)
        report["file_bytes_genesis"] = file_before
        report["file_bytes"] = file_after
        report["file_bytes_per_tx"] = (file_after - file_before) / max(1, committed)
        report["file_bytes_per_tx_incl_genesis"] = file_after / max(1, committed)
        report["vacuumed_bytes_per_tx_incl_genesis"] = vacuumed / max(1, committed)
    return report


def print_report(report: dict[str, Any], out: Callable[[str], None] = print) -> None:
    out(
        f"{report['backend']}: {report['committed']} grants in {report['blocks']} blocks "
        f"(≤ {report['block_txs']} per block), state "
        + (f"pruned to the last {report['state_history']} heights" if report["state_history"] else "archive")
        + ", bytes per transaction (genesis subtracted):"
    )
    by_table = report["bytes_per_tx_by_table"]
    total = sum(v for k, v in by_table.items() if not k.endswith("(indexes)"))
    for name, value in sorted(by_table.items(), key=lambda item: -item[1]):
        if value:
            out(f"  {name:32s} {value:9.1f}")
    out(f"  {'total':32s} {total:9.1f}")
    # The consensus WAL keeps the signed messages of recent heights only (pruned every few dozen heights):
    # bounded, not a cost that grows with the chain.
    out(f"  {'total without consensus_wal':32s} {total - by_table.get('consensus_wal', 0.0):9.1f}")
    btrees = report.get("bytes_per_tx_by_btree") or {}
    if btrees:
        out("  by b-tree (table or index):")
        for name, value in sorted(btrees.items(), key=lambda item: -item[1]):
            if value:
                out(f"    {name:40s} {value:9.1f}")
    compacted = report.get("bytes_per_tx_by_table_after_vacuum_full")
    if compacted:
        total = sum(v for k, v in compacted.items() if not k.endswith("(indexes)"))
        wal = compacted.get("consensus_wal", 0.0)
        out(f"  after VACUUM FULL: total {total:.1f}, without consensus_wal {total - wal:.1f}; by table:")
        for name, value in sorted(compacted.items(), key=lambda item: -item[1]):
            if value and not name.endswith("(indexes)"):
                out(f"    {name:30s} {value:9.1f}")
    if "file_bytes" in report:
        out(
            f"  SQLite file after checkpoint: {report['file_bytes']} B "
            f"({report['file_bytes_per_tx']:.1f} B/tx over genesis, "
            f"{report['file_bytes_per_tx_incl_genesis']:.1f} B/tx with genesis); "
            f"after VACUUM {report['vacuumed_bytes_per_tx_incl_genesis']:.1f} B/tx with genesis"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--txs", type=int, default=2000, help="grants to commit (default 2000)")
    parser.add_argument("--block-txs", type=int, default=200, help="transactions per block (default 200)")
    parser.add_argument("--pg", default=os.environ.get("XINLIAN_BENCH_PG_URL"), help="a PostgreSQL URL")
    parser.add_argument("--engine", default="native", choices=("native", "pyevm"))
    parser.add_argument(
        "--history", type=int, default=0, help="prune the state to the last N heights (default 0: archive)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--keep", action="store_true", help="keep the temporary network")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="xinlian-disk-"))
    try:
        report = run(args.txs, args.block_txs, workdir, args.pg, args.engine, args.history)
    finally:
        if args.keep:
            progress(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)


if __name__ == "__main__":
    main()
