"""The read model of LicenceRegistry.vy: licence types, records, statuses and the event history."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

from sdk.contracts import Contract, LoggedEvent
from sdk.encoding import readable_repr

if TYPE_CHECKING:
    from sdk.answers import LogEntry


class LicenceStatus(IntEnum):
    """Status codes of LicenceRegistry.status / status_at."""

    UNKNOWN = 0
    VALID = 1
    NOT_YET_VALID = 2
    EXPIRED = 3
    SUSPENDED = 4
    REVOKED = 5
    SUPERSEDED = 6


# --- typed results -----------------------------------------------------------------------------------------
@readable_repr
@dataclass(frozen=True, slots=True)
class LicenceType:
    type_id: bytes
    type_code: str
    name: str
    authority: bytes  # defining account
    authority_org: str  # its organisation (the USCC inside the type code)


@readable_repr
@dataclass(frozen=True, slots=True)
class LicenceRecord:
    """A licence as LicenceRegistry holds it, with its status at the time it was read."""

    id_hash: bytes
    type_id: bytes
    issuer: bytes
    issuer_org: str
    holder_commitment: bytes
    holder_key_hash: bytes  # 32 zero bytes: no holder key bound
    document_hash: bytes
    valid_from: int
    valid_until: int  # 0 = no end date
    jurisdiction: str
    status: LicenceStatus
    suspended_since: int
    ended_at: int
    previous: bytes  # 32 zero bytes: none
    next: bytes
    annotations: int
    uses: int


@readable_repr
@dataclass(frozen=True, slots=True)
class IssuedLicence:
    """A licence an issuer issued: its identifier (from the issuing transaction), where it was issued and its
    record now."""

    identifier: str
    issued_height: int
    tx_hash: bytes
    record: LicenceRecord


@readable_repr
@dataclass(frozen=True, slots=True)
class LicenceEvent(LoggedEvent):
    """One step of a licence's history (LicenceIssued, LicenceSuspended, …) and where it was committed."""


def decode_history(contract: Contract, logs: Iterable[LogEntry]) -> list[LicenceEvent]:
    """Decode LicenceRegistry log entries into events; entries that are not licence events are skipped."""
    events = (LicenceEvent.from_entry(contract, entry) for entry in logs)
    return [e for e in events if e is not None and e.name != "LicenceTypeDefined"]
