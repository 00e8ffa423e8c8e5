"""The /verify page's message table (node/api/static/verify-i18n.js): zh-CN and en have the same keys and
placeholders, every key the page uses exists, every error kind the verifier raises and every licence status
it names has a message, and no user-visible text is written into verify.html or verify-ui.js outside it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from node.api.routes.verify_page import page_html

STATIC = Path(__file__).resolve().parents[3] / "node" / "api" / "static"
NODE = shutil.which("node")
if NODE is None and os.environ.get("XINLIAN_REQUIRE_BROWSER"):  # CI installs Node.js: never skip there
    raise RuntimeError("XINLIAN_REQUIRE_BROWSER is set but Node.js (node) is missing")

# An English phrase: two words of letters separated by a space (ids, keys, event names and CSS have none).
ENGLISH = re.compile(r"[A-Za-z]{2,}[ \u00a0]+[A-Za-z]{2,}")
CJK = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uff00-\uffef]")
# Texts in verify.html that are no UI language: the <title> placeholder (set from the table by the script)
# and the name of the verifier's file in the footer link.
HTML_ALLOWED = {"信链", "verify.js"}
VISIBLE_ATTRIBUTES = {"placeholder", "title", "aria-label", "alt", "value", "label"}


@pytest.fixture(scope="module")
def table() -> dict[str, dict[str, str]]:
    if NODE is None:
        pytest.skip("needs Node.js to load the message table")
    done = subprocess.run(
        [
            NODE,
            "-e",
            "process.stdout.write(JSON.stringify(require(process.argv[1]).messages))",
            str(STATIC / "verify-i18n.js"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    messages: dict[str, dict[str, str]] = json.loads(done.stdout)
    return messages


def test_both_languages_have_every_key_with_the_same_placeholders(table: dict[str, dict[str, str]]) -> None:
    assert set(table) == {"zh-CN", "en"}
    zh, en = table["zh-CN"], table["en"]
    assert sorted(set(zh) ^ set(en)) == []
    for key in zh:
        assert zh[key].strip() and en[key].strip(), key
        assert set(re.findall(r"\{(\w+)\}", zh[key])) == set(re.findall(r"\{(\w+)\}", en[key])), key
        assert CJK.search(en[key]) is None or key in ("lang.name",), f"Chinese in the English {key}"
    assert zh["lang.name"] == "中文" and en["lang.name"] == "English"


def _strip_js_comments(source: str) -> str:
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    return re.sub(r"(^|[^:\\])//[^\n]*", r"\1", source)


def _js_strings(source: str) -> list[str]:
    """The string and template literals of a script (comments removed first)."""
    pattern = r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|`(?:[^`\\]|\\.)*`'
    return [m[1:-1] for m in re.findall(pattern, _strip_js_comments(source))]


def test_every_key_the_page_uses_exists(table: dict[str, dict[str, str]]) -> None:
    html = page_html("verify")
    ui = (STATIC / "verify-ui.js").read_text(encoding="utf-8")
    used = set(re.findall(r'data-i18n(?:-[a-z-]+)?="([^"]+)"', html))
    used |= set(re.findall(r'\bt\("([a-zA-Z0-9_.]*[A-Za-z0-9_])"', ui))
    used |= set(re.findall(r'pageError\("([a-zA-Z0-9_.]*[A-Za-z0-9_])"', ui))
    used |= {
        m
        for m in re.findall(r'"([a-z]+\.[A-Za-z0-9_.]*[A-Za-z0-9_])"', ui)
        if m.split(".")[0] in _prefixes(table)
    }
    assert used, "no keys found: the scan is broken"
    for lang in table:
        assert sorted(used - set(table[lang])) == [], lang


def _prefixes(table: dict[str, dict[str, str]]) -> set[str]:
    return {key.split(".")[0] for key in table["en"]}


def test_every_verifier_error_kind_and_licence_status_has_a_message(table: dict[str, dict[str, str]]) -> None:
    verifier = (STATIC / "verify.js").read_text(encoding="utf-8")
    kinds = set(re.findall(r'fail\("(\w+)"', verifier)) | set(
        re.findall(r'const no = \(m, d\) => fail\("(\w+)"', verifier)
    )
    statuses = json.loads(re.search(r"const STATUS = (\[[^\]]*\]);", verifier)[1])  # type: ignore[index]
    assert {"FormatError", "ChainError", "StatusError", "LicenceIdentifierError", "HolderError"} <= kinds
    for lang, messages in table.items():
        assert sorted(k for k in kinds if f"err.{k}" not in messages) == [], lang
        assert sorted(s for s in statuses if f"status.{s}" not in messages) == [], lang
        assert "{code}" in messages["err.unknown"]  # an unknown kind is shown with its code


class _Texts(HTMLParser):
    """Text nodes and visible attribute values of an HTML page, outside <script> and <style>."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        self.found.extend(v for k, v in attrs if k in VISIBLE_ATTRIBUTES and v)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.found.append(data.strip())


def test_no_user_visible_text_outside_the_table() -> None:
    parser = _Texts()
    parser.feed(page_html("verify"))
    assert [text for text in parser.found if text not in HTML_ALLOWED] == []
    ui = (STATIC / "verify-ui.js").read_text(encoding="utf-8")
    literals = _js_strings(ui)
    assert "xinlian.verify.lang" in literals  # the scan sees the script's literals
    assert [s for s in literals if (ENGLISH.search(s) or CJK.search(s)) and s != "use strict"] == []


def test_the_scan_catches_hard_coded_text() -> None:
    """The checks above would see a hard-coded English or Chinese string (a guard against a blind scan)."""
    sample: Any = _js_strings('x.textContent = "No credential checked yet."; y = `核验 ${z}`; // "not me"')
    assert [s for s in sample if ENGLISH.search(s) or CJK.search(s)] == [
        "No credential checked yet.",
        "核验 ${z}",
    ]
    parser = _Texts()
    parser.feed('<p>Holder check</p><input placeholder="holder salt"><script>"x y"</script>')
    assert parser.found == ["Holder check", "holder salt"]
