"""Hostile requests against a real node (SQLite, py-evm, SM2): each is refused with a typed error, logged
in one line, and the node lives on."""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings, strategies as st

from node.api import create_app
from node.api.limits import (
    MAX_HEAVY_REQUESTS,
    MAX_JSON_DEPTH,
    ApiLimits,
    json_too_deep,
)
from node.api.metrics import Metrics
from node.storage import Store
from node.workers import EVM_RECURSION_LIMIT
from sdk.client import Client
from sdk.contracts import Contract
from sdk.signer import Signer
from tests.e2e.helpers import NodeProcess, create_network
from tests.integration.node_fixtures import RunningNode, start_node, stop_node
from tests.support import member_auth, post_signed_rpc

GOV = Contract("Governance")
HOSTILE_MIB = 1024 * 1024 - 1024  # just under the body cap


# --- fixtures -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def node_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """A real `xinlian node run` child process (so that a crash of its interpreter is observable)."""
    network = create_network(tmp_path_factory.mktemp("hostile") / "net")
    process = NodeProcess(network)
    process.start()
    try:
        process.wait_healthy()
        yield process
    finally:
        process.terminate()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """An in-process producing node whose chain holds one account registration (two logs in one block)."""
    running = start_node(tmp_path_factory.mktemp("limits"))
    try:
        with Client(running.url) as client:
            client.governance.with_signer(running.committee.signer).register_account(
                Signer.generate().address, running.committee.uscc
            )
        yield running
    finally:
        stop_node(running)


def _client(node: RunningNode, **limits: Any) -> TestClient:
    """The node's API app with other limits, driven in-process (same ledger, same code path)."""
    return TestClient(create_app(node.ledger, metrics=Metrics(), limits=ApiLimits(**limits)))


def _rpc(node: RunningNode, client: TestClient | httpx.Client, payload: Any) -> Any:
    """POST ``payload`` as the node's committee member: the limits hold for members too."""
    response = post_signed_rpc(client, node.committee.signer, json.dumps(payload).encode())
    assert response.status_code == 200, response.text
    return response.json()


def _req(request_id: int, method: str, *params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}


def _is_active_call(node: RunningNode, **extra: Any) -> dict[str, Any]:
    data = GOV.encode_call("is_active_account", [node.committee.signer.address])
    return {"to": "0x" + node.ledger.governance_address.hex(), "data": "0x" + data.hex(), **extra}


def _limit_error(answer: dict[str, Any], code: str) -> dict[str, Any]:
    assert "result" not in answer, answer
    error: dict[str, Any] = answer["error"]
    assert error["code"] == -32005 and error["data"]["code"] == code, error
    return error


def _refusals(caplog: pytest.LogCaptureFixture, code: str) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == "xinlian.api" and r.getMessage().startswith(f"refused {code} ")
    ]


# --- deep JSON: one request used to segfault the node ---------------------------------------------------
@pytest.mark.parametrize("depth", [100_000, 500_000])
@pytest.mark.parametrize("path", ["/rpc", "/v1/call", "/v1/transactions"])
def test_deeply_nested_json_is_refused_and_the_node_process_survives(
    node_process: NodeProcess, path: str, depth: int
) -> None:
    body = b"[" * depth
    with httpx.Client(base_url=node_process.network.url, timeout=30) as client:
        try:
            response = client.post(path, content=body, headers={"content-type": "application/json"})
        except httpx.HTTPError as exc:
            pytest.fail(f"the node dropped the connection ({exc!r}):\n{node_process.log_tail()}")
        assert node_process.process is not None and node_process.process.poll() is None
        assert client.get("/health").status_code == 200
    if path == "/rpc":
        assert response.status_code == 200
        error = response.json()["error"]
        assert error["code"] == -32700 and error["data"] == {"code": "too_deep", "limit": MAX_JSON_DEPTH}
    else:
        assert response.status_code == 400
        assert response.json() == {
            "code": "too_deep",
            "message": response.json()["message"],
            "detail": {"limit": MAX_JSON_DEPTH},
        }


