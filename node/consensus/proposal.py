"""QBFT's PROPOSAL phase: check a proposal (proposer, block, justification), accept it, prepare; propose."""

from __future__ import annotations

from collections.abc import Iterable

from node.consensus.messages import (
    MessageKind,
    Prepare,
    PreparePayload,
    Proposal,
    ProposalPayload,
    RoundChangePayload,
    Signed,
    encode_message,
)
from node.consensus.protocol import (
    Action,
    BlockT,
    Broadcast,
    has_consistent_prepared_metadata,
    is_reproposal,
)
from node.consensus.votes import VotePhase


class ProposalPhase(VotePhase[BlockT]):
    """PROPOSALs: who may propose in a round, what justifies a proposal after round 0, and acceptance."""

    def _on_proposal(
        self, message: Proposal[BlockT], index: int, now_ms: int, out: list[Action[BlockT]]
    ) -> None:
        round_ = message.round
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
        if is_reproposal(message):
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

    def _note_incoming(self, block: BlockT) -> None:
        """Remember the keys an accepted block would add to the set (the application names the set after
        it; the block is valid, so the set is the one governance gives): their next-height messages may
        arrive before this height is decided here."""
        try:
            after = self.app.validators_after(block)
        except Exception:  # the application knows the set after committed or set-changing blocks only
            return
        added = frozenset(after).difference(self._index_of)
        if added:
            self._incoming = self._incoming | added

    def _is_in_round_form(self, block: BlockT, digest: bytes, round_: int) -> bool:
        """Return whether ``block`` in the form the proposer of ``round_`` sends keeps its hash ``digest``."""
        try:
            return self.app.block_hash(self._in_round_form(block, round_)) == digest
        except Exception:  # untrusted block
            return False

    def _in_round_form(self, block: BlockT, round_: int) -> BlockT:
        """Return ``block`` as the proposer of ``round_`` re-proposes it (``rehash_for_round``)."""
        return self.app.rehash_for_round(block, round_, self.proposer_index(round_))

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
            if not has_consistent_prepared_metadata(payload):
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
            old_block = self._in_round_form(message.block, best_round)
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
        self._note_incoming(message.block)
        if send_prepare and self._my_index is not None:
            payload = PreparePayload(self._height, self._round, digest)
            signed = self._sign_step(MessageKind.PREPARE, self._round, digest, payload, lambda s: b"")
            if signed is not None:
                self._store_vote(self._prepares, self._my_index, signed)
                out.append(Broadcast(Prepare(signed)))
        self._check_prepared(now_ms, out)

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

        if self._sign_step(MessageKind.PROPOSAL, self._round, digest, payload, encode) is None:
            return
        out.append(Broadcast(holder[0]))
        self._accept_proposal(holder[0], digest, now_ms, out, send_prepare=True)
