"""What every walkthrough (scripts/demo_*.py) starts from: its command line, the network directory's
organisations, their keys and its local CA, the committee's further votes, and well-formed demo identifiers.

The walkthroughs import it as ``demo_common`` (a script's own directory comes first on the path), the
benchmarks as ``scripts.demo_common``.
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # this checkout's SDK, also where it is not installed

from sdk.domains.governance import Governance, ProposalResult  # noqa: E402
from sdk.identifiers import compute_org_code_check, compute_uscc_check  # noqa: E402
from sdk.signer import Signer  # noqa: E402


def demo_parser(description: str | None) -> argparse.ArgumentParser:
    """The options every walkthrough takes: the node's URL (`make run` serves https) and the network
    directory (whose tls/ca.pem the node's certificate is checked against)."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="https://127.0.0.1:8545")
    parser.add_argument("--network", type=Path, default=Path("var/devnet"))
    return parser


def find_network_ca(base: Path) -> str | None:
    """The local CA certificate of the network in ``base`` (tls/ca.pem, written by `make run` and
    `xinlian network init --tls`), or None for a network whose nodes serve plain HTTP."""
    path = base / "tls" / "ca.pem"
    return str(path) if path.exists() else None


def http_verify(ca: str | None) -> ssl.SSLContext | bool:
    """What httpx checks an https node's certificate against: ``ca``, or the system's trust store."""
    return ssl.create_default_context(cafile=ca) if ca is not None else True


@dataclass(frozen=True)
class DemoNetwork:
    """The demo organisations of a network directory (its orgs.json) and their admin keys."""

    base: Path
    orgs: list[dict[str, Any]]

    @classmethod
    def load(cls, base: Path) -> DemoNetwork:
        return cls(base, json.loads((base / "orgs.json").read_text(encoding="utf-8")))

    @property
    def ca(self) -> str | None:
        """The network's local CA (``Client(url, ca=network.ca)``), or None when its nodes serve HTTP."""
        return find_network_ca(self.base)

    def org(self, role: str) -> dict[str, Any]:
        """The organisation that holds ``role`` (each demo role is held by one organisation)."""
        return next(o for o in self.orgs if role in o["roles"])

    def signer(self, org: dict[str, Any]) -> Signer:
        return Signer.from_pem(self.base / org["key"])

    def signer_of(self, role: str) -> Signer:
        return self.signer(self.org(role))

    def committee(self) -> list[Signer]:
        """The committee members' keys: the first three organisations (threshold 2)."""
        return [self.signer(o) for o in self.orgs[:3]]


def decide(committee: Sequence[Governance], proposal: ProposalResult) -> None:
    """Cast further committee votes, in order, until the proposal executes (the demo threshold is 2: the
    second member's vote decides)."""
    executed = proposal.executed
    for member in committee[1:]:
        if executed:
            return
        executed = member.vote(proposal.proposal_id).executed


def make_uscc(serial: int, region: str) -> str:
    """A well-formed demo USCC (department 9, category 1) of ``region`` for organisation ``serial``."""
    org = f"{serial % 100_000_000:08d}"
    body = "91" + region + org + compute_org_code_check(org)
    return body + compute_uscc_check(body)
