"""SM2 keys as PEM without tongsuopy: PKCS#8 (plain or PBES2-encrypted) and SubjectPublicKeyInfo.

Where tongsuopy has no wheel (aarch64 Linux), ``cryptography`` cannot load an SM2 key: it refuses the curve.
This module reads and writes the same files tongsuopy and OpenSSL do, from maintained parts only:
``asn1crypto`` for the ASN.1 structures and the PEM armour, ``cryptography`` for PBKDF2, SM4 and AES. It
touches no curve arithmetic: it moves a private scalar and a public point in and out of their encodings,
and sdk.crypto.keys checks them as for any other source.

Encrypted keys are written in the scheme tongsuopy and OpenSSL 3 (``-v2 sm4-cbc``) use, PBES2 with
PBKDF2-HMAC-SHA256 and SM4-CBC, but with a 16-byte salt and 600,000 iterations (OWASP's figure for
PBKDF2-HMAC-SHA256; about 70 ms here) instead of their 8 bytes and 2,048, which a guessed password passes
in microseconds; every encrypted key the SDK writes goes through here, with tongsuopy or without. Read:
PBES2 with PBKDF2 over HMAC-SHA1/SHA-224/SHA-256/SHA-384/SHA-512 and SM4-CBC or AES-128/192/256-CBC, which
covers what OpenSSL's ``pkcs8 -topk8 -v2`` and tongsuopy write, and plain SEC1 ``EC PRIVATE KEY`` files
(OpenSSL 1.1, tongsuopy's TraditionalOpenSSL). Every failure is an InvalidKeyError.
"""

from __future__ import annotations

import os
from typing import Final

from asn1crypto import algos, core, keys, pem
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from sdk.errors import InvalidKeyError

SM2_CURVE: Final = "1.2.156.10197.1.301"
SM4_CBC: Final = "1.2.156.10197.1.104.2"
#: PBKDF2 work for the keys written here (tongsuopy and OpenSSL 3 default to 2,048 and an 8-byte salt).
PBKDF2_ITERATIONS: Final = 600_000
PBKDF2_SALT_BYTES: Final = 16
#: A file asking for more PBKDF2 work than this is refused (an attacker-chosen count would stall the reader).
MAX_PBKDF2_ITERATIONS: Final = 10_000_000
#: A PEM longer than this is refused unread: asn1crypto joins a body line by line, in quadratic time
#: (8 MB took 12 s), and a key file is under 2 KB.
MAX_PEM_BYTES: Final = 1 << 20
#: What a wrong password and a damaged encrypted key both say (as tongsuopy's path in sdk.crypto.keys).
UNDECRYPTABLE: Final = (
    "cannot load the SM2 private key PEM: Incorrect password, or the encrypted key is corrupted"
)

_PRFS: Final[dict[str, hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1(),  # noqa: S303 - read only: OpenSSL 1.1 wrote PBKDF2 with HMAC-SHA1 by default
    "sha224": hashes.SHA224(),
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}
_AES_KEY_BYTES: Final = {"aes128_cbc": 16, "aes192_cbc": 24, "aes256_cbc": 32}

# asn1crypto sizes a private scalar by its curve; it knows no SM2 (a registry entry, read-only elsewhere)
if SM2_CURVE not in keys.NamedCurve._key_sizes:
    keys.NamedCurve.register("sm2", SM2_CURVE, 32)


# --- private keys ------------------------------------------------------------------------------------------
def read_private_key(data: bytes, password: bytes | None) -> int:
    """Return the private scalar of an SM2 key in PKCS#8 PEM (``PRIVATE KEY`` or ``ENCRYPTED PRIVATE KEY``) or
    SEC1 PEM (``EC PRIVATE KEY``, unencrypted), decrypting with ``password``. Raises InvalidKeyError: not such
    a PEM, a missing, unexpected or wrong password, an encryption this module does not read (legacy PEM
    encryption among them), a key that is not SM2."""
    return read_private_key_file(data, password)[0]


def read_private_key_file(data: bytes, password: bytes | None) -> tuple[int, bytes | None]:
    """:func:`read_private_key`, with the public point the file stores beside the scalar (04‖x‖y as given,
    None when it stores none), for the caller to check against the scalar's."""
    kind, der = _unarmor(data, ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "EC PRIVATE KEY"))
    if kind == "ENCRYPTED PRIVATE KEY":
        if password is None:
            raise InvalidKeyError("the SM2 private key PEM is encrypted: a password is needed")
        der = _decrypt(der, password)
    elif password is not None:
        raise InvalidKeyError("the SM2 private key PEM is not encrypted, but a password was given")
    found = _sec1_scalar(der) if kind == "EC PRIVATE KEY" else _scalar(der)
    if found is None:
        # Raised outside any except: the parser's message (and so its exception) may quote the secret key,
        # e.g. "Insufficient data - N bytes requested" with N read from the scalar after one IV byte changed.
        if kind == "ENCRYPTED PRIVATE KEY":
            raise InvalidKeyError(UNDECRYPTABLE)  # or valid padding by chance (1 in 256): the same cause
        raise InvalidKeyError(f"cannot load the SM2 private key PEM (not a valid {kind})")
    return found


