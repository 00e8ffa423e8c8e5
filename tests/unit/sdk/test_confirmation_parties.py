"""The per-letter party tag (sdk/domains/confirmations/parties.py): its exact bytes, and what it separates.

BankConfirmation.vy computes the same tag; tests/contracts/test_bank_confirmation_privacy.py checks the
contract against this function."""

from __future__ import annotations

import pytest

from sdk.domains.confirmations import LetterParty, parties_of, party_tag, party_tag_preimage
from sdk.errors import EncodingError
from sdk.system import BANK_CONFIRMATION_ADDRESS

CHAIN_ID = 20240601
LETTER = bytes(range(32))
USCC = "91310000MA1FL8KQ2B"
OTHER = "91310000MA1FL8KQ3Y"


def test_the_preimage_is_125_fixed_width_bytes() -> None:
    preimage = party_tag_preimage(CHAIN_ID, BANK_CONFIRMATION_ADDRESS, LETTER, LetterParty.BANK, USCC)
    assert preimage == (
        b"xinlian/letter-party/1"
        + CHAIN_ID.to_bytes(32, "big")
        + bytes.fromhex("0000000000000000000000000000000000001004")
        + LETTER
        + b"\x02"
        + b"91310000MA1FL8KQ2B"
    )
    assert len(preimage) == 125


def test_known_answer() -> None:
    # keccak256 of the preimage above, computed with pycryptodome's Keccak (not the SDK's hash)
    assert party_tag(CHAIN_ID, BANK_CONFIRMATION_ADDRESS, LETTER, LetterParty.BANK, USCC).hex() == (
        "d33db0b40f89e30a64bfc5755dd4a05f03997a4c1f88bc2f4b3230e108278b05"
    )


def test_parties_are_numbered_as_the_envelope_recipients() -> None:
    from sdk.domains.confirmations import RecipientRole

    for party in LetterParty:
        assert RecipientRole[party.name] == party


def test_every_input_changes_the_tag() -> None:
    base = party_tag(CHAIN_ID, BANK_CONFIRMATION_ADDRESS, LETTER, LetterParty.CLIENT, USCC)
    assert len(base) == 32
    variants = [
        party_tag(CHAIN_ID + 1, BANK_CONFIRMATION_ADDRESS, LETTER, LetterParty.CLIENT, USCC),
        party_tag(CHAIN_ID, bytes(19) + b"\x01", LETTER, LetterParty.CLIENT, USCC),
        party_tag(CHAIN_ID, BANK_CONFIRMATION_ADDRESS, bytes(32), LetterParty.CLIENT, USCC),
        party_tag(CHAIN_ID, BANK_CONFIRMATION_ADDRESS, LETTER, LetterParty.BANK, USCC),
        party_tag(CHAIN_ID, BANK_CONFIRMATION_ADDRESS, LETTER, LetterParty.CLIENT, OTHER),
    ]
    assert len({base, *variants}) == 1 + len(variants)


def test_an_organisation_finds_its_parts_by_its_own_tags() -> None:
    def tag(party: LetterParty, uscc: str) -> bytes:
        return party_tag(CHAIN_ID, BANK_CONFIRMATION_ADDRESS, LETTER, party, uscc)

    tags = {
        LetterParty.AUDITOR: tag(LetterParty.AUDITOR, OTHER),
        LetterParty.CLIENT: tag(LetterParty.CLIENT, USCC),
    }
    where = {"chain_id": CHAIN_ID, "contract": BANK_CONFIRMATION_ADDRESS, "letter_id": LETTER}
    assert parties_of(USCC, tags, **where) == {LetterParty.CLIENT}
    assert parties_of(OTHER, tags, **where) == {LetterParty.AUDITOR}
    assert parties_of("91310000MA1FL8KQ4U", tags, **where) == frozenset()
    assert parties_of("", tags, **where) == frozenset()  # an account without an organisation
    assert parties_of(
        USCC, tags, chain_id=CHAIN_ID, contract=BANK_CONFIRMATION_ADDRESS, letter_id=bytes(32)
    ) == (frozenset())


@pytest.mark.parametrize(
    ("chain_id", "contract", "letter_id", "uscc"),
    [
        (-1, BANK_CONFIRMATION_ADDRESS, LETTER, USCC),
        (2**256, BANK_CONFIRMATION_ADDRESS, LETTER, USCC),
        (CHAIN_ID, bytes(19), LETTER, USCC),
        (CHAIN_ID, BANK_CONFIRMATION_ADDRESS, bytes(31), USCC),
        (CHAIN_ID, BANK_CONFIRMATION_ADDRESS, LETTER, USCC[:17]),
        (CHAIN_ID, BANK_CONFIRMATION_ADDRESS, LETTER, USCC + "0"),
        (CHAIN_ID, BANK_CONFIRMATION_ADDRESS, LETTER, "统一社会信用代码" + "0" * 10),
    ],
)
def test_malformed_inputs_are_refused(chain_id: int, contract: bytes, letter_id: bytes, uscc: str) -> None:
    with pytest.raises(EncodingError):
        party_tag(chain_id, contract, letter_id, LetterParty.BANK, uscc)
