"""Random blocks of Governance, DrugTrace and DrugLots calls — grants and revokes on a few shared scopes
(slots written twice in one block, set and cleared: refunds), commissions, shipments, receipts and
aggregations by any actor, lot parts commissioned and materialised (code by code or as a whole block,
sometimes a code twice), some starved of gas, some reaching the SM3 precompile — run on py-evm and on the
native engine with revm and with evmone: every block's receipts, gas and state root must agree
(``CrossCheckedEngine`` compares them on each block)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from hypothesis import given, settings, strategies as st

from node.execution import (
    BlockContext,
    ExecutionEngine,
    Message,
    ReferenceExecutionEngine,
    compute_floor_gas,
    compute_intrinsic_gas,
)
from node.genesis import DRUG_TRACE_ADDRESS, GOVERNANCE_ADDRESS, ROLE_IDS
from sdk.contracts import Contract
from sdk.domains.calendar import day_of_date
from sdk.domains.drugs import Level, compute_product_id
from sdk.domains.drugs.lots import LOTS_CONTRACT, LotTree
from sdk.system import DRUG_LOTS_ADDRESS
from tests.contracts import harness
from tests.contracts.worlds import drugs

GOVERNANCE = Contract("Governance")
ACTORS = (
    drugs.REGULATOR,
    drugs.PHARMA,
    drugs.PHARMA_2,
    drugs.DIST,
    drugs.PHARMACY,
    drugs.RIVAL,
    drugs.OUTSIDER,
)
TARGETS = (drugs.DIST_2, drugs.PHARMACY_2, drugs.RIVAL, drugs.OUTSIDER)
ROLES = ("DISTRIBUTOR", "DISPENSER", "MAH", "AUDITOR")
SCOPES = (bytes(32), b"\x01" * 32, b"\x02" * 32)  # few: the same slots come back within a block
UNITS = tuple(range(21, 41))  # fresh codes: commissioned, shipped and received by the random calls
LOT = [drugs.cid(drugs.unit(n)) for n in range(41, 51)]  # lot part 1 of the world, materialised at random
LOT_TREE = LotTree(LOT)
LOT_DAYS = (day_of_date(drugs.PRODUCTION), day_of_date(drugs.EXPIRY))
GAS = 3_000_000


@dataclass(frozen=True)
class World:
    chain: drugs.Chain
    root: bytes


_world: list[World] = []


def world() -> World:
    """The stocked drug world (Governance and DrugTrace, and lot part 1 in DrugLots), built once: every
    example starts from its root."""
    if not _world:
        chain = drugs.stock(drugs.new_chain())
        product = compute_product_id(drugs.UNIT_KEY)
        chain.must(drugs.PHARMA, "commission_lot", product, "B003", *LOT_DAYS, 1, LOT, to=DRUG_LOTS_ADDRESS)
        _world.append(World(chain, chain.root))
    return _world[0]


def governance_call(name: str, sender: bytes, target: bytes, role: str, scope: bytes) -> Message:
    data = GOVERNANCE.encode_call(name, [target, ROLE_IDS[role], scope])
    return Message(sender, GOVERNANCE_ADDRESS, data, GAS, secrets.token_bytes(32))


def drug_call(name: str, sender: bytes, *args: object) -> Message:
    data = drugs.DRUG.encode_call(name, list(args))
    return Message(sender, DRUG_TRACE_ADDRESS, data, GAS, secrets.token_bytes(32))


def lots_call(name: str, sender: bytes, *args: object) -> Message:
    data = LOTS_CONTRACT.encode_call(name, list(args))
    return Message(sender, DRUG_LOTS_ADDRESS, data, GAS, secrets.token_bytes(32))


actors = st.sampled_from(ACTORS)


def mostly(likely: bytes) -> st.SearchStrategy[bytes]:
    """The actor a call succeeds for, three times in four; anyone otherwise (most of those revert)."""
    return st.one_of(st.just(likely), st.just(likely), st.just(likely), actors)


codes = st.lists(st.sampled_from(UNITS), min_size=1, max_size=4, unique=True).map(
    lambda units: [drugs.cid(drugs.unit(n)) for n in units]
)
grants = st.builds(
    governance_call,
    st.sampled_from(("grant_role", "grant_role", "revoke_role")),
    mostly(drugs.REGULATOR),  # the drug regulator administers DISTRIBUTOR, DISPENSER and MAH
    st.sampled_from(TARGETS),
    st.sampled_from(ROLES),
    st.sampled_from(SCOPES),
)
commissions = st.builds(
    lambda sender, ids: drug_call(
        "commission",
        sender,
        compute_product_id(drugs.UNIT_KEY),
        "B002",
        day_of_date(drugs.PRODUCTION),
        day_of_date(drugs.EXPIRY),
        int(Level.UNIT),
        ids,
    ),
    mostly(drugs.PHARMA),
    codes,
)
shipments = st.builds(
    lambda sender, ids, receiver: drug_call("ship", sender, ids, receiver, drugs.SALE),
    mostly(drugs.PHARMA),
    codes,
    st.sampled_from((drugs.DIST, drugs.PHARMACY, drugs.RIVAL)),
)
receipts = st.builds(
    lambda sender, shipment, ids: drug_call("receive", sender, shipment, ids),
    mostly(drugs.DIST),
    st.integers(min_value=1, max_value=4),
    codes,
)
# registering a product hashes its key with the SM3 precompile: py-evm runs it, amid native messages
registrations = st.builds(
    lambda sender, key: drug_call("register_product", sender, key, "Random drug", "国药准字H3", 0, bytes(32)),
    mostly(drugs.PHARMA),
    st.sampled_from(("8612348", "8612349")),
)
new_parts = st.builds(
    lambda sender, units: lots_call(
        "commission_lot",
        sender,
        compute_product_id(drugs.UNIT_KEY),
        "B003",
        *LOT_DAYS,
        int(Level.UNIT),
        [drugs.cid(drugs.unit(n)) for n in units],
    ),
    mostly(drugs.PHARMA),
    st.lists(st.sampled_from(tuple(range(45, 61))), min_size=1, max_size=6, unique=True),
)
materialisations = st.builds(
    lambda sender, at: lots_call(
        "materialise", sender, 1, [LOT[i] for i in at], at, [list(LOT_TREE.path(i)) for i in at]
    ),
    mostly(drugs.PHARMA),
    st.lists(st.integers(0, len(LOT) - 1), min_size=1, max_size=4, unique=True),
)
whole_blocks = st.builds(
    lambda sender: lots_call("materialise_range", sender, 1, 0, LOT, []), mostly(drugs.PHARMA)
)
calls = st.one_of(
    grants, grants, commissions, shipments, receipts, registrations, new_parts, materialisations, whole_blocks
)


@st.composite
def starved(draw: st.DrawFn, message: Message) -> Message:
    """``message`` with all its gas, or just enough to start (out of gas soon), or less than it needs to."""
    floor = max(compute_intrinsic_gas(message.data), compute_floor_gas(message.data))
    gas = draw(st.sampled_from((GAS, GAS, GAS, floor + draw(st.integers(0, 30_000)), floor - 1)))
    return Message(message.sender, message.to, message.data, gas, message.tx_hash)


blocks = st.lists(st.lists(calls.flatmap(starved), min_size=1, max_size=12), min_size=1, max_size=4)


@settings(max_examples=100, deadline=None)
@given(blocks=blocks)
def test_random_blocks_give_pyevms_receipts_and_roots(blocks: list[list[Message]]) -> None:
    start = world()
    root = start.root
    for height, messages in enumerate(blocks, start=100):
        ctx = BlockContext(height, drugs.NOW_MS + height * 1000, harness.GAS_LIMIT, drugs.COMMITTEE)
        root = start.chain.engine.execute_block(root, ctx, messages).state_root  # checked against py-evm


@settings(max_examples=40, deadline=None)
@given(blocks=blocks)
def test_the_batched_tries_store_exactly_the_nodes_of_pyevms_own(blocks: list[list[Message]]) -> None:
    """The engines' trie updates (a block's writes at once) against py-evm's one key at a time, each on its
    own copy of the world's store: the same roots, and the same nodes stored — no node more, no node less."""
    start = world()
    chain_id = start.chain.engine.chain_id
    stored = dict(start.chain.engine._db.wrapped_db.kv_store)  # py-evm's MemoryDB over the world's dict
    batched_store, reference_store = dict(stored), dict(stored)
    batched, reference = (
        ExecutionEngine(batched_store, chain_id),
        ReferenceExecutionEngine(reference_store, chain_id),
    )
    batched_root = reference_root = start.root
    for height, messages in enumerate(blocks, start=100):
        ctx = BlockContext(height, drugs.NOW_MS + height * 1000, harness.GAS_LIMIT, drugs.COMMITTEE)
        batched_root = batched.execute_block(batched_root, ctx, messages).state_root
        reference_root = reference.execute_block(reference_root, ctx, messages).state_root
        assert batched_root == reference_root
    assert batched_store.keys() == reference_store.keys()
    assert batched_store == reference_store
