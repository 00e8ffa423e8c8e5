"""The QBFT driver of a running node: the consensus thread (core, timers, actions, block sync) and the
admission thread for gossiped transactions; it is also the peer service's handler."""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from node.consensus.adapter import LedgerBlockSource, get_chain_head
from node.consensus.core import (
    Action,
    Broadcast,
    CommitBlock,
    ConsensusConfig,
    QbftCore,
    Reject,
    RequestSync,
    ScheduleTimer,
    Timer,
    TimerKind,
)
from node.consensus.liveness import ConsensusLiveness
from node.consensus.messages import (
    Message,
    SignatureVerifier,
    Signed,
    decode_message,
    encode_message,
    verify_signed,
)
from node.consensus.signing import Sm2Signer
from node.consensus.wal import ConsensusWal
from node.ledger.backfill import MAX_HISTORY_ANSWER_BYTES, read_history_answer
from node.ledger.chain import Ledger
from node.ledger.snapshot import build_manifest, read_state_answer
from node.p2p.peers import MAX_STATE_ANSWER_BYTES
from node.p2p.service import PeerService
from node.p2p.sync import BLAME_REST_MS, SLOW_REST_MS, SyncPlanner
from node.p2p.wire import FrameType
from sdk.errors import ConsensusError, EncodingError, InvalidTransaction, XinlianError
from sdk.types import Block, CommitCertificate

log = logging.getLogger("xinlian.node")

#: Called with (what stopped, why) when an internal thread fails; the node ends its process.
FatalHandler = Callable[[str, BaseException], None]

#: Inputs waiting for the consensus thread (messages, synced blocks); beyond this they are dropped.
CONSENSUS_INBOX_CAPACITY: int = 10_000
#: Of those, what one peer may have queued at once (the p2p layer rate-limits each peer as well).
CONSENSUS_INBOX_PER_PEER: int = 2_000
#: Gossiped transaction frames waiting for admission; beyond this they are dropped (the sender keeps them).
GOSSIP_INBOX_CAPACITY: int = 100_000
#: Raw bytes of gossiped transactions waiting for admission, in total.
GOSSIP_INBOX_MAX_BYTES: int = 64 * 1024 * 1024
#: Misbehaviour points a peer is charged per gossiped transaction that no honest node would forward
#: (undecodable, oversize, wrong chain, bad signature, gas outside the rules); the p2p layer bans at 100.
INVALID_GOSSIP_POINTS: float = 5.0
#: Admission refusals that prove the forwarding peer broke the rules (others, like ``expired`` or
#: ``mempool_full``, happen between honest nodes whose heads or pools differ).
MISBEHAVIOUR_CODES: frozenset[str] = frozenset(
    {"bad_encoding", "oversize", "wrong_chain", "bad_signature", "gas_limit", "gas_too_low"}
)
#: Messages of the current height re-sent to a peer that (re)connects, so it can join the round at once.
RECENT_BROADCASTS: int = 32
#: While the mempool is empty the block timer is re-checked this often (an empty block waits for
#: ``empty_block_interval_ms``; a transaction arriving ends the wait).
IDLE_POLL_MS: int = 20
#: A block request with no answer after this long is sent again (to another peer when there is one).
SYNC_TIMEOUT_MS: int = 3_000
#: Misbehaviour points for a sync answer no honest node sends (undecodable, or a certificate that does not
#: prove its block); the p2p layer bans at 100.
BAD_SYNC_ANSWER_POINTS: float = 25.0
#: Peers' reported heights are compared with ours this often.
SYNC_CHECK_MS: int = 500
#: Consensus steps slower than this are logged (block building and re-execution dominate).
SLOW_STEP_MS: float = 250.0


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class RuntimeStats:
    """Counters of the consensus driver (exported by ``register_metrics``)."""

    counters: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, amount: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + amount

    def get(self, name: str) -> int:
        return self.counters.get(name, 0)


def _describe(item: tuple[str, object, bytes]) -> str:
    kind, payload, _peer = item
    if kind == "message":
        message = payload
        name = type(message).__name__
        return f"{name} h{getattr(message, 'height', '?')} r{getattr(message, 'round', '?')}"
    if kind == "blocks":
        return f"{len(payload)} synced blocks" if isinstance(payload, list) else "synced blocks"
    return kind


