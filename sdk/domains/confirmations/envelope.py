"""The sealed envelope of a letter document: SM4-GCM body, the key wrapped with SM2 for each recipient,
bound to the chain, contract and letter."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Final

from sdk.crypto import PublicKey, sm4_gcm_open, sm4_gcm_seal
from sdk.errors import DecryptionError, DomainError, EncodingError
from sdk.keyholder import SigningKey, key_address

if TYPE_CHECKING:
    pass


MAX_DOCUMENT_BYTES: Final = 65_536  # BankConfirmation.MAX_DOCUMENT_BYTES: one sealed document


_ENVELOPE_MAGIC: Final = b"XLCF"


_ENVELOPE_VERSION: Final = 1


_AAD_TAG: Final = b"xinlian/confirmation/1"


class DocumentKind(IntEnum):
    REQUEST = 1
    REPLY = 2


class RecipientRole(IntEnum):
    """Who a wrapped key is for (informational: any listed key opens the document)."""

    AUDITOR = 1
    BANK = 2
    REGULATOR = 3
    CLIENT = 4


# --- the sealed envelope ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Recipient:
    """A reader of a sealed document: its role and SM2 public key."""

    role: RecipientRole
    public_key: PublicKey

    @property
    def address(self) -> bytes:
        return self.public_key.address


@dataclass(frozen=True, slots=True)
class SealedDocument:
    """A parsed envelope: header (kind, recipients with wrapped keys) and the SM4-GCM body."""

    kind: DocumentKind
    wrapped_keys: tuple[tuple[RecipientRole, bytes, bytes], ...]  # (role, address, SM2 C1C3C2 of the key)
    body: bytes  # nonce ‖ ciphertext ‖ tag
    header: bytes  # the bytes before the body (authenticated as AAD)

    @property
    def recipients(self) -> list[bytes]:
        return [address for _, address, _ in self.wrapped_keys]


def compute_document_aad(chain_id: int, contract: bytes, letter_id: bytes, header: bytes) -> bytes:
    """Return the SM4-GCM associated data: tag ‖ chain id ‖ contract ‖ letter id ‖ envelope header.

    Binding these means a document cannot be replayed into another letter, contract or chain, and its
    recipient list cannot be altered without the tag failing.
    """
    return _AAD_TAG + chain_id.to_bytes(8, "big") + contract + letter_id + header


def seal_document(
    plaintext: bytes,
    *,
    kind: DocumentKind,
    recipients: Sequence[Recipient],
    chain_id: int,
    contract: bytes,
    letter_id: bytes,
) -> bytes:
    """Encrypt ``plaintext`` under a fresh SM4 key and wrap that key with SM2 for every recipient.

    Returns the envelope: ``"XLCF" ‖ version ‖ kind ‖ n ‖ n × (role ‖ address(20) ‖ len(2) ‖ C1C3C2)``
    followed by ``nonce ‖ SM4-GCM ciphertext ‖ tag``. Raises DomainError with no recipients or more than 16,
    or when the envelope exceeds MAX_DOCUMENT_BYTES.
    """
    if not 1 <= len(recipients) <= 16:
        raise DomainError("a sealed document has 1 to 16 recipients", code="invalid_recipients")
    key = secrets.token_bytes(16)
    header = bytearray(_ENVELOPE_MAGIC + bytes([_ENVELOPE_VERSION, int(kind), len(recipients)]))
    for r in recipients:
        wrapped = r.public_key.encrypt(key)
        header += bytes([int(r.role)]) + r.address + len(wrapped).to_bytes(2, "big") + wrapped
    aad = compute_document_aad(chain_id, contract, letter_id, bytes(header))
    sealed = bytes(header) + sm4_gcm_seal(key, plaintext, aad)
    if len(sealed) > MAX_DOCUMENT_BYTES:
        raise DomainError(
            f"the sealed document is {len(sealed)} bytes; the ledger takes at most {MAX_DOCUMENT_BYTES}",
            code="document_too_large",
            size=len(sealed),
        )
    return sealed


def parse_sealed_document(sealed: bytes) -> SealedDocument:
    """Split an envelope into header fields and body; raises EncodingError when it is malformed."""
    try:
        if sealed[:4] != _ENVELOPE_MAGIC or sealed[4] != _ENVELOPE_VERSION:
            raise EncodingError("not a version-1 Xinlian sealed document", code="bad_document")
        kind = DocumentKind(sealed[5])
        count, offset = sealed[6], 7
        keys: list[tuple[RecipientRole, bytes, bytes]] = []
        for _ in range(count):
            role = RecipientRole(sealed[offset])
            address = sealed[offset + 1 : offset + 21]
            size = int.from_bytes(sealed[offset + 21 : offset + 23], "big")
            wrapped = sealed[offset + 23 : offset + 23 + size]
            if len(address) != 20 or len(wrapped) != size:
                raise EncodingError("truncated sealed document header", code="bad_document")
            keys.append((role, address, wrapped))
            offset += 23 + size
    except (IndexError, ValueError) as exc:
        raise EncodingError("malformed sealed document", code="bad_document") from exc
    return SealedDocument(kind=kind, wrapped_keys=tuple(keys), body=sealed[offset:], header=sealed[:offset])


def open_document(
    sealed: bytes, private_key: SigningKey, *, chain_id: int, contract: bytes, letter_id: bytes
) -> bytes:
    """Return the plaintext of an envelope for the holder of ``private_key`` (a KeyHolder or PrivateKey):
    the holder decrypts the wrapped SM4 key, this process opens the body.

    Raises DecryptionError when the key is not a recipient or any bound field (letter, contract, chain,
    header) differs; EncodingError for a malformed envelope.
    """
    doc = parse_sealed_document(sealed)
    mine = key_address(private_key)
    aad = compute_document_aad(chain_id, contract, letter_id, doc.header)
    for _, address, wrapped in doc.wrapped_keys:
        if address != mine:
            continue
        key = private_key.decrypt(wrapped)
        if len(key) != 16:
            raise DecryptionError("the wrapped key is not an SM4 key")
        return sm4_gcm_open(key, doc.body, aad)
    raise DecryptionError("this key is not a recipient of the document", code="not_a_recipient")
