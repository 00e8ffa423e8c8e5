"""CLI commands for people who do not write Python: `xinlian licence status` and `xinlian drug check`.

Both ask a node's public routes (no member key): GET /v1/licences/{id}/status and GET /v1/drugs/codes/{code}.
The identifier or code is checked here first, so a typo is unreadable input (exit 3) and no node is asked.
A negative fact (a licence not VALID, a code not authentic or held) is still printed, and exits 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer

from sdk.cli_common import (
    DEFAULT_NODE_URL,
    CaOption,
    JsonOption,
    UrlOption,
    emit_or_show,
    open_client,
    show_time,
)
from sdk.encoding import from_hex
from sdk.errors import CheckFailed, XinlianError

__all__ = ["register"]

licence_app = typer.Typer(help="E-licences (电子证照): public status by identifier.", no_args_is_help=True)
drug_app = typer.Typer(help="Drug traceability (药品追溯): the consumer's code check.", no_args_is_help=True)


def _ask(url: str, ca: Path | None, path: str) -> dict[str, Any]:
    """The node's JSON answer to a public GET; raises the client's errors (unreachable, the node's own)."""
    with open_client(url, ca) as client:
        body: dict[str, Any] = client.public_get(path)
    return body


# --- licence status ---------------------------------------------------------------------------------------
def _licence_id_hash(identifier: str) -> bytes:
    """The id hash the node files ``identifier`` under: a 0x id hash as given, else SM3 of the checked
    GB/T 36904 identifier. Raises EncodingError / IdentifierError (unreadable input)."""
    if identifier[:2] in ("0x", "0X"):
        return from_hex(identifier, "licence id hash", size=32)
    from sdk.domains.licences import compute_licence_hash

    return compute_licence_hash(identifier)


def _licence_facts(identifier: str, body: dict[str, Any]) -> dict[str, Any]:
    """The node's status answer with its unix-second times in the CLI's convention (no end date: null)."""
    facts = {"identifier": identifier, **body}
    facts["valid_from"] = show_time(int(body["valid_from"]) * 1000)
    facts["valid_until"] = show_time(int(body["valid_until"]) * 1000) if body["valid_until"] else None
    facts["read_at"] = show_time(int(facts.pop("timestamp")) * 1000)
    return facts


def _licence_rows(facts: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [
        ("identifier", facts["identifier"]),
        ("status", facts["status"]),
        ("id hash", facts["id_hash"]),
    ]
    if facts["status"] == "UNKNOWN":
        return rows
    rows += [
        ("type", f"{facts['type_code']} {facts['type_name']}"),
        ("issuer", f"{facts['issuer_org']} (account {facts['issuer']})"),
        ("valid from", facts["valid_from"]),
        ("valid until", facts["valid_until"] or "长期 (no end date)"),
        ("jurisdiction", facts["jurisdiction"]),
        ("holder commitment", facts["holder_commitment"]),
        ("document hash", facts["document_hash"]),
        ("issued at height", str(facts["issued_height"])),
        ("renews", facts["previous"] or "none"),
        ("renewed by", facts["next"] or "none"),
        ("uses, annotations", f"{facts['uses']}, {facts['annotations']}"),
        ("read at", f"height {facts['height']} ({facts['read_at']})"),
    ]
    return rows


@licence_app.command("status")
def licence_status(
    identifier: Annotated[str, typer.Argument(help="GB/T 36904 licence identifier, or its 0x id hash.")],
    url: UrlOption = DEFAULT_NODE_URL,
    ca: CaOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a licence's status at the node's head; exit 1 unless it is VALID.

    An identifier no licence has is UNKNOWN (exit 1); a malformed one is refused before the node is asked.
    """
    id_hash = _licence_id_hash(identifier)
    try:
        facts = _licence_facts(identifier, _ask(url, ca, f"/v1/licences/{quote(identifier, safe='')}/status"))
    except XinlianError as exc:
        if exc.code != "not_found":  # the registry's answer for an identifier no licence has
            raise
        facts = {"identifier": identifier, "status": "UNKNOWN", "id_hash": id_hash}
    valid = facts["status"] == "VALID"
    emit_or_show(facts, as_json=as_json, title=f"licence {facts['status']}", rows=_licence_rows, ok=valid)
    if not valid:
        raise CheckFailed(f"licence {identifier} is {facts['status']}", status=facts["status"])


# --- drug code check --------------------------------------------------------------------------------------
def _drug_problems(answer: dict[str, Any]) -> list[str]:
    """Why a consumer should not take the pack, from the node's answer (empty: authentic and not held).

    A dispensed pack is what a consumer holds, so only inauthenticity, a recall, a freeze, expiry and
    destruction count.
    """
    problems = [] if answer["authentic"] else [f"not authentic: {answer['reason']}"]
    problems += [hold for hold in ("recalled", "frozen", "expired") if answer[hold]]
    if answer["status"] == "destroyed":
        problems.append("destroyed")
    return problems


def _drug_facts(answer: dict[str, Any]) -> dict[str, Any]:
    """The node's answer with the verdict (``ok``, ``problems``) and each custody step's time in the CLI's
    convention."""
    trail = [
        {**{k: v for k, v in step.items() if k != "timestamp_ms"}, "time": _step_time(step)}
        for step in answer["trail"]
    ]
    problems = _drug_problems(answer)
    return {"ok": not problems, "problems": problems, **answer, "trail": trail}


def _step_time(step: dict[str, Any]) -> str | None:
    return show_time(int(step["timestamp_ms"])) if step.get("timestamp_ms") is not None else None


def _drug_rows(facts: dict[str, Any]) -> list[tuple[str, str]]:
    product = facts["product"] or {}
    rows = [
        ("code", facts["code"]),
        ("authentic", "yes" if facts["authentic"] else f"no: {facts['reason']}"),
        ("problems", "; ".join(facts["problems"]) or "none"),
    ]
    if product:
        rows += [
            ("product", f"{product['name']} ({product['category']})"),
            ("approval number", product["approval_number"]),
            ("marketing authorisation holder", f"{product['mah_name']} ({product['mah_uscc']})"),
        ]
    if facts["status"] != "unknown":
        rows += [
            ("batch", facts["batch_no"]),
            ("produced, expires", f"{facts['production_date']}, {facts['expiry_date']}"),
            ("level, status", f"{facts['level']}, {facts['status']}"),
        ]
    for step in facts["trail"]:
        when = f", {step['time']}" if step["time"] else ""
        where = f"{step['organisation']} ({step['uscc']}) at height {step['height']}"
        rows.append((f"  {step['step']}", where + when))
    return rows


@drug_app.command("check")
def drug_check(
    code: Annotated[str, typer.Argument(help="The pack's code: 20-digit 追溯码 or a GS1 element string.")],
    url: UrlOption = DEFAULT_NODE_URL,
    ca: CaOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check a drug pack's code as a consumer; exit 1 unless it is authentic and not held.

    Shows the product, batch, dates, status, holds and custody trail; a pack not authentic, recalled,
    frozen, expired or destroyed exits 1.
    """
    from sdk.domains.drugs import parse_trace_code

    parse_trace_code(code)
    facts = _drug_facts(_ask(url, ca, f"/v1/drugs/codes/{quote(code, safe='()')}"))
    title = f"drug code {'OK' if facts['ok'] else 'NOT OK'}"
    emit_or_show(facts, as_json=as_json, title=title, rows=_drug_rows, ok=facts["ok"])
    if facts["problems"]:
        raise CheckFailed(f"drug code {code}: {'; '.join(facts['problems'])}", problems=facts["problems"])


def register(app: typer.Typer) -> None:
    """Attach `licence` and `drug` to the `xinlian` command line."""
    from sdk.cli_statement import licence_card

    licence_app.command("card")(licence_card)
    app.add_typer(licence_app, name="licence")
    app.add_typer(drug_app, name="drug")
