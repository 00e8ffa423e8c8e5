"""TLS 1.3 for peer links: every link is encrypted, and both ends present their node's p2p certificate.

The TLS layer gives confidentiality and integrity, and a certificate per end of each link; it does not say
who a peer is (every p2p certificate chains to a public issuer, see ``node.tls.derive_p2p_issuer_key``).
The SM2-signed handshake that follows covers the SHA-256 of both certificates, so a peer's signature is
valid only on a link whose other end holds that certificate's private key: a man in the middle with
another TLS key cannot relay it.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from node.p2p.wire import P2PError
from node.tls import create_p2p_certificate, create_p2p_issuer_certificate

#: Where a node keeps its p2p certificate and key (in its data folder, created at its first start).
P2P_CERT_FILE = "p2p-tls.pem"
P2P_KEY_FILE = "p2p-tls-key.pem"


@dataclass(frozen=True)
class P2PTls:
    """A node's TLS side of its peer links: the contexts for accepted and dialled links, and the SHA-256 of
    its own certificate (DER), which its handshake signature covers."""

    server: ssl.SSLContext
    client: ssl.SSLContext
    certificate_hash: bytes


def compute_certificate_hash(der: bytes) -> bytes:
    """Return the SHA-256 of a certificate's DER encoding (what the handshake signature binds)."""
    return hashlib.sha256(der).digest()


def make_p2p_context(cert_path: Path, key_path: Path, *, server_side: bool) -> ssl.SSLContext:
    """Return a TLS 1.3-only context presenting the certificate at ``cert_path`` and requiring the other
    end's (a client certificate included), checked only against the public p2p issuer.

    Servers issue no session tickets: every link runs a full handshake with both certificates. Raises
    OSError or ssl.SSLError when the files cannot be loaded.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False  # peers are named by their SM2 key, proven after TLS
    context.verify_mode = ssl.CERT_REQUIRED
    if server_side:
        context.num_tickets = 0
    issuer = create_p2p_issuer_certificate().public_bytes(serialization.Encoding.PEM).decode()
    context.load_verify_locations(cadata=issuer)
    context.load_cert_chain(cert_path, key_path)
    return context


def load_p2p_tls(cert_path: Path, key_path: Path) -> P2PTls:
    """Return the link contexts for a p2p certificate and key. Raises P2PError when they cannot be loaded."""
    try:
        der = ssl.PEM_cert_to_DER_cert(cert_path.read_text(encoding="ascii"))
        server = make_p2p_context(cert_path, key_path, server_side=True)
        client = make_p2p_context(cert_path, key_path, server_side=False)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise P2PError(f"cannot load the p2p TLS certificate {cert_path}: {exc}") from exc
    return P2PTls(server=server, client=client, certificate_hash=compute_certificate_hash(der))


def prepare_p2p_tls(directory: Path, *, name: str) -> P2PTls:
    """Return the link contexts of the p2p certificate in ``directory``, creating it (key mode 600) when
    it or its key is missing. Raises P2PError when it cannot be loaded."""
    cert_path, key_path = directory / P2P_CERT_FILE, directory / P2P_KEY_FILE
    if not (cert_path.exists() and key_path.exists()):
        create_p2p_certificate(cert_path, key_path, name=name)
    return load_p2p_tls(cert_path, key_path)


def read_peer_certificate_hash(writer: asyncio.StreamWriter) -> bytes:
    """Return the SHA-256 of the certificate the other end of a TLS link presented.

    Raises P2PError when the link is not TLS or the peer presented none.
    """
    ssl_object = writer.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if isinstance(ssl_object, ssl.SSLObject) else None
    if not der:
        raise P2PError("peer presented no TLS certificate")
    return compute_certificate_hash(der)
