"""libxevm through ctypes: evmone, the Ethereum Foundation's C++ EVM, with Xinlian's SM3 and SM2 precompiles —
the VM of the native engine's "evmone" mode (``NativeExecutionEngine(vm="evmone")``).

The library is built from node/execution/csrc (``make evmone``; docs/execution.md): evmone's sources at a
pinned commit, one small patch (the GM precompiles and the chain id), and a C API (csrc/xevm.cpp) over a
complete copy of the node's state. ``Xevm.run`` runs one message against that copy without changing it and
answers what py-evm needs to know to keep the answer: whether it succeeded, why it may not be kept (code
outside the trusted set, another precompile, an account change), gas, logs and the storage words it changes.
The engine writes back what it keeps, as it does for revm.
"""

from __future__ import annotations

import ctypes
import os
import struct
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sdk.errors import ExecutionError
from sdk.types import Log

#: Overrides where the library is loaded from (a path to libxevm.so).
LIBRARY_ENV: Final = "XINLIAN_EVMONE_LIBRARY"
#: Where ``make evmone`` leaves it.
DEFAULT_LIBRARY: Final = Path(__file__).resolve().parent / "csrc" / "build" / "libxevm.so"

#: The build id of the library this module drives: the SHA-256 of csrc's BUILD_INPUTS (csrc/Makefile), which
#: the library reports. A library built from other sources (a stale build, another checkout) is refused.
#: tests/unit/node/test_evmone_engine.py recomputes it: change it with the sources.
BUILD_ID: Final = "b7da16272ee8c6ef054db6b5feee89453a4afbef732420a8e94a2d12055cc91a"
#: Known answers checked at load: SM3("abc") (GB/T 32905 A.1) and one valid SM2 input (key ‖ r‖s ‖ message,
#: the default user ID), so a library whose OpenSSL lacks SM3 or SM2 is refused rather than answering wrong.
KNOWN_SM3: Final = (b"abc", bytes.fromhex("66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"))
KNOWN_SM2_INPUT: Final = bytes.fromhex(
    "eadfb0d99481b2a2042d0619da6f4ceef5393ad7a35db899a17c607a62e88a047aab4b2b53fbb0b0a5157fb208e4b1d063c8e4c07465"
    "e686c26501455efc680972626a8aa725f824e018c071049faec7ac9adab8875c437ef0b83a25ec3f64a275892e1f39f66f116bb4be3e"
    "3d9066f54b35481ee1d65a8d59b72697a2f8961f78696e6c69616e206c69627865766d206b6e6f776e20616e73776572"
)

#: ``XevmAnswer.flags``: why an answer may not be kept (csrc/xevm.cpp).
UNTRUSTED_CODE: Final = 1  # an account with code outside the trusted set was read
OTHER_PRECOMPILE: Final = 2  # a precompile other than SM3/SM2 ran
ACCOUNT_CHANGED: Final = 4  # a nonce, balance or code changed, or an account came or went

_SUCCESS: Final = 1
_HEAD = struct.Struct(">iIq")
_U32 = struct.Struct(">I")
_ADDRESS_BYTES: Final = 20
_WORD_BYTES: Final = 32
_CHANGE_BYTES: Final = _ADDRESS_BYTES + 3 * _WORD_BYTES

_loaded: ctypes.CDLL | None = None
_load_lock = threading.Lock()


def library_path() -> Path:
    """The libxevm.so this process loads: ``$XINLIAN_EVMONE_LIBRARY``, else the one ``make evmone`` builds."""
    configured = os.environ.get(LIBRARY_ENV)
    return Path(configured) if configured else DEFAULT_LIBRARY


def load_library() -> ctypes.CDLL:
    """Load libxevm once and check it: its build id is ``BUILD_ID``, and it gives the known SM3 and SM2
    answers.

    Raises ExecutionError ("native_engine_unavailable") saying how to build it, or what is wrong with it.
    """
    global _loaded
    with _load_lock:
        if _loaded is not None:
            return _loaded
        path = library_path()
        if not path.is_file():
            raise ExecutionError(
                f"the evmone engine needs {path}: build it with `make evmone` in a source checkout "
                f"(g++, make, patch, xz and OpenSSL 3 headers), or point {LIBRARY_ENV} at a built libxevm.so",
                code="native_engine_unavailable",
                library=str(path),
            )
        try:
            lib = ctypes.CDLL(str(path))
        except OSError as exc:
            raise ExecutionError(
                f"cannot load {path}: {exc}", code="native_engine_unavailable", library=str(path)
            ) from exc
        try:
            _declare(lib)
        except AttributeError as exc:  # a library from before a function was added: another build
            raise ExecutionError(
                f"{path} lacks a function of this build ({exc}): rebuild it with `make evmone`",
                code="native_engine_unavailable",
                library=str(path),
            ) from exc
        _check(lib, path)
        _loaded = lib
        return lib


