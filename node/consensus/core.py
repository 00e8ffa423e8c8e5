"""QBFT consensus core: a pure state machine for one height at a time, driven by messages and timers.

The phases live in their own modules, each a layer of ``QbftCore``: ``round_state`` (per-height state,
timers, signing) → ``votes`` (PREPARE/COMMIT) → ``proposal`` → ``round_change``, beside ``future`` (later
heights, sync). The pure rules and the Action values are in ``protocol``."""

from __future__ import annotations

from collections.abc import Sequence

from node.consensus.future import FutureBuffer
from node.consensus.messages import (
    Commit,
    CommitPayload,
    Message,
    MessageKind,
    Prepare,
    PreparedCertificate,
    PreparePayload,
    Proposal,
    RoundChange,
    SignatureVerifier,
    Signed,
    Signer,
    decode_message,
    decode_prepared_certificate,
)
from node.consensus.protocol import (
    FUTURE_BUFFER_BYTES_PER_AUTHOR,
    FUTURE_BUFFER_BYTES_TOTAL,
    FUTURE_HEIGHT_WINDOW,
    FUTURE_ROUND_WINDOW,
    MAX_BUFFERED_PER_AUTHOR,
    MAX_DIGESTS_PER_AUTHOR_ROUND,
    Action,
    BlockInfo,
    BlockSource,
    BlockT,
    Broadcast,
    ChainHead,
    CommitBlock,
    ConsensusConfig,
    CoreMetrics,
    Reject,
    RequestSync,
    ScheduleTimer,
    Timer,
    TimerKind,
    compute_max_faulty,
    compute_proposer_index,
    compute_round_timeout_ms,
    has_consistent_prepared_metadata,
    is_reproposal,
    validate_commit_certificate,
)
from node.consensus.round_change import RoundChangePhase
from node.consensus.wal import ConsensusWal, WalRecord
from sdk.errors import ConsensusError, EncodingError, XinlianError
from sdk.proofs.certificate import compute_quorum
from sdk.types import CommitCertificate


class QbftCore(RoundChangePhase[BlockT], FutureBuffer[BlockT]):
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
    def incoming_validators(self) -> frozenset[bytes]:
        """Keys outside the current set that a block accepted at this height would add to it: their
        messages for the next height are buffered (a new validator may finish this height first)."""
        return self._incoming

    @property
    def is_decided(self) -> bool:
        """True between a CommitBlock action and the matching ``on_new_block``."""
        return self._decided

    @property
    def prepared_round(self) -> int | None:
        return None if self._prepared is None else self._prepared.round

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
        self._sent: dict[tuple[int, MessageKind], bytes] = {}
        self._prepares: dict[int, dict[bytes, dict[int, Signed[PreparePayload]]]] = {}
        self._commits: dict[int, dict[bytes, dict[int, Signed[CommitPayload]]]] = {}
        self._round_changes: dict[int, RoundChange[BlockT]] = {}
        self._incoming = frozenset()

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
            if record.step is MessageKind.COMMIT and (
                best_commit is None or record.round > best_commit.round
            ):
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
            if record.step in (MessageKind.PROPOSAL, MessageKind.ROUND_CHANGE):
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
        if self._is_stale(message.round):  # whatever its kind: no handler acts on a past round
            return
        if isinstance(message, Proposal):
            self._on_proposal(message, index, now_ms, out)
        elif isinstance(message, Prepare):
            self._on_prepare(message, index, now_ms, out)
        elif isinstance(message, Commit):
            self._on_commit(message, index, now_ms, out)
        else:
            self._on_round_change(message, index, now_ms, out)

    def _on_block_timeout(self, now_ms: int, out: list[Action[BlockT]]) -> None:
        self._block_deadline_ms = None
        if self._round_started or self._round != 0:
            return
        self._start_round_timer(now_ms, out)
        if (
            self._my_index is None
            or self.proposer_index(0) != self._my_index
            or (0, MessageKind.PROPOSAL) in self._sent
        ):
            return
        try:
            block = self.app.propose_block(self._height, 0, self._my_index, now_ms)
        except Exception:  # the builder failed: do not propose; the round will time out
            self._count_rejected("block_building_failed")
            return
        self._propose(block, (), (), now_ms, out)


__all__ = [
    "FUTURE_BUFFER_BYTES_PER_AUTHOR",
    "FUTURE_BUFFER_BYTES_TOTAL",
    "FUTURE_HEIGHT_WINDOW",
    "FUTURE_ROUND_WINDOW",
    "MAX_BUFFERED_PER_AUTHOR",
    "MAX_DIGESTS_PER_AUTHOR_ROUND",
    "Action",
    "BlockInfo",
    "BlockSource",
    "Broadcast",
    "ChainHead",
    "CommitBlock",
    "ConsensusConfig",
    "CoreMetrics",
    "QbftCore",
    "Reject",
    "RequestSync",
    "ScheduleTimer",
    "Timer",
    "TimerKind",
    "compute_max_faulty",
    "compute_proposer_index",
    "compute_quorum",
    "compute_round_timeout_ms",
    "has_consistent_prepared_metadata",
    "is_reproposal",
    "validate_commit_certificate",
]
