"""A validator restored from an old backup while the chain went on: it signs nothing at heights it may have
signed (its guard file, beside the database, says how far it went), catches up by sync, then takes part
again; every node keeps the same chain."""

from __future__ import annotations

from pathlib import Path

from node.backup import backup_node, restore_node
from node.consensus.signing_guard import GuardedWal, SigningGuard
from node.consensus.wal import ConsensusWal, WalRecord
from node.runtime import Node
from tests.integration.test_consensus_runtime import assert_same_chain, start_nodes
from tests.support import wait_until


class RecordingWal:
    """Wraps the SQL WAL and keeps every record appended (what the validator signed) for the test."""

    def __init__(self, inner: ConsensusWal) -> None:
        self.inner = inner
        self.appended: list[WalRecord] = []

    def append(self, record: WalRecord) -> None:
        self.inner.append(record)
        self.appended.append(record)

    def get_records(self, height: int) -> tuple[WalRecord, ...]:
        return self.inner.get_records(height)

    def prune_below(self, height: int) -> None:
        self.inner.prune_below(height)


def test_a_restored_validator_does_not_sign_again_what_it_signed(tmp_path: Path) -> None:
    nodes = start_nodes(tmp_path / "net", 4)
    restored: Node | None = None
    try:
        wait_until(lambda: min(n.ledger.height for n in nodes) >= 2, 60, "the network to commit blocks")
        victim = nodes[3]
        config = victim.config
        manifest = backup_node(config, tmp_path / "v3.tar")  # online, while it signs
        target = manifest.head_height + 6
        wait_until(lambda: victim.ledger.height >= target, 60, "the chain to move past the backup")
        victim.stop()
        guard = SigningGuard.in_folder(Path(config.data_dir)).mark
        assert guard is not None and guard.height > manifest.head_height + 1
        restore_node(config, tmp_path / "v3.tar", force=True)

        restored = Node(config, empty_block_interval_ms=1_000)
        nodes[3] = restored
        assert restored.ledger.height == manifest.head_height
        assert restored.signing_held_through == guard.height
        assert restored.liveness().signing_held_through == guard.height
        assert isinstance(restored.wal, GuardedWal)
        recorder = RecordingWal(restored.wal.inner)
        restored.wal.inner = recorder
        restored.start()

        # It follows the chain past what it signed, then signs again.
        wait_until(lambda: restored.ledger.height > guard.height + 1, 90, "the restored node to catch up")
        wait_until(
            lambda: any(r.height > guard.height for r in recorder.appended), 60, "the restored node to sign"
        )
        assert [r for r in recorder.appended if r.height <= guard.height] == []
        assert restored.signing_held_through is None

        # It takes part: with another validator stopped, every new block needs its votes (quorum 3 of 4).
        nodes[0].stop()
        others = nodes[1:]
        height = min(n.ledger.height for n in others)
        wait_until(
            lambda: min(n.ledger.height for n in others) >= height + 3, 90, "progress with node 0 down"
        )
        top = min(n.ledger.height for n in others)
        assert_same_chain(others, top)
        assert_same_chain([nodes[0], restored], min(nodes[0].ledger.height, top))
    finally:
        for node in nodes:
            node.stop()
