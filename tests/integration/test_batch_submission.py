"""POST /v1/transactions/batch through the SDK against a real node: each transaction admitted or refused on
its own, in order; the accepted ones recorded durably before the answer; the batch size bounded."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from node.api.limits import ApiLimits
from sdk.client import Client
from sdk.contracts import Contract
from sdk.errors import ClientError, InvalidTransaction, StorageError, XinlianError
from sdk.signer import Signer
from sdk.submission import compute_submit_batches
from sdk.types import Transaction

if TYPE_CHECKING:
    from node_fixtures import RunningNode

pytest_plugins = ["node_fixtures"]

GOV = Contract("Governance")
MAX_BATCH = 8


@pytest.fixture
def node(tmp_path: Path) -> Iterator[RunningNode]:
    """A node that commits only when the test produces a block, taking batches of at most MAX_BATCH."""
    from node_fixtures import start_node, stop_node

    running = start_node(tmp_path, produce=False, limits=ApiLimits(max_submit_batch=MAX_BATCH))
    try:
        yield running
    finally:
        stop_node(running)


def _calls(node: RunningNode, count: int, signer: Signer | None = None) -> list[bytes]:
    """``count`` distinct signed reads of Governance's threshold (distinct by their expiry heights)."""
    signer = signer or node.committee.signer
    return [
        signer.sign_transaction(
            chain_id=node.ledger.chain.chain_id,
            to=node.ledger.governance_address,
            data=GOV.encode_call("threshold"),
            gas_limit=100_000,
            expiry_height=node.ledger.height + 10 + i,
        ).encode()
        for i in range(count)
    ]


def test_each_transaction_is_answered_in_order_and_the_accepted_are_durable_before_the_answer(
    node: RunningNode,
) -> None:
    good = _calls(node, 3)
    stranger = _calls(node, 1, Signer.generate())[0]
    batch = [good[0], b"\x01\x02\x03", good[1], stranger, good[0], good[2]]
    with Client(node.url, timeout=10) as client:
        results = client.submit_many(batch)
    assert len(results) == len(batch)
    accepted = [r for r in results if isinstance(r, bytes)]
    assert results[0] == results[4] == accepted[0]  # the repeat is idempotent: the same hash, pending
    assert len(set(accepted)) == 3 and results[2] in accepted and results[5] in accepted
    garbage, unknown = results[1], results[3]
    assert isinstance(garbage, InvalidTransaction) and garbage.code == "bad_encoding"
    assert isinstance(unknown, InvalidTransaction) and unknown.code == "unknown_sender"
    assert unknown.detail["http_status"] == 403
    # Nothing is committed yet (this node produces only on request): the three are recorded, the rest not.
    assert {tx_hash for tx_hash, _ in node.ledger.store.load_pending()} == set(accepted)
    node.produce_block()
    with Client(node.url, timeout=10, signer=node.committee.signer) as client:
        assert all(client.wait(tx_hash, timeout=10).succeeded for tx_hash in set(accepted))
        again = client.submit_many(good)
    assert again == results[0:1] + results[2:3] + results[5:6]  # committed: still success, same hashes
    assert node.ledger.store.load_pending() == []


def test_a_malformed_item_is_refused_alone(node: RunningNode) -> None:
    good = _calls(node, 1)[0]
    response = httpx.post(
        f"{node.url}/v1/transactions/batch", json={"raws": ["0xzz", "0x" + good.hex()]}, timeout=10
    )
    assert response.status_code == 202
    first, second = response.json()["results"]
    assert first["status"] == "refused" and first["http_status"] == 422
    assert first["error"]["code"] == "bad_request" and "raws[0]" in first["error"]["message"]
    assert second["status"] == "pending" and node.ledger.is_pending(bytes.fromhex(second["tx_hash"][2:]))


def test_a_batch_over_the_limit_is_refused_whole_before_any_admission(node: RunningNode) -> None:
    batch = _calls(node, MAX_BATCH + 1)
    with Client(node.url, timeout=10) as client, pytest.raises(ClientError) as refused:
        client.submit_many(batch)
    assert refused.value.code == "batch_too_large" and refused.value.detail["http_status"] == 413
    assert refused.value.detail["limit"] == MAX_BATCH
    assert node.ledger.pending_count == 0 and node.ledger.store.load_pending() == []


