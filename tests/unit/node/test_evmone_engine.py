"""The native engine on evmone (libxevm, built by ``make evmone``) against py-evm: its SM3/SM2 precompiles,
which messages it keeps, and where a wrong answer would be caught.

Every block here runs on ``CrossCheckedEngine`` (tests/contracts/harness.py), which runs py-evm, revm and
evmone on each block and requires the same receipts and state roots from all three, as every contract suite
does.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import subprocess
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
import vyper
from eth_abi import encode
from eth_utils import keccak
from hypothesis import given, settings, strategies as st

from node.execution import BlockContext, ExecutionEngine, Message, NativeExecutionEngine, evmone
from node.execution.native import NATIVE, Fallback
from node.execution.precompiles import compute_sm3_output, is_valid_sm2_input
from scripts.bench.probes import probe_genesis
from sdk.crypto import PrivateKey
from sdk.errors import ExecutionError
from tests.contracts import harness
from tests.contracts.worlds import licences

CTX = BlockContext(height=9, timestamp_ms=9_000_000, gas_limit=harness.GAS_LIMIT, proposer=bytes([0x33]) * 20)
#: SM2's group order n (GB/T 32918.5).
SM2_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
KEYS = [PrivateKey.generate() for _ in range(3)]


def new_counts(engine: NativeExecutionEngine, before: Counter[str]) -> dict[str, int]:
    return {reason: n - before[reason] for reason, n in engine.counts.items() if n != before[reason]}


# --- the GM precompiles: the same answers as py-evm's ------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_sm3_gives_the_reference_digest(data: bytes) -> None:
    assert evmone.sm3(data) == compute_sm3_output(data)


def _signed(key: PrivateKey, message: bytes) -> bytes:
    return key.public_key.to_bytes() + key.sign(message) + message


def _with_signature(data: bytes, r: int, s: int) -> bytes:
    return data[:64] + r.to_bytes(32, "big") + s.to_bytes(32, "big") + data[128:]


EDGE_SCALARS = [0, 1, SM2_N - 1, SM2_N, SM2_N + 1, 2**256 - 1]


def test_sm2_agrees_on_valid_signatures_and_every_edge_of_r_and_s() -> None:
    for key in KEYS:
        for message in (b"", b"x", secrets.token_bytes(200)):
            data = _signed(key, message)
            assert evmone.sm2_verify(data) and is_valid_sm2_input(data)
            r = int.from_bytes(data[64:96], "big")
            s = int.from_bytes(data[96:128], "big")
            for edge in EDGE_SCALARS:
                for mutated in (_with_signature(data, edge, s), _with_signature(data, r, edge)):
                    assert evmone.sm2_verify(mutated) == is_valid_sm2_input(mutated), (edge, mutated.hex())
            for bad in (data[:127], data[:64], b"", data[:64] + bytes(64), bytes(64) + data[64:]):
                assert evmone.sm2_verify(bad) == is_valid_sm2_input(bad) is False


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=0, max_value=127 + 40),
    st.integers(min_value=0, max_value=7),
    st.binary(max_size=40),
)
def test_sm2_agrees_on_any_flipped_bit_or_random_input(at: int, bit: int, message: bytes) -> None:
    data = bytearray(_signed(KEYS[0], message))
    if at < len(data):
        data[at] ^= 1 << bit
    assert evmone.sm2_verify(bytes(data)) == is_valid_sm2_input(bytes(data))
    noise = secrets.token_bytes(128) + message
    assert evmone.sm2_verify(noise) == is_valid_sm2_input(noise)


# --- which messages run natively ---------------------------------------------------------------------------
def test_licence_issuance_and_consented_uses_run_natively_on_evmone_only() -> None:
    chain = licences.make_base()
    on_revm, on_evmone = chain.engine, chain.engine.evmone
    revm_before, evmone_before = on_revm.counts.copy(), on_evmone.counts.copy()
    id_hash, receipt = chain.issue(licences.licence_id("EVMONE01"))
    assert receipt.status == 1
    consent = chain.consent(id_hash)
    assert chain.send(licences.BANK, "record_use", *chain.use_args(consent)).status == 1  # SM2 verify
    # revm has no SM3/SM2 precompile: both ran on py-evm there (CrossCheckedEngine held all three equal)
    assert new_counts(on_revm, revm_before) == {Fallback.FAILED: 2}
    assert new_counts(on_evmone, evmone_before) == {NATIVE: 2}


PROBE = bytes.fromhex("00000000000000000000000000000000000b0b0f")
PROBE_SOURCE = """
# pragma version 0.4.3
# pragma evm-version prague
SM3_PRECOMPILE: constant(address) = 0x0000000000000000000000000000000000000a01
SHA256_PRECOMPILE: constant(address) = 0x0000000000000000000000000000000000000002

