"""What the Verifier knows of LicenceRegistry: the status word's layout, the LicenceIssued event, the calls
that issue, and how a proven issuance and status word are read and judged."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from sdk.encoding import readable_repr
from sdk.errors import FormatError, IdentifierError, LicenceIdentifierError, StatusError
from sdk.system import LICENCE_REGISTRY_ADDRESS
from sdk.types import BlockHeader, Transaction


# --- licence status rule --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LicenceStatusRule:
    """Where LicenceRegistry keeps a licence's lifecycle word and how it is packed.

    The word of licence ``id_hash`` is at ``compute_storage_slot(base_slot, id_hash) + offset``
    (``licences: HashMap[bytes32, Licence]``, member ``lifecycle`` = state | suspended_since << 64 |
    ended_at << 128). tests/unit/sdk/test_verify_layout.py checks these numbers against
    contracts/LicenceRegistry.vy and its build's storage_layout; tests/integration/test_proofs.py against
    py-evm.
    """

    base_slot: int
    offset: int
    field_bits: int
    names: Mapping[int, str]
    valid: int


LICENCE_STATUS_RULE = LicenceStatusRule(
    base_slot=2,
    offset=6,  # type_id, holder_commitment, holder_key_hash, document_hash, issuer, window, lifecycle
    field_bits=64,
    names={
        0: "UNKNOWN",
        1: "VALID",
        2: "NOT_YET_VALID",
        3: "EXPIRED",
        4: "SUSPENDED",
        5: "REVOKED",
        6: "SUPERSEDED",
    },
    valid=1,
)
_LICENCE_ISSUED_DATA = ["string", "bytes32", "bytes32", "bytes32", "uint256", "uint256", "string", "bytes32"]


def _licence_issued_topic() -> bytes:
    from eth_utils.abi import event_signature_to_log_topic

    return bytes(
        event_signature_to_log_topic(
            "LicenceIssued(bytes32,bytes32,address,string,bytes32,bytes32,bytes32,uint256,uint256,string,bytes32)"
        )
    )


LICENCE_ISSUED_TOPIC = _licence_issued_topic()  # the event a licence bundle proves

# The calls that emit LicenceIssued, and which argument is the identifier the registry hashed and checked.
# tests/unit/sdk/test_verify.py checks these signatures against LicenceRegistry's ABI.
LICENCE_ISSUING_CALLS: dict[str, tuple[list[str], int]] = {
    "issue": (["string", "bytes32", "bytes32", "bytes32", "uint256", "uint256", "string"], 0),
    "renew": (["bytes32", "string", "bytes32", "uint256", "uint256"], 1),
}


def _selector(name: str, types: Sequence[str]) -> bytes:
    from eth_utils.abi import function_signature_to_4byte_selector

    return bytes(function_signature_to_4byte_selector(f"{name}({','.join(types)})"))


_LICENCE_CALL_BY_SELECTOR = {
    _selector(name, types): (name, types, index) for name, (types, index) in LICENCE_ISSUING_CALLS.items()
}


@readable_repr
@dataclass(frozen=True, slots=True)
class VerifiedLicence:
    """An e-licence issuance proven from its LicenceIssued log (the holder only as a salted commitment)."""

    id_hash: bytes
    type_id: bytes
    issuer: bytes
    issuer_org: str
    holder_commitment: bytes
    holder_key_hash: bytes
    document_hash: bytes
    valid_from: int  # unix seconds
    valid_until: int  # unix seconds, 0 = no end date (长期)
    jurisdiction: str
    previous: bytes
    identifier: str = ""  # the GB/T 36904 identifier, checked to name issuer_org and the type (see below)

    def is_holder(self, salt: bytes, code_type: str, code: str) -> bool:
        """Return whether SM3(salt ‖ code type ‖ code) opens the holder commitment (code as normalised)."""
        from sdk.crypto import sm3

        return sm3(salt + code_type.encode("ascii") + code.encode("ascii")) == self.holder_commitment


@readable_repr
@dataclass(frozen=True, slots=True)
class LicenceStatus:
    """A licence's status at a sealed height: the proven state word, judged with the validity dates."""

    id_hash: bytes
    code: int
    name: str
    height: int
    block_time_ms: int
    ended_at: int | None = None  # unix seconds of the revocation or supersession, when there was one


