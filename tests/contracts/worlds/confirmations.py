"""The BankConfirmation world: audit firms, banks and their clients, an accreditor, the Calendar."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak

from node.demo_network import make_uscc
from node.genesis import (
    AUDIT_ACCREDITOR,
    AUDITOR,
    BANK,
    BANK_CONFIRMATION_ADDRESS,
    GOVERNANCE_ADDRESS,
)
from sdk.contracts import Contract
from sdk.domains.calendar import day_of_date
from sdk.types import Receipt
from tests.contracts.harness import ContractChain, genesis_chain

CONFIRMATION = Contract("BankConfirmation")
GOVERNANCE = Contract("Governance")

COMMITTEE_ORG, ACCREDITOR_ORG, AUDIT_FIRM, OTHER_FIRM, BANK_ORG, OTHER_BANK_ORG, CLIENT_ORG, OTHER_ORG = (
    make_uscc("310000", 20_000_001 + i) for i in range(8)
)
M1, ACCREDITOR, AUDITOR_A, AUDIT_CLERK, OTHER_AUDITOR = (bytes([0x10 + i]) * 20 for i in range(5))
BANKER, BANK_CLERK, OTHER_BANKER, CLIENT, OUTSIDER = (bytes([0x30 + i]) * 20 for i in range(5))
CST = dt.timezone(dt.timedelta(hours=8))
AWAITING, SENT, ACCEPTED, REJECTED, REPLIED, RECEIVED, RECALLED, OVERDUE, EXPIRED = range(1, 10)
ITEMS_1_13 = (1 << 13) - 1
ALL_ITEMS = (1 << 14) - 1


def ts_ms(iso: str) -> int:
    """Milliseconds of a China-time wall clock reading such as ``2026-02-13T10:00``."""
    return int(dt.datetime.fromisoformat(iso).replace(tzinfo=CST).timestamp() * 1000)


def day(iso: str) -> int:
    return day_of_date(dt.date.fromisoformat(iso))


@dataclass
class Chain(ContractChain):
    """Calls go to BankConfirmation; the test sets the wall clock (China time) of the next block."""

    def at(self, iso: str) -> Chain:
        self.now_ms = ts_ms(iso)
        return self


def new_chain() -> Chain:
    """A fresh chain: Governance with the test organisations, the Calendar and BankConfirmation."""
    c = genesis_chain(
        Chain,
        address=BANK_CONFIRMATION_ADDRESS,
        organisations=(
            (COMMITTEE_ORG, "Consortium Office"),
            (ACCREDITOR_ORG, "Audit Accreditation Office"),
            (AUDIT_FIRM, "某某会计师事务所"),
            (OTHER_FIRM, "Other CPA"),
            (BANK_ORG, "某某银行"),
            (OTHER_BANK_ORG, "Other Bank"),
            (CLIENT_ORG, "某某股份有限公司"),
            (OTHER_ORG, "Unrelated Co."),
        ),
        accounts=(
            (M1, COMMITTEE_ORG),
            (ACCREDITOR, ACCREDITOR_ORG),
            (AUDITOR_A, AUDIT_FIRM),
            (AUDIT_CLERK, AUDIT_FIRM),
            (OTHER_AUDITOR, OTHER_FIRM),
            (BANKER, BANK_ORG),
            (BANK_CLERK, BANK_ORG),
            (OTHER_BANKER, OTHER_BANK_ORG),
            (CLIENT, CLIENT_ORG),
            (OUTSIDER, OTHER_ORG),
        ),
        committee=(M1,),
        roles=(
            (ACCREDITOR, AUDIT_ACCREDITOR),
            (OTHER_AUDITOR, AUDITOR),
            (BANKER, BANK),
            (OTHER_BANKER, BANK),
        ),
        contracts=("Calendar", "BankConfirmation"),
        now_ms=ts_ms("2026-02-10T09:00"),
        proposer=M1,
        viewer=OUTSIDER,
    )
    # the audit accreditor grants AUDITOR by Governance delegation (role_admin[AUDITOR] = AUDIT_ACCREDITOR)
    c.must(ACCREDITOR, "grant_role", AUDITOR_A, AUDITOR, bytes(32), to=GOVERNANCE_ADDRESS)
    return c


LETTER = keccak(b"letter-1")
REQUEST = bytes(range(256)) * 8
REQUEST_HASH = keccak(b"sm3 of the sealed request")
REPLY_HASH = keccak(b"sm3 of the sealed reply")
BASE_DATE = day("2025-12-31")


def create(chain: Chain, letter: bytes = LETTER, sender: bytes = AUDITOR_A, **overrides: Any) -> Receipt:
    args: dict[str, Any] = {
        "client_org": CLIENT_ORG,
        "bank_org": BANK_ORG,
        "base_date": BASE_DATE,
        "items": ALL_ITEMS,
        "letter_format": 1,
        "request_hash": REQUEST_HASH,
        "request": REQUEST,
    }
    args.update(overrides)
    return chain.send(sender, "create", letter, *args.values())


def accepted(chain: Chain, when: str = "2026-02-13T10:00") -> None:
    assert create(chain).status == 1
    chain.must(CLIENT, "authorise", LETTER)
    chain.at(when).must(BANKER, "accept", LETTER)
