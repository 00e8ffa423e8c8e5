"""Property tests: SM4-GCM round-trips and tamper detection; DER signatures and PEM keys round-trip."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from sdk.crypto import PrivateKey, PublicKey, signature_from_der, signature_to_der, sm4_gcm_open, sm4_gcm_seal
from sdk.crypto.sm2 import N
from sdk.errors import DecryptionError, InvalidKeyError

keys = st.integers(min_value=1, max_value=N - 2).map(PrivateKey)
sm4_keys = st.binary(min_size=16, max_size=16)


@settings(max_examples=100, deadline=None)
@given(key=sm4_keys, plaintext=st.binary(max_size=500), aad=st.binary(max_size=64))
def test_sm4_gcm_round_trips(key: bytes, plaintext: bytes, aad: bytes) -> None:
    blob = sm4_gcm_seal(key, plaintext, aad)
    assert len(blob) == 12 + len(plaintext) + 16
    assert sm4_gcm_open(key, blob, aad) == plaintext


@settings(max_examples=100, deadline=None)
@given(key=sm4_keys, plaintext=st.binary(max_size=200), aad=st.binary(max_size=32), data=st.data())
def test_sm4_gcm_refuses_any_altered_byte_of_nonce_ciphertext_or_tag(
    key: bytes, plaintext: bytes, aad: bytes, data: st.DataObject
) -> None:
    blob = bytearray(sm4_gcm_seal(key, plaintext, aad))
    index = data.draw(st.integers(0, len(blob) - 1), label="byte")
    blob[index] ^= data.draw(st.integers(1, 255), label="xor")
    with pytest.raises(DecryptionError):
        sm4_gcm_open(key, bytes(blob), aad)


@settings(max_examples=50, deadline=None)
@given(key=sm4_keys, other_key=sm4_keys, plaintext=st.binary(max_size=100), aad=st.binary(max_size=32))
def test_sm4_gcm_refuses_other_aad_or_key(key: bytes, other_key: bytes, plaintext: bytes, aad: bytes) -> None:
    blob = sm4_gcm_seal(key, plaintext, aad)
    with pytest.raises(DecryptionError):
        sm4_gcm_open(key, blob, aad + b"x")
    if other_key != key:
        with pytest.raises(DecryptionError):
            sm4_gcm_open(other_key, blob, aad)


@settings(max_examples=200, deadline=None)
@given(signature=st.binary(min_size=64, max_size=64))
def test_der_signature_round_trips(signature: bytes) -> None:
    der = signature_to_der(signature)
    assert der[0] == 0x30
    assert signature_from_der(der) == signature


@settings(max_examples=15, deadline=None)
@given(
    key=keys,
    password=st.one_of(st.none(), st.binary(min_size=1, max_size=40).filter(lambda p: b"\0" not in p)),
)
def test_pem_round_trips_with_and_without_password(key: PrivateKey, password: bytes | None) -> None:
    pem = key.to_pem(password)
    assert pem.startswith(
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----" if password else b"-----BEGIN PRIVATE KEY-----"
    )
    loaded = PrivateKey.from_pem(pem, password)
    assert loaded == key
    assert loaded.to_bytes() == key.to_bytes()
    assert PublicKey.from_pem(key.public_key.to_pem()) == key.public_key
    if password:
        with pytest.raises(InvalidKeyError):
            PrivateKey.from_pem(pem, password + b"!")
        with pytest.raises(InvalidKeyError):
            PrivateKey.from_pem(pem)
