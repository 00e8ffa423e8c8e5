"""Known answers from the GM standards (SM3, SM4, SM4-GCM, SM2 sign and encrypt) on both SM2 backends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from gmssl import sm3 as gm_sm3

from sdk.crypto import SM3, PrivateKey, PublicKey, get_backend, hmac_sm3, sm3, sm4_gcm_open, sm4_gcm_seal
from sdk.crypto._gmssl import _encrypt_with_k, _sign_with_k

VECTORS: dict[str, Any] = json.loads((Path(__file__).parent / "gm_vectors.json").read_text())
SM2 = VECTORS["sm2"]
BACKENDS = ["tongsuo", "gmssl"]


@pytest.mark.parametrize("case", VECTORS["sm3"]["cases"], ids=lambda c: c["name"])
def test_sm3_matches_gbt_32905_examples(case: dict[str, str]) -> None:
    message = case["message_ascii"].encode()
    assert sm3(message).hex() == case["digest"]
    assert SM3(message[:3]).update(message[3:]).hexdigest() == case["digest"]
    assert gm_sm3.sm3_hash(list(message)) == case["digest"]


@pytest.mark.parametrize("case", VECTORS["sm4"]["cases"], ids=lambda c: c["name"])
def test_sm4_matches_gbt_32907_examples(case: dict[str, Any]) -> None:
    encryptor = Cipher(algorithms.SM4(bytes.fromhex(case["key"])), modes.ECB()).encryptor()
    block = bytes.fromhex(case["plaintext"])
    for _ in range(case["iterations"]):
        block = encryptor.update(block)
    assert block.hex() == case["ciphertext"]


@pytest.mark.parametrize("case", VECTORS["sm4_gcm"]["cases"], ids=lambda c: c["name"])
def test_sm4_gcm_matches_rfc_8998(case: dict[str, str]) -> None:
    key, nonce, aad = (bytes.fromhex(case[f]) for f in ("key", "nonce", "aad"))
    blob = sm4_gcm_seal(key, bytes.fromhex(case["plaintext"]), aad, nonce)
    assert blob == nonce + bytes.fromhex(case["ciphertext"]) + bytes.fromhex(case["tag"])
    assert sm4_gcm_open(key, blob, aad).hex() == case["plaintext"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_sm2_public_key_of_the_example_private_key(backend: str) -> None:
    d = int(SM2["private_key"], 16)
    assert get_backend(backend).derive_public(d).hex() == SM2["public_key"]
    assert PrivateKey.from_hex(SM2["private_key"]).public_key.to_hex() == SM2["public_key"]


@pytest.mark.parametrize("case", SM2["signatures"], ids=lambda c: c["name"])
def test_sm2_reference_backend_reproduces_the_example_signature_with_its_k(case: dict[str, str]) -> None:
    key = PrivateKey.from_hex(SM2["private_key"])
    gm = get_backend("gmssl")
    e = gm.sm3(key.public_key._z_a(case["user_id_ascii"].encode(), gm) + case["message_ascii"].encode())
    r, s = _sign_with_k(key._handle(gm), e, int(case["k"], 16))  # type: ignore[misc]
    assert (f"{r:064x}", f"{s:064x}") == (case["r"], case["s"])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", SM2["signatures"], ids=lambda c: c["name"])
def test_sm2_example_signature_verifies_on_both_backends(case: dict[str, str], backend: str) -> None:
    public = PublicKey.from_hex(SM2["public_key"])
    signature = bytes.fromhex(case["r"] + case["s"])
    public.verify(
        case["message_ascii"].encode(), signature, user_id=case["user_id_ascii"].encode(), backend=backend
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_sm2_example_signature_fails_with_another_user_id(backend: str) -> None:
    from sdk.errors import InvalidSignatureError

    case = SM2["signatures"][0]
    public = PublicKey.from_hex(SM2["public_key"])
    with pytest.raises(InvalidSignatureError):
        public.verify(
            case["message_ascii"].encode(),
            bytes.fromhex(case["r"] + case["s"]),
            user_id=b"ALICE123@YAHOO.COM",
            backend=backend,
        )


@pytest.mark.parametrize("case", SM2["encryptions"], ids=lambda c: c["name"])
def test_sm2_reference_backend_reproduces_the_example_ciphertext_with_its_k(case: dict[str, str]) -> None:
    public = PublicKey.from_hex(SM2["public_key"])
    gm = get_backend("gmssl")
    ciphertext = _encrypt_with_k(public._handle(gm), case["message_ascii"].encode(), int(case["k"], 16))
    assert ciphertext is not None
    assert ciphertext.hex() == case["c1"] + case["c3"] + case["c2"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", SM2["encryptions"], ids=lambda c: c["name"])
def test_sm2_example_ciphertext_decrypts_on_both_backends(case: dict[str, str], backend: str) -> None:
    key = PrivateKey.from_hex(SM2["private_key"])
    ciphertext = bytes.fromhex(case["c1"] + case["c3"] + case["c2"])
    assert key.decrypt(ciphertext, backend=backend) == case["message_ascii"].encode()


def _reference_hmac_sm3(key: bytes, message: bytes) -> bytes:
    """RFC 2104 written out over gmssl's SM3 (block size 64): the second implementation of hmac_sm3."""
    if len(key) > 64:
        key = bytes.fromhex(gm_sm3.sm3_hash(list(key)))
    key = key.ljust(64, b"\x00")
    inner = bytes.fromhex(gm_sm3.sm3_hash(list(bytes(b ^ 0x36 for b in key) + message)))
    return bytes.fromhex(gm_sm3.sm3_hash(list(bytes(b ^ 0x5C for b in key) + inner)))


@pytest.mark.parametrize(
    ("key", "message"),
    [(b"", b""), (b"k" * 32, b"abc"), (bytes(range(64)), b"x" * 200), (b"long" * 40, bytes(range(256)))],
    ids=["empty", "32-byte key", "block-size key", "key longer than a block"],
)
def test_hmac_sm3_agrees_with_rfc_2104_over_the_reference_sm3(key: bytes, message: bytes) -> None:
    assert hmac_sm3(key, message) == _reference_hmac_sm3(key, message)
