"""BankConfirmation.vy on real py-evm: every transition, every refusal, due days from the Calendar."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_utils import keccak

from node.demo_network import make_uscc
from node.execution import BlockContext, ExecutionEngine, Message
from node.genesis import (
    AUDIT_ACCREDITOR,
    AUDITOR,
    BANK,
    BANK_CONFIRMATION_ADDRESS,
    CALENDAR_ADDRESS,
    GOVERNANCE_ADDRESS,
    INIT_DATA_BUILDERS,
    GenesisAccount,
    GenesisOrganisation,
    GenesisRole,
    GenesisSpec,
    SystemContract,
    encode_initialize_with_governance,
    load_runtime_code,
)
from sdk.calendar import OFFICIAL_CALENDAR, day_of_date, end_of_day
from sdk.contracts import Contract
from sdk.types import Receipt

CONFIRMATION = Contract("BankConfirmation")
GOVERNANCE = Contract("Governance")

COMMITTEE_ORG, ACCREDITOR_ORG, AUDIT_FIRM, OTHER_FIRM, BANK_ORG, OTHER_BANK_ORG, CLIENT_ORG, OTHER_ORG = (
    make_uscc("310000", 20_000_001 + i) for i in range(8)
)
M1, ACCREDITOR, AUDITOR_A, AUDIT_CLERK, OTHER_AUDITOR = (bytes([0x10 + i]) * 20 for i in range(5))
BANKER, BANK_CLERK, OTHER_BANKER, CLIENT, OUTSIDER = (bytes([0x30 + i]) * 20 for i in range(5))
CST = dt.timezone(dt.timedelta(hours=8))
AWAITING, SENT, ACCEPTED, REJECTED, REPLIED, RECEIVED, RECALLED, OVERDUE, EXPIRED = range(1, 10)
ITEMS_1_13 = (1 << 13) - 1
ALL_ITEMS = (1 << 14) - 1


def ts_ms(iso: str) -> int:
    """Milliseconds of a China-time wall clock reading such as ``2026-02-13T10:00``."""
    return int(dt.datetime.fromisoformat(iso).replace(tzinfo=CST).timestamp() * 1000)


def day(iso: str) -> int:
    return day_of_date(dt.date.fromisoformat(iso))


@dataclass
class Chain:
    """One message per block; the test sets the wall clock (China time) of the next block."""

    engine: ExecutionEngine
    root: bytes
    now_ms: int
    height: int = 0
    receipts: list[Receipt] = field(default_factory=list)

    def ctx(self) -> BlockContext:
        return BlockContext(height=self.height, timestamp_ms=self.now_ms, gas_limit=30_000_000, proposer=M1)

    def at(self, iso: str) -> Chain:
        self.now_ms = ts_ms(iso)
        return self

    def send(self, sender: bytes, to: bytes, data: bytes, gas: int = 3_000_000) -> Receipt:
        self.height += 1
        self.now_ms += 1000
        result = self.engine.execute_block(
            self.root, self.ctx(), [Message(sender, to, data, gas, keccak(data + self.height.to_bytes(8)))]
        )
        self.root = result.state_root
        self.receipts.append(result.receipts[0])
        return result.receipts[0]

    def call(self, sender: bytes, name: str, *args: Any) -> Receipt:
        return self.send(sender, BANK_CONFIRMATION_ADDRESS, CONFIRMATION.encode_call(name, list(args)))

    def must(self, sender: bytes, name: str, *args: Any) -> Receipt:
        receipt = self.call(sender, name, *args)
        assert receipt.status == 1, receipt.revert_reason
        return receipt

    def refused(self, sender: bytes, name: str, *args: Any) -> str:
        receipt = self.call(sender, name, *args)
        assert receipt.status == 0, f"{name} by {sender.hex()[:4]} should have been refused"
        return receipt.revert_reason.decode()

    def view(self, name: str, *args: Any) -> Any:
        data = CONFIRMATION.encode_call(name, list(args))
        out = self.engine.call(
            self.root, OUTSIDER, BANK_CONFIRMATION_ADDRESS, data, 5_000_000, ctx=self.ctx()
        )
        return CONFIRMATION.decode_output(name, out)

    def events(self, receipt: Receipt) -> list[Any]:
        return [CONFIRMATION.decode_log(log) for log in receipt.logs]


@pytest.fixture()
def chain() -> Chain:
    return new_chain()


def new_chain() -> Chain:
    """A fresh chain: Governance with the test organisations, the Calendar and BankConfirmation."""
    spec = GenesisSpec(
        validators=(bytes([1]) * 64,),
        organisations=tuple(
            GenesisOrganisation(uscc, name)
            for uscc, name in (
                (COMMITTEE_ORG, "Consortium Office"),
                (ACCREDITOR_ORG, "Audit Accreditation Office"),
                (AUDIT_FIRM, "某某会计师事务所"),
                (OTHER_FIRM, "Other CPA"),
                (BANK_ORG, "某某银行"),
                (OTHER_BANK_ORG, "Other Bank"),
                (CLIENT_ORG, "某某股份有限公司"),
                (OTHER_ORG, "Unrelated Co."),
            )
        ),
        accounts=(
            GenesisAccount(M1, COMMITTEE_ORG),
            GenesisAccount(ACCREDITOR, ACCREDITOR_ORG),
            GenesisAccount(AUDITOR_A, AUDIT_FIRM),
            GenesisAccount(AUDIT_CLERK, AUDIT_FIRM),
            GenesisAccount(OTHER_AUDITOR, OTHER_FIRM),
            GenesisAccount(BANKER, BANK_ORG),
            GenesisAccount(BANK_CLERK, BANK_ORG),
            GenesisAccount(OTHER_BANKER, OTHER_BANK_ORG),
            GenesisAccount(CLIENT, CLIENT_ORG),
            GenesisAccount(OUTSIDER, OTHER_ORG),
        ),
        committee=(M1,),
        threshold=1,
        roles=(
            GenesisRole(ACCREDITOR, AUDIT_ACCREDITOR),
            GenesisRole(OTHER_AUDITOR, AUDITOR),
            GenesisRole(BANKER, BANK),
            GenesisRole(OTHER_BANKER, BANK),
        ),
        system_contracts=(
            SystemContract(
                "Calendar",
                CALENDAR_ADDRESS,
                load_runtime_code("Calendar"),
                INIT_DATA_BUILDERS["Calendar"](GOVERNANCE_ADDRESS),
            ),
            SystemContract(
                "BankConfirmation",
                BANK_CONFIRMATION_ADDRESS,
                load_runtime_code("BankConfirmation"),
                encode_initialize_with_governance(GOVERNANCE_ADDRESS),
            ),
        ),
    )
    engine = ExecutionEngine({}, chain_id=7)
    c = Chain(engine, engine.create_genesis(spec), now_ms=ts_ms("2026-02-10T09:00"))
    # the audit accreditor grants AUDITOR by Governance delegation (role_admin[AUDITOR] = AUDIT_ACCREDITOR)
    grant = GOVERNANCE.encode_call("grant_role", [AUDITOR_A, AUDITOR, bytes(32)])
    assert c.send(ACCREDITOR, GOVERNANCE_ADDRESS, grant).status == 1
    return c


LETTER = keccak(b"letter-1")
REQUEST = bytes(range(256)) * 8
REQUEST_HASH = keccak(b"sm3 of the sealed request")
REPLY_HASH = keccak(b"sm3 of the sealed reply")
BASE_DATE = day("2025-12-31")


def create(chain: Chain, letter: bytes = LETTER, sender: bytes = AUDITOR_A, **overrides: Any) -> Receipt:
    args: dict[str, Any] = {
        "client_org": CLIENT_ORG,
        "bank_org": BANK_ORG,
        "base_date": BASE_DATE,
        "items": ALL_ITEMS,
        "letter_format": 1,
        "request_hash": REQUEST_HASH,
        "request": REQUEST,
    }
    args.update(overrides)
    return chain.call(sender, "create", letter, *args.values())


def accepted(chain: Chain, when: str = "2026-02-13T10:00") -> None:
    assert create(chain).status == 1
    chain.must(CLIENT, "authorise", LETTER)
    chain.at(when).must(BANKER, "accept", LETTER)


# --- the happy path --------------------------------------------------------------------------------------
def test_full_lifecycle_records_every_transition(chain: Chain) -> None:
    receipt = create(chain)
    assert receipt.status == 1, receipt.revert_reason
    (created,) = chain.events(receipt)
    assert created.name == "LetterCreated"
    assert created.args["request"] == REQUEST and created.args["letter_id"] == LETTER
    assert receipt.logs[0].topics[1] == keccak(text=AUDIT_FIRM)
    assert receipt.logs[0].topics[2] == keccak(text=BANK_ORG)
    assert receipt.logs[0].topics[3] == keccak(text=CLIENT_ORG)
    assert chain.view("status_of", LETTER) == AWAITING
    assert chain.view("letter_count") == 1

    assert chain.events(chain.must(CLIENT, "authorise", LETTER))[0].name == "LetterAuthorised"
    assert chain.view("status_of", LETTER) == SENT

    # Friday 13 Feb 2026 before the Spring Festival: the 10th working day is Thursday 5 March
    accept = chain.at("2026-02-13T10:00").must(BANKER, "accept", LETTER)
    event = chain.events(accept)[0]
    assert event.name == "LetterAccepted"
    assert (
        event.args["due_day"]
        == day("2026-03-05")
        == OFFICIAL_CALENDAR.add_working_days(day("2026-02-13"), 10)
    )
    assert event.args["deadline"] == end_of_day(day("2026-03-05")) == ts_ms("2026-03-06T00:00") // 1000
    assert chain.view("due_day_of", LETTER) == day("2026-03-05")
    assert chain.view("status_of", LETTER) == ACCEPTED

    covered, exceptions = ITEMS_1_13, 0b101  # items 1 and 3 differ from the auditor's figures
    reply = chain.at("2026-03-02T15:00").must(BANKER, "reply", LETTER, REPLY_HASH, covered, exceptions, b"ct")
    replied = chain.events(reply)[0]
    assert replied.name == "LetterReplied"
    # item 14 (其他) need not be digital; all of 1-13 covered: no paper supplement, not late
    assert replied.args["paper_supplement"] is False and replied.args["late"] is False
    assert replied.args["reply"] == b"ct"

    assert chain.events(chain.must(AUDITOR_A, "confirm_receipt", LETTER))[0].name == "LetterReceived"
    letter = chain.view("get_letter", LETTER)
    assert letter["status"] == RECEIVED
    assert letter["auditor_org"] == AUDIT_FIRM and letter["client_org"] == CLIENT_ORG
    assert letter["authorised_by"] == CLIENT and letter["bank_account"] == BANKER
    assert letter["accepted_at"] == ts_ms("2026-02-13T10:00") // 1000 + 1
    assert letter["exception_items"] == exceptions and letter["reply_hash"] == REPLY_HASH
    assert letter["received_at"] > letter["replied_at"] > letter["accepted_at"] > letter["authorised_at"]


def test_partial_digital_reply_needs_paper_supplement(chain: Chain) -> None:
    accepted(chain)
    covered = ITEMS_1_13 & ~(1 << 6)  # item 7 (银行承兑汇票) could not be answered digitally
    reply = chain.must(BANKER, "reply", LETTER, REPLY_HASH, covered, 0, b"ct")
    assert chain.events(reply)[0].args["paper_supplement"] is True
    assert chain.view("get_letter", LETTER)["paper_supplement"] is True


def test_letter_asking_few_items_needs_only_those(chain: Chain) -> None:
    assert create(chain, items=0b11).status == 1  # 存款 and 借款 only
    chain.must(CLIENT, "authorise", LETTER)
    chain.must(BANKER, "accept", LETTER)
    assert chain.refused(BANKER, "reply", LETTER, REPLY_HASH, 0b111, 0, b"ct") == (
        "covered items must be requested items"
    )
    assert chain.refused(BANKER, "reply", LETTER, REPLY_HASH, 0b01, 0b10, b"ct") == (
        "exceptions must be covered items"
    )
    reply = chain.must(BANKER, "reply", LETTER, REPLY_HASH, 0b11, 0, b"ct")
    assert chain.events(reply)[0].args["paper_supplement"] is False


# --- overdue and expiry -------------------------------------------------------------------------------
def test_overdue_is_derived_after_the_tenth_working_day(chain: Chain) -> None:
    accepted(chain, "2026-02-13T10:00")
    deadline = ts_ms("2026-03-06T00:00") // 1000
    assert chain.view("deadline_of", LETTER) == deadline
    assert chain.view("status_at", LETTER, deadline - 1) == ACCEPTED
    assert chain.view("status_at", LETTER, deadline) == OVERDUE
    assert chain.view("status_of", LETTER) == ACCEPTED
    chain.at("2026-03-06T08:59")  # the next block is after the deadline: overdue at the head
    assert chain.view("status_of", LETTER) == OVERDUE
    reply = chain.must(BANKER, "reply", LETTER, REPLY_HASH, ITEMS_1_13, 0, b"ct")
    assert chain.events(reply)[0].args["late"] is True
    assert chain.view("status_of", LETTER) == REPLIED
    assert chain.view("get_letter", LETTER)["replied_late"] is True


def test_national_day_and_make_up_saturday_in_the_due_day(chain: Chain) -> None:
    assert create(chain).status == 1
    chain.must(CLIENT, "authorise", LETTER)
    chain.at("2026-09-25T23:30").must(BANKER, "accept", LETTER)  # Friday, first day of 中秋节
    # 26-27 rest, Mon 28, Tue 29, Wed 30, 1-7 Oct rest, Thu 8, Fri 9, Sat 10 (make-up), 12, 13, 14, 15
    assert chain.view("due_day_of", LETTER) == day("2026-10-15")


def test_authorisation_window_expires_after_180_days(chain: Chain) -> None:
    assert create(chain).status == 1
    created_at = chain.view("get_letter", LETTER)["created_at"]
    assert chain.view("status_at", LETTER, created_at + 180 * 86400 - 1) == AWAITING
    assert chain.view("status_at", LETTER, created_at + 180 * 86400) == EXPIRED
    chain.now_ms = (created_at + 180 * 86400) * 1000
    assert chain.refused(CLIENT, "authorise", LETTER) == "authorisation window expired"
    assert chain.view("status_of", LETTER) == EXPIRED


# --- refusals -----------------------------------------------------------------------------------------
def test_only_auditors_create_well_formed_letters(chain: Chain) -> None:
    assert create(chain, sender=AUDIT_CLERK).revert_reason == b"not an auditor"  # firm account, no role
    assert create(chain, sender=BANKER).revert_reason == b"not an auditor"
    assert create(chain, bank_org=make_uscc("310000", 29_999_999)).revert_reason == b"unknown bank"
    assert create(chain, client_org="91310000000000000X").revert_reason == b"unknown audited company"
    assert create(chain, client_org=BANK_ORG).revert_reason == b"the bank cannot be the audited company"
    assert create(chain, client_org=AUDIT_FIRM).revert_reason == b"the audit firm cannot audit itself"
    assert create(chain, items=0).revert_reason == b"item set must be a non-empty subset of items 1-14"
    assert create(chain, items=1 << 14).revert_reason == b"item set must be a non-empty subset of items 1-14"
    assert create(chain, letter_format=3).revert_reason == b"format must be 1 or 2"
    assert create(chain, base_date=day("2026-03-01")).revert_reason == b"base date in the future"
    assert create(chain, request_hash=bytes(32)).revert_reason == b"empty request hash"
    assert create(chain, request=b"").revert_reason == b"empty request document"
    assert create(chain, letter=bytes(32)).revert_reason == b"empty letter id"
    assert create(chain).status == 1
    assert create(chain).revert_reason == b"letter id already used"


def test_unauthorised_client_cannot_authorise(chain: Chain) -> None:
    assert create(chain).status == 1
    assert chain.refused(OUTSIDER, "authorise", LETTER) == "not the audited company"
    assert chain.refused(AUDITOR_A, "authorise", LETTER) == "not the audited company"
    assert chain.refused(BANKER, "accept", LETTER) == "letter is not awaiting the bank"
    chain.must(CLIENT, "authorise", LETTER)
    assert chain.refused(CLIENT, "authorise", LETTER) == "letter is not awaiting authorisation"
    assert chain.refused(CLIENT, "authorise", keccak(b"nothing")) == "no such letter"


def test_wrong_bank_and_wrong_role_are_refused(chain: Chain) -> None:
    assert create(chain).status == 1
    chain.must(CLIENT, "authorise", LETTER)
    assert chain.refused(OTHER_BANKER, "accept", LETTER) == "not the letter's bank"
    assert chain.refused(BANK_CLERK, "accept", LETTER) == "not a bank"  # the bank's account without BANK
    assert chain.refused(AUDITOR_A, "accept", LETTER) == "not a bank"
    assert chain.refused(OTHER_BANKER, "reject", LETTER, "wrong bank") == "not the letter's bank"


def test_reply_before_accept_is_refused(chain: Chain) -> None:
    assert create(chain).status == 1
    assert (
        chain.refused(BANKER, "reply", LETTER, REPLY_HASH, ITEMS_1_13, 0, b"ct") == "letter is not accepted"
    )
    chain.must(CLIENT, "authorise", LETTER)
    assert (
        chain.refused(BANKER, "reply", LETTER, REPLY_HASH, ITEMS_1_13, 0, b"ct") == "letter is not accepted"
    )
    chain.must(BANKER, "accept", LETTER)
    assert chain.refused(BANKER, "reply", LETTER, bytes(32), ITEMS_1_13, 0, b"ct") == "empty reply hash"
    assert chain.refused(BANKER, "reply", LETTER, REPLY_HASH, ITEMS_1_13, 0, b"") == "empty reply document"
    assert chain.refused(AUDITOR_A, "confirm_receipt", LETTER) == "letter has no reply to receive"


def test_double_receipt_and_receipt_by_another_firm_are_refused(chain: Chain) -> None:
    accepted(chain)
    chain.must(BANKER, "reply", LETTER, REPLY_HASH, ITEMS_1_13, 0, b"ct")
    assert chain.refused(OTHER_AUDITOR, "confirm_receipt", LETTER) == "not the letter's audit firm"
    assert chain.refused(AUDIT_CLERK, "confirm_receipt", LETTER) == "not an auditor"
    chain.must(AUDITOR_A, "confirm_receipt", LETTER)
    assert chain.refused(AUDITOR_A, "confirm_receipt", LETTER) == "letter has no reply to receive"
    assert (
        chain.refused(BANKER, "reply", LETTER, REPLY_HASH, ITEMS_1_13, 0, b"ct") == "letter is not accepted"
    )


def test_recall_before_processing_only(chain: Chain) -> None:
    assert create(chain).status == 1
    assert chain.refused(OTHER_AUDITOR, "recall", LETTER) == "not the letter's audit firm"
    assert chain.refused(CLIENT, "recall", LETTER) == "not an auditor"
    recalled = chain.must(AUDITOR_A, "recall", LETTER)
    assert chain.events(recalled)[0].args["previous_status"] == AWAITING
    assert chain.refused(AUDITOR_A, "recall", LETTER) == "letter already recalled"
    assert chain.refused(CLIENT, "authorise", LETTER) == "letter is not awaiting authorisation"

    second = keccak(b"letter-2")
    assert create(chain, letter=second).status == 1
    chain.must(CLIENT, "authorise", second)
    assert chain.events(chain.must(AUDITOR_A, "recall", second))[0].args["previous_status"] == SENT
    assert chain.refused(BANKER, "accept", second) == "letter is not awaiting the bank"

    third = keccak(b"letter-3")
    assert create(chain, letter=third).status == 1
    chain.must(CLIENT, "authorise", third)
    chain.must(BANKER, "accept", third)
    assert chain.refused(AUDITOR_A, "recall", third) == "bank has started processing"
    assert chain.view("status_of", third) == ACCEPTED


def test_bank_rejects_nonconforming_letter_with_reason(chain: Chain) -> None:
    assert create(chain).status == 1
    assert (
        chain.refused(BANKER, "reject", LETTER, "base date not unique") == "letter is not awaiting the bank"
    )
    chain.must(CLIENT, "authorise", LETTER)
    assert chain.refused(BANKER, "reject", LETTER, "") == "a rejection needs a reason"
    rejected = chain.must(BANKER, "reject", LETTER, "函证基准日不唯一")
    assert chain.events(rejected)[0].args["reason"] == "函证基准日不唯一"
    assert chain.view("status_of", LETTER) == REJECTED
    assert chain.refused(BANKER, "accept", LETTER) == "letter is not awaiting the bank"
    assert chain.refused(AUDITOR_A, "recall", LETTER) == "bank has started processing"


def test_revoked_auditor_role_stops_the_firm(chain: Chain) -> None:
    revoke = GOVERNANCE.encode_call("revoke_role", [AUDITOR_A, AUDITOR, bytes(32)])
    assert chain.send(ACCREDITOR, GOVERNANCE_ADDRESS, revoke).status == 1
    assert create(chain).revert_reason == b"not an auditor"


def test_largest_document_fits_the_transaction_gas_limit(chain: Chain) -> None:
    document = bytes((i * 7 + 1) % 255 + 1 for i in range(65_536))  # no zero bytes: worst-case calldata
    receipt = create(chain, request=document)
    assert receipt.status == 1, receipt.revert_reason
    assert receipt.gas_used < 5_000_000  # ChainConfig.tx_gas_limit default
    assert create(chain, letter=keccak(b"big"), request=document + b"\x01").status == 0
