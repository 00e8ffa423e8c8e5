"""CLI commands `xinlian verify` (offline bundle verification) and `xinlian credential qr`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlsplit

import typer

from sdk.cli_common import (
    CaOption,
    JsonOption,
    emit_json,
    emit_not_verified,
    licence_terms_json,
    open_client,
    read_file,
    say,
    show_rows,
    show_time,
)
from sdk.encoding import to_hex
from sdk.errors import (
    CheckFailed,
    FormatError,
    InputError,
    OutputError,
    UsageError,
    VerificationError,
    XinlianError,
)
from sdk.proofs.bundle import COMPACT_PREFIX, ProofBundle, load_bundle
from sdk.proofs.licence import is_stale
from sdk.proofs.trust import Trust, load_trust
from sdk.proofs.verify import VerifiedEvent, Verifier

__all__ = ["describe_event", "event_facts", "register", "resolve_payload", "resolve_source", "resolve_trust"]

credential_app = typer.Typer(
    help="Holder credentials: QR codes that carry a proof bundle.", no_args_is_help=True
)

ImageOption = Annotated[Path, typer.Option("--out", help="Output image: .png or .svg.")]


# --- reading inputs ---------------------------------------------------------------------------------------
@contextmanager
def _reading(what: str) -> Iterator[None]:
    """Turn a failure to parse ``what`` into InputError: a bundle or trust file that cannot be read is
    unreadable input (exit 3), not a bundle that failed verification (exit 1)."""
    try:
        yield
    except VerificationError as exc:
        raise InputError(f"{what} cannot be read: {exc.message}", **exc.detail) from exc


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _fetch(url: str, ca: Path | None) -> Any:
    """GET ``url`` from its node (anonymously) and return the decoded JSON; the node's failures raise the
    SDK client's errors (unreachable, or the node's own error answer)."""
    parts = urlsplit(url)
    with open_client(_origin(url), ca) as client:
        return client.public_get(parts.path, params=dict(parse_qsl(parts.query)) or None)


def _bundle_at(url: str, ca: Path | None) -> ProofBundle:
    body = _fetch(url, ca)
    with _reading(f"the bundle from {url}"):
        return ProofBundle.from_json(body)


def _from_url(url: str, ca: Path | None) -> tuple[ProofBundle, str | None]:
    """A bundle named by a node URL: a bundle URL (…/v1/proofs/…) or a /verify link (``#b=`` carries the
    bundle itself; ``#tx=`` / ``#licence=`` name one to fetch from the link's node)."""
    origin = _origin(url)
    parts = urlsplit(url)
    if not (parts.path.rstrip("/").endswith("/verify") and parts.fragment):
        return _bundle_at(url, ca), origin
    params = dict(p.split("=", 1) for p in parts.fragment.split("&") if "=" in p)
    if "b" in params:
        with _reading("the /verify link's bundle"):
            return load_bundle(url), None
    if "licence" in params:
        return _bundle_at(f"{origin}/v1/proofs/licences/{params['licence']}", ca), origin
    if "tx" in params:
        return _bundle_at(f"{origin}/v1/proofs/tx/{params['tx']}", ca), origin
    raise InputError("the /verify link names no bundle (#b=, #tx= or #licence=)", url=url)


def resolve_source(source: str, ca: Path | None = None) -> tuple[ProofBundle, str | None]:
    """Return the bundle named by ``source`` and the node origin it came from (None when offline).

    Takes: a bundle file (JSON or a QR payload text), a node bundle URL (…/v1/proofs/…), a /verify link, or
    inline JSON / an ``XL1:`` payload. Raises: InputError when it cannot be read (a missing file is said to
    be missing, never taken for a payload); the client's errors when a node must be asked.
    """
    if _is_url(source):
        return _from_url(source, ca)
    stripped = source.strip()
    if stripped.startswith(("{", COMPACT_PREFIX)):
        with _reading("the bundle"):
            return load_bundle(stripped), None
    data = read_file(source, "bundle file")
    with _reading(f"the bundle file {source}"):
        return load_bundle(data), None


def resolve_payload(payload: str, ca: Path | None = None) -> tuple[ProofBundle, str | None]:
    """Return the bundle a decoded QR payload carries or names: ``XL1:…``, bare base64url, a /verify link."""
    if _is_url(payload):
        return _from_url(payload.strip(), ca)
    with _reading("the QR payload"):
        return load_bundle(payload), None


def resolve_trust(trust: str | None, origin: str | None, ca: Path | None = None) -> tuple[Trust, str | None]:
    """Return the trust anchor and, when it was taken from a server, a warning to show.

    Takes: a trust file path, a node URL (its /v1/proofs/trust), or None (then the bundle's node, if any).
    Raises: UsageError when there is no anchor to use; InputError when the anchor cannot be read.
    """
    if trust is not None and not _is_url(trust):
        data = read_file(trust, "trust file")
        with _reading(f"the trust file {trust}"):
            return load_trust(data), None
    url = trust or origin
    if url is None:
        raise UsageError("no trust anchor: pass --trust genesis.json (or a checkpoint file, or a node URL)")
    if "/v1/proofs/" not in url:
        url = f"{_origin(url)}/v1/proofs/trust"
    body = _fetch(url, ca)
    with _reading(f"the trust anchor from {url}"):
        anchor = load_trust(body)
    warning = (
        f"UNSAFE trust: the anchor was fetched from {_origin(url)}; compare its genesis hash with the "
        "consortium's published one, or pass --trust with a file you got out of band"
    )
    return anchor, warning


# --- report -------------------------------------------------------------------------------------------
#: Event arguments the system contracts give in unix seconds (besides names ending in ``_at``; 0: none).
_SECONDS_ARGS = frozenset({"valid_from", "valid_until", "deadline", "timestamp"})


def _arg_value(name: str, value: Any) -> Any:
    """An event argument as the CLI shows it: bytes as 0x-hex, unix seconds as a time (None for 0)."""
    if isinstance(value, bytes):
        return to_hex(value)
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and (name in _SECONDS_ARGS or name.endswith("_at"))
    ):
        return show_time(value * 1000) if value else None
    return value