@pytest.mark.parametrize("body", [{"raws": []}, {"raws": "0x00"}, {"raw": "0x00"}, [1, 2]])
def test_a_malformed_batch_is_a_bad_request(node: RunningNode, body: object) -> None:
    response = httpx.post(f"{node.url}/v1/transactions/batch", json=body, timeout=10)
    assert response.status_code == 422 and response.json()["code"] == "bad_request"


def test_a_storage_error_on_one_item_refuses_that_item_only(
    node: RunningNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transient database error while admitting one item (injected into the real store): that item is
    refused with storage_error; the others are recorded and gossiped as in a clean batch."""
    raws = _calls(node, 4)
    announced: list[bytes] = []
    node.ledger.on_admit.append(lambda tx_hash, _raw: announced.append(tx_hash))
    real = node.ledger.store.has_transactions
    calls = 0

    def fails_on_the_third_call(hashes: list[bytes]) -> bool:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise StorageError("database is locked")
        return real(hashes)

    monkeypatch.setattr(node.ledger.store, "has_transactions", fails_on_the_third_call)
    with Client(node.url, timeout=10) as client:
        results = client.submit_many(raws)
    refused = [r for r in results if not isinstance(r, bytes)]
    accepted = [r for r in results if isinstance(r, bytes)]
    assert len(refused) == 1 and isinstance(refused[0], StorageError)
    assert refused[0].detail["http_status"] == 503
    assert len(accepted) == 3
    assert {tx_hash for tx_hash, _ in node.ledger.store.load_pending()} == set(accepted)
    assert set(announced) == set(accepted)


def test_batches_have_their_own_slots_and_never_take_the_reads_heavy_slots(node: RunningNode) -> None:
    """Anonymous batches (bad signatures cost a verification each) cannot starve members' heavy reads: a
    batch is admitted with every heavy slot taken, and one more batch than its own slots is refused busy."""
    app = node.server.config.app
    heavy, batches = app.state.heavy, app.state.batches
    raws = _calls(node, 2)
    with Client(node.url, timeout=10) as client:
        with contextlib.ExitStack() as held:
            for index in range(heavy.capacity):
                held.enter_context(heavy.slot(f"held {index}"))
            assert isinstance(client.submit_many(raws[:1])[0], bytes)
        with contextlib.ExitStack() as held:
            for index in range(batches.capacity):
                held.enter_context(batches.slot(f"held {index}"))
            with pytest.raises(ClientError) as busy:
                client.submit_many(raws[1:])
        assert busy.value.code == "busy" and busy.value.detail["http_status"] == 429
        assert isinstance(client.submit_many(raws[1:])[0], bytes)  # the slots are free again


class CountingClient(Client):
    """A real client that also records how many transactions each batch request carried."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requests: list[int] = []

    def submit_many(self, raws: Sequence[bytes]) -> list[bytes | XinlianError]:
        self.requests.append(len(raws))
        return super().submit_many(raws)


def test_a_long_submission_goes_in_as_few_requests_as_the_node_takes(tmp_path: Path) -> None:
    """submit_all splits by count and by JSON size exactly as the node counts them: a node that takes at
    most 8 transactions and 2 KiB per request answers every request, none with 413, every one accepted."""
    from node_fixtures import start_node, stop_node

    body_limit = 2048
    running = start_node(
        tmp_path, produce=False, max_body_bytes=body_limit, limits=ApiLimits(max_submit_batch=MAX_BATCH)
    )
    try:
        raws = _calls(running, 20)
        with CountingClient(running.url, timeout=10) as client:
            results = client.submit_all(raws, max_txs=MAX_BATCH, max_body_bytes=body_limit)
            requests = list(client.requests)
            with pytest.raises(ClientError) as too_large:  # the limit is real: one request more is refused
                client.submit_many(raws[: max(requests) + 1])
        assert too_large.value.code == "body_too_large"
        assert results == [Transaction.decode(raw).tx_hash for raw in raws]
        planned = compute_submit_batches(raws, max_txs=MAX_BATCH, max_body_bytes=body_limit)
        assert requests == [len(batch) for batch in planned] and len(planned) > 2
        assert {tx_hash for tx_hash, _ in running.ledger.store.load_pending()} == set(results)
        # A client that assumes the default limits learns this node's from its first 413 and splits again
        # (the same transactions: submitting them again answers their hashes).
        with CountingClient(running.url, timeout=10) as client:
            assert client.submit_all(raws) == results
        planned = compute_submit_batches(raws, max_body_bytes=body_limit)
        assert client.requests == [20] + [len(batch) for batch in planned]
    finally:
        stop_node(running)


def test_submit_all_follows_the_transaction_limit_a_node_answers_with(node: RunningNode) -> None:
    raws = _calls(node, 20)
    with CountingClient(node.url, timeout=10) as client:
        assert client.submit_all(raws) == [Transaction.decode(raw).tx_hash for raw in raws]
    assert client.requests == [20, MAX_BATCH, MAX_BATCH, 20 - 2 * MAX_BATCH]
    assert node.ledger.pending_count == 20


def test_send_many_raises_the_first_refusal_and_names_what_was_recorded(node: RunningNode) -> None:
    governance = node.ledger.governance_address
    threshold = GOV.encode_call("threshold")
    too_much_gas = node.ledger.chain.tx_gas_limit + 1
    calls = [
        (governance, threshold, 100_000),
        (governance, threshold, too_much_gas),
        (governance, threshold, 100_001),
    ]
    with CountingClient(node.url, timeout=10) as client, pytest.raises(InvalidTransaction) as refused:
        client.send_many(node.committee.signer, calls)
    accepted = {bytes.fromhex(h[2:]) for h in refused.value.detail["accepted"]}
    assert len(accepted) == 2 and client.requests == [3] and refused.value.detail["not_accepted"] == [1]
    assert {tx_hash for tx_hash, _ in node.ledger.store.load_pending()} == accepted


class BusyWatchingClient(CountingClient):
    """A real client that also signals its first ``busy`` answer, and can take every batch slot of ``node``
    once its first request was answered (a node that turns busy half-way through a submission)."""

    def __init__(self, *args: Any, take_slots_of: RunningNode | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refused_busy = threading.Event()
        self.held = contextlib.ExitStack()
        self._take_slots_of = take_slots_of

    def submit_many(self, raws: Sequence[bytes]) -> list[bytes | XinlianError]:
        try:
            results = super().submit_many(raws)
        except ClientError as exc:
            if exc.code == "busy":
                self.refused_busy.set()
            raise
        if self._take_slots_of is not None:
            batches = self._take_slots_of.server.config.app.state.batches
            for index in range(batches.capacity):
                self.held.enter_context(batches.slot(f"held {index}"))
            self._take_slots_of = None
        return results


def test_submit_all_waits_out_a_busy_node_within_its_timeout(node: RunningNode) -> None:
    """Every batch slot taken: submit_all sends again after a pause and succeeds once a slot is free."""
    batches = node.server.config.app.state.batches
    raws = _calls(node, 3)
    with contextlib.ExitStack() as held, BusyWatchingClient(node.url, timeout=10) as client:
        for index in range(batches.capacity):
            held.enter_context(batches.slot(f"held {index}"))

        def free_after_the_first_refusal() -> None:
            client.refused_busy.wait(10)
            held.close()

        freeing = threading.Thread(target=free_after_the_first_refusal)
        freeing.start()
        results = client.submit_all(raws)
        freeing.join()
    assert results == [Transaction.decode(raw).tx_hash for raw in raws]
    assert client.requests[-1] == 3 and len(client.requests) > 1  # refused while busy, then answered


def test_a_node_busy_past_the_timeout_fails_the_rest_and_says_what_was_recorded(node: RunningNode) -> None:
    """The first request is answered, then the node stays busy longer than the client's timeout: the busy
    refusal reaches the caller with the first request's transactions as ``accepted`` (they commit) and the
    positions of the rest as ``not_accepted``."""
    raws = _calls(node, MAX_BATCH + 2)
    with (
        BusyWatchingClient(node.url, timeout=2, take_slots_of=node) as client,
        client.held,
        pytest.raises(ClientError) as busy,
    ):
        client.submit_all(raws)
    assert busy.value.code == "busy" and client.refused_busy.is_set()
    first = [Transaction.decode(raw).tx_hash for raw in raws[:MAX_BATCH]]
    assert busy.value.detail["accepted"] == ["0x" + tx_hash.hex() for tx_hash in first]
    assert busy.value.detail["not_accepted"] == [MAX_BATCH, MAX_BATCH + 1]
    assert {tx_hash for tx_hash, _ in node.ledger.store.load_pending()} == set(first)
