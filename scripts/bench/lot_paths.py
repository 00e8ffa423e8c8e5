"""The cost of a lot-commissioned drug code's first movement: SM3 or keccak inclusion paths, on each engine.

The design note on commissioning a lot by the Merkle root of its codes (docs/design-notes/drug-lots.md) leaves
one question to measure first: a code commissioned only through its lot's root gets its word when it first
moves, after proving its leaf in the lot's tree on chain. With SM3 nodes the proof calls the SM3 precompile,
which only py-evm has, so every first movement would leave the native engine; with keccak256 it stays native.

This bench installs a probe contract (scripts/bench/contracts/LotPathProbe.vy, not a product contract) at
genesis, opens one lot of ``--lot`` codes (20-digit code texts), then materialises ``--codes`` distinct codes
of it, ``--per-block`` messages to a block, on each engine and with each hash:

- ``bare``: the word alone, no proof (what ``DrugTrace.commission`` writes per code today);
- ``keccak``: RFC 9162 path with keccak256 nodes, then the word;
- ``sm3``: the same path with SM3 nodes through the precompile at 0x…0a01, then the word.

Then it commissions a lot whose root the contract computes itself: ``--append-codes`` codes (each its text in
one 32-byte word) sent in parts of ``--per-part``, one part to a message and a block, each appended to the
lot's tree frontier in storage; the root it reads back must be the one computed here.

Each run starts from the same genesis on an in-memory node store, so it times execution (the EVM and the state
trie), not SQLite. Rounds alternate the variants; the best round of each is printed, with the gas per message
and, for the native engine, how many messages ran natively. Every message must succeed, and every variant
must leave the same words (a differential check of the two engines on this workload).

Run: ``.venv/bin/python scripts/bench/lot_paths.py [--lot 10000] [--codes 600] [--append-codes 40000]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
from sdk.proofs.merkle import compute_inclusion_proof, compute_root, verify_inclusion

PROBE_ADDRESS = bytes.fromhex("0000000000000000000000000000000000001f00")
CHAIN_ID = 7001
GAS = 5_000_000
HASHES: dict[str, Callable[[bytes], bytes]] = {"keccak": keccak256, "sm3": sm3}
VARIANTS = ("bare", "keccak", "sm3")


@dataclass(frozen=True)
class Lot:
    """One lot's codes and, per hash, its RFC 9162 root and the inclusion path of each code."""

    codes: tuple[bytes, ...]
    roots: dict[str, bytes]
    paths: dict[str, list[tuple[bytes, ...]]]


def build_levels(leaves: Sequence[bytes], h: Callable[[bytes], bytes]) -> list[list[bytes]]:
    """The tree's levels bottom-up (an odd last node is promoted, as RFC 9162's left-full split gives)."""
    levels = [[h(b"\x00" + leaf) for leaf in leaves]]
    while len(levels[-1]) > 1:
        below = levels[-1]
        above = [h(b"\x01" + below[i] + below[i + 1]) for i in range(0, len(below) - 1, 2)]
        if len(below) % 2:
            above.append(below[-1])
        levels.append(above)
    return levels


def path_of(levels: list[list[bytes]], index: int) -> tuple[bytes, ...]:
    path = []
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        index >>= 1
    return tuple(path)


