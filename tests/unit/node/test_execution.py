"""ExecutionEngine on the real py-evm with the real compiled Governance contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_abi import decode, encode
from eth_utils import function_abi_to_4byte_selector, keccak
from trie import HexaryTrie

from node.execution import BlockContext, ExecutionEngine, Message, compute_revert_reason
from node.execution.engine import GOVERNANCE_INITIALIZE_SELECTOR
from node.genesis import (
    DRUG_REGULATOR,
    GOVERNANCE_ADDRESS,
    MAH,
    ROLE_IDS,
    GenesisAccount,
    GenesisOrganisation,
    GenesisRole,
    GenesisSpec,
    load_runtime_code,
)
from sdk.errors import ExecutionError

ROOT = Path(__file__).resolve().parents[3]
ABI: list[dict[str, Any]] = json.loads((ROOT / "contracts/build/Governance.json").read_text())["abi"]
USCC = "91350100M000100Y43"
OTHER_USCC = "91350100M000200Y43"  # BOB's organisation: a delegated admin grants only to other organisations
ALICE = bytes.fromhex("a1" * 20)
BOB = bytes.fromhex("b0" * 20)
STRANGER = bytes.fromhex("5e" * 20)
VALIDATOR = bytes(range(64))
CTX = BlockContext(height=1, timestamp_ms=1_700_000_000_000, gas_limit=30_000_000, proposer=bytes(20))


def selector(name: str) -> bytes:
    (entry,) = [e for e in ABI if e.get("type") == "function" and e["name"] == name]
    return function_abi_to_4byte_selector(entry)


def calldata(name: str, types: list[str], args: list[Any]) -> bytes:
    return selector(name) + encode(types, args)


def grant_issuer(scope: bytes, *, sender: bytes = ALICE, gas: int = 300_000) -> Message:
    data = calldata("grant_role", ["address", "bytes32", "bytes32"], [BOB, MAH, scope])
    return Message(
        sender=sender, to=GOVERNANCE_ADDRESS, data=data, gas_limit=gas, tx_hash=keccak(data + sender)
    )


def has_role(engine: ExecutionEngine, root: bytes, account: bytes, role: bytes, scope: bytes) -> bool:
    out = engine.call(
        root,
        STRANGER,
        GOVERNANCE_ADDRESS,
        calldata("has_role", ["address", "bytes32", "bytes32"], [account, role, scope]),
        200_000,
    )
    return bool(decode(["bool"], out)[0])


def make_spec(**overrides: Any) -> GenesisSpec:
    fields: dict[str, Any] = {
        "validators": (VALIDATOR,),
        "organisations": (
            GenesisOrganisation(USCC, "福州市市场监督管理局"),
            GenesisOrganisation(OTHER_USCC, "福州某某药业有限公司"),
        ),
        "accounts": (GenesisAccount(ALICE, USCC), GenesisAccount(BOB, OTHER_USCC)),
        "committee": (ALICE,),
        "threshold": 1,
        "roles": (GenesisRole(ALICE, DRUG_REGULATOR),),
    }
    fields.update(overrides)
    return GenesisSpec(**fields)


@pytest.fixture()
def store() -> dict[bytes, bytes]:
    return {}


@pytest.fixture()
def engine(store: dict[bytes, bytes]) -> ExecutionEngine:
    return ExecutionEngine(store, chain_id=7)


@pytest.fixture()
def genesis_root(engine: ExecutionEngine) -> bytes:
    return engine.create_genesis(make_spec())


# --- genesis ------------------------------------------------------------------------------------------
def test_genesis_state_root_is_deterministic(genesis_root: bytes) -> None:
    again = ExecutionEngine({}, chain_id=7).create_genesis(make_spec())
    other = ExecutionEngine({}, chain_id=7).create_genesis(make_spec(threshold=1, committee=(BOB,)))
    assert again == genesis_root
    assert other != genesis_root


def test_genesis_installs_governance_runtime_code_at_fixed_address(
    engine: ExecutionEngine, genesis_root: bytes
) -> None:
    assert engine.get_code(genesis_root, GOVERNANCE_ADDRESS) == load_runtime_code("Governance")
    out = engine.call(genesis_root, STRANGER, GOVERNANCE_ADDRESS, selector("initialized"), 100_000)
    assert decode(["bool"], out) == (True,)


def test_genesis_with_account_of_unknown_organisation_fails_with_reason(engine: ExecutionEngine) -> None:
    spec = make_spec(accounts=(GenesisAccount(ALICE, "91110000000000000X"),))
    with pytest.raises(ExecutionError, match="unknown organisation"):
        engine.create_genesis(spec)


def test_initialize_selector_matches_contract_abi() -> None:
    assert selector("initialize") == GOVERNANCE_INITIALIZE_SELECTOR


def test_role_ids_match_contract_constants(engine: ExecutionEngine, genesis_root: bytes) -> None:
    for name, role_id in ROLE_IDS.items():
        assert engine.call(genesis_root, STRANGER, GOVERNANCE_ADDRESS, selector(name), 100_000) == role_id


def test_initialize_cannot_run_twice(engine: ExecutionEngine, genesis_root: bytes) -> None:
    data = GOVERNANCE_INITIALIZE_SELECTOR + encode(
        [
            "address[]",
            "uint256",
            "(string,string)[]",
            "(address,string)[]",
            "(address,bytes32,bytes32)[]",
            "(bytes32,bytes32)[]",
            "bytes[]",
            "(bytes32,address)[]",
        ],
        [[], 0, [], [], [], [], [], []],
    )
    with pytest.raises(ExecutionError, match="already initialized"):
        engine.call(genesis_root, STRANGER, GOVERNANCE_ADDRESS, data, 1_000_000)


# --- execute_block ------------------------------------------------------------------------------------
def test_delegated_grant_succeeds_with_event_log(engine: ExecutionEngine, genesis_root: bytes) -> None:
    scope = keccak(b"food-business-licence")
    result = engine.execute_block(genesis_root, CTX, [grant_issuer(scope)])
    (receipt,) = result.receipts
    assert receipt.status == 1 and receipt.revert_reason == b""
    assert result.gas_used == receipt.gas_used > 21_000
    (log,) = receipt.logs
    assert log.address == GOVERNANCE_ADDRESS
    assert log.topics[0] == keccak(text="RoleGranted(address,bytes32,bytes32,address)")
    assert log.topics[1:] == (bytes(12) + BOB, MAH, scope)
    assert decode(["address"], log.data) == ("0x" + ALICE.hex(),)
    assert has_role(engine, result.state_root, BOB, MAH, scope)


def test_execute_block_leaves_parent_state_readable_and_unchanged(
    engine: ExecutionEngine, store: dict[bytes, bytes], genesis_root: bytes
) -> None:
    scope = keccak(b"scope-a")
    before = dict(store)
    result = engine.execute_block(genesis_root, CTX, [grant_issuer(scope)])
    assert result.state_root != genesis_root
    assert all(store[k] == v for k, v in before.items())  # nodes are only ever added
    assert not has_role(engine, genesis_root, BOB, MAH, scope)
    assert has_role(engine, result.state_root, BOB, MAH, scope)
    # a sibling block on the same parent is independent of the first
    sibling = engine.execute_block(genesis_root, CTX, [grant_issuer(keccak(b"scope-b"))])
    assert not has_role(engine, sibling.state_root, BOB, MAH, scope)


def test_execute_block_is_deterministic_across_engines(genesis_root: bytes) -> None:
    other = ExecutionEngine({}, chain_id=7)
    other_root = other.create_genesis(make_spec())
    messages = [grant_issuer(keccak(bytes([i]))) for i in range(5)]
    first = ExecutionEngine({}, chain_id=7)
    first.create_genesis(make_spec())
    assert first.execute_block(genesis_root, CTX, messages) == other.execute_block(other_root, CTX, messages)


def test_empty_block_keeps_state_root(engine: ExecutionEngine, genesis_root: bytes) -> None:
    result = engine.execute_block(genesis_root, CTX, [])
    assert result.state_root == genesis_root and result.receipts == () and result.gas_used == 0


def test_reverted_message_reports_reason_and_changes_nothing(
    engine: ExecutionEngine, genesis_root: bytes
) -> None:
    scope = keccak(b"scope")
    refused = grant_issuer(scope, sender=BOB)  # BOB holds no DRUG_REGULATOR
    ok = grant_issuer(scope)
    result = engine.execute_block(genesis_root, CTX, [refused, ok, ok])
    first, second, third = result.receipts
    assert (first.status, first.revert_reason, first.logs) == (0, b"not an admin of this role", ())
    assert first.tx_hash == refused.tx_hash
    assert second.status == 1
    assert (third.status, third.revert_reason) == (0, b"role already granted")
    assert has_role(engine, result.state_root, BOB, MAH, scope)


def test_reverted_only_block_keeps_state_root(engine: ExecutionEngine, genesis_root: bytes) -> None:
    result = engine.execute_block(genesis_root, CTX, [grant_issuer(keccak(b"s"), sender=STRANGER)])
    assert result.receipts[0].status == 0
    assert result.state_root == genesis_root


def test_out_of_gas_message_fails_and_is_undone(engine: ExecutionEngine, genesis_root: bytes) -> None:
    scope = keccak(b"scope")
    message = grant_issuer(scope, gas=40_000)
    result = engine.execute_block(genesis_root, CTX, [message])
    (receipt,) = result.receipts
    assert (receipt.status, receipt.revert_reason, receipt.gas_used) == (0, b"out of gas", 40_000)
    assert result.state_root == genesis_root
    assert not has_role(engine, result.state_root, BOB, MAH, scope)


def test_message_below_intrinsic_gas_or_to_empty_address_fails(
    engine: ExecutionEngine, genesis_root: bytes
) -> None:
    low = grant_issuer(keccak(b"x"), gas=21_000)
    nowhere = Message(sender=ALICE, to=STRANGER, data=b"", gas_limit=100_000, tx_hash=bytes(32))
    result = engine.execute_block(genesis_root, CTX, [low, nowhere])
    assert [(r.status, r.revert_reason) for r in result.receipts] == [
        (0, b"intrinsic gas too low"),
        (0, b"no contract at target address"),
    ]
    assert [r.gas_used for r in result.receipts] == [21_000, 21_000]
    assert result.state_root == genesis_root


def test_unknown_parent_root_is_refused(engine: ExecutionEngine) -> None:
    with pytest.raises(ExecutionError, match="unknown state root"):
        engine.execute_block(b"\x12" * 32, CTX, [])


def test_malformed_sender_is_refused(engine: ExecutionEngine, genesis_root: bytes) -> None:
    bad = Message(sender=b"\x01" * 19, to=GOVERNANCE_ADDRESS, data=b"", gas_limit=100_000, tx_hash=bytes(32))
    with pytest.raises(ExecutionError, match="sender must be 20 bytes"):
        engine.execute_block(genesis_root, CTX, [bad])


def test_revert_reason_decoding() -> None:
    error = bytes.fromhex("08c379a0") + encode(["string"], ["不予共享"])
    panic = bytes.fromhex("4e487b71") + (0x11).to_bytes(32, "big")
    assert compute_revert_reason(error) == "不予共享".encode()
    assert compute_revert_reason(panic) == b"panic 0x11"
    assert compute_revert_reason(b"") == b""
    assert compute_revert_reason(b"\xde\xad") == b"\xde\xad"


# --- call ---------------------------------------------------------------------------------------------
def test_call_is_read_only(engine: ExecutionEngine, store: dict[bytes, bytes], genesis_root: bytes) -> None:
    scope = keccak(b"scope")
    message = grant_issuer(scope)
    size = len(store)
    assert engine.call(genesis_root, ALICE, GOVERNANCE_ADDRESS, message.data, 300_000) == b""
    assert len(store) == size
    assert not has_role(engine, genesis_root, BOB, MAH, scope)


def test_call_raises_with_revert_reason(engine: ExecutionEngine, genesis_root: bytes) -> None:
    data = grant_issuer(keccak(b"scope")).data
    with pytest.raises(ExecutionError, match="not an admin of this role") as info:
        engine.call(genesis_root, STRANGER, GOVERNANCE_ADDRESS, data, 300_000)
    assert info.value.code == "reverted"
    assert info.value.detail["revert_reason"] == "not an admin of this role"


def test_call_sees_block_context(engine: ExecutionEngine, genesis_root: bytes) -> None:
    # proposals check block.number: an expiry at height 5 is refused in a call made at height 5
    data = calldata("propose", ["uint8", "bytes", "uint256"], [10, encode(["uint256"], [1]), 5])
    at_four = BlockContext(height=4, timestamp_ms=0, gas_limit=1_000_000, proposer=bytes(20))
    at_five = BlockContext(height=5, timestamp_ms=0, gas_limit=1_000_000, proposer=bytes(20))
    assert decode(
        ["uint256"], engine.call(genesis_root, ALICE, GOVERNANCE_ADDRESS, data, 500_000, ctx=at_four)
    )
    with pytest.raises(ExecutionError, match="expiry must be in the future"):
        engine.call(genesis_root, ALICE, GOVERNANCE_ADDRESS, data, 500_000, ctx=at_five)


# --- queries and proofs -------------------------------------------------------------------------------
def _slot_of_threshold() -> int:
    artifact = json.loads((ROOT / "contracts/build/Governance.json").read_text())
    return int(artifact["storage_layout"]["storage_layout"]["threshold"]["slot"])


def test_get_storage_reads_contract_slots(engine: ExecutionEngine, genesis_root: bytes) -> None:
    assert engine.get_storage(genesis_root, GOVERNANCE_ADDRESS, _slot_of_threshold()) == 1
    assert engine.get_storage(genesis_root, STRANGER, 0) == 0
    assert engine.get_code(genesis_root, STRANGER) == b""


def _verify(root: bytes, key: bytes, proof: tuple[bytes, ...]) -> bytes:
    return bytes(HexaryTrie.get_from_proof(root, key, [rlp.decode(node) for node in proof]))


def test_get_proof_verifies_against_state_root(engine: ExecutionEngine, genesis_root: bytes) -> None:
    scope = keccak(b"scope")
    root = engine.execute_block(genesis_root, CTX, [grant_issuer(scope)]).state_root
    slot = _slot_of_threshold()
    proof = engine.get_proof(root, GOVERNANCE_ADDRESS, [slot, 2**200])

    account_rlp = _verify(root, keccak(GOVERNANCE_ADDRESS), proof.account_proof)
    nonce, balance, storage_hash, code_hash = rlp.decode(account_rlp)
    assert int.from_bytes(nonce, "big") == proof.nonce == 1
    assert int.from_bytes(balance, "big") == proof.balance == 0
    assert storage_hash == proof.storage_hash
    assert code_hash == proof.code_hash == keccak(load_runtime_code("Governance"))

    present, absent = proof.storage_proof
    assert present.value == 1
    value_rlp = _verify(proof.storage_hash, keccak(slot.to_bytes(32, "big")), present.proof)
    assert rlp.decode(value_rlp) == b"\x01"
    assert absent.value == 0
    assert _verify(proof.storage_hash, keccak((2**200).to_bytes(32, "big")), absent.proof) == b""


def test_get_proof_of_absent_account_proves_absence(engine: ExecutionEngine, genesis_root: bytes) -> None:
    proof = engine.get_proof(genesis_root, STRANGER, [0])
    assert _verify(genesis_root, keccak(STRANGER), proof.account_proof) == b""
    assert (proof.nonce, proof.balance, proof.storage_proof[0].value) == (0, 0, 0)


def test_tampered_proof_does_not_verify(engine: ExecutionEngine, genesis_root: bytes) -> None:
    proof = engine.get_proof(genesis_root, GOVERNANCE_ADDRESS, [])
    forged = list(proof.account_proof)
    forged[-1] = forged[-1][:-1] + bytes([forged[-1][-1] ^ 1])
    with pytest.raises(Exception):  # noqa: B017 - trie raises BadTrieProof or a decoding error
        _verify(genesis_root, keccak(GOVERNANCE_ADDRESS), tuple(forged))
