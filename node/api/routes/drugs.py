"""Drug traceability queries: the public consumer scan, member-signed code histories and batch status."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import Field

from node.api.access import ReadScope, is_code_reader, is_lot_reader
from node.api.auth import MemberDep
from node.api.convert import to_hex, to_plain
from node.api.deps import LedgerDep, parse_code_id
from node.api.errors import Forbidden, NotFound
from node.api.models import Shape, error_responses
from node.api.reader import LedgerReader
from node.genesis import DRUG_TRACE_ADDRESS
from node.ledger.chain import Ledger
from sdk.domains.drugs import (
    CodeState,
    ConsumerView,
    DrugEvent,
    DrugQueries,
    compute_product_id,
    normalise_product_key,
    validate_batch_no,
)

router = APIRouter(prefix="/v1/drugs", tags=["drugs"])

_PUBLIC_RESPONSES = error_responses(400, 422)
_MEMBER_RESPONSES = error_responses(400, 422, 401, 403, 404)


def _queries(ledger: Ledger) -> DrugQueries:
    return DrugQueries(LedgerReader(ledger), DRUG_TRACE_ADDRESS)


# --- shapes --------------------------------------------------------------------------------------------
class DrugProductPublic(Shape):
    name: str
    mah_uscc: str = Field(description="marketing authorisation holder (USCC)")
    mah_name: str
    approval_number: str = Field(description="批准文号")
    category: str = Field(description="ordinary, vaccine, narcotic, psychotropic or blood_product")


class DrugTrailStepPublic(Shape):
    step: str = Field(description="commissioned, shipped, received, shipment_cancelled, dispensed, destroyed")
    uscc: str
    organisation: str
    height: int
    timestamp_ms: int | None


class DrugCodePublic(Shape):
    """What a consumer's scan shows: authenticity, product, batch, dates, status, holds, custody trail."""

    code: str = Field(description="the code as the ledger knows it (20 digits or (01)…(21)…)")
    authentic: bool
    reason: str = Field(description="empty when authentic; otherwise why not")
    product_id: str | None = Field(description="the registered product's id; null for an unknown code")
    product: DrugProductPublic | None
    batch_no: str
    production_date: dt.date | None
    expiry_date: dt.date | None
    level: str | None = Field(description="unit, bundle or case")
    status: str = Field(description="unknown, active, in_transit, dispensed or destroyed")
    recalled: bool
    frozen: bool
    expired: bool
    trail: list[DrugTrailStepPublic]


class DrugCodeStatePublic(Shape):
    code_id: str
    known: bool
    product_id: str
    batch_no: str
    level: str | None
    status: str
    custodian: str
    custodian_uscc: str
    shipment_id: int
    parent: str | None
    recalled: bool
    frozen: bool
    expired: bool
    lot_part: int | None = Field(
        description="the DrugLots part that commissioned the code by its root, while the code has no word "
        "of its own (then in its MAH's custody); null otherwise"
    )


class DrugLotPlacePublic(Shape):
    part: int = Field(description="a DrugLots part that holds the code")
    height: int = Field(description="the height of the block that committed the part")
    mah: str = Field(description="the account that commissioned the part")


class DrugLotCodePublic(Shape):
    code_id: str
    parts: list[DrugLotPlacePublic] = Field(
        description="each account's first part holding the code, in part order (8 accounts at most); only a "
        "part of the product's MAH can give the code its word"
    )


class DrugEventPublic(Shape):
    event: str
    height: int
    tx_hash: str
    tx_index: int
    log_index: int
    via: str | None = Field(description="the parent code id it happened to, when the code was packed in it")
    args: dict[str, Any]


class DrugHistoryPublic(Shape):
    state: DrugCodeStatePublic
    events: list[DrugEventPublic]


class DrugBatchPublic(Shape):
    product_key: str
    product_id: str
    product: DrugProductPublic
    batch_no: str
    lot: str
    production_date: dt.date | None
    expiry_date: dt.date | None
    commissioned: int
    recalled: bool
    frozen: bool
    expired: bool


# --- conversions ---------------------------------------------------------------------------------------
def _product_public(queries: DrugQueries, product_id: bytes) -> DrugProductPublic | None:
    product = queries.get_product(product_id)
    if product is None:
        return None
    return DrugProductPublic(
        name=product.name,
        mah_uscc=product.mah_uscc,
        mah_name=queries.organisation_name(product.mah_uscc),
        approval_number=product.approval_number,
        category=product.category.name.lower(),
    )


def _consumer_public(queries: DrugQueries, view: ConsumerView) -> DrugCodePublic:
    return DrugCodePublic(
        code=view.code,
        authentic=view.authentic,
        reason=view.reason,
        product_id=to_hex(view.product_id) if view.product_id is not None else None,
        product=_product_public(queries, view.product_id) if view.product_id is not None else None,
        batch_no=view.batch_no,
        production_date=view.production_date,
        expiry_date=view.expiry_date,
        level=view.level.name.lower() if view.level is not None else None,
        status=view.status.name.lower(),
        recalled=view.recalled,
        frozen=view.frozen,
        expired=view.expired,
        trail=[DrugTrailStepPublic(**asdict(s)) for s in view.trail],
    )


