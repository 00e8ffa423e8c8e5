"""Bank confirmation letters: member-signed reads of letters by audit firm, bank, client, and overdue ones.

Letters name their parties by per-letter tags (sdk/domains/confirmations/parties.py), so no topic filter can
find "the letters of organisation X": the /as-<role> listings walk the LetterCreated logs and compare each
letter's tag with the one computed for the member's organisation; the node's TagIndex remembers what it
found, so each block is walked once per organisation and role. The listings hold a HeavyGate slot.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Annotated, Any, Final, NamedTuple

from fastapi import APIRouter, Query
from pydantic import Field

from node.api.access import ReadScope, is_finance_regulator, is_letter_reader
from node.api.auth import MemberDep
from node.api.deps import HeavyDep, LedgerDep, LetterIndexDep, parse_hash
from node.api.errors import BadRequest, Forbidden, NotFound
from node.api.models import Shape, error_responses
from node.api.reader import LedgerReader
from node.api.tag_index import TagIndex
from node.genesis import BANK_CONFIRMATION_ADDRESS, CALENDAR_ADDRESS
from sdk.contracts import Contract
from sdk.domains.confirmations import (
    LetterParty,
    LetterState,
    LetterStatus,
    letter_state_from_row,
    party_tag,
)
from sdk.errors import DomainError

router = APIRouter(prefix="/v1/confirmations", tags=["confirmations"])

_CONFIRMATION = Contract("BankConfirmation")
_CALENDAR = Contract("Calendar")
_CREATED_TOPIC = _CONFIRMATION.event_topic("LetterCreated")
_RESPONSES = error_responses(401, 403, 404, 422)
MAX_LETTERS: int = 1000
#: LetterCreated logs fetched per storage query while a listing walks them (each carries its sealed request,
#: up to 64 KiB, so a page is at most a few MiB).
SCAN_PAGE: Final = 100

AsOfParam = Annotated[
    int | None,
    Query(ge=0, le=2**63 - 1, description="unix seconds to evaluate OVERDUE/EXPIRED at; default head"),
]
StatusParam = Annotated[str | None, Query(max_length=32, description="only letters in this status (name)")]
LimitParam = Annotated[int, Query(ge=1, le=MAX_LETTERS)]
CursorParam = Annotated[
    str | None, Query(max_length=100, description="next_cursor of the previous page, passed unchanged")
]


class LetterPublic(Shape):
    letter_id: str
    status: str = Field(description="status at as_of (OVERDUE and EXPIRED are derived)")
    stored_status: str
    as_of: int
    auditor: str = Field(description="the account that created the letter")
    auditor_tag: str = Field(description="party tag of the audit firm (per letter; never a USCC or its hash)")
    client_tag: str = Field(description="party tag of the audited company")
    bank_tag: str = Field(description="party tag of the bank")
    base_date: str
    items: list[int]
    letter_format: int
    request_hash: str
    created_at: int
    authorised_by: str | None
    authorised_at: int
    bank_account: str | None
    accepted_at: int
    due_date: str | None = Field(description="10th working day after the bank's receipt (China time)")
    deadline: int = Field(
        description="unix seconds at which an unanswered letter is overdue; 0 before acceptance"
    )
    due_date_provisional: bool = Field(
        description="the due date lies beyond the last date whose official holiday notice is on chain: it "
        "counts weekdays only there and moves if that notice lists a holiday before it"
    )
    reply_hash: str | None
    replied_at: int
    covered_items: list[int]
    exception_items: list[int]
    paper_supplement: bool
    replied_late: bool
    received_at: int
    closed_at: int


class LettersPage(Shape):
    as_of: int
    count: int
    truncated: bool = Field(description="more letters matched than the limit: follow next_cursor")
    next_cursor: str | None = Field(
        default=None,
        description="pass as ?cursor= for the next page (same as_of); null on the last page",
    )
    letters: list[LetterPublic]


class LetterCursor(NamedTuple):
    """Where the next page of a listing starts: the first letter not returned yet (created at ``height``),
    and the time the whole listing is evaluated at, so every page agrees on OVERDUE and EXPIRED."""

    as_of: int
    height: int
    letter_id: bytes

    def to_token(self) -> str:
        return f"{self.as_of}.{self.height}.{self.letter_id.hex()}"

    @classmethod
    def from_token(cls, token: str) -> LetterCursor:
        """Parse ``to_token``'s output; raises BadRequest (field ``cursor``) for anything else."""
        parts = token.split(".")
        if (
            len(parts) != 3
            or not parts[0].isdigit()
            or not parts[1].isdigit()
            or re.fullmatch(r"[0-9a-f]{64}", parts[2]) is None
        ):
            raise BadRequest("cursor is malformed; pass next_cursor unchanged", field="cursor")
        return cls(int(parts[0]), int(parts[1]), bytes.fromhex(parts[2]))


