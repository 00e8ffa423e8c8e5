"""The KeyHolder protocol, the checks around external key holders, and the remote signer's preimage bounds."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdk.auth import MemberAuth, compute_query_preimage, sign_query, verify_query
from sdk.crypto import PrivateKey, PublicKey
from sdk.domains.authorisations.encoders import CONSENT_TAG
from sdk.encoding import encode
from sdk.errors import SignerError, SignerRefused
from sdk.keyholder import KeyHolder, sign_checked
from sdk.remote_signer import MAX_PREIMAGE_BYTES, RemoteSigner, check_preimage, read_token
from sdk.signer import Signer
from sdk.types import TX_TAG, Transaction


class _External:
    """A key holder outside the SDK (as a token or a remote service would be), optionally faulty."""

    def __init__(self, key: PrivateKey, *, faulty: bool = False) -> None:
        self._key = key
        self._faulty = faulty

    @property
    def address(self) -> bytes:
        return self._key.address

    @property
    def public_key(self) -> bytes:
        return self._key.public_key.to_bytes()

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message + b"!" if self._faulty else message)

    def decrypt(self, ciphertext: bytes) -> bytes:
        return self._key.decrypt(ciphertext)


def test_signer_and_an_external_holder_are_key_holders() -> None:
    assert isinstance(Signer.generate(), KeyHolder)
    assert isinstance(_External(PrivateKey.generate()), KeyHolder)


def test_signer_repr_and_decrypt() -> None:
    signer = Signer.generate()
    assert repr(signer) == f"Signer(address=0x{signer.address.hex()})"
    sealed = PublicKey.from_bytes(signer.public_key).encrypt(b"k" * 16)
    assert signer.decrypt(sealed) == b"k" * 16


def test_transactions_and_queries_sign_through_any_key_holder() -> None:
    holder = _External(PrivateKey.generate())
    tx = Transaction.create(holder, chain_id=3, to=bytes(20), data=b"", gas_limit=50_000, expiry_height=5)
    PublicKey.from_bytes(holder.public_key).verify(tx.signing_preimage(), tx.signature)
    headers = sign_query(
        holder, chain_id=3, audience="n", method="GET", path_and_query="/v1/x", timestamp_ms=7
    )
    signed = verify_query(
        headers, chain_id=3, audience="n", method="GET", path_and_query="/v1/x", body=b"", now_ms=7
    )
    assert signed.address == holder.address
    assert MemberAuth(holder, 3, "n").key is holder


def test_a_signature_that_does_not_verify_is_refused_not_used() -> None:
    holder = _External(PrivateKey.generate(), faulty=True)
    with pytest.raises(SignerError) as caught:
        sign_checked(holder, b"message")
    assert caught.value.code == "bad_signature_from_signer"
    with pytest.raises(SignerError):
        Transaction.create(holder, chain_id=3, to=bytes(20), data=b"", gas_limit=50_000, expiry_height=5)


def test_check_preimage_allows_transactions_and_queries_of_its_chain_only() -> None:
    signer = Signer.generate()
    tx = Transaction.create(signer, chain_id=9, to=bytes(20), data=b"x", gas_limit=50_000, expiry_height=5)
    assert check_preimage(tx.signing_preimage(), chain_id=9, public_key=signer.public_key) == "transaction"
    query = compute_query_preimage(9, "n", "GET", "/v1/x", 1, bytes(16), b"")
    assert check_preimage(query, chain_id=9, public_key=signer.public_key) == "query"
    other = Signer.generate().public_key
    cases = [
        (tx.signing_preimage(), 10, signer.public_key, "wrong_chain"),
        (tx.signing_preimage(), 9, other, "wrong_key"),
        (encode([CONSENT_TAG, 9, b"", b"", b"", b"", b"", b""]), 9, signer.public_key, "unknown_tag"),
        (encode([TX_TAG, 9, b""]), 9, signer.public_key, "not_a_preimage"),
        (encode([TX_TAG, b"\x00\x01", b"", b"", b"", b"", b"", b""]), 9, signer.public_key, "not_a_preimage"),
        (encode([[TX_TAG], 9, b"", b"", b"", b"", b"", b""]), 9, signer.public_key, "not_a_preimage"),
        (b"\x00" * 40, 9, signer.public_key, "not_a_preimage"),
        (bytes(MAX_PREIMAGE_BYTES + 1), 9, signer.public_key, "too_large"),
    ]
    for message, chain_id, public_key, reason in cases:
        with pytest.raises(SignerRefused) as caught:
            check_preimage(message, chain_id=chain_id, public_key=public_key)
        assert caught.value.detail["reason"] == reason


def test_remote_signer_needs_https_and_a_real_token(tmp_path: Path) -> None:
    with pytest.raises(SignerError) as caught:
        RemoteSigner("http://127.0.0.1:1", token="t" * 40)
    assert caught.value.code == "insecure_transport"
    with pytest.raises(SignerError):
        RemoteSigner("https://127.0.0.1:1")
    (tmp_path / "short").write_text("abc\n")
    with pytest.raises(SignerError) as caught:
        read_token(tmp_path / "short")
    assert caught.value.code == "bad_token_file"
    (tmp_path / "good").write_text("A" * 43 + "\n")
    assert read_token(tmp_path / "good") == "A" * 43
