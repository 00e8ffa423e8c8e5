"""The JSON-RPC wire of the node: error codes and objects, parameter parsing, and the Ethereum-shaped
result objects (transactions, logs, reverts) the handler returns."""

from __future__ import annotations

import json
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address

from node.api.convert import to_hex
from node.api.limits import LimitExceeded, json_too_deep
from sdk.errors import ExecutionError
from sdk.types import Log, Transaction

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000
LIMIT_EXCEEDED = -32005
UNAUTHENTICATED = -32001  # the request needs (or carries a bad) member signature; ``data.code`` says which
EXECUTION_REVERTED = 3  # geth's code for a reverted eth_call, with the revert data in ``data``
_ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")


class RpcError(Exception):
    """A JSON-RPC error object: ``code``, ``message`` and optional ``data``."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            out["data"] = self.data
        return out


def to_quantity(value: int) -> str:
    return hex(value)


def error_response(request_id: Any, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_dict()}


def encode_response(response: dict[str, Any]) -> bytes:
    # As Starlette's JSONResponse renders it.
    return json.dumps(response, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def parse_rpc_json(data: bytes, max_depth: int, what: str) -> Any:
    """The JSON of a request body or WebSocket message (``what`` names which, for the error), for POST /rpc
    and the WebSocket alike.

    The nesting is checked before parsing, because the json module recurses per level in C. Raises RpcError
    PARSE_ERROR: with data.code ``too_deep`` when ``data`` nests deeper than ``max_depth``, without data
    when it is not JSON.
    """
    if json_too_deep(data, max_depth):
        raise RpcError(
            PARSE_ERROR,
            f"parse error: JSON nesting is deeper than {max_depth} levels (or its brackets do not balance)",
            {"code": "too_deep", "limit": max_depth},
        )
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise RpcError(PARSE_ERROR, f"parse error: the {what} is not JSON") from None


def limit_error(exc: LimitExceeded) -> RpcError:
    data: dict[str, Any] = {"code": exc.code}
    data.update({k: v for k, v in exc.detail.items() if isinstance(v, str | int | float | bool)})
    return RpcError(LIMIT_EXCEEDED, exc.message, data)


def refused_item(item: Any, error: RpcError) -> dict[str, Any] | None:
    """The answer to a batch item that is not run: ``error`` with its id (None for a notification)."""
    if isinstance(item, dict) and "id" not in item:
        return None
    request_id = item.get("id") if isinstance(item, dict) else None
    return error_response(request_id if is_valid_id(request_id) else None, error)


def is_valid_id(value: Any) -> bool:
    return value is None or (isinstance(value, str | int) and not isinstance(value, bool))


def arg(params: list[Any], index: int, name: str, default: Any = ...) -> Any:
    if index < len(params):
        return params[index]
    if default is ...:
        raise RpcError(INVALID_PARAMS, f"missing parameter {index}: {name}")
    return default


def param_bytes(value: Any, name: str, size: int | None = None) -> bytes:
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        raise RpcError(INVALID_PARAMS, f"{name} must be a 0x-prefixed hex string")
    text = value[2:]
    if len(text) > 2 * 1024 * 1024:
        raise RpcError(INVALID_PARAMS, f"{name} is too long")
    try:
        data = bytes.fromhex(text)
    except ValueError as exc:
        raise RpcError(INVALID_PARAMS, f"{name} is not valid hex") from exc
    if size is not None and len(data) != size:
        raise RpcError(INVALID_PARAMS, f"{name} must be {size} bytes")
    return data


def param_quantity(value: Any, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.startswith("0x") and 2 < len(value) <= 18:
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise RpcError(INVALID_PARAMS, f"{name} must be a hex quantity or a block tag")


def param_slot(value: Any) -> int:
    if isinstance(value, str) and value.startswith("0x") and 2 < len(value) <= 66:
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise RpcError(INVALID_PARAMS, "storage keys must be 0x-hex of at most 32 bytes")


def transaction_object(tx: Transaction, height: int, block_hash: bytes, index: int) -> dict[str, Any]:
    return {
        "hash": to_hex(tx.tx_hash),
        "blockHash": to_hex(block_hash),
        "blockNumber": to_quantity(height),
        "transactionIndex": to_quantity(index),
        "from": to_checksum_address(tx.sender),
        "to": to_checksum_address(tx.to),
        "input": to_hex(tx.data),
        "gas": to_quantity(tx.gas_limit),
        "gasPrice": "0x0",
        "value": "0x0",
        "nonce": to_quantity(int.from_bytes(tx.nonce, "big")),
        "chainId": to_quantity(tx.chain_id),
        "type": "0x0",
        "v": "0x0",
        "r": to_hex(tx.signature[:32]),
        "s": to_hex(tx.signature[32:]),
    }


def log_object(
    entry: Log, height: int, block_hash: bytes, tx_hash: bytes, tx_index: int, log_index: int
) -> dict[str, Any]:
    return {
        "address": to_checksum_address(entry.address),
        "topics": [to_hex(t) for t in entry.topics],
        "data": to_hex(entry.data),
        "blockNumber": to_quantity(height),
        "blockHash": to_hex(block_hash),
        "transactionHash": to_hex(tx_hash),
        "transactionIndex": to_quantity(tx_index),
        "logIndex": to_quantity(log_index),
        "removed": False,
    }


def revert_error(exc: ExecutionError) -> RpcError:
    """geth-style revert: code 3, message with the reason, ``data`` = ABI ``Error(string)`` payload."""
    reason = exc.detail.get("reason")
    data = exc.detail.get("data")
    raw = b""
    if isinstance(data, str) and data.startswith("0x"):
        try:
            raw = bytes.fromhex(data[2:])
        except ValueError:
            raw = b""
    text = reason if isinstance(reason, str) else exc.message
    if not raw.startswith(_ERROR_STRING_SELECTOR):
        raw = _ERROR_STRING_SELECTOR + abi_encode(["string"], [text])
    return RpcError(EXECUTION_REVERTED, f"execution reverted: {text}", to_hex(raw))
