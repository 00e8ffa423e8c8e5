"""Drug traceability workloads for node benchmarks: trace codes commissioned per second, shipments per second.

The functions run against any node URL with a network folder holding orgs.json (demo keys and roles):
``prepare_drug_actors`` registers a distributor (committee vote + delegated grant) and a product once, then
``run_commission_workload`` / ``run_shipment_workload`` pre-sign SM2 transactions, submit them from several
client threads and time them from the first submission to the last commit. scripts/bench/node.py plugs
these in; ``__main__`` runs both against a node:
    .venv/bin/python scripts/bench/drugs_workload.py --url http://127.0.0.1:8545 --network var/devnet
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from scripts.bench.common import CommitFigures, CommitRun  # noqa: E402
from scripts.demo_common import DemoNetwork, decide, demo_parser, make_uscc  # noqa: E402
from sdk.client import Client  # noqa: E402
from sdk.contracts import Contract  # noqa: E402
from sdk.domains.calendar import day_of_date  # noqa: E402
from sdk.domains.drugs import (  # noqa: E402
    COMMISSION_GAS_BASE,
    COMMISSION_GAS_PER_CODE,
    MOVE_GAS_PER_CODE,
    BillType,
    Drugs,
    KeyScheme,
    Level,
    compute_code_id,
    compute_commission_chunk_size,
    compute_product_id,
)
from sdk.domains.drugs.lots import (  # noqa: E402
    LotPart,
    build_commission_lot_calls,
    build_materialise_calls,
    compute_lot_part_size,
    decode_lot_commissioned,
)
from sdk.domains.governance import Governance  # noqa: E402
from sdk.signer import Signer  # noqa: E402
from sdk.system import DRUG_LOTS_ADDRESS, DRUG_TRACE_ADDRESS, SUBMIT_BATCH_MAX_TXS  # noqa: E402
from sdk.types import Transaction  # noqa: E402

BENCH_PRODUCT_KEY = "8690001"
PRODUCTION, EXPIRY = dt.date(2025, 1, 1), dt.date(2029, 12, 31)
_DRUG = Contract("DrugTrace")
_CALL_GAS = 250_000


@dataclass(frozen=True)
class DrugActors:
    """Who acts in the workloads: the MAH (commissions, ships) and a distributor (receives)."""

    mah: Signer
    distributor: Signer
    product_key: str


@dataclass
class WorkloadResult(CommitFigures):
    """What one workload measured; ``per_s`` is items (codes or shipments) committed per second."""

    name: str = ""
    items: int = 0
    transactions: int = 0
    committed: int = 0
    reverted: int = 0
    per_s: float = 0.0
    tx_per_s: float = 0.0
    gas_per_tx: float = 0.0
    sign_per_s: float = 0.0


def prepare_drug_actors(client: Client, network: Path) -> DrugActors:
    """Register a fresh distributor organisation and account (committee vote), grant it DISTRIBUTOR (the
    regulator's delegation) and register the bench product for the MAH when missing (the regulator binds its
    药品标识码 to the MAH's organisation first).

    Takes: a client of the node and the network folder (orgs.json with key files and roles; the first
    three organisations are taken as the committee). Returns: the actors. Raises: XinlianError from the node.
    """
    orgs = DemoNetwork.load(network)
    regulator = Governance(client, orgs.signer_of("DRUG_REGULATOR"))  # reads as the regulator too
    committee_addresses = set(regulator.get_committee())
    committee = [
        Governance(client, signer)
        for signer in (orgs.signer(org) for org in orgs.orgs)
        if signer.address in committee_addresses
    ]
    mah = orgs.signer_of("MAH")
    distributor = Signer.generate()
    uscc = make_uscc(int.from_bytes(secrets.token_bytes(4), "big"), "330100")
    decide(committee, committee[0].register_organisation(uscc, "Bench Medicine Distribution"))
    decide(committee, committee[0].register_account(distributor.address, uscc))
    regulator.grant_role(distributor.address, "DISTRIBUTOR")
    drugs = Drugs(client, mah)
    if drugs.product(BENCH_PRODUCT_KEY) is None:
        mah_uscc = orgs.org("MAH")["uscc"]
        drug_regulator = Drugs(client, regulator.signer)
        if drug_regulator.registrant(BENCH_PRODUCT_KEY) != mah_uscc:
            drug_regulator.assign_key_prefix(KeyScheme.NMPA, BENCH_PRODUCT_KEY, mah_uscc, "bench product")
        drugs.register_product(BENCH_PRODUCT_KEY, "Bench Tablets 10 mg x 30", "国药准字H00000000")
    return DrugActors(mah=mah, distributor=distributor, product_key=BENCH_PRODUCT_KEY)


def make_codes(product_key: str, count: int) -> list[str]:
    """Return ``count`` fresh 20-digit codes of a product (random 13-digit serial block per call)."""
    base = secrets.randbelow(10**12 // max(count, 1)) * count
    return [f"{product_key}{base + i:013d}" for i in range(count)]


def sign_calls(client: Client, signer: Signer, calls: Sequence[tuple[bytes, bytes, int]]) -> list[bytes]:
    """SM2-signed transactions (wire encoding) of ``(to, data, gas)`` calls, expiring well ahead."""
    info = client.chain_info()
    return [
        signer.sign_transaction(
            chain_id=info.chain_id,
            to=to,
            data=data,
            gas_limit=gas,
            expiry_height=info.height + info.expiry_window - 10,
        ).encode()
        for to, data, gas in calls
    ]


def sign_commissions(
    client: Client, actors: DrugActors, codes: Sequence[str], batch_no: str, per_tx: int
) -> list[bytes]:
    """Return SM2-signed ``commission`` transactions (wire encoding) of ``per_tx`` codes each."""
    info = client.chain_info()
    product = compute_product_id(actors.product_key)
    days = (day_of_date(PRODUCTION), day_of_date(EXPIRY))
    calls = []
    for start in range(0, len(codes), per_tx):
        ids = [compute_code_id(c, product) for c in codes[start : start + per_tx]]
        data = _DRUG.encode_call("commission", [product, batch_no, *days, int(Level.UNIT), ids])
        gas = min(info.tx_gas_limit, COMMISSION_GAS_BASE + COMMISSION_GAS_PER_CODE * len(ids))
        calls.append((DRUG_TRACE_ADDRESS, data, gas))
    return sign_calls(client, actors.mah, calls)


def sign_shipments(
    client: Client, actors: DrugActors, codes: Sequence[str], per_shipment: int
) -> list[bytes]:
    """Return SM2-signed ``ship`` transactions (MAH to distributor, bill 201) of ``per_shipment`` codes."""
    info = client.chain_info()
    product = compute_product_id(actors.product_key)
    calls = []
    for start in range(0, len(codes), per_shipment):
        ids = [compute_code_id(c, product) for c in codes[start : start + per_shipment]]
        data = _DRUG.encode_call("ship", [ids, actors.distributor.address, int(BillType.SALE)])
        calls.append(
            (DRUG_TRACE_ADDRESS, data, min(info.tx_gas_limit, _CALL_GAS + MOVE_GAS_PER_CODE * len(ids)))
        )
    return sign_calls(client, actors.mah, calls)


def submit_and_wait(
    url: str,
    raws: Sequence[bytes],
    sender: Signer,
    *,
    clients: int = 4,
    timeout_s: float = 120.0,
    items: Sequence[int] | None = None,
    per_request: int = 1,
) -> WorkloadResult:
    """Submit raw transactions (all signed by ``sender``, who reads their receipts) from ``clients``
    threads while a CommitWatcher timestamps the commits, as every other workload's CommitRun; wait up to
    ``timeout_s`` for every accepted one to commit, then read the receipts (untimed: reverts and gas).

    Returns: a WorkloadResult with committed/refused/reverted counts, the run's figures (seconds from the
    first submission to the last commit seen, commit latency), tx/s, mean gas and ``items``: the sum of
    ``items`` (one count per raw transaction; default 1 each) over the transactions that committed and
    succeeded (``per_s`` is left to the caller). ``per_request`` > 1: up to that many per batch request.
    """
    hashes = [Transaction.decode(raw).tx_hash for raw in raws]
    counts = dict(zip(hashes, items or [1] * len(raws), strict=True))
    result = WorkloadResult(name="")
    with Client(url, timeout=30.0, signer=sender) as client:
        batches = [list(raws[k::clients]) for k in range(clients)]
        run = CommitRun(url, batches, client.chain_info().height, per_request=per_request)
        run.measure(timeout_s)
        result.record(run)
        gas = 0
        for tx_hash in run.committed:
            receipt = client.wait(tx_hash, timeout_s)
            gas += receipt.gas_used
            if receipt.succeeded:
                result.items += counts[tx_hash]
            else:
                result.reverted += 1
    result.committed = len(run.committed)
    result.transactions = len(raws)
    if result.committed:
        result.tx_per_s = result.committed / result.seconds
        result.gas_per_tx = gas / result.committed
    return result


def run_commission_workload(
    url: str,
    actors: DrugActors,
    codes: int,
    *,
    per_tx: int | None = None,
    clients: int = 4,
    per_request: int = SUBMIT_BATCH_MAX_TXS,
) -> WorkloadResult:
    """Commission ``codes`` fresh codes of one batch in transactions of ``per_tx`` (default: the gas-limit
    chunk), sent as ``Drugs.commission`` sends a lot's chunks: together, in batch requests within a node's
    default limits (``per_request`` 1: one ``POST /v1/transactions`` each, for comparison).

    Returns: the result with ``per_s`` = codes committed per second.
    """
    with Client(url) as client:
        size = per_tx or compute_commission_chunk_size(client.chain_info().tx_gas_limit)
        started = time.perf_counter()
        raws = sign_commissions(client, actors, make_codes(actors.product_key, codes), _batch_no(), size)
        sign_s = time.perf_counter() - started
    chunks = [min(size, codes - start) for start in range(0, codes, size)]
    result = submit_and_wait(url, raws, actors.mah, clients=clients, items=chunks, per_request=per_request)
    sent = "batched" if per_request > 1 else "1 per request"
    result.name = f"commission ({size}/tx, {sent})"
    result.per_s = result.items / result.seconds if result.seconds else 0.0
    result.sign_per_s = len(raws) / sign_s if sign_s else 0.0
    return result


def run_lot_workload(
    url: str,
    actors: DrugActors,
    codes: int,
    *,
    materialise: int = 0,
    clients: int = 4,
    per_request: int = SUBMIT_BATCH_MAX_TXS,
) -> list[WorkloadResult]:
    """Commission ``codes`` fresh codes of one batch by their root (DrugLots), in parts as large as the
    chain's limits allow, sent as ``Drugs.commission_lot`` sends them (together, in batch requests); then,
    timed apart, materialise the first ``materialise`` of them (their first movement's extra step), as
    ``Drugs.materialise`` sends them.

    Returns: the commissioning result (``per_s`` = codes committed in parts per second), and the
    materialising one when ``materialise`` (``per_s`` = codes given their word per second).
    """
    with Client(url) as client:
        info = client.chain_info()
        size = compute_lot_part_size(info.tx_gas_limit, info.max_tx_bytes)
        product = compute_product_id(actors.product_key)
        ids = [compute_code_id(c, product) for c in make_codes(actors.product_key, codes)]
        days = (day_of_date(PRODUCTION), day_of_date(EXPIRY))
        built = build_commission_lot_calls(
            product, _batch_no(), days, int(Level.UNIT), ids, part_size=size, tx_gas_limit=info.tx_gas_limit
        )
        raws = sign_calls(client, actors.mah, [(DRUG_LOTS_ADDRESS, data, gas) for _, data, gas in built])
    chunks = [chunk for chunk, _, _ in built]
    lots = submit_and_wait(
        url, raws, actors.mah, clients=clients, items=[len(c) for c in chunks], per_request=per_request
    )
    lots.name = f"commission by root ({size}/part)"
    lots.per_s = lots.items / lots.seconds if lots.seconds else 0.0
    if not materialise:
        return [lots]

    with Client(url, signer=actors.mah) as client:
        calls: list[tuple[bytes, bytes, int]] = []
        counts = []
        left = materialise
        for raw, chunk in zip(raws, chunks, strict=True):
            receipt = client.wait(Transaction.decode(raw).tx_hash, 60.0, check=True)
            number, root = decode_lot_commissioned(receipt)
            part = LotPart(number, product, root, tuple(chunk), receipt.tx_hash)
            wanted = range(min(left, len(chunk)))
            for data, gas, count in build_materialise_calls(part, wanted, info.tx_gas_limit):
                calls.append((DRUG_LOTS_ADDRESS, data, gas))
                counts.append(count)
            left -= len(wanted)
        raws = sign_calls(client, actors.mah, calls)
    made = submit_and_wait(url, raws, actors.mah, clients=clients, items=counts, per_request=per_request)
    made.name = f"materialise ({max(counts)}/tx)"
    made.per_s = made.items / made.seconds if made.seconds else 0.0
    return [lots, made]


def run_shipment_workload(
    url: str, actors: DrugActors, shipments: int, *, codes_per_shipment: int = 10, clients: int = 4
) -> tuple[WorkloadResult, WorkloadResult]:
    """Commission ``shipments * codes_per_shipment`` codes (untimed), then time shipping them MAH →
    distributor (one ``ship`` per shipment) and the distributor's receipts (one ``receive`` per shipment).

    Returns: (shipments result, receipts result), ``per_s`` = shipments per second.
    """
    with Client(url) as client:
        codes = make_codes(actors.product_key, shipments * codes_per_shipment)
        size = compute_commission_chunk_size(client.chain_info().tx_gas_limit)
        setup = submit_and_wait(
            url, sign_commissions(client, actors, codes, _batch_no(), size), actors.mah, clients=clients
        )
        if setup.reverted or setup.refused or setup.committed < setup.transactions:
            raise RuntimeError(f"commissioning for the shipment workload failed: {setup}")
        raws = sign_shipments(client, actors, codes, codes_per_shipment)
    shipped = submit_and_wait(url, raws, actors.mah, clients=clients)
    shipped.name = f"ship ({codes_per_shipment} codes/shipment)"
    shipped.per_s = shipped.items / shipped.seconds if shipped.seconds else 0.0

    with Client(url, signer=actors.distributor) as client:  # the receiver reads the codes it is sent
        info = client.chain_info()
        reader = Drugs(client)
        receipts: list[bytes] = []
        product = compute_product_id(actors.product_key)
        for start in range(0, len(codes), codes_per_shipment):
            ids = [compute_code_id(c, product) for c in codes[start : start + codes_per_shipment]]
            shipment_id = reader.get_code(ids[0]).shipment_id
            data = _DRUG.encode_call("receive", [shipment_id, ids])
            tx = actors.distributor.sign_transaction(
                chain_id=info.chain_id,
                to=DRUG_TRACE_ADDRESS,
                data=data,
                gas_limit=_CALL_GAS + MOVE_GAS_PER_CODE * len(ids),
                expiry_height=info.height + info.expiry_window - 10,
            )
            receipts.append(tx.encode())
    received = submit_and_wait(url, receipts, actors.distributor, clients=clients)
    received.name = f"receive ({codes_per_shipment} codes/shipment)"
    received.per_s = received.items / received.seconds if received.seconds else 0.0
    return shipped, received


def _batch_no() -> str:
    return "BENCH" + secrets.token_hex(4).upper()


def main() -> None:
    """Run both workloads against a node and print the results as JSON lines."""
    parser = demo_parser(__doc__)
    parser.add_argument("--codes", type=int, default=10_000, help="codes to commission")
    parser.add_argument("--shipments", type=int, default=500)
    parser.add_argument("--codes-per-shipment", type=int, default=10)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    with Client(args.url) as client:
        actors = prepare_drug_actors(client, args.network)
    results = [run_commission_workload(args.url, actors, args.codes, clients=args.clients)]
    results += run_shipment_workload(
        args.url, actors, args.shipments, codes_per_shipment=args.codes_per_shipment, clients=args.clients
    )
    for result in results:
        print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
