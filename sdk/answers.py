"""A node's answers as typed results (chain info, blocks, receipts, transaction status, logs), decoded and
checked from its JSON, and its error bodies mapped onto the one error tree."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import httpx

from sdk.encoding import from_hex, readable_repr, to_hex
from sdk.errors import (
    AccessDenied,
    AuthenticationError,
    ClientError,
    EncodingError,
    ExecutionError,
    IdentifierError,
    InvalidSignatureError,
    InvalidTransaction,
    StorageError,
    TransactionExpired,
    XinlianError,
)
from sdk.types import BlockHeader, Log, Transaction

if TYPE_CHECKING:
    pass

#: Query parameters in order, repeats allowed (as httpx takes them).
QueryItems = list[tuple[str, str | int | float | bool | None]]


def log_filter_params(
    address: bytes | Sequence[bytes] | None, topics: Sequence[bytes | Sequence[bytes] | None]
) -> QueryItems:
    """The query parameters of a log filter (``/v1/logs`` and ``/v1/events``): ``address`` (one contract or
    any of several) and positional ``topics`` (None = any, a list = any of them), as eth_getLogs."""
    addresses = [address] if isinstance(address, bytes) else list(address or [])
    params: QueryItems = [("address", to_hex(a)) for a in addresses]
    for position, wanted in enumerate(topics):
        if wanted is None:
            continue
        values = [wanted] if isinstance(wanted, bytes) else list(wanted)
        params += [(f"topic{position}", to_hex(t)) for t in values]
    return params


_ADMISSION_CODES = frozenset(
    {
        "invalid_transaction",
        "oversize",
        "wrong_chain",
        "gas_limit",
        "expiry_too_far",
        "duplicate",
        "bad_signature",
        "unknown_sender",
        "mempool_full",
    }
)


_CODE_CLASSES: dict[str, type[XinlianError]] = {
    **dict.fromkeys(_ADMISSION_CODES, InvalidTransaction),
    "expired": TransactionExpired,
    "execution_reverted": ExecutionError,
    "execution_error": ExecutionError,
    "reverted": ExecutionError,
    "unknown_state_root": ExecutionError,
    "bad_encoding": EncodingError,
    "invalid_identifier": IdentifierError,
    "invalid_signature": InvalidSignatureError,
    "storage_error": StorageError,
    **dict.fromkeys(
        (
            "unauthenticated",
            "wrong_audience",
            "stale_request",
            "replayed_request",
            "signer_busy",
            "session_expired",
            "insecure_transport",
        ),
        AuthenticationError,
    ),
    "not_a_member": AccessDenied,
    "forbidden": AccessDenied,
}


# --- results ------------------------------------------------------------------------------------------
@readable_repr
@dataclass(frozen=True, slots=True)
class ChainInfo:
    """What ``/v1/chain`` says: chain id, head and the chain parameters."""

    chain_id: int
    protocol_version: int
    height: int
    head_hash: bytes
    head_timestamp_ms: int
    state_root: bytes
    governance_address: bytes
    genesis_hash: bytes | None
    expiry_window: int
    tx_gas_limit: int
    max_tx_bytes: int
    block_period_ms: int
    config: dict[str, int] = field(default_factory=dict)
    audience: str = ""  # the node's name in member-signed requests (sdk.auth)


@readable_repr
@dataclass(frozen=True, slots=True)
class BlockInfo:
    """A block as served by a node; ``header`` is decoded from its canonical encoding and hash-checked."""

    header: BlockHeader
    block_hash: bytes
    transactions: tuple[bytes, ...]  # transaction hashes in block order
    next_validators: tuple[bytes, ...]

    @property
    def height(self) -> int:
        return self.header.height


@readable_repr
@dataclass(frozen=True, slots=True)
class ReceiptResult:
    """The outcome of a committed transaction."""

    tx_hash: bytes
    status: int  # 1 success, 0 reverted
    gas_used: int
    logs: tuple[Log, ...]
    revert_reason: str | None
    revert_data: bytes
    height: int
    index: int
    block_hash: bytes

    @property
    def succeeded(self) -> bool:
        return self.status == 1

    def raise_for_status(self) -> ReceiptResult:
        """Return self if the transaction succeeded; else raise ExecutionError (``execution_reverted``)."""
        if self.status != 1:
            raise ExecutionError(
                f"transaction reverted: {self.revert_reason or '(no reason)'}",
                code="execution_reverted",
                reason=self.revert_reason,
                tx_hash=to_hex(self.tx_hash),
                height=self.height,
            )
        return self


@readable_repr
@dataclass(frozen=True, slots=True)
class TransactionStatus:
    """``pending``, ``committed`` (with receipt and transaction) or ``unknown`` to the node."""

    tx_hash: bytes
    status: Literal["pending", "committed", "unknown"]
    receipt: ReceiptResult | None = None
    transaction: Transaction | None = None


@readable_repr
@dataclass(frozen=True, slots=True)
class LogEntry:
    """A committed log and where it is."""

    log: Log
    height: int
    tx_hash: bytes
    tx_index: int
    log_index: int

    @property
    def address(self) -> bytes:
        return self.log.address

    @property
    def topics(self) -> tuple[bytes, ...]:
        return self.log.topics

    @property
    def data(self) -> bytes:
        return self.log.data


# --- decoding answers ---------------------------------------------------------------------------------
def from_node_hex(value: object) -> bytes:
    """Return the bytes of a hex field of the node's answer; raises ClientError (bad_response) if not hex."""
    return from_hex(value, "a hex field of the node's answer", error=ClientError, code="bad_response")


