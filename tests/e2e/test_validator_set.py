"""Growing and shrinking the validator set of a running network, under load: 1 → 2 → 3 → 4 → 3.

One genesis validator and three candidate nodes (each with a validator key outside the genesis set) start
as real `xinlian node run` processes linked over p2p. The candidates follow the chain (they sync every
block). A load thread submits signed transactions all along. The committee (threshold 2 of 3) then adds
the candidates one by one through proposals, each a real signed transaction sent through the SDK, following
the operator procedure of docs/operations.md ("Changing the validator set"): a candidate's node runs and has
caught up before the proposal that adds it is sent. Each new validator must take part: its seal appears in
commit certificates and it proposes blocks. Then one validator is removed and stopped, and the other three
keep committing. At the end every node agrees block by block, and every transaction a node accepted (202)
is committed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from node.storage import Store
from scripts.bench.faults import FaultNet, Load, compare_stores, wait_committed
from sdk.client import Client
from sdk.crypto import PrivateKey
from tests.e2e.devnets import CHAIN_ID, committee_signers, make_net, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NODES = 4
#: Blocks the new set must decide before the next change: enough for every member to seal and propose.
BLOCKS_PER_STEP = 8


@dataclass
class Steps:
    """What the run measured, for the failure message and the log."""

    log: list[str] = field(default_factory=list)

    def note(self, line: str) -> None:
        self.log.append(line)
        print(line)  # shown with pytest -s: catch-up times and blocks per second


@pytest.fixture
def grow_net(tmp_path: Path) -> Iterator[FaultNet]:
    net = make_net(tmp_path / "net", NODES)
    try:
        yield net
    finally:
        net.close()


def _validator_key(net: FaultNet, node: int) -> bytes:
    path = Path(net.nodes[node].config.validator_key_path)
    return PrivateKey.from_pem(path.read_bytes()).public_key.to_bytes()


def _change_set(net: FaultNet, via: int, add: bytes | None = None, remove: bytes | None = None) -> int:
    """Propose (first member) and vote (second member) a validator change through node ``via``'s API;
    returns the height of the block that executed it (the new set decides the heights after it)."""
    first, second = committee_signers(net)
    with Client(net.urls[via], signer=first, chain_id=CHAIN_ID, timeout=30) as client:
        governance = client.governance.with_signer(first)
        proposed = governance.add_validator(add) if add is not None else governance.remove_validator(remove)
        assert not proposed.executed  # threshold 2: one vote is not enough
    with Client(net.urls[via], signer=second, chain_id=CHAIN_ID, timeout=30) as client:
        voted = client.governance.with_signer(second).vote(proposed.proposal_id)
    assert voted.executed, voted
    return voted.receipt.height


def _set_after(net: FaultNet, node: int) -> list[bytes]:
    with Client(net.urls[node], timeout=10) as client:
        return client.validators()


def _sync_peers_used(net: FaultNet, node: int) -> int:
    """How many distinct peers delivered blocks to ``node`` (its /metrics)."""
    text = net.nodes[node].metrics()
    found = re.search(r'xinlian_consensus_events_total\{kind="sync_peers_used"\} ([0-9.]+)', text)
    return int(float(found.group(1))) if found else 0


@dataclass(frozen=True)
class Participation:
    """Per validator key: heights whose certificate carries its seal, and heights it proposed."""

    sealed: dict[bytes, set[int]]
    proposed: dict[bytes, set[int]]
    sets: dict[int, tuple[bytes, ...]]  # height -> the set that decided it


def _participation(database_url: str) -> Participation:
    """Read one node's chain: which set decided each height, who proposed it and whose seals prove it."""
    store = Store(database_url)
    try:
        top = (store.head() or (0, b""))[0]
        genesis = store.get_block(0)
        assert genesis is not None and genesis.next_validators
        current = tuple(genesis.next_validators)
        sealed: dict[bytes, set[int]] = {}
        proposed: dict[bytes, set[int]] = {}
        sets: dict[int, tuple[bytes, ...]] = {}
        for height in range(1, top + 1):
            block = store.get_block(height)
            certificate = store.get_certificate(height)
            assert block is not None and certificate is not None
            sets[height] = current
            proposed.setdefault(current[block.header.proposer_index], set()).add(height)
            for seal in certificate.seals:
                sealed.setdefault(current[seal.validator_index], set()).add(height)
            if block.next_validators:
                current = tuple(block.next_validators)
        return Participation(sealed, proposed, sets)
    finally:
        store.close()


