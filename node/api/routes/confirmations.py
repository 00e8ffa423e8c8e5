"""Bank confirmation letters: member-signed reads of letters by audit firm, bank, client, and overdue ones.

Letters name their parties by per-letter tags (sdk/domains/confirmations/parties.py), so no topic filter can
find "the letters of organisation X": the /as-<role> listings walk the LetterCreated logs and compare each
letter's tag with the one computed for the member's organisation; the node's TagIndex remembers what it
found, so each block is walked once per organisation and role. The listings hold a HeavyGate slot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query
from pydantic import Field

from node.api.access import ReadScope, is_finance_regulator, is_letter_reader
from node.api.auth import MemberDep
from node.api.deps import HeavyDep, LedgerDep, LetterIndexDep, parse_hash
from node.api.errors import BadRequest, Forbidden, NotFound
from node.api.models import ErrorPublic, Shape
from node.api.reader import LedgerReader
from node.api.tag_index import TagIndex
from node.genesis import BANK_CONFIRMATION_ADDRESS
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
_CREATED_TOPIC = _CONFIRMATION.event_topic("LetterCreated")
_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorPublic},
    403: {"model": ErrorPublic},
    404: {"model": ErrorPublic},
    422: {"model": ErrorPublic},
}
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
    truncated: bool = Field(description="more letters matched than the limit")
    letters: list[LetterPublic]


# --- reading the contract --------------------------------------------------------------------------------
def get_letter_state(reader: LedgerReader, letter_id: bytes, as_of: int) -> LetterState | None:
    """Return a letter at the reader's head with its status as of ``as_of``, or None when unknown."""

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


def _letter_ids_of(
    reader: LedgerReader, index: TagIndex[bytes], party: LetterParty, uscc: str
) -> tuple[bytes, ...]:
    """Ids of the letters whose ``party`` is organisation ``uscc``, in creation order: each LetterCreated
    log's tag is compared with the one computed for ``uscc`` and that letter (one hash per letter), once
    per block thanks to ``index``."""
    chain_id, position = reader.ledger.chain.chain_id, _TAG_TOPIC[party]

    def scan(from_height: int, _to_height: int) -> Iterator[tuple[int, bytes]]:
        for height, letter_id, topics in _created(reader, from_height):
            mine = party_tag(chain_id, BANK_CONFIRMATION_ADDRESS, letter_id, party, uscc)
            if len(topics) > position and topics[position] == mine:
                yield height, letter_id

    return index.ids((party, uscc), reader.header.height, scan)


def _page(
    reader: LedgerReader, ids: Iterable[bytes], as_of: int | None, status: str | None, limit: int
) -> LettersPage:
    wanted: LetterStatus | None = None
    if status is not None:
        try:
            wanted = LetterStatus[status.upper()]
        except KeyError as exc:
            raise BadRequest(
                f"unknown status {status!r}; one of {[s.name for s in LetterStatus]}", field="status"
            ) from exc
    when = as_of if as_of is not None else reader.header.timestamp_ms // 1000
    letters: list[LetterPublic] = []
    truncated = False
    for letter_id in ids:
        state = get_letter_state(reader, letter_id, when)
        if state is None or (wanted is not None and state.status != wanted):
            continue
        if len(letters) == limit:
            truncated = True
            break
        letters.append(LetterPublic(**state.to_json()))
    return LettersPage(as_of=when, count=len(letters), truncated=truncated, letters=letters)


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
    ) -> LettersPage:
        reader = LedgerReader(ledger)
        return _page(reader, _letter_ids_of(reader, index, party, member.uscc), as_of, status, limit)

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
    member: MemberDep, ledger: LedgerDep, as_of: AsOfParam = None, limit: LimitParam = 500
) -> LettersPage:
    """Every letter OVERDUE at ``as_of`` (default: the head's time), for a finance regulator: an account
    holding AUDIT_ACCREDITOR or a committee member. 403 (``forbidden``) for anyone else."""
    reader = LedgerReader(ledger)
    if not is_finance_regulator(ReadScope(reader, member)):
        raise Forbidden("overdue letters are for the finance regulator (AUDIT_ACCREDITOR) or the committee")
    ids = (letter_id for _, letter_id, _ in _created(reader))
    return _page(reader, ids, as_of, LetterStatus.OVERDUE.name, limit)
