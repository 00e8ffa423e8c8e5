"""Contract upgrades through governance: Governance's UPGRADE_CONTRACT proposals and the ledger's step that
installs the code at the activation block (node.ledger.upgrades), under both engines (every block of the
driver runs on the native engine and on py-evm and must agree)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector, keccak

from node.execution import BlockContext, ExecutionEngine
from node.genesis import CALENDAR_ADDRESS, GOVERNANCE_ADDRESS
from node.ledger.upgrades import UPGRADE_CODE_TOPIC, apply_due_upgrade
from sdk.domains.governance import Action, UpgradeStatus, encode_payload
from sdk.system import MAX_CODE_BYTES, SYSTEM_SENDER, UPGRADE_NOTICE_BLOCKS
from sdk.types import Receipt
from tests.contracts.harness import GAS_LIMIT
from tests.contracts.upgrade_code import (
    CALENDAR_FAILING_MIGRATION,
    CALENDAR_V2,
    GOVERNANCE_V2,
    calendar_with,
    contract_with,
)
from tests.contracts.worlds.governance import M1, M2, M3, OUTSIDER, PHARMA, Chain, make_chain

MIGRATE = function_signature_to_4byte_selector("migrate()")
VERSION = function_signature_to_4byte_selector("version()")
UPGRADE_GAS = 4_000_000


@dataclass
class UpgradingChain(Chain):
    """The Governance world, each block starting with the ledger's upgrade step as a node runs it; the code
    comes from the UpgradeCode logs of earlier blocks, as a node reads them from its store."""

    hide_code: bool = False

    def execute(self, sender: bytes, to: bytes, data: bytes, *, gas: int | None = None) -> Receipt:
        ctx = BlockContext(
            height=self.height + 1,
            timestamp_ms=self.now_ms + self.step_ms,
            gas_limit=GAS_LIMIT,
            proposer=self.proposer,
        )
        self.root = apply_due_upgrade(self.engine, self.root, GOVERNANCE_ADDRESS, ctx, self.logged_code)
        return super().execute(sender, to, data, gas=gas)

    def logged_code(self, proposal_id: int, code_hash: bytes, height: int) -> bytes | None:
        wanted = (UPGRADE_CODE_TOPIC, proposal_id.to_bytes(32, "big"), code_hash)
        for receipt in self.receipts:
            for log in receipt.logs:
                if not self.hide_code and log.address == GOVERNANCE_ADDRESS and log.topics == wanted:
                    return bytes(decode(["bytes"], log.data)[0])
        return None

    def idle_until(self, height: int) -> None:
        """Blocks of one harmless transaction until the chain is at ``height``."""
        while self.height < height:
            self.must(PHARMA, "covered_through", to=CALENDAR_ADDRESS)

    def code_hash(self, address: bytes = CALENDAR_ADDRESS) -> bytes:
        return self.engine.get_code_hash(self.root, address)

    def propose_upgrade(
        self, sender: bytes, new_code: bytes, activation: int, *, migration: bytes = MIGRATE, **overrides: Any
    ) -> Receipt:
        args: dict[str, Any] = {
            "target": CALENDAR_ADDRESS,
            "code_hash": keccak(new_code),
            "code": new_code,
            "migration": migration,
            "activation_block": activation,
            "expiry_block": self.height + 100,
        } | overrides
        return self.send(sender, "propose_upgrade", *args.values(), gas=UPGRADE_GAS)

    def governance_version(self) -> int:
        out = self.engine.call(self.root, OUTSIDER, GOVERNANCE_ADDRESS, VERSION, 100_000)
        return int(decode(["uint256"], out)[0])

    def upgrade(self, proposal_id: int) -> tuple[Any, ...]:
        return tuple(self.view("upgrades", proposal_id))


@pytest.fixture(scope="module")
def world() -> UpgradingChain:
    base = make_chain()
    return UpgradingChain(**{f: getattr(base, f) for f in base.__dataclass_fields__})


@pytest.fixture()
def chain(world: UpgradingChain) -> UpgradingChain:
    return world.fork()


def approve(chain: UpgradingChain, code: bytes, activation: int, **kwargs: Any) -> int:
    receipt = chain.propose_upgrade(M1, code, activation, **kwargs)
    assert receipt.status == 1, receipt.revert_reason
    proposal_id = int(chain.view("proposal_count"))
    chain.must(M2, "vote", proposal_id)
    return proposal_id


def calendar_read(chain: UpgradingChain, signature: str) -> int:
    """A uint256 view of the contract at the Calendar's address, by signature (ABIs of this build lack it)."""
    selector = function_signature_to_4byte_selector(signature)
    out = chain.engine.call(chain.root, OUTSIDER, CALENDAR_ADDRESS, selector, 100_000)
    return int(decode(["uint256"], out)[0])


