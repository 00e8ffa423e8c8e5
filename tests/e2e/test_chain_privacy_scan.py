"""Everything the README's walkthroughs put on chain, scanned for identifiers that link records.

The six walkthrough scripts (the demo workloads of every family) run against a real node; then every
transaction's call data, every log's topics and data, and every storage word of the system contracts at the
head are read back from the node's own database and checked against the data-minimisation rules of
docs/read-access.md:

- no hash of an organisation's USCC (the old letter-party topic) in any business log or storage word, and no
  USCC at all in a confirmation letter's logs or storage, although the workload sends several letters to one
  bank;
- a person's key (a data subject's, a licence holder's) never in a log or a storage word in clear, by keccak
  or as an address; its SM3 hash and a person's commitment only within one record (a licence and its
  renewals, one subject's key binding); the calls that carry a person's key only those the read policy
  confines to their sender and the record's regulator (``CALLDATA_RECORDS``);
- every indexed actor of a business event is a registered member account, and every per-record tag
  (``*_tag``, ``key_hash``) belongs to one record.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_abi.abi import decode as abi_decode
from eth_hash.auto import keccak
from eth_utils.abi import function_abi_to_4byte_selector
from trie.hexary import HexaryTrie
from trie.iter import NodeIterator

from node.api.access import CALLDATA_RECORDS
from node.config import NodeConfig
from node.runtime import Node
from sdk.contracts import Contract, DecodedEvent
from sdk.crypto.sm3 import sm3
from sdk.system import SYSTEM_CONTRACT_ADDRESSES
from sdk.types import Log
from tests.e2e.helpers import run_walkthrough, start_demo_network

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

WORKLOADS = (
    "demo_governance.py",
    "demo_licences.py",
    "demo_authorisations.py",
    "demo_drugs.py",
    "demo_confirmations.py",
    "demo_verify.py",
)
BUSINESS = ("LicenceRegistry", "DataAuthorisation", "DrugTrace", "BankConfirmation")
CONTRACT_OF = {address: name for name, address in SYSTEM_CONTRACT_ADDRESSES.items()}
#: Indexed event parameters naming who acted (an account address).
ACTORS = frozenset(
    {"authority", "issuer", "by", "user", "registrant", "requester", "regulator", "recorded_by"}
    | {"sender", "receiver", "actor"}
)


@dataclass(frozen=True)
class Call:
    tx_hash: bytes
    contract: str
    function: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Event:
    tx_hash: bytes
    log: Log
    decoded: DecodedEvent

    @property
    def contract(self) -> str:
        return CONTRACT_OF[self.log.address]

    def words(self) -> Iterator[bytes]:
        """The topics after the event's own and every 32-byte word of its data."""
        yield from self.log.topics[1:]
        data = self.log.data
        yield from (data[i : i + 32] for i in range(0, len(data) - 31, 32))


@dataclass
class Chain:
    calls: list[Call] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    storage: dict[str, set[bytes]] = field(default_factory=dict)  # contract -> storage values (32 bytes)
    members: set[bytes] = field(default_factory=set)  # 32-byte topics that are registered member accounts

    def of(self, contract: str, name: str) -> list[Any]:
        """The calls or events named ``name`` of ``contract``."""
        found: list[Any] = [c for c in self.calls if (c.contract, c.function) == (contract, name)]
        return found + [e for e in self.events if (e.contract, e.decoded.name) == (contract, name)]

    def business_words(self) -> Iterator[tuple[str, bytes]]:
        """(where, word) of every log word and storage word of the business contracts."""
        for event in self.events:
            if event.contract in BUSINESS:
                for word in event.words():
                    yield f"{event.contract}.{event.decoded.name}", word
        for contract in BUSINESS:
            for word in self.storage[contract]:
                yield f"{contract} storage", word


