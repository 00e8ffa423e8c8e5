"""CLI commands for members who do not write Python: `xinlian letters list`, `xinlian calendar show|propose`,
`xinlian proposal show|vote|upgrade`, `xinlian licence list` and `xinlian drug export`.

Each reads or writes as the member whose PKCS#8 PEM key ``--key`` names (password from ``--password-env``,
else a prompt on a terminal): the node answers only what that member's organisation may read
(docs/read-access.md), and writes are that account's signed transactions.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import inspect
import io
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final

import typer

from sdk.cli_common import (
    DEFAULT_NODE_URL,
    DEFAULT_PASSWORD_ENV,
    CaOption,
    JsonOption,
    PasswordEnvOption,
    UrlOption,
    certificate_facts,
    emit_json,
    emit_or_show,
    open_client,
    read_key_password,
    show_rows,
    show_time,
)
from sdk.cli_domains import drug_app, licence_app
from sdk.client import Client
from sdk.domains.calendar import (
    HOLIDAY,
    MAKE_UP,
    CalendarOutlook,
    HolidayNotice,
    OnChainCalendar,
    date_of_day,
    day_of_date,
)
from sdk.domains.confirmations import Confirmations, LetterState, LetterStatus
from sdk.domains.governance import Action, Governance, Proposal, ProposalResult, Upgrade
from sdk.errors import (
    DomainError,
    EncodingError,
    IdentityCertificateError,
    InputError,
    OutputError,
    UsageError,
)
from sdk.signer import Signer

__all__ = ["register"]

letters_app = typer.Typer(
    help="Bank confirmation letters (银行函证) this member's organisation is a party to.",
    no_args_is_help=True,
)
calendar_app = typer.Typer(
    help="The working-day calendar (法定节假日) deadlines are counted on.", no_args_is_help=True
)
proposal_app = typer.Typer(
    help="Committee proposals: show one, vote for it, propose a contract upgrade.", no_args_is_help=True
)

KeyOption = Annotated[
    Path, typer.Option("--key", help="This member's PKCS#8 PEM key file (its account key).")
]
ROLES: Final = ("auditor", "bank", "client", "regulator")
_KIND_NAMES: Final = {HOLIDAY: "holiday", MAKE_UP: "make_up"}
_WEEKDAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MAX_SHOW_DAYS: Final = 366
#: The columns of `letters list --csv`: the letter's JSON keys, in order.
LETTER_COLUMNS: Final = (
    "letter_id",
    "status",
    "stored_status",
    "as_of",
    "auditor",
    "auditor_tag",
    "client_tag",
    "bank_tag",
    "base_date",
    "items",
    "letter_format",
    "request_hash",
    "created_at",
    "authorised_by",
    "authorised_at",
    "bank_account",
    "accepted_at",
    "due_date",
    "due_date_provisional",
    "deadline",
    "reply_hash",
    "replied_at",
    "covered_items",
    "exception_items",
    "paper_supplement",
    "replied_late",
    "received_at",
    "closed_at",
)


@contextmanager
def member_session(
    url: str, ca: Path | None, key: Path, password_env: str
) -> Iterator[tuple[Client, Signer]]:
    """A client reading as the member whose key file is ``key``, and that member's signer."""
    signer = Signer.from_pem(key, read_key_password(key, password_env))
    with open_client(url, ca, signer=signer) as client:
        yield client, signer


@dataclass(frozen=True)
class Member:
    """What every member command is told besides its own arguments: the member's key and its password's
    variable, the node, and whether to print JSON (``--key``, ``--password-env``, ``--url``, ``--ca``,
    ``--json``, declared once in ``_member_options``)."""

    key: Path
    password_env: str
    url: str
    ca: Path | None
    as_json: bool

    def session(self) -> AbstractContextManager[tuple[Client, Signer]]:
        """``member_session`` for this member: a client reading as it, and its signer."""
        return member_session(self.url, self.ca, self.key, self.password_env)