def test_deep_json_in_any_content_type_and_inside_objects_is_refused(
    node: RunningNode, caplog: pytest.LogCaptureFixture
) -> None:
    deep_object = b'{"a":' * 70_000 + b"1" + b"}" * 70_000
    inside_params = json.dumps(_req(1, "eth_call", "x")).encode().replace(b'"x"', b"[" * 200_000)
    with httpx.Client(base_url=node.url, timeout=30) as client, caplog.at_level(logging.INFO, "xinlian.api"):
        for content_type in ("text/plain", "application/octet-stream", ""):
            answer = client.post("/rpc", content=deep_object, headers={"content-type": content_type}).json()
            assert answer["error"]["data"]["code"] == "too_deep"
        assert client.post("/rpc", content=inside_params).json()["error"]["code"] == -32700
        refused = client.post("/v1/call", content=deep_object, headers={"content-type": "text/plain"})
        assert refused.status_code == 400 and refused.json()["code"] == "too_deep"
        assert client.get("/health").status_code == 200
    assert len(_refusals(caplog, "too_deep")) == 5
    assert all(b'"a"' not in r.getMessage().encode() for r in caplog.records)


def test_json_at_the_depth_limit_is_still_parsed(node: RunningNode) -> None:
    nested: Any = "0x" + "00" * 20
    for _ in range(MAX_JSON_DEPTH - 3):  # the request object and its params list add levels
        nested = [nested]
    answer = _rpc(node, httpx.Client(base_url=node.url), _req(1, "eth_getBalance", nested))
    assert answer["error"]["code"] == -32602  # parsed, then refused as a bad address: not a parse error


def test_serving_app_caps_the_recursion_limit_raised_by_py_ecc(node: RunningNode) -> None:
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)  # what importing py_ecc does
    try:
        create_app(node.ledger, metrics=Metrics())
        assert sys.getrecursionlimit() == EVM_RECURSION_LIMIT
    finally:
        sys.setrecursionlimit(before)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


