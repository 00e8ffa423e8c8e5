"""Member authentication for business queries: an SM2-signed request from an active Governance account."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

from eth_abi.abi import decode as abi_decode, encode as abi_encode
from eth_utils.abi import function_signature_to_4byte_selector
from fastapi import Depends, Request

from node.api.deps import get_ledger
from node.ledger.chain import Ledger
from sdk.auth import verify_query
from sdk.errors import AuthenticationError, XinlianError

_ORGANISATION_OF = function_signature_to_4byte_selector("organisation_of(address)")


class NotAMember(XinlianError):
    """The request is signed, but not by an active account of a registered organisation."""

    code = "not_a_member"


@dataclass(frozen=True)
class Member:
    """Who asked: an active account and its organisation (USCC)."""

    address: bytes
    uscc: str
    public_key: bytes


async def get_signed_member(request: Request) -> Member:
    """FastAPI dependency: verify the request's SM2 signature headers and Governance membership.

    Raises AuthenticationError (401) or NotAMember (403).
    """
    ledger: Ledger = get_ledger(request)
    body = await request.body()
    # Sign and check the path exactly as sent (percent-encoding included), not the decoded one.
    raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    query: bytes = request.scope.get("query_string") or b""
    path = raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
    signed = verify_query(
        dict(request.headers),
        chain_id=ledger.chain.chain_id,
        method=request.method,
        path_and_query=path,
        body=body,
        now_ms=int(time.time() * 1000),
    )
    if not ledger.is_active_account(signed.address):
        raise NotAMember(
            "the signing key is not an active account of a registered organisation",
            address="0x" + signed.address.hex(),
        )
    out = ledger.call(ledger.governance_address, _ORGANISATION_OF + abi_encode(["address"], [signed.address]))
    uscc = str(abi_decode(["string"], out)[0])
    return Member(address=signed.address, uscc=uscc, public_key=signed.public_key)


MemberDep = Annotated[Member, Depends(get_signed_member)]

__all__ = ["AuthenticationError", "Member", "MemberDep", "NotAMember", "get_signed_member"]
