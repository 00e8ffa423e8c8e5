"""The member console (/console) in headless Chromium against a real node whose chain clock runs one day per
block: members sign in with their own key files (read in the browser, requests signed there and accepted by
the node); a bank sees a new letter arrive through its subscription without reloading; an audit firm sees
the letter go from sent to OVERDUE as the chain's clock passes its deadline; a key of no member is refused
with a message in the console's language."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from node_fixtures import RunningNode, start_node, stop_node
from test_confirmations import _parties, _request
from test_proofs import issue_licence

from node.demo_network import make_uscc
from sdk.client import Client
from sdk.crypto import PrivateKey
from sdk.domains.confirmations import LetterStatus
from sdk.domains.drugs import Drugs, KeyScheme
from sdk.domains.governance import Governance
from sdk.domains.licences import Licences
from sdk.errors import DrugAlertError
from tests.e2e.test_verify_page import Browser

pytestmark = pytest.mark.e2e
pytest_plugins = ["node_fixtures"]

DESKTOP = {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}
NOT_A_MEMBER_ZH = "此密钥不是本链已登记机构的有效账户，无法登录。"
NOT_A_MEMBER_EN = (
    "This key is not an active account of a registered organisation on this chain: sign-in refused."
)


@pytest.fixture
def browser() -> Iterator[Browser]:
    b = Browser()
    try:
        b.call("Emulation.setDeviceMetricsOverride", **DESKTOP)
        yield b
    finally:
        b.close()


def _wait(browser: Browser, expression: str, what: str, timeout_s: float = 60) -> Any:
    """Poll ``expression`` in the page until it is truthy; return its value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = browser.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            state = browser.evaluate(
                "JSON.stringify({signin: document.getElementById('signin-status').textContent,"
                " live: document.getElementById('live-status').textContent,"
                " letters: [...document.querySelectorAll('li.letter')].map(l => l.closest('ul').id + ':'"
                " + l.dataset.status)})"
            )
            raise AssertionError(f"timed out waiting for {what}: {state}")
        time.sleep(0.1)


def _open(browser: Browser, url: str) -> None:
    browser.call("Page.navigate", url="about:blank")
    browser.call("Page.navigate", url=url)
    _wait(browser, "document.readyState === 'complete' && document.body.dataset.ready === '1'", "the page")
    browser.evaluate("window.__notReloaded = true")


def _sign_in(browser: Browser, key_file: Path, password: str = "") -> dict[str, str]:
    """Choose ``key_file`` as the member does, type its password if any, press 登录; return the outcome."""
    root = browser.call("DOM.getDocument")["root"]["nodeId"]
    node = browser.call("DOM.querySelector", nodeId=root, selector="#key-file")["nodeId"]
    browser.call("DOM.setFileInputFiles", files=[str(key_file)], nodeId=node)
    _wait(
        browser,
        f"document.getElementById('signin-status').textContent.includes('{key_file.name}')",
        "the file",
    )
    if password:
        assert browser.evaluate("!document.getElementById('password-row').hidden"), "no password field shown"
        browser.evaluate(f"document.getElementById('key-password').value = {password!r}")
    browser.evaluate("document.getElementById('signin-button').click()")
    state = "document.getElementById('signin-status').dataset.state"
    _wait(browser, f"['signed-in', 'error'].includes({state})", "the sign-in")
    result: dict[str, str] = browser.evaluate(
        "(() => { const s = document.getElementById('signin-status');"
        " return {state: s.dataset.state, error: s.dataset.error, text: s.textContent}; })()"
    )
    return result


def _letter(browser: Browser, list_id: str, letter_id: bytes) -> str:
    """A JS expression: the status of the letter in list ``list_id``, or '' while it is not there."""
    selector = f"#{list_id} li[data-letter-id='0x{letter_id.hex()}']"
    return f"((document.querySelector(\"{selector}\") || {{dataset: {{}}}}).dataset.status || '')"


def _forget(browser: Browser) -> None:
    browser.evaluate("document.getElementById('forget-button').click()")
    _wait(
        browser,
        "document.getElementById('board').hidden && document.getElementById('inbox').hidden",
        "forget",
    )


