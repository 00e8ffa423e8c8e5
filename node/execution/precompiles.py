"""Xinlian's GM precompiled contracts for the EVM: SM3 hashing (0x…0a01) and SM2 signature checks (0x…0a02).

Contracts reach them with a plain (static) call, exactly like Ethereum's SHA-256 precompile at 0x02:

``SM3_PRECOMPILE_ADDRESS`` = 0x0000000000000000000000000000000000000a01
    input   any bytes (the whole call data is the message)
    output  the 32-byte SM3 digest (GB/T 32905)
    gas     60 + 12 per 32-byte word of input (rounded up)

``SM2_VERIFY_PRECOMPILE_ADDRESS`` = 0x0000000000000000000000000000000000000a02
    input   public key x‖y (64 bytes) ‖ signature r‖s (64 bytes) ‖ message (the rest, may be empty)
    output  one 32-byte word: 1 when the signature is a GB/T 32918.2 signature of the message under the key
            with Z_A computed from the default user ID "1234567812345678", else 0
    gas     3000 + 12 per 32-byte word of the whole input (rounded up)
    A bad signature, a key that is not a curve point, r or s outside [1, n-1] or an input shorter than
    128 bytes all give 0: the call never reverts for its input, only for lack of gas.

In Vyper 0.4::

    SM3_PRECOMPILE: constant(address) = 0x0000000000000000000000000000000000000A01
    digest: Bytes[32] = raw_call(SM3_PRECOMPILE, data, max_outsize=32, is_static_call=True)
    ok: Bytes[32] = raw_call(SM2_PRECOMPILE, concat(key, sig, msg), max_outsize=32, is_static_call=True)
    assert convert(ok, uint256) == 1, "bad signature"

This module does not import py-evm: each precompile takes the running computation through the small
``PrecompileComputation`` protocol (py-evm's computation satisfies it), and the engine registers
``XINLIAN_PRECOMPILES`` in its Prague computation class.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, Protocol

from sdk.crypto import DEFAULT_USER_ID, PublicKey, sm3
from sdk.errors import CryptoError

SM3_PRECOMPILE_ADDRESS: Final = bytes.fromhex("0000000000000000000000000000000000000a01")
SM2_VERIFY_PRECOMPILE_ADDRESS: Final = bytes.fromhex("0000000000000000000000000000000000000a02")

SM3_BASE_GAS: Final = 60
SM3_WORD_GAS: Final = 12
SM2_VERIFY_BASE_GAS: Final = 3000
SM2_VERIFY_WORD_GAS: Final = 12
WORD_BYTES: Final = 32

SM2_PUBLIC_KEY_BYTES: Final = 64
SM2_SIGNATURE_BYTES: Final = 64
SM2_VERIFY_MIN_INPUT_BYTES: Final = SM2_PUBLIC_KEY_BYTES + SM2_SIGNATURE_BYTES

VALID_WORD: Final = (1).to_bytes(WORD_BYTES, "big")
INVALID_WORD: Final = bytes(WORD_BYTES)

# Parsed keys (the curve check and the backend handle are the costly part) for keys seen again, e.g. a
# holder who consents many times. Bounded; cleared when full.
_KEY_CACHE_LIMIT: Final = 1024
_key_cache: dict[bytes, PublicKey | None] = {}


class PrecompileComputation(Protocol):
    """What a precompile needs from the running EVM computation (py-evm's ``ComputationAPI`` fits)."""

    @property
    def msg(self) -> Any: ...  # .data: the call's input bytes

    output: bytes

    def consume_gas(self, amount: int, reason: str) -> None: ...


def compute_word_count(length: int) -> int:
    """Return the number of 32-byte words covering ``length`` bytes (rounded up)."""
    return (length + WORD_BYTES - 1) // WORD_BYTES


def compute_sm3_gas(length: int) -> int:
    """Return the gas the SM3 precompile charges for an input of ``length`` bytes."""
    return SM3_BASE_GAS + SM3_WORD_GAS * compute_word_count(length)


def compute_sm2_verify_gas(length: int) -> int:
    """Return the gas the SM2 verification precompile charges for an input of ``length`` bytes."""
    return SM2_VERIFY_BASE_GAS + SM2_VERIFY_WORD_GAS * compute_word_count(length)


def _get_public_key(raw: bytes) -> PublicKey | None:
    if raw in _key_cache:
        return _key_cache[raw]
    try:
        key: PublicKey | None = PublicKey(raw)
    except CryptoError:  # not a point on the curve: the call answers 0
        key = None
    if len(_key_cache) >= _KEY_CACHE_LIMIT:
        _key_cache.clear()
    _key_cache[raw] = key
    return key


def is_valid_sm2_input(data: bytes) -> bool:
    """Return whether ``data`` = key(64) ‖ r‖s(64) ‖ message carries a valid SM2 signature (default user ID).

    Never raises for any input: malformed keys, signatures or lengths are simply not valid.
    """
    if len(data) < SM2_VERIFY_MIN_INPUT_BYTES:
        return False
    key = _get_public_key(bytes(data[:SM2_PUBLIC_KEY_BYTES]))
    if key is None:
        return False
    signature = bytes(data[SM2_PUBLIC_KEY_BYTES:SM2_VERIFY_MIN_INPUT_BYTES])
    message = bytes(data[SM2_VERIFY_MIN_INPUT_BYTES:])
    try:
        key.verify(message, signature, user_id=DEFAULT_USER_ID)
    except CryptoError:  # InvalidSignatureError: out-of-range r/s or a signature that does not verify
        return False
    return True


def compute_sm3_output(data: bytes) -> bytes:
    """Return the SM3 precompile's output for ``data``: its 32-byte SM3 digest."""
    return sm3(bytes(data))


def compute_sm2_verify_output(data: bytes) -> bytes:
    """Return the SM2 precompile's output for ``data``: a 32-byte word, 1 when valid else 0."""
    return VALID_WORD if is_valid_sm2_input(data) else INVALID_WORD


def _run_precompile(
    computation: PrecompileComputation,
    gas: Callable[[int], int],
    output: Callable[[bytes], bytes],
    reason: str,
) -> PrecompileComputation:
    """Charge ``gas(len(input))`` before anything is computed, then set ``output(input)``.

    Raises the EVM's out-of-gas error (from ``consume_gas``) when the call's gas does not cover the cost.
    """
    data = bytes(computation.msg.data)
    computation.consume_gas(gas(len(data)), reason=reason)
    computation.output = output(data)
    return computation


def sm3_precompile(computation: PrecompileComputation) -> PrecompileComputation:
    """Run the SM3 precompile on ``computation``: charge gas, set the digest as output."""
    return _run_precompile(computation, compute_sm3_gas, compute_sm3_output, "SM3 precompile")


def sm2_verify_precompile(computation: PrecompileComputation) -> PrecompileComputation:
    """Run the SM2 verification precompile on ``computation``: charge gas, set the 0/1 word as output."""
    return _run_precompile(
        computation, compute_sm2_verify_gas, compute_sm2_verify_output, "SM2 verify precompile"
    )


#: Address → precompile, merged into the engine's Prague precompile table.
XINLIAN_PRECOMPILES: Final[dict[bytes, Callable[[Any], Any]]] = {
    SM3_PRECOMPILE_ADDRESS: sm3_precompile,
    SM2_VERIFY_PRECOMPILE_ADDRESS: sm2_verify_precompile,
}