def _licence_until(valid_until_s: int) -> str:
    return show_time(valid_until_s * 1000) if valid_until_s else "长期 (no end date)"


def describe_event(event: VerifiedEvent) -> list[tuple[str, str]]:
    """Return the verified facts as (label, value) rows for people."""
    # A drug-code bundle proves the receipt of its part's transaction, not the body (every code of the part).
    body = "; its receipt, not its body" if event.lot is not None else ""
    rows = [
        ("trusted anchor", event.trust),
        ("chain id", str(event.chain_id)),
        ("block", f"{event.height}  0x{event.block_hash.hex()}"),
        ("block time", show_time(event.block_time_ms)),
        ("sealed by", f"{len(event.sealed_by)} of {len(event.validators)} validators in force"),
        ("validator-set handovers followed", ", ".join(map(str, event.handovers)) or "none"),
        ("transaction", f"0x{event.tx_hash.hex()} (index {event.tx_index}{body})"),
        ("sender", f"0x{event.sender.hex()}"),
        ("contract", f"0x{event.contract.hex()}"),
    ]
    if event.log is not None:
        decoded = event.log.decode()
        name = f"{event.log.contract_name}.{decoded[0]}" if decoded else f"0x{event.log.address.hex()}"
        rows.append(("event", f"{name} (log {event.log.index})"))
        if decoded:
            for key, value in decoded[1].items():
                shown = _arg_value(key, value)
                rows.append((f"  {key}", "none" if shown is None else str(shown)))
    if event.licence is not None:
        lic = event.licence
        rows += [
            ("licence id hash", f"0x{lic.id_hash.hex()}"),
            ("issuer", f"0x{lic.issuer.hex()} ({lic.issuer_org})"),
            ("valid", f"{show_time(lic.valid_from * 1000)} → {_licence_until(lic.valid_until)}"),
        ]
    if event.lot is not None:
        lot = event.lot
        rows += [
            ("drug code id", f"0x{lot.code_id.hex()}"),
            ("listed in", f"lot part {lot.part}, leaf {lot.leaf}, by 0x{lot.mah.hex()}, at this block"),
            ("product / batch", f"0x{lot.product_id.hex()} / {lot.batch_no}"),
            ("code status", "not proven by this bundle (its listing only): ask the consumer check"),
        ]
    if event.licence is not None and (event.state is None or event.state.licence is None):
        rows.append(("licence status", "not proven by this bundle (issuance only): ask for a fresh bundle"))
    if event.state is not None:
        s = event.state
        if s.licence is not None:
            now_ms = int(time.time() * 1000)
            age_days = (now_ms - s.block_time_ms) // (24 * 3_600_000)
            stale = (
                f" — proof is {age_days} day(s) old; the status may have changed"
                if is_stale(s.block_time_ms, now_ms)
                else ""
            )
            rows.append(
                (
                    "licence status",
                    f"{s.licence.name} at height {s.height} ({show_time(s.block_time_ms)}){stale}",
                )
            )
        else:
            rows.append(
                ("state", f"slot {hex(s.slot)} of 0x{s.address.hex()} = {s.value} at height {s.height}")
            )
        rows.append(("code", f"0x{s.code_hash.hex()} at 0x{s.address.hex()}, height {s.height}"))
    return rows


