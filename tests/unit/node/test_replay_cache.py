"""The replay cache of signed requests: each nonce once, bounded per key and in total, forgotten when old."""

from __future__ import annotations

import pytest

from node.api.auth import ReplayCache
from sdk.errors import AuthenticationError

A, B = b"\x0a" * 64, b"\x0b" * 64


def _code(cache: ReplayCache, key: bytes, nonce: bytes, now_ms: int) -> str:
    with pytest.raises(AuthenticationError) as info:
        cache.remember(key, nonce, now_ms)
    return info.value.code


def test_a_nonce_is_accepted_once_per_key_until_it_is_stale() -> None:
    cache = ReplayCache(window_ms=60_000)
    cache.remember(A, b"n1", 1_000)
    assert _code(cache, A, b"n1", 30_000) == "replayed_request"
    cache.remember(B, b"n1", 30_000)  # the same nonce under another key is another request
    cache.remember(A, b"n1", 61_001)  # stale by now: the node refuses it as stale before the cache anyway
    assert len(cache) == 2


def test_one_key_cannot_take_the_room_of_others() -> None:
    cache = ReplayCache(window_ms=60_000, max_entries=10, max_per_key=3)
    for i in range(3):
        cache.remember(A, bytes([i]), 1_000 + i)
    assert _code(cache, A, b"more", 2_000) == "signer_busy"
    cache.remember(B, b"x", 2_000)  # others still get in
    cache.remember(A, b"more", 61_001)  # A's first nonce expired: room again
    assert _code(cache, A, b"more", 61_002) == "replayed_request"


def test_the_total_is_bounded_without_forgetting_fresh_nonces() -> None:
    cache = ReplayCache(window_ms=60_000, max_entries=4, max_per_key=4)
    for i in range(4):
        cache.remember(bytes([i]) * 64, b"n", 1_000)
    assert _code(cache, b"\x09" * 64, b"n", 2_000) == "signer_busy"
    assert _code(cache, b"\x00" * 64, b"n", 2_000) == "replayed_request"  # still remembered
    cache.remember(b"\x09" * 64, b"n", 61_000)
    assert len(cache) == 1
