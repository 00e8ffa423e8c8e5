"""Data-sharing authorisations: member-signed reads of grants and their use trails (DataAuthorisation.vy)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import Field

from node.api.access import GRANT_EVENTS, ReadScope, is_grant_reader
from node.api.auth import Member, MemberDep
from node.api.convert import to_hex, to_plain
from node.api.deps import HeavyDep, LedgerDep, SubjectIndexDep, parse_address, parse_hash
from node.api.errors import Forbidden, NotFound
from node.api.models import Shape, error_responses
from node.api.reader import LedgerReader
from node.api.tag_index import TagIndex
from node.genesis import DATA_AUTHORISATION_ADDRESS
from sdk.contracts import Contract
from sdk.domains.authorisations import AuthorisationQueries, Grant, compute_field_ids, compute_subject_tag

router = APIRouter(prefix="/v1/authorisations", tags=["authorisations"])

MAX_PAGE: int = 500
DEFAULT_PAGE: int = 100
_LOG_PAGE = 10_000
_UINT64_MAX = 2**64 - 1

_DA = Contract("DataAuthorisation")
_GRANT_TOPICS: list[bytes] = [_DA.event_topic(name) for name in GRANT_EVENTS]
_RESPONSES = error_responses(401, 403, 404, 422)


# --- response shapes ---------------------------------------------------------------------------------------
TrailValue = bool | int | str | list[int]


class TrailEventPublic(Shape):
    event: str = Field(description="event name, e.g. UseRecorded")
    height: int
    tx_hash: str
    log_index: int
    args: dict[str, TrailValue] = Field(description="bytes as 0x-hex, field masks as lists of field ids")


class ResourcePublic(Shape):
    resource_id: int
    holder: str = Field(description="USCC of the holding organisation")
    registrant: str
    level: int = Field(description="1 一般, 2 重要, 3 核心")
    share_type: int = Field(description="1 无条件共享, 2 有条件共享, 3 不予共享")
    schema_hash: str
    condition_hash: str
    fields: list[int]
    personal: bool


class GrantPublic(Shape):
    grant_id: int
    resource_id: int
    requester: str
    requester_org: str
    holder_org: str
    status: str = Field(description="REQUESTED, APPROVED, GRANTED, REFUSED, REVOKED or EXPIRED")
    purpose: str
    fields: list[int]
    valid_from: int = Field(description="unix seconds")
    valid_until: int = Field(description="unix seconds, exclusive")
    use_limit: int
    uses: int
    level: int
    share_type: int
    personal: bool
    subject_tag: str | None = Field(
        description="the grant's subject tag (keccak256 of tag, chain, contract, grant id and the subject's "
        "salted commitment): one per grant, so grants about one person cannot be linked by it"
    )
    approved_by: str | None
    granted_by: str | None
    requested_at: int
    granted_at: int
    trail: list[TrailEventPublic]


class GrantsPage(Shape):
    grants: list[GrantPublic]
    next_after: int | None = Field(description="pass as ``after`` for the next page; null at the end")


# --- reads --------------------------------------------------------------------------------------------------
def _queries(reader: LedgerReader) -> AuthorisationQueries:
    """The SDK's read model over this head: grants and resources are decoded by the SDK alone."""
    return AuthorisationQueries(reader, DATA_AUTHORISATION_ADDRESS)


def _optional_hex(value: bytes | None) -> str | None:
    return None if value is None else to_hex(value)


def _trail_value(name: str, value: Any) -> TrailValue:
    if name == "fields" and isinstance(value, int):
        return list(compute_field_ids(value))
    plain: TrailValue = to_plain(value)
    return plain


def get_trails(reader: LedgerReader, grant_ids: Sequence[int]) -> dict[int, list[TrailEventPublic]]:
    """Return the use trail of each grant: its events in chain order, read from the stored logs."""
    trails: dict[int, list[TrailEventPublic]] = {gid: [] for gid in grant_ids}
    if not grant_ids:
        return trails
    id_topics = [gid.to_bytes(32, "big") for gid in grant_ids]
    for entry in reader.logs(DATA_AUTHORISATION_ADDRESS, [_GRANT_TOPICS, id_topics], page=_LOG_PAGE):
        event = _DA.try_decode_log(entry.log)
        if event is None:
            continue
        trails[int(event.args["grant_id"])].append(
            TrailEventPublic(
                event=event.name,
                height=entry.height,
                tx_hash=to_hex(entry.tx_hash),
                log_index=entry.log_index,
                args={k: _trail_value(k, v) for k, v in event.args.items()},
            )
        )
    return trails


