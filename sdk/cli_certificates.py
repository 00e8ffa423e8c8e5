"""CLI commands for organisation certificates on chain: `xinlian certificate check|anchors`, and the
committee's `xinlian proposal trust-anchor|remove-trust-anchor|certificate|unbind-certificate`.

A check re-runs every rule of the chain of trust from chain state (docs/keys.md, "Organisation certificates
on chain"); a certificate that fails it exits 1 (NOT_VERIFIED) with the rule's code, a file that is no
certificate exits 3 (INPUT).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from sdk.cli_common import (
    certificate_facts,
    emit_json,
    emit_not_verified,
    emit_or_show,
    read_file,
    show_instant,
    show_rows,
)
from sdk.cli_members import Member, member_command, proposal_app, proposal_facts, proposal_rows
from sdk.domains.governance import (
    Governance,
    ProposalResult,
    TrustAnchor,
    check_bound_certificate,
    compute_certificate_id,
)
from sdk.encoding import from_hex
from sdk.errors import CheckFailed, IdentityCertificateError, InputError, UsageError
from sdk.identity.x509 import describe_certificate

__all__ = ["register"]

certificate_app = typer.Typer(
    help="Organisation certificates (SM2 X.509) on chain: check an account's, list the trust anchors.",
    no_args_is_help=True,
)

AccountArgument = Annotated[str, typer.Argument(help="The account's 0x address (20 bytes).")]
AtOption = Annotated[
    str | None,
    typer.Option("--at", help="Check at this ISO 8601 time with offset (default: now)."),
]
CertificateOption = Annotated[Path, typer.Option("--certificate", help="The certificate: a PEM or DER file.")]


def _account(text: str) -> bytes:
    return from_hex(text, "account", size=20, error=UsageError)


def _at(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--at takes an ISO 8601 time such as 2026-12-06T10:00:00+08:00, not {text!r}"
        ) from None
    if when.tzinfo is None:
        raise UsageError("--at needs an offset (e.g. +08:00 or Z): a time without one is ambiguous")
    return when


@contextmanager
def _certificate_rules(detail: dict[str, Any], *, as_json: bool = False) -> Iterator[None]:
    """A refused certificate: INPUT when it is no certificate, NOT_VERIFIED with the rule's code otherwise."""
    try:
        yield
    except IdentityCertificateError as exc:
        if exc.code == "x509_malformed":
            raise InputError(exc.message, code=exc.code, **detail) from exc
        if as_json:
            emit_not_verified(exc, detail)
        raise CheckFailed(f"not verified: {exc.message}", code=exc.code, **detail) from exc


@member_command(certificate_app, "check")
def certificate_check(
    account: AccountArgument,
    member: Member,
    at: AtOption = None,
) -> None:
    """Check the certificate bound to an account against the trust anchors on chain: the issuer's signature,
    validity, the key being the account's and the USCC its organisation's."""
    address, when = _account(account), _at(at)
    detail: dict[str, Any] = {"account": "0x" + address.hex()}
    with member.session() as (client, _):
        governance = Governance(client)
        bound = governance.bound_certificate(address)  # each read once: the facts shown are those checked
        uscc = governance.organisation_of(address)
        anchors = governance.trust_anchors()
    with _certificate_rules(detail, as_json=member.as_json):
        identity = check_bound_certificate(
            bound, anchors=anchors, uscc=uscc, at=when or dt.datetime.now(dt.UTC)
        )
    assert bound is not None  # check_bound_certificate refused an unbound account (x509_not_bound)
    facts = {
        "verified": True,
        "account": address,
        "uscc": uscc,
        "subject": identity.subject,
        "fingerprint": identity.fingerprint,
        "issuer_fingerprint": identity.issuer_fingerprint,
        "not_before": show_instant(identity.not_before),
        "not_after": show_instant(identity.not_after),
        "certificate_id": bound.certificate_id,
        "bound_block": bound.bound_block,
    }
    if member.as_json:
        emit_json(facts)
        return
    show_rows(
        "VERIFIED — the account's certificate chains to a trust anchor on chain",
        [
            ("account", f"0x{address.hex()}"),
            ("organisation", uscc),
            ("subject", identity.subject),
            ("valid", f"{facts['not_before']} to {facts['not_after']}"),
            ("fingerprint", f"SM3 0x{identity.fingerprint.hex()}"),
            ("issuer", f"SM3 0x{identity.issuer_fingerprint.hex()}"),
            ("bound", f"block {bound.bound_block} (id 0x{bound.certificate_id.hex()})"),
        ],
    )


