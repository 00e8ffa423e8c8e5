"""The fast SM2 backend: Tongsuo (OpenSSL fork with SM2) through tongsuopy's cffi bindings.

Tongsuo's EVP_DigestSign path would apply Z_A itself but only with the default ID (tongsuopy exposes no
EVP_PKEY_CTX_set1_id), so we compute e = SM3(Z_A ‖ M) in Python and use the raw-digest EVP_PKEY_sign /
EVP_PKEY_verify path, which signs e as given. Nonces come from Tongsuo's RAND (a CSPRNG).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cryptography.hazmat.primitives import hashes
from tongsuopy.backends._tongsuo import ffi, lib
from tongsuopy.backends.tongsuo import backend as _ts_backend
from tongsuopy.crypto import serialization
from tongsuopy.crypto.asymciphers import ec

from sdk.crypto.sm2 import (
    ciphertext_c1c3c2_to_der,
    ciphertext_der_to_c1c3c2,
    der_integer,
    der_sequence,
    signature_from_der,
)
from sdk.errors import CryptoError, DecryptionError

_NULL = ffi.NULL
_MAX_DER_SIGNATURE = 80


class TongsuoBackend:
    """SM2 through Tongsuo; handles are tongsuopy key objects (they own the EVP_PKEY)."""

    name = "tongsuo"

    def sm3(self, data: bytes) -> bytes:
        """Return SM3(data) (OpenSSL through ``cryptography``: the fastest SM3 available here)."""
        h = hashes.Hash(hashes.SM3())
        h.update(data)
        return h.finalize()

    def load_private(self, d: int) -> Any:
        """Return a tongsuopy SM2 private key for scalar ``d``."""
        return ec.derive_private_key(d, ec.SM2())

    def load_public(self, public_key: bytes) -> Any:
        """Return a tongsuopy SM2 public key for the 64-byte x‖y (already on the curve)."""
        try:
            return _ts_backend.load_elliptic_curve_public_bytes(ec.SM2(), b"\x04" + public_key)
        except ValueError as exc:
            raise CryptoError(f"Tongsuo refused the SM2 public key ({exc})") from exc

    def derive_public(self, d: int) -> bytes:
        """Return the 64-byte public key of ``d`` computed by Tongsuo."""
        point: bytes = (
            ec.derive_private_key(d, ec.SM2())
            .public_key()
            .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        )
        return point[1:]

    def sign_digest(self, private: Any, e: bytes) -> tuple[int, int]:
        """Return (r, s) for the 32-byte digest e (Tongsuo draws the nonce from its CSPRNG)."""
        with _operation(private, "sign") as ctx:
            buf = ffi.new("unsigned char[]", _MAX_DER_SIGNATURE)
            length = ffi.new("size_t *", _MAX_DER_SIGNATURE)
            if lib.EVP_PKEY_sign(ctx, buf, length, e, len(e)) != 1:
                raise _tongsuo_error("EVP_PKEY_sign")
            der = bytes(ffi.buffer(buf, length[0]))
        raw = signature_from_der(der)
        return int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")

    def verify_digest(self, public: Any, e: bytes, r: int, s: int) -> bool:
        """Return whether (r, s) verifies for digest e under the public key."""
        der = der_sequence(der_integer(r), der_integer(s))
        with _operation(public, "verify") as ctx:
            ok = lib.EVP_PKEY_verify(ctx, der, len(der), e, len(e))
        if ok != 1:
            lib.ERR_clear_error()
        return bool(ok == 1)

    def encrypt(self, public: Any, plaintext: bytes) -> bytes:
        """Return C1‖C3‖C2 (Tongsuo emits the GM/T 0009 ASN.1 form, converted here).

        GB/T 32918.4 has the encrypter draw a new k when the KDF mask t is all zero (decrypters refuse such
        a ciphertext); Tongsuo does not. C2 = M ⊕ t equals M exactly when t is all zero: then encrypt again.
        """
        while True:
            ciphertext = self._encrypt_once(public, plaintext)
            if not plaintext or ciphertext[97:] != plaintext:
                return ciphertext

    def _encrypt_once(self, public: Any, plaintext: bytes) -> bytes:
        with _operation(public, "encrypt") as ctx:
            length = ffi.new("size_t *", 0)
            if lib.EVP_PKEY_encrypt(ctx, _NULL, length, plaintext, len(plaintext)) != 1:
                raise _tongsuo_error("EVP_PKEY_encrypt")
            buf = ffi.new("unsigned char[]", length[0])
            if lib.EVP_PKEY_encrypt(ctx, buf, length, plaintext, len(plaintext)) != 1:
                raise _tongsuo_error("EVP_PKEY_encrypt")
            der = bytes(ffi.buffer(buf, length[0]))
        return ciphertext_der_to_c1c3c2(der)

    def decrypt(self, private: Any, ciphertext: bytes) -> bytes:
        """Return the plaintext of C1‖C3‖C2; raise DecryptionError when C3 does not match."""
        der = ciphertext_c1c3c2_to_der(ciphertext)
        with _operation(private, "decrypt") as ctx:
            buf = ffi.new("unsigned char[]", len(der))
            length = ffi.new("size_t *", len(der))
            ok = lib.EVP_PKEY_decrypt(ctx, buf, length, der, len(der))
            plaintext = bytes(ffi.buffer(buf, length[0])) if ok == 1 else b""
        if ok != 1:
            lib.ERR_clear_error()
            raise DecryptionError("SM2 decryption failed: the ciphertext was altered or is for another key")
        return plaintext


@contextmanager
def _operation(key: Any, operation: str) -> Iterator[Any]:
    """An EVP_PKEY_CTX for ``key``, initialised for ``operation`` (sign, verify, encrypt or decrypt) with
    ``EVP_PKEY_<operation>_init`` and freed when the block ends, whatever happens in it."""
    ctx = lib.EVP_PKEY_CTX_new(key._evp_pkey, _NULL)
    if ctx == _NULL:
        raise _tongsuo_error("EVP_PKEY_CTX_new")
    try:
        init = f"EVP_PKEY_{operation}_init"
        if getattr(lib, init)(ctx) != 1:
            raise _tongsuo_error(init)
        yield ctx
    finally:
        lib.EVP_PKEY_CTX_free(ctx)


def _tongsuo_error(call: str) -> CryptoError:
    """Return a CryptoError naming the failed Tongsuo call and its error queue (which it clears)."""
    reasons = []
    while (code := lib.ERR_get_error()) != 0:
        buf = ffi.new("char[]", 256)
        lib.ERR_error_string_n(code, buf, 256)
        reasons.append(ffi.string(buf).decode("ascii", "replace"))
    return CryptoError(f"Tongsuo {call} failed" + (f": {'; '.join(reasons)}" if reasons else ""), call=call)