def find_grant_ids(reader: LedgerReader, event: str, position: int, value: bytes) -> list[int]:
    """Return the unique grant ids (ascending) of ``event`` logs whose topic ``position`` is ``value``."""
    topics: list[bytes | None] = [_DA.event_topic(event)] + [None] * (position - 1) + [value]
    logs = reader.logs(DATA_AUTHORISATION_ADDRESS, topics, page=_LOG_PAGE)
    return sorted({int.from_bytes(entry.log.topics[1], "big") for entry in logs})


def find_subject_grant_ids(
    reader: LedgerReader, index: TagIndex[int], subject_commitment: bytes
) -> list[int]:
    """Return the ids (ascending) of the granted grants about ``subject_commitment``: each AccessGranted
    log whose subject tag (topic 3) is the commitment's tag for its grant id. A tag differs per grant, so
    this hashes one tag per grant, walking each block once per commitment thanks to ``index``."""
    chain_id = reader.ledger.chain.chain_id
    granted = [_DA.event_topic("AccessGranted")]

    def scan(from_height: int, _to_height: int) -> Iterator[tuple[int, int]]:
        logs = reader.logs(DATA_AUTHORISATION_ADDRESS, granted, page=_LOG_PAGE, from_height=from_height)
        for entry in logs:
            topics = entry.log.topics
            if len(topics) < 4:
                continue
            grant_id = int.from_bytes(topics[1], "big")
            tag = compute_subject_tag(chain_id, DATA_AUTHORISATION_ADDRESS, grant_id, subject_commitment)
            if topics[3] == tag:
                yield entry.height, grant_id

    return sorted(set(index.ids(subject_commitment, reader.header.height, scan)))


def to_grant_public(reader: LedgerReader, grant: Grant, trail: list[TrailEventPublic]) -> GrantPublic:
    """Return the API shape of a grant, with its resource's classification and its trail."""
    resource = _queries(reader).resource(grant.resource_id)
    if resource is None:  # the contract never drops a resource that has requests
        raise NotFound("no such resource", resource_id=grant.resource_id)
    return GrantPublic(
        grant_id=grant.grant_id,
        resource_id=grant.resource_id,
        requester=to_hex(grant.requester),
        requester_org=grant.requester_org,
        holder_org=grant.holder_org,
        status=grant.status.name,
        purpose=to_hex(grant.purpose),
        fields=list(grant.fields),
        valid_from=grant.valid_from,
        valid_until=grant.valid_until,
        use_limit=grant.use_limit,
        uses=grant.uses,
        level=int(resource.level),
        share_type=int(resource.share_type),
        personal=resource.personal,
        subject_tag=_optional_hex(grant.subject_tag),
        approved_by=_optional_hex(grant.approved_by),
        granted_by=_optional_hex(grant.granted_by),
        requested_at=grant.requested_at,
        granted_at=grant.granted_at,
        trail=trail,
    )


def get_visible_page(
    reader: LedgerReader, member: Member, grant_ids: Iterable[int], page: GrantPageParams
) -> GrantsPage:
    """Return the grants among ``grant_ids`` (after ``page.after``) that the member may see, at most
    ``page.limit``."""
    after, limit = page.after, page.limit
    queries = _queries(reader)
    scope = ReadScope(reader, member)
    visible: list[Grant] = []
    more = False
    for gid in grant_ids:
        if gid <= after:
            continue
        grant = queries.get_grant(gid)
        if grant is None:
            continue
        if not is_grant_reader(scope, grant.holder_org, grant.requester_org):
            continue
        if len(visible) == limit:
            more = True
            break
        visible.append(grant)
    trails = get_trails(reader, [grant.grant_id for grant in visible])
    return GrantsPage(
        grants=[to_grant_public(reader, grant, trails[grant.grant_id]) for grant in visible],
        next_after=visible[-1].grant_id if more and visible else None,
    )