def _decode_call(tx_hash: bytes, to: bytes, data: bytes) -> Call:
    contract = Contract(CONTRACT_OF[to])
    for entry in contract.abi:
        if entry["type"] == "function" and function_abi_to_4byte_selector(entry) == data[:4]:  # type: ignore[arg-type]
            kinds = [str(p["type"]) for p in entry["inputs"]]
            values = abi_decode(kinds, data[4:])
            args = {str(p["name"]): v for p, v in zip(entry["inputs"], values, strict=True)}
            return Call(tx_hash, contract.name, str(entry["name"]), args)
    raise AssertionError(f"a transaction to {contract.name} calls no function of its ABI")


def _storage_values(db: Any, storage_root: bytes) -> set[bytes]:
    return {
        int.from_bytes(rlp.decode(encoded), "big").to_bytes(32, "big")
        for _, encoded in NodeIterator(HexaryTrie(db, storage_root)).items()
    }


def _read_chain(config_path: Path) -> Chain:
    """Every call, log and storage word the node at ``config_path`` (stopped) has committed."""
    node = Node(NodeConfig.load(config_path))
    chain = Chain()
    try:
        ledger = node.ledger
        for height in range(1, ledger.head.header.height + 1):
            block, receipts = ledger.get_block(height), ledger.get_block_receipts(height)
            assert block is not None and receipts is not None
            for tx, receipt in zip(block.transactions, receipts, strict=True):
                chain.calls.append(_decode_call(tx.tx_hash, tx.to, tx.data))
                for log in receipt.logs:
                    decoded = Contract(CONTRACT_OF[log.address]).decode_log(log)
                    chain.events.append(Event(tx.tx_hash, log, decoded))
                    chain.members |= {
                        topic for topic in log.topics[1:] if ledger.organisation_of(topic[12:]) != ""
                    }
        db = node.state_db
        for key, encoded in NodeIterator(HexaryTrie(db, ledger.head.header.state_root)).items():
            address = bytes(db[key])
            if address in CONTRACT_OF:
                chain.storage[CONTRACT_OF[address]] = _storage_values(db, rlp.decode(encoded)[2])
    finally:
        node.store.close()
    return chain


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    network, process = start_demo_network(tmp_path_factory.mktemp("scan") / "net")
    try:
        for script in WORKLOADS:
            run_walkthrough(network, script, network.base.parent)
    finally:
        process.terminate()
    return _read_chain(network.config_path)


# --- the identifiers the workload used --------------------------------------------------------------------
def _usccs(chain: Chain) -> set[str]:
    found = {str(e.decoded.args["uscc"]) for e in chain.of("Governance", "OrganisationRegistered")}
    assert len(found) >= 4, found
    return found


def _person_keys(chain: Chain) -> set[bytes]:
    keys = {bytes(c.args["subject_public_key"]) for c in chain.calls if "subject_public_key" in c.args}
    holders = {bytes(c.args["holder_public_key"]) for c in chain.calls if "holder_public_key" in c.args}
    assert keys and holders, "the workload binds no subject key or uses no licence"
    return keys | holders


def _key_forms(key: bytes) -> dict[str, bytes]:
    digest = keccak(key)
    return {"x": key[:32], "y": key[32:], "keccak": digest, "address": bytes(12) + digest[12:]}


def _lineage(chain: Chain) -> dict[bytes, bytes]:
    """Licence id -> the first licence of its renewal chain."""
    root: dict[bytes, bytes] = {}
    for event in chain.of("LicenceRegistry", "LicenceRenewed"):
        old, new = bytes(event.decoded.args["id_hash"]), bytes(event.decoded.args["new_id_hash"])
        root[new] = root.get(old, old)
    return root


def _record_of(event: Event, lineage: dict[bytes, bytes]) -> tuple[str, bytes]:
    """The record an event belongs to: its first indexed argument (a letter's is its id, the first data
    word), a licence counted as the first of its renewals."""
    if event.decoded.name == "LetterCreated":
        return event.contract, event.log.data[:32]
    first = event.log.topics[1] if len(event.log.topics) > 1 else event.tx_hash
    return event.contract, lineage.get(first, first)


