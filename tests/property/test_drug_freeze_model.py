"""A stateful model test of DrugTrace's holds: random actors freeze, lift and try to move a batch; a frozen
batch never moves, and each kind of hold is set and lifted only by the party it belongs to."""

from __future__ import annotations

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sdk.domains.drugs import compute_product_id
from tests.contracts.worlds.drugs import (
    DIST,
    DRUG,
    OUTSIDER,
    PHARMA,
    PHARMA_2,
    PHARMACY,
    REGULATOR,
    RIVAL,
    SALE,
    UNIT_KEY,
    Chain,
    cid,
    new_chain,
    stock,
    unit,
)

ACTORS = {
    "regulator": REGULATOR,
    "mah": PHARMA,
    "mah colleague": PHARMA_2,
    "other mah": RIVAL,
    "distributor": DIST,
    "pharmacy": PHARMACY,
    "member": OUTSIDER,
}
MAH_ACCOUNTS = ("mah", "mah colleague")
PRODUCT = compute_product_id(UNIT_KEY)


class HoldMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.chain: Chain = stock(new_chain())
        self.regulator_freeze = False
        self.mah_hold = False
        self.at_maker = list(range(11, 21))  # loose units the MAH still holds
        self.shipped: list[int] = []

    @rule(actor=st.sampled_from(sorted(ACTORS)))
    def freeze(self, actor: str) -> None:
        receipt = self.chain.send(ACTORS[actor], "freeze", PRODUCT, "B001", "random hold")
        if actor == "regulator" and not self.regulator_freeze:
            assert receipt.status == 1, receipt.revert_reason
            self.regulator_freeze = True
        elif actor in MAH_ACCOUNTS and not self.mah_hold:
            assert receipt.status == 1, receipt.revert_reason
            self.mah_hold = True
        else:
            assert receipt.status == 0, f"{actor} set a hold it may not set"

    @rule(actor=st.sampled_from(sorted(ACTORS)))
    def lift(self, actor: str) -> None:
        receipt = self.chain.send(ACTORS[actor], "unfreeze", PRODUCT, "B001", "random lift")
        if actor == "regulator" and self.regulator_freeze:
            assert receipt.status == 1, receipt.revert_reason
            self.regulator_freeze = False
        elif actor in MAH_ACCOUNTS and self.mah_hold:
            assert receipt.status == 1, receipt.revert_reason
            self.mah_hold = False
        else:
            assert receipt.status == 0, f"{actor} lifted a hold that is not its own"

    @precondition(lambda self: bool(self.at_maker))
    @rule()
    def the_maker_ships_a_unit(self) -> None:
        n = self.at_maker[0]
        before = self.chain.code(unit(n))
        receipt = self.chain.send(PHARMA, "ship", [cid(unit(n))], DIST, SALE)
        names = [DRUG.decode_log(log).name for log in receipt.logs]
        if self.regulator_freeze or self.mah_hold:
            assert "ShipmentCreated" not in names, "a frozen batch moved"
            assert self.chain.code(unit(n)) == before
        else:
            assert receipt.status == 1 and "ShipmentCreated" in names, receipt.revert_reason
            self.at_maker.pop(0)
            self.shipped.append(n)

    @invariant()
    def the_batch_shows_exactly_the_holds_set(self) -> None:
        batch = self.chain.view("get_batch", PRODUCT, "B001")
        assert batch["regulator_freeze"] == self.regulator_freeze
        assert batch["mah_hold"] == self.mah_hold
        assert batch["frozen"] == (self.regulator_freeze or self.mah_hold)


HoldMachine.TestCase.settings = settings(max_examples=12, stateful_step_count=20, deadline=None)
test_a_frozen_batch_never_moves_and_holds_belong_to_their_setter = HoldMachine.TestCase
