"""Sample facts the walkthroughs (scripts/demo_*.py) show and the integration tests replay against a node:
one place, so the demos exercise exactly what the tests check.

Demos import it as ``samples`` (their own directory is first on the path); tests as ``scripts.samples``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal

from sdk.domains.confirmations import Deposit, ItemReply, LetterReply, LetterRequest, Loan
from sdk.domains.licences import IssueResult, Licences
from sdk.identifiers import make_licence_id

#: A well-formed resident ID (GB 11643 check character) for the sample licence holder and data subject.
SAMPLE_RESIDENT_ID = "11010519491231002X"


# --- licences ------------------------------------------------------------------------------------------
def issue_sample_licence(licences: Licences, issuer_uscc: str, serial: str | None = None) -> IssueResult:
    """Define the issuer's business-licence type (once) and issue it to the sample holder as ``licences``'
    signer; ``serial`` defaults to a random one."""
    type_code = issuer_uscc + "032"
    if licences.get_type(type_code) is None:
        licences.define_type(type_code, "营业执照")
    identifier = make_licence_id(type_code, issuer_uscc, serial or secrets.token_hex(6).upper(), 1)
    return licences.issue(
        identifier,
        holder_name="张三",
        holder_code=SAMPLE_RESIDENT_ID,
        holder_code_type="111",
        document_hash=secrets.token_bytes(32),
        valid_from=dt.date(2024, 1, 1),
        valid_until=None,
        jurisdiction="110000",
    )


# --- bank confirmation letters (银行函证) ----------------------------------------------------------------
#: The audited company of the sample letter.
CLIENT_NAME = "Example Manufacturing Co., Ltd."
#: The company's balance in its own books on the base date.
BOOK_BALANCE = "12345678.90"
#: A bank balance that differs from the books: the sample exception.
BANK_BALANCE = "12345600.00"
BASE_DATE = dt.date(2025, 12, 31)


def sample_deposit(balance: str = BOOK_BALANCE) -> Deposit:
    """The company's basic deposit account (item 1) with ``balance``."""
    return Deposit(
        account_name=CLIENT_NAME,
        account_number="31050161360000001234",
        currency="CNY",
        interest_rate=Decimal("0.25"),
        account_type="基本存款账户",
        balance=Decimal(balance),
        cash_pooling=False,
    )


def sample_loan() -> Loan:
    """The company's loan (item 2)."""
    return Loan(
        borrower=CLIENT_NAME,
        account_number="LN-2025-0001",
        currency="CNY",
        balance=Decimal("5000000.00"),
        loan_date=dt.date(2025, 3, 1),
        due_date=dt.date(2027, 2, 28),
        interest_rate=Decimal("3.45"),
    )


def sample_letter_request(client_org: str, bank_org: str) -> LetterRequest:
    """The auditor's letter to the company's bank: deposit and loan as in the company's books."""
    return LetterRequest(
        client_org=client_org,
        bank_org=bank_org,
        base_date=BASE_DATE,
        client_name=CLIENT_NAME,
        rows={1: [sample_deposit()], 2: [sample_loan()]},
    )


def deposit_answer(bank_balance: str = BOOK_BALANCE, note: str = "") -> ItemReply:
    """The bank's answer to item 1: a match, or an exception with the bank's balance."""
    verdict = "exception" if bank_balance != BOOK_BALANCE else "match"
    return ItemReply(verdict, rows=(sample_deposit(bank_balance),), note=note)


def sample_letter_reply(
    bank_balance: str = BOOK_BALANCE,
    *,
    note: str = "",
    unanswered: frozenset[int] = frozenset(),
    bank_reference: str = "",
) -> LetterReply:
    """The bank's reply: items 1-13 answered (``unanswered`` left for paper), item 1 with ``bank_balance``."""
    answers = {i: ItemReply("match") for i in range(1, 14) if i not in unanswered}
    answers[1] = deposit_answer(bank_balance, note)
    return LetterReply(answers=answers, bank_reference=bank_reference)
