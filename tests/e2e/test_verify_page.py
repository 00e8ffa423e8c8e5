"""The citizen's /verify page in headless Chromium (DevTools protocol): in-browser verdicts equal the Python
Verifier's on the same bundles — valid, tampered, revoked, wrong-chain — served by real nodes."""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from node_fixtures import RunningNode, start_node, stop_node
from test_proofs import _propose, issue_licence

from sdk.client import Client
from sdk.errors import VerificationError
from sdk.proofs.bundle import ProofBundle
from sdk.proofs.trust import load_trust
from sdk.proofs.verify import Verifier
from tests.support import member_auth

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    if os.environ.get("XINLIAN_REQUIRE_BROWSER"):  # CI installs Chromium: a skip there would hide a gap
        raise RuntimeError(f"XINLIAN_REQUIRE_BROWSER is set but {CHROMIUM} is missing")
    pytest.skip(
        "headless browser tests need /usr/bin/chromium (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-port=0",
]


class Browser:
    """Headless Chromium driven over the Chrome DevTools protocol (one page, synchronous calls)."""

    def __init__(self, *extra_flags: str) -> None:
        from websockets.sync.client import connect

        self.profile = Path(tempfile.mkdtemp(prefix="xl-chromium-"))
        self.process = subprocess.Popen(
            [CHROMIUM, *FLAGS, *extra_flags, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.1)
        port = int(port_file.read_text().splitlines()[0])
        pages = [t for t in httpx.get(f"http://127.0.0.1:{port}/json/list").json() if t["type"] == "page"]
        self._stack = contextlib.ExitStack()
        self.ws = self._stack.enter_context(
            connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=20)
        )
        self._id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=60))
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(message["error"])
                result: dict[str, Any] = message["result"]
                return result

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def open(self, url: str) -> None:
        """Load the /verify page ``url`` and wait until it has fetched (or failed to fetch) its trust anchor:
        a bundle pasted before that is refused as "no trust anchor loaded" (a FormatError)."""
        self.call("Page.navigate", url="about:blank")
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + 30
        ready = (
            "document.readyState + ':' + !!window.XinlianVerify + ':' +"
            " (document.getElementById('trust')?.dataset.state !== 'loading')"
        )
        while self.evaluate(ready) != "complete:true:true":
            if time.monotonic() > deadline:
                raise RuntimeError(f"the page did not load: {url}")
            time.sleep(0.1)

    def verdict(self, timeout_s: float = 60) -> dict[str, str]:
        """Wait until #verdict leaves idle/pending; return its data attributes and text."""
        deadline = time.monotonic() + timeout_s
        script = (
            "(() => { const v = document.getElementById('verdict');"
            " return {status: v.dataset.status, error: v.dataset.error,"
            " licence: v.dataset.licenceStatus, text: v.textContent}; })()"
        )
        while True:
            state: dict[str, str] = self.evaluate(script)
            if state["status"] in ("verified", "failed"):
                return state
            if time.monotonic() > deadline:
                raise AssertionError(f"no verdict: {state}")
            time.sleep(0.1)

    def close(self) -> None:
        self._stack.close()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    b = Browser()
    try:
        yield b
    finally:
        b.close()


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningNode, RunningNode]]:
    home = start_node(tmp_path_factory.mktemp("home"))
    other = start_node(tmp_path_factory.mktemp("other"))
    try:
        yield home, other
    finally:
        stop_node(home)
        stop_node(other)


