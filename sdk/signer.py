"""Signer: an organisation's SM2 key held in this process, loaded from an encrypted PKCS#8 key file (or
generated). It is the in-memory implementation of sdk.keyholder.KeyHolder, the protocol the whole SDK signs
and decrypts through; the key may instead stay on a PKCS#11 token (sdk.pkcs11) or with a remote signing
service (sdk.remote_signer). docs/keys.md compares them."""

from __future__ import annotations

import os
from pathlib import Path

from sdk.crypto import PrivateKey
from sdk.errors import InvalidKeyError
from sdk.keyholder import KeyHolder
from sdk.types import Transaction

__all__ = ["KeyHolder", "Signer"]


class Signer:
    """A KeyHolder whose SM2 private key is in this process. ``repr`` never shows the key.

    Build one with ``Signer.from_pem(path_or_pem, password)`` (an encrypted key file, as ``xinlian keys
    new --password-env`` writes), ``Signer.generate()`` or ``Signer(private_key)``. ``private_key`` is
    this implementation's own: the rest of the SDK uses only the KeyHolder members.
    """

    __slots__ = ("private_key",)

    def __init__(self, private_key: PrivateKey) -> None:
        if not isinstance(private_key, PrivateKey):
            raise InvalidKeyError(f"Signer takes an sdk.crypto.PrivateKey, not {type(private_key).__name__}")
        self.private_key = private_key

    @classmethod
    def generate(cls) -> Signer:
        """Return a signer with a fresh random key."""
        return cls(PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: str | bytes | os.PathLike[str], password: str | bytes | None = None) -> Signer:
        """Load a PKCS#8 PEM key.

        Takes: a path to a PEM file, or the PEM itself (bytes, or str starting with ``-----BEGIN``); the
        password as str (UTF-8) or bytes when the key is encrypted.
        Returns: the signer. Raises: InvalidKeyError (unreadable file, malformed PEM, wrong password).
        """
        if isinstance(pem, bytes):
            data = pem
        elif isinstance(pem, str) and pem.lstrip().startswith("-----BEGIN"):
            data = pem.encode("ascii", errors="replace")
        else:
            try:
                data = Path(pem).read_bytes()
            except OSError as exc:
                raise InvalidKeyError(f"cannot read the key file {pem}: {exc.strerror}") from exc
        secret = password.encode("utf-8") if isinstance(password, str) else password
        return cls(PrivateKey.from_pem(data, secret))

    @property
    def address(self) -> bytes:
        """The 20-byte account address (last 20 bytes of SM3 of the public key)."""
        return self.private_key.address

    @property
    def public_key(self) -> bytes:
        """The 64-byte public key x‖y."""
        return self.private_key.public_key.to_bytes()

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte SM2 signature (default user ID) of ``message``."""
        return self.private_key.sign(message)

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Return the plaintext of an SM2 C1‖C3‖C2 ciphertext made for this key.

        Raises: DecryptionError when it is malformed, altered or made for another key.
        """
        return self.private_key.decrypt(ciphertext)

    def sign_transaction(
        self, *, chain_id: int, to: bytes, data: bytes, gas_limit: int, expiry_height: int
    ) -> Transaction:
        """Return a signed transaction with a fresh random nonce; raises EncodingError for a bad field."""
        return Transaction.create(
            self.private_key,
            chain_id=chain_id,
            to=to,
            data=data,
            gas_limit=gas_limit,
            expiry_height=expiry_height,
        )

    def __repr__(self) -> str:
        return f"Signer(address=0x{self.address.hex()})"
