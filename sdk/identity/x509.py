"""An organisation's SM2 X.509 certificate: parse it and check it against trusted CA certificates.

``cryptography`` parses the certificate (names, validity, extensions, the TBS bytes and the signature) but
refuses SM2 public keys, so ``asn1crypto`` reads the SubjectPublicKeyInfo bit string (04‖X‖Y) and the
project's SM2 verifies the signature over the TBS with the GM/T 0009 default distinguishing id
"1234567812345678" (what ``openssl ... -sm3 -sigopt distid:1234567812345678`` signs with).

Rules (each refusal is an IdentityCertificateError whose ``code`` names the rule):

* ``x509_malformed``: not a PEM or DER certificate, over :data:`MAX_CERTIFICATE_BYTES`, or its key is not
  an SM2 key (id-ecPublicKey on curve 1.2.156.10197.1.301);
* ``x509_algorithm``: signed with anything but SM2-with-SM3 (1.2.156.10197.1.501);
* ``x509_not_yet_valid`` / ``x509_expired``: the time checked is outside notBefore..notAfter (of the
  certificate or of any issuer on its chain);
* ``x509_unknown_issuer``: no given CA (or listed intermediate issued by a given CA) names it as subject;
* ``x509_signature``: the issuer's key does not verify the signature;
* ``x509_issuer_not_ca``: an issuer lacks basicConstraints CA=true;
* ``x509_chain_too_long``: more CAs or intermediates than allowed (at most one intermediate level);
* ``x509_key_mismatch``: the subject key is not the expected 64-byte SM2 key;
* ``x509_uscc_mismatch``: no subject attribute among serialNumber (2.5.4.5), organizationIdentifier
  (2.5.4.97), organizationalUnitName and commonName equals the organisation's USCC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from sdk.crypto.keys import PublicKey, address_from_public_key
from sdk.crypto.sm2 import PUBLIC_KEY_BYTES, signature_from_der
from sdk.crypto.sm3 import sm3
from sdk.encoding import readable_repr
from sdk.errors import CryptoError, IdentityCertificateError

SM2_WITH_SM3 = "1.2.156.10197.1.501"
SM2_CURVE = "1.2.156.10197.1.301"
EC_PUBLIC_KEY = "1.2.840.10045.2.1"
#: A certificate larger than this is refused before parsing (real organisation certificates are ~1 KiB).
MAX_CERTIFICATE_BYTES = 16 * 1024
#: At most this many trusted CA certificates, and as many listed intermediates.
MAX_CAS = 16
#: Short names RFC 4514 text uses for attributes cryptography would print as dotted OIDs.
_NAME_OVERRIDES = {
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
}
#: Subject attributes searched for the USCC, in this order.
USCC_ATTRIBUTES = (
    NameOID.SERIAL_NUMBER,
    NameOID.ORGANIZATION_IDENTIFIER,
    NameOID.ORGANIZATIONAL_UNIT_NAME,
    NameOID.COMMON_NAME,
)


@readable_repr
@dataclass(frozen=True, slots=True)
class CertifiedIdentity:
    """What a checked certificate binds: its SM3 fingerprint (of the DER), subject, issuer fingerprint and
    validity window (UTC)."""

    fingerprint: bytes
    subject: str
    issuer_fingerprint: bytes
    not_before: dt.datetime
    not_after: dt.datetime


@readable_repr
@dataclass(frozen=True, slots=True)
class _Cert:
    der: bytes
    parsed: x509.Certificate

    @property
    def public_key(self) -> bytes:
        return _spki_key(self.parsed)

    @property
    def fingerprint(self) -> bytes:
        return sm3(self.der)


def fingerprint(certificate: bytes) -> bytes:
    """Return the SM3 of the certificate's DER (``certificate`` is PEM or DER)."""
    return _load(certificate).fingerprint


@readable_repr
@dataclass(frozen=True, slots=True)
class CertificateDescription:
    """What a certificate says of itself, unchecked: for display."""

    subject: str
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime
    fingerprint: bytes  # SM3 of the DER


def describe_certificate(certificate: bytes) -> CertificateDescription:
    """Subject, issuer, validity window (UTC) and SM3 fingerprint of a PEM or DER certificate, for display:
    nothing is checked but that it parses (``x509_malformed`` otherwise)."""
    cert = _load(certificate)
    return CertificateDescription(
        subject=_name(cert.parsed.subject),
        issuer=_name(cert.parsed.issuer),
        not_before=cert.parsed.not_valid_before_utc,
        not_after=cert.parsed.not_valid_after_utc,
        fingerprint=cert.fingerprint,
    )


