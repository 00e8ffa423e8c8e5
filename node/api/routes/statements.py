"""A validator's signing duty for licence status statements (sdk/proofs/statement.py, ``XLS1``).

``GET /v1/licences/{identifier}/statement?height=H``: a validator node reads the licence from its own
committed state at height H (at most its head, still kept), signs the statement with its validator key and
returns its index, its signature and the facts it signed. The caller chooses only the licence and the
height; everything signed comes from the node's state. A collector gathers a quorum of such answers
(sdk/proofs/collect.py). Public, as the licence's status and bundle are (docs/read-access.md).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import Field

from node.api.deps import HeavyDep, LedgerDep
from node.api.errors import NotFound
from node.api.limits import RateGate
from node.api.models import Shape, error_responses
from node.api.routes.proofs import licence_status_slot, parse_licence
from node.ledger.chain import Ledger
from sdk.crypto import PrivateKey
from sdk.errors import XinlianError
from sdk.proofs.licence import (
    LICENCE_ISSUED_TOPIC,
    decode_licence,
    judge_licence,
    validate_licence_identifier,
)
from sdk.proofs.statement import StatementFacts
from sdk.system import LICENCE_REGISTRY_ADDRESS
from sdk.types import BlockHeader, compute_validators_hash

router = APIRouter(prefix="/v1/licences", tags=["licences"])

_ERRORS = error_responses(404, 409, 410, 422, busy=True)


class NotAValidator(XinlianError):
    """This node holds no key of the validator set in force at the height asked: it signs no statements."""

    code = "not_a_validator"


class StatementSeal(Shape):
    validator_index: int = Field(description="this node's index in the validator set in force at height")
    validator: str = Field(description="this node's validator public key (64 bytes, 0x-hex)")
    signature: str = Field(description="SM2 signature (r ‖ s, 64 bytes) over the statement preimage")
    statement: dict[str, int | str] = Field(description="the facts signed (sdk StatementFacts.to_json)")


class StatementCache:
    """Signed answers per (id hash, height), at most ``capacity`` (oldest forgotten first): a repeated
    request costs no signature, and the same (licence, height) always gets the same answer."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[tuple[bytes, int], StatementSeal] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[bytes, int]) -> StatementSeal | None:
        with self._lock:
            return self._items.get(key)

    def put(self, key: tuple[bytes, int], seal: StatementSeal) -> None:
        with self._lock:
            self._items[key] = seal
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)


def validators_at(ledger: Ledger, header: BlockHeader) -> tuple[bytes, ...]:
    """The validator set that decided ``header`` (the one its validators_hash names)."""
    head = ledger.head
    if compute_validators_hash(head.validators) == header.validators_hash:
        return head.validators
    parent = ledger.get_header(header.height - 1)
    if parent is not None:
        candidate = ledger.governance_validators(ledger.state_root_at(parent))
        if compute_validators_hash(candidate) == header.validators_hash:
            return candidate
    raise NotFound("the validator set in force at this height is not known here", height=header.height)


def read_statement(ledger: Ledger, id_hash: bytes, header: BlockHeader) -> StatementFacts:
    """The statement facts of licence ``id_hash`` at committed ``header``: its issuance (the LicenceIssued
    log and the issuing call, checked as the Verifier checks them) and its status word judged at that block
    by the Verifier's rule. Raises NotFound when no licence was issued by then; StorageError (410
    ``state_pruned``) when the node no longer keeps that height's state."""
    logs, _ = ledger.query_logs(
        address=LICENCE_REGISTRY_ADDRESS,
        topics=[LICENCE_ISSUED_TOPIC, id_hash],
        to_height=header.height,
        limit=1,
    )
    stored = ledger.get_transaction(logs[0].tx_hash) if logs else None
    log = logs[0].log if logs else None
    licence = decode_licence(log.address, log.topics, log.data) if log is not None else None
    if stored is None or licence is None:
        raise NotFound("no licence issued with this identifier by this height", height=header.height)
    licence = validate_licence_identifier(stored.transaction, licence)
    slot = licence_status_slot(id_hash)
    proof = ledger.get_proof(ledger.state_root_at(header), LICENCE_REGISTRY_ADDRESS, [slot])
    status = judge_licence(licence, proof.storage_proof[0].value, header)
    return StatementFacts(
        chain_id=header.chain_id,
        identifier=licence.identifier,
        holder_commitment=licence.holder_commitment,
        document_hash=licence.document_hash,
        valid_from=licence.valid_from,
        valid_until=licence.valid_until,
        jurisdiction=licence.jurisdiction,
        status_code=status.code,
        height=header.height,
        block_time_s=header.timestamp_ms // 1000,
        block_hash=header.block_hash,
    )


@router.get(
    "/{identifier}/statement",
    response_model=StatementSeal,
    responses=_ERRORS,
    dependencies=[HeavyDep],
)
def get_licence_statement(
    identifier: Annotated[str, Path(min_length=1, max_length=128)],
    height: Annotated[int, Query(ge=1, le=2**63 - 1, description="a committed height this node keeps")],
    ledger: LedgerDep,
    request: Request,
) -> StatementSeal:
    """Sign the status statement of a licence at committed ``height`` with this node's validator key.

    409 ``not_a_validator`` on a node without a key of the set in force at ``height``; 404 for a height
    not committed here yet or a licence not issued by then; 410 ``state_pruned`` for a height whose state
    this node no longer keeps; 429 ``busy`` when the node's heavy-request slots are taken, 429
    ``rate_limited`` when it signed too many new statements lately (a cached answer is always given).
    """
    key: PrivateKey | None = request.app.state.statement_key
    if key is None:
        raise NotAValidator("this node is no validator: it signs no licence statements")
    id_hash = parse_licence(identifier)
    cache: StatementCache = request.app.state.statements
    cached = cache.get((id_hash, height))
    if cached is not None:
        return cached
    header = ledger.get_header(height) if height <= ledger.head.header.height else None
    if header is None:
        raise NotFound("this height is not committed on this node yet", height=height)
    validators = validators_at(ledger, header)
    own = key.public_key.to_bytes()
    if own not in validators:
        raise NotAValidator(
            "this node's key is not in the validator set in force at this height", height=height
        )
    facts = read_statement(ledger, id_hash, header)
    gate: RateGate = request.app.state.statement_signing
    gate.take("licence statement signatures")
    seal = StatementSeal(
        validator_index=validators.index(own),
        validator="0x" + own.hex(),
        signature="0x" + key.sign(facts.preimage()).hex(),
        statement=facts.to_json(),
    )
    cache.put((id_hash, height), seal)
    return seal
