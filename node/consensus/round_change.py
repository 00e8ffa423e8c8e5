"""QBFT's ROUND-CHANGE phase: round timeouts, following f+1 higher rounds, and proposing on a quorum."""

from __future__ import annotations

from node.consensus.messages import (
    MessageKind,
    PreparePayload,
    RoundChange,
    RoundChangePayload,
    Signed,
    compute_signing_preimage,
    encode_message,
)
from node.consensus.proposal import ProposalPhase
from node.consensus.protocol import (
    Action,
    BlockT,
    Broadcast,
    compute_max_faulty,
    has_consistent_prepared_metadata,
)
from sdk.crypto import sm3


class RoundChangePhase(ProposalPhase[BlockT]):
    """ROUND-CHANGEs: leave a round on timeout, join a round f+1 validators moved to, and, as the round's
    proposer, propose (or re-propose the highest prepared block) once a quorum asks for the round."""

    def _on_round_change(
        self, message: RoundChange[BlockT], index: int, now_ms: int, out: list[Action[BlockT]]
    ) -> None:
        round_ = message.round
        reason = self._check_round_change(message)
        if reason is not None:
            self._reject(reason, self._height, round_, message.author, out)
            return
        existing = self._round_changes.get(index)
        if existing is not None and existing.round >= round_:
            self._count_ignored("duplicate_round_change")
            return
        self._round_changes[index] = message
        self._after_round_change(now_ms, out)

    def _check_round_change(self, message: RoundChange[BlockT]) -> str | None:
        payload = message.signed.payload
        if not has_consistent_prepared_metadata(payload):
            return "bad_prepared_metadata"
        if payload.prepared_round is None:
            if message.prepared_block is not None or message.prepares:
                return "unexpected_prepared_certificate"
            return None
        if message.prepared_block is None:
            return "missing_prepared_block"
        try:
            digest = self.app.block_hash(message.prepared_block)
            info = self.app.block_info(message.prepared_block)
        except Exception:  # untrusted block
            return "unreadable_block"
        if (
            digest != payload.prepared_digest
            or info.height != self._height
            or not self._is_in_round_form(message.prepared_block, digest, payload.prepared_round)
        ):
            return "prepared_block_mismatch"
        if not self._is_prepare_quorum(message.prepares, payload.prepared_round, digest):
            return "bad_prepared_certificate"
        return None

    def _after_round_change(self, now_ms: int, out: list[Action[BlockT]]) -> None:
        if self._decided:
            return
        if self._my_index is not None:
            by_round: dict[int, list[RoundChange[BlockT]]] = {}
            for rc in self._round_changes.values():
                if rc.round >= self._round:
                    by_round.setdefault(rc.round, []).append(rc)
            for round_ in sorted(by_round, reverse=True):
                if (
                    len(by_round[round_]) >= self.quorum
                    and self.proposer_index(round_) == self._my_index
                    and not (round_ == self._round and self._accepted is not None)
                    and (round_, MessageKind.PROPOSAL) not in self._sent
                ):
                    self._propose_with_justification(round_, by_round[round_], now_ms, out)
                    return
        higher = sorted(
            (rc.round for rc in self._round_changes.values() if rc.round > self._round), reverse=True
        )
        f = compute_max_faulty(len(self._validators))
        if len(higher) >= f + 1:
            # f+1 distinct validators are beyond us, so at least one correct one is: follow the lowest of the
            # f+1 highest rounds (any f+1 subset's minimum is allowed by the spec; this one moves furthest).
            self._change_round(higher[f], now_ms, out)

    def _change_round(self, round_: int, now_ms: int, out: list[Action[BlockT]]) -> None:
        self.metrics.rounds_changed += 1
        self._enter_round(round_, now_ms, out)
        if self._my_index is not None:
            prepared = self._prepared
            payload = RoundChangePayload(
                self._height,
                round_,
                None if prepared is None else prepared.round,
                None if prepared is None else self.app.block_hash(prepared.block),
            )
            digest = sm3(compute_signing_preimage(self.config.chain_id, payload))
            holder: list[RoundChange[BlockT]] = []

            def encode(signed: Signed[RoundChangePayload]) -> bytes:
                message = RoundChange(
                    signed,
                    None if prepared is None else prepared.block,
                    () if prepared is None else prepared.prepares,
                )
                holder.append(message)
                return encode_message(message, self.app.encode_block)

            signed = self._sign_step(MessageKind.ROUND_CHANGE, round_, digest, payload, encode)
            if signed is not None:
                self._round_changes[self._my_index] = holder[0]
                out.append(Broadcast(holder[0]))
        self._after_round_change(now_ms, out)

    def _propose_with_justification(
        self, round_: int, round_changes: list[RoundChange[BlockT]], now_ms: int, out: list[Action[BlockT]]
    ) -> None:
        my_index = self._my_index
        if my_index is None:
            return
        prepared = [rc for rc in round_changes if rc.signed.payload.prepared_round is not None]
        prepares: tuple[Signed[PreparePayload], ...] = ()
        try:
            if prepared:
                best = max(prepared, key=lambda rc: rc.signed.payload.prepared_round or 0)
                if best.prepared_block is None:  # excluded by _check_round_change; keeps the types honest
                    return
                block = self._in_round_form(best.prepared_block, round_)
                prepares = best.prepares
            else:
                block = self.app.propose_block(self._height, round_, my_index, now_ms)
        except Exception:  # the builder failed: do not propose; the round will time out
            self._count_rejected("block_building_failed")
            return
        ordered = sorted(round_changes, key=lambda rc: self._index_of[rc.author])
        if round_ > self._round:
            self._enter_round(round_, now_ms, out)
        self._propose(block, tuple(rc.signed for rc in ordered), prepares, now_ms, out)

    def _on_round_timeout(self, now_ms: int, out: list[Action[BlockT]]) -> None:
        self._round_deadline_ms = None
        self._change_round(self._round + 1, now_ms, out)
