"""Per-letter party tags: how a letter names its audit firm, bank and audited company on chain.

A letter never stores or logs an organisation's USCC (or its plain hash, a stable identifier that would let
anyone holding the logs group every letter by party). It keeps, per party, a tag bound to this letter::

    tag = keccak256( "xinlian/letter-party/1"   22 bytes, ASCII domain tag
                     ‖ chain_id                 32 bytes, big-endian
                     ‖ contract                 20 bytes, BankConfirmation's address
                     ‖ letter_id                32 bytes
                     ‖ party                     1 byte: 1 auditor, 2 bank, 4 client
                     ‖ uscc )                   18 bytes, ASCII, as the Governance registry holds it

125 bytes of fixed width, so BankConfirmation.vy (`_party_tag`, also the `party_tag` view) and this module
build the same bytes. The tags differ for every letter, so nothing repeats across letters; an organisation
that knows a letter's id finds its own role by computing its tags, and the contract checks an acting
account by recomputing the tag of ``organisation_of(msg.sender)``.

What a tag does not hide: the letter id is in the same event, and the registered USCCs are a member read,
so whoever holds a letter's log can test every registered organisation (three hashes each). Tags remove the
ready-made index across letters, not the parties of one letter from a determined reader (see
docs/confirmations.md, Confidentiality).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from typing import Final

from eth_utils.crypto import keccak

from sdk.errors import EncodingError

PARTY_TAG_DOMAIN: Final = b"xinlian/letter-party/1"


PARTY_TAG_PREIMAGE_BYTES: Final = 125  # 22 + 32 + 20 + 32 + 1 + 18


class LetterParty(IntEnum):
    """A party of a letter, numbered as the sealed envelope's recipient roles (3, the regulator, is no
    party of a letter)."""

    AUDITOR = 1
    BANK = 2
    CLIENT = 4


def party_tag_preimage(
    chain_id: int, contract: bytes, letter_id: bytes, party: LetterParty, uscc: str
) -> bytes:
    """Return the 125 bytes hashed into a party tag (layout in the module docstring).

    Raises EncodingError (``bad_arguments``) for a chain id out of uint256, a contract that is not 20 bytes,
    a letter id that is not 32 bytes, or a USCC that is not 18 ASCII characters.
    """
    if not 0 <= chain_id < 2**256:
        raise EncodingError("a chain id is a uint256", code="bad_arguments")
    if len(contract) != 20:
        raise EncodingError("a contract address is 20 bytes", code="bad_arguments")
    if len(letter_id) != 32:
        raise EncodingError("a letter id is 32 bytes", code="bad_arguments")
    if len(uscc) != 18 or not uscc.isascii():
        raise EncodingError("a USCC is 18 ASCII characters", code="bad_arguments")
    return (
        PARTY_TAG_DOMAIN
        + chain_id.to_bytes(32, "big")
        + contract
        + letter_id
        + bytes([party])
        + uscc.encode()
    )


def party_tag(chain_id: int, contract: bytes, letter_id: bytes, party: LetterParty, uscc: str) -> bytes:
    """Return the 32-byte tag by which letter ``letter_id`` of ``contract`` on chain ``chain_id`` names the
    organisation ``uscc`` as its ``party``. Raises EncodingError as ``party_tag_preimage``."""
    return keccak(party_tag_preimage(chain_id, contract, letter_id, LetterParty(party), uscc))


def parties_of(
    uscc: str, tags: Mapping[LetterParty, bytes], *, chain_id: int, contract: bytes, letter_id: bytes
) -> frozenset[LetterParty]:
    """Return the parts organisation ``uscc`` plays in the letter whose party tags are ``tags`` (empty when
    it is none of its parties). An identifier that is not a USCC is no party of any letter."""
    if len(uscc) != 18 or not uscc.isascii():
        return frozenset()
    return frozenset(
        party for party, tag in tags.items() if tag == party_tag(chain_id, contract, letter_id, party, uscc)
    )
