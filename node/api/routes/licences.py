"""E-licences: public status by identifier or id hash, member-signed history (LicenceRegistry.vy)."""

from __future__ import annotations

import itertools
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import Field

from node.api.access import ReadScope, is_licence_reader
from node.api.auth import MemberDep
from node.api.convert import to_hex, to_optional_hex, to_plain
from node.api.deps import LedgerDep, parse_hash
from node.api.errors import Forbidden, NotFound
from node.api.models import Shape, error_responses
from node.api.reader import LedgerReader
from node.genesis import LICENCE_REGISTRY_ADDRESS
from sdk.contracts import Contract
from sdk.domains.licences import LicenceStatus, compute_licence_hash, decode_history, decode_jurisdiction

router = APIRouter(prefix="/v1/licences", tags=["licences"])

_REGISTRY = Contract("LicenceRegistry")
_ISSUED_TOPIC = _REGISTRY.event_topic("LicenceIssued")
_MAX_EVENTS = 10_000
_RESPONSES = error_responses(400, 401, 403, 404, 422)
IdentifierParam = Annotated[
    str,
    Path(
        min_length=1,
        max_length=128,
        description="GB/T 36904 identifier (1.2.156.3005.2.…) or its SM3 id hash as 0x-hex",
    ),
]


class LicenceStatusPublic(Shape):
    id_hash: str = Field(description="SM3 of the normalised identifier")
    status: str = Field(description="VALID, NOT_YET_VALID, EXPIRED, SUSPENDED, REVOKED or SUPERSEDED")
    status_code: int
    type_id: str
    type_code: str = Field(description="证照类型代码")
    type_name: str
    issuer: str = Field(description="issuing account")
    issuer_org: str = Field(description="issuing organisation's USCC")
    holder_commitment: str = Field(description="SM3(salt ‖ holder code type ‖ holder code)")
    document_hash: str
    valid_from: int = Field(description="unix seconds")
    valid_until: int = Field(description="unix seconds; 0 = no end date")
    jurisdiction: str = Field(description="所属管辖属地编码")
    issued_height: int | None = Field(description="height of the LicenceIssued event")
    previous: str | None = Field(description="id hash of the licence this one renews")
    next: str | None = Field(description="id hash of the licence that renews this one")
    annotations: int
    uses: int
    height: int = Field(description="head height the status was read at")
    timestamp: int = Field(description="head time (unix seconds) the status was evaluated at")


HistoryValue = bool | int | str


class LicenceEventPublic(Shape):
    event: str = Field(description="LicenceIssued, LicenceSuspended, LicenceUsed, …")
    height: int
    tx_hash: str
    args: dict[str, HistoryValue] = Field(description="bytes and addresses as 0x-hex")


class LicenceHistoryPublic(Shape):
    id_hash: str
    issuer_org: str
    events: list[LicenceEventPublic]
    height: int


# --- helpers ---------------------------------------------------------------------------------------------
def compute_id_hash(identifier: str) -> bytes:
    """Return the id hash for a path value: 0x-hex of 32 bytes, or an identifier (validated, hashed).

    Raises BadRequest for malformed hex, IdentifierError (400) for a malformed identifier.
    """
    if identifier[:2] in ("0x", "0X"):
        return parse_hash(identifier, "identifier")
    return compute_licence_hash(identifier)


def _read(reader: LedgerReader, function: str, *args: object) -> Any:
    return reader.read(_REGISTRY, LICENCE_REGISTRY_ADDRESS, function, *args)


def _get_licence(reader: LedgerReader, id_hash: bytes) -> dict[str, Any]:
    row: dict[str, Any] = _read(reader, "get_licence", id_hash)
    if int(row["state"]) == LicenceStatus.UNKNOWN:
        raise NotFound("no licence with this identifier", id_hash=to_hex(id_hash))
    return row


# --- routes ----------------------------------------------------------------------------------------------
@router.get("/{identifier}/status", response_model=LicenceStatusPublic, responses=_RESPONSES)
def get_licence_status(identifier: IdentifierParam, ledger: LedgerDep) -> LicenceStatusPublic:
    """Return a licence's status at the head (public: only hashes, codes of organisations and dates).

    404 when no licence has this identifier; 400 for an identifier that fails its check character.
    """
    id_hash = compute_id_hash(identifier)
    reader = LedgerReader(ledger)
    header = reader.header
    row = _get_licence(reader, id_hash)
    code = LicenceStatus(int(_read(reader, "status", id_hash)))
    licence_type = _read(reader, "licence_types", row["type_id"])
    issued = reader.first_log(LICENCE_REGISTRY_ADDRESS, [_ISSUED_TOPIC, id_hash])
    return LicenceStatusPublic(
        id_hash=to_hex(id_hash),
        status=code.name,
        status_code=int(code),
        type_id=to_hex(row["type_id"]),
        type_code=licence_type["type_code"],
        type_name=licence_type["name"],
        issuer=to_hex(row["issuer"]),
        issuer_org=row["issuer_org"],
        holder_commitment=to_hex(row["holder_commitment"]),
        document_hash=to_hex(row["document_hash"]),
        valid_from=int(row["valid_from"]),
        valid_until=int(row["valid_until"]),
        jurisdiction=decode_jurisdiction(row["jurisdiction"]),
        issued_height=issued.height if issued is not None else None,
        previous=to_optional_hex(row["previous"]),
        next=to_optional_hex(row["next"]),
        annotations=int(row["annotations"]),
        uses=int(row["uses"]),
        height=header.height,
        timestamp=header.timestamp_ms // 1000,
    )


@router.get("/{identifier}/history", response_model=LicenceHistoryPublic, responses=_RESPONSES)
def get_licence_history(
    identifier: IdentifierParam, ledger: LedgerDep, member: MemberDep
) -> LicenceHistoryPublic:
    """Return every event of a licence in chain order, to its issuing organisation or its type's authority.

    Member-signed. 403 ``forbidden`` for any other organisation; 404 for an unknown licence.
    """
    id_hash = compute_id_hash(identifier)
    reader = LedgerReader(ledger)
    height = reader.height
    row = _get_licence(reader, id_hash)
    authority_org = _read(reader, "licence_types", row["type_id"])["authority_org"]
    if not is_licence_reader(ReadScope(reader, member), row["issuer_org"], authority_org):
        raise Forbidden(
            "only the issuing organisation or the type's defining authority may read a licence's history",
            id_hash=to_hex(id_hash),
        )
    entries = itertools.islice(reader.logs(LICENCE_REGISTRY_ADDRESS, [None, id_hash]), _MAX_EVENTS)
    events = [
        LicenceEventPublic(
            event=event.name,
            height=event.height,
            tx_hash=to_hex(event.tx_hash),
            args={name: to_plain(value) for name, value in event.args.items()},
        )
        for event in decode_history(_REGISTRY, entries)
    ]
    return LicenceHistoryPublic(
        id_hash=to_hex(id_hash), issuer_org=row["issuer_org"], events=events, height=height
    )
