"""Attacks on Governance's trust records (trust anchors, account certificates) on the real engines: the
genesis-only entry `initialize_trust` reached after genesis, a block-0 trick, a read-only call, a committee
member alone; the `_execute` -> `_apply` refactor keeping what earlier actions do and log; payload bounds; the
genesis hash covering the trust fields; EIP-170. Each test passes when the system defends correctly."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from eth_utils import keccak

from node.config import ChainConfig, ConfigError
from node.demo_network import make_uscc
from node.execution import BlockContext, ExecutionEngine, Message
from node.genesis import (
    GENESIS_SENDER,
    GOVERNANCE_ADDRESS,
    GenesisAccount,
    GenesisCertificate,
    GenesisFile,
    GenesisOrganisation,
    GenesisSignature,
    build_genesis,
    compose_genesis,
    load_runtime_code,
)
from node.ledger.rules import check_header
from sdk.crypto import PrivateKey
from sdk.domains.governance import Action, encode_payload
from sdk.errors import InvalidBlock
from sdk.system import MAX_CHAIN_CERTIFICATE_BYTES, MAX_TRUST_ANCHORS, SYSTEM_SENDER
from tests.contracts.harness import GAS_LIMIT, NOBODY
from tests.contracts.worlds.governance import (
    GRANT_ROLE,
    M1,
    M2,
    M3,
    MEMBER,
    OUTSIDER,
    PHARMA,
    SET_THRESHOLD,
    Chain,
    calldata,
    make_chain,
)

ISSUER_ROLE = keccak(b"ISSUER")


def der(tag: int, size: int = 300) -> bytes:
    """DER-shaped bytes (a SEQUENCE with a two-byte length): all the contract checks of a certificate."""
    body = bytes([tag]) * (size - 4)
    return b"\x30\x82" + len(body).to_bytes(2, "big") + body


CA, CERT = der(1), der(3)


@pytest.fixture(scope="module")
def world() -> Chain:
    return make_chain()


@pytest.fixture()
def chain(world: Chain) -> Chain:
    return world.fork()


def anchors(chain: Chain) -> list[bytes]:
    return list(chain.view("get_trust_anchors"))


def trust_call(action: int, *values: object) -> bytes:
    return calldata("initialize_trust", action, encode_payload(Action(action), *values))


def run_at_height_zero(chain: Chain, sender: bytes, data: bytes) -> tuple[int, bytes, bytes]:
    """Execute one message in a block numbered 0 on top of the current state (what no ledger ever does
    after genesis: see test_the_ledger_never_runs_a_second_block_zero): status, revert reason, new root."""
    ctx = BlockContext(height=0, timestamp_ms=chain.now_ms, gas_limit=GAS_LIMIT, proposer=NOBODY)
    message = Message(sender, GOVERNANCE_ADDRESS, data, 3_000_000, keccak(data))
    result = chain.engine.execute_block(chain.root, ctx, [message])
    (receipt,) = result.receipts
    return receipt.status, receipt.revert_reason, result.state_root


# --- initialize_trust after genesis ------------------------------------------------------------------------
@pytest.mark.parametrize("sender", [NOBODY, SYSTEM_SENDER, GOVERNANCE_ADDRESS, M1, OUTSIDER])
def test_initialize_trust_is_refused_after_block_zero_whoever_sends_it(chain: Chain, sender: bytes) -> None:
    # the zero address (the genesis sender), the ledger's own SYSTEM_SENDER and Governance itself included
    for data in (trust_call(Action.ADD_TRUST_ANCHOR, CA), trust_call(Action.BIND_CERTIFICATE, PHARMA, CERT)):
        before = chain.root
        receipt = chain.execute(sender, GOVERNANCE_ADDRESS, data)
        assert (receipt.status, receipt.revert_reason) == (0, b"genesis only") and chain.root == before
    assert anchors(chain) == []


def test_a_block_numbered_zero_gives_no_sender_but_the_genesis_one_the_trust_records(chain: Chain) -> None:
    data = trust_call(Action.ADD_TRUST_ANCHOR, CA)
    for sender in (M1, SYSTEM_SENDER, OUTSIDER):
        status, reason, root = run_at_height_zero(chain, sender, data)
        assert (status, reason, root) == (0, b"genesis only", chain.root)


@pytest.mark.parametrize(
    ("action", "values"),
    [
        (Action.REMOVE_TRUST_ANCHOR, (bytes(32),)),
        (Action.UNBIND_CERTIFICATE, (PHARMA,)),
        (Action.GRANT_ROLE, (OUTSIDER, ISSUER_ROLE, bytes(32))),
        (Action.SET_COMMITTEE_MEMBER, (MEMBER, True)),
        (Action.SET_THRESHOLD, (1,)),
        (Action.UPGRADE_CONTRACT, (GOVERNANCE_ADDRESS, bytes(32), 10, b"")),
    ],
)
def test_even_at_genesis_initialize_trust_applies_nothing_but_anchors_and_bindings(
    chain: Chain, action: Action, values: tuple[object, ...]
) -> None:
    status, reason, root = run_at_height_zero(chain, GENESIS_SENDER, trust_call(action, *values))
    assert (status, reason, root) == (0, b"not a trust action", chain.root)


def test_a_read_only_call_that_runs_initialize_trust_records_nothing(chain: Chain) -> None:
    # eth_call at the genesis block sees block.number 0 and, without "from", the zero address: the call runs,
    # but a call never persists state
    ctx = BlockContext(height=0, timestamp_ms=0, gas_limit=GAS_LIMIT, proposer=NOBODY)
    before = chain.root
    chain.engine.call(
        chain.root, NOBODY, GOVERNANCE_ADDRESS, trust_call(Action.ADD_TRUST_ANCHOR, CA), 3_000_000, ctx=ctx
    )
    assert chain.root == before and anchors(chain) == []
    assert chain.view("trust_anchors", keccak(CA)) == b""


def test_the_ledger_never_runs_a_second_block_zero(chain: Chain) -> None:
    genesis = genesis_file()
    block = build_genesis(ExecutionEngine({}, chain_id=genesis.chain.chain_id), genesis)
    again = replace(block.header, timestamp_ms=block.header.timestamp_ms + 10_000)
    with pytest.raises(InvalidBlock) as caught:
        check_header(genesis.chain, again, block.header, genesis.validator_keys(), again.timestamp_ms)
    assert caught.value.code == "bad_height"


def test_a_committee_member_alone_changes_no_trust_record(chain: Chain) -> None:
    # threshold 2 of 3: one member's proposal, re-votes and execute calls change nothing
    proposal_id = chain.propose(M1, Action.ADD_TRUST_ANCHOR, encode_payload(Action.ADD_TRUST_ANCHOR, CA))
    assert chain.refused(M1, "vote", proposal_id) == "already voted"
    assert chain.refused(M1, "execute", proposal_id) == "not enough votes"
    assert chain.refused(MEMBER, "vote", proposal_id) == "not a committee member"
    assert chain.refused(OUTSIDER, "propose", Action.ADD_TRUST_ANCHOR, b"", chain.height + 10) == (
        "not a committee member"
    )
    assert anchors(chain) == []
    chain.must(M3, "vote", proposal_id)  # the second member's vote is what applies it
    assert anchors(chain) == [keccak(CA)]


def test_an_expired_trust_proposal_cannot_be_applied(chain: Chain) -> None:
    proposal_id = chain.propose(
        M1, Action.ADD_TRUST_ANCHOR, encode_payload(Action.ADD_TRUST_ANCHOR, CA), expiry=chain.height + 2
    )
    chain.must(PHARMA, "organisation_of", PHARMA)  # a block passes
    assert chain.refused(M2, "vote", proposal_id) == "proposal expired"
    assert anchors(chain) == []


# --- the _execute -> _apply refactor ---------------------------------------------------------------------
def executed_events(chain: Chain, action: int, payload: bytes) -> list[str]:
    proposal_id = chain.propose(M1, action, payload)
    return [e.name for e in chain.events(chain.must(M2, "vote", proposal_id))]


@pytest.mark.parametrize(
    ("action", "values", "applied"),
    [
        (GRANT_ROLE, (PHARMA, ISSUER_ROLE, bytes(32)), "RoleGranted"),
        (SET_THRESHOLD, (3,), "ThresholdSet"),
        (Action.ADD_TRUST_ANCHOR, (CA,), "TrustAnchorAdded"),
    ],
)
def test_an_executing_vote_logs_the_vote_then_the_change_then_proposal_executed(
    chain: Chain, action: int, values: tuple[object, ...], applied: str
) -> None:
    # as before the refactor: ProposalExecuted comes last, after the events of the change it made
    names = executed_events(chain, action, encode_payload(Action(action), *values))
    assert names == ["ProposalVoted", applied, "ProposalExecuted"]


def test_an_upgrade_proposal_is_still_recorded_under_its_own_proposal_id(chain: Chain) -> None:
    code = load_runtime_code("Calendar")
    calendar = bytes.fromhex(chain.view("contracts", b"Calendar".ljust(32, b"\x00"))[2:])
    activation = chain.height + 20
    chain.must(
        M1, "propose", Action.ADD_TRUST_ANCHOR, encode_payload(Action.ADD_TRUST_ANCHOR, CA), chain.height + 50
    )
    receipt = chain.send(
        M1, "propose_upgrade", calendar, keccak(code), code, b"", activation, chain.height + 50, gas=4_000_000
    )
    assert receipt.status == 1, receipt.revert_reason
    proposal_id = int(chain.view("proposal_count"))
    names = [e.name for e in chain.events(chain.must(M2, "vote", proposal_id))]
    assert names == ["ProposalVoted", "UpgradeScheduled", "ProposalExecuted"]
    assert chain.view("upgrade_at", activation) == proposal_id
    assert chain.view("upgrades", proposal_id)[1] == keccak(code)
    assert anchors(chain) == []  # the other proposal is untouched


# --- payload bounds ---------------------------------------------------------------------------------------
def test_a_trust_anchor_of_exactly_the_limit_fits_one_byte_more_does_not(chain: Chain) -> None:
    over = der(9, MAX_CHAIN_CERTIFICATE_BYTES + 1)
    proposal_id = chain.propose(M1, Action.ADD_TRUST_ANCHOR, encode_payload(Action.ADD_TRUST_ANCHOR, over))
    chain.refused(M2, "vote", proposal_id)
    assert anchors(chain) == []
    limit = der(8, MAX_CHAIN_CERTIFICATE_BYTES)
    executed_events(chain, Action.ADD_TRUST_ANCHOR, encode_payload(Action.ADD_TRUST_ANCHOR, limit))
    assert anchors(chain) == [keccak(limit)] and chain.view("trust_anchors", keccak(limit)) == limit


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        # the length word says 300 bytes, 200 follow
        (Action.ADD_TRUST_ANCHOR, encode_payload(Action.ADD_TRUST_ANCHOR, CA)[:64] + CA[:200]),
        # an offset pointing past the payload
        (
            Action.ADD_TRUST_ANCHOR,
            (10_000).to_bytes(32, "big") + encode_payload(Action.ADD_TRUST_ANCHOR, CA)[32:],
        ),
        # a binding's certificate claiming 2**255 bytes
        (
            Action.BIND_CERTIFICATE,
            encode_payload(Action.BIND_CERTIFICATE, PHARMA, CERT)[:64] + (2**255).to_bytes(32, "big") + CERT,
        ),
    ],
)
def test_a_malformed_payload_applies_nothing(chain: Chain, action: Action, payload: bytes) -> None:
    executed_events(chain, Action.ADD_TRUST_ANCHOR, encode_payload(Action.ADD_TRUST_ANCHOR, der(2)))
    proposal_id = chain.propose(M1, action, payload)
    chain.refused(M2, "vote", proposal_id)
    assert anchors(chain) == [keccak(der(2))] and chain.view("certificates", PHARMA)[0] == bytes(32)


def test_a_removed_anchor_frees_its_place_and_leaves_no_bytes_behind(chain: Chain) -> None:
    for i in range(MAX_TRUST_ANCHORS):
        executed_events(
            chain, Action.ADD_TRUST_ANCHOR, encode_payload(Action.ADD_TRUST_ANCHOR, der(0x20 + i))
        )
    removed = keccak(der(0x20))
    executed_events(chain, Action.REMOVE_TRUST_ANCHOR, encode_payload(Action.REMOVE_TRUST_ANCHOR, removed))
    assert removed not in anchors(chain) and chain.view("trust_anchors", removed) == b""
    executed_events(chain, Action.ADD_TRUST_ANCHOR, encode_payload(Action.ADD_TRUST_ANCHOR, der(0x20)))
    assert anchors(chain)[-1] == removed and len(anchors(chain)) == MAX_TRUST_ANCHORS


# --- genesis ----------------------------------------------------------------------------------------------
def genesis_file() -> GenesisFile:
    uscc = make_uscc("330000", 42_000_002)
    genesis = compose_genesis(
        ChainConfig(chain_id=4343),
        validators=[PrivateKey.from_bytes(bytes([7]) * 32).public_key.to_bytes()],
        members=[(GenesisOrganisation(uscc, "某某制药有限公司"), GenesisAccount(PHARMA, uscc), ["MAH"])],
        committee=[PHARMA],
        threshold=1,
        timestamp_ms=0,
    )
    return replace(
        genesis,
        spec=replace(genesis.spec, trust_anchors=(CA,), certificates=(GenesisCertificate(PHARMA, CERT),)),
    )


def genesis_hash(genesis: GenesisFile) -> bytes:
    return build_genesis(ExecutionEngine({}, chain_id=genesis.chain.chain_id), genesis).header.block_hash


@pytest.mark.parametrize(
    "tamper",
    [
        lambda raw: raw["trust_anchors"].__setitem__(0, "0x" + der(2).hex()),
        lambda raw: raw["trust_anchors"].append("0x" + der(2).hex()),
        lambda raw: raw["certificates"][0].__setitem__("certificate", "0x" + der(4).hex()),
        lambda raw: raw.pop("certificates"),
    ],
)
def test_the_genesis_signatures_cover_the_trust_fields(tamper: object) -> None:
    genesis = genesis_file()
    genesis.validate()
    signed_hash = genesis_hash(genesis)
    key = PrivateKey.from_bytes(bytes([7]) * 32)
    signed = genesis.with_signatures([GenesisSignature.create(key, genesis.chain.chain_id, signed_hash)])
    assert signed.check_signatures(signed_hash) == 1
    raw = json.loads(signed.to_json())
    assert callable(tamper)
    tamper(raw)
    tampered = GenesisFile.from_dict(raw)  # still a well-formed genesis file
    tampered_hash = genesis_hash(tampered)
    assert tampered_hash != signed_hash
    with pytest.raises(ConfigError) as caught:
        tampered.check_signatures(tampered_hash)
    assert caught.value.code == "genesis_unsigned"
