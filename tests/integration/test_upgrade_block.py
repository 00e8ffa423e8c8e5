"""A proposer cannot leave out, or make up, a contract upgrade: every validator re-executes the block with the
ledger's upgrade step (node.ledger.upgrades) and refuses a state root that does not follow from it. On a real
node (py-evm or native as configured, SQLite, SM2): a committee member's upgrade is approved, then blocks at
the activation height built without the upgrade — or with one no proposal scheduled — are refused."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from eth_utils import function_signature_to_4byte_selector, keccak
from node_fixtures import member_key

from node.execution import ExecutionResult
from node.ledger.audit import ExecutionAuditor
from node.ledger.rules import compute_block_context, compute_messages
from node.runtime import Node, SoloProducer
from sdk.contracts import Contract
from sdk.errors import InvalidBlock
from sdk.system import CALENDAR_ADDRESS, GOVERNANCE_ADDRESS, UPGRADE_NOTICE_BLOCKS
from sdk.types import Block, Transaction
from tests.contracts.upgrade_code import CALENDAR_V2, calendar_with

pytest_plugins = ["node_fixtures"]

GOVERNANCE = Contract("Governance")


def produce(node: Node) -> None:
    assert node.key is not None
    SoloProducer(node.ledger, node.key).produce_once()


def send(node: Node, network: Path, member: int, function: str, *args: object) -> None:
    """A Governance call by the network's ``member``-th organisation, committed and successful."""
    tx = Transaction.create(
        member_key(network, member),
        chain_id=node.chain.chain_id,
        to=GOVERNANCE_ADDRESS,
        data=GOVERNANCE.encode_call(function, list(args)),
        gas_limit=node.chain.tx_gas_limit,
        expiry_height=node.ledger.height + 10,
    )
    tx_hash = node.ledger.admit_transaction(tx.encode())
    produce(node)
    stored = node.store.get_receipt(tx_hash)
    assert stored is not None and stored.receipt.status == 1, stored


def upgrade_scheduled(node: Node, network: Path) -> int:
    """Approve a Calendar upgrade (two committee votes); returns its activation height, the node one block
    before it."""
    code = calendar_with(CALENDAR_V2)
    activation = node.ledger.height + UPGRADE_NOTICE_BLOCKS + 4
    expiry = node.ledger.height + 100
    send(node, network, 0, "propose_upgrade", CALENDAR_ADDRESS, keccak(code), code, b"", activation, expiry)
    proposal_id = int(
        GOVERNANCE.decode_output(
            "proposal_count",
            node.ledger.call(GOVERNANCE_ADDRESS, GOVERNANCE.encode_call("proposal_count", [])),
        )
    )
    send(node, network, 1, "vote", proposal_id)
    while node.ledger.height < activation - 1:
        produce(node)
    return activation


def with_state_root(block: Block, state_root: bytes) -> Block:
    return dataclasses.replace(block, header=dataclasses.replace(block.header, state_root=state_root))


def test_a_block_that_leaves_out_a_due_upgrade_is_refused(node: Node, network: Path) -> None:
    upgrade_scheduled(node, network)
    honest = node.ledger.build_block()
    head = node.ledger.head
    h = honest.block.header
    ctx = compute_block_context(node.chain, h.height, h.timestamp_ms, head.validators, h.proposer_index)
    skipped = node.engine.execute_block(
        head.header.state_root, ctx, compute_messages(honest.block.transactions)
    )
    assert skipped.state_root != h.state_root
    node.ledger._executed.clear()  # re-execute as a follower does
    with pytest.raises(InvalidBlock) as info:
        node.ledger.validate_block(with_state_root(honest.block, skipped.state_root), now_ms=h.timestamp_ms)
    assert info.value.code == "bad_state_root"
    assert node.ledger.validate_block(honest.block, now_ms=h.timestamp_ms).block == honest.block


def test_a_block_that_installs_code_no_proposal_scheduled_is_refused(node: Node, network: Path) -> None:
    produce(node)
    honest = node.ledger.build_block()
    head = node.ledger.head
    h = honest.block.header
    ctx = compute_block_context(node.chain, h.height, h.timestamp_ms, head.validators, h.proposer_index)
    stolen = calendar_with(CALENDAR_V2) + function_signature_to_4byte_selector("x()")
    forged, _ = node.engine.apply_system_step(
        head.header.state_root, ctx, None, install=(CALENDAR_ADDRESS, stolen)
    )
    node.ledger._executed.clear()
    with pytest.raises(InvalidBlock) as info:
        node.ledger.validate_block(with_state_root(honest.block, forged), now_ms=h.timestamp_ms)
    assert info.value.code == "bad_state_root"


def test_the_execution_audit_agrees_on_the_activation_block(node: Node, network: Path) -> None:
    """The node's engine (native by default) and the audit's py-evm agree on the block that upgrades."""
    activation = upgrade_scheduled(node, network)
    committed: list[tuple[Block, ExecutionResult]] = []
    node.ledger.on_commit.append(lambda block, _cert, result: committed.append((block, result)))
    send(node, network, 0, "is_active_account", GOVERNANCE_ADDRESS)  # the activation block has a transaction
    [(block, result)] = committed
    assert block.header.height == activation and block.transactions
    assert node.ledger.get_code(block.header.state_root, CALENDAR_ADDRESS) == calendar_with(CALENDAR_V2)
    assert ExecutionAuditor(node.ledger, every=1).audit(block, result) == []
