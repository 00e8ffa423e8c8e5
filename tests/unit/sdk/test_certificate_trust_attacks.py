"""Attacks on the relying party's check of a certificate bound on chain (sdk.domains.governance.certificates
over sdk.identity.x509), with real openssl-made SM2 certificates: what a malicious CA certificate author, a
committee that approved odd anchors, or an account holding someone else's certificate can try. Each test
passes when the check refuses what it should and accepts what it should."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from eth_utils import keccak

from sdk.crypto import address_from_public_key, sm3
from sdk.domains.governance import BoundCertificate, TrustAnchor, check_bound_certificate
from sdk.domains.governance.certificates import chain_certificate
from sdk.errors import IdentityCertificateError
from sdk.identity.x509 import CertifiedIdentity, check_trust_anchor, to_der
from tests import sm2_certs
from tests.sm2_certs import Issued

USCC = "91350100M000100Y43"


@dataclasses.dataclass(frozen=True)
class Pki:
    ca: Issued
    rolled_ca: Issued  # the same subject name as ``ca`` ("CN=Consortium CA"), a new key: a CA key rollover
    impostor_ca: Issued  # the same name again, a key nobody trusts
    leaf: Issued  # issued by ``ca``
    leaf_of_rolled: Issued  # issued by ``rolled_ca``
    leaf_of_impostor: Issued
    uscc_ca: Issued  # a self-signed CA whose own name is the organisation's USCC
    leaf_without_uscc: Issued  # issued by ``uscc_ca``: the USCC is in its issuer name only
    not_ca: Issued  # a leaf (CA:FALSE) issued by ``ca``
    leaf_of_not_ca: Issued
    short_ca: Issued  # valid 5 days
    leaf_of_short_ca: Issued  # valid 10 days


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d: Path = tmp_path_factory.mktemp("trust")
    rolled, impostor = d / "rolled", d / "impostor"
    rolled.mkdir()
    impostor.mkdir()
    ca = sm2_certs.self_signed_ca(d, "Consortium CA")
    rolled_ca = sm2_certs.self_signed_ca(rolled, "Consortium CA")
    impostor_ca = sm2_certs.self_signed_ca(impostor, "Consortium CA")
    uscc_ca = sm2_certs.self_signed_ca(d, USCC)
    not_ca = sm2_certs.issue(d, "not-ca", "/CN=Not a CA", ca)
    short_ca = sm2_certs.self_signed_ca(d, "Short CA", days=5)
    org = f"/O=Org/serialNumber={USCC}"
    return Pki(
        ca=ca,
        rolled_ca=rolled_ca,
        impostor_ca=impostor_ca,
        leaf=sm2_certs.issue(d, "leaf", org, ca),
        leaf_of_rolled=sm2_certs.issue(d, "leaf-rolled", org, rolled_ca),
        leaf_of_impostor=sm2_certs.issue(d, "leaf-impostor", org, impostor_ca),
        uscc_ca=uscc_ca,
        leaf_without_uscc=sm2_certs.issue(d, "no-uscc", "/O=Org/CN=Some Org", uscc_ca),
        not_ca=not_ca,
        leaf_of_not_ca=sm2_certs.issue(d, "leaf-of-not-ca", org, not_ca),
        short_ca=short_ca,
        leaf_of_short_ca=sm2_certs.issue(d, "leaf-short", org, short_ca),
    )


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def anchor(issued: Issued | bytes) -> TrustAnchor:
    der = to_der(issued.pem) if isinstance(issued, Issued) else issued
    return TrustAnchor(anchor_id=keccak(der), certificate=der)


def check(
    leaf: Issued, anchors: list[Issued | bytes], *, at: dt.datetime | None = None, uscc: str = USCC
) -> CertifiedIdentity:
    """The relying party's check of ``leaf`` bound to the account its key derives to."""
    der = to_der(leaf.pem)
    bound = BoundCertificate(
        account=address_from_public_key(leaf.public_key),
        certificate_id=keccak(der),
        certificate=der,
        bound_block=1,
    )
    return check_bound_certificate(bound, anchors=[anchor(a) for a in anchors], uscc=uscc, at=at or now())


def refused(call: object) -> str:
    assert callable(call)
    with pytest.raises(IdentityCertificateError) as caught:
        call()
    return caught.value.code


def test_a_uscc_named_only_by_the_issuer_does_not_certify_the_organisation(pki: Pki) -> None:
    # the CA's own subject is the USCC; the leaf's subject names none: the issuer's name lends it nothing
    assert refused(lambda: check(pki.leaf_without_uscc, [pki.uscc_ca])) == "x509_uscc_mismatch"
    assert check(pki.leaf, [pki.ca]).subject.startswith("serialNumber=" + USCC)


