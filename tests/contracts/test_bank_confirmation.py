"""BankConfirmation.vy on real py-evm: every transition, every refusal, due days from the Calendar."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from node.demo_network import make_uscc
from node.genesis import (
    AUDITOR,
    BANK_CONFIRMATION_ADDRESS,
    GOVERNANCE_ADDRESS,
)
from sdk.domains.calendar import OFFICIAL_CALENDAR, end_of_day
from sdk.domains.confirmations import LetterParty, party_tag
from tests.contracts.harness import CHAIN_ID
from tests.contracts.worlds.confirmations import (
    ACCEPTED,
    ACCREDITOR,
    AUDIT_CLERK,
    AUDIT_FIRM,
    AUDITOR_A,
    AWAITING,
    BANK_CLERK,
    BANK_ORG,
    BANKER,
    CLIENT,
    CLIENT_ORG,
    EXPIRED,
    GOVERNANCE,
    ITEMS_1_13,
    LETTER,
    OTHER_AUDITOR,
    OTHER_BANKER,
    OUTSIDER,
    OVERDUE,
    RECEIVED,
    REJECTED,
    REPLIED,
    REPLY_HASH,
    REQUEST,
    SENT,
    Chain,
    accepted,
    create,
    day,
    new_chain,
    ts_ms,
)


@pytest.fixture()
def chain() -> Chain:
    return new_chain()


# --- the happy path --------------------------------------------------------------------------------------
def test_full_lifecycle_records_every_transition(chain: Chain) -> None:
    receipt = create(chain)
    assert receipt.status == 1, receipt.revert_reason
    (created,) = chain.events(receipt)
    assert created.name == "LetterCreated"
    assert created.args["request"] == REQUEST and created.args["letter_id"] == LETTER
    assert receipt.logs[0].topics[1:] == (  # per-letter party tags (test_bank_confirmation_privacy.py)
        party_tag(CHAIN_ID, BANK_CONFIRMATION_ADDRESS, LETTER, LetterParty.AUDITOR, AUDIT_FIRM),
        party_tag(CHAIN_ID, BANK_CONFIRMATION_ADDRESS, LETTER, LetterParty.BANK, BANK_ORG),
        party_tag(CHAIN_ID, BANK_CONFIRMATION_ADDRESS, LETTER, LetterParty.CLIENT, CLIENT_ORG),
    )
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
    assert (
        letter["auditor_tag"] == receipt.logs[0].topics[1]
        and letter["client_tag"] == receipt.logs[0].topics[3]
    )
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
    assert chain.execute(ACCREDITOR, GOVERNANCE_ADDRESS, revoke).status == 1
    assert create(chain).revert_reason == b"not an auditor"


def test_largest_document_fits_the_transaction_gas_limit(chain: Chain) -> None:
    document = bytes((i * 7 + 1) % 255 + 1 for i in range(65_536))  # no zero bytes: worst-case calldata
    receipt = create(chain, request=document)
    assert receipt.status == 1, receipt.revert_reason
    assert receipt.gas_used < 5_000_000  # ChainConfig.tx_gas_limit default
    assert create(chain, letter=keccak(b"big"), request=document + b"\x01").status == 0


# --- the envelope key directory --------------------------------------------------------------------------
def test_a_bank_publishes_and_replaces_its_envelope_key_under_its_own_organisation(chain: Chain) -> None:
    first, second = bytes(range(1, 65)), bytes(range(2, 66))
    assert chain.view("envelope_key_of", BANK_ORG)["version"] == 0
    (event,) = chain.events(chain.must(BANKER, "set_envelope_key", first))
    assert event.name == "EnvelopeKeySet"
    assert event.args == {"organisation": BANK_ORG, "by": BANKER, "key": first, "version": 1}
    chain.must(OTHER_BANKER, "set_envelope_key", second)  # another bank's key: filed under its own USCC
    entry = chain.view("envelope_key_of", BANK_ORG)
    assert (entry["key"], entry["version"], entry["by"]) == (first, 1, BANKER)
    chain.must(BANKER, "set_envelope_key", second)
    entry = chain.view("envelope_key_of", BANK_ORG)
    assert (entry["key"], entry["version"]) == (second, 2)
    assert chain.view("envelope_key_of", CLIENT_ORG)["version"] == 0


def test_an_auditor_or_a_short_key_is_refused_by_the_directory(chain: Chain) -> None:
    refused = chain.send(AUDITOR_A, "set_envelope_key", bytes(64))
    assert refused.status == 0
    assert refused.revert_reason == b"only a bank or a finance regulator publishes an envelope key"
    short = chain.send(ACCREDITOR, "set_envelope_key", bytes(63))
    assert short.status == 0 and short.revert_reason == b"an envelope key is 64 bytes"
    assert chain.view("envelope_key_of", AUDIT_FIRM)["version"] == 0