def build_lot(size: int, wanted: int) -> Lot:
    """A lot of ``size`` 20-digit codes; paths of its first ``wanted`` codes, under both hashes. The SM3
    tree is checked against the SDK's (sdk.proofs.merkle), so both trees follow RFC 9162."""
    codes = tuple(f"{83_000_000_000_000_000_000 + i:020d}"[-20:].encode() for i in range(size))
    roots: dict[str, bytes] = {}
    paths: dict[str, list[tuple[bytes, ...]]] = {}
    for name, h in HASHES.items():
        levels = build_levels(codes, h)
        roots[name] = levels[-1][0]
        paths[name] = [path_of(levels, i) for i in range(wanted)]
    if roots["sm3"] != compute_root(list(codes)):
        raise SystemExit("the bench's SM3 tree disagrees with sdk.proofs.merkle")
    for i in (0, wanted // 2, wanted - 1):
        if paths["sm3"][i] != compute_inclusion_proof(list(codes), i):
            raise SystemExit("the bench's SM3 path disagrees with sdk.proofs.merkle")
        verify_inclusion(codes[i], i, size, paths["sm3"][i], roots["sm3"])
    return Lot(codes, roots, paths)


@dataclass
class Run:
    seconds: float
    gas: int
    counts: Counter[str]
    words: tuple[int, ...]
    state_root: bytes


def run_variant(
    engine_name: str,
    variant: str,
    probe: Contract,
    spec: GenesisSpec,
    lot: Lot,
    codes: int,
    per_block: int,
) -> Run:
    """Materialise the first ``codes`` codes of ``lot`` with ``variant`` on a fresh ``engine_name``."""
    engine, root = probe_engine(ENGINES[engine_name], spec, CHAIN_ID)
    sender = b"\x11" * 20
    height = 0

    def block(datas: list[bytes]) -> tuple[float, int]:
        nonlocal root, height
        height += 1
        ctx = BlockContext(height=height, timestamp_ms=height * 1000, gas_limit=10**9, proposer=bytes(20))
        messages = [
            Message(sender, PROBE_ADDRESS, data, GAS, keccak256(data + height.to_bytes(8, "big")))
            for data in datas
        ]
        started = time.perf_counter()
        result = engine.execute_block(root, ctx, messages)
        elapsed = time.perf_counter() - started
        failed = [r.revert_reason for r in result.receipts if r.status != 1]
        if failed:
            raise SystemExit(f"{engine_name}/{variant}: {len(failed)} messages failed: {failed[0]!r}")
        root = result.state_root
        return elapsed, sum(r.gas_used for r in result.receipts)

    # untimed: opening the lot also loads the native engine's mirror of the state
    lot_root = lot.roots["sm3" if variant == "sm3" else "keccak"]
    block([probe.encode_call("open_lot", [lot_root, len(lot.codes)])])
    before = Counter(engine.counts) if isinstance(engine, NativeExecutionEngine) else Counter()
    calls = []
    for i in range(codes):
        if variant == "bare":
            calls.append(probe.encode_call("materialise_bare", [lot.codes[i]]))
        else:
            args = [lot.codes[i], i, list(lot.paths[variant][i]), lot.roots[variant]]
            calls.append(probe.encode_call(f"materialise_{variant}", args))
    seconds, gas = 0.0, 0
    for start in range(0, codes, per_block):
        elapsed, used = block(calls[start : start + per_block])
        seconds += elapsed
        gas += used
    counts = (Counter(engine.counts) - before) if isinstance(engine, NativeExecutionEngine) else Counter()
    leaf_hash = HASHES["sm3" if variant == "sm3" else "keccak"]
    ids = [keccak256(code) if variant == "bare" else leaf_hash(b"\x00" + code) for code in lot.codes[:codes]]
    words = tuple(
        int.from_bytes(engine.call(root, sender, PROBE_ADDRESS, probe.encode_call("words", [i]), GAS), "big")
        for i in ids[:: max(1, codes // 16)]
    )
    return Run(seconds, gas, counts, words, root)


def run_append(engine_name: str, probe: Contract, spec: GenesisSpec, codes: int, per_part: int) -> Run:
    """Commission one lot of ``codes`` codes, ``per_part`` to a message, its root computed on chain."""
    engine, root = probe_engine(ENGINES[engine_name], spec, CHAIN_ID)
    sender = b"\x22" * 20
    words = [f"{86_000_000_000_000_000_000 + i:020d}"[-20:].encode().ljust(32, b"\x00") for i in range(codes)]
    before = Counter(engine.counts) if isinstance(engine, NativeExecutionEngine) else Counter()
    seconds, gas = 0.0, 0
    for height, start in enumerate(range(0, codes, per_part), start=1):
        data = probe.encode_call("append_codes", [words[start : start + per_part]])
        ctx = BlockContext(height=height, timestamp_ms=height * 1000, gas_limit=10**9, proposer=bytes(20))
        message = Message(sender, PROBE_ADDRESS, data, 40 * per_part * 1000, keccak256(data))
        started = time.perf_counter()
        result = engine.execute_block(root, ctx, [message])
        seconds += time.perf_counter() - started
        receipt = result.receipts[0]
        if receipt.status != 1:
            raise SystemExit(f"{engine_name}/append: part at {start} failed: {receipt.revert_reason!r}")
        gas += receipt.gas_used
        root = result.state_root
    counts = (Counter(engine.counts) - before) if isinstance(engine, NativeExecutionEngine) else Counter()
    on_chain = engine.call(root, sender, PROBE_ADDRESS, probe.encode_call("lot_root", []), GAS)
    if on_chain != build_levels(words, HASHES["keccak"])[-1][0]:
        raise SystemExit(f"{engine_name}/append: the root computed on chain is not the lot's")
    return Run(seconds, gas, counts, (1,), root)


def native_share(counts: Counter[str]) -> str:
    """How many messages ran natively, and why the others did not."""
    if not counts:
        return ""
    total = sum(counts.values())
    return f"{counts.get('native', 0)}/{total}" + "".join(
        f" ({reason}: {n})" for reason, n in counts.items() if reason != "native"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lot", type=int, default=10_000, help="codes in the lot (default 10000: 14 levels)")
    parser.add_argument("--codes", type=int, default=600, help="codes materialised per run (default 600)")
    parser.add_argument("--per-block", type=int, default=100, help="messages per block (default 100)")
    parser.add_argument("--append-codes", type=int, default=40_000, help="codes of the lot built on chain")
    parser.add_argument("--per-part", type=int, default=2000, help="codes per append message (max 4000)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds, best kept (default 2)")
    parser.add_argument(
        "--engines", type=engine_list, default="pyevm,native", help="comma-separated (default pyevm,native)"
    )
    args = parser.parse_args()
    if not 1 <= args.codes <= args.lot:
        parser.error("--codes must be between 1 and --lot")
    if not 1 <= args.per_part <= 4000 or args.append_codes < 1:
        parser.error("--per-part must be between 1 and 4000, --append-codes at least 1")
    engines = args.engines

    probe, runtime = compile_probe("LotPathProbe")
    # one genesis for every run: the engines must end at the same roots
    spec = probe_genesis("LotPathProbe", PROBE_ADDRESS, runtime)
    started = time.perf_counter()
    lot = build_lot(args.lot, args.codes)
    depth = len(lot.paths["sm3"][0])
    print(
        f"lot of {args.lot} codes ({depth} path elements per code), {args.codes} codes materialised per run, "
        f"{args.per_block} per block; trees built in {time.perf_counter() - started:.1f} s; "
        f"load {os.getloadavg()[0]:.2f}"
    )
    best: dict[tuple[str, str], Run] = {}
    for _ in range(args.rounds):
        for engine_name in engines:
            for variant in VARIANTS:
                run = run_variant(engine_name, variant, probe, spec, lot, args.codes, args.per_block)
                key = (engine_name, variant)
                if key not in best or run.seconds < best[key].seconds:
                    best[key] = run
            run = run_append(engine_name, probe, spec, args.append_codes, args.per_part)
            if (engine_name, "append") not in best or run.seconds < best[engine_name, "append"].seconds:
                best[engine_name, "append"] = run
    if any(set(run.words) != {1} for run in best.values()):
        raise SystemExit("a materialised code has no word")
    for variant in (*VARIANTS, "append"):  # the engines must agree on the state each variant leaves
        roots = {best[engine_name, variant].state_root for engine_name in engines}
        if len(roots) != 1:
            raise SystemExit(f"{variant}: the engines left different state roots")
    print(f"{'engine':<7} {'variant':<7} {'codes/s':>9} {'ms/code':>8} {'gas/code':>9}  ran natively")
    for (engine_name, variant), run in best.items():
        if variant == "append":
            continue
        per_s = args.codes / run.seconds
        print(
            f"{engine_name:<7} {variant:<7} {per_s:>9,.0f} {1000 / per_s:>8.2f} "
            f"{run.gas // args.codes:>9,}  {native_share(run.counts)}"
        )
    print(
        f"\ncommissioning a lot of {args.append_codes} codes, its root computed on chain, "
        f"{args.per_part} codes per message:"
    )
    print(f"{'engine':<7} {'codes/s':>9} {'µs/code':>8} {'gas/code':>9}  ran natively")
    for engine_name in engines:
        run = best[engine_name, "append"]
        per_s = args.append_codes / run.seconds
        print(
            f"{engine_name:<7} {per_s:>9,.0f} {1e6 / per_s:>8.1f} {run.gas // args.append_codes:>9,}  "
            f"{native_share(run.counts)}"
        )
    print(f"load {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
