"""Property tests: the Tongsuo fast path and the gmssl reference agree on SM2 signatures and encryption."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from sdk.crypto import PrivateKey
from sdk.crypto.sm2 import N
from sdk.errors import InvalidSignatureError

BACKENDS = ["tongsuo", "gmssl"]
PAIRS = [(a, b) for a in BACKENDS for b in BACKENDS]
# gmssl is pure Python (a few ms per scalar multiplication): keep the example counts modest.
SLOW = settings(max_examples=12, deadline=None)

keys = st.integers(min_value=1, max_value=N - 2).map(PrivateKey)
messages = st.binary(max_size=300)
user_ids = st.binary(max_size=40)


@pytest.mark.parametrize(("signer", "verifier"), PAIRS)
@SLOW
@given(key=keys, message=messages, user_id=user_ids)
def test_signature_from_either_backend_verifies_on_the_other(
    signer: str, verifier: str, key: PrivateKey, message: bytes, user_id: bytes
) -> None:
    signature = key.sign(message, user_id=user_id, backend=signer)
    assert len(signature) == 64
    key.public_key.verify(message, signature, user_id=user_id, backend=verifier)


@pytest.mark.parametrize("signer", BACKENDS)
@SLOW
@given(key=keys, other=keys, message=messages, user_id=user_ids, data=st.data())
def test_any_change_makes_the_signature_fail_on_both_backends(
    signer: str, key: PrivateKey, other: PrivateKey, message: bytes, user_id: bytes, data: st.DataObject
) -> None:
    signature = key.sign(message, user_id=user_id, backend=signer)
    changed_message = data.draw(messages.filter(lambda m: m != message), label="changed message")
    changed_id = data.draw(user_ids.filter(lambda u: u != user_id), label="changed user id")
    index = data.draw(st.integers(0, 63), label="byte")
    flip = data.draw(st.integers(1, 255), label="xor")
    changed_signature = bytearray(signature)
    changed_signature[index] ^= flip
    attempts = [
        (key.public_key, changed_message, signature, user_id),
        (key.public_key, message, signature, changed_id),
        (key.public_key, message, bytes(changed_signature), user_id),
    ]
    if other != key:
        attempts.append((other.public_key, message, signature, user_id))
    for backend in BACKENDS:
        for public, msg, sig, uid in attempts:
            with pytest.raises(InvalidSignatureError):
                public.verify(msg, sig, user_id=uid, backend=backend)


@pytest.mark.parametrize(("encrypter", "decrypter"), PAIRS)
@SLOW
@given(key=keys, plaintext=st.binary(min_size=1, max_size=300))
def test_encrypt_on_one_backend_decrypt_on_the_other(
    encrypter: str, decrypter: str, key: PrivateKey, plaintext: bytes
) -> None:
    ciphertext = key.public_key.encrypt(plaintext, backend=encrypter)
    assert len(ciphertext) == 97 + len(plaintext)
    assert ciphertext[0] == 0x04
    assert key.decrypt(ciphertext, backend=decrypter) == plaintext


@pytest.mark.parametrize("decrypter", BACKENDS)
@SLOW
@given(key=keys, plaintext=st.binary(min_size=1, max_size=64), data=st.data())
def test_altered_ciphertext_is_refused_on_both_backends(
    decrypter: str, key: PrivateKey, plaintext: bytes, data: st.DataObject
) -> None:
    from sdk.errors import DecryptionError

    ciphertext = bytearray(key.public_key.encrypt(plaintext))
    index = data.draw(st.integers(1, len(ciphertext) - 1), label="byte")  # byte 0 is the 04 prefix
    ciphertext[index] ^= data.draw(st.integers(1, 255), label="xor")
    with pytest.raises(DecryptionError):
        key.decrypt(bytes(ciphertext), backend=decrypter)
