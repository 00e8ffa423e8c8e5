"""SM2 (GB/T 32918) shared rules: curve parameters, Z_A, range checks, DER and ciphertext codecs, backends."""

from __future__ import annotations

import functools
import os
import threading
from typing import Any, Protocol

from sdk.crypto.sm3 import sm3
from sdk.errors import CryptoError, DecryptionError, InvalidKeyError, InvalidSignatureError

# --- the recommended curve (GB/T 32918.5) ----------------------------------------------------------
P: int = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A: int = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B: int = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N: int = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
GX: int = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY: int = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0

#: The user ID GB/T 35276 recommends when none is agreed: ASCII "1234567812345678".
DEFAULT_USER_ID: bytes = b"1234567812345678"
#: ENTL is a 16-bit count of ID bits, so an ID holds at most 8191 bytes.
MAX_USER_ID_BYTES: int = 8191
SCALAR_BYTES: int = 32
PUBLIC_KEY_BYTES: int = 64
SIGNATURE_BYTES: int = 64
#: C1 (65 bytes, 04‖x‖y) then C3 (32-byte SM3) then C2 (as long as the plaintext).
CIPHERTEXT_OVERHEAD: int = 1 + 64 + 32

_CURVE_BYTES: bytes = b"".join(v.to_bytes(32, "big") for v in (A, B, GX, GY))


def is_on_curve(x: int, y: int) -> bool:
    """Return whether the affine point (x, y) has coordinates in [0, p-1] and lies on the SM2 curve.

    The curve has cofactor 1, so every such point is in the prime-order group; the identity has no
    affine form and is therefore never accepted.
    """
    if not (0 <= x < P and 0 <= y < P):
        return False
    return (y * y - (x * x * x + A * x + B)) % P == 0