def _check(lib: ctypes.CDLL, path: Path) -> None:
    built_from = lib.xe_build_id().decode("ascii")
    if built_from != BUILD_ID:
        raise ExecutionError(
            f"{path} was built from other sources (build id {built_from[:12]}…, this node expects "
            f"{BUILD_ID[:12]}…): rebuild it with `make evmone`",
            code="native_engine_unavailable",
            library=str(path),
        )
    message, digest = KNOWN_SM3
    out = ctypes.create_string_buffer(_WORD_BYTES)
    tampered = KNOWN_SM2_INPUT[:-1] + bytes([KNOWN_SM2_INPUT[-1] ^ 1])
    if (
        lib.xe_sm3(message, len(message), out) != 1
        or out.raw != digest
        or lib.xe_sm2_verify(KNOWN_SM2_INPUT, len(KNOWN_SM2_INPUT)) != 1
        or lib.xe_sm2_verify(tampered, len(tampered)) != 0
    ):
        raise ExecutionError(
            f"{path} does not compute SM3 and SM2 as the node does (its OpenSSL 3 needs both)",
            code="native_engine_unavailable",
            library=str(path),
        )


def _declare(lib: ctypes.CDLL) -> None:
    handle, data, size = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t
    lib.xe_new.restype = handle
    lib.xe_new.argtypes = [ctypes.c_uint64]
    lib.xe_free.restype = None
    lib.xe_free.argtypes = [handle]
    lib.xe_trust_code.restype = None
    lib.xe_trust_code.argtypes = [handle, data]
    lib.xe_set_account.restype = None
    lib.xe_set_account.argtypes = [handle, data, ctypes.c_uint64, data, data, size]
    lib.xe_set_storage.restype = None
    lib.xe_set_storage.argtypes = [handle, data, data, data]
    lib.xe_get_storage.restype = None
    lib.xe_get_storage.argtypes = [handle, data, data, ctypes.c_char_p]
    lib.xe_set_block.restype = None
    lib.xe_set_block.argtypes = [handle, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, data]
    lib.xe_run.restype = size
    lib.xe_run.argtypes = [handle, data, data, data, size, ctypes.c_int64]
    lib.xe_result.restype = ctypes.c_void_p
    lib.xe_result.argtypes = [handle]
    lib.xe_sm3.restype = ctypes.c_int
    lib.xe_sm3.argtypes = [data, size, ctypes.c_char_p]
    lib.xe_sm2_verify.restype = ctypes.c_int
    lib.xe_sm2_verify.argtypes = [data, size]
    lib.xe_build_id.restype = ctypes.c_char_p
    lib.xe_build_id.argtypes = []


@dataclass(frozen=True, slots=True)
class XevmAnswer:
    """What one message would do (``Xevm.run``); the state is unchanged."""

    succeeded: bool
    flags: int  # UNTRUSTED_CODE | OTHER_PRECOMPILE | ACCOUNT_CHANGED
    gas_used: int  # after the refund and the calldata floor
    logs: tuple[Log, ...]
    changes: tuple[tuple[bytes, int, int, int], ...]  # (address, slot, value before, value after)


