"""The Verifier's hard-coded knowledge of contracts matches them: storage layout, events, addresses."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from eth_utils.abi import event_abi_to_log_topic

from sdk.contracts import load_abi
from sdk.proofs.licence import LICENCE_ISSUED_TOPIC, LICENCE_STATUS_RULE
from sdk.proofs.verify import KNOWN_CONTRACTS

ROOT = Path(__file__).resolve().parents[3]
SOURCE = ROOT / "contracts" / "LicenceRegistry.vy"
BUILD = ROOT / "contracts" / "build" / "LicenceRegistry.json"


def _slots(vyper_type: str) -> int:
    """Storage words of a struct member type (only the types a Licence uses)."""
    m = re.fullmatch(r"(String|Bytes)\[(\d+)\]", vyper_type)
    if m:
        return 1 + (int(m.group(2)) + 31) // 32
    if vyper_type in ("bytes32", "address", "uint256", "uint8", "bool", "bytes12", "uint64"):
        return 1
    raise AssertionError(f"teach this test the size of {vyper_type}")


@pytest.mark.skipif(not BUILD.exists(), reason="LicenceRegistry is not built")
def test_licence_lifecycle_slot_matches_the_contract() -> None:
    layout = json.loads(BUILD.read_text(encoding="utf-8"))["storage_layout"]["storage_layout"]
    assert layout["licences"]["slot"] == LICENCE_STATUS_RULE.base_slot
    assert layout["licences"]["type"] == "HashMap[bytes32, Licence]"
    body = SOURCE.read_text(encoding="utf-8").split("\nstruct Licence:\n", 1)[1].split("\n\n", 1)[0]
    offset = 0
    for line in body.splitlines():
        m = re.match(r"\s+(\w+): ([\w\[\]]+)", line)
        if not m:
            continue
        if m.group(1) == "lifecycle":
            assert "state | suspended_since << 64 | ended_at << 128" in line
            break
        offset += _slots(m.group(2))
    else:
        raise AssertionError("struct Licence has no lifecycle member")
    assert offset == LICENCE_STATUS_RULE.offset
    assert LICENCE_STATUS_RULE.field_bits == 64


def test_licence_status_codes_match_the_contract() -> None:
    source = SOURCE.read_text(encoding="utf-8")
    for code, name in LICENCE_STATUS_RULE.names.items():
        assert re.search(rf"STATUS_{name}: public\(constant\(uint8\)\) = {code}\b", source), name


def test_licence_issued_topic_matches_the_shipped_abi() -> None:
    event = next(
        e for e in load_abi("LicenceRegistry") if e.get("type") == "event" and e["name"] == "LicenceIssued"
    )
    assert bytes(event_abi_to_log_topic(event)) == LICENCE_ISSUED_TOPIC


def test_known_contract_addresses_match_genesis() -> None:
    from node.genesis import SYSTEM_CONTRACT_ADDRESSES

    assert {v: k for k, v in SYSTEM_CONTRACT_ADDRESSES.items()} == KNOWN_CONTRACTS
