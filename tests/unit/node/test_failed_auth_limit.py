"""FailedAuthLimit: a client network may fail signature verifications a burst of times, then at a steady
rate; only refusals that cost a verification count."""

from __future__ import annotations

import pytest

from node.api.auth import FailedAuthLimit, NotAMember, client_network, spent_a_verification
from sdk.errors import AuthenticationError, XinlianError


def _throttled(limit: FailedAuthLimit, client: str, now: float) -> bool:
    try:
        limit.check(client, now)
    except AuthenticationError as exc:
        assert exc.code == "auth_throttled"
        return True
    return False


def test_a_burst_of_failures_then_one_per_refill() -> None:
    limit = FailedAuthLimit(burst=3, per_second=1.0)
    for _ in range(3):
        assert not _throttled(limit, "a", 0.0)
        limit.failed("a", 0.0)
    assert _throttled(limit, "a", 0.0)
    assert not _throttled(limit, "b", 0.0)  # another address has its own bucket
    assert _throttled(limit, "a", 0.5)
    assert not _throttled(limit, "a", 1.0)  # one failure earned back after a second
    limit.failed("a", 1.0)
    assert _throttled(limit, "a", 1.0)
    assert not _throttled(limit, "a", 100.0)  # refilled, never above the burst
    for _ in range(3):
        limit.failed("a", 100.0)
    assert _throttled(limit, "a", 100.0)


def test_tracked_addresses_are_bounded_and_zero_burst_turns_the_limit_off() -> None:
    limit = FailedAuthLimit(burst=1, per_second=0.0, max_clients=2)
    for client in ("a", "b", "c"):
        limit.failed(client, 0.0)
    assert not _throttled(limit, "a", 0.0)  # forgotten: the oldest left first
    assert _throttled(limit, "b", 0.0) and _throttled(limit, "c", 0.0)
    off = FailedAuthLimit(burst=0)
    for _ in range(10):
        off.failed("a", 0.0)
    assert not _throttled(off, "a", 0.0)


@pytest.mark.parametrize("failures", [0, 1])
def test_an_address_below_its_burst_is_never_refused(failures: int) -> None:
    limit = FailedAuthLimit(burst=2, per_second=0.0)
    for _ in range(failures):
        limit.failed("a", 0.0)
    assert not _throttled(limit, "a", 0.0)


@pytest.mark.parametrize(
    ("host", "network"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),  # IPv4-mapped: counted as the IPv4 address
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),  # one holder's /64 is one bucket
        ("testclient", "testclient"),
    ],
)
def test_clients_are_counted_by_network(host: str, network: str) -> None:
    assert client_network(host) == network


@pytest.mark.parametrize(
    ("error", "spent"),
    [
        (AuthenticationError("member signature does not verify", step="signature"), True),
        (NotAMember("not a member"), True),
        (AuthenticationError("seen", code="replayed_request"), True),
        (AuthenticationError("member signature headers are malformed"), False),
        (AuthenticationError("old", code="stale_request"), False),
        (AuthenticationError("elsewhere", code="wrong_audience"), False),
        (AuthenticationError("busy", code="signer_busy"), False),
    ],
)
def test_only_refusals_that_cost_a_verification_count(error: XinlianError, spent: bool) -> None:
    assert spent_a_verification(error) is spent
