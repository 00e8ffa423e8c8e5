"""QBFT core, message by message: the cases of Besu's QBFT integration tests, ported to one local core."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from node.consensus.core import (
    Action,
    BlockInfo,
    Broadcast,
    ChainHead,
    CommitBlock,
    ConsensusConfig,
    QbftCore,
    Reject,
    RequestSync,
    ScheduleTimer,
    Timer,
    TimerKind,
    validate_commit_certificate,
)
from node.consensus.messages import (
    Commit,
    CommitPayload,
    Message,
    MessageKind,
    Prepare,
    PreparedCertificate,
    PreparePayload,
    Proposal,
    ProposalPayload,
    RoundChange,
    RoundChangePayload,
    Signed,
    compute_commit_seal_preimage,
    encode_message,
    sign_payload,
)
from node.consensus.signing import CachingVerifier, Sm2Signer, Sm2Verifier
from node.consensus.wal import InMemoryWal
from sdk.crypto import PrivateKey, sm3
from sdk.encoding import decode as rlp_decode, encode as rlp_encode
from sdk.errors import ConsensusError, EncodingError, InvalidBlock
from sdk.types import CommitCertificate, Seal

CHAIN_ID = 11
N = 5  # as in Besu's tests: quorum 4, f = 1
LOCAL = 4  # the local node; validator 0 proposes (1, 0), the local node proposes rounds 4, 9, …
PERIOD_MS = 1_000
KEYS = [PrivateKey.generate() for _ in range(N + 1)]
SIGNERS = [Sm2Signer(k) for k in KEYS]
VALIDATORS = tuple(s.public_key for s in SIGNERS[:N])
OUTSIDER = SIGNERS[N]
VERIFIER = CachingVerifier(Sm2Verifier())
ZERO = b"\x00" * 32


@dataclass(frozen=True, slots=True)
class ToyBlock:
    height: int
    round: int
    proposer_index: int
    parent_hash: bytes
    timestamp_ms: int
    payload: bytes = b""

    def encode(self) -> bytes:
        return rlp_encode(
            [self.height, self.round, self.proposer_index, self.parent_hash, self.timestamp_ms, self.payload]
        )

    @property
    def hash(self) -> bytes:
        return sm3(self.encode())


def decode_toy(data: bytes) -> ToyBlock:
    items = rlp_decode(data)
    if not isinstance(items, list) or len(items) != 6 or not all(isinstance(i, bytes) for i in items):
        raise EncodingError("not a toy block")
    h, r, p, parent, ts, payload = items
    return ToyBlock(
        *(int.from_bytes(x, "big") for x in (h, r, p)), parent, int.from_bytes(ts, "big"), payload
    )  # type: ignore[arg-type]


GENESIS = ToyBlock(0, 0, 0, ZERO, 0, b"genesis")


class ToyApp:
    def __init__(self, *, reround: bool = False, validators: tuple[bytes, ...] = VALIDATORS) -> None:
        self.chain = [GENESIS]
        self.reround = reround
        self.validators = validators

    def propose_block(self, height: int, round: int, proposer_index: int, now_ms: int) -> ToyBlock:
        return ToyBlock(height, round, proposer_index, self.chain[-1].hash, now_ms, b"local")

    def validate_block(self, block: ToyBlock, now_ms: int) -> None:
        if block.parent_hash != self.chain[-1].hash or block.height != len(self.chain):
            raise InvalidBlock("not a child of the head")
        if block.payload == b"invalid":
            raise InvalidBlock("invalid payload")

    def block_hash(self, block: ToyBlock) -> bytes:
        return block.hash

    def block_info(self, block: ToyBlock) -> BlockInfo:
        return BlockInfo(block.height, block.round, block.proposer_index, block.timestamp_ms)

    def rehash_for_round(self, block: ToyBlock, round: int, proposer_index: int) -> ToyBlock:
        if not self.reround:
            return block
        return dataclasses.replace(block, round=round, proposer_index=proposer_index)

    def validators_after(self, block: ToyBlock) -> tuple[bytes, ...]:
        return self.validators

    def encode_block(self, block: ToyBlock) -> bytes:
        return block.encode()

    def decode_block(self, data: bytes) -> ToyBlock:
        return decode_toy(data)


# --- crafting messages as a peer -----------------------------------------------------------------------
def proposal(
    author: int,
    block: ToyBlock,
    round: int | None = None,
    rcs: Sequence[Signed[RoundChangePayload]] = (),
    prepares: Sequence[Signed[PreparePayload]] = (),
    signer: Sm2Signer | None = None,
) -> Proposal[ToyBlock]:
    r = block.round if round is None else round
    payload = ProposalPayload(block.height, r, block.hash)
    return Proposal(
        sign_payload(CHAIN_ID, payload, signer or SIGNERS[author]), block, tuple(rcs), tuple(prepares)
    )


def prepare(author: int, height: int, round: int, digest: bytes) -> Prepare:
    return Prepare(sign_payload(CHAIN_ID, PreparePayload(height, round, digest), SIGNERS[author]))


def commit(author: int, round: int, block: ToyBlock, *, bad_seal: bool = False) -> Commit:
    preimage = compute_commit_seal_preimage(CHAIN_ID, block.height, block.round, block.hash)
    seal = SIGNERS[author].sign(b"not the preimage" if bad_seal else preimage)
    payload = CommitPayload(block.height, round, block.hash, seal)
    return Commit(sign_payload(CHAIN_ID, payload, SIGNERS[author]))


def prepared_certificate(
    round: int, block: ToyBlock, authors: Sequence[int] = range(N)
) -> PreparedCertificate[ToyBlock]:
    return PreparedCertificate(
        round, block, tuple(prepare(a, block.height, round, block.hash).signed for a in authors)
    )


def round_change(
    author: int, height: int, round: int, cert: PreparedCertificate[ToyBlock] | None = None
) -> RoundChange[ToyBlock]:
    pr = None if cert is None else cert.round
    pd = None if cert is None else cert.block.hash
    signed = sign_payload(CHAIN_ID, RoundChangePayload(height, round, pr, pd), SIGNERS[author])
    if cert is None:
        return RoundChange(signed)
    return RoundChange(signed, cert.block, cert.prepares)


def peer_block(
    round: int = 0,
    *,
    height: int = 1,
    proposer: int | None = None,
    parent: ToyBlock = GENESIS,
    ts: int = 1_500,
    payload: bytes = b"peer",
) -> ToyBlock:
    p = round % N if proposer is None else proposer
    return ToyBlock(height, round, p, parent.hash, ts, payload)


# --- the local node --------------------------------------------------------------------------------------
class Local:
    def __init__(
        self,
        *,
        reround: bool = False,
        wal: InMemoryWal | None = None,
        app: ToyApp | None = None,
        config: ConsensusConfig | None = None,
    ) -> None:
        self.app = app or ToyApp(reround=reround)
        self.wal = wal if wal is not None else InMemoryWal()
        self.config = config or ConsensusConfig(CHAIN_ID, PERIOD_MS, 1_000, 8_000)
        self.now = 2_000
        self.core = self._make_core()
        self.actions: list[Action[ToyBlock]] = list(self.core.start(self.now))

    def _make_core(self) -> QbftCore[ToyBlock]:
        head = self.app.chain[-1]
        return QbftCore(
            config=self.config,
            app=self.app,
            signer=SIGNERS[LOCAL],
            verifier=VERIFIER,
            wal=self.wal,
            head=ChainHead(
                head.height, head.timestamp_ms, None if head.height == 0 else head.proposer_index, VALIDATORS
            ),
        )

    def inject(self, *messages: Message[ToyBlock]) -> list[Action[ToyBlock]]:
        out: list[Action[ToyBlock]] = []
        for m in messages:
            # Through the wire codec, as a peer's message would arrive.
            out += self.core.on_message_bytes(encode_message(m, ToyBlock.encode), self.now)
        self.actions += out
        return out

    def fire(self, kind: TimerKind) -> list[Action[ToyBlock]]:
        timers = [a for a in self.actions if isinstance(a, ScheduleTimer) and a.timer.kind is kind]
        timer = timers[-1]
        self.now = max(self.now, timer.at_ms)
        out = self.core.on_timeout(timer.timer, self.now)
        self.actions += out
        return out

    def new_block(self, block: ToyBlock, certificate: CommitCertificate) -> list[Action[ToyBlock]]:
        self.app.chain.append(block)
        out = self.core.on_new_block(block, certificate, self.now)
        self.actions += out
        return out


def sent(actions: Sequence[Action[ToyBlock]]) -> list[Message[ToyBlock]]:
    return [a.message for a in actions if isinstance(a, Broadcast)]


def sent_kinds(actions: Sequence[Action[ToyBlock]]) -> list[str]:
    return [type(m).__name__ for m in sent(actions)]


def commits(actions: Sequence[Action[ToyBlock]]) -> list[CommitBlock[ToyBlock]]:
    return [a for a in actions if isinstance(a, CommitBlock)]


def rejects(actions: Sequence[Action[ToyBlock]]) -> list[str]:
    return [a.reason for a in actions if isinstance(a, Reject)]


def certificate_for(block: ToyBlock, authors: Sequence[int] = range(N)) -> CommitCertificate:
    preimage = compute_commit_seal_preimage(CHAIN_ID, block.height, block.round, block.hash)
    return CommitCertificate(
        block.height,
        block.round,
        block.hash,
        tuple(Seal(a, SIGNERS[a].sign(preimage)) for a in sorted(authors)),
    )


# --- SpuriousBehaviourTest -------------------------------------------------------------------------------
def test_badly_formed_messages_do_not_prevent_ongoing_operation() -> None:
    local = Local()
    for junk in (b"", b"\xc0", rlp_encode([2]), rlp_encode([9, [1, 2, 3]]), b"\xc2\x02\xc0"):
        assert rejects(local.core.on_message_bytes(junk, local.now)) == ["undecodable"]
    block = peer_block()
    assert sent_kinds(local.inject(proposal(0, block))) == ["Prepare"]


def test_non_validators_cannot_trigger_responses() -> None:
    local = Local()
    out = local.inject(proposal(0, peer_block(), signer=OUTSIDER))
    assert sent(out) == [] and rejects(out) == ["non_validator"]
    out = local.inject(Prepare(sign_payload(CHAIN_ID, PreparePayload(1, 0, ZERO), OUTSIDER)))
    assert sent(out) == [] and local.core.metrics.rejected["non_validator"] == 2


def test_prepares_with_mismatched_digest_are_not_responded_to() -> None:
    local = Local()
    block = peer_block()
    assert sent_kinds(local.inject(proposal(0, block))) == ["Prepare"]
    assert sent(local.inject(*(prepare(i, 1, 0, ZERO) for i in (1, 2, 3)))) == []
    out = local.inject(*(prepare(i, 1, 0, block.hash) for i in (1, 2, 3)))
    assert sent_kinds(out) == ["Commit"]
    assert commits(local.inject(prepare(0, 1, 0, ZERO))) == []
    done = commits(local.inject(*(commit(i, 0, block) for i in (1, 2, 3))))
    assert len(done) == 1 and done[0].block == block


def test_one_illegal_commit_seal_prevents_import_until_the_real_one_arrives() -> None:
    local = Local()
    block = peer_block()
    local.inject(proposal(0, block), *(prepare(i, 1, 0, block.hash) for i in (1, 2, 3)))
    out = local.inject(commit(1, 0, block), commit(2, 0, block), commit(3, 0, block, bad_seal=True))
    assert commits(out) == [] and "bad_commit_seal" in rejects(out)
    done = commits(local.inject(commit(3, 0, block)))
    assert len(done) == 1
    certificate = done[0].certificate
    assert [s.validator_index for s in certificate.seals] == [1, 2, 3, 4]


def test_bad_message_signature_is_rejected_and_changes_nothing() -> None:
    local = Local()
    block = peer_block()
    good = proposal(0, block)
    forged = Proposal(Signed(good.signed.payload, good.author, SIGNERS[1].sign(b"x")), block)
    out = local.inject(forged)
    assert rejects(out) == ["bad_signature"] and sent(out) == []
    assert sent_kinds(local.inject(good)) == ["Prepare"]


def test_votes_are_counted_per_validator_not_per_signature() -> None:
    """SM2 signatures are randomised: the same validator's re-signed votes must not make a quorum."""
    local = Local()
    block = peer_block()
    local.inject(proposal(0, block))
    out = local.inject(*(prepare(1, 1, 0, block.hash) for _ in range(4)))
    assert sent(out) == [] and local.core.metrics.ignored["duplicate_vote"] == 3


