"""Offline verification of proof bundles against a trusted genesis or checkpoint: typed errors or facts."""

# Verifier(trust=Genesis(...) | Checkpoint(...)).verify_bundle(bundle) reads top-down as named steps:
# parse → validate_chain_ids → follow_handovers → authenticate_header (event block) → validate_transaction
# → validate_inclusion → validate_receipt → validate_state. Each step raises a VerificationError subclass
# saying what failed and where (``diagnostics()``); the result holds only fields that were checked. Nothing
# here needs a node, a database or an EVM.
#
# Trust model (docs/proof-bundle.md): from a Genesis anchor, the validator set in force at height h is the
# set carried by the latest handover block below h, each handover sealed by the set before it. A bundle
# that omits a handover is refused because its later headers name a set (validators_hash) the verifier does
# not hold. Like any light client that follows handovers, genesis mode assumes that a quorum of a
# superseded set never seals a fork; a Checkpoint anchor (a trusted recent header) removes that assumption
# for older blocks, which are then proven by history_root inclusion instead of seals.

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sdk.bundle import HistoryProof, ProofBundle, SealedHeader, load_bundle
from sdk.crypto import PublicKey
from sdk.errors import (
    ChainError,
    EncodingError,
    FormatError,
    IdentifierError,
    InvalidKeyError,
    InvalidSignatureError,
    LicenceIdentifierError,
    MerkleProofError,
    MptProofError,
    ProofError,
    QuorumError,
    SignatureError,
    StatusError,
    VerificationError,
)
from sdk.merkle import verify_inclusion
from sdk.mpt import compute_storage_slot, verify_storage_proof
from sdk.system import LICENCE_REGISTRY_ADDRESS, SYSTEM_CONTRACT_ADDRESSES
from sdk.types import (
    BlockHeader,
    CommitCertificate,
    Log,
    commit_preimage,
    compute_validators_hash,
    quorum,
    sort_validators,
)

__all__ = [
    "ChainError",
    "Checkpoint",
    "FormatError",
    "Genesis",
    "LicenceIdentifierError",
    "LicenceStatus",
    "ProofError",
    "QuorumError",
    "SignatureError",
    "StatusError",
    "Trust",
    "VerificationError",
    "VerifiedEvent",
    "VerifiedLog",
    "VerifiedState",
    "Verifier",
    "load_trust",
]

TRUST_FORMAT = "xinlian/trust"
TRUST_VERSION = 1

# System contract addresses (node/genesis.py fixes them; a unit test keeps the two in step).
KNOWN_CONTRACTS: dict[bytes, str] = {address: name for name, address in SYSTEM_CONTRACT_ADDRESSES.items()}


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


# --- trust anchors ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1024)
def _key(raw: bytes) -> PublicKey:
    return PublicKey.from_bytes(raw)


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
        return f"genesis {self.genesis_hash.hex()[:16]}… of chain {self.chain_id}"


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
            _validate_certificate(self.certificate, self.header, ordered, "the checkpoint")

    @property
    def chain_id(self) -> int:
        return self.header.chain_id

    @property
    def height(self) -> int:
        return self.header.height

    def describe(self) -> str:
        return f"checkpoint {self.header.block_hash.hex()[:16]}… at height {self.header.height}"


Trust = Genesis | Checkpoint


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
        validators = [bytes.fromhex(_strip(v)) for v in obj["validators"]]
        if obj.get("kind") == "genesis":
            if obj.get("genesis_header"):
                header = BlockHeader.decode(bytes.fromhex(_strip(obj["genesis_header"])))
                trust: Trust = Genesis.from_header(header, validators)
                if (
                    obj.get("genesis_hash")
                    and bytes.fromhex(_strip(obj["genesis_hash"])) != header.block_hash
                ):
                    raise ChainError("trust file genesis_hash does not match its genesis header")
                return trust
            return Genesis(
                int(obj["chain_id"]), bytes.fromhex(_strip(obj["genesis_hash"])), tuple(validators)
            )
        if obj.get("kind") == "checkpoint":
            header = BlockHeader.decode(bytes.fromhex(_strip(obj["header"])))
            cert_hex = obj.get("certificate")
            cert = CommitCertificate.decode(bytes.fromhex(_strip(cert_hex))) if cert_hex else None
            return Checkpoint(header, tuple(validators), cert)
    except (KeyError, TypeError, ValueError, EncodingError) as exc:
        raise FormatError(f"trust file is malformed: {exc}") from exc
    raise FormatError("trust file kind must be 'genesis' or 'checkpoint'")


