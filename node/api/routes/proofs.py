"""Proof bundles for offline verification: a transaction's event, a licence's issuance + status, a drug code
commissioned by its lot part's root, trust."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from node.api.access import ReadScope, is_lot_reader, is_public_bundle
from node.api.auth import Member, MemberDep, OptionalMemberDep
from node.api.deps import HeavyDep, LedgerDep, parse_address, parse_code_id, parse_hash
from node.api.errors import BadRequest, NotFound
from node.api.models import error_responses
from node.api.reader import LedgerReader
from node.ledger.backfill import require_history
from node.ledger.chain import Ledger
from node.ledger.handovers import collect_handovers
from sdk.domains.drugs import DrugQueries
from sdk.domains.drugs.lots import LOT_COMMISSIONED_TOPIC, decode_committed_part
from sdk.errors import AccessDenied, AuthenticationError, IdentifierError, StorageError
from sdk.proofs.builders import build_bundle
from sdk.proofs.bundle import Handover, HistoryProof, LotProof, ProofBundle, SealedHeader, StateProof
from sdk.proofs.licence import LICENCE_ISSUED_TOPIC, LICENCE_STATUS_RULE
from sdk.proofs.mpt import compute_storage_slot
from sdk.proofs.trust import Checkpoint, Genesis, trust_to_json
from sdk.system import DRUG_LOTS_ADDRESS, LICENCE_REGISTRY_ADDRESS

router = APIRouter(prefix="/v1/proofs", tags=["proofs"])

_ERRORS = error_responses(401, 403, 404, 422, busy=True)
BundleJson = dict[str, Any]


def _handovers(ledger: Ledger, up_to: int) -> list[Handover]:
    try:
        return collect_handovers(ledger, up_to)
    except StorageError as exc:
        raise NotFound(exc.message, **exc.detail) from exc


# --- builders -----------------------------------------------------------------------------------------
def _sealed(ledger: Ledger, height: int, history: HistoryProof | None = None) -> SealedHeader:
    header = ledger.get_header(height)
    if header is None:
        require_history(ledger.store, height)
        raise NotFound("no such block", height=height)
    return SealedHeader(header, ledger.get_certificate(height), history)


def build_state_proof(
    ledger: Ledger, address: bytes, slot: int, *, height: int | None = None, kind: str = "slot"
) -> StateProof:
    """Return the proof of storage ``slot`` of ``address`` at ``height`` (default: the head).

    Raises NotFound for an unknown height.
    """
    at = ledger.head.header.height if height is None else height
    sealed = _sealed(ledger, at)
    proof = ledger.get_proof(ledger.state_root_at(sealed.header), address, [slot])
    return StateProof(
        sealed=sealed,
        address=address,
        slot=slot,
        account_proof=proof.account_proof,
        storage_proof=proof.storage_proof[0].proof,
        kind=kind,
    )


def build_tx_bundle(
    ledger: Ledger,
    tx_hash: bytes,
    *,
    log_index: int | None = None,
    state: tuple[bytes, int, str] | None = None,
    checkpoint_height: int | None = None,
) -> ProofBundle:
    """Return the proof bundle of a committed transaction.

    Takes: the ledger; the transaction hash; an optional log index; an optional state proof request
    ``(address, slot, kind)`` answered at the head (or at the checkpoint); an optional checkpoint height
    (then the event block is proven by history inclusion under that header and no handovers are needed).
    Returns: the bundle. Raises: NotFound for an unknown transaction, BadRequest for a bad log index or a
    checkpoint not above the event.
    """
    stored = ledger.get_receipt(tx_hash)
    if stored is None:
        raise NotFound("no committed transaction with this hash", tx_hash="0x" + tx_hash.hex())
    height, tx_index = stored.height, stored.tx_index
    block = ledger.get_block(height)
    receipts = ledger.get_block_receipts(height)
    genesis = ledger.get_header(0)
    if block is None or receipts is None or genesis is None:
        raise NotFound("the transaction's block is missing", height=height)
    if log_index is not None and not 0 <= log_index < len(stored.receipt.logs):
        raise BadRequest(
            f"log_index {log_index} is outside the receipt's {len(stored.receipt.logs)} logs",
            field="log_index",
        )
    history = None
    top = height
    if checkpoint_height is not None:
        if not height < checkpoint_height <= ledger.head.header.height:
            raise BadRequest(
                "checkpoint_height must be above the event's block and at most the head",
                field="checkpoint_height",
                height=height,
            )
        # From the ledger's history tree: O(log n), not a rebuild over every block hash per request.
        history = HistoryProof(size=checkpoint_height, path=ledger.history_proof(height, checkpoint_height))
    state_proof = None
    if state is not None:
        address, slot, kind = state
        state_proof = build_state_proof(ledger, address, slot, height=checkpoint_height, kind=kind)
        top = max(top, state_proof.sealed.header.height)
    handovers = [] if checkpoint_height is not None else _handovers(ledger, top)
    return build_bundle(
        genesis_hash=genesis.block_hash,
        block=block,
        certificate=ledger.get_certificate(height),
        receipts=receipts,
        tx_index=tx_index,
        log_index=log_index,
        handovers=handovers,
        history=history,
        state=state_proof,
    )


def check_bundle_access(
    ledger: Ledger, tx_hash: bytes, member: Member | None, state_address: bytes | None
) -> None:
    """Refuse a transaction bundle the caller may not have. A licence lifecycle bundle whose call data
    carries no person's data is public, signed or not; any other needs a member (401) who may read the
    transaction, and a state slot only of open contract state (403)."""
    stored = ledger.get_receipt(tx_hash)
    if stored is None and state_address is None:
        return  # an unknown hash is answered 404 by the builder
    logs = list(stored.receipt.logs) if stored is not None else []
    if stored is not None and state_address is None:
        body = ledger.get_transaction(tx_hash)
        tx = body.transaction if body is not None else None
        if tx is not None and is_public_bundle(tx.to, tx.data, logs):
            return
    if member is None:
        raise AuthenticationError(
            "this transaction's bundle is for its parties: sign the request as a member "
            "(sdk Client(url, signer=...))"
        )
    scope = ReadScope(LedgerReader(ledger), member)
    if stored is not None:
        scope.check_transaction(tx_hash, logs)
    if state_address is not None:
        scope.check_state(state_address, 1)


def licence_status_slot(id_hash: bytes) -> int:
    """Return the storage slot of a licence's lifecycle state in LicenceRegistry."""
    rule = LICENCE_STATUS_RULE
    return compute_storage_slot(rule.base_slot, id_hash) + rule.offset


