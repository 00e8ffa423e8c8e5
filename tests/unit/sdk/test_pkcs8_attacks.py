"""sdk.crypto.pkcs8 (SM2 PEM keys without tongsuopy) under attack: crafted or damaged key files, compared
with tongsuopy (the path where it installs) and the openssl command line. What a file says beside the scalar
(its public point, PEM headers) never changes which key is used; out-of-range scalars, explicit curve
parameters, absurd PBKDF2 or IV parameters are refused with InvalidKeyError."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import core, keys, pem

from sdk.crypto import PrivateKey, PublicKey, pkcs8
from sdk.crypto.sm2 import N
from sdk.errors import InvalidKeyError


def openssl(*args: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True, check=True).stdout


def point(key: PrivateKey) -> bytes:
    return b"\x04" + key.public_key.to_bytes()


def pkcs8_pem(ec_private_key: bytes) -> bytes:
    """A plain PKCS#8 PEM (SM2 named curve) around the DER of an ECPrivateKey, however malformed (built by
    hand: asn1crypto would re-encode the scalar as 32 bytes)."""
    algorithm = keys.PrivateKeyAlgorithm(
        {"algorithm": "ec", "parameters": keys.ECDomainParameters(name="named", value=pkcs8.SM2_CURVE)}
    )
    fields = core.Integer(0).dump() + algorithm.dump() + core.OctetString(ec_private_key).dump()
    return bytes(pem.armor("PRIVATE KEY", b"\x30" + _der_length(len(fields)) + fields))


def ec_private_key(scalar: bytes, public: bytes | None) -> bytes:
    """The DER of an ECPrivateKey whose private key OCTET STRING is ``scalar`` exactly (any length)."""
    fields = core.Integer(1).dump() + core.OctetString(scalar).dump()
    if public is not None:
        bits = keys.ECPointBitString(public).dump()
        fields += b"\xa1" + _der_length(len(bits)) + bits  # [1] EXPLICIT
    return b"\x30" + _der_length(len(fields)) + fields


def _der_length(n: int) -> bytes:
    return bytes([n]) if n < 0x80 else bytes([0x81, n]) if n < 0x100 else bytes([0x82]) + n.to_bytes(2, "big")


def both_paths(data: bytes, password: bytes | None) -> list[Callable[[], PrivateKey]]:
    """How PrivateKey.from_pem loads ``data`` without tongsuopy, and with it."""
    return [
        lambda: PrivateKey._from_pem_fallback(data, password),
        lambda: PrivateKey.from_pem(data, password),
    ]


def edit_encryption(encrypted: bytes, edit: Callable[[keys.EncryptedPrivateKeyInfo], None]) -> bytes:
    _, _, der = pem.unarmor(encrypted)
    info = keys.EncryptedPrivateKeyInfo.load(der)
    edit(info)
    return bytes(pem.armor("ENCRYPTED PRIVATE KEY", info.dump(force=True)))


@pytest.fixture(scope="module")
def quick_encrypted() -> tuple[PrivateKey, bytes]:
    """A key and its PBES2 file (SM4-CBC, HMAC-SHA256) with one PBKDF2 round, so tries are cheap."""
    key = PrivateKey.generate()
    return key, openssl(
        "pkcs8", "-topk8", "-v2", "sm4-cbc", "-iter", "1", "-passout", "pass:pw", stdin=key.to_pem()
    )


def pbkdf2(info: keys.EncryptedPrivateKeyInfo) -> Any:
    return info["encryption_algorithm"]["parameters"]["key_derivation_func"]["parameters"]


# --- the scalar --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "scalar",
    [b"", bytes(32), (N - 1).to_bytes(32, "big"), N.to_bytes(32, "big"), b"\xff" * 32, b"\x01" + bytes(32)],
    ids=["empty", "0", "n-1", "n", "2^256-1", "2^256"],
)
def test_out_of_range_scalars_are_refused_on_both_paths(scalar: bytes) -> None:
    data = pkcs8_pem(ec_private_key(scalar, None))
    with pytest.raises(InvalidKeyError, match=r"\[1, n-2\]"):
        PrivateKey(pkcs8.read_private_key(data, None))
    with pytest.raises(InvalidKeyError):  # OpenSSL: "point at infinity" (0, n) or [1, n-2] (PrivateKey)
        PrivateKey.from_pem(data)


def test_a_scalar_of_another_length_is_its_value_on_both_paths() -> None:
    # RFC 5915 says 32 bytes; OpenSSL reads any length as the integer, and so does pkcs8
    key = PrivateKey(12345)
    for scalar in ((12345).to_bytes(2, "big"), (12345).to_bytes(40, "big")):
        for load in both_paths(pkcs8_pem(ec_private_key(scalar, point(key))), None):
            assert load() == key


# --- the public point a private key file carries -----------------------------------------------------------
def test_a_file_whose_public_point_is_not_its_scalars_is_refused(tmp_path: Path) -> None:
    """A PKCS#8 whose ECPrivateKey carries another key's point: ``openssl pkey -pubout`` would print that
    point (another address) while the scalar signs as its own, and ``openssl pkey -check`` flags the file;
    both paths refuse it."""
    key, other = PrivateKey.generate(), PrivateKey.generate()
    data = pkcs8_pem(ec_private_key(key.to_bytes(), point(other)))
    for load in both_paths(data, None):
        with pytest.raises(InvalidKeyError, match="stores a public key"):
            load()
    (tmp_path / "k.pem").write_bytes(data)
    shown = openssl("pkey", "-in", str(tmp_path / "k.pem"), "-pubout", "-outform", "DER")[-64:]
    assert PublicKey(shown) == other.public_key
    check = subprocess.run(
        ["openssl", "pkey", "-in", str(tmp_path / "k.pem"), "-check", "-noout"], capture_output=True
    )
    assert check.returncode != 0
    # the point it should store is accepted, and so is a file that stores none
    assert PrivateKey._from_pem_fallback(pkcs8_pem(ec_private_key(key.to_bytes(), point(key))), None) == key


def test_an_off_curve_public_point_in_a_private_key_file_is_refused_on_both_paths() -> None:
    key = PrivateKey.generate()
    data = pkcs8_pem(ec_private_key(key.to_bytes(), b"\x04" + b"\x01" * 64))
    assert PrivateKey(pkcs8.read_private_key(data, None)).address == key.address  # the low-level reader
    for load in both_paths(data, None):
        with pytest.raises(InvalidKeyError):
            load()


def test_an_attacker_chosen_pbkdf2_count_is_refused_before_tongsuopy_spends_it() -> None:
    key = PrivateKey.generate()
    encrypted = key.to_pem(b"pw")

    def huge(info: keys.EncryptedPrivateKeyInfo) -> None:
        params = info["encryption_algorithm"]["parameters"]["key_derivation_func"]["parameters"]
        params["iteration_count"] = pkcs8.MAX_PBKDF2_ITERATIONS + 1

    for load in both_paths(edit_encryption(encrypted, huge), b"pw"):
        with pytest.raises(InvalidKeyError, match="iteration count"):
            load()


# --- curve parameters and point forms from openssl ---------------------------------------------------------
@pytest.fixture(scope="module")
def openssl_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("openssl") / "sm2.pem"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2", "-out", str(path))
    return path


def test_explicit_curve_parameters_are_refused_on_both_paths(openssl_key: Path) -> None:
    explicit = openssl("ec", "-in", str(openssl_key), "-param_enc", "explicit")
    private = openssl("pkcs8", "-topk8", "-nocrypt", stdin=explicit)
    public = openssl("ec", "-in", str(openssl_key), "-param_enc", "explicit", "-pubout")
    for load in both_paths(private, None):
        with pytest.raises(InvalidKeyError):
            load()
    with pytest.raises(InvalidKeyError, match="not an SM2 key"):
        pkcs8.read_private_key(private, None)
    with pytest.raises(InvalidKeyError, match="another algorithm or curve"):
        pkcs8.read_public_key(public)
    with pytest.raises(InvalidKeyError):
        PublicKey.from_pem(public)


@pytest.mark.parametrize(("form", "why"), [("compressed", "got 33 bytes"), ("hybrid", "not 0x0[67]")])
def test_compressed_and_hybrid_public_keys_are_refused_clearly_without_tongsuopy(
    openssl_key: Path, form: str, why: str
) -> None:
    """An interoperability gap, not a hole: tongsuopy (OpenSSL) decodes these points, pkcs8 hands the bytes
    to PublicKey, which takes only 04‖x‖y and says so."""
    spki = openssl("ec", "-in", str(openssl_key), "-pubout", "-conv_form", form)
    expected = PublicKey.from_pem(spki)  # tongsuopy
    assert expected == PrivateKey.from_pem(openssl_key.read_bytes()).public_key
    with pytest.raises(InvalidKeyError, match=why):
        PublicKey(pkcs8.read_public_key(spki))


@pytest.mark.parametrize("form", ["compressed", "hybrid"])
def test_a_private_key_file_with_a_compressed_or_hybrid_point_opens_on_both_paths(
    openssl_key: Path, form: str
) -> None:
    data = openssl(
        "pkcs8", "-topk8", "-nocrypt", stdin=openssl("ec", "-in", str(openssl_key), "-conv_form", form)
    )
    expected = PrivateKey.from_pem(openssl_key.read_bytes())
    for load in both_paths(data, None):
        assert load() == expected


# --- PEM armour --------------------------------------------------------------------------------------------
def test_legacy_encrypted_sec1_is_refused_without_tongsuopy_saying_how_to_convert(openssl_key: Path) -> None:
    legacy = openssl("ec", "-in", str(openssl_key), "-aes-128-cbc", "-passout", "pass:pw")
    assert b"DEK-Info: AES-128-CBC" in legacy
    with pytest.raises(InvalidKeyError, match=r"convert it with `openssl pkcs8 -topk8"):
        PrivateKey._from_pem_fallback(legacy, b"pw")  # OpenSSL 3 labels it SM2 PRIVATE KEY
    relabelled = legacy.replace(b"SM2 PRIVATE KEY", b"EC PRIVATE KEY")  # as OpenSSL 1.1 wrote it
    with pytest.raises(InvalidKeyError, match=r"legacy PEM encryption \(Proc-Type/DEK-Info\)"):
        PrivateKey._from_pem_fallback(relabelled, b"pw")


def test_pem_encryption_headers_on_a_plain_key_are_refused_on_both_paths() -> None:
    """Proc-Type/DEK-Info on a ``PRIVATE KEY`` block: tongsuopy takes the block as encrypted and wants a
    password; pkcs8 refuses legacy PEM encryption. Neither reads the body as another key."""
    key = PrivateKey.generate()
    lines = key.to_pem().split(b"\n")
    headers = [b"Proc-Type: 4,ENCRYPTED", b"DEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF", b""]
    data = b"\n".join([lines[0], *headers, *lines[1:]])
    for load in both_paths(data, None):
        with pytest.raises(InvalidKeyError):
            load()


@pytest.mark.parametrize(
    "shape",
    ["two keys", "key then public", "leading text", "CRLF", "trailing text", "one base64 line"],
)
def test_pem_shapes_read_the_same_on_both_paths(shape: str) -> None:
    key, second = PrivateKey.generate(), PrivateKey.generate()
    own = key.to_pem()
    lines = own.split(b"\n")
    data = {
        "two keys": own + second.to_pem(),  # the first block, as OpenSSL
        "key then public": own + second.public_key.to_pem(),
        "leading text": b"Bag Attributes\n    localKeyID: 01\nKey Attributes: <No Attributes>\n" + own,
        "CRLF": own.replace(b"\n", b"\r\n"),
        "trailing text": own + b"trailing junk\n",
        "one base64 line": b"\n".join([lines[0], b"".join(lines[1:-2]), *lines[-2:]]),
    }[shape]
    for load in both_paths(data, None):
        assert load() == key


# --- PBES2 parameters --------------------------------------------------------------------------------------
@pytest.mark.parametrize("count", [0, -1, pkcs8.MAX_PBKDF2_ITERATIONS + 1, 2**64])
def test_absurd_iteration_counts_are_refused_before_any_work(
    quick_encrypted: tuple[PrivateKey, bytes], count: int
) -> None:
    _, data = quick_encrypted

    def edit(info: keys.EncryptedPrivateKeyInfo) -> None:
        pbkdf2(info)["iteration_count"] = count

    with pytest.raises(InvalidKeyError, match="iteration count"):
        pkcs8.read_private_key(edit_encryption(data, edit), b"pw")


@pytest.mark.parametrize("length", [0, 8, 15, 17, 32])
def test_an_iv_of_another_length_is_refused(quick_encrypted: tuple[PrivateKey, bytes], length: int) -> None:
    _, data = quick_encrypted

    def edit(info: keys.EncryptedPrivateKeyInfo) -> None:
        info["encryption_algorithm"]["parameters"]["encryption_scheme"]["parameters"] = core.OctetString(
            bytes(length)
        )

    edited = edit_encryption(data, edit)
    with pytest.raises(InvalidKeyError, match="IV is not 16 bytes"):
        pkcs8.read_private_key(edited, b"pw")
    with pytest.raises(InvalidKeyError):
        PrivateKey.from_pem(edited, b"pw")


def test_a_key_length_field_that_mismatches_the_cipher_is_ignored_without_tongsuopy(
    quick_encrypted: tuple[PrivateKey, bytes],
) -> None:
    """PBKDF2's optional keyLength: pkcs8 derives the cipher's key size whatever it says (the same key a
    well-formed file gives); OpenSSL refuses a mismatch. No other key comes out either way."""
    key, data = quick_encrypted

    def edit(info: keys.EncryptedPrivateKeyInfo) -> None:
        pbkdf2(info)["key_length"] = 32

    edited = edit_encryption(data, edit)
    assert pkcs8.read_private_key(edited, b"pw") == key._d
    with pytest.raises(InvalidKeyError):
        PrivateKey.from_pem(edited, b"pw")


def test_hmac_with_sm3_is_not_a_prf_openssl_writes() -> None:
    # OpenSSL 3.0's pkcs8 has no hmacWithSM3; pkcs8 reads none either, so there is no such file to miss
    done = subprocess.run(
        ["openssl", "pkcs8", "-topk8", "-v2", "sm4-cbc", "-v2prf", "hmacWithSM3", "-passout", "pass:pw"],
        input=PrivateKey.generate().to_pem(),
        capture_output=True,
    )
    assert done.returncode != 0


# --- passwords ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "password",
    [b"\xff\xfe non-UTF-8", "пароль 密码".encode(), b"x" * 1023, b"a\x01b"],
    ids=["non-utf8", "utf8", "1023 bytes", "control byte"],
)
def test_unusual_passwords_round_trip_through_tongsuopy_and_openssl(password: bytes, tmp_path: Path) -> None:
    key = PrivateKey.generate()
    data = key.to_pem(password)
    assert pkcs8.read_private_key(data, password) == key._d
    assert PrivateKey.from_pem(data, password) == key
    (tmp_path / "k.pem").write_bytes(data)
    (tmp_path / "pw").write_bytes(password)
    public = openssl(
        "pkey",
        "-in",
        str(tmp_path / "k.pem"),
        "-passin",
        f"file:{tmp_path / 'pw'}",
        "-pubout",
        "-outform",
        "DER",
    )
    assert public[-64:] == key.public_key.to_bytes()


def test_passwords_with_nul_bytes_are_not_written() -> None:
    # HMAC zero-pads its key: b"pw" and b"pw\x00" derive the same PBKDF2 key, so a NUL would be decoration
    key = PrivateKey.generate()
    with pytest.raises(Exception, match="NUL"):
        key.to_pem(b"pw\x00")
    assert pkcs8.read_private_key(key.to_pem(b"pw"), b"pw\x00") == key._d


def test_errors_and_reprs_show_neither_password_nor_scalar(quick_encrypted: tuple[PrivateKey, bytes]) -> None:
    key, data = quick_encrypted
    password = b"a-password-that-must-not-leak"
    secrets = (password.decode(), key.to_hex(), str(key._d))
    texts = [repr(key), str(key)]
    for load in both_paths(data, password):
        with pytest.raises(InvalidKeyError) as caught:
            load()
        texts += [str(caught.value), repr(caught.value)]
    assert not [t for t in texts for s in secrets if s in t]


# --- what an error message may say -------------------------------------------------------------------------
def chained_texts(exc: BaseException) -> list[str]:
    """The text of ``exc`` and of every exception chained to it (a logged traceback prints them all)."""
    texts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None:
        texts.append(str(seen))
        seen = seen.__cause__ or seen.__context__
    return texts


def quotes(texts: list[str], secret: bytes) -> bool:
    """Whether ``texts`` carry 8 consecutive bytes of ``secret``, in hex or inside a decimal number
    (asn1crypto prints a length it read in decimal)."""
    windows = [secret[i : i + 8] for i in range(len(secret) - 7)]
    for text in texts:
        numbers = [int(d) for d in re.findall(r"\d{19,}", text)]
        blobs = [n.to_bytes((n.bit_length() + 7) // 8, "big") for n in numbers]
        if any(w.hex() in text.lower() or any(w in b for b in blobs) for w in windows):
            return True
    return False


def long_form_length(der_byte: int) -> int:
    """An outer-SEQUENCE length byte that makes a DER reader take the next 66 bytes, the header and the
    scalar of an SM2 PKCS#8, as the length."""
    return der_byte ^ (0x80 | 66)