def log_entry_from_json(entry: dict[str, Any]) -> LogEntry:
    """A node's LogEntryPublic JSON (from /v1/logs or an event stream) as a LogEntry; raises ClientError
    (``bad_response``) for a malformed one."""
    try:
        return LogEntry(
            log=Log(
                address=from_node_hex(entry["address"]),
                topics=tuple(from_node_hex(t) for t in entry["topics"]),
                data=from_node_hex(entry["data"]),
            ),
            height=int(entry["height"]),
            tx_hash=from_node_hex(entry["tx_hash"]),
            tx_index=int(entry["tx_index"]),
            log_index=int(entry["log_index"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ClientError("the node sent a malformed log entry", code="bad_response") from exc


def error_from_response(response: httpx.Response, default_error: type[XinlianError]) -> XinlianError:
    """The typed error a node's error response stands for (``ClientError`` when it is not one)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    return error_from_body(body, response.status_code, default_error, where=response.request.url.path)


def error_from_body(
    body: Any, http_status: int, default_error: type[XinlianError], *, where: str
) -> XinlianError:
    """The typed error of an error body ``{code, message, detail}`` answered with ``http_status``."""
    try:
        code = str(body["code"])
        message = str(body.get("message", code))
        detail = body.get("detail") or {}
        if not isinstance(detail, dict):
            detail = {"detail": detail}
    except (KeyError, TypeError, AttributeError):
        return ClientError(f"HTTP {http_status} from {where}", code="http_error", http_status=http_status)
    cls = _CODE_CLASSES.get(code)
    if cls is None:
        cls = default_error if http_status < 500 and default_error is not ClientError else ClientError
    if default_error is InvalidTransaction and code == "bad_encoding":
        cls = InvalidTransaction
    detail = {str(k): v for k, v in detail.items() if k not in ("code", "message", "http_status")}
    return cls(message, code=code, http_status=http_status, **detail)


def block_info_from_json(body: Any) -> BlockInfo:
    try:
        header = BlockHeader.decode(from_node_hex(body["header_raw"]))
        claimed = from_node_hex(body["block_hash"])
        transactions = tuple(from_node_hex(h) for h in body["transactions"])
        next_validators = tuple(from_node_hex(v) for v in body["next_validators"])
    except (KeyError, TypeError) as exc:
        raise ClientError("the node's block is malformed", code="bad_response") from exc
    except EncodingError as exc:
        raise ClientError(
            f"the node's block header does not decode: {exc.message}", code="bad_response"
        ) from exc
    if header.block_hash != claimed:
        raise ClientError("the node's block hash does not match its header", code="bad_response")
    return BlockInfo(
        header=header, block_hash=claimed, transactions=transactions, next_validators=next_validators
    )


def receipt_from_json(body: Any, tx_hash: bytes) -> ReceiptResult:
    receipt = body["receipt"]
    return ReceiptResult(
        tx_hash=tx_hash,
        status=int(receipt["status"]),
        gas_used=int(receipt["gas_used"]),
        logs=tuple(
            Log(
                address=from_node_hex(x["address"]),
                topics=tuple(from_node_hex(t) for t in x["topics"]),
                data=from_node_hex(x["data"]),
            )
            for x in receipt["logs"]
        ),
        revert_reason=receipt.get("revert_reason"),
        revert_data=from_node_hex(receipt.get("revert_data") or "0x"),
        height=int(body["height"]),
        index=int(body["index"]),
        block_hash=from_node_hex(body["block_hash"]),
    )


def status_from_json(body: Any) -> TransactionStatus:
    try:
        tx_hash = from_node_hex(body["tx_hash"])
        status = body["status"]
        if status not in ("pending", "committed", "unknown"):
            raise ValueError(status)
        receipt = receipt_from_json(body, tx_hash) if status == "committed" and body.get("receipt") else None
        tx = Transaction.decode(from_node_hex(body["raw"])) if body.get("raw") else None
    except (KeyError, TypeError, ValueError) as exc:
        raise ClientError("the node's transaction status is malformed", code="bad_response") from exc
    except EncodingError as exc:
        raise ClientError("the node's transaction does not decode", code="bad_response") from exc
    if tx is not None and tx.tx_hash != tx_hash:
        raise ClientError("the node's transaction does not match the hash asked for", code="bad_response")
    return TransactionStatus(tx_hash=tx_hash, status=status, receipt=receipt, transaction=tx)
