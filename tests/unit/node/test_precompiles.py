"""SM3 (0x…0a01) and SM2-verify (0x…0a02) precompiles: cross-checked with the SDK, and called from Vyper."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
import vyper
from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector, keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.execution import BlockContext, ExecutionEngine, Message
from node.execution.precompiles import (
    INVALID_WORD,
    SM2_VERIFY_PRECOMPILE_ADDRESS,
    SM3_PRECOMPILE_ADDRESS,
    VALID_WORD,
    compute_sm2_verify_gas,
    compute_sm2_verify_output,
    compute_sm3_gas,
    compute_sm3_output,
    is_valid_sm2_input,
)
from node.genesis import GenesisAccount, GenesisOrganisation, GenesisSpec, SystemContract
from sdk.crypto import PrivateKey, sm3
from sdk.crypto.sm2 import N

PROBE_ADDRESS = bytes.fromhex("00000000000000000000000000000000000a0b0e")
MEMBER = bytes([0x11]) * 20
ORG = "91350100M000100Y43"
KEYS = [PrivateKey.generate() for _ in range(3)]

PROBE_SOURCE = """
# pragma version 0.4.3
# pragma evm-version prague
SM3_PRECOMPILE: constant(address) = 0x0000000000000000000000000000000000000a01
SM2_PRECOMPILE: constant(address) = 0x0000000000000000000000000000000000000a02

@view
@external
def hash(data: Bytes[2048]) -> bytes32:
    out: Bytes[32] = raw_call(SM3_PRECOMPILE, data, max_outsize=32, is_static_call=True)
    return convert(out, bytes32)

@view
@external
def verify(data: Bytes[2048]) -> uint256:
    out: Bytes[32] = raw_call(SM2_PRECOMPILE, data, max_outsize=32, is_static_call=True)
    return convert(out, uint256)

@view
@external
def try_with_gas(target: address, data: Bytes[2048], gas_limit: uint256) -> (bool, Bytes[32]):
    ok: bool = False
    out: Bytes[32] = b""
    ok, out = raw_call(target, data, max_outsize=32, gas=gas_limit, is_static_call=True,
                       revert_on_failure=False)
    return ok, out