def pbkdf2_iterations(data: bytes) -> int | None:
    """The PBKDF2 iteration count an ``ENCRYPTED PRIVATE KEY`` PEM asks for, None when it is not one that
    this module parses (another scheme, or not encrypted). Lets a reader refuse an attacker-chosen count
    before handing the file to a library that would spend it."""
    try:
        _, der = _unarmor(data, ("ENCRYPTED PRIVATE KEY",))
        algorithm = keys.EncryptedPrivateKeyInfo.load(der, strict=True)["encryption_algorithm"]
        if algorithm["algorithm"].native != "pbes2" or algorithm.kdf != "pbkdf2":
            return None
        return int(algorithm.kdf_iterations)
    except (InvalidKeyError, ValueError, TypeError, KeyError):
        return None


def _scalar(der: bytes) -> tuple[int, bytes | None] | None:
    """The private scalar of a PKCS#8 SM2 key and the public point stored with it, None when ``der`` does not
    parse as one; InvalidKeyError for a key of another algorithm or curve. ``der`` is secret: nothing of the
    parser's error goes on."""
    try:
        info = keys.PrivateKeyInfo.load(der, strict=True)
        if not _is_sm2(info["private_key_algorithm"]):
            raise InvalidKeyError("the PEM holds a key that is not an SM2 key")
        return _scalar_and_point(info["private_key"].parsed)
    except (ValueError, TypeError, KeyError):
        return None


def _sec1_scalar(der: bytes) -> tuple[int, bytes | None] | None:
    """:func:`_scalar` for a SEC1 ``EC PRIVATE KEY`` (RFC 5915: what OpenSSL 1.1's ``ecparam -genkey`` and
    tongsuopy's TraditionalOpenSSL format write), whose curve is in its own parameters field."""
    try:
        ec_key = keys.ECPrivateKey.load(der, strict=True)
        parameters = ec_key["parameters"]
        if isinstance(parameters, core.Void) or parameters.name != "named":
            raise InvalidKeyError("the SEC1 key names no curve, or gives it as explicit parameters")
        if parameters.chosen.dotted != SM2_CURVE:
            raise InvalidKeyError("the PEM holds a key that is not an SM2 key")
        return _scalar_and_point(ec_key)
    except (ValueError, TypeError, KeyError):
        return None


def _scalar_and_point(ec_key: keys.ECPrivateKey) -> tuple[int, bytes | None] | None:
    """An ECPrivateKey's scalar and the public point it stores (None: none stored); None when the scalar is
    no integer. Raises what the parser raises (the callers keep it to themselves)."""
    scalar = ec_key["private_key"].native
    stored = ec_key["public_key"]
    point = None if isinstance(stored, core.Void) else bytes(stored)
    return (scalar, point) if isinstance(scalar, int) else None


