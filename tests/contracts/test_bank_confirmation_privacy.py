"""What a letter leaves on chain about its parties: no stable identifier of an organisation.

The attack: whoever sees BankConfirmation's logs or storage (a validator's operator, a leaked archive, a
regulator's export) lists "audit firm X audits company Y, which banks at Z" across all letters by grouping
letters on a party's USCC or its keccak256. Two letters about the same audited company, sent by different
audit firms to different banks, must therefore share no party topic and no storage word that could name an
organisation, and neither may hold a party's USCC or its plain hash. The letters carry per-letter party tags
instead (sdk/domains/confirmations/parties.py); the contract computes them exactly as the SDK does, each
party still finds its letters by its own tags, and the contract still refuses other organisations.

Out of scope here (docs/confirmations.md, Confidentiality): the accounts that act (LetterCreated.auditor, the
`by` topic of later events, the stored auditor / authorised_by / bank_account) are account addresses, which
Governance maps to organisations.
"""

from __future__ import annotations

import pytest
from eth_utils import keccak
from hypothesis import given, settings, strategies as st

from node.genesis import BANK_CONFIRMATION_ADDRESS
from sdk.domains.confirmations import LetterParty, parties_of, party_tag
from sdk.errors import ExecutionError
from sdk.types import Receipt
from tests.contracts.harness import CHAIN_ID
from tests.contracts.worlds.confirmations import (
    AUDIT_FIRM,
    AUDITOR_A,
    BANK_ORG,
    BANKER,
    CLIENT,
    CLIENT_ORG,
    ITEMS_1_13,
    OTHER_AUDITOR,
    OTHER_BANK_ORG,
    OTHER_BANKER,
    OTHER_FIRM,
    OTHER_ORG,
    OUTSIDER,
    REPLY_HASH,
    Chain,
    create,
    new_chain,
)

LETTERS_SLOT = 2  # storage_layout["letters"]["slot"] of BankConfirmation
WORDS_PER_LETTER = 40  # more than the Letter struct takes, whatever its fields
SMALL = 2**64  # counts, times, day numbers, item masks, statuses: no organisation fits in them

FIRST, SECOND = keccak(b"letter by firm A to bank A"), keccak(b"letter by firm B to bank B")


def _stored_words(chain: Chain, letter_id: bytes) -> list[bytes]:
    """The storage words of one letter (its HashMap entry: keccak256(slot || key) onwards)."""
    base = int.from_bytes(keccak(LETTERS_SLOT.to_bytes(32, "big") + letter_id), "big")
    return [
        chain.engine.get_storage(chain.root, BANK_CONFIRMATION_ADDRESS, base + i).to_bytes(32, "big")
        for i in range(WORDS_PER_LETTER)
    ]


def _two_letters_about_one_company() -> tuple[Chain, Receipt, Receipt]:
    chain = new_chain()
    # each letter's own request document, so only what names a party could repeat
    first = create(chain, FIRST, sender=AUDITOR_A, bank_org=BANK_ORG, request_hash=keccak(b"request 1"))
    second = create(
        chain, SECOND, sender=OTHER_AUDITOR, bank_org=OTHER_BANK_ORG, request_hash=keccak(b"request 2")
    )
    assert first.status == 1 and second.status == 1, (first.revert_reason, second.revert_reason)
    return chain, first, second


def test_two_letters_about_one_company_share_no_party_topic() -> None:
    _, first, second = _two_letters_about_one_company()
    (created_1,) = first.logs
    (created_2,) = second.logs
    assert created_1.topics[0] == created_2.topics[0]  # the event's signature, nothing else
    assert not set(created_1.topics[1:]) & set(created_2.topics[1:])


def test_two_letters_about_one_company_share_no_identifying_storage_word() -> None:
    chain, _, _ = _two_letters_about_one_company()
    words_1, words_2 = _stored_words(chain, FIRST), _stored_words(chain, SECOND)
    shared = {w for w in set(words_1) & set(words_2) if int.from_bytes(w, "big") >= SMALL}
    assert not shared, [w.hex() for w in shared]


def test_no_party_uscc_or_its_hash_reaches_topics_or_storage() -> None:
    chain, first, second = _two_letters_about_one_company()
    onchain = b"".join(
        [
            *first.logs[0].topics,
            *second.logs[0].topics,
            *_stored_words(chain, FIRST),
            *_stored_words(chain, SECOND),
        ]
    )
    for uscc in (CLIENT_ORG, AUDIT_FIRM, OTHER_FIRM, BANK_ORG, OTHER_BANK_ORG):
        assert uscc.encode() not in onchain, uscc
        assert keccak(text=uscc) not in onchain, uscc


# --- the tags: the SDK's function, found by each party, checked by the contract ---------------------------
def _tags(chain: Chain, letter_id: bytes) -> dict[LetterParty, bytes]:
    letter = chain.view("get_letter", letter_id)
    return {
        LetterParty.AUDITOR: letter["auditor_tag"],
        LetterParty.BANK: letter["bank_tag"],
        LetterParty.CLIENT: letter["client_tag"],
    }


def _sdk_tag(letter_id: bytes, party: LetterParty, uscc: str) -> bytes:
    return party_tag(CHAIN_ID, BANK_CONFIRMATION_ADDRESS, letter_id, party, uscc)