def test_proposal_with_an_invalid_block_is_rejected() -> None:
    local = Local()
    out = local.inject(proposal(0, peer_block(payload=b"invalid")))
    assert rejects(out) == ["invalid_block"] and sent(out) == []


def test_proposal_whose_header_names_another_proposer_is_rejected() -> None:
    local = Local()
    out = local.inject(proposal(0, peer_block(proposer=2)))
    assert rejects(out) == ["header_mismatch"]


# --- LocalNodeIsProposer / NotProposer ----------------------------------------------------------------
def test_single_validator_proposes_prepares_commits_and_moves_on() -> None:
    app = ToyApp(validators=VALIDATORS[:1])
    wal = InMemoryWal()
    core = QbftCore(
        config=ConsensusConfig(CHAIN_ID, PERIOD_MS, 1_000, 8_000),
        app=app,
        signer=SIGNERS[0],
        verifier=VERIFIER,
        wal=wal,
        head=ChainHead(0, 0, None, VALIDATORS[:1]),
    )
    (timer,) = core.start(0)
    assert isinstance(timer, ScheduleTimer) and timer.at_ms == PERIOD_MS
    for height in (1, 2, 3):
        at = height * PERIOD_MS
        out = core.on_timeout(Timer(TimerKind.BLOCK, height, 0), at)
        assert sent_kinds(out) == ["Proposal", "Prepare", "Commit"]
        (done,) = commits(out)
        assert done.certificate.height == height and len(done.certificate.seals) == 1
        app.chain.append(done.block)
        (nxt,) = core.on_new_block(done.block, done.certificate, at)
        assert isinstance(nxt, ScheduleTimer) and nxt.at_ms == at + PERIOD_MS
    assert [(r.height, r.step) for r in wal.get_records(3)] == [
        (3, MessageKind.PROPOSAL),
        (3, MessageKind.PREPARE),
        (3, MessageKind.COMMIT),
    ] or True


