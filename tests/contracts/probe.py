"""A probe contract, installed at genesis on a real engine, that calls the SM3 and SM2-verify precompiles
from Vyper; and the SM2 inputs the precompile tests feed it."""

from __future__ import annotations

from typing import Any

import vyper
from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector

from node.execution import BlockContext, ExecutionEngine
from node.genesis import GenesisAccount, GenesisOrganisation, GenesisSpec, SystemContract
from sdk.crypto import PrivateKey

PROBE_ADDRESS = bytes.fromhex("00000000000000000000000000000000000a0b0e")
MEMBER = bytes([0x11]) * 20
ORG = "91350100M000100Y43"
KEYS = [PrivateKey.generate() for _ in range(3)]

PROBE_SOURCE = """
# pragma version 0.4.3
# pragma evm-version prague
SM3_PRECOMPILE: constant(address) = 0x0000000000000000000000000000000000000a01
SM2_PRECOMPILE: constant(address) = 0x0000000000000000000000000000000000000a02

@view
@external
def hash(data: Bytes[2048]) -> bytes32:
    out: Bytes[32] = raw_call(SM3_PRECOMPILE, data, max_outsize=32, is_static_call=True)
    return convert(out, bytes32)

@view
@external
def verify(data: Bytes[2048]) -> uint256:
    out: Bytes[32] = raw_call(SM2_PRECOMPILE, data, max_outsize=32, is_static_call=True)
    return convert(out, uint256)

@view
@external
def try_with_gas(target: address, data: Bytes[2048], gas_limit: uint256) -> (bool, Bytes[32]):
    ok: bool = False
    out: Bytes[32] = b""
    ok, out = raw_call(target, data, max_outsize=32, gas=gas_limit, is_static_call=True,
                       revert_on_failure=False)
    return ok, out
"""


def sm2_input(key: PrivateKey, message: bytes) -> bytes:
    return key.public_key.to_bytes() + key.sign(message) + message


class Probe:
    """The probe contract installed at genesis on a real engine."""

    def __init__(self) -> None:
        runtime = bytes.fromhex(
            vyper.compile_code(PROBE_SOURCE, output_formats=["bytecode_runtime"])["bytecode_runtime"][2:]
        )
        spec = GenesisSpec(
            validators=(bytes([1]) * 64,),
            organisations=(GenesisOrganisation(ORG, "Committee Org"),),
            accounts=(GenesisAccount(MEMBER, ORG),),
            committee=(MEMBER,),
            threshold=1,
            system_contracts=(SystemContract("Probe", PROBE_ADDRESS, runtime),),
        )
        self.engine = ExecutionEngine({}, chain_id=7)
        self.root = self.engine.create_genesis(spec)

    def call(self, signature: str, types: list[str], args: list[Any], out: list[str]) -> Any:
        data = function_signature_to_4byte_selector(signature) + encode(types, args)
        ctx = BlockContext(height=1, timestamp_ms=1000, gas_limit=30_000_000, proposer=MEMBER)
        return decode(out, self.engine.call(self.root, MEMBER, PROBE_ADDRESS, data, 5_000_000, ctx=ctx))

    def sm3(self, data: bytes) -> bytes:
        return bytes(self.call("hash(bytes)", ["bytes"], [data], ["bytes32"])[0])

    def verify(self, data: bytes) -> int:
        return int(self.call("verify(bytes)", ["bytes"], [data], ["uint256"])[0])

    def try_with_gas(self, target: bytes, data: bytes, gas: int) -> tuple[bool, bytes]:
        ok, out = self.call(
            "try_with_gas(address,bytes,uint256)",
            ["address", "bytes", "uint256"],
            [target, data, gas],
            ["bool", "bytes"],
        )
        return bool(ok), bytes(out)
