"""The record tables of docs/read-access.md and node/api/access.py agree, and cover every event and every
view function with arguments of the system contracts (so a new event cannot slip past the read policy), and
every function whose call data carries a person's key or commitment."""

from __future__ import annotations

import re
from pathlib import Path

from node.api.access import (
    CALLDATA_RECORDS,
    EVENT_RECORDS,
    VIEW_RECORDS,
    Record,
    calldata_record,
    is_public_bundle,
    view_functions_with_arguments,
)
from sdk.contracts import Contract
from sdk.system import SYSTEM_CONTRACT_ADDRESSES
from sdk.types import Log

DOC = Path(__file__).resolve().parents[3] / "docs" / "read-access.md"
ROW = re.compile(r"\| (\w+) \| `(\w+)` \| (\w+) \| ([\w—]+) \|")


def _section(title: str) -> dict[tuple[str, str], tuple[str, str]]:
    text = DOC.read_text(encoding="utf-8")
    body = text.split(f"### {title}\n", 1)[1].split("\n#", 1)[0]
    return {
        (m[1], m[2]): (m[3], m[4]) for m in (ROW.fullmatch(line.strip()) for line in body.splitlines()) if m
    }


def test_the_events_table_is_the_code_table() -> None:
    documented = _section("Events")
    coded = {
        (contract, event): (kind.value, arg or "—")
        for contract, events in EVENT_RECORDS.items()
        for event, (kind, arg) in events.items()
    }
    assert documented == coded


def test_the_view_functions_table_is_the_code_table() -> None:
    documented = _section("View functions")
    coded = {
        (contract, function): (kind.value, "—" if index is None else str(index))
        for contract, functions in VIEW_RECORDS.items()
        for function, (kind, index) in functions.items()
    }
    assert documented == coded


def test_every_event_of_every_system_contract_belongs_to_a_record() -> None:
    for name in SYSTEM_CONTRACT_ADDRESSES:
        events = {str(e["name"]) for e in Contract(name).abi if e.get("type") == "event"}
        assert events == set(EVENT_RECORDS.get(name, {})), name


def test_every_view_function_with_arguments_is_listed() -> None:
    for name, functions in view_functions_with_arguments().items():
        assert functions == set(VIEW_RECORDS.get(name, {})), name


def test_record_keyed_events_name_an_argument_the_event_has() -> None:
    for name, events in EVENT_RECORDS.items():
        contract = Contract(name)
        for event, (kind, arg) in events.items():
            inputs = {p["name"] for p in contract.get_event(event).get("inputs", [])}
            assert (kind is Record.MEMBER) == (arg is None), (name, event)
            assert arg is None or arg in inputs, (name, event, arg)


def test_the_transaction_bodies_table_is_the_code_table() -> None:
    documented = _section("Transaction bodies")
    coded = {
        (contract, function): (kind.value, str(index))
        for contract, functions in CALLDATA_RECORDS.items()
        for function, (kind, index) in functions.items()
    }
    assert documented == coded


#: Arguments that carry a person's data: a data subject's or licence holder's SM2 key, a subject commitment
#: (the same for every grant about her).
PERSONAL_ARGUMENTS = frozenset({"subject_public_key", "holder_public_key", "subject_commitment"})
#: Functions that carry such an argument and are read as their logs say, and why (docs/read-access.md).
READ_BY_LOGS = {
    ("DataAuthorisation", "request"): "names the subject to the holder it asks: sender, holder, regulator",
}


def _writes(name: str) -> dict[str, list[dict[str, object]]]:
    return {
        str(e["name"]): list(e.get("inputs", []))  # type: ignore[arg-type]
        for e in Contract(name).abi
        if e.get("type") == "function" and e.get("stateMutability") not in ("view", "pure")
    }


def test_every_function_whose_calldata_carries_a_persons_key_or_commitment_is_listed() -> None:
    for name in SYSTEM_CONTRACT_ADDRESSES:
        carrying = {
            function
            for function, inputs in _writes(name).items()
            if PERSONAL_ARGUMENTS & {str(p["name"]) for p in inputs}
        }
        listed = set(CALLDATA_RECORDS.get(name, {}))
        exempt = {function for contract, function in READ_BY_LOGS if contract == name}
        assert carrying - exempt == listed, name


def test_calldata_records_key_a_static_word_the_function_has() -> None:
    for name, functions in CALLDATA_RECORDS.items():
        writes = _writes(name)
        for function, (kind, index) in functions.items():
            assert function in writes, (name, function)
            assert kind is not Record.MEMBER, (name, function)
            assert str(writes[function][index]["type"]) in ("bytes32", "uint256"), (name, function)


def test_calldata_record_reads_the_key_word_of_a_listed_call() -> None:
    contract = Contract("LicenceRegistry")
    address = SYSTEM_CONTRACT_ADDRESSES["LicenceRegistry"]
    id_hash = bytes(range(32))
    data = contract.encode_call("record_use", [id_hash, bytes(32), bytes(32), 1, bytes(64), bytes(64)])
    assert calldata_record(address, data) == (Record.LICENCE, id_hash)
    suspend = contract.encode_call("suspend", [id_hash, "reason"])
    assert calldata_record(address, suspend) is None
    assert calldata_record(SYSTEM_CONTRACT_ADDRESSES["DataAuthorisation"], data) is None


def test_a_call_carrying_a_persons_data_never_makes_a_public_bundle() -> None:
    contract = Contract("LicenceRegistry")
    address = SYSTEM_CONTRACT_ADDRESSES["LicenceRegistry"]
    id_hash = bytes(range(32))
    public_log = Log(address=address, topics=(contract.event_topic("HolderKeyBound"), id_hash), data=b"")
    binding = contract.encode_call("bind_holder_key", [id_hash, bytes(31) + b"\x01"])
    use = contract.encode_call("record_use", [id_hash, bytes(32), bytes(32), 1, bytes(64), bytes(64)])
    assert is_public_bundle(address, binding, [public_log])
    assert not is_public_bundle(address, use, [public_log])  # even if it only emitted public events
    assert not is_public_bundle(address, binding, [])
