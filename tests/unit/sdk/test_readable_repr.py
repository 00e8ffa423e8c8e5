"""Result reprs are readable: bytes as 0x hex (long ones shortened), never b'\\x00…', secrets left out."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil

import sdk
from sdk.domains.licences.holder_keys import HolderKeys
from sdk.encoding import show_value
from sdk.signer import Signer
from sdk.types import Log, Transaction

#: Dataclasses with byte fields that keep the plain dataclass repr, and why.
PLAIN_REPR = {
    "sdk.auth.SignedQuery": "request-signing internals, never returned to a caller",
    "sdk.auth.SessionToken": "request-signing internals, never returned to a caller",
    "sdk.auth.Session": "its key is repr=False; internal to the client",
    "sdk.domains.confirmations.envelope.SealedDocument": "ciphertext, shown by its parsed fields elsewhere",
    "sdk.proofs.verify._SetChange": "private step of the verifier",
}


def _dataclasses_with_bytes() -> dict[str, type]:
    found: dict[str, type] = {}
    for info in pkgutil.walk_packages(sdk.__path__, "sdk."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if not (inspect.isclass(obj) and dataclasses.is_dataclass(obj) and obj.__module__ == info.name):
                continue
            if any("bytes" in str(f.type) for f in dataclasses.fields(obj) if f.repr):
                found[f"{info.name}.{name}"] = obj
    return found


def test_show_value_writes_bytes_as_hex() -> None:
    assert show_value(b"\x00\xff") == "0x00ff"
    assert show_value((b"\x01",)) == "(0x01,)"
    assert show_value([b"\x01", 2]) == "[0x01, 2]"
    assert show_value({"k": b"\x02"}) == "{'k': 0x02}"
    assert show_value(b"\xaa" * 65) == "0xaaaaaaaaaaaaaaaa…aaaaaaaa (65 bytes)"
    assert show_value(b"\xaa" * 64) == "0x" + "aa" * 64


def test_results_show_hex_not_byte_literals() -> None:
    log = Log(address=b"\x01" * 20, topics=(b"\x02" * 32,), data=b"\x00" * 3)
    assert repr(log) == f"Log(address=0x{'01' * 20}, topics=(0x{'02' * 32},), data=0x000000)"
    tx = Signer.generate().sign_transaction(
        chain_id=7, to=b"\x03" * 20, data=b"\x00" * 500, gas_limit=100_000, expiry_height=10
    )
    assert isinstance(tx, Transaction)
    assert "b'" not in repr(tx) and f"to=0x{'03' * 20}" in repr(tx) and "(500 bytes)" in repr(tx)


def test_every_result_type_with_bytes_has_a_readable_repr() -> None:
    """A new result dataclass with a byte field gets ``@readable_repr`` or a reason in PLAIN_REPR."""
    plain = []
    for name, cls in _dataclasses_with_bytes().items():
        if name in PLAIN_REPR:
            continue
        sample = object.__new__(cls)
        for f in dataclasses.fields(cls):
            object.__setattr__(sample, f.name, b"\x00" if "bytes" in str(f.type) else None)
        if "b'" in repr(sample):
            plain.append(name)
    assert plain == [], f"add @readable_repr (sdk.encoding) to {plain}"
    assert set(PLAIN_REPR) <= set(_dataclasses_with_bytes()), "PLAIN_REPR names a class that no longer exists"


def test_secrets_stay_out_of_reprs() -> None:
    keys = HolderKeys.generate()
    assert keys.master_secret.hex() not in repr(keys)
