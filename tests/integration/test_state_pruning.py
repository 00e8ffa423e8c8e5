"""Pruned state: ``Store.collect_state`` keeps every node the last K committed state roots reach (proofs and
reads at those heights work), refuses older heights with ``state_pruned``, and is safe against commits
running meanwhile, interruption and kill -9 in the middle of a collection."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from eth.constants import BLANK_ROOT_HASH
from eth_hash.auto import keccak
from trie import HexaryTrie

from node.execution.engine import ExecutionEngine, PreimageAccountDB
from node.storage import StateNodeStore, Store
from node.storage.pruning import node_references
from sdk.errors import StorageError

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ACCOUNTS = [bytes([i]) * 20 for i in range(1, 5)]
SLOTS = 6
CODE = bytes.fromhex("6001600055") * 20  # longer than a preimage: a code row like a contract's


class StateChain:
    """Blocks whose headers carry real state roots: each height rewrites some storage of every account."""

    def __init__(self, store: Store, chain) -> None:
        self.store = store
        self.chain = chain
        self.nodes = StateNodeStore(store)
        self.root = BLANK_ROOT_HASH
        self.values: dict[tuple[bytes, int], int] = {}
        self.at: dict[int, tuple[bytes, dict[tuple[bytes, int], int]]] = {}
        chain.commit(store, state_root=BLANK_ROOT_HASH)
        self.at[0] = (BLANK_ROOT_HASH, {})

    def commit(self, value_of: dict[tuple[bytes, int], int]) -> int:
        accounts = PreimageAccountDB(self.nodes, self.root)
        for (address, slot), value in value_of.items():
            accounts.set_storage(address, slot, value)
        if self.chain.height == 1:
            accounts.set_code(ACCOUNTS[0], CODE)
        accounts.persist()
        self.root = bytes(accounts.state_root)
        self.values.update(value_of)
        height = self.chain.height
        self.chain.commit(self.store, state_root=self.root, state_nodes=dict(self.nodes.pending()))
        self.nodes.clear_pending()
        self.at[height] = (self.root, dict(self.values))
        return height

    def commit_height(self, seed: int) -> int:
        return self.commit(
            {(a, s): seed * 100 + s + 1 for a in ACCOUNTS for s in range(SLOTS) if (s + seed) % 2}
        )


def _readable(store: Store, root: bytes, values: dict[tuple[bytes, int], int]) -> None:
    """Every value and a proof of every slot at ``root``, through a fresh engine (no cache)."""
    engine = ExecutionEngine(StateNodeStore(store, cache_nodes=0), 5151)
    for address in ACCOUNTS:
        slots = [s for (a, s) in values if a == address]
        proof = engine.get_proof(root, address, slots)
        assert {p.key: p.value for p in proof.storage_proof} == {s: values[(address, s)] for s in slots}
        for slot in slots:
            assert engine.get_storage(root, address, slot) == values[(address, slot)]
    if values:
        assert engine.get_code(root, ACCOUNTS[0]) == CODE


def _unreadable(store: Store, root: bytes, values: dict[tuple[bytes, int], int]) -> bool:
    engine = ExecutionEngine(StateNodeStore(store, cache_nodes=0), 5151)
    try:
        _ = [engine.get_storage(root, a, s) for (a, s) in values]
        for address in ACCOUNTS:
            HexaryTrie(StateNodeStore(store, cache_nodes=0), root).get_proof(keccak(address))
    except Exception:  # a missing node surfaces as KeyError, MissingTrieNode or ExecutionError
        return True
    return False


def _count_nodes(store: Store) -> int:
    from sqlalchemy import text

    with store._db.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM state_nodes")).scalar_one())


def test_node_references_finds_an_accounts_storage_root_and_code_hash_not_into_code():
    store = Store("sqlite://")
    nodes = StateNodeStore(store)
    accounts = PreimageAccountDB(nodes, BLANK_ROOT_HASH)
    accounts.set_storage(ACCOUNTS[0], 1, 7)
    accounts.set_code(ACCOUNTS[0], CODE)
    accounts.persist()
    root = bytes(accounts.state_root)
    proof = ExecutionEngine(nodes, 5151).get_proof(root, ACCOUNTS[0], [])
    found = node_references(nodes[root])  # one account: the root is its leaf
    assert {proof.storage_hash, keccak(CODE)} <= found
    assert node_references(CODE) == set()
    store.close()


def test_collection_keeps_the_last_heights_and_refuses_older_ones(store, chain):
    states = StateChain(store, chain)
    for seed in range(1, 13):
        states.commit_height(seed)
    head = chain.height - 1
    before = _count_nodes(store)
    assert store.state_pruned_below() == 0  # archive until a collection runs
    done = store.collect_state(3)
    assert done is not None and done.pruned_below == head - 2 and done.deleted_nodes > 0
    assert _count_nodes(store) == before - done.deleted_nodes
    assert store.state_pruned_below() == head - 2
    for height in range(head - 2, head + 1):
        root, values = states.at[height]
        _readable(store, root, values)
        store.require_state(height)
    with pytest.raises(StorageError) as refused:
        store.require_state(head - 3)
    assert refused.value.code == "state_pruned" and refused.value.detail["oldest_state_height"] == head - 2
    assert any(_unreadable(store, *states.at[h]) for h in range(1, head - 2))  # something was really freed
    # The preimages of every account and slot stay (the native engine lists the state by them).
    for address in ACCOUNTS:
        assert store.get_state_node(keccak(address)) == address
        for slot in range(SLOTS):
            assert store.get_state_node(keccak(slot.to_bytes(32, "big"))) == slot.to_bytes(32, "big")
    assert store.collect_state(3, batch=7) is not None  # the same floor again: nothing more to delete
    assert store.collect_state(3).deleted_nodes == 0
    assert store.collect_state(4) is None  # a lower floor: nothing to do
    # The chain goes on; the next collection moves the floor.
    states.commit_height(13)
    states.commit_height(14)
    assert store.collect_state(3).pruned_below == head
    _readable(store, *states.at[head + 2])


def test_a_block_committed_during_the_collection_that_revives_old_nodes_keeps_them(store, chain):
    states = StateChain(store, chain)
    first = {(a, s): 1 for a in ACCOUNTS for s in range(SLOTS)}
    states.commit(first)  # height 1
    states.commit(
        {(a, s): 2 for a in ACCOUNTS for s in range(SLOTS)}
    )  # height 2: height 1's nodes are garbage
    revived: list[int] = []

    class CommitOnFirstCheck:
        """The collection's stop flag, checked during the mark and before each sweep transaction: the first
        check commits a block whose state is height 1's again, which the mark (from height 2) never saw."""

        def is_set(self) -> bool:
            if not revived:
                revived.append(states.commit(first))
            return False

    done = store.collect_state(1, batch=3, stop=CommitOnFirstCheck())
    assert revived == [3] and done is not None and done.head_height == 3
    assert states.at[3][0] == states.at[1][0]  # the same root: every node of height 3 existed already
    _readable(store, *states.at[3])
    _readable(store, *states.at[2])