def _strip(value: Any) -> str:
    text = str(value)
    return text[2:] if text[:2] in ("0x", "0X") else text


def trust_to_json(trust: Trust, genesis_header: BlockHeader | None = None) -> dict[str, Any]:
    """Return the trust-file document for ``trust`` (optionally embedding the genesis header)."""
    out: dict[str, Any] = {"format": TRUST_FORMAT, "version": TRUST_VERSION}
    if isinstance(trust, Genesis):
        out.update(
            kind="genesis",
            chain_id=trust.chain_id,
            genesis_hash="0x" + trust.genesis_hash.hex(),
            validators=["0x" + k.hex() for k in trust.validators],
        )
        if genesis_header is not None:
            out["genesis_header"] = "0x" + genesis_header.encode().hex()
    else:
        out.update(
            kind="checkpoint",
            chain_id=trust.chain_id,
            header="0x" + trust.header.encode().hex(),
            certificate="0x" + trust.certificate.encode().hex() if trust.certificate else None,
            validators=["0x" + k.hex() for k in trust.validators],
        )
    return out


# --- verified results -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class VerifiedLog:
    """A log proven to be in the verified receipt."""

    index: int
    address: bytes
    topics: tuple[bytes, ...]
    data: bytes

    @property
    def contract_name(self) -> str | None:
        """The system contract that emitted it, when it is one."""
        return KNOWN_CONTRACTS.get(self.address)

    def decode(self) -> tuple[str, dict[str, Any]] | None:
        """Return (event name, arguments) through the SDK's ABI of the emitting system contract, or None."""
        name = self.contract_name
        if name is None:
            return None
        from sdk.contracts import Contract

        try:
            decoded = Contract(name).try_decode_log(Log(self.address, self.topics, self.data))
        except EncodingError:
            return None
        if decoded is None:
            return None
        return decoded.name, dict(decoded.args)


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


@dataclass(frozen=True, slots=True)
class LicenceStatus:
    """A licence's status at a sealed height: the proven state word, judged with the validity dates."""

    id_hash: bytes
    code: int
    name: str
    height: int
    block_time_ms: int
    ended_at: int | None = None  # unix seconds of the revocation or supersession, when there was one


@dataclass(frozen=True, slots=True)
class VerifiedState:
    """A storage slot value proven against the state root of a sealed header."""

    height: int
    block_hash: bytes
    block_time_ms: int
    address: bytes
    slot: int
    value: int
    kind: str
    licence: LicenceStatus | None = None


@dataclass(frozen=True, slots=True)
class VerifiedEvent:
    """What a bundle proves, and nothing else: every field here was checked by the Verifier."""

    chain_id: int
    trust: str
    height: int
    block_hash: bytes
    block_time_ms: int
    tx_hash: bytes
    tx_index: int
    sender: bytes
    sender_public_key: bytes
    contract: bytes
    validators: tuple[bytes, ...]  # the set in force that sealed the block (or the checkpoint's set)
    sealed_by: tuple[int, ...]  # indexes into ``validators`` (empty when proven by history inclusion)
    log: VerifiedLog | None = None
    state: VerifiedState | None = None
    licence: VerifiedLicence | None = None  # when the log is a LicenceRegistry LicenceIssued
    handovers: tuple[int, ...] = field(default=())  # heights of the validator-set changes followed


