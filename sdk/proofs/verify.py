"""Offline verification of proof bundles against a trusted genesis or checkpoint: typed errors or facts."""

# Verifier(trust=Genesis(...) | Checkpoint(...)).verify_bundle(bundle) reads top-down as named steps:
# parse → validate_chain_ids → follow_handovers → authenticate_header (event block) → validate_transaction
# → validate_inclusion → validate_receipt → validate_lot (a drug-code bundle) → validate_state. Each step
# raises a VerificationError subclass saying what failed and where (``diagnostics()``); the result holds
# only fields that were checked. Nothing here needs a node, a database or an EVM. A drug-code bundle carries
# no transaction (a lot part's transaction holds every code id of the part): its receipt, proven under the
# sealed receipt root, and the receipt's LotCommissioned log stand for it.
#
# Trust model (docs/proof-bundle.md): from a Genesis anchor, the validator set in force at height h is the
# set carried by the latest handover block below h, each handover sealed by the set before it. A bundle
# that omits a handover is refused because its later headers name a set (validators_hash) the verifier does
# not hold. Like any light client that follows handovers, genesis mode assumes that a quorum of a
# superseded set never seals a fork; a Checkpoint anchor (a trusted recent header) removes that assumption
# for older blocks, which are then proven by history_root inclusion instead of seals.

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sdk.domains.drugs.encoders import CODE_PRODUCT_PREFIX_BYTES
from sdk.domains.drugs.lots import read_lot_commissioned_log, verify_lot_path
from sdk.encoding import readable_repr
from sdk.errors import (
    ChainError,
    EncodingError,
    FormatError,
    InvalidSignatureError,
    MerkleProofError,
    MptProofError,
    ProofError,
    SignatureError,
    StatusError,
)
from sdk.proofs.bundle import Handover, HistoryProof, ProofBundle, SealedHeader, load_bundle
from sdk.proofs.certificate import check_sealed
from sdk.proofs.licence import (
    LICENCE_STATUS_RULE,
    LicenceStatus,
    VerifiedLicence,
    decode_licence,
    judge_licence,
    require_valid,
    validate_licence_identifier,
)
from sdk.proofs.merkle import verify_inclusion
from sdk.proofs.mpt import compute_storage_slot, get_account, verify_storage_proof
from sdk.proofs.trust import Checkpoint, Genesis, Trust
from sdk.system import DRUG_LOTS_ADDRESS, LICENCE_REGISTRY_ADDRESS, SYSTEM_CONTRACT_ADDRESSES
from sdk.types import BlockHeader, Log, compute_validators_hash, sort_validators

__all__ = ["KNOWN_CONTRACTS", "VerifiedEvent", "VerifiedLog", "VerifiedLot", "VerifiedState", "Verifier"]

KNOWN_CONTRACTS: dict[bytes, str] = {address: name for name, address in SYSTEM_CONTRACT_ADDRESSES.items()}


# --- verified results -------------------------------------------------------------------------------
@readable_repr
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


@readable_repr
@dataclass(frozen=True, slots=True)
class VerifiedLot:
    """A drug code proven to be in the DrugLots part a sealed ``LotCommissioned`` log records: commissioned
    by ``mah`` for ``product_id`` and ``batch_no`` at the event's height (its status later is not proven)."""

    code_id: bytes
    part: int
    leaf: int
    product_id: bytes
    batch_no: str
    level: int  # 1 unit, 2 bundle, 3 case (sdk.domains.drugs.Level)
    mah: bytes  # the account that commissioned the part (DrugLots' msg.sender)


@readable_repr
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
    # Keccak-256 of the code at ``address`` at that height: which code was in force (contract upgrades
    # change it). Empty only for a VerifiedState built by hand.
    code_hash: bytes = b""


