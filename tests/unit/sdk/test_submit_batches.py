"""compute_submit_batches: a long submission split into the fewest batch requests a node takes, in order,
each within the transaction count and the JSON body size the node enforces (measured on the body httpx
really sends)."""

from __future__ import annotations

from itertools import pairwise

import httpx
import pytest
from hypothesis import given, strategies as st

from sdk.submission import compute_submit_batches


def _body_bytes(batch: list[bytes]) -> int:
    return len(
        httpx.Request("POST", "http://node/", json={"raws": ["0x" + raw.hex() for raw in batch]}).content
    )


@given(
    sizes=st.lists(st.integers(min_value=1, max_value=400), max_size=60),
    max_txs=st.integers(min_value=1, max_value=9),
    max_body_bytes=st.integers(min_value=20, max_value=4_000),
)
def test_batches_keep_the_order_and_the_limits_and_are_as_few_as_they_can_be(
    sizes: list[int], max_txs: int, max_body_bytes: int
) -> None:
    raws = [bytes([i % 256]) * size for i, size in enumerate(sizes)]
    batches = compute_submit_batches(raws, max_txs=max_txs, max_body_bytes=max_body_bytes)
    assert [raw for batch in batches for raw in batch] == raws
    for batch in batches:
        assert 1 <= len(batch) <= max_txs
        assert len(batch) == 1 or _body_bytes(batch) <= max_body_bytes
    # no batch could have taken the next one's first transaction as well (the split counts one byte more
    # than the body: a separator after the last item)
    for batch, following in pairwise(batches):
        joined = [*batch, following[0]]
        assert len(joined) > max_txs or _body_bytes(joined) + 1 > max_body_bytes


def test_a_default_lot_of_commissioning_transactions_needs_few_requests() -> None:
    raws = [b"\x00" * 6_300] * 323  # 60,000 codes in 186-code chunks, about 6.3 KB each
    assert [len(batch) for batch in compute_submit_batches(raws)] == [83, 83, 83, 74]


def test_max_txs_must_allow_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        compute_submit_batches([b"\x01"], max_txs=0)