"""


def _sm2_input(key: PrivateKey, message: bytes) -> bytes:
    return key.public_key.to_bytes() + key.sign(message) + message


# --- pure functions against the SDK ------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=600))
def test_sm3_output_is_the_sdk_digest(data: bytes) -> None:
    assert compute_sm3_output(data) == sm3(data)


@settings(max_examples=25, deadline=None)
@given(message=st.binary(max_size=300), signer=st.integers(0, len(KEYS) - 1))
def test_sm2_output_is_one_for_sdk_signatures(message: bytes, signer: int) -> None:
    assert compute_sm2_verify_output(_sm2_input(KEYS[signer], message)) == VALID_WORD


@settings(max_examples=25, deadline=None)
@given(message=st.binary(max_size=200), other=st.binary(min_size=1, max_size=200))
def test_sm2_output_is_zero_for_another_message(message: bytes, other: bytes) -> None:
    key = KEYS[0]
    signature = key.sign(message)
    data = key.public_key.to_bytes() + signature + other
    expected = VALID_WORD if other == message else INVALID_WORD
    assert compute_sm2_verify_output(data) == expected


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message=st.binary(max_size=100), position=st.integers(0, 127), flip=st.integers(1, 255))
def test_sm2_output_is_zero_for_a_tampered_key_or_signature(message: bytes, position: int, flip: int) -> None:
    data = bytearray(_sm2_input(KEYS[1], message))
    data[position] ^= flip  # the key (0..63: no longer on the curve, or another key) or r‖s (64..127)
    assert compute_sm2_verify_output(bytes(data)) == INVALID_WORD


def test_sm2_output_is_zero_for_the_wrong_key() -> None:
    message = b"xinlian consent"
    data = KEYS[2].public_key.to_bytes() + KEYS[0].sign(message) + message
    assert compute_sm2_verify_output(data) == INVALID_WORD


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 127))
def test_sm2_truncated_input_gives_zero(length: int) -> None:
    data = _sm2_input(KEYS[0], b"")  # exactly 128 bytes, valid
    assert compute_sm2_verify_output(data) == VALID_WORD
    assert compute_sm2_verify_output(data[:length]) == INVALID_WORD


@pytest.mark.parametrize(
    "signature",
    [bytes(64), N.to_bytes(32, "big") + (1).to_bytes(32, "big"), (1).to_bytes(32, "big") + bytes(32)],
    ids=["zero", "r_is_n", "s_is_zero"],
)
def test_sm2_out_of_range_signature_gives_zero(signature: bytes) -> None:
    assert not is_valid_sm2_input(KEYS[0].public_key.to_bytes() + signature + b"m")


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=400))
def test_sm2_never_raises_on_garbage(data: bytes) -> None:
    assert compute_sm2_verify_output(data) == INVALID_WORD


def test_gas_schedule() -> None:
    assert [compute_sm3_gas(n) for n in (0, 1, 32, 33, 64)] == [60, 72, 72, 84, 84]
    assert [compute_sm2_verify_gas(n) for n in (0, 128, 129, 160)] == [3000, 3048, 3060, 3060]


# --- inside the EVM, called from Vyper -----------------------------------------------------------------
class Probe:
    """The probe contract installed at genesis on a real engine."""

    def __init__(self) -> None:
        runtime = bytes.fromhex(
            vyper.compile_code(PROBE_SOURCE, output_formats=["bytecode_runtime"])["bytecode_runtime"][2:]
        )
        spec = GenesisSpec(
            validators=(bytes([1]) * 64,),
            organisations=(GenesisOrganisation(ORG, "Committee Org"),),
            accounts=(GenesisAccount(MEMBER, ORG),),
            committee=(MEMBER,),
            threshold=1,
            system_contracts=(SystemContract("Probe", PROBE_ADDRESS, runtime),),
        )
        self.engine = ExecutionEngine({}, chain_id=7)
        self.root = self.engine.create_genesis(spec)

    def call(self, signature: str, types: list[str], args: list[Any], out: list[str]) -> Any:
        data = function_signature_to_4byte_selector(signature) + encode(types, args)
        ctx = BlockContext(height=1, timestamp_ms=1000, gas_limit=30_000_000, proposer=MEMBER)
        return decode(out, self.engine.call(self.root, MEMBER, PROBE_ADDRESS, data, 5_000_000, ctx=ctx))

    def sm3(self, data: bytes) -> bytes:
        return bytes(self.call("hash(bytes)", ["bytes"], [data], ["bytes32"])[0])

    def verify(self, data: bytes) -> int:
        return int(self.call("verify(bytes)", ["bytes"], [data], ["uint256"])[0])

    def try_with_gas(self, target: bytes, data: bytes, gas: int) -> tuple[bool, bytes]:
        ok, out = self.call(
            "try_with_gas(address,bytes,uint256)",
            ["address", "bytes", "uint256"],
            [target, data, gas],
            ["bool", "bytes"],
        )
        return bool(ok), bytes(out)


@pytest.fixture(scope="module")
def probe() -> Probe:
    return Probe()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_vyper_raw_call_to_sm3_returns_the_sdk_digest(probe: Probe, data: bytes) -> None:
    assert probe.sm3(data) == sm3(data)


def test_vyper_raw_call_to_sm2_verifies_and_refuses(probe: Probe) -> None:
    message = secrets.token_bytes(77)
    good = _sm2_input(KEYS[0], message)
    assert probe.verify(good) == 1
    assert probe.verify(good[:-1]) == 0  # truncated message
    assert probe.verify(good[:100]) == 0  # truncated signature: returns 0, does not revert
    assert probe.verify(KEYS[1].public_key.to_bytes() + good[64:]) == 0  # wrong key
    assert probe.verify(bytes(64) + good[64:]) == 0  # key off the curve
    assert probe.verify(b"") == 0


@pytest.mark.parametrize(
    ("target", "data"),
    [
        (SM3_PRECOMPILE_ADDRESS, b"x" * 70),
        (SM2_VERIFY_PRECOMPILE_ADDRESS, _sm2_input(KEYS[0], b"gas" * 20)),
    ],
    ids=["sm3", "sm2"],
)
def test_precompile_charges_exactly_its_gas(probe: Probe, target: bytes, data: bytes) -> None:
    cost = (compute_sm3_gas if target == SM3_PRECOMPILE_ADDRESS else compute_sm2_verify_gas)(len(data))
    ok, out = probe.try_with_gas(target, data, cost)
    assert ok and len(out) == 32
    ok, out = probe.try_with_gas(target, data, cost - 1)
    assert not ok and out == b""


def test_unassigned_neighbour_address_is_no_precompile(probe: Probe) -> None:
    # A call to an address without code or precompile succeeds with empty output: ours answer 32 bytes.
    ok, out = probe.try_with_gas(bytes.fromhex("0000000000000000000000000000000000000a03"), b"x", 10_000)
    assert ok and out == b""


def test_precompile_in_a_transaction_leaves_no_account(probe: Probe) -> None:
    data = function_signature_to_4byte_selector("hash(bytes)") + encode(["bytes"], [b"abc"])
    ctx = BlockContext(height=1, timestamp_ms=1000, gas_limit=30_000_000, proposer=MEMBER)
    result = probe.engine.execute_block(
        probe.root, ctx, [Message(MEMBER, PROBE_ADDRESS, data, 1_000_000, keccak(data))]
    )
    assert result.receipts[0].status == 1
    assert result.state_root == probe.root  # a view through a precompile changes nothing
