"""The node's rate gate for signing new licence statements: a burst, then a steady rate, refused at once."""

from __future__ import annotations

import pytest

from node.api.limits import LimitExceeded, RateGate


def test_rate_gate_allows_a_burst_then_refuses_until_tokens_come_back() -> None:
    gate = RateGate(burst=3, per_second=2.0)
    for _ in range(3):
        gate.take("signatures", now=100.0)
    with pytest.raises(LimitExceeded) as refused:
        gate.take("signatures", now=100.0)
    assert refused.value.code == "rate_limited"
    gate.take("signatures", now=100.5)  # one token back after half a second at 2 per second
    with pytest.raises(LimitExceeded):
        gate.take("signatures", now=100.5)
    for _ in range(3):  # never more than the burst, however long it waited
        gate.take("signatures", now=1000.0)
    with pytest.raises(LimitExceeded):
        gate.take("signatures", now=1000.0)
