"""sdk.crypto.pkcs8 (SM2 PEM keys without tongsuopy) against the two other implementations on this machine:
tongsuopy (what the SDK uses where it installs) and the openssl command line. Every file either writes opens
in the others; files OpenSSL writes with its other PBES2 choices open too; what is not an SM2 key, or not
this password, is refused with InvalidKeyError."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from asn1crypto import keys, pem

from sdk.crypto import PrivateKey, PublicKey, pkcs8
from sdk.errors import InvalidKeyError


def openssl(*args: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True, check=True).stdout


def point(key: PrivateKey) -> bytes:
    return b"\x04" + key.public_key.to_bytes()


@pytest.fixture(scope="module")
def openssl_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """An SM2 key openssl generated (plain PKCS#8) and its public key x‖y as openssl prints it."""
    path = tmp_path_factory.mktemp("openssl") / "sm2.pem"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2", "-out", str(path))
    public = openssl("pkey", "-in", str(path), "-pubout", "-outform", "DER")[-64:]
    return path, public


@pytest.mark.parametrize("password", [None, b"correct horse"])
def test_what_it_writes_tongsuopy_and_openssl_open(password: bytes | None, tmp_path: Path) -> None:
    for _ in range(8):  # scalars of every length: leading zero bytes are kept (RFC 5915)
        key = PrivateKey.generate()
        written = pkcs8.write_private_key(key._d, point(key), password)
        assert PrivateKey.from_pem(written, password) == key  # tongsuopy
        assert pkcs8.read_private_key(written, password) == key._d
        (tmp_path / "k.pem").write_bytes(written)
        passin = ["-passin", "pass:correct horse"] if password else []
        assert openssl("pkey", "-in", str(tmp_path / "k.pem"), *passin, "-pubout", "-outform", "DER")[
            -64:
        ] == (key.public_key.to_bytes())


def test_a_small_scalar_is_written_as_32_bytes() -> None:
    key = PrivateKey(1)
    _, _, der = pem.unarmor(pkcs8.write_private_key(1, point(key), None))
    inner = keys.PrivateKeyInfo.load(der)["private_key"].parsed
    assert inner["private_key"].contents == (1).to_bytes(32, "big")
    assert PrivateKey.from_pem(pkcs8.write_private_key(1, point(key), None)) == key


def test_the_plain_forms_are_byte_for_byte_tongsuopys() -> None:
    key = PrivateKey.generate()
    assert pkcs8.write_private_key(key._d, point(key), None) == key.to_pem()
    assert pkcs8.write_public_key(point(key)) == key.public_key.to_pem()


def test_what_tongsuopy_writes_it_opens() -> None:
    from tongsuopy.crypto import serialization
    from tongsuopy.crypto.asymciphers import ec

    key = PrivateKey.generate()
    theirs = ec.derive_private_key(key._d, ec.SM2())
    for password, encryption in (
        (None, serialization.NoEncryption()),
        (b"pw", serialization.BestAvailableEncryption(b"pw")),  # SM4-CBC, 2,048 rounds
    ):
        written = theirs.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
        assert pkcs8.read_private_key(written, password) == key._d
    assert pkcs8.read_public_key(key.public_key.to_pem()) == point(key)


def test_encrypted_keys_take_600000_pbkdf2_rounds_and_a_16_byte_salt() -> None:
    key = PrivateKey.generate()
    _, _, der = pem.unarmor(key.to_pem(b"pw"))
    algorithm = keys.EncryptedPrivateKeyInfo.load(der)["encryption_algorithm"]
    assert (algorithm.kdf_hmac, algorithm.kdf_iterations, len(algorithm.kdf_salt)) == ("sha256", 600_000, 16)
    scheme = algorithm["parameters"]["encryption_scheme"]["algorithm"].dotted
    assert scheme == pkcs8.SM4_CBC


@pytest.mark.parametrize(
    "scheme",
    [
        ["-v2", "sm4-cbc"],
        ["-v2", "aes-256-cbc"],
        ["-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA1"],
        ["-v2", "aes-192-cbc", "-v2prf", "hmacWithSHA512", "-iter", "5000"],
    ],
    ids=lambda s: " ".join(s),
)
def test_what_openssl_writes_it_opens(
    openssl_key: tuple[Path, bytes], scheme: list[str], tmp_path: Path
) -> None:
    path, public = openssl_key
    encrypted = openssl("pkcs8", "-topk8", "-in", str(path), *scheme, "-passout", "pass:s3cret")
    scalar = pkcs8.read_private_key(encrypted, b"s3cret")
    assert PrivateKey(scalar).public_key.to_bytes() == public
    assert pkcs8.read_private_key(path.read_bytes(), None) == scalar
    spki = openssl("pkey", "-in", str(path), "-pubout")
    assert pkcs8.read_public_key(spki) == b"\x04" + public


REFUSALS = (
    "wrong password",
    "no password",
    "password for a plain key",
    "another curve",
    "another curve's public key",
    "a public key as private",
    "not PEM",
    "truncated",
)


@pytest.mark.parametrize("case", REFUSALS)
def test_refusals_are_invalid_key_errors(openssl_key: tuple[Path, bytes], tmp_path: Path, case: str) -> None:
    path, _ = openssl_key
    key = PrivateKey.generate()
    secret = pkcs8.write_private_key(key._d, point(key), b"pw")
    p256 = tmp_path / "p256.pem"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", str(p256))
    cut = secret[:-80] + b"\n-----END ENCRYPTED PRIVATE KEY-----\n"
    calls = {
        "wrong password": lambda: pkcs8.read_private_key(secret, b"wrong"),
        "no password": lambda: pkcs8.read_private_key(secret, None),
        "password for a plain key": lambda: pkcs8.read_private_key(path.read_bytes(), b"pw"),
        "another curve": lambda: pkcs8.read_private_key(p256.read_bytes(), None),
        "another curve's public key": lambda: pkcs8.read_public_key(
            openssl("pkey", "-in", str(p256), "-pubout")
        ),
        "a public key as private": lambda: pkcs8.read_private_key(key.public_key.to_pem(), None),
        "not PEM": lambda: pkcs8.read_private_key(b"not a key", None),
        "truncated": lambda: pkcs8.read_private_key(cut, b"pw"),
    }
    with pytest.raises(InvalidKeyError):
        calls[case]()


def test_an_attacker_chosen_iteration_count_is_refused_before_any_work() -> None:
    key = PrivateKey.generate()
    _, _, der = pem.unarmor(pkcs8.write_private_key(key._d, point(key), b"pw"))
    info = keys.EncryptedPrivateKeyInfo.load(der)
    params = info["encryption_algorithm"]["parameters"]["key_derivation_func"]["parameters"]
    params["iteration_count"] = pkcs8.MAX_PBKDF2_ITERATIONS + 1
    huge = pem.armor("ENCRYPTED PRIVATE KEY", info.dump(force=True))
    with pytest.raises(InvalidKeyError, match="iteration count"):
        pkcs8.read_private_key(huge, b"pw")


def test_the_public_key_class_reads_what_pkcs8_writes() -> None:
    key = PrivateKey.generate()
    assert PublicKey.from_pem(pkcs8.write_public_key(point(key))) == key.public_key
