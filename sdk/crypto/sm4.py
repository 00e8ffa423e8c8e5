"""SM4-GCM (GB/T 32907 block cipher in GCM mode) authenticated encryption through ``cryptography``."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from sdk.errors import CryptoError, DecryptionError, InvalidKeyError

KEY_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16


def _check_key(key: bytes) -> bytes:
    if not isinstance(key, bytes | bytearray | memoryview):
        raise InvalidKeyError(f"an SM4 key must be bytes, not {type(key).__name__}")
    if len(key) != KEY_BYTES:
        raise InvalidKeyError(f"an SM4 key is {KEY_BYTES} bytes, got {len(key)}", length=len(key))
    return bytes(key)


def sm4_gcm_seal(key: bytes, plaintext: bytes, aad: bytes = b"", nonce: bytes | None = None) -> bytes:
    """Return nonce(12) ‖ ciphertext ‖ tag(16) of ``plaintext`` under the 16-byte ``key``.

    ``aad`` is authenticated but not encrypted. ``nonce`` defaults to 12 fresh random bytes (os.urandom);
    pass one only when you can guarantee it is never reused with the same key. Raises InvalidKeyError for a
    key that is not 16 bytes and CryptoError for a nonce that is not 12 bytes.
    """
    k = _check_key(key)
    if nonce is None:
        nonce = os.urandom(NONCE_BYTES)
    elif not isinstance(nonce, bytes) or len(nonce) != NONCE_BYTES:
        raise CryptoError(f"an SM4-GCM nonce is {NONCE_BYTES} bytes")
    encryptor = Cipher(algorithms.SM4(k), modes.GCM(nonce)).encryptor()
    if aad:
        encryptor.authenticate_additional_data(aad)
    body = encryptor.update(plaintext) + encryptor.finalize()
    return nonce + body + encryptor.tag


def sm4_gcm_open(key: bytes, blob: bytes, aad: bytes = b"") -> bytes:
    """Return the plaintext of a nonce ‖ ciphertext ‖ tag blob made by :func:`sm4_gcm_seal`.

    Raises InvalidKeyError for a key that is not 16 bytes and DecryptionError when the blob is too short or
    the key, nonce, ciphertext, tag or ``aad`` do not match.
    """
    k = _check_key(key)
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise DecryptionError(f"an SM4-GCM blob must be bytes, not {type(blob).__name__}")
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise DecryptionError(
            f"an SM4-GCM blob is at least {NONCE_BYTES + TAG_BYTES} bytes (nonce ‖ ciphertext ‖ tag), "
            f"got {len(blob)}",
            length=len(blob),
        )
    data = bytes(blob)
    nonce, body, tag = data[:NONCE_BYTES], data[NONCE_BYTES:-TAG_BYTES], data[-TAG_BYTES:]
    decryptor = Cipher(algorithms.SM4(k), modes.GCM(nonce, tag)).decryptor()
    if aad:
        decryptor.authenticate_additional_data(aad)
    plaintext = decryptor.update(body)
    try:
        return plaintext + decryptor.finalize()
    except InvalidTag as exc:
        raise DecryptionError(
            "SM4-GCM authentication failed: wrong key or associated data, or the blob was altered"
        ) from exc
