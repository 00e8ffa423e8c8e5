"""Snapshots on real nodes (SQLite, SM2 seals, the native engine), without p2p: a manifest built by a node
is proven from genesis, its state fetched by hash, installed in a fresh database whose node then restarts
at that height, reads the state and builds on it; forged manifests and state answers are refused."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from conftest import ChainBuilder
from node_fixtures import make_tx, member_key

from node.config import NodeConfig
from node.ledger.backfill import require_history
from node.ledger.handovers import collect_handovers
from node.ledger.snapshot import (
    Snapshot,
    SnapshotError,
    StateDownload,
    build_manifest,
    encode_manifest,
    install_snapshot,
    read_state_answer,
    verify_manifest,
)
from node.runtime import Node, SoloProducer
from node.storage import Store
from sdk.crypto import PrivateKey
from sdk.errors import StorageError, VerificationError
from sdk.proofs.trust import Genesis
from sdk.types import CommitCertificate, Seal, commit_preimage

pytest_plugins = ["node_fixtures"]


def _trust(node: Node) -> Genesis:
    genesis = node.store.get_block(0)
    assert genesis is not None
    return Genesis(node.chain.chain_id, node.genesis_hash, tuple(genesis.next_validators))


def _download(source: Node, snapshot: Snapshot) -> dict[bytes, bytes]:
    """The state of ``snapshot`` read by hash from ``source``'s store, as a peer would serve it."""
    download = StateDownload(snapshot.state_root, batch=64)
    peer = b"\x01" * 64
    while not download.done:
        keys = download.next_request(peer)
        assert download.on_answer(peer, read_state_answer(source.store, keys, 1 << 20), [peer])
    return download.nodes


def _take_snapshot(source: Node) -> tuple[Snapshot, dict[bytes, bytes]]:
    """``source``'s manifest, proven, and its state; ``source`` is stopped."""
    try:
        snapshot = verify_manifest(build_manifest(source.ledger), _trust(source))
        return snapshot, _download(source, snapshot)
    finally:
        source.stop()


def _install(snapshot: Snapshot, nodes: dict[bytes, bytes], network: Path, tmp_path: Path) -> NodeConfig:
    """Install ``snapshot`` in a fresh database of node-0's config (data folder ``joined``)."""
    config = dataclasses.replace(
        NodeConfig.load(network / "nodes" / "node-0.json"), data_dir=str(tmp_path / "joined")
    )
    fresh = Node(config)
    try:
        install_snapshot(fresh.store, snapshot, nodes)
    finally:
        fresh.stop()
    return config


@pytest.fixture()
def source(network: Path) -> Node:
    node = Node(NodeConfig.load(network / "nodes" / "node-0.json"))
    assert node.key is not None
    producer = SoloProducer(node.ledger, node.key)
    for _ in range(4):
        node.ledger.admit_transaction(make_tx(node, member_key(network)).encode())
        producer.produce_once()
    return node


def test_a_snapshot_installed_in_a_fresh_database_restarts_reads_and_builds(
    source: Node, network: Path, tmp_path: Path
) -> None:
    snapshot, nodes = _take_snapshot(source)
    assert snapshot.height == 4 and snapshot.block.transactions
    config = _install(snapshot, nodes, network, tmp_path)
    joined = Node(config)  # the restart at the snapshot height: its parent is not stored
    try:
        assert joined.ledger.height == 4
        assert joined.ledger.head.header == snapshot.block.header
        assert joined.ledger.history_root() != snapshot.block.header.history_root  # the head is in it
        assert joined.store.get_block(3) is None
        with pytest.raises(StorageError) as missing:
            joined.ledger.history_proof(1, 2)
        assert missing.value.code == "history_not_filled"
        with pytest.raises(StorageError) as below:  # what the block and proof routes answer (410)
            require_history(joined.store, 3)
        assert below.value.code == "history_not_filled" and below.value.detail["joined_at"] == 4
        require_history(joined.store, 0)  # genesis and the snapshot block are here
        require_history(joined.store, 4)
        assert joined.key is not None
        key = member_key(network)
        joined.ledger.admit_transaction(make_tx(joined, key).encode())
        executed = SoloProducer(joined.ledger, joined.key).produce_once()
        assert executed.block.header.height == 5 and executed.result.receipts[0].status == 1
    finally:
        joined.stop()


def _forge(snapshot: Snapshot, key: PrivateKey, **header_changes: object) -> bytes:
    """The manifest of ``snapshot`` with its header changed and sealed by ``key`` (not a validator)."""
    header = dataclasses.replace(snapshot.block.header, **header_changes)
    block = dataclasses.replace(snapshot.block, header=header)
    preimage = commit_preimage(header.chain_id, header.height, header.round, header.block_hash)
    cert = CommitCertificate(header.height, header.round, header.block_hash, (Seal(0, key.sign(preimage)),))
    return encode_manifest(block, cert, snapshot.receipts, snapshot.handovers, snapshot.frontier.to_bytes())


