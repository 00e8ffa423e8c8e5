"""Deterministic QBFT simulator: N cores on a virtual clock, a seeded faulty network, crashes, Byzantines."""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import random
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sim_app import SHARED_VERIFIER, KeyPool, SimApp, SimBlock

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
    compute_max_faulty,
    compute_proposer_index,
    compute_quorum,
    validate_commit_certificate,
)
from node.consensus.messages import (
    Commit,
    CommitPayload,
    Message,
    Prepare,
    PreparePayload,
    Proposal,
    ProposalPayload,
    RoundChange,
    RoundChangePayload,
    Signed,
    compute_commit_seal_preimage,
    decode_message,
    encode_message,
    sign_payload,
)
from node.consensus.signing import Sm2Signer
from node.consensus.wal import InMemoryWal
from sdk.errors import EncodingError, XinlianError
from sdk.types import CommitCertificate, Seal

CHAIN_ID = 7
SimMessage = Message[SimBlock]
SimAction = Action[SimBlock]


class SimulationFailure(AssertionError):
    """An invariant broke; the message carries the seed and how to replay it."""


@dataclass(frozen=True)
class Profile:
    """What one run does; derived from (n, seed) so a seed replays exactly."""

    n: int
    seed: int
    byzantine: tuple[int, ...] = ()
    byzantine_tricks: tuple[str, ...] = ()
    outsider: bool = False
    fault_ms: int = 6_000
    drop_p: float = 0.0
    dup_p: float = 0.0
    delay_ms: tuple[int, int] = (1, 40)
    fault_delay_ms: tuple[int, int] = (1, 400)
    crashes: int = 0
    partitions: int = 0
    clock_skew_ms: int = 100
    liveness_heights: int = 2
    liveness_deadline_ms: int = 90_000
    block_period_ms: int = 500
    round_timeout_base_ms: int = 1_000
    round_timeout_cap_ms: int = 4_000
    #: Dafny/Besu re-rounding of re-proposed blocks (SimApp.reround); forks a round-covering block hash.
    reround: bool = False
    #: Negative control: a restart loses the WAL (the amnesia that makes an honest node Byzantine).
    amnesia: bool = False

    def describe(self) -> str:
        parts = [f"n={self.n}", f"seed={self.seed}"]
        if self.reround:
            parts.append("reround")
        if self.byzantine:
            parts.append(f"byzantine={list(self.byzantine)}:{','.join(self.byzantine_tricks)}")
        if self.outsider:
            parts.append("outsider")
        if self.drop_p or self.dup_p:
            parts.append(f"drop={self.drop_p:.2f} dup={self.dup_p:.2f}")
        if self.crashes:
            parts.append(f"crashes={self.crashes}")
        if self.partitions:
            parts.append(f"partitions={self.partitions}")
        return " ".join(parts)


BYZANTINE_TRICKS = (
    "equivocate",
    "conflicting_votes",
    "bad_seals",
    "forged_justification",
    "future",
    "stale",
    "garbage",
)

#: Tricks that pad one validator's signatures out to look like a quorum (re-signed copies differ byte for
#: byte: SM2 is randomised), mix in messages for other values or non-validators, and forge certificates.
#: Kept apart from BYZANTINE_TRICKS so that the seeds of the main sweep keep replaying as documented.
DUPLICATING_TRICKS = (
    "duplicate_justification",
    "duplicate_round_change",
    "duplicate_votes",
    "forged_certificate",
    "withhold",
    "equivocate",
)


def profile_for_seed(n: int, seed: int) -> Profile:
    """Return a random but seed-determined mix of faults for n validators."""
    rng = random.Random(f"profile/{n}/{seed}")
    f = compute_max_faulty(n)
    kind = rng.random()
    byzantine: tuple[int, ...] = ()
    tricks: tuple[str, ...] = ()
    if f and kind < 0.45:
        count = rng.randint(1, f)
        byzantine = tuple(sorted(rng.sample(range(n), count)))
        tricks = tuple(sorted(rng.sample(BYZANTINE_TRICKS, rng.randint(1, 3))))
    return Profile(
        n=n,
        seed=seed,
        byzantine=byzantine,
        byzantine_tricks=tricks,
        outsider=rng.random() < 0.3,
        fault_ms=rng.choice((2_000, 4_000, 6_000)),
        drop_p=rng.choice((0.0, 0.05, 0.2, 0.4)),
        dup_p=rng.choice((0.0, 0.1)),
        crashes=rng.choice((0, 0, 1, 2, 3)),
        partitions=0 if n == 1 else rng.choice((0, 0, 1, 2)),
        clock_skew_ms=rng.choice((0, 100, 300)),
    )


def duplicating_profile_for_seed(n: int, seed: int) -> Profile:
    """Return a seed-determined run in which up to f validators pad, mix and forge quorums."""
    rng = random.Random(f"duplicating/{n}/{seed}")
    f = compute_max_faulty(n)
    count = rng.randint(1, f) if f else 0
    return Profile(
        n=n,
        seed=seed,
        byzantine=tuple(sorted(rng.sample(range(n), count))),
        byzantine_tricks=tuple(sorted(rng.sample(DUPLICATING_TRICKS, rng.randint(2, 4)))) if count else (),
        outsider=rng.random() < 0.3,
        fault_ms=rng.choice((4_000, 6_000, 8_000)),
        drop_p=rng.choice((0.0, 0.05, 0.2)),
        crashes=rng.choice((0, 0, 1)),
        partitions=rng.choice((0, 0, 1)),
        clock_skew_ms=rng.choice((0, 100)),
    )


