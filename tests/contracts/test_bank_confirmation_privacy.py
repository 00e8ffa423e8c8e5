"""What a letter leaves on chain about its parties: no stable identifier of an organisation.

The attack: whoever sees BankConfirmation's logs or storage (a validator's operator, a leaked archive, a
regulator's export) lists "audit firm X audits company Y, which banks at Z" across all letters by grouping
letters on a party's USCC or its keccak256. Two letters about the same audited company, sent by different
audit firms to different banks, must therefore share no party topic and no storage word that could name an
organisation, and neither may hold a party's USCC or its plain hash.
"""

from __future__ import annotations

import pytest
from eth_utils import keccak

from node.genesis import BANK_CONFIRMATION_ADDRESS
from sdk.types import Receipt
from tests.contracts.worlds.confirmations import (
    AUDIT_FIRM,
    AUDITOR_A,
    BANK_ORG,
    CLIENT_ORG,
    OTHER_AUDITOR,
    OTHER_BANK_ORG,
    OTHER_FIRM,
    Chain,
    create,
    new_chain,
)

LETTERS_SLOT = 2  # storage_layout["letters"]["slot"] of BankConfirmation
WORDS_PER_LETTER = 40  # more than the Letter struct takes, whatever its fields
SMALL = 2**64  # counts, times, day numbers, item masks, statuses: no organisation fits in them

# The attack succeeds today: LetterCreated indexes keccak256(USCC) and the letter stores the USCCs in clear.
pytestmark = pytest.mark.xfail(strict=True, reason="letters index and store their parties' USCCs")

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
    first = create(chain, FIRST, sender=AUDITOR_A, bank_org=BANK_ORG)
    second = create(chain, SECOND, sender=OTHER_AUDITOR, bank_org=OTHER_BANK_ORG)
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