def _log_facts(event: VerifiedEvent) -> dict[str, Any] | None:
    if event.log is None:
        return None
    decoded = event.log.decode()
    return {
        "log_index": event.log.index,
        "address": event.log.address,
        "contract": event.log.contract_name,
        "name": decoded[0] if decoded else None,
        "args": {key: _arg_value(key, value) for key, value in decoded[1].items()} if decoded else None,
    }


def _licence_facts(event: VerifiedEvent) -> dict[str, Any] | None:
    lic = event.licence
    if lic is None:
        return None
    return {
        "identifier": lic.identifier or None,
        "id_hash": lic.id_hash,
        "type_id": lic.type_id,
        "issuer": lic.issuer,
        "issuer_org": lic.issuer_org,
        **licence_terms_json(lic),
    }


def _state_facts(event: VerifiedEvent) -> dict[str, Any] | None:
    s = event.state
    if s is None:
        return None
    return {
        "kind": s.kind,
        "height": s.height,
        "block_hash": s.block_hash,
        "block_time": show_time(s.block_time_ms),
        "address": s.address,
        "slot": hex(s.slot),
        "value": hex(s.value),
        "licence_status": s.licence.name if s.licence is not None else None,
        "code_hash": s.code_hash,
    }


def _lot_facts(event: VerifiedEvent) -> dict[str, Any] | None:
    lot = event.lot
    if lot is None:
        return None
    return {
        "code_id": lot.code_id,
        "part": lot.part,
        "leaf": lot.leaf,
        "product_id": lot.product_id,
        "batch_no": lot.batch_no,
        "level": lot.level,
        "mah": lot.mah,
    }


def event_facts(event: VerifiedEvent) -> dict[str, Any]:
    """Return the verified facts for programs: snake_case keys, whole values (bytes as 0x-hex), times in
    the CLI's one convention; ``event``, ``licence``, ``state`` and ``lot`` (a drug-code bundle's code) are
    null when the bundle proves none."""
    return {
        "trust": event.trust,
        "chain_id": event.chain_id,
        "height": event.height,
        "block_hash": event.block_hash,
        "block_time": show_time(event.block_time_ms),
        "validators": event.validators,
        "sealed_by": event.sealed_by,
        "handovers": event.handovers,
        "tx_hash": event.tx_hash,
        "tx_index": event.tx_index,
        "sender": event.sender,
        "sender_public_key": event.sender_public_key,
        "contract": event.contract,
        "event": _log_facts(event),
        "licence": _licence_facts(event),
        "state": _state_facts(event),
        "lot": _lot_facts(event),
    }


def _failure_detail(exc: VerificationError) -> dict[str, Any]:
    """The failure's detail with its times (block_time_ms, ended_at in seconds) in the CLI's convention."""
    detail = dict(exc.detail)
    if "block_time_ms" in detail:
        detail["block_time"] = show_time(int(detail.pop("block_time_ms")))
    if "ended_at" in detail:
        ended = detail.pop("ended_at")
        if ended:
            detail["ended_at"] = show_time(int(ended) * 1000)
    return detail


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
    ca: CaOption = None,
    as_json: JsonOption = False,
) -> None:
    """Verify a proof bundle, or a licence statement (XLS1), offline against a trusted genesis or
    checkpoint; exit 1 if it does not verify."""
    from sdk.cli_statement import statement_in, verify_statement_source

    statement = statement_in(source, qr_payload)
    if statement is not None:
        anchor, warning = resolve_trust(trust, None, ca)
        if warning:
            typer.echo(f"warning: {warning}", err=True)
        verify_statement_source(statement, anchor, as_json)
        return
    if qr_payload is not None:
        bundle, origin = resolve_payload(qr_payload, ca)
    elif source is not None:
        bundle, origin = resolve_source(source, ca)
    else:
        raise UsageError("give a bundle FILE or URL, or --qr-payload")
    anchor, warning = resolve_trust(trust, origin, ca)
    if warning:
        typer.echo(f"warning: {warning}", err=True)
    try:
        event = Verifier(trust=anchor).verify_bundle(bundle)
    except VerificationError as exc:
        detail = _failure_detail(exc)
        if as_json:
            emit_not_verified(exc, detail)
        raise CheckFailed(
            f"not verified: {exc.message}", code=exc.code, error=type(exc).__name__, **detail
        ) from exc
    if as_json:
        emit_json({"verified": True, "facts": event_facts(event)})
        return
    show_rows("VERIFIED — every fact below was checked", describe_event(event))