# --- the consensus driver ----------------------------------------------------------------------------------
@dataclass(order=True)
class _TimerEntry:
    at_ms: int
    seq: int
    timer: Timer = field(compare=False)


class ConsensusDriver:
    """Runs the QBFT core on its own thread and performs its actions; also the peer service's handler.

    Inputs arrive through a bounded queue (verified consensus messages, synced blocks, peer events) and a
    heap of timers. Outputs: broadcasts to peers (after the core has written its WAL record), commits to
    the ledger followed by ``on_new_block``, and block requests to peers. Gossiped transactions are admitted
    on a second thread so that signature checks never delay consensus. Nothing here runs on the API's
    event loop.
    """

    def __init__(
        self,
        *,
        ledger: Ledger,
        config: ConsensusConfig,
        signer: Sm2Signer | None,
        verifier: SignatureVerifier,
        wal: ConsensusWal,
        empty_block_interval_ms: int = 5_000,
        clock_ms: Callable[[], int] = wall_clock_ms,
        on_fatal: FatalHandler | None = None,
    ) -> None:
        self.ledger = ledger
        self.config = config
        self.signer = signer
        self.verifier = verifier
        self.wal = wal
        # Building plus re-executing a block must fit in round 0: a quarter of the round timeout each.
        self.app = LedgerBlockSource(ledger, execution_budget_ms=config.round_timeout_base_ms // 4)
        self.empty_block_interval_ms = empty_block_interval_ms
        self.clock_ms = clock_ms
        self.network: PeerService | None = None
        self.stats = RuntimeStats()
        self.core: QbftCore[Block] | None = None
        self._inbox: queue.Queue[tuple[str, object, bytes]] = queue.Queue(CONSENSUS_INBOX_CAPACITY)
        self._gossip_inbox: queue.Queue[tuple[bytes, list[bytes]]] = queue.Queue(GOSSIP_INBOX_CAPACITY)
        self._gossip_bytes = 0
        self._queued_by_peer: dict[bytes, int] = {}
        self._queue_lock = threading.Lock()
        self._timers: list[_TimerEntry] = []
        self._seq = itertools.count()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._admit_thread: threading.Thread | None = None
        self._recent: deque[bytes] = deque(maxlen=RECENT_BROADCASTS)
        self._recent_height = 0
        self._known_validators: set[bytes] = set(ledger.head.validators)
        self._sync: SyncPlanner[tuple[Block, CommitCertificate]] = SyncPlanner(timeout_ms=SYNC_TIMEOUT_MS)
        #: The peers a sync request is outstanding with (replaced, never changed: read from any thread).
        self.sync_peers: frozenset[bytes] = frozenset()
        #: Where HISTORY answers go (the history back-fill of a node that joined by snapshot), if anywhere.
        self.history_sink: Callable[[bytes, bytes], None] | None = None
        self._next_sync_check_ms = 0
        self._error: BaseException | None = None
        self.on_fatal = on_fatal
        self._last_decided_ms: int | None = None
        self._started_ms = clock_ms()

    # --- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the consensus thread (and the gossip admission thread)."""
        self.core = QbftCore(
            config=self.config,
            app=self.app,
            signer=self.signer,
            verifier=self.verifier,
            wal=self.wal,
            head=get_chain_head(self.ledger),
        )
        self._started_ms = self.clock_ms()
        self._thread = threading.Thread(target=self._run, name="xinlian-consensus", daemon=True)
        self._admit_thread = threading.Thread(target=self._admit_loop, name="xinlian-gossip", daemon=True)
        self._thread.start()
        self._admit_thread.start()

    def stop(self) -> None:
        """Stop both threads (the current step finishes first)."""
        self._stop.set()
        for thread in (self._thread, self._admit_thread):
            if thread is not None:
                thread.join(timeout=15)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def admitting(self) -> bool:
        """Whether the gossip admission thread is alive."""
        return self._admit_thread is not None and self._admit_thread.is_alive()

    @property
    def error(self) -> BaseException | None:
        """The exception that stopped the consensus thread, if one did."""
        return self._error

    def liveness(self) -> ConsensusLiveness:
        """Return whether the driver runs, the height and round it works on, and the seconds since it last
        decided (or synced) a height — since it started when it has decided none yet."""
        now = self.clock_ms()
        core = self.core
        since = self._last_decided_ms if self._last_decided_ms is not None else self._started_ms
        return ConsensusLiveness(
            running=self.running,
            height=core.height if core is not None else self.ledger.height + 1,
            round=core.round if core is not None else 0,
            decided_age_s=max(0.0, (now - since) / 1000),
            error=None if self._error is None else f"{type(self._error).__name__}: {self._error}",
        )

    # --- PeerHandler (called on the p2p loop thread: never blocks) ---------------------------------------
    def get_height(self) -> int:
        """Return the committed height."""
        return self.ledger.height

    def on_peer_connected(self, peer: bytes) -> None:
        """Queue a re-send of this height's messages to the new peer."""
        self._offer("connected", None, peer)

    def on_consensus(self, data: bytes, peer: bytes) -> bool:
        """Decode a consensus message, check its author and signature, and queue it for the core.

        Returns False for a message that does not decode, names an author outside every validator set this
        node has seen (and outside the set a block accepted at this height would bring), or carries a bad
        signature (the core checks membership per height again).
        """
        try:
            message: Message[Block] = decode_message(data, Block.decode)
        except (EncodingError, XinlianError):
            self.stats.add("p2p_undecodable")
            return False
        core = self.core
        joining = core is not None and message.author in core.incoming_validators
        if message.author not in self._known_validators and not joining:
            self.stats.add("p2p_non_validator")
            return False
        try:
            signed: Signed[Any] = message.signed
            verify_signed(self.config.chain_id, signed, self.verifier)
        except XinlianError:
            self.stats.add("p2p_bad_signature")
            return False
        self._offer("message", message, peer)
        return True

    def on_transactions(self, raws: list[bytes], peer: bytes) -> None:
        """Queue gossiped transactions for admission (dropped and counted when the queue is full in
        frames or bytes)."""
        size = sum(len(raw) for raw in raws)
        with self._queue_lock:
            if self._gossip_bytes + size > GOSSIP_INBOX_MAX_BYTES:
                self.stats.add("gossip_dropped", len(raws))
                return
            self._gossip_bytes += size
        try:
            self._gossip_inbox.put_nowait((peer, raws))
        except queue.Full:
            with self._queue_lock:
                self._gossip_bytes -= size
            self.stats.add("gossip_dropped", len(raws))

    def get_blocks(self, from_height: int, max_count: int) -> list[tuple[bytes, bytes]]:
        """Return committed (block, certificate) encodings from ``from_height`` (worker thread)."""
        out: list[tuple[bytes, bytes]] = []
        top = min(self.ledger.height, from_height + max_count - 1)
        for height in range(max(1, from_height), top + 1):
            block = self.ledger.get_block(height)
            cert = self.ledger.get_certificate(height)
            if block is None or cert is None:
                break
            out.append((block.encode(), cert.encode()))
        return out

    def get_snapshot(self) -> bytes:
        """Return this node's snapshot manifest for a joining node (worker thread)."""
        return build_manifest(self.ledger)

    def get_state(self, keys: list[bytes]) -> list[bytes]:
        """Return the state node values of ``keys`` this node has, within one STATE answer (worker thread)."""
        return read_state_answer(self.ledger.store, keys, MAX_STATE_ANSWER_BYTES)

    def on_snapshot(self, payload: bytes, peer: bytes) -> None:
        """A running node does not join: an answer to a request it never sends is ignored."""

    def on_state(self, values: list[bytes], peer: bytes) -> None:
        """A running node does not join: an answer to a request it never sends is ignored."""

    def get_history(self, top_height: int, max_count: int) -> bytes:
        """Return blocks from ``top_height`` downwards for a node back-filling them (worker thread)."""
        return read_history_answer(self.ledger.store, top_height, max_count, MAX_HISTORY_ANSWER_BYTES)

    def on_history(self, payload: bytes, peer: bytes) -> None:
        """Hand a HISTORY answer to the back-fill (ignored when none runs)."""
        sink = self.history_sink
        if sink is not None:
            sink(payload, peer)

    def on_blocks(self, pairs: list[tuple[bytes, bytes]], peer: bytes) -> None:
        """Queue blocks answering our request for import on the consensus thread."""
        self._offer("blocks", pairs, peer)

    def _offer(self, kind: str, item: object, peer: bytes) -> None:
        with self._queue_lock:
            queued = self._queued_by_peer.get(peer, 0)
            if queued >= CONSENSUS_INBOX_PER_PEER:
                self.stats.add("inbox_dropped_peer_share")
                return
            self._queued_by_peer[peer] = queued + 1
        try:
            self._inbox.put_nowait((kind, item, peer))
        except queue.Full:
            self._release(peer)
            self.stats.add("inbox_dropped")

    def _release(self, peer: bytes) -> None:
        with self._queue_lock:
            left = self._queued_by_peer.get(peer, 0) - 1
            if left > 0:
                self._queued_by_peer[peer] = left
            else:
                self._queued_by_peer.pop(peer, None)

    # --- gossip ------------------------------------------------------------------------------------------
    def on_local_admit(self, tx_hash: bytes, raw: bytes) -> None:
        """Ledger hook: forward a transaction admitted from this node's API to every peer (one hop).

        Transactions admitted from gossip are not forwarded again: validators are fully meshed, and a
        follower forwards its own clients' transactions to all of its peers.
        """
        if threading.current_thread() is self._admit_thread:
            return
        network = self.network
        if network is not None:
            network.gossip_transaction(raw)

    def _admit_loop(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    peer, raws = self._gossip_inbox.get(timeout=0.2)
                except queue.Empty:
                    continue
                with self._queue_lock:
                    self._gossip_bytes -= sum(len(raw) for raw in raws)
                invalid = 0
                for raw in raws:
                    try:
                        self.ledger.admit_transaction(raw)
                        self.stats.add("gossip_admitted")
                    except InvalidTransaction as exc:
                        self.stats.add(f"gossip_refused_{exc.code}")
                        if exc.code in MISBEHAVIOUR_CODES:
                            invalid += 1
                    except Exception:  # one bad transaction must not stop admission of the rest
                        log.exception("admitting a gossiped transaction failed")
                network = self.network
                if invalid and network is not None:
                    self._send(
                        "a misbehaviour report",
                        network.report_misbehaviour,
                        peer,
                        invalid * INVALID_GOSSIP_POINTS,
                        f"{invalid} invalid gossiped transactions",
                    )
        except BaseException as exc:
            self._fail("gossip admission", exc)

    # --- the consensus thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        core = self.core
        if core is None:
            return
        try:
            self._perform(core.start(self.clock_ms()))
            while not self._stop.is_set():
                now = self.clock_ms()
                self._fire_due_timers(now)
                if now >= self._next_sync_check_ms:
                    self._next_sync_check_ms = now + SYNC_CHECK_MS
                    self._check_sync(now)
                wait_ms = 100
                if self._timers:
                    wait_ms = max(0, min(wait_ms, self._timers[0].at_ms - self.clock_ms()))
                try:
                    item = self._inbox.get(timeout=wait_ms / 1000)
                except queue.Empty:
                    continue
                self._handle(item)
                for _ in range(256):
                    try:
                        item = self._inbox.get_nowait()
                    except queue.Empty:
                        break
                    self._handle(item)
                    if self._timers and self._timers[0].at_ms <= self.clock_ms():
                        break
        except BaseException as exc:  # kept for /health; the node ends its process (see Node.fail)
            self._error = exc
            log.exception("the consensus driver stopped")
            self._fail("consensus driver", exc)

    def _fail(self, where: str, exc: BaseException) -> None:
        if self._stop.is_set():
            return
        handler = self.on_fatal
        if handler is not None:
            handler(where, exc)

    def _handle(self, item: tuple[str, object, bytes]) -> None:
        self._release(item[2])
        started = time.perf_counter()
        self._handle_item(item)
        elapsed_ms = (time.perf_counter() - started) * 1000
        if elapsed_ms > SLOW_STEP_MS:
            log.info("slow consensus step: %s took %.0f ms", _describe(item), elapsed_ms)

    def _handle_item(self, item: tuple[str, object, bytes]) -> None:
        core = self.core
        if core is None:
            return
        kind, payload, peer = item
        now = self.clock_ms()
        if kind == "message":
            self.stats.add("messages_in")
            self._perform(core.on_message(payload, now))  # type: ignore[arg-type]
        elif kind == "blocks":
            self._import_blocks(payload, peer)  # type: ignore[arg-type]
        elif kind == "connected":
            network = self.network
            if network is not None:
                for data in list(self._recent):
                    self._send("a recent consensus message", network.send_to, peer, FrameType.CONSENSUS, data)

    def _fire_due_timers(self, now: int) -> None:
        core = self.core
        if core is None:
            return
        while self._timers and self._timers[0].at_ms <= now:
            entry = heapq.heappop(self._timers)
            timer = entry.timer
            if timer.height != core.height:
                continue
            if timer.kind is TimerKind.BLOCK and self._should_wait_for_transactions(now):
                self._schedule(timer, now + IDLE_POLL_MS)
                continue
            started = time.perf_counter()
            self._perform(core.on_timeout(timer, now))
            elapsed_ms = (time.perf_counter() - started) * 1000
            if elapsed_ms > SLOW_STEP_MS:
                log.info(
                    "slow consensus step: %s timer (round %d) took %.0f ms",
                    timer.kind.name,
                    timer.round,
                    elapsed_ms,
                )

    def _should_wait_for_transactions(self, now: int) -> bool:
        """Empty blocks only every ``empty_block_interval_ms``: wait while the mempool is empty."""
        if self.ledger.pending_count > 0:
            return False
        return now < self.ledger.head.header.timestamp_ms + self.empty_block_interval_ms

    def _schedule(self, timer: Timer, at_ms: int) -> None:
        heapq.heappush(self._timers, _TimerEntry(at_ms, next(self._seq), timer))

    def _perform(self, actions: list[Action[Block]]) -> None:
        """Carry out the core's actions in order; a commit's follow-up actions join the work list."""
        core = self.core
        if core is None:
            return
        work = deque(actions)
        while work:
            action = work.popleft()
            if isinstance(action, Broadcast):
                self._broadcast(action.message)
            elif isinstance(action, ScheduleTimer):
                self._schedule(action.timer, action.at_ms)
            elif isinstance(action, CommitBlock):
                log.info(
                    "decided block %d (round %d, %d txs, %d seals) in round %d",
                    action.block.header.height,
                    action.block.header.round,
                    len(action.block.transactions),
                    len(action.certificate.seals),
                    core.round,
                )
                if self._commit(action.block, action.certificate):
                    work.extend(core.on_new_block(action.block, action.certificate, self.clock_ms()))
                    self._after_commit()
            elif isinstance(action, RequestSync):
                self._request_blocks(self.clock_ms(), force=True)
            elif isinstance(action, Reject):
                self.stats.rejected[action.reason] = self.stats.rejected.get(action.reason, 0) + 1

    def _broadcast(self, message: Message[Block]) -> None:
        data = encode_message(message, Block.encode)
        if message.height != self._recent_height:
            self._recent.clear()
            self._recent_height = message.height
        self._recent.append(data)
        self.stats.add("messages_out")
        network = self.network
        if network is not None:
            self._send(f"a {len(data)}-byte consensus message", network.broadcast, FrameType.CONSENSUS, data)

    def _send(self, what: str, send: Callable[..., None], *args: object) -> None:
        """Hand something to the peer service; a failure is logged and counted, never raised: a failed
        send must not stop deciding (peers that missed a message catch up by round change or sync)."""
        try:
            send(*args)
        except Exception as exc:
            self.stats.add("send_failures")
            log.warning("could not send %s to peers: %s: %s", what, type(exc).__name__, exc)

    def _commit(self, block: Block, certificate: CommitCertificate) -> bool:
        try:
            self.ledger.commit_block(block, certificate)
        except XinlianError:
            # Our own decision failed to commit: never skip it silently; peers will serve it by sync.
            log.exception("committing decided block %d failed", block.header.height)
            self.stats.add("commit_failures")
            return False
        self.stats.add("blocks_committed")
        self._last_decided_ms = self.clock_ms()
        return True

    def _after_commit(self) -> None:
        head = self.ledger.head
        self._known_validators.update(head.validators)
        if head.header.height != self._recent_height:
            self._recent.clear()
        network = self.network
        if network is not None:
            self._send("our height", network.broadcast_status, head.header.height)

    # --- block sync -----------------------------------------------------------------------------------------
    def _check_sync(self, now: int) -> None:
        network = self.network
        if network is None:
            return
        heights = network.peer_heights()
        if heights and max(heights.values()) > self.ledger.height:
            self._request_blocks(now, force=False)

    def _request_blocks(self, now: int, *, force: bool) -> None:
        """Send the block requests the sync planner wants now (several peers, one window each).

        ``force`` (the core saw traffic for later heights): when no peer reports a height above ours yet,
        ask one peer for the next block anyway.
        """
        network = self.network
        if network is None:
            return
        heights = network.peer_heights()
        if not heights:
            return
        for request in self._sync.plan(now, self.ledger.height, heights, probe=force):
            self.stats.add("sync_requests")
            self._send(
                "a block request", network.request_blocks, request.peer, request.from_height, request.count
            )
        self._count_sync_events()

    def _count_sync_events(self) -> None:
        """Export the planner's counters (timeouts, wrong answers, blamed peers) with the driver's, and how
        many distinct peers have delivered blocks in order."""
        self.stats.counters.update(self._sync.events)
        self.stats.counters["sync_peers_used"] = len(self._sync.served)
        self.sync_peers = frozenset(request.peer for request in self._sync.outstanding)

    def _blame(self, peer: bytes, reason: str, points: float, *, rest_ms: int = BLAME_REST_MS) -> None:
        """``peer``'s sync answer was wrong: the planner avoids it; provable lies cost it ban points."""
        self._sync.blame(peer, self.clock_ms(), reason, rest_ms=rest_ms)
        self._count_sync_events()
        network = self.network
        if points and network is not None:
            self._send("a misbehaviour report", network.report_misbehaviour, peer, points, reason)

    def _import_blocks(self, pairs: list[tuple[bytes, bytes]], peer: bytes) -> None:
        """Import answered blocks in height order: the planner holds back those above a gap; each block's
        certificate is checked by the core and the block re-executed by the ledger."""
        core = self.core
        if core is None:
            return
        decoded: list[tuple[int, tuple[Block, CommitCertificate]]] = []
        for block_data, cert_data in pairs:
            try:
                block = Block.decode(block_data)
                certificate = CommitCertificate.decode(cert_data)
            except (EncodingError, XinlianError):
                self._blame(peer, "sync_undecodable", BAD_SYNC_ANSWER_POINTS)
                return
            decoded.append((block.header.height, (block, certificate)))
        run = self._sync.on_answer(peer, decoded, self.ledger.height, self.clock_ms())
        self._count_sync_events()
        for synced in run:
            block, certificate = synced.item
            height = synced.height
            if height != self.ledger.height + 1 or core.height != height:
                self.stats.add("sync_gap")
                break
            try:
                core.check_certificate(block, certificate)
            except ConsensusError as exc:
                log.warning(
                    "peer %s… sent block %d with a bad certificate: %s", synced.peer[:6].hex(), height, exc
                )
                self._blame(synced.peer, "sync_bad_certificate", BAD_SYNC_ANSWER_POINTS)
                break
            try:
                self.ledger.commit_block(block, certificate)
            except XinlianError as exc:
                # A quorum sealed it, so the block is no proof against the peer (the fault may be ours): avoid
                # it briefly only.
                log.warning("peer %s… sent an invalid block %d: %s", synced.peer[:6].hex(), height, exc)
                self._blame(synced.peer, "sync_invalid_block", 0.0, rest_ms=SLOW_REST_MS)
                break
            self.stats.add("blocks_synced")
            self._last_decided_ms = self.clock_ms()
            self._perform(core.on_new_block(block, certificate, self.clock_ms()))
            self._after_commit()
        if self.network is not None:
            heights = self.network.peer_heights()
            if heights and max(heights.values()) > self.ledger.height:
                self._request_blocks(self.clock_ms(), force=False)
