"""Malformed keys, PEM, signatures and ciphertexts give typed errors with clear messages, never crashes."""

from __future__ import annotations

import base64
import logging
import pickle

import gmssl.func
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sdk.crypto import (
    DEFAULT_USER_ID,
    PrivateKey,
    PublicKey,
    address_from_public_key,
    batch_verify,
    get_backend,
    signature_from_der,
    signature_to_der,
    sm3,
    sm4_gcm_open,
    sm4_gcm_seal,
)
from sdk.crypto.sm2 import GX, GY, N, P
from sdk.errors import CryptoError, DecryptionError, InvalidKeyError, InvalidSignatureError

BACKENDS = ["tongsuo", "gmssl"]
KEY = PrivateKey.from_hex("3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8")
PUB = KEY.public_key
MESSAGE = b"xinlian block 42"


def _sig(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


# --- public keys ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"", "got 0 bytes"),
        (b"\x04" * 63, "got 63 bytes"),
        (b"\x02" + PUB.to_bytes(), "must start with 0x04"),
        (b"\x04" + PUB.to_bytes() + b"\x00", "got 66 bytes"),
        (bytes(64), "not a point on the SM2 curve"),
        (PUB.to_bytes()[:63] + bytes([PUB.to_bytes()[63] ^ 1]), "not a point on the SM2 curve"),
        (P.to_bytes(32, "big") + GY.to_bytes(32, "big"), "not a point on the SM2 curve"),
        ((GX + P).to_bytes(33, "big")[1:] + GY.to_bytes(32, "big"), "not a point on the SM2 curve"),
    ],
)
def test_malformed_public_key_is_refused(raw: bytes, fragment: str) -> None:
    with pytest.raises(InvalidKeyError, match=fragment):
        PublicKey.from_bytes(raw)


def test_public_key_of_wrong_type_or_bad_hex_is_refused() -> None:
    with pytest.raises(InvalidKeyError, match="must be bytes"):
        PublicKey.from_bytes(PUB.to_hex())  # type: ignore[arg-type]
    with pytest.raises(InvalidKeyError, match="not valid hex"):
        PublicKey.from_hex("zz" * 64)


def test_public_key_accepts_04_prefix_and_0x_hex() -> None:
    assert PublicKey.from_bytes(b"\x04" + PUB.to_bytes()) == PUB
    assert PublicKey.from_hex("0x" + PUB.to_hex()) == PUB


# --- private keys -----------------------------------------------------------------------------------
@pytest.mark.parametrize("d", [0, N - 1, N, 2**256 - 1])
def test_private_key_outside_1_to_n_minus_2_is_refused(d: int) -> None:
    with pytest.raises(InvalidKeyError, match=r"\[1, n-2\]"):
        PrivateKey.from_bytes(d.to_bytes(32, "big"))


def test_private_key_bounds_are_usable() -> None:
    for d in (1, N - 2):
        key = PrivateKey(d)
        key.public_key.verify(MESSAGE, key.sign(MESSAGE))


def test_private_key_of_wrong_length_type_or_hex_is_refused() -> None:
    with pytest.raises(InvalidKeyError, match="32 bytes, got 31"):
        PrivateKey.from_bytes(bytes(31))
    with pytest.raises(InvalidKeyError, match="not valid hex"):
        PrivateKey.from_hex("0x12g4")
    with pytest.raises(InvalidKeyError, match="as an int"):
        PrivateKey(b"\x01" * 32)  # type: ignore[arg-type]
    with pytest.raises(InvalidKeyError, match="as an int"):
        PrivateKey(True)


def test_private_key_repr_never_shows_the_secret() -> None:
    text = repr(KEY) + str(KEY)
    assert KEY.to_hex() not in text.lower()
    assert KEY.to_hex()[:16] not in text.lower()
    assert "<secret>" in text


def test_keys_are_hashable_and_comparable() -> None:
    same = PrivateKey.from_bytes(KEY.to_bytes())
    other = PrivateKey.generate()
    assert same == KEY and hash(same) == hash(KEY) and other != KEY
    assert len({KEY, same, other}) == 2
    assert len({PUB, same.public_key, other.public_key}) == 2
    assert sorted([PUB, other.public_key]) == sorted([other.public_key, PUB])
    assert pickle.loads(pickle.dumps(PUB)) == PUB
    assert PUB.to_bytes() != PUB


def test_address_is_last_20_bytes_of_sm3_of_the_public_key() -> None:
    assert address_from_public_key(PUB.to_bytes()) == sm3(PUB.to_bytes())[-20:] == PUB.address == KEY.address
    assert len(PUB.address) == 20
    with pytest.raises(InvalidKeyError):
        address_from_public_key(bytes(64))


# --- PEM --------------------------------------------------------------------------------------------
def _foreign_pems() -> list[bytes]:
    p256 = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pkcs8 = serialization.PrivateFormat.PKCS8
    pem = serialization.Encoding.PEM
    none = serialization.NoEncryption()
    return [p256.private_bytes(pem, pkcs8, none), rsa_key.private_bytes(pem, pkcs8, none)]