def test_a_one_byte_change_to_the_iv_does_not_make_the_error_print_the_key(
    quick_encrypted: tuple[PrivateKey, bytes],
) -> None:
    """CBC: flipping bits of the IV flips the same bits of the first plaintext block, without the password.
    Turning the outer length into a 66-byte long form made asn1crypto's 'Insufficient data - N bytes
    requested' quote the decrypted scalar in N; who could edit the file and read the node's log or the
    operator's error report got the key. The error must say wrong password or damaged file, and no more."""
    key, data = quick_encrypted
    _, _, plain = pem.unarmor(key.to_pem())

    def edit(info: keys.EncryptedPrivateKeyInfo) -> None:
        scheme = info["encryption_algorithm"]["parameters"]["encryption_scheme"]
        iv = bytearray(scheme["parameters"].native)
        iv[1] ^= long_form_length(plain[1])
        scheme["parameters"] = core.OctetString(bytes(iv))

    tampered = edit_encryption(data, edit)
    for load in both_paths(tampered, b"pw"):
        with pytest.raises(
            InvalidKeyError, match="Incorrect password, or the encrypted key is corrupted"
        ) as caught:
            load()
        assert not quotes(chained_texts(caught.value), key.to_bytes())


def test_a_damaged_plain_key_is_not_printed_in_the_error() -> None:
    # the same damage to an unencrypted file: the error goes to logs and bug reports, the key must not
    key = PrivateKey.generate()
    _, _, der = pem.unarmor(key.to_pem())
    damaged = bytes(pem.armor("PRIVATE KEY", der[:1] + bytes([0x80 | 66]) + der[2:]))
    for load in both_paths(damaged, None):
        with pytest.raises(InvalidKeyError) as caught:
            load()
        assert not quotes(chained_texts(caught.value), key.to_bytes())