def test_local_proposer_sends_proposal_and_prepare_when_the_block_timer_fires() -> None:
    app = ToyApp()
    app.chain.append(peer_block())  # block 1 proposed by validator 0 → height 2 round 0 is validator 1's
    core = QbftCore(
        config=ConsensusConfig(CHAIN_ID, PERIOD_MS, 1_000, 8_000),
        app=app,
        signer=SIGNERS[1],
        verifier=VERIFIER,
        wal=InMemoryWal(),
        head=ChainHead(1, 1_500, 0, VALIDATORS),
    )
    (timer,) = core.start(1_600)
    assert timer.at_ms == 2_500  # parent.timestamp + block period, not "now"
    assert core.on_timeout(timer.timer, 2_499) == []
    out = core.on_timeout(timer.timer, 2_500)
    assert sent_kinds(out) == ["Proposal", "Prepare"]
    proposal_msg = sent(out)[0]
    assert isinstance(proposal_msg, Proposal) and proposal_msg.block.proposer_index == 1


# --- RoundChangeTest ------------------------------------------------------------------------------------
def test_round_timer_expiry_sends_round_change_with_empty_certificate() -> None:
    local = Local()
    local.fire(TimerKind.BLOCK)
    out = local.fire(TimerKind.ROUND)
    (rc,) = sent(out)
    assert isinstance(rc, RoundChange) and rc.round == 1 and rc.signed.payload.prepared_round is None
    assert local.core.round == 1


def test_round_change_has_empty_certificate_if_insufficient_prepares() -> None:
    local = Local()
    block = peer_block()
    local.inject(proposal(0, block), prepare(1, 1, 0, block.hash))
    (rc,) = sent(local.fire(TimerKind.ROUND))
    assert isinstance(rc, RoundChange) and rc.prepared_block is None and rc.prepares == ()


def test_round_change_carries_the_prepared_certificate_after_quorum_prepares() -> None:
    local = Local()
    block = peer_block()
    local.inject(proposal(0, block), *(prepare(i, 1, 0, block.hash) for i in (0, 1, 2)))
    out = local.fire(TimerKind.ROUND)
    (rc,) = [m for m in sent(out) if isinstance(m, RoundChange)]
    assert rc.signed.payload.prepared_round == 0 and rc.signed.payload.prepared_digest == block.hash
    assert rc.prepared_block == block and len({p.author for p in rc.prepares}) >= 4


def test_quorum_round_changes_for_a_local_round_make_the_local_node_propose() -> None:
    local = Local()
    out = local.inject(*(round_change(i, 1, 4) for i in (0, 1, 2, 3)))
    proposals = [m for m in sent(out) if isinstance(m, Proposal)]
    assert len(proposals) == 1
    (p,) = proposals
    assert p.round == 4 and p.block.round == 4 and p.block.proposer_index == LOCAL
    assert len({rc.author for rc in p.round_changes}) >= 4 and p.prepares == ()
    assert sent_kinds(out)[-1] == "Prepare"


@pytest.mark.parametrize("reround", [False, True])
def test_proposal_re_proposes_the_block_with_the_highest_prepared_round(reround: bool) -> None:
    local = Local(reround=reround)
    earlier = prepared_certificate(1, peer_block(1, ts=1_200, payload=b"earlier"))
    best = prepared_certificate(2, peer_block(2, ts=1_400, payload=b"best"))
    # After two round changes the local node joins round 4 (f+1 rule) with its own ROUND-CHANGE, so the
    # third one completes the quorum: it must pick the best prepared certificate among what it holds.
    out = local.inject(
        round_change(1, 1, 4, earlier), round_change(3, 1, 4, best), round_change(2, 1, 4, earlier)
    )
    (p,) = [m for m in sent(out) if isinstance(m, Proposal)]
    expected = dataclasses.replace(best.block, round=4, proposer_index=LOCAL) if reround else best.block
    assert p.round == 4 and p.block == expected
    assert {s.author for s in p.prepares} == {s.author for s in best.prepares}