last: public(bytes32)

@external
def sm3_digest(data: Bytes[64]):
    self.last = convert(raw_call(SM3_PRECOMPILE, data, max_outsize=32, is_static_call=True), bytes32)

@external
def sha256_digest(data: Bytes[64]):
    self.last = convert(raw_call(SHA256_PRECOMPILE, data, max_outsize=32, is_static_call=True), bytes32)

@external
def pay(to: address):
    send(to, 1)

@external
def touch(who: address):
    # BALANCE, EXTCODESIZE, EXTCODEHASH of an address from the call data: warm or cold costs differ
    self.last = keccak256(concat(convert(who.balance, bytes32), convert(who.codesize, bytes32), who.codehash))
"""
MEMBER = bytes([0x11]) * 20  # any sender: the probe checks none


def _probe_engine(
    *, trusted: bool, vm: str = "evmone"
) -> tuple[NativeExecutionEngine, bytes, ExecutionEngine]:
    runtime = bytes.fromhex(
        vyper.compile_code(PROBE_SOURCE, output_formats=["bytecode_runtime"])["bytecode_runtime"][2:]
    )
    spec = probe_genesis("Probe", PROBE, runtime)
    store: dict[bytes, bytes] = {}
    engine = NativeExecutionEngine(store, chain_id=7, vm=vm)
    if trusted:
        engine.trusted_code = engine.trusted_code | {keccak(runtime)}
    state = engine._get_state(engine.create_genesis(spec), CTX)
    state.set_balance(PROBE, 1)
    root = engine._persist(state)
    return engine, root, ExecutionEngine(store, chain_id=7)


def _call(signature: str, types: list[str], args: list[object]) -> Message:
    data = keccak(signature.encode())[:4] + encode(types, args)
    return Message(MEMBER, PROBE, data, 200_000, secrets.token_bytes(32))


@pytest.mark.parametrize(
    ("trusted", "signature", "types", "args", "where"),
    [
        (True, "sm3_digest(bytes)", ["bytes"], [b"abc"], NATIVE),
        (True, "sha256_digest(bytes)", ["bytes"], [b"abc"], Fallback.PRECOMPILE),
        (True, "pay(address)", ["address"], [bytes([0x22]) * 20], Fallback.ACCOUNT),
        (False, "sm3_digest(bytes)", ["bytes"], [b"abc"], Fallback.CODE),
    ],
)
def test_what_evmone_may_not_answer_runs_on_pyevm(
    trusted: bool, signature: str, types: list[str], args: list[object], where: str
) -> None:
    engine, root, reference = _probe_engine(trusted=trusted)
    message = _call(signature, types, args)
    result = engine.execute_block(root, CTX, [message])
    assert result == reference.execute_block(root, CTX, [message])
    assert result.receipts[0].status == 1, result.receipts[0].revert_reason
    assert dict(engine.counts) == {where: 1}


@pytest.mark.parametrize("vm", ["revm", "evmone"])
def test_the_proposer_is_as_warm_as_in_pyevm(vm: str) -> None:
    """py-evm warms the block's coinbase, the proposer (EIP-3651): trusted code touching that address from
    its call data must pay what py-evm charges, on either native VM."""
    engine, root, reference = _probe_engine(trusted=True, vm=vm)
    proposer = CTX.proposer
    for who in (proposer, bytes([0x44]) * 20):  # the proposer (warm), another account (cold)
        message = _call("touch(address)", ["address"], [who])
        result = engine.execute_block(root, CTX, [message])
        assert result == reference.execute_block(root, CTX, [message])
        assert result.receipts[0].status == 1
    assert dict(engine.counts) == {NATIVE: 2}


def test_a_block_beyond_the_librarys_numbers_runs_on_pyevm() -> None:
    engine, root, reference = _probe_engine(trusted=True)
    message = _call("sm3_digest(bytes)", ["bytes"], [b"abc"])
    wide = replace(CTX, gas_limit=2**63)
    result = engine.execute_block(root, wide, [message])
    assert result == reference.execute_block(root, wide, [message])
    assert dict(engine.counts) == {Fallback.RANGE: 1}
    with pytest.raises(ExecutionError) as err:
        NativeExecutionEngine({}, chain_id=2**64, vm="evmone")
    assert err.value.code == "bad_config"


def test_the_build_id_is_the_hash_of_what_the_makefile_builds_from() -> None:
    """``evmone.BUILD_ID`` must change with the sources: the Makefile's BUILD_INPUTS, hashed in its order."""
    csrc = Path(evmone.__file__).parent / "csrc"
    makefile = (csrc / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    variables = dict(re.findall(r"^(\w+) := (.*)$", makefile, flags=re.MULTILINE))
    inputs = variables["BUILD_INPUTS"].replace("$(ARCHIVE)", variables["ARCHIVE"]).split()
    digest = hashlib.sha256(b"".join((csrc / name).read_bytes() for name in inputs)).hexdigest()
    assert digest == evmone.BUILD_ID, f"set evmone.BUILD_ID to {digest} (and rebuild: make evmone)"
    archive = hashlib.sha256((csrc / variables["ARCHIVE"]).read_bytes()).hexdigest()
    assert archive == variables["ARCHIVE_SHA256"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BUILD_ID", "0" * 64),  # a library built from other sources
        ("KNOWN_SM3", (b"abc", bytes(32))),  # an OpenSSL that hashes otherwise
        ("KNOWN_SM2_INPUT", bytes(160)),  # one that does not verify SM2
    ],
)
def test_a_library_that_is_not_this_builds_is_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: object
) -> None:
    monkeypatch.setattr(evmone, "_loaded", None)
    monkeypatch.setattr(evmone, name, value)
    with pytest.raises(ExecutionError) as err:
        evmone.load_library()
    assert err.value.code == "native_engine_unavailable"


