"""BankConfirmation against its rows of docs/permissions.md: every (function, caller) on a fresh chain."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from node.genesis import GOVERNANCE_ADDRESS
from sdk.types import Receipt
from tests.contracts.permissions import (
    PermissionRow,
    check_row,
    conditional,
    expect_refused,
    row_id,
    rows_for,
)
from tests.contracts.worlds.confirmations import (
    ACCREDITOR,
    ACCREDITOR_ORG,
    AUDIT_CLERK,
    AUDIT_FIRM,
    AUDITOR_A,
    BANK_CLERK,
    BANK_ORG,
    BANKER,
    CLIENT,
    CLIENT_ORG,
    ITEMS_1_13,
    LETTER,
    OTHER_AUDITOR,
    OTHER_BANKER,
    OUTSIDER,
    REPLY_HASH,
    Chain,
    create,
    new_chain,
)

ROWS = rows_for("BankConfirmation")
UNREGISTERED = bytes([0x77]) * 20
ENVELOPE_KEY = bytes(range(1, 65))  # the contract stores 64 bytes; the SDK checks the point

#: Each caller name of the table as an account of the test chain.
CALLERS: dict[str, bytes] = {
    "outsider": UNREGISTERED,
    "member": OUTSIDER,  # an account of an unrelated registered company, without roles
    "AUDITOR": AUDITOR_A,
    "BANK": BANKER,
    "AUDIT_ACCREDITOR": ACCREDITOR,
    "auditor": AUDITOR_A,
    "client": CLIENT,
    "bank": BANKER,
    "BANK (other bank)": OTHER_BANKER,
    "AUDITOR (other firm)": OTHER_AUDITOR,
    "member of the letter's bank without BANK": BANK_CLERK,
    "member of the letter's audit firm without AUDITOR": AUDIT_CLERK,
}


@pytest.fixture()
def chain() -> Chain:
    return new_chain()


def created(c: Chain) -> None:
    assert create(c).status == 1


def authorised(c: Chain) -> None:
    created(c)
    c.must(CLIENT, "authorise", LETTER)


def accepted(c: Chain) -> None:
    authorised(c)
    c.must(BANKER, "accept", LETTER)


def replied(c: Chain) -> None:
    accepted(c)
    c.must(BANKER, "reply", LETTER, REPLY_HASH, ITEMS_1_13, 0, b"sealed reply")


def nothing(c: Chain) -> None:
    pass


Step = Callable[[Chain], None]
Action = Callable[[Chain, bytes], Receipt]

#: function -> (state in which the row's condition holds, state in which it does not, the call).
SCENARIOS: dict[str, tuple[Step, Step | None, Action]] = {
    "initialize": (nothing, None, lambda c, who: c.send(who, "initialize", GOVERNANCE_ADDRESS)),
    "create": (nothing, None, lambda c, who: create(c, sender=who)),
    "authorise": (created, authorised, lambda c, who: c.send(who, "authorise", LETTER)),
    "accept": (authorised, created, lambda c, who: c.send(who, "accept", LETTER)),
    "reject": (authorised, accepted, lambda c, who: c.send(who, "reject", LETTER, "不予受理")),
    "reply": (
        accepted,
        authorised,
        lambda c, who: c.send(who, "reply", LETTER, REPLY_HASH, ITEMS_1_13, 0, b"sealed reply"),
    ),
    "confirm_receipt": (replied, accepted, lambda c, who: c.send(who, "confirm_receipt", LETTER)),
    "recall": (created, accepted, lambda c, who: c.send(who, "recall", LETTER)),
    "set_envelope_key": (nothing, None, lambda c, who: c.send(who, "set_envelope_key", ENVELOPE_KEY)),
}
#: Calls whose condition is about the arguments rather than the letter's state.
VIOLATING_CALLS: dict[str, Action] = {
    "create": lambda c, who: create(c, sender=who, bank_org=CLIENT_ORG),  # the bank is the audited company
    "set_envelope_key": lambda c, who: c.send(who, "set_envelope_key", ENVELOPE_KEY[:63]),
}


def snapshot(c: Chain) -> tuple[Any, ...]:
    letter = c.view("get_letter", LETTER) if c.view("status_of", LETTER) else None
    keys = [c.view("envelope_key_of", org)["version"] for org in (BANK_ORG, ACCREDITOR_ORG, AUDIT_FIRM)]
    return (c.view("letter_count"), letter and tuple(sorted(letter.items())), keys)


def assert_refused(c: Chain, action: Action, who: bytes, row: PermissionRow) -> None:
    expect_refused(row, lambda: action(c, who), lambda: snapshot(c))


@pytest.mark.parametrize("row", ROWS, ids=row_id)
def test_the_contract_enforces_the_permissions_table(chain: Chain, row: PermissionRow) -> None:
    check_row(row, chain, CALLERS, SCENARIOS, snapshot)


@pytest.mark.parametrize("row", conditional(ROWS), ids=row_id)
def test_allowed_if_rows_are_refused_when_their_condition_does_not_hold(
    chain: Chain, row: PermissionRow
) -> None:
    who = CALLERS[row.caller]
    holds, breaks, action = SCENARIOS[row.function]
    if row.function in VIOLATING_CALLS:
        holds(chain)
        assert_refused(chain, VIOLATING_CALLS[row.function], who, row)
        return
    assert breaks is not None, f"no state breaking the condition of {row}"
    breaks(chain)
    assert_refused(chain, action, who, row)


def test_an_unregistered_account_is_refused_by_the_contract_too(chain: Chain) -> None:
    # The ledger refuses an outsider at admission; the contract does not rely on it.
    assert create(chain, sender=ACCREDITOR).status == 0
    assert create(chain, sender=UNREGISTERED).status == 0
