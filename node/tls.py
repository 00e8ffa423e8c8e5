"""Certificates for a node's TLS: the API's (from the consortium's CA, or a local CA for development
networks) and the peer links' (one per node, under a public issuer key).

Transport security is standard TLS (Python's ssl through uvicorn, httpx and asyncio) with ECDSA P-256
certificates: organisations sign transactions and requests with SM2, but SM2 TLS cipher suites are not
available in Python's ssl module, so the channel uses the algorithms every TLS stack supports. A production
consortium issues API certificates from its own CA; ``create_local_ca`` and ``issue_node_certificate`` make
one for a local network (`xinlian network init --tls`, `make run`). Peer-link certificates prove nothing by
their chain (see ``derive_p2p_issuer_key``): a peer's identity is its SM2 signature over both certificates'
hashes in the p2p handshake.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: Node certificates of a local network are valid this long; the local CA twice as long.
LOCAL_CERT_DAYS = 365
#: What the p2p issuer key is derived from (public: anyone can compute the key, on purpose).
P2P_ISSUER_SEED = b"xinlian/p2p-tls-issuer/1"
P2P_ISSUER_NAME = "Xinlian p2p certificate issuer (public key, vouches for nothing)"
#: Validity of p2p certificates and of their issuer: no expiry to manage (RFC 5280's "no well-defined
#: expiration date"), since the chain is not what a peer is trusted for; the start is long past, so clock
#: skew between nodes never matters.
P2P_NOT_BEFORE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
P2P_NOT_AFTER = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
#: Order of the P-256 group: the issuer's scalar is reduced below it.
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _ca_key_usage(*, crl_sign: bool) -> x509.KeyUsage:
    """An issuer's key usage: certificate signing only (and CRL signing for a CA that may revoke)."""
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
    *,
    serial: int | None = None,
) -> x509.CertificateBuilder:
    """A certificate of ``key``'s public key for ``subject`` under ``issuer``, valid from ``not_before`` to
    ``not_after``, with a random serial unless one is given; the caller adds its extensions and signs."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number() if serial is None else serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )


def _write_pair(
    cert_path: Path, cert: x509.Certificate, key_path: Path, key: ec.EllipticCurvePrivateKey
) -> None:
    """Write a certificate (PEM) and its private key (PEM, mode 600)."""
    _write_private(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def create_local_ca(cert_path: Path, key_path: Path, *, name: str = "Xinlian local network CA") -> None:
    """Write a self-signed CA certificate (PEM) and its private key (PEM, mode 600)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        _builder(
            _name(name),
            _name(name),
            key,
            now - dt.timedelta(minutes=5),
            now + dt.timedelta(days=2 * LOCAL_CERT_DAYS),
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(crl_sign=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    _write_pair(cert_path, cert, key_path, key)


def issue_node_certificate(
    ca_cert_path: Path, ca_key_path: Path, cert_path: Path, key_path: Path, *, name: str, hosts: list[str]
) -> None:
    """Write a server certificate for ``hosts`` (DNS names or IP addresses) signed by the CA, and its key."""
    ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key must be an EC key")
    key = ec.generate_private_key(ec.SECP256R1())
    alt_names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    now = dt.datetime.now(dt.UTC)
    cert = (
        _builder(
            _name(name),
            ca_cert.subject,
            key,
            now - dt.timedelta(minutes=5),
            now + dt.timedelta(days=LOCAL_CERT_DAYS),
        )
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_pair(cert_path, cert, key_path, key)


# --- peer links ------------------------------------------------------------------------------------------
def derive_p2p_issuer_key() -> ec.EllipticCurvePrivateKey:
    """Return the key every p2p certificate is issued under, derived from ``P2P_ISSUER_SEED``.

    The key is public on purpose. Python's ssl cannot require a client certificate without verifying its
    chain, and offers no hook to skip that check; so every node trusts this issuer as its only root and
    issues its own certificate under it. TLS verification then accepts any node's certificate and
    proves nothing about its holder: who a peer is, is proven by its SM2 signature in the p2p handshake,
    which covers the SHA-256 of both links' certificates.
    """
    digest = int.from_bytes(hashlib.sha256(P2P_ISSUER_SEED).digest(), "big")
    return ec.derive_private_key(digest % (_P256_ORDER - 1) + 1, ec.SECP256R1())


def create_p2p_issuer_certificate() -> x509.Certificate:
    """Return the p2p issuer's self-signed certificate: the one root a node's peer links trust."""
    key = derive_p2p_issuer_key()
    return (
        _builder(_name(P2P_ISSUER_NAME), _name(P2P_ISSUER_NAME), key, P2P_NOT_BEFORE, P2P_NOT_AFTER, serial=1)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(crl_sign=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def create_p2p_certificate(cert_path: Path, key_path: Path, *, name: str) -> None:
    """Write a fresh p2p key (PEM, mode 600) and its certificate (PEM) under the p2p issuer.

    The certificate serves both ends of a link (server and client authentication) and never expires.
    """
    issuer = derive_p2p_issuer_key()
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder(_name(name), _name(P2P_ISSUER_NAME), key, P2P_NOT_BEFORE, P2P_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()), critical=False
        )
        .sign(issuer, hashes.SHA256())
    )
    _write_pair(cert_path, cert, key_path, key)