# --- the scan ---------------------------------------------------------------------------------------------
def test_the_workload_repeats_parties_across_records_so_the_scan_can_fail(chain: Chain) -> None:
    banks = [c.args["bank_org"] for c in chain.of("BankConfirmation", "create")]
    assert len(banks) > len(set(banks)), "no bank receives two letters"
    issued = chain.of("LicenceRegistry", "issue")
    assert len(issued) >= 2 and chain.of("DataAuthorisation", "grant")


def test_no_organisation_is_named_by_a_hash_in_business_logs_or_storage(chain: Chain) -> None:
    forms = {digest: uscc for uscc in _usccs(chain) for digest in (keccak(uscc.encode()), sm3(uscc.encode()))}
    found = [(where, forms[word]) for where, word in chain.business_words() if word in forms]
    assert found == []


def test_a_letter_names_no_organisation_in_its_logs_or_storage(chain: Chain) -> None:
    usccs = [uscc.encode() for uscc in _usccs(chain)]
    named = {where for where, w in chain.business_words() if any(uscc in w for uscc in usccs)}
    # the acting organisations of other families are named in their events, so the scan reads those words
    assert any(where.startswith("DataAuthorisation") for where in named)
    assert {where for where in named if where.startswith("BankConfirmation")} == set()


def test_a_person_key_is_never_in_a_log_or_storage_in_clear_by_keccak_or_as_an_address(chain: Chain) -> None:
    forms = {form: name for key in _person_keys(chain) for name, form in _key_forms(key).items()}
    every_word = [(f"{e.contract}.{e.decoded.name}", w) for e in chain.events for w in e.words()]
    every_word += [(f"{c} storage", w) for c, words in chain.storage.items() for w in words]
    assert [(where, forms[w]) for where, w in every_word if w in forms] == []


def test_a_person_key_hash_or_commitment_stays_within_one_record(chain: Chain) -> None:
    lineage = _lineage(chain)
    personal = {sm3(key) for key in _person_keys(chain)}
    personal |= {bytes(c.args["holder_commitment"]) for c in chain.of("LicenceRegistry", "issue")}
    personal |= {bytes(c.args["subject_commitment"]) for c in chain.calls if "subject_commitment" in c.args}
    personal.discard(bytes(32))
    records: dict[bytes, set[tuple[str, bytes]]] = defaultdict(set)
    for event in chain.events:
        for word in event.words():
            if word in personal:
                records[word].add(_record_of(event, lineage))
    assert records, "no personal hash reached a log: the scan looks at the wrong words"
    assert {w.hex(): r for w, r in records.items() if len(r) > 1} == {}


def test_calls_carrying_a_person_key_are_confined_by_the_read_policy(chain: Chain) -> None:
    keys = _person_keys(chain)
    carrying = {
        (c.contract, c.function)
        for c in chain.calls
        if any(isinstance(v, bytes) and v in keys for v in c.args.values())
    }
    assert carrying
    confined = {(contract, fn) for contract, fns in CALLDATA_RECORDS.items() for fn in fns}
    assert carrying - confined == set()


def test_actors_are_member_accounts_and_tags_belong_to_one_record(chain: Chain) -> None:
    lineage = _lineage(chain)
    strangers = []
    tag_records: dict[bytes, set[tuple[str, bytes]]] = defaultdict(set)
    for event in chain.events:
        if event.contract not in BUSINESS:
            continue
        inputs = Contract(event.contract).get_event(event.decoded.name).get("inputs", [])
        indexed = [str(p["name"]) for p in inputs if p.get("indexed")]
        for name, topic in zip(indexed, event.log.topics[1:], strict=True):
            if name in ACTORS and topic not in chain.members:
                strangers.append((event.decoded.name, name))
            if (name.endswith("_tag") or name == "key_hash") and topic != bytes(32):  # 0: no subject
                tag_records[topic].add(_record_of(event, lineage))
    shared_tags = {t.hex(): r for t, r in tag_records.items() if len(r) > 1}
    assert tag_records and strangers == [] and shared_tags == {}