def test_bank_sees_a_new_letter_live_and_the_auditor_sees_it_turn_overdue(
    day_per_block_node: RunningNode, browser: Browser, tmp_path: Path
) -> None:
    node = day_per_block_node
    bank_member, auditor_member = node.member_with("BANK"), node.member_with("AUDITOR")
    bank_key = tmp_path / "bank.pem"
    bank_key.write_bytes(bank_member.signer.private_key.to_pem())
    auditor_key = tmp_path / "auditor-encrypted.pem"  # as `xinlian keys new --password-env` writes it
    auditor_key.write_bytes(auditor_member.signer.private_key.to_pem("审计-口令 1".encode()))
    stranger_key = tmp_path / "stranger.pem"
    stranger_key.write_bytes(PrivateKey.generate().to_pem())
    assert (
        httpx.get(f"{node.url}/console").headers["Content-Security-Policy"].startswith("default-src 'none'")
    )

    with Client(node.url) as client:
        p = _parties(node, client)
        console = f"{node.url}/console"

        # the bank signs in (plain PKCS#8 PEM), and a letter arrives through its subscription
        _open(browser, console)
        signed = _sign_in(browser, bank_key)
        assert signed["state"] == "signed-in", signed
        assert bank_member.uscc in signed["text"]
        _wait(browser, "document.getElementById('live-status').dataset.state === 'live'", "the live stream")
        assert browser.evaluate("document.getElementById('board').hidden"), "a bank has no auditor's board"
        lid = p.auditor.create(_request(p), bank_keys=[p.bank_key]).letter_id
        p.company.authorise(lid)
        assert (
            _wait(browser, _letter(browser, "inbox-new", lid), "the new letter in the bank's inbox") == "SENT"
        )
        arrived = f"document.querySelector(\"#inbox-new li[data-letter-id='0x{lid.hex()}']\").dataset.arrived"
        assert browser.evaluate(arrived) == "1", "marked as arrived through the subscription"
        assert browser.evaluate("window.__notReloaded === true"), "the page was reloaded"
        _forget(browser)
        assert browser.evaluate("document.getElementById('signin-status').dataset.state") == "idle"

        # the audit firm signs in with its encrypted key file: the letter is awaiting the bank
        signed = _sign_in(browser, auditor_key, password="审计-口令 1")
        assert signed["state"] == "signed-in", signed
        assert _wait(browser, _letter(browser, "board-awaiting", lid), "the letter on the board") == "SENT"
        assert browser.evaluate("document.getElementById('inbox').hidden"), "an audit firm has no bank inbox"

        # the bank accepts: the 10-working-day clock starts, shown live
        deadline = p.bank.accept(lid).deadline
        _wait(browser, f"{_letter(browser, 'board-awaiting', lid)} === 'ACCEPTED'", "the accepted letter")
        item = f"document.querySelector(\"li[data-letter-id='0x{lid.hex()}']\")"
        due_date = str(p.auditor.letter(lid).due_date)
        assert due_date in browser.evaluate(f"{item}.textContent")
        assert int(browser.evaluate(f"{item}.querySelector('.clock').dataset.days")) > 0

        # the chain's clock passes the deadline: the board shows the letter OVERDUE without a reload
        while client.chain_info().head_timestamp_ms // 1000 < deadline:
            node.produce_block()  # one more day of chain time
        assert p.auditor.letter(lid).status == LetterStatus.OVERDUE
        status = _wait(browser, _letter(browser, "board-overdue", lid), "the overdue letter")
        assert status == "OVERDUE"
        assert "已逾期" in browser.evaluate(f"{item}.textContent")
        fits = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        assert browser.evaluate(fits), "the board does not fit the desktop width"
        assert browser.evaluate("window.__notReloaded === true"), "the page was reloaded"
        _forget(browser)

        # a key of no member is refused, in the console's language (Chinese first)
        refused = _sign_in(browser, stranger_key)
        assert refused == {"state": "error", "error": "not_a_member", "text": NOT_A_MEMBER_ZH}
        assert browser.evaluate("document.getElementById('who').hidden")
        browser.evaluate(
            "(() => { const s = document.getElementById('lang-select'); s.value = 'en';"
            " s.dispatchEvent(new Event('change')); })()"
        )
        english = browser.evaluate("document.getElementById('signin-status').textContent")
        assert english == NOT_A_MEMBER_EN
        assert browser.evaluate("document.documentElement.lang") == "en"


@pytest.fixture(scope="module")
def producing_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """A node producing blocks as usual, whose committee is three members (a proposal needs two votes)."""
    node = start_node(tmp_path_factory.mktemp("net"), committee_size=3)
    try:
        yield node
    finally:
        stop_node(node)


