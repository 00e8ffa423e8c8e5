"""The `xinlian` command line: keys, self-test, verification; node commands plug in from the node package."""

from __future__ import annotations

import os
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

import sdk
from sdk.cli_verify import register as register_verify
from sdk.errors import XinlianError

app = typer.Typer(help="Xinlian (信链) consortium trust ledger.", no_args_is_help=True, add_completion=False)
keys_app = typer.Typer(help="SM2 key management.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
register_verify(app)
console = Console()


@app.command()
def version() -> None:
    """Print the Xinlian version."""
    console.print(f"xinlian {sdk.__version__}")


@app.command()
def selftest() -> None:
    """Run the cryptographic self-test: known answers and a sign/verify round trip on every backend."""
    from sdk.selftest import run_selftest

    table = Table(title=f"xinlian {sdk.__version__} crypto self-test")
    table.add_column("check")
    table.add_column("result")
    table.add_column("ms", justify="right")
    ok = True
    for name, passed, elapsed_ms in run_selftest():
        ok &= passed
        table.add_row(name, "[green]ok[/]" if passed else "[red]FAILED[/]", f"{elapsed_ms:.1f}")
    console.print(table)
    if not ok:
        raise typer.Exit(1)


@keys_app.command("new")
def keys_new(
    out: Annotated[Path, typer.Option("--out", "-o", help="Write the PKCS#8 PEM private key here.")],
    password_env: Annotated[
        str | None,
        typer.Option(help="Encrypt the key with the password held in this environment variable."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Generate an SM2 key pair; print its public key and address (never the private key)."""
    from sdk.crypto import PrivateKey

    if out.exists() and not force:
        console.print(f"[red]{out} exists; pass --force to overwrite[/]")
        raise typer.Exit(2)
    password: bytes | None = None
    if password_env:
        value = os.environ.get(password_env)
        if not value:
            console.print(f"[red]environment variable {password_env} is empty or unset[/]")
            raise typer.Exit(2)
        password = value.encode()
    key = PrivateKey.generate()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.to_pem(password))
    console.print(f"public key: {key.public_key.to_bytes().hex()}")
    console.print(f"address:    0x{key.public_key.address.hex()}")
    console.print(f"written:    {out} (mode 600)")


#: The commands each plugin adds, so that every one of them explains what to install when it cannot load.
_PLUGIN_COMMANDS = {"node": ("node", "network", "genesis", "devnet", "demo")}


def _load_plugins() -> None:
    """Attach commands from installed packages (the node registers `node`, `network`, `devnet`, `demo`)."""
    for ep in entry_points(group="xinlian.cli"):
        try:
            ep.load()(app)
        except ImportError as exc:  # the [node] extra is not installed
            missing = exc.name or str(exc)

            def _missing(_missing: str = missing) -> None:
                print(
                    f"error: this command needs the node extra: pip install 'xinlian[node]' "
                    f"(missing module: {_missing})",
                    file=sys.stderr,
                )
                raise typer.Exit(2)

            # Any arguments are accepted, so `xinlian node run --config ...` gets the same answer.
            settings = {"allow_extra_args": True, "ignore_unknown_options": True}
            for name in _PLUGIN_COMMANDS.get(ep.name, (ep.name,)):
                app.command(
                    name, help=f"(needs xinlian[node]: {missing} not installed)", context_settings=settings
                )(_missing)


def main() -> None:
    """Console entry point."""
    _load_plugins()
    try:
        app()
    except XinlianError as exc:
        console.print(f"[red]error[/] [{exc.code}] {exc.message}")
        for key, value in exc.detail.items():
            console.print(f"  {key}: {value}")
        sys.exit(1)


if __name__ == "__main__":
    main()