def write_private_key(scalar: int, public_point: bytes, password: bytes | None) -> bytes:
    """Return PKCS#8 PEM of an SM2 key (``public_point`` is 04‖x‖y, kept in the ECPrivateKey as tongsuopy and
    OpenSSL keep it), PBES2-encrypted with ``password`` when given. The caller checks the password."""
    ec_key = keys.ECPrivateKey({"version": "ecPrivkeyVer1"})
    ec_key.set_key_size(32)  # RFC 5915: the scalar as 32 bytes, leading zeros kept
    ec_key["private_key"] = scalar
    ec_key["public_key"] = public_point
    info = keys.PrivateKeyInfo(
        {
            "version": 0,
            "private_key_algorithm": keys.PrivateKeyAlgorithm(
                {"algorithm": "ec", "parameters": keys.ECDomainParameters(name="named", value=SM2_CURVE)}
            ),
            "private_key": ec_key,
        }
    )
    if password is None:
        return bytes(pem.armor("PRIVATE KEY", info.dump()))
    return bytes(pem.armor("ENCRYPTED PRIVATE KEY", _encrypt(info.dump(), password)))


# --- public keys -------------------------------------------------------------------------------------------
def read_public_key(data: bytes) -> bytes:
    """Return the uncompressed point 04‖x‖y of an SM2 SubjectPublicKeyInfo PEM; InvalidKeyError otherwise."""
    _, der = _unarmor(data, ("PUBLIC KEY",))
    try:
        info = keys.PublicKeyInfo.load(der, strict=True)
        if not _is_sm2(info["algorithm"]):
            raise InvalidKeyError("not an SM2 public key PEM (another algorithm or curve)")
        point = bytes(info["public_key"])
    except InvalidKeyError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidKeyError(f"not an SM2 public key PEM ({_why(exc)})") from exc
    return point


def write_public_key(public_point: bytes) -> bytes:
    """Return the SubjectPublicKeyInfo PEM of an SM2 public key given as 04‖x‖y."""
    info = keys.PublicKeyInfo(
        {
            "algorithm": keys.PublicKeyAlgorithm(
                {"algorithm": "ec", "parameters": keys.ECDomainParameters(name="named", value=SM2_CURVE)}
            ),
            "public_key": public_point,
        }
    )
    return bytes(pem.armor("PUBLIC KEY", info.dump()))


# --- PBES2 -------------------------------------------------------------------------------------------------
def _encrypt(plain: bytes, password: bytes) -> bytes:
    salt, iv = os.urandom(PBKDF2_SALT_BYTES), os.urandom(16)
    key = PBKDF2HMAC(hashes.SHA256(), 16, salt, PBKDF2_ITERATIONS).derive(password)
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.SM4(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padder.update(plain) + padder.finalize()) + encryptor.finalize()
    scheme = algos.EncryptionAlgorithm(
        {
            "algorithm": "pbes2",
            "parameters": algos.Pbes2Params(
                {
                    "key_derivation_func": algos.KdfAlgorithm(
                        {
                            "algorithm": "pbkdf2",
                            "parameters": algos.Pbkdf2Params(
                                {
                                    "salt": algos.Pbkdf2Salt(name="specified", value=salt),
                                    "iteration_count": PBKDF2_ITERATIONS,
                                    "prf": algos.HmacAlgorithm(
                                        {"algorithm": "sha256", "parameters": core.Null()}
                                    ),
                                }
                            ),
                        }
                    ),
                    # asn1crypto has no name for SM4-CBC: the OID, with the IV as its parameters
                    "encryption_scheme": algos.EncryptionAlgorithm(
                        {"algorithm": SM4_CBC, "parameters": core.OctetString(iv)}
                    ),
                }
            ),
        }
    )
    return bytes(
        keys.EncryptedPrivateKeyInfo({"encryption_algorithm": scheme, "encrypted_data": ciphertext}).dump()
    )


