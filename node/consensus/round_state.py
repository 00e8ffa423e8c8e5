"""The state one QBFT height keeps, and what every phase shares: round timers, signing through the WAL, and
the counters of rejected and ignored input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic

from node.consensus.messages import (
    CommitPayload,
    MessageKind,
    PreparedCertificate,
    PreparePayload,
    Proposal,
    RoundChange,
    SignatureVerifier,
    Signed,
    Signer,
    sign_payload,
    verify_signed,
)
from node.consensus.protocol import (
    Action,
    BlockSource,
    BlockT,
    ConsensusConfig,
    CoreMetrics,
    PayloadT,
    Reject,
    ScheduleTimer,
    Timer,
    TimerKind,
    compute_proposer_index,
    compute_round_timeout_ms,
)
from node.consensus.wal import ConsensusWal, WalRecord
from sdk.errors import ConsensusError, XinlianError
from sdk.proofs.certificate import compute_quorum


class RoundState(Generic[BlockT]):
    """The per-height state of ``QbftCore`` (set by ``QbftCore._set_head``) and the steps every phase uses."""

    config: ConsensusConfig
    app: BlockSource[BlockT]
    signer: Signer | None
    verifier: SignatureVerifier
    wal: ConsensusWal
    metrics: CoreMetrics
    _height: int
    _round: int
    _parent_timestamp_ms: int
    _parent_proposer_index: int | None
    _validators: tuple[bytes, ...]
    _index_of: dict[bytes, int]
    _my_index: int | None
    _round_started: bool
    _accepted: Proposal[BlockT] | None
    _accepted_hash: bytes
    _accepted_seal_round: int
    _checked_seals: set[tuple[int, int]]
    _prepared: PreparedCertificate[BlockT] | None
    _decided: bool
    _block_deadline_ms: int | None
    _round_deadline_ms: int | None
    _sent: dict[tuple[int, MessageKind], bytes]
    _prepares: dict[int, dict[bytes, dict[int, Signed[PreparePayload]]]]
    _commits: dict[int, dict[bytes, dict[int, Signed[CommitPayload]]]]
    _round_changes: dict[int, RoundChange[BlockT]]
    _incoming: frozenset[bytes]

    @property
    def quorum(self) -> int:
        return compute_quorum(len(self._validators))

    def proposer_index(self, round: int) -> int:
        """Return the index of the proposer of ``round`` at the current height."""
        return compute_proposer_index(self._parent_proposer_index, round, len(self._validators))

    def _has_valid_signature(self, signed: Signed[Any]) -> bool:
        try:
            verify_signed(self.config.chain_id, signed, self.verifier)
        except XinlianError:
            return False
        return True

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

    def _sign(self, preimage: bytes) -> bytes:
        if self.signer is None:
            raise ConsensusError("an observer has no signer")
        return self.signer.sign(preimage)

    def _sign_step(
        self,
        step: MessageKind,
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

    def _reject(
        self, reason: str, height: int, round_: int, author: bytes | None, out: list[Action[BlockT]]
    ) -> None:
        self._count_rejected(reason)
        out.append(Reject(reason, height, round_, author))

    def _count_rejected(self, reason: str) -> None:
        self.metrics.rejected[reason] = self.metrics.rejected.get(reason, 0) + 1

    def _count_ignored(self, reason: str) -> None:
        self.metrics.ignored[reason] = self.metrics.ignored.get(reason, 0) + 1

    def _is_stale(self, round_: int) -> bool:
        """Whether a message for ``round_`` comes too late (a round below ours); it is counted as ignored."""
        if round_ < self._round:
            self._count_ignored("stale_round")
            return True
        return False
