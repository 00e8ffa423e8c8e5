"""What the peer service budgets per peer: its limits, misbehaviour points, counters and token buckets."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field, fields
from typing import Protocol

from node.p2p.wire import MAX_FRAME_BYTES, P2PError

# --- per-peer budgets (defaults of P2PLimits) ------------------------------------------------------------
#: Frames waiting to be written to one peer; beyond this new frames are dropped (and counted).
DEFAULT_SEND_QUEUE_FRAMES: int = 4_096
#: Bytes queued for one peer, counted until the socket drained them; beyond this new frames are dropped.
DEFAULT_SEND_QUEUE_BYTES: int = 64 * 1024 * 1024
#: A peer whose send queue overflowed and has not drained anything since for this long is disconnected.
DEFAULT_SLOW_PEER_TIMEOUT_S: float = 20.0
#: Inbound connections still in the handshake; a connection beyond this is closed at once.
DEFAULT_MAX_HANDSHAKES: int = 16
#: Authenticated inbound links one key may hold; a newer one closes the oldest (reconnects replace links).
DEFAULT_MAX_INBOUND_PER_PEER: int = 2
#: GET_BLOCKS a peer may send per second (token refill), on top of the one-answer-at-a-time rule.
DEFAULT_BLOCK_REQUESTS_PER_S: float = 4.0
#: GET_BLOCKS a peer may send in a burst.
DEFAULT_BLOCK_REQUEST_BURST: float = 16.0
#: A BLOCKS frame is accepted only while one of our GET_BLOCKS to that peer is unanswered and this young.
DEFAULT_BLOCK_REQUEST_TIMEOUT_S: float = 30.0
#: Gossiped TRANSACTIONS payload bytes a peer may send per second (token refill).
DEFAULT_TX_BYTES_PER_S: float = 4.0 * 1024 * 1024
#: Gossiped TRANSACTIONS payload bytes a peer may send in a burst.
DEFAULT_TX_BURST_BYTES: float = 16.0 * 1024 * 1024
#: Largest TRANSACTIONS frame read (and sent); a larger one closes the link unread.
DEFAULT_MAX_TX_FRAME_BYTES: int = 8 * 1024 * 1024
#: CONSENSUS frames a peer may send per second: a validator sends a handful per round.
DEFAULT_CONSENSUS_FRAMES_PER_S: float = 200.0
#: CONSENSUS frames a peer may send in a burst (a reconnecting validator replays up to 32 at once).
DEFAULT_CONSENSUS_FRAME_BURST: float = 500.0
#: CONSENSUS bytes a peer may send per second: proposals carry a block of up to a few MiB.
DEFAULT_CONSENSUS_BYTES_PER_S: float = 32.0 * 1024 * 1024
#: CONSENSUS bytes a peer may send in a burst (two largest frames).
DEFAULT_CONSENSUS_BURST_BYTES: float = 2.0 * MAX_FRAME_BYTES
#: Misbehaviour points at which a peer is disconnected and banned.
DEFAULT_BAN_SCORE: float = 100.0
#: Misbehaviour points forgiven per second (so rare honest mistakes never add up to a ban).
DEFAULT_SCORE_DECAY_PER_S: float = 2.0
#: How long a banned key is refused at the handshake.
DEFAULT_BAN_S: float = 60.0
#: A dial that reached this node itself is retried this much later (never given up: addresses change hands).
DEFAULT_SELF_DIAL_RETRY_S: float = 60.0
#: Local transactions waiting to be gossiped; beyond this new ones are not gossiped (counted).
DEFAULT_TX_OUTBOX_BYTES: int = 64 * 1024 * 1024

# --- misbehaviour points ----------------------------------------------------------------------------------
#: A consensus message the handler refused (honest peers ahead of a validator-set change send a few).
SCORE_INVALID_MESSAGE: float = 1.0
#: A frame over its rate or byte budget, or a GET_BLOCKS while one is being answered.
SCORE_OVER_BUDGET: float = 1.0
#: A BLOCKS frame nobody asked for.
SCORE_UNSOLICITED: float = 10.0
#: An undecodable, oversized or unknown frame (an honest peer of the same version never sends one).
SCORE_BAD_FRAME: float = 20.0

#: Transactions per TRANSACTIONS frame, and the most accepted in one.
MAX_TXS_PER_FRAME: int = 4_096
#: Blocks per BLOCKS answer and the byte budget of one answer.
MAX_BLOCKS_PER_ANSWER: int = 64
MAX_ANSWER_BYTES: int = 16 * 1024 * 1024
#: State node keys per GET_STATE, and bytes of state node values per STATE answer.
MAX_STATE_KEYS: int = 1_024
MAX_STATE_ANSWER_BYTES: int = 2 * 1024 * 1024
#: Bytes of one SNAPSHOT manifest (the head block, its receipts, the validator-set handovers).
MAX_SNAPSHOT_BYTES: int = 8 * 1024 * 1024
#: Connections (inbound and outbound, authenticated or in the handshake) beyond this are refused.
DEFAULT_MAX_CONNECTIONS: int = 64
#: Outgoing transactions are batched for this long before a TRANSACTIONS frame leaves.
TX_FLUSH_INTERVAL_S: float = 0.01
#: Slow links, expired bans and forgotten peers are checked this often.
MAINTENANCE_INTERVAL_S: float = 0.1
#: One write to the socket takes at most this much of the queue (at least one frame) before draining.
WRITE_BATCH_BYTES: int = 1024 * 1024
#: Unanswered GET_BLOCKS remembered per peer (older ones are forgotten first).
MAX_PENDING_BLOCK_REQUESTS: int = 8
#: The budgets and score of a peer with no link are forgotten this long after it left.
PEER_STATE_TTL_S: float = 120.0
#: Upper bound of the RLP overhead of one string in a TRANSACTIONS list (and of the list header).
RLP_ITEM_OVERHEAD_BYTES: int = 5


class PeerHandler(Protocol):
    """What the node does with peer traffic. Called on the p2p loop thread: must not block (except
    ``get_blocks``, which runs in a worker thread)."""

    def get_height(self) -> int:
        """Return this node's committed height (sent in HELLO)."""
        ...

    def on_peer_connected(self, peer: bytes) -> None:
        """A peer (64-byte public key) completed the handshake."""
        ...

    def on_consensus(self, data: bytes, peer: bytes) -> bool:
        """Take one encoded consensus message; return False when it is invalid (counted against the peer)."""
        ...

    def on_transactions(self, raws: list[bytes], peer: bytes) -> None:
        """Take gossiped raw transactions (not yet checked)."""
        ...

    def get_blocks(self, from_height: int, max_count: int) -> list[tuple[bytes, bytes]]:
        """Return up to ``max_count`` committed (block, certificate) encodings from ``from_height`` on."""
        ...

    def on_blocks(self, pairs: list[tuple[bytes, bytes]], peer: bytes) -> None:
        """Take (block, certificate) encodings answering a GET_BLOCKS (not yet checked)."""
        ...

    def get_snapshot(self) -> bytes:
        """Return this node's encoded snapshot manifest, or b"" when it has none (worker thread)."""
        ...

    def get_state(self, keys: list[bytes]) -> list[bytes]:
        """Return the stored state node values of ``keys`` it has, in order, within MAX_STATE_ANSWER_BYTES
        (worker thread)."""
        ...

    def on_snapshot(self, payload: bytes, peer: bytes) -> None:
        """Take a SNAPSHOT answering our GET_SNAPSHOT (not yet checked)."""
        ...

    def on_state(self, values: list[bytes], peer: bytes) -> None:
        """Take the state node values answering our GET_STATE (not yet checked)."""
        ...

    def get_history(self, top_height: int, max_count: int) -> bytes:
        """Return this node's HISTORY payload: blocks from ``top_height`` downwards with their certificates
        and receipts, those it holds (worker thread)."""
        ...

    def on_history(self, payload: bytes, peer: bytes) -> None:
        """Take a HISTORY answering our GET_HISTORY (not yet decoded or checked)."""
        ...