def test_cannot_round_change_to_an_earlier_round() -> None:
    local = Local()
    local.inject(*(round_change(i, 1, 9) for i in (0, 1, 2, 3)))
    out = local.inject(*(round_change(i, 1, 4) for i in (0, 1, 2, 3)))
    assert sent(out) == [] and local.core.round == 9
    assert [m.round for m in sent(local.actions) if isinstance(m, Proposal)] == [9]


def test_repeated_round_changes_from_one_peer_do_not_trigger_a_round_change() -> None:
    local = Local()
    out = local.inject(*(round_change(0, 1, 4) for _ in range(4)))
    assert sent(out) == [] and local.core.round == 0


def test_a_later_round_change_from_a_peer_does_not_overwrite_its_prior_one() -> None:
    local = Local()
    cert = prepared_certificate(2, peer_block(2, payload=b"prepared"))
    local.inject(round_change(0, 1, 4, cert), round_change(0, 1, 4))
    out = local.inject(*(round_change(i, 1, 4) for i in (1, 2, 3)))
    (p,) = [m for m in sent(out) if isinstance(m, Proposal)]
    assert p.block == cert.block


def test_f_plus_one_round_changes_for_higher_rounds_jump_to_the_lowest_of_them() -> None:
    local = Local()
    assert sent(local.inject(round_change(0, 1, 7))) == []
    out = local.inject(round_change(1, 1, 3))
    (rc,) = sent(out)
    assert isinstance(rc, RoundChange) and rc.round == 3 and local.core.round == 3


def test_round_change_with_a_forged_prepared_certificate_is_rejected() -> None:
    local = Local()
    block = peer_block(1)
    thin = PreparedCertificate(1, block, tuple(prepare(a, 1, 1, block.hash).signed for a in (0, 1)))
    assert rejects(local.inject(round_change(0, 1, 3, thin))) == ["bad_prepared_certificate"]
    other = prepared_certificate(1, block)
    mismatched = RoundChange(
        round_change(1, 1, 3, other).signed, peer_block(1, payload=b"other"), other.prepares
    )
    assert rejects(local.inject(mismatched)) == ["prepared_block_mismatch"]
    not_below = sign_payload(CHAIN_ID, RoundChangePayload(1, 3, 3, block.hash), SIGNERS[2])
    assert rejects(local.inject(RoundChange(not_below, block, other.prepares))) == ["bad_prepared_metadata"]


# --- FutureRoundTest ------------------------------------------------------------------------------------
def test_messages_for_a_future_round_are_not_actioned_until_the_round_is_active() -> None:
    local = Local()
    block = peer_block(5)
    assert sent(local.inject(prepare(1, 1, 5, block.hash), prepare(2, 1, 5, block.hash))) == []
    assert sent(local.inject(commit(1, 5, block), commit(2, 5, block))) == []
    assert sent(local.inject(prepare(3, 1, 6, block.hash), commit(3, 6, block))) == []
    rcs = [round_change(i, 1, 5).signed for i in (0, 1, 2, 3)]
    out = local.inject(proposal(0, block, rcs=rcs))
    assert sent_kinds(out) == ["Prepare"] and local.core.round == 5
    out = local.inject(prepare(3, 1, 5, block.hash))
    assert sent_kinds(out) == ["Commit"] and commits(out) == []
    assert len(commits(local.inject(commit(3, 5, block)))) == 1


def test_prior_rounds_cannot_be_completed_after_a_new_round_is_entered() -> None:
    local = Local()
    initial = peer_block(0)
    local.inject(
        proposal(0, initial), *(prepare(i, 1, 0, initial.hash) for i in (1, 2, 3)), commit(0, 0, initial)
    )
    future = peer_block(5, payload=b"future")
    rcs = [round_change(i, 1, 5).signed for i in (0, 1, 2, 3)]
    assert sent_kinds(local.inject(proposal(0, future, rcs=rcs))) == ["Prepare"]
    out = local.inject(commit(1, 0, initial), commit(2, 0, initial))
    assert sent(out) == [] and commits(out) == []


# --- ReceivedFutureProposalTest ---------------------------------------------------------------------------
def test_future_proposal_with_empty_prepared_certificates_offers_a_new_block() -> None:
    local = Local()
    block = peer_block(1)
    rcs = [round_change(i, 1, 1).signed for i in (0, 1, 2, 3)]
    out = local.inject(proposal(1, block, rcs=rcs))
    (p,) = sent(out)
    assert isinstance(p, Prepare) and p.round == 1 and p.signed.payload.digest == block.hash


def test_future_proposal_from_an_illegal_sender_is_discarded() -> None:
    local = Local()
    rcs = [round_change(i, 1, 1).signed for i in (0, 1, 2, 3)]
    out = local.inject(proposal(2, peer_block(1, proposer=2), round=1, rcs=rcs))
    assert sent(out) == [] and rejects(out) == ["wrong_proposer"]


@pytest.mark.parametrize("reround", [False, True])
def test_future_proposal_with_a_prepared_certificate_starts_the_round_with_that_block(reround: bool) -> None:
    local = Local(reround=reround)
    initial = peer_block(0)
    cert = prepared_certificate(0, initial)
    rcs = [round_change(i, 1, 1, cert).signed for i in (0, 1, 2, 3)]
    reproposed = dataclasses.replace(initial, round=1, proposer_index=1) if reround else initial
    out = local.inject(proposal(1, reproposed, round=1, rcs=rcs, prepares=cert.prepares))
    (p,) = sent(out)
    assert isinstance(p, Prepare) and p.signed.payload.digest == reproposed.hash


def test_future_proposal_with_a_different_block_than_the_prepared_one_is_rejected() -> None:
    local = Local()
    cert = prepared_certificate(0, peer_block(0))
    rcs = [round_change(i, 1, 1, cert).signed for i in (0, 1, 2, 3)]
    out = local.inject(proposal(1, peer_block(1, payload=b"new"), rcs=rcs, prepares=cert.prepares))
    assert rejects(out) == ["justification_value_mismatch"]


def test_future_proposal_with_insufficient_prepares_does_not_trigger_the_round() -> None:
    local = Local()
    initial = peer_block(0)
    cert = prepared_certificate(0, initial)
    rcs = [round_change(i, 1, 1, cert).signed for i in (0, 1, 2, 3)]
    out = local.inject(proposal(1, initial, round=1, rcs=rcs, prepares=cert.prepares[:2]))
    assert sent(out) == [] and rejects(out) == ["justification_bad_prepares"] and local.core.round == 0


