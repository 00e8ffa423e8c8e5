"""The read model of DataAuthorisation.vy: resources, grants, subject keys, results and the audit trail."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any, TypeVar

from sdk.answers import from_node_hex
from sdk.domains.authorisations.encoders import WORD_BYTES, GrantStatus, Level, ShareType
from sdk.encoding import readable_repr
from sdk.errors import ClientError, DomainError

if TYPE_CHECKING:
    from sdk.answers import ReceiptResult


_E = TypeVar("_E", bound=IntEnum)


def to_enum(kind: type[_E], value: int, name: str) -> _E:
    try:
        return kind(value)
    except ValueError as exc:
        allowed = ", ".join(str(int(m)) for m in kind)
        raise DomainError(f"{name} must be one of {allowed}", code="bad_arguments", field=name) from exc


def to_seconds(value: int | dt.datetime, name: str) -> int:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise DomainError(f"{name} must be timezone-aware", code="bad_arguments", field=name)
        return int(value.timestamp())
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DomainError(f"{name} is unix seconds or an aware datetime", code="bad_arguments", field=name)
    return value


def check_hash32(value: bytes | None, name: str, *, required: bool) -> bytes:
    if value is None:
        if required:
            raise DomainError(f"{name} is required", code="bad_arguments", field=name)
        return bytes(WORD_BYTES)
    if len(value) != WORD_BYTES:
        raise DomainError(f"{name} must be 32 bytes", code="bad_arguments", field=name)
    if required and value == bytes(WORD_BYTES):
        raise DomainError(f"{name} must not be zero", code="bad_arguments", field=name)
    return value


# --- typed results -------------------------------------------------------------------------------------
@readable_repr
@dataclass(frozen=True, slots=True)
class Resource:
    resource_id: int
    holder: str  # USCC of the holding organisation
    registrant: bytes
    level: Level
    share_type: ShareType
    schema_hash: bytes
    condition_hash: bytes
    fields: tuple[int, ...]
    personal: bool


@readable_repr
@dataclass(frozen=True, slots=True)
class Grant:
    """A request / grant as the contract shows it (``status`` already accounts for expiry): the data subject
    only by the grant's subject tag, never by her commitment or key."""

    grant_id: int
    resource_id: int
    requester: bytes
    requester_org: str
    holder_org: str
    purpose: bytes
    fields: tuple[int, ...]
    valid_from: int
    valid_until: int
    use_limit: int
    uses: int
    status: GrantStatus
    subject_tag: bytes | None  # compute_subject_tag(..., grant_id, commitment); None: no data subject
    approved_by: bytes | None
    granted_by: bytes | None
    requested_at: int
    granted_at: int


@readable_repr
@dataclass(frozen=True, slots=True)
class SubjectKeyRecord:
    """The key currently bound to a subject commitment and who vouched for it."""

    subject_commitment: bytes
    key_hash: bytes  # SM3 of the 64-byte SM2 public key
    version: int  # 1 for the first binding, +1 per confirmed rebind
    attested_by: bytes  # the DATA_REGULATOR that bound it or proposed the rebind
    attester_org: str
    confirmed_by: bytes | None  # the second regulator of a rebind (None for a first binding)
    confirmer_org: str | None
    bound_at: int


@dataclass(frozen=True, slots=True)
class ResourceResult:
    resource_id: int
    receipt: ReceiptResult


@dataclass(frozen=True, slots=True)
class RequestResult:
    grant_id: int
    receipt: ReceiptResult


@dataclass(frozen=True, slots=True)
class UseResult:
    grant_id: int
    use_number: int
    receipt: ReceiptResult


@readable_repr
@dataclass(frozen=True, slots=True)
class TrailEvent:
    """One step of a grant's use trail, from the node's member-signed API."""

    event: str
    height: int
    tx_hash: bytes
    log_index: int
    args: dict[str, Any]


@readable_repr
@dataclass(frozen=True, slots=True)
class GrantRecord:
    """A grant with its resource's level and share type and its use trail, as the node's API returns it."""

    grant_id: int
    resource_id: int
    requester: bytes
    requester_org: str
    holder_org: str
    status: GrantStatus
    fields: tuple[int, ...]
    valid_from: int
    valid_until: int
    use_limit: int
    uses: int
    level: Level
    share_type: ShareType
    personal: bool
    subject_tag: bytes | None  # the grant's subject tag (compute_subject_tag); None: no data subject
    trail: tuple[TrailEvent, ...] = field(default=())


def optional_bytes(value: bytes, size: int) -> bytes | None:
    return None if value == bytes(size) else value


def grant_record_from_json(body: Any) -> GrantRecord:
    try:
        tag = body.get("subject_tag")
        return GrantRecord(
            grant_id=int(body["grant_id"]),
            resource_id=int(body["resource_id"]),
            requester=from_node_hex(body["requester"]),
            requester_org=str(body["requester_org"]),
            holder_org=str(body["holder_org"]),
            status=GrantStatus[str(body["status"])],
            fields=tuple(int(f) for f in body["fields"]),
            valid_from=int(body["valid_from"]),
            valid_until=int(body["valid_until"]),
            use_limit=int(body["use_limit"]),
            uses=int(body["uses"]),
            level=Level(int(body["level"])),
            share_type=ShareType(int(body["share_type"])),
            personal=bool(body["personal"]),
            subject_tag=from_node_hex(tag) if tag else None,
            trail=tuple(
                TrailEvent(
                    event=str(e["event"]),
                    height=int(e["height"]),
                    tx_hash=from_node_hex(e["tx_hash"]),
                    log_index=int(e["log_index"]),
                    args=dict(e["args"]),
                )
                for e in body["trail"]
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ClientError("the node's authorisation record is malformed", code="bad_response") from exc
