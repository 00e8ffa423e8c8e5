"""History answers between real stores (SQLite, SM2 seals, the native engine), without p2p: a node that
installed a snapshot proves a HISTORY answer of an archive node by the hash links down from its snapshot
block and the header roots, stores it with its floor, and then reads the blocks, receipts and logs below the
snapshot as the archive node does. Answers that do not prove what they claim are refused; the store refuses
blocks that do not link to the lowest one it holds."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from node_fixtures import make_tx, member_key
from test_snapshot import _install, _take_snapshot

from node.config import NodeConfig
from node.ledger.backfill import (
    HistoryError,
    StaleHistoryError,
    history_floor,
    read_history_answer,
    require_history,
    store_history,
    verify_history_answer,
)
from node.runtime import Node, SoloProducer
from sdk.encoding import decode, encode
from sdk.errors import StorageError
from sdk.types import Receipt

pytest_plugins = ["node_fixtures"]

HEIGHT = 6


@pytest.fixture()
def archive(network: Path) -> Node:
    """node-0 of the network with HEIGHT blocks of one transaction each."""
    node = Node(NodeConfig.load(network / "nodes" / "node-0.json"))
    assert node.key is not None
    producer = SoloProducer(node.ledger, node.key)
    for _ in range(HEIGHT):
        node.ledger.admit_transaction(make_tx(node, member_key(network)).encode())
        producer.produce_once()
    return node


def _joined(archive: Node, network: Path, tmp_path: Path) -> Node:
    """A node that installed ``archive``'s snapshot (``archive`` is reopened, as it was stopped)."""
    snapshot, nodes = _take_snapshot(archive)
    assert snapshot.height == HEIGHT
    return Node(_install(snapshot, nodes, network, tmp_path))


def test_a_history_answer_is_proven_downwards_stored_with_its_floor_and_read_as_on_the_archive(
    archive: Node, network: Path, tmp_path: Path
) -> None:
    joined = _joined(archive, network, tmp_path)
    source = Node(NodeConfig.load(network / "nodes" / "node-0.json"))
    try:
        anchor = joined.store.get_header(HEIGHT)
        assert anchor is not None and history_floor(joined.store) == HEIGHT
        # One block above the byte budget still comes; the next batch continues below it.
        one = read_history_answer(source.store, HEIGHT - 1, 64, 1)
        entries = verify_history_answer(one, anchor.parent_hash, HEIGHT - 1, 64)
        assert [e.height for e in entries] == [HEIGHT - 1]
        assert store_history(joined.store, entries) == HEIGHT - 1 == history_floor(joined.store)
        with pytest.raises(StorageError) as missing:
            require_history(joined.store, HEIGHT - 2)
        assert missing.value.code == "history_not_filled" and missing.value.detail["held_from"] == HEIGHT - 1
        # A late answer to that first request is no fault; the rest comes in one answer.
        with pytest.raises(StaleHistoryError):
            verify_history_answer(one, entries[0].block.header.parent_hash, HEIGHT - 2, 64)
        rest = read_history_answer(source.store, HEIGHT - 2, 64, 1 << 20)
        entries = verify_history_answer(rest, entries[0].block.header.parent_hash, HEIGHT - 2, 64)
        assert [e.height for e in entries] == list(range(HEIGHT - 2, 0, -1))
        assert store_history(joined.store, entries) == 0 == history_floor(joined.store)
        require_history(joined.store, 1)
        for height in range(1, HEIGHT + 1):
            assert joined.store.get_block(height) == source.store.get_block(height)
            assert joined.store.get_certificate(height) == source.store.get_certificate(height)
            assert joined.store.get_block_receipts(height) == source.store.get_block_receipts(height)
        every = {"from_height": 0, "to_height": HEIGHT, "limit": 1000}
        assert joined.store.query_logs(**every) == source.store.query_logs(**every)  # type: ignore[arg-type]
        tx = source.store.get_block(2).transactions[0]  # type: ignore[union-attr]
        assert joined.store.get_receipt(tx.tx_hash) == source.store.get_receipt(tx.tx_hash)
        assert joined.ledger.history_proof(1, HEIGHT) == source.ledger.history_proof(1, HEIGHT)
    finally:
        joined.stop()
        source.stop()


def test_answers_that_do_not_prove_their_blocks_are_refused_and_the_store_keeps_the_links(
    archive: Node, network: Path, tmp_path: Path
) -> None:
    joined = _joined(archive, network, tmp_path)
    source = Node(NodeConfig.load(network / "nodes" / "node-0.json"))
    try:
        anchor = joined.store.get_header(HEIGHT)
        assert anchor is not None
        top = HEIGHT - 1
        honest = read_history_answer(source.store, top, 64, 1 << 20)
        entries = decode(honest)
        assert isinstance(entries, list)

        def with_entry(index: int, part: int, value: object) -> bytes:
            changed = [list(e) for e in entries]  # type: ignore[arg-type]
            changed[index][part] = value
            return encode(changed)

        receipt = Receipt.decode(entries[1][2][0])  # type: ignore[index]
        wrong_receipt = dataclasses.replace(receipt, gas_used=receipt.gas_used + 1).encode()
        other_certificate = source.store.get_certificate(HEIGHT)
        assert other_certificate is not None
        for answer in (
            with_entry(1, 2, [wrong_receipt]),  # receipts that do not give the receipt root
            with_entry(1, 2, []),  # a receipt missing
            with_entry(0, 1, other_certificate.encode()),  # a certificate of another block
            encode(entries[1:]),  # a gap: starts below the height asked
            encode(entries[:1] + entries[2:]),  # a block left out in the middle
            honest + b"\x00",
            b"",
        ):
            with pytest.raises(HistoryError):
                verify_history_answer(answer, anchor.parent_hash, top, 64)
        with pytest.raises(HistoryError):  # more blocks than asked
            verify_history_answer(honest, anchor.parent_hash, top, 2)
        # The store itself takes only the parent of the lowest block it holds.
        proven = verify_history_answer(honest, anchor.parent_hash, top, 64)
        with pytest.raises(StorageError) as unlinked:
            store_history(joined.store, proven[1:])
        assert unlinked.value.code == "not_history_link"
        assert joined.store.get_block(top - 1) is None and history_floor(joined.store) == HEIGHT
    finally:
        joined.stop()
        source.stop()
