"""Consensus write-ahead log: what this validator signed, recorded before the signed message leaves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from node.consensus.messages import MessageKind
from sdk.errors import ConsensusError


@dataclass(frozen=True, slots=True)
class WalRecord:
    """One signed step.

    ``digest`` identifies the signed value: the block hash for PROPOSAL, PREPARE and COMMIT, and SM3 of the
    prepared metadata for ROUND_CHANGE. ``payload`` is what a restart needs to repeat the step with the same
    value: the encoded PROPOSAL or ROUND-CHANGE message, or the encoded prepared certificate for COMMIT.
    """

    height: int
    round: int
    step: MessageKind  # the signing step: the kind of message signed (the SQL WAL stores its name)
    digest: bytes
    payload: bytes = b""


class EquivocationRefused(ConsensusError):
    """A second, different value for a (height, round, step) this validator already signed."""

    code = "equivocation_refused"

    @classmethod
    def for_record(cls, record: WalRecord) -> EquivocationRefused:
        """The refusal of ``record``, whose (height, round, step) already holds another signed value: the
        same error from every WAL backend."""
        return cls(
            "refusing to sign a second value for one (height, round, step)",
            height=record.height,
            round=record.round,
            step=record.step.name,
        )


class ConsensusWal(Protocol):
    """Durable log of signed steps; the storage engineer backs it with SQL, tests use InMemoryWal."""

    def append(self, record: WalRecord) -> None:
        """Persist ``record`` durably before returning.

        Raises EquivocationRefused when a record for the same (height, round, step) holds another digest,
        StorageError when the record cannot be made durable.
        """
        ...

    def get_records(self, height: int) -> tuple[WalRecord, ...]:
        """Return the records of ``height`` in the order they were appended."""
        ...

    def prune_below(self, height: int) -> None:
        """Forget records of heights below ``height`` (their blocks are committed and stored)."""
        ...


class InMemoryWal:
    """ConsensusWal in a list: survives a simulated crash when the simulator keeps the object."""

    def __init__(self) -> None:
        self._records: list[WalRecord] = []
        self._index: dict[tuple[int, int, MessageKind], bytes] = {}

    def append(self, record: WalRecord) -> None:
        """Append ``record``; raises EquivocationRefused for a different digest at a signed step."""
        key = (record.height, record.round, record.step)
        existing = self._index.get(key)
        if existing is not None and existing != record.digest:
            raise EquivocationRefused.for_record(record)
        self._index[key] = record.digest
        self._records.append(record)

    def get_records(self, height: int) -> tuple[WalRecord, ...]:
        """Return the records of ``height`` in append order."""
        return tuple(r for r in self._records if r.height == height)

    def prune_below(self, height: int) -> None:
        """Drop the records of heights below ``height``."""
        self._records = [r for r in self._records if r.height >= height]
        self._index = {k: v for k, v in self._index.items() if k[0] >= height}

    def __len__(self) -> int:
        return len(self._records)