@pytest.mark.parametrize(
    "pem",
    [
        b"",
        b"not a pem",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        PUB.to_pem(),
        *_foreign_pems(),
    ],
)
def test_malformed_or_foreign_private_pem_is_refused(pem: bytes) -> None:
    with pytest.raises(InvalidKeyError, match="cannot load the SM2 private key PEM"):
        PrivateKey.from_pem(pem)


def test_private_pem_password_mistakes_are_refused() -> None:
    encrypted = KEY.to_pem(b"correct horse")
    assert b"ENCRYPTED" in encrypted
    with pytest.raises(InvalidKeyError, match=r"Incorrect password|Bad decrypt"):
        PrivateKey.from_pem(encrypted, b"wrong")
    with pytest.raises(InvalidKeyError, match="not given"):
        PrivateKey.from_pem(encrypted)
    with pytest.raises(InvalidKeyError, match="not encrypted"):
        PrivateKey.from_pem(KEY.to_pem(), b"unneeded")
    assert PrivateKey.from_pem(encrypted.decode(), b"correct horse") == KEY


def test_unsafe_pem_passwords_are_refused() -> None:
    for password in (b"", b"\x00", b"pw\x00", b"x" * 1024):
        with pytest.raises(CryptoError):
            KEY.to_pem(password)


def test_private_pem_carries_the_sm2_curve_oid() -> None:
    body = base64.b64decode(b"".join(KEY.to_pem().splitlines()[1:-1]))
    assert bytes.fromhex("06082a811ccf5501822d") in body  # OID 1.2.156.10197.1.301


def test_malformed_public_pem_is_refused() -> None:
    p256 = ec.generate_private_key(ec.SECP256R1()).public_key()
    foreign = p256.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    for pem in (b"", b"junk", KEY.to_pem(), foreign, "é"):
        with pytest.raises(InvalidKeyError):
            PublicKey.from_pem(pem)


# --- signatures -------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("signature", "fragment"),
    [
        (b"", "64 bytes r‖s, got 0"),
        (bytes(65), "64 bytes r‖s, got 65"),
        (_sig(0, 1), "r is outside"),
        (_sig(N, 1), "r is outside"),
        (_sig(1, 0), "s is outside"),
        (_sig(1, N), "s is outside"),
        (_sig(2**256 - 1, 2**256 - 1), "r is outside"),
        (_sig(5, N - 5), "does not verify"),  # r + s = n: t = 0
        (_sig(1, 1), "does not verify"),
        ("00" * 64, "must be bytes"),
    ],
)
def test_malformed_or_wrong_signature_raises_invalid_signature(
    backend: str, signature: bytes, fragment: str
) -> None:
    with pytest.raises(InvalidSignatureError, match=fragment):
        PUB.verify(MESSAGE, signature, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_user_id_must_be_bytes_of_at_most_8191(backend: str) -> None:
    signature = KEY.sign(MESSAGE, user_id=b"x" * 8191, backend="tongsuo")
    PUB.verify(MESSAGE, signature, user_id=b"x" * 8191, backend=backend)
    with pytest.raises(CryptoError, match="at most 8191"):
        KEY.sign(MESSAGE, user_id=b"x" * 8192, backend=backend)
    with pytest.raises(CryptoError, match="must be bytes"):
        PUB.verify(MESSAGE, signature, user_id="1234567812345678", backend=backend)  # type: ignore[arg-type]


def test_empty_user_id_and_message_are_allowed() -> None:
    signature = KEY.sign(b"", user_id=b"", backend="gmssl")
    PUB.verify(b"", signature, user_id=b"", backend="tongsuo")


def test_non_bytes_message_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="must be bytes"):
        KEY.sign("text")  # type: ignore[arg-type]
    PUB.verify(bytearray(MESSAGE), KEY.sign(memoryview(MESSAGE)))


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(CryptoError, match="unknown SM2 backend"):
        get_backend("openssl")
    with pytest.raises(CryptoError, match="unknown SM2 backend"):
        KEY.sign(MESSAGE, backend="nope")


def test_is_valid_signature_is_the_boolean_form_of_verify() -> None:
    signature = KEY.sign(MESSAGE)
    assert PUB.is_valid_signature(MESSAGE, signature)
    assert not PUB.is_valid_signature(MESSAGE + b"!", signature)
    assert not PUB.is_valid_signature(MESSAGE, b"short")