@dataclass(order=True)
class _Event:
    time_ms: int
    seq: int
    kind: str = field(compare=False)
    data: tuple[Any, ...] = field(compare=False)


@dataclass
class SimNode:
    index: int
    signer: Sm2Signer
    app: SimApp
    wal: InMemoryWal
    skew_ms: int
    core: QbftCore[SimBlock] | None = None
    up: bool = True
    incarnation: int = 0
    byzantine: bool = False
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)


class Simulation:
    """Runs one profile; ``run()`` raises SimulationFailure naming the seed on any broken invariant."""

    def __init__(self, profile: Profile, *, trace: bool = False) -> None:
        self.profile = profile
        self.rng = random.Random(f"run/{profile.n}/{profile.seed}")
        keys = KeyPool.signers(profile.n + 1)
        self.outsider_signer = keys[profile.n]
        self.validator_keys = tuple(s.public_key for s in keys[: profile.n])
        self.config = ConsensusConfig(
            chain_id=CHAIN_ID,
            block_period_ms=profile.block_period_ms,
            round_timeout_base_ms=profile.round_timeout_base_ms,
            round_timeout_cap_ms=profile.round_timeout_cap_ms,
        )
        self.quorum = compute_quorum(profile.n)
        self.now_ms = 0
        self._seq = 0
        self._queue: list[_Event] = []
        self.partition: dict[int, int] | None = None
        self.faulty_network = True
        self.nodes = [
            SimNode(
                index=i,
                signer=keys[i],
                app=SimApp(i, self.validator_keys, profile.block_period_ms, reround=profile.reround),
                wal=InMemoryWal(),
                skew_ms=self.rng.randint(-profile.clock_skew_ms, profile.clock_skew_ms),
                byzantine=i in profile.byzantine,
            )
            for i in range(profile.n)
        ]
        self.committed: dict[int, bytes] = {}  # height -> block hash (agreed by correct nodes)
        self.signed_values: dict[tuple[int, int, int, str], bytes] = {}  # (author, h, r, kind) -> value
        # Ground truth: which validators really signed what, from every message that was ever sent. A
        # correct node's step is checked against it, independently of how the core counts.
        self.index_of = {key: i for i, key in enumerate(self.validator_keys)}
        self.signers: dict[tuple[object, ...], set[int]] = {}
        self.rc_rounds: dict[int, dict[int, int]] = {}  # height -> validator -> highest ROUND-CHANGE round
        self.blocks: dict[bytes, SimBlock] = {}  # every block proposed or claimed prepared, by hash
        self.f = compute_max_faulty(profile.n)
        self._timing_out: tuple[int, int, int] | None = None  # (node, height, round) timing out now
        self.captured: deque[SimMessage] = deque(maxlen=64)  # what Byzantine nodes overheard (for replays)
        self.trace: deque[str] = deque(maxlen=400 if trace else 60)
        self.events_processed = 0
        self.messages_sent = 0

    # --- bookkeeping -----------------------------------------------------------------------------------
    def fail(self, what: str) -> None:
        p = self.profile
        lines = [
            f"simulation invariant broken: {what}",
            f"profile: {p.describe()}",
            f"virtual time {self.now_ms} ms; heights {[node.app.height for node in self.nodes]}",
            f"replay: pytest tests/simulation -k test_seeded_run --seed {p.seed} --sim-n {p.n}",
            f"    or: XINLIAN_SIM_SEED={p.seed} XINLIAN_SIM_N={p.n} pytest tests/simulation -k seeded",
            f"    or (any profile, exactly): Simulation({p!r}).run()",
            "last events:",
            *self.trace,
        ]
        raise SimulationFailure("\n".join(lines))

    def _push(self, time_ms: int, kind: str, *data: Any) -> None:
        self._seq += 1
        heapq.heappush(self._queue, _Event(time_ms, self._seq, kind, data))

    def correct_nodes(self) -> list[SimNode]:
        return [node for node in self.nodes if not node.byzantine]

    def local_time(self, node: SimNode) -> int:
        return self.now_ms + node.skew_ms

    # --- lifecycle -------------------------------------------------------------------------------------
    def _boot(self, node: SimNode) -> None:
        node.incarnation += 1
        node.up = True
        node.core = QbftCore(
            config=self.config,
            app=node.app,
            signer=node.signer,
            verifier=SHARED_VERIFIER,
            wal=node.wal,
            head=node.app.head(),
        )
        self._apply(node, node.core.start(self.local_time(node)))

    def _crash(self, node: SimNode) -> None:
        if not node.up:
            return
        self.trace.append(f"{self.now_ms}: crash n{node.index} at h{node.app.height}")
        node.up = False
        node.core = None
        node.incarnation += 1

    def _restart(self, node: SimNode) -> None:
        if node.up:
            return
        self.trace.append(f"{self.now_ms}: restart n{node.index} at h{node.app.height} wal={len(node.wal)}")
        if self.profile.amnesia:
            node.wal = InMemoryWal()
        self._boot(node)

    # --- scripted control (scenario tests) --------------------------------------------------------------
    def crash(self, index: int) -> None:
        self._crash(self.nodes[index])

    def restart(self, index: int) -> None:
        self._restart(self.nodes[index])

    def heights(self) -> list[int]:
        return [node.app.height for node in self.nodes]

    def correct_reasons(self) -> Counter[str]:
        """Why correct nodes refused inputs (Reject reasons, and refused synced blocks), over the run."""
        total: Counter[str] = Counter()
        for node in self.correct_nodes():
            total.update(node.reasons)
        return total

    def correct_ignored(self) -> Counter[str]:
        """What the running correct cores ignored as valid but useless (e.g. a validator's repeated vote)."""
        total: Counter[str] = Counter()
        for node in self.correct_nodes():
            if node.core is not None:
                total.update(node.core.metrics.ignored)
        return total

    def boot(self) -> None:
        for node in self.nodes:
            self._boot(node)

    def run_until(self, time_ms: int) -> None:
        """Process every event up to ``time_ms`` (virtual), then set the clock there."""
        while self._queue and self._queue[0].time_ms <= time_ms:
            self.step()
        self.now_ms = max(self.now_ms, time_ms)

    def heal(self) -> None:
        self._on_heal()

    def run_until_height(self, height: int, deadline_ms: int) -> None:
        """Run until every running correct node has committed ``height``; fail at virtual ``deadline_ms``."""
        while min(n.app.height for n in self.correct_nodes() if n.up) < height:
            if not self._queue or self._queue[0].time_ms > deadline_ms:
                self.fail(f"liveness: correct nodes did not all reach height {height} by {deadline_ms} ms")
            self.step()

    def plan_faults(self) -> None:
        p = self.profile
        for _ in range(p.crashes):
            node = self.rng.randrange(p.n)
            at = self.rng.randrange(0, p.fault_ms)
            self._push(at, "crash", node)
            self._push(min(at + self.rng.randrange(200, 3_000), p.fault_ms), "restart", node)
        for _ in range(p.partitions):
            at = self.rng.randrange(0, p.fault_ms)
            groups = {i: self.rng.randrange(2) for i in range(p.n)}
            self._push(at, "partition", groups)
            self._push(min(at + self.rng.randrange(500, 3_000), p.fault_ms), "unpartition")
        if p.byzantine or p.outsider:
            self._push(self.rng.randrange(100, 400), "adversary")
        self._push(p.fault_ms, "heal")

    # --- network ---------------------------------------------------------------------------------------
    def _send(self, src: int | None, dst: int, data: bytes) -> None:
        self.messages_sent += 1
        if self.faulty_network:
            if src is not None and self.partition is not None and self.partition[src] != self.partition[dst]:
                return
            if self.rng.random() < self.profile.drop_p:
                return
            low, high = self.profile.fault_delay_ms
        else:
            low, high = self.profile.delay_ms
        self._push(self.now_ms + self.rng.randint(low, high), "deliver", dst, data)
        if self.faulty_network and self.rng.random() < self.profile.dup_p:
            self._push(self.now_ms + self.rng.randint(low, high), "deliver", dst, data)

    def _broadcast_bytes(self, src: int | None, data: bytes, targets: list[int] | None = None) -> None:
        for dst in range(self.profile.n) if targets is None else targets:
            if dst != src:
                self._send(src, dst, data)

    def _encode(self, message: SimMessage) -> bytes:
        """Encode a message for sending; every message sent passes here, so its signatures are noted."""
        self._note(message)
        return encode_message(message, SimBlock.encode)

    # --- ground truth ----------------------------------------------------------------------------------
    def _note(self, message: SimMessage) -> None:
        self._note_signed(message.signed)
        if isinstance(message, Proposal):
            self.blocks.setdefault(message.block.hash, message.block)
            for rc in message.round_changes:
                self._note_signed(rc)
            for prepare in message.prepares:
                self._note_signed(prepare)
        elif isinstance(message, RoundChange):
            if message.prepared_block is not None:
                self.blocks.setdefault(message.prepared_block.hash, message.prepared_block)
            for prepare in message.prepares:
                self._note_signed(prepare)

    def _note_signed(self, signed: Signed[Any]) -> None:
        index = self.index_of.get(signed.author)
        if index is None:
            return  # a non-validator's signature proves nothing
        p = signed.payload
        if isinstance(p, PreparePayload):
            self.signers.setdefault(("P", p.height, p.round, p.digest), set()).add(index)
        elif isinstance(p, CommitPayload):
            self.signers.setdefault(("C", p.height, p.round, p.digest), set()).add(index)
        elif isinstance(p, RoundChangePayload):
            self.signers.setdefault(("RC", p.height, p.round), set()).add(index)
            rounds = self.rc_rounds.setdefault(p.height, {})
            rounds[index] = max(rounds.get(index, 0), p.round)

    def _signer_count(self, *key: object) -> int:
        return len(self.signers.get(key, ()))

    def _check_justified(self, node: SimNode, message: SimMessage, repeat: bool) -> None:
        """A correct node's step must be backed by enough distinct validators that really signed."""
        h, r = message.height, message.round
        if isinstance(message, Prepare):
            digest = message.signed.payload.digest
            if r > 0 and self._signer_count("RC", h, r) < self.quorum:
                self.fail(f"n{node.index} prepared h{h} r{r} without a quorum of distinct ROUND-CHANGEs")
            block = self.blocks.get(digest)
            # A re-proposal (its header names an earlier round): an earlier round must have had a quorum
            # of distinct PREPAREs for it.
            reproposed = block is not None and block.round < r and not self.profile.reround
            if reproposed and all(self._signer_count("P", h, k, digest) < self.quorum for k in range(r)):
                self.fail(
                    f"n{node.index} prepared a re-proposal of {digest.hex()[:16]} at h{h} r{r} that no "
                    "quorum of distinct validators ever prepared"
                )
        elif isinstance(message, Commit):
            if self._signer_count("P", h, r, message.signed.payload.digest) < self.quorum:
                self.fail(f"n{node.index} sent COMMIT at h{h} r{r} without a quorum of distinct PREPAREs")
        elif isinstance(message, RoundChange) and not repeat:
            if self._timing_out == (node.index, h, r - 1):
                return  # its own round timer: no justification needed
            beyond = sum(1 for i, rr in self.rc_rounds.get(h, {}).items() if rr >= r and i != node.index)
            if beyond < self.f + 1:
                self.fail(f"n{node.index} jumped to h{h} r{r} with only {beyond} validators beyond it")

    # --- actions ---------------------------------------------------------------------------------------
    def _apply(self, node: SimNode, actions: list[SimAction]) -> None:
        pending = list(actions)
        while pending:
            action = pending.pop(0)
            if node.core is None:
                return
            if isinstance(action, CommitBlock) and not node.byzantine:
                # The core's round at the decision: the COMMITs it counted are for this round.
                h, r = action.block.height, node.core.round
                if self._signer_count("C", h, r, action.block.hash) < self.quorum:
                    self.fail(f"n{node.index} decided h{h} in r{r} without a quorum of distinct COMMITs")
            if isinstance(action, Broadcast):
                self._record_signed(node, action.message)
                if node.byzantine:
                    self._byzantine_broadcast(node, action.message)
                else:
                    self._broadcast_bytes(node.index, self._encode(action.message))
            elif isinstance(action, CommitBlock):
                self._store_block(node, action.block, action.certificate)
                pending.extend(
                    node.core.on_new_block(action.block, action.certificate, self.local_time(node))
                )
            elif isinstance(action, ScheduleTimer):
                at = max(action.at_ms - node.skew_ms, self.now_ms)
                self._push(at, "timer", node.index, node.incarnation, action.timer)
            elif isinstance(action, RequestSync):
                self._push(self.now_ms + self.rng.randint(1, 50), "sync", node.index, action.height)
            elif isinstance(action, Reject):
                node.rejected += 1
                node.reasons[action.reason] += 1

    def _record_signed(self, node: SimNode, message: SimMessage) -> None:
        """A correct validator never signs two values for one (height, round, kind): check every send."""
        if node.byzantine:
            return
        if isinstance(message, RoundChange):
            p = message.signed.payload
            value = repr((p.prepared_round, p.prepared_digest)).encode()
        else:
            value = message.signed.payload.digest
        key = (node.index, message.height, message.round, type(message).__name__)
        repeat = key in self.signed_values
        previous = self.signed_values.setdefault(key, value)
        if previous != value:
            self.fail(f"n{node.index} signed two values for {key}: {previous!r} then {value!r}")
        self._note(message)
        self._check_justified(node, message, repeat)

    def _store_block(self, node: SimNode, block: SimBlock, certificate: CommitCertificate) -> None:
        node.app.append(block, certificate)
        self.trace.append(f"{self.now_ms}: n{node.index} commits h{block.height} r{block.round}")
        if node.byzantine:
            return
        self._check_certificate(block, certificate)
        agreed = self.committed.setdefault(block.height, block.hash)
        if agreed != block.hash:
            self.fail(f"fork at height {block.height}: n{node.index} committed {block.hash.hex()[:16]}")

    def _check_certificate(self, block: SimBlock, certificate: CommitCertificate) -> None:
        try:
            validate_commit_certificate(
                chain_id=CHAIN_ID,
                validators=self.validator_keys,
                height=block.height,
                round=block.round,
                block_hash=block.hash,
                certificate=certificate,
                verifier=SHARED_VERIFIER,
            )
        except XinlianError as exc:
            self.fail(f"bad certificate at height {block.height}: {exc}")
        if len({s.validator_index for s in certificate.seals}) < self.quorum:
            self.fail(f"certificate at height {block.height} below quorum")

    # --- events ----------------------------------------------------------------------------------------
    def step(self) -> bool:
        if not self._queue:
            return False
        event = heapq.heappop(self._queue)
        self.now_ms = event.time_ms
        self.events_processed += 1
        handler: Callable[..., None] = getattr(self, f"_on_{event.kind}")
        handler(*event.data)
        return True

    def _on_deliver(self, dst: int, data: bytes) -> None:
        node = self.nodes[dst]
        if not node.up or node.core is None:
            return
        if node.byzantine:
            with contextlib.suppress(EncodingError):
                self.captured.append(decode_message(data, node.app.decode_block))
        self._apply(node, node.core.on_message_bytes(data, self.local_time(node)))

    def _on_timer(self, index: int, incarnation: int, timer: Timer) -> None:
        node = self.nodes[index]
        if node.core is None or node.incarnation != incarnation:
            return
        self._timing_out = (index, node.core.height, node.core.round)
        try:
            self._apply(node, node.core.on_timeout(timer, self.local_time(node)))
        finally:
            self._timing_out = None

    def _on_sync(self, index: int, height: int) -> None:
        """A sync request reaches a random peer; it answers with the blocks it has from ``height`` on."""
        peers = [
            n for n in self.nodes if n.index != index and n.up and not n.byzantine and n.app.height >= height
        ]
        if not peers:
            self._forge_sync_answer(index, height)
            return
        self._forge_sync_answer(index, height)
        peer = self.rng.choice(peers)
        if (
            self.faulty_network
            and self.partition is not None
            and self.partition[peer.index] != self.partition[index]
        ):
            return
        delay = self.now_ms
        for h in range(height, min(peer.app.height, height + 8) + 1):
            cert = peer.app.certificates[h]
            if cert is None:
                continue
            delay += self.rng.randint(1, 40)
            self._push(delay, "block", index, peer.app.chain[h], cert)

    def _on_block(self, index: int, block: SimBlock, certificate: CommitCertificate | bytes) -> None:
        node = self.nodes[index]
        core = node.core
        if core is None or block.height != core.height or core.is_decided:
            return
        now = self.local_time(node)
        try:
            if isinstance(certificate, bytes):  # from the wire, as a runtime gets it: the SDK codec first
                certificate = CommitCertificate.decode(certificate)
            core.check_certificate(block, certificate)
            node.app.validate_block(block, now + 10**9)  # synced blocks: any past time is fine
        except XinlianError:
            node.rejected += 1
            node.reasons["synced_block_refused"] += 1
            return
        self._store_block(node, block, certificate)
        self._apply(node, core.on_new_block(block, certificate, now))

    def _on_crash(self, index: int) -> None:
        self._crash(self.nodes[index])

    def _on_restart(self, index: int) -> None:
        self._restart(self.nodes[index])

    def _on_partition(self, groups: dict[int, int]) -> None:
        self.trace.append(f"{self.now_ms}: partition {groups}")
        self.partition = groups

    def _on_unpartition(self) -> None:
        self.trace.append(f"{self.now_ms}: unpartition")
        self.partition = None

    def _on_heal(self) -> None:
        self.trace.append(f"{self.now_ms}: heal")
        self.faulty_network = False
        self.partition = None
        for node in self.nodes:
            self._restart(node)

    def _on_adversary(self) -> None:
        self._adversary_tick()
        self._push(self.now_ms + self.rng.randrange(150, 600), "adversary")

    # --- Byzantine behaviour ---------------------------------------------------------------------------
    def _byzantine_broadcast(self, node: SimNode, message: SimMessage) -> None:
        tricks = self.profile.byzantine_tricks
        others = [i for i in range(self.profile.n) if i != node.index]
        self.rng.shuffle(others)
        half = len(others) // 2
        signer = node.signer
        if isinstance(message, Proposal) and message.round == 0 and "withhold" in tricks:
            return  # a silent proposer: the others must change round (and so build justifications)
        if isinstance(message, Proposal) and message.round == 0 and "duplicate_votes" in tricks and others:
            self._equivocate_to_one(node, message, others[0], others[1:])
            return
        if isinstance(message, Proposal) and message.round > 0 and "duplicate_justification" in tricks:
            forged = self._pad_justification(signer, node.app, message)
            self._broadcast_bytes(node.index, self._encode(forged))
            return
        if isinstance(message, RoundChange) and "duplicate_round_change" in tricks:
            for data in self._padded_round_changes(signer, message.height, message.round, node.app):
                self._broadcast_bytes(node.index, data)
            return
        if isinstance(message, Prepare | Commit) and "duplicate_votes" in tricks:
            # The vote and re-signed copies of it: distinct messages, one author.
            for _ in range(self.quorum):
                copy = dataclasses.replace(
                    message, signed=sign_payload(CHAIN_ID, message.signed.payload, signer)
                )
                self._broadcast_bytes(node.index, self._encode(copy))
            return
        if isinstance(message, Proposal) and "equivocate" in tricks and message.round == 0:
            twin = dataclasses.replace(message.block, payload=b"twin/" + message.block.payload)
            twin_msg = Proposal(
                sign_payload(CHAIN_ID, ProposalPayload(message.height, 0, twin.hash), signer), twin
            )
            self._broadcast_bytes(node.index, self._encode(message), others[:half])
            self._broadcast_bytes(node.index, self._encode(twin_msg), others[half:])
            return
        if isinstance(message, Prepare | Commit) and "conflicting_votes" in tricks:
            fake = self.rng.randbytes(32)
            vote = self._vote(signer, type(message), message.height, message.round, fake)
            self._broadcast_bytes(node.index, self._encode(message), others[:half])
            self._broadcast_bytes(node.index, self._encode(vote), others[half:])
            return
        if isinstance(message, Commit) and "bad_seals" in tricks:
            p = message.signed.payload
            bad_seal = signer.sign(b"not a commit preimage")
            bad = Commit(sign_payload(CHAIN_ID, CommitPayload(p.height, p.round, p.digest, bad_seal), signer))
            self._broadcast_bytes(node.index, self._encode(bad), others[:half])
            self._broadcast_bytes(node.index, self._encode(message), others[half:])
            return
        self._broadcast_bytes(node.index, self._encode(message))

    def _vote(
        self,
        signer: Sm2Signer,
        kind: type,
        height: int,
        round_: int,
        digest: bytes,
        seal_round: int | None = None,
    ) -> SimMessage:
        """A PREPARE or COMMIT; the seal signs ``seal_round`` (the block header's round) when given."""
        if kind is Prepare:
            return Prepare(sign_payload(CHAIN_ID, PreparePayload(height, round_, digest), signer))
        sealed = round_ if seal_round is None else seal_round
        seal = signer.sign(compute_commit_seal_preimage(CHAIN_ID, height, sealed, digest))
        return Commit(sign_payload(CHAIN_ID, CommitPayload(height, round_, digest, seal), signer))

    # --- padded quorums: one validator's signatures made to look like many --------------------------
    def _forged_block(self, app: SimApp, height: int, round_: int, tag: bytes) -> SimBlock:
        """A valid-looking block for (height, round) that no quorum ever prepared."""
        parent = app.chain[-1]
        proposer = compute_proposer_index(app.head().proposer_index, round_, self.profile.n)
        return SimBlock(height, round_, proposer, parent.hash, parent.timestamp_ms + 600, tag)

    def _padded_prepares(
        self, signer: Sm2Signer, height: int, round_: int, digest: bytes
    ) -> tuple[Signed[PreparePayload], ...]:
        """Quorum-many PREPAREs for (height, round, digest) with fewer than a quorum of real authors."""
        own = [
            sign_payload(CHAIN_ID, PreparePayload(height, round_, digest), signer) for _ in range(self.quorum)
        ]
        variant = self.rng.randrange(4)
        if variant == 0:  # one validator, re-signed: every copy is a different message
            return tuple(own)
        if variant == 1:  # the same message repeated
            return (own[0],) * self.quorum
        if variant == 2:  # overheard PREPAREs for other digests, rounds or heights fill the gaps
            fill = [m.signed for m in self.captured if isinstance(m, Prepare)][: self.quorum - 1]
            return (own[0], *fill, *own[1 : self.quorum - len(fill)])
        outsider = sign_payload(CHAIN_ID, PreparePayload(height, round_, digest), self.outsider_signer)
        return (own[0], *(outsider,) * (self.quorum - 1))

    def _genuine_round_changes(self, height: int, round_: int) -> list[Signed[RoundChangePayload]]:
        """One overheard ROUND-CHANGE per author for (height, round): a real but possibly partial quorum."""
        by_author: dict[bytes, Signed[RoundChangePayload]] = {}
        for m in self.captured:
            if isinstance(m, RoundChange) and m.height == height and m.round == round_:
                by_author.setdefault(m.author, m.signed)
        return list(by_author.values())

    def _pad_justification(
        self, signer: Sm2Signer, app: SimApp, message: Proposal[SimBlock]
    ) -> Proposal[SimBlock]:
        """Replace a justified proposal by one whose quorum is padded with repeats or strangers."""
        height, round_ = message.height, message.round
        genuine = [rc for rc in message.round_changes if rc.author != signer.public_key]
        variant = self.rng.randrange(3)
        if variant == 0:
            # Real ROUND-CHANGEs plus this validator's forged claim of a prepared block, "proven" by a padded
            # PREPARE certificate: exactly the shape that only distinct-author counting refuses.
            forged = self._forged_block(app, height, round_ - 1, b"padded-prepares")
            claim = RoundChangePayload(height, round_, round_ - 1, forged.hash)
            rcs = (*genuine, sign_payload(CHAIN_ID, claim, signer))
            prepares = self._padded_prepares(signer, height, round_ - 1, forged.hash)
            block = forged
        else:
            block = self._forged_block(app, height, round_, b"padded-round-changes")
            own = [
                sign_payload(CHAIN_ID, RoundChangePayload(height, round_, None, None), signer)
                for _ in range(self.quorum)
            ]
            if variant == 1:  # one short of a real quorum, topped up with re-signed copies of its own
                rcs = (*genuine[: self.quorum - 2], *own)
            else:  # a non-validator's ROUND-CHANGE in place of a real one
                stranger = RoundChangePayload(height, round_, None, None)
                rcs = (
                    *genuine[: self.quorum - 2],
                    own[0],
                    sign_payload(CHAIN_ID, stranger, self.outsider_signer),
                )
            prepares = ()
        payload = ProposalPayload(height, round_, block.hash)
        return Proposal(sign_payload(CHAIN_ID, payload, signer), block, tuple(rcs), prepares)

    def _padded_round_changes(self, signer: Sm2Signer, height: int, round_: int, app: SimApp) -> list[bytes]:
        """A ROUND-CHANGE claiming a padded prepared certificate, and re-signed copies of a plain one."""
        out = []
        if round_ > 0:
            forged = self._forged_block(app, height, round_ - 1, b"padded-certificate")
            claim = RoundChangePayload(height, round_, round_ - 1, forged.hash)
            prepares = self._padded_prepares(signer, height, round_ - 1, forged.hash)
            out.append(self._encode(RoundChange(sign_payload(CHAIN_ID, claim, signer), forged, prepares)))
        # f+1 copies of one validator's ROUND-CHANGE for a later round: not f+1 validators, so no jump.
        later = RoundChangePayload(height, round_ + self.rng.randint(1, 3), None, None)
        out += [self._encode(RoundChange(sign_payload(CHAIN_ID, later, signer))) for _ in range(self.f + 1)]
        return out

    def _equivocate_to_one(
        self, node: SimNode, message: Proposal[SimBlock], victim: int, rest: list[int]
    ) -> None:
        """Send the real proposal to all but ``victim``; give the victim a twin and padded votes for it."""
        signer = node.signer
        twin = dataclasses.replace(message.block, payload=b"twin/" + message.block.payload)
        twin_msg = Proposal(
            sign_payload(CHAIN_ID, ProposalPayload(message.height, 0, twin.hash), signer), twin
        )
        self._broadcast_bytes(node.index, self._encode(message), rest)
        self._broadcast_bytes(node.index, self._encode(twin_msg), [victim])
        for kind in (Prepare, Commit):
            for _ in range(self.quorum):
                vote = self._vote(signer, kind, message.height, 0, twin.hash, seal_round=twin.round)
                self._broadcast_bytes(node.index, self._encode(vote), [victim])

    def _padded_certificate(self, signer: Sm2Signer, index: int, block: SimBlock) -> bytes:
        """The encoding of a certificate for ``block`` whose seals repeat one validator (or add strangers).

        Built past CommitCertificate's constructor, which refuses repeats: a forger writes bytes, not
        objects, so the receiver's decoder and the core's rule are what stand in the way.
        """
        preimage = compute_commit_seal_preimage(CHAIN_ID, block.height, block.round, block.hash)
        variant = self.rng.randrange(2)
        if variant == 0:  # one validator's seal, re-signed quorum times
            seals = tuple(Seal(index, signer.sign(preimage)) for _ in range(self.quorum))
        else:  # its seal plus seals "from" indices outside the set
            strangers = range(self.profile.n, self.profile.n + self.quorum - 1)
            seals = (
                Seal(index, signer.sign(preimage)),
                *(Seal(k, self.outsider_signer.sign(preimage)) for k in strangers),
            )
        certificate = object.__new__(CommitCertificate)
        for name, value in (("height", block.height), ("round", block.round), ("block_hash", block.hash)):
            object.__setattr__(certificate, name, value)
        object.__setattr__(certificate, "seals", seals)
        return certificate.encode()

    def _forge_sync_answer(self, index: int, height: int) -> None:
        """A Byzantine peer answers a sync request first, with a forged block and a padded certificate."""
        forgers = [i for i in self.profile.byzantine if "forged_certificate" in self.profile.byzantine_tricks]
        node = self.nodes[index]
        if not forgers or node.byzantine or node.app.height + 1 != height:
            return
        forger = self.nodes[self.rng.choice(forgers)]
        block = self._forged_block(node.app, height, 0, b"forged-certificate")
        certificate = self._padded_certificate(forger.signer, forger.index, block)
        self._push(self.now_ms + 1, "block", index, block, certificate)

    def _adversary_tick(self) -> None:
        """Periodic mischief: Byzantine validators and the outsider inject crafted messages."""
        live = [n for n in self.correct_nodes() if n.core is not None]
        if not live:
            return
        target = self.rng.choice(live)
        core = target.core
        assert core is not None
        height, round_ = core.height, core.round
        actors: list[tuple[Sm2Signer, str]] = (
            [(self.outsider_signer, "outsider")] if self.profile.outsider else []
        )
        actors += [(self.nodes[i].signer, "byzantine") for i in self.profile.byzantine]
        for signer, role in actors:
            tricks = self.profile.byzantine_tricks if role == "byzantine" else ("outsider",)
            trick = self.rng.choice(tricks)
            for data in self._craft(trick, signer, height, round_, target.app):
                self._broadcast_bytes(None, data)

    def _craft(self, trick: str, signer: Sm2Signer, height: int, round_: int, app: SimApp) -> list[bytes]:
        rng = self.rng
        parent = app.chain[-1]
        n = self.profile.n
        if trick == "outsider":
            block = SimBlock(height, round_, 0, parent.hash, parent.timestamp_ms + 600, b"outsider")
            proposal = Proposal(
                sign_payload(CHAIN_ID, ProposalPayload(height, round_, block.hash), signer), block
            )
            return [
                self._encode(proposal),
                self._encode(self._vote(signer, Prepare, height, round_, block.hash)),
                self._encode(self._vote(signer, Commit, height, round_, block.hash)),
                self._encode(
                    RoundChange(
                        sign_payload(CHAIN_ID, RoundChangePayload(height, round_ + 1, None, None), signer)
                    )
                ),
            ]
        if trick == "forged_justification":
            target_round = round_ + rng.randint(1, 3)
            proposer = compute_proposer_index(app.head().proposer_index, target_round, n)
            block = SimBlock(
                height, target_round, proposer, parent.hash, parent.timestamp_ms + 600, b"forged"
            )
            own_rc = sign_payload(CHAIN_ID, RoundChangePayload(height, target_round, None, None), signer)
            variant = rng.randrange(4)
            if variant == 0:  # the same RC repeated: one signer, not a quorum
                rcs = (own_rc,) * self.quorum
            elif variant == 1:  # other validators' names with this signer's signature
                rcs = tuple(
                    Signed(RoundChangePayload(height, target_round, None, None), key, own_rc.signature)
                    for key in self.validator_keys
                )
            elif variant == 2:  # stale: genuine RCs overheard for other rounds or heights
                rcs = tuple(m.signed for m in self.captured if isinstance(m, RoundChange))
            else:  # a prepared claim without the prepares to back it
                fake = sign_payload(
                    CHAIN_ID, RoundChangePayload(height, target_round, 0, rng.randbytes(32)), signer
                )
                rcs = (fake,) * self.quorum
            payload = ProposalPayload(height, target_round, block.hash)
            proposal = Proposal(sign_payload(CHAIN_ID, payload, signer), block, rcs, ())
            return [self._encode(proposal)]
        if trick == "future":
            h = height + rng.choice((1, 2, 5, 50))
            r = round_ + rng.choice((0, 1, 100, 10_000))
            digest = rng.randbytes(32)
            return [
                self._encode(self._vote(signer, Prepare, h, r, digest)),
                self._encode(
                    RoundChange(sign_payload(CHAIN_ID, RoundChangePayload(height, r, None, None), signer))
                ),
            ]
        if trick == "duplicate_justification":
            # Propose for the next round this validator leads, with a padded justification.
            me = self.index_of[signer.public_key]
            parent_proposer = app.head().proposer_index
            target = next(
                r
                for r in range(round_ + 1, round_ + n + 1)
                if compute_proposer_index(parent_proposer, r, n) == me
            )
            rcs = self._genuine_round_changes(height, target)
            block = self._forged_block(app, height, target, b"stub")
            stub = Proposal(
                sign_payload(CHAIN_ID, ProposalPayload(height, target, block.hash), signer), block, tuple(rcs)
            )
            return [self._encode(self._pad_justification(signer, app, stub))]
        if trick == "duplicate_round_change":
            return self._padded_round_changes(signer, height, round_ + 1, app)
        if trick == "duplicate_votes":
            # Re-signed copies of PREPAREs and COMMITs for whatever was proposed in this round.
            digests = {
                m.signed.payload.digest: m.block
                for m in self.captured
                if isinstance(m, Proposal) and m.height == height and m.round == round_
            }
            out = []
            for digest, block in list(digests.items())[:2]:
                for kind in (Prepare, Commit):
                    out += [
                        self._encode(self._vote(signer, kind, height, round_, digest, seal_round=block.round))
                        for _ in range(self.quorum)
                    ]
            return out
        if trick == "forged_certificate":
            me = self.index_of[signer.public_key]
            block = self._forged_block(app, height, 0, b"forged-certificate")
            target = next(i for i, node in enumerate(self.nodes) if node.app is app)
            self._push(self.now_ms + 1, "block", target, block, self._padded_certificate(signer, me, block))
            return []
        if trick == "stale":
            return [self._encode(m) for m in list(self.captured)[-4:]]
        if trick == "garbage":
            return [rng.randbytes(rng.randrange(0, 200)), b"\xc0", b"\xc1\x05"]
        if trick in ("conflicting_votes", "bad_seals"):
            digest = rng.randbytes(32)
            return [self._encode(self._vote(signer, Commit, height, round_, digest))]
        return []

    # --- running ---------------------------------------------------------------------------------------
    def run(self) -> None:
        """Boot, run the fault phase, heal, and check that every correct node makes progress again."""
        p = self.profile
        self.boot()
        self.plan_faults()
        self.run_until(p.fault_ms)
        heal_heights = [n.app.height for n in self.correct_nodes()]
        target = max(heal_heights) + p.liveness_heights
        deadline = p.fault_ms + p.liveness_deadline_ms
        while min(n.app.height for n in self.correct_nodes()) < target:
            if not self._queue or self._queue[0].time_ms > deadline:
                self.fail(
                    f"liveness: correct nodes did not all reach height {target} within "
                    f"{p.liveness_deadline_ms} ms after healing (heights at heal {heal_heights})"
                )
            self.step()
