"""The SDK's codecs: canonical RLP for the wire types (a lean encoder and a strict decoder, cross-checked
against ``rlp``) and the ``0x`` hex text that JSON documents and the node's answers carry."""

# Items are ``bytes`` or (nested) lists of items; integers are encoded as big-endian minimal byte strings
# (0 is the empty string). The decoder accepts only the canonical encoding of exactly one item: no trailing
# bytes, no long form where the short form fits, no length with leading zeros, no single byte below 0x80
# wrapped in a string header, no item overrunning its enclosing list. It is written for the hot paths
# (one pass, no per-item copies of the encoding); tests/unit/sdk/test_types.py checks that it accepts and
# refuses exactly what ``rlp.decode(strict=True)`` does.

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any, TypeAlias, TypeVar, Union

from sdk.errors import EncodingError, XinlianError

Item: TypeAlias = Union[bytes, list["Item"]]  # noqa: UP007  (recursive alias needs the string form)

MAX_DEPTH = 16  # the wire types nest at most 4 deep; deeper input is refused before recursion hurts
MAX_UINT64 = (1 << 64) - 1

_SHORT = [bytes([0x80 + n]) for n in range(56)]
_LIST_SHORT = [bytes([0xC0 + n]) for n in range(56)]
_SINGLE = [bytes([b]) for b in range(256)]

__all__ = [
    "MAX_UINT64",
    "Item",
    "decode",
    "decode_int",
    "encode",
    "encode_bytes",
    "encode_int",
    "encode_list",
    "from_hex",
    "split_list",
    "to_hex",
]


# --- encoding ----------------------------------------------------------------------------------------
def encode_bytes(value: bytes) -> bytes:
    """Return the RLP string encoding of ``value``."""
    n = len(value)
    if n == 1 and value[0] < 0x80:
        return value
    if n < 56:
        return _SHORT[n] + value
    ln = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return _SINGLE[0xB7 + len(ln)] + ln + value


