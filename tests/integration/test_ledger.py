"""Ledger behaviour on a real node (py-evm, SQLite, SM2): admission codes, block validation, restart."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from eth_abi.abi import encode
from eth_utils.abi import function_signature_to_4byte_selector
from node_fixtures import IS_ACTIVE, make_tx, member_key

from node.config import NodeConfig
from node.demo_network import init_network
from node.runtime import Node, SoloProducer
from sdk.crypto import PrivateKey
from sdk.errors import InvalidBlock, InvalidTransaction, StorageError
from sdk.proofs.builders import build_history_proof
from sdk.proofs.merkle import MerkleHistory
from sdk.types import Block, CommitCertificate, Seal, Transaction, commit_preimage

pytest_plugins = ["node_fixtures"]


def producer(node: Node) -> SoloProducer:
    assert node.key is not None
    return SoloProducer(node.ledger, node.key)


def test_admitted_transaction_commits_with_receipt(node: Node, network: Path) -> None:
    tx = make_tx(node, member_key(network))
    tx_hash = node.ledger.admit_transaction(tx.encode())
    executed = producer(node).produce_once()
    assert executed.block.transactions == (tx,)
    stored = node.store.get_receipt(tx_hash)
    assert stored is not None and stored.receipt.status == 1 and stored.height == 1


@pytest.mark.parametrize(
    ("code", "build"),
    [
        ("wrong_chain", lambda n, k: make_tx(n, k, chain_id=n.chain.chain_id + 1).encode()),
        ("expired", lambda n, k: make_tx(n, k, expiry_height=n.ledger.height).encode()),
        ("expiry_too_far", lambda n, k: make_tx(n, k, expiry_height=n.ledger.height + 10_000).encode()),
        ("gas_limit", lambda n, k: make_tx(n, k, gas_limit=n.chain.tx_gas_limit + 1).encode()),
        ("gas_too_low", lambda n, k: make_tx(n, k, gas_limit=1).encode()),
        ("gas_too_low", lambda n, k: make_tx(n, k, gas_limit=21_000).encode()),
        ("gas_too_low", lambda n, k: make_tx(n, k, data=b"\x01" * 60_000, gas_limit=900_000).encode()),
        ("bad_encoding", lambda n, k: b"\xc0garbage"),
        ("oversize", lambda n, k: b"\x00" * (n.chain.max_tx_bytes + 1)),
        ("unknown_sender", lambda n, k: make_tx(n, PrivateKey.generate()).encode()),
    ],
)
def test_refused_transaction_has_its_code_and_stores_nothing(
    node: Node, network: Path, code: str, build
) -> None:
    raw = build(node, member_key(network))
    with pytest.raises(InvalidTransaction) as info:
        node.ledger.admit_transaction(raw)
    assert info.value.code == code
    assert len(node.ledger.mempool) == 0
    producer(node).produce_once()
    assert node.store.get_block(1) is not None and node.store.get_block(1).transactions == ()


def test_forged_signature_is_refused(node: Node, network: Path) -> None:
    tx = make_tx(node, member_key(network))
    forged = dataclasses.replace(tx, signature=tx.signature[:-1] + bytes([tx.signature[-1] ^ 1]))
    with pytest.raises(InvalidTransaction) as info:
        node.ledger.admit_transaction(forged.encode())
    assert info.value.code == "bad_signature"


def test_duplicate_is_refused_while_pending_and_after_commit(node: Node, network: Path) -> None:
    raw = make_tx(node, member_key(network)).encode()
    node.ledger.admit_transaction(raw)
    with pytest.raises(InvalidTransaction) as pending:
        node.ledger.admit_transaction(raw)
    assert pending.value.code == "duplicate"
    producer(node).produce_once()
    with pytest.raises(InvalidTransaction) as committed:
        node.ledger.admit_transaction(raw)
    assert committed.value.code == "duplicate"


def _sealed(node: Node, block: Block, key: PrivateKey) -> CommitCertificate:
    h = block.header
    sig = key.sign(commit_preimage(h.chain_id, h.height, h.round, h.block_hash))
    return CommitCertificate(height=h.height, round=h.round, block_hash=h.block_hash, seals=(Seal(0, sig),))


def test_block_with_altered_state_root_is_refused(node: Node, network: Path) -> None:
    node.ledger.admit_transaction(make_tx(node, member_key(network)).encode())
    executed = node.ledger.build_block()
    bad_header = dataclasses.replace(executed.block.header, state_root=b"\x11" * 32)
    bad = dataclasses.replace(executed.block, header=bad_header)
    node.ledger._executed.clear()  # force re-execution as a follower would
    with pytest.raises(InvalidBlock) as info:
        node.ledger.validate_block(bad)
    assert info.value.code == "bad_state_root"


def test_certificate_from_a_non_validator_is_refused(node: Node, network: Path) -> None:
    executed = node.ledger.build_block()
    cert = _sealed(node, executed.block, PrivateKey.generate())
    with pytest.raises(InvalidBlock) as info:
        node.ledger.commit_block(executed.block, cert)
    assert info.value.code == "bad_certificate"
    assert node.ledger.height == 0 and node.store.get_block(1) is None


def test_certificate_for_another_round_is_refused(node: Node, network: Path) -> None:
    assert node.key is not None
    executed = node.ledger.build_block()
    h = executed.block.header
    sig = node.key.sign(commit_preimage(h.chain_id, h.height, h.round + 1, h.block_hash))
    cert = CommitCertificate(height=h.height, round=h.round, block_hash=h.block_hash, seals=(Seal(0, sig),))
    with pytest.raises(InvalidBlock):
        node.ledger.commit_block(executed.block, cert)
    assert node.ledger.height == 0


def test_restart_resumes_head_history_and_validators(network: Path) -> None:
    config = NodeConfig.load(network / "nodes" / "node-0.json")
    first = Node(config)
    key = member_key(network)
    for _ in range(3):
        first.ledger.admit_transaction(make_tx(first, key).encode())
        producer(first).produce_once()
    head, history, validators = first.ledger.head, first.ledger.history_root(), first.ledger.head.validators
    first.stop()
    second = Node(config)
    try:
        assert second.ledger.head.block_hash == head.block_hash
        assert second.ledger.history_root() == history
        assert second.ledger.head.validators == validators
        second.ledger.admit_transaction(make_tx(second, key).encode())
        executed = producer(second).produce_once()
        assert executed.block.header.height == 4
        assert executed.block.header.parent_hash == head.block_hash
    finally:
        second.stop()


def test_database_of_another_chain_is_refused(tmp_path: Path, network: Path) -> None:
    config = NodeConfig.load(network / "nodes" / "node-0.json")
    Node(config).stop()
    other = init_network(tmp_path / "other", validators=1, chain_id=78)
    other_cfg = NodeConfig.load(other / "nodes" / "node-0.json")
    foreign = dataclasses.replace(other_cfg, data_dir=config.data_dir)
    with pytest.raises(InvalidBlock) as info:
        Node(foreign)
    assert info.value.code == "genesis_mismatch"


def test_genesis_is_fixed_by_the_file_not_by_the_contract_builds_on_disk(
    network: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import node.genesis as network_module

    config = NodeConfig.load(network / "nodes" / "node-0.json")
    first = Node(config)
    genesis_hash = first.store.get_block(0).header.block_hash
    first.stop()

    def unavailable(*_args: object, **_kwargs: object) -> object:
        raise AssertionError("genesis must not read contract builds from disk")

    monkeypatch.setattr(network_module, "get_system_contracts", unavailable)
    monkeypatch.setattr(network_module, "load_runtime_code", unavailable)
    second = Node(config)
    try:
        assert second.store.get_block(0).header.block_hash == genesis_hash
    finally:
        second.stop()


def test_genesis_file_with_missing_code_is_refused(network: Path) -> None:
    from node.config import ConfigError
    from node.genesis import GenesisFile

    raw = json.loads((network / "genesis.json").read_text())
    raw["governance_code"] = "0x"
    with pytest.raises(ConfigError, match="no runtime code for Governance"):
        GenesisFile.from_dict(raw)


def test_disabled_account_is_refused_at_admission_and_dropped_from_blocks(tmp_path: Path) -> None:
    net = init_network(tmp_path / "solo", validators=1, chain_id=79, committee_size=1)
    node = Node(NodeConfig.load(net / "nodes" / "node-0.json"))
    try:
        committee, member = member_key(net, 0), member_key(net, 1)
        pending = make_tx(node, member)  # admitted while the member is still active
        node.ledger.admit_transaction(pending.encode())
        # The committee (threshold 1) disables the member's account: propose executes at once.
        payload = encode(["address", "bool"], [member.public_key.address, False])
        propose = function_signature_to_4byte_selector("propose(uint8,bytes,uint256)")
        data = propose + encode(["uint8", "bytes", "uint256"], [4, payload, node.ledger.height + 100])
        disable = make_tx(node, committee, data=data, gas_limit=1_000_000)
        node.ledger.admit_transaction(disable.encode())
        # Build a block with only the proposal: the member's pending tx stays queued behind it.
        node.ledger.mempool.remove([pending.tx_hash])
        executed = producer(node).produce_once()
        assert [r.status for r in executed.result.receipts] == [1]
        assert not node.ledger.is_active_account(member.public_key.address)

        with pytest.raises(InvalidTransaction) as info:
            node.ledger.admit_transaction(make_tx(node, member).encode())
        assert info.value.code == "unknown_sender"

        # A proposer that still includes it makes an invalid block: followers refuse it.
        head = node.ledger.head
        timestamp_ms = head.header.timestamp_ms + node.chain.block_period_ms
        forged = node.ledger._execute(head, head.header.height + 1, timestamp_ms, 0, 0, (pending,))
        node.ledger._executed.clear()
        with pytest.raises(InvalidBlock) as refused:
            node.ledger.validate_block(forged.block, now_ms=timestamp_ms)
        assert refused.value.code == "bad_tx"

        # A transaction admitted before the change is dropped from the next block, not executed.
        node.ledger.mempool.add(pending.tx_hash, pending, len(pending.encode()))
        executed = producer(node).produce_once()
        assert executed.block.transactions == ()
        assert node.store.get_receipt(pending.tx_hash) is None
        assert pending.tx_hash not in node.ledger.mempool
    finally:
        node.stop()


def test_block_carrying_an_admitted_transaction_with_a_swapped_signature_is_refused(
    node: Node, network: Path
) -> None:
    # The transaction hash covers the signing preimage, not the signature: a proposer could keep the hash
    # of a transaction every validator admitted and replace its signature. The block must still be refused.
    tx = make_tx(node, member_key(network))
    node.ledger.admit_transaction(tx.encode())
    forged = dataclasses.replace(tx, signature=tx.signature[:32] + bytes(32 * [7]))
    assert forged.tx_hash == tx.tx_hash
    head = node.ledger.head
    timestamp_ms = head.header.timestamp_ms + node.chain.block_period_ms
    proposal = node.ledger._execute(head, head.header.height + 1, timestamp_ms, 0, 0, (forged,))
    node.ledger._executed.clear()
    with pytest.raises(InvalidBlock) as refused:
        node.ledger.validate_block(proposal.block, now_ms=timestamp_ms)
    assert refused.value.code == "bad_tx"


def test_block_carrying_a_transaction_below_its_intrinsic_gas_is_refused(node: Node, network: Path) -> None:
    # A Byzantine proposer could include what admission refuses: such a block must not pass validation.
    cheap = make_tx(node, member_key(network), gas_limit=1)
    head = node.ledger.head
    timestamp_ms = head.header.timestamp_ms + node.chain.block_period_ms
    proposal = node.ledger._execute(head, head.header.height + 1, timestamp_ms, 0, 0, (cheap,))
    node.ledger._executed.clear()
    with pytest.raises(InvalidBlock) as refused:
        node.ledger.validate_block(proposal.block, now_ms=timestamp_ms)
    assert refused.value.code == "bad_tx"
    assert "intrinsic gas" in refused.value.message


@pytest.fixture()
def small_block_node(tmp_path: Path) -> Node:
    init_network(tmp_path / "net", validators=1, chain_id=78, chain_overrides={"max_block_bytes": 40_000})
    n = Node(NodeConfig.load(tmp_path / "net" / "nodes" / "node-0.json"))
    yield n
    n.stop()


def big_tx(node: Node, key: PrivateKey, size: int = 15_000) -> Transaction:
    data = IS_ACTIVE + encode(["address"], [key.public_key.address]) + b"\x07" * size
    return make_tx(node, key, data=data, gas_limit=1_000_000)


def test_proposer_keeps_blocks_within_the_byte_limit_and_other_senders_get_in(
    small_block_node: Node, tmp_path: Path
) -> None:
    node = small_block_node
    flooder, honest = member_key(tmp_path / "net", 0), member_key(tmp_path / "net", 1)
    for _ in range(6):
        node.ledger.admit_transaction(big_tx(node, flooder).encode())
    small = make_tx(node, honest)
    node.ledger.admit_transaction(small.encode())
    executed = producer(node).produce_once()
    carried = executed.block.transactions
    assert sum(len(tx.encode()) for tx in carried) <= node.chain.max_block_bytes
    assert small in carried  # the honest sender is not starved by the flood ahead of it
    assert len(carried) == 3  # two big ones fit beside the small one, the rest wait
    assert len(node.ledger.mempool) == 4


def test_block_over_the_byte_limit_is_refused(small_block_node: Node, tmp_path: Path) -> None:
    node = small_block_node
    key = member_key(tmp_path / "net", 0)
    txs = tuple(big_tx(node, key) for _ in range(3))
    head = node.ledger.head
    timestamp_ms = head.header.timestamp_ms + node.chain.block_period_ms
    proposal = node.ledger._execute(head, head.header.height + 1, timestamp_ms, 0, 0, txs)
    node.ledger._executed.clear()
    with pytest.raises(InvalidBlock) as refused:
        node.ledger.validate_block(proposal.block, now_ms=timestamp_ms)
    assert refused.value.code == "block_limit"


def test_history_proofs_from_the_ledger_equal_a_rebuild_over_stored_hashes(node: Node) -> None:
    for _ in range(6):
        producer(node).produce_once()
    hashes = node.store.get_block_hashes(0, node.ledger.height)
    rebuilt = MerkleHistory()
    for block_hash in hashes:
        rebuilt.append(block_hash)
    for size in range(1, node.ledger.height + 1):
        header = node.store.get_header(size)
        assert header is not None and header.history_root == rebuilt.root(size)
        for height in range(size):
            assert node.ledger.history_proof(height, size) == build_history_proof(hashes[:size], height).path


def test_abandoned_proposals_trie_nodes_are_not_stored(tmp_path: Path) -> None:
    """Two proposals of one height are executed (rounds 0 and 1); the second is committed: the nodes only
    the first created are dropped, never stored, and the committed state is complete on disk."""
    net = init_network(tmp_path / "solo", validators=1, chain_id=81, committee_size=1)
    config = NodeConfig.load(net / "nodes" / "node-0.json")
    node = Node(config)
    try:
        committee = member_key(net, 0)
        propose = function_signature_to_4byte_selector("propose(uint8,bytes,uint256)")

        def disable(index: int) -> Transaction:
            payload = encode(["address", "bool"], [member_key(net, index).public_key.address, False])
            data = propose + encode(["uint8", "bytes", "uint256"], [4, payload, node.ledger.height + 100])
            return make_tx(node, committee, data=data, gas_limit=1_000_000)

        first, second = disable(1), disable(2)
        node.ledger.admit_transaction(first.encode())
        abandoned = node.ledger.build_block(round=0)
        node.ledger.mempool.remove([first.tx_hash])
        node.ledger.admit_transaction(second.encode())
        committed = node.ledger.build_block(round=1)
        assert abandoned.block.transactions == (first,) and committed.block.transactions == (second,)
        # Keys stored before (e.g. the preimage of an account both touch) are not the first proposal's own.
        only_abandoned = {
            key
            for key in abandoned.state_keys - committed.state_keys
            if node.store.get_state_node(key) is None
        }
        assert only_abandoned and committed.state_keys
        assert all(key in node.state_db.pending() for key in only_abandoned)

        assert node.key is not None
        node.ledger.commit_block(committed.block, _sealed(node, committed.block, node.key))
        assert node.state_db.pending() == {}
        assert [key for key in only_abandoned if node.store.get_state_node(key) is not None] == []
        assert all(node.store.get_state_node(key) is not None for key in committed.state_keys)
    finally:
        node.stop()

    # The committed state reads from the database alone (no cache): the second proposal ran, not the first.
    reopened = Node(config)
    try:
        assert not reopened.ledger.is_active_account(member_key(net, 2).public_key.address)
        assert reopened.ledger.is_active_account(member_key(net, 1).public_key.address)
        assert producer(reopened).produce_once().block.header.height == 2
    finally:
        reopened.stop()


# --- the start-up check of the stored head ---------------------------------------------------------------
def _corrupt_head(network: Path, statement: str) -> None:
    import sqlite3

    config = NodeConfig.load(network / "nodes" / "node-0.json")
    node = Node(config)
    try:
        node.ledger.admit_transaction(make_tx(node, member_key(network)).encode())
        producer(node).produce_once()
        producer(node).produce_once()
        height = node.ledger.height
        state_root = node.ledger.head.header.state_root
    finally:
        node.stop()
    db = sqlite3.connect(Path(config.data_dir) / "chain.db")
    try:
        db.execute(statement.format(height=height), {"root": state_root} if ":root" in statement else {})
        db.commit()
    finally:
        db.close()


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        pytest.param(
            "UPDATE blocks SET certificate = (SELECT certificate FROM blocks WHERE height = {height} - 1) "
            "WHERE height = {height}",
            "certificate",
            id="certificate-of-another-block",
        ),
        pytest.param(
            "UPDATE blocks SET header = (SELECT header FROM blocks WHERE height = {height} - 1) "
            "WHERE height = {height}",
            "hash",
            id="header-replaced",
        ),
        pytest.param("DELETE FROM state_nodes WHERE key = :root", "state root", id="state-root-missing"),
        pytest.param(
            "UPDATE blocks SET block_hash = randomblob(32) WHERE height = {height} - 1",
            "link",
            id="parent-link-broken",
        ),
    ],
)
def test_a_corrupt_stored_head_stops_the_node_at_start(network: Path, statement: str, reason: str) -> None:
    _corrupt_head(network, statement)
    with pytest.raises(StorageError) as refused:
        Node(NodeConfig.load(network / "nodes" / "node-0.json"))
    assert refused.value.code == "corrupt_head"


def test_a_head_whose_receipts_do_not_give_its_root_stops_the_node(network: Path) -> None:
    import sqlite3

    from node.storage.convert import encode_outcome
    from node.storage.store import Store

    # The block of height 1 carries the transaction: make it the head (drop block 2), then alter its
    # receipt into another well-formed one.
    _corrupt_head(network, "DELETE FROM blocks WHERE height = {height}")
    path = Path(NodeConfig.load(network / "nodes" / "node-0.json").data_dir) / "chain.db"
    db = sqlite3.connect(path)
    try:
        (tx_hash,) = db.execute("SELECT tx_hash FROM transactions WHERE height = 1").fetchone()
    finally:
        db.close()
    with Store(f"sqlite:///{path}") as store:
        found = store.get_receipt(bytes(tx_hash))
    assert found is not None
    altered = encode_outcome(dataclasses.replace(found.receipt, gas_used=found.receipt.gas_used + 1))
    db = sqlite3.connect(path)
    try:
        db.execute("UPDATE transactions SET receipt = ? WHERE height = 1", (altered,))
        db.commit()
    finally:
        db.close()
    with pytest.raises(StorageError) as refused:
        Node(NodeConfig.load(network / "nodes" / "node-0.json"))
    assert refused.value.code == "corrupt_head" and "receipt root" in refused.value.message


def test_a_sound_head_passes_the_start_up_check(network: Path) -> None:
    _corrupt_head(network, "SELECT {height}")  # nothing changed
    node = Node(NodeConfig.load(network / "nodes" / "node-0.json"))
    try:
        assert node.ledger.height == 2
    finally:
        node.stop()


def _history_proofs_match_a_rebuild(node: Node) -> None:
    hashes = node.store.get_block_hashes(0, node.ledger.height)
    size = node.ledger.height + 1
    for height in range(size):
        assert node.ledger.history_proof(height, size) == build_history_proof(hashes, height).path


def test_a_restart_reads_the_history_frontier_and_fills_the_proof_tree_later(network: Path) -> None:
    """The restart checks the stored frontier against the head's history root (no block hash is read);
    proofs of old blocks work once the tree is filled from the store, and so does the next block."""
    _corrupt_head(network, "SELECT {height}")  # nothing changed: three blocks
    node = Node(NodeConfig.load(network / "nodes" / "node-0.json"))
    try:
        assert not node.ledger._history.filled
        node.ledger.fill_history()
        assert node.ledger._history.filled
        _history_proofs_match_a_rebuild(node)
        below = MerkleHistory()
        for block_hash in node.store.get_block_hashes(0, node.ledger.height):
            below.append(block_hash)
        executed = producer(node).produce_once()
        assert executed.block.header.history_root == below.root()
        _history_proofs_match_a_rebuild(node)
    finally:
        node.stop()


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM metadata WHERE key = 'history_frontier'",
        "UPDATE metadata SET value = zeroblob(8) WHERE key = 'history_frontier'",  # the empty chain's
        "UPDATE metadata SET value = randomblob(7) WHERE key = 'history_frontier'",
    ],
    ids=["missing", "replaced", "malformed"],
)
def test_a_missing_or_wrong_history_frontier_is_rebuilt_from_the_blocks(
    network: Path, statement: str
) -> None:
    _corrupt_head(network, statement)
    node = Node(NodeConfig.load(network / "nodes" / "node-0.json"))
    try:
        assert node.ledger._history.filled
        _history_proofs_match_a_rebuild(node)
        producer(node).produce_once()
    finally:
        node.stop()
    reopened = Node(NodeConfig.load(network / "nodes" / "node-0.json"))
    try:
        assert not reopened.ledger._history.filled  # the commit stored the frontier again
        _history_proofs_match_a_rebuild(reopened)
    finally:
        reopened.stop()


def test_a_replaced_old_block_hash_is_refused_when_the_history_is_filled(network: Path) -> None:
    """Block 1's stored hash is replaced below a head two blocks higher (the head's check reads its parent
    only): the start is cheap and passes, filling the proof tree finds the mismatch."""
    _corrupt_head(network, "SELECT {height}")
    node = Node(NodeConfig.load(network / "nodes" / "node-0.json"))
    try:
        producer(node).produce_once()
    finally:
        node.stop()
    _corrupt_head(network, "UPDATE blocks SET block_hash = randomblob(32) WHERE height = 1")
    node = Node(NodeConfig.load(network / "nodes" / "node-0.json"))
    try:
        with pytest.raises(StorageError) as refused:
            node.ledger.history_proof(0, 2)
        assert refused.value.code == "corrupt_history"
    finally:
        node.stop()