def to_der(certificate: bytes) -> bytes:
    """Return the DER of a PEM or DER certificate; IdentityCertificateError ``x509_malformed`` otherwise."""
    return _load(certificate).der


def check_trust_anchor(certificate: bytes, *, at: dt.datetime) -> bytes:
    """Return the DER of ``certificate`` once it can serve as a trust anchor at ``at``: an SM2 key, signed
    with SM2-with-SM3, valid at ``at`` and a CA (basicConstraints CA=true). A root or an intermediate CA:
    an anchor is trusted as it stands, its own issuer is not looked for."""
    cert = _load(certificate)
    cert.public_key  # noqa: B018 - refuses a key that is not SM2 (x509_malformed)
    _check_own(cert, at)
    _require_ca(cert)
    return cert.der


def check_account_certificate(
    certificate: bytes, *, cas: Sequence[bytes], account: bytes, uscc: str, at: dt.datetime
) -> CertifiedIdentity:
    """:func:`check_certificate` for an account known by its 20-byte address: the certified SM2 key must be
    the key the address derives from (``x509_key_mismatch`` otherwise)."""
    key = _load(certificate).public_key
    if address_from_public_key(key) != account:
        raise _refuse(
            "x509_key_mismatch", "the certificate certifies the key of another account", account=account.hex()
        )
    return check_certificate(certificate, cas=cas, public_key=key, uscc=uscc, at=at)


def check_certificate(
    certificate: bytes,
    *,
    cas: Sequence[bytes],
    public_key: bytes,
    uscc: str,
    at: dt.datetime,
    intermediates: Sequence[bytes] = (),
) -> CertifiedIdentity:
    """Return what ``certificate`` certifies once it passes every rule of this module at time ``at``.

    ``cas`` are the trusted CA certificates, ``intermediates`` the CA certificates they issued that may issue
    ``certificate`` (one level at most, listed explicitly). ``public_key`` is the organisation's 64-byte
    SM2 account key and ``uscc`` its unified social credit code.
    """
    if len(cas) > MAX_CAS or len(intermediates) > MAX_CAS:
        raise _refuse("x509_chain_too_long", f"at most {MAX_CAS} CA and {MAX_CAS} intermediate certificates")
    leaf = _load(certificate)
    roots = [_load(c) for c in cas]
    middles = [_load(c) for c in intermediates]
    issuer = _verified_issuer(leaf, roots, middles, at)
    if leaf.public_key != _key_bytes(public_key):
        raise _refuse("x509_key_mismatch", "the certificate certifies another key than the organisation's")
    if uscc not in _uscc_candidates(leaf.parsed):
        raise _refuse("x509_uscc_mismatch", "no subject attribute names the organisation's USCC", uscc=uscc)
    return CertifiedIdentity(
        fingerprint=leaf.fingerprint,
        subject=_name(leaf.parsed.subject),
        issuer_fingerprint=issuer.fingerprint,
        not_before=leaf.parsed.not_valid_before_utc,
        not_after=leaf.parsed.not_valid_after_utc,
    )


# --- the chain ---------------------------------------------------------------------------------------
def _verified_issuer(leaf: _Cert, roots: list[_Cert], middles: list[_Cert], at: dt.datetime) -> _Cert:
    """Return the leaf's direct issuer after checking the leaf and its chain up to a trusted root."""
    _check_own(leaf, at)
    return _issuer_of(leaf, roots + middles, roots, at)


def _issuer_of(child: _Cert, candidates: list[_Cert], roots: list[_Cert], at: dt.datetime) -> _Cert:
    """Return the first of ``candidates`` named as ``child``'s issuer that issued it and is, or was issued
    by, one of ``roots``. Several may carry that name (a CA that rolls its key over keeps its name, and both
    keys are trusted meanwhile), so each is tried in turn; taking the first by name would refuse whatever
    the other key issued. When none completes the chain, the first candidate's refusal is raised
    (``x509_unknown_issuer`` when no candidate has the name)."""
    refusal: IdentityCertificateError | None = None
    for issuer in candidates:
        if issuer.parsed.subject != child.parsed.issuer or issuer.der == child.der:
            continue
        try:
            _check_issued(child, issuer, at)
            if not any(issuer is r for r in roots):
                _issuer_of(issuer, roots, roots, at)
            return issuer
        except IdentityCertificateError as exc:
            refusal = refusal or exc
    raise refusal or _refuse(
        "x509_unknown_issuer",
        "no trusted CA issued this certificate",
        issuer=_name(child.parsed.issuer),
    )


