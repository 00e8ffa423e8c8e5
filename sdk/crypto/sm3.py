"""SM3 hashing (GB/T 32905) through OpenSSL via ``cryptography``: one-shot and incremental."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, hmac as _hmac

DIGEST_SIZE = 32


def sm3(data: bytes) -> bytes:
    """Return the 32-byte SM3 digest of ``data``."""
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    """Return HMAC-SM3 (RFC 2104 over SM3, GB/T 15852.2) of ``data`` under ``key``: 32 bytes."""
    h = _hmac.HMAC(key, hashes.SM3())
    h.update(data)
    return h.finalize()


class SM3:
    """Incremental SM3: ``h = SM3(); h.update(a); h.update(b); h.digest()``.

    ``digest()`` does not end the hash: more data may be added afterwards.
    """

    digest_size = DIGEST_SIZE

    def __init__(self, data: bytes = b"") -> None:
        self._h = hashes.Hash(hashes.SM3())
        if data:
            self._h.update(data)

    def update(self, data: bytes) -> SM3:
        self._h.update(data)
        return self

    def copy(self) -> SM3:
        clone = SM3.__new__(SM3)
        clone._h = self._h.copy()
        return clone

    def digest(self) -> bytes:
        return self._h.copy().finalize()

    def hexdigest(self) -> str:
        return self.digest().hex()