@member_command(certificate_app, "anchors")
def certificate_anchors(member: Member) -> None:
    """List the CA certificates the committee trusts to issue organisation certificates."""
    with member.session() as (client, _):
        anchors = Governance(client).trust_anchors()
    listed = [_anchor_facts(a) for a in anchors]
    if member.as_json:
        emit_json({"trust_anchors": listed})
        return
    rows = [
        (
            f"0x{a['anchor_id'].hex()}",
            f"{a['subject']} (until {a['not_after']})" if a["readable"] else "NOT A CERTIFICATE",
        )
        for a in listed
    ]
    show_rows(f"{len(listed)} trust anchor(s)", rows or [("none", "no CA is trusted yet")])


def _anchor_facts(anchor: TrustAnchor) -> dict[str, Any]:
    """An anchor as listed. Bytes that are no certificate (the contract records any DER-shaped bytes a
    passed proposal carries) are listed too, ``readable`` false, so the committee sees the id to remove."""
    try:
        described = describe_certificate(anchor.certificate)
    except IdentityCertificateError:
        described = None
    return {"anchor_id": anchor.anchor_id, "readable": described is not None, **certificate_facts(described)}


# --- the committee's proposals ---------------------------------------------------------------------------
def _propose(
    member: Member, title: str, detail: dict[str, Any], make: Callable[[Governance], ProposalResult]
) -> None:
    with member.session() as (client, signer):
        governance = Governance(client, signer)
        with _certificate_rules(detail, as_json=member.as_json):
            result = make(governance)
        facts = proposal_facts(result, governance)
    emit_or_show(facts, as_json=member.as_json, title=title, rows=proposal_rows)


@member_command(proposal_app, "trust-anchor")
def proposal_trust_anchor(certificate: CertificateOption, member: Member) -> None:
    """Propose trusting a CA certificate to issue organisation certificates (checked first: an SM2 CA,
    valid now, at most 2,048 bytes as DER)."""
    data = read_file(certificate, "certificate file")
    _propose(
        member, "trust anchor proposed", {"path": str(certificate)}, lambda g: g.propose_trust_anchor(data)
    )


@member_command(proposal_app, "remove-trust-anchor")
def proposal_remove_trust_anchor(
    member: Member,
    certificate: Annotated[
        Path | None, typer.Option("--certificate", help="The anchor's certificate: a PEM or DER file.")
    ] = None,
    anchor_id: Annotated[
        str | None,
        typer.Option(
            "--anchor-id", help="The anchor's id (0x-hex, 32 bytes) as `certificate anchors` lists it."
        ),
    ] = None,
) -> None:
    """Propose no longer trusting a CA, named by its certificate or its anchor id: certificates it issued
    then fail every check."""
    if (certificate is None) == (anchor_id is None):
        raise UsageError("name the anchor with --certificate or with --anchor-id (one of them)")
    detail: dict[str, Any] = (
        {"path": str(certificate)} if certificate is not None else {"anchor_id": anchor_id}
    )
    with _certificate_rules(detail, as_json=member.as_json):
        target = (
            compute_certificate_id(read_file(certificate, "certificate file"))
            if certificate is not None
            else from_hex(anchor_id, "--anchor-id", size=32, error=UsageError)
        )
    _propose(member, "trust anchor removal proposed", detail, lambda g: g.propose_remove_trust_anchor(target))


@member_command(proposal_app, "certificate")
def proposal_certificate(account: AccountArgument, certificate: CertificateOption, member: Member) -> None:
    """Propose binding an account to its organisation's SM2 X.509 certificate (checked first as
    `xinlian certificate check` will check it)."""
    address, data = _account(account), read_file(certificate, "certificate file")
    detail = {"account": "0x" + address.hex(), "path": str(certificate)}
    _propose(member, "certificate binding proposed", detail, lambda g: g.propose_certificate(address, data))


@member_command(proposal_app, "unbind-certificate")
def proposal_unbind_certificate(account: AccountArgument, member: Member) -> None:
    """Propose removing the certificate bound to an account (e.g. revoked by its CA)."""
    address = _account(account)
    _propose(
        member,
        "certificate removal proposed",
        {"account": "0x" + address.hex()},
        lambda g: g.propose_unbind_certificate(address),
    )


def register(app: typer.Typer) -> None:
    """Attach `certificate` to the `xinlian` command line (the proposal commands join `proposal`)."""
    app.add_typer(certificate_app, name="certificate")
