"""The replay cache of signed requests: each nonce once, bounded per key and in total, forgotten when old."""

from __future__ import annotations

import pytest

from node.api.auth import ReplayCache
from sdk.errors import AuthenticationError

A, B = b"\x0a" * 64, b"\x0b" * 64


def _code(cache: ReplayCache, key: bytes, nonce: bytes, now_ms: int, *, owner: str | None = None) -> str:
    with pytest.raises(AuthenticationError) as info:
        cache.remember(key, nonce, now_ms, owner=owner)
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


def test_busy_organisations_cannot_take_the_room_of_a_quiet_one() -> None:
    # Ten organisations send as fast as they can; once half the cache is held, each is held to its fair
    # share of the other half, so an eleventh that sends now and then still gets in.
    cache = ReplayCache(window_ms=60_000, max_entries=1_000, max_per_key=1_000)
    busy = [f"BUSY{i}" for i in range(10)]
    refused = 0
    for round_ in range(200):
        for i, org in enumerate(busy):
            try:
                cache.remember(bytes([i]) * 64, round_.to_bytes(4, "big"), 1_000, owner=org)
            except AuthenticationError as exc:
                assert exc.code == "signer_busy"
                refused += 1
    assert refused > 0 and len(cache) < 1_000
    for n in range(20):
        cache.remember(b"\xee" * 64, n.to_bytes(4, "big"), 2_000, owner="QUIET")


def test_an_organisation_over_its_share_waits_for_its_own_nonces_to_expire() -> None:
    cache = ReplayCache(window_ms=60_000, max_entries=8, max_per_key=8)
    for n in range(4):  # half the cache, first come
        cache.remember(A, bytes([n]), 1_000, owner="ORG-A")
    assert _code(cache, A, b"more", 1_000, owner="ORG-A") == "signer_busy"  # 4 >= (8 // 2) // 1
    cache.remember(B, b"b", 1_000, owner="ORG-B")  # another organisation gets in
    assert _code(cache, b"\x0c" * 64, b"a2", 1_000, owner="ORG-A") == "signer_busy"  # another key, same org
    cache.remember(A, b"more", 61_000, owner="ORG-A")  # its nonces expired: room again
