"""A stateful model test of the mempool: totals, quotas, expiry and fair selection against a plain model."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from node.ledger.mempool import Mempool, MempoolLimits
from sdk.crypto import PrivateKey
from sdk.errors import InvalidTransaction
from sdk.types import Transaction

KEYS = [PrivateKey.generate() for _ in range(3)]
SENDERS = [k.public_key.address for k in KEYS]
LIMITS = MempoolLimits(capacity=12, max_bytes=4_000, sender_max_txs=6, sender_max_bytes=2_000)
_counter = itertools.count()


@dataclass
class ModelTx:
    sender: bytes
    size: int
    gas: int
    expiry: int
    seq: int
    tx: Transaction


class MempoolMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.pool = Mempool(LIMITS)
        self.model: dict[bytes, ModelTx] = {}

    def _pending(self) -> list[bytes]:
        # In admission order, not by hash: hashes change from run to run (SM2 signatures are randomised),
        # and Hypothesis must be able to replay the same choices.
        return sorted(self.model, key=lambda tx_hash: self.model[tx_hash].seq)

    def _sender_totals(self, sender: bytes) -> tuple[int, int]:
        own = [m for m in self.model.values() if m.sender == sender]
        return len(own), sum(m.size for m in own)

    @rule(
        who=st.integers(0, len(KEYS) - 1),
        size=st.integers(1, 900),
        gas=st.integers(21_000, 400_000),
        expiry=st.integers(1, 30),
    )
    def add(self, who: int, size: int, gas: int, expiry: int) -> None:
        tx = Transaction.create(
            KEYS[who],
            chain_id=7,
            to=b"\x22" * 20,
            data=next(_counter).to_bytes(8, "big"),
            gas_limit=gas,
            expiry_height=expiry,
        )
        count, used = self._sender_totals(SENDERS[who])
        if count >= LIMITS.sender_max_txs or used + size > LIMITS.sender_max_bytes:
            expected = "sender_quota"
        elif len(self.model) >= LIMITS.capacity or sum(m.size for m in self.model.values()) + size > (
            LIMITS.max_bytes
        ):
            expected = "mempool_full"
        else:
            expected = ""
        try:
            self.pool.add(tx.tx_hash, tx, size)
        except InvalidTransaction as exc:
            assert exc.code == expected, (exc.code, expected)
            return
        assert expected == "", f"admitted although the model says {expected}"
        self.model[tx.tx_hash] = ModelTx(SENDERS[who], size, gas, expiry, next(_counter), tx)

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def re_add_is_a_duplicate(self, data: st.DataObject) -> None:
        tx_hash = data.draw(st.sampled_from(self._pending()))
        entry = self.model[tx_hash]
        try:
            self.pool.add(tx_hash, entry.tx, entry.size)
        except InvalidTransaction as exc:
            assert exc.code == "duplicate"
        else:
            raise AssertionError("a pending transaction was admitted twice")

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def remove_some(self, data: st.DataObject) -> None:
        gone = data.draw(st.lists(st.sampled_from(self._pending()), max_size=4))
        self.pool.remove([*gone, b"\x01" * 32])
        for tx_hash in gone:
            self.model.pop(tx_hash, None)

    @rule(head=st.integers(0, 30))
    def drop_expired(self, head: int) -> None:
        expected = {h for h, m in self.model.items() if m.expiry <= head}
        assert set(self.pool.drop_expired(head)) == expected
        for tx_hash in expected:
            del self.model[tx_hash]

    @rule(count=st.integers(1, 15), gas=st.integers(0, 3_000_000), size=st.integers(0, 5_000))
    def select_within_limits(self, count: int, gas: int, size: int) -> None:
        chosen = self.pool.select(count, gas, size)
        hashes = [h for h, _ in chosen]
        assert len(set(hashes)) == len(hashes) <= count
        assert set(hashes) <= set(self.model)
        assert sum(self.model[h].gas for h in hashes) <= gas
        assert sum(self.model[h].size for h in hashes) <= size
        for sender in SENDERS:  # each sender's transactions leave in arrival order
            seqs = [self.model[h].seq for h in hashes if self.model[h].sender == sender]
            assert seqs == sorted(seqs)
            own = sorted(m.seq for m in self.model.values() if m.sender == sender)
            assert seqs == own[: len(seqs)]

    @rule(count=st.integers(1, 15))
    def unconstrained_selection_is_round_robin(self, count: int) -> None:
        chosen = [h for h, _ in self.pool.select(count, 10**12, 10**12)]
        assert len(chosen) == min(count, len(self.model))
        taken = {s: sum(self.model[h].sender == s for h in chosen) for s in SENDERS}
        pending = {s: self._sender_totals(s)[0] for s in SENDERS}
        most = max(taken.values())
        for sender in SENDERS:
            if taken[sender] < pending[sender]:  # a sender left waiting got at most one turn less
                assert taken[sender] >= most - 1, (taken, pending)

    @invariant()
    def totals_match_the_model(self) -> None:
        assert len(self.pool) == len(self.model)
        assert self.pool.size_bytes == sum(m.size for m in self.model.values())
        for sender in SENDERS:
            assert self.pool.pending_of(sender) == self._sender_totals(sender)
        for tx_hash in self.model:
            assert tx_hash in self.pool


MempoolMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
test_mempool_behaves_like_its_model = MempoolMachine.TestCase
