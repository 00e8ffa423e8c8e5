"""Unit tests of the API's error mapping, body cap, hex parameters, JSON-RPC envelope and metrics."""

from __future__ import annotations

from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel

from node.api.convert import decode_revert_reason
from node.api.deps import parse_hex
from node.api.errors import BadRequest, NotFound, compute_status, install_error_handlers
from node.api.limits import BodySizeLimit
from node.api.metrics import Metrics
from node.api.rpc import RpcHandler
from sdk.errors import ExecutionError, InvalidTransaction, StorageError, XinlianError
from sdk.types import Block, BlockHeader


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidTransaction("x", code="bad_encoding"), 400),
        (InvalidTransaction("x", code="bad_signature"), 400),
        (InvalidTransaction("x", code="expired"), 400),
        (InvalidTransaction("x", code="unknown_sender"), 403),
        (InvalidTransaction("x", code="duplicate"), 409),
        (InvalidTransaction("x", code="oversize"), 413),
        (InvalidTransaction("x", code="mempool_full"), 503),
        (ExecutionError("x", code="execution_reverted"), 400),
        (BadRequest("x"), 422),
        (NotFound("x"), 404),
        (StorageError("x"), 503),
        (XinlianError("x", code="something_new"), 500),
    ],
)
def test_each_error_code_maps_to_its_status(error: XinlianError, status: int) -> None:
    assert compute_status(error) == status


class _Body(BaseModel):
    value: int


def _app(max_body_bytes: int = 1000) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_body_bytes=max_body_bytes)

    @app.get("/boom")
    def boom() -> dict[str, str]:
        raise RuntimeError("secret /etc/xinlian/key.pem")

    @app.get("/refused")
    def refused() -> dict[str, str]:
        raise InvalidTransaction("no", code="unknown_sender", sender=b"\x01" * 20)

    @app.post("/echo")
    def echo(body: _Body) -> dict[str, int]:
        return {"value": body.value}

    return app


def test_unexpected_exception_is_500_internal_without_details() -> None:
    response = TestClient(_app(), raise_server_exceptions=False).get("/boom")
    assert response.status_code == 500
    assert response.json() == {"code": "internal", "message": "internal error", "detail": {}}


def test_xinlian_error_keeps_code_and_hex_encodes_byte_details() -> None:
    response = TestClient(_app()).get("/refused")
    assert response.status_code == 403
    assert response.json() == {
        "code": "unknown_sender",
        "message": "no",
        "detail": {"sender": "0x" + "01" * 20},
    }


def test_validation_error_is_422_bad_request_in_the_same_shape() -> None:
    response = TestClient(_app()).post("/echo", json={"value": "not a number"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "bad_request" and body["detail"]["errors"][0]["loc"] == ["body", "value"]


def test_body_cap_refuses_declared_and_streamed_bodies() -> None:
    client = TestClient(_app(max_body_bytes=100))
    assert client.post("/echo", json={"value": 1}).json() == {"value": 1}
    declared = client.post("/echo", content=b"x" * 101, headers={"content-type": "application/json"})
    assert declared.status_code == 413 and declared.json()["code"] == "body_too_large"

    def chunks() -> Any:
        yield b'{"value": 1' + b" " * 60
        yield b" " * 60 + b"}"

    streamed = client.post("/echo", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413 and streamed.json()["code"] == "body_too_large"


@pytest.mark.parametrize(
    ("text", "size", "expected"),
    [("0x", None, b""), ("0xABcd", None, b"\xab\xcd"), ("abcd", 2, b"\xab\xcd")],
)
def test_parse_hex_accepts_prefixed_and_bare_hex(text: str, size: int | None, expected: bytes) -> None:
    assert parse_hex(text, name="v", size=size) == expected


@pytest.mark.parametrize("text", ["0x1", "0xzz", "0x" + "00" * 3, "0x" + "00" * 9])
def test_parse_hex_refuses_odd_non_hex_and_wrong_sizes(text: str) -> None:
    with pytest.raises(BadRequest):
        parse_hex(text, name="v", size=2, max_size=8)


def test_revert_reason_decodes_plain_text_and_error_string_payloads() -> None:
    from eth_abi.abi import encode

    assert decode_revert_reason(b"not a committee member") == "not a committee member"
    assert decode_revert_reason(bytes.fromhex("08c379a0") + encode(["string"], ["nope"])) == "nope"
    assert decode_revert_reason(b"\xff\xfe") is None
    assert decode_revert_reason(b"") is None


def test_json_rpc_envelope_errors_need_no_ledger() -> None:
    handler = RpcHandler(cast(Any, None))
    assert handler.handle_payload([])["error"]["code"] == -32600  # type: ignore[index,call-overload]
    assert handler.handle_payload(5)["error"]["code"] == -32600  # type: ignore[index,call-overload]
    assert handler.handle_payload({"jsonrpc": "2.0", "id": True, "method": "x"})["error"]["code"] == -32600  # type: ignore[index,call-overload]
    answer = handler.handle_payload({"jsonrpc": "2.0", "id": 7, "method": "eth_mine", "params": []})
    assert answer == {
        "jsonrpc": "2.0",
        "id": 7,
        "error": {"code": -32601, "message": "method 'eth_mine' is not supported"},
    }
    assert handler.handle_payload({"jsonrpc": "2.0", "method": "eth_mine"}) is None
    assert len(handler.handle_payload([{"jsonrpc": "2.0", "id": i, "method": "x"} for i in range(101)])) == 3  # type: ignore[arg-type]


def _block(height: int, txs: int) -> Any:
    header = BlockHeader(1, 1, height, b"\x00" * 32, 1_000 * height, 0, 0, *[b"\x00" * 32] * 6, 0)
    return cast(Block, type("B", (), {"header": header, "transactions": (None,) * txs})())


def test_metrics_count_commits_and_compute_the_recent_rate() -> None:
    now = [100.0]
    metrics = Metrics(clock_s=lambda: now[0])
    metrics.observe_commit(_block(1, 30), 0.25)
    metrics.observe_commit(_block(2, 20), None)
    assert metrics.compute_tx_per_second() == pytest.approx(5.0)
    now[0] += 60
    assert metrics.compute_tx_per_second() == 0.0
    samples = {
        s.name: s.value
        for family in text_string_to_metric_families(metrics.render().decode())
        for s in family.samples
    }
    assert samples["xinlian_height"] == 2
    assert samples["xinlian_committed_transactions_total"] == 50
    assert samples["xinlian_commit_latency_seconds_count"] == 1
    other = Metrics()
    assert other.registry is not metrics.registry