def _decrypt(der: bytes, password: bytes) -> bytes:
    try:
        info = keys.EncryptedPrivateKeyInfo.load(der, strict=True)
        algorithm = info["encryption_algorithm"]
        if algorithm["algorithm"].native != "pbes2" or algorithm.kdf != "pbkdf2":
            raise InvalidKeyError(
                "the SM2 private key PEM is encrypted with a scheme other than PBES2 with PBKDF2",
                algorithm=algorithm["algorithm"].dotted,
            )
        prf = _PRFS.get(algorithm.kdf_hmac)
        if prf is None:
            raise InvalidKeyError(
                f"PBKDF2 with HMAC-{algorithm.kdf_hmac} is not read here", prf=algorithm.kdf_hmac
            )
        iterations, salt = int(algorithm.kdf_iterations), bytes(algorithm.kdf_salt)
        scheme = algorithm["parameters"]["encryption_scheme"]
        cipher_oid = scheme["algorithm"].dotted
        # SM4-CBC's parameters are an ASN.1 Any: read as an OCTET STRING, not bytes() of whatever it holds
        # (an INTEGER 2^62 there was a request for 2^62 zero bytes)
        iv = (
            bytes(scheme["parameters"].parse(core.OctetString).native)
            if cipher_oid == SM4_CBC
            else bytes(algorithm.encryption_iv)
        )
        ciphertext = bytes(info["encrypted_data"])
    except InvalidKeyError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidKeyError(f"cannot read the encrypted SM2 private key PEM ({_why(exc)})") from exc
    if not 1 <= iterations <= MAX_PBKDF2_ITERATIONS:
        raise InvalidKeyError(f"PBKDF2 iteration count {iterations} is out of range", iterations=iterations)
    name = "sm4_cbc" if cipher_oid == SM4_CBC else str(scheme["algorithm"].native)
    key_bytes = 16 if name == "sm4_cbc" else _AES_KEY_BYTES.get(name)
    if key_bytes is None:
        raise InvalidKeyError(f"the key is encrypted with {name}, not SM4-CBC or AES-CBC", cipher=name)
    if len(iv) != 16:
        raise InvalidKeyError("the encrypted key's IV is not 16 bytes")
    key = PBKDF2HMAC(prf, key_bytes, salt, iterations).derive(password)
    block = algorithms.SM4(key) if name == "sm4_cbc" else algorithms.AES(key)
    decryptor = Cipher(block, modes.CBC(iv)).decryptor()
    try:
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise InvalidKeyError(UNDECRYPTABLE) from None


# --- helpers -----------------------------------------------------------------------------------------------
def _unarmor(data: bytes, kinds: tuple[str, ...]) -> tuple[str, bytes]:
    """The first PEM block of one of ``kinds``, skipping blocks of others as OpenSSL's reader does (``openssl
    ecparam -genkey`` writes an ``SM2 PARAMETERS`` block before the key)."""
    if len(data) > MAX_PEM_BYTES:
        raise InvalidKeyError(f"a PEM of {len(data)} bytes is larger than any key file", length=len(data))
    seen: list[str] = []
    try:
        for kind, headers, der in pem.unarmor(data.strip(), multiple=True):
            if kind in kinds and "Proc-Type" in headers:
                # OpenSSL's legacy PEM encryption (MD5-derived key): not read here, converted in one command
                raise InvalidKeyError(
                    "the key uses legacy PEM encryption (Proc-Type/DEK-Info): convert it with "
                    "`openssl pkcs8 -topk8 -v2 sm4-cbc -in OLD.pem -out NEW.pem`",
                    kind=kind,
                )
            if kind in kinds:
                return kind, der
            seen.append(kind)
    except (ValueError, TypeError) as exc:
        raise InvalidKeyError(f"not a PEM file ({_why(exc)})") from exc
    if "PRIVATE KEY" in kinds and "SM2 PRIVATE KEY" in seen:
        # OpenSSL 3's `openssl ec` labels SM2 keys so; neither tongsuopy nor this module reads that block
        raise InvalidKeyError(
            "an SM2 PRIVATE KEY block (as `openssl ec` writes it) is not read: convert it with "
            "`openssl pkcs8 -topk8 -v2 sm4-cbc -in OLD.pem -out NEW.pem`",
            kind="SM2 PRIVATE KEY",
        )
    kind = seen[0] if seen else None
    raise InvalidKeyError(f"a PEM of {kind!r} where {' or '.join(kinds)} was expected", kind=kind)


def _is_sm2(algorithm: keys.PrivateKeyAlgorithm | keys.PublicKeyAlgorithm) -> bool:
    """Whether an algorithm identifier names an EC key on the named SM2 curve."""
    parameters = algorithm["parameters"]
    return bool(
        algorithm["algorithm"].dotted == "1.2.840.10045.2.1"
        and parameters.name == "named"
        and parameters.chosen.dotted == SM2_CURVE
    )


def _why(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
