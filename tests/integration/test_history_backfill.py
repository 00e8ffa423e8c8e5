"""History back-fill on real nodes (ledger, consensus driver, p2p over loopback TLS, SQLite, SM2 seals): a
validator joins a running network by snapshot after governance transactions (with logs) were committed,
then fetches the blocks below its snapshot height in the background; afterwards its blocks, receipts and
eth_getLogs below the snapshot answer exactly as an archive validator's. A lying peer's tampered history
(a changed transaction, a broken parent link, more blocks than asked, junk) is refused and nothing of it is
stored; the back-fill then continues from honest peers, and resumes where it stopped after a restart."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import tests.adversarial.test_sync_adversary as sync_adversary
from node.api import create_app
from node.api.metrics import Metrics
from node.api.reader import LedgerReader
from node.config import NodeConfig
from node.ledger.backfill import (
    MAX_HISTORY_ANSWER_BYTES,
    history_floor,
    read_history_answer,
    require_history,
)
from node.p2p.backfill import HistoryBackfill
from node.p2p.wire import FrameType, decode_uints, encode_block_pairs
from node.runtime import Node, register_runtime_metrics
from sdk.contracts import Contract
from sdk.crypto import PrivateKey
from sdk.domains.governance.encoders import Action, encode_payload
from sdk.encoding import decode, encode
from sdk.errors import StorageError
from sdk.identifiers import parse_uscc
from sdk.signer import Signer
from sdk.types import Block, Transaction
from tests.adversarial.test_sync_adversary import CHAIN_ID, SyncLiar, start_three_of_four
from tests.support import post_signed_rpc, wait_until

GOVERNANCE = Contract("Governance")
#: Governance proposals committed before the late validator joins (each registers an account: logs).
PROPOSALS = 12


def _committee(paths: list[Path]) -> tuple[PrivateKey, str]:
    """The key and USCC of the network's committee organisation."""
    network = paths[0].parent.parent
    org = json.loads((network / "orgs.json").read_text(encoding="utf-8"))[0]
    return PrivateKey.from_pem((network / org["key"]).read_bytes()), org["uscc"]


def _grow_with_logs(paths: list[Path], source: Node, count: int) -> list[bytes]:
    """Submit ``count`` committee proposals registering new accounts through ``source`` and wait for
    them to commit; returns their transaction hashes."""
    key, uscc = _committee(paths)
    code = parse_uscc(uscc).code
    hashes = []
    for _ in range(count):
        account = PrivateKey.generate().public_key.address
        payload = encode_payload(Action.REGISTER_ACCOUNT, account, code)
        expiry = source.ledger.height + 100
        data = GOVERNANCE.encode_call("propose", [int(Action.REGISTER_ACCOUNT), payload, expiry])
        tx = Transaction.create(
            key,
            chain_id=CHAIN_ID,
            to=source.genesis.governance_address,
            data=data,
            gas_limit=2_000_000,
            expiry_height=source.ledger.height + 50,
        )
        source.ledger.admit_transaction(tx.encode())
        hashes.append(tx.tx_hash)
    wait_until(lambda: all(source.store.get_receipt(h) for h in hashes), 60, "the proposals to commit")
    return hashes


def _late_config(path: Path, **changes: object) -> NodeConfig:
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw.update(join="snapshot", join_min_peers=3, join_timeout_s=60, **changes)
    path.write_text(json.dumps(raw), encoding="utf-8")
    return NodeConfig.load(path)


def _rpc(client: TestClient, signer: Signer, method: str, *params: object) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    response = post_signed_rpc(client, signer, body.encode())
    assert response.status_code == 200, response.text
    return response.json()


def _reads(node: Node, signer: Signer, hashes: list[bytes], below: int) -> list[Any]:
    """What a member reads of blocks 1..below-1 through the node's REST and JSON-RPC API."""
    client = TestClient(create_app(node.ledger, metrics=Metrics()))

    def rpc(method: str, *params: object) -> Any:
        return _rpc(client, signer, method, *params)

    out: list[Any] = [rpc("eth_getLogs", {"fromBlock": "0x1", "toBlock": hex(below - 1)})]
    out += [rpc("eth_getBlockByNumber", hex(h), True) for h in range(1, below)]
    out += [rpc("eth_getTransactionReceipt", "0x" + h.hex()) for h in hashes]
    for height in range(1, below):
        response = client.get(f"/v1/blocks/{height}")
        out.append((response.status_code, response.json()))
    return out


