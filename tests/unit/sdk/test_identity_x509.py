"""sdk.identity.x509: every refusal, with real certificates made by the openssl CLI."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from sdk.crypto.sm3 import sm3
from sdk.errors import IdentityCertificateError
from sdk.identity.x509 import CertifiedIdentity, check_certificate, fingerprint
from tests import sm2_certs
from tests.sm2_certs import Issued

USCC = "91350100M000100Y43"
OTHER_USCC = "91110000100000000K"


@dataclasses.dataclass(frozen=True)
class Pki:
    ca: Issued
    other_ca: Issued
    intermediate: Issued
    leaf: Issued
    leaf_via_intermediate: Issued
    not_ca: Issued
    leaf_of_not_ca: Issued
    p256: Issued
    leaf_by_oi: Issued
    short_ca: Issued
    leaf_of_short_ca: Issued


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d: Path = tmp_path_factory.mktemp("pki")
    ca = sm2_certs.self_signed_ca(d, "Root CA")
    other = sm2_certs.self_signed_ca(d, "Other CA")
    mid = sm2_certs.issue(d, "mid", "/CN=Intermediate CA", ca, ca=True)
    not_ca = sm2_certs.issue(d, "notca", "/CN=Not a CA", ca)
    short = sm2_certs.self_signed_ca(d, "Short CA", days=5)
    return Pki(
        ca=ca,
        other_ca=other,
        intermediate=mid,
        leaf=sm2_certs.issue(d, "leaf", f"/O=Org/serialNumber={USCC}", ca),
        leaf_via_intermediate=sm2_certs.issue(d, "leaf2", f"/O=Org/CN={USCC}", mid),
        not_ca=not_ca,
        leaf_of_not_ca=sm2_certs.issue(d, "leaf3", f"/O=Org/serialNumber={USCC}", not_ca),
        p256=sm2_certs.p256_ca(d, "P256"),
        leaf_by_oi=sm2_certs.issue(d, "leaf4", f"/O=Org/organizationIdentifier={USCC}", ca),
        short_ca=short,
        leaf_of_short_ca=sm2_certs.issue(d, "leaf5", f"/O=Org/serialNumber={USCC}", short),
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _check(pki: Pki, cert: Issued, **over: object) -> CertifiedIdentity:
    args: dict[str, object] = {
        "cas": [pki.ca.pem],
        "public_key": cert.public_key,
        "uscc": USCC,
        "at": _now(),
    }
    args.update(over)
    return check_certificate(cert.pem, **args)  # type: ignore[arg-type]


def _refused(code: str, pki: Pki, cert: Issued | bytes, **over: object) -> None:
    issued = cert if isinstance(cert, Issued) else None
    with pytest.raises(IdentityCertificateError) as info:
        if issued is not None:
            _check(pki, issued, **over)
        else:
            args: dict[str, object] = {"cas": [pki.ca.pem], "public_key": pki.leaf.public_key, "uscc": USCC}
            args.update(over)
            check_certificate(cert, at=_now(), **args)  # type: ignore[arg-type]
    assert info.value.code == code, info.value.to_dict()


def test_a_good_certificate_binds_key_uscc_and_issuer(pki: Pki) -> None:
    result = _check(pki, pki.leaf)
    der = pki.leaf.pem  # PEM and DER name the same certificate
    assert result.fingerprint == fingerprint(der)
    assert result.issuer_fingerprint == fingerprint(pki.ca.pem)
    assert "serialNumber" in result.subject or "2.5.4.5" in result.subject
    assert len(result.fingerprint) == 32


def test_fingerprint_is_sm3_of_the_der(pki: Pki) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    der = x509.load_pem_x509_certificate(pki.leaf.pem).public_bytes(Encoding.DER)
    assert fingerprint(der) == sm3(der) == fingerprint(pki.leaf.pem)


def test_one_listed_intermediate_level_and_other_attributes(pki: Pki) -> None:
    _check(pki, pki.leaf_via_intermediate, intermediates=[pki.intermediate.pem])
    _check(pki, pki.leaf_by_oi)


def test_unlisted_intermediate_is_an_unknown_issuer(pki: Pki) -> None:
    _refused("x509_unknown_issuer", pki, pki.leaf_via_intermediate)


def test_wrong_algorithm_p256(pki: Pki) -> None:
    _refused("x509_algorithm", pki, pki.p256, cas=[pki.p256.pem])


def test_expired_and_not_yet_valid(pki: Pki) -> None:
    _refused("x509_expired", pki, pki.leaf, at=_now() + dt.timedelta(days=11))
    _refused("x509_not_yet_valid", pki, pki.leaf, at=_now() - dt.timedelta(days=1))


def test_expired_issuer_refuses_the_chain(pki: Pki) -> None:
    # the leaf is valid for 10 days, its CA for 5: at day 6 only the CA has expired
    later = _now() + dt.timedelta(days=6)
    _refused("x509_expired", pki, pki.leaf_of_short_ca, cas=[pki.short_ca.pem], at=later)
    _check(pki, pki.leaf, at=later)


def test_unknown_issuer(pki: Pki) -> None:
    _refused("x509_unknown_issuer", pki, pki.leaf, cas=[pki.other_ca.pem])


def test_bad_signature_byte_flipped_in_tbs(pki: Pki) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    cert = x509.load_pem_x509_certificate(pki.leaf.pem)
    der = bytearray(cert.public_bytes(Encoding.DER))
    tbs = cert.tbs_certificate_bytes
    at = bytes(der).index(tbs)
    # flip a byte inside the subject's organisation name "Org" (keeps the DER well formed)
    offset = at + tbs.index(b"Org")
    der[offset] ^= 0x01
    _refused("x509_signature", pki, bytes(der))


def test_issuer_not_a_ca(pki: Pki) -> None:
    _refused("x509_issuer_not_ca", pki, pki.leaf_of_not_ca, cas=[pki.ca.pem], intermediates=[pki.not_ca.pem])


def test_key_mismatch(pki: Pki) -> None:
    _refused("x509_key_mismatch", pki, pki.leaf, public_key=pki.leaf_by_oi.public_key)


def test_uscc_mismatch(pki: Pki) -> None:
    _refused("x509_uscc_mismatch", pki, pki.leaf, uscc=OTHER_USCC)


def test_malformed_and_oversized(pki: Pki) -> None:
    _refused("x509_malformed", pki, b"not a certificate")
    _refused("x509_malformed", pki, b"\x30" * (17 * 1024))


def test_too_many_cas(pki: Pki) -> None:
    _refused("x509_chain_too_long", pki, pki.leaf, cas=[pki.ca.pem] * 17)
