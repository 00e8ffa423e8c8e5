"""Fuzzing a real node over HTTP: schemathesis over its OpenAPI document, and hand-written hostile JSON-RPC
and raw-transaction inputs; no input may get a 5xx, an internal JSON-RPC error, or take the node down."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from node.api.rpc import RpcHandler
from sdk.encoding import encode_bytes, encode_list
from sdk.signer import Signer
from sdk.types import Transaction
from tests.integration.node_fixtures import RunningNode, start_node, stop_node
from tests.support import post_signed_rpc

INTERNAL_ERROR = -32603


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """A producing one-validator node (SQLite, py-evm) served by uvicorn on 127.0.0.1."""
    running = start_node(tmp_path_factory.mktemp("fuzz"))
    try:
        yield running
    finally:
        stop_node(running)


def _assert_error_shape(response: Any, where: str) -> None:
    body = response.json()
    assert set(body) == {"code", "message", "detail"}, (where, body)


# --- schemathesis over every operation ----------------------------------------------------------------
EXAMPLES_PER_OPERATION = 5  # per generation mode: ~50 operations x 2 modes stay well under a minute


def test_no_operation_answers_a_server_error(node: RunningNode) -> None:
    schema = schemathesis.openapi.from_url(f"{node.url}/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                derandomize=True,  # the same examples on every run
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
                phases=[Phase.explicit, Phase.generate],
            )
            def check(case: Any) -> None:
                response = case.call(base_url=node.url, timeout=30)
                where = (
                    f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
                )
                if response.status_code >= 500:
                    failures.append(where)
                elif response.status_code >= 400 and case.path != "/rpc":
                    body = response.json()
                    if set(body) != {"code", "message", "detail"}:
                        failures.append(f"not the error shape: {where}")

            try:
                check()
            except Unsatisfiable:  # nothing to make invalid (an operation without parameters or body)
                assert mode is GenerationMode.NEGATIVE
    assert operations >= 20
    assert not failures, "\n".join(failures[:20])


def test_the_node_is_healthy_after_the_fuzzing(node: RunningNode) -> None:
    assert httpx.get(f"{node.url}/health", timeout=10).status_code == 200


# --- hand-written hostile JSON-RPC --------------------------------------------------------------------
GIANT_HEX = "0x" + "ab" * 300_000
BAD_VALUES: list[Any] = [
    None,
    True,
    -1,
    2**256,
    -(2**70),
    1.5,
    "",
    "0x",
    "0x-1",
    "0xzz",
    "0X12",
    "0x" + "f" * 17,
    "0x" + "f" * 64,
    "0x" + "f" * 65,
    "pending",
    "earliest",
    [],
    {},
    [[["deep"]]],
    {"blockHash": "0x12"},
    {"blockHash": 5},
    {"blockNumber": -5},
    {"blockNumber": "0x" + "f" * 16},
    "信链",
]


def _param_shapes(value: Any) -> list[list[Any]]:
    address = "0x" + "11" * 20
    return [
        [value],
        [value, value, value],
        [address, value],
        [value, "latest"],
        [address, [value, "0x1"], value],
        [{"to": value, "data": value, "gas": value, "from": value}, value],
        [{"to": address, "data": "0x", "gas": value}],
        [{"fromBlock": value, "toBlock": value, "address": value, "topics": value}],
        [{"topics": [value, [value], None, value], "blockHash": value}],
        [{"address": [value] * 200, "topics": [[value] * 200]}],
    ]


def _hostile_requests() -> list[Any]:
    methods = [*RpcHandler(None).method_names, "eth_sendRawTransaction", "", "x" * 1_000]  # type: ignore[arg-type]
    requests: list[Any] = []
    ids = itertools.count()
    for method in methods:
        for value in BAD_VALUES:
            for params in _param_shapes(value):
                requests.append({"jsonrpc": "2.0", "id": next(ids), "method": method, "params": params})
    envelopes: list[Any] = [
        {"jsonrpc": "2.0", "id": {"an": "object"}, "method": "eth_chainId"},
        {"jsonrpc": "2.0", "id": 1.5, "method": "eth_chainId"},
        {"jsonrpc": "2.0", "id": [1], "method": "eth_chainId"},
        {"jsonrpc": 2, "id": 1, "method": "eth_chainId"},
        {"jsonrpc": "2.0", "id": 1, "method": 5},
        {"jsonrpc": "2.0", "id": 1, "method": None},
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": "0x1"},
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": 7},
        {"jsonrpc": "2.0", "method": "eth_call", "params": [{"to": "0x" + "11" * 20}]},  # notification
        {"id": 1},
        [],
        [[]],
        "eth_chainId",
        None,
    ]
    return requests + envelopes


def _post_rpc(client: httpx.Client, payload: bytes, signer: Signer) -> Any:
    response = post_signed_rpc(client, signer, payload)
    assert response.status_code in (200, 204), (payload[:200], response.status_code, response.text[:300])
    return response.json() if response.status_code == 200 else None


def _answers(answer: Any) -> list[dict[str, Any]]:
    return answer if isinstance(answer, list) else [answer] if answer is not None else []


def test_hostile_json_rpc_requests_get_json_rpc_errors_never_internal_ones(node: RunningNode) -> None:
    requests = _hostile_requests()
    member = node.committee.signer  # what an ordinary member can send: signed requests pass authentication
    with httpx.Client(base_url=node.url, timeout=60) as client:
        for start in range(0, len(requests), 100):
            batch = requests[start : start + 100]
            for answer in _answers(_post_rpc(client, json.dumps(batch).encode(), member)):
                assert "error" in answer or "result" in answer, answer
                assert answer.get("error", {}).get("code") != INTERNAL_ERROR, answer
        for request in requests[:: len(requests) // 50] + requests[-14:]:
            for answer in _answers(_post_rpc(client, json.dumps(request).encode(), member)):
                assert answer.get("error", {}).get("code") != INTERNAL_ERROR, answer
        giant = [
            {"jsonrpc": "2.0", "id": 1, "method": method, "params": [GIANT_HEX, "latest"]}
            for method in ("eth_getCode", "eth_getBalance", "eth_getBlockByHash", "eth_getProof")
        ]
        for request in giant:
            answer = _post_rpc(client, json.dumps(request).encode(), member)
            assert answer["error"]["code"] == -32602, answer
        raw_bodies = [b"[1e999]", b'{"jsonrpc":"2.0","id":NaN,"method":"eth_chainId"}', b"Infinity", b"\x00"]
        for body in raw_bodies:
            for answer in _answers(_post_rpc(client, body, member)):
                assert answer.get("error", {}).get("code") != INTERNAL_ERROR, answer
        assert client.get("/health").status_code == 200


# --- the binary transaction submission path -----------------------------------------------------------
def _nested_rlp(depth: int) -> bytes:
    encoded = encode_bytes(b"\x01" * 40)
    for _ in range(depth):
        encoded = encode_list([encoded])
    return encoded


def _hostile_transactions(valid: bytes) -> list[bytes]:
    bodies = [valid[:n] for n in range(0, len(valid), 7)] + [valid[:-1], valid + b"\x00"]
    bodies += [
        b"\xbf" + b"\xff" * 8,  # a string claiming 2^64 bytes
        b"\xff" + b"\xff" * 8 + b"\x80",  # a list claiming 2^64 bytes
        b"\xb9\xff\xff" + b"\x00" * 10,  # a string longer than the input
        b"\xf9\x00\x40" + b"\x80" * 64,  # non-canonical length with a leading zero
        b"\xf8\x01\x80",  # long form for a short list
        b"\xc1" * 100_000,  # every list claims one byte but holds a list
        _nested_rlp(17),
        _nested_rlp(50_000),
        encode_list([encode_bytes(b"\x00")] * 8),
        encode_list([encode_list([])] * 8),
        valid[:1] + b"\xff" * (len(valid) - 1),
    ]
    return bodies


def test_hostile_raw_transactions_are_refused_as_bad_encoding(node: RunningNode) -> None:
    valid = Transaction.create(
        node.committee.signer.private_key,
        chain_id=node.ledger.chain.chain_id,
        to=node.ledger.governance_address,
        data=b"\x01" * 64,
        gas_limit=100_000,
        expiry_height=node.ledger.height + 100,
    ).encode()
    with httpx.Client(base_url=node.url, timeout=60) as client:
        for body in _hostile_transactions(valid):
            for content_type, content in (
                ("application/octet-stream", body),
                ("application/json", json.dumps({"raw": "0x" + body.hex()}).encode()),
            ):
                response = client.post(
                    "/v1/transactions", content=content, headers={"content-type": content_type}
                )
                where = f"{content_type} {body[:16].hex()}… ({len(body)} B): {response.text[:200]}"
                assert response.status_code in (400, 413, 422), where
                _assert_error_shape(response, where)
        for wrong in ({"raw": 5}, {"raw": ["0x"]}, {"raw": None}, {"raw": "0x" + "0" * 999_000}, {}):
            response = client.post("/v1/transactions", json=wrong)
            assert response.status_code in (400, 413, 422), response.text[:200]
            _assert_error_shape(response, str(wrong)[:40])
        assert client.get("/health").status_code == 200