class Xevm:
    """A copy of the state inside libxevm and the evmone VM that runs messages against it. Not thread-safe:
    the engine uses one at a time."""

    def __init__(self, chain_id: int, trusted_code: Iterable[bytes]) -> None:
        """``trusted_code``: the code hashes whose messages may be answered here (others: flagged).
        Raises ExecutionError ("out_of_range") for a chain id of 2^64 or more."""
        if not 0 <= chain_id < 2**64:
            raise ExecutionError("evmone takes chain ids below 2^64", code="out_of_range")
        self._lib = lib = load_library()
        self._handle = lib.xe_new(chain_id)
        if not self._handle:
            raise ExecutionError("libxevm could not allocate a state", code="native_engine_unavailable")
        weakref.finalize(self, lib.xe_free, self._handle)
        for code_hash in trusted_code:
            lib.xe_trust_code(self._handle, code_hash)
        self._word = ctypes.create_string_buffer(_WORD_BYTES)

    # The library reads 20 bytes for an address: every address is checked here, before it gets there.
    def set_account(self, address: bytes, nonce: int, balance: int, code: bytes) -> None:
        """Install or replace an account's nonce, balance and code (its storage stays)."""
        self._lib.xe_set_account(
            self._handle, _address(address), nonce, balance.to_bytes(_WORD_BYTES, "big"), code, len(code)
        )

    def set_storage(self, address: bytes, slot: int, value: int) -> None:
        """Set a storage word (0 deletes it)."""
        self._lib.xe_set_storage(
            self._handle,
            _address(address),
            slot.to_bytes(_WORD_BYTES, "big"),
            value.to_bytes(_WORD_BYTES, "big"),
        )

    def get_storage(self, address: bytes, slot: int) -> int:
        """A storage word of the copy."""
        self._lib.xe_get_storage(
            self._handle, _address(address), slot.to_bytes(_WORD_BYTES, "big"), self._word
        )
        return int.from_bytes(self._word.raw, "big")

    def set_block(self, height: int, timestamp: int, gas_limit: int, coinbase: bytes) -> None:
        """The block the next messages run in (BLOCKHASH is 0, PREVRANDAO and the base fee 0, as py-evm's).
        Raises ExecutionError ("out_of_range") for a number the library cannot hold (see ``fits``)."""
        if not fits(height, timestamp, gas_limit):
            raise ExecutionError("a block number, time or gas limit beyond 2^63 - 1", code="out_of_range")
        self._lib.xe_set_block(self._handle, height, timestamp, gas_limit, _address(coinbase))

    def run(self, sender: bytes, to: bytes, data: bytes, gas_limit: int) -> XevmAnswer:
        """Run one message against the copy and say what it would do; the copy is unchanged."""
        if not fits(gas_limit):
            raise ExecutionError("a gas limit beyond 2^63 - 1", code="out_of_range")
        lib = self._lib
        size = lib.xe_run(self._handle, _address(sender), _address(to), bytes(data), len(data), gas_limit)
        return parse_answer(ctypes.string_at(lib.xe_result(self._handle), size))


def fits(*numbers: int) -> bool:
    """Whether each of ``numbers`` fits the library's signed 64-bit block numbers, times and gas."""
    return all(0 <= number < 2**63 for number in numbers)


def _address(address: bytes) -> bytes:
    if len(address) != _ADDRESS_BYTES:
        raise ExecutionError(f"an address is 20 bytes, not {len(address)}", code="bad_address")
    return bytes(address)


def parse_answer(raw: bytes) -> XevmAnswer:
    """Decode xe_run's answer (layout in csrc/xevm.cpp). Raises ExecutionError for a malformed one."""
    try:
        outcome, flags, gas_used = _HEAD.unpack_from(raw, 0)
        at = _HEAD.size
        (count,) = _U32.unpack_from(raw, at)
        at += 4
        logs = []
        for _ in range(count):
            address = raw[at : at + _ADDRESS_BYTES]
            (topic_count,) = _U32.unpack_from(raw, at + _ADDRESS_BYTES)
            at += _ADDRESS_BYTES + 4
            topics = tuple(raw[at + i * _WORD_BYTES : at + (i + 1) * _WORD_BYTES] for i in range(topic_count))
            at += topic_count * _WORD_BYTES
            (data_size,) = _U32.unpack_from(raw, at)
            at += 4
            logs.append(Log(address=address, topics=topics, data=raw[at : at + data_size]))
            at += data_size
        (count,) = _U32.unpack_from(raw, at)
        at += 4
        changes = []
        for _ in range(count):
            word = at + _ADDRESS_BYTES
            changes.append(
                (
                    raw[at:word],
                    int.from_bytes(raw[word : word + _WORD_BYTES], "big"),
                    int.from_bytes(raw[word + _WORD_BYTES : word + 2 * _WORD_BYTES], "big"),
                    int.from_bytes(raw[word + 2 * _WORD_BYTES : word + 3 * _WORD_BYTES], "big"),
                )
            )
            at += _CHANGE_BYTES
    except struct.error as exc:
        raise ExecutionError(f"malformed libxevm answer: {exc}", code="native_engine_unavailable") from exc
    if at != len(raw):
        raise ExecutionError("libxevm's answer has trailing bytes", code="native_engine_unavailable")
    return XevmAnswer(outcome == _SUCCESS, flags, gas_used, tuple(logs), tuple(changes))


def sm3(data: bytes) -> bytes:
    """libxevm's SM3 (OpenSSL), as its precompile computes it. Raises ExecutionError without SM3."""
    out = ctypes.create_string_buffer(_WORD_BYTES)
    if load_library().xe_sm3(data, len(data), out) != 1:
        raise ExecutionError("libxevm's OpenSSL has no SM3", code="native_engine_unavailable")
    return out.raw


def sm2_verify(data: bytes) -> bool:
    """libxevm's SM2 precompile rule: whether key(64) ‖ r‖s(64) ‖ message is a valid signature."""
    return bool(load_library().xe_sm2_verify(data, len(data)))