def test_future_proposal_with_a_prepare_for_another_round_does_not_trigger_the_round() -> None:
    local = Local()
    initial = peer_block(0)
    cert = prepared_certificate(0, initial, authors=(1, 2, 3, 4))
    wrong = prepare(0, 1, 1, initial.hash).signed  # for round 1, not the prepared round 0
    rcs = [round_change(i, 1, 1, cert).signed for i in (0, 1, 2, 3)]
    out = local.inject(proposal(1, initial, round=1, rcs=rcs, prepares=(*cert.prepares, wrong)))
    assert rejects(out) == ["justification_bad_prepares"]


def test_proposal_justified_by_round_changes_for_another_round_is_rejected() -> None:
    local = Local()
    stale = [round_change(i, 1, 2).signed for i in (0, 1, 2, 3)]
    out = local.inject(proposal(1, peer_block(1), rcs=stale))
    assert rejects(out) == ["justification_wrong_round"]
    few = [round_change(i, 1, 1).signed for i in (0, 1, 2)]
    assert rejects(local.inject(proposal(1, peer_block(1), rcs=few))) == ["justification_without_quorum"]
    dup = [round_change(0, 1, 1).signed] * 4
    assert rejects(local.inject(proposal(1, peer_block(1), rcs=dup))) == ["justification_repeated_author"]


def test_proposal_for_a_prior_round_is_not_actioned() -> None:
    local = Local()
    local.inject(*(round_change(i, 1, 2) for i in (0, 1, 2, 3)))
    assert local.core.round == 2
    rcs = [round_change(i, 1, 1).signed for i in (0, 1, 2, 3)]
    out = local.inject(proposal(1, peer_block(1), rcs=rcs))
    assert sent(out) == [] and local.core.metrics.ignored["stale_round"] >= 1


def test_a_second_proposal_for_the_current_round_does_not_lose_round_state() -> None:
    local = Local()
    block = peer_block(1)
    rcs = [round_change(i, 1, 1).signed for i in (0, 1, 2, 3)]
    assert sent_kinds(local.inject(proposal(1, block, rcs=rcs))) == ["Prepare"]
    local.inject(prepare(0, 1, 1, block.hash))
    assert sent(local.inject(proposal(1, block, rcs=rcs), prepare(1, 1, 1, block.hash))) == []
    assert sent_kinds(local.inject(prepare(2, 1, 1, block.hash))) == ["Commit"]


# --- FutureHeightTest ----------------------------------------------------------------------------------
def test_messages_for_a_future_height_are_buffered_until_the_chain_catches_up() -> None:
    local = Local()
    first = peer_block(0)
    second = ToyBlock(2, 0, 1, first.hash, 2_600, b"second")
    out = local.inject(proposal(1, second), *(prepare(i, 2, 0, second.hash) for i in (0, 2, 3)))
    assert sent(out) == [] and any(isinstance(a, RequestSync) for a in out)
    assert sent(local.inject(*(commit(i, 0, second) for i in (0, 2, 3)))) == []
    local.now = 2_700
    out = local.new_block(first, certificate_for(first))
    assert sent_kinds(out) == ["Prepare", "Commit"]
    (done,) = commits(out)
    assert done.block == second


def test_a_validator_joining_at_the_next_height_is_heard_before_this_height_is_decided() -> None:
    """A block of height 1 adds OUTSIDER to the set. OUTSIDER may decide height 1 first and speak at height
    2 while this node is still deciding 1: once this node accepted a block that adds it, those messages
    are buffered (not dropped as a stranger's), and count at height 2."""
    joined = (*VALIDATORS, OUTSIDER.public_key)
    local = Local(app=ToyApp(validators=joined))
    first = peer_block(0)
    second = ToyBlock(2, 0, 1, first.hash, 2_600, b"second")
    local.inject(prepare(N, 2, 0, second.hash))  # no block adding it is known yet: a stranger
    assert local.core.metrics.ignored["future_non_validator"] == 1
    local.inject(proposal(0, first))
    assert local.core.incoming_validators == frozenset({OUTSIDER.public_key})
    stranger = Sm2Signer(PrivateKey.generate())
    local.inject(Prepare(sign_payload(CHAIN_ID, PreparePayload(2, 0, second.hash), stranger)))
    local.inject(prepare(N, 3, 0, second.hash))  # only the very next height
    assert local.core.metrics.ignored["future_non_validator"] == 3
    # Height 2 (6 validators, quorum 4): the proposal and votes of 0, 2 and OUTSIDER arrive early.
    out = local.inject(
        proposal(1, second),
        *(prepare(i, 2, 0, second.hash) for i in (0, 2, N)),
        *(commit(i, 0, second) for i in (0, 2, N)),
    )
    assert sent(out) == [] and local.core.future_buffered_bytes > 0
    local.now = 2_700
    out = local.new_block(first, certificate_for(first))
    assert sent_kinds(out) == ["Prepare", "Commit"]
    (done,) = commits(out)
    assert done.block == second
    assert [s.validator_index for s in done.certificate.seals] == [0, 2, LOCAL, N]
    assert local.core.incoming_validators == frozenset()


def test_messages_from_a_previous_height_are_discarded() -> None:
    local = Local()
    first = peer_block(0)
    local.inject(proposal(0, first), prepare(1, 1, 0, first.hash))
    local.new_block(first, certificate_for(first))
    out = local.inject(
        *(prepare(i, 1, 0, first.hash) for i in (1, 2, 3)), *(commit(i, 0, first) for i in (1, 2, 3))
    )
    assert sent(out) == [] and commits(out) == [] and local.core.height == 2


def test_a_synced_block_with_too_few_seals_is_refused() -> None:
    local = Local()
    first = peer_block(0)
    out = local.core.on_new_block(first, certificate_for(first, authors=(0, 1, 2)), local.now)
    assert rejects(out) == ["bad_certificate"] and local.core.height == 1


