"""QR credentials: a compact proof bundle (or a link to one) in a QR code, and reading such payloads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import segno

from sdk.errors import FormatError
from sdk.proofs.bundle import COMPACT_PREFIX, ProofBundle

__all__ = ["QrCredential", "make_credential_payload", "render_qr", "statement_qr_version"]

QR_ERROR_LEVELS = ("m", "l")  # prefer 15 % damage tolerance; fall back to 7 % before giving up
#: A licence card (binary XLS1 payload) is read from a phone screen: level M only while it keeps the code at
#: this version or below, else level L (a smaller code beats more damage tolerance there).
CARD_MAX_VERSION = 15


@dataclass(frozen=True, slots=True)
class QrCredential:
    """What a QR code carries: ``kind`` is "bundle" (self-contained) or "link" (fetch by reference)."""

    payload: str
    kind: str
    bundle_bytes: int  # deflated compact bundle size
    version: int  # QR symbol version (1–40)


def _make(payload: str | bytes) -> segno.QRCode | None:
    """The QR code of ``payload`` at the first error level of QR_ERROR_LEVELS that holds it, or None.

    Bytes (a licence statement's ``XLS1:`` payload) are coded in binary (byte) mode, at level M only while
    that keeps the code at CARD_MAX_VERSION or below."""
    card = isinstance(payload, bytes)
    found = None
    for level in QR_ERROR_LEVELS:
        try:
            qr = segno.make(
                payload, error=level, mode="byte" if card else None, micro=False, boost_error=False
            )
        except segno.DataOverflowError:
            continue
        if not card or int(qr.version) <= CARD_MAX_VERSION:
            return qr
        found = qr  # neither level keeps it small: the smallest code (level L)
    return found


def _fits(payload: str | bytes) -> int | None:
    """Return the QR version that holds ``payload``, or None when it is too big for any QR code."""
    qr = _make(payload)
    return None if qr is None else int(qr.version)


def _reference_fragment(bundle: ProofBundle) -> str:
    """``licence=0x…`` for a licence bundle (so the page fetches the current status), else ``tx=0x…``.

    Raises FormatError for a drug-code bundle: the node gives it to the product's MAH and the regulator only,
    so a page cannot fetch it; it travels whole (about 1.1 KB deflated fits a QR code)."""
    if bundle.lot is not None:
        raise FormatError("a drug-code bundle travels whole: this one does not fit a QR code")
    state = bundle.state
    receipt = bundle.event.receipt
    if state is not None and state.kind == "licence" and bundle.event.log_index is not None:
        log = receipt.logs[bundle.event.log_index] if bundle.event.log_index < len(receipt.logs) else None
        if log is not None and len(log.topics) > 1:
            return "licence=0x" + log.topics[1].hex()
    return "tx=0x" + receipt.tx_hash.hex()


def make_credential_payload(bundle: ProofBundle, base_url: str | None = None) -> QrCredential:
    """Return the QR payload of a credential.

    Takes: the bundle; ``base_url`` of a node serving /verify (e.g. "https://node.example").
    Returns: with ``base_url``, the link ``{base}/verify#b=<base64url(deflate(compact))>`` when it fits a
    QR code, else ``{base}/verify#licence=0x…`` / ``#tx=0x…`` (the page fetches the bundle and verifies it
    in the browser). Without ``base_url``, the text ``XL1:<base45>`` (alphanumeric mode).
    Raises: FormatError when the bundle is too big for a QR code and there is no base URL (or it is a
    drug-code bundle, which no page can fetch).
    """
    import zlib

    deflated = len(zlib.compress(bundle.to_compact(), 9))
    if base_url:
        base = base_url.rstrip("/")
        link = f"{base}/verify#b={bundle.to_link_fragment()}"
        version = _fits(link)
        if version is not None:
            return QrCredential(link, "bundle", deflated, version)
        ref = f"{base}/verify#{_reference_fragment(bundle)}"
        version = _fits(ref)
        if version is None:  # cannot happen for a ~100-character link; guard anyway
            raise FormatError("the reference link does not fit a QR code")
        return QrCredential(ref, "link", deflated, version)
    text = bundle.to_qr_text()
    version = _fits(text)
    if version is None:
        raise FormatError(
            f"the bundle ({deflated} bytes deflated) does not fit a QR code; give a base URL for a link",
            bundle_bytes=deflated,
        )
    if not text.startswith(COMPACT_PREFIX):
        raise FormatError("unexpected QR text")
    return QrCredential(text, "bundle", deflated, version)


def statement_qr_version(payload: bytes) -> int:
    """The QR version of a statement's binary payload (error level M when that stays at version 15 or
    below, else L). Raises FormatError when it fits no QR code."""
    version = _fits(payload)
    if version is None:
        raise FormatError("the statement does not fit a QR code", statement_bytes=len(payload))
    return version


def render_qr(payload: str | bytes, out: Path, *, scale: int = 4) -> int:
    """Write ``payload`` as a QR code to ``out`` (.png or .svg by suffix); return the symbol version.

    Raises FormatError for another suffix or a payload too big for a QR code.
    """
    suffix = out.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise FormatError(f"QR output must be .png or .svg, not {suffix or 'no suffix'}")
    qr = _make(payload)
    if qr is None:
        raise FormatError("the payload does not fit a QR code")
    out.parent.mkdir(parents=True, exist_ok=True)
    qr.save(str(out), scale=scale, border=4)
    return int(qr.version)