# --- routes -------------------------------------------------------------------------------------------------
ResourceId = Annotated[int, Path(ge=1, le=_UINT64_MAX)]
GrantId = Annotated[int, Path(ge=1, le=_UINT64_MAX)]


@dataclass(frozen=True, slots=True)
class GrantPageParams:
    """Where a page of grants starts (after this grant id) and how many it holds at most."""

    limit: int
    after: int


def grant_page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    after: Annotated[int, Query(ge=0, le=_UINT64_MAX, description="grant id to resume after")] = 0,
) -> GrantPageParams:
    return GrantPageParams(limit=limit, after=after)


GrantPage = Annotated[GrantPageParams, Depends(grant_page_params)]


@router.get("/resources/{resource_id}", response_model=ResourcePublic, responses=_RESPONSES)
def get_resource(resource_id: ResourceId, ledger: LedgerDep, member: MemberDep) -> ResourcePublic:
    """Return a listed data resource (any member may read the catalogue); 404 if unknown."""
    resource = _queries(LedgerReader(ledger)).resource(resource_id)
    if resource is None:
        raise NotFound("no such resource", resource_id=resource_id)
    return ResourcePublic(
        resource_id=resource_id,
        holder=resource.holder,
        registrant=to_hex(resource.registrant),
        level=int(resource.level),
        share_type=int(resource.share_type),
        schema_hash=to_hex(resource.schema_hash),
        condition_hash=to_hex(resource.condition_hash),
        fields=list(resource.fields),
        personal=resource.personal,
    )


@router.get("/grants/{grant_id}", response_model=GrantPublic, responses=_RESPONSES)
def get_grant(grant_id: GrantId, ledger: LedgerDep, member: MemberDep) -> GrantPublic:
    """Return one request / grant with its use trail: for its holder or requester organisation, or a
    DATA_REGULATOR; 403 for anyone else, 404 if unknown."""
    reader = LedgerReader(ledger)
    grant = _queries(reader).get_grant(grant_id)
    if grant is None:
        raise NotFound("no such grant", grant_id=grant_id)
    if not is_grant_reader(ReadScope(reader, member), grant.holder_org, grant.requester_org):
        raise Forbidden(
            "only the holder, the requester or a data regulator may read this grant", grant_id=grant_id
        )
    return to_grant_public(reader, grant, get_trails(reader, [grant_id])[grant_id])


@router.get("/by-resource/{resource_id}", response_model=GrantsPage, responses=_RESPONSES)
def get_grants_by_resource(
    resource_id: ResourceId, ledger: LedgerDep, member: MemberDep, page: GrantPage
) -> GrantsPage:
    """Return the requests / grants of a resource that the member's organisation holds or requested."""
    reader = LedgerReader(ledger)
    ids = find_grant_ids(reader, "AccessRequested", 2, resource_id.to_bytes(32, "big"))
    return get_visible_page(reader, member, ids, page)


@router.get("/by-requester/{address}", response_model=GrantsPage, responses=_RESPONSES)
def get_grants_by_requester(
    address: str, ledger: LedgerDep, member: MemberDep, page: GrantPage
) -> GrantsPage:
    """Return the requests / grants of a requesting account that the member's organisation is party to."""
    requester = parse_address(address)
    reader = LedgerReader(ledger)
    ids = find_grant_ids(reader, "AccessRequested", 3, bytes(12) + requester)
    return get_visible_page(reader, member, ids, page)


@router.get(
    "/by-subject/{commitment}", response_model=GrantsPage, responses=_RESPONSES, dependencies=[HeavyDep]
)
def get_grants_by_subject(
    commitment: str, ledger: LedgerDep, member: MemberDep, index: SubjectIndexDep, page: GrantPage
) -> GrantsPage:
    """Return the granted grants about a subject commitment: only those the member's organisation holds or
    requested (a DATA_REGULATOR sees all). The commitment is the salted SM3 the SDK computes; the chain
    shows each grant's subject tag, which the node recomputes from it."""
    value = parse_hash(commitment, "commitment")
    reader = LedgerReader(ledger)
    if value == bytes(32):
        return GrantsPage(grants=[], next_after=None)
    ids = find_subject_grant_ids(reader, index, value)
    return get_visible_page(reader, member, ids, page)
