"""SM3 in EVM code against the SM3 precompile, on each engine: what it would take to run `issue` natively.

Issuing a licence hashes its type code and its identifier with SM3 through the precompile at 0x…0a01, which
only py-evm has, so `LicenceRegistry.issue` never runs on the native engine (pyrevm 0.3.7 cannot host a
custom precompile). SM3 written in EVM code would run on both. This bench installs a probe contract
(scripts/bench/contracts/Sm3Probe.vy, not a product contract) at genesis and, on each engine, executes
``--messages`` messages in blocks of ``--per-block``, each hashing a fresh ``--bytes``-byte input and storing
the digest:
- ``evm``: SM3 computed in EVM code (``record_evm``);
- ``precompile``: SM3 through the precompile (``record_precompile``).

Every stored digest must be the SDK's SM3 of its input, and both engines must leave the same state root for
each variant (a differential check). Before timing, SM3 in EVM code is checked against the SDK for every input
length from 0 to ``--check-up-to`` (200) bytes, executed in a block on each engine (natively on the native
one). It prints messages/s, ms per message, gas per message and how many messages the native engine ran
natively.

Run: ``.venv/bin/python scripts/bench/sm3_evm.py [--messages 200] [--bytes 40] [--per-block 50] [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from eth_hash.auto import keccak as keccak256

from node.execution import NativeExecutionEngine
from node.execution.types import BlockContext, Message
from node.genesis import GenesisSpec
from scripts.bench.probes import compile_probe, probe_engine, probe_genesis
from scripts.bench.replay import ENGINES, engine_list
from sdk.contracts import Contract
from sdk.crypto import sm3

PROBE_ADDRESS = bytes.fromhex("0000000000000000000000000000000000001f01")
CHAIN_ID = 7002
GAS = 5_000_000
SENDER = b"\x11" * 20
VARIANTS = ("evm", "precompile")
#: Inputs checked against the SDK on each engine before timing: every length up to this (1 to 4 SM3 blocks).
CHECK_UP_TO = 200


@dataclass
class Run:
    engine: str
    variant: str
    messages: int
    seconds: float
    gas_per_message: int
    ran: dict[str, int]
    state_root: str

    @property
    def per_s(self) -> float:
        return self.messages / self.seconds


def check_digests(name: str, probe: Contract, spec: GenesisSpec, up_to: int) -> None:
    """SM3 in EVM code stores the SDK's SM3 for every input length from 0 to ``up_to``, executed in one block
    on engine ``name`` (the native engine must run every message natively)."""
    engine, root = probe_engine(ENGINES[name], spec, CHAIN_ID)
    inputs = [os.urandom(length) for length in range(up_to + 1)]
    ctx = BlockContext(height=1, timestamp_ms=1000, gas_limit=10**9, proposer=bytes(20))
    messages = [
        Message(SENDER, PROBE_ADDRESS, probe.encode_call("record_evm", [data]), GAS, keccak256(data))
        for data in inputs
    ]
    result = engine.execute_block(root, ctx, messages)
    if any(r.status != 1 for r in result.receipts):
        raise SystemExit(f"{name}: a length check failed to execute")
    if isinstance(engine, NativeExecutionEngine) and engine.counts.get("native", 0) != len(inputs):
        raise SystemExit(f"{name}: the length checks did not all run natively: {dict(engine.counts)}")
    for data in inputs:  # the stored digests, read back
        query = probe.encode_call("digests", [keccak256(data)])
        if engine.call(result.state_root, SENDER, PROBE_ADDRESS, query, GAS) != sm3(data):
            raise SystemExit(f"{name}: SM3 in EVM code differs from the SDK's for {len(data)} bytes")


def run_variant(
    name: str, variant: str, probe: Contract, spec: GenesisSpec, inputs: list[bytes], per_block: int
) -> Run:
    engine, root = probe_engine(ENGINES[name], spec, CHAIN_ID)
    before = Counter(engine.counts) if isinstance(engine, NativeExecutionEngine) else Counter()
    seconds, gas, call = 0.0, 0, f"record_{variant}"
    for height, start in enumerate(range(0, len(inputs), per_block), start=1):
        ctx = BlockContext(height=height, timestamp_ms=height * 1000, gas_limit=10**9, proposer=bytes(20))
        messages = [
            Message(SENDER, PROBE_ADDRESS, probe.encode_call(call, [data]), GAS, keccak256(data))
            for data in inputs[start : start + per_block]
        ]
        started = time.perf_counter()
        result = engine.execute_block(root, ctx, messages)
        seconds += time.perf_counter() - started
        failed = [r.revert_reason for r in result.receipts if r.status != 1]
        if failed:
            raise SystemExit(f"{name}/{variant}: {len(failed)} messages failed: {failed[0]!r}")
        root = result.state_root
        gas += sum(r.gas_used for r in result.receipts)
    for data in inputs[:: max(1, len(inputs) // 16)]:
        query = probe.encode_call("digests", [keccak256(data)])
        stored = engine.call(root, SENDER, PROBE_ADDRESS, query, GAS)
        if stored != sm3(data):
            raise SystemExit(f"{name}/{variant}: a stored digest is not the SDK's SM3 of its input")
    ran = (Counter(engine.counts) - before) if isinstance(engine, NativeExecutionEngine) else Counter()
    return Run(name, variant, len(inputs), seconds, gas // len(inputs), dict(ran), root.hex())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=200, help="messages per run (default 200)")
    parser.add_argument("--bytes", type=int, default=40, help="input bytes a message, 0 to 256 (default 40)")
    parser.add_argument("--per-block", type=int, default=50, help="messages per block (default 50)")
    parser.add_argument(
        "--engines", type=engine_list, default="pyevm,native", help="comma-separated (default pyevm,native)"
    )
    parser.add_argument(
        "--check-up-to", type=int, default=CHECK_UP_TO, help=f"check lengths 0 to N (default {CHECK_UP_TO})"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    sizes_ok = all(0 <= n <= 256 for n in (args.bytes, args.check_up_to))
    if min(args.messages, args.per_block) < 1 or not sizes_ok:
        parser.error("--messages and --per-block take 1 or more, --bytes and --check-up-to 0 to 256")
    engines = args.engines

    probe, runtime = compile_probe("Sm3Probe")
    # one genesis for every run: the engines must end at the same roots
    spec = probe_genesis("Sm3Probe", PROBE_ADDRESS, runtime)
    for name in engines:
        check_digests(name, probe, spec, args.check_up_to)
    inputs = [os.urandom(args.bytes) for _ in range(args.messages)]
    runs = [
        run_variant(name, variant, probe, spec, inputs, args.per_block)
        for name in engines
        for variant in VARIANTS
    ]
    for variant in VARIANTS:
        if len({run.state_root for run in runs if run.variant == variant}) != 1:
            raise SystemExit(f"{variant}: the engines left different state roots")
    if args.json:
        print(
            json.dumps(
                {
                    "bytes": args.bytes,
                    "checked_up_to": args.check_up_to,
                    "runs": [asdict(run) | {"per_s": run.per_s} for run in runs],
                }
            )
        )
        return 0
    print(
        f"{args.messages} messages of {args.bytes} bytes each, {args.per_block} to a block; SM3 in EVM code "
        f"matched the SDK for inputs of 0-{args.check_up_to} bytes on each engine"
    )
    print(f"{'engine':<7} {'variant':<11} {'messages/s':>10} {'ms/message':>10} {'gas/message':>11}  ran")
    for run in runs:
        ran = ", ".join(f"{reason}: {n}" for reason, n in run.ran.items())
        print(
            f"{run.engine:<7} {run.variant:<11} {run.per_s:>10,.0f} {1000 / run.per_s:>10.2f} "
            f"{run.gas_per_message:>11,}  {ran}"
        )
    print(f"load {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
