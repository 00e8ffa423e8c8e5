"""Real SM2 certificates made with the openssl CLI (OpenSSL >= 3.0) for tests: a CA, an intermediate and
organisation certificates signed with SM2-with-SM3 and the default distinguishing id."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from sdk.crypto.keys import PublicKey

DISTID = "distid:1234567812345678"


@dataclass(frozen=True)
class Issued:
    key: Path
    cert: Path
    public_key: bytes

    @property
    def pem(self) -> bytes:
        return self.cert.read_bytes()


def _run(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def new_key(path: Path, curve: str = "SM2") -> bytes:
    """Write a private key PEM on ``curve`` to ``path``; return its 64-byte public key x‖y."""
    _run("genpkey", "-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{curve}", "-out", str(path))
    der = subprocess.run(
        ["openssl", "pkey", "-in", str(path), "-pubout", "-outform", "DER"], check=True, capture_output=True
    ).stdout
    return der[-64:]


def self_signed_ca(directory: Path, name: str, *, days: int = 30, comment: str = "") -> Issued:
    """A self-signed SM2 CA; ``comment`` (an nsComment extension) makes its certificate as large as needed."""
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    public = new_key(key)
    extra = ["-addext", f"nsComment={comment}"] if comment else []
    _run(
        "req",
        "-x509",
        "-key",
        str(key),
        "-sm3",
        "-sigopt",
        DISTID,
        "-subj",
        f"/CN={name}",
        "-days",
        str(days),
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        *extra,
        "-out",
        str(cert),
    )
    return Issued(key, cert, public)


def issue(
    directory: Path,
    name: str,
    subject: str,
    issuer: Issued,
    *,
    ca: bool = False,
    days: int = 10,
    curve: str = "SM2",
    for_key: bytes | None = None,
) -> Issued:
    """Issue a certificate for a new key (``subject`` like "/O=Org/serialNumber=…") signed by ``issuer``;
    with ``for_key`` (a 64-byte SM2 public key made elsewhere) the certificate certifies that key instead."""
    key, csr, cert = directory / f"{name}.key", directory / f"{name}.csr", directory / f"{name}.pem"
    ext = directory / f"{name}.ext"
    public = new_key(key, curve)
    force: list[str] = []
    if for_key is not None:
        (directory / f"{name}.pub").write_bytes(PublicKey.from_bytes(for_key).to_pem())
        force, public = ["-force_pubkey", str(directory / f"{name}.pub")], for_key
    ext.write_text(f"basicConstraints=critical,CA:{'TRUE' if ca else 'FALSE'}\n")
    sign = ["-sm3", "-sigopt", DISTID] if curve == "SM2" else ["-sha256"]
    _run("req", "-new", "-key", str(key), *sign, "-subj", subject, "-out", str(csr))
    vfy = ["-vfyopt", DISTID] if curve == "SM2" else []
    _run(
        "x509",
        "-req",
        "-in",
        str(csr),
        *vfy,
        *force,
        "-CA",
        str(issuer.cert),
        "-CAkey",
        str(issuer.key),
        "-sm3",
        "-sigopt",
        DISTID,
        "-days",
        str(days),
        "-extfile",
        str(ext),
        "-out",
        str(cert),
    )
    return Issued(key, cert, public)


def p256_ca(directory: Path, name: str) -> Issued:
    """A self-signed ECDSA P-256 / SHA-256 CA certificate (the wrong algorithm for Xinlian)."""
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    public = new_key(key, "prime256v1")
    _run(
        "req",
        "-x509",
        "-key",
        str(key),
        "-sha256",
        "-subj",
        f"/CN={name}/serialNumber=91350100M000100Y43",
        "-days",
        "30",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-out",
        str(cert),
    )
    return Issued(key, cert, public)


def public_key_of(issued: Issued) -> PublicKey:
    return PublicKey.from_bytes(issued.public_key)