def parse_licence(identifier: str) -> bytes:
    """Return the id hash for a GB/T 36904 identifier or a 0x-prefixed 32-byte id hash; raises BadRequest."""
    if identifier[:2] in ("0x", "0X"):
        return parse_hash(identifier, "identifier")
    from sdk.domains.licences import compute_licence_hash

    try:
        return compute_licence_hash(identifier)
    except IdentifierError as exc:
        raise BadRequest(f"not a licence identifier: {exc.message}", field="identifier") from exc


def build_licence_bundle(
    ledger: Ledger, id_hash: bytes, *, checkpoint_height: int | None = None
) -> ProofBundle:
    """Return the bundle of a licence: its issuance event and its current state word (a state proof).

    Raises NotFound when no issuance of ``id_hash`` is committed.
    """
    logs, _ = ledger.query_logs(
        address=LICENCE_REGISTRY_ADDRESS, topics=[LICENCE_ISSUED_TOPIC, id_hash], limit=1
    )
    if not logs:
        raise NotFound("no licence issued with this identifier", id_hash="0x" + id_hash.hex())
    issued = logs[0]
    bundle = build_tx_bundle(
        ledger,
        issued.tx_hash,
        log_index=issued.log_index,
        state=(LICENCE_REGISTRY_ADDRESS, licence_status_slot(id_hash), "licence"),
        checkpoint_height=checkpoint_height,
    )
    return bundle


def build_drug_code_bundle(
    ledger: Ledger, code_id: bytes, member: Member, *, checkpoint_height: int | None = None
) -> ProofBundle:
    """Return the bundle of a drug code still only in its lot part: the receipt of the part that can give it
    its word (``DrugQueries.lot_part_of``, as the consumer check answers) and its ``LotCommissioned`` log
    under a sealed header, and the code's path to the log's root. Not the part's transaction: it carries
    every code id of the part.

    Raises NotFound for a code in no such part, or one that has its word (its own ``Commissioned`` event is
    its commissioning); AccessDenied for a member who may not read the code's lot parts (``is_lot_reader``).
    """
    reader = LedgerReader(ledger)
    queries = DrugQueries(reader)
    found = None if queries.has_word(code_id) else queries.lot_part_of(code_id)
    if found is None:
        raise NotFound(
            "the code is in no lot part, or has its own word (its Commissioned event proves it)",
            code_id="0x" + code_id.hex(),
        )
    if not is_lot_reader(ReadScope(reader, member), queries, found[1]):
        raise AccessDenied("only the product's MAH or the regulator may have a code's drug-code bundle")
    place = found[0]
    topics = [LOT_COMMISSIONED_TOPIC, place.part.to_bytes(32, "big")]
    logs, _ = ledger.query_logs(
        address=DRUG_LOTS_ADDRESS, topics=topics, from_height=place.height, to_height=place.height, limit=1
    )
    stored = ledger.get_transaction(logs[0].tx_hash) if logs else None
    receipt = ledger.get_receipt(logs[0].tx_hash) if logs else None
    part = None
    if stored is not None and receipt is not None:
        tx = stored.transaction
        part = decode_committed_part(tx.to, tx.data, receipt.receipt.status == 1, receipt.receipt.logs)
    if part is None or code_id not in part.code_ids:
        raise NotFound("the code's lot part is missing", part=place.part)
    bundle = build_tx_bundle(
        ledger, logs[0].tx_hash, log_index=logs[0].log_index, checkpoint_height=checkpoint_height
    )
    leaf = part.code_ids.index(code_id)
    lot = LotProof(code_id, leaf, part.tree.path(leaf))
    return dataclasses.replace(bundle, event=dataclasses.replace(bundle.event, tx=None, tx_proof=()), lot=lot)