def _member_options(
    key: KeyOption,
    password_env: PasswordEnvOption = DEFAULT_PASSWORD_ENV,
    url: UrlOption = DEFAULT_NODE_URL,
    ca: CaOption = None,
    as_json: JsonOption = False,
) -> None:
    """Never called: its parameters are the member options ``member_command`` gives a command."""


def member_command(app: typer.Typer, name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register a function as ``app``'s command ``name``, its ``member: Member`` parameter standing for the
    member options: ``--key`` where ``member`` stands, then the command's own options, then
    ``--password-env``, ``--url``, ``--ca`` and ``--json`` (before its other output options, ``as_*`` such
    as ``--csv``). The function is returned unchanged (called with a Member)."""

    def register(command: Callable[..., None]) -> Callable[..., None]:
        own = inspect.signature(command, eval_str=True).parameters
        options = inspect.signature(_member_options, eval_str=True).parameters
        key, *rest = options.values()
        if "member" not in own:
            raise TypeError(f"{command.__name__} takes no member parameter")
        listed = [key if p.name == "member" else p for p in own.values()]
        cut = next((i for i, p in enumerate(listed) if p.name.startswith("as_")), len(listed))
        signature = inspect.Signature([*listed[:cut], *rest, *listed[cut:]])

        @functools.wraps(command)
        def with_options(**kwargs: Any) -> None:
            member = Member(**{option: kwargs.pop(option) for option in options})
            command(member=member, **kwargs)

        # typer reads the options from the signature and the annotations (already evaluated here).
        with_options.__signature__ = signature  # type: ignore[attr-defined]
        with_options.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
        app.command(name)(with_options)
        return command

    return register


def _outlook(client: Client) -> CalendarOutlook:
    """The on-chain calendar's coverage seen from the head block's China-time day."""
    calendar = OnChainCalendar(client)
    return CalendarOutlook(today=calendar.today(), covered_through=calendar.covered_through())


def _time(unix_s: int) -> str | None:
    return show_time(unix_s * 1000) if unix_s else None


# --- letters list -----------------------------------------------------------------------------------------
def _letters(
    client: Client, signer: Signer, role: str, status: LetterStatus | None, due: bool
) -> list[LetterState]:
    letters = Confirmations(client, signer)
    if role == "regulator":
        return letters.overdue()
    if due:
        return letters.due(role=role)
    listing = {"auditor": letters.as_auditor, "bank": letters.as_bank, "client": letters.as_client}[role]
    return listing(status=status)


def _letter_facts(letter: LetterState) -> dict[str, Any]:
    """A letter in the CLI's JSON convention: times ISO 8601 (the node says whether its due date is
    provisional: beyond the calendar's entered notices)."""
    facts = letter.to_json()
    for name in ("created_at", "authorised_at", "accepted_at", "replied_at", "received_at", "closed_at"):
        facts[name] = _time(int(facts[name]))
    facts["deadline"] = _time(letter.deadline)
    return facts


def _letter_line(facts: dict[str, Any]) -> str:
    parts = [facts["status"], f"base date {facts['base_date']}", f"items {len(facts['items'])}"]
    if facts["due_date"]:
        provisional = " (provisional: beyond the calendar on chain)" if facts["due_date_provisional"] else ""
        parts.append(f"due {facts['due_date']}{provisional}")
    return ", ".join(parts)


def _status(name: str | None) -> LetterStatus | None:
    if name is None:
        return None
    try:
        return LetterStatus[name.upper()]
    except KeyError:
        names = ", ".join(s.name for s in LetterStatus)
        raise UsageError(f"--status takes one of {names}, not {name!r}") from None


@member_command(letters_app, "list")
def letters_list(
    role: Annotated[
        str, typer.Option("--as", help="Your organisation's part: auditor, bank, client or regulator.")
    ],
    member: Member,
    status: Annotated[
        str | None, typer.Option("--status", help="Only letters in this status (e.g. ACCEPTED, OVERDUE).")
    ] = None,
    due: Annotated[
        bool,
        typer.Option("--due", help="Only letters awaiting the bank's reply, earliest deadline first."),
    ] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print the letters as CSV (one row each).")] = False,
) -> None:
    """List every letter your organisation is a party to (all pages), with its status at the node's head.

    `--as regulator` lists every OVERDUE letter (a finance regulator's or the committee's view). A due date
    beyond the last date whose holiday notice is on chain is marked provisional.
    """
    if role not in ROLES:
        raise UsageError(f"--as takes one of {', '.join(ROLES)}, not {role!r}")
    wanted = _status(status)
    if role == "regulator" and (wanted is not None or due):
        raise UsageError("--as regulator lists OVERDUE letters: it takes neither --status nor --due")
    if due and (wanted is not None or role == "client"):
        raise UsageError("--due is for --as bank or --as auditor, without --status")
    if member.as_json and as_csv:
        raise UsageError("choose one of --json and --csv")
    with member.session() as (client, signer):
        letters = _letters(client, signer, role, wanted, due)
        outlook = _outlook(client)
    facts = [_letter_facts(letter) for letter in letters]
    if as_csv:
        typer.echo(_csv(LETTER_COLUMNS, facts), nl=False)
        return
    if member.as_json:
        emit_json(
            {
                "role": role,
                "count": len(facts),
                "calendar_covered_through": date_of_day(outlook.covered_through).isoformat(),
                "letters": facts,
            }
        )
        return
    rows = [(f["letter_id"], _letter_line(f)) for f in facts]
    show_rows(f"{len(facts)} letter(s) as {role}", rows or [("none", "no letter matches")])


# --- calendar ---------------------------------------------------------------------------------------------
def _outlook_facts(outlook: CalendarOutlook) -> dict[str, Any]:
    return {
        "today": date_of_day(outlook.today).isoformat(),
        "covered_through": date_of_day(outlook.covered_through).isoformat(),
        "days_left": outlook.days_left,
        "status": outlook.status,
    }


def _outlook_rows(facts: dict[str, Any]) -> list[tuple[str, str]]:
    advice = {
        "ok": "",
        "ending": " — propose the next year's notice now (xinlian calendar propose)",
        "ended": " — deadlines past it count weekdays only and are provisional",
    }[facts["status"]]
    return [
        ("today (China time)", facts["today"]),
        ("notices entered through", facts["covered_through"]),
        ("days left", f"{facts['days_left']} ({facts['status']}{advice})"),
    ]


@member_command(calendar_app, "show")
def calendar_show(
    member: Member,
    start: Annotated[
        str | None, typer.Option("--from", help="First date to list, YYYY-MM-DD (default: today).")
    ] = None,
    days: Annotated[int, typer.Option("--days", help=f"How many days to list (0 to {MAX_SHOW_DAYS}).")] = 14,
) -> None:
    """Show how far the calendar's official notices reach and which of the coming days are working days,
    as the chain counts them (China time)."""
    if not 0 <= days <= MAX_SHOW_DAYS:
        raise UsageError(f"--days takes 0 to {MAX_SHOW_DAYS}, not {days}")
    first = _date(start, "--from") if start is not None else None
    with member.session() as (client, _):
        calendar = OnChainCalendar(client)
        outlook = _outlook(client)
        begin = day_of_date(first) if first is not None else outlook.today
        listed = []
        for day in range(begin, begin + days):
            day_kind = calendar.day_kind(day)
            listed.append(
                {
                    "date": date_of_day(day).isoformat(),
                    "weekday": _WEEKDAYS[date_of_day(day).weekday()],
                    "kind": _KIND_NAMES.get(day_kind, "ordinary"),
                    "working": calendar.is_working_day(day),
                    "provisional": outlook.is_provisional(day),
                }
            )
    facts = {**_outlook_facts(outlook), "days": listed}
    if member.as_json:
        emit_json(facts)
        return
    rows = _outlook_rows(facts)
    for entry in listed:
        mark = "working" if entry["working"] else "non-working"
        listed_as = "" if entry["kind"] == "ordinary" else f" ({entry['kind']})"
        rule = ", weekday rule only" if entry["provisional"] else ""
        rows.append((f"{entry['date']} {entry['weekday']}", f"{mark}{listed_as}{rule}"))
    show_rows("working-day calendar", rows, ok=facts["status"] == "ok")


def _date(text: str, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{what} takes a date YYYY-MM-DD, not {text!r}", value=text) from None


def read_notice(path: Path) -> HolidayNotice:
    """A year's official holiday notice from a JSON file:
    ``{"year": 2027, "source": "…", "holidays": [["2027-01-01", "2027-01-03"], …], "make_up_days": […]}``.

    Raises InputError when the file cannot be read or is not such a notice (a date outside ``year``, a
    range that ends before it starts, an unknown key).
    """
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read the notice file {path}: {exc.strerror}", path=str(path)) from exc
    except ValueError as exc:
        raise InputError(f"the notice file {path} is not JSON: {exc}", path=str(path)) from exc
    if not isinstance(raw, dict) or set(raw) != {"year", "source", "holidays", "make_up_days"}:
        raise InputError(
            "a notice is a JSON object with exactly: year, source, holidays, make_up_days", path=str(path)
        )
    year, source = raw["year"], raw["source"]
    if not isinstance(year, int) or isinstance(year, bool) or not 2000 <= year <= 9999:
        raise InputError("year must be a number such as 2027", path=str(path))
    if not isinstance(source, str) or not source.strip():
        raise InputError("source must name the notice (e.g. its document number)", path=str(path))
    try:
        holidays = tuple(
            (_date(first, "holidays"), _date(last, "holidays")) for first, last in raw["holidays"]
        )
        make_up = tuple(_date(day, "make_up_days") for day in raw["make_up_days"])
    except (TypeError, ValueError):
        raise InputError(
            "holidays is a list of [first, last] date pairs and make_up_days a list of dates", path=str(path)
        ) from None
    for first, last in holidays:
        if last < first:
            raise InputError(f"holiday range {first}..{last} ends before it starts", path=str(path))
    outside = [d.isoformat() for pair in holidays for d in pair if d.year != year]
    outside += [d.isoformat() for d in make_up if d.year != year]
    if outside:
        raise InputError(f"dates outside {year}: {', '.join(outside)}", path=str(path))
    return HolidayNotice(year=year, source=source, holidays=holidays, make_up_days=make_up)


def proposal_facts(result: ProposalResult, governance: Governance) -> dict[str, Any]:
    proposal = governance.proposal(result.proposal_id)
    return {
        "proposal_id": result.proposal_id,
        "executed": result.executed,
        "votes": proposal.votes if proposal is not None else None,
        "threshold": governance.threshold(),
        "tx_hash": result.receipt.tx_hash,
        "height": result.receipt.height,
    }


def proposal_rows(facts: dict[str, Any]) -> list[tuple[str, str]]:
    state = "executed" if facts["executed"] else f"{facts['votes']} of {facts['threshold']} votes"
    return [
        ("proposal", str(facts["proposal_id"])),
        ("state", state),
        ("transaction", f"0x{facts['tx_hash'].hex()} at height {facts['height']}"),
    ]


@member_command(calendar_app, "propose")
def calendar_propose(
    notice: Annotated[Path, typer.Option("--notice", help="The year's notice as JSON (see docs/cli.md).")],
    member: Member,
) -> None:
    """Propose entering a year's official holiday notice (a committee member's proposal; the other committee
    members vote with `xinlian proposal vote`). The calendar changes when the votes reach the threshold."""
    parsed = read_notice(notice)
    with member.session() as (client, signer):
        governance = Governance(client, signer)
        facts = {
            "year": parsed.year,
            **proposal_facts(governance.propose_calendar_extension(parsed), governance),
        }
    emit_or_show(facts, as_json=member.as_json, title=f"calendar {parsed.year} proposed", rows=proposal_rows)


# --- proposals --------------------------------------------------------------------------------------------
ProposalId = Annotated[int, typer.Argument(help="The proposal's number.", min=1)]


@member_command(proposal_app, "show")
def proposal_show(proposal_id: ProposalId, member: Member) -> None:
    """Show a committee proposal: its action, votes, expiry and whether it executed."""
    with member.session() as (client, _):
        governance = Governance(client)
        proposal = governance.proposal(proposal_id)
        threshold = governance.threshold()
        governance_upgrade = governance.upgrade(proposal_id)
        certificate = None if proposal is None else _proposed_certificate(governance, proposal)
    if proposal is None:
        raise DomainError(f"no proposal {proposal_id}", code="no_such_proposal", proposal_id=proposal_id)
    facts = {
        "proposal_id": proposal.proposal_id,
        "action": proposal.action.name,
        "payload": proposal.payload,
        "proposer": proposal.proposer,
        "created_block": proposal.created_block,
        "expiry_block": proposal.expiry_block,
        "votes": proposal.votes,
        "threshold": threshold,
        "executed": proposal.executed,
    }
    upgrade = governance_upgrade if proposal.action is Action.UPGRADE_CONTRACT else None
    if upgrade is not None:
        facts["upgrade"] = _upgrade_facts(upgrade)
    if certificate is not None:
        facts["certificate"] = certificate
    if member.as_json:
        emit_json(facts)
        return
    rows = [
        ("action", proposal.action.name),
        ("proposer", f"0x{proposal.proposer.hex()}"),
        ("votes", f"{proposal.votes} of {threshold}"),
        ("executed", "yes" if proposal.executed else "no"),
        ("blocks", f"created {proposal.created_block}, expires {proposal.expiry_block}"),
        ("payload", f"0x{proposal.payload.hex()}"),
    ]
    if upgrade is not None:
        rows += _upgrade_rows(upgrade)
    if certificate is not None:
        rows += _certificate_rows(certificate)
    show_rows(f"proposal {proposal_id}", rows)


def _proposed_certificate(governance: Governance, proposal: Proposal) -> dict[str, Any] | None:
    """What a voter needs of a certificate proposal: the certificate and whether it checks now."""
    try:
        described = governance.check_proposed_certificate(proposal)
    except (IdentityCertificateError, EncodingError) as exc:
        return {"checked": False, "code": exc.code, "message": exc.message}
    if described is None:
        return None
    return {"checked": True, **certificate_facts(described)}


def _certificate_rows(certificate: dict[str, Any]) -> list[tuple[str, str]]:
    if not certificate["checked"]:
        return [("certificate", f"REFUSED by the check ({certificate['code']}): {certificate['message']}")]
    return [
        ("certificate", f"checks now: {certificate['subject']}"),
        ("issued by", certificate["issuer"]),
        ("valid", f"{certificate['not_before']} to {certificate['not_after']}"),
        ("fingerprint", f"SM3 0x{certificate['fingerprint'].hex()}"),
    ]


def _upgrade_facts(upgrade: Upgrade) -> dict[str, Any]:
    return {
        "status": upgrade.status.name.lower(),
        "target": upgrade.target,
        "code_hash": upgrade.code_hash,
        "activation_block": upgrade.activation_block,
        "migration": upgrade.migration,
        "previous_code_hash": upgrade.previous_code_hash,
    }


def _upgrade_rows(upgrade: Upgrade) -> list[tuple[str, str]]:
    return [
        ("upgrade", f"{upgrade.status.name.lower()} at block {upgrade.activation_block}"),
        ("target", f"0x{upgrade.target.hex()}"),
        ("code hash", f"0x{upgrade.code_hash.hex()}"),
        ("previous", f"0x{upgrade.previous_code_hash.hex()}"),
    ]


def read_runtime_code(path: Path) -> bytes:
    """The runtime code in ``path``: a build artifact (JSON with ``deployed_bytecode``) or 0x-hex text.
    Raises InputError otherwise."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}", path=str(path)) from None
    if text.startswith("{"):
        try:
            text = str(json.loads(text)["deployed_bytecode"])
        except (ValueError, KeyError, TypeError):
            raise InputError(
                "a JSON code file is a build artifact with deployed_bytecode", path=str(path)
            ) from None
    try:
        return bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise InputError("the code file holds no 0x-hex runtime code", path=str(path)) from None


@member_command(proposal_app, "upgrade")
def proposal_upgrade(
    contract: Annotated[str, typer.Option("--contract", help="The system contract's name, e.g. Calendar.")],
    code: Annotated[
        Path, typer.Option("--code", help="The new runtime code: a build artifact JSON or a 0x-hex file.")
    ],
    activation_block: Annotated[
        int, typer.Option("--activation-block", help="The block at whose start the code is installed.", min=1)
    ],
    member: Member,
    migration: Annotated[
        str, typer.Option("--migration", help="Calldata of the migration call (0x-hex; default none).")
    ] = "",
) -> None:
    """Propose installing new code for a system contract at an activation block (a committee member's
    proposal; the others vote with `xinlian proposal vote`). See docs/operations.md, "Upgrading a system
    contract"."""
    runtime = read_runtime_code(code)
    try:
        calldata = bytes.fromhex(migration.removeprefix("0x"))
    except ValueError:
        raise InputError("--migration takes 0x-hex calldata", value=migration) from None
    with member.session() as (client, signer):
        governance = Governance(client, signer)
        result = governance.propose_upgrade(
            contract, runtime, activation_block=activation_block, migration=calldata
        )
        facts = proposal_facts(result, governance)
        upgrade = governance.upgrade(result.proposal_id)
    if upgrade is not None:
        facts["upgrade"] = _upgrade_facts(upgrade)
    emit_or_show(facts, as_json=member.as_json, title=f"upgrade of {contract} proposed", rows=proposal_rows)


@member_command(proposal_app, "vote")
def proposal_vote(proposal_id: ProposalId, member: Member) -> None:
    """Vote for a committee proposal; the vote that reaches the threshold executes it."""
    with member.session() as (client, signer):
        governance = Governance(client, signer)
        facts = proposal_facts(governance.vote(proposal_id), governance)
    emit_or_show(facts, as_json=member.as_json, title=f"voted for proposal {proposal_id}", rows=proposal_rows)


# --- licence list -----------------------------------------------------------------------------------------
LICENCE_COLUMNS: Final = (
    "identifier",
    "status",
    "id_hash",
    "type_id",
    "issuer",
    "issuer_org",
    "valid_from",
    "valid_until",
    "jurisdiction",
    "issued_height",
    "tx_hash",
    "holder_commitment",
    "document_hash",
    "previous",
    "next",
    "annotations",
    "uses",
)


def _licence_facts(issued: Any) -> dict[str, Any]:
    record = issued.record
    zero = bytes(32)
    return {
        "identifier": issued.identifier,
        "status": record.status.name,
        "id_hash": record.id_hash,
        "type_id": record.type_id,
        "issuer": record.issuer,
        "issuer_org": record.issuer_org,
        "valid_from": _time(record.valid_from),
        "valid_until": _time(record.valid_until),
        "jurisdiction": record.jurisdiction,
        "issued_height": issued.issued_height,
        "tx_hash": issued.tx_hash,
        "holder_commitment": record.holder_commitment,
        "document_hash": record.document_hash,
        "previous": record.previous if record.previous != zero else None,
        "next": record.next if record.next != zero else None,
        "annotations": record.annotations,
        "uses": record.uses,
    }


def _csv(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> str:
    """Rows as CSV: a header of ``columns``; bytes as 0x-hex, lists joined with spaces, null empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row[key]) for key in columns])
    return out.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list):
        return " ".join(map(str, value))
    return "" if value is None else value


@member_command(licence_app, "list")
def licence_list(
    member: Member,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print the licences as CSV (one row each).")] = False,
) -> None:
    """List every licence your account issued or renewed, with its status now."""
    from sdk.domains.licences import Licences

    if member.as_json and as_csv:
        raise UsageError("choose one of --json and --csv")
    with member.session() as (client, signer):
        facts = [_licence_facts(issued) for issued in Licences(client, signer).issued()]
    if as_csv:
        typer.echo(_csv(LICENCE_COLUMNS, facts), nl=False)
    elif member.as_json:
        emit_json({"count": len(facts), "licences": facts})
    else:
        rows = [(f["identifier"], f"{f['status']}, issued at height {f['issued_height']}") for f in facts]
        show_rows(f"{len(facts)} licence(s) issued", rows or [("none", "no licence issued by this account")])


# --- drug export ------------------------------------------------------------------------------------------
EXPORT_FORMATS: Final = ("epcis", "csv")


def _read_codes(codes: list[str], codes_file: Path | None) -> list[str]:
    listed = list(codes)
    if codes_file is not None:
        try:
            text = codes_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read {codes_file}: {exc.strerror}", path=str(codes_file)) from exc
        listed += [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not listed:
        raise UsageError("name the codes to export: CODE arguments or --codes-file (one code per line)")
    return listed


def _write_output(text: str, out: Path | None) -> None:
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror}", path=str(out)) from exc


@member_command(drug_app, "export")
def drug_export(
    member: Member,
    codes: Annotated[
        list[str] | None, typer.Argument(help="Trace codes (20-digit 追溯码 or GS1 strings).")
    ] = None,
    codes_file: Annotated[
        Path | None, typer.Option("--codes-file", help="A file with one code per line (# starts a comment).")
    ] = None,
    export_format: Annotated[
        str, typer.Option("--format", help="epcis (GS1 EPCIS 2.0 JSON-LD) or csv.")
    ] = "epcis",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")] = None,
) -> None:
    """Export the custody and packing events of codes your organisation may read, as GS1 EPCIS 2.0
    JSON-LD or CSV (the node answers only codes your organisation made, handled or regulates).

    The document goes to stdout, or to --out; with --out, --json prints what was written."""
    import time

    from sdk.domains.drugs import Drugs, parse_trace_code, to_csv, to_epcis

    if export_format not in EXPORT_FORMATS:
        raise UsageError(f"--format takes epcis or csv, not {export_format!r}")
    if member.as_json and out is None:
        raise UsageError("--json describes the file --out writes; without --out the document is the output")
    parsed = [parse_trace_code(code) for code in _read_codes(codes or [], codes_file)]
    with member.session() as (client, signer):
        events = Drugs(client, signer).export_events(parsed)
    if export_format == "csv":
        text = to_csv(events)
    else:
        document = to_epcis(events, created_ms=int(time.time() * 1000))
        text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    _write_output(text, out)
    if out is not None:
        facts = {"out": str(out), "format": export_format, "codes": len(parsed), "events": len(events)}
        rows = [(k, str(v)) for k, v in facts.items()]
        emit_or_show(facts, as_json=member.as_json, title="drug events exported", rows=lambda _facts: rows)


def register(app: typer.Typer) -> None:
    """Attach `letters`, `calendar` and `proposal` to the `xinlian` command line."""
    app.add_typer(letters_app, name="letters")
    app.add_typer(calendar_app, name="calendar")
    app.add_typer(proposal_app, name="proposal")