# --- reading the contract --------------------------------------------------------------------------------
def covered_through(reader: LedgerReader) -> int:
    """The last day whose official holiday notice is on chain, at the reader's head."""
    return int(reader.read(_CALENDAR, CALENDAR_ADDRESS, "covered_through"))


def get_letter_state(
    reader: LedgerReader, letter_id: bytes, as_of: int, covered: int | None = None
) -> LetterState | None:
    """Return a letter at the reader's head with its status as of ``as_of``, or None when unknown.
    ``covered`` is the calendar's ``covered_through`` when the caller read it already (a listing)."""

    def view(function: str, *args: Any) -> Any:
        return reader.read(_CONFIRMATION, BANK_CONFIRMATION_ADDRESS, function, *args)

    row = view("get_letter", letter_id)
    if not row["status"]:
        return None
    return letter_state_from_row(
        letter_id,
        row,
        status=int(view("status_at", letter_id, as_of)),
        due_day=int(view("due_day_of", letter_id)),
        deadline=int(view("deadline_of", letter_id)),
        as_of=as_of,
        covered_through=covered if covered is not None else covered_through(reader),
    )


def _tag_topics() -> dict[LetterParty, int]:
    """The LetterCreated topic position of each party's tag, from the ABI."""
    inputs = _CONFIRMATION.get_event("LetterCreated").get("inputs", [])
    indexed = [str(p["name"]) for p in inputs if p.get("indexed")]
    return {party: 1 + indexed.index(f"{party.name.lower()}_tag") for party in LetterParty}


_TAG_TOPIC: Final = _tag_topics()


def _created(reader: LedgerReader, from_height: int = 0) -> Iterator[tuple[int, bytes, tuple[bytes, ...]]]:
    """(height, letter id, topics) of every LetterCreated event from ``from_height``, in creation order,
    walked lazily."""
    for entry in reader.logs(
        BANK_CONFIRMATION_ADDRESS, [_CREATED_TOPIC], page=SCAN_PAGE, from_height=from_height
    ):
        # letter_id: the first static data word
        yield entry.height, bytes(entry.log.data[:32]), tuple(entry.log.topics)


#: A letter as the listings walk them: the height it was created at and its id.
Created = tuple[int, bytes]


def _letters_of(
    reader: LedgerReader, index: TagIndex[Created], party: LetterParty, uscc: str
) -> tuple[Created, ...]:
    """The letters whose ``party`` is organisation ``uscc``, in creation order: each LetterCreated log's
    tag is compared with the one computed for ``uscc`` and that letter (one hash per letter), once per
    block thanks to ``index``."""
    chain_id, position = reader.ledger.chain.chain_id, _TAG_TOPIC[party]

    def scan(from_height: int, _to_height: int) -> Iterator[tuple[int, Created]]:
        for height, letter_id, topics in _created(reader, from_height):
            mine = party_tag(chain_id, BANK_CONFIRMATION_ADDRESS, letter_id, party, uscc)
            if len(topics) > position and topics[position] == mine:
                yield height, (height, letter_id)

    return index.ids((party, uscc), reader.header.height, scan)


def _resume(letters: Iterable[Created], cursor: LetterCursor | None) -> Iterator[Created]:
    """``letters`` from the cursor's letter on (all of them without a cursor); BadRequest if the cursor's
    letter is not among them."""
    it = iter(letters)
    if cursor is None:
        yield from it
        return
    for created in it:
        if created == (cursor.height, cursor.letter_id):
            yield created
            yield from it
            return
    raise BadRequest("cursor does not belong to this listing; pass next_cursor unchanged", field="cursor")