@pytest.fixture(scope="module")
def bundles(nodes: tuple[RunningNode, RunningNode]) -> dict[str, Any]:
    """Bundles as JSON documents: a valid licence, a tampered copy, a revoked licence, another chain's."""
    home, other = nodes
    issuer = home.member_with("ISSUER")
    valid = issue_licence(home.url, issuer)
    revoked = issue_licence(home.url, issuer)
    from sdk.domains.licences import Licences

    Licences(Client(home.url), issuer.signer).revoke(revoked.identifier, "吊销")
    get = lambda url: httpx.get(url, timeout=30).json()  # noqa: E731
    valid_doc = get(f"{home.url}/v1/proofs/licences/{valid.identifier}")
    tampered = copy.deepcopy(valid_doc)
    tampered["event"]["receipt_proof"] = tampered["event"]["receipt_proof"] or []
    header = tampered["block"]["header"]
    tampered["block"]["header"] = header[:-2] + ("01" if header[-2:] != "01" else "02")  # gas_used
    foreign_tx = _propose(other)
    return {
        "valid": valid_doc,
        "tampered": tampered,
        "revoked": get(f"{home.url}/v1/proofs/licences/{revoked.identifier}"),
        # a governance transaction's bundle is for members: fetched signed, then checked by anyone
        "wrong-chain": httpx.get(
            f"{other.url}/v1/proofs/tx/{foreign_tx}?log_index=0",
            auth=member_auth(other.url, other.committee.signer),
            timeout=30,
        ).json(),
        "credential": valid.credential,
        "revoked_credential": revoked.credential,
        "valid_id": valid.identifier,
        "trust": get(f"{home.url}/v1/proofs/trust"),
    }


def python_verdict(doc: dict[str, Any], trust: dict[str, Any]) -> tuple[str, str]:
    """('', status) when the Python Verifier accepts, else (error class name, licence status detail)."""
    try:
        event = Verifier(trust=load_trust(trust)).verify_bundle(doc)
    except VerificationError as exc:
        return type(exc).__name__, str(exc.detail.get("status", ""))
    status = event.state.licence.name if event.state and event.state.licence else ""
    return "", status


EXPECTED = {"valid": "", "tampered": "ChainError", "revoked": "StatusError", "wrong-chain": "ChainError"}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_browser_verdict_equals_python_verdict_for_qr_links(
    browser: Browser, nodes: tuple[RunningNode, RunningNode], bundles: dict[str, Any], name: str
) -> None:
    home, _ = nodes
    doc = bundles[name]
    expected_error, expected_status = python_verdict(doc, bundles["trust"])
    assert expected_error == EXPECTED[name]
    fragment = ProofBundle.from_json(doc).to_link_fragment()
    for lang, query in (("zh-CN", ""), ("en", "?lang=en")):
        browser.open(f"{home.url}/verify{query}#b={fragment}")
        verdict = browser.verdict()
        assert verdict["error"] == expected_error, verdict
        assert verdict["status"] == ("verified" if not expected_error else "failed")
        assert verdict["licence"] == expected_status, verdict
        assert browser.evaluate("document.documentElement.lang") == lang
        # a status is only ever shown with the block it was proven at
        wording = {
            ("revoked", "zh-CN"): "该证照已吊销（截至区块",
            ("revoked", "en"): "The licence is REVOKED (as of block",
            ("valid", "zh-CN"): "证照状态：有效",
            ("valid", "en"): f"licence {expected_status} as of",
        }.get((name, lang), "")
        assert wording in verdict["text"], verdict


def test_pasted_bundle_is_verified_in_the_browser(
    browser: Browser, nodes: tuple[RunningNode, RunningNode], bundles: dict[str, Any]
) -> None:
    home, _ = nodes
    browser.open(f"{home.url}/verify")
    browser.evaluate(f"window.xinlianVerifyText({json.dumps(json.dumps(bundles['tampered']))})")
    assert browser.verdict()["error"] == "ChainError"
    browser.evaluate(f"window.xinlianVerifyText({json.dumps(json.dumps(bundles['valid']))})")
    assert browser.verdict()["status"] == "verified"


def _holder_result(browser: Browser) -> tuple[str, str]:
    """Wait until #holder-result has a verdict; return (data-match, text) and clear it for the next check."""
    deadline = time.monotonic() + 30
    read = (
        "(() => { const r = document.getElementById('holder-result');"
        " return [r.dataset.match, r.textContent]; })()"
    )
    while (state := browser.evaluate(read))[0] == "":
        assert time.monotonic() < deadline, "no holder verdict"
        time.sleep(0.1)
    browser.evaluate("document.getElementById('holder-result').dataset.match = ''")
    return state[0], state[1]


