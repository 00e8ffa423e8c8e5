"""DrugLots.vy with DrugTrace, each message on both engines (CrossCheckedEngine): a lot part recorded by the
root of its code ids, and each code commissioned, as `commission` would, when its MAH materialises it.
The attacks first: another maker's lot or codes, forged paths, a code commissioned twice, a held batch."""

from __future__ import annotations

from typing import Any

import pytest

from node.genesis import DRUG_TRACE_ADDRESS
from sdk.contracts import Contract
from sdk.domains.calendar import day_of_date
from sdk.domains.drugs import Level, compute_product_id
from sdk.domains.drugs.lots import LotTree, decode_committed_part, read_part_record
from sdk.errors import EncodingError
from sdk.system import DRUG_LOTS_ADDRESS
from sdk.types import Receipt
from tests.contracts.harness import VIEW_GAS
from tests.contracts.worlds.drugs import (
    DIST,
    DRUG,
    EXPIRY,
    PHARMA,
    PHARMA_2,
    PRODUCTION,
    REGULATOR,
    RIVAL,
    SALE,
    UNIT_KEY,
    Chain,
    alerts_of,
    cid,
    commission,
    new_chain,
    register,
    unit,
)

LOTS = Contract("DrugLots")
UNIT_ID = compute_product_id(UNIT_KEY)
DAYS = (day_of_date(PRODUCTION), day_of_date(EXPIRY))


def lot_ids(numbers: range) -> list[bytes]:
    return [cid(unit(n)) for n in numbers]


def commission_lot(chain: Chain, ids: list[bytes], sender: bytes = PHARMA, batch: str = "B001") -> Receipt:
    return chain.send(
        sender, "commission_lot", UNIT_ID, batch, *DAYS, int(Level.UNIT), ids, to=DRUG_LOTS_ADDRESS
    )


def materialise(
    chain: Chain, part: int, tree: LotTree, ids: list[bytes], at: list[int], **how: Any
) -> Receipt:
    """Materialise the codes at leaf indices ``at`` of ``part`` (``how`` overrides sender, codes, paths)."""
    codes = how["codes"] if "codes" in how else [ids[i] for i in at]
    paths = how["paths"] if "paths" in how else [list(tree.path(i)) for i in at]
    sender = how.get("sender", PHARMA)
    return chain.send(sender, "materialise", part, codes, at, paths, to=DRUG_LOTS_ADDRESS)


def lot_event(receipt: Receipt) -> dict[str, Any]:
    events = [e for e in (LOTS.try_decode_log(log) for log in receipt.logs) if e is not None]
    assert [e.name for e in events] == ["LotCommissioned"]
    return dict(events[0].args)


@pytest.fixture()
def chain() -> Chain:
    chain = new_chain()
    register(chain)
    return chain


@pytest.fixture()
def lot(chain: Chain) -> tuple[Chain, list[bytes], LotTree]:
    """Part 1: units 1-37 of batch B001, commissioned by PHARMA by their root."""
    ids = lot_ids(range(1, 38))
    receipt = commission_lot(chain, ids)
    assert receipt.status == 1, receipt.revert_reason
    return chain, ids, LotTree(ids)


# --- attacks ----------------------------------------------------------------------------------------------
def test_attack_another_maker_can_neither_commission_a_lot_of_the_product_nor_materialise_its_lot(
    lot: tuple[Chain, list[bytes], LotTree],
) -> None:
    chain, ids, tree = lot
    assert (
        commission_lot(chain, lot_ids(range(90, 95)), sender=RIVAL).revert_reason == b"not the product's MAH"
    )
    before = chain.root
    receipt = materialise(chain, 1, tree, ids, [0, 1], sender=RIVAL)
    assert (receipt.status, receipt.revert_reason) == (0, b"not the lot's MAH")
    # another account of the same organisation did not commission the part either
    assert materialise(chain, 1, tree, ids, [0], sender=PHARMA_2).revert_reason == b"not the lot's MAH"
    assert chain.root == before


def test_attack_a_lot_cannot_carry_a_code_of_another_product(chain: Chain) -> None:
    foreign = bytes([0x99]) * 8 + cid(unit(1))[8:]  # the right code, another product's prefix
    assert commission_lot(chain, [cid(unit(2)), foreign]).revert_reason == b"code of another product"


