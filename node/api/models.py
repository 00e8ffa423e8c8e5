"""Pydantic request and response shapes of the HTTP API (the only pydantic models in Xinlian)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Byte strings travel as 0x-prefixed lower-case hex; integers as JSON numbers.
HexStr = str


class Shape(BaseModel):
    """Every API shape refuses unknown fields."""

    model_config = ConfigDict(extra="forbid")


class ErrorPublic(Shape):
    code: str = Field(description="stable machine-readable error code")
    message: str
    detail: dict[str, Any] = Field(default_factory=dict)


#: A route's OpenAPI ``responses``: status (or "default") to what the status means.
Responses = dict[int | str, dict[str, Any]]

#: What a 429 means on a route that takes a heavy-request slot (node.api.deps.HeavyDep).
BUSY = "busy: too many heavy requests; retry later"


def error_responses(*statuses: int, busy: bool = False) -> Responses:
    """The OpenAPI ``responses`` of a route's error statuses, each answered with an ErrorPublic body;
    ``busy`` adds the 429 of the heavy-request gate."""
    responses: Responses = {status: {"model": ErrorPublic} for status in statuses}
    if busy:
        responses[429] = {"model": ErrorPublic, "description": BUSY}
    return responses


# --- transactions -------------------------------------------------------------------------------------
class TransactionCreate(Shape):
    raw: HexStr = Field(
        description="canonical encoding of a signed transaction, 0x-hex", max_length=2_100_000
    )


class TransactionAccepted(Shape):
    tx_hash: HexStr
    status: Literal["pending", "committed"] = "pending"


class TransactionBatchCreate(Shape):
    raws: list[HexStr] = Field(
        description="canonical encodings of signed transactions, 0x-hex, in the order to admit them",
        min_length=1,
        max_length=10_000,  # the node's max_submit_batch (500) is lower; this bounds parsing
    )


class BatchOutcome(Shape):
    """One transaction of a batch: accepted (``tx_hash`` and ``status`` as a single submission's 202) or
    refused (``error``, the error a single submission would have been answered, and its HTTP status)."""

    tx_hash: HexStr | None = None
    status: Literal["pending", "committed", "refused"]
    error: ErrorPublic | None = None
    http_status: int | None = Field(default=None, description="the refusal's status as a single submission")


class TransactionBatchAccepted(Shape):
    results: list[BatchOutcome] = Field(description="one per submitted transaction, in the same order")


class LogPublic(Shape):
    address: HexStr
    topics: list[HexStr]
    data: HexStr
    log_index: int


class ReceiptPublic(Shape):
    status: int = Field(description="1 success, 0 reverted")
    gas_used: int
    logs: list[LogPublic]
    revert_reason: str | None = Field(description="revert reason as text when it decodes as UTF-8")
    revert_data: HexStr = Field(description="raw revert reason bytes")


class TransactionFields(Shape):
    chain_id: int
    nonce: HexStr
    expiry_height: int
    to: HexStr
    data: HexStr
    gas_limit: int
    public_key: HexStr
    signature: HexStr
    sender: HexStr


class TransactionPublic(Shape):
    tx_hash: HexStr
    status: Literal["pending", "committed", "unknown"]
    height: int | None = None
    index: int | None = None
    block_hash: HexStr | None = None
    receipt: ReceiptPublic | None = None
    transaction: TransactionFields | None = None
    raw: HexStr | None = None


# --- blocks -------------------------------------------------------------------------------------------
class BlockHeaderPublic(Shape):
    version: int
    chain_id: int
    height: int
    parent_hash: HexStr
    timestamp_ms: int
    round: int
    proposer_index: int
    tx_root: HexStr
    receipt_root: HexStr
    state_root: HexStr
    history_root: HexStr
    validators_hash: HexStr
    next_validators_hash: HexStr
    gas_used: int


class BlockPublic(Shape):
    height: int
    block_hash: HexStr
    header: BlockHeaderPublic
    header_raw: HexStr = Field(description="canonical header encoding; SM3 of it is block_hash")
    transactions: list[HexStr] = Field(description="transaction hashes in block order")
    next_validators: list[HexStr] = Field(description="64-byte public keys of a validator handover, else []")


class SealPublic(Shape):
    validator_index: int
    signature: HexStr


class CertificatePublic(Shape):
    height: int
    round: int
    block_hash: HexStr
    seals: list[SealPublic]
    raw: HexStr = Field(description="canonical certificate encoding")
    header_raw: HexStr = Field(description="canonical encoding of the certified header")


# --- logs ---------------------------------------------------------------------------------------------
class LogEntryPublic(Shape):
    address: HexStr
    topics: list[HexStr]
    data: HexStr
    height: int
    tx_hash: HexStr
    tx_index: int
    log_index: int


class LogsPage(Shape):
    logs: list[LogEntryPublic]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last page")


# --- calls --------------------------------------------------------------------------------------------
class CallCreate(Shape):
    to: HexStr = Field(max_length=64)
    data: HexStr = Field(default="0x", max_length=2_100_000)
    sender: HexStr | None = Field(default=None, max_length=64)


class CallResult(Shape):
    result: HexStr


# --- chain --------------------------------------------------------------------------------------------
class ValidatorPublic(Shape):
    index: int
    public_key: HexStr
    address: HexStr


class ValidatorSetPublic(Shape):
    height: int = Field(description="the set is in force for the block after this height")
    validators: list[ValidatorPublic]


class HeadPublic(Shape):
    height: int
    block_hash: HexStr
    timestamp_ms: int
    state_root: HexStr


class ChainConfigPublic(Shape):
    chain_id: int
    block_period_ms: int
    round_timeout_ms: int
    max_round_timeout_ms: int
    max_tx_bytes: int
    tx_gas_limit: int
    block_gas_limit: int
    max_block_txs: int
    max_block_bytes: int
    expiry_window: int


class ChainPublic(Shape):
    chain_id: int
    protocol_version: int
    head: HeadPublic
    config: ChainConfigPublic
    governance_address: HexStr
    genesis_hash: HexStr | None = None
    audience: str = Field(
        default="", description="this node's name in member-signed requests (sdk.auth): sign for it"
    )


class ConsensusLivenessPublic(Shape):
    running: bool = Field(description="whether the consensus driver's thread is alive")
    height: int = Field(description="the height consensus works on (head + 1)")
    round: int = Field(description="the QBFT round of that height")
    decided_age_s: float = Field(description="seconds since the last decided or synced height")
    error: str | None = Field(default=None, description="why consensus stopped, when it did")
    signing_held_through: int | None = Field(
        default=None,
        description="while set, this validator signs nothing through this height: its database is behind "
        "what it signed before (a restored backup) and it follows the chain until its head passes it",
    )


class CalendarOutlookPublic(Shape):
    covered_through: str = Field(
        description="the last date (China time) whose official holiday notice is on chain"
    )
    days_left: int = Field(
        description="days from the head block's date to covered_through (negative after it)"
    )
    status: Literal["ok", "ending", "ended"] = Field(
        description="ending: 60 days or fewer left (propose the next year's notice); ended: deadlines "
        "computed now are provisional (weekday rule only) until the notice is entered"
    )


class HealthPublic(Shape):
    status: Literal["ok", "stale", "stalled", "down"] = Field(
        description="ok; stale (no consensus on this process, old head); stalled (nothing decided for a "
        "minute); down (consensus stopped). The HTTP status is 503 for stalled and down."
    )
    height: int
    head_age_s: float
    history_from: int = Field(
        default=0,
        description="the lowest height from which this node holds every block: 0 (the whole chain), or for "
        "a node that joined by snapshot how far its history back-fill has reached",
    )
    consensus: ConsensusLivenessPublic | None = None
    calendar: CalendarOutlookPublic | None = Field(
        default=None, description="how far the working-day calendar reaches; null on a chain without one"
    )


# --- governance reads ---------------------------------------------------------------------------------
class OrganisationPublic(Shape):
    uscc: str
    name: str
    active: bool
    registered: bool


class AccountPublic(Shape):
    address: HexStr
    uscc: str
    registered: bool
    active: bool = Field(description="the account's own flag")
    is_active: bool = Field(description="registered, active and its organisation active (may transact)")


class RolePublic(Shape):
    address: HexStr
    role: HexStr
    scope: HexStr
    has_role: bool = Field(description="active account holding the role for the scope or globally")
    granted: bool = Field(description="the raw grant for exactly this scope")


# --- JSON-RPC -----------------------------------------------------------------------------------------
class JsonRpcError(BaseModel):
    code: int
    message: str
    data: Any = None


class JsonRpcResponse(BaseModel):
    jsonrpc: Literal["2.0"] = "2.0"
    id: int | str | None = None
    result: Any = None
    error: JsonRpcError | None = None