def _upload(browser: Browser, selector: str, path: Path) -> None:
    """Choose ``path`` in the page's file input ``selector``, as a user picking the file does."""
    root = browser.call("DOM.getDocument")["root"]["nodeId"]
    node = browser.call("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
    browser.call("DOM.setFileInputFiles", files=[str(path)], nodeId=node)


def test_holder_check_takes_the_holders_credential_file_without_typing(
    browser: Browser, nodes: tuple[RunningNode, RunningNode], bundles: dict[str, Any], tmp_path: Path
) -> None:
    """The citizen uploads the holder's credential file: the page reads salt and code from it and checks them
    against the commitment of the licence it has just verified; another code or another licence fails."""
    home, _ = nodes
    credential = bundles["credential"]
    browser.open(f"{home.url}/verify#licence={bundles['valid_id']}")
    verdict = browser.verdict()
    assert verdict["status"] == "verified" and verdict["licence"] == "VALID", verdict
    assert browser.evaluate("document.getElementById('holder-box').hidden") is False
    good = tmp_path / "credential.json"
    good.write_text(credential.to_json(), encoding="utf-8")
    _upload(browser, "#holder-file", good)
    match, text = _holder_result(browser)
    assert match == "yes", text
    assert "11010519491231002X" in text and "居民身份证号码" in text
    # the same file with another (well-formed) holder code does not open the commitment
    body = json.loads(credential.to_json())
    body["持证主体代码"] = "110105194912310021"
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    _upload(browser, "#holder-file", forged)
    assert _holder_result(browser)[0] == "no"
    # another licence's credential (its own salt and commitment) is named as such
    other = tmp_path / "other.json"
    other.write_text(bundles["revoked_credential"].to_json(), encoding="utf-8")
    _upload(browser, "#holder-file", other)
    match, text = _holder_result(browser)
    assert match == "no" and "另一份证照" in text, text
    # the holder QR's text, pasted (what a phone's scanner app copies): no hex typed
    browser.evaluate(
        f"document.getElementById('holder-text').value = {json.dumps(credential.holder_qr_text())};"
        "document.getElementById('holder-button').click();"
    )
    assert _holder_result(browser)[0] == "yes"


def test_holder_link_verifies_licence_and_holder_in_one_scan(
    browser: Browser, nodes: tuple[RunningNode, RunningNode], bundles: dict[str, Any]
) -> None:
    """The holder's one QR link (licence reference + holder opening in the fragment): the page fetches and
    verifies the licence, then checks the holder, with nothing typed; a tampered opening fails."""
    home, _ = nodes
    credential = bundles["credential"]
    link = credential.verify_link(home.url)
    assert "#licence=0x" in link and "&h=" in link
    browser.open(link)
    assert browser.verdict()["licence"] == "VALID"
    match, text = _holder_result(browser)
    assert match == "yes" and "11010519491231002X" in text, text
    opening = credential.holder_opening()
    forged = opening[:-1] + (b"1" if opening[-1:] != b"1" else b"2")  # the holder code's last character
    fragment = base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
    browser.open(f"{home.url}/verify?lang=en#licence=0x{credential.id_hash.hex()}&h={fragment}")
    assert browser.verdict()["licence"] == "VALID"
    match, text = _holder_result(browser)
    assert match == "no" and "does NOT match" in text, text
    browser.open(f"{home.url}/verify#licence=0x{credential.id_hash.hex()}&h=AAAA")  # unreadable holder data
    assert browser.verdict()["licence"] == "VALID"
    match, text = _holder_result(browser)
    assert match == "no" and text.startswith("无法核对"), text


def test_holder_qr_in_the_credential_box(
    browser: Browser, nodes: tuple[RunningNode, RunningNode], bundles: dict[str, Any]
) -> None:
    """A holder QR given where the licence is expected: before a licence is verified the page says the
    licence comes first; after, it checks the holder."""
    home, _ = nodes
    holder_qr = json.dumps(bundles["credential"].holder_qr_text())
    browser.open(f"{home.url}/verify")
    browser.evaluate(f"window.xinlianVerifyText({holder_qr})")
    verdict = browser.verdict()
    assert verdict["status"] == "failed" and "请先核验证照" in verdict["text"], verdict
    browser.evaluate(f"window.xinlianVerifyText({json.dumps(json.dumps(bundles['valid']))})")
    assert browser.verdict()["licence"] == "VALID"
    browser.evaluate(f"window.xinlianVerifyText({holder_qr})")
    assert _holder_result(browser)[0] == "yes"


def _qr_png(payload: str, path: Path) -> Path:
    import segno

    segno.make(payload, error="m").save(str(path), scale=6, border=4)
    return path


def test_qr_images_are_read_in_the_browser(
    browser: Browser, nodes: tuple[RunningNode, RunningNode], bundles: dict[str, Any], tmp_path: Path
) -> None:
    """Uploaded photos of QR codes, read by the page (BarcodeDetector or the bundled jsqr.js): the holder's
    one link verifies licence and holder; the holder QR alone checks the holder; a picture without a code
    says so."""
    home, _ = nodes
    credential = bundles["credential"]
    browser.open(f"{home.url}/verify")
    _upload(browser, "#bundle-image", _qr_png(credential.verify_link(home.url), tmp_path / "link.png"))
    assert browser.verdict()["licence"] == "VALID"
    assert _holder_result(browser)[0] == "yes"
    browser.open(f"{home.url}/verify#licence={bundles['valid_id']}")
    assert browser.verdict()["licence"] == "VALID"
    _upload(browser, "#holder-image", _qr_png(credential.holder_qr_text(), tmp_path / "holder.png"))
    match, text = _holder_result(browser)
    assert match == "yes" and "11010519491231002X" in text, text
    from PIL import Image

    Image.new("RGB", (200, 200), "white").save(tmp_path / "blank.png")
    _upload(browser, "#holder-image", tmp_path / "blank.png")
    match, text = _holder_result(browser)
    assert match == "no" and "图片中没有找到二维码" in text, text


def _y4m(png: Path, out: Path) -> Path:
    """A still Y4M video (what Chromium's fake camera plays) of ``png`` centred on a white 640x480 frame."""
    from PIL import Image

    frame = Image.new("RGB", (640, 480), "white")
    with Image.open(png) as qr:
        side = min(440, qr.width)
        frame.paste(qr.convert("RGB").resize((side, side)), ((640 - side) // 2, (480 - side) // 2))
    y, cb, cr = frame.convert("YCbCr").split()
    planes = y.tobytes() + cb.resize((320, 240)).tobytes() + cr.resize((320, 240)).tobytes()
    out.write_bytes(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n" + (b"FRAME\n" + planes) * 5)
    return out


def test_camera_scan_of_the_holders_link(
    nodes: tuple[RunningNode, RunningNode], bundles: dict[str, Any], tmp_path: Path
) -> None:
    """The citizen taps 用摄像头扫码 and points the camera at the holder's QR (Chromium's fake camera plays
    it): the page reads the link, verifies the licence and checks the holder; nothing is typed."""
    home, _ = nodes
    credential = bundles["credential"]
    video = _y4m(_qr_png(credential.verify_link(home.url), tmp_path / "link.png"), tmp_path / "camera.y4m")
    camera = Browser(
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    )
    try:
        camera.open(f"{home.url}/verify")
        assert camera.evaluate("document.getElementById('scan-button').hidden") is False
        camera.evaluate("document.getElementById('scan-button').click()")
        verdict = camera.verdict()
        assert verdict["licence"] == "VALID", verdict
        assert _holder_result(camera)[0] == "yes"
        assert camera.evaluate("document.getElementById('scan-video').hidden") is True  # camera released
    finally:
        camera.close()


def test_chinese_by_default_with_a_remembered_english_switch(
    browser: Browser, nodes: tuple[RunningNode, RunningNode]
) -> None:
    home, _ = nodes
    browser.open(f"{home.url}/verify")
    browser.evaluate("localStorage.clear()")
    browser.open(f"{home.url}/verify")
    page = (
        "(() => ({lang: document.documentElement.lang, title: document.title,"
        " h1: document.querySelector('h1').textContent,"
        " keys: [...document.querySelectorAll('[data-i18n]')].map((e) => e.textContent)"
        ".filter((x) => !x.trim() || /^[a-z]+[.][A-Za-z.]+$/.test(x))}))()"
    )
    zh = browser.evaluate(page)
    assert zh["lang"] == "zh-CN" and zh["title"] == "信链 凭证核验" and zh["keys"] == [], zh
    assert browser.evaluate("document.getElementById('verdict').textContent") == "尚未核验任何凭证。"
    browser.evaluate(
        "(() => { const s = document.getElementById('lang-select'); s.value = 'en';"
        " s.dispatchEvent(new Event('change')); })()"
    )
    en = browser.evaluate(page)
    assert en["lang"] == "en" and en["title"] == "Xinlian credential check" and en["keys"] == [], en
    browser.open(f"{home.url}/verify")  # remembered
    assert browser.evaluate("document.documentElement.lang") == "en"
    assert browser.evaluate("document.getElementById('lang-select').getAttribute('aria-label')") == "Language"
    browser.open(f"{home.url}/verify?lang=zh-CN")  # the query wins
    assert browser.evaluate(page)["lang"] == "zh-CN"
    browser.evaluate("localStorage.clear()")


PHONE_WIDTHS = (360, 390, 400)

# Draws two different ideographs in the page's body font: a CJK font renders two different glyphs of about one
# em; without one, both come out as the same fallback box.
CJK_PROBE = """(() => {
  const font = '32px ' + getComputedStyle(document.body).fontFamily;
  const draw = (ch) => { const c = document.createElement('canvas'); c.width = c.height = 48;
    const g = c.getContext('2d'); g.font = font; g.fillStyle = '#000'; g.fillText(ch, 4, 38);
    return {pixels: Array.from(g.getImageData(0, 0, 48, 48).data.filter((_, i) => i % 4 === 3)).join(','),
            width: g.measureText(ch).width}; };
  const a = draw('信'), b = draw('链');
  return {differ: a.pixels !== b.pixels, inked: /[1-9]/.test(a.pixels) && /[1-9]/.test(b.pixels),
          widths: [a.width, b.width]};
})()"""

OVERFLOW_PROBE = """(() => {
  const vw = window.innerWidth, out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width && (r.left < -0.5 || r.right > vw + 0.5)) out.push(`${el.tagName}#${el.id}.${el.className}`);
  }
  const facts = [...document.querySelectorAll('#facts dd')].map((dd) => {
    const r = dd.getBoundingClientRect(); return [r.left, r.right]; });
  return {vw, scroll: document.documentElement.scrollWidth, out, facts};
})()"""


@pytest.mark.parametrize("width", PHONE_WIDTHS)
def test_phone_layout_fits_and_renders_chinese(
    browser: Browser,
    nodes: tuple[RunningNode, RunningNode],
    bundles: dict[str, Any],
    width: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """At 360, 390 and 400 px nothing runs off screen (verified licence with facts and holder result, and a
    failed verdict with its technical detail), in both languages; screenshots are not blank and show CJK."""
    from PIL import Image, ImageStat

    home, _ = nodes
    shots = tmp_path_factory.mktemp(f"verify-shots-{width}")
    browser.call(
        "Emulation.setDeviceMetricsOverride", width=width, height=800, deviceScaleFactor=1, mobile=True
    )
    try:
        link = bundles["credential"].verify_link(home.url)
        tampered = ProofBundle.from_json(bundles["tampered"]).to_link_fragment()
        cases = {
            "zh-valid": link,
            "en-valid": link.replace("/verify#", "/verify?lang=en#"),
            "zh-tampered": f"{home.url}/verify#b={tampered}",
        }
        for name, url in cases.items():
            browser.open(url)
            browser.verdict()
            if name.endswith("valid"):
                assert _holder_result(browser)[0] == "yes"
            else:
                browser.evaluate("document.getElementById('tech').open = true")
            layout = browser.evaluate(OVERFLOW_PROBE)
            assert layout["vw"] == width, layout
            assert layout["scroll"] <= width, layout
            assert layout["out"] == [], layout
            assert layout["facts"], layout
            assert all(left >= 0 and right <= width for left, right in layout["facts"]), layout
            shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
            path = shots / f"{name}.png"
            path.write_bytes(base64.b64decode(shot["data"]))
            with Image.open(path) as image:
                assert image.width == width
                extrema = ImageStat.Stat(image.convert("L")).extrema[0]
                assert extrema[1] - extrema[0] > 100, f"blank screenshot {path}"
        cjk = browser.evaluate(CJK_PROBE)
        if not (cjk["inked"] and cjk["differ"]) and not os.environ.get("XINLIAN_REQUIRE_BROWSER"):
            pytest.skip(f"no CJK font renders the page's Chinese (apt-get install fonts-noto-cjk): {cjk}")
        assert cjk["inked"] and cjk["differ"], f"no CJK font renders the page's Chinese: {cjk}"
        assert all(w > 24 for w in cjk["widths"]), cjk  # an ideograph is about one em (32 px) wide
    finally:
        browser.call("Emulation.clearDeviceMetricsOverride")


def test_page_serves_only_its_own_assets(nodes: tuple[RunningNode, RunningNode]) -> None:
    home, _ = nodes
    page = httpx.get(f"{home.url}/verify")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert "http" not in page.text.split("<footer>")[0].replace("https://…/verify", "")
    for asset in ("sm-crypto.js", "verify-i18n.js", "jsqr.js"):
        assert httpx.get(f"{home.url}/verify/assets/{asset}").status_code == 200, asset
    assert httpx.get(f"{home.url}/verify/assets/..%2Fapp.py").status_code == 404


def test_a_drug_code_link_is_verified_in_the_browser(
    browser: Browser, nodes: tuple[RunningNode, RunningNode], bundles: dict[str, Any]
) -> None:
    """A pack's code still only in its lot part: the page reads its drug-code bundle from the link (#b=), and
    says what is proven (the MAH listed the code in a part at that block) and what is not (its status)."""
    import datetime as dt

    from sdk.domains.drugs import Drugs, KeyScheme

    home, _ = nodes
    mah_member = home.member_with("MAH")
    with Client(home.url) as client:
        Drugs(client, home.member_with("DRUG_REGULATOR").signer).assign_key_prefix(
            KeyScheme.NMPA, "869124", mah_member.uscc, "code issuer's assignment"
        )
        mah = Drugs(client, mah_member.signer)
        mah.register_product("8691240", "Ibuprofen Tablets 0.2 g x 20", "国药准字H20000001")
        codes = [f"8691240{n:013d}" for n in range(1, 8)]
        mah.commission_lot(codes, "B2026001", dt.date(2026, 1, 1), dt.date(2028, 12, 31))
        doc = mah.code_bundle(codes[5])
    assert python_verdict(doc, bundles["trust"]) == ("", "")
    fragment = ProofBundle.from_json(doc).to_link_fragment()
    for lang, query, wording in (
        ("zh-CN", "", "列入其批次分段"),
        ("en", "?lang=en", "listed this drug code"),
    ):
        browser.open(f"{home.url}/verify{query}#b={fragment}")
        verdict = browser.verdict()
        assert verdict["status"] == "verified" and verdict["error"] == "", verdict
        assert wording in verdict["text"], verdict
        assert browser.evaluate("document.documentElement.lang") == lang
    forged = copy.deepcopy(doc)
    forged["lot"]["leaf"] = 4
    browser.open(f"{home.url}/verify?lang=en#b={ProofBundle.from_json(forged).to_link_fragment()}")
    assert browser.verdict()["error"] == "ProofError" == python_verdict(forged, bundles["trust"])[0]