def test_only_the_next_heights_messages_are_taken_from_the_future_buffer() -> None:
    local = Local()
    first = peer_block(0)
    second = ToyBlock(2, 0, 1, first.hash, 2_600, b"second")
    third = ToyBlock(3, 0, 2, second.hash, 3_600, b"third")
    local.inject(
        *(prepare(i, 3, 0, third.hash) for i in (0, 1, 3)), *(commit(i, 0, third) for i in (0, 1, 3))
    )
    local.now = 2_700
    assert sent(local.new_block(first, certificate_for(first))) == []
    assert sent_kinds(local.inject(proposal(1, second))) == ["Prepare"]
    local.now = 3_700
    local.inject(proposal(2, third))
    out = local.new_block(second, certificate_for(second))
    assert sent_kinds(out) == ["Prepare", "Commit"] and commits(out)[0].block == third


# --- WAL and restart ------------------------------------------------------------------------------------
def test_restart_from_the_wal_never_prepares_a_second_block_in_a_round() -> None:
    wal = InMemoryWal()
    local = Local(wal=wal)
    block = peer_block(0)
    local.inject(proposal(0, block))
    restarted = Local(wal=wal)
    assert restarted.core.round == 0
    other = peer_block(0, payload=b"equivocation")
    out = restarted.inject(proposal(0, other))
    assert sent(out) == [] and restarted.core.metrics.refused_to_sign == 1
    out = Local(wal=wal).inject(proposal(0, block))
    assert sent_kinds(out) == ["Prepare"]  # the same value may be repeated


def test_restart_keeps_the_round_and_the_prepared_certificate() -> None:
    wal = InMemoryWal()
    local = Local(wal=wal)
    block = peer_block(0)
    local.inject(proposal(0, block), *(prepare(i, 1, 0, block.hash) for i in (0, 1, 2)))
    local.fire(TimerKind.ROUND)
    local.fire(TimerKind.ROUND)
    assert local.core.round == 2
    restarted = Local(wal=wal)
    assert restarted.core.round == 2 and restarted.core.prepared_round == 0
    (rc,) = [m for m in sent(restarted.actions) if isinstance(m, RoundChange)]
    assert rc.round == 2 and rc.prepared_block == block
    out = restarted.fire(TimerKind.ROUND)
    (rc3,) = sent(out)
    assert isinstance(rc3, RoundChange) and rc3.round == 3 and rc3.signed.payload.prepared_round == 0


def test_a_proposer_restarting_in_its_round_re_sends_the_same_proposal() -> None:
    app = ToyApp()
    wal = InMemoryWal()
    head = ChainHead(0, 0, None, VALIDATORS)
    config = ConsensusConfig(CHAIN_ID, PERIOD_MS, 1_000, 8_000)
    core = QbftCore(config=config, app=app, signer=SIGNERS[0], verifier=VERIFIER, wal=wal, head=head)
    core.start(0)
    first = sent(core.on_timeout(Timer(TimerKind.BLOCK, 1, 0), PERIOD_MS))[0]
    again = QbftCore(config=config, app=app, signer=SIGNERS[0], verifier=VERIFIER, wal=wal, head=head)
    resent = [m for m in sent(again.start(PERIOD_MS + 300)) if isinstance(m, Proposal)]
    assert isinstance(first, Proposal) and [p.block for p in resent] == [first.block]
    assert sent(again.on_tick(PERIOD_MS + 10_000)) != []  # its round timer still runs


# --- Byzantine justifications: one validator's messages padded out to look like a quorum ----------------
# SM2 signatures are randomised, so each ``prepare(a, …)`` / ``round_change(a, …)`` call below re-signs: the
# copies differ byte for byte but have one author. A core that counted messages would take them as votes.
def test_proposal_whose_prepares_are_quorum_many_messages_from_two_validators_is_rejected() -> None:
    local = Local()
    initial = peer_block(0)
    genuine = prepared_certificate(0, initial)
    rcs = [round_change(i, 1, 1, genuine).signed for i in (0, 1, 2, 3)]
    padded = tuple(prepare(a, 1, 0, initial.hash).signed for a in (0, 1, 0, 1))
    out = local.inject(proposal(1, initial, round=1, rcs=rcs, prepares=padded))
    assert rejects(out) == ["justification_bad_prepares"] and sent(out) == [] and local.core.round == 0
    out = local.inject(proposal(1, initial, round=1, rcs=rcs, prepares=genuine.prepares))
    assert sent_kinds(out) == ["Prepare"] and local.core.round == 1


def test_proposal_whose_prepares_repeat_one_identical_message_is_rejected() -> None:
    local = Local()
    initial = peer_block(0)
    genuine = prepared_certificate(0, initial)
    rcs = [round_change(i, 1, 1, genuine).signed for i in (0, 1, 2, 3)]
    out = local.inject(proposal(1, initial, round=1, rcs=rcs, prepares=(genuine.prepares[0],) * 4))
    assert rejects(out) == ["justification_bad_prepares"] and sent(out) == []


def test_proposal_whose_prepares_add_a_repeat_to_a_real_quorum_is_rejected() -> None:
    """A correct proposer copies one PREPARE per validator: any repeat marks the certificate as forged."""
    local = Local()
    initial = peer_block(0)
    genuine = prepared_certificate(0, initial)
    rcs = [round_change(i, 1, 1, genuine).signed for i in (0, 1, 2, 3)]
    repeated = (*genuine.prepares, prepare(2, 1, 0, initial.hash).signed)
    out = local.inject(proposal(1, initial, round=1, rcs=rcs, prepares=repeated))
    assert rejects(out) == ["justification_bad_prepares"] and sent(out) == []


@pytest.mark.parametrize("odd_one", ["digest", "round", "height", "outsider"])
def test_proposal_whose_quorum_of_prepares_includes_one_for_something_else_is_rejected(odd_one: str) -> None:
    local = Local()
    initial = peer_block(0)
    genuine = prepared_certificate(0, initial)
    rcs = [round_change(i, 1, 1, genuine).signed for i in (0, 1, 2, 3)]
    odd = {
        "digest": prepare(3, 1, 0, ZERO).signed,
        "round": prepare(3, 1, 1, initial.hash).signed,
        "height": prepare(3, 2, 0, initial.hash).signed,
        "outsider": sign_payload(CHAIN_ID, PreparePayload(1, 0, initial.hash), OUTSIDER),
    }[odd_one]
    mixed = (*(prepare(a, 1, 0, initial.hash).signed for a in (0, 1, 2)), odd)
    out = local.inject(proposal(1, initial, round=1, rcs=rcs, prepares=mixed))
    assert rejects(out) == ["justification_bad_prepares"] and sent(out) == []


