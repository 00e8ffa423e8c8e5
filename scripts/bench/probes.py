"""Bench probe contracts (scripts/bench/contracts/, not product contracts): compiled, installed at genesis,
and run on an execution engine that trusts them as it trusts the system contracts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import vyper
from eth_hash.auto import keccak as keccak256
from vyper.compiler.settings import Settings

from node.execution import ExecutionEngine, NativeExecutionEngine
from node.genesis import GenesisAccount, GenesisOrganisation, GenesisSpec, SystemContract
from sdk.contracts import Contract
from sdk.crypto import PrivateKey

CONTRACTS = Path(__file__).resolve().parent / "contracts"


def compile_probe(name: str) -> tuple[Contract, bytes]:
    """The ABI and runtime code of ``contracts/<name>.vy``, compiled with the contracts' Vyper for Prague."""
    out = vyper.compile_code(
        (CONTRACTS / f"{name}.vy").read_text(encoding="utf-8"),
        output_formats=["abi", "bytecode_runtime"],
        settings=Settings(evm_version="prague"),
    )
    return Contract.from_abi(name, out["abi"]), bytes.fromhex(out["bytecode_runtime"][2:])


def probe_genesis(name: str, address: bytes, runtime: bytes) -> GenesisSpec:
    """A one-validator genesis with one organisation and member, and the probe installed at ``address``."""
    member = PrivateKey.generate().public_key.address
    return GenesisSpec(
        validators=(PrivateKey.generate().public_key.to_bytes(),),
        organisations=(GenesisOrganisation("91110000100000000A", "Bench organisation"),),
        accounts=(GenesisAccount(member, "91110000100000000A"),),
        committee=(member,),
        threshold=1,
        system_contracts=(SystemContract(name, address, runtime),),
    )


def probe_engine(
    make_engine: Callable[..., ExecutionEngine], spec: GenesisSpec, chain_id: int
) -> tuple[ExecutionEngine, bytes]:
    """A fresh engine (``make_engine(store, chain_id)``, e.g. a value of ``replay.ENGINES``) on an in-memory
    node store and its genesis root; a native engine trusts the probe."""
    engine = make_engine({}, chain_id)
    if isinstance(engine, NativeExecutionEngine):  # the probe is the bench's own trusted code
        engine.trusted_code = engine.trusted_code | {keccak256(spec.system_contracts[0].runtime_code)}
    return engine, engine.create_genesis(spec)
