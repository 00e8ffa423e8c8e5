"""Request dependencies: the ledger, hex parameters, and the place where member authentication plugs in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from node.api.auth import OptionalMemberDep
from node.api.errors import BadRequest
from node.api.limits import ApiLimits, HeavyGate
from node.api.tag_index import TagIndex
from node.ledger.chain import Ledger


def get_ledger(request: Request) -> Ledger:
    """Return the ledger this app serves (set by ``create_app``)."""
    ledger: Ledger = request.app.state.ledger
    return ledger


LedgerDep = Annotated[Ledger, Depends(get_ledger)]


def get_limits(request: Request) -> ApiLimits:
    """Return the limits this app enforces (set by ``create_app``)."""
    limits: ApiLimits = request.app.state.limits
    return limits


LimitsDep = Annotated[ApiLimits, Depends(get_limits)]


def get_letter_index(request: Request) -> TagIndex[tuple[int, bytes]]:
    """Return the app's memo of letter ids by (party, organisation) (node.api.tag_index)."""
    index: TagIndex[tuple[int, bytes]] = request.app.state.letter_index
    return index


def get_subject_index(request: Request) -> TagIndex[int]:
    """Return the app's memo of grant ids by subject commitment (node.api.tag_index)."""
    index: TagIndex[int] = request.app.state.subject_index
    return index


LetterIndexDep = Annotated[TagIndex[tuple[int, bytes]], Depends(get_letter_index)]
SubjectIndexDep = Annotated[TagIndex[int], Depends(get_subject_index)]


async def heavy_slot(request: Request, _signer: OptionalMemberDep) -> AsyncIterator[None]:
    """Hold one of the node's heavy-request slots for the request; 429 ``busy`` when none is free.

    A signed request is authenticated first (its body read and its signature checked, the same result
    the route's member dependency then reuses), so a client that never finishes sending its body, or
    sends a bad signature, holds no slot.
    """
    gate: HeavyGate = request.app.state.heavy
    with gate.slot(f"{request.method} {request.url.path}"):
        yield


# Declare on routes that run the EVM, build proofs or scan logs: ``dependencies=[HeavyDep]``.
HeavyDep = Depends(heavy_slot)

# Member-signed business queries (records that only their member may read) take ``MemberDep`` from
# node.api.auth, which checks the SM2-signed request headers (sdk.auth) against Governance.


def parse_hex(value: str, *, name: str, size: int | None = None, max_size: int | None = None) -> bytes:
    """Decode 0x-prefixed (or bare) hex.

    Takes: the text, the parameter name for the error, an exact ``size`` or a ``max_size`` in bytes.
    Returns: the bytes.
    Raises: BadRequest (422) when the text is not hex or has the wrong length.
    """
    text = value[2:] if value[:2] in ("0x", "0X") else value
    if len(text) % 2:
        raise BadRequest(f"{name} is not hex: odd number of digits", field=name)
    if max_size is not None and len(text) // 2 > max_size:
        raise BadRequest(f"{name} is longer than {max_size} bytes", field=name, limit=max_size)
    try:
        data = bytes.fromhex(text)
    except ValueError as exc:
        raise BadRequest(f"{name} is not hex", field=name) from exc
    if size is not None and len(data) != size:
        raise BadRequest(f"{name} must be {size} bytes, got {len(data)}", field=name, size=size)
    return data


def parse_hash(value: str, name: str = "hash") -> bytes:
    """Decode a 32-byte hash given in hex; raises BadRequest."""
    return parse_hex(value, name=name, size=32)


def parse_code_id(code: str) -> bytes:
    """The code id of a drug code given as itself (20 digits or a GS1 element string) or as its 0x code id;
    raises BadRequest (a malformed hash) or IdentifierError (400 ``invalid_identifier``)."""
    if code[:2] in ("0x", "0X"):
        return parse_hash(code, "code")
    from sdk.domains.drugs import parse_trace_code

    return parse_trace_code(code).code_id


def parse_address(value: str, name: str = "address") -> bytes:
    """Decode a 20-byte address given in hex (any case, checksummed or not); raises BadRequest."""
    return parse_hex(value, name=name, size=20)