def encode_int(value: int) -> bytes:
    """Return the RLP encoding of a non-negative integer (big-endian, minimal; 0 is the empty string)."""
    if value < 0x80:
        if value < 0:
            raise EncodingError(f"cannot encode negative integer {value}")
        return _SINGLE[value] if value else b"\x80"
    return encode_bytes(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def encode_list(encoded_items: Iterable[bytes]) -> bytes:
    """Return the RLP list whose items are the already-encoded ``encoded_items``."""
    payload = b"".join(encoded_items)
    n = len(payload)
    if n < 56:
        return _LIST_SHORT[n] + payload
    ln = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return _SINGLE[0xF7 + len(ln)] + ln + payload


def encode(obj: bytes | int | Sequence[object]) -> bytes:
    """Return the RLP encoding of bytes, a non-negative int, or a (nested) list/tuple of them.

    Raises EncodingError for any other type or a negative integer.
    """
    if isinstance(obj, bytes):
        return encode_bytes(obj)
    if isinstance(obj, bool):
        raise EncodingError("cannot encode a bool; use 0 or 1")
    if isinstance(obj, int):
        return encode_int(obj)
    if isinstance(obj, list | tuple):
        return encode_list([encode(x) for x in obj])
    raise EncodingError(f"cannot RLP-encode a {type(obj).__name__}")


# --- decoding ----------------------------------------------------------------------------------------
def _header(data: bytes, pos: int, limit: int) -> tuple[bool, int, int]:
    """Parse the item header at ``pos``; return (is_list, payload start, payload end ≤ limit)."""
    if pos >= limit:
        raise EncodingError("RLP input is truncated (an item is missing)", offset=pos)
    b0 = data[pos]
    if b0 < 0x80:
        return False, pos, pos + 1
    if b0 < 0xB8:
        start, end = pos + 1, pos + 1 + b0 - 0x80
        if end > limit:
            raise EncodingError("RLP string runs past the end of its input or list", offset=pos)
        if end - start == 1 and data[start] < 0x80:
            raise EncodingError("non-canonical RLP: a single byte below 0x80 has a header", offset=pos)
        return False, start, end
    if b0 < 0xC0:
        is_list, ll = False, b0 - 0xB7
    elif b0 < 0xF8:
        start, end = pos + 1, pos + 1 + b0 - 0xC0
        if end > limit:
            raise EncodingError("RLP list runs past the end of its input or list", offset=pos)
        return True, start, end
    else:
        is_list, ll = True, b0 - 0xF7
    start = pos + 1 + ll
    if start > limit:
        raise EncodingError("RLP length is truncated", offset=pos)
    if data[pos + 1] == 0:
        raise EncodingError("non-canonical RLP: length with leading zero bytes", offset=pos)
    n = int.from_bytes(data[pos + 1 : start], "big")
    if n < 56:
        raise EncodingError("non-canonical RLP: long form used for a length below 56", offset=pos)
    end = start + n
    if end > limit:
        raise EncodingError("RLP item runs past the end of its input or list", offset=pos)
    return is_list, start, end


def _item(data: bytes, pos: int, limit: int, depth: int) -> tuple[Item, int]:
    is_list, start, end = _header(data, pos, limit)
    if not is_list:
        return data[start:end], end
    if depth >= MAX_DEPTH:
        raise EncodingError(f"RLP nests deeper than {MAX_DEPTH} lists", offset=pos)
    items: list[Item] = []
    p = start
    while p < end:
        it, p = _item(data, p, end, depth + 1)
        items.append(it)
    return items, end


def decode(data: bytes) -> Item:
    """Return the item that ``data`` is the canonical RLP encoding of.

    Raises EncodingError if ``data`` is not bytes, is truncated, has trailing bytes, or is non-canonical.
    """
    if not isinstance(data, bytes):
        raise EncodingError(f"RLP input must be bytes, not {type(data).__name__}")
    item, end = _item(data, 0, len(data), 0)
    if end != len(data):
        raise EncodingError(f"RLP input has {len(data) - end} trailing bytes", trailing=len(data) - end)
    return item


def split_list(data: bytes) -> list[bytes]:
    """Return the encodings of the items of the RLP list that ``data`` exactly is (items not decoded).

    Raises EncodingError if ``data`` is not exactly one canonical RLP list at the top level.
    """
    if not isinstance(data, bytes):
        raise EncodingError(f"RLP input must be bytes, not {type(data).__name__}")
    is_list, start, end = _header(data, 0, len(data))
    if not is_list:
        raise EncodingError("expected an RLP list, found a string")
    if end != len(data):
        raise EncodingError(f"RLP input has {len(data) - end} trailing bytes", trailing=len(data) - end)
    parts: list[bytes] = []
    p = start
    while p < end:
        _, _, item_end = _header(data, p, end)
        parts.append(data[p:item_end])
        p = item_end
    return parts


def decode_int(value: Item, what: str, *, maximum: int = MAX_UINT64) -> int:
    """Return the integer that the RLP string ``value`` encodes (big-endian, minimal).

    Raises EncodingError, naming ``what``, if ``value`` is a list, has a leading zero byte, or exceeds
    ``maximum``.
    """
    if not isinstance(value, bytes):
        raise EncodingError(f"{what} must be an RLP string (an integer), not a list", field=what)
    if value[:1] == b"\x00":
        raise EncodingError(f"non-canonical integer for {what}: leading zero byte", field=what)
    n = int.from_bytes(value, "big")
    if n > maximum:
        raise EncodingError(f"{what} = {n} exceeds the maximum {maximum}", field=what)
    return n


def decode_fields(item: Item, owner: str, arity: int) -> list[Item]:
    """Return the fields of the RLP list ``item``; raises EncodingError, naming ``owner``, for a string or
    a list of another length."""
    if not isinstance(item, list):
        raise EncodingError(f"{owner} must be an RLP list, found a string")
    if len(item) != arity:
        raise EncodingError(f"{owner} must have {arity} fields, found {len(item)}", arity=len(item))
    return item


def decode_string(value: Item, what: str) -> bytes:
    """Return the RLP string ``value``; raises EncodingError, naming ``what``, for a list."""
    if not isinstance(value, bytes):
        raise EncodingError(f"{what} must be an RLP string, found a list", field=what)
    return value


def decode_list(value: Item, what: str) -> list[Item]:
    """Return the RLP list ``value`` (any length); raises EncodingError, naming ``what``, for a string."""
    if not isinstance(value, list):
        raise EncodingError(f"{what} must be an RLP list, found a string", field=what)
    return value


def list_payload(encoded: bytes) -> bytes:
    """Return the payload of a canonical RLP list encoding (what follows its header)."""
    b0 = encoded[0]
    return encoded[1:] if b0 < 0xF8 else encoded[1 + b0 - 0xF7 :]


# --- hex text ----------------------------------------------------------------------------------------
def to_hex(data: bytes) -> str:
    """Return ``data`` as ``0x``-prefixed lower-case hex, the form every JSON document and answer uses."""
    return "0x" + data.hex()


def from_hex(
    value: object,
    what: str = "value",
    *,
    size: int | None = None,
    error: type[XinlianError] = EncodingError,
    code: str | None = None,
) -> bytes:
    """Return the bytes that the hex string ``value`` (``0x`` prefix optional) spells.

    Raises ``error`` (EncodingError unless the caller names the branch its readers catch, with ``code`` if
    given), naming ``what``, when ``value`` is not a string, is not hex, or is not ``size`` bytes long.
    """
    if not isinstance(value, str):
        raise error(f"{what} must be a hex string", code=code, field=what)
    text = value[2:] if value[:2] in ("0x", "0X") else value
    try:
        data = bytes.fromhex(text)
    except ValueError as exc:
        raise error(f"{what} is not hex", code=code, field=what) from exc
    if size is not None and len(data) != size:
        raise error(f"{what} must be {size} bytes, got {len(data)}", code=code, field=what)
    return data


# --- readable reprs ------------------------------------------------------------------------------------
#: Byte strings up to this length are shown whole in a repr (hashes, keys, signatures); longer ones by their
#: first and last bytes and their length.
REPR_WHOLE_BYTES = 64

_D = TypeVar("_D")


def show_value(value: object) -> str:
    """``repr`` with bytes as ``0x`` hex (long ones shortened), also inside tuples, lists and dicts."""
    if isinstance(value, bytes | bytearray):
        data = bytes(value)
        if len(data) <= REPR_WHOLE_BYTES:
            return to_hex(data)
        return f"0x{data[:8].hex()}…{data[-4:].hex()} ({len(data)} bytes)"
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        inner = ", ".join(show_value(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(show_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{show_value(k)}: {show_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


def readable_repr(cls: type[_D]) -> type[_D]:
    """Class decorator for the SDK's result dataclasses (put it above ``@dataclass``): the repr shows byte
    fields as ``0x`` hex instead of ``b'\\x00…'`` and still leaves out the fields marked ``repr=False``."""
    shown = tuple(f.name for f in dataclasses.fields(cls) if f.repr)  # type: ignore[arg-type]

    def __repr__(self: Any) -> str:
        body = ", ".join(f"{name}={show_value(getattr(self, name))}" for name in shown)
        return f"{type(self).__name__}({body})"

    cls.__repr__ = __repr__  # type: ignore[method-assign]
    return cls