def test_one_to_four_to_three_validators_under_load_with_agreement(grow_net: FaultNet) -> None:
    net = grow_net
    steps = Steps()
    nodes = net.nodes
    keys = [_validator_key(net, i) for i in range(NODES)]
    late = NODES - 1  # the last candidate starts only when its turn comes: it must sync the whole chain
    for node in nodes[:late]:
        node.start()
    for node in nodes[:late]:
        node.wait_healthy(60)
    wait_for("the first blocks", lambda: all((n.height() or 0) >= 1 for n in nodes[:late]), 60, net.devnet)
    load = Load(net, rate=8)
    load.start()
    changes: list[int] = []
    try:
        # 1 → 2 → 3 → 4: each candidate has caught up before the proposal that adds it is sent.
        for new in range(1, NODES):
            if new == late:
                nodes[new].start()
                nodes[new].wait_healthy(60)
            top = nodes[0].height() or 0
            caught_up = wait_for(
                f"node-{new} to catch up",
                lambda new=new, top=top: (nodes[new].height() or 0) >= top,
                60,
                net.devnet,
            )
            steps.note(f"node-{new} caught up with height {top} in {caught_up:.1f} s")
            if new == late:  # it fetched the chain from several peers at once
                assert _sync_peers_used(net, new) >= 2, nodes[new].log_tail()
            started = time.monotonic()
            height = _change_set(net, 0, add=keys[new])
            voted = time.monotonic() - started
            changes.append(height)
            assert sorted(_set_after(net, 0)) == sorted(keys[: new + 1])
            target = height + BLOCKS_PER_STEP
            took = wait_for(
                f"{new + 1} validators to decide {BLOCKS_PER_STEP} blocks",
                lambda target=target: all((n.height() or 0) >= target for n in nodes if n.running),
                90,
                net.devnet,
            )
            steps.note(
                f"{new} → {new + 1}: executed at height {height}; proposal and vote committed in "
                f"{voted:.1f} s; {BLOCKS_PER_STEP} blocks under {new + 1} "
                f"validators in {took:.1f} s ({BLOCKS_PER_STEP / max(took, 1e-3):.1f} blocks/s)"
            )
        # 4 → 3: remove node-1, then stop it; the remaining three keep committing without it.
        removed = 1
        height = _change_set(net, 0, remove=keys[removed])
        changes.append(height)
        assert sorted(_set_after(net, 0)) == sorted(k for i, k in enumerate(keys) if i != removed)
        wait_for(
            "the removal to reach every node",
            lambda: all((n.height() or 0) > height for n in nodes if n.running),
            60,
            net.devnet,
        )
        nodes[removed].terminate()
        target = height + BLOCKS_PER_STEP
        took = wait_for(
            f"3 validators to decide {BLOCKS_PER_STEP} blocks without node-{removed}",
            lambda: all((n.height() or 0) >= target for i, n in enumerate(nodes) if i != removed),
            90,
            net.devnet,
        )
        steps.note(f"4 → 3: executed at height {height}; {BLOCKS_PER_STEP} blocks in {took:.1f} s")
        # The removed validator comes back as a follower and catches up.
        nodes[removed].start()
        nodes[removed].wait_healthy(60)
        load.stop()
        top = max(h for h in (n.height() or 0 for n in nodes))
        took = wait_for(
            "every node to agree above the load's last height",
            lambda: len({n.height() for n in nodes}) == 1 and (nodes[0].height() or 0) > top,
            90,
            net.devnet,
        )
        steps.note(f"after the load: all four nodes at one height {took:.1f} s later")
        missing = wait_committed(net, load.accepted, 120)
    finally:
        load.stop()
        net.devnet.stop()
    heads, through, differ = compare_stores(
        [f"sqlite:///{Path(n.config.data_dir) / 'chain.db'}" for n in nodes]
    )
    summary = {"changes": changes, "heads": heads, "accepted": len(load.accepted), "steps": steps.log}
    assert differ == [], summary
    assert through >= max(heads) - 1, summary
    assert missing == [], summary
    assert len(load.accepted) > 50, summary
    seen = _participation(f"sqlite:///{Path(nodes[0].config.data_dir) / 'chain.db'}")
    # Every added validator sealed and proposed blocks after its addition; the removed one never after.
    for new in range(1, NODES):
        after = {h for h in seen.sealed.get(keys[new], set()) if h > changes[new - 1]}
        assert after, f"node-{new} sealed nothing after it was added: {summary}"
        assert any(h > changes[new - 1] for h in seen.proposed.get(keys[new], set())), summary
    assert not {h for h in seen.sealed.get(keys[removed], set()) if h > changes[-1]}, summary
    assert all(len(seen.sets[h]) == 3 for h in seen.sets if h > changes[-1]), summary


