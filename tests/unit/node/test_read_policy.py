"""The record tables of docs/read-access.md and node/api/access.py agree, and cover every event and every
view function with arguments of the system contracts (so a new event cannot slip past the read policy)."""

from __future__ import annotations

import re
from pathlib import Path

from node.api.access import EVENT_RECORDS, VIEW_RECORDS, Record, view_functions_with_arguments
from sdk.contracts import Contract
from sdk.system import SYSTEM_CONTRACT_ADDRESSES

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
