"""The compact licence card end to end: a 4-validator devnet of real processes signs a licence status
statement (XLS1), its binary QR code is version ≤ 15, and a citizen's phone-size Chromium in Chinese, offline,
reads the uploaded image and shows the licence as valid; a changed card is refused."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from node.devnet import Devnet, init_devnet
from scripts.samples import issue_sample_licence
from sdk.client import Client
from sdk.crypto import PrivateKey
from sdk.proofs.collect import collect_statement
from sdk.proofs.qr import render_qr
from sdk.proofs.statement import LicenceStatement
from sdk.proofs.trust import load_trust
from sdk.signer import Signer
from tests.e2e.helpers import get_free_port
from tests.e2e.test_verify_page import Browser, _upload

pytestmark = pytest.mark.e2e

OFFLINE_PROBE = "fetch('/v1/chain', {cache: 'no-store'}).then(() => 'online', () => 'offline')"


def _issuer(base: Path) -> tuple[str, Signer]:
    directory = json.loads((base / "orgs.json").read_text(encoding="utf-8"))
    entry = next(e for e in directory if "ISSUER" in e["roles"])
    return entry["uscc"], Signer(PrivateKey.from_pem((base / entry["key"]).read_bytes()))


def _tampered(statement: LicenceStatement) -> bytes:
    """The card's payload with one bit of the first seal's signature changed."""
    payload = bytearray(statement.to_qr_bytes())
    payload[-64 * len(statement.seals)] ^= 1
    return bytes(payload)


def test_citizen_verifies_a_licence_card_offline_in_chinese_on_a_phone(tmp_path: Path) -> None:
    base = tmp_path / "devnet"
    init_devnet(
        base,
        validators=4,
        chain_id=4646,
        api_ports=[get_free_port() for _ in range(4)],
        p2p_ports=[get_free_port() for _ in range(4)],
        committee_size=1,
        log_level="warning",
    )
    net = Devnet(base)
    browser: Browser | None = None
    try:
        net.start()
        urls = [node.url for node in net.nodes]
        uscc, signer = _issuer(base)
        from sdk.domains.licences import Licences

        issued = issue_sample_licence(Licences(Client(urls[0]), signer), uscc)
        trust = load_trust(httpx.get(f"{urls[0]}/v1/proofs/trust", timeout=10).json())
        statement = collect_statement(urls, issued.identifier, trust)
        assert len(statement.seals) >= 3  # a quorum of four
        version = render_qr(statement.to_qr_bytes(), tmp_path / "card.png", scale=6)
        assert version <= 15, version
        render_qr(_tampered(statement), tmp_path / "tampered.png", scale=6)

        browser = Browser()
        browser.call(
            "Emulation.setDeviceMetricsOverride", width=390, height=800, deviceScaleFactor=1, mobile=True
        )
        browser.open(f"{urls[0]}/verify?lang=zh-CN")
        deadline = time.monotonic() + 30
        while not browser.evaluate(
            "typeof window.jsQR === 'function'"
        ):  # the QR reader, fetched while online
            assert time.monotonic() < deadline, "the page did not load its QR reader"
            time.sleep(0.1)
        browser.call("Network.enable")
        browser.call(
            "Network.emulateNetworkConditions",
            offline=True,
            latency=0,
            downloadThroughput=-1,
            uploadThroughput=-1,
        )
        assert browser.evaluate(OFFLINE_PROBE) == "offline"

        _upload(browser, "#bundle-image", tmp_path / "card.png")
        verdict = browser.verdict()
        assert verdict["status"] == "verified" and verdict["licence"] == "VALID", verdict
        assert "证照状态：有效" in verdict["text"] and "个验证节点签署" in verdict["text"], verdict
        assert browser.evaluate("document.documentElement.lang") == "zh-CN"
        facts = browser.evaluate("document.getElementById('facts').textContent")
        assert issued.identifier in facts and "证照状态声明" in facts
        browser.evaluate(  # the English switch re-renders the same verdict
            "(() => { const s = document.getElementById('lang-select'); s.value = 'en';"
            " s.dispatchEvent(new Event('change')); })()"
        )
        assert "VERIFIED — licence VALID" in browser.verdict()["text"]
        browser.evaluate(
            "(() => { const s = document.getElementById('lang-select'); s.value = 'zh-CN';"
            " s.dispatchEvent(new Event('change')); localStorage.clear(); })()"
        )

        browser.evaluate("document.getElementById('verdict').dataset.status = 'idle'")  # wait for the new one
        _upload(browser, "#bundle-image", tmp_path / "tampered.png")
        verdict = browser.verdict()
        assert verdict["status"] == "failed" and verdict["error"] == "SignatureError", verdict
        assert "核验未通过" in verdict["text"]
        assert browser.evaluate(OFFLINE_PROBE) == "offline"  # nothing above needed the network
    finally:
        if browser is not None:
            browser.close()
        net.stop()