def test_every_wrong_password_is_reported_as_one(quick_encrypted: tuple[PrivateKey, bytes]) -> None:
    """About one wrong password in 256 leaves valid PKCS#7 padding and the garbage fails to parse instead;
    tongsuopy's path says 'Incorrect password' for those too (sdk/crypto/keys.py), pkcs8 printed asn1crypto's
    parse error. 4,000 tries miss such a password with probability about 1e-7."""
    _, data = quick_encrypted
    told: set[str] = set()
    for i in range(4000):
        with pytest.raises(InvalidKeyError) as caught:
            pkcs8.read_private_key(data, b"wrong-%d" % i)
        told.add(str(caught.value))
    assert told == {
        "cannot load the SM2 private key PEM: Incorrect password, or the encrypted key is corrupted"
    }


@pytest.mark.parametrize("value", [16, 2**62, 10**12], ids=["16", "2^62", "10^12"])
def test_an_sm4_iv_that_is_not_an_octet_string_is_refused(
    quick_encrypted: tuple[PrivateKey, bytes], value: int
) -> None:
    """SM4-CBC's parameters are the IV, an OCTET STRING; pkcs8 took any ASN.1 value and called bytes() on it,
    so an INTEGER became that many zero bytes: 2^62 raised MemoryError (not InvalidKeyError), 10^12 would try
    to allocate a terabyte."""
    _, data = quick_encrypted

    def edit(info: keys.EncryptedPrivateKeyInfo) -> None:
        info["encryption_algorithm"]["parameters"]["encryption_scheme"]["parameters"] = core.Integer(value)

    edited = edit_encryption(data, edit)
    for load in both_paths(edited, b"pw"):
        with pytest.raises(InvalidKeyError):
            load()