@dataclass(frozen=True, slots=True)
class P2PLimits:
    """Per-peer resource budgets of the peer service (every field defaults to its DEFAULT_* constant)."""

    send_queue_bytes: int = DEFAULT_SEND_QUEUE_BYTES
    slow_peer_timeout_s: float = DEFAULT_SLOW_PEER_TIMEOUT_S
    max_handshakes: int = DEFAULT_MAX_HANDSHAKES
    max_inbound_per_peer: int = DEFAULT_MAX_INBOUND_PER_PEER
    block_requests_per_s: float = DEFAULT_BLOCK_REQUESTS_PER_S
    block_request_burst: float = DEFAULT_BLOCK_REQUEST_BURST
    block_request_timeout_s: float = DEFAULT_BLOCK_REQUEST_TIMEOUT_S
    tx_bytes_per_s: float = DEFAULT_TX_BYTES_PER_S
    tx_burst_bytes: float = DEFAULT_TX_BURST_BYTES
    max_tx_frame_bytes: int = DEFAULT_MAX_TX_FRAME_BYTES
    consensus_frames_per_s: float = DEFAULT_CONSENSUS_FRAMES_PER_S
    consensus_frame_burst: float = DEFAULT_CONSENSUS_FRAME_BURST
    consensus_bytes_per_s: float = DEFAULT_CONSENSUS_BYTES_PER_S
    consensus_burst_bytes: float = DEFAULT_CONSENSUS_BURST_BYTES
    ban_score: float = DEFAULT_BAN_SCORE
    score_decay_per_s: float = DEFAULT_SCORE_DECAY_PER_S
    ban_s: float = DEFAULT_BAN_S
    self_dial_retry_s: float = DEFAULT_SELF_DIAL_RETRY_S
    tx_outbox_bytes: int = DEFAULT_TX_OUTBOX_BYTES

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise P2PError(f"p2p limit {f.name} must be a positive number, got {value!r}")
        if self.max_tx_frame_bytes > MAX_FRAME_BYTES:
            raise P2PError("max_tx_frame_bytes must not exceed the frame limit", limit=MAX_FRAME_BYTES)


