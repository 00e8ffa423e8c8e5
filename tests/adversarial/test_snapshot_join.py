"""A validator joins a running network by snapshot (real nodes: ledger, consensus driver, p2p over loopback
TLS) while three lying observers are connected to it: one sends a manifest whose header (another state
root) is sealed by its own key, not a quorum; one sends the honest manifest and then corrupted state nodes;
one sends a manifest frame over the size limit. The join refuses all three, completes from the honest
validators, and the joined node then follows the chain and agrees with them on every block (hence every
state root) from the snapshot height on."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import pytest

from node.config import NodeConfig
from node.ledger.snapshot import build_manifest, encode_manifest, verify_manifest
from node.p2p.peers import MAX_SNAPSHOT_BYTES
from node.p2p.wire import FrameType
from node.runtime import Node
from sdk.crypto import PrivateKey
from sdk.errors import StorageError
from sdk.proofs.trust import Genesis
from sdk.types import CommitCertificate, Seal, commit_preimage
from tests.adversarial.test_sync_adversary import CHAIN_ID, SyncLiar, start_three_of_four
from tests.support import wait_until


class SnapshotLiar(SyncLiar):
    """An allowed observer that answers GET_SNAPSHOT and GET_STATE with a lie of its ``kind``."""

    def __init__(self, key: PrivateKey, victim: Node, source: Node, kind: str) -> None:
        super().__init__(key, victim, source)
        self.kind = kind
        self.asked: list[int] = []

    def _manifest(self) -> bytes:
        honest = build_manifest(self.source.ledger)
        if self.kind != "forged":
            return honest
        genesis = self.source.store.get_block(0)
        assert genesis is not None
        trust = Genesis(CHAIN_ID, self.source.genesis_hash, tuple(genesis.next_validators))
        snapshot = verify_manifest(honest, trust)
        header = dataclasses.replace(snapshot.block.header, state_root=b"\x07" * 32)
        block = dataclasses.replace(snapshot.block, header=header)
        preimage = commit_preimage(CHAIN_ID, header.height, header.round, header.block_hash)
        seal = Seal(0, self.key.sign(preimage))
        certificate = CommitCertificate(header.height, header.round, header.block_hash, (seal,))
        return encode_manifest(
            block, certificate, snapshot.receipts, snapshot.handovers, snapshot.frontier.to_bytes()
        )

    def _serve(self) -> None:
        try:
            while True:
                kind, _ = self._frame()
                self.asked.append(kind)
                if kind == FrameType.GET_SNAPSHOT and self.kind == "oversized":
                    self._send(FrameType.SNAPSHOT, b"\x00" * (MAX_SNAPSHOT_BYTES + 1))
                elif kind == FrameType.GET_SNAPSHOT:
                    self._send(FrameType.SNAPSHOT, self._manifest())
                elif kind == FrameType.GET_STATE:
                    self._send(FrameType.STATE, b"\xc4\x83bad")  # [b"bad"]: hashes to no key asked
        except (OSError, ConnectionError, ValueError):
            self.closed.set()


def _connect(liar_key: PrivateKey, victim: Node, source: Node, kind: str) -> SnapshotLiar:
    """Dial the victim's join-phase listener (retried until it listens) and complete the handshake."""
    holder: list[SnapshotLiar] = []

    def dialled() -> bool:
        try:
            holder.append(SnapshotLiar(liar_key, victim, source, kind))
        except OSError:
            return False
        return True

    wait_until(dialled, 60, "the joining node to listen")
    liar = holder[0]
    liar.start()
    return liar


def test_a_validator_joins_by_snapshot_past_lying_peers_and_follows(tmp_path: Path) -> None:
    liars: list[SnapshotLiar] = []
    nodes: list[Node] = []
    try:
        paths = start_three_of_four(tmp_path, nodes, 20)
        keys = {kind: PrivateKey.generate() for kind in ("forged", "oversized", "corrupt")}
        raw = json.loads(paths[3].read_text(encoding="utf-8"))
        raw.update(
            allowed_peer_keys=[k.public_key.to_bytes().hex() for k in keys.values()],
            join="snapshot",
            join_min_peers=4,  # the three validators and the liar whose manifest is the honest one
            join_timeout_s=60,
        )
        paths[3].write_text(json.dumps(raw), encoding="utf-8")
        late = Node(NodeConfig.load(paths[3]), empty_block_interval_ms=50)
        nodes.append(late)
        starting = threading.Thread(target=late.start, daemon=True)
        starting.start()
        for kind in ("forged", "oversized", "corrupt"):  # the last one completes the four proven manifests
            liars.append(_connect(keys[kind], late, nodes[0], kind))
        starting.join(timeout=60)
        assert not starting.is_alive() and late.join_report is not None and late.driver is not None
        report = late.join_report
        public = {kind: key.public_key.to_bytes() for kind, key in keys.items()}
        assert set(report.convicted) == {public["forged"], public["corrupt"]}
        assert public["oversized"] not in report.peers and liars[1].closed.wait(10)
        assert len(report.peers) == 3 and FrameType.GET_STATE in liars[2].asked
        joined_at = report.snapshot.height
        assert joined_at >= 20 and late.store.get_block(joined_at - 1) is None
        with pytest.raises(StorageError) as missing:  # no history below the snapshot
            late.ledger.history_proof(1, 2)
        assert missing.value.code == "history_not_filled"
        wait_until(lambda: late.ledger.height >= joined_at + 10, 60, "the joined node to follow the chain")
        top = min(n.ledger.height for n in nodes)
        for height in range(joined_at, top + 1):
            hashes = {n.store.get_block_hashes(height, height)[0] for n in nodes}
            assert len(hashes) == 1, height
        header = late.store.get_header(top)
        assert header is not None and header == nodes[0].store.get_header(top)
        # The joined node restarts from its own database (nothing below the snapshot is needed).
        late.stop()
        nodes.remove(late)
        reopened = Node(NodeConfig.load(paths[3]), empty_block_interval_ms=50)
        nodes.append(reopened)
        assert reopened.ledger.height >= top and reopened.join_report is None
    finally:
        for each in liars:
            each.close()
        for node in nodes:
            node.stop()
