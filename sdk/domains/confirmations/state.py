"""The read model of a letter: its on-chain record with the status derived at a time, and its events.

The record names its parties by per-letter tags (``sdk.domains.confirmations.parties``), never by USCC: a
party's USCC is in the letter documents the parties hold, and an organisation finds its own part with
``LetterState.parties_of``."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Final

from sdk.answers import from_node_hex
from sdk.contracts import LoggedEvent
from sdk.crypto import PublicKey
from sdk.domains.calendar import date_of_day
from sdk.domains.confirmations.items import mask_to_items
from sdk.domains.confirmations.parties import LetterParty, parties_of
from sdk.encoding import readable_repr, to_hex
from sdk.errors import ClientError, DomainError

if TYPE_CHECKING:
    pass


class LetterStatus(IntEnum):
    """Letter states as BankConfirmation.vy numbers them (OVERDUE and EXPIRED are derived)."""

    AWAITING_CLIENT_AUTH = 1
    SENT = 2
    ACCEPTED = 3
    REJECTED_NONCONFORMING = 4
    REPLIED = 5
    RECEIVED = 6
    RECALLED = 7
    OVERDUE = 8
    EXPIRED = 9


# --- on-chain state -------------------------------------------------------------------------------------
def validate_auditor_key(state: LetterState, key: PublicKey) -> None:
    """Return None when ``key`` is the key of the account ``state`` records as the letter's auditor.

    Raises DomainError ``auditor_key_mismatch`` otherwise: a reply sealed to any other key would let its
    holder read the bank's answer.
    """
    if key.address != state.auditor:
        raise DomainError(
            "the key is not the letter's auditor's (the account that created it)",
            code="auditor_key_mismatch",
            auditor=to_hex(state.auditor),
        )


@readable_repr
@dataclass(frozen=True, slots=True)
class LetterState:
    """A letter as BankConfirmation.vy records it, with the status derived at ``as_of``.

    ``auditor_tag``, ``client_tag`` and ``bank_tag`` are the letter's party tags (32 bytes each), not
    organisations: see ``parties_of``."""

    letter_id: bytes
    status: LetterStatus
    stored_status: LetterStatus
    as_of: int  # unix seconds the status was evaluated at
    auditor: bytes  # the account that created the letter
    auditor_tag: bytes
    client_tag: bytes
    bank_tag: bytes
    base_date: dt.date
    items: frozenset[int]
    letter_format: int
    request_hash: bytes
    created_at: int
    authorised_by: bytes | None
    authorised_at: int
    bank_account: bytes | None
    accepted_at: int
    due_date: dt.date | None
    deadline: int  # unix seconds at which the reply is overdue, 0 before acceptance
    reply_hash: bytes | None
    replied_at: int
    covered_items: frozenset[int]
    exception_items: frozenset[int]
    paper_supplement: bool
    replied_late: bool
    received_at: int
    closed_at: int
    # The due date lies beyond the last date whose official holiday notice is on chain: it counts weekdays
    # only there and moves if the notice entered later lists a holiday before it.
    due_date_provisional: bool = False

    @property
    def is_overdue(self) -> bool:
        return self.status == LetterStatus.OVERDUE

    @property
    def party_tags(self) -> dict[LetterParty, bytes]:
        """The letter's party tags by party."""
        return {
            LetterParty.AUDITOR: self.auditor_tag,
            LetterParty.BANK: self.bank_tag,
            LetterParty.CLIENT: self.client_tag,
        }

    def parties_of(self, uscc: str, *, chain_id: int, contract: bytes) -> frozenset[LetterParty]:
        """The parts organisation ``uscc`` plays in this letter of ``contract`` on chain ``chain_id`` (empty
        when none): its tags computed and compared with the letter's."""
        return parties_of(
            uscc, self.party_tags, chain_id=chain_id, contract=contract, letter_id=self.letter_id
        )

    def to_json(self) -> dict[str, Any]:
        """JSON form (hex bytes, ISO dates, status names)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, LetterStatus):
                out[f.name] = value.name
            elif isinstance(value, bytes):
                out[f.name] = to_hex(value)
            elif isinstance(value, dt.date):
                out[f.name] = value.isoformat()
            elif isinstance(value, frozenset):
                out[f.name] = sorted(value)
            else:
                out[f.name] = value
        return out


def letter_state_from_row(
    letter_id: bytes,
    row: Mapping[str, Any],
    *,
    status: int,
    due_day: int,
    deadline: int,
    as_of: int,
    covered_through: int | None = None,
) -> LetterState:
    """Build a LetterState from ``get_letter`` output plus ``status_at``/``due_day_of``/``deadline_of`` and
    the Calendar's ``covered_through`` (the due date is provisional beyond it; unknown: not flagged).

    Raises DomainError (``no_such_letter``) when the row is empty (status 0).
    """
    if not row["status"] or not status:
        raise DomainError("no such letter", code="no_such_letter", letter_id=to_hex(letter_id))
    zero = bytes(20)
    return LetterState(
        letter_id=letter_id,
        status=LetterStatus(status),
        stored_status=LetterStatus(row["status"]),
        as_of=as_of,
        auditor=row["auditor"],
        auditor_tag=bytes(row["auditor_tag"]),
        client_tag=bytes(row["client_tag"]),
        bank_tag=bytes(row["bank_tag"]),
        base_date=date_of_day(int(row["base_date"])),
        items=mask_to_items(int(row["items"])),
        letter_format=int(row["letter_format"]),
        request_hash=bytes(row["request_hash"]),
        created_at=int(row["created_at"]),
        authorised_by=row["authorised_by"] if row["authorised_by"] != zero else None,
        authorised_at=int(row["authorised_at"]),
        bank_account=row["bank_account"] if row["bank_account"] != zero else None,
        accepted_at=int(row["accepted_at"]),
        due_date=date_of_day(due_day) if due_day else None,
        deadline=deadline,
        reply_hash=bytes(row["reply_hash"]) if any(row["reply_hash"]) else None,
        replied_at=int(row["replied_at"]),
        covered_items=mask_to_items(int(row["covered_items"])),
        exception_items=mask_to_items(int(row["exception_items"])),
        paper_supplement=bool(row["paper_supplement"]),
        replied_late=bool(row["replied_late"]),
        received_at=int(row["received_at"]),
        closed_at=int(row["closed_at"]),
        due_date_provisional=bool(due_day and covered_through is not None and due_day > covered_through),
    )


def letter_state_from_json(data: Mapping[str, Any]) -> LetterState:
    """Parse the API's LetterPublic JSON into a LetterState; raises ClientError when malformed."""
    try:
        due = data.get("due_date")
        return LetterState(
            letter_id=from_node_hex(data["letter_id"]),
            status=LetterStatus[data["status"]],
            stored_status=LetterStatus[data["stored_status"]],
            as_of=int(data["as_of"]),
            auditor=from_node_hex(data["auditor"]),
            auditor_tag=_tag(data["auditor_tag"]),
            client_tag=_tag(data["client_tag"]),
            bank_tag=_tag(data["bank_tag"]),
            base_date=dt.date.fromisoformat(data["base_date"]),
            items=frozenset(int(i) for i in data["items"]),
            letter_format=int(data["letter_format"]),
            request_hash=from_node_hex(data["request_hash"]),
            created_at=int(data["created_at"]),
            authorised_by=from_node_hex(data["authorised_by"]) if data.get("authorised_by") else None,
            authorised_at=int(data["authorised_at"]),
            bank_account=from_node_hex(data["bank_account"]) if data.get("bank_account") else None,
            accepted_at=int(data["accepted_at"]),
            due_date=dt.date.fromisoformat(due) if due else None,
            deadline=int(data["deadline"]),
            reply_hash=from_node_hex(data["reply_hash"]) if data.get("reply_hash") else None,
            replied_at=int(data["replied_at"]),
            covered_items=frozenset(int(i) for i in data["covered_items"]),
            exception_items=frozenset(int(i) for i in data["exception_items"]),
            paper_supplement=bool(data["paper_supplement"]),
            replied_late=bool(data["replied_late"]),
            received_at=int(data["received_at"]),
            closed_at=int(data["closed_at"]),
            due_date_provisional=bool(data.get("due_date_provisional", False)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ClientError("the node's letter is malformed", code="bad_response") from exc


def _tag(value: Any) -> bytes:
    tag = from_node_hex(value)
    if len(tag) != 32:
        raise ValueError("a party tag is 32 bytes")
    return tag


#: The events of a letter's life (BankConfirmation.vy), each indexed by ``letter_id``.
LETTER_EVENTS: Final = (
    "LetterCreated",
    "LetterAuthorised",
    "LetterAccepted",
    "LetterRejected",
    "LetterReplied",
    "LetterReceived",
    "LetterRecalled",
)


# --- results ------------------------------------------------------------------------------------------------
@readable_repr
@dataclass(frozen=True, slots=True)
class LetterEvent(LoggedEvent):
    """One committed event of a letter and where it is."""