@dataclass
class P2PStats:
    """Counters of the peer service (written on the loop thread and by senders, read from any thread)."""

    counters: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + amount

    def get(self, name: str) -> int:
        return self.counters.get(name, 0)

    def snapshot(self) -> dict[str, int]:
        """Return a copy of every counter (safe to iterate while the loop keeps counting)."""
        with self._lock:
            return dict(self.counters)


class _TokenBucket:
    """Tokens refilled at ``rate`` per second up to ``burst``. A full bucket admits any single item (and
    goes into debt), so an item larger than the burst is slowed down, never refused forever."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def can_take(self, amount: float, now: float) -> bool:
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
        return self.tokens >= min(amount, self.burst)

    def take(self, amount: float, now: float) -> bool:
        """Spend ``amount`` tokens; returns False (spending nothing) when there are too few."""
        if not self.can_take(amount, now):
            return False
        self.tokens -= amount
        return True


class _PeerState:
    """What the service remembers about one key across its links: budgets, score, block requests."""

    def __init__(self, limits: P2PLimits, now: float) -> None:
        self.block_requests = _TokenBucket(limits.block_requests_per_s, limits.block_request_burst, now)
        self.tx_bytes = _TokenBucket(limits.tx_bytes_per_s, limits.tx_burst_bytes, now)
        self.consensus_frames = _TokenBucket(limits.consensus_frames_per_s, limits.consensus_frame_burst, now)
        self.consensus_bytes = _TokenBucket(limits.consensus_bytes_per_s, limits.consensus_burst_bytes, now)
        self.score = 0.0
        self.score_stamp = now
        self.serving_blocks = False
        self.pending_block_requests: deque[float] = deque()
        self.last_seen = now

    def score_at(self, now: float, decay_per_s: float) -> float:
        """Return the points left at ``now`` (read-only: safe from any thread)."""
        return max(0.0, self.score - max(0.0, now - self.score_stamp) * decay_per_s)

    def add_score(self, points: float, now: float, decay_per_s: float) -> float:
        """Decay, then add ``points``; returns the new score (loop thread only)."""
        self.score = self.score_at(now, decay_per_s) + points
        self.score_stamp = max(now, self.score_stamp)
        return self.score

    def take_pending_request(self, now: float) -> bool:
        """Consume one unexpired GET_BLOCKS we sent; returns False when none is outstanding."""
        while self.pending_block_requests and self.pending_block_requests[0] <= now:
            self.pending_block_requests.popleft()
        if not self.pending_block_requests:
            return False
        self.pending_block_requests.popleft()
        return True
