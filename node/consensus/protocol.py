"""QBFT's pure parts: protocol arithmetic, parameters, what the core needs from the application, the
actions it returns, and the rules that depend on nothing but their arguments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Generic, Protocol, TypeAlias, TypeVar

from node.consensus.messages import (
    Message,
    Proposal,
    RoundChangePayload,
    SignatureVerifier,
)
from sdk.errors import CertificateError, ConsensusError
from sdk.proofs.certificate import check_certificate
from sdk.types import CommitCertificate

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


def has_consistent_prepared_metadata(payload: RoundChangePayload) -> bool:
    if payload.prepared_round is None and payload.prepared_digest is None:
        return True
    if payload.prepared_round is None or payload.prepared_digest is None:
        return False
    return payload.prepared_round < payload.round


def is_reproposal(message: Proposal[BlockT]) -> bool:
    """Return whether a proposal re-proposes a prepared block (some justifying ROUND-CHANGE is prepared)."""
    return any(rc.payload.prepared_round is not None for rc in message.round_changes)
