"""The one adapter between the API and the ledger's state: read-only calls and logs pinned to one head.

``LedgerReader`` is the node's side of the SDK's read models (it satisfies ``sdk.domains.drugs.DrugLedger``
and ``sdk.domains.authorisations.AuthorisationLedger``), so a route decodes contract results and logs with
the SDK's decoders instead of writing its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from node.api.convert import decode_revert_reason, to_hex
from node.api.limits import MAX_CALL_GAS
from node.execution import BlockContext
from node.ledger.backfill import require_history
from node.ledger.chain import Ledger
from node.storage import LogCursor
from sdk.answers import LogEntry
from sdk.contracts import Contract
from sdk.domains.drugs.model import LotPlace
from sdk.errors import ExecutionError
from sdk.types import BlockHeader

#: Logs fetched per storage query while a reader walks a history.
LOG_PAGE: int = 1000

_GOVERNANCE = Contract("Governance")
_GLOBAL_SCOPE = bytes(32)

Topics = Sequence[bytes | Sequence[bytes] | None]


def call_gas_allowance(ledger: Ledger, cap: int = MAX_CALL_GAS, requested: int | None = None) -> int:
    """Return the gas a read-only call gets: ``requested`` (default: the chain's transaction gas limit),
    at most ``cap`` (py-evm cannot be interrupted, so gas is what bounds a call's time)."""
    wanted = ledger.chain.tx_gas_limit if requested is None else requested
    return max(0, min(wanted, cap))


def call_or_raise(
    ledger: Ledger,
    to: bytes,
    data: bytes,
    sender: bytes,
    header: BlockHeader | None = None,
    *,
    gas: int | None = None,
) -> bytes:
    """Run a read-only call on the state after ``header`` (default: the head), seeing its number and time.

    Returns: the return data.
    Raises: ExecutionError with code ``execution_reverted`` and the reason text (``reason``) and bytes
    (``data``, hex) in its detail when the call reverts; other ExecutionErrors (unknown state root, bad
    address) unchanged. ``gas`` defaults to ``call_gas_allowance(ledger)``.
    """
    if header is None:
        header = ledger.head.header
    ctx = BlockContext(
        height=header.height,
        timestamp_ms=header.timestamp_ms,
        gas_limit=ledger.chain.block_gas_limit,
        proposer=bytes(20),
    )
    try:
        gas_limit = call_gas_allowance(ledger) if gas is None else gas
        return ledger.view(ledger.state_root_at(header), sender, to, data, gas_limit, ctx)
    except ExecutionError as exc:
        if exc.code != "reverted":
            raise
        reason = exc.detail.get("revert_reason")
        text = reason if isinstance(reason, str) else decode_revert_reason(_as_bytes(reason)) or ""
        raise ExecutionError(
            f"execution reverted: {text}" if text else "execution reverted",
            code="execution_reverted",
            reason=text,
            data=to_hex(text.encode("utf-8")),
            gas_used=exc.detail.get("gas_used"),
        ) from exc


def _as_bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else b""


class LedgerReader:
    """Calls and logs at one committed head, so a history and the state it is read with agree."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.header = ledger.head.header

    @property
    def governance_address(self) -> bytes:
        return self.ledger.governance_address

    @property
    def height(self) -> int:
        return self.header.height

    def call(self, to: bytes, data: bytes) -> bytes:
        """Run a read-only call (from the zero address) at this head; raises ExecutionError."""
        return call_or_raise(self.ledger, to, data, bytes(20), self.header)

    def read(self, contract: Contract, to: bytes, function: str, *args: object) -> Any:
        """Call ``function`` of ``contract`` at ``to`` and return its decoded output."""
        return contract.read(self.call, to, function, *args)

    def has_role(self, account: bytes, role: bytes, scope: bytes = _GLOBAL_SCOPE) -> bool:
        """Whether Governance grants ``account`` the ``role`` for ``scope`` (global by default)."""
        return bool(self.read(_GOVERNANCE, self.governance_address, "has_role", account, role, scope))

    def logs(
        self,
        address: bytes,
        topics: Topics,
        *,
        page: int = LOG_PAGE,
        from_height: int = 0,
        to_height: int | None = None,
    ) -> Iterator[LogEntry]:
        """Every committed log of ``address`` matching ``topics`` from ``from_height`` up to ``to_height``
        (at most this head), in chain order."""
        top = self.header.height if to_height is None else min(to_height, self.header.height)
        after: LogCursor | None = None
        while True:
            found, after = self.ledger.query_logs(
                address=address,
                topics=topics,
                from_height=from_height,
                to_height=top,
                limit=page,
                after=after,
            )
            for stored in found:
                yield LogEntry(
                    log=stored.log,
                    height=stored.height,
                    tx_hash=stored.tx_hash,
                    tx_index=stored.tx_index,
                    log_index=stored.log_index,
                )
            if after is None:
                return

    def first_log(self, address: bytes, topics: Topics) -> LogEntry | None:
        """The earliest committed log of ``address`` matching ``topics`` up to this head, or None."""
        return next(self.logs(address, topics, page=1), None)

    def lot_places(self, code_id: bytes) -> list[LotPlace]:
        """The committed DrugLots parts that hold a code up to this head, in part order (the lot index).

        Raises StorageError (``history_not_filled``) on a node that joined by snapshot and has not
        back-filled its history yet: the parts of the blocks it lacks are not indexed, so it cannot tell.
        """
        require_history(self.ledger.store, 1)  # a partly back-filled node may lack the first parts
        return [
            LotPlace(found.part, found.height, found.mah)
            for found in self.ledger.get_lot_codes(code_id)
            if found.height <= self.header.height
        ]

    def block_time_ms(self, height: int) -> int | None:
        header = self.ledger.get_header(height)
        return header.timestamp_ms if header is not None else None