# --- certificate check --------------------------------------------------------------------------------
def _validate_certificate(
    cert: CommitCertificate | None, header: BlockHeader, validators: Sequence[bytes], what: str
) -> tuple[int, ...]:
    """Check ``cert`` seals ``header`` with ≥ quorum distinct valid seals of ``validators``.

    Returns the sealing indexes. Raises ChainError (certificate of another block), QuorumError (too few or
    out-of-range seals) or SignatureError (a seal that does not verify).
    """
    h = header.height
    if cert is None:
        raise QuorumError(f"{what} (height {h}) has no commit certificate", height=h)
    block_hash = header.block_hash
    if cert.height != h or cert.round != header.round or cert.block_hash != block_hash:
        raise ChainError(
            f"the certificate of {what} seals another block (height {cert.height}, round {cert.round})",
            height=h,
            certificate_block_hash=cert.block_hash.hex(),
            block_hash=block_hash.hex(),
        )
    n = len(validators)
    indexes = tuple(s.validator_index for s in cert.seals)
    for i in indexes:
        if i >= n:
            raise QuorumError(
                f"{what} (height {h}) has a seal from validator index {i}, but the set in force has {n}",
                height=h,
                validator_index=i,
            )
    need = quorum(n)
    if len(indexes) < need:
        raise QuorumError(
            f"{what} (height {h}) is sealed by {len(indexes)} distinct validators; quorum of {n} is {need}",
            height=h,
            seals=len(indexes),
            quorum=need,
        )
    preimage = commit_preimage(header.chain_id, cert.height, cert.round, cert.block_hash)
    for seal in cert.seals:
        try:
            _key(validators[seal.validator_index]).verify(preimage, seal.signature)
        except (InvalidSignatureError, InvalidKeyError) as exc:
            raise SignatureError(
                f"the seal of validator {seal.validator_index} on {what} (height {h}) does not verify",
                height=h,
                validator_index=seal.validator_index,
                validator=validators[seal.validator_index].hex()[:16] + "…",
            ) from exc
    return indexes


# --- the verifier --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _SetChange:
    height: int  # the set applies to heights > height
    validators: tuple[bytes, ...] | None  # None: unknown (a checkpoint that hands over, without its entry)
    validators_hash: bytes


