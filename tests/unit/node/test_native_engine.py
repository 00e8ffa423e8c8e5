"""The native engine on real revm and py-evm: which messages run where, and how its state copy follows roots.

Every block here runs on ``CrossCheckedEngine`` (tests/contracts/harness.py): the native engine with py-evm
run beside it on each block, so every assertion below also holds receipts, gas, logs, revert reasons and
state roots equal to py-evm's.
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import replace

import pytest
import vyper
from eth_abi import encode
from eth_utils import keccak

from node.execution import (
    BlockContext,
    ExecutionEngine,
    Message,
    NativeExecutionEngine,
    compute_floor_gas,
    compute_intrinsic_gas,
)
from node.execution.native import MIRROR_LINKS, Fallback
from node.genesis import (
    DRUG_TRACE_ADDRESS,
    GOVERNANCE_ADDRESS,
    ROLE_IDS,
    GenesisAccount,
    GenesisOrganisation,
    GenesisRole,
    GenesisSpec,
    SystemContract,
)
from sdk.errors import ExecutionError
from tests.contracts import harness
from tests.contracts.worlds import drugs, governance

NATIVE = "native"
CTX = BlockContext(height=9, timestamp_ms=9_000_000, gas_limit=harness.GAS_LIMIT, proposer=governance.M1)


def grant(scope: bytes | None = None, *, gas: int = 300_000) -> Message:
    """A delegated grant the audit accreditor may make (a fresh scope: it always succeeds)."""
    data = governance.calldata(
        "grant_role", governance.MEMBER, ROLE_IDS["AUDITOR"], scope or secrets.token_bytes(32)
    )
    return Message(governance.AUDIT_BODY, GOVERNANCE_ADDRESS, data, gas, secrets.token_bytes(32))


def drug_call(sender: bytes, name: str, *args: object, gas: int = 3_000_000) -> Message:
    data = drugs.DRUG.encode_call(name, list(args))
    return Message(sender, DRUG_TRACE_ADDRESS, data, gas, secrets.token_bytes(32))


def new_counts(engine: NativeExecutionEngine, before: Counter[str]) -> dict[str, int]:
    return {reason: n - before[reason] for reason, n in engine.counts.items() if n != before[reason]}


@pytest.fixture(scope="module")
def gov() -> governance.Chain:
    return governance.make_chain()


def test_grants_run_natively(gov: governance.Chain) -> None:
    engine = gov.engine
    before = engine.counts.copy()
    result = engine.execute_block(gov.root, CTX, [grant() for _ in range(20)])
    assert [r.status for r in result.receipts] == [1] * 20
    assert new_counts(engine, before) == {NATIVE: 20}


def test_a_mixed_block_runs_each_message_where_it_is_exact() -> None:
    chain = drugs.stock(drugs.new_chain())
    engine = chain.engine
    starved = drug_call(drugs.PHARMA, "ship", [drugs.cid(drugs.unit(13))], drugs.DIST, drugs.SALE)
    floor = max(compute_intrinsic_gas(starved.data), compute_floor_gas(starved.data))
    starved = replace(starved, gas_limit=floor + 50)  # out of gas at once
    messages = [
        drug_call(drugs.PHARMA, "ship", [drugs.cid(drugs.unit(11))], drugs.DIST, drugs.SALE),  # native
        # register_product hashes its key with the SM3 precompile: revm gets no digest and reverts
        drug_call(drugs.PHARMA, "register_product", "8612347", "Ibuprofen", "国药准字H2", 0, bytes(32)),
        drug_call(drugs.OUTSIDER, "ship", [drugs.cid(drugs.unit(12))], drugs.DIST, drugs.SALE),  # reverts
        starved,
        drug_call(drugs.PHARMA, "ship", [drugs.cid(drugs.unit(14))], drugs.DIST, drugs.SALE, gas=21_000),
        Message(drugs.PHARMA, bytes([0xEE]) * 20, b"", 100_000, secrets.token_bytes(32)),  # no contract there
        drug_call(drugs.PHARMA, "ship", [drugs.cid(drugs.unit(15))], drugs.DIST, drugs.SALE),  # native
    ]
    before = engine.counts.copy()
    ctx = replace(CTX, timestamp_ms=drugs.NOW_MS, proposer=drugs.COMMITTEE)
    result = engine.execute_block(chain.root, ctx, messages)
    assert [r.status for r in result.receipts] == [1, 1, 0, 0, 0, 0, 1]
    assert [r.revert_reason for r in result.receipts[3:6]] == [
        b"out of gas",
        b"intrinsic gas too low",
        b"no contract at target address",
    ]
    # the refusals before any code runs count as native: neither EVM runs
    assert new_counts(engine, before) == {NATIVE: 4, Fallback.FAILED: 3}


PROBE = bytes.fromhex("00000000000000000000000000000000000b0b0e")
PROBE_SOURCE = """
# pragma version 0.4.3
# pragma evm-version prague
SM3_PRECOMPILE: constant(address) = 0x0000000000000000000000000000000000000a01

last: public(uint256)
seen: public(address)

@external
def digest_length(data: Bytes[64]):
    # revm has no SM3 precompile: the call succeeds there with no output, here with 32 bytes
    out: Bytes[32] = raw_call(SM3_PRECOMPILE, data, max_outsize=32, is_static_call=True)
    self.last = len(out)

@external
def remember_coinbase():
    self.seen = block.coinbase

@external
def pay(to: address):
    send(to, 1)

@external
def bump():
    self.last += 1