def decode_licence(address: bytes, topics: Sequence[bytes], data: bytes) -> VerifiedLicence | None:
    """The issuance facts of a verified log when it is a LicenceIssued of the registry, else None.

    Raises FormatError when a LicenceIssued log from the registry has malformed data.
    """
    if address != LICENCE_REGISTRY_ADDRESS or len(topics) != 4 or topics[0] != LICENCE_ISSUED_TOPIC:
        return None
    from eth_abi.abi import decode as abi_decode
    from eth_abi.exceptions import DecodingError

    try:
        org, commitment, key_hash, document, valid_from, valid_until, jurisdiction, previous = abi_decode(
            _LICENCE_ISSUED_DATA, data
        )
    except (DecodingError, ValueError) as exc:
        raise FormatError("the LicenceIssued log data does not decode") from exc
    return VerifiedLicence(
        id_hash=topics[1],
        type_id=topics[2],
        issuer=topics[3][12:],
        issuer_org=str(org),
        holder_commitment=bytes(commitment),
        holder_key_hash=bytes(key_hash),
        document_hash=bytes(document),
        valid_from=int(valid_from),
        valid_until=int(valid_until),
        jurisdiction=str(jurisdiction),
        previous=bytes(previous),
    )


def validate_licence_identifier(tx: Transaction, licence: VerifiedLicence) -> VerifiedLicence:
    """Read the identifier from the proven transaction (an ``issue`` or ``renew`` call to the registry) and
    check that it hashes to the licence's id hash and names the licence's type and issuing organisation
    (LicenceRegistry enforces the same on chain; this refuses a bundle from a registry that did not).

    Returns the licence with its identifier. Raises LicenceIdentifierError.
    """
    from eth_abi.abi import decode as abi_decode
    from eth_abi.exceptions import DecodingError

    from sdk.crypto import sm3

    call = _LICENCE_CALL_BY_SELECTOR.get(bytes(tx.data[:4])) if tx.to == LICENCE_REGISTRY_ADDRESS else None
    if call is None:
        raise LicenceIdentifierError(
            "the licence issuance's transaction is not an issue or renew call to the registry: its "
            "identifier cannot be read",
            contract=tx.to.hex(),
        )
    name, types, index = call
    try:
        identifier = str(abi_decode(types, bytes(tx.data[4:]))[index])
        id_hash = sm3(identifier.encode("ascii"))
    except (DecodingError, ValueError, UnicodeEncodeError) as exc:
        raise LicenceIdentifierError(f"the {name} call's identifier does not decode") from exc
    if id_hash != licence.id_hash:
        raise LicenceIdentifierError(
            f"the {name} call's identifier does not hash to the licence's id hash",
            identifier=identifier,
            id_hash=licence.id_hash.hex(),
        )
    facts = read_licence_identifier(identifier)
    if facts.issuer_kind != "uscc" or facts.issuer_org != licence.issuer_org:
        raise LicenceIdentifierError(
            f"the licence identifier names issuer {facts.issuer_org}, but organisation "
            f"{licence.issuer_org} issued it",
            identifier=identifier,
            issuer_code=facts.issuer_org,
            issuer_org=licence.issuer_org,
        )
    if facts.type_id != licence.type_id:
        raise LicenceIdentifierError(
            f"the licence identifier names type {facts.type_code}, not the licence's type",
            identifier=identifier,
            type_id=licence.type_id.hex(),
        )
    return replace(licence, identifier=facts.identifier)