class Verifier:
    """Verify proof bundles offline against one trust anchor; thread-safe and reusable."""

    def __init__(self, *, trust: Trust) -> None:
        """Takes: ``trust``, a Genesis or Checkpoint anchor (see load_trust for trust files)."""
        if not isinstance(trust, Genesis | Checkpoint):
            raise FormatError("trust must be a Genesis or a Checkpoint")
        self.trust = trust

    # --- entry point ---------------------------------------------------------------------------------
    def verify_bundle(self, bundle: ProofBundle | str | bytes | Mapping[str, Any]) -> VerifiedEvent:
        """Verify a bundle (object, JSON text or dict, or a QR payload) and return what it proves.

        Returns: a VerifiedEvent holding only checked fields.
        Raises: FormatError, ChainError, SignatureError, QuorumError, ProofError or StatusError (all
        VerificationError) saying what failed; never returns a failure value.
        """
        b = self._parse(bundle)
        self._validate_chain_ids(b)
        changes = self._follow_handovers(b)
        header = b.block.header
        validators, sealed_by = self._authenticate_header(b.block, changes, "the event block")
        self._validate_transaction(b)
        self._validate_inclusion(b)
        log = self._validate_receipt(b)
        licence = _decode_licence(log)
        if licence is not None:
            licence = _validate_licence_identifier(b, licence)
        state = self._validate_state(b, changes, licence) if b.state is not None else None
        tx = b.event.tx
        return VerifiedEvent(
            chain_id=header.chain_id,
            trust=self.trust.describe(),
            height=header.height,
            block_hash=header.block_hash,
            block_time_ms=header.timestamp_ms,
            tx_hash=tx.tx_hash,
            tx_index=b.event.tx_index,
            sender=tx.sender,
            sender_public_key=tx.public_key,
            contract=tx.to,
            validators=validators,
            sealed_by=sealed_by,
            log=log,
            state=state,
            licence=licence,
            handovers=tuple(c.height for c in changes[1:]),
        )

    # --- steps ---------------------------------------------------------------------------------------
    @staticmethod
    def _parse(bundle: ProofBundle | str | bytes | Mapping[str, Any]) -> ProofBundle:
        if isinstance(bundle, ProofBundle):
            return bundle
        if isinstance(bundle, Mapping):
            return ProofBundle.from_json(bundle)
        if isinstance(bundle, str | bytes):
            return load_bundle(bundle)
        raise FormatError(f"cannot read a bundle from a {type(bundle).__name__}")

    def _validate_chain_ids(self, b: ProofBundle) -> None:
        want = self.trust.chain_id
        if b.chain_id != want:
            raise ChainError(
                f"the bundle is for chain {b.chain_id}, the trusted chain is {want}",
                bundle_chain_id=b.chain_id,
                trusted_chain_id=want,
            )
        if isinstance(self.trust, Genesis) and b.genesis_hash != self.trust.genesis_hash:
            raise ChainError(
                "the bundle comes from another chain: its genesis differs from the trusted genesis",
                bundle_genesis=b.genesis_hash.hex(),
                trusted_genesis=self.trust.genesis_hash.hex(),
            )
        headers: list[tuple[str, BlockHeader]] = [("the event block", b.block.header)]
        headers += [(f"handover {i}", h.header) for i, h in enumerate(b.handovers)]
        if b.state is not None:
            headers.append(("the state block", b.state.sealed.header))
        for what, header in headers:
            if header.chain_id != want:
                raise ChainError(
                    f"{what} (height {header.height}) is for chain {header.chain_id}, not {want}",
                    height=header.height,
                )
        if b.event.tx.chain_id != want:
            raise ChainError(f"the transaction is for chain {b.event.tx.chain_id}, not {want}")

    def _anchor_change(self) -> _SetChange:
        t = self.trust
        if isinstance(t, Genesis):
            return _SetChange(0, t.validators, compute_validators_hash(t.validators))
        h = t.header
        if h.next_validators_hash == h.validators_hash:
            return _SetChange(h.height, t.validators, h.validators_hash)
        return _SetChange(h.height, None, h.next_validators_hash)

    def _anchor_hash(self) -> bytes:
        t = self.trust
        return t.genesis_hash if isinstance(t, Genesis) else t.header.block_hash

    def _follow_handovers(self, b: ProofBundle) -> list[_SetChange]:
        """Return the validator-set changes from the anchor on, each authenticated by the set before it."""
        changes = [self._anchor_change()]
        anchor_height = self.trust.height
        previous = -1
        for i, ho in enumerate(b.handovers):
            header = ho.header
            h = header.height
            what = f"handover block {h}"
            if h <= previous:
                raise FormatError("handovers must be in strictly increasing height order", index=i)
            previous = h
            try:
                new_hash = compute_validators_hash(ho.validators)
                ordered = tuple(sort_validators(list(ho.validators)))
            except EncodingError as exc:
                raise FormatError(f"{what} carries a malformed validator set: {exc.message}") from exc
            if ordered != ho.validators:
                raise FormatError(f"{what} carries a validator set that is not sorted by address")
            if new_hash != header.next_validators_hash:
                raise ChainError(
                    f"{what} carries a validator set that its header does not commit to", height=h
                )
            if h < anchor_height:
                continue  # below a checkpoint the set is irrelevant: older blocks are proven by history
            if h == anchor_height:
                if header.block_hash != self._anchor_hash():
                    raise ChainError(f"{what} is not the trusted anchor block at that height", height=h)
                if changes[0].validators is not None and changes[0].validators != ordered:
                    raise ChainError(f"{what} names another set than the trusted one", height=h)
                changes[0] = _SetChange(h, ordered, new_hash)
                continue
            if header.next_validators_hash == header.validators_hash:
                raise FormatError(f"block {h} does not change the validator set; it is no handover")
            in_force = self._set_at(changes, h, header)
            _validate_certificate(ho.certificate, header, in_force, what)
            changes.append(_SetChange(h, ordered, new_hash))
        return changes

    def _set_at(self, changes: Sequence[_SetChange], height: int, header: BlockHeader) -> tuple[bytes, ...]:
        """The validator set in force at ``height`` (set by the latest change below it), checked against
        the header's validators_hash."""
        change = changes[0]
        for c in changes:
            if c.height < height:
                change = c
        if change.validators is None:
            raise ChainError(
                f"the trusted checkpoint hands over to a new set, which the bundle lacks (height {height})",
                height=height,
            )
        if header.validators_hash != change.validators_hash:
            raise ChainError(
                f"block {height} names another validator set than the one in force from height "
                f"{change.height + 1}: a handover is missing from the bundle, or the block is from a fork",
                height=height,
                set_from_height=change.height + 1,
            )
        return change.validators

    def _authenticate_header(
        self, sealed: SealedHeader, changes: Sequence[_SetChange], what: str
    ) -> tuple[tuple[bytes, ...], tuple[int, ...]]:
        """Prove ``sealed.header`` is a block of the trusted chain; return (validators, sealing indexes)."""
        header = sealed.header
        h = header.height
        anchor_height = self.trust.height
        if h == anchor_height:
            if header.block_hash != self._anchor_hash():
                raise ChainError(f"{what} at the anchor height {h} is not the trusted block", height=h)
            validators = self.trust.validators
            if isinstance(self.trust, Checkpoint) and self.trust.certificate is not None:
                return validators, tuple(s.validator_index for s in self.trust.certificate.seals)
            return validators, ()
        if h < anchor_height:  # only a checkpoint has blocks below it (genesis is height 0)
            self._validate_history(sealed.history, header, what)
            return (), ()
        validators = self._set_at(changes, h, header)
        return validators, _validate_certificate(sealed.certificate, header, validators, what)

    def _validate_history(self, history: HistoryProof | None, header: BlockHeader, what: str) -> None:
        if not isinstance(self.trust, Checkpoint):
            raise ChainError(f"{what} is below the trusted genesis", height=header.height)
        anchor = self.trust.header
        h = header.height
        if history is None:
            raise ProofError(
                f"{what} (height {h}) is below the checkpoint ({anchor.height}) but has no history proof",
                height=h,
            )
        if history.size != anchor.height:
            raise ProofError(
                f"the history proof of {what} is for a checkpoint at height {history.size}, "
                f"the trusted one is at {anchor.height}",
                height=h,
            )
        try:
            verify_inclusion(header.block_hash, h, history.size, history.path, anchor.history_root)
        except MerkleProofError as exc:
            raise ProofError(
                f"{what} (height {h}) is not in the checkpoint's history: {exc.message}", height=h
            ) from exc

    @staticmethod
    def _validate_transaction(b: ProofBundle) -> None:
        tx = b.event.tx
        try:
            tx.verify_signature()
        except InvalidSignatureError as exc:
            raise SignatureError(
                f"the transaction's SM2 signature does not verify: {exc.message}",
                tx_hash=tx.tx_hash.hex(),
                sender=tx.sender.hex(),
            ) from exc

    @staticmethod
    def _validate_inclusion(b: ProofBundle) -> None:
        e = b.event
        header = b.block.header
        try:
            verify_inclusion(e.tx.encode(), e.tx_index, e.tx_count, e.tx_proof, header.tx_root)
        except MerkleProofError as exc:
            raise ProofError(
                f"the transaction is not in block {header.height}: {exc.message}",
                height=header.height,
                tx_index=e.tx_index,
            ) from exc
        try:
            verify_inclusion(e.receipt.encode(), e.tx_index, e.tx_count, e.receipt_proof, header.receipt_root)
        except MerkleProofError as exc:
            raise ProofError(
                f"the receipt is not in block {header.height}: {exc.message}",
                height=header.height,
                tx_index=e.tx_index,
            ) from exc

    @staticmethod
    def _validate_receipt(b: ProofBundle) -> VerifiedLog | None:
        e = b.event
        if e.receipt.tx_hash != e.tx.tx_hash:
            raise ProofError(
                "the receipt belongs to another transaction",
                receipt_tx_hash=e.receipt.tx_hash.hex(),
                tx_hash=e.tx.tx_hash.hex(),
            )
        if e.receipt.status != 1:
            reason = e.receipt.revert_reason.decode("utf-8", "replace")
            raise StatusError(
                f"the transaction was committed at height {b.block.header.height} but reverted: {reason}",
                height=b.block.header.height,
                tx_hash=e.tx.tx_hash.hex(),
            )
        if e.log_index is None:
            return None
        logs = e.receipt.logs
        if e.log_index >= len(logs):
            raise ProofError(
                f"log index {e.log_index} is outside the receipt's {len(logs)} logs", log_index=e.log_index
            )
        log = logs[e.log_index]
        return VerifiedLog(e.log_index, log.address, log.topics, log.data)

    def _validate_state(
        self, b: ProofBundle, changes: Sequence[_SetChange], licence: VerifiedLicence | None
    ) -> VerifiedState:
        s = b.state
        if s is None:
            raise FormatError("the bundle has no state proof")
        header = s.sealed.header
        event_height = b.block.header.height
        if header.height < event_height:
            raise ChainError(
                f"the state proof is at height {header.height}, before the event (height {event_height})",
                height=header.height,
            )
        self._authenticate_header(s.sealed, changes, "the state block")
        rule = LICENCE_STATUS_RULE
        if s.kind == "licence":
            if licence is None:
                raise FormatError("a licence status proof needs the event to be a LicenceIssued log")
            expected = compute_storage_slot(rule.base_slot, licence.id_hash) + rule.offset
            if s.address != LICENCE_REGISTRY_ADDRESS or s.slot != expected:
                raise ProofError(
                    "the state proof is about another slot than the status of the licence in the event",
                    address=s.address.hex(),
                    slot=hex(s.slot),
                    expected_slot=hex(expected),
                )
        try:
            value = verify_storage_proof(
                header.state_root, s.address, s.slot, s.account_proof, s.storage_proof
            )
        except MptProofError as exc:
            raise ProofError(
                f"the state proof does not hold against the state root of block {header.height}: "
                f"{exc.message}",
                height=header.height,
            ) from exc
        status: LicenceStatus | None = None
        if s.kind == "licence" and licence is not None:
            status = _judge_licence(licence, value, header)
            if status.code != rule.valid:
                since = f", since {_utc(status.ended_at * 1000)}" if status.ended_at else ""
                raise StatusError(
                    f"the licence is {status.name} at height {header.height} "
                    f"(block time {_utc(header.timestamp_ms)}{since}); "
                    f"it was issued at height {event_height}",
                    status=status.name,
                    height=header.height,
                    block_time_ms=header.timestamp_ms,
                    issued_at_height=event_height,
                    ended_at=status.ended_at,
                )
        return VerifiedState(
            height=header.height,
            block_hash=header.block_hash,
            block_time_ms=header.timestamp_ms,
            address=s.address,
            slot=s.slot,
            value=value,
            kind=s.kind,
            licence=status,
        )


