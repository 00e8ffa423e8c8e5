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
    """Load libxevm once. Raises ExecutionError ("native_engine_unavailable") saying how to build it."""
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
        _declare(lib)
        _loaded = lib
        return lib


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
        """``trusted_code``: the code hashes whose messages may be answered here (others: flagged)."""
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
        """The block the next messages run in (BLOCKHASH is 0, PREVRANDAO and the base fee 0, as py-evm's)."""
        self._lib.xe_set_block(self._handle, height, timestamp, gas_limit, _address(coinbase))

    def run(self, sender: bytes, to: bytes, data: bytes, gas_limit: int) -> XevmAnswer:
        """Run one message against the copy and say what it would do; the copy is unchanged."""
        lib = self._lib
        size = lib.xe_run(self._handle, _address(sender), _address(to), bytes(data), len(data), gas_limit)
        return parse_answer(ctypes.string_at(lib.xe_result(self._handle), size))


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