_TRICKY_TEXT = st.text(alphabet='[]{}"\\ab', max_size=6)
_JSON = st.recursive(
    st.none() | st.integers() | _TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TRICKY_TEXT, inner, max_size=3),
    max_leaves=40,
)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(value=_JSON, wrap=st.integers(min_value=0, max_value=80), limit=st.sampled_from([1, 3, 8, 9, 64]))
def test_depth_scan_agrees_with_the_real_nesting_of_any_json(value: Any, wrap: int, limit: int) -> None:
    for _ in range(wrap):
        value = [value]
    body = json.dumps(value).encode()
    assert json_too_deep(body, limit) == (_depth(value) > limit)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * HOSTILE_MIB,
        b"[]" * (HOSTILE_MIB // 2),
        (b"[" * 64 + b"]" * 64) * (HOSTILE_MIB // 128),
        b'"' + b'\\"' * (HOSTILE_MIB // 2 - 1),
        b'"a"[' * (HOSTILE_MIB // 4),
        b'["a",{"b":"c"}]' * (HOSTILE_MIB // 15),
        b"".join(b"[" * 60 + b"]" * 59 for _ in range(HOSTILE_MIB // 119)),
        b"]" * (HOSTILE_MIB // 2) + b"[" * (HOSTILE_MIB // 2),
    ],
    ids=["open", "pairs", "depth64-siblings", "escapes", "strings", "mixed", "zigzag", "unbalanced"],
)
def test_depth_scan_of_a_hostile_mebibyte_stays_cheap(body: bytes) -> None:
    started = time.perf_counter()
    json_too_deep(body)
    # ~5-50 ms measured; a quadratic scan would take minutes. Generous for a loaded CI machine.
    assert time.perf_counter() - started < 1.0


# --- JSON-RPC work limits -------------------------------------------------------------------------------
def test_batch_over_the_limit_is_refused_whole_with_limit_exceeded(
    node: RunningNode, caplog: pytest.LogCaptureFixture
) -> None:
    batch = [_req(i, "eth_chainId") for i in range(101)]
    with caplog.at_level(logging.INFO, "xinlian.api"):
        answer = _rpc(node, httpx.Client(base_url=node.url), batch)
    assert _limit_error(answer, "batch_too_large")["data"]["limit"] == 100
    assert len(_rpc(node, httpx.Client(base_url=node.url), batch[:100])) == 100
    assert [r.getMessage() for r in _refusals(caplog, "batch_too_large")] == [
        "refused batch_too_large size=101 limit=100"
    ]


def test_get_proof_takes_at_most_64_storage_keys(node: RunningNode, caplog: pytest.LogCaptureFixture) -> None:
    address = "0x" + node.ledger.governance_address.hex()
    with httpx.Client(base_url=node.url, timeout=30) as client, caplog.at_level(logging.INFO, "xinlian.api"):
        ok = _rpc(node, client, _req(1, "eth_getProof", address, [hex(i) for i in range(64)], "latest"))
        assert len(ok["result"]["storageProof"]) == 64
        refused = _rpc(node, client, _req(2, "eth_getProof", address, [hex(i) for i in range(65)], "latest"))
    error = _limit_error(refused, "too_many_keys")
    assert error["data"]["limit"] == 64 and "64" in error["message"]
    assert len(_refusals(caplog, "too_many_keys")) == 1


def test_batch_answer_is_cut_at_the_response_byte_limit(
    node: RunningNode, caplog: pytest.LogCaptureFixture
) -> None:
    limit = 40_000
    client = _client(node, max_rpc_response_bytes=limit)
    address = "0x" + node.ledger.governance_address.hex()
    batch = [_req(i, "eth_getProof", address, [hex(k) for k in range(8)], "latest") for i in range(20)]
    with caplog.at_level(logging.INFO, "xinlian.api"):
        response = post_signed_rpc(client, node.committee.signer, json.dumps(batch).encode())
        single = _rpc(node, client, _req(7, "eth_getProof", address, [hex(k) for k in range(64)]))
    answers = response.json()
    assert [a["id"] for a in answers] == list(range(20))
    answered = [a for a in answers if "result" in a]
    assert 1 <= len(answered) < 20 and answers[: len(answered)] == answered
    for refused in answers[len(answered) :]:
        assert _limit_error(refused, "response_too_large")["data"]["limit"] == limit
    assert len(response.content) < limit + 20 * 300  # the small error objects may pass the cap
    _limit_error(single, "response_too_large")
    assert len(_refusals(caplog, "response_too_large")) == 2


def test_get_logs_refuses_a_block_range_over_the_limit_and_says_to_narrow_it(
    node: RunningNode, caplog: pytest.LogCaptureFixture
) -> None:
    client = _client(node, max_log_block_range=2)
    with caplog.at_level(logging.INFO, "xinlian.api"):
        refused = _rpc(node, client, _req(1, "eth_getLogs", {"fromBlock": "0x0", "toBlock": "0x2"}))
        fine = _rpc(node, client, _req(2, "eth_getLogs", {"fromBlock": "0x1", "toBlock": "0x2"}))
    error = _limit_error(refused, "range_too_large")
    assert "narrow" in error["message"] and error["data"] == {
        "code": "range_too_large",
        "blocks": 3,
        "limit": 2,
    }
    assert isinstance(fine["result"], list)
    assert [r.getMessage() for r in _refusals(caplog, "range_too_large")] == [
        "refused range_too_large blocks=3 limit=2"
    ]


def test_get_logs_with_more_results_than_the_limit_tells_to_narrow_the_range(
    node: RunningNode, caplog: pytest.LogCaptureFixture
) -> None:
    client = _client(node, max_log_results=1)
    with caplog.at_level(logging.INFO, "xinlian.api"):
        refused = _rpc(node, client, _req(1, "eth_getLogs", {"fromBlock": "earliest", "toBlock": "latest"}))
    assert "narrow the block range" in _limit_error(refused, "too_many_results")["message"]
    assert len(_refusals(caplog, "too_many_results")) == 1


def test_eth_call_gas_is_capped_whatever_the_caller_asks(node: RunningNode) -> None:
    default = _client(node)
    assert _rpc(node, default, _req(1, "eth_call", _is_active_call(node), "latest"))["result"].endswith("1")
    capped = _client(node, max_call_gas=22_000)
    starved = _rpc(node, capped, _req(2, "eth_call", _is_active_call(node, gas=hex(10**9)), "latest"))
    assert "result" not in starved
    rest = capped.post(
        "/v1/call", json=_is_active_call(node), auth=member_auth(capped, node.committee.signer)
    )
    assert rest.status_code == 400, rest.text


def test_eth_calls_of_one_batch_share_a_gas_budget(
    node: RunningNode, caplog: pytest.LogCaptureFixture
) -> None:
    gas = node.ledger.chain.tx_gas_limit
    client = _client(node, max_batch_call_gas=2 * gas)
    batch = [_req(i, "eth_call", _is_active_call(node), "latest") for i in range(3)]
    with caplog.at_level(logging.INFO, "xinlian.api"):
        answers = _rpc(node, client, batch)
    assert [("result" in a) for a in answers] == [True, True, False]
    assert "split the batch" in _limit_error(answers[2], "call_gas_budget")["message"]
    assert len(_refusals(caplog, "call_gas_budget")) == 1
    lean = [_req(i, "eth_call", _is_active_call(node, gas=hex(100_000)), "latest") for i in range(50)]
    assert all("result" in a for a in _rpc(node, client, lean))


# --- concurrency --------------------------------------------------------------------------------------
def test_heavy_requests_beyond_the_gate_are_refused_at_once_as_busy(
    node: RunningNode, caplog: pytest.LogCaptureFixture
) -> None:
    client = _client(node, max_heavy_requests=1)
    address = "0x" + node.ledger.governance_address.hex()
    gate = client.app.state.heavy  # type: ignore[attr-defined]
    auth = member_auth(client, node.committee.signer)
    with caplog.at_level(logging.INFO, "xinlian.api"), gate.slot("a slow request elsewhere"):
        started = time.monotonic()
        call = client.post("/v1/call", json=_is_active_call(node), auth=auth)
        logs = client.get("/v1/logs", auth=auth)
        proof = client.get("/v1/proofs/checkpoint")
        # the listings that walk every letter or grant of the chain (tags differ per record)
        listings = ("as-bank", "as-auditor", "overdue")
        walks = [client.get(f"/v1/confirmations/{path}", auth=auth) for path in listings]
        walks.append(client.get("/v1/authorisations/by-subject/0x" + "11" * 32, auth=auth))
        rpc = _rpc(node, client, [_req(1, "eth_getProof", address, []), _req(2, "eth_chainId")])
        assert time.monotonic() - started < 5  # refused, not queued
    for response in (call, logs, proof, *walks):
        assert response.status_code == 429 and response.json()["code"] == "busy", response.text
        assert response.headers["retry-after"] == "1"
    _limit_error(rpc[0], "busy")
    assert rpc[1]["result"] == hex(node.ledger.chain.chain_id)  # light methods are never gated
    assert len(_refusals(caplog, "busy")) == 4 + len(walks)
    assert client.post("/v1/call", json=_is_active_call(node), auth=auth).status_code == 200  # slot released


def test_requests_whose_body_never_arrives_hold_no_heavy_slot(node: RunningNode) -> None:
    # An outsider opens more connections than the node has heavy slots, each a gated listing with a
    # signature header and a body it never sends: the slot is taken only after the signature is checked.
    url = httpx.URL(node.url)
    head = (
        b"GET /v1/confirmations/as-bank HTTP/1.1\r\nHost: node\r\nX-Xinlian-Key: 00\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Length: 100\r\n\r\n"
    )
    stalled = [socket.create_connection((url.host, url.port)) for _ in range(MAX_HEAVY_REQUESTS + 2)]
    try:
        for connection in stalled:
            connection.sendall(head)
        auth = member_auth(node.url, node.committee.signer)
        time.sleep(1.0)  # for the server to read the stalled requests' headers and run their dependencies
        for path in ("/v1/logs", "/v1/confirmations/as-bank"):
            response = httpx.get(f"{node.url}{path}", auth=auth, timeout=10)
            assert response.status_code == 200, response.text
    finally:
        for connection in stalled:
            connection.close()


def test_an_address_that_keeps_failing_authentication_is_refused_before_any_signature_is_checked(
    node: RunningNode,
) -> None:
    app = create_app(
        node.ledger, metrics=Metrics(), limits=ApiLimits(auth_failure_burst=3, auth_failures_per_s=0.001)
    )
    attacker = TestClient(app, client=("203.0.113.7", 40000))
    neighbour = TestClient(app, client=("198.51.100.9", 40000))
    outsider, member = Signer.generate(), node.committee.signer
    for _ in range(3):  # an outsider's key: each one costs the node a signature check
        refused = attacker.get("/v1/logs", auth=member_auth(attacker, outsider))
        assert refused.json()["code"] == "not_a_member", refused.text
    # the address's failures are spent: refused before the signature is looked at, even a good one
    rest = attacker.get("/v1/logs", auth=member_auth(attacker, member))
    assert rest.status_code == 429 and rest.json()["code"] == "auth_throttled", rest.text
    rpc = post_signed_rpc(attacker, member, json.dumps(_req(1, "eth_blockNumber")).encode())
    assert rpc.status_code == 429 and rpc.json()["error"]["data"]["code"] == "auth_throttled", rpc.text
    assert attacker.get("/v1/proofs/checkpoint").status_code == 200  # public reads need no signature
    # requests without any signature are refused without a verification and spend nothing
    assert all(neighbour.get("/v1/logs").status_code == 401 for _ in range(5))
    assert neighbour.get("/v1/logs", auth=member_auth(neighbour, member)).status_code == 200


def test_an_address_whose_transactions_keep_failing_verification_is_refused_before_any_is_checked(
    node: RunningNode,
) -> None:
    app = create_app(
        node.ledger, metrics=Metrics(), limits=ApiLimits(auth_failure_burst=3, auth_failures_per_s=0.001)
    )
    attacker = TestClient(app, client=("203.0.113.8", 40000))
    neighbour = TestClient(app, client=("198.51.100.10", 40000))
    member = node.committee.signer

    def signed(forged: bool) -> str:
        tx = member.sign_transaction(
            chain_id=node.ledger.chain.chain_id,
            to=node.ledger.governance_address,
            data=GOV.encode_call("threshold"),
            gas_limit=100_000,
            expiry_height=node.ledger.height + 10,
        )
        if forged:  # a member's transaction with a signature it did not make: costs the node a check
            tx = dataclasses.replace(tx, signature=bytes(reversed(tx.signature)))
        return "0x" + tx.encode().hex()

    refused = attacker.post("/v1/transactions", json={"raw": signed(True)})
    assert refused.status_code == 400 and refused.json()["code"] == "bad_signature", refused.text
    batch = attacker.post(
        "/v1/transactions/batch", json={"raws": [signed(True), signed(True), signed(False)]}
    )
    results = batch.json()["results"]
    assert [r["status"] for r in results] == ["refused", "refused", "pending"], batch.text
    # three failures spent: the next submission is refused before its signature is looked at, even a good one
    for path, body in (
        ("/v1/transactions", {"raw": signed(False)}),
        ("/v1/transactions/batch", {"raws": [signed(False)]}),
    ):
        rest = attacker.post(path, json=body)
        assert rest.status_code == 429 and rest.json()["code"] == "auth_throttled", rest.text
    assert neighbour.post("/v1/transactions", json={"raw": signed(False)}).status_code == 202


def test_body_over_the_cap_logs_one_refusal(node: RunningNode, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, "xinlian.api"):
        response = httpx.post(f"{node.url}/v1/call", content=b"x" * (1024 * 1024 + 1))
    assert response.status_code == 413
    assert [r.getMessage() for r in _refusals(caplog, "body_too_large")] == [
        f"refused body_too_large path=/v1/call limit={1024 * 1024} size={1024 * 1024 + 1}"
    ]


# --- logs: windowed pages, indexed topics --------------------------------------------------------------
def test_rest_log_pages_scan_a_bounded_window_and_the_cursor_walks_the_whole_range(node: RunningNode) -> None:
    auth = member_auth(node.url, node.committee.signer)
    everything = httpx.get(f"{node.url}/v1/logs", params={"limit": 1000, "to_height": 40}, auth=auth).json()
    assert everything["next_cursor"] is None and everything["logs"]
    client = _client(node, max_log_block_range=4)
    client.auth = member_auth(client, node.committee.signer)
    walked: list[dict[str, Any]] = []
    pages = 0
    cursor = None
    while pages < 100:
        params: dict[str, Any] = {"limit": 1, "to_height": 40, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/logs", params=params).json()
        pages += 1
        walked += page["logs"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == everything["logs"]
    assert pages >= 41 // 4  # every window of 4 heights costs at least one page
    assert client.get("/v1/logs", params={"cursor": f"{2**64}.0.0"}).status_code == 422


def test_topic_filters_use_an_index_even_on_a_database_made_before_the_indexes(tmp_path: Path) -> None:
    from sqlalchemy.dialects import sqlite

    from node.storage.logs import log_statement

    path = tmp_path / "old.db"
    Store(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as db:
        for n in (1, 2, 3):
            db.execute(f"DROP INDEX ix_logs_topic{n}_prefix")
    store = Store(f"sqlite:///{path}")
    store.close()
    with sqlite3.connect(path) as db:
        for n in (1, 2, 3):
            # The store's own query for a filter on topic n alone.
            topics: list[bytes | None] = [None] * n + [b"\x01" * 32]
            compiled = log_statement({"topics": topics, "limit": 10}).compile(dialect=sqlite.dialect())
            parameters = [compiled.params[name] for name in compiled.positiontup or ()]
            plan = " ".join(str(row[-1]) for row in db.execute(f"EXPLAIN QUERY PLAN {compiled}", parameters))
            assert f"USING INDEX ix_logs_topic{n}_prefix" in plan, plan


def test_refused_transactions_are_summarised_in_the_log_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from node.api.limits import RefusalSummary

    summary = RefusalSummary(interval_s=3600)
    with caplog.at_level(logging.INFO, logger="xinlian.api"):
        for _ in range(500):
            summary.note("sender_quota", 429)
        summary.note("gas_too_low", 400)
    lines = [r.getMessage() for r in caplog.records if r.name == "xinlian.api"]
    assert lines == ["refused sender_quota status=429", "refused gas_too_low status=400"]
    summary.interval_s = 0.0
    with caplog.at_level(logging.INFO, logger="xinlian.api"):
        summary.note("sender_quota", 429)
    assert "refused sender_quota status=429 count=500" in caplog.records[-1].getMessage()
