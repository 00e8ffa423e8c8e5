"""`xinlian signer …`: the remote signing service a key custodian runs (sdk.signer_service), and its token.

The key file's password follows the ceremony commands' convention: the environment variable named by
``--password-env`` (default XINLIAN_KEY_PASSWORD), else a prompt on a terminal.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from sdk.cli_common import (
    DEFAULT_PASSWORD_ENV,
    ForceOption,
    JsonOption,
    PasswordEnvOption,
    emit_json,
    read_key_password,
    say,
)
from sdk.errors import OutputError, UsageError

signer_app = typer.Typer(
    help="Remote signing service: keep an organisation's key with its custodian (docs/keys.md).",
    no_args_is_help=True,
)


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise UsageError(f"--listen takes HOST:PORT, not {value!r}")
    return host, int(port)


@signer_app.command("serve")
def signer_serve(
    key: Annotated[Path, typer.Option("--key", help="The organisation's PKCS#8 PEM key file.")],
    chain_id: Annotated[int, typer.Option("--chain-id", help="Sign preimages of this chain only.")],
    token_file: Annotated[
        Path, typer.Option("--token-file", help="The clients' bearer token (`xinlian signer token`).")
    ],
    tls_cert: Annotated[Path, typer.Option("--tls-cert", help="This service's TLS certificate (PEM).")],
    tls_key: Annotated[Path, typer.Option("--tls-key", help="The TLS certificate's private key (PEM).")],
    listen: Annotated[str, typer.Option("--listen", help="HOST:PORT to listen on (port 0: any).")] = (
        "127.0.0.1:8600"
    ),
    password_env: PasswordEnvOption = DEFAULT_PASSWORD_ENV,
    allow_decrypt: Annotated[
        bool,
        typer.Option(help="Also decrypt key-sized ciphertexts (member sessions, sealed documents)."),
    ] = False,
) -> None:
    """Serve signatures over HTTPS for clients holding the token, for one chain's preimages only."""
    from sdk.remote_signer import read_token
    from sdk.signer import Signer
    from sdk.signer_service import SignerService, make_server, tls_context

    host, port = _listen(listen)
    signer = Signer.from_pem(key, read_key_password(key, password_env))
    service = SignerService(
        signer, chain_id=chain_id, token=read_token(token_file), allow_decrypt=allow_decrypt
    )
    server = make_server(host, port, service, tls_context(str(tls_cert), str(tls_key)))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    def _stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    bound_port = server.server_address[1]
    say(f"signing for 0x{signer.address.hex()} on chain {chain_id} at https://{host}:{bound_port}")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@signer_app.command("token")
def signer_token(
    out: Annotated[Path, typer.Option("--out", "-o", help="Write the token here (mode 600).")],
    force: ForceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Write a fresh random bearer token for the signing service and its clients (never printed)."""
    if out.exists() and not force:
        raise UsageError(f"{out} exists; pass --force to overwrite")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_urlsafe(32) + "\n")
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}", path=str(out)) from exc
    if as_json:
        emit_json({"path": str(out)})
    else:
        say(f"written: {out} (mode 600)")


def register(app: typer.Typer) -> None:
    """Add `xinlian signer` to the command line."""
    app.add_typer(signer_app, name="signer")