@pytest.mark.parametrize("shape", ["openssl ecparam -genkey", "public key first"])
def test_other_pem_blocks_before_the_key_are_skipped_as_openssl_does(shape: str) -> None:
    """``openssl ecparam -genkey -name SM2 -out key.pem`` writes an ``SM2 PARAMETERS`` block, then the key;
    tongsuopy and the browser console open the file, pkcs8 refused it ('a PEM of SM2 PARAMETERS where ...'),
    so the same file failed only where tongsuopy is missing."""
    key = PrivateKey.generate()
    if shape == "openssl ecparam -genkey":
        data = openssl("ecparam", "-genkey", "-name", "SM2")
        assert data.startswith(b"-----BEGIN SM2 PARAMETERS-----")
        key = PrivateKey.from_pem(data)  # tongsuopy
    else:
        data = PrivateKey.generate().public_key.to_pem() + key.to_pem()
    for load in both_paths(data, None):
        assert load() == key
    assert PublicKey(pkcs8.read_public_key(key.to_pem() + key.public_key.to_pem())) == key.public_key


# --- files tongsuopy opens and pkcs8 refuses (gaps, each refused with a message naming what it met) --------
@pytest.mark.parametrize(
    ("scheme", "why"),
    [
        (["-v1", "PBE-SHA1-3DES"], "scheme other than PBES2 with PBKDF2"),
        (["-scrypt"], "scheme other than PBES2 with PBKDF2"),
        (["-v2", "des3"], "not SM4-CBC or AES-CBC"),
    ],
    ids=["PBES1", "scrypt", "3DES"],
)
def test_encryptions_only_tongsuopy_reads_are_refused_clearly_without_it(
    openssl_key: Path, scheme: list[str], why: str
) -> None:
    encrypted = openssl("pkcs8", "-topk8", "-in", str(openssl_key), *scheme, "-passout", "pass:pw")
    assert PrivateKey.from_pem(encrypted, b"pw") == PrivateKey.from_pem(openssl_key.read_bytes())
    with pytest.raises(InvalidKeyError, match=why):
        pkcs8.read_private_key(encrypted, b"pw")


