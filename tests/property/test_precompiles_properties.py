"""SM3 and SM2-verify precompiles agree with the SDK for any input, directly and called from Vyper."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from node.execution.precompiles import (
    INVALID_WORD,
    VALID_WORD,
    compute_sm2_verify_output,
    compute_sm3_output,
)
from sdk.crypto import sm3
from tests.contracts.probe import KEYS, Probe, sm2_input


@pytest.fixture(scope="module")
def probe() -> Probe:
    return Probe()


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=600))
def test_sm3_output_is_the_sdk_digest(data: bytes) -> None:
    assert compute_sm3_output(data) == sm3(data)


@settings(max_examples=25, deadline=None)
@given(message=st.binary(max_size=300), signer=st.integers(0, len(KEYS) - 1))
def test_sm2_output_is_one_for_sdk_signatures(message: bytes, signer: int) -> None:
    assert compute_sm2_verify_output(sm2_input(KEYS[signer], message)) == VALID_WORD


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
    data = bytearray(sm2_input(KEYS[1], message))
    data[position] ^= flip  # the key (0..63: no longer on the curve, or another key) or r‖s (64..127)
    assert compute_sm2_verify_output(bytes(data)) == INVALID_WORD


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 127))
def test_sm2_truncated_input_gives_zero(length: int) -> None:
    data = sm2_input(KEYS[0], b"")  # exactly 128 bytes, valid
    assert compute_sm2_verify_output(data) == VALID_WORD
    assert compute_sm2_verify_output(data[:length]) == INVALID_WORD


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=400))
def test_sm2_never_raises_on_garbage(data: bytes) -> None:
    assert compute_sm2_verify_output(data) == INVALID_WORD


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_vyper_raw_call_to_sm3_returns_the_sdk_digest(probe: Probe, data: bytes) -> None:
    assert probe.sm3(data) == sm3(data)