def normalize_public_key(data: bytes) -> bytes:
    """Return the 64-byte x‖y form of a public key given as 64 raw bytes or 65 bytes with a 0x04 prefix.

    Raises InvalidKeyError for a wrong type or length, a compressed or other prefix, or a point that is not
    on the curve.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidKeyError(f"an SM2 public key must be bytes, not {type(data).__name__}")
    raw = bytes(data)
    if len(raw) == PUBLIC_KEY_BYTES + 1:
        if raw[0] != 0x04:
            raise InvalidKeyError(
                f"a 65-byte SM2 public key must start with 0x04 (uncompressed), not 0x{raw[0]:02x}",
                length=len(raw),
            )
        raw = raw[1:]
    elif len(raw) != PUBLIC_KEY_BYTES:
        raise InvalidKeyError(
            f"an SM2 public key is 64 bytes x‖y (or 65 with 0x04), got {len(raw)} bytes", length=len(raw)
        )
    x = int.from_bytes(raw[:32], "big")
    y = int.from_bytes(raw[32:], "big")
    if not is_on_curve(x, y):
        raise InvalidKeyError("the SM2 public key is not a point on the SM2 curve")
    return raw


def validate_private_scalar(d: int) -> None:
    """Return None when ``d`` is a usable SM2 private key, in [1, n-2]; raise InvalidKeyError otherwise.

    n-1 is excluded because signing divides by (1 + d).
    """
    if not 1 <= d <= N - 2:
        raise InvalidKeyError("an SM2 private key must be an integer in [1, n-2]")


def validate_user_id(user_id: bytes) -> bytes:
    """Return ``user_id`` as bytes; raise CryptoError when it is not bytes or longer than 8191 bytes."""
    if not isinstance(user_id, bytes | bytearray):
        raise CryptoError(f"an SM2 user ID must be bytes, not {type(user_id).__name__}")
    if len(user_id) > MAX_USER_ID_BYTES:
        raise CryptoError(
            f"an SM2 user ID is at most {MAX_USER_ID_BYTES} bytes, got {len(user_id)}", length=len(user_id)
        )
    return bytes(user_id)


def z_a_preimage(user_id: bytes, public_key: bytes) -> bytes:
    """Return ENTL_A ‖ ID_A ‖ a ‖ b ‖ x_G ‖ y_G ‖ x_A ‖ y_A, the input whose SM3 is Z_A.

    Takes the user ID (at most 8191 bytes) and the 64-byte public key x‖y; raises CryptoError for a bad ID.
    """
    uid = validate_user_id(user_id)
    return (len(uid) * 8).to_bytes(2, "big") + uid + _CURVE_BYTES + public_key


def compute_z_a(user_id: bytes, public_key: bytes) -> bytes:
    """Return Z_A = SM3(ENTL_A ‖ ID_A ‖ a ‖ b ‖ x_G ‖ y_G ‖ x_A ‖ y_A) (GB/T 32918.2 §5.5).

    Takes the user ID (at most 8191 bytes) and the 64-byte public key x‖y; raises CryptoError for a bad ID.
    """
    return sm3(z_a_preimage(user_id, public_key))


def split_signature(signature: bytes) -> tuple[int, int]:
    """Return (r, s) from a 64-byte r‖s signature, both checked to lie in [1, n-1].

    Raises InvalidSignatureError for a wrong type or length or a component out of range.
    """
    if not isinstance(signature, bytes | bytearray | memoryview):
        raise InvalidSignatureError(f"an SM2 signature must be bytes, not {type(signature).__name__}")
    if len(signature) != SIGNATURE_BYTES:
        raise InvalidSignatureError(
            f"an SM2 signature is 64 bytes r‖s, got {len(signature)} bytes", length=len(signature)
        )
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    if not 1 <= r < N:
        raise InvalidSignatureError("SM2 signature component r is outside [1, n-1]")
    if not 1 <= s < N:
        raise InvalidSignatureError("SM2 signature component s is outside [1, n-1]")
    return r, s


# --- strict DER (only what SM2 needs: SEQUENCE, INTEGER, OCTET STRING) -----------------------------
_SEQUENCE = 0x30
_INTEGER = 0x02
_OCTET_STRING = 0x04


def _der_tlv(tag: int, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        return bytes((tag, n)) + value
    length = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + value


def der_integer(value: int) -> bytes:
    """Return the DER INTEGER encoding of a non-negative integer."""
    return _der_tlv(_INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def der_octet_string(value: bytes) -> bytes:
    """Return the DER OCTET STRING encoding of ``value``."""
    return _der_tlv(_OCTET_STRING, value)


def der_sequence(*items: bytes) -> bytes:
    """Return a DER SEQUENCE of already-encoded items."""
    return _der_tlv(_SEQUENCE, b"".join(items))


def _der_read(data: bytes, offset: int, tag: int, what: str) -> tuple[bytes, int]:
    """Read one TLV with ``tag`` at ``offset``; return (value, next offset); raise ValueError if malformed."""
    if offset + 2 > len(data):
        raise ValueError(f"{what}: truncated")
    if data[offset] != tag:
        raise ValueError(f"{what}: expected tag 0x{tag:02x}, found 0x{data[offset]:02x}")
    first = data[offset + 1]
    offset += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or offset + count > len(data):
            raise ValueError(f"{what}: bad length")
        length = int.from_bytes(data[offset : offset + count], "big")
        if length < 0x80 or data[offset] == 0:
            raise ValueError(f"{what}: length not in minimal form")
        offset += count
    if offset + length > len(data):
        raise ValueError(f"{what}: truncated")
    return data[offset : offset + length], offset + length


def _der_uint(value: bytes, what: str) -> int:
    if not value:
        raise ValueError(f"{what}: empty INTEGER")
    if value[0] & 0x80:
        raise ValueError(f"{what}: negative INTEGER")
    if len(value) > 1 and value[0] == 0 and not value[1] & 0x80:
        raise ValueError(f"{what}: INTEGER not in minimal form")
    return int.from_bytes(value, "big")


def _der_sequence_items(data: bytes, what: str) -> bytes:
    body, end = _der_read(data, 0, _SEQUENCE, what)
    if end != len(data):
        raise ValueError(f"{what}: trailing bytes after the SEQUENCE")
    return body


def signature_to_der(signature: bytes) -> bytes:
    """Return the DER ``SEQUENCE { r INTEGER, s INTEGER }`` of a 64-byte r‖s signature.

    Raises InvalidSignatureError when the input is not 64 bytes.
    """
    if not isinstance(signature, bytes | bytearray | memoryview) or len(signature) != SIGNATURE_BYTES:
        raise InvalidSignatureError("signature_to_der takes a 64-byte r‖s signature")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    return der_sequence(der_integer(r), der_integer(s))


def signature_from_der(der: bytes) -> bytes:
    """Return the 64-byte r‖s form of a strict-DER ``SEQUENCE { r INTEGER, s INTEGER }``.

    Raises InvalidSignatureError for anything else (BER forms, negative or over-long integers, trailing
    bytes). The range [1, n-1] is checked by verification, not here.
    """
    try:
        if not isinstance(der, bytes | bytearray | memoryview):
            raise ValueError(f"expected bytes, not {type(der).__name__}")
        data = bytes(der)
        body = _der_sequence_items(data, "signature")
        r_bytes, offset = _der_read(body, 0, _INTEGER, "signature r")
        s_bytes, offset = _der_read(body, offset, _INTEGER, "signature s")
        if offset != len(body):
            raise ValueError("signature: extra items in the SEQUENCE")
        r = _der_uint(r_bytes, "signature r")
        s = _der_uint(s_bytes, "signature s")
        if r.bit_length() > 256 or s.bit_length() > 256:
            raise ValueError("signature: r or s longer than 256 bits")
    except ValueError as exc:
        raise InvalidSignatureError(f"malformed DER SM2 signature ({exc})") from exc
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def ciphertext_c1c3c2_to_der(ciphertext: bytes) -> bytes:
    """Return the GM/T 0009 ASN.1 form ``SEQUENCE {x, y, hash, ciphertext}`` of a C1C3C2 ciphertext.

    Raises DecryptionError when the input is too short, C1 is not uncompressed or not on the curve.
    """
    x, y, c3, c2 = split_ciphertext(ciphertext)
    return der_sequence(der_integer(x), der_integer(y), der_octet_string(c3), der_octet_string(c2))


def ciphertext_der_to_c1c3c2(der: bytes) -> bytes:
    """Return the C1C3C2 form (04‖x‖y‖C3‖C2) of a GM/T 0009 ASN.1 SM2 ciphertext.

    Raises DecryptionError when the encoding is malformed.
    """
    try:
        body = _der_sequence_items(der, "ciphertext")
        x_bytes, offset = _der_read(body, 0, _INTEGER, "ciphertext x")
        y_bytes, offset = _der_read(body, offset, _INTEGER, "ciphertext y")
        c3, offset = _der_read(body, offset, _OCTET_STRING, "ciphertext hash")
        c2, offset = _der_read(body, offset, _OCTET_STRING, "ciphertext body")
        if offset != len(body):
            raise ValueError("ciphertext: extra items in the SEQUENCE")
        x = _der_uint(x_bytes, "ciphertext x")
        y = _der_uint(y_bytes, "ciphertext y")
        if x >= P or y >= P or len(c3) != 32:
            raise ValueError("ciphertext: coordinate or hash out of range")
    except ValueError as exc:
        raise DecryptionError(f"malformed ASN.1 SM2 ciphertext ({exc})") from exc
    return b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big") + c3 + c2


def split_ciphertext(ciphertext: bytes) -> tuple[int, int, bytes, bytes]:
    """Return (x1, y1, C3, C2) of a C1C3C2 ciphertext with C1 = 04‖x1‖y1 checked to be on the curve.

    Raises DecryptionError for a wrong type, a ciphertext shorter than 98 bytes, a compressed or otherwise
    prefixed C1, or a C1 off the curve.
    """
    if not isinstance(ciphertext, bytes | bytearray | memoryview):
        raise DecryptionError(f"an SM2 ciphertext must be bytes, not {type(ciphertext).__name__}")
    data = bytes(ciphertext)
    if len(data) < CIPHERTEXT_OVERHEAD + 1:
        raise DecryptionError(
            f"an SM2 ciphertext is at least {CIPHERTEXT_OVERHEAD + 1} bytes (C1‖C3‖C2), got {len(data)}",
            length=len(data),
        )
    if data[0] != 0x04:
        raise DecryptionError(f"SM2 ciphertext C1 must start with 0x04, not 0x{data[0]:02x}")
    x = int.from_bytes(data[1:33], "big")
    y = int.from_bytes(data[33:65], "big")
    if not is_on_curve(x, y):
        raise DecryptionError("SM2 ciphertext C1 is not a point on the SM2 curve")
    return x, y, data[65:97], data[97:]


# --- backends ----------------------------------------------------------------------------------------
class SM2Backend(Protocol):
    """What an SM2 implementation provides; keys hold one opaque handle per backend they have used."""

    name: str

    def sm3(self, data: bytes) -> bytes:
        """Return SM3(data) computed by this backend's own hash."""
        ...

    def load_private(self, d: int) -> Any:
        """Return a handle for private key ``d`` (already checked to be in [1, n-2])."""
        ...

    def load_public(self, public_key: bytes) -> Any:
        """Return a handle for the 64-byte public key (already checked to be on the curve)."""
        ...

    def derive_public(self, d: int) -> bytes:
        """Return the 64-byte public key x‖y of d·G."""
        ...

    def sign_digest(self, private: Any, e: bytes) -> tuple[int, int]:
        """Return (r, s) signing the 32-byte e = SM3(Z_A ‖ M) with a fresh CSPRNG nonce."""
        ...

    def verify_digest(self, public: Any, e: bytes, r: int, s: int) -> bool:
        """Return whether (r, s), both in [1, n-1], is a valid signature of e under the key."""
        ...

    def encrypt(self, public: Any, plaintext: bytes) -> bytes:
        """Return the GB/T 32918.4 ciphertext C1‖C3‖C2 of a non-empty plaintext."""
        ...

    def decrypt(self, private: Any, ciphertext: bytes) -> bytes:
        """Return the plaintext of a C1C3C2 ciphertext; raise DecryptionError when it does not check."""
        ...