def test_adding_a_second_validator_that_is_not_running_stalls_until_it_starts(tmp_path: Path) -> None:
    """Why the operator procedure starts a candidate before adding it: the quorum of 2 validators is 2,
    so from the height after the change the chain waits for the new validator. Nothing is decided while
    it is down (no fork, no accepted write lost); once it starts it syncs, joins the round and the chain
    goes on."""
    net = make_net(tmp_path / "net", 2)
    nodes = net.nodes
    keys = [_validator_key(net, i) for i in range(2)]
    load = Load(net, rate=5)
    try:
        nodes[0].start()
        nodes[0].wait_healthy(60)
        wait_for("the first block", lambda: (nodes[0].height() or 0) >= 1, 60, net.devnet)
        load.start()
        height = _change_set(net, 0, add=keys[1])
        before = len(load.accepted)
        # The next height needs both validators; node-1 is not running: the chain holds at `height`.
        time.sleep(4.0)
        assert nodes[0].height() == height, nodes[0].log_tail()
        accepted_while_stalled = len(load.accepted) - before
        nodes[1].start()
        nodes[1].wait_healthy(60)
        resumed = wait_for(
            "both validators to decide blocks again",
            lambda: all((n.height() or 0) >= height + 5 for n in nodes),
            90,
            net.devnet,
        )
        print(f"1 → 2 with the new validator down: held at {height}; resumed {resumed:.1f} s after start")
        load.stop()
        missing = wait_committed(net, load.accepted, 120)
    finally:
        load.stop()
        net.devnet.stop()
    heads, through, differ = compare_stores(
        [f"sqlite:///{Path(n.config.data_dir) / 'chain.db'}" for n in nodes]
    )
    assert differ == [] and through >= max(heads) - 1, (heads, differ)
    assert missing == [] and accepted_while_stalled > 0, missing
    seen = _participation(f"sqlite:///{Path(nodes[0].config.data_dir) / 'chain.db'}")
    assert {h for h in seen.sealed.get(keys[1], set()) if h > height}


def test_rotating_a_validator_key_adds_the_new_key_then_removes_the_old_one(tmp_path: Path) -> None:
    """docs/operations.md "Rotating a validator's key": node-0's organisation runs a second node with a
    new key (node-3), adds it (3 → 4), then removes the old key (4 → 3) and stops the old node; the chain
    never stops, the new key seals blocks, the old one seals none after its removal."""
    net = make_net(tmp_path / "net", 4, validators=3)
    nodes = net.nodes
    keys = [_validator_key(net, i) for i in range(4)]
    old, new = 0, 3
    load = Load(net, rate=5)
    try:
        net.devnet.start()
        wait_for("the first blocks", lambda: all((n.height() or 0) >= 1 for n in nodes), 60, net.devnet)
        load.start()
        added = _change_set(net, 1, add=keys[new])
        wait_for(
            "the new key's node to pass the change",
            lambda: (nodes[new].height() or 0) > added + 3,
            60,
            net.devnet,
        )
        removed = _change_set(net, 1, remove=keys[old])
        wait_for(
            "every node to pass the removal",
            lambda: all((n.height() or 0) > removed for n in nodes),
            60,
            net.devnet,
        )
        nodes[old].terminate()
        target = removed + 6
        wait_for(
            "the rotated set to decide blocks",
            lambda: all((n.height() or 0) >= target for n in nodes if n.running),
            60,
            net.devnet,
        )
        # The old node comes back as a follower (what it accepted before the stop is committed too).
        nodes[old].start()
        nodes[old].wait_healthy(60)
        load.stop()
        missing = wait_committed(net, load.accepted, 120)
    finally:
        load.stop()
        net.devnet.stop()
    heads, through, differ = compare_stores(
        [f"sqlite:///{Path(n.config.data_dir) / 'chain.db'}" for n in nodes]
    )
    assert differ == [] and through >= removed, (heads, differ)
    assert missing == [], missing
    seen = _participation(f"sqlite:///{Path(nodes[1].config.data_dir) / 'chain.db'}")
    assert {h for h in seen.sealed.get(keys[new], set()) if h > removed}
    assert not {h for h in seen.sealed.get(keys[old], set()) if h > removed}
    assert all(keys[old] not in seen.sets[h] and keys[new] in seen.sets[h] for h in seen.sets if h > removed)