def test_drug_regulator_sees_alerts_and_a_recall(
    producing_node: RunningNode, browser: Browser, tmp_path: Path
) -> None:
    """A refused movement committed before sign-in is read back from the logs; a recall committed while the
    page is open arrives through the subscription; both decoded as the contract logged them."""
    node = producing_node
    regulator_member, mah_member = node.member_with("DRUG_REGULATOR"), node.member_with("MAH")
    key_file = tmp_path / "regulator.pem"
    key_file.write_bytes(regulator_member.signer.private_key.to_pem())
    unit = "8691234" + f"{1:013d}"
    with Client(node.url) as client:
        regulator, mah = Drugs(client, regulator_member.signer), Drugs(client, mah_member.signer)
        regulator.assign_key_prefix(KeyScheme.NMPA, "869123", mah_member.uscc, "assignment")
        mah.register_product("8691234", "Amoxicillin Capsules 0.25 g x 24", "国药准字H33020001")
        mah.commission([unit], "B2025001", dt.date(2025, 3, 1), dt.date(2028, 2, 29))
        with pytest.raises(DrugAlertError, match="already commissioned"):
            mah.commission([unit], "B2025001", dt.date(2025, 3, 1), dt.date(2028, 2, 29))

        _open(browser, f"{node.url}/console")
        signed = _sign_in(browser, key_file)
        assert signed["state"] == "signed-in", signed
        alert = "document.querySelector('#alerts-list li.alert')?.dataset.reason || ''"
        assert _wait(browser, alert, "the earlier alert") == "already commissioned"
        _wait(browser, "document.getElementById('live-status').dataset.state === 'live'", "the live stream")
        mah.recall("8691234", "B2025001", "dissolution out of specification")
        hold = "document.querySelector(\"#holds-list li[data-batch='B2025001']\")?.dataset.recalled || ''"
        assert _wait(browser, hold, "the recall") == "1"
        text = browser.evaluate("document.getElementById('holds-list').textContent")
        assert "已召回" in text and "dissolution out of specification" in text
        assert browser.evaluate("window.__notReloaded === true"), "the page was reloaded"


def test_committee_member_votes_on_a_proposal_in_the_console(
    producing_node: RunningNode, browser: Browser, tmp_path: Path
) -> None:
    """A proposal made through the SDK waits for a second vote; a committee member signs in and votes in the
    console (a transaction built and signed in the browser); the proposal executes. A member outside the
    committee sees proposals read-only."""
    node = producing_node
    proposer, voter = node.members[0], node.members[1]
    outsider = node.member_with("BANK")
    uscc = make_uscc("310000", 40_000_001)
    with Client(node.url) as client:
        proposed = Governance(client, proposer.signer).register_organisation(uscc, "Console Vote Test Co.")
        assert not proposed.executed
        pid = proposed.proposal_id
        for member, name in ((outsider, "outsider.pem"), (voter, "voter.pem")):
            (tmp_path / name).write_bytes(member.signer.private_key.to_pem())

        _open(browser, f"{node.url}/console")
        assert _sign_in(browser, tmp_path / "outsider.pem")["state"] == "signed-in"
        item = f"document.querySelector(\"#proposals-list li[data-proposal-id='{pid}']\")"
        assert _wait(browser, f"{item}?.dataset.state || ''", "the open proposal") == "open"
        assert browser.evaluate(f"{item}.querySelector('button.vote') === null"), "outsiders cannot vote"
        _forget(browser)

        assert _sign_in(browser, tmp_path / "voter.pem")["state"] == "signed-in"
        _wait(browser, f"!!{item}?.querySelector('button.vote')", "the vote button")
        assert "登记机构" in browser.evaluate(f"{item}.textContent")
        browser.evaluate(f"{item}.querySelector('button.vote').click()")
        state = _wait(
            browser, f"{item}?.dataset.state === 'executed' && {item}.dataset.voted", "the execution"
        )
        assert state == "1"
        assert Governance(client, proposer.signer).proposal(pid).executed  # type: ignore[union-attr]
        assert httpx.get(f"{node.url}/v1/organisations/{uscc}").json()["registered"] is True


def test_issuer_sees_its_licences_and_their_status(browser: Browser, tmp_path: Path) -> None:
    """Licences the issuer's organisation issued, with the status later events gave them; a new one and a
    revocation while the page is open arrive through the subscription."""
    node = start_node(tmp_path / "net")
    try:
        issuer = node.member_with("ISSUER")
        key_file = tmp_path / "issuer.pem"
        key_file.write_bytes(issuer.signer.private_key.to_pem())
        first = issue_licence(node.url, issuer, "SERIAL0001")
        _open(browser, f"{node.url}/console")
        assert _sign_in(browser, key_file)["state"] == "signed-in"

        def status(result: Any) -> str:
            item = f"#licences-list li[data-id-hash='0x{result.id_hash.hex()}']"
            return f"(document.querySelector(\"{item}\")?.dataset.status || '')"

        assert _wait(browser, status(first), "the issued licence") == "VALID"
        _wait(browser, "document.getElementById('live-status').dataset.state === 'live'", "the live stream")
        second = issue_licence(node.url, issuer, "SERIAL0002")
        Licences(Client(node.url), issuer.signer).revoke(first.identifier, "吊销：虚假材料")
        _wait(browser, f"{status(first)} === 'REVOKED' && {status(second)} === 'VALID'", "the live changes")
        text = browser.evaluate("document.getElementById('licences-list').textContent")
        assert "已吊销" in text and "有效" in text
        assert browser.evaluate("window.__notReloaded === true"), "the page was reloaded"
    finally:
        stop_node(node)