def test_a_leaf_is_no_trust_anchor_and_issues_nothing_even_when_anchored(pki: Pki) -> None:
    assert refused(lambda: check_trust_anchor(pki.not_ca.pem, at=now())) == "x509_issuer_not_ca"
    # a committee that anchored the leaf anyway (a raw proposal) still gets no chain through it
    assert refused(lambda: check(pki.leaf_of_not_ca, [pki.ca, pki.not_ca])) == "x509_issuer_not_ca"
    assert refused(lambda: check(pki.leaf_of_not_ca, [pki.ca])) == "x509_unknown_issuer"


def test_a_certificate_is_not_its_own_issuer_even_when_it_is_an_anchor(pki: Pki) -> None:
    # a self-signed CA certificate naming the USCC, bound to the account of its own key and anchored too:
    # the very bytes bound are never taken as their own issuer
    check_trust_anchor(pki.uscc_ca.pem, at=now())
    assert refused(lambda: check(pki.uscc_ca, [pki.uscc_ca])) == "x509_unknown_issuer"


def test_an_expired_anchor_certifies_nothing(pki: Pki) -> None:
    later = now() + dt.timedelta(days=6)  # the anchor (5 days) has expired, its leaf (10 days) has not
    assert refused(lambda: check_trust_anchor(pki.short_ca.pem, at=later)) == "x509_expired"
    assert check(pki.leaf_of_short_ca, [pki.short_ca]).issuer_fingerprint == sm3(to_der(pki.short_ca.pem))
    assert refused(lambda: check(pki.leaf_of_short_ca, [pki.short_ca], at=later)) == "x509_expired"


def test_a_removed_anchor_certifies_nothing(pki: Pki) -> None:
    # the check sees only the anchors in force it is given: no earlier anchor is remembered anywhere
    assert check(pki.leaf, [pki.ca]).issuer_fingerprint == sm3(to_der(pki.ca.pem))
    assert refused(lambda: check(pki.leaf, [pki.rolled_ca])) == "x509_signature"
    assert refused(lambda: check(pki.leaf, [pki.uscc_ca])) == "x509_unknown_issuer"


def test_what_is_recorded_is_what_was_checked(pki: Pki) -> None:
    """PEM with trailing text or a second certificate records the first certificate's DER, the bytes the
    SDK checked; DER with anything after it, or text before a PEM, is no certificate."""
    der = to_der(pki.leaf.pem)
    assert chain_certificate(pki.leaf.pem + b"\ntrailing junk\x00") == der
    assert chain_certificate(pki.leaf.pem + pki.ca.pem) == der
    assert refused(lambda: chain_certificate(der + b"\x00")) == "x509_malformed"
    assert refused(lambda: chain_certificate(b"junk\n" + pki.leaf.pem)) == "x509_malformed"


def test_a_certificate_for_another_key_does_not_bind_the_account(pki: Pki) -> None:
    der = to_der(pki.leaf.pem)
    other = address_from_public_key(pki.leaf_of_rolled.public_key)
    bound = BoundCertificate(account=other, certificate_id=keccak(der), certificate=der, bound_block=1)
    code = refused(lambda: check_bound_certificate(bound, anchors=[anchor(pki.ca)], uscc=USCC, at=now()))
    assert code == "x509_key_mismatch"


def test_two_anchors_with_one_name_each_certify_what_they_issued(pki: Pki) -> None:
    """A CA rolling its key over keeps its name: while both keys are anchors, certificates of either key
    check, in whichever order the anchors were added. A third key with that name certifies nothing."""
    for anchors in ([pki.ca, pki.rolled_ca], [pki.rolled_ca, pki.ca]):
        assert check(pki.leaf, anchors).issuer_fingerprint == sm3(to_der(pki.ca.pem))
        assert check(pki.leaf_of_rolled, anchors).issuer_fingerprint == sm3(to_der(pki.rolled_ca.pem))
        assert refused(lambda: check(pki.leaf_of_impostor, anchors)) == "x509_signature"  # noqa: B023


def test_an_anchor_that_is_no_certificate_spoils_no_other_anchor(pki: Pki) -> None:
    """The contract records any DER-shaped bytes a committee approves (a raw proposal, which
    `xinlian proposal show` flags as refused); such an anchor issues nothing, and every other binding still
    checks against the other anchors rather than failing as x509_malformed."""
    garbage = b"\x30\x82\x01\x00" + bytes(256)
    assert check(pki.leaf, [garbage, pki.ca]).issuer_fingerprint == sm3(to_der(pki.ca.pem))
    assert refused(lambda: check(pki.leaf, [garbage])) == "x509_unknown_issuer"
