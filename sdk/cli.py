"""The `xinlian` command line: keys, self-test, verification, public queries; node commands plug in from the
node package. Every command follows sdk/cli_common.py's conventions and sdk/exit_codes.py's statuses."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape as markup_escape

import sdk
from sdk.cli_certificates import register as register_certificates
from sdk.cli_common import ForceOption, JsonOption, XinlianGroup, emit_json, say, show_rows
from sdk.cli_domains import register as register_domains
from sdk.cli_members import register as register_members
from sdk.cli_signer import register as register_signer
from sdk.cli_verify import register as register_verify
from sdk.errors import CheckFailed, OutputError, UsageError
from sdk.exit_codes import ExitCode

app = typer.Typer(
    cls=XinlianGroup,
    help="Xinlian (信链) consortium trust ledger. Exit statuses: docs/cli.md.",
    no_args_is_help=True,
    add_completion=False,
)
keys_app = typer.Typer(help="SM2 key management.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
register_verify(app)
register_domains(app)
register_members(app)
register_certificates(app)
register_signer(app)


@app.command()
def version(as_json: JsonOption = False) -> None:
    """Print the Xinlian version."""
    if as_json:
        emit_json({"version": sdk.__version__})
    else:
        say(f"xinlian {sdk.__version__}")


@app.command()
def selftest(as_json: JsonOption = False) -> None:
    """Run the cryptographic self-test: known answers and a sign/verify round trip on every backend."""
    from sdk.selftest import run_selftest

    checks = list(run_selftest())
    failed = [name for name, passed, _ in checks if not passed]
    if as_json:
        emit_json(
            {
                "version": sdk.__version__,
                "passed": not failed,
                "checks": [{"check": n, "passed": p, "ms": round(ms, 3)} for n, p, ms in checks],
            }
        )
    else:
        rows = [(name, f"{'ok' if passed else 'FAILED'}  {ms:.1f} ms") for name, passed, ms in checks]
        show_rows(f"xinlian {sdk.__version__} crypto self-test", rows, ok=not failed)
    if failed:
        raise CheckFailed(f"self-test failed: {', '.join(failed)}")


def _password(password_env: str | None) -> bytes | None:
    if not password_env:
        return None
    value = os.environ.get(password_env)
    if not value:
        raise UsageError(f"environment variable {password_env} is empty or unset")
    return value.encode()


@keys_app.command("new")
def keys_new(
    out: Annotated[Path, typer.Option("--out", "-o", help="Write the PKCS#8 PEM private key here.")],
    password_env: Annotated[
        str | None,
        typer.Option(help="Encrypt the key with the password held in this environment variable."),
    ] = None,
    force: ForceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Generate an SM2 key pair; print its public key and address (never the private key)."""
    from sdk.crypto import PrivateKey

    if out.exists() and not force:
        raise UsageError(f"{out} exists; pass --force to overwrite")
    password = _password(password_env)
    key = PrivateKey.generate()
    pem = key.to_pem(password)  # before the file is opened: a key that cannot be encoded leaves no file
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}", path=str(out)) from exc
    public_key, address = key.public_key.to_bytes().hex(), f"0x{key.public_key.address.hex()}"
    if as_json:
        emit_json({"public_key": public_key, "address": address, "path": str(out)})
        return
    say(f"public key: {public_key}")
    say(f"address:    {address}")
    say(f"written:    {out} (mode 600)")


#: The commands each plugin adds, so that every one of them explains what to install when it cannot load.
_PLUGIN_COMMANDS = {"node": ("node", "network", "genesis", "devnet", "demo")}


def _needs_node(missing: str) -> Callable[[], None]:
    """A command that only says what to install (no parameters of its own, so --help lists none)."""

    def command() -> None:
        raise UsageError(
            f"this command needs the node extra: pip install 'xinlian[node]' (missing module: {missing})"
        )

    return command


def _load_plugins() -> None:
    """Attach commands from installed packages (the node registers `node`, `network`, `devnet`, `demo`)."""
    for ep in entry_points(group="xinlian.cli"):
        try:
            ep.load()(app)
        except ImportError as exc:  # the [node] extra is not installed
            missing = exc.name or str(exc)
            # Any arguments are accepted, so `xinlian node run --config ...` gets the same answer.
            settings = {"allow_extra_args": True, "ignore_unknown_options": True}
            # Help texts are rich markup: "[node]" must be escaped or it vanishes as an unknown tag.
            help_text = markup_escape(f"(needs xinlian[node]: {missing} not installed)")
            for name in _PLUGIN_COMMANDS.get(ep.name, (ep.name,)):
                app.command(name, help=help_text, context_settings=settings)(_needs_node(missing))


def main() -> None:
    """Console entry point: typed failures end in XinlianGroup; anything else is a bug, shown with its
    traceback and exit status INTERNAL (never 1, which scripts read as "not verified")."""
    _load_plugins()
    try:
        app()
    except Exception as exc:
        traceback.print_exc()
        typer.echo(f"error: internal failure: {type(exc).__name__}: {exc}", err=True)
        sys.exit(ExitCode.INTERNAL)


if __name__ == "__main__":
    main()