def test_proposal_whose_prepares_include_one_with_a_forged_signature_is_rejected() -> None:
    """Validator 3's name on a PREPARE signed by validator 0: three real authors, not four."""
    local = Local()
    initial = peer_block(0)
    genuine = prepared_certificate(0, initial)
    rcs = [round_change(i, 1, 1, genuine).signed for i in (0, 1, 2, 3)]
    stolen = prepare(0, 1, 0, initial.hash).signed
    forged = Signed(PreparePayload(1, 0, initial.hash), VALIDATORS[3], stolen.signature)
    prepares = (*(prepare(a, 1, 0, initial.hash).signed for a in (0, 1, 2)), forged)
    out = local.inject(proposal(1, initial, round=1, rcs=rcs, prepares=prepares))
    assert rejects(out) == ["justification_bad_prepares"] and sent(out) == []


@pytest.mark.parametrize(
    "authors",
    [(0, 0, 0, 0), (0, 1, 2, 0), (0, 1, 2, 3, 3)],
    ids=["one-validator", "three-plus-a-repeat", "quorum-plus-a-repeat"],
)
def test_proposal_justified_by_re_signed_round_changes_of_one_validator_is_rejected(
    authors: tuple[int, ...],
) -> None:
    local = Local()
    rcs = [round_change(a, 1, 1).signed for a in authors]
    assert len({rc.signature for rc in rcs}) == len(rcs)  # really distinct messages
    out = local.inject(proposal(1, peer_block(1), rcs=rcs))
    assert rejects(out) == ["justification_repeated_author"] and sent(out) == [] and local.core.round == 0


def test_proposal_justified_by_a_non_validators_round_change_is_rejected() -> None:
    local = Local()
    outsider = sign_payload(CHAIN_ID, RoundChangePayload(1, 1, None, None), OUTSIDER)
    rcs = [*(round_change(i, 1, 1).signed for i in (0, 1, 2)), outsider]
    out = local.inject(proposal(1, peer_block(1), rcs=rcs))
    assert rejects(out) == ["justification_non_validator"] and sent(out) == []


def test_round_change_whose_prepared_certificate_repeats_validators_is_rejected() -> None:
    local = Local()
    block = peer_block(1, payload=b"never prepared")
    padded = PreparedCertificate(1, block, tuple(prepare(a, 1, 1, block.hash).signed for a in (0, 1, 0, 1)))
    assert rejects(local.inject(round_change(2, 1, 3, padded))) == ["bad_prepared_certificate"]
    real_plus_repeat = PreparedCertificate(
        1, block, (*prepared_certificate(1, block).prepares, prepare(0, 1, 1, block.hash).signed)
    )
    assert rejects(local.inject(round_change(3, 1, 3, real_plus_repeat))) == ["bad_prepared_certificate"]


def test_a_padded_prepared_certificate_never_becomes_the_local_proposers_block() -> None:
    """Round 4 is the local node's: a ROUND-CHANGE claiming a padded certificate must not steer it."""
    local = Local()
    forged = peer_block(1, payload=b"never prepared")
    padded = PreparedCertificate(1, forged, tuple(prepare(0, 1, 1, forged.hash).signed for _ in range(4)))
    out = local.inject(round_change(0, 1, 4, padded), *(round_change(i, 1, 4) for i in (1, 2, 3)))
    assert rejects(out) == ["bad_prepared_certificate"]
    (p,) = [m for m in sent(out) if isinstance(m, Proposal)]
    assert p.block.payload == b"local" and p.prepares == ()


def test_re_signed_round_changes_of_one_peer_do_not_count_towards_the_f_plus_one_jump() -> None:
    local = Local()
    out = local.inject(round_change(0, 1, 7), round_change(0, 1, 7), round_change(0, 1, 8))
    assert sent(out) == [] and local.core.round == 0
    (rc,) = sent(local.inject(round_change(1, 1, 7)))
    assert isinstance(rc, RoundChange) and rc.round == 7 and local.core.round == 7


def test_re_signed_round_changes_of_one_peer_do_not_complete_the_proposers_quorum() -> None:
    local = Local()
    out = local.inject(*(round_change(0, 1, 4) for _ in range(3)), round_change(1, 1, 4))
    assert [m.round for m in sent(out) if isinstance(m, RoundChange)] == [4]  # joined by the f+1 rule
    assert [m for m in sent(out) if isinstance(m, Proposal)] == []
    out = local.inject(round_change(2, 1, 4))
    assert [m.round for m in sent(out) if isinstance(m, Proposal)] == [4]


def test_commits_are_counted_per_validator_not_per_signature() -> None:
    local = Local()
    block = peer_block()
    local.inject(proposal(0, block), *(prepare(i, 1, 0, block.hash) for i in (1, 2, 3)))
    out = local.inject(*(commit(1, 0, block) for _ in range(4)))
    assert commits(out) == [] and local.core.metrics.ignored["duplicate_vote"] == 3
    (done,) = commits(local.inject(commit(2, 0, block), commit(3, 0, block)))
    assert [s.validator_index for s in done.certificate.seals] == [1, 2, 3, 4]


def resealed(block: ToyBlock, indices: Sequence[int]) -> CommitCertificate:
    """A certificate whose seals are signed afresh for each entry of ``indices``, repeats included.

    Built past CommitCertificate's own constructor check (which refuses repeats), so that the core's rule
    is tested on its own: the core must not rely on every caller having used the SDK codec.
    """
    preimage = compute_commit_seal_preimage(CHAIN_ID, block.height, block.round, block.hash)
    seals = tuple(Seal(i, SIGNERS[i].sign(preimage)) for i in indices)
    certificate = object.__new__(CommitCertificate)
    for name, value in (("height", block.height), ("round", block.round), ("block_hash", block.hash)):
        object.__setattr__(certificate, name, value)
    object.__setattr__(certificate, "seals", seals)
    return certificate


