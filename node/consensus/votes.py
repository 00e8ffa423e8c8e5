"""QBFT's PREPARE and COMMIT phase: store votes per (round, digest, validator), prepare, seal and decide."""

from __future__ import annotations

from node.consensus.messages import (
    Commit,
    CommitPayload,
    MessageKind,
    Prepare,
    PreparedCertificate,
    PreparePayload,
    Signed,
    compute_commit_seal_preimage,
    encode_prepared_certificate,
)
from node.consensus.protocol import (
    FUTURE_ROUND_WINDOW,
    MAX_DIGESTS_PER_AUTHOR_ROUND,
    Action,
    BlockT,
    Broadcast,
    CommitBlock,
)
from node.consensus.round_state import RoundState
from sdk.errors import XinlianError
from sdk.types import CommitCertificate, Seal


class VotePhase(RoundState[BlockT]):
    """PREPAREs and COMMITs: a quorum of PREPAREs prepares the accepted block; of COMMITs, decides it."""

    def _on_prepare(self, message: Prepare, index: int, now_ms: int, out: list[Action[BlockT]]) -> None:
        if self._store_vote(self._prepares, index, message.signed):
            self._check_prepared(now_ms, out)

    def _on_commit(self, message: Commit, index: int, now_ms: int, out: list[Action[BlockT]]) -> None:
        # The seal signs the block header's round, known only with the block: it is checked when counted.
        if self._store_vote(self._commits, index, message.signed):
            self._check_committed(out)

    def _store_vote(
        self,
        store: dict[int, dict[bytes, dict[int, Signed[PreparePayload]]]]
        | dict[int, dict[bytes, dict[int, Signed[CommitPayload]]]],
        index: int,
        signed: Signed[PreparePayload] | Signed[CommitPayload],
    ) -> bool:
        """Store a PREPARE or COMMIT of validator ``index`` by (round, digest), the one rule for both phases.

        Ignored (and counted): a round beyond the window, a second vote for the digest or more digests than
        an author may vote for in a round (a stale round never gets here: the core drops it first). Returns
        whether the vote was stored for the current round, where a quorum may now be reached.
        """
        round_, digest = signed.payload.round, signed.payload.digest
        if round_ > self._round + FUTURE_ROUND_WINDOW:
            self._count_ignored("round_too_far")
            return False
        by_digest = store.setdefault(round_, {})
        votes = by_digest.get(digest)
        if votes is not None and index in votes:
            self._count_ignored("duplicate_vote")
            return False
        if sum(1 for v in by_digest.values() if index in v) >= MAX_DIGESTS_PER_AUTHOR_ROUND:
            self._count_ignored("too_many_digests")
            return False
        by_digest.setdefault(digest, {})[index] = signed  # type: ignore[assignment]
        return round_ == self._round

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
                MessageKind.COMMIT,
                round_,
                digest,
                payload,
                lambda s: encode_prepared_certificate(certificate, self.app.encode_block),
            )
            if signed is not None:
                self._store_vote(self._commits, self._my_index, signed)
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
