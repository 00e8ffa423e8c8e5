"""Member sessions: one SM2-signed request opens a session whose requests are then authenticated with
HMAC-SM3 (sdk.auth), so a busy member does not pay an SM2 verification per read."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from node.api.auth import MemberDep, SessionKeys
from sdk.auth import HEADER_SESSION
from sdk.crypto import PublicKey
from sdk.errors import AuthenticationError

router = APIRouter(prefix="/v1/sessions", tags=["members"])


class SessionOpened(BaseModel):
    token: str = Field(description="hex; sent with every request of the session (X-Xinlian-Session)")
    key: str = Field(
        description="hex: the 32-byte HMAC-SM3 key of the session, SM2-encrypted to the signing account's "
        "public key (only the member can decrypt it)"
    )
    expires_ms: int = Field(description="unix ms after which the node refuses the session (session_expired)")


@router.post("", response_model=SessionOpened)
async def open_session(request: Request, response: Response, member: MemberDep) -> SessionOpened:
    """Open a session for the signing member (its key's account). The session key is SM2-encrypted to that
    account's public key, so a copy of the signed request (captured, or replayed after a restart emptied the
    replay cache) opens a session nobody else can use. Only over https, and only with an SM2 signature: a
    session cannot extend itself, so a leaked session key is worth at most one session's lifetime.
    Membership is still checked on every request of the session.

    Raises 403 ``insecure_transport`` (plain http), 401 ``unauthenticated`` (a session request).
    """
    if request.url.scheme != "https":
        raise AuthenticationError(
            "sessions are opened only over https (the answer carries the session key); "
            "sign each request instead",
            code="insecure_transport",
        )
    if any(k.lower() == HEADER_SESSION.lower() for k in request.headers):
        raise AuthenticationError("open a session with an SM2-signed request, not from within a session")
    sessions: SessionKeys = request.app.state.sessions
    session = sessions.open(member.public_key, int(time.time() * 1000))
    response.headers["Cache-Control"] = "no-store"
    sealed = PublicKey.from_bytes(member.public_key).encrypt(session.key)
    return SessionOpened(token=session.token.hex(), key=sealed.hex(), expires_ms=session.expires_ms)
