"""What the node's lot index costs a block commit: the same blocks of DrugLots ``commission_lot`` transactions
committed to a real Store twice in one run, once to DrugLots (indexed: one ``lot_codes`` row a code) and once
addressed to another contract (the baseline: nothing to index), alternating block by block.

Reports the commit time a block and a code for both, and the bytes the ``lot_codes`` table and its index hold
a code (SQLite ``dbstat``, deterministic). Storage only: no EVM runs, and each transaction's receipt carries
the ``LotCommissioned`` log DrugLots would write (``scripts/bench/node.py --lot-codes`` times the whole path).

    .venv/bin/python scripts/bench/lot_index.py                  # 32 blocks of 2 parts of 3,142 codes
    .venv/bin/python scripts/bench/lot_index.py --blocks 64 --parts 1 --json
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from eth_abi.abi import encode as abi_encode  # noqa: E402
from sqlalchemy import text  # noqa: E402

from node.storage import Store  # noqa: E402
from scripts.bench.disk import sqlite_table_bytes  # noqa: E402
from sdk.crypto import PrivateKey  # noqa: E402
from sdk.domains.drugs.lots import LOTS_CONTRACT, LotTree  # noqa: E402
from sdk.system import DRUG_LOTS_ADDRESS  # noqa: E402
from sdk.types import (  # noqa: E402
    Block,
    BlockHeader,
    CommitCertificate,
    Log,
    Receipt,
    Seal,
    Transaction,
    commit_preimage,
)

CHAIN_ID = 1
PART = 3142  # Drugs.commission_lot's part at the default 5,000,000 gas
PRODUCT = bytes.fromhex("86120012345678ab") + bytes(24)
OTHER_ADDRESS = b"\xcc" * 20
TOPIC = LOTS_CONTRACT.event_topic("LotCommissioned")


class _Chain:
    """Linked blocks sealed by one validator, with the receipts DrugLots would give each part."""

    def __init__(self) -> None:
        self.validator = PrivateKey.generate()
        self.sender = PrivateKey.generate()
        self.height = 0
        self.parent = bytes(32)
        self.parts = 0

    def block(self, to: bytes, parts: list[list[bytes]]) -> tuple[Block, CommitCertificate, list[Receipt]]:
        txs, receipts = [], []
        for codes in parts:
            self.parts += 1
            data = LOTS_CONTRACT.encode_call("commission_lot", [PRODUCT, "B001", 20000, 20700, 1, codes])
            tx = Transaction.create(
                self.sender, chain_id=CHAIN_ID, to=to, data=data, gas_limit=5_000_000, expiry_height=10**9
            )
            body = abi_encode(
                ["string", "uint8", "bytes32", "uint256"], ["B001", 1, LotTree(codes).root, len(codes)]
            )
            topics = (
                TOPIC,
                self.parts.to_bytes(32, "big"),
                PRODUCT,
                bytes(12) + self.sender.public_key.address,
            )
            txs.append(tx)
            receipts.append(Receipt(tx.tx_hash, 1, 4_500_000, (Log(DRUG_LOTS_ADDRESS, topics, body),), b""))
        header = BlockHeader(
            version=1,
            chain_id=CHAIN_ID,
            height=self.height,
            parent_hash=self.parent,
            timestamp_ms=1_700_000_000_000 + self.height * 1000,
            round=0,
            proposer_index=0,
            tx_root=secrets.token_bytes(32),
            receipt_root=secrets.token_bytes(32),
            state_root=secrets.token_bytes(32),
            history_root=secrets.token_bytes(32),
            validators_hash=bytes(32),
            next_validators_hash=bytes(32),
            gas_used=0,
        )
        block = Block(header=header, transactions=tuple(txs))
        seal = Seal(0, self.validator.sign(commit_preimage(CHAIN_ID, header.height, 0, header.block_hash)))
        certificate = CommitCertificate(
            height=header.height, round=0, block_hash=header.block_hash, seals=(seal,)
        )
        self.height += 1
        self.parent = header.block_hash
        return block, certificate, receipts


def codes(count: int) -> list[bytes]:
    return [PRODUCT[:8] + secrets.token_bytes(24) for _ in range(count)]


def run(blocks: int, parts: int, workdir: Path) -> dict[str, Any]:
    stores = {
        "indexed": Store(f"sqlite:///{workdir / 'indexed.db'}"),
        "baseline": Store(f"sqlite:///{workdir / 'baseline.db'}"),
    }
    chains = {name: _Chain() for name in stores}
    seconds: dict[str, list[float]] = {name: [] for name in stores}
    try:
        for name, store in stores.items():  # genesis, untimed
            block, certificate, receipts = chains[name].block(DRUG_LOTS_ADDRESS, [])
            store.commit_block(block, certificate, receipts, state_nodes={})
        for _ in range(blocks):
            lot = [codes(PART) for _ in range(parts)]  # the same codes for both
            for name in ("indexed", "baseline"):
                to = DRUG_LOTS_ADDRESS if name == "indexed" else OTHER_ADDRESS
                block, certificate, receipts = chains[name].block(to, lot)
                started = time.perf_counter()
                stores[name].commit_block(block, certificate, receipts, state_nodes={})
                seconds[name].append(time.perf_counter() - started)
        per_code = blocks * parts * PART
        with stores["indexed"]._db.engine.connect() as conn:
            indexed_rows = int(conn.execute(text("SELECT count(*) FROM lot_codes")).scalar_one())
        with stores["baseline"]._db.engine.connect() as conn:
            baseline_rows = int(conn.execute(text("SELECT count(*) FROM lot_codes")).scalar_one())
        table = sqlite_table_bytes(workdir / "indexed.db").get("lot_codes", 0)
        result: dict[str, Any] = {"blocks": blocks, "parts_per_block": parts, "codes": per_code}
        for name, times in seconds.items():
            result[name] = {
                "ms_per_block_p50": statistics.median(times) * 1000,
                "ms_per_block_mean": statistics.fmean(times) * 1000,
                "us_per_code": sum(times) / per_code * 1e6,
            }
        result["index_us_per_code"] = result["indexed"]["us_per_code"] - result["baseline"]["us_per_code"]
        result["lot_codes_bytes_per_code"] = table / per_code
        result["indexed_rows"], result["baseline_rows"] = indexed_rows, baseline_rows
        return result
    finally:
        for store in stores.values():
            store.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--blocks", type=int, default=32, help="blocks committed to each store (default 32)")
    parser.add_argument("--parts", type=int, default=2, help=f"parts of {PART} codes a block (default 2)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xinlian-lot-index-") as tmp:
        result = run(args.blocks, args.parts, Path(tmp))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{result['codes']} codes in {args.blocks} blocks of {args.parts} parts of {PART}; SQLite (FULL sync)"
    )
    print("  store       ms/block p50  ms/block mean  µs/code")
    for name in ("indexed", "baseline"):
        row = result[name]
        p50, mean, per_code = row["ms_per_block_p50"], row["ms_per_block_mean"], row["us_per_code"]
        print(f"  {name:<10}  {p50:12.1f}  {mean:13.1f}  {per_code:7.2f}")
    cost, size = result["index_us_per_code"], result["lot_codes_bytes_per_code"]
    print(f"  the index: {cost:.2f} µs a code at commit, {size:.1f} B a code on disk (lot_codes and its key)")


if __name__ == "__main__":
    main()