def test_reference_backend_never_uses_gmssl_random_hex(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(_: int) -> str:
        raise AssertionError("gmssl.func.random_hex must never choose an SM2 nonce")

    monkeypatch.setattr(gmssl.func, "random_hex", refuse)
    signatures = {KEY.sign(MESSAGE, backend="gmssl") for _ in range(3)}
    assert len(signatures) == 3  # fresh k every time
    ciphertext = PUB.encrypt(b"key material", backend="gmssl")
    assert KEY.decrypt(ciphertext, backend="gmssl") == b"key material"


# --- DER --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "der",
    [
        b"",
        b"\x30",
        b"\x30\x00",
        bytes.fromhex("3006020101020101") + b"\x00",  # trailing byte
        bytes.fromhex("3009020101020101020101"),  # three integers
        bytes.fromhex("30060201ff020101"),  # negative r
        bytes.fromhex("3007020200010201" + "01"),  # non-minimal r
        bytes.fromhex("308106020101020101"),  # long-form length below 128
        bytes.fromhex("3006020101040101"),  # s is an OCTET STRING
        bytes.fromhex("3026022101" + "00" * 32 + "020101"),  # r of 257 bits
        bytes.fromhex("3106020101020101"),  # SET, not SEQUENCE
    ],
)
def test_malformed_der_signature_is_refused(der: bytes) -> None:
    with pytest.raises(InvalidSignatureError, match="malformed DER SM2 signature"):
        signature_from_der(der)


def test_der_signature_known_encoding() -> None:
    signature = _sig(0x80, 1)
    assert signature_to_der(signature) == bytes.fromhex("30070202008002" + "0101")
    assert signature_from_der(signature_to_der(signature)) == signature
    with pytest.raises(InvalidSignatureError):
        signature_to_der(b"\x00" * 63)


# --- SM2 ciphertexts --------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_malformed_or_foreign_ciphertext_raises_decryption_error(backend: str) -> None:
    good = PUB.encrypt(b"wrapped sm4 key!")
    cases = {
        "at least 98 bytes": good[:97],
        "must start with 0x04": b"\x02" + good[1:],
        "not a point": good[:1] + bytes(64) + good[65:],
        "altered or is for another key": good[:-1] + bytes([good[-1] ^ 1]),
    }
    for fragment, ciphertext in cases.items():
        with pytest.raises(DecryptionError, match=fragment):
            KEY.decrypt(ciphertext, backend=backend)
    with pytest.raises(DecryptionError, match="another key"):
        PrivateKey.generate().decrypt(good, backend=backend)
    with pytest.raises(DecryptionError, match="must be bytes"):
        KEY.decrypt(good.hex(), backend=backend)  # type: ignore[arg-type]


def test_empty_plaintext_cannot_be_encrypted() -> None:
    with pytest.raises(CryptoError, match="non-empty"):
        PUB.encrypt(b"")


# --- SM4-GCM ----------------------------------------------------------------------------------------
def test_sm4_gcm_bad_inputs_are_typed_errors() -> None:
    key = bytes(range(16))
    with pytest.raises(InvalidKeyError, match="16 bytes, got 32"):
        sm4_gcm_seal(bytes(32), b"x")
    with pytest.raises(InvalidKeyError, match="16 bytes, got 15"):
        sm4_gcm_open(bytes(15), bytes(40))
    with pytest.raises(CryptoError, match="nonce is 12 bytes"):
        sm4_gcm_seal(key, b"x", nonce=bytes(16))
    with pytest.raises(DecryptionError, match="at least 28 bytes"):
        sm4_gcm_open(key, bytes(27))
    with pytest.raises(DecryptionError, match="authentication failed"):
        sm4_gcm_open(key, bytes(28))
    blob = sm4_gcm_seal(key, b"", b"header")
    assert sm4_gcm_open(key, blob, b"header") == b""
    assert sm4_gcm_seal(key, b"same") != sm4_gcm_seal(key, b"same")  # fresh nonces


# --- batch verification -----------------------------------------------------------------------------
@pytest.mark.parametrize(("count", "processes"), [(10, None), (200, 2), (200, 1)])
def test_batch_verify_matches_one_by_one_verification(
    count: int, processes: int | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    keys = [PrivateKey.generate() for _ in range(3)]
    items: list[tuple[bytes, bytes, bytes]] = []
    expected = []
    for i in range(count):
        key = keys[i % 3]
        message = b"tx %d" % i
        signature = key.sign(message)
        kind = i % 5
        if kind == 1:
            message += b"!"
        elif kind == 2:
            signature = bytes(64)
        elif kind == 3:
            items.append((b"\x01" * 64, message, signature))
            expected.append(False)
            continue
        items.append((key.public_key.to_bytes(), message, signature))
        expected.append(kind in (0, 4))
    items.append(("not", "a", "tuple"))  # type: ignore[arg-type]
    expected.append(False)
    assert batch_verify(items, processes=processes) == expected
    assert batch_verify([], processes=processes) == []
    assert "pool broke" not in caplog.text  # the worker pool really ran, no in-process fallback


def test_batch_verify_honours_the_user_id() -> None:
    signature = KEY.sign(MESSAGE, user_id=b"ALICE123@YAHOO.COM")
    item = (PUB.to_bytes(), MESSAGE, signature)
    assert batch_verify([item], user_id=b"ALICE123@YAHOO.COM") == [True]
    assert batch_verify([item]) == [False]
    assert DEFAULT_USER_ID == b"1234567812345678"


def test_errors_carry_code_and_message() -> None:
    with pytest.raises(InvalidSignatureError) as info:
        PUB.verify(MESSAGE, bytes(64))
    assert info.value.to_dict()["code"] == "invalid_signature"
    assert info.value.message
