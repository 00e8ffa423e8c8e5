"""Ethereum JSON-RPC 2.0 subset over the ledger, so that web3.py can read blocks, logs, state and proofs.

Hashes of blocks and transactions are SM3 (32 bytes, the same shape as Keccak hashes). ``logIndex`` counts
within the block, as in Ethereum. Finality is immediate (BFT), so ``safe``/``finalized``/``pending`` all
mean the committed head.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from eth_utils.address import to_checksum_address

import sdk
from node.api.access import ReadScope
from node.api.auth import Member
from node.api.convert import to_hex
from node.api.errors import Forbidden
from node.api.limits import ApiLimits, HeavyGate, LimitExceeded, log_refusal, refuse
from node.api.reader import LedgerReader, call_gas_allowance, call_or_raise
from node.api.rpc_wire import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    LIMIT_EXCEEDED,
    METHOD_NOT_FOUND,
    SERVER_ERROR,
    RpcError,
    arg,
    encode_response,
    error_response,
    is_valid_id,
    limit_error,
    log_object,
    param_bytes,
    param_quantity,
    param_slot,
    refused_item,
    revert_error,
    to_quantity,
    transaction_object,
)
from node.ledger.chain import Ledger
from node.storage import LogCursor, StoredLog
from sdk.errors import AuthenticationError, ExecutionError, XinlianError
from sdk.types import Block, BlockHeader, Receipt, compute_validators_hash

log = logging.getLogger("xinlian.rpc")

CLIENT_VERSION: str = f"xinlian/{sdk.__version__}"
_ZERO_BLOOM = "0x" + "00" * 256
_EMPTY_UNCLES_HASH = "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347"
_ZERO32 = "0x" + "00" * 32
_VALIDATOR_WALK_LIMIT = 256
#: What anyone may ask without signing (docs/read-access.md): chain identity and head, block headers (not
#: their transactions' bodies), contract code. Everything else reads business data and needs a member.
PUBLIC_METHODS: frozenset[str] = frozenset(
    {
        "web3_clientVersion",
        "net_version",
        "net_listening",
        "eth_chainId",
        "eth_blockNumber",
        "eth_syncing",
        "eth_gasPrice",
        "eth_accounts",
        "eth_getBalance",
        "eth_getCode",
        "eth_getBlockByNumber",
        "eth_getBlockByHash",
    }
)
#: Public only without full transactions (the second parameter false).
_PUBLIC_HEADER_METHODS = frozenset({"eth_getBlockByNumber", "eth_getBlockByHash"})


def needs_member(request: Any) -> bool:
    """Whether one JSON-RPC request object reads what only a member may: a method outside
    ``PUBLIC_METHODS``, or a block with its full transactions. Malformed objects do not (they get their
    JSON-RPC error and no data)."""
    if not isinstance(request, dict) or not isinstance(request.get("method"), str):
        return False
    method: str = request["method"]
    if method not in PUBLIC_METHODS:
        return True
    params = request.get("params")
    return (
        method in _PUBLIC_HEADER_METHODS and isinstance(params, list) and len(params) > 1 and bool(params[1])
    )


# Methods that run the EVM, walk tries or scan logs: each holds a slot of the node's HeavyGate.
_HEAVY_METHODS = frozenset({"eth_call", "eth_getProof", "eth_getLogs"})
# eth_call gas still unreserved in the batch being answered (None: a single request).
_BATCH_CALL_GAS_LEFT: ContextVar[int | None] = ContextVar("batch_call_gas_left", default=None)
#: One eth_getLogs-style filter: contract addresses (None: any) and positional topics.
LogQuery = tuple[list[bytes] | None, list[list[bytes] | None]]


def parse_log_filter(query: dict[str, Any]) -> LogQuery:
    """The ``address`` and ``topics`` of an eth_getLogs / eth_subscribe("logs") filter object.

    Raises RpcError (INVALID_PARAMS) for malformed addresses, topics or more than four positions.
    """
    raw_address = query.get("address")
    addresses: list[bytes] | None = None
    if isinstance(raw_address, list):
        addresses = [param_bytes(a, "address", 20) for a in raw_address[:100]] or None
    elif raw_address is not None:
        addresses = [param_bytes(raw_address, "address", 20)]
    raw_topics = query.get("topics") or []
    if not isinstance(raw_topics, list) or len(raw_topics) > 4:
        raise RpcError(INVALID_PARAMS, "topics must be a list of at most four positions")
    topics: list[list[bytes] | None] = []
    for position in raw_topics:
        if position is None:
            topics.append(None)
        elif isinstance(position, list):
            topics.append([param_bytes(t, "topic", 32) for t in position[:100]] or None)
        else:
            topics.append([param_bytes(position, "topic", 32)])
    return addresses, topics


# What the member who signed the request being answered may read (None: anonymous).
_SCOPE: ContextVar[ReadScope | None] = ContextVar("rpc_read_scope", default=None)


class RpcHandler:
    """Dispatch JSON-RPC requests to read-only ledger queries. Blocking: call it from a worker thread."""

    def __init__(
        self, ledger: Ledger, *, limits: ApiLimits | None = None, gate: HeavyGate | None = None
    ) -> None:
        """Serve ``ledger`` within ``limits``; heavy methods take a slot of ``gate`` (None: unlimited)."""
        self.ledger = ledger
        self.limits = limits or ApiLimits()
        self.gate = gate
        self._sets_by_hash: dict[bytes, tuple[bytes, ...]] = {}
        self._methods: dict[str, Callable[[list[Any]], Any]] = {
            "web3_clientVersion": lambda _p: CLIENT_VERSION,
            "net_version": lambda _p: str(self.ledger.chain.chain_id),
            "net_listening": lambda _p: True,
            "eth_chainId": lambda _p: to_quantity(self.ledger.chain.chain_id),
            "eth_blockNumber": lambda _p: to_quantity(self.ledger.height),
            "eth_syncing": lambda _p: False,
            "eth_gasPrice": lambda _p: "0x0",
            "eth_accounts": lambda _p: [],
            "eth_getBalance": self.eth_get_balance,
            "eth_getBlockByNumber": self.eth_get_block_by_number,
            "eth_getBlockByHash": self.eth_get_block_by_hash,
            "eth_getTransactionByHash": self.eth_get_transaction_by_hash,
            "eth_getTransactionReceipt": self.eth_get_transaction_receipt,
            "eth_call": self.eth_call,
            "eth_getCode": self.eth_get_code,
            "eth_getLogs": self.eth_get_logs,
            "eth_getProof": self.eth_get_proof,
        }

    @property
    def method_names(self) -> list[str]:
        return sorted(self._methods)

    # --- envelope ------------------------------------------------------------------------------------
    def handle_payload(
        self, payload: Any, member: Member | None = None
    ) -> dict[str, Any] | list[dict[str, Any]] | None:
        """Answer a decoded JSON-RPC payload (one request or a batch) as objects (see ``answer``).

        Returns: the response object, a list of them, or None when nothing is to be sent (notifications).
        """
        encoded = self.answer(payload, member)
        if encoded is None:
            return None
        answered: dict[str, Any] | list[dict[str, Any]] = json.loads(encoded)
        return answered

    def answer(self, payload: Any, member: Member | None = None) -> bytes | None:
        """Answer a decoded JSON-RPC payload (one request or a batch) as encoded JSON, within the limits.

        ``member`` is who signed it (None: anonymous, then only PUBLIC_METHODS may be in it — the caller
        checks ``needs_member`` first); member reads are filtered by the read policy (node.api.access).

        A batch has at most ``max_rpc_batch`` requests and its eth_calls reserve at most
        ``max_batch_call_gas`` in all. The answer is kept under ``max_rpc_response_bytes``: the request
        whose result would cross it, and every later one (not run), get a -32005 error instead.
        Returns: the JSON bytes, or None when nothing is to be sent (only notifications).
        """
        token = _SCOPE.set(ReadScope(LedgerReader(self.ledger), member) if member is not None else None)
        try:
            return self._answer(payload)
        finally:
            _SCOPE.reset(token)

    def _scope(self) -> ReadScope:
        scope = _SCOPE.get()
        if scope is None:  # needs_member keeps anonymous requests away from member methods
            raise AuthenticationError("this method reads business data: sign the request as a member")
        return scope

    def _answer(self, payload: Any) -> bytes | None:
        if not isinstance(payload, list):
            response = self.handle_request(payload)
            if response is None:
                return None
            encoded = encode_response(response)
            if len(encoded) > self.limits.max_rpc_response_bytes:
                encoded = encode_response(
                    error_response(response.get("id"), self._response_too_large(len(encoded)))
                )
            return encoded
        if not payload:
            return encode_response(error_response(None, RpcError(INVALID_REQUEST, "empty batch")))
        if len(payload) > self.limits.max_rpc_batch:
            limit = self.limits.max_rpc_batch
            log_refusal("batch_too_large", size=len(payload), limit=limit)
            error = RpcError(
                LIMIT_EXCEEDED,
                f"batch of {len(payload)} requests is larger than {limit}: split it",
                {"code": "batch_too_large", "limit": limit},
            )
            return encode_response(error_response(None, error))
        token = _BATCH_CALL_GAS_LEFT.set(self.limits.max_batch_call_gas)
        try:
            parts: list[bytes] = []
            size = 1 + len(payload)  # the brackets and commas
            cut: RpcError | None = None
            for item in payload:
                response = refused_item(item, cut) if cut is not None else self.handle_request(item)
                if response is None:
                    continue
                encoded = encode_response(response)
                if cut is None and size + len(encoded) > self.limits.max_rpc_response_bytes:
                    cut = self._response_too_large(size + len(encoded))
                    encoded = encode_response(error_response(response.get("id"), cut))
                size += len(encoded)
                parts.append(encoded)
        finally:
            _BATCH_CALL_GAS_LEFT.reset(token)
        return b"[" + b",".join(parts) + b"]" if parts else None

    def _response_too_large(self, size: int) -> RpcError:
        limit = self.limits.max_rpc_response_bytes
        log_refusal("response_too_large", size=size, limit=limit)
        return RpcError(
            LIMIT_EXCEEDED,
            f"the answer would exceed {limit} bytes: ask for less per request "
            "(split the batch, fewer storage keys, a narrower block range)",
            {"code": "response_too_large", "limit": limit},
        )

    def handle_request(self, request: Any) -> dict[str, Any] | None:
        """Answer one JSON-RPC request object; None for a valid notification (no ``id``)."""
        if (
            not isinstance(request, dict)
            or request.get("jsonrpc") != "2.0"
            or not isinstance(request.get("method"), str)
        ):
            request_id = request.get("id") if isinstance(request, dict) else None
            if not is_valid_id(request_id):
                request_id = None
            return error_response(request_id, RpcError(INVALID_REQUEST, "invalid JSON-RPC 2.0 request"))
        is_notification = "id" not in request
        request_id = request.get("id")
        if not is_valid_id(request_id):
            return error_response(None, RpcError(INVALID_REQUEST, "id must be a string, number or null"))
        params = request.get("params", [])
        if isinstance(params, dict):
            return error_response(request_id, RpcError(INVALID_PARAMS, "params must be a list"))
        if not isinstance(params, list):
            return error_response(request_id, RpcError(INVALID_PARAMS, "params must be a list"))
        try:
            result = self.dispatch(request["method"], params)
        except RpcError as exc:
            response = error_response(request_id, exc)
        else:
            response = {"jsonrpc": "2.0", "id": request_id, "result": result}
        return None if is_notification else response

    def dispatch(self, method: str, params: list[Any]) -> Any:
        """Run one method; raises RpcError (XinlianErrors and unexpected failures are converted)."""
        handler = self._methods.get(method)
        if handler is None:
            raise RpcError(METHOD_NOT_FOUND, f"method {method[:64]!r} is not supported")
        try:
            if method in _HEAVY_METHODS and self.gate is not None:
                with self.gate.slot(f"rpc {method}"):
                    return handler(params)
            return handler(params)
        except RpcError:
            raise
        except LimitExceeded as exc:
            raise limit_error(exc) from exc
        except ExecutionError as exc:
            raise revert_error(exc) from exc
        except XinlianError as exc:
            raise RpcError(SERVER_ERROR, exc.message, {"code": exc.code}) from exc
        except Exception as exc:
            log.error("JSON-RPC %s failed", method, exc_info=exc)
            raise RpcError(INTERNAL_ERROR, "internal error") from exc

    # --- parameters ----------------------------------------------------------------------------------
    def _header_at(self, tag: Any) -> BlockHeader:
        height = self._height_of(tag)
        header = self.ledger.get_header(height)
        if header is None:
            raise RpcError(SERVER_ERROR, f"block {height} not found")
        return header

    def _height_of(self, tag: Any) -> int:
        head = self.ledger.height
        if tag is None or tag in ("latest", "pending", "safe", "finalized"):
            return head
        if tag == "earliest":
            return 0
        if isinstance(tag, dict):
            if "blockHash" in tag:
                wanted = param_bytes(tag["blockHash"], "blockHash", 32)
                height = self.ledger.get_height_by_hash(wanted)
                if height is None:
                    raise RpcError(SERVER_ERROR, "block not found")
                return height
            if "blockNumber" in tag:
                return self._height_of(tag["blockNumber"])
        number = param_quantity(tag, "block")
        if number > head:
            raise RpcError(SERVER_ERROR, f"block {number} is beyond the head {head}")
        return number

    # --- methods -------------------------------------------------------------------------------------
    def eth_get_balance(self, params: list[Any]) -> str:
        param_bytes(arg(params, 0, "address"), "address", 20)
        return "0x0"  # no balances: gas price is 0 and nothing carries value

    def eth_get_block_by_number(self, params: list[Any]) -> dict[str, Any] | None:
        tag = arg(params, 0, "block")
        full = bool(arg(params, 1, "full_transactions", False))
        height = self._height_of_or_none(tag)
        if height is None:
            return None
        block = self.ledger.get_block(height)
        return self._block_object(block, full) if block is not None else None

    def _height_of_or_none(self, tag: Any) -> int | None:
        try:
            return self._height_of(tag)
        except RpcError as exc:
            if exc.code == SERVER_ERROR:  # a future or unknown block is null, not an error
                return None
            raise

    def eth_get_block_by_hash(self, params: list[Any]) -> dict[str, Any] | None:
        wanted = param_bytes(arg(params, 0, "hash"), "hash", 32)
        full = bool(arg(params, 1, "full_transactions", False))
        block = self.ledger.get_block_by_hash(wanted)
        return self._block_object(block, full) if block is not None else None

    def eth_get_transaction_by_hash(self, params: list[Any]) -> dict[str, Any] | None:
        wanted = param_bytes(arg(params, 0, "hash"), "hash", 32)
        stored = self.ledger.get_transaction(wanted)
        if stored is None:
            return None
        receipt = self.ledger.get_receipt(wanted)
        self._scope().check_transaction(wanted, list(receipt.receipt.logs) if receipt is not None else [])
        header = self.ledger.get_header(stored.height)
        block_hash = header.block_hash if header is not None else bytes(32)
        return transaction_object(stored.transaction, stored.height, block_hash, stored.tx_index)

    def eth_get_transaction_receipt(self, params: list[Any]) -> dict[str, Any] | None:
        wanted = param_bytes(arg(params, 0, "hash"), "hash", 32)
        stored = self.ledger.get_transaction(wanted)
        if stored is None:
            return None
        tx, height, index = stored
        header = self.ledger.get_header(height)
        receipts = self.ledger.get_block_receipts(height) or []
        if header is None or index >= len(receipts):
            return None
        receipt = receipts[index]
        self._scope().check_transaction(wanted, list(receipt.logs))
        first_log = sum(len(r.logs) for r in receipts[:index])
        return {
            "transactionHash": to_hex(wanted),
            "transactionIndex": to_quantity(index),
            "blockHash": to_hex(header.block_hash),
            "blockNumber": to_quantity(height),
            "from": to_checksum_address(tx.sender),
            "to": to_checksum_address(tx.to),
            "cumulativeGasUsed": to_quantity(sum(r.gas_used for r in receipts[: index + 1])),
            "gasUsed": to_quantity(receipt.gas_used),
            "effectiveGasPrice": "0x0",
            "contractAddress": None,
            "logs": [
                log_object(entry, height, header.block_hash, wanted, index, first_log + i)
                for i, entry in enumerate(receipt.logs)
            ],
            "logsBloom": _ZERO_BLOOM,
            "status": to_quantity(receipt.status),
            "type": "0x0",
            "revertReason": to_hex(receipt.revert_reason) if receipt.revert_reason else None,
        }

    def eth_call(self, params: list[Any]) -> str:
        call = arg(params, 0, "transaction")
        if not isinstance(call, dict):
            raise RpcError(INVALID_PARAMS, "the call object must be a JSON object")
        to = param_bytes(call.get("to"), "to", 20)
        data = param_bytes(call.get("data", call.get("input", "0x")) or "0x", "data")
        sender = param_bytes(call["from"], "from", 20) if call.get("from") else bytes(20)
        requested = param_quantity(call["gas"], "gas") if call.get("gas") is not None else None
        header = self._header_at(arg(params, 1, "block", "latest"))
        self._scope().check_call(to, data, sender)
        gas = call_gas_allowance(self.ledger, self.limits.max_call_gas, requested)
        left = _BATCH_CALL_GAS_LEFT.get()
        if left is not None:
            if gas > left:
                raise refuse(
                    "call_gas_budget",
                    f"the eth_calls of one batch may reserve {self.limits.max_batch_call_gas} gas in all and "
                    f"{left} is left, this call needs {gas}: split the batch or pass a lower gas",
                    gas=gas,
                    left=left,
                    limit=self.limits.max_batch_call_gas,
                )
            _BATCH_CALL_GAS_LEFT.set(left - gas)
        return to_hex(call_or_raise(self.ledger, to, data, sender, header, gas=gas))

    def eth_get_code(self, params: list[Any]) -> str:
        address = param_bytes(arg(params, 0, "address"), "address", 20)
        header = self._header_at(arg(params, 1, "block", "latest"))
        return to_hex(self.ledger.get_code(self.ledger.state_root_at(header), address))

    def eth_get_proof(self, params: list[Any]) -> dict[str, Any]:
        address = param_bytes(arg(params, 0, "address"), "address", 20)
        keys = arg(params, 1, "storageKeys", [])
        if not isinstance(keys, list):
            raise RpcError(INVALID_PARAMS, "storageKeys must be a list of 0x-hex slots")
        limit = self.limits.max_proof_storage_keys
        if len(keys) > limit:
            raise refuse(
                "too_many_keys",
                f"eth_getProof takes at most {limit} storage keys per call, not {len(keys)}: split the keys",
                keys=len(keys),
                limit=limit,
            )
        slots = [param_slot(k) for k in keys]
        self._scope().check_state(address, len(slots))
        header = self._header_at(arg(params, 2, "block", "latest"))
        proof = self.ledger.get_proof(self.ledger.state_root_at(header), address, slots)
        return {
            "address": to_checksum_address(address),
            "accountProof": [to_hex(node) for node in proof.account_proof],
            "balance": to_quantity(proof.balance),
            "codeHash": to_hex(proof.code_hash),
            "nonce": to_quantity(proof.nonce),
            "storageHash": to_hex(proof.storage_hash),
            "storageProof": [
                {
                    "key": to_quantity(sp.key),
                    "value": to_quantity(sp.value),
                    "proof": [to_hex(node) for node in sp.proof],
                }
                for sp in proof.storage_proof
            ],
        }

    def eth_get_logs(self, params: list[Any]) -> list[dict[str, Any]]:
        query = arg(params, 0, "filter")
        if not isinstance(query, dict):
            raise RpcError(INVALID_PARAMS, "the filter must be a JSON object")
        if query.get("blockHash") is not None:
            wanted = param_bytes(query["blockHash"], "blockHash", 32)
            height = self.ledger.get_height_by_hash(wanted)
            if height is None:
                raise RpcError(SERVER_ERROR, "block not found")
            from_height = to_height = height
        else:
            from_height = self._clamped_height(query.get("fromBlock", "latest"))
            to_height = self._clamped_height(query.get("toBlock", "latest"))
        if from_height > to_height:
            return []
        blocks = to_height - from_height + 1
        if blocks > self.limits.max_log_block_range:
            raise refuse(
                "range_too_large",
                f"eth_getLogs over blocks {from_height}..{to_height} spans {blocks} blocks, more than "
                f"{self.limits.max_log_block_range}: narrow fromBlock/toBlock and query in pieces",
                blocks=blocks,
                limit=self.limits.max_log_block_range,
            )
        addresses, topics = parse_log_filter(query)
        found, more = self.ledger.query_logs(
            address=addresses,
            topics=topics,
            from_height=from_height,
            to_height=to_height,
            limit=self.limits.max_log_results,
        )
        if more is not None:
            raise refuse(
                "too_many_results",
                f"eth_getLogs matched more than {self.limits.max_log_results} logs in blocks "
                f"{from_height}..{to_height}: narrow the block range or filter by address and topics",
                limit=self.limits.max_log_results,
            )
        return self._readable_log_objects(found, self._scope())

    def _readable_log_objects(self, found: list[StoredLog], scope: ReadScope) -> list[dict[str, Any]]:
        """The JSON-RPC log objects of the logs ``scope`` may read, with block-wide log indexes."""
        offsets = self._block_log_offsets(found)
        return [
            log_object(
                entry.log,
                entry.height,
                entry.block_hash,
                entry.tx_hash,
                entry.tx_index,
                offsets[(entry.height, entry.tx_index)] + entry.log_index,
            )
            for entry in found
            if scope.may_read_log(entry.log, entry.tx_hash)
        ]

    # --- subscriptions (eth_subscribe over the WebSocket at /rpc) ---------------------------------------
    def logs_after(
        self, member: Member, log_filter: LogQuery, after: LogCursor, head: int, page: int
    ) -> tuple[list[dict[str, Any]], LogCursor]:
        """One page of the logs matching ``log_filter`` strictly after ``after`` up to ``head`` that
        ``member`` may read, as log objects, and where the next page starts (after ``head``'s last log
        when this page reached it)."""
        addresses, topics = log_filter
        found, more = self.ledger.query_logs(
            address=addresses, topics=topics, from_height=0, to_height=head, limit=page, after=after
        )
        objects = self._readable_log_objects(found, ReadScope(LedgerReader(self.ledger), member))
        return objects, (more if more is not None else LogCursor.after_block(head))

    def head_objects(self, first: int, last: int) -> list[dict[str, Any]]:
        """The block headers ``first`` to ``last`` as JSON-RPC block objects without transactions (public)."""
        objects = []
        for height in range(first, last + 1):
            block = self.ledger.get_block(height)
            if block is not None:
                objects.append(self._block_object(block, False))
        return objects

    def _clamped_height(self, tag: Any) -> int:
        if isinstance(tag, str) and tag.startswith("0x"):
            return min(param_quantity(tag, "block"), self.ledger.height)
        return self._height_of(tag)

    def _block_log_offsets(self, found: list[StoredLog]) -> dict[tuple[int, int], int]:
        """Map (height, tx_index) to the count of logs in earlier transactions of that block."""
        offsets: dict[tuple[int, int], int] = {}
        receipts_by_height: dict[int, list[Receipt]] = {}
        for entry in found:
            key = (entry.height, entry.tx_index)
            if key in offsets:
                continue
            if entry.tx_index == 0:
                offsets[key] = 0
                continue
            if entry.height not in receipts_by_height:
                receipts_by_height[entry.height] = self.ledger.get_block_receipts(entry.height) or []
            receipts = receipts_by_height[entry.height]
            offsets[key] = sum(len(r.logs) for r in receipts[: entry.tx_index])
        return offsets

    # --- objects -------------------------------------------------------------------------------------
    def _block_object(self, block: Block, full: bool) -> dict[str, Any]:
        header = block.header
        block_hash = header.block_hash
        if full:
            self._check_block_readable(block)
            transactions: list[Any] = [
                transaction_object(tx, header.height, block_hash, i)
                for i, tx in enumerate(block.transactions)
            ]
        else:
            transactions = [to_hex(tx.tx_hash) for tx in block.transactions]
        return {
            "number": to_quantity(header.height),
            "hash": to_hex(block_hash),
            "parentHash": to_hex(header.parent_hash),
            "nonce": "0x0000000000000000",
            "mixHash": _ZERO32,
            "sha3Uncles": _EMPTY_UNCLES_HASH,
            "logsBloom": _ZERO_BLOOM,
            "transactionsRoot": to_hex(header.tx_root),
            "stateRoot": to_hex(header.state_root),
            "receiptsRoot": to_hex(header.receipt_root),
            "miner": to_checksum_address(self._proposer_address(header)),
            "difficulty": "0x0",
            "totalDifficulty": "0x0",
            "extraData": to_hex(header.history_root),
            "size": to_quantity(len(block.encode())),
            "gasLimit": to_quantity(self.ledger.chain.block_gas_limit),
            "gasUsed": to_quantity(header.gas_used),
            "baseFeePerGas": "0x0",
            "timestamp": to_quantity(header.timestamp_ms // 1000),
            "transactions": transactions,
            "uncles": [],
        }

    def _check_block_readable(self, block: Block) -> None:
        """Full transactions are answered only when the member may read every one of them (never a block
        with some bodies left out); raises Forbidden otherwise."""
        scope = self._scope()
        receipts = self.ledger.get_block_receipts(block.header.height) or []
        for i, tx in enumerate(block.transactions):
            logs = list(receipts[i].logs) if i < len(receipts) else []
            if not scope.may_read_transaction(tx.tx_hash, logs):
                raise Forbidden(
                    "this block holds transactions the member may not read: ask for it without full "
                    "transactions, then for the transactions the member is party to",
                    height=block.header.height,
                )

    def _proposer_address(self, header: BlockHeader) -> bytes:
        validators = self._validators_for(header)
        if validators and 0 <= header.proposer_index < len(validators):
            from sdk.crypto import address_from_public_key

            return address_from_public_key(validators[header.proposer_index])
        return bytes(20)

    def _validators_for(self, header: BlockHeader) -> tuple[bytes, ...]:
        """The set in force at ``header`` (found by its validators_hash; cached per set)."""
        known = self._sets_by_hash.get(header.validators_hash)
        if known is not None:
            return known
        current = self.ledger.head.validators
        candidates = [current]
        for h in range(header.height - 1, max(-1, header.height - 1 - _VALIDATOR_WALK_LIMIT), -1):
            block = self.ledger.get_block(h)
            if block is not None and block.next_validators:
                candidates.append(tuple(block.next_validators))
                break
        for validators in candidates:
            if compute_validators_hash(validators) == header.validators_hash:
                if len(self._sets_by_hash) < 64:
                    self._sets_by_hash[header.validators_hash] = validators
                return validators
        return ()