BACKEND_NAMES: tuple[str, ...] = ("tongsuo", "gmssl")
#: Environment variable naming the default backend ("tongsuo" or "gmssl").
BACKEND_ENV_VAR: str = "XINLIAN_SM2_BACKEND"
#: Why ``tongsuo`` is missing where tongsuopy is not installed (the wheel's platform marker leaves it out).
TONGSUO_MISSING: str = (
    "tongsuopy is not installed (it ships wheels only for x86-64 Linux and Windows and for macOS); "
    "the gmssl backend signs and verifies without it"
)

_backends: dict[str, SM2Backend] = {}


@functools.cache
def tongsuo_available() -> bool:
    """Return whether the ``tongsuo`` backend can load: tongsuopy and its compiled bindings import."""
    try:
        import sdk.crypto._tongsuo  # noqa: F401 - imported for the check; get_backend uses it
    except ImportError:
        return False
    return True


@functools.cache
def default_backend_name() -> str:
    """Return the default backend's name: XINLIAN_SM2_BACKEND when set (read once), else ``tongsuo``, or
    ``gmssl`` where tongsuopy is not installed (light installs on platforms it has no wheel for)."""
    configured = os.environ.get(BACKEND_ENV_VAR)
    if configured:
        return configured
    return "tongsuo" if tongsuo_available() else "gmssl"


_backends_lock = threading.Lock()


def get_backend(name: str | None = None) -> SM2Backend:
    """Return the SM2 backend called ``name``, or the default one when ``name`` is None.

    The default is ``tongsuo`` unless the XINLIAN_SM2_BACKEND environment variable names another, or
    ``gmssl`` where tongsuopy is not installed. Raises CryptoError for an unknown name, and with code
    ``backend_unavailable`` for ``tongsuo`` where tongsuopy is not installed.
    """
    if name is None:
        name = default_backend_name()
    backend = _backends.get(name)
    if backend is not None:
        return backend
    with _backends_lock:
        if name not in _backends:
            if name == "tongsuo":
                if not tongsuo_available():
                    raise CryptoError(
                        f"the tongsuo SM2 backend is unavailable: {TONGSUO_MISSING}",
                        code="backend_unavailable",
                        backend=name,
                    )
                from sdk.crypto._tongsuo import TongsuoBackend

                _backends[name] = TongsuoBackend()
            elif name == "gmssl":
                from sdk.crypto._gmssl import GmsslBackend

                _backends[name] = GmsslBackend()
            else:
                raise CryptoError(
                    f"unknown SM2 backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}", backend=name
                )
        return _backends[name]
