"""KeyHolder: what the SDK needs from whoever holds an organisation's SM2 private key.

The SDK never reads a private key: transactions, member-signed requests, sessions and sealed confirmation
documents go through these four members, so the key may live in an encrypted key file
(``sdk.signer.Signer``), a PKCS#11 token (``sdk.pkcs11.PKCS11Signer``) or a signing service run by a key
custodian (``sdk.remote_signer.RemoteSigner``). docs/keys.md describes the three.

Every message the SDK asks a key holder to sign is a domain-tagged preimage that carries the chain id:
``RLP([TX_TAG, chain_id, …])`` for transactions (sdk.types) and ``RLP([QUERY_TAG, chain_id, …])`` for
member-signed requests (sdk.auth). A remote signer relies on that to bound what it signs.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from sdk.crypto import PrivateKey, PublicKey
from sdk.errors import InvalidSignatureError, SignerError


@runtime_checkable
class KeyHolder(Protocol):
    """An organisation's SM2 key, wherever it is kept. ``repr`` of an implementation never shows a key, a
    PIN or a password.

    ``address``: the 20-byte account address (last 20 bytes of SM3 of the public key).
    ``public_key``: the 64-byte public key x‖y.
    ``sign(message)``: the 64-byte r‖s GB/T 32918.2 signature of ``message`` with the default user ID.
    ``decrypt(ciphertext)``: the plaintext of a GB/T 32918.4 C1‖C3‖C2 ciphertext made for this key (the
    member session key the node seals, the wrapped SM4 keys of sealed confirmation documents).
    Implementations raise sdk.errors.SignerError subclasses (SignerUnavailable, SignerLoginFailed,
    SignerKeyNotFound, SignerRefused, UnsupportedMechanism) and DecryptionError for a ciphertext that is
    not for this key.
    """

    @property
    def address(self) -> bytes: ...

    @property
    def public_key(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...

    def decrypt(self, ciphertext: bytes) -> bytes: ...


#: What the SDK's signing functions accept: a key holder, or (for tests and tools) a bare PrivateKey.
SigningKey = KeyHolder | PrivateKey


def public_key_bytes(key: SigningKey) -> bytes:
    """Return the 64-byte public key x‖y of a key holder or a PrivateKey."""
    if isinstance(key, PrivateKey):
        return key.public_key.to_bytes()
    return key.public_key


def key_address(key: SigningKey) -> bytes:
    """Return the 20-byte address of a key holder or a PrivateKey."""
    return key.address


def sign_checked(key: SigningKey, message: bytes) -> bytes:
    """Return ``key``'s signature of ``message``; a signature made outside this process (a token, a remote
    signer) is verified against the holder's public key before it is used.

    Raises SignerError when an external key holder returns a signature that does not verify (a wrong key
    behind the label, a faulty device), and whatever the holder raises.
    """
    from sdk.signer import Signer  # here: sdk.signer imports this module

    if isinstance(key, PrivateKey | Signer):
        return key.sign(message)  # the key is in this process: nothing outside it to distrust
    signature = key.sign(message)
    try:
        PublicKey.from_bytes(key.public_key).verify(message, signature)
    except InvalidSignatureError as exc:
        raise SignerError(
            "the key holder returned a signature that does not verify for its public key",
            code="bad_signature_from_signer",
            holder=type(key).__name__,
        ) from exc
    return signature