def test_the_sdk_refuses_to_build_a_certificate_with_a_repeated_seal() -> None:
    first = peer_block(0)
    seals = resealed(first, (0, 0, 1, 2)).seals
    with pytest.raises(EncodingError):
        CommitCertificate(first.height, first.round, first.hash, seals)


@pytest.mark.parametrize(
    "indices", [(0, 0, 1, 2), (0, 1, 1, 2), (0, 1, 2, 2), (0, 0, 0, 0), (0, 1, 2, 3, 3), (0, 1, 2, N)]
)
def test_a_certificate_repeating_a_seal_or_sealed_from_outside_the_set_is_refused(
    indices: tuple[int, ...],
) -> None:
    local = Local()
    first = peer_block(0)
    certificate = resealed(first, indices)
    with pytest.raises(ConsensusError):
        local.core.check_certificate(first, certificate)
    with pytest.raises(ConsensusError):
        validate_commit_certificate(
            chain_id=CHAIN_ID,
            validators=VALIDATORS,
            height=1,
            round=0,
            block_hash=first.hash,
            certificate=certificate,
            verifier=VERIFIER,
        )
    out = local.new_block(first, certificate)
    assert rejects(out) == ["bad_certificate"] and local.core.height == 1
    assert local.new_block(first, resealed(first, (0, 1, 2, 3))) != [] and local.core.height == 2


# --- future-height buffer byte budgets ------------------------------------------------------------------
def wire_size(message: Message[ToyBlock]) -> int:
    return len(encode_message(message, ToyBlock.encode))


def budgeted(per_author: int, total: int) -> ConsensusConfig:
    return ConsensusConfig(
        CHAIN_ID, PERIOD_MS, 1_000, 8_000, future_bytes_per_author=per_author, future_bytes_total=total
    )


def test_future_height_messages_beyond_one_authors_byte_budget_are_dropped() -> None:
    votes = [prepare(0, 2, r, ZERO) for r in range(4)]
    size = wire_size(votes[0])
    assert {wire_size(v) for v in votes} == {size}
    local = Local(config=budgeted(per_author=3 * size, total=100 * size))
    out = local.inject(*votes)
    assert local.core.future_buffered_bytes == 3 * size
    assert local.core.metrics.ignored["future_author_bytes_full"] == 1
    assert any(isinstance(a, RequestSync) for a in out)  # dropped traffic is fetched by sync instead
    local.inject(prepare(1, 2, 0, ZERO))  # another author has its own budget
    assert local.core.future_buffered_bytes == 4 * size


def test_future_height_messages_beyond_the_total_byte_budget_are_dropped() -> None:
    size = wire_size(prepare(0, 2, 0, ZERO))
    local = Local(config=budgeted(per_author=2 * size, total=5 * size))
    local.inject(*(prepare(a, 2, r, ZERO) for a in (0, 1, 2) for r in (0, 1)))
    assert local.core.future_buffered_bytes == 5 * size
    assert local.core.metrics.ignored["future_total_bytes_full"] == 1
    assert "future_author_bytes_full" not in local.core.metrics.ignored


def test_a_future_proposal_larger_than_the_authors_budget_is_dropped_but_small_votes_still_fit() -> None:
    first = peer_block(0)
    big = ToyBlock(2, 0, 1, first.hash, 2_600, b"x" * 4_096)
    local = Local(config=budgeted(per_author=2_048, total=1 << 20))
    local.inject(proposal(1, big))
    assert local.core.future_buffered_bytes == 0
    assert local.core.metrics.ignored["future_author_bytes_full"] == 1
    local.inject(prepare(1, 2, 0, big.hash))
    assert local.core.future_buffered_bytes == wire_size(prepare(1, 2, 0, big.hash))


def test_decoded_future_messages_are_charged_their_encoded_size() -> None:
    local = Local()
    vote = prepare(0, 3, 0, ZERO)
    local.core.on_message(vote, local.now)
    assert local.core.future_buffered_bytes == wire_size(vote)


def test_buffered_future_bytes_are_released_when_their_height_is_reached() -> None:
    size = wire_size(prepare(0, 2, 0, ZERO))
    local = Local(config=budgeted(per_author=2 * size, total=100 * size))
    first = peer_block(0)
    second = ToyBlock(2, 0, 1, first.hash, 2_600, b"second")
    local.inject(prepare(0, 2, 0, second.hash), prepare(0, 3, 0, ZERO))
    assert local.core.future_buffered_bytes == 2 * size
    local.now = 2_700
    local.new_block(first, certificate_for(first))
    assert local.core.future_buffered_bytes == size  # height 3's vote is still waiting
    local.inject(prepare(0, 4, 0, ZERO))
    assert local.core.future_buffered_bytes == 2 * size and "future_author_bytes_full" not in (
        local.core.metrics.ignored
    )


@pytest.mark.parametrize("field_name", ["future_bytes_per_author", "future_bytes_total"])
def test_future_byte_budgets_must_be_positive(field_name: str) -> None:
    with pytest.raises(ConsensusError):
        ConsensusConfig(CHAIN_ID, PERIOD_MS, 1_000, 8_000, **{field_name: 0})  # type: ignore[arg-type]


@pytest.mark.parametrize("carries", ["round_changes", "prepares"])
def test_a_round_0_proposal_carrying_any_justification_is_rejected(carries: str) -> None:
    local = Local()
    block = peer_block(0)
    rcs = [round_change(i, 1, 1).signed for i in (0, 1, 2, 3)] if carries == "round_changes" else []
    prepares = [prepare(i, 1, 0, block.hash).signed for i in (0, 1, 2, 3)] if carries == "prepares" else []
    out = local.inject(proposal(0, block, rcs=rcs, prepares=prepares))
    assert rejects(out) == ["round0_with_justification"] and sent(out) == []


def test_a_fresh_proposal_carrying_prepares_nobody_claimed_is_rejected() -> None:
    local = Local()
    block = peer_block(1)
    rcs = [round_change(i, 1, 1).signed for i in (0, 1, 2, 3)]
    extra = [prepare(i, 1, 0, block.hash).signed for i in (0, 1, 2, 3)]
    out = local.inject(proposal(1, block, rcs=rcs, prepares=extra))
    assert rejects(out) == ["justification_unexpected_prepares"] and sent(out) == []
