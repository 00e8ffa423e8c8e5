"""Trust anchors of the offline Verifier: a chain's genesis or a recent checkpoint, and trust files."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sdk.encoding import from_hex, readable_repr, to_hex
from sdk.errors import ChainError, EncodingError, FormatError
from sdk.proofs.certificate import check_sealed
from sdk.types import BlockHeader, CommitCertificate, compute_validators_hash, sort_validators

TRUST_FORMAT = "xinlian/trust"
TRUST_VERSION = 1


# --- trust anchors ---------------------------------------------------------------------------------------
@readable_repr
@dataclass(frozen=True, slots=True)
class Genesis:
    """Trust the chain's genesis: its id, its block hash and its first validator set (64-byte keys)."""

    chain_id: int
    genesis_hash: bytes
    validators: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if len(self.genesis_hash) != 32:
            raise FormatError("trusted genesis hash must be 32 bytes")
        try:
            ordered = tuple(sort_validators(list(self.validators)))
        except EncodingError as exc:
            raise FormatError(f"trusted validator set is malformed: {exc.message}") from exc
        if not ordered:
            raise FormatError("trusted validator set is empty")
        object.__setattr__(self, "validators", ordered)

    @classmethod
    def from_header(cls, header: BlockHeader, validators: Sequence[bytes]) -> Genesis:
        """Return the anchor for a genesis header and the set it carries.

        Raises ChainError when the header is not at height 0 or the set does not hash to its
        next_validators_hash.
        """
        if header.height != 0:
            raise ChainError(f"a genesis header is at height 0, not {header.height}")
        ordered = tuple(sort_validators(list(validators)))
        if compute_validators_hash(ordered) != header.next_validators_hash:
            raise ChainError("the validator set does not match the genesis header")
        return cls(header.chain_id, header.block_hash, ordered)

    @property
    def height(self) -> int:
        return 0

    def describe(self) -> str:
        """The anchor for people, with its whole hash: a shortened one could not be compared with the
        consortium's published value."""
        return f"genesis 0x{self.genesis_hash.hex()} of chain {self.chain_id}"


@readable_repr
@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Trust a recent header and the validator set that sealed it (optionally with its certificate).

    Blocks below the checkpoint are proven by history_root inclusion; blocks above by seals, following
    handovers from the checkpoint on.
    """

    header: BlockHeader
    validators: tuple[bytes, ...]
    certificate: CommitCertificate | None = None

    def __post_init__(self) -> None:
        try:
            ordered = tuple(sort_validators(list(self.validators)))
        except EncodingError as exc:
            raise FormatError(f"checkpoint validator set is malformed: {exc.message}") from exc
        if compute_validators_hash(ordered) != self.header.validators_hash:
            raise ChainError("the checkpoint's validator set does not match its header's validators_hash")
        object.__setattr__(self, "validators", ordered)
        if self.certificate is not None:
            check_sealed(self.certificate, self.header, ordered, "the checkpoint")

    @property
    def chain_id(self) -> int:
        return self.header.chain_id

    @property
    def height(self) -> int:
        return self.header.height

    def describe(self) -> str:
        """The anchor for people, with its whole block hash (see Genesis.describe)."""
        return f"checkpoint 0x{self.header.block_hash.hex()} at height {self.header.height}"


Trust = Genesis | Checkpoint


def _field(value: Any, name: str) -> bytes:
    return from_hex(value, f"trust file {name}", error=FormatError)


def load_trust(text: str | bytes | Mapping[str, Any]) -> Trust:
    """Parse a trust file (``{"format": "xinlian/trust", "kind": "genesis"|"checkpoint", …}``).

    Returns: a Genesis or Checkpoint anchor. Raises: FormatError for a malformed file, ChainError when
    its parts disagree (e.g. validators that do not match the header).
    """
    if isinstance(text, Mapping):
        obj: Any = text
    else:
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise FormatError(f"trust file is not JSON: {exc}") from exc
    if not isinstance(obj, Mapping) or obj.get("format") != TRUST_FORMAT:
        raise FormatError(f"not a trust file (format must be {TRUST_FORMAT!r})")
    if obj.get("version") != TRUST_VERSION:
        raise FormatError(f"unsupported trust file version {obj.get('version')!r}")
    try:
        validators = [_field(v, "validators[]") for v in obj["validators"]]
        if obj.get("kind") == "genesis":
            if obj.get("genesis_header"):
                header = BlockHeader.decode(_field(obj["genesis_header"], "genesis_header"))
                trust: Trust = Genesis.from_header(header, validators)
                if (
                    obj.get("genesis_hash")
                    and _field(obj["genesis_hash"], "genesis_hash") != header.block_hash
                ):
                    raise ChainError("trust file genesis_hash does not match its genesis header")
                return trust
            return Genesis(
                int(obj["chain_id"]),
                _field(obj["genesis_hash"], "genesis_hash"),
                tuple(validators),
            )
        if obj.get("kind") == "checkpoint":
            header = BlockHeader.decode(_field(obj["header"], "header"))
            cert_hex = obj.get("certificate")
            cert = CommitCertificate.decode(_field(cert_hex, "certificate")) if cert_hex else None
            return Checkpoint(header, tuple(validators), cert)
    except (KeyError, TypeError, ValueError, EncodingError) as exc:
        raise FormatError(f"trust file is malformed: {exc}") from exc
    raise FormatError("trust file kind must be 'genesis' or 'checkpoint'")


def trust_to_json(trust: Trust, genesis_header: BlockHeader | None = None) -> dict[str, Any]:
    """Return the trust-file document for ``trust`` (optionally embedding the genesis header)."""
    out: dict[str, Any] = {"format": TRUST_FORMAT, "version": TRUST_VERSION}
    if isinstance(trust, Genesis):
        out.update(
            kind="genesis",
            chain_id=trust.chain_id,
            genesis_hash=to_hex(trust.genesis_hash),
            validators=[to_hex(k) for k in trust.validators],
        )
        if genesis_header is not None:
            out["genesis_header"] = to_hex(genesis_header.encode())
    else:
        out.update(
            kind="checkpoint",
            chain_id=trust.chain_id,
            header=to_hex(trust.header.encode()),
            certificate=to_hex(trust.certificate.encode()) if trust.certificate else None,
            validators=[to_hex(k) for k in trust.validators],
        )
    return out
