"""SM2 key objects: generation, raw/hex/PEM forms, signing and verifying with Z_A, encryption, addresses."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar

from sdk.crypto.sm2 import (
    DEFAULT_USER_ID,
    N,
    SM2Backend,
    get_backend,
    normalize_public_key,
    split_signature,
    validate_private_scalar,
    z_a_preimage,
)
from sdk.crypto.sm3 import sm3
from sdk.errors import CryptoError, InvalidKeyError, InvalidSignatureError

ADDRESS_BYTES = 20
_Z_CACHE_LIMIT = 16
_K = TypeVar("_K")  # what a backend loads a key from: the 64-byte point or the scalar


def address_from_public_key(public_key: bytes) -> bytes:
    """Return the 20-byte account address: the last 20 bytes of SM3(x‖y) (FISCO BCOS GM rule).

    Takes the 64-byte x‖y public key (65 bytes with a 0x04 prefix is also accepted); raises InvalidKeyError
    when it is malformed or not on the curve.
    """
    return sm3(normalize_public_key(public_key))[-ADDRESS_BYTES:]


def _as_message(message: object) -> bytes:
    if isinstance(message, bytes):
        return message
    if isinstance(message, bytearray | memoryview):
        return bytes(message)
    raise TypeError(f"an SM2 message must be bytes, not {type(message).__name__}")


class PublicKey:
    """An SM2 public key (a point on the curve, checked on construction); immutable, hashable, ordered.

    Backend key objects and Z_A values are cached inside the key so repeated verifications do not re-parse.
    """

    __slots__ = ("_address", "_handles", "_raw", "_z_cache")

    def __init__(self, raw: bytes) -> None:
        """Take 64 raw bytes x‖y (or 65 with 0x04); raise InvalidKeyError when malformed or off the curve."""
        self._raw = normalize_public_key(raw)
        self._handles: dict[str, Any] = {}
        self._z_cache: dict[tuple[str, bytes], bytes] = {}
        self._address: bytes | None = None

    # --- construction and forms -------------------------------------------------------------------------
    @classmethod
    def from_bytes(cls, data: bytes) -> PublicKey:
        """Return the key for 64 raw bytes x‖y or 65 bytes 04‖x‖y; raise InvalidKeyError otherwise."""
        return cls(data)

    @classmethod
    def from_hex(cls, text: str) -> PublicKey:
        """Return the key for the hex of 64 or 65 bytes (an optional 0x prefix); raise InvalidKeyError."""
        return cls(_decode_hex(text, "public key"))

    @classmethod
    def from_pem(cls, pem: bytes | str) -> PublicKey:
        """Return the key in an SM2 SubjectPublicKeyInfo PEM; raise InvalidKeyError for anything else."""
        data = _pem_bytes(pem)
        modules = _pem_modules()
        if modules is None:
            from sdk.crypto import pkcs8  # only where tongsuopy is missing: it costs an import otherwise

            return cls(pkcs8.read_public_key(data))
        serialization, ec = modules
        try:
            loaded = serialization.load_pem_public_key(data)
            if not isinstance(loaded, ec.EllipticCurvePublicKey) or loaded.curve.name != "SM2":
                raise ValueError("not an SM2 key")
            point = loaded.public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        except InvalidKeyError:
            raise
        except Exception as exc:  # tongsuopy raises ValueError, TypeError and UnsupportedAlgorithm
            raise InvalidKeyError(f"not an SM2 public key PEM ({_reason(exc)})") from exc
        return cls(point)

    def to_bytes(self) -> bytes:
        """Return the 64-byte x‖y form."""
        return self._raw

    def to_hex(self) -> str:
        """Return the 128-hex-digit x‖y form (no prefix)."""
        return self._raw.hex()

    def to_pem(self) -> bytes:
        """Return the SubjectPublicKeyInfo PEM (id-ecPublicKey with the SM2 curve OID 1.2.156.10197.1.301)."""
        modules = _pem_modules()
        if modules is None:
            from sdk.crypto import pkcs8

            return pkcs8.write_public_key(b"\x04" + self._raw)
        serialization, _ = modules
        handle = self._handle(get_backend("tongsuo"))
        pem: bytes = handle.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem

    @property
    def address(self) -> bytes:
        """The 20-byte address: the last 20 bytes of SM3(x‖y)."""
        if self._address is None:
            self._address = sm3(self._raw)[-ADDRESS_BYTES:]
        return self._address

    # --- operations -------------------------------------------------------------------------------------
    def verify(
        self,
        message: bytes,
        signature: bytes,
        *,
        user_id: bytes = DEFAULT_USER_ID,
        backend: str | None = None,
    ) -> None:
        """Return None when ``signature`` (64 bytes r‖s) is a GB/T 32918.2 signature of ``message``.

        e = SM3(Z_A ‖ message) with Z_A from ``user_id`` and this key. ``backend`` picks "tongsuo" or
        "gmssl" (default: the configured one). Raises InvalidSignatureError when the signature is malformed,
        r or s is outside [1, n-1], or it does not verify; CryptoError for a bad user ID or backend name.
        """
        r, s = split_signature(signature)
        be = get_backend(backend)
        e = be.sm3(self._z_a(user_id, be) + _as_message(message))
        if not be.verify_digest(self._handle(be), e, r, s):
            raise InvalidSignatureError(
                "SM2 signature does not verify for this public key, user ID and message",
                address=self.address.hex(),
            )

    def is_valid_signature(
        self, message: bytes, signature: bytes, *, user_id: bytes = DEFAULT_USER_ID
    ) -> bool:
        """Return whether :meth:`verify` would succeed (for filters; callers acting on data should verify)."""
        try:
            self.verify(message, signature, user_id=user_id)
        except InvalidSignatureError:
            return False
        return True

    def encrypt(self, plaintext: bytes, *, backend: str | None = None) -> bytes:
        """Return the GB/T 32918.4 ciphertext C1‖C3‖C2 (C1 = 04‖x‖y) of a non-empty ``plaintext``.

        Raises CryptoError for an empty plaintext (the standard's KDF mask would be empty).
        """
        data = _as_message(plaintext)
        if not data:
            raise CryptoError("SM2 encryption needs a non-empty plaintext")
        be = get_backend(backend)
        return be.encrypt(self._handle(be), data)

    # --- internals --------------------------------------------------------------------------------------
    def _handle(self, be: SM2Backend) -> Any:
        return _backend_handle(self._handles, be, be.load_public, self._raw)

    def _z_a(self, user_id: bytes, be: SM2Backend) -> bytes:
        z = self._z_cache.get((be.name, user_id)) if isinstance(user_id, bytes) else None
        if z is None:
            preimage = z_a_preimage(user_id, self._raw)  # validates the ID
            z = be.sm3(preimage)
            if len(self._z_cache) >= _Z_CACHE_LIMIT:
                self._z_cache.clear()
            self._z_cache[(be.name, bytes(user_id))] = z
        return z

    # --- value semantics --------------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PublicKey):
            return NotImplemented
        return self._raw == other._raw

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, PublicKey):
            return NotImplemented
        return self._raw < other._raw

    def __hash__(self) -> int:
        return hash((PublicKey, self._raw))

    def __repr__(self) -> str:
        return f"PublicKey({self._raw.hex()})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (PublicKey, (self._raw,))


class PrivateKey:
    """An SM2 private key d in [1, n-2]. Its repr never shows d; equality is constant-time.

    Build one with :meth:`generate`, :meth:`from_bytes`, :meth:`from_hex` or :meth:`from_pem`.
    """

    __slots__ = ("_d", "_handles", "_public")

    def __init__(self, secret: int) -> None:
        """Take the scalar d; raise InvalidKeyError unless it is an int in [1, n-2]."""
        if not isinstance(secret, int) or isinstance(secret, bool):
            raise InvalidKeyError(
                f"PrivateKey takes the scalar as an int, not {type(secret).__name__}; "
                "use PrivateKey.from_bytes/from_hex/from_pem for encoded keys"
            )
        validate_private_scalar(secret)
        self._d = secret
        self._handles: dict[str, Any] = {}
        self._public: PublicKey | None = None

    # --- construction and forms -------------------------------------------------------------------------
    @classmethod
    def generate(cls) -> PrivateKey:
        """Return a new key with d drawn uniformly from [1, n-2] by ``secrets``."""
        return cls(1 + secrets.randbelow(N - 2))

    @classmethod
    def from_bytes(cls, data: bytes) -> PrivateKey:
        """Return the key for the 32-byte big-endian d; raise InvalidKeyError for another length or range."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidKeyError(f"an SM2 private key must be bytes, not {type(data).__name__}")
        if len(data) != 32:
            raise InvalidKeyError(f"an SM2 private key is 32 bytes, got {len(data)}", length=len(data))
        return cls(int.from_bytes(data, "big"))

    @classmethod
    def from_hex(cls, text: str) -> PrivateKey:
        """Return the key for 64 hex digits (an optional 0x prefix); raise InvalidKeyError otherwise."""
        return cls.from_bytes(_decode_hex(text, "private key"))

    @classmethod
    def from_pem(cls, pem: bytes | str, password: bytes | None = None) -> PrivateKey:
        """Return the key in an SM2 PKCS#8 PEM, decrypting it with ``password`` when it is encrypted.

        Raises InvalidKeyError for malformed PEM, a missing, unexpected or wrong password, or a key that is
        not SM2.
        """
        data = _pem_bytes(pem)
        if password is not None and not isinstance(password, bytes):
            raise InvalidKeyError(f"a PEM password must be bytes, not {type(password).__name__}")
        from sdk.crypto import pkcs8  # a fallback where tongsuopy is missing; always the work-factor check

        modules = _pem_modules()
        if modules is None:
            return cls._from_pem_fallback(data, password)
        iterations = pkcs8.pbkdf2_iterations(data)
        if iterations is not None and not 1 <= iterations <= pkcs8.MAX_PBKDF2_ITERATIONS:
            raise InvalidKeyError(
                f"PBKDF2 iteration count {iterations} is out of range", iterations=iterations
            )
        serialization, ec = modules
        try:
            loaded = serialization.load_pem_private_key(data, password)
            if not isinstance(loaded, ec.EllipticCurvePrivateKey) or loaded.curve.name != "SM2":
                raise ValueError("not an SM2 key")
            d = loaded.private_numbers().private_value
            stored = loaded.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        except Exception as exc:  # tongsuopy raises ValueError, TypeError and UnsupportedAlgorithm
            if password is not None and b"ENCRYPTED" in data:
                # A wrong password usually fails the padding check ("Bad decrypt"), but about once in 256
                # tries the padding happens to be valid and the garbage fails to parse instead: same cause.
                raise InvalidKeyError(
                    "cannot load the SM2 private key PEM: Incorrect password, or the encrypted key is "
                    f"corrupted ({_reason(exc)})"
                ) from exc
            raise InvalidKeyError(f"cannot load the SM2 private key PEM ({_reason(exc)})") from exc
        if not isinstance(d, int):
            raise InvalidKeyError("cannot load the SM2 private key PEM (no private scalar)")
        return cls(d)._with_stored_point(stored)

    @classmethod
    def _from_pem_fallback(cls, data: bytes, password: bytes | None) -> PrivateKey:
        """``from_pem`` where tongsuopy is not installed: sdk.crypto.pkcs8 reads the file."""
        from sdk.crypto import pkcs8

        d, stored = pkcs8.read_private_key_file(data, password)
        return cls(d)._with_stored_point(stored)

    def _with_stored_point(self, stored: bytes | None) -> PrivateKey:
        """This key, once the public point its file stores (if any) is the scalar's own: a file whose point
        was swapped would show `openssl pkey -pubout` (and whoever reads the point) another address than
        the one this key signs as."""
        if stored is None:
            return self
        xy = self.public_key.to_bytes()
        odd = xy[-1] & 1
        # the point's X9.62 forms: uncompressed 04‖x‖y, compressed 02/03‖x, hybrid 06/07‖x‖y
        if stored not in (b"\x04" + xy, bytes([2 + odd]) + xy[:32], bytes([6 + odd]) + xy):
            raise InvalidKeyError("the SM2 private key PEM stores a public key that is not its private key's")
        return self

    def to_bytes(self) -> bytes:
        """Return the secret as 32 big-endian bytes. Handle with care."""
        return self._d.to_bytes(32, "big")

    def to_hex(self) -> str:
        """Return the secret as 64 hex digits. Handle with care."""
        return self.to_bytes().hex()

    def to_pem(self, password: bytes | None = None) -> bytes:
        """Return PKCS#8 PEM (SM2 curve OID 1.2.156.10197.1.301), encrypted when ``password`` is given.

        Encryption is PBES2 (PBKDF2-HMAC-SHA256 with a 16-byte salt and 600,000 iterations, SM4-CBC), which
        Tongsuo and OpenSSL open. Raises CryptoError for an empty, over-long, non-bytes or NUL-containing
        password.
        """
        if password is not None and (not isinstance(password, bytes) or not password or len(password) > 1023):
            raise CryptoError("a PEM password must be 1 to 1023 bytes")
        if password is not None and b"\x00" in password:
            # HMAC zero-pads its key, so b"\x00" derives the same PBKDF2 key as the empty password,
            # which OpenSSL tries when none is given: such a file would open without a password.
            raise CryptoError("a PEM password must not contain NUL bytes")
        modules = _pem_modules()
        if modules is None or password is not None:
            # an encrypted key always: tongsuopy's own would take 2,048 PBKDF2 rounds (sdk/crypto/pkcs8.py)
            from sdk.crypto import pkcs8

            return pkcs8.write_private_key(self._d, b"\x04" + self.public_key.to_bytes(), password)
        serialization, _ = modules
        handle = self._handle(get_backend("tongsuo"))
        pem: bytes = handle.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return pem

    @property
    def public_key(self) -> PublicKey:
        """The matching public key d·G (computed once)."""
        if self._public is None:
            self._public = PublicKey(get_backend().derive_public(self._d))
        return self._public

    @property
    def address(self) -> bytes:
        """The 20-byte address of the public key."""
        return self.public_key.address

    # --- operations -------------------------------------------------------------------------------------
    def sign(self, message: bytes, *, user_id: bytes = DEFAULT_USER_ID, backend: str | None = None) -> bytes:
        """Return the 64-byte r‖s GB/T 32918.2 signature of ``message`` with a fresh CSPRNG nonce.

        e = SM3(Z_A ‖ message), Z_A from ``user_id`` (at most 8191 bytes) and the public key. ``backend``
        picks "tongsuo" or "gmssl". Raises CryptoError for a bad user ID or backend name.
        """
        be = get_backend(backend)
        e = be.sm3(self.public_key._z_a(user_id, be) + _as_message(message))
        r, s = be.sign_digest(self._handle(be), e)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def decrypt(self, ciphertext: bytes, *, backend: str | None = None) -> bytes:
        """Return the plaintext of a GB/T 32918.4 C1‖C3‖C2 ciphertext made for this key.

        Raises DecryptionError when the ciphertext is malformed, altered, or made for another key.
        """
        be = get_backend(backend)
        return be.decrypt(self._handle(be), ciphertext)

    # --- internals --------------------------------------------------------------------------------------
    def _handle(self, be: SM2Backend) -> Any:
        return _backend_handle(self._handles, be, be.load_private, self._d)

    # --- value semantics --------------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PrivateKey):
            return NotImplemented
        return hmac.compare_digest(self.to_bytes(), other.to_bytes())

    def __hash__(self) -> int:
        return hash((PrivateKey, self.public_key.to_bytes()))

    def __repr__(self) -> str:
        return f"PrivateKey(<secret>, address={self.address.hex()})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (PrivateKey, (self._d,))


def _pem_modules() -> tuple[ModuleType, ModuleType] | None:
    """tongsuopy's serialization and EC modules, which read and write SM2 PEM (PKCS#8, SubjectPublicKeyInfo);
    None where tongsuopy is not installed, and sdk.crypto.pkcs8 reads and writes the same files instead."""
    try:
        from tongsuopy.crypto import serialization
        from tongsuopy.crypto.asymciphers import ec
    except ImportError:
        return None
    return serialization, ec


def _backend_handle(handles: dict[str, Any], be: SM2Backend, load: Callable[[_K], Any], key: _K) -> Any:
    """A key's object in backend ``be``, loaded from ``key`` on first use and kept in ``handles`` (one per
    backend): parsing a key costs more than most operations with it."""
    handle = handles.get(be.name)
    if handle is None:
        handle = handles[be.name] = load(key)
    return handle


def _decode_hex(text: str, what: str) -> bytes:
    if not isinstance(text, str):
        raise InvalidKeyError(f"a hex {what} must be str, not {type(text).__name__}")
    digits = text[2:] if text[:2] in ("0x", "0X") else text
    try:
        return bytes.fromhex(digits)
    except ValueError as exc:
        raise InvalidKeyError(f"the {what} is not valid hex") from exc


def _pem_bytes(pem: bytes | str) -> bytes:
    if isinstance(pem, str):
        try:
            return pem.encode("ascii")
        except UnicodeEncodeError as exc:
            raise InvalidKeyError("a PEM key must be ASCII text") from exc
    if isinstance(pem, bytes | bytearray):
        return bytes(pem)
    raise InvalidKeyError(f"a PEM key must be bytes or str, not {type(pem).__name__}")


def _reason(exc: Exception) -> str:
    """Return a short reason from a tongsuopy exception, without its OpenSSL error-stack payload."""
    if isinstance(exc, ValueError | TypeError) and exc.args and isinstance(exc.args[0], str):
        return exc.args[0]
    return type(exc).__name__