@readable_repr
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
    sender: bytes  # a drug-code bundle carries no transaction: then the part's MAH, as DrugLots recorded it
    sender_public_key: bytes  # empty in a drug-code bundle (no transaction, no signature to check)
    contract: bytes
    validators: tuple[bytes, ...]  # the set in force that sealed the block (or the checkpoint's set)
    sealed_by: tuple[int, ...]  # indexes into ``validators`` (empty when proven by history inclusion)
    log: VerifiedLog | None = None
    state: VerifiedState | None = None
    licence: VerifiedLicence | None = None  # when the log is a LicenceRegistry LicenceIssued
    handovers: tuple[int, ...] = field(default=())  # heights of the validator-set changes followed
    lot: VerifiedLot | None = None  # a drug-code bundle: the code in the log's lot part


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
        changes = self._follow_handovers(b.handovers)
        header = b.block.header
        validators, sealed_by = self._authenticate_header(b.block, changes, "the event block")
        self._validate_transaction(b)
        self._validate_inclusion(b)
        log = self._validate_receipt(b)
        lot = self._validate_lot(b, log)
        tx = b.event.tx
        licence = None
        if tx is not None and log is not None:
            licence = decode_licence(log.address, log.topics, log.data)
            if licence is not None:
                licence = validate_licence_identifier(tx, licence)
        state = self._validate_state(b, changes, licence) if b.state is not None else None
        return VerifiedEvent(
            chain_id=header.chain_id,
            trust=self.trust.describe(),
            height=header.height,
            block_hash=header.block_hash,
            block_time_ms=header.timestamp_ms,
            tx_hash=b.event.receipt.tx_hash,
            tx_index=b.event.tx_index,
            sender=tx.sender if tx is not None else lot.mah if lot is not None else b"",
            sender_public_key=tx.public_key if tx is not None else b"",
            contract=tx.to if tx is not None else DRUG_LOTS_ADDRESS,
            validators=validators,
            sealed_by=sealed_by,
            log=log,
            state=state,
            licence=licence,
            handovers=tuple(c.height for c in changes[1:]),
            lot=lot,
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
        tx = b.event.tx
        if tx is not None and tx.chain_id != want:
            raise ChainError(f"the transaction is for chain {tx.chain_id}, not {want}")

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

    def verify_header(self, sealed: SealedHeader, handovers: Sequence[Handover]) -> tuple[bytes, ...]:
        """Prove that ``sealed`` (a header with its certificate) is a block of the trusted chain, following
        the validator-set ``handovers`` from the anchor up to it (each sealed by the set before it), under
        the one certificate rule. Returns the validator set that sealed it. Raises VerificationError."""
        changes = self._follow_handovers(handovers)
        validators, _ = self._authenticate_header(sealed, changes, f"block {sealed.header.height}")
        return validators

    def _follow_handovers(self, handovers: Sequence[Handover]) -> list[_SetChange]:
        """Return the validator-set changes from the anchor on, each authenticated by the set before it."""
        changes = [self._anchor_change()]
        anchor_height = self.trust.height
        previous = -1
        for i, ho in enumerate(handovers):
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
            check_sealed(ho.certificate, header, in_force, what)
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
        return validators, check_sealed(sealed.certificate, header, validators, what)

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
        if tx is None:  # a drug-code bundle: the receipt and its log stand for it (validate_lot)
            return
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
        trees = [("receipt", e.receipt.encode(), e.receipt_proof, header.receipt_root)]
        if e.tx is not None:
            trees.insert(0, ("transaction", e.tx.encode(), e.tx_proof, header.tx_root))
        for what, leaf, proof, root in trees:
            try:
                verify_inclusion(leaf, e.tx_index, e.tx_count, proof, root)
            except MerkleProofError as exc:
                raise ProofError(
                    f"the {what} is not in block {header.height}: {exc.message}",
                    height=header.height,
                    tx_index=e.tx_index,
                ) from exc

    @staticmethod
    def _validate_receipt(b: ProofBundle) -> VerifiedLog | None:
        e = b.event
        if e.tx is not None and e.receipt.tx_hash != e.tx.tx_hash:
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
                tx_hash=e.receipt.tx_hash.hex(),
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

    @staticmethod
    def _validate_lot(b: ProofBundle, log: VerifiedLog | None) -> VerifiedLot | None:
        lot = b.lot
        if lot is None:
            return None
        found = read_lot_commissioned_log(Log(log.address, log.topics, log.data)) if log is not None else None
        if found is None:
            raise ProofError("a drug-code bundle's event must be a DrugLots LotCommissioned log")
        if lot.code_id[:CODE_PRODUCT_PREFIX_BYTES] != found.product_id[:CODE_PRODUCT_PREFIX_BYTES]:
            raise ProofError(
                f"the code is not of the product of lot part {found.part}",
                code_id=lot.code_id.hex(),
                product_id=found.product_id.hex(),
            )
        try:
            verify_lot_path(lot.code_id, lot.leaf, found.count, lot.path, found.root)
        except MerkleProofError as exc:
            raise ProofError(
                f"the code is not in lot part {found.part}: {exc.message}",
                part=found.part,
                code_id=lot.code_id.hex(),
            ) from exc
        return VerifiedLot(
            code_id=lot.code_id,
            part=found.part,
            leaf=lot.leaf,
            product_id=found.product_id,
            batch_no=found.batch_no,
            level=found.level,
            mah=found.mah,
        )

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
            code_hash = get_account(header.state_root, s.address, s.account_proof).code_hash
        except MptProofError as exc:
            raise ProofError(
                f"the state proof does not hold against the state root of block {header.height}: "
                f"{exc.message}",
                height=header.height,
            ) from exc
        status: LicenceStatus | None = None
        if s.kind == "licence" and licence is not None:
            status = judge_licence(licence, value, header)
            require_valid(
                status.code,
                header.height,
                header.timestamp_ms,
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
            code_hash=code_hash,
        )