def test_a_node_joined_by_snapshot_back_fills_history_that_reads_as_on_an_archive_node(
    tmp_path: Path,
) -> None:
    nodes: list[Node] = []
    try:
        paths = start_three_of_four(tmp_path, nodes, 5)
        hashes = _grow_with_logs(paths, nodes[0], PROPOSALS)
        wait_until(lambda: min(n.ledger.height for n in nodes) >= 30, 60, "a few dozen blocks")
        late = Node(_late_config(paths[3]), empty_block_interval_ms=50)
        nodes.append(late)
        late.start()
        assert late.join_report is not None and late.backfill is not None
        joined_at = late.join_report.snapshot.height
        assert joined_at >= 30 and max(nodes[0].store.get_receipt(h).height for h in hashes) < joined_at  # type: ignore[union-attr]
        wait_until(lambda: late.backfill is not None and late.backfill.done, 60, "the history back-fill")
        assert history_floor(late.store) == 0
        assert late.backfill.stats["blocks"] == joined_at - 1
        require_history(late.store, 1)  # held now
        assert LedgerReader(late.ledger).lot_places(bytes(32)) == []  # and the lot index is whole
        signer = Signer(_committee(paths)[0])
        archive, joined = _reads(nodes[0], signer, hashes, joined_at), _reads(late, signer, hashes, joined_at)
        assert len(archive[0]["result"]) >= PROPOSALS
        assert all(answer.get("result") for answer in archive[: joined_at + len(hashes)])
        assert all(status == 200 for status, _ in archive[joined_at + len(hashes) :])
        assert joined == archive
        # The state below the snapshot is not back-filled: reads of it are refused as pruned.
        client = TestClient(create_app(late.ledger, metrics=Metrics()))
        governance = "0x" + late.genesis.governance_address.hex()
        changed = nodes[0].store.get_receipt(hashes[0]).height  # type: ignore[union-attr]
        refused = _rpc(client, signer, "eth_getCode", governance, hex(changed))
        assert refused["error"]["data"]["code"] == "state_pruned", refused
        assert _rpc(client, signer, "eth_getCode", governance, hex(joined_at))["result"] not in ("0x", None)
        # Proofs below the snapshot: the history tree is filled once the back-fill is done.
        wait_until(lambda: late.ledger._history.filled, 30, "the history tree")
        assert late.ledger.history_proof(1, joined_at) == nodes[0].ledger.history_proof(1, joined_at)
        metrics = Metrics()
        register_runtime_metrics(late, metrics.registry)
        assert b"xinlian_history_frontier_height 0.0" in metrics.render()
    finally:
        for node in nodes:
            node.stop()


