"""CLI commands `xinlian verify` (offline bundle verification) and `xinlian credential qr`."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from sdk.encoding import to_hex
from sdk.errors import FormatError, VerificationError
from sdk.proofs.bundle import COMPACT_PREFIX, ProofBundle, decode_compact, load_bundle
from sdk.proofs.trust import Trust, load_trust
from sdk.proofs.verify import VerifiedEvent, Verifier

__all__ = ["describe_event", "register", "resolve_source", "resolve_trust"]

console = Console()
log = logging.getLogger("xinlian.verify")
credential_app = typer.Typer(
    help="Holder credentials: QR codes that carry a proof bundle.", no_args_is_help=True
)
_TIMEOUT_S = 20.0


# --- sources and trust ----------------------------------------------------------------------------------
def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _get_json(url: str) -> Any:
    try:
        response = httpx.get(url, timeout=_TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise FormatError(f"cannot fetch {url}: {exc}") from exc
    if response.status_code != 200:
        raise FormatError(f"{url} answered {response.status_code}: {response.text[:200]}")
    try:
        return response.json()
    except ValueError as exc:
        raise FormatError(f"{url} did not answer JSON") from exc


def resolve_source(source: str) -> tuple[ProofBundle, str | None]:
    """Return the bundle named by ``source`` and the node origin it came from (None when offline).

    Takes: a bundle file (JSON or a QR payload text), a node bundle URL (…/v1/proofs/…), a /verify link
    (``#b=`` carries the bundle; ``#tx=`` / ``#licence=`` name one to fetch), or a QR payload itself.
    Raises: FormatError when it cannot be read.
    """
    if _is_url(source):
        origin = _origin(source)
        fragment = urlsplit(source).fragment
        if "/verify" in source and fragment:
            params = dict(p.split("=", 1) for p in fragment.split("&") if "=" in p)
            if "b" in params:
                return decode_compact(source), None
            if "licence" in params:
                return ProofBundle.from_json(
                    _get_json(f"{origin}/v1/proofs/licences/{params['licence']}")
                ), origin
            if "tx" in params:
                return ProofBundle.from_json(_get_json(f"{origin}/v1/proofs/tx/{params['tx']}")), origin
            raise FormatError("the /verify link names no bundle (#b=, #tx= or #licence=)")
        return ProofBundle.from_json(_get_json(source)), origin
    stripped = source.strip()
    if stripped.startswith(("{", COMPACT_PREFIX)):
        return load_bundle(stripped), None
    try:
        data = Path(source).read_bytes()
    except OSError:
        return load_bundle(stripped), None  # a bare base64url payload
    return load_bundle(data), None


def resolve_trust(trust: str | None, origin: str | None) -> tuple[Trust, str | None]:
    """Return the trust anchor and, when it was taken from a server, a warning to show.

    Takes: a trust file path, a node URL (its /v1/proofs/trust), or None (then the bundle's node, if any).
    Raises: FormatError when no anchor can be found; ChainError when the trust file is inconsistent.
    """
    if trust is not None and not _is_url(trust):
        return load_trust(Path(trust).read_bytes()), None
    url = trust or origin
    if url is None:
        raise FormatError("no trust anchor: pass --trust genesis.json (or a checkpoint file)")
    if "/v1/proofs/" not in url:
        url = f"{_origin(url)}/v1/proofs/trust"
    anchor = load_trust(_get_json(url))
    warning = (
        f"UNSAFE trust: the anchor was fetched from {_origin(url)}; compare its genesis hash with the "
        "consortium's published one, or pass --trust with a file you got out of band"
    )
    log.warning(warning)
    return anchor, warning


# --- report -------------------------------------------------------------------------------------------
def _time(ms: int) -> str:
    return (
        dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
        .astimezone(dt.timezone(dt.timedelta(hours=8)))
        .isoformat(timespec="seconds")
    )


def describe_event(event: VerifiedEvent) -> list[tuple[str, str]]:
    """Return the verified facts as (label, value) rows for people."""
    rows = [
        ("trusted anchor", event.trust),
        ("chain id", str(event.chain_id)),
        ("block", f"{event.height}  0x{event.block_hash.hex()}"),
        ("block time", _time(event.block_time_ms)),
        ("sealed by", f"{len(event.sealed_by)} of {len(event.validators)} validators in force"),
        ("validator-set handovers followed", ", ".join(map(str, event.handovers)) or "none"),
        ("transaction", f"0x{event.tx_hash.hex()} (index {event.tx_index})"),
        ("sender", f"0x{event.sender.hex()}"),
        ("contract", f"0x{event.contract.hex()}"),
    ]
    if event.log is not None:
        decoded = event.log.decode()
        name = f"{event.log.contract_name}.{decoded[0]}" if decoded else f"0x{event.log.address.hex()}"
        rows.append(("event", f"{name} (log {event.log.index})"))
        if decoded:
            for key, value in decoded[1].items():
                shown = to_hex(value) if isinstance(value, bytes) else str(value)
                rows.append((f"  {key}", shown))
    if event.licence is not None:
        lic = event.licence
        rows += [
            ("licence id hash", f"0x{lic.id_hash.hex()}"),
            ("issuer", f"0x{lic.issuer.hex()} ({lic.issuer_org})"),
            ("valid", f"{lic.valid_from} → {lic.valid_until or '长期 (no end date)'} (unix s)"),
        ]
    if event.licence is not None and (event.state is None or event.state.licence is None):
        rows.append(("licence status", "not proven by this bundle (issuance only): ask for a fresh bundle"))
    if event.state is not None:
        s = event.state
        if s.licence is not None:
            age_h = (time.time() * 1000 - s.block_time_ms) / 3_600_000
            stale = (
                f" — proof is {int(age_h // 24)} day(s) old; the status may have changed"
                if age_h > 24
                else ""
            )
            rows.append(
                ("licence status", f"{s.licence.name} at height {s.height} ({_time(s.block_time_ms)}){stale}")
            )
        else:
            rows.append(
                ("state", f"slot {hex(s.slot)} of 0x{s.address.hex()} = {s.value} at height {s.height}")
            )
    return rows


def _print_failure(exc: VerificationError) -> None:
    body = f"[bold]{type(exc).__name__}[/] ({exc.code})\n{exc.diagnostics()}"
    console.print(Panel(body, title="[red]NOT VERIFIED[/]", border_style="red"))


# --- commands -----------------------------------------------------------------------------------------
def verify_command(
    source: Annotated[
        str | None, typer.Argument(help="Bundle file or URL, a /verify link, or a QR payload file.")
    ] = None,
    trust: Annotated[
        str | None, typer.Option(help="Trust anchor: genesis.json / checkpoint file, or a node URL.")
    ] = None,
    qr_payload: Annotated[
        str | None, typer.Option("--qr-payload", help="A decoded QR payload (XL1:… or a /verify link).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Verify a proof bundle offline against a trusted genesis or checkpoint; exit 1 if it does not verify."""
    try:
        if qr_payload is not None:
            bundle, origin = resolve_source(qr_payload)
        elif source is not None:
            bundle, origin = resolve_source(source)
        else:
            raise FormatError("give a bundle FILE or URL, or --qr-payload")
        anchor, warning = resolve_trust(trust, origin)
        if warning and not as_json:
            console.print(f"[yellow]{warning}[/]")
        event = Verifier(trust=anchor).verify_bundle(bundle)
    except VerificationError as exc:
        if as_json:
            typer.echo(
                json.dumps({"verified": False, "error": type(exc).__name__, **exc.to_dict()}, default=str)
            )
        else:
            _print_failure(exc)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps({"verified": True, "facts": dict(describe_event(event))}, ensure_ascii=False))
        return
    table = Table(title="[green]VERIFIED[/] — every fact below was checked", show_header=False)
    table.add_column("fact", style="bold")
    table.add_column("value")
    for label, value in describe_event(event):
        table.add_row(label, value)
    console.print(table)


@credential_app.command("qr")
def credential_qr(
    bundle: Annotated[Path, typer.Option("--bundle", help="The proof bundle (JSON) to put in the code.")],
    out: Annotated[Path, typer.Option("--out", help="Output image: .png or .svg.")],
    base_url: Annotated[
        str | None, typer.Option(help="Node URL serving /verify: the code becomes a link a phone opens.")
    ] = None,
    payload_out: Annotated[
        Path | None, typer.Option(help="Also write the payload text here (for `xinlian verify`).")
    ] = None,
) -> None:
    """Render a credential as a QR code carrying the compact bundle (or a /verify link when too big)."""
    from sdk.proofs.qr import make_credential_payload, render_qr

    try:
        credential = make_credential_payload(load_bundle(bundle.read_bytes()), base_url)
        version = render_qr(credential.payload, out)
    except VerificationError as exc:
        _print_failure(exc)
        raise typer.Exit(1) from None
    if payload_out is not None:
        payload_out.write_text(credential.payload + "\n", encoding="utf-8")
    console.print(
        f"QR version {version} ({credential.kind}): {len(credential.payload)} characters, "
        f"bundle {credential.bundle_bytes} bytes deflated → {out}"
    )


def register(app: typer.Typer) -> None:
    """Attach `verify` and `credential` to the `xinlian` command line."""
    app.command("verify")(verify_command)
    app.add_typer(credential_app, name="credential")