# --- routes -----------------------------------------------------------------------------------------------
def _slot(text: str) -> int:
    try:
        value = int(text, 0) if text[:2] in ("0x", "0X") else int(text)
    except ValueError as exc:
        raise BadRequest("state_slot must be a decimal or 0x-hex integer", field="state_slot") from exc
    if not 0 <= value < 1 << 256:
        raise BadRequest("state_slot is outside 0..2^256-1", field="state_slot")
    return value


@router.get("/tx/{tx_hash}", response_model=BundleJson, responses=_ERRORS, dependencies=[HeavyDep])
def get_tx_bundle(
    tx_hash: str,
    ledger: LedgerDep,
    member: OptionalMemberDep,
    log_index: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
    state_address: Annotated[str | None, Query(description="contract whose storage to prove")] = None,
    state_slot: Annotated[str | None, Query(description="storage slot (decimal or 0x-hex)")] = None,
    checkpoint_height: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> BundleJson:
    """Return the proof bundle (docs/proof-bundle.md) of a committed transaction.

    Optional: one of its logs; a storage slot proven at the head (or at ``checkpoint_height``); checkpoint
    mode (history proof under the header at ``checkpoint_height`` instead of validator handovers).

    Public for a licence's lifecycle transactions; any other needs a signed request by a member who may
    read the transaction (401 / 403), and a storage slot only of a contract whose state members read.
    """
    wanted = parse_hash(tx_hash, "tx_hash")
    state = None
    if (state_address is None) != (state_slot is None):
        raise BadRequest("state_address and state_slot go together", field="state_slot")
    if state_address is not None and state_slot is not None:
        state = (parse_address(state_address, "state_address"), _slot(state_slot), "slot")
    check_bundle_access(ledger, wanted, member, state[0] if state is not None else None)
    bundle = build_tx_bundle(
        ledger, wanted, log_index=log_index, state=state, checkpoint_height=checkpoint_height
    )
    return bundle.to_json()


@router.get("/licences/{identifier}", response_model=BundleJson, responses=_ERRORS, dependencies=[HeavyDep])
def get_licence_bundle(
    identifier: Annotated[str, Path(max_length=128)],
    ledger: LedgerDep,
    checkpoint_height: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> BundleJson:
    """Return a licence's bundle: the issuance event (LicenceIssued log) and its current status proven at
    the head. ``identifier`` is the GB/T 36904 licence identifier or its 0x id hash."""
    bundle = build_licence_bundle(ledger, parse_licence(identifier), checkpoint_height=checkpoint_height)
    return bundle.to_json()


@router.get("/drug-codes/{code:path}", response_model=BundleJson, responses=_ERRORS, dependencies=[HeavyDep])
def get_drug_code_bundle(
    code: Annotated[str, Path(min_length=1, max_length=120, description="20-digit code, GS1 or 0x id")],
    ledger: LedgerDep,
    member: MemberDep,
    checkpoint_height: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> BundleJson:
    """Return a drug-code bundle: a code still only in its lot part, proven in that part under a sealed
    header. Member-signed: the product's MAH and the drug regulator only (the bundle shows its part's size);
    they hand it on, and it verifies offline. 404 for a code in no part or with its own word."""
    bundle = build_drug_code_bundle(ledger, parse_code_id(code), member, checkpoint_height=checkpoint_height)
    return bundle.to_json()


@router.get("/trust", response_model=BundleJson, responses=_ERRORS)
def get_trust(ledger: LedgerDep) -> BundleJson:
    """Return this chain's genesis trust file (chain id, genesis header and hash, first validator set).

    A verifier should compare its genesis hash with one published by the consortium out of band.
    """
    genesis = ledger.get_block(0)
    if genesis is None:
        raise NotFound("no genesis block")
    return trust_to_json(Genesis.from_header(genesis.header, genesis.next_validators), genesis.header)


@router.get("/checkpoint", response_model=BundleJson, responses=_ERRORS, dependencies=[HeavyDep])
def get_checkpoint(
    ledger: LedgerDep, height: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None
) -> BundleJson:
    """Return a checkpoint trust file: a sealed header (default: the head) with the set that sealed it."""
    at = ledger.head.header.height if height is None else height
    sealed = _sealed(ledger, at)
    handovers = _handovers(ledger, at - 1)
    if handovers:
        validators = handovers[-1].validators
    else:
        genesis = ledger.get_block(0)
        if genesis is None:
            raise NotFound("no genesis block")
        validators = genesis.next_validators
    return trust_to_json(Checkpoint(sealed.header, validators, sealed.certificate))


__all__ = [
    "build_drug_code_bundle",
    "build_licence_bundle",
    "build_state_proof",
    "build_tx_bundle",
    "licence_status_slot",
    "router",
]