class HistoryLiar(SyncLiar):
    """An allowed observer that answers GET_HISTORY with the honest history tampered as ``kind`` says."""

    kind = "honest"

    def _tampered(self, top: int, count: int) -> bytes:
        honest = read_history_answer(self.source.store, top, count, MAX_HISTORY_ANSWER_BYTES)
        entries = decode(honest)
        assert isinstance(entries, list) and entries
        if self.kind == "tx_byte":  # one byte of a transaction's call data changed: another tx root
            entry = next(e for e in entries if Block.decode(e[0]).transactions)
            block = Block.decode(entry[0])
            tx = block.transactions[0]
            raw = bytearray(tx.encode())
            raw[raw.find(tx.data) + len(tx.data) // 2] ^= 0x01
            changed = Transaction.decode(bytes(raw))
            entry[0] = Block(block.header, (changed, *block.transactions[1:]), block.next_validators).encode()
        elif self.kind == "parent_link":  # another header at that height: it is not the parent asked for
            block = Block.decode(entries[0][0])
            header = dataclasses.replace(block.header, timestamp_ms=block.header.timestamp_ms + 1)
            entries[0][0] = Block(header, block.transactions, block.next_validators).encode()
        elif self.kind == "too_many":
            entries.append(entries[-1])
        elif self.kind == "junk":
            return b"\x83bad"
        return encode(entries)

    def _serve(self) -> None:
        try:
            while True:
                kind, payload = self._frame()
                if kind == FrameType.GET_HISTORY:
                    top, count = decode_uints(payload, 2)
                    self._send(FrameType.HISTORY, self._tampered(top, count))
                elif kind == FrameType.GET_BLOCKS:
                    self._send(FrameType.BLOCKS, encode_block_pairs([]))
        except (OSError, ConnectionError, ValueError):
            self.closed.set()


#: Why each tampered answer is refused (the back-fill's warning).
REFUSALS = {
    "tx_byte": "do not give its tx root",
    "parent_link": "not the parent of the block above it",
    "too_many": "expected a list of at most",
    "junk": "malformed",
}


def test_tampered_history_is_refused_and_the_back_fill_resumes_after_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sync_adversary, "CLAIMED_HEIGHT", 1)  # the liar claims no blocks to sync
    nodes: list[Node] = []
    liar: HistoryLiar | None = None
    try:
        paths = start_three_of_four(tmp_path, nodes, 3)
        _grow_with_logs(paths, nodes[0], 4)
        wait_until(lambda: min(n.ledger.height for n in nodes) >= 20, 60, "twenty blocks")
        liar_key = PrivateKey.generate()
        config = _late_config(
            paths[3], history_backfill=False, allowed_peer_keys=[liar_key.public_key.to_bytes().hex()]
        )
        late = Node(config, empty_block_interval_ms=50)
        nodes.append(late)
        late.start()
        assert late.join_report is not None and late.backfill is None and late.driver is not None
        joined_at = late.join_report.snapshot.height
        with pytest.raises(StorageError) as missing:  # below the snapshot: not held (yet)
            require_history(late.store, joined_at - 1)
        assert missing.value.code == "history_not_filled"
        # Nor can it tell a code in no lot part: the parts of the blocks it lacks are not in its lot index.
        with pytest.raises(StorageError) as untold:
            LedgerReader(late.ledger).lot_places(bytes(32))
        assert untold.value.code == "history_not_filled"
        liar = HistoryLiar(liar_key, late, nodes[0])
        liar.start()
        liar_public = liar_key.public_key.to_bytes()
        wait_until(lambda: liar_public in late.p2p.connected_peers(), 30, "the liar to link")  # type: ignore[union-attr]
        assert late.p2p is not None
        backfill = HistoryBackfill(late.store, late.p2p)  # a batch reaches the blocks with transactions
        late.driver.history_sink = backfill.offer
        for refused, (kind, reason) in enumerate(REFUSALS.items(), start=1):
            liar.kind = kind
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="xinlian.backfill"):
                assert not backfill.run_batch(liar_public), kind
            assert reason in caplog.text and backfill.stats["refused_answers"] == refused, kind
            assert backfill.floor == joined_at and history_floor(late.store) == joined_at
            assert late.store.get_block(joined_at - 1) is None
        assert late.p2p.peer_scores()[liar_public] > 0  # charged for the lies
        # One honest batch lands (with its floor, in one transaction), then the node restarts.
        backfill = HistoryBackfill(late.store, late.p2p, batch=8)
        late.driver.history_sink = backfill.offer
        assert backfill.run_batch(nodes[0].key.public_key.to_bytes())  # type: ignore[union-attr]
        assert backfill.floor == joined_at - 8 == history_floor(late.store)
        liar.close()
        late.stop()
        nodes.remove(late)
        raw = json.loads(paths[3].read_text(encoding="utf-8"))
        raw["history_backfill"] = True
        paths[3].write_text(json.dumps(raw), encoding="utf-8")
        reopened = Node(NodeConfig.load(paths[3]), empty_block_interval_ms=50)
        nodes.append(reopened)
        assert history_floor(reopened.store) == joined_at - 8  # resumed from the stored floor
        reopened.start()
        assert reopened.join_report is None and reopened.backfill is not None
        wait_until(lambda: reopened.backfill is not None and reopened.backfill.done, 60, "the back-fill")
        assert reopened.backfill.stats["blocks"] == joined_at - 9
        for height in range(1, joined_at + 1):
            assert reopened.store.get_block(height) == nodes[0].store.get_block(height), height
            assert reopened.store.get_block_receipts(height) == nodes[0].store.get_block_receipts(height)
    finally:
        if liar is not None:
            liar.close()
        for node in nodes:
            node.stop()
