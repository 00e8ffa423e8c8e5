"""The DrugTrace world: a drug regulator, two MAHs of one organisation, a rival, a distributor, a pharmacy."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from node.demo_network import make_uscc
from node.genesis import (
    DISPENSER,
    DISTRIBUTOR,
    DRUG_REGULATOR,
    DRUG_TRACE_ADDRESS,
    MAH,
)
from sdk.contracts import Contract
from sdk.domains.calendar import day_of_date
from sdk.domains.drugs import BillType, Level, compute_product_id, parse_trace_code
from sdk.types import Receipt
from tests.contracts.harness import ContractChain, genesis_chain

DRUG = Contract("DrugTrace")
ORG_REG, ORG_MAH, ORG_DIST, ORG_PHARM, ORG_RIVAL, ORG_NONE = (make_uscc("330000", 50 + i) for i in range(6))
COMMITTEE, REGULATOR, PHARMA, PHARMA_2, DIST, PHARMACY, RIVAL, OUTSIDER = (
    bytes([0x20 + i]) * 20 for i in range(8)
)
DIST_2, PHARMACY_2 = bytes([0x31]) * 20, bytes([0x32]) * 20  # a second distributor and pharmacy
ORG_DIST_2, ORG_PHARM_2 = make_uscc("330000", 70), make_uscc("330000", 71)
UNREGISTERED = bytes([0x77]) * 20  # an account no registered organisation holds
#: The role-named callers of docs/permissions.md's DrugTrace and DrugLots tables as accounts of this world.
CALLERS: dict[str, bytes] = {
    "outsider": UNREGISTERED,
    "member": OUTSIDER,  # an account of a registered company without roles
    "DRUG_REGULATOR": REGULATOR,
    "MAH (own product)": PHARMA,
    "MAH (other product)": RIVAL,
    "distributor": DIST_2,
    "dispenser": PHARMACY_2,
}
UNIT_KEY, CASE_KEY = "8612345", "8612346"
MAH_PREFIX = "861234"  # the 药品标识码 block the regulator binds to ORG_MAH: it covers both keys
KEY_NMPA, KEY_GS1 = 1, 2
GTIN = "06901234567892"  # GS1 company prefix 6901234, bound to ORG_MAH in some tests
PRODUCTION, EXPIRY = dt.date(2025, 1, 10), dt.date(2027, 1, 31)
NOW_MS = 1_767_225_600_000  # 2026-01-01 UTC: inside the batch's shelf life
SALE = int(BillType.SALE)


def unit(n: int) -> str:
    return f"{UNIT_KEY}{n:013d}"


def case(n: int) -> str:
    return f"{CASE_KEY}{n:013d}"


def cid(code: str) -> bytes:
    return parse_trace_code(code).code_id


@dataclass
class Chain(ContractChain):
    """Calls go to DrugTrace; block time stays NOW_MS unless a test moves it."""

    def must(self, sender: bytes, name: str, *args: Any, to: bytes | None = None) -> Receipt:
        receipt = super().must(sender, name, *args, to=to)
        assert not alerts_of(receipt), alerts_of(receipt)
        return receipt

    def alerted(self, sender: bytes, name: str, *args: Any) -> list[tuple[bytes, str]]:
        """Send a call that must be refused with alerts: it succeeds, returns 0/False, changes no state."""
        before = self.root
        receipt = self.send(sender, name, *args)
        assert receipt.status == 1, receipt.revert_reason
        assert self.root == before, "a refusal must change no state"
        names = {DRUG.decode_log(log).name for log in receipt.logs}
        assert names == {"Alert"}, names
        return alerts_of(receipt)

    def code(self, code: str) -> dict[str, Any]:
        result: dict[str, Any] = self.view("get_code", cid(code))
        return result


def alerts_of(receipt: Receipt) -> list[tuple[bytes, str]]:
    events = [e for e in (DRUG.try_decode_log(log) for log in receipt.logs) if e is not None]
    return [(bytes(e.args["code"]), e.args["reason"]) for e in events if e.name == "Alert"]


def new_chain() -> Chain:
    """A fresh chain: Governance with the test organisations and roles, DrugTrace and DrugLots."""
    return genesis_chain(
        Chain,
        address=DRUG_TRACE_ADDRESS,
        organisations=(
            (make_uscc("110000", 49), "Committee"),
            (ORG_REG, "Provincial Drug Administration"),
            (ORG_MAH, "Hangzhou Pharma"),
            (ORG_DIST, "Zhejiang Distribution"),
            (ORG_PHARM, "West Lake Pharmacy"),
            (ORG_RIVAL, "Rival Pharma"),
            (ORG_NONE, "No Role Ltd"),
            (ORG_DIST_2, "Ningbo Distribution"),
            (ORG_PHARM_2, "Qiantang Pharmacy"),
        ),
        accounts=(
            (COMMITTEE, make_uscc("110000", 49)),
            (REGULATOR, ORG_REG),
            (PHARMA, ORG_MAH),
            (PHARMA_2, ORG_MAH),
            (DIST, ORG_DIST),
            (PHARMACY, ORG_PHARM),
            (RIVAL, ORG_RIVAL),
            (OUTSIDER, ORG_NONE),
            (DIST_2, ORG_DIST_2),
            (PHARMACY_2, ORG_PHARM_2),
        ),
        committee=(COMMITTEE,),
        roles=(
            (REGULATOR, DRUG_REGULATOR),
            (PHARMA, MAH),
            (PHARMA_2, MAH),
            (DIST, DISTRIBUTOR),
            (PHARMACY, DISPENSER),
            (RIVAL, MAH),
            (DIST_2, DISTRIBUTOR),
            (PHARMACY_2, DISPENSER),
        ),
        contracts=("DrugTrace", "DrugLots"),
        now_ms=NOW_MS,
        step_ms=0,
        gas=5_000_000,
        proposer=COMMITTEE,
        viewer=OUTSIDER,
    )


def bind(chain: Chain, prefix: str, org: str, scheme: int = KEY_NMPA) -> Receipt:
    """The drug regulator binds a product-key prefix to an MAH organisation."""
    return chain.must(REGULATOR, "assign_key_prefix", scheme, prefix, org, "code issuer's assignment")


def register(chain: Chain) -> None:
    bind(chain, MAH_PREFIX, ORG_MAH)
    unit_id = compute_product_id(UNIT_KEY)
    chain.must(
        PHARMA, "register_product", UNIT_KEY, "Amoxicillin 250 mg x 24", "国药准字H20000001", 0, bytes(32)
    )
    chain.must(
        PHARMA, "register_product", CASE_KEY, "Amoxicillin case of 10", "国药准字H20000001", 0, unit_id
    )


def commission(
    chain: Chain, codes: list[str], level: Level, batch: str = "B001", sender: bytes = PHARMA
) -> Receipt:
    product = compute_product_id(codes[0][:7])
    ids = [cid(c) for c in codes]
    return chain.must(
        sender, "commission", product, batch, day_of_date(PRODUCTION), day_of_date(EXPIRY), int(level), ids
    )


def stock(chain: Chain) -> Chain:
    """Products registered; units 1-20 and cases 1-2 commissioned in batch B001; case 1 holds units 1-10."""
    register(chain)
    commission(chain, [unit(i) for i in range(1, 21)], Level.UNIT)
    commission(chain, [case(1), case(2)], Level.CASE)
    chain.must(PHARMA, "aggregate", cid(case(1)), [cid(unit(i)) for i in range(1, 11)])
    return chain


def ship(chain: Chain, sender: bytes, codes: list[str], receiver: bytes, bill: int = SALE) -> int:
    receipt = chain.must(sender, "ship", [cid(c) for c in codes], receiver, bill)
    created = [DRUG.decode_log(log) for log in receipt.logs if DRUG.decode_log(log).name == "ShipmentCreated"]
    return int(created[0].args["shipment"])