def test_the_contract_tags_parties_exactly_as_the_sdk() -> None:
    chain, first, second = _two_letters_about_one_company()
    for letter_id, receipt, firm, bank in (
        (FIRST, first, AUDIT_FIRM, BANK_ORG),
        (SECOND, second, OTHER_FIRM, OTHER_BANK_ORG),
    ):
        expected = {
            LetterParty.AUDITOR: _sdk_tag(letter_id, LetterParty.AUDITOR, firm),
            LetterParty.BANK: _sdk_tag(letter_id, LetterParty.BANK, bank),
            LetterParty.CLIENT: _sdk_tag(letter_id, LetterParty.CLIENT, CLIENT_ORG),
        }
        assert _tags(chain, letter_id) == expected
        (created,) = chain.events(receipt)
        assert receipt.logs[0].topics[1:] == (
            expected[LetterParty.AUDITOR],
            expected[LetterParty.BANK],
            expected[LetterParty.CLIENT],
        )
        assert created.args["auditor_tag"] == expected[LetterParty.AUDITOR]
        for party, tag in expected.items():
            uscc = {LetterParty.AUDITOR: firm, LetterParty.BANK: bank, LetterParty.CLIENT: CLIENT_ORG}[party]
            assert chain.view("party_tag", letter_id, int(party), uscc) == tag


@pytest.fixture(scope="module")
def viewer() -> Chain:
    return new_chain()


@settings(max_examples=25, deadline=None)
@given(
    letter_id=st.binary(min_size=32, max_size=32),
    party=st.sampled_from(list(LetterParty)),
    uscc=st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=18, max_size=18),
)
def test_the_party_tag_view_is_the_sdk_function(
    viewer: Chain, letter_id: bytes, party: LetterParty, uscc: str
) -> None:
    assert viewer.view("party_tag", letter_id, int(party), uscc) == _sdk_tag(letter_id, party, uscc)


def test_the_party_tag_view_refuses_what_is_no_tag(viewer: Chain) -> None:
    chain = viewer
    with pytest.raises(ExecutionError, match="unknown party"):
        chain.view("party_tag", FIRST, 3, CLIENT_ORG)  # 3 is the regulator: no party of a letter
    with pytest.raises(ExecutionError, match="USCC must be 18 characters"):
        chain.view("party_tag", FIRST, int(LetterParty.CLIENT), CLIENT_ORG[:17])


def test_each_party_finds_its_letters_by_its_own_tags_and_an_unrelated_member_finds_none() -> None:
    chain, _, _ = _two_letters_about_one_company()
    where = {"chain_id": CHAIN_ID, "contract": BANK_CONFIRMATION_ADDRESS}
    first, second = _tags(chain, FIRST), _tags(chain, SECOND)
    assert parties_of(CLIENT_ORG, first, letter_id=FIRST, **where) == {LetterParty.CLIENT}
    assert parties_of(CLIENT_ORG, second, letter_id=SECOND, **where) == {LetterParty.CLIENT}
    assert parties_of(AUDIT_FIRM, first, letter_id=FIRST, **where) == {LetterParty.AUDITOR}
    assert parties_of(AUDIT_FIRM, second, letter_id=SECOND, **where) == frozenset()
    assert parties_of(OTHER_BANK_ORG, first, letter_id=FIRST, **where) == frozenset()
    assert parties_of(OTHER_BANK_ORG, second, letter_id=SECOND, **where) == {LetterParty.BANK}
    for letter_id, tags in ((FIRST, first), (SECOND, second)):
        assert parties_of(OTHER_ORG, tags, letter_id=letter_id, **where) == frozenset()
    # a tag is bound to its letter: the first letter's tags name nobody in the second
    assert parties_of(CLIENT_ORG, first, letter_id=SECOND, **where) == frozenset()


def test_the_contract_refuses_accounts_of_other_organisations_in_every_part() -> None:
    chain, _, _ = _two_letters_about_one_company()
    assert chain.refused(OUTSIDER, "authorise", FIRST) == "not the audited company"
    assert chain.refused(BANKER, "authorise", FIRST) == "not the audited company"  # the letter's own bank
    chain.must(CLIENT, "authorise", FIRST)
    chain.must(CLIENT, "authorise", SECOND)
    # the second letter's bank, a BANK account, cannot act as the first letter's bank, nor the reverse
    assert chain.refused(OTHER_BANKER, "accept", FIRST) == "not the letter's bank"
    assert chain.refused(BANKER, "accept", SECOND) == "not the letter's bank"
    assert chain.refused(OTHER_BANKER, "reject", FIRST, "not ours") == "not the letter's bank"
    assert chain.refused(OTHER_AUDITOR, "recall", FIRST) == "not the letter's audit firm"
    assert chain.refused(AUDITOR_A, "recall", SECOND) == "not the letter's audit firm"
    chain.must(BANKER, "accept", FIRST)
    chain.must(OTHER_BANKER, "accept", SECOND)
    assert (
        chain.refused(OTHER_BANKER, "reply", FIRST, REPLY_HASH, ITEMS_1_13, 0, b"ct")
        == "not the letter's bank"
    )
    chain.must(BANKER, "reply", FIRST, REPLY_HASH, ITEMS_1_13, 0, b"ct")
    assert chain.refused(OTHER_AUDITOR, "confirm_receipt", FIRST) == "not the letter's audit firm"
    chain.must(AUDITOR_A, "confirm_receipt", FIRST)
