"""Batch SM2 verification spread over all cores with a process pool (small batches stay in-process)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import repeat

from sdk.crypto.keys import PublicKey
from sdk.crypto.sm2 import DEFAULT_USER_ID
from sdk.errors import CryptoError

log = logging.getLogger(__name__)

#: Below this many items the pool's pickling and wake-up cost more than they save.
IN_PROCESS_BELOW = 64
#: Each worker gets about this many chunks, so a slow chunk does not leave a core idle for long.
_CHUNKS_PER_WORKER = 4
_KEY_CACHE_LIMIT = 4096

BatchItem = tuple[bytes, bytes, bytes]

_keys: dict[bytes, PublicKey] = {}
_pool: ProcessPoolExecutor | None = None
_pool_workers = 0
_pool_lock = threading.Lock()


def _public_key(raw: bytes) -> PublicKey:
    """Return a cached PublicKey so a validator's key is parsed once per process, not once per signature."""
    key = _keys.get(raw)
    if key is None:
        key = PublicKey(raw)
        if len(_keys) >= _KEY_CACHE_LIMIT:
            _keys.clear()
        _keys[raw] = key
    return key


def _verify_chunk(items: Sequence[BatchItem], user_id: bytes) -> list[bool]:
    results = []
    for public_key, message, signature in items:
        try:
            _public_key(public_key).verify(message, signature, user_id=user_id)
        except (CryptoError, TypeError):
            results.append(False)
        else:
            results.append(True)
    return results


def _normalise(item: object) -> BatchItem | None:
    """Return the item as three bytes values (a PublicKey is accepted for the key), or None if malformed."""
    if not isinstance(item, tuple | list) or len(item) != 3:
        return None
    public_key, message, signature = item
    if isinstance(public_key, PublicKey):
        public_key = public_key.to_bytes()
    if not all(isinstance(v, bytes | bytearray | memoryview) for v in (public_key, message, signature)):
        return None
    return bytes(public_key), bytes(message), bytes(signature)


def available_cores() -> int:
    """Return how many cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _get_pool(workers: int) -> ProcessPoolExecutor:
    global _pool, _pool_workers
    with _pool_lock:
        if _pool is None or _pool_workers != workers:
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=True)
            # forkserver: never fork a process that may be running threads (an asyncio node does).
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
            _pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
            _pool_workers = workers
        return _pool


def _drop_pool() -> None:
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None


def shutdown_pool() -> None:
    """Stop the worker processes (they are also stopped at interpreter exit)."""
    _drop_pool()


def batch_verify(
    items: Sequence[tuple[bytes, bytes, bytes]],
    *,
    user_id: bytes = DEFAULT_USER_ID,
    processes: int | None = None,
) -> list[bool]:
    """Return, for each (public key 64 bytes, message, signature 64 bytes r‖s), whether it verifies.

    Same rules as PublicKey.verify with ``user_id`` for every item; a malformed key, signature or item gives
    False rather than an exception. ``processes`` defaults to all available cores; batches smaller than
    IN_PROCESS_BELOW, or ``processes=1``, are verified in this process. Raises nothing for bad items.
    """
    normalised = [_normalise(item) for item in items]
    good = [item for item in normalised if item is not None]
    workers = processes if processes is not None else available_cores()
    if workers <= 1 or len(good) < IN_PROCESS_BELOW:
        verdicts = _verify_chunk(good, user_id)
    else:
        verdicts = _verify_in_pool(good, user_id, workers)
    results = iter(verdicts)
    return [False if item is None else next(results) for item in normalised]


def _verify_in_pool(items: list[BatchItem], user_id: bytes, workers: int) -> list[bool]:
    size = max(IN_PROCESS_BELOW // 2, -(-len(items) // (workers * _CHUNKS_PER_WORKER)))
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    try:
        pool = _get_pool(workers)
        return [v for chunk in pool.map(_verify_chunk, chunks, repeat(user_id)) for v in chunk]
    except BrokenProcessPool:
        # A worker died (OOM killer, signal, a __main__ that cannot be re-imported): answer from this
        # process and start a fresh pool next time.
        log.warning("SM2 batch-verify worker pool broke; verifying %d items in-process", len(items))
        _drop_pool()
        return _verify_chunk(items, user_id)