def test_a_failed_message_runs_on_pyevm_for_its_revert_reason() -> None:
    chain = licences.make_base()
    engine = chain.engine.evmone
    before = engine.counts.copy()
    receipt = chain.send(licences.CITY_CLERK, "issue", *chain.issue_args(licences.licence_id("EVMONE02")))
    assert receipt.status == 0 and receipt.revert_reason  # not an issuer; py-evm's reason, the same on all
    assert new_counts(engine, before) == {Fallback.FAILED: 1}


def test_a_wrong_evmone_answer_fails_the_cross_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test double of a wrong native result (one unit of gas too many): the harness every contract suite
    runs on refuses it."""
    chain = licences.make_base()
    real = evmone.parse_answer
    monkeypatch.setattr(
        evmone, "parse_answer", lambda raw: replace(real(raw), gas_used=real(raw).gas_used + 1)
    )
    with pytest.raises(AssertionError, match="native on evmone"):
        chain.issue(licences.licence_id("EVMONE03"))


def test_without_the_library_the_engine_says_how_to_build_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(evmone, "_loaded", None)
    monkeypatch.setenv(evmone.LIBRARY_ENV, str(tmp_path / "missing" / "libxevm.so"))
    with pytest.raises(ExecutionError) as err:
        NativeExecutionEngine({}, chain_id=1, vm="evmone")
    assert err.value.code == "native_engine_unavailable"
    assert "make evmone" in err.value.message


def test_an_unknown_vm_is_refused() -> None:
    with pytest.raises(ExecutionError) as err:
        NativeExecutionEngine({}, chain_id=1, vm="evm-in-js")
    assert err.value.code == "bad_config"


def test_an_address_of_another_length_never_reaches_the_library() -> None:
    vm = evmone.Xevm(7, ())
    for call in (
        lambda: vm.run(bytes(19), bytes(20), b"", 100_000),
        lambda: vm.run(bytes(20), bytes(21), b"", 100_000),
        lambda: vm.set_storage(b"", 1, 1),
        lambda: vm.set_block(1, 1, 30_000_000, bytes(4)),
    ):
        with pytest.raises(ExecutionError) as err:
            call()
        assert err.value.code == "bad_address"


def test_a_library_without_this_builds_functions_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An older build lacks xe_build_id: a typed refusal, not an AttributeError from ctypes."""
    source = tmp_path / "old.c"
    source.write_text("int xe_new(void) { return 0; }\n", encoding="utf-8")
    library = tmp_path / "libold.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    monkeypatch.setattr(evmone, "_loaded", None)
    monkeypatch.setenv(evmone.LIBRARY_ENV, str(library))
    with pytest.raises(ExecutionError) as err:
        evmone.load_library()
    assert err.value.code == "native_engine_unavailable"
    assert "rebuild it with `make evmone`" in err.value.message
