"""CLI for licence status statements (XLS1): `xinlian licence card` collects one from the validators and
renders its QR code; `xinlian verify` hands XLS1 payloads here (``verify_statement_source``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from sdk.cli_common import (
    CaOption,
    JsonOption,
    emit_json,
    emit_not_verified,
    licence_terms_json,
    say,
    show_rows,
    show_time,
)
from sdk.errors import CheckFailed, InputError, OutputError, UsageError, VerificationError
from sdk.proofs.statement import (
    LicenceStatement,
    VerifiedStatement,
    is_statement_payload,
    load_statement,
    verify_statement,
)
from sdk.proofs.trust import Trust

__all__ = ["licence_card", "statement_in", "verify_statement_source"]


def statement_in(source: str | None, qr_payload: str | None) -> LicenceStatement | None:
    """The statement ``xinlian verify`` was given (payload text, or a file of the QR code's binary or text
    payload), or None when it was given something else (a bundle). Raises InputError for a malformed one."""
    data: bytes | None = None
    if qr_payload is not None and is_statement_payload(qr_payload.strip()):
        data = qr_payload.strip().encode("latin-1", "replace")
    elif source is not None and is_statement_payload(source.strip()):
        data = source.strip().encode("latin-1", "replace")
    elif source is not None and "://" not in source and Path(source).is_file():
        head = Path(source).read_bytes()[:5]
        if is_statement_payload(head):
            data = Path(source).read_bytes()
    if data is None:
        return None
    try:
        return load_statement(data)
    except VerificationError as exc:
        raise InputError(f"the licence statement cannot be read: {exc.message}") from exc


def _rows(v: VerifiedStatement) -> list[tuple[str, str]]:
    stale = " — older than 24 hours: the status may have changed since" if v.stale else ""
    until = show_time(v.valid_until * 1000) if v.valid_until else "长期 (no end date)"
    return [
        ("trusted anchor", v.trust),
        ("licence", v.identifier),
        ("status", f"{v.status} at height {v.height} ({show_time(v.block_time_ms)}){stale}"),
        ("issuer", v.issuer_org),
        ("type", v.type_code),
        ("valid", f"{show_time(v.valid_from * 1000)} → {until}"),
        ("jurisdiction", v.jurisdiction),
        ("holder commitment", f"0x{v.holder_commitment.hex()}"),
        ("document hash", f"0x{v.document_hash.hex()}"),
        ("sealed by", f"{len(v.sealed_by)} of {v.validators} validators in force"),
        ("block", f"0x{v.block_hash.hex()}"),
    ]


def _facts(v: VerifiedStatement) -> dict[str, Any]:
    return {
        "kind": "statement",
        "trust": v.trust,
        "chain_id": v.chain_id,
        "identifier": v.identifier,
        "id_hash": v.id_hash,
        "type_code": v.type_code,
        "issuer_org": v.issuer_org,
        **licence_terms_json(v),
        "status": v.status,
        "height": v.height,
        "block_hash": v.block_hash,
        "block_time": show_time(v.block_time_ms),
        "stale": v.stale,
        "validators": v.validators,
        "sealed_by": v.sealed_by,
    }


def verify_statement_source(statement: LicenceStatement, anchor: Trust, as_json: bool) -> None:
    """Verify and print, as `xinlian verify` does for bundles; CheckFailed (exit 1) when it fails."""
    try:
        verified = verify_statement(statement, anchor)
    except VerificationError as exc:
        if as_json:
            emit_not_verified(exc, dict(exc.detail))
        raise CheckFailed(f"not verified: {exc.message}", code=exc.code, error=type(exc).__name__) from exc
    if as_json:
        emit_json({"verified": True, "facts": _facts(verified)})
        return
    show_rows("VERIFIED licence statement — every fact below was checked", _rows(verified))


def licence_card(
    identifier: Annotated[str, typer.Argument(help="GB/T 36904 licence identifier.")],
    node: Annotated[
        list[str], typer.Option("--node", help="A validator node's URL; give several (a quorum must sign).")
    ],
    trust: Annotated[
        str | None, typer.Option(help="Trust anchor file or node URL (default: the first node's genesis).")
    ] = None,
    height: Annotated[int | None, typer.Option(help="The height to sign at (default: lowest head).")] = None,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="QR image: .png or .svg.")] = None,
    text: Annotated[bool, typer.Option("--text", help="Print the XLS1: text (base45) instead.")] = False,
    ca: CaOption = None,
    as_json: JsonOption = False,
) -> None:
    """Collect a licence status statement signed by a quorum of the validators and write it as a QR code
    (binary mode, version ≤ 15 up to seven validators) or print it as XLS1: text."""
    from sdk.cli_verify import resolve_trust
    from sdk.proofs.collect import collect_statement
    from sdk.proofs.qr import render_qr, statement_qr_version

    if out is None and not text:
        raise UsageError("give -o card.png (or .svg) or --text")
    anchor, warning = resolve_trust(trust, node[0] if node else None, ca)
    if warning:
        typer.echo(f"warning: {warning}", err=True)
    statement = collect_statement(node, identifier, anchor, height=height, ca=ca)
    payload = statement.to_qr_bytes()
    version = statement_qr_version(payload)
    if out is not None:
        if out.suffix.lower() not in (".png", ".svg"):
            raise UsageError(f"--out must name a .png or .svg file, not {out.name}")
        try:
            version = render_qr(payload, out)
        except OSError as exc:
            raise OutputError(f"cannot write {exc.filename or out}: {exc.strerror or exc}") from exc
    summary = {
        "out": str(out) if out is not None else None,
        "qr_version": version,
        "statement_bytes": len(payload),
        "height": statement.facts.height,
        "seals": len(statement.seals),
        "text": statement.to_qr_text() if text else None,
    }
    if as_json:
        emit_json(summary)
        return
    line = (
        f"QR version {version} (binary): {len(payload)} bytes, {len(statement.seals)} validator seals "
        f"at height {statement.facts.height}" + (f" → {out}" if out is not None else "")
    )
    if text:  # the text is the result; the summary goes to stderr
        say(statement.to_qr_text())
        typer.echo(line, err=True)
    else:
        say(line)
