"""The chain of trust on chain: what a relying party checks of an account's certificate.

Governance records DER bytes (trust anchors and account bindings, approved by committee proposal or at
genesis) but cannot parse X.509; :func:`check_bound_certificate` re-checks a binding from that state with
``sdk.identity.x509``: the issuer's SM2 signature and CA flag, validity at the time asked, the certified key
being the account's, and the USCC being its organisation's. The proposal checks run the same rules before a
member signs, so a proposal the committee votes on has already passed them once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from eth_utils.crypto import keccak

from sdk.domains.governance.model import BoundCertificate, TrustAnchor
from sdk.errors import IdentityCertificateError
from sdk.identity.x509 import CertifiedIdentity, check_account_certificate, check_trust_anchor, to_der
from sdk.system import MAX_CHAIN_CERTIFICATE_BYTES


def chain_certificate(certificate: bytes) -> bytes:
    """The DER that Governance records for a PEM or DER ``certificate``.

    Raises IdentityCertificateError: ``x509_malformed`` (not a certificate), ``x509_too_large`` (over
    MAX_CHAIN_CERTIFICATE_BYTES as DER).
    """
    der = to_der(certificate)
    if len(der) > MAX_CHAIN_CERTIFICATE_BYTES:
        raise IdentityCertificateError(
            f"the certificate is {len(der)} bytes as DER; the chain records at most "
            f"{MAX_CHAIN_CERTIFICATE_BYTES}",
            code="x509_too_large",
            size=len(der),
        )
    return der


def checked_anchor(certificate: bytes, *, at: dt.datetime) -> bytes:
    """The DER Governance records for ``certificate`` (PEM or DER) as a trust anchor, once it is an SM2 CA
    certificate valid at ``at`` that fits on chain. Raises IdentityCertificateError."""
    return chain_certificate(check_trust_anchor(certificate, at=at))


def checked_binding(
    account: bytes, certificate: bytes, *, anchors: Sequence[TrustAnchor], uscc: str, at: dt.datetime
) -> bytes:
    """The DER Governance records when ``account`` (of organisation ``uscc``) is bound to ``certificate``
    (PEM or DER), once it fits on chain and passes :func:`check_bound_certificate` against ``anchors`` at
    ``at``: what a relying party will check later. Raises IdentityCertificateError."""
    der = chain_certificate(certificate)
    bound = BoundCertificate(account=account, certificate_id=keccak(der), certificate=der, bound_block=0)
    check_bound_certificate(bound, anchors=anchors, uscc=uscc, at=at)
    return der


def compute_certificate_id(certificate: bytes) -> bytes:
    """keccak256 of the certificate's DER: the id Governance gives it (``certificate`` is PEM or DER)."""
    return keccak(to_der(certificate))


def check_bound_certificate(
    bound: BoundCertificate | None,
    *,
    anchors: Sequence[TrustAnchor],
    uscc: str,
    at: dt.datetime,
) -> CertifiedIdentity:
    """Return what ``bound`` certifies once it passes every rule of ``sdk.identity.x509`` against the trust
    anchors in force, for an account of organisation ``uscc``, at ``at``.

    Raises IdentityCertificateError: ``x509_not_bound`` when the account has no certificate, or the code of
    the rule the certificate fails (``x509_unknown_issuer`` when its CA is no longer an anchor). An anchor
    that is no certificate issues nothing and is passed over.
    """
    if bound is None:
        raise IdentityCertificateError("no certificate is bound to this account", code="x509_not_bound")
    return check_account_certificate(
        bound.certificate,
        cas=[a.certificate for a in anchors if _is_certificate(a.certificate)],
        account=bound.account,
        uscc=uscc,
        at=at,
    )


def _is_certificate(anchor: bytes) -> bool:
    """Whether an anchor's bytes parse as a certificate. The contract records whatever DER-shaped bytes the
    committee approves; bytes that are no certificate can issue nothing, and must not make every other
    binding fail as x509_malformed."""
    try:
        to_der(anchor)
    except IdentityCertificateError:
        return False
    return True
