"""Member identity: who the node recognises behind a member-signed request."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from node.api.auth import MemberDep

router = APIRouter(prefix="/v1/members", tags=["members"])


class MemberPublic(BaseModel):
    address: str
    uscc: str
    public_key: str


@router.get("/me", response_model=MemberPublic)
async def whoami(member: MemberDep) -> MemberPublic:
    """Echo the verified signer of this request: its account address, organisation and public key."""
    return MemberPublic(
        address="0x" + member.address.hex(), uscc=member.uscc, public_key="0x" + member.public_key.hex()
    )