@credential_app.command("qr")
def credential_qr(
    bundle: Annotated[Path, typer.Option("--bundle", help="The proof bundle (JSON) to put in the code.")],
    out: ImageOption,
    base_url: Annotated[
        str | None, typer.Option(help="Node URL serving /verify: the code becomes a link a phone opens.")
    ] = None,
    payload_out: Annotated[
        Path | None, typer.Option(help="Also write the payload text here (for `xinlian verify`).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Render a credential as a QR code carrying the compact bundle (or a /verify link when too big)."""
    from sdk.proofs.qr import make_credential_payload, render_qr

    if out.suffix.lower() not in (".png", ".svg"):
        raise UsageError(f"--out must name a .png or .svg file, not {out.name}")
    data = read_file(str(bundle), "bundle file")
    with _reading(f"the bundle file {bundle}"):
        proof = load_bundle(data)
    try:
        credential = make_credential_payload(proof, base_url)
    except FormatError as exc:  # too big for a QR code without --base-url
        raise UsageError(exc.message, **exc.detail) from exc
    try:
        version = render_qr(credential.payload, out)
        if payload_out is not None:
            payload_out.write_text(credential.payload + "\n", encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write {exc.filename or out}: {exc.strerror or exc}") from exc
    if as_json:
        emit_json(
            {
                "out": str(out),
                "payload_out": str(payload_out) if payload_out is not None else None,
                "qr_version": version,
                "kind": credential.kind,
                "payload_chars": len(credential.payload),
                "bundle_bytes": credential.bundle_bytes,
                "payload": credential.payload,
            }
        )
        return
    say(
        f"QR version {version} ({credential.kind}): {len(credential.payload)} characters, "
        f"bundle {credential.bundle_bytes} bytes deflated → {out}"
    )


@credential_app.command("holder-qr")
def credential_holder_qr(
    credential: Annotated[Path, typer.Option("--credential", help="The holder's credential file (JSON).")],
    out: ImageOption,
    base_url: Annotated[
        str | None,
        typer.Option(help="Node URL serving /verify: one link that checks the licence and the holder."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Render the holder QR the /verify page scans for its holder check: salt and holder code (no key), as
    XLH1: text, or with --base-url a /verify link carrying the licence reference as well."""
    from sdk.domains.licences.credentials import HolderCredential
    from sdk.proofs.qr import render_qr

    if out.suffix.lower() not in (".png", ".svg"):
        raise UsageError(f"--out must name a .png or .svg file, not {out.name}")
    data = read_file(str(credential), "credential file")
    try:
        holder = HolderCredential.from_json(data)
    except XinlianError as exc:
        raise InputError(f"the credential file {credential} cannot be read: {exc.message}") from exc
    payload = holder.verify_link(base_url) if base_url else holder.holder_qr_text()
    try:
        version = render_qr(payload, out)
    except OSError as exc:
        raise OutputError(f"cannot write {exc.filename or out}: {exc.strerror or exc}") from exc
    kind = "link" if base_url else "holder"
    if as_json:  # the payload holds the holder code: written to the image only, never printed
        emit_json({"out": str(out), "qr_version": version, "kind": kind, "payload_chars": len(payload)})
        return
    say(f"holder QR version {version} ({kind}): {len(payload)} characters → {out}")


def register(app: typer.Typer) -> None:
    """Attach `verify` and `credential` to the `xinlian` command line."""
    app.command("verify")(verify_command)
    app.add_typer(credential_app, name="credential")
