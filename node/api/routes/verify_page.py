"""The citizen's /verify page and its static assets (the verifier runs in the browser, not on this server)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from string import Template
from typing import Final

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

from node.api.errors import NotFound

router = APIRouter(tags=["pages"])

STATIC_DIR: Final = Path(__file__).resolve().parent.parent / "static"
#: Third-party files, unmodified (static/README.md says how each was produced), are kept apart in vendor/;
#: they are served under their own name like the others.
VENDORED: Final = frozenset({"jsqr.js"})
# Only these files are served; nothing is loaded from another origin (no CDN), hence the strict policy.
ASSETS: Final[dict[str, str]] = {
    "verify.js": "text/javascript; charset=utf-8",
    "verify-ui.js": "text/javascript; charset=utf-8",
    "verify-i18n.js": "text/javascript; charset=utf-8",
    "page-i18n.js": "text/javascript; charset=utf-8",
    "sm-crypto.js": "text/javascript; charset=utf-8",
    "jsqr.js": "text/javascript; charset=utf-8",
    "verify.css": "text/css; charset=utf-8",
    "page.css": "text/css; charset=utf-8",
}
SECURITY_HEADERS: Final[dict[str, str]] = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


@cache
def page_html(name: str) -> str:
    """The HTML of the page ``name`` ("verify" or "console"): the frame the pages share (``page.html``: the
    head and the title bar with the language switch) around the page's own ``<name>.html``. Read and
    assembled once per process (the files ship with the package), not per request."""
    frame = Template((STATIC_DIR / "page.html").read_text(encoding="utf-8"))
    return frame.substitute(name=name, body=(STATIC_DIR / f"{name}.html").read_text(encoding="utf-8"))


def page(name: str) -> Response:
    """The page ``name`` (see ``page_html``), under the strict security headers."""
    return HTMLResponse(page_html(name), headers=SECURITY_HEADERS)


def asset(assets: dict[str, str], name: str) -> Response:
    """One file of ``assets`` (file name -> media type) from the static folder, cacheable for five minutes;
    raises NotFound for any other name (nothing outside the list is ever read)."""
    media_type = assets.get(name)
    if media_type is None:
        raise NotFound("no such asset", name=name)
    headers = {**SECURITY_HEADERS, "Cache-Control": "public, max-age=300"}
    folder = STATIC_DIR / "vendor" if name in VENDORED else STATIC_DIR
    return FileResponse(folder / name, media_type=media_type, headers=headers)


@router.get("/verify", response_class=HTMLResponse, include_in_schema=False)
def get_verify_page() -> Response:
    """Return the /verify page: open a QR link, paste or upload a bundle; verified in the browser."""
    return page("verify")


@router.get("/verify/assets/{name}", response_class=FileResponse, include_in_schema=False)
def get_verify_asset(name: str) -> Response:
    """Return one of the page's static files (script, SM2/SM3 library, stylesheet); 404 for any other."""
    return asset(ASSETS, name)
