"""Per-licence holder keys (sdk.domains.licences.holder_keys): the derivation is RFC 5869 HKDF with SM3,
recomputed here from HMAC's definition over the SDK's SM3, reduced into [1, n - 2]; one key per licence,
chain and registry; weak master secrets refused."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from sdk.crypto import sm3
from sdk.crypto.sm2 import N
from sdk.domains.licences import (
    HOLDER_KEY_TAG,
    HolderCredential,
    HolderKeys,
    compute_holder_commitment,
    compute_holder_key_hash,
    compute_licence_hash,
    derive_holder_key,
    new_holder_master_secret,
)
from sdk.errors import EncodingError
from sdk.identifiers import make_licence_id
from sdk.system import LICENCE_REGISTRY_ADDRESS

SECRET = bytes(range(1, 33))
IDENTIFIER = make_licence_id("11100000000013338W032", "11430000006122244L", "2024000001", 1)
ID_HASH = compute_licence_hash(IDENTIFIER)
BLOCK = 64  # SM3's block size


def _hmac_sm3(key: bytes, message: bytes) -> bytes:
    """HMAC (RFC 2104) over the SDK's SM3, from its definition."""
    key = key.ljust(BLOCK, b"\0")
    inner = sm3(bytes(b ^ 0x36 for b in key) + message)
    return sm3(bytes(b ^ 0x5C for b in key) + inner)


def _hkdf_sm3(ikm: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 HKDF-SM3 with no salt (a hash-length string of zeros)."""
    prk = _hmac_sm3(bytes(32), ikm)
    okm, block = b"", b""
    for counter in range(1, -(-length // 32) + 1):
        block = _hmac_sm3(prk, block + info + bytes([counter]))
        okm += block
    return okm[:length]


def test_the_derivation_is_hkdf_sm3_reduced_into_the_key_range() -> None:
    info = HOLDER_KEY_TAG + (7).to_bytes(32, "big") + LICENCE_REGISTRY_ADDRESS + ID_HASH
    expected = 1 + int.from_bytes(_hkdf_sm3(SECRET, info, 64), "big") % (N - 2)
    key = derive_holder_key(SECRET, chain_id=7, id_hash=ID_HASH)
    assert key == derive_holder_key(SECRET, chain_id=7, id_hash=ID_HASH, registry=LICENCE_REGISTRY_ADDRESS)
    assert int.from_bytes(key.to_bytes(), "big") == expected
    assert HOLDER_KEY_TAG == b"xinlian/licence-holder-key/1"


def test_one_key_per_licence_chain_registry_and_secret() -> None:
    base = derive_holder_key(SECRET, chain_id=7, id_hash=ID_HASH)
    others = [
        derive_holder_key(SECRET, chain_id=8, id_hash=ID_HASH),
        derive_holder_key(SECRET, chain_id=7, id_hash=sm3(b"another licence")),
        derive_holder_key(SECRET, chain_id=7, id_hash=ID_HASH, registry=bytes(19) + b"\x01"),
        derive_holder_key(bytes(range(2, 34)), chain_id=7, id_hash=ID_HASH),
    ]
    hashes = {compute_holder_key_hash(k.public_key) for k in [base, *others]}
    assert len(hashes) == 5


@pytest.mark.parametrize(
    "secret", [b"", bytes(31), bytes(32), b"\xff" * 32, b"abcd" * 8, bytes(range(8)) * 4, bytes(33)]
)
def test_weak_or_malformed_master_secrets_are_refused(secret: bytes) -> None:
    with pytest.raises(EncodingError) as refused:
        HolderKeys(secret)
    assert refused.value.code == "weak_secret"
    with pytest.raises(EncodingError):
        derive_holder_key(secret, chain_id=7, id_hash=ID_HASH)


def test_fresh_master_secrets_differ_and_never_show() -> None:
    first, second = HolderKeys.generate(), HolderKeys(new_holder_master_secret())
    assert first.master_secret != second.master_secret
    assert first.master_secret.hex() not in repr(first)
    with pytest.raises(EncodingError):
        derive_holder_key(SECRET, chain_id=7, id_hash=ID_HASH[:31])


def test_a_credential_names_the_licence_its_key_was_derived_for() -> None:
    holder = HolderKeys(SECRET)
    key = holder.key_for(chain_id=7, id_hash=ID_HASH)
    salt = bytes(range(40, 72))
    credential = HolderCredential(
        licence_name="营业执照",
        type_code="11100000000013338W032",
        identifier=IDENTIFIER,
        issuer_code="11430000006122244L",
        issue_date=dt.date(2024, 1, 1).isoformat(),
        valid_from="2024-01-01T00:00:00+08:00",
        valid_until="长期",
        jurisdiction="430100",
        holder_name="张三",
        holder_code="11010519491231002X",
        holder_code_type="111",
        holder_salt=salt,
        document_hash=sm3(b"document"),
        chain_id=7,
        registry=LICENCE_REGISTRY_ADDRESS,
        id_hash=ID_HASH,
        holder_commitment=compute_holder_commitment(salt, "111", "11010519491231002X"),
        holder_key_hash=compute_holder_key_hash(key.public_key),
        holder_key_id_hash=ID_HASH,
    )
    parsed = HolderCredential.from_json(credential.to_json())
    assert parsed.holder_key_id_hash == ID_HASH and holder.key_for_credential(parsed) == key
    renewed = dataclasses.replace(parsed, id_hash=sm3(b"version 2"))  # a renewal keeps the key's licence
    assert holder.key_for_credential(renewed) == key
    unnamed = dataclasses.replace(parsed, holder_key_id_hash=bytes(32))  # a key bound after issuance
    assert holder.key_for_credential(unnamed) == key
    older = credential.to_dict()
    del older["xinlian"]["holder_key_id_hash"]  # a file written before the field existed
    assert HolderCredential.from_json(json.dumps(older)).holder_key_id_hash == bytes(32)