def test_forged_or_malformed_manifests_are_refused(source: Node) -> None:
    try:
        trust = _trust(source)
        payload = build_manifest(source.ledger)
        snapshot = verify_manifest(payload, trust)
    finally:
        source.stop()
    # Another state root under a certificate the validators never sealed.
    with pytest.raises(VerificationError):
        verify_manifest(_forge(snapshot, PrivateKey.generate(), state_root=b"\x07" * 32), trust)
    # The validators' own seal, moved onto another header.
    moved = dataclasses.replace(snapshot.block.header, state_root=b"\x07" * 32)
    block = dataclasses.replace(snapshot.block, header=moved)
    relabelled = encode_manifest(
        block, snapshot.certificate, snapshot.receipts, (), snapshot.frontier.to_bytes()
    )
    with pytest.raises(VerificationError):
        verify_manifest(relabelled, trust)
    # Receipts or history that do not give the header's roots.
    wrong_receipt = dataclasses.replace(snapshot.receipts[0], gas_used=snapshot.receipts[0].gas_used + 1)
    with pytest.raises(SnapshotError):
        verify_manifest(
            encode_manifest(
                snapshot.block, snapshot.certificate, (wrong_receipt,), (), snapshot.frontier.to_bytes()
            ),
            trust,
        )
    with pytest.raises(SnapshotError):
        verify_manifest(
            encode_manifest(snapshot.block, snapshot.certificate, snapshot.receipts, (), b"\x00" * 8), trust
        )
    for junk in (b"", b"\xc0", payload[:-3], b"\x83abc"):
        with pytest.raises(SnapshotError):
            verify_manifest(junk, trust)


def test_a_state_answer_with_a_value_not_asked_convicts_the_peer(source: Node) -> None:
    try:
        snapshot = verify_manifest(build_manifest(source.ledger), _trust(source))
        honest, liar = b"\x01" * 64, b"\x02" * 64
        download = StateDownload(snapshot.state_root, batch=16)
        keys = download.next_request(liar)
        assert keys == [snapshot.state_root]
        assert not download.on_answer(liar, [b"\xc0not the root node"], [honest, liar])
        download.drop(liar)
        keys = download.next_request(honest)
        assert keys == [snapshot.state_root]  # asked again, of the other peer
        assert download.on_answer(honest, read_state_answer(source.store, keys, 1 << 20), [honest])
        assert snapshot.state_root in download.nodes
    finally:
        source.stop()


def test_installing_needs_the_root_node_and_an_empty_chain(source: Node) -> None:
    try:
        snapshot = verify_manifest(build_manifest(source.ledger), _trust(source))
        with pytest.raises(StorageError):
            install_snapshot(source.store, snapshot, {})
        with pytest.raises(StorageError):  # the store holds more than genesis
            install_snapshot(source.store, snapshot, {snapshot.state_root: b"x"})
    finally:
        source.stop()


def test_a_key_no_peer_has_ends_the_download_even_when_a_node_of_its_batch_names_it() -> None:
    """A 32-byte value inside a node (``not_a_node``) looks like a key: every peer leaves it out, so it is
    dropped, also when a node answered before it in the same batch references it (it must not be wanted
    again)."""
    import rlp
    from eth_hash.auto import keccak

    peer = b"\x01" * 64
    for attempt in range(64):  # until the batch asks the referencing node first (set order)
        not_a_node = bytes([attempt]) * 32
        leaf = rlp.encode([b"\x20", not_a_node])
        root_value = rlp.encode([keccak(leaf), not_a_node])
        download = StateDownload(keccak(root_value))
        assert download.next_request(peer) == [keccak(root_value)]
        assert download.on_answer(peer, [root_value], [peer])
        batch = download.next_request(peer)
        assert set(batch) == {keccak(leaf), not_a_node}
        if batch[0] == keccak(leaf):
            break
    else:
        pytest.skip("no batch asked the referencing node first")
    assert download.on_answer(peer, [leaf], [peer])
    assert download.done and set(download.nodes) == {keccak(root_value), keccak(leaf)}


def test_the_handover_index_finds_the_blocks_that_carry_a_new_set(store: Store, chain: ChainBuilder) -> None:
    """One SQL scan finds the handover blocks, then only blocks committed since are scanned."""

    class _Reader:  # what collect_handovers reads of a ledger
        def __init__(self, store: Store) -> None:
            self.store = store
            self.get_header, self.get_block = store.get_header, store.get_block
            self.get_certificate = store.get_certificate

    reader = _Reader(store)
    new_set = (b"\x05" * 64,)
    for height in range(6):
        block, certificate, receipts = chain.make_block(next_validators=new_set if height in (2, 5) else ())
        store.commit_block(block, certificate, receipts, state_nodes={})
        chain.advance(block)
        if height == 3:
            assert [h.header.height for h in collect_handovers(reader, 3)] == [2]  # type: ignore[arg-type]
    found = collect_handovers(reader, 5)  # type: ignore[arg-type]
    assert [h.header.height for h in found] == [2, 5] and found[1].validators == new_set


def test_a_snapshot_at_a_handover_block_restarts_under_the_set_that_sealed_it(
    source: Node, network: Path, tmp_path: Path
) -> None:
    """When the snapshot block hands over, the set in force after it is not the one that sealed it, and
    its parent (whose state would name the sealing set) is not here: the manifest's proven set is kept."""
    snapshot, nodes = _take_snapshot(source)
    assert snapshot.deciding == snapshot.validators
    next_set = (PrivateKey.generate().public_key.to_bytes(),)
    config = _install(dataclasses.replace(snapshot, validators=next_set), nodes, network, tmp_path)
    joined = Node(config)
    try:
        assert joined.ledger.height == snapshot.height and joined.ledger.head.validators == next_set
    finally:
        joined.stop()
