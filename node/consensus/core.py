"""QBFT consensus core: a pure state machine for one height at a time, driven by messages and timers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Generic, Protocol, TypeAlias, TypeVar

from node.consensus.messages import (
    Commit,
    CommitPayload,
    Message,
    Prepare,
    PreparedCertificate,
    PreparePayload,
    Proposal,
    ProposalPayload,
    RoundChange,
    RoundChangePayload,
    SignatureVerifier,
    Signed,
    Signer,
    compute_commit_seal_preimage,
    compute_signing_preimage,
    decode_message,
    decode_prepared_certificate,
    encode_message,
    encode_prepared_certificate,
    sign_payload,
    verify_signed,
)
from node.consensus.wal import ConsensusWal, Step, WalRecord
from sdk.crypto import sm3
from sdk.errors import CertificateError, ConsensusError, EncodingError, XinlianError
from sdk.proofs.certificate import check_certificate, compute_quorum
from sdk.types import CommitCertificate, Seal

BlockT = TypeVar("BlockT")
PayloadT = TypeVar("PayloadT")

#: Messages for heights further ahead than this are dropped (a sync request is issued instead).
FUTURE_HEIGHT_WINDOW: int = 8
#: At most this many buffered future-height messages per (height, author).
MAX_BUFFERED_PER_AUTHOR: int = 64
#: Default cap on the encoded bytes of future-height messages buffered for one author (all heights).
FUTURE_BUFFER_BYTES_PER_AUTHOR: int = 8 * 1024 * 1024
#: Default cap on the encoded bytes of all buffered future-height messages together.
FUTURE_BUFFER_BYTES_TOTAL: int = 64 * 1024 * 1024
#: PREPAREs and COMMITs are kept for rounds up to this far above the current round.
FUTURE_ROUND_WINDOW: int = 64
#: At most this many distinct digests are kept per (author, round, step): bounds what an equivocator costs.
MAX_DIGESTS_PER_AUTHOR_ROUND: int = 4
#: Round timeouts double per round; the shift is capped so the product stays a small integer.
_MAX_BACKOFF_SHIFT: int = 40


# --- protocol arithmetic ------------------------------------------------------------------------------
def compute_max_faulty(validator_count: int) -> int:
    """Return f = (n - 1) div 3, the Byzantine validators n tolerates (0 for n = 0)."""
    return (validator_count - 1) // 3 if validator_count > 0 else 0


def compute_proposer_index(parent_proposer_index: int | None, round: int, validator_count: int) -> int:
    """Return the proposer's index for ``round``: (index(parent proposer) + 1 + round) mod n.

    ``parent_proposer_index`` is None when the parent is genesis: height 1 then starts at validator 0, as if
    genesis had been proposed by validator n - 1 (the Dafny spec's rule). Raises ConsensusError for n = 0.
    """
    if validator_count <= 0:
        raise ConsensusError("an empty validator set has no proposer")
    start = 0 if parent_proposer_index is None else parent_proposer_index + 1
    return (start + round) % validator_count


@dataclass(frozen=True, slots=True)
class ConsensusConfig:
    """Consensus parameters every validator of a chain shares (times in milliseconds)."""

    chain_id: int
    block_period_ms: int
    round_timeout_base_ms: int
    round_timeout_cap_ms: int
    #: Minimum spacing of RequestSync actions while this node sees traffic for later heights.
    sync_retry_ms: int = 1_000
    #: Future-height messages of one author beyond this many encoded bytes are dropped (sync fetches them).
    future_bytes_per_author: int = FUTURE_BUFFER_BYTES_PER_AUTHOR
    #: Future-height messages beyond this many encoded bytes in all are dropped.
    future_bytes_total: int = FUTURE_BUFFER_BYTES_TOTAL

    def __post_init__(self) -> None:
        for name in (
            "block_period_ms",
            "round_timeout_base_ms",
            "round_timeout_cap_ms",
            "sync_retry_ms",
            "future_bytes_per_author",
            "future_bytes_total",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConsensusError(f"consensus parameter {name} must be a positive integer, got {value!r}")
        if self.round_timeout_cap_ms < self.round_timeout_base_ms:
            raise ConsensusError("round_timeout_cap_ms must be at least round_timeout_base_ms")


def compute_round_timeout_ms(config: ConsensusConfig, round: int) -> int:
    """Return min(base · 2^round, cap): the capped exponential timeout of ``round``."""
    return min(config.round_timeout_base_ms << min(round, _MAX_BACKOFF_SHIFT), config.round_timeout_cap_ms)


# --- what the core needs from the application ----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BlockInfo:
    """The consensus-relevant header fields of a block."""

    height: int
    round: int
    proposer_index: int
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last committed block as the core needs it, and the validator set that decides the next height."""

    height: int
    timestamp_ms: int
    proposer_index: int | None  # None for genesis
    validators: tuple[bytes, ...]  # 64-byte SM2 public keys in header order


class BlockSource(Protocol[BlockT]):
    """The application behind the core: builds, checks, hashes and re-rounds opaque blocks."""

    def propose_block(self, height: int, round: int, proposer_index: int, now_ms: int) -> BlockT:
        """Return a new block for (height, round) naming ``proposer_index``, built at ``now_ms``."""
        ...

    def validate_block(self, block: BlockT, now_ms: int) -> None:
        """Return None when ``block`` may extend this node's chain head; raise InvalidBlock otherwise."""
        ...

    def block_hash(self, block: BlockT) -> bytes:
        """Return the 32-byte block hash (SM3 over the header, which carries round and proposer_index)."""
        ...

    def block_info(self, block: BlockT) -> BlockInfo:
        """Return the consensus fields of the header; raise InvalidBlock when they cannot be read."""
        ...

    def rehash_for_round(self, block: BlockT, round: int, proposer_index: int) -> BlockT:
        """Return ``block`` with the header's round and proposer_index replaced (QBFT re-proposal)."""
        ...

    def validators_after(self, block: BlockT) -> tuple[bytes, ...]:
        """Return the validator set that decides the height after ``block``."""
        ...

    def encode_block(self, block: BlockT) -> bytes:
        """Return the canonical encoding of ``block``."""
        ...

    def decode_block(self, data: bytes) -> BlockT:
        """Return the block encoded in ``data``; raise EncodingError when malformed."""
        ...


# --- timers and actions --------------------------------------------------------------------------------
class TimerKind(IntEnum):
    BLOCK = 1  # round 0 may start: parent.timestamp + block period
    ROUND = 2  # the current round has timed out


@dataclass(frozen=True, slots=True)
class Timer:
    kind: TimerKind
    height: int
    round: int


@dataclass(frozen=True, slots=True)
class Broadcast(Generic[BlockT]):
    """Send ``message`` to every other validator (the core has already processed it itself)."""

    message: Message[BlockT]


@dataclass(frozen=True, slots=True)
class CommitBlock(Generic[BlockT]):
    """``block`` is decided: store it with ``certificate``, then call ``on_new_block``."""

    block: BlockT
    certificate: CommitCertificate


@dataclass(frozen=True, slots=True)
class ScheduleTimer:
    """Call ``on_timeout(timer, now_ms)`` at ``at_ms`` (stale timers are ignored, so never cancel)."""

    timer: Timer
    at_ms: int


@dataclass(frozen=True, slots=True)
class RequestSync:
    """Validators are ahead: fetch committed blocks (with certificates) from ``height`` on."""

    height: int


@dataclass(frozen=True, slots=True)
class Reject:
    """An input was invalid and left the state unchanged (for peer scoring and logs)."""

    reason: str
    height: int
    round: int
    author: bytes | None = None


Action: TypeAlias = Broadcast[BlockT] | CommitBlock[BlockT] | ScheduleTimer | RequestSync | Reject


@dataclass
class CoreMetrics:
    """Counters a runtime can export: rejected (invalid) and ignored (valid but useless) inputs by reason."""

    rejected: dict[str, int] = field(default_factory=dict)
    ignored: dict[str, int] = field(default_factory=dict)
    refused_to_sign: int = 0
    rounds_changed: int = 0
    blocks_committed: int = 0


# --- certificate check (also usable by the ledger for synced blocks) -----------------------------------
def validate_commit_certificate(
    *,
    chain_id: int,
    validators: Sequence[bytes],
    height: int,
    round: int,
    block_hash: bytes,
    certificate: CommitCertificate,
    verifier: SignatureVerifier,
) -> None:
    """Return None when ``certificate`` proves ``block_hash`` committed at (height, round): the one
    commit-certificate rule (sdk.proofs.certificate), with seals checked by ``verifier``. Raises
    ConsensusError otherwise.
    """
    try:
        check_certificate(
            certificate,
            chain_id=chain_id,
            height=height,
            round=round,
            block_hash=block_hash,
            validators=validators,
            verify_seal=verifier.verify,
        )
    except CertificateError as exc:
        raise ConsensusError(f"commit {exc.message}", height=height, **exc.detail) from exc


class QbftCore(Generic[BlockT]):
    """QBFT for one validator (or observer): feed it messages, timers and committed blocks; act on its output.

    No clock, network, randomness or key inside: ``now_ms`` is passed in, actions are returned, signing goes
    through ``signer`` and every signed step is written to ``wal`` before the message is returned. Invalid
    input never raises: it yields a ``Reject`` action and a ``metrics.rejected`` count.
    Call ``start`` once, then ``on_message`` / ``on_timeout`` / ``on_tick`` / ``on_new_block``.
    """

    def __init__(
        self,
        *,
        config: ConsensusConfig,
        app: BlockSource[BlockT],
        signer: Signer | None,
        verifier: SignatureVerifier,
        wal: ConsensusWal,
        head: ChainHead,
    ) -> None:
        self.config = config
        self.app = app
        self.signer = signer
        self.verifier = verifier
        self.wal = wal
        self.metrics = CoreMetrics()
        # Buffered future-height messages with their encoded sizes, and the byte budgets they use.
        self._future: dict[int, list[tuple[Message[BlockT], int]]] = {}
        self._future_counts: dict[tuple[int, bytes], int] = {}
        self._future_bytes_by_author: dict[bytes, int] = {}
        self._future_bytes = 0
        self._last_sync_request_ms: int | None = None
        self._set_head(head)

    # --- read-only state ------------------------------------------------------------------------------
    @property
    def height(self) -> int:
        """The height being decided."""
        return self._height

    @property
    def round(self) -> int:
        return self._round

    @property
    def validators(self) -> tuple[bytes, ...]:
        return self._validators

    @property
    def my_index(self) -> int | None:
        """This node's index in the validator set, or None for an observer that never signs."""
        return self._my_index

    @property
    def is_decided(self) -> bool:
        """True between a CommitBlock action and the matching ``on_new_block``."""
        return self._decided

    @property
    def prepared_round(self) -> int | None:
        return None if self._prepared is None else self._prepared.round

    @property
    def quorum(self) -> int:
        return compute_quorum(len(self._validators))

    @property
    def future_buffered_bytes(self) -> int:
        """The encoded bytes of the future-height messages buffered now (at most ``future_bytes_total``)."""
        return self._future_bytes

    def proposer_index(self, round: int) -> int:
        """Return the index of the proposer of ``round`` at the current height."""
        return compute_proposer_index(self._parent_proposer_index, round, len(self._validators))

    def check_certificate(self, block: BlockT, certificate: CommitCertificate) -> None:
        """Return None when ``certificate`` proves ``block`` at the current height; raise ConsensusError.

        For a runtime importing a synced block: check this before storing it, then call ``on_new_block``.
        """
        try:
            info = self.app.block_info(block)
            block_hash = self.app.block_hash(block)
        except XinlianError as exc:
            raise ConsensusError("the block's header cannot be read") from exc
        if info.height != self._height:
            raise ConsensusError("the block is not for the height being decided", height=info.height)
        validate_commit_certificate(
            chain_id=self.config.chain_id,
            validators=self._validators,
            height=info.height,
            round=info.round,
            block_hash=block_hash,
            certificate=certificate,
            verifier=self.verifier,
        )

    # --- per-height state ------------------------------------------------------------------------------
    def _set_head(self, head: ChainHead) -> None:
        if not head.validators:
            raise ConsensusError("the validator set for the next height is empty", height=head.height + 1)
        self._height = head.height + 1
        self._parent_timestamp_ms = head.timestamp_ms
        self._parent_proposer_index = head.proposer_index
        self._validators = head.validators
        self._index_of = {key: i for i, key in enumerate(head.validators)}
        self._my_index = None if self.signer is None else self._index_of.get(self.signer.public_key)
        self._round = 0
        self._round_started = False
        self._accepted: Proposal[BlockT] | None = None
        self._accepted_hash = b""
        self._accepted_seal_round = 0
        self._checked_seals: set[tuple[int, int]] = set()
        self._prepared: PreparedCertificate[BlockT] | None = None
        self._decided = False
        self._block_deadline_ms: int | None = None
        self._round_deadline_ms: int | None = None
        self._sent: dict[tuple[int, Step], bytes] = {}
        self._prepares: dict[int, dict[bytes, dict[int, Signed[PreparePayload]]]] = {}
        self._commits: dict[int, dict[bytes, dict[int, Signed[CommitPayload]]]] = {}
        self._round_changes: dict[int, RoundChange[BlockT]] = {}

    def start(self, now_ms: int) -> list[Action[BlockT]]:
        """Restore this height's signed steps from the WAL and schedule the first timer.

        Takes the current time; returns the timer to schedule and any restored messages to re-send (the
        same values as before the restart). Never raises for bad WAL content: it is reported and skipped.
        """
        out: list[Action[BlockT]] = []
        try:
            records = self.wal.get_records(self._height)
        except XinlianError:
            self._count_rejected("wal_unreadable")
            records = ()
        if not records:
            self._schedule_block_timer(now_ms, out)
            return out
        self._restore(records, now_ms, out)
        return out

    def _restore(self, records: Sequence[WalRecord], now_ms: int, out: list[Action[BlockT]]) -> None:
        best_commit: WalRecord | None = None
        for record in records:
            self._sent[(record.round, record.step)] = record.digest
            if record.step is Step.COMMIT and (best_commit is None or record.round > best_commit.round):
                best_commit = record
        if best_commit is not None:
            try:
                self._prepared = decode_prepared_certificate(best_commit.payload, self.app.decode_block)
            except EncodingError:
                self._count_rejected("wal_bad_prepared_certificate")
        # Never go back to a lower round than one already signed in: a ROUND-CHANGE promised not to.
        restored_round = max(record.round for record in records)
        self._enter_round(restored_round, now_ms, out)
        for record in records:
            if record.round != restored_round or not record.payload:
                continue
            if record.step in (Step.PROPOSAL, Step.ROUND_CHANGE):
                try:
                    message = decode_message(record.payload, self.app.decode_block)
                except EncodingError:
                    self._count_rejected("wal_bad_message")
                    continue
                out.append(Broadcast(message))
                if isinstance(message, Proposal):
                    self._accept_proposal(message, record.digest, now_ms, out, send_prepare=True)
                elif isinstance(message, RoundChange) and self._my_index is not None:
                    self._round_changes[self._my_index] = message

    # --- entry points ----------------------------------------------------------------------------------
    def on_message(self, message: Message[BlockT], now_ms: int) -> list[Action[BlockT]]:
        """Process one decoded consensus message received from the network.

        Takes the message and the current time; returns the actions it causes (possibly none). Invalid input
        leaves the state unchanged and yields a Reject action; this method does not raise for bad input.
        """
        out: list[Action[BlockT]] = []
        self._process(message, now_ms, out)
        return out

    def on_message_bytes(self, data: bytes, now_ms: int) -> list[Action[BlockT]]:
        """Decode ``data`` with the application's block codec and process it like ``on_message``.

        Returns a Reject action for bytes that are not one canonical consensus message.
        """
        out: list[Action[BlockT]] = []
        try:
            message = decode_message(data, self.app.decode_block)
        except EncodingError:
            self._reject("undecodable", self._height, self._round, None, out)
            return out
        # The wire size is what a buffered copy costs; a decoded message would need re-encoding to know it.
        self._process(message, now_ms, out, size=len(data))
        return out

    def on_timeout(self, timer: Timer, now_ms: int) -> list[Action[BlockT]]:
        """Handle a timer scheduled earlier; stale or early timers are ignored. Returns the caused actions."""
        out: list[Action[BlockT]] = []
        if timer.height != self._height or self._decided:
            self._count_ignored("stale_timer")
            return out
        if timer.kind is TimerKind.BLOCK:
            if self._block_deadline_ms is None or now_ms < self._block_deadline_ms:
                self._count_ignored("stale_timer")
                return out
            self._on_block_timeout(now_ms, out)
        else:
            if (
                timer.round != self._round
                or self._round_deadline_ms is None
                or now_ms < self._round_deadline_ms
            ):
                self._count_ignored("stale_timer")
                return out
            self._on_round_timeout(now_ms, out)
        return out

    def on_tick(self, now_ms: int) -> list[Action[BlockT]]:
        """Fire whichever of the block and round timers are due at ``now_ms``; returns the caused actions."""
        out: list[Action[BlockT]] = []
        if self._decided:
            return out
        if self._block_deadline_ms is not None and now_ms >= self._block_deadline_ms:
            self._on_block_timeout(now_ms, out)
        if self._round_deadline_ms is not None and now_ms >= self._round_deadline_ms:
            self._on_round_timeout(now_ms, out)
        return out

    def on_new_block(
        self, block: BlockT, certificate: CommitCertificate, now_ms: int
    ) -> list[Action[BlockT]]:
        """Move to the next height once ``block`` (of the current height) is stored with its certificate.

        Called after this core's own CommitBlock has been stored, and for blocks obtained by sync. Verifies
        the certificate against the current validator set; returns a Reject for a bad one, nothing for a
        block of an earlier height, and otherwise the next height's timer plus the effect of buffered
        messages for that height.
        """
        out: list[Action[BlockT]] = []
        try:
            info = self.app.block_info(block)
        except Exception:  # the block is untrusted input; any failure to read it is a rejection
            self._reject("unreadable_block", self._height, self._round, None, out)
            return out
        if info.height < self._height:
            self._count_ignored("stale_block")
            return out
        if info.height > self._height:
            self._count_ignored("block_ahead")
            self._request_sync(now_ms, out, force=True)
            return out
        try:
            validate_commit_certificate(
                chain_id=self.config.chain_id,
                validators=self._validators,
                height=info.height,
                round=info.round,
                block_hash=self.app.block_hash(block),
                certificate=certificate,
                verifier=self.verifier,
            )
            next_validators = self.app.validators_after(block)
        except Exception:  # untrusted certificate or block: reject and stay
            self._reject("bad_certificate", self._height, self._round, None, out)
            return out
        self._set_head(ChainHead(info.height, info.timestamp_ms, info.proposer_index, next_validators))
        self.metrics.blocks_committed += 1
        try:
            self.wal.prune_below(self._height)
        except XinlianError:
            self._count_rejected("wal_prune_failed")
        for stale in [h for h in self._future if h < self._height]:
            self._drop_future(stale)
        self._schedule_block_timer(now_ms, out)
        for message, size in self._drop_future(self._height):
            self._process(message, now_ms, out, size=size)
        return out

    # --- dispatch --------------------------------------------------------------------------------------
    def _process(
        self, message: Message[BlockT], now_ms: int, out: list[Action[BlockT]], *, size: int | None = None
    ) -> None:
        height = message.height
        if height < self._height:
            self._count_ignored("stale_height")
            return
        if height > self._height:
            self._buffer_future(message, size, now_ms, out)
            return
        if self._decided:
            self._count_ignored("already_decided")
            return
        index = self._index_of.get(message.author)
        if index is None:
            self._reject("non_validator", height, message.round, message.author, out)
            return
        if not self._has_valid_signature(message.signed):
            self._reject("bad_signature", height, message.round, message.author, out)
            return
        if isinstance(message, Proposal):
            self._on_proposal(message, index, now_ms, out)
        elif isinstance(message, Prepare):
            self._on_prepare(message, index, now_ms, out)
        elif isinstance(message, Commit):
            self._on_commit(message, index, now_ms, out)
        else:
            self._on_round_change(message, index, now_ms, out)

    def _has_valid_signature(self, signed: Signed[Any]) -> bool:
        try:
            verify_signed(self.config.chain_id, signed, self.verifier)
        except XinlianError:
            return False
        return True

    # --- PROPOSAL --------------------------------------------------------------------------------------
    def _on_proposal(
        self, message: Proposal[BlockT], index: int, now_ms: int, out: list[Action[BlockT]]
    ) -> None:
        round_ = message.round
        if round_ < self._round:
            self._count_ignored("stale_round")
            return
        if round_ == self._round and self._accepted is not None:
            self._count_ignored("duplicate_proposal")
            return
        if index != self.proposer_index(round_):
            self._reject("wrong_proposer", self._height, round_, message.author, out)
            return
        reason = self._check_proposed_block(message, now_ms)
        if reason is None:
            reason = self._check_proposal_justification(message)
        if reason is None:
            reason = self._check_block_validity(message.block, now_ms)
        if reason is not None:
            self._reject(reason, self._height, round_, message.author, out)
            return
        self._accept_proposal(message, message.signed.payload.digest, now_ms, out, send_prepare=True)

    def _check_proposed_block(self, message: Proposal[BlockT], now_ms: int) -> str | None:
        try:
            digest = self.app.block_hash(message.block)
            info = self.app.block_info(message.block)
        except Exception:  # untrusted block
            return "unreadable_block"
        if digest != message.signed.payload.digest:
            return "digest_mismatch"
        if info.height != self._height:
            return "header_mismatch"
        if _is_reproposal(message):
            # A prepared block comes back in the form the round's proposer must send: re-rounded when the
            # application re-rounds, unchanged when its block hash covers the original round.
            if not self._is_in_round_form(message.block, digest, message.round):
                return "header_mismatch"
        elif info.round != message.round or info.proposer_index != self.proposer_index(message.round):
            return "header_mismatch"
        return None

    def _header_round(self, block: BlockT, default: int) -> int:
        """Return the round the block's header names: what commit seals and the certificate sign."""
        try:
            return self.app.block_info(block).round
        except Exception:  # checked before acceptance; own blocks come from the application
            return default

    def _is_in_round_form(self, block: BlockT, digest: bytes, round_: int) -> bool:
        """Return whether ``rehash_for_round(block, round, proposer(round))`` keeps the block's hash."""
        try:
            reformed = self.app.rehash_for_round(block, round_, self.proposer_index(round_))
            return self.app.block_hash(reformed) == digest
        except Exception:  # untrusted block
            return False

    def _check_block_validity(self, block: BlockT, now_ms: int) -> str | None:
        try:
            self.app.validate_block(block, now_ms)
        except Exception:  # the application decides; any failure means the block is not acceptable
            return "invalid_block"
        return None

    def _check_proposal_justification(self, message: Proposal[BlockT]) -> str | None:
        """Return None when the proposal is justified (isProposalJustification), else the reason."""
        round_ = message.round
        if round_ == 0:
            if message.round_changes or message.prepares:
                return "round0_with_justification"
            return None
        senders: set[bytes] = set()
        for rc in message.round_changes:
            payload = rc.payload
            if payload.height != self._height or payload.round != round_:
                return "justification_wrong_round"
            if rc.author not in self._index_of:
                return "justification_non_validator"
            if rc.author in senders:
                # A correct proposer sends one ROUND-CHANGE per validator; a repeat (re-signed or not) is
                # padding that would pass for a quorum if anything downstream counted messages.
                return "justification_repeated_author"
            if not _has_consistent_prepared_metadata(payload):
                return "justification_bad_prepared_metadata"
            if not self._has_valid_signature(rc):
                return "justification_bad_signature"
            senders.add(rc.author)
        if len(senders) < self.quorum:
            return "justification_without_quorum"
        prepared = [rc.payload for rc in message.round_changes if rc.payload.prepared_round is not None]
        if not prepared:
            return "justification_unexpected_prepares" if message.prepares else None
        best_round = max(p.prepared_round for p in prepared if p.prepared_round is not None)
        try:
            old_block = self.app.rehash_for_round(message.block, best_round, self.proposer_index(best_round))
            expected = self.app.block_hash(old_block)
        except Exception:  # untrusted block
            return "unreadable_block"
        if expected not in {p.prepared_digest for p in prepared if p.prepared_round == best_round}:
            return "justification_value_mismatch"
        if not self._is_prepare_quorum(message.prepares, best_round, expected):
            return "justification_bad_prepares"
        return None

    def _is_prepare_quorum(
        self, prepares: Iterable[Signed[PreparePayload]], round_: int, digest: bytes
    ) -> bool:
        """Return whether ``prepares`` are a quorum of distinct validators' PREPAREs for (round, digest).

        Any PREPARE for another value, from outside the set, badly signed or from a validator already seen
        makes the whole certificate invalid: SM2 signatures are randomised, so re-signed repeats differ.
        """
        authors: set[bytes] = set()
        for prepare in prepares:
            payload = prepare.payload
            if payload.height != self._height or payload.round != round_ or payload.digest != digest:
                return False
            if prepare.author not in self._index_of or prepare.author in authors:
                return False
            if not self._has_valid_signature(prepare):
                return False
            authors.add(prepare.author)
        return len(authors) >= self.quorum

    def _accept_proposal(
        self,
        message: Proposal[BlockT],
        digest: bytes,
        now_ms: int,
        out: list[Action[BlockT]],
        *,
        send_prepare: bool,
    ) -> None:
        if message.round > self._round:
            self._enter_round(message.round, now_ms, out)
        elif not self._round_started:
            self._start_round_timer(now_ms, out)
        self._accepted = message
        self._accepted_hash = digest
        self._accepted_seal_round = self._header_round(message.block, message.round)
        self._checked_seals = set()
        if send_prepare and self._my_index is not None:
            payload = PreparePayload(self._height, self._round, digest)
            signed = self._sign_step(Step.PREPARE, self._round, digest, payload, lambda s: b"")
            if signed is not None:
                self._store_vote(self._prepares, self._round, digest, self._my_index, signed)
                out.append(Broadcast(Prepare(signed)))
        self._check_prepared(now_ms, out)

    # --- PREPARE / COMMIT --------------------------------------------------------------------------------
    def _on_prepare(self, message: Prepare, index: int, now_ms: int, out: list[Action[BlockT]]) -> None:
        payload = message.signed.payload
        if not self._is_storable_round(payload.round):
            return
        if not self._store_vote(self._prepares, payload.round, payload.digest, index, message.signed):
            return
        if payload.round == self._round:
            self._check_prepared(now_ms, out)

    def _on_commit(self, message: Commit, index: int, now_ms: int, out: list[Action[BlockT]]) -> None:
        payload = message.signed.payload
        if not self._is_storable_round(payload.round):
            return
        # The seal signs the block header's round, known only with the block: it is checked when counted.
        if not self._store_vote(self._commits, payload.round, payload.digest, index, message.signed):
            return
        if payload.round == self._round:
            self._check_committed(out)

    def _is_storable_round(self, round_: int) -> bool:
        if round_ < self._round:
            self._count_ignored("stale_round")
            return False
        if round_ > self._round + FUTURE_ROUND_WINDOW:
            self._count_ignored("round_too_far")
            return False
        return True

    def _store_vote(
        self,
        store: dict[int, dict[bytes, dict[int, Signed[PreparePayload]]]]
        | dict[int, dict[bytes, dict[int, Signed[CommitPayload]]]],
        round_: int,
        digest: bytes,
        index: int,
        signed: Signed[PreparePayload] | Signed[CommitPayload],
    ) -> bool:
        by_digest = store.setdefault(round_, {})
        votes = by_digest.get(digest)
        if votes is not None and index in votes:
            self._count_ignored("duplicate_vote")
            return False
        if sum(1 for v in by_digest.values() if index in v) >= MAX_DIGESTS_PER_AUTHOR_ROUND:
            self._count_ignored("too_many_digests")
            return False
        by_digest.setdefault(digest, {})[index] = signed  # type: ignore[assignment]
        return True

    def _check_prepared(self, now_ms: int, out: list[Action[BlockT]]) -> None:
        accepted = self._accepted
        if accepted is None or self._decided:
            return
        round_, digest = self._round, self._accepted_hash
        if self._prepared is not None and self._prepared.round == round_:
            self._check_committed(out)
            return
        votes = self._prepares.get(round_, {}).get(digest, {})
        if len(votes) < self.quorum:
            return
        self._prepared = PreparedCertificate(round_, accepted.block, tuple(votes[i] for i in sorted(votes)))
        if self._my_index is not None:
            seal = self._sign(
                compute_commit_seal_preimage(
                    self.config.chain_id, self._height, self._accepted_seal_round, digest
                )
            )
            payload = CommitPayload(self._height, round_, digest, seal)
            certificate = self._prepared
            signed = self._sign_step(
                Step.COMMIT,
                round_,
                digest,
                payload,
                lambda s: encode_prepared_certificate(certificate, self.app.encode_block),
            )
            if signed is not None:
                self._store_vote(self._commits, round_, digest, self._my_index, signed)
                out.append(Broadcast(Commit(signed)))
        self._check_committed(out)

    def _check_committed(self, out: list[Action[BlockT]]) -> None:
        accepted = self._accepted
        if accepted is None or self._decided:
            return
        votes = self._commits.get(self._round, {}).get(self._accepted_hash, {})
        if len(votes) < self.quorum:
            return
        preimage = compute_commit_seal_preimage(
            self.config.chain_id, self._height, self._accepted_seal_round, self._accepted_hash
        )
        for index in [i for i in votes if (self._round, i) not in self._checked_seals]:
            vote = votes[index]
            try:
                self.verifier.verify(vote.author, preimage, vote.payload.commit_seal)
            except XinlianError:
                # Forget it so that a correct COMMIT from the same validator can still count.
                del votes[index]
                self._reject("bad_commit_seal", self._height, self._round, vote.author, out)
                continue
            self._checked_seals.add((self._round, index))
        if len(votes) < self.quorum:
            return
        seals = tuple(Seal(i, votes[i].payload.commit_seal) for i in sorted(votes))
        certificate = CommitCertificate(self._height, self._accepted_seal_round, self._accepted_hash, seals)
        self._decided = True
        self._block_deadline_ms = None
        self._round_deadline_ms = None
        out.append(CommitBlock(accepted.block, certificate))

    # --- ROUND-CHANGE ----------------------------------------------------------------------------------
    def _on_round_change(
        self, message: RoundChange[BlockT], index: int, now_ms: int, out: list[Action[BlockT]]
    ) -> None:
        round_ = message.round
        if round_ < self._round:
            self._count_ignored("stale_round")
            return
        reason = self._check_round_change(message)
        if reason is not None:
            self._reject(reason, self._height, round_, message.author, out)
            return
        existing = self._round_changes.get(index)
        if existing is not None and existing.round >= round_:
            self._count_ignored("duplicate_round_change")
            return
        self._round_changes[index] = message
        self._after_round_change(now_ms, out)

    def _check_round_change(self, message: RoundChange[BlockT]) -> str | None:
        payload = message.signed.payload
        if not _has_consistent_prepared_metadata(payload):
            return "bad_prepared_metadata"
        if payload.prepared_round is None:
            if message.prepared_block is not None or message.prepares:
                return "unexpected_prepared_certificate"
            return None
        if message.prepared_block is None:
            return "missing_prepared_block"
        try:
            digest = self.app.block_hash(message.prepared_block)
            info = self.app.block_info(message.prepared_block)
        except Exception:  # untrusted block
            return "unreadable_block"
        if (
            digest != payload.prepared_digest
            or info.height != self._height
            or not self._is_in_round_form(message.prepared_block, digest, payload.prepared_round)
        ):
            return "prepared_block_mismatch"
        if not self._is_prepare_quorum(message.prepares, payload.prepared_round, digest):
            return "bad_prepared_certificate"
        return None

    def _after_round_change(self, now_ms: int, out: list[Action[BlockT]]) -> None:
        if self._decided:
            return
        if self._my_index is not None:
            by_round: dict[int, list[RoundChange[BlockT]]] = {}
            for rc in self._round_changes.values():
                if rc.round >= self._round:
                    by_round.setdefault(rc.round, []).append(rc)
            for round_ in sorted(by_round, reverse=True):
                if (
                    len(by_round[round_]) >= self.quorum
                    and self.proposer_index(round_) == self._my_index
                    and not (round_ == self._round and self._accepted is not None)
                    and (round_, Step.PROPOSAL) not in self._sent
                ):
                    self._propose_with_justification(round_, by_round[round_], now_ms, out)
                    return
        higher = sorted(
            (rc.round for rc in self._round_changes.values() if rc.round > self._round), reverse=True
        )
        f = compute_max_faulty(len(self._validators))
        if len(higher) >= f + 1:
            # f+1 distinct validators are beyond us, so at least one correct one is: follow the lowest of the
            # f+1 highest rounds (any f+1 subset's minimum is allowed by the spec; this one moves furthest).
            self._change_round(higher[f], now_ms, out)

    def _change_round(self, round_: int, now_ms: int, out: list[Action[BlockT]]) -> None:
        self.metrics.rounds_changed += 1
        self._enter_round(round_, now_ms, out)
        if self._my_index is not None:
            prepared = self._prepared
            payload = RoundChangePayload(
                self._height,
                round_,
                None if prepared is None else prepared.round,
                None if prepared is None else self.app.block_hash(prepared.block),
            )
            digest = sm3(compute_signing_preimage(self.config.chain_id, payload))
            holder: list[RoundChange[BlockT]] = []

            def encode(signed: Signed[RoundChangePayload]) -> bytes:
                message = RoundChange(
                    signed,
                    None if prepared is None else prepared.block,
                    () if prepared is None else prepared.prepares,
                )
                holder.append(message)
                return encode_message(message, self.app.encode_block)

            signed = self._sign_step(Step.ROUND_CHANGE, round_, digest, payload, encode)
            if signed is not None:
                self._round_changes[self._my_index] = holder[0]
                out.append(Broadcast(holder[0]))
        self._after_round_change(now_ms, out)

    def _propose_with_justification(
        self, round_: int, round_changes: list[RoundChange[BlockT]], now_ms: int, out: list[Action[BlockT]]
    ) -> None:
        my_index = self._my_index
        if my_index is None:
            return
        prepared = [rc for rc in round_changes if rc.signed.payload.prepared_round is not None]
        prepares: tuple[Signed[PreparePayload], ...] = ()
        try:
            if prepared:
                best = max(prepared, key=lambda rc: rc.signed.payload.prepared_round or 0)
                if best.prepared_block is None:  # excluded by _check_round_change; keeps the types honest
                    return
                block = self.app.rehash_for_round(best.prepared_block, round_, my_index)
                prepares = best.prepares
            else:
                block = self.app.propose_block(self._height, round_, my_index, now_ms)
        except Exception:  # the builder failed: do not propose; the round will time out
            self._count_rejected("block_building_failed")
            return
        ordered = sorted(round_changes, key=lambda rc: self._index_of[rc.author])
        if round_ > self._round:
            self._enter_round(round_, now_ms, out)
        self._propose(block, tuple(rc.signed for rc in ordered), prepares, now_ms, out)

    # --- timers ----------------------------------------------------------------------------------------
    def _schedule_block_timer(self, now_ms: int, out: list[Action[BlockT]]) -> None:
        deadline = max(self._parent_timestamp_ms + self.config.block_period_ms, now_ms)
        self._block_deadline_ms = deadline
        out.append(ScheduleTimer(Timer(TimerKind.BLOCK, self._height, 0), deadline))

    def _start_round_timer(self, now_ms: int, out: list[Action[BlockT]]) -> None:
        self._round_started = True
        self._block_deadline_ms = None
        deadline = now_ms + compute_round_timeout_ms(self.config, self._round)
        self._round_deadline_ms = deadline
        out.append(ScheduleTimer(Timer(TimerKind.ROUND, self._height, self._round), deadline))

    def _enter_round(self, round_: int, now_ms: int, out: list[Action[BlockT]]) -> None:
        self._round = round_
        self._accepted = None
        self._accepted_hash = b""
        for store in (self._prepares, self._commits):
            for old in [r for r in store if r < round_]:
                del store[old]
        self._start_round_timer(now_ms, out)

    def _on_block_timeout(self, now_ms: int, out: list[Action[BlockT]]) -> None:
        self._block_deadline_ms = None
        if self._round_started or self._round != 0:
            return
        self._start_round_timer(now_ms, out)
        if (
            self._my_index is None
            or self.proposer_index(0) != self._my_index
            or (0, Step.PROPOSAL) in self._sent
        ):
            return
        try:
            block = self.app.propose_block(self._height, 0, self._my_index, now_ms)
        except Exception:  # the builder failed: do not propose; the round will time out
            self._count_rejected("block_building_failed")
            return
        self._propose(block, (), (), now_ms, out)

    def _on_round_timeout(self, now_ms: int, out: list[Action[BlockT]]) -> None:
        self._round_deadline_ms = None
        self._change_round(self._round + 1, now_ms, out)

    # --- signing ---------------------------------------------------------------------------------------
    def _propose(
        self,
        block: BlockT,
        round_changes: tuple[Signed[RoundChangePayload], ...],
        prepares: tuple[Signed[PreparePayload], ...],
        now_ms: int,
        out: list[Action[BlockT]],
    ) -> None:
        digest = self.app.block_hash(block)
        payload = ProposalPayload(self._height, self._round, digest)
        holder: list[Proposal[BlockT]] = []

        def encode(signed: Signed[ProposalPayload]) -> bytes:
            holder.append(Proposal(signed, block, round_changes, prepares))
            return encode_message(holder[0], self.app.encode_block)

        if self._sign_step(Step.PROPOSAL, self._round, digest, payload, encode) is None:
            return
        out.append(Broadcast(holder[0]))
        self._accept_proposal(holder[0], digest, now_ms, out, send_prepare=True)

    def _sign(self, preimage: bytes) -> bytes:
        if self.signer is None:
            raise ConsensusError("an observer has no signer")
        return self.signer.sign(preimage)

    def _sign_step(
        self,
        step: Step,
        round_: int,
        digest: bytes,
        payload: PayloadT,
        wal_payload: Callable[[Signed[PayloadT]], bytes],
    ) -> Signed[PayloadT] | None:
        """Sign ``payload`` once per (round, step) value and log it before it may leave this node."""
        previous = self._sent.get((round_, step))
        if previous is not None and previous != digest:
            self.metrics.refused_to_sign += 1
            return None
        signer = self.signer
        if signer is None:
            return None
        signed = sign_payload(self.config.chain_id, payload, signer)
        if previous is not None:
            return signed  # the same value again (a restart repeating itself): already in the WAL
        try:
            self.wal.append(WalRecord(self._height, round_, step, digest, wal_payload(signed)))
        except XinlianError:
            # Not durable means not sent: a restart must never find less than what peers have seen.
            self.metrics.refused_to_sign += 1
            return None
        self._sent[(round_, step)] = digest
        return signed

    # --- future heights and sync -----------------------------------------------------------------------
    def _buffer_future(
        self, message: Message[BlockT], size: int | None, now_ms: int, out: list[Action[BlockT]]
    ) -> None:
        author = message.author
        if author not in self._index_of:
            # The set may change at a later height, but buffering strangers' traffic invites memory abuse.
            self._count_ignored("future_non_validator")
            return
        if not self._has_valid_signature(message.signed):
            self._reject("bad_signature", message.height, message.round, author, out)
            return
        self._request_sync(now_ms, out, force=False)
        if message.height > self._height + FUTURE_HEIGHT_WINDOW:
            self._count_ignored("height_too_far")
            return
        key = (message.height, author)
        count = self._future_counts.get(key, 0)
        if count >= MAX_BUFFERED_PER_AUTHOR:
            self._count_ignored("future_buffer_full")
            return
        if size is None:
            try:
                size = len(encode_message(message, self.app.encode_block))
            except Exception:  # a decoded message the codec cannot re-encode is not worth keeping
                self._reject("unencodable", message.height, message.round, author, out)
                return
        # Counts alone allow heights x messages x message size per author; bytes are what memory is.
        # Dropping is safe: the RequestSync above fetches the committed blocks instead.
        author_bytes = self._future_bytes_by_author.get(author, 0) + size
        if author_bytes > self.config.future_bytes_per_author:
            self._count_ignored("future_author_bytes_full")
            return
        if self._future_bytes + size > self.config.future_bytes_total:
            self._count_ignored("future_total_bytes_full")
            return
        self._future_counts[key] = count + 1
        self._future_bytes_by_author[author] = author_bytes
        self._future_bytes += size
        self._future.setdefault(message.height, []).append((message, size))

    def _drop_future(self, height: int) -> list[tuple[Message[BlockT], int]]:
        entries = self._future.pop(height, [])
        for key in [k for k in self._future_counts if k[0] == height]:
            del self._future_counts[key]
        for message, size in entries:
            left = self._future_bytes_by_author[message.author] - size
            if left:
                self._future_bytes_by_author[message.author] = left
            else:
                del self._future_bytes_by_author[message.author]
            self._future_bytes -= size
        return entries

    def _request_sync(self, now_ms: int, out: list[Action[BlockT]], *, force: bool) -> None:
        last = self._last_sync_request_ms
        if not force and last is not None and now_ms < last + self.config.sync_retry_ms:
            return
        self._last_sync_request_ms = now_ms
        out.append(RequestSync(self._height))

    # --- reporting -------------------------------------------------------------------------------------
    def _reject(
        self, reason: str, height: int, round_: int, author: bytes | None, out: list[Action[BlockT]]
    ) -> None:
        self._count_rejected(reason)
        out.append(Reject(reason, height, round_, author))

    def _count_rejected(self, reason: str) -> None:
        self.metrics.rejected[reason] = self.metrics.rejected.get(reason, 0) + 1

    def _count_ignored(self, reason: str) -> None:
        self.metrics.ignored[reason] = self.metrics.ignored.get(reason, 0) + 1


def _has_consistent_prepared_metadata(payload: RoundChangePayload) -> bool:
    if payload.prepared_round is None and payload.prepared_digest is None:
        return True
    if payload.prepared_round is None or payload.prepared_digest is None:
        return False
    return payload.prepared_round < payload.round


def _is_reproposal(message: Proposal[BlockT]) -> bool:
    """Return whether a proposal re-proposes a prepared block (some justifying ROUND-CHANGE is prepared)."""
    return any(rc.payload.prepared_round is not None for rc in message.round_changes)
