"""The Calendar world: the Calendar alone, seeded with the official notices, a keeper, a committee member."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from node.genesis import CALENDAR_ADDRESS, CALENDAR_KEEPER
from sdk.domains.calendar import day_of_date
from tests.contracts.harness import ContractChain, genesis_chain

ORG = "91350100M000100Y43"
KEEPER, MEMBER, OUTSIDER = bytes([0x21]) * 20, bytes([0x22]) * 20, bytes([0x23]) * 20


def day(iso: str) -> int:
    return day_of_date(dt.date.fromisoformat(iso))


@dataclass
class Chain(ContractChain):
    """Calls go to the Calendar."""

    def add_working_days(self, start: int, n: int) -> int:
        return int(self.view("add_working_days", start, n))

    def is_working_day(self, d: int) -> bool:
        return bool(self.view("is_working_day", d))


def make_chain() -> Chain:
    return genesis_chain(
        Chain,
        address=CALENDAR_ADDRESS,
        organisations=((ORG, "Consortium Office"),),
        accounts=((KEEPER, ORG), (MEMBER, ORG), (OUTSIDER, ORG)),
        committee=(MEMBER,),
        roles=((KEEPER, CALENDAR_KEEPER),),
        contracts=("Calendar",),
        timestamp_ms=day_of_date(dt.date(2026, 1, 10)) * 86_400_000,
        gas=2_000_000,
        proposer=KEEPER,
        viewer=OUTSIDER,
    )
