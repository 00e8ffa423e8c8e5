"""The member commands of `xinlian` (`letters list`, `calendar show|propose`, `proposal show|vote`) and the
node's calendar warning, against a real node whose chain clock runs one day per block: the calendar's
notices run out, /health and the metric say so, a letter accepted then has a provisional due date, and a
committee proposal made from the command line extends the calendar."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from typer.testing import CliRunner

from node.demo_network import make_uscc
from node.runtime import RuntimeCollector
from scripts.samples import CLIENT_NAME, sample_letter_request
from sdk.cli import app
from sdk.client import Client
from sdk.domains.calendar import CALENDAR_WARN_DAYS, date_of_day, day_of_date, day_of_timestamp
from sdk.domains.confirmations import Confirmations
from sdk.domains.governance import Governance
from sdk.exit_codes import ExitCode
from sdk.signer import Signer

if TYPE_CHECKING:
    from node_fixtures import RunningNode

pytest_plugins = ["node_fixtures"]

runner = CliRunner()


def run(argv: list[str]) -> tuple[int, Any, str]:
    """Run a command with --json; return its status, its parsed stdout (None when empty) and stderr."""
    result = runner.invoke(app, [*argv, "--json"])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, json.loads(result.stdout) if result.stdout else None, result.stderr


def key_file(node: RunningNode, role: str) -> str:
    """The PEM key file of the first demo organisation holding ``role`` (the committee for "COMMITTEE")."""
    orgs = json.loads((node.data_dir / "orgs.json").read_text(encoding="utf-8"))
    entry = orgs[0] if role == "COMMITTEE" else next(o for o in orgs if role in o["roles"])
    return str(node.data_dir / entry["key"])


def health_calendar(node: RunningNode) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{node.url}/health").json()["calendar"]
    return body


def head_day(node: RunningNode) -> int:
    return day_of_timestamp(node.ledger.head.header.timestamp_ms // 1000)


def days_left_metric(node: RunningNode) -> float:
    for family in RuntimeCollector(node.node).collect():
        if family.name == "xinlian_calendar_days_left":
            return float(family.samples[0].value)
    raise AssertionError("no xinlian_calendar_days_left metric")


def test_the_calendar_runs_out_is_flagged_and_a_committee_proposal_extends_it(
    day_per_block_node: RunningNode, tmp_path: Path
) -> None:
    node = day_per_block_node
    common = ["--url", node.url]
    committee, bank, auditor = key_file(node, "COMMITTEE"), key_file(node, "BANK"), key_file(node, "AUDITOR")

    # The genesis calendar holds the official notices through 2026-12-31; the node reports how far that is.
    covered = day_of_date(dt.date(2026, 12, 31))
    status, shown, err = run(["calendar", "show", "--key", committee, "--days", "3", *common])
    assert status == ExitCode.OK, err
    assert shown["covered_through"] == "2026-12-31"
    assert shown["days_left"] == covered - day_of_date(dt.date.fromisoformat(shown["today"]))
    assert [d["date"] for d in shown["days"]] == [
        date_of_day(day_of_date(dt.date.fromisoformat(shown["today"])) + i).isoformat() for i in range(3)
    ]
    reported = health_calendar(node)
    assert reported["covered_through"] == "2026-12-31"
    assert reported["days_left"] == covered - head_day(node) == days_left_metric(node)
    expected = "ended" if reported["days_left"] < 0 else "ending" if reported["days_left"] <= 60 else "ok"
    assert reported["status"] == expected

    # Chain time passes the last covered day: one block per day.
    while head_day(node) <= covered:
        node.produce_block()
    reported = health_calendar(node)
    assert reported["status"] == "ended" and reported["days_left"] < 0
    assert days_left_metric(node) == reported["days_left"]
    status, shown, _ = run(["calendar", "show", "--key", committee, "--days", "2", *common])
    assert shown["status"] == "ended" and all(d["provisional"] for d in shown["days"])

    # A letter accepted now has a due date the calendar does not cover: flagged, not silent.
    with Client(node.url) as client:
        company = Signer.generate()
        client_uscc = make_uscc("310000", 30_000_077)
        governance = Governance(client, node.committee.signer)
        governance.register_organisation(client_uscc, CLIENT_NAME)
        governance.register_account(company.address, client_uscc)
        bank_member = node.member_with("BANK")
        letters = Confirmations(client, node.member_with("AUDITOR").signer)
        letter_id = letters.create(
            sample_letter_request(client_uscc, bank_member.uscc),
            bank_keys=[bank_member.signer.private_key.public_key],
        ).letter_id
        Confirmations(client, company).authorise(letter_id)
        Confirmations(client, bank_member.signer).accept(letter_id)

    status, listed, err = run(["letters", "list", "--as", "bank", "--key", bank, *common])
    assert status == ExitCode.OK, err
    assert listed["calendar_covered_through"] == "2026-12-31"
    [letter] = [x for x in listed["letters"] if x["letter_id"] == "0x" + letter_id.hex()]
    assert letter["status"] == "ACCEPTED" and letter["due_date_provisional"] is True
    assert letter["accepted_at"].endswith("+08:00") and letter["deadline"].endswith("+08:00")
    table = runner.invoke(app, ["letters", "list", "--as", "bank", "--key", bank, "--csv", *common])
    assert table.exit_code == 0, table.stderr
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    [row] = [r for r in rows if r["letter_id"] == "0x" + letter_id.hex()]
    assert row["status"] == "ACCEPTED" and row["due_date_provisional"] == "True"
    assert row["due_date"] == letter["due_date"] and row["reply_hash"] == ""
    status, due, _ = run(["letters", "list", "--as", "auditor", "--due", "--key", auditor, *common])
    assert status == ExitCode.OK and [x["letter_id"] for x in due["letters"]] == [letter["letter_id"]]
    status, _, err = run(["letters", "list", "--as", "bank", "--status", "ACCEPTD", "--key", bank, *common])
    assert status == ExitCode.USAGE and "--status takes one of" in err
    status, _, err = run(["letters", "list", "--as", "client", "--key", bank, *common])
    assert status == ExitCode.OK  # the bank's key finds no letter as the client: an empty listing

    # A committee member proposes the next year's notice from a file (test data, not an official notice).
    year = date_of_day(head_day(node)).year + 1
    notice = tmp_path / "notice.json"
    notice.write_text(
        json.dumps(
            {
                "year": year,
                "source": "test notice",
                "holidays": [[f"{year}-05-01", f"{year}-05-03"]],
                "make_up_days": [f"{year}-04-25"],
            }
        ),
        encoding="utf-8",
    )
    status, proposed, err = run(["calendar", "propose", "--notice", str(notice), "--key", committee, *common])
    assert status == ExitCode.OK, err
    assert proposed["year"] == year and proposed["executed"] is True  # the test committee's threshold is 1
    reported = health_calendar(node)
    assert reported["covered_through"] == f"{year}-12-31"
    assert reported["status"] == ("ok" if reported["days_left"] > CALENDAR_WARN_DAYS else "ending")
    status, shown, _ = run(
        ["calendar", "show", "--key", committee, "--from", f"{year}-05-01", "--days", "3", *common]
    )
    listed_days = [(d["kind"], d["working"], d["provisional"]) for d in shown["days"]]
    assert listed_days == [("holiday", False, False)] * 3

    # The proposal, shown and voted on again: the contract refuses a second execution (exit 1, its reason).
    proposal_id = str(proposed["proposal_id"])
    status, shown, _ = run(["proposal", "show", proposal_id, "--key", committee, *common])
    assert status == ExitCode.OK
    assert shown["action"] == "EXTEND_CALENDAR" and shown["executed"] is True
    status, _, err = run(["proposal", "vote", proposal_id, "--key", committee, *common])
    assert status == ExitCode.NOT_VERIFIED and err.startswith("error: transaction reverted")
    status, _, err = run(["proposal", "show", "999", "--key", committee, *common])
    assert status == ExitCode.NOT_VERIFIED and "no_such_proposal" in err


def test_a_notice_file_that_is_not_a_notice_is_unreadable_input(tmp_path: Path) -> None:
    """Bad notice files are refused before any node is asked (no node listens at the URL)."""
    cases = {
        "not json": "{",
        "missing keys": json.dumps({"year": 2027}),
        "outside its year": json.dumps(
            {"year": 2027, "source": "x", "holidays": [["2028-01-01", "2028-01-01"]], "make_up_days": []}
        ),
        "backwards range": json.dumps(
            {"year": 2027, "source": "x", "holidays": [["2027-05-03", "2027-05-01"]], "make_up_days": []}
        ),
        "not a date": json.dumps(
            {"year": 2027, "source": "x", "holidays": [["2027-02-30", "2027-03-01"]], "make_up_days": []}
        ),
    }
    key = tmp_path / "key.pem"
    key.write_bytes(b"unused: the notice is read first")
    for name, text in cases.items():
        notice = tmp_path / f"{name}.json"
        notice.write_text(text, encoding="utf-8")
        status, out, err = run(
            ["calendar", "propose", "--notice", str(notice), "--key", str(key), "--url", "http://127.0.0.1:9"]
        )
        assert status == ExitCode.INPUT, (name, err)
        assert out is None and err.startswith("error: ")
