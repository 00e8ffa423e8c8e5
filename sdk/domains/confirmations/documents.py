"""The plaintext documents of a letter: the auditor's request and the bank's reply, in canonical JSON."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from sdk.domains.confirmations.items import (
    ALL_ITEMS,
    ConfirmationItem,
    check_rows,
    check_text,
    items_to_mask,
    rows_from_json,
    rows_to_json,
)
from sdk.encoding import to_hex
from sdk.errors import DomainError, EncodingError
from sdk.identifiers import parse_uscc

if TYPE_CHECKING:
    pass

_REQUEST_FORMAT: Final = "xinlian-confirmation-request/1"


_REPLY_FORMAT: Final = "xinlian-confirmation-reply/1"


@contextmanager
def _decoding(data: Mapping[str, Any], expected_format: str, kind: str) -> Iterator[None]:
    """Check a document's format, and turn a missing or malformed field into EncodingError without echoing
    the (confidential) contents."""
    if data.get("format") != expected_format:
        raise EncodingError(f"not a confirmation {kind} document", code="bad_document")
    try:
        yield
    except (KeyError, TypeError, ValueError) as exc:
        raise EncodingError(
            f"{kind} document does not decode: {type(exc).__name__} (contents not echoed)",
            code="bad_document",
        ) from exc


# --- documents ------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, repr=False)  # confidential letter contents: no repr
class LetterRequest:
    """What an audit firm asks a bank to confirm. ``rows`` (格式一) are the auditor's figures per item;
    for 格式二 the bank fills them and ``rows`` is usually empty. ``items`` defaults to all 14 (the standard
    letter lists every item; items without business are answered 无)."""

    client_org: str
    bank_org: str
    base_date: dt.date
    letter_format: int = 1
    rows: Mapping[int, Sequence[ConfirmationItem]] = field(default_factory=dict)
    items: frozenset[int] = ALL_ITEMS
    client_name: str = ""
    notes: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "client_org", parse_uscc(self.client_org).code)
        object.__setattr__(self, "bank_org", parse_uscc(self.bank_org).code)
        object.__setattr__(self, "rows", {int(k): tuple(v) for k, v in self.rows.items()})
        object.__setattr__(self, "items", frozenset(self.items))
        if self.letter_format not in (1, 2):
            raise DomainError("letter_format is 1 (格式一) or 2 (格式二)", code="invalid_letter")
        if not isinstance(self.base_date, dt.date) or isinstance(self.base_date, dt.datetime):
            raise DomainError("base_date must be one date (函证基准日)", code="invalid_letter")
        if not self.items:
            raise DomainError("a letter asks about at least one item", code="invalid_letter")
        items_to_mask(self.items)
        if self.client_org == self.bank_org:
            raise DomainError("the bank cannot be the audited company", code="invalid_letter")
        check_rows(self.rows, self.items)
        check_text("LetterRequest", "client_name", self.client_name, required=False)
        if len(self.notes) > 2000:
            raise DomainError("notes are longer than 2000 characters", code="invalid_letter")

    def to_json(self, letter_id: bytes) -> dict[str, Any]:
        return {
            "format": _REQUEST_FORMAT,
            "letter_id": to_hex(letter_id),
            "client_org": self.client_org,
            "client_name": self.client_name,
            "bank_org": self.bank_org,
            "base_date": self.base_date.isoformat(),
            "letter_format": self.letter_format,
            "items": sorted(self.items),
            "rows": rows_to_json(self.rows),
            "notes": self.notes,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LetterRequest:
        """Return the request from its document JSON; raises EncodingError or DomainError."""
        with _decoding(data, _REQUEST_FORMAT, "request"):
            return cls(
                client_org=str(data["client_org"]),
                bank_org=str(data["bank_org"]),
                base_date=dt.date.fromisoformat(str(data["base_date"])),
                letter_format=int(data["letter_format"]),
                rows=rows_from_json(data["rows"]),
                items=frozenset(int(i) for i in data["items"]),
                client_name=str(data.get("client_name", "")),
                notes=str(data.get("notes", "")),
            )


@dataclass(frozen=True, slots=True, repr=False)  # confidential letter contents: no repr
class ItemReply:
    """The bank's answer to one item: ``match`` (相符) or ``exception`` (不符, with the bank's figures)."""

    outcome: str
    rows: tuple[ConfirmationItem, ...] = ()
    note: str = ""

    def __post_init__(self) -> None:
        if self.outcome not in ("match", "exception"):
            raise DomainError("an item's outcome is 'match' or 'exception'", code="invalid_reply")
        check_text("ItemReply", "note", self.note, required=False)


@dataclass(frozen=True, slots=True, repr=False)  # confidential letter contents: no repr
class LetterReply:
    """A bank's reply: one ItemReply per item it covers digitally. Requested items 1–13 not covered need a
    paper supplement."""

    answers: Mapping[int, ItemReply]
    completeness_statement: str = "除上述列示的项目外,本行并无其他相关事项。"
    bank_reference: str = ""

    def __post_init__(self) -> None:
        items_to_mask(self.answers)
        for item, answer in self.answers.items():
            check_rows({item: answer.rows}, ALL_ITEMS)

    @property
    def covered_items(self) -> frozenset[int]:
        return frozenset(self.answers)

    @property
    def exception_items(self) -> frozenset[int]:
        return frozenset(i for i, a in self.answers.items() if a.outcome == "exception")

    def to_json(self, letter_id: bytes) -> dict[str, Any]:
        return {
            "format": _REPLY_FORMAT,
            "letter_id": to_hex(letter_id),
            "answers": {
                str(i): {
                    "outcome": a.outcome,
                    "rows": [r.to_json() for r in a.rows],
                    "note": a.note,
                }
                for i, a in sorted(self.answers.items())
            },
            "completeness_statement": self.completeness_statement,
            "bank_reference": self.bank_reference,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LetterReply:
        """Return the reply from its document JSON; raises EncodingError or DomainError."""
        with _decoding(data, _REPLY_FORMAT, "reply"):
            answers: dict[int, ItemReply] = {}
            for key, raw in dict(data["answers"]).items():
                rows = rows_from_json({key: raw["rows"]}).get(int(key), ())
                answers[int(key)] = ItemReply(outcome=str(raw["outcome"]), rows=rows, note=str(raw["note"]))
            return cls(
                answers=answers,
                completeness_statement=str(data["completeness_statement"]),
                bank_reference=str(data.get("bank_reference", "")),
            )


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
