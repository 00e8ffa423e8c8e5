"""The reference SM2 backend: pure-Python gmssl point arithmetic and SM3, with every nonce from ``secrets``.

gmssl's own nonce source (``func.random_hex``) uses ``random.choice``, which is not a CSPRNG, so nothing
here lets gmssl pick k: signing passes k to ``CryptSM2.sign`` and encryption is written out below on top of
gmssl's scalar multiplication and SM3. Verification and decryption are also written out because gmssl's
versions miss checks (no C3 comparison on decrypt, no handling of sG = tP or sG = -tP on verify).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from gmssl import sm3 as _gm_sm3
from gmssl.sm2 import CryptSM2

from sdk.crypto.sm2 import GX, GY, N, P, split_ciphertext
from sdk.errors import CryptoError, DecryptionError

_G_HEX = f"{GX:064x}{GY:064x}"
#: An instance used only for its point arithmetic (``_kg`` = scalar multiplication); it holds no key.
_ARITH = CryptSM2(private_key="", public_key="")


@dataclass(frozen=True, slots=True)
class _GmPrivate:
    d: int
    signer: CryptSM2


@dataclass(frozen=True, slots=True)
class _GmPublic:
    point_hex: str


def _sm3(data: bytes) -> bytes:
    return bytes.fromhex(_gm_sm3.sm3_hash(list(data)))


def _mul(k: int, point_hex: str) -> tuple[int, int] | None:
    """Return k·P as affine ints, or None for the point at infinity; k must be in [1, n-1]."""
    out = _ARITH._kg(k, point_hex)
    if out is None:
        return None
    return int(out[:64], 16), int(out[64:], 16)


def _add(p1: tuple[int, int], p2: tuple[int, int]) -> tuple[int, int] | None:
    """Return p1 + p2 in affine coordinates (None for infinity), handling doubling and inverses."""
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2:
        if (y1 + y2) % P == 0:
            return None
        lam = (3 * x1 * x1 + (P - 3)) * pow(2 * y1, -1, P) % P
    else:
        lam = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (lam * lam - x1 - x2) % P
    return x3, (lam * (x1 - x3) - y1) % P


def _kdf_mask(x2: int, y2: int, length: int) -> int:
    """Return the SM3-KDF(x2‖y2, length) output as an integer (0 means the all-zero mask)."""
    z = f"{x2:064x}{y2:064x}".encode("ascii")
    return int(_gm_sm3.sm3_kdf(z, length), 16)


class GmsslBackend:
    """SM2 through gmssl 3.2.2 (pure Python); slow, independent of Tongsuo, used to cross-check it."""

    name = "gmssl"

    def sm3(self, data: bytes) -> bytes:
        """Return SM3(data) computed by gmssl's pure-Python SM3."""
        return _sm3(data)

    def load_private(self, d: int) -> Any:
        """Return a gmssl signer for scalar ``d``."""
        return _GmPrivate(d, CryptSM2(private_key=f"{d:064x}", public_key=""))

    def load_public(self, public_key: bytes) -> Any:
        """Return the hex form gmssl's arithmetic takes for the 64-byte public key."""
        return _GmPublic(public_key.hex())

    def derive_public(self, d: int) -> bytes:
        """Return the 64-byte public key d·G computed by gmssl."""
        point = _mul(d, _G_HEX)
        if point is None:
            raise CryptoError("gmssl produced the point at infinity for a private key in range")
        return point[0].to_bytes(32, "big") + point[1].to_bytes(32, "big")

    def sign_digest(self, private: Any, e: bytes) -> tuple[int, int]:
        """Return (r, s) for digest e with k from ``secrets``, redrawn in the rare r=0, r+k=n, s=0 cases."""
        while True:
            signature = _sign_with_k(private, e, 1 + secrets.randbelow(N - 1))
            if signature is not None:
                return signature

    def verify_digest(self, public: Any, e: bytes, r: int, s: int) -> bool:
        """Return whether (r, s) verifies for digest e (GB/T 32918.2 §7.1, steps B5-B7)."""
        t = (r + s) % N
        if t == 0:
            return False
        s_g = _mul(s, _G_HEX)
        t_p = _mul(t, public.point_hex)
        if s_g is None or t_p is None:
            return False
        point = _add(s_g, t_p)
        if point is None:
            return False
        return (int.from_bytes(e, "big") + point[0]) % N == r

    def encrypt(self, public: Any, plaintext: bytes) -> bytes:
        """Return C1‖C3‖C2 with k drawn by ``secrets`` (redrawn when the KDF mask is all zero)."""
        while True:
            ciphertext = _encrypt_with_k(public, plaintext, 1 + secrets.randbelow(N - 1))
            if ciphertext is not None:
                return ciphertext

    def decrypt(self, private: Any, ciphertext: bytes) -> bytes:
        """Return the plaintext of C1‖C3‖C2; raise DecryptionError when C3 does not match."""
        x1, y1, c3, c2 = split_ciphertext(ciphertext)
        shared = _mul(private.d, f"{x1:064x}{y1:064x}")
        if shared is None:
            raise DecryptionError("SM2 ciphertext C1 gives the point at infinity")
        x2, y2 = shared
        mask = _kdf_mask(x2, y2, len(c2))
        if mask == 0:
            raise DecryptionError("SM2 ciphertext gives an all-zero KDF mask")
        plaintext = (int.from_bytes(c2, "big") ^ mask).to_bytes(len(c2), "big")
        expected = _sm3(x2.to_bytes(32, "big") + plaintext + y2.to_bytes(32, "big"))
        if not hmac.compare_digest(expected, c3):
            raise DecryptionError("SM2 decryption failed: the ciphertext was altered or is for another key")
        return plaintext


def _sign_with_k(private: Any, e: bytes, k: int) -> tuple[int, int] | None:
    """Return (r, s) for digest e with the given nonce k, or None when k must be redrawn.

    Private to the SDK: a fixed k is only for reproducing the standards' examples in tests.
    """
    signature = private.signer.sign(e, f"{k:064x}")
    if signature is None:
        return None
    return int(signature[:64], 16), int(signature[64:], 16)


def _encrypt_with_k(public: Any, plaintext: bytes, k: int) -> bytes | None:
    """Return C1‖C3‖C2 for the given nonce k, or None when k must be redrawn (all-zero mask).

    Private to the SDK: a fixed k is only for reproducing the standards' examples in tests.
    """
    c1 = _mul(k, _G_HEX)
    shared = _mul(k, public.point_hex)
    if c1 is None or shared is None:
        return None
    x2, y2 = shared
    mask = _kdf_mask(x2, y2, len(plaintext))
    if mask == 0:
        return None
    c2 = (int.from_bytes(plaintext, "big") ^ mask).to_bytes(len(plaintext), "big")
    c3 = _sm3(x2.to_bytes(32, "big") + plaintext + y2.to_bytes(32, "big"))
    return b"\x04" + c1[0].to_bytes(32, "big") + c1[1].to_bytes(32, "big") + c3 + c2