def _page(
    reader: LedgerReader,
    letters: Iterable[Created],
    as_of: int | None,
    status: str | None,
    limit: int,
    cursor: LetterCursor | None,
) -> LettersPage:
    """One page of ``letters`` (resumed at ``cursor``) in ``status`` at ``as_of``, at most ``limit``."""
    wanted: LetterStatus | None = None
    if status is not None:
        try:
            wanted = LetterStatus[status.upper()]
        except KeyError as exc:
            raise BadRequest(
                f"unknown status {status!r}; one of {[s.name for s in LetterStatus]}", field="status"
            ) from exc
    if cursor is not None:
        if as_of is not None and as_of != cursor.as_of:
            raise BadRequest("the cursor carries the listing's as_of; pass no other", field="as_of")
        when = cursor.as_of
    else:
        when = as_of if as_of is not None else reader.header.timestamp_ms // 1000
    page: list[LetterPublic] = []
    next_cursor: LetterCursor | None = None
    covered = covered_through(reader)
    for height, letter_id in _resume(letters, cursor):
        state = get_letter_state(reader, letter_id, when, covered)
        if state is None or (wanted is not None and state.status != wanted):
            continue
        if len(page) == limit:
            next_cursor = LetterCursor(when, height, letter_id)
            break
        page.append(LetterPublic(**state.to_json()))
    return LettersPage(
        as_of=when,
        count=len(page),
        truncated=next_cursor is not None,
        next_cursor=next_cursor.to_token() if next_cursor is not None else None,
        letters=page,
    )


def _cursor(token: str | None) -> LetterCursor | None:
    return LetterCursor.from_token(token) if token is not None else None


# --- routes -----------------------------------------------------------------------------------------------
@router.get("/letters/{letter_id}", response_model=LetterPublic, responses=_RESPONSES)
def get_letter(letter_id: str, member: MemberDep, ledger: LedgerDep, as_of: AsOfParam = None) -> LetterPublic:
    """Return one letter to its audit firm, bank or audited company, or to a finance regulator.

    404 when unknown, 403 (``forbidden``) for anyone else.
    """
    lid = parse_hash(letter_id, "letter_id")
    reader = LedgerReader(ledger)
    when = as_of if as_of is not None else reader.header.timestamp_ms // 1000
    try:
        state = get_letter_state(reader, lid, when)
    except DomainError as exc:
        raise NotFound("no such letter", letter_id=letter_id) from exc
    if state is None:
        raise NotFound("no such letter", letter_id=letter_id)
    if not is_letter_reader(ReadScope(reader, member), lid, state.party_tags):
        raise Forbidden("only the letter's parties or a finance regulator may read it", letter_id=letter_id)
    return LetterPublic(**state.to_json())


#: The parties of a letter, each with what its /as-<role> listing returns.
_PARTY_LISTINGS: tuple[tuple[LetterParty, str], ...] = (
    (LetterParty.AUDITOR, "Letters sent by the signing member's audit firm, in creation order."),
    (LetterParty.BANK, "Letters addressed to the signing member's bank, in creation order."),
    (
        LetterParty.CLIENT,
        "Letters about the signing member's company (e.g. those awaiting its authorisation).",
    ),
)


def _letters_of_party(party: LetterParty) -> Callable[..., LettersPage]:
    """The listing of letters whose ``party`` is the signing member's organisation (found by its tags)."""

    def listing(
        member: MemberDep,
        ledger: LedgerDep,
        index: LetterIndexDep,
        as_of: AsOfParam = None,
        status: StatusParam = None,
        limit: LimitParam = 500,
        cursor: CursorParam = None,
    ) -> LettersPage:
        after = _cursor(cursor)
        reader = LedgerReader(ledger)
        return _page(reader, _letters_of(reader, index, party, member.uscc), as_of, status, limit, after)

    return listing


for _party, _description in _PARTY_LISTINGS:
    _role = _party.name.lower()
    router.add_api_route(
        f"/as-{_role}",
        _letters_of_party(_party),
        methods=["GET"],
        name=f"letters_as_{_role}",
        description=_description,
        response_model=LettersPage,
        responses=_RESPONSES,
        dependencies=[HeavyDep],
    )


@router.get("/overdue", response_model=LettersPage, responses=_RESPONSES, dependencies=[HeavyDep])
def overdue_letters(
    member: MemberDep,
    ledger: LedgerDep,
    as_of: AsOfParam = None,
    limit: LimitParam = 500,
    cursor: CursorParam = None,
) -> LettersPage:
    """Every letter OVERDUE at ``as_of`` (default: the head's time), for a finance regulator: an account
    holding AUDIT_ACCREDITOR or a committee member. 403 (``forbidden``) for anyone else."""
    reader = LedgerReader(ledger)
    if not is_finance_regulator(ReadScope(reader, member)):
        raise Forbidden("overdue letters are for the finance regulator (AUDIT_ACCREDITOR) or the committee")
    after = _cursor(cursor)
    created = ((height, letter_id) for height, letter_id, _ in _created(reader, after.height if after else 0))
    return _page(reader, created, as_of, LetterStatus.OVERDUE.name, limit, after)
