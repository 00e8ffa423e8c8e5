"""The member console's page code: its message table (console-i18n.js) has the same keys and placeholders in
zh-CN and en, a message for every key the page uses, every key file error and every sign-in refusal the node
can answer, no text outside it; and its pure helpers (console.js, run under Node.js) sort letters into the
board and inbox as the letter states say, and read a DrugTrace Alert as the ABI encodes it."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest
from eth_abi import encode as abi_encode

from node.api.routes.verify_page import page_html
from sdk.domains.confirmations import LetterStatus
from sdk.domains.governance.encoders import Action
from tests.unit.node.test_verify_page_i18n import CJK, ENGLISH, NODE, STATIC, _js_strings, _Texts

HTML_ALLOWED = {"信链", "member-auth.js"}
#: The refusals a signed request can meet at sign-in (node.api.errors) that the page names in its language.
SIGN_IN_CODES = (
    "not_a_member",
    "stale_request",
    "wrong_audience",
    "unauthenticated",
    "replayed_request",
    "signer_busy",
    "auth_throttled",
)


def _node(script: str, *args: str, stdin: str = "") -> Any:
    if NODE is None:
        pytest.skip("needs Node.js to run the console's code")
    done = subprocess.run(
        [NODE, "-e", script, *args], input=stdin, capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def table() -> dict[str, dict[str, str]]:
    script = "process.stdout.write(JSON.stringify(require(process.argv[1]).messages))"
    messages: dict[str, dict[str, str]] = _node(script, str(STATIC / "console-i18n.js"))
    return messages


def test_both_languages_have_every_key_with_the_same_placeholders(table: dict[str, dict[str, str]]) -> None:
    assert set(table) == {"zh-CN", "en"}
    zh, en = table["zh-CN"], table["en"]
    assert sorted(set(zh) ^ set(en)) == []
    for key in zh:
        assert zh[key].strip() and en[key].strip(), key
        assert set(re.findall(r"\{(\w+)\}", zh[key])) == set(re.findall(r"\{(\w+)\}", en[key])), key
        assert CJK.search(en[key]) is None or key == "lang.name", f"Chinese in the English {key}"


def test_every_key_the_page_uses_exists(table: dict[str, dict[str, str]]) -> None:
    html = page_html("console")
    page = (STATIC / "console.js").read_text(encoding="utf-8")
    auth = (STATIC / "member-auth.js").read_text(encoding="utf-8")
    used = set(re.findall(r'data-i18n(?:-[a-z-]+)?="([^"]+)"', html))
    prefixes = {key.split(".")[0] for key in table["en"]}
    used |= {
        m for m in re.findall(r'"([a-z]+\.[A-Za-z0-9_.]*[A-Za-z0-9_])"', page) if m.split(".")[0] in prefixes
    }
    roles = json.loads(re.search(r"const ROLES = (\[[^\]]*\]);", page)[1])  # type: ignore[index]
    used |= {f"role.{r}" for r in roles}
    used |= {f"status.{s.name}" for s in LetterStatus}
    used |= {f"err.{kind}" for kind in re.findall(r'bad\("(\w+)"', auth)}
    used |= {f"err.{code}" for code in SIGN_IN_CODES}
    used |= {f"live.{s}" for s in ("off", "connecting", "live", "retrying")}
    used |= {f"calendar.{s}" for s in ("ok", "ending", "ended")}
    used |= {f"gov.state.{s}" for s in ("open", "executed", "expired")}
    used |= {f"lic.status.{s}" for s in ("VALID", "SUSPENDED", "REVOKED", "RENEWED", "EXPIRED")}
    used |= {f"action.{a.name}" for a in Action}
    assert {"err.WrongPassword", "err.not_a_member", "status.OVERDUE", "board.overdue"} <= used
    for lang in table:
        assert sorted(used - set(table[lang])) == [], lang
    assert "{code}" in table["en"]["err.unknown"]  # an unknown refusal is shown with its code


def test_no_user_visible_text_outside_the_table() -> None:
    parser = _Texts()
    parser.feed(page_html("console"))
    assert [text for text in parser.found if text not in HTML_ALLOWED] == []
    literals = _js_strings((STATIC / "console.js").read_text(encoding="utf-8"))
    assert "xinlian.console.lang" in literals  # the scan sees the script's literals
    assert [s for s in literals if (ENGLISH.search(s) or CJK.search(s)) and s != "use strict"] == []


HELPERS = """
const X = require(process.argv[1]);
const c = JSON.parse(require("fs").readFileSync(0, "utf8"));
const ids = (xs) => xs.map((l) => l.letter_id);
const board = X.boardOf(c.letters, c.today), inbox = X.inboxOf(c.letters);
process.stdout.write(JSON.stringify({
  board: Object.fromEntries(Object.entries(board).map(([k, v]) => [k, ids(v)])),
  inbox: Object.fromEntries(Object.entries(inbox).map(([k, v]) => [k, ids(v)])),
  date: X.chinaDate(c.ts), time: X.chinaTime(c.ts), days: X.daysBetween("2026-12-30", "2027-01-02"),
  alert: X.decodeAlert(c.alert), hold: X.decodeHold(c.hold),
}));
"""


def test_board_inbox_dates_and_alerts() -> None:
    def letter(lid: str, status: str, due: str | None = None, deadline: int = 0) -> dict[str, Any]:
        return {"letter_id": lid, "status": status, "due_date": due, "deadline": deadline, "created_at": 1}

    letters = [
        letter("a", "AWAITING_CLIENT_AUTH"),
        letter("s", "SENT"),
        letter("late", "ACCEPTED", "2026-12-20", 300),
        letter("today", "ACCEPTED", "2026-12-06", 200),
        letter("o", "OVERDUE", "2026-12-01", 100),
        letter("r", "REPLIED", "2026-12-01", 100),
        letter("x", "RECALLED"),
    ]
    data = abi_encode(["uint8", "string"], [3, "recalled"])
    code, actor = "0x" + "11" * 32, "0x" + "00" * 12 + "ab" * 20
    alert = {"data": "0x" + data.hex(), "topics": ["0x" + "ee" * 32, code, actor]}
    # 2026-12-05 16:30 UTC is 2026-12-06 00:30 in China
    hold_types = ["string", "bool", "bool", "bool", "string", "address"]
    by = "0x" + "cd" * 20
    hold_data = abi_encode(hold_types, ["B2025001", True, False, True, "溶出度不合格 dissolution", by])
    hold = {"data": "0x" + hold_data.hex(), "topics": ["0x" + "ff" * 32, code, "0x" + "22" * 32]}
    case = {"letters": letters, "today": "2026-12-06", "ts": 1796488200, "alert": alert, "hold": hold}
    out = _node(HELPERS, str(STATIC / "console.js"), stdin=json.dumps(case))
    assert out["board"] == {
        "overdue": ["o"],
        "dueToday": ["today"],
        "awaiting": ["late", "a", "s"],
        "closed": ["r", "x"],
    }
    assert out["inbox"] == {"new": ["s"], "open": ["o", "today", "late", "a"], "closed": ["r", "x"]}
    assert (out["date"], out["time"], out["days"]) == ("2026-12-06", "2026-12-06 00:30", 3)
    assert out["alert"] == {"action": 3, "reason": "recalled", "actor": "0x" + "ab" * 20, "code": code}
    assert out["hold"] == {
        "batch": "B2025001",
        "recalled": True,
        "frozen": False,
        "held": True,
        "reason": "溶出度不合格 dissolution",
        "by": by,
        "lot": code,
    }


PROPOSALS = """
const X = require(process.argv[1]);
const c = JSON.parse(require("fs").readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(X.proposalsOf(c.logs, c.topics, c.head)));
"""


def test_proposals_from_governance_logs() -> None:
    topics = {
        "ProposalCreated": "0x" + "c1" * 32,
        "ProposalVoted": "0x" + "d2" * 32,
        "ProposalExecuted": "0x" + "e3" * 32,
    }
    word = lambda n: "0x" + f"{n:064x}"  # noqa: E731
    proposer, voter = "0x" + "00" * 12 + "aa" * 20, "0x" + "00" * 12 + "bb" * 20

    def created(pid: int, action: int, expiry: int) -> dict[str, Any]:
        data = abi_encode(["uint8", "bytes", "uint256"], [action, b"\x01\x02", expiry])
        return {
            "topics": [topics["ProposalCreated"], word(pid), proposer],
            "data": "0x" + data.hex(),
            "height": pid,
        }

    def voted(pid: int, votes: int, who: str) -> dict[str, Any]:
        return {"topics": [topics["ProposalVoted"], word(pid), who], "data": word(votes), "height": 9}

    executed = {"topics": [topics["ProposalExecuted"], word(2)], "data": word(5), "height": 9}
    logs = [
        created(1, 1, 50),
        voted(1, 1, proposer),
        created(2, 5, 500),
        voted(2, 1, proposer),
        voted(2, 2, voter),
        executed,
        created(3, 14, 500),
        voted(3, 1, proposer),
        voted(7, 1, voter),  # a proposal created before the blocks read: ignored
    ]
    out = _node(
        PROPOSALS, str(STATIC / "console.js"), stdin=json.dumps({"logs": logs, "topics": topics, "head": 100})
    )
    assert [(p["id"], p["action"], p["state"], p["votes"], p["expiry"]) for p in out] == [
        ("3", 14, "open", 1, 500),
        ("2", 5, "executed", 2, 500),
        ("1", 1, "expired", 1, 50),
    ]
    assert out[1]["voters"] == ["0x" + "aa" * 20, "0x" + "bb" * 20]
    assert out[0]["proposer"] == "0x" + "aa" * 20


LICENCES = """
const X = require(process.argv[1]);
const c = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = X.licencesOf(c.logs, c.topics, c.uscc, c.now);
const row = (l) => [l.idHash, l.status, l.validFrom, l.validUntil, l.jurisdiction];
process.stdout.write(JSON.stringify(out.map(row)));
"""


def test_licences_from_registry_logs() -> None:
    names = ("LicenceIssued", "LicenceSuspended", "LicenceResumed", "LicenceRevoked", "LicenceRenewed")
    topics = {name: "0x" + f"{i + 1:02x}" * 32 for i, name in enumerate(names)}
    ids = ["0x" + f"{i:064x}" for i in range(1, 6)]
    issuer = "0x" + "00" * 12 + "aa" * 20

    def issued(lid: str, org: str, valid_until: int) -> dict[str, Any]:
        types = ["string", "bytes32", "bytes32", "bytes32", "uint256", "uint256", "string", "bytes32"]
        values = [org, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, 100, valid_until, "330100", b"\x00" * 32]
        data = abi_encode(types, values)
        return {
            "topics": [topics["LicenceIssued"], lid, "0x" + "77" * 32, issuer],
            "data": "0x" + data.hex(),
            "height": 1,
        }

    def event(name: str, lid: str) -> dict[str, Any]:
        return {"topics": [topics[name], lid, issuer], "data": "0x", "height": 2}

    mine, other = "911100001000000248", "913301001000000005"
    logs = [
        issued(ids[0], mine, 0),
        issued(ids[1], mine, 500),  # expired at 1000
        issued(ids[2], mine, 0),
        issued(ids[3], other, 0),  # another organisation's
        issued(ids[4], mine, 0),
        event("LicenceSuspended", ids[0]),
        event("LicenceResumed", ids[0]),
        event("LicenceRevoked", ids[2]),
        event("LicenceSuspended", ids[4]),
        event("LicenceRenewed", ids[3]),
    ]
    case = {"logs": logs, "topics": topics, "uscc": mine, "now": 1000}
    out = _node(LICENCES, str(STATIC / "console.js"), stdin=json.dumps(case))
    assert out == [
        [ids[4], "SUSPENDED", 100, 0, "330100"],
        [ids[2], "REVOKED", 100, 0, "330100"],
        [ids[1], "EXPIRED", 100, 500, "330100"],
        [ids[0], "VALID", 100, 0, "330100"],
    ]