def test_an_interrupted_collection_loses_nothing_kept_and_the_next_one_finishes(store, chain):
    states = StateChain(store, chain)
    for seed in range(1, 9):
        states.commit_height(seed)
    head = chain.height - 1
    checks: list[int] = []

    class StopAfterTwoSweeps:
        """Checked during the mark and before each sweep transaction; the first sweep records the floor."""

        def is_set(self) -> bool:
            if store.state_pruned_below() == 0:
                return False
            checks.append(1)
            return len(checks) > 1

    before = _count_nodes(store)
    assert store.collect_state(2, batch=5, stop=StopAfterTwoSweeps()) is None
    partly = _count_nodes(store)
    assert store.state_pruned_below() == head - 1 and partly <= before
    for height in (head - 1, head):
        _readable(store, *states.at[height])
    done = store.collect_state(2)
    assert done is not None and done.pruned_below == head - 1 and _count_nodes(store) < partly
    for height in (head - 1, head):
        _readable(store, *states.at[height])


KILLED_CHILD = textwrap.dedent(
    """
    import sys
    sys.path[:0] = [{here!r}, {root!r}]
    from node.storage import Store

    class Progress:
        def is_set(self):
            print("step", flush=True)
            return False

    store = Store({url!r})
    print(store.collect_state(2, batch=1, stop=Progress()), flush=True)
    """
)


@pytest.mark.slow
def test_kill_during_a_collection_never_deletes_a_kept_node(store_url, chain, tmp_path):
    with Store(store_url) as store:
        states = StateChain(store, chain)
        for seed in range(1, 9):
            states.commit_height(seed)
        head = chain.height - 1
    script = tmp_path / "collect.py"
    script.write_text(KILLED_CHILD.format(here=str(HERE), root=str(ROOT), url=store_url))
    for kill_after in (3, 40):
        child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout is not None
            for seen, _line in enumerate(child.stdout, start=1):
                if seen >= kill_after:
                    break
            child.kill()
        finally:
            child.wait()
        with Store(store_url) as store:
            # Killed while marking (nothing recorded, nothing deleted) or while sweeping.
            assert store.state_pruned_below() in (0, head - 1)
            for height in (head - 1, head):
                _readable(store, *states.at[height])
    with Store(store_url) as store:
        done = store.collect_state(2)
        assert done is not None
        for height in (head - 1, head):
            _readable(store, *states.at[height])


def test_the_background_collector_runs_every_few_commits_and_stops(store, chain):
    import time

    from node.storage.pruning import StateCollector

    states = StateChain(store, chain)
    for seed in range(1, 7):
        states.commit_height(seed)
    head = chain.height - 1
    collector = StateCollector(store, 2, every=3)
    collector.start()
    try:
        collector.on_commit(head - 3)  # the first height it hears of
        collector.on_commit(head - 1)  # 2 heights later: not yet
        assert collector.collections == 0
        collector.on_commit(head)  # 3 heights later: wakes the thread
        deadline = time.monotonic() + 60  # a bound on waiting, not a measured duration
        while collector.collections == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        collector.stop()
    assert collector.collections == 1 and collector.failures == 0 and collector.deleted_nodes > 0
    assert store.state_pruned_below() == head - 1
    _readable(store, *states.at[head])
