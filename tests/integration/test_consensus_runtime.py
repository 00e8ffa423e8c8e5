"""The consensus runtime over real SQLite, py-evm, SM2 and loopback TLS: n = 1 and 4-validator networks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.abi import function_signature_to_4byte_selector

from node.config import NodeConfig
from node.consensus.adapter import LedgerBlockSource, compute_consensus_config, get_chain_head
from node.consensus.core import QbftCore
from node.consensus.messages import MessageKind
from node.consensus.wal import InMemoryWal
from node.demo_network import init_network
from node.devnet import init_devnet
from node.genesis import GOVERNANCE_ADDRESS
from node.p2p.tls import P2P_KEY_FILE
from node.runtime import LockedVerifier, Node
from sdk.crypto import PrivateKey
from sdk.domains.governance import Action, encode_payload
from sdk.errors import ConsensusError, InvalidBlock, VerificationError
from sdk.proofs.certificate import verify_certificate
from sdk.types import CommitCertificate, Seal, Transaction, commit_preimage, compute_validators_hash
from tests.support import free_ports, wait_until

CHAIN = {"block_period_ms": 100, "round_timeout_ms": 1_000, "max_round_timeout_ms": 3_000}
PROPOSE = function_signature_to_4byte_selector("propose(uint8,bytes,uint256)")
GRANT = function_signature_to_4byte_selector("grant_role(address,bytes32,bytes32)")


def committee_key(base: Path) -> PrivateKey:
    directory = json.loads((base / "orgs.json").read_text(encoding="utf-8"))
    return PrivateKey.from_pem((base / directory[0]["key"]).read_bytes())


def make_tx(node: Node, key: PrivateKey, data: bytes) -> bytes:
    tx = Transaction.create(
        key,
        chain_id=node.chain.chain_id,
        to=GOVERNANCE_ADDRESS,
        data=data,
        gas_limit=2_000_000,
        expiry_height=node.ledger.height + 200,
    )
    return tx.encode()


def grant_call(key: PrivateKey, seed: int) -> bytes:
    """A committee grant of ISSUER to the committee itself for a fresh scope (never reverts)."""
    from sdk.crypto import address_from_public_key
    from sdk.domains.governance import compute_role_id

    account = address_from_public_key(key.public_key.to_bytes())
    scope = seed.to_bytes(32, "big")
    return GRANT + abi_encode(["address", "bytes32", "bytes32"], [account, compute_role_id("ISSUER"), scope])


def start_nodes(base: Path, count: int, *, start: bool = True) -> list[Node]:
    paths = init_devnet(
        base,
        validators=count,
        chain_id=5150,
        api_ports=free_ports(count),
        p2p_ports=free_ports(count),
        chain_overrides=CHAIN,
        committee_size=1,
        log_level="warning",
    )
    nodes = [Node(NodeConfig.load(p), empty_block_interval_ms=1_000) for p in paths]
    if start:
        for node in nodes:
            node.start()
    return nodes


@pytest.fixture
def four(tmp_path: Path) -> Iterator[list[Node]]:
    nodes = start_nodes(tmp_path / "net", 4)
    try:
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def assert_same_chain(nodes: list[Node], height: int) -> None:
    for h in range(1, height + 1):
        hashes = {node.store.get_block_hashes(h, h)[0] for node in nodes}
        assert len(hashes) == 1, f"nodes disagree at height {h}"


def test_single_validator_commits_through_the_consensus_driver(tmp_path: Path) -> None:
    base = tmp_path / "solo"
    init_network(base, validators=1, chain_id=5151, committee_size=1, chain_overrides=CHAIN)
    node = Node(NodeConfig.load(base / "nodes" / "node-0.json"), empty_block_interval_ms=1_000)
    key = committee_key(base)
    node.start()
    try:
        assert node.p2p is None  # no peers and no other validator: nothing listens
        tx_hash = node.ledger.admit_transaction(make_tx(node, key, grant_call(key, 1)))
        wait_until(lambda: bool(node.store.has_transactions([tx_hash])), 20, "the transaction to commit")
        height = node.ledger.height
        cert = node.store.get_certificate(height)
        assert cert is not None and [s.validator_index for s in cert.seals] == [0]
        driver = node.driver
        assert driver is not None and driver.stats.get("blocks_committed") >= 1
        # The store has the block before the driver's core moves on to the next height: wait for that step.
        wait_until(
            lambda: driver.core is not None and driver.core.height == node.ledger.height + 1,
            10,
            "the consensus core to start the next height",
        )
    finally:
        node.stop()
    # The WAL recorded what the validator signed; a restarted node resumes on the same chain.
    again = Node(NodeConfig.load(base / "nodes" / "node-0.json"), empty_block_interval_ms=1_000)
    try:
        assert again.ledger.height == height
        again.start()
        wait_until(lambda: again.ledger.height > height, 20, "the restarted node to commit")
    finally:
        again.stop()


def test_sql_wal_refuses_a_second_value_for_a_signed_step(tmp_path: Path) -> None:
    from node.consensus.sql_wal import SqlWal
    from node.consensus.wal import EquivocationRefused, WalRecord

    base = tmp_path / "wal"
    init_network(base, validators=1, chain_id=5152, committee_size=1)
    node = Node(NodeConfig.load(base / "nodes" / "node-0.json"))
    try:
        wal = SqlWal(node.store)
        wal.append(WalRecord(5, 0, MessageKind.PREPARE, b"\x01" * 32, b""))
        wal.append(WalRecord(5, 0, MessageKind.PREPARE, b"\x01" * 32, b""))  # the same value again is fine
        with pytest.raises(EquivocationRefused):
            wal.append(WalRecord(5, 0, MessageKind.PREPARE, b"\x02" * 32, b""))
        assert [r.step for r in wal.get_records(5)] == [MessageKind.PREPARE]
    finally:
        node.stop()


def test_four_validators_over_loopback_agree_and_gossip_transactions(four: list[Node]) -> None:
    key = committee_key(Path(four[0].config.genesis_path).parent)
    hashes = []
    for i in range(20):
        # Submitted to node 0 only: the others learn them by gossip; any proposer may include them.
        hashes.append(four[0].ledger.admit_transaction(make_tx(four[0], key, grant_call(key, i))))
    wait_until(
        lambda: all(n.store.has_transactions(hashes) == set(hashes) for n in four), 60, "all txs on all nodes"
    )
    target = min(n.ledger.height for n in four)
    assert_same_chain(four, target)
    proposers = {four[0].store.get_header(h).proposer_index for h in range(1, target + 1)}  # type: ignore[union-attr]
    for h in range(1, target + 1):
        cert = four[1].store.get_certificate(h)
        assert cert is not None and len({s.validator_index for s in cert.seals}) >= 3
    assert len(proposers) > 1  # rotation: more than one validator proposed
    assert all(n.p2p is not None and len(n.p2p.connected_peers()) == 3 for n in four)
    for node in four:
        # Each node made its p2p certificate at its first start, its key readable by its owner only...
        assert (Path(node.config.data_dir) / P2P_KEY_FILE).stat().st_mode & 0o777 == 0o600
        # ...and every link to the other validators is TLS 1.3.
        links = [c for conns in node.p2p._connections.values() for c in conns]  # type: ignore[union-attr]
        assert links and {c.writer.get_extra_info("ssl_object").version() for c in links} == {"TLSv1.3"}


def test_a_stopped_validator_catches_up_by_sync_and_bad_certificates_are_refused(tmp_path: Path) -> None:
    nodes = start_nodes(tmp_path / "net", 4, start=False)
    late = nodes[3]
    try:
        for node in nodes[:3]:
            node.start()
        key = committee_key(Path(nodes[0].config.genesis_path).parent)
        for i in range(5):
            nodes[0].ledger.admit_transaction(make_tx(nodes[0], key, grant_call(key, 100 + i)))
        wait_until(lambda: min(n.ledger.height for n in nodes[:3]) >= 6, 60, "three validators to commit")
        assert late.ledger.height == 0

        # A forged certificate for block 1: two real seals (quorum of 4 is 3) — refused by the core
        # and by the ledger; one seal from an outsider key at a validator's index — refused too.
        block = nodes[0].store.get_block(1)
        cert = nodes[0].store.get_certificate(1)
        assert block is not None and cert is not None
        short = CommitCertificate(cert.height, cert.round, cert.block_hash, cert.seals[:2])
        outsider = PrivateKey.generate()
        preimage = commit_preimage(block.header.chain_id, 1, cert.round, cert.block_hash)
        forged_seal = Seal(validator_index=cert.seals[0].validator_index, signature=outsider.sign(preimage))
        foreign = CommitCertificate(cert.height, cert.round, cert.block_hash, (forged_seal, *cert.seals[1:3]))
        core = QbftCore(
            config=compute_consensus_config(late.chain),
            app=LedgerBlockSource(late.ledger),
            signer=None,
            verifier=LockedVerifier(),
            wal=InMemoryWal(),
            head=get_chain_head(late.ledger),
        )
        for bad in (short, foreign):
            with pytest.raises(ConsensusError):
                core.check_certificate(block, bad)
            with pytest.raises(InvalidBlock):
                late.ledger.commit_block(block, bad)
        core.check_certificate(block, cert)  # the real one passes

        # Sync refuses the same forgeries: fed as a peer's answer, nothing is imported.
        late.start()
        assert late.driver is not None
        late.driver.on_blocks([(block.encode(), foreign.encode())], b"\x00" * 64)
        late.driver.on_blocks([(block.encode(), short.encode())], b"\x00" * 64)
        wait_until(
            lambda: late.driver is not None and late.driver.stats.get("sync_bad_certificate") >= 1,
            20,
            "the forged certificate to be refused",
        )
        # Then the honest peers' blocks bring it up to date, and it takes part again.
        wait_until(lambda: late.ledger.height >= nodes[0].ledger.height - 1, 60, "the late node to sync")
        assert late.driver.stats.get("blocks_synced") >= 1
        top = min(n.ledger.height for n in nodes)
        assert_same_chain(nodes, top)
        before = late.ledger.height
        wait_until(lambda: late.ledger.height >= before + 2, 30, "the synced node to follow consensus")
        assert_same_chain(nodes, min(n.ledger.height for n in nodes))
    finally:
        for node in nodes:
            node.stop()


def test_a_node_far_behind_syncs_from_several_peers_at_once(tmp_path: Path) -> None:
    """A validator that missed many blocks asks each of the others for its own window of heights (not one
    peer for everything) and ends with the same chain."""
    paths = init_devnet(
        tmp_path / "net",
        validators=4,
        chain_id=5150,
        api_ports=free_ports(4),
        p2p_ports=free_ports(4),
        chain_overrides=CHAIN,
        committee_size=1,
        log_level="warning",
    )
    nodes = [Node(NodeConfig.load(p), empty_block_interval_ms=50) for p in paths]
    late = nodes[3]
    try:
        for node in nodes[:3]:
            node.start()
        wait_until(lambda: min(n.ledger.height for n in nodes[:3]) >= 40, 120, "three validators to commit")
        late.start()
        assert late.driver is not None
        wait_until(lambda: late.ledger.height >= 40, 60, "the late node to sync")
        served = late.driver._sync.served
        assert len([peer for peer, blocks in served.items() if blocks > 0]) >= 2, served
        assert late.driver.stats.get("blocks_synced") >= 40 - 1
        assert_same_chain(nodes, min(n.ledger.height for n in nodes))
    finally:
        for node in nodes:
            node.stop()


def test_removing_a_validator_by_proposal_takes_effect_at_the_next_block(four: list[Node]) -> None:
    key = committee_key(Path(four[0].config.genesis_path).parent)
    removed = four[3].key
    assert removed is not None
    removed_public = removed.public_key.to_bytes()
    payload = encode_payload(Action.REMOVE_VALIDATOR, removed_public)
    data = PROPOSE + abi_encode(
        ["uint8", "bytes", "uint256"], [int(Action.REMOVE_VALIDATOR), payload, 10_000]
    )
    tx_hash = four[0].ledger.admit_transaction(make_tx(four[0], key, data))
    wait_until(lambda: bool(four[0].store.has_transactions([tx_hash])), 60, "the proposal to commit")
    stored = four[0].store.get_transaction(tx_hash)
    assert stored is not None
    change_height = stored.height
    carrier = four[0].store.get_block(change_height)
    assert carrier is not None and len(carrier.next_validators) == 3
    assert removed_public not in carrier.next_validators
    new_set = tuple(carrier.next_validators)
    # The removed node stops; the remaining three (quorum 2 of 3) keep deciding blocks.
    four[3].stop()
    wait_until(lambda: four[0].ledger.height >= change_height + 3, 60, "blocks after the change")
    assert four[0].ledger.head.validators == new_set
    for h in range(change_height + 1, four[0].ledger.height + 1):
        header = four[0].store.get_header(h)
        cert = four[0].store.get_certificate(h)
        assert header is not None and cert is not None
        assert header.validators_hash == compute_validators_hash(new_set)
        verify_certificate(cert, header, new_set)
        assert all(s.validator_index < 3 for s in cert.seals)
    # The removed validator's seal no longer counts: at any index of the new set it does not verify.
    h = change_height + 1
    header = four[0].store.get_header(h)
    cert = four[0].store.get_certificate(h)
    assert header is not None and cert is not None
    preimage = commit_preimage(header.chain_id, h, header.round, header.block_hash)
    stale_seal = removed.sign(preimage)
    for index in range(3):
        others = [s for s in cert.seals if s.validator_index != index][:1]
        seals = tuple(sorted([*others, Seal(index, stale_seal)], key=lambda s: s.validator_index))
        with pytest.raises(VerificationError):
            verify_certificate(CommitCertificate(h, header.round, header.block_hash, seals), header, new_set)
    assert_same_chain(four[:3], min(n.ledger.height for n in four[:3]))
    # The start-up head check finds the set that sealed a block changing the set (the head at a restart).
    deciding = four[0].ledger._deciding_set(carrier.header)
    assert len(deciding) == 4 and compute_validators_hash(deciding) == carrier.header.validators_hash
    carrier_cert = four[0].store.get_certificate(change_height)
    assert carrier_cert is not None
    verify_certificate(carrier_cert, carrier.header, deciding)
