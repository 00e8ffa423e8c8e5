"""Governance.vy's encodings: role ids and the ABI payload of each proposal action."""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, Any

from eth_abi.abi import decode as abi_decode, encode as abi_encode
from eth_utils.crypto import keccak

from sdk.errors import EncodingError
from sdk.system import ROLE_IDS

if TYPE_CHECKING:
    pass


ROLE_NAMES: tuple[str, ...] = tuple(ROLE_IDS)


class Action(IntEnum):
    """Proposal actions of Governance.vy (the ``action`` argument of ``propose``)."""

    REGISTER_ORGANISATION = 1
    SET_ORGANISATION_ACTIVE = 2
    REGISTER_ACCOUNT = 3
    SET_ACCOUNT_ACTIVE = 4
    GRANT_ROLE = 5
    REVOKE_ROLE = 6
    ADD_VALIDATOR = 7
    REMOVE_VALIDATOR = 8
    SET_COMMITTEE_MEMBER = 9
    SET_THRESHOLD = 10
    SET_ROLE_ADMIN = 11
    REGISTER_CONTRACT = 12
    SET_CALENDAR_DAYS = 13
    EXTEND_CALENDAR = 14
    UPGRADE_CONTRACT = 15
    ADD_TRUST_ANCHOR = 16
    REMOVE_TRUST_ANCHOR = 17
    BIND_CERTIFICATE = 18
    UNBIND_CERTIFICATE = 19


# abi.encode(<tuple>) of each action's payload, as Governance._execute decodes it.
_PAYLOAD_TYPES: dict[Action, list[str]] = {
    Action.REGISTER_ORGANISATION: ["string", "string"],
    Action.SET_ORGANISATION_ACTIVE: ["string", "bool"],
    Action.REGISTER_ACCOUNT: ["address", "string"],
    Action.SET_ACCOUNT_ACTIVE: ["address", "bool"],
    Action.GRANT_ROLE: ["address", "bytes32", "bytes32"],
    Action.REVOKE_ROLE: ["address", "bytes32", "bytes32"],
    Action.ADD_VALIDATOR: ["bytes"],
    Action.REMOVE_VALIDATOR: ["bytes"],
    Action.SET_COMMITTEE_MEMBER: ["address", "bool"],
    Action.SET_THRESHOLD: ["uint256"],
    Action.SET_ROLE_ADMIN: ["bytes32", "bytes32"],
    Action.REGISTER_CONTRACT: ["bytes32", "address"],
    Action.SET_CALENDAR_DAYS: ["uint256[]", "uint8"],
    Action.EXTEND_CALENDAR: ["uint256", "uint256[]", "uint256[]"],
    Action.UPGRADE_CONTRACT: ["address", "bytes32", "uint256", "bytes"],
    Action.ADD_TRUST_ANCHOR: ["bytes"],
    Action.REMOVE_TRUST_ANCHOR: ["bytes32"],
    Action.BIND_CERTIFICATE: ["address", "bytes"],
    Action.UNBIND_CERTIFICATE: ["address"],
}


def compute_role_id(role: str | bytes) -> bytes:
    """Return a bytes32 role id: a name such as ``"ISSUER"`` becomes keccak256(name) (Governance's
    convention, as its constants), 32 bytes pass through. Raises EncodingError otherwise."""
    if isinstance(role, bytes):
        if len(role) != 32:
            raise EncodingError("a role id is 32 bytes", code="bad_arguments")
        return role
    if not role or not role.isascii() or role.upper() != role:
        raise EncodingError(f"role name {role!r} must be upper-case ASCII, e.g. ISSUER", code="bad_arguments")
    return keccak(text=role)


def encode_payload(action: Action, *values: Any) -> bytes:
    """Return the ABI payload of a proposal ``action``; raises EncodingError when values do not fit."""
    try:
        return abi_encode(_PAYLOAD_TYPES[action], list(values))
    except Exception as exc:  # eth_abi raises several unrelated types for a value that does not fit
        raise EncodingError(f"payload does not fit {action.name}: {exc}", code="bad_arguments") from exc


def decode_payload(action: Action, payload: bytes) -> tuple[Any, ...]:
    """Return the values of a proposal ``action``'s payload (addresses as 20 bytes); raises EncodingError
    when the payload does not decode."""
    try:
        values = abi_decode(_PAYLOAD_TYPES[action], payload)
    except Exception as exc:  # eth_abi raises several unrelated types for bytes that do not decode
        raise EncodingError(f"payload does not decode as {action.name}: {exc}", code="bad_payload") from exc
    return tuple(
        bytes.fromhex(v[2:]) if t == "address" else v
        for t, v in zip(_PAYLOAD_TYPES[action], values, strict=True)
    )