def test_sec1_ec_private_keys_open_on_both_paths(tmp_path: Path) -> None:
    """SEC1 ``EC PRIVATE KEY`` (tongsuopy's TraditionalOpenSSL, OpenSSL 1.1's ``ecparam -genkey``): the same
    key with tongsuopy and without, and OpenSSL agrees on its public key; another curve or a curve given as
    explicit parameters is refused."""
    from tongsuopy.crypto import serialization
    from tongsuopy.crypto.asymciphers import ec

    theirs = ec.generate_private_key(ec.SM2())
    sec1 = theirs.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert sec1.startswith(b"-----BEGIN EC PRIVATE KEY-----")
    scalar = theirs.private_numbers().private_value
    for load in both_paths(sec1, None):
        assert load()._d == scalar
    (tmp_path / "sec1.pem").write_bytes(sec1)
    public = openssl("pkey", "-in", str(tmp_path / "sec1.pem"), "-pubout", "-outform", "DER")[-64:]
    assert PrivateKey._from_pem_fallback(sec1, None).public_key.to_bytes() == public
    with pytest.raises(InvalidKeyError, match="not encrypted"):
        PrivateKey._from_pem_fallback(sec1, b"pw")

    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(tmp_path / "p256.pem"))
    with pytest.raises(InvalidKeyError, match="not an SM2 key"):
        PrivateKey._from_pem_fallback((tmp_path / "p256.pem").read_bytes(), None)
    explicit = openssl("ec", "-in", str(tmp_path / "p256.pem"), "-param_enc", "explicit")
    with pytest.raises(InvalidKeyError, match="explicit parameters"):
        PrivateKey._from_pem_fallback(explicit, None)


def test_a_huge_file_is_refused_before_parsing() -> None:
    """asn1crypto joins a PEM body line by line, in quadratic time: without tongsuopy a wrong --key pointed at
    a large file took 2.6 s at 4 MB, 12.6 s at 8 MB, minutes beyond (tongsuopy: 30 ms). A key file is under
    2 KB; past pkcs8.MAX_PEM_BYTES the file is refused unread."""
    line = b"A" * 64 + b"\n"
    data = b"-----BEGIN PRIVATE KEY-----\n" + line * (4_000_000 // len(line)) + b"-----END PRIVATE KEY-----\n"
    for read in (lambda: pkcs8.read_private_key(data, None), lambda: pkcs8.read_public_key(data)):
        with pytest.raises(InvalidKeyError, match="larger than any key file"):
            read()