def test_attack_a_code_outside_the_part_or_a_forged_path_is_refused(
    lot: tuple[Chain, list[bytes], LotTree],
) -> None:
    chain, ids, tree = lot
    before = chain.root
    outsider = cid(unit(500))
    cases = {
        "code not in this lot part": dict(codes=[outsider]),  # a code never in the part, with code 0's path
        "path too short": dict(paths=[list(tree.path(0))[:-1]]),
        "path too long": dict(paths=[[*tree.path(0), bytes(32)]]),
    }
    for reason, how in cases.items():
        receipt = materialise(chain, 1, tree, ids, [0], **how)
        assert receipt.revert_reason == reason.encode(), (reason, receipt.revert_reason)
    assert (
        materialise(chain, 1, tree, ids, [5], paths=[list(tree.path(6))]).revert_reason
        == b"code not in this lot part"
    )
    assert materialise(
        chain, 1, tree, ids, [37], codes=[ids[0]], paths=[list(tree.path(0))]
    ).revert_reason == (b"leaf index outside the part")
    assert materialise(chain, 2, tree, ids, [0]).revert_reason == b"unknown lot part"
    assert chain.root == before


def test_attack_a_code_is_commissioned_once_whatever_the_path(
    lot: tuple[Chain, list[bytes], LotTree],
) -> None:
    chain, ids, tree = lot
    commission(chain, [unit(4)], Level.UNIT)  # commissioned directly first
    assert chain.must(
        PHARMA, "commission_lot", UNIT_ID, "B001", *DAYS, 1, [ids[3], ids[4]], to=DRUG_LOTS_ADDRESS
    )
    for part, index in ((1, 3), (2, 0)):  # unit 4 in part 1 and part 2
        before = chain.root
        receipt = materialise(
            chain,
            part,
            tree if part == 1 else LotTree([ids[3], ids[4]]),
            ids if part == 1 else [ids[3], ids[4]],
            [index],
        )
        assert receipt.status == 1, receipt.revert_reason
        assert alerts_of(receipt) == [(ids[3], "already commissioned")]
        (alert,) = [e for e in chain.events(receipt, DRUG_TRACE_ADDRESS) if e.name == "Alert"]
        assert alert.args["actor"] == PHARMA  # the MAH, not DrugLots that called DrugTrace
        assert chain.root == before
    # unit 5, in both parts: the first materialisation wins, the second is refused
    assert not alerts_of(materialise(chain, 1, tree, ids, [4]))
    assert alerts_of(materialise(chain, 2, LotTree([ids[3], ids[4]]), [ids[3], ids[4]], [1])) == [
        (ids[4], "already commissioned")
    ]


def test_attack_drug_trace_commissions_for_another_account_only_for_drug_lots(chain: Chain) -> None:
    reason = chain.refused(PHARMA, "commission_for", PHARMA_2, UNIT_ID, "B001", *DAYS, 1, [cid(unit(1))])
    assert reason == "only DrugLots"


def test_a_held_batch_neither_takes_a_lot_nor_materialises_one(
    lot: tuple[Chain, list[bytes], LotTree],
) -> None:
    chain, ids, tree = lot
    chain.must(REGULATOR, "freeze", UNIT_ID, "B001", "suspected counterfeit")
    assert materialise(chain, 1, tree, ids, [0]).revert_reason == b"batch is on hold"
    assert commission_lot(chain, lot_ids(range(60, 62))).revert_reason == b"batch is on hold"
    chain.must(REGULATOR, "unfreeze", UNIT_ID, "B001", "cleared")
    assert not alerts_of(materialise(chain, 1, tree, ids, [0]))