def _utc(timestamp_ms: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(timestamp_ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _decode_licence(log: VerifiedLog | None) -> VerifiedLicence | None:
    """The issuance facts of a verified LicenceIssued log, or None for any other log.

    Raises FormatError when a LicenceIssued log from the registry has malformed data.
    """
    if (
        log is None
        or log.address != LICENCE_REGISTRY_ADDRESS
        or len(log.topics) != 4
        or log.topics[0] != LICENCE_ISSUED_TOPIC
    ):
        return None
    from eth_abi.abi import decode as abi_decode
    from eth_abi.exceptions import DecodingError

    try:
        org, commitment, key_hash, document, valid_from, valid_until, jurisdiction, previous = abi_decode(
            _LICENCE_ISSUED_DATA, log.data
        )
    except (DecodingError, ValueError) as exc:
        raise FormatError("the LicenceIssued log data does not decode") from exc
    return VerifiedLicence(
        id_hash=log.topics[1],
        type_id=log.topics[2],
        issuer=log.topics[3][12:],
        issuer_org=str(org),
        holder_commitment=bytes(commitment),
        holder_key_hash=bytes(key_hash),
        document_hash=bytes(document),
        valid_from=int(valid_from),
        valid_until=int(valid_until),
        jurisdiction=str(jurisdiction),
        previous=bytes(previous),
    )


def _validate_licence_identifier(b: ProofBundle, licence: VerifiedLicence) -> VerifiedLicence:
    """Read the identifier from the proven transaction (an ``issue`` or ``renew`` call to the registry) and
    check that it hashes to the licence's id hash and names the licence's type and issuing organisation
    (LicenceRegistry enforces the same on chain; this refuses a bundle from a registry that did not).

    Returns the licence with its identifier. Raises LicenceIdentifierError.
    """
    from eth_abi.abi import decode as abi_decode
    from eth_abi.exceptions import DecodingError

    from sdk.crypto import sm3
    from sdk.identifiers import parse_licence_id

    tx = b.event.tx
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
    try:
        parsed = parse_licence_id(identifier, check_embedded_uscc=False)
    except IdentifierError as exc:
        raise LicenceIdentifierError(
            f"the licence identifier is malformed: {exc.message}", identifier=identifier
        ) from exc
    if parsed.issuer_kind != "uscc" or parsed.issuer_code != licence.issuer_org:
        raise LicenceIdentifierError(
            f"the licence identifier names issuer {parsed.issuer_code}, but organisation "
            f"{licence.issuer_org} issued it",
            identifier=identifier,
            issuer_code=parsed.issuer_code,
            issuer_org=licence.issuer_org,
        )
    if sm3(parsed.type_code.encode("ascii")) != licence.type_id:
        raise LicenceIdentifierError(
            f"the licence identifier names type {parsed.type_code}, not the licence's type",
            identifier=identifier,
            type_id=licence.type_id.hex(),
        )
    return replace(licence, identifier=parsed.identifier)


def _judge_licence(licence: VerifiedLicence, word: int, header: BlockHeader) -> LicenceStatus:
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
