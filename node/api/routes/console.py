"""The member console (/console): a page the node serves, signed in with the member's own key in the browser.

The key never leaves the member's machine: the page signs each request (member-auth.js, the scheme of
sdk/auth.py) and shows only what the node returns to that member under its read policy. Besides the page and
its static files, the node serves the few public constants the page needs (system contract addresses and
event topics), so they are computed in one place (the ABIs), not copied into JavaScript.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Final

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from node.api.routes.verify_page import SECURITY_HEADERS, asset, page
from node.genesis import (
    BANK_CONFIRMATION_ADDRESS,
    DRUG_TRACE_ADDRESS,
    GOVERNANCE_ADDRESS,
    LICENCE_REGISTRY_ADDRESS,
)
from sdk.contracts import Contract
from sdk.domains.confirmations import LETTER_EVENTS
from sdk.domains.governance.encoders import Action
from sdk.domains.governance.facade import GOVERNANCE_GAS_LIMIT

router = APIRouter(tags=["pages"])

# Only these files are served; nothing is loaded from another origin (no CDN), hence the strict policy.
ASSETS: Final[dict[str, str]] = {
    "console.js": "text/javascript; charset=utf-8",
    "console-i18n.js": "text/javascript; charset=utf-8",
    "page-i18n.js": "text/javascript; charset=utf-8",
    "member-auth.js": "text/javascript; charset=utf-8",
    "sm-crypto.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "page.css": "text/css; charset=utf-8",
}

#: The drug events a drug regulator's view shows (DrugTrace.vy): refused movements, recalls and freezes.
DRUG_EVENTS: Final = ("Alert", "BatchHoldSet")
#: The licence events an issuer's view follows (LicenceRegistry.vy): issued, then its status changes.
LICENCE_EVENTS: Final = (
    "LicenceIssued",
    "LicenceSuspended",
    "LicenceResumed",
    "LicenceRevoked",
    "LicenceRenewed",
)
#: The proposal events the governance view follows (Governance.vy).
PROPOSAL_EVENTS: Final = ("ProposalCreated", "ProposalVoted", "ProposalExecuted")


def _logged_by(contract: Contract, address: bytes, events: tuple[str, ...]) -> dict[str, Any]:
    """Where ``contract`` logs and the topic of each of ``events``, as the page filters them (0x hex)."""
    return {
        "address": "0x" + address.hex(),
        "topics": {name: "0x" + contract.event_topic(name).hex() for name in events},
    }


@cache
def console_config() -> dict[str, Any]:
    """The public constants the page needs: where letters, drug alerts and proposals are logged and as what,
    the proposal actions' names, and what a vote calls (a vote is a transaction the page signs)."""
    governance = Contract("Governance")
    return {
        "letters": _logged_by(Contract("BankConfirmation"), BANK_CONFIRMATION_ADDRESS, LETTER_EVENTS),
        "drugs": _logged_by(Contract("DrugTrace"), DRUG_TRACE_ADDRESS, DRUG_EVENTS),
        "licences": _logged_by(Contract("LicenceRegistry"), LICENCE_REGISTRY_ADDRESS, LICENCE_EVENTS),
        "governance": {
            **_logged_by(governance, GOVERNANCE_ADDRESS, PROPOSAL_EVENTS),
            "actions": {str(int(action)): action.name for action in Action},
            "selectors": {
                name: "0x" + governance.selector(name).hex() for name in ("vote", "is_committee_member")
            },
            "gas_limit": GOVERNANCE_GAS_LIMIT,
        },
    }


@router.get("/console", response_class=HTMLResponse, include_in_schema=False)
def get_console_page() -> Response:
    """Return the member console: sign in with the member's key file (read in the browser only)."""
    return page("console")


@router.get("/console/config.json", include_in_schema=False)
def get_console_config() -> Response:
    """Return the contract addresses and event topics the console filters live events by."""
    return JSONResponse(
        console_config(), headers={**SECURITY_HEADERS, "Cache-Control": "public, max-age=300"}
    )


@router.get("/console/assets/{name}", response_class=FileResponse, include_in_schema=False)
def get_console_asset(name: str) -> Response:
    """Return one of the console's static files; 404 for any other."""
    return asset(ASSETS, name)