# --- what a part records, and what materialising gives ----------------------------------------------------
def test_a_part_records_the_root_of_its_code_ids_and_gives_no_code_a_word(chain: Chain) -> None:
    ids = lot_ids(range(1, 38))
    receipt = commission_lot(chain, ids)
    assert receipt.status == 1, receipt.revert_reason
    event = lot_event(receipt)
    assert (event["part"], event["root"], event["count"], event["by"]) == (1, LotTree(ids).root, 37, PHARMA)
    part = chain.view("parts", 1, to=DRUG_LOTS_ADDRESS)
    assert (part["root"], part["size"], part["mah"], part["batch_no"]) == (
        LotTree(ids).root,
        37,
        PHARMA,
        "B001",
    )
    assert not chain.code(unit(1))["known"]
    assert chain.view("get_batch", UNIT_ID, "B001")["commissioned"] == 0
    assert not any(DRUG.try_decode_log(log) for log in receipt.logs), "no DrugTrace log for a part"


def test_a_materialised_code_is_what_commission_would_have_made_it(
    lot: tuple[Chain, list[bytes], LotTree],
) -> None:
    chain, ids, tree = lot
    receipt = materialise(chain, 1, tree, ids, [2, 3])
    direct = new_chain()
    register(direct)
    commission(direct, [unit(3), unit(4)], Level.UNIT)
    for n in (3, 4):
        assert chain.code(unit(n)) == direct.code(unit(n))
    assert chain.view("get_batch", UNIT_ID, "B001") == direct.view("get_batch", UNIT_ID, "B001")
    assert [(e.name, e.args) for e in chain.events(receipt, DRUG_TRACE_ADDRESS)] == [
        (e.name, e.args) for e in direct.events(direct.receipts[-1], DRUG_TRACE_ADDRESS)
    ]


def test_a_materialised_code_moves_and_a_code_still_in_its_part_is_unknown(
    lot: tuple[Chain, list[bytes], LotTree],
) -> None:
    chain, ids, tree = lot
    assert not alerts_of(materialise(chain, 1, tree, ids, [0]))
    chain.must(PHARMA, "ship", [ids[0]], DIST, SALE)
    assert chain.alerted(PHARMA, "ship", [ids[1]], DIST, SALE) == [(ids[1], "unknown code")]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 8, 9, 64, 65, 201])
def test_every_code_of_a_part_of_any_size_materialises(chain: Chain, size: int) -> None:
    ids = lot_ids(range(1000, 1000 + size))
    assert commission_lot(chain, ids).status == 1
    tree = LotTree(ids)
    for start in range(0, size, 100):
        at = list(range(start, min(size, start + 100)))
        receipt = materialise(chain, 1, tree, ids, at)
        assert receipt.status == 1 and not alerts_of(receipt), receipt.revert_reason
    assert chain.view("get_batch", UNIT_ID, "B001")["commissioned"] == size


# --- whole blocks: one path for 128 consecutive codes -----------------------------------------------------
def materialise_block(
    chain: Chain, part: int, tree: LotTree, ids: list[bytes], block: int, **how: Any
) -> Receipt:
    first = block * 128
    codes = how["codes"] if "codes" in how else ids[first : first + 128]
    path = how["path"] if "path" in how else list(tree.path(block, height=7))
    return chain.send(
        how.get("sender", PHARMA), "materialise_range", part, block, codes, path, to=DRUG_LOTS_ADDRESS
    )