def test_an_approved_upgrade_installs_the_code_and_migrates_at_its_activation_block(
    chain: UpgradingChain,
) -> None:
    code = calendar_with(CALENDAR_V2)
    old_hash, covered = chain.code_hash(), chain.view("covered_through", to=CALENDAR_ADDRESS)
    activation = chain.height + UPGRADE_NOTICE_BLOCKS + 4
    proposal_id = approve(chain, code, activation)
    events = [e.name for e in chain.events(chain.receipts[-1])]
    assert "UpgradeScheduled" in events and "ProposalExecuted" in events
    assert chain.view("upgrade_at", activation) == proposal_id
    chain.idle_until(activation - 1)
    assert chain.code_hash() == old_hash  # nothing changes before the agreed height
    with pytest.raises(Exception, match="reverted"):
        calendar_read(chain, "version()")
    chain.idle_until(activation)
    assert chain.code_hash() == keccak(code)
    assert calendar_read(chain, "version()") == 2
    migrated_at = calendar_read(chain, "migrated_at()")
    assert migrated_at == activation  # the migration ran in the activation block, from Governance
    target, code_hash, at, migration, status, previous = chain.upgrade(proposal_id)
    assert (bytes.fromhex(target[2:]), code_hash, at, migration, status, previous) == (
        CALENDAR_ADDRESS,
        keccak(code),
        activation,
        MIGRATE,
        UpgradeStatus.ACTIVATED,
        old_hash,
    )
    assert chain.view("covered_through", to=CALENDAR_ADDRESS) == covered  # the state stays
    chain.idle_until(activation + 2)  # later blocks run the new code on both engines
    assert chain.code_hash() == keccak(code)


def test_a_failing_migration_keeps_the_old_code_and_is_recorded(chain: UpgradingChain) -> None:
    old_hash = chain.code_hash()
    activation = chain.height + UPGRADE_NOTICE_BLOCKS + 4
    proposal_id = approve(chain, calendar_with(CALENDAR_FAILING_MIGRATION), activation)
    chain.idle_until(activation + 1)
    assert chain.code_hash() == old_hash
    assert chain.upgrade(proposal_id)[4:] == (UpgradeStatus.MIGRATION_FAILED, old_hash)


def test_an_upgrade_without_migration_installs_the_code_alone(chain: UpgradingChain) -> None:
    code = calendar_with(CALENDAR_FAILING_MIGRATION)  # its migrate() is never called
    activation = chain.height + UPGRADE_NOTICE_BLOCKS + 4
    proposal_id = approve(chain, code, activation, migration=b"")
    chain.idle_until(activation)
    assert chain.code_hash() == keccak(code)
    assert chain.upgrade(proposal_id)[4] == UpgradeStatus.ACTIVATED


def test_a_node_without_the_logged_code_records_the_upgrade_as_unavailable(chain: UpgradingChain) -> None:
    old_hash = chain.code_hash()
    activation = chain.height + UPGRADE_NOTICE_BLOCKS + 4
    proposal_id = approve(chain, calendar_with(CALENDAR_V2), activation)
    chain.hide_code = True
    chain.idle_until(activation)
    assert chain.code_hash() == old_hash
    assert chain.upgrade(proposal_id)[4] == UpgradeStatus.CODE_UNAVAILABLE


def test_the_upgrade_step_gives_the_same_state_on_py_evm_alone(chain: UpgradingChain) -> None:
    activation = chain.height + UPGRADE_NOTICE_BLOCKS + 4
    approve(chain, calendar_with(CALENDAR_V2), activation)
    chain.idle_until(activation - 1)
    parent = chain.root
    chain.idle_until(activation)
    reference = ExecutionEngine(chain.engine._db, chain.engine.chain_id)  # the same store, py-evm only
    ctx = BlockContext(height=activation, timestamp_ms=chain.now_ms, gas_limit=GAS_LIMIT, proposer=M1)
    native_start = apply_due_upgrade(chain.engine, parent, GOVERNANCE_ADDRESS, ctx, chain.logged_code)
    assert apply_due_upgrade(reference, parent, GOVERNANCE_ADDRESS, ctx, chain.logged_code) == native_start


def test_governance_upgrades_itself_and_keeps_its_state(chain: UpgradingChain) -> None:
    code = contract_with("Governance", GOVERNANCE_V2)
    validators, count = chain.view("get_validators"), chain.view("proposal_count")
    activation = chain.height + UPGRADE_NOTICE_BLOCKS + 4
    proposal_id = approve(chain, code, activation, migration=b"", target=GOVERNANCE_ADDRESS)
    chain.idle_until(activation)
    assert chain.code_hash(GOVERNANCE_ADDRESS) == keccak(code)
    assert chain.governance_version() == 2
    assert chain.upgrade(proposal_id)[4] == UpgradeStatus.ACTIVATED  # recorded by the new code
    assert chain.view("get_validators") == validators and chain.view("proposal_count") == count + 1
    chain.must(M1, "propose", int(Action.SET_THRESHOLD), encode_payload(Action.SET_THRESHOLD, 1), 1_000)


