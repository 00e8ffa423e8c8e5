"""Base45 (RFC 9285): bytes as QR alphanumeric-mode text, for the ``XL1:`` form of a proof bundle."""

from __future__ import annotations

from sdk.errors import FormatError

_B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_B45_INDEX = {c: i for i, c in enumerate(_B45)}


def b45encode(data: bytes) -> str:
    """Return the RFC 9285 base45 text of ``data`` (QR alphanumeric alphabet)."""
    out: list[str] = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        n, c = divmod(n, 45)
        e, d = divmod(n, 45)
        out += (_B45[c], _B45[d], _B45[e])
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        out += (_B45[c], _B45[d])
    return "".join(out)


def b45decode(text: str) -> bytes:
    """Return the bytes of RFC 9285 base45 ``text``; raises FormatError for a bad character or length."""
    try:
        values = [_B45_INDEX[c] for c in text]
    except KeyError as exc:
        raise FormatError(f"not base45: bad character {exc.args[0]!r}") from exc
    if len(values) % 3 == 1:
        raise FormatError("not base45: bad length")
    out = bytearray()
    for i in range(0, len(values), 3):
        chunk = values[i : i + 3]
        if len(chunk) == 3:
            n = chunk[0] + chunk[1] * 45 + chunk[2] * 2025
            if n > 0xFFFF:
                raise FormatError("not base45: triple out of range")
            out += n.to_bytes(2, "big")
        else:
            n = chunk[0] + chunk[1] * 45
            if n > 0xFF:
                raise FormatError("not base45: pair out of range")
            out.append(n)
    return bytes(out)