"""
MEMBER, OTHER = bytes([0x11]) * 20, bytes([0x12]) * 20
ORG_A, ORG_B = "91350100M000100Y43", "91110000100000000A"
ACCREDITOR_GENESIS = GenesisSpec(
    validators=(bytes([1]) * 64,),
    organisations=(GenesisOrganisation(ORG_A, "A"), GenesisOrganisation(ORG_B, "B")),
    accounts=(GenesisAccount(MEMBER, ORG_A), GenesisAccount(OTHER, ORG_B)),
    committee=(MEMBER,),
    threshold=1,
    roles=(GenesisRole(MEMBER, ROLE_IDS["AUDIT_ACCREDITOR"], bytes(32)),),
)


def grant_by_accreditor() -> Message:
    data = governance.calldata("grant_role", OTHER, ROLE_IDS["AUDITOR"], secrets.token_bytes(32))
    return Message(MEMBER, GOVERNANCE_ADDRESS, data, 300_000, secrets.token_bytes(32))


@pytest.fixture(scope="module")
def probe() -> tuple[harness.CrossCheckedEngine, bytes]:
    """An engine whose genesis installs the probe contract (code no build of this node knows) with one
    unit of balance (no genesis can fund an account: the state is written through py-evm directly)."""
    runtime = vyper.compile_code(PROBE_SOURCE, output_formats=["bytecode_runtime"])["bytecode_runtime"]
    spec = GenesisSpec(
        validators=(bytes([1]) * 64,),
        organisations=(GenesisOrganisation(ORG_A, "Committee Org"),),
        accounts=(GenesisAccount(MEMBER, ORG_A),),
        committee=(MEMBER,),
        threshold=1,
        system_contracts=(SystemContract("Probe", PROBE, bytes.fromhex(runtime[2:])),),
    )
    engine = harness.CrossCheckedEngine({}, chain_id=7)
    state = engine._get_state(engine.create_genesis(spec), CTX)
    state.set_balance(PROBE, 1)
    return engine, engine._persist(state)


@pytest.mark.parametrize(
    ("signature", "types", "args", "reason"),
    [
        ("digest_length(bytes)", ["bytes"], [b"abc"], Fallback.PRECOMPILE),
        ("pay(address)", ["address"], [bytes([0x22]) * 20], Fallback.ACCOUNT),
        ("remember_coinbase()", [], [], Fallback.CODE),
        ("bump()", [], [], Fallback.CODE),
    ],
)
def test_what_revm_cannot_run_exactly_runs_on_pyevm(
    probe: tuple[harness.CrossCheckedEngine, bytes],
    signature: str,
    types: list[str],
    args: list[object],
    reason: Fallback,
) -> None:
    engine, root = probe
    data = keccak(signature.encode())[:4] + encode(types, args)
    before = engine.counts.copy()
    result = engine.execute_block(root, CTX, [Message(MEMBER, PROBE, data, 200_000, bytes(32))])
    assert result.receipts[0].status == 1, result.receipts[0].revert_reason
    assert new_counts(engine, before) == {reason: 1}


def test_the_copy_follows_round_changes_and_forks_without_a_reload(gov: governance.Chain) -> None:
    engine = gov.engine
    base = engine.execute_block(gov.root, CTX, [grant()]).state_root
    mirror = engine._mirror
    first = engine.execute_block(base, CTX, [grant() for _ in range(3)]).state_root
    rival = engine.execute_block(base, CTX, [grant() for _ in range(2)]).state_root  # a round change
    child = engine.execute_block(first, CTX, [grant()]).state_root  # back on the first branch
    engine.execute_block(rival, CTX, [grant()])  # and across to the rival's
    engine.execute_block(child, CTX, [grant()])
    assert engine._mirror is mirror


def test_a_root_beyond_the_remembered_blocks_reloads_the_copy(gov: governance.Chain) -> None:
    engine = gov.engine
    start = root = engine.execute_block(gov.root, CTX, [grant()]).state_root
    for _ in range(MIRROR_LINKS + 1):
        root = engine.execute_block(root, CTX, [grant()]).state_root
    mirror = engine._mirror
    before = engine.counts.copy()
    engine.execute_block(start, CTX, [grant() for _ in range(3)])
    assert engine._mirror is not mirror
    assert new_counts(engine, before) == {NATIVE: 3}


def test_another_block_gas_limit_gets_its_own_copy(gov: governance.Chain) -> None:
    # GASLIMIT reads the EVM's own limit
    engine = gov.engine
    engine.execute_block(gov.root, CTX, [grant()])
    mirror = engine._mirror
    engine.execute_block(gov.root, replace(CTX, gas_limit=7_000_000), [grant()])
    assert engine._mirror is not mirror and engine._mirror is not None
    assert engine._mirror.gas_limit == 7_000_000


def test_a_store_without_preimages_runs_every_message_on_pyevm() -> None:
    # A store written before the engines kept preimages: the copy cannot be loaded, py-evm runs everything.
    store: dict[bytes, bytes] = {}
    root = ExecutionEngine(store, chain_id=7).create_genesis(ACCREDITOR_GENESIS)
    for key, value in list(store.items()):
        if len(value) in (20, 32) and keccak(value) == key:
            del store[key]
    engine = NativeExecutionEngine(store, chain_id=7)
    reference = ExecutionEngine(dict(store), chain_id=7)
    messages = [grant_by_accreditor() for _ in range(3)]
    result = engine.execute_block(root, CTX, messages)
    assert result == reference.execute_block(root, CTX, messages)
    assert [r.status for r in result.receipts] == [1, 1, 1]
    assert engine.disabled.startswith(f"the state at {root.hex()} lacks the preimage")
    assert dict(engine.counts) == {Fallback.NO_MIRROR: 3}


def test_another_pyrevm_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.metadata.version", lambda name: "0.3.8")
    with pytest.raises(ExecutionError) as err:
        NativeExecutionEngine({}, chain_id=1)
    assert err.value.code == "native_engine_unavailable"