def _check_issued(child: _Cert, issuer: _Cert, at: dt.datetime) -> None:
    _check_own(issuer, at)
    _require_ca(issuer)
    issuer_key = issuer.public_key
    try:
        signature = signature_from_der(child.parsed.signature)
        PublicKey.from_bytes(issuer_key).verify(child.parsed.tbs_certificate_bytes, signature)
    except CryptoError as exc:
        raise _refuse("x509_signature", "the issuer's key does not verify the certificate signature") from exc


def _require_ca(issuer: _Cert) -> None:
    try:
        constraints = issuer.parsed.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise _refuse("x509_issuer_not_ca", "the issuer is not a CA (basicConstraints CA=true is missing)")


def _check_own(cert: _Cert, at: dt.datetime) -> None:
    if cert.parsed.signature_algorithm_oid.dotted_string != SM2_WITH_SM3:
        raise _refuse(
            "x509_algorithm",
            "the certificate is not signed with SM2-with-SM3",
            algorithm=cert.parsed.signature_algorithm_oid.dotted_string,
        )
    when = at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
    if when < cert.parsed.not_valid_before_utc:
        raise _refuse(
            "x509_not_yet_valid",
            "the certificate is not valid yet",
            not_before=str(cert.parsed.not_valid_before_utc),
        )
    if when > cert.parsed.not_valid_after_utc:
        raise _refuse(
            "x509_expired", "the certificate has expired", not_after=str(cert.parsed.not_valid_after_utc)
        )


# --- parsing -----------------------------------------------------------------------------------------
def _load(data: bytes) -> _Cert:
    if not isinstance(data, bytes) or len(data) > MAX_CERTIFICATE_BYTES:
        raise _refuse("x509_malformed", f"a certificate must be bytes of at most {MAX_CERTIFICATE_BYTES}")
    try:
        parsed = (
            x509.load_pem_x509_certificate(data)
            if data.lstrip().startswith(b"-----BEGIN")
            else x509.load_der_x509_certificate(data)
        )
        der = parsed.public_bytes(Encoding.DER)
    except ValueError as exc:
        raise _refuse("x509_malformed", "not a PEM or DER X.509 certificate") from exc
    return _Cert(der=der, parsed=parsed)


def _spki_key(parsed: x509.Certificate) -> bytes:
    """Return the 64-byte SM2 key of the certificate (the SPKI bit string without its 0x04)."""
    try:
        spki = asn1_x509.TbsCertificate.load(parsed.tbs_certificate_bytes)["subject_public_key_info"]
        algorithm = spki["algorithm"]["algorithm"].dotted
        curve = spki["algorithm"]["parameters"].chosen.dotted if algorithm == EC_PUBLIC_KEY else None
        point = bytes(spki["public_key"].contents)[1:]  # drop the bit string's unused-bits byte
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise _refuse("x509_malformed", "the subject public key cannot be read") from exc
    if algorithm != EC_PUBLIC_KEY or curve != SM2_CURVE:
        raise _refuse(
            "x509_malformed", "the certificate key is not an SM2 key", algorithm=algorithm, curve=curve
        )
    return _key_bytes(point)


def _key_bytes(raw: bytes) -> bytes:
    key = raw[1:] if len(raw) == PUBLIC_KEY_BYTES + 1 and raw[:1] == b"\x04" else raw
    if len(key) != PUBLIC_KEY_BYTES:
        raise _refuse("x509_malformed", "an SM2 public key is 64 bytes x‖y (or 65 with 0x04)")
    return key


def _name(name: x509.Name) -> str:
    """RFC 4514 text of a name, with the USCC-bearing attributes by name (serialNumber=…), not by OID."""
    return name.rfc4514_string(_NAME_OVERRIDES)


def _uscc_candidates(parsed: x509.Certificate) -> set[str]:
    return {str(a.value) for oid in USCC_ATTRIBUTES for a in parsed.subject.get_attributes_for_oid(oid)}


def _refuse(code: str, message: str, **detail: object) -> IdentityCertificateError:
    return IdentityCertificateError(message, code=code, **detail)
