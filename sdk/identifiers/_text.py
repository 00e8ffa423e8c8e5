"""Shared input handling for identifier validators: normalisation, length, charset and check-character
errors, masking, and the one ``is_valid_*`` rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec

from sdk.errors import IdentifierError

P = ParamSpec("P")

DIGITS = "0123456789"
UPPER_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def normalise_code(value: object, *, field: str, label: str, upper: bool = True, mask: bool = False) -> str:
    """Strip surrounding whitespace and (optionally) upper-case an identifier given as text.

    Takes: the raw value, the ``field`` name for error details, a human ``label`` for messages, whether to
    upper-case, and whether the value is personal data that must be masked in errors.
    Returns: the normalised string.
    Raises: IdentifierError if the value is not a str or contains non-ASCII characters (upper-casing
    non-ASCII text can change its length, e.g. 'ß' → 'SS', so it is refused before case folding).
    """
    if not isinstance(value, str):
        raise IdentifierError(
            f"{label} must be a string, got {type(value).__name__}",
            field=field,
            got=type(value).__name__,
        )
    text = value.strip()
    if not text.isascii():
        position = next(i for i, ch in enumerate(text) if not ch.isascii())
        raise IdentifierError(
            f"{label} contains a non-ASCII character at position {position + 1}",
            field=field,
            value=mask_personal_id(text, keep_tail=False) if mask else text,
            position=position + 1,
        )
    return text.upper() if upper else text


def require_length(
    text: str, length: int, *, field: str, label: str, shown: str, unit: str = "characters"
) -> None:
    """Raise IdentifierError unless ``text`` is exactly ``length`` long; the message names both lengths.

    ``shown`` is the value to put in the error (already masked if personal); ``unit`` says what is counted.
    """
    if len(text) != length:
        raise IdentifierError(
            f"{label} must be {length} {unit}, got {len(text)}",
            field=field,
            value=shown,
            expected=length,
            got=len(text),
        )


def check_mismatch(what: str, expected: str, got: str, *, field: str, shown: str) -> IdentifierError:
    """The error for a check character that is not the computed one (``what`` names it): raise it.

    It is returned rather than raised so that a caller with exceptions to the rule (whitelisted codes)
    decides when it applies.
    """
    return IdentifierError(
        f"{what} should be {expected!r}, got {got!r}", field=field, value=shown, expected=expected, got=got
    )


def parses(parse: Callable[P, object], *args: P.args, **kwargs: P.kwargs) -> bool:
    """True if ``parse(*args, **kwargs)`` returns and False if it raises IdentifierError: every
    ``is_valid_*`` is this question about its ``parse_*`` (other errors propagate)."""
    try:
        parse(*args, **kwargs)
    except IdentifierError:
        return False
    return True


def require_charset(
    text: str, charset: str, *, field: str, label: str, what: str, shown: str, offset: int = 0
) -> None:
    """Raise IdentifierError naming the first character of ``text`` that is not in ``charset``.

    ``shown`` is the value to put in messages (already masked if personal); ``offset`` shifts reported
    positions when ``text`` is a slice of a larger identifier.
    """
    for i, ch in enumerate(text):
        if ch not in charset:
            detail: dict[str, Any] = {"value": shown, "position": offset + i + 1, "expected": what}
            raise IdentifierError(
                f"{label} has an invalid character {ch!r} at position {offset + i + 1} (expected {what})",
                field=field,
                got=ch,
                **detail,
            )


def mask_personal_id(text: str, *, keep_tail: bool = True) -> str:
    """Mask a personal identifier for messages: keep the first 4 and (``keep_tail``) the last 4 characters.

    Values shorter than 10 characters are masked completely: with so few characters kept clear they would
    reveal too much. Pass ``keep_tail=False`` when the value is malformed and its tail may be a birth date.
    """
    if len(text) < 10:
        return "*" * len(text)
    if not keep_tail:
        return text[:4] + "*" * (len(text) - 4)
    return text[:4] + "*" * (len(text) - 8) + text[-4:]
