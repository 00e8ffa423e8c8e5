"""What the store returns: committed transactions, receipts and logs with their positions, log cursors and
consensus WAL entries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, NamedTuple

from sdk.errors import StorageError
from sdk.types import Log, Receipt, Transaction


class StoredTransaction(NamedTuple):
    """A committed transaction and where it is: ``(transaction, height, tx_index)``."""

    transaction: Transaction
    height: int
    tx_index: int


class LotCode(NamedTuple):
    """A lot part that holds a code commissioned by its part's root: DrugLots' ``part`` number, the code's
    ``leaf`` index in the part, and the ``height`` of the block that committed the part."""

    part: int
    leaf: int
    height: int
    mah: bytes  # the account that commissioned the part


class StoredReceipt(NamedTuple):
    """A committed receipt and where it is: ``(receipt, height, tx_index)``."""

    receipt: Receipt
    height: int
    tx_index: int


#: Sorts after every log position of a height: a cursor "after the whole block".
END_OF_BLOCK: Final = 2**31 - 1


class LogCursor(NamedTuple):
    """Position of a log in chain order; ``query_logs(after=cursor)`` resumes strictly after it."""

    height: int
    tx_index: int
    log_index: int

    def to_token(self) -> str:
        """Return the cursor as an opaque string for APIs (``"height.tx_index.log_index"``)."""
        return f"{self.height}.{self.tx_index}.{self.log_index}"

    @classmethod
    def after_block(cls, height: int) -> LogCursor:
        """The cursor after every log of block ``height``: resuming from it starts at ``height + 1``."""
        return cls(height, END_OF_BLOCK, END_OF_BLOCK)

    @property
    def is_after_block(self) -> bool:
        """Whether this cursor stands after the whole block ``height`` (see ``after_block``)."""
        return self.tx_index >= END_OF_BLOCK

    @classmethod
    def from_token(cls, token: str) -> LogCursor:
        """Parse a token made by ``to_token``; raises StorageError if it is malformed."""
        parts = token.split(".")
        if len(parts) != 3 or not all(part.isdigit() for part in parts):
            raise StorageError("malformed log cursor", code="invalid_log_query", cursor=token)
        return cls(int(parts[0]), int(parts[1]), int(parts[2]))


@dataclass(frozen=True, slots=True)
class StoredLog:
    """A committed log with its position and the hashes of its transaction and block."""

    height: int
    block_hash: bytes
    tx_hash: bytes
    tx_index: int
    log_index: int
    log: Log

    @property
    def cursor(self) -> LogCursor:
        return LogCursor(self.height, self.tx_index, self.log_index)


@dataclass(frozen=True, slots=True)
class WalEntry:
    """One consensus WAL record: what this validator signed at (height, round, step)."""

    height: int
    round: int
    step: str
    value: bytes
    encoded: bytes
