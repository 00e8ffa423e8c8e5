"""The conventions every `xinlian` command follows (docs/cli.md), in one place.

- Results go to stdout: a table for people on a terminal, plain ``label  value`` lines when stdout is piped
  (never truncated or wrapped, so a hash can be copied or grepped whole), one JSON document with ``--json``.
- Failures go to stderr as one line, ``error: <message> (<code>…)``, printed without rich markup so text such
  as ``[code]`` stays literal; the exit status comes from sdk.exit_codes. stdout is empty unless the command
  has a result to show (a negative verdict is a result: exit 1 still prints it).
- Times are shown one way: ISO 8601 with the offset of one zone, Asia/Shanghai unless XINLIAN_TZ names
  another (``show_time``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from sdk.client import Client
from sdk.errors import InputError, UsageError, XinlianError
from sdk.exit_codes import exit_code_for
from sdk.keyholder import KeyHolder

if TYPE_CHECKING:
    from sdk.identity.x509 import CertificateDescription

__all__ = [
    "DEFAULT_NODE_URL",
    "DEFAULT_PASSWORD_ENV",
    "ZONE_ENV",
    "CaOption",
    "JsonOption",
    "PasswordEnvOption",
    "UrlOption",
    "XinlianGroup",
    "emit_json",
    "open_client",
    "read_key_password",
    "read_password",
    "say",
    "show_rows",
    "show_time",
]

_DEFAULT_ZONE = "Asia/Shanghai"
ZONE_ENV = "XINLIAN_TZ"
#: Node 0 of `make run` / `xinlian demo`.
DEFAULT_NODE_URL = "https://127.0.0.1:8545"

# markup=False: nothing a command prints (a path, a node's message, a licence's reason) is read as markup.
# soft_wrap=True: lines are never cut to the console width, which is 80 columns when stdout is a pipe.
stdout = Console(soft_wrap=True, markup=False, highlight=False, emoji=False)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as one JSON document.")]
UrlOption = Annotated[str, typer.Option("--url", envvar="XINLIAN_URL", help="The node's API URL.")]
CaOption = Annotated[
    Path | None,
    typer.Option(
        "--ca",
        envvar="XINLIAN_CA",
        help="CA certificate (PEM) to check an https node against, e.g. var/devnet/tls/ca.pem.",
    ),
]


# --- failures ---------------------------------------------------------------------------------------------
def _report_error(error: XinlianError) -> None:
    """Write ``error`` to stderr as one line: message, code and detail, without markup or traceback."""
    detail = ", ".join(f"{key}={_plain(value)}" for key, value in error.detail.items())
    line = f"error: {error.message} ({error.code}{': ' + detail if detail else ''})"
    typer.echo(line.replace("\r", " ").replace("\n", " "), err=True)


class XinlianGroup(TyperGroup):
    """The root `xinlian` group: every command below it (plugins' too) that fails with a typed error ends
    the same way, one stderr line and the exit status sdk.exit_codes gives that error."""

    # ctx is typer's click Context (vendored as typer._click by recent typer, click's own before): Any.
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except XinlianError as error:
            _report_error(error)
            raise typer.Exit(exit_code_for(error)) from None


# --- results ----------------------------------------------------------------------------------------------
def say(text: str) -> None:
    """Print one line of result text to stdout, literally and unwrapped."""
    stdout.print(text)


def _plain(value: Any) -> Any:
    """``value`` as JSON takes it: bytes as 0x-hex, tuples as lists, mappings with string keys."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def emit_json(document: Mapping[str, Any]) -> None:
    """Print ``document`` as one line of JSON (UTF-8 text kept readable) to stdout."""
    typer.echo(json.dumps(_plain(document), ensure_ascii=False))


def emit_not_verified(exc: XinlianError, detail: Mapping[str, Any]) -> None:
    """Print the JSON verdict of a check that failed: what `xinlian verify --json` answers for a bundle or a
    statement that does not verify (the error's class, code and message, and ``detail``)."""
    emit_json(
        {
            "verified": False,
            "error": type(exc).__name__,
            "code": exc.code,
            "message": exc.message,
            "detail": detail,
        }
    )


def show_rows(title: str, rows: Sequence[tuple[str, str]], *, ok: bool = True) -> None:
    """Print a titled list of (label, value) rows: a table on a terminal (long values fold onto more lines,
    never cut), plain aligned lines when piped."""
    if not stdout.is_terminal:
        say(title)
        width = max((len(label) for label, _ in rows), default=0)
        for label, value in rows:
            say(f"{label.ljust(width)}  {value}")
        return
    table = Table(title=Text(title, style="bold green" if ok else "bold red"), show_header=False)
    table.add_column("label", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for label, value in rows:
        table.add_row(Text(label), Text(value))
    stdout.print(table)


def emit_or_show(
    facts: dict[str, Any],
    *,
    as_json: bool,
    title: str,
    rows: Callable[[dict[str, Any]], Sequence[tuple[str, str]]],
    ok: bool = True,
) -> None:
    """Print a command's ``facts``: as JSON with ``--json``, else as ``title`` over ``rows(facts)``.

    ``rows`` is called only for people, so facts that lack what the rows show (an unknown licence) still
    go out as JSON.
    """
    if as_json:
        emit_json(facts)
    else:
        show_rows(title, rows(facts), ok=ok)


# --- passwords ------------------------------------------------------------------------------------------
#: Where every command reads a key password from unless ``--password-env`` names another variable.
DEFAULT_PASSWORD_ENV = "XINLIAN_KEY_PASSWORD"  # noqa: S105 — a variable name, not a password
#: ``--force``: commands that write a file refuse to replace one unless given it.
ForceOption = Annotated[bool, typer.Option("--force/--no-force", help="Overwrite an existing file.")]
PasswordEnvOption = Annotated[
    str,
    typer.Option(
        "--password-env",
        help="Environment variable holding the key password (prompted for in a terminal when unset).",
    ),
]


def read_password(env: str, *, confirm: bool = False) -> bytes:
    """A key password: ``$env`` when set, else a prompt on a terminal (typed twice with ``confirm``).

    Raises UsageError when the variable is empty or unset and there is no terminal to ask on.
    """
    value = os.environ.get(env, "")
    if value:
        return value.encode("utf-8")
    if sys.stdin.isatty():
        entered = typer.prompt("key password", hide_input=True, confirmation_prompt=confirm)
        if entered:
            return str(entered).encode("utf-8")
    raise UsageError(f"no key password: set the environment variable {env} (or run in a terminal)")


def read_key_password(path: Path, env: str) -> bytes | None:
    """The password of the PEM key at ``path``: None for an unencrypted key, else as ``read_password``.
    Raises InputError when the file cannot be read, UsageError when no password is available."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the key file {path}: {exc.strerror}", path=str(path)) from exc
    return read_password(env) if b"ENCRYPTED" in data else None


# --- time -------------------------------------------------------------------------------------------------
def _display_zone() -> ZoneInfo:
    name = os.environ.get(ZONE_ENV) or _DEFAULT_ZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UsageError(f"{ZONE_ENV}={name!r} names no IANA time zone (e.g. {_DEFAULT_ZONE}, UTC)") from exc


def show_time(unix_ms: int) -> str:
    """The one way the CLI shows an instant: ISO 8601 with the display zone's offset, to the second
    (milliseconds when the instant has them), e.g. 2025-03-01T09:30:00+08:00."""
    moment = dt.datetime.fromtimestamp(unix_ms / 1000, dt.UTC).astimezone(_display_zone())
    return moment.isoformat(timespec="seconds" if unix_ms % 1000 == 0 else "milliseconds")


def show_instant(moment: dt.datetime) -> str:
    """:func:`show_time` for an aware datetime (a certificate's validity bounds, for one)."""
    return show_time(int(moment.timestamp() * 1000))


def certificate_facts(described: CertificateDescription | None) -> dict[str, Any]:
    """A certificate as every command lists it (a trust anchor, a proposed binding): subject, issuer,
    validity and SM3 fingerprint; the same keys, each None, for bytes that are no certificate."""
    if described is None:
        return dict.fromkeys(("subject", "issuer", "not_before", "not_after", "fingerprint"))
    return {
        "subject": described.subject,
        "issuer": described.issuer,
        "not_before": show_instant(described.not_before),
        "not_after": show_instant(described.not_after),
        "fingerprint": described.fingerprint,
    }


class LicenceTerms(Protocol):
    """What a licence says about its holder and validity, however it was verified."""

    @property
    def holder_commitment(self) -> bytes: ...
    @property
    def document_hash(self) -> bytes: ...
    @property
    def valid_from(self) -> int: ...
    @property
    def valid_until(self) -> int: ...
    @property
    def jurisdiction(self) -> str: ...


def licence_terms_json(lic: LicenceTerms) -> dict[str, Any]:
    """The licence's terms under ``--json``: the same keys whichever command verified it."""
    return {
        "holder_commitment": lic.holder_commitment,
        "document_hash": lic.document_hash,
        "valid_from": show_time(lic.valid_from * 1000),
        "valid_until": show_time(lic.valid_until * 1000) if lic.valid_until else None,
        "jurisdiction": lic.jurisdiction,
    }


# --- files ------------------------------------------------------------------------------------------------
def read_file(path: str | Path, what: str) -> bytes:
    """The bytes of the ``what`` file at ``path``; InputError (exit 3) naming it when it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the {what} {path}: {exc.strerror or exc}", path=str(path)) from exc


# --- nodes ------------------------------------------------------------------------------------------------
def open_client(
    url: str, ca: Path | None, *, timeout: float = 20.0, signer: KeyHolder | None = None
) -> Client:
    """A client of the node at ``url``, anonymous or reading as ``signer``'s organisation; raises InputError
    when the CA file cannot be read (the node's own failures surface later, when it is asked)."""
    try:
        return Client(url, ca=ca, timeout=timeout, signer=signer)
    except OSError as exc:  # ssl.SSLError (a file that is no PEM certificate) is an OSError
        raise InputError(f"cannot read the CA certificate {ca}: {exc}", path=str(ca)) from exc