def _event_public(event: DrugEvent) -> DrugEventPublic:
    return DrugEventPublic(
        event=event.name,
        height=event.height,
        tx_hash=to_hex(event.tx_hash),
        tx_index=event.tx_index,
        log_index=event.log_index,
        via=to_hex(event.via) if event.via is not None else None,
        args={k: to_plain(v) for k, v in event.args.items()},
    )


def _state_public(queries: DrugQueries, state: CodeState) -> DrugCodeStatePublic:
    return DrugCodeStatePublic(
        code_id=to_hex(state.code_id),
        known=state.known,
        product_id=to_hex(state.product_id),
        batch_no=state.batch_no,
        level=state.level.name.lower() if state.level is not None else None,
        status=state.status.name.lower(),
        custodian=to_hex(state.custodian),
        custodian_uscc=queries.organisation_of(state.custodian) if state.known else "",
        shipment_id=state.shipment_id,
        parent=to_hex(state.parent) if state.parent is not None else None,
        recalled=state.recalled,
        frozen=state.frozen,
        expired=state.expired,
        lot_part=state.lot_part,
    )


# --- routes --------------------------------------------------------------------------------------------
CodePath = Annotated[str, Path(min_length=1, max_length=120, description="20-digit code or GS1 string")]


@router.get("/codes/{code:path}/history", response_model=DrugHistoryPublic, responses=_MEMBER_RESPONSES)
def get_code_history(code: CodePath, ledger: LedgerDep, member: MemberDep) -> DrugHistoryPublic:
    """Return a code's state and full event history (with its parents' events while packed, and alerts).

    ``code`` is the code itself or its 0x code id. Only the product's MAH, an organisation that appears in
    the history, or the drug regulator may read it (403 otherwise); 404 for a code never commissioned.
    """
    code_id = parse_code_id(code)
    reader = LedgerReader(ledger)
    queries = DrugQueries(reader, DRUG_TRACE_ADDRESS)
    state, lot = queries.get_code_and_lot(code_id)
    if not state.known:
        raise NotFound("no such code on the ledger", code_id=to_hex(code_id))
    events = queries.history(code_id, lot=lot)
    product = queries.get_product(state.product_id)
    if not is_code_reader(ReadScope(reader, member), queries, events, product.mah_uscc if product else None):
        raise Forbidden("only the MAH, an organisation in the code's history or the regulator may read it")
    return DrugHistoryPublic(state=_state_public(queries, state), events=[_event_public(e) for e in events])


@router.get("/lot-codes/{code:path}", response_model=DrugLotCodePublic, responses=_MEMBER_RESPONSES)
def get_lot_code(code: CodePath, ledger: LedgerDep, member: MemberDep) -> DrugLotCodePublic:
    """The committed lot parts that hold a code commissioned by its part's root, in part order, with the
    heights that committed them. ``code`` is the code itself or its 0x code id. Only the product's MAH and
    the drug regulator may read it (403 otherwise: parts, like their transactions, are theirs); 404 for a
    code in no part."""
    code_id = parse_code_id(code)
    reader = LedgerReader(ledger)
    places = reader.lot_places(code_id)
    if not places:
        raise NotFound("the code is in no lot part", code_id=to_hex(code_id))
    queries = DrugQueries(reader, DRUG_TRACE_ADDRESS)
    found = queries.lot_part_of(code_id)  # the part the readers answer from decides, as for its bundle
    if not is_lot_reader(ReadScope(reader, member), queries, found[1] if found is not None else None):
        raise Forbidden("only the product's MAH or the regulator may read a code's lot parts")
    parts = [DrugLotPlacePublic(part=p.part, height=p.height, mah=to_hex(p.mah)) for p in places]
    return DrugLotCodePublic(code_id=to_hex(code_id), parts=parts)


@router.get("/codes/{code:path}", response_model=DrugCodePublic, responses=_PUBLIC_RESPONSES)
def get_code(code: CodePath, ledger: LedgerDep) -> DrugCodePublic:
    """Consumer query (public): is the code authentic; product, batch, dates, status, holds; the custody
    trail as organisations (no volumes, no shipment details). An unknown code answers ``authentic: false``."""
    queries = _queries(ledger)
    return _consumer_public(queries, queries.consumer_query(code))


@router.get("/batches/{product}/{batch:path}", response_model=DrugBatchPublic, responses=_MEMBER_RESPONSES)
def get_batch(
    product: Annotated[str, Path(min_length=7, max_length=14, description="药品标识码 or GTIN")],
    batch: Annotated[str, Path(min_length=1, max_length=20)],
    ledger: LedgerDep,
    member: MemberDep,
) -> DrugBatchPublic:
    """Return a batch's dates, commissioned count and recall / freeze flags to any member; 404 if unknown."""
    key = normalise_product_key(product)
    product_id = compute_product_id(key)
    batch_no = validate_batch_no(batch)
    queries = _queries(ledger)
    state = queries.get_batch(product_id, batch_no)
    product_public = _product_public(queries, product_id)
    if not state.known or product_public is None:
        raise NotFound("no such batch", product=key, batch=batch_no)
    return DrugBatchPublic(
        product_key=key,
        product_id=to_hex(product_id),
        product=product_public,
        batch_no=batch_no,
        lot=to_hex(state.lot),
        production_date=state.production_date,
        expiry_date=state.expiry_date,
        commissioned=state.commissioned,
        recalled=state.recalled,
        frozen=state.frozen,
        expired=state.expired,
    )
