"""A stateful model test of BankConfirmation: random parties and outsiders try every transition in every
order; the contract must do exactly what the letter's life cycle allows, and nothing for anyone else."""

from __future__ import annotations

from typing import Any

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from node.genesis import GOVERNANCE_ADDRESS
from tests.contracts.worlds.confirmations import (
    ACCREDITOR,
    AUDIT_CLERK,
    AUDITOR_A,
    BANK_CLERK,
    BANKER,
    CLIENT,
    ITEMS_1_13,
    OTHER_AUDITOR,
    OTHER_BANKER,
    OUTSIDER,
    REPLY_HASH,
    Chain,
    create,
    new_chain,
)

AWAITING, SENT, ACCEPTED, REJECTED, REPLIED, RECEIVED, RECALLED = range(1, 8)
UNREGISTERED = bytes([0x77]) * 20
ACTORS = {
    "auditor": AUDITOR_A,
    "auditor's clerk": AUDIT_CLERK,
    "other auditor": OTHER_AUDITOR,
    "bank": BANKER,
    "bank's clerk": BANK_CLERK,
    "other bank": OTHER_BANKER,
    "client": CLIENT,
    "member": OUTSIDER,
    "accreditor": ACCREDITOR,
    "outsider": UNREGISTERED,
}
#: (function, the one actor it belongs to, the statuses it may start from, the status it leads to).
TRANSITIONS: dict[str, tuple[str, frozenset[int], int]] = {
    "authorise": ("client", frozenset({AWAITING}), SENT),
    "accept": ("bank", frozenset({SENT}), ACCEPTED),
    "reject": ("bank", frozenset({SENT}), REJECTED),
    "reply": ("bank", frozenset({ACCEPTED}), REPLIED),
    "confirm_receipt": ("auditor", frozenset({REPLIED}), RECEIVED),
    "recall": ("auditor", frozenset({AWAITING, SENT}), RECALLED),
}
ARGS: dict[str, tuple[Any, ...]] = {
    "reject": ("不予受理",),
    "reply": (REPLY_HASH, ITEMS_1_13, 0, b"sealed reply"),
}


class LetterMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.chain: Chain = new_chain()
        self.letters: dict[bytes, int] = {}  # letter id -> the status the model expects
        self.auditor_of: dict[bytes, str] = {}  # letter id -> the auditor actor that created it
        self.count = 0

    @rule(actor=st.sampled_from(sorted(ACTORS)))
    def create_a_letter(self, actor: str) -> None:
        self.count += 1
        letter = self.count.to_bytes(32, "big")
        receipt = create(self.chain, letter, sender=ACTORS[actor])
        if actor in ("auditor", "other auditor"):  # any AUDITOR account creates its own firm's letters
            assert receipt.status == 1, receipt.revert_reason
            self.letters[letter] = AWAITING
            self.auditor_of[letter] = actor
        else:
            assert receipt.status == 0, f"{actor} created a letter"

    @precondition(lambda self: bool(self.letters))
    @rule(
        data=st.data(),
        function=st.sampled_from(sorted(TRANSITIONS)),
        actor=st.sampled_from(sorted(ACTORS)),
    )
    def try_a_transition(self, data: st.DataObject, function: str, actor: str) -> None:
        letter = data.draw(st.sampled_from(sorted(self.letters)))
        owner, starts, leads_to = TRANSITIONS[function]
        if owner == "auditor":
            owner = self.auditor_of[letter]
        before = self.chain.view("get_letter", letter)
        receipt = self.chain.send(ACTORS[actor], function, letter, *ARGS.get(function, ()))
        allowed = actor == owner and self.letters[letter] in starts
        if allowed:
            assert receipt.status == 1, (function, actor, receipt.revert_reason)
            self.letters[letter] = leads_to
        else:
            assert receipt.status == 0, f"{actor} could {function} a letter in status {self.letters[letter]}"
            assert self.chain.view("get_letter", letter) == before

    @rule(actor=st.sampled_from(sorted(ACTORS)))
    def nobody_re_initialises(self, actor: str) -> None:
        assert self.chain.send(ACTORS[actor], "initialize", GOVERNANCE_ADDRESS).status == 0

    @invariant()
    def every_letter_is_where_the_model_says(self) -> None:
        for letter, status in self.letters.items():
            assert self.chain.view("status_of", letter) == status
        assert self.chain.view("letter_count") == len(self.letters)


LetterMachine.TestCase.settings = settings(max_examples=12, stateful_step_count=20, deadline=None)
test_letters_follow_their_life_cycle_whoever_tries_what = LetterMachine.TestCase