def test_a_governance_that_would_stop_the_chain_is_not_installed(chain: UpgradingChain) -> None:
    """Code at Governance's address that does not answer the ledger (here: the Calendar's) would leave no
    validator set and no accounts: the upgrade is refused like a failed migration."""
    old_hash = chain.code_hash(GOVERNANCE_ADDRESS)
    activation = chain.height + UPGRADE_NOTICE_BLOCKS + 4
    wrong = calendar_with(CALENDAR_V2)
    proposal_id = approve(chain, wrong, activation, migration=b"", target=GOVERNANCE_ADDRESS)
    chain.idle_until(activation + 1)
    assert chain.code_hash(GOVERNANCE_ADDRESS) == old_hash
    assert chain.upgrade(proposal_id)[4:] == (UpgradeStatus.MIGRATION_FAILED, old_hash)


# --- the attacks ------------------------------------------------------------------------------------------
def test_only_committee_members_propose_upgrades(chain: UpgradingChain) -> None:
    receipt = chain.propose_upgrade(PHARMA, calendar_with(CALENDAR_V2), chain.height + 20)
    assert (receipt.status, receipt.revert_reason) == (0, b"not a committee member")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"code_hash": bytes(32)}, "code hash mismatch"),
        ({"code": b"", "code_hash": keccak(b"")}, "empty code"),
        ({"target": PHARMA}, "not a system contract"),
        ({"target": bytes(20)}, "not a system contract"),
    ],
)
def test_malformed_upgrade_proposals_are_refused(
    chain: UpgradingChain, overrides: dict[str, Any], reason: str
) -> None:
    receipt = chain.propose_upgrade(M1, calendar_with(CALENDAR_V2), chain.height + 20, **overrides)
    assert (receipt.status, receipt.revert_reason.decode()) == (0, reason)


def test_an_activation_block_in_the_past_or_too_soon_is_refused(chain: UpgradingChain) -> None:
    for activation in (0, chain.height, chain.height + 1 + UPGRADE_NOTICE_BLOCKS):
        receipt = chain.propose_upgrade(M1, calendar_with(CALENDAR_V2), activation)
        assert receipt.revert_reason == b"activation block too soon"


def test_oversized_code_is_refused(chain: UpgradingChain) -> None:
    code = b"\x00" * (MAX_CODE_BYTES + 1)
    receipt = chain.propose_upgrade(M1, code, chain.height + 20)
    assert receipt.status == 0
    assert chain.view("proposal_count") == 0


def test_an_upgrade_cannot_be_proposed_without_its_code(chain: UpgradingChain) -> None:
    payload = encode_payload(Action.UPGRADE_CONTRACT, CALENDAR_ADDRESS, bytes(32), chain.height + 20, b"")
    receipt = chain.send(M1, "propose", int(Action.UPGRADE_CONTRACT), payload, chain.height + 100)
    assert receipt.revert_reason == b"an upgrade carries its code: use propose_upgrade"


def test_an_approval_too_close_to_the_activation_block_fails(chain: UpgradingChain) -> None:
    activation = chain.height + UPGRADE_NOTICE_BLOCKS + 3
    chain.propose_upgrade(M1, calendar_with(CALENDAR_V2), activation)
    proposal_id = int(chain.view("proposal_count"))
    chain.idle_until(activation - UPGRADE_NOTICE_BLOCKS - 1)
    receipt = chain.send(M2, "vote", proposal_id)
    assert receipt.revert_reason == b"activation block too soon"


def test_one_upgrade_per_activation_block(chain: UpgradingChain) -> None:
    activation = chain.height + UPGRADE_NOTICE_BLOCKS + 6
    approve(chain, calendar_with(CALENDAR_V2), activation)
    receipt = chain.propose_upgrade(M3, calendar_with(CALENDAR_FAILING_MIGRATION), activation)
    assert receipt.revert_reason == b"another upgrade activates at that block"


def test_only_the_ledger_records_an_upgrade(chain: UpgradingChain) -> None:
    activation = chain.height + UPGRADE_NOTICE_BLOCKS + 4
    proposal_id = approve(chain, calendar_with(CALENDAR_V2), activation)
    for sender in (M1, GOVERNANCE_ADDRESS, OUTSIDER):
        receipt = chain.send(sender, "record_upgrade", proposal_id, bytes(32), UpgradeStatus.ACTIVATED)
        assert receipt.revert_reason == b"only the ledger records upgrades"
    early = chain.send(SYSTEM_SENDER, "record_upgrade", proposal_id, bytes(32), UpgradeStatus.ACTIVATED)
    assert early.revert_reason == b"not the activation block"