@pytest.mark.parametrize("size", [1, 5, 128, 129, 300, 1000])
def test_every_block_of_a_part_materialises_with_one_path(chain: Chain, size: int) -> None:
    ids = lot_ids(range(3000, 3000 + size))
    assert commission_lot(chain, ids).status == 1
    tree = LotTree(ids)
    for block in range(-(-size // 128)):
        receipt = materialise_block(chain, 1, tree, ids, block)
        assert receipt.status == 1 and not alerts_of(receipt), receipt.revert_reason
    assert chain.view("get_batch", UNIT_ID, "B001")["commissioned"] == size
    assert chain.code(unit(3000 + size - 1))["known"]


def test_attack_a_block_must_be_whole_and_its_own(chain: Chain) -> None:
    ids = lot_ids(range(4000, 4300))  # blocks of 128, 128 and 44
    assert commission_lot(chain, ids).status == 1
    tree = LotTree(ids)
    before = chain.root
    refusals = {
        "a range is a whole block": materialise_block(chain, 1, tree, ids, 0, codes=ids[:127]),
        "block not in this lot part": materialise_block(chain, 1, tree, ids, 1, codes=ids[:128]),
        "block outside the part": materialise_block(chain, 1, tree, ids, 3, codes=[], path=[]),
        "not the lot's MAH": materialise_block(chain, 1, tree, ids, 0, sender=RIVAL),
    }
    swapped = [ids[1], ids[0], *ids[2:128]]  # the right codes in another order make another node
    refusals["block not in this lot part "] = materialise_block(chain, 1, tree, ids, 0, codes=swapped)
    for reason, receipt in refusals.items():
        assert receipt.revert_reason == reason.strip().encode(), (reason, receipt.revert_reason)
    assert chain.root == before
    commission(chain, [unit(4130)], Level.UNIT)  # in block 1, commissioned directly first
    receipt = materialise_block(chain, 1, tree, ids, 1)
    assert alerts_of(receipt) == [(cid(unit(4130)), "already commissioned")]


def _padded(data: bytes) -> bytes:
    at = data.find(b"B001")
    return data[: at + 8] + b"A" + data[at + 9 :]


ENCODINGS = [
    ("canonical", lambda data: data),
    ("non-zero string padding", _padded),
    ("a batch number that is not UTF-8", lambda data: data.replace(b"B001", b"\xff001")),
    ("trailing bytes", lambda data: data + b"\x01" * 5),
    ("cut-off call data", lambda data: data[:-24]),
    ("the codes' offset out of range", lambda data: data[:164] + (10**6).to_bytes(32, "big") + data[196:]),
]


@pytest.mark.parametrize(("name", "change"), ENCODINGS, ids=[e[0] for e in ENCODINGS])
def test_attack_the_index_reads_a_parts_codes_as_the_contract_did_or_not_at_all(
    chain: Chain, name: str, change: Any
) -> None:
    """Call data a strict ABI decoder refuses but Vyper accepts must neither stop the node's lot index (it
    reads while a block commits) nor make it index codes the contract did not record."""
    ids = lot_ids(range(1, 4))
    ids[-1] = ids[-1][:8] + bytes(24)  # a last code the cut-off call data leaves readable, as zeros
    data = change(LOTS.encode_call("commission_lot", [UNIT_ID, "B001", *DAYS, int(Level.UNIT), ids]))
    receipt = chain.execute(PHARMA, DRUG_LOTS_ADDRESS, data)
    part = decode_committed_part(DRUG_LOTS_ADDRESS, data, receipt.status == 1, receipt.logs)
    if receipt.status != 1:
        assert part is None
        return
    assert part is not None and part.code_ids == tuple(ids) and part.mah == PHARMA
    assert LotTree(ids).root == part.root


@pytest.mark.parametrize("batch", [b"B001", b"\xff\xfe01", b"B" * 20])
def test_a_parts_record_reads_by_position_as_the_abi_decodes_it(chain: Chain, batch: bytes) -> None:
    """``read_part_record`` (what the readers use: it takes any batch number) gives what the ABI decoder gives
    for every record the ABI decoder can read, and the bytes as U+FFFD-replaced text for one it cannot."""
    ids = lot_ids(range(1, 6))
    data = LOTS.encode_call("commission_lot", [UNIT_ID, "B001", *DAYS, int(Level.UNIT), ids])
    data = data.replace(b"B001" + bytes(28), batch.ljust(32, b"\0")).replace(
        (4).to_bytes(32, "big") + batch.ljust(32, b"\0"),
        len(batch).to_bytes(32, "big") + batch.ljust(32, b"\0"),
    )
    receipt = chain.execute(PHARMA, DRUG_LOTS_ADDRESS, data)
    assert receipt.status == 1, receipt.revert_reason
    call = LOTS.encode_call("parts", [1])
    answer = chain.engine.call(chain.root, chain.viewer, DRUG_LOTS_ADDRESS, call, VIEW_GAS, ctx=chain.ctx())
    record = read_part_record(answer)
    assert record is not None and record["batch_no"] == batch.decode("utf-8", "replace")
    assert (record["mah"], record["size"], record["root"]) == (PHARMA, 5, LotTree(ids).root)
    try:
        strict = LOTS.decode_output("parts", answer)
    except EncodingError:
        assert batch == b"\xff\xfe01"
    else:
        assert dict(strict) == record