@readable_repr
@dataclass(frozen=True, slots=True)
class LicenceIdentifierFacts:
    """What a well-formed licence identifier names: its hash (the registry's key), its type and its issuer."""

    identifier: str
    id_hash: bytes  # SM3(identifier)
    type_code: str
    type_id: bytes  # SM3(type code)
    issuer_org: str  # the issuer segment: an organisation's USCC (a region code never issues on chain)
    issuer_kind: str  # "uscc" or "region"


def read_licence_identifier(identifier: str) -> LicenceIdentifierFacts:
    """Check a licence identifier's form and check character (not the embedded USCCs' own check
    characters: LicenceRegistry does not either) and return what it names.

    Raises LicenceIdentifierError for a malformed identifier.
    """
    from sdk.crypto import sm3
    from sdk.identifiers import parse_licence_id

    try:
        parsed = parse_licence_id(identifier, check_embedded_uscc=False)
    except IdentifierError as exc:
        raise LicenceIdentifierError(
            f"the licence identifier is malformed: {exc.message}", identifier=identifier
        ) from exc
    return LicenceIdentifierFacts(
        identifier=parsed.identifier,
        id_hash=sm3(parsed.identifier.encode("ascii")),
        type_code=parsed.type_code,
        type_id=sm3(parsed.type_code.encode("ascii")),
        issuer_org=parsed.issuer_code,
        issuer_kind=parsed.issuer_kind,
    )


def judge_licence(licence: VerifiedLicence, word: int, header: BlockHeader) -> LicenceStatus:
    """Status at ``header``, as LicenceRegistry.status_at(block.timestamp) computes it from the proven
    lifecycle word (state, suspended_since, ended_at) and the issuance's validity dates."""
    rule = LICENCE_STATUS_RULE
    mask = (1 << rule.field_bits) - 1
    state = word & mask
    suspended_since = (word >> rule.field_bits) & mask
    ended_at = (word >> (2 * rule.field_bits)) & mask
    t = header.timestamp_ms // 1000  # block.timestamp as the EVM sees it
    if state == 0:
        code = 0
    elif state in (5, 6) and t >= ended_at:
        code = state
    elif suspended_since and t >= suspended_since:
        code = 4
    elif t < licence.valid_from:
        code = 2
    elif licence.valid_until and t > licence.valid_until:
        code = 3
    else:
        code = rule.valid
    name = rule.names.get(code, f"UNKNOWN({code})")
    return LicenceStatus(licence.id_hash, code, name, header.height, header.timestamp_ms, ended_at or None)


# --- verdicts: one rule for the bundle's state proof and the compact statement ---------------------------
#: A status proven longer ago than this is shown with a warning that it may have changed since.
STALE_AFTER_MS = 24 * 3600 * 1000


def status_name(code: int) -> str:
    """The name of a LicenceRegistry status code (``UNKNOWN(n)`` for a code the rule does not know)."""
    return LICENCE_STATUS_RULE.names.get(code, f"UNKNOWN({code})")


def require_valid(
    code: int,
    height: int,
    block_time_ms: int,
    *,
    issued_at_height: int | None = None,
    ended_at: int | None = None,
) -> None:
    """Raise StatusError unless ``code`` (the status proven at ``height``) is VALID."""
    if code == LICENCE_STATUS_RULE.valid:
        return
    name = status_name(code)
    issued = f"; it was issued at height {issued_at_height}" if issued_at_height is not None else ""
    # No time in the message: callers show block_time_ms and ended_at in their own convention.
    raise StatusError(
        f"the licence is {name} at height {height}{issued}",
        status=name,
        height=height,
        block_time_ms=block_time_ms,
        issued_at_height=issued_at_height,
        ended_at=ended_at,
    )


def is_stale(block_time_ms: int, now_ms: int) -> bool:
    """Whether a status proven at ``block_time_ms`` is older than STALE_AFTER_MS at ``now_ms``."""
    return now_ms - block_time_ms > STALE_AFTER_MS
