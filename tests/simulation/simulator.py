"""Deterministic QBFT simulator: N cores on a virtual clock, a seeded faulty network, crashes, Byzantines."""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import random
from collections import deque
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
from sdk.types import CommitCertificate

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
        return encode_message(message, SimBlock.encode)

    # --- actions ---------------------------------------------------------------------------------------
    def _apply(self, node: SimNode, actions: list[SimAction]) -> None:
        pending = list(actions)
        while pending:
            action = pending.pop(0)
            if node.core is None:
                return
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
        previous = self.signed_values.setdefault(key, value)
        if previous != value:
            self.fail(f"n{node.index} signed two values for {key}: {previous!r} then {value!r}")

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
        self._apply(node, node.core.on_timeout(timer, self.local_time(node)))

    def _on_sync(self, index: int, height: int) -> None:
        """A sync request reaches a random peer; it answers with the blocks it has from ``height`` on."""
        peers = [
            n for n in self.nodes if n.index != index and n.up and not n.byzantine and n.app.height >= height
        ]
        if not peers:
            return
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

    def _on_block(self, index: int, block: SimBlock, certificate: CommitCertificate) -> None:
        node = self.nodes[index]
        core = node.core
        if core is None or block.height != core.height or core.is_decided:
            return
        now = self.local_time(node)
        try:
            core.check_certificate(block, certificate)
            node.app.validate_block(block, now + 10**9)  # synced blocks: any past time is fine
        except XinlianError:
            node.rejected += 1
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

    def _vote(self, signer: Sm2Signer, kind: type, height: int, round_: int, digest: bytes) -> SimMessage:
        if kind is Prepare:
            return Prepare(sign_payload(CHAIN_ID, PreparePayload(height, round_, digest), signer))
        seal = signer.sign(compute_commit_seal_preimage(CHAIN_ID, height, round_, digest))
        return Commit(sign_payload(CHAIN_ID, CommitPayload(height, round_, digest, seal), signer))

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
