"""SM3 (0x…0a01) and SM2-verify (0x…0a02) precompiles: gas, refusals, and calls from Vyper (properties over
random inputs: tests/property/test_precompiles_properties.py)."""

from __future__ import annotations

import secrets

import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector, keccak

from node.execution import BlockContext, Message
from node.execution.precompiles import (
    INVALID_WORD,
    SM2_VERIFY_PRECOMPILE_ADDRESS,
    SM3_PRECOMPILE_ADDRESS,
    compute_sm2_verify_gas,
    compute_sm2_verify_output,
    compute_sm3_gas,
    is_valid_sm2_input,
)
from sdk.crypto.sm2 import N
from tests.contracts.probe import KEYS, MEMBER, PROBE_ADDRESS, Probe, sm2_input


# --- pure functions against the SDK ------------------------------------------------------------------
def test_sm2_output_is_zero_for_the_wrong_key() -> None:
    message = b"xinlian consent"
    data = KEYS[2].public_key.to_bytes() + KEYS[0].sign(message) + message
    assert compute_sm2_verify_output(data) == INVALID_WORD


@pytest.mark.parametrize(
    "signature",
    [bytes(64), N.to_bytes(32, "big") + (1).to_bytes(32, "big"), (1).to_bytes(32, "big") + bytes(32)],
    ids=["zero", "r_is_n", "s_is_zero"],
)
def test_sm2_out_of_range_signature_gives_zero(signature: bytes) -> None:
    assert not is_valid_sm2_input(KEYS[0].public_key.to_bytes() + signature + b"m")


def test_gas_schedule() -> None:
    assert [compute_sm3_gas(n) for n in (0, 1, 32, 33, 64)] == [60, 72, 72, 84, 84]
    assert [compute_sm2_verify_gas(n) for n in (0, 128, 129, 160)] == [3000, 3048, 3060, 3060]


# --- inside the EVM, called from Vyper -----------------------------------------------------------------
@pytest.fixture(scope="module")
def probe() -> Probe:
    return Probe()


def test_vyper_raw_call_to_sm2_verifies_and_refuses(probe: Probe) -> None:
    message = secrets.token_bytes(77)
    good = sm2_input(KEYS[0], message)
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
        (SM2_VERIFY_PRECOMPILE_ADDRESS, sm2_input(KEYS[0], b"gas" * 20)),
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
