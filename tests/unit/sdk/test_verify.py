"""Offline bundle verification on chains built directly from sdk wire types: every check, every error class.

These chains are not produced by a node: blocks, receipts and state tries are assembled here and sealed
with test validator keys. That is enough because the Verifier trusts nothing about block production — only
seals of the set in force, hash links and proofs — and it lets a test grow the validator set beyond the one
validator a single-node devnet can run (the integration tests cover bundles served by a real node).
"""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
import rlp
from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak
from trie import HexaryTrie

from sdk.contracts import Contract
from sdk.crypto import PrivateKey, sm3
from sdk.errors import (
    ChainError,
    FormatError,
    LicenceIdentifierError,
    MptProofError,
    ProofError,
    QuorumError,
    SignatureError,
    StatusError,
    VerificationError,
)
from sdk.identifiers import make_licence_id
from sdk.proofs.builders import build_bundle, build_handover, build_history_proof
from sdk.proofs.bundle import HistoryProof, ProofBundle, StateProof, decode_compact, load_bundle
from sdk.proofs.licence import LICENCE_ISSUED_TOPIC, LICENCE_ISSUING_CALLS, LICENCE_STATUS_RULE
from sdk.proofs.merkle import MerkleAccumulator
from sdk.proofs.mpt import BLANK_ROOT, compute_storage_slot, get_from_proof, verify_storage_proof
from sdk.proofs.trust import Checkpoint, Genesis, load_trust, trust_to_json
from sdk.proofs.verify import Verifier
from sdk.system import LICENCE_REGISTRY_ADDRESS
from sdk.types import (
    Block,
    BlockHeader,
    CommitCertificate,
    Log,
    Receipt,
    Seal,
    Transaction,
    commit_preimage,
    compute_receipt_root,
    compute_tx_root,
    compute_validators_hash,
    sort_validators,
)

CHAIN_ID = 4242
ISSUER_ORG = "91110000MA01ABCDE0"  # the issuing organisation in the synthetic LicenceIssued logs
OTHER_ORG = "91350200776049653A"
TYPE_CODE = "11100000000013338W032"
TYPE_ID = sm3(TYPE_CODE.encode())
REGISTRY = Contract("LicenceRegistry")
CODE_HASH = keccak(b"")
SALT = bytes(range(32))
HOLDER = sm3(SALT + b"111" + b"11010519491231002X")


def licence_identifier(issuer: str = ISSUER_ORG, type_code: str = TYPE_CODE) -> str:
    """A fresh, well-formed GB/T 36904 identifier (embedded USCC checks off: synthetic codes)."""
    return make_licence_id(type_code, issuer, secrets.token_hex(6).upper(), 1, check_embedded_uscc=False)


# --- a synthetic chain ------------------------------------------------------------------------------------
@dataclass
class SyntheticChain:
    """Blocks sealed by test validator keys; storage of LicenceRegistry kept in a real hexary trie."""

    chain_id: int = CHAIN_ID
    keys: dict[bytes, PrivateKey] = field(default_factory=dict)  # public key -> private key
    blocks: list[Block] = field(default_factory=list)
    certs: list[CommitCertificate] = field(default_factory=list)
    receipts: list[list[Receipt]] = field(default_factory=list)
    storage: dict[int, int] = field(default_factory=dict)
    state_proofs: dict[int, tuple[HexaryTrie, HexaryTrie]] = field(default_factory=dict)
    history: MerkleAccumulator = field(default_factory=MerkleAccumulator)
    validators: tuple[bytes, ...] = ()
    sender: PrivateKey = field(default_factory=PrivateKey.generate)

    @classmethod
    def start(cls, n_validators: int = 1, chain_id: int = CHAIN_ID) -> SyntheticChain:
        chain = cls(chain_id=chain_id)
        keys = chain.new_keys(n_validators)
        chain.validators = keys
        state_root = chain._state_root(0)
        vhash = compute_validators_hash(keys)
        header = BlockHeader(
            1,
            chain_id,
            0,
            bytes(32),
            1_700_000_000_000,
            0,
            0,
            compute_tx_root(()),
            compute_receipt_root(()),
            state_root,
            chain.history.root(),
            vhash,
            vhash,
            0,
        )
        chain._append(Block(header, (), keys), CommitCertificate(0, 0, header.block_hash, ()), [])
        return chain

    def new_keys(self, n: int) -> tuple[bytes, ...]:
        privs = [PrivateKey.generate() for _ in range(n)]
        for p in privs:
            self.keys[p.public_key.to_bytes()] = p
        return tuple(sort_validators([p.public_key.to_bytes() for p in privs]))

    @property
    def genesis(self) -> Genesis:
        return Genesis(self.chain_id, self.blocks[0].header.block_hash, self.blocks[0].next_validators)

    def _state_root(self, height: int) -> bytes:
        storage = HexaryTrie({})
        for slot, value in self.storage.items():
            if value:
                storage[keccak(slot.to_bytes(32, "big"))] = rlp.encode(value)
        accounts = HexaryTrie({})
        for i in range(20):  # other accounts so the account proof has branches
            accounts[keccak(i.to_bytes(20, "big"))] = rlp.encode([1, 0, BLANK_ROOT, CODE_HASH])
        accounts[keccak(LICENCE_REGISTRY_ADDRESS)] = rlp.encode([1, 0, storage.root_hash, CODE_HASH])
        self.state_proofs[height] = (accounts, storage)
        return accounts.root_hash

    def seal(
        self, header: BlockHeader, validators: Sequence[bytes], signers: Sequence[int] | None = None
    ) -> CommitCertificate:
        preimage = commit_preimage(header.chain_id, header.height, header.round, header.block_hash)
        chosen = range(len(validators)) if signers is None else signers
        seals = tuple(Seal(i, self.keys[validators[i]].sign(preimage)) for i in sorted(chosen))
        return CommitCertificate(header.height, header.round, header.block_hash, seals)

    def _append(self, block: Block, cert: CommitCertificate, receipts: list[Receipt]) -> None:
        self.blocks.append(block)
        self.certs.append(cert)
        self.receipts.append(receipts)
        self.history.append(block.header.block_hash)

    def add_block(
        self,
        txs: Sequence[Transaction] = (),
        logs: Sequence[Sequence[Log]] | None = None,
        *,
        storage: dict[int, int] | None = None,
        next_validators: tuple[bytes, ...] = (),
    ) -> Block:
        parent = self.blocks[-1].header
        height = parent.height + 1
        if storage:
            self.storage.update(storage)
        receipts = [
            Receipt(tx.tx_hash, 1, 50_000, tuple(logs[i]) if logs else (), b"") for i, tx in enumerate(txs)
        ]
        vhash = compute_validators_hash(self.validators)
        header = BlockHeader(
            1,
            self.chain_id,
            height,
            parent.block_hash,
            parent.timestamp_ms + 1000,
            0,
            0,
            compute_tx_root(txs),
            compute_receipt_root(receipts),
            self._state_root(height),
            self.history.root(),
            vhash,
            compute_validators_hash(next_validators) if next_validators else vhash,
            0,
        )
        block = Block(header, tuple(txs), next_validators)
        self._append(block, self.seal(header, self.validators), receipts)
        if next_validators:
            self.validators = next_validators
        return block

    def licence_tx(
        self,
        identifier: str,
        signer: PrivateKey | None = None,
        *,
        valid_until: int = 0,
        issuer_org: str = ISSUER_ORG,
        call_data: bytes | None = None,
    ) -> tuple[Transaction, Log]:
        """An ``issue`` transaction and the LicenceIssued log the registry emits for it (issuer_org: the
        organisation the log names; call_data: other call data, e.g. a call that is no issuance)."""
        key = signer or self.sender
        id_hash = sm3(identifier.encode())
        if call_data is None:
            call_data = REGISTRY.encode_call(
                "issue", [identifier, HOLDER, bytes(32), bytes(32), 1_600_000_000, valid_until, "110101"]
            )
        tx = Transaction.create(
            key,
            chain_id=self.chain_id,
            to=LICENCE_REGISTRY_ADDRESS,
            data=call_data,
            gas_limit=500_000,
            expiry_height=1000,
        )
        data = abi_encode(
            ["string", "bytes32", "bytes32", "bytes32", "uint256", "uint256", "string", "bytes32"],
            [
                issuer_org,
                HOLDER,
                bytes(32),
                bytes(32),
                1_600_000_000,
                valid_until,
                "110101",
                bytes(32),
            ],
        )
        topics = (LICENCE_ISSUED_TOPIC, id_hash, TYPE_ID, bytes(12) + key.public_key.address)
        log = Log(LICENCE_REGISTRY_ADDRESS, topics, data)
        return tx, log

    def handovers(self, up_to: int) -> list[Any]:
        return [
            build_handover(b, self.certs[b.header.height])
            for b in self.blocks[1 : up_to + 1]
            if b.next_validators
        ]

    def state_proof(
        self, height: int, slot: int, kind: str = "licence", *, certified: bool = True
    ) -> StateProof:
        accounts, storage = self.state_proofs[height]
        account_proof = tuple(rlp.encode(n) for n in accounts.get_proof(keccak(LICENCE_REGISTRY_ADDRESS)))
        storage_proof = tuple(rlp.encode(n) for n in storage.get_proof(keccak(slot.to_bytes(32, "big"))))
        from sdk.proofs.bundle import SealedHeader

        sealed = SealedHeader(self.blocks[height].header, self.certs[height] if certified else None)
        return StateProof(sealed, LICENCE_REGISTRY_ADDRESS, slot, account_proof, storage_proof, kind)

    def bundle(
        self,
        height: int,
        tx_index: int = 0,
        *,
        log_index: int | None = 0,
        state_height: int | None = None,
        slot: int | None = None,
    ) -> ProofBundle:
        block = self.blocks[height]
        state = None
        top = height
        if state_height is not None:
            if slot is None:
                slot = licence_slot(self.receipts[height][tx_index].logs[0].topics[1])
            state = self.state_proof(state_height, slot)
            top = state_height
        return build_bundle(
            genesis_hash=self.blocks[0].header.block_hash,
            block=block,
            certificate=self.certs[height],
            receipts=self.receipts[height],
            tx_index=tx_index,
            log_index=log_index,
            handovers=self.handovers(top),
            state=state,
        )


def licence_slot(id_hash: bytes) -> int:
    return compute_storage_slot(LICENCE_STATUS_RULE.base_slot, id_hash) + LICENCE_STATUS_RULE.offset


VALID = LICENCE_STATUS_RULE.valid
REVOKED = 5


def issue(chain: SyntheticChain, n_other: int = 4, valid_until: int = 0, **licence: Any) -> tuple[int, bytes]:
    """Commit a block with ``n_other`` filler transactions and one licence issuance; return (height, id).

    ``licence`` goes to ``licence_tx`` (``identifier`` defaults to a fresh one of ISSUER_ORG)."""
    identifier = licence.pop("identifier", None) or licence_identifier()
    id_hash = sm3(identifier.encode())
    txs, logs = [], []
    for _ in range(n_other):
        tx, log = chain.licence_tx(licence_identifier())
        txs.append(tx)
        logs.append([log])
    tx, log = chain.licence_tx(identifier, valid_until=valid_until, **licence)
    txs.insert(min(2, n_other), tx)
    logs.insert(min(2, n_other), [log])
    block = chain.add_block(txs, logs, storage={licence_slot(id_hash): VALID})
    return block.header.height, id_hash


@pytest.fixture(scope="module")
def chain() -> SyntheticChain:
    c = SyntheticChain.start()
    c.add_block()
    c.height_id = issue(c)  # type: ignore[attr-defined]
    c.add_block()
    return c


# --- the happy path -----------------------------------------------------------------------------------
def test_valid_bundle_verifies_and_returns_only_checked_facts(chain: SyntheticChain) -> None:
    height, id_hash = chain.height_id  # type: ignore[attr-defined]
    bundle = chain.bundle(height, 2, state_height=3)
    event = Verifier(trust=chain.genesis).verify_bundle(bundle)
    block = chain.blocks[height]
    assert event.height == height
    assert event.block_hash == block.header.block_hash
    assert event.block_time_ms == block.header.timestamp_ms
    assert event.tx_hash == block.transactions[2].tx_hash
    assert event.sender == chain.sender.public_key.address
    assert event.contract == LICENCE_REGISTRY_ADDRESS
    assert event.log is not None and event.log.topics[1] == id_hash
    assert event.validators == chain.blocks[0].next_validators and event.sealed_by == (0,)
    assert event.state is not None and event.state.licence is not None
    assert event.state.licence.name == "VALID" and event.state.height == 3 and event.state.value == VALID
    assert event.licence is not None and event.licence.id_hash == id_hash and event.licence.type_id == TYPE_ID
    assert event.licence.issuer == chain.sender.public_key.address
    assert event.licence.is_holder(SALT, "111", "11010519491231002X")
    assert not event.licence.is_holder(SALT, "111", "110105194912310021")


# --- the licence identifier names its issuer -----------------------------------------------------------
def _single_issuance(**licence: Any) -> tuple[SyntheticChain, ProofBundle]:
    c = SyntheticChain.start()
    height, _ = issue(c, 0, **licence)
    c.add_block()
    return c, c.bundle(height, 0, state_height=height + 1)


def test_verified_licence_carries_its_checked_identifier() -> None:
    identifier = licence_identifier()
    c, bundle = _single_issuance(identifier=identifier)
    event = Verifier(trust=c.genesis).verify_bundle(bundle)
    assert event.licence is not None and event.licence.identifier == identifier
    assert event.licence.issuer_org == ISSUER_ORG


def test_bundle_whose_identifier_names_another_issuer_is_refused() -> None:
    # a registry that did not bind identifiers to issuers: ISSUER_ORG issued OTHER_ORG's identifier
    c, bundle = _single_issuance(identifier=licence_identifier(issuer=OTHER_ORG))
    with pytest.raises(LicenceIdentifierError, match=f"names issuer {OTHER_ORG}.*{ISSUER_ORG} issued it"):
        Verifier(trust=c.genesis).verify_bundle(bundle)


@pytest.mark.parametrize(
    ("licence", "message"),
    [
        ({"identifier": licence_identifier(type_code=OTHER_ORG + "001")}, "names type"),
        ({"identifier": licence_identifier(issuer="110101")}, "names issuer 110101"),
        ({"call_data": b"\x01\x02" + bytes(32)}, "not an issue or renew call"),
        (
            {
                "call_data": REGISTRY.encode_call(
                    "issue", [licence_identifier(), HOLDER, *[bytes(32)] * 2, 0, 0, "1"]
                )
            },
            "does not hash to the licence's id hash",
        ),
    ],
    ids=["other_type", "region_issuer", "not_an_issuance", "other_identifier"],
)
def test_bundle_without_a_matching_identifier_is_refused(licence: dict[str, Any], message: str) -> None:
    c, bundle = _single_issuance(**licence)
    with pytest.raises(LicenceIdentifierError, match=message) as info:
        Verifier(trust=c.genesis).verify_bundle(bundle)
    assert info.value.code == "bundle_licence_identifier"


def test_a_renewal_bundle_reads_the_new_identifier() -> None:
    identifier = licence_identifier()
    renew = REGISTRY.encode_call("renew", [bytes([7]) * 32, identifier, bytes(32), 0, 0])
    c, bundle = _single_issuance(identifier=identifier, call_data=renew)
    event = Verifier(trust=c.genesis).verify_bundle(bundle)
    assert event.licence is not None and event.licence.identifier == identifier


def test_issuing_call_signatures_match_the_registry_abi() -> None:
    for name, (types, index) in LICENCE_ISSUING_CALLS.items():
        [entry] = [e for e in REGISTRY.abi if e.get("type") == "function" and e["name"] == name]
        assert [i["type"] for i in entry["inputs"]] == types
        assert entry["inputs"][index]["name"] in ("identifier", "new_identifier")


def test_json_compact_and_qr_forms_round_trip(chain: SyntheticChain) -> None:
    height, _ = chain.height_id  # type: ignore[attr-defined]
    bundle = chain.bundle(height, 2, state_height=3)
    assert ProofBundle.loads(bundle.dumps()) == bundle
    assert ProofBundle.from_compact(bundle.to_compact()) == replace(bundle, labels={})
    assert decode_compact(bundle.to_qr_text()) == replace(bundle, labels={})
    assert decode_compact("https://node.example/verify#b=" + bundle.to_link_fragment()) == replace(
        bundle, labels={}
    )
    verifier = Verifier(trust=chain.genesis)
    for form in (bundle.dumps(), bundle.to_qr_text(), bundle.to_json()):
        assert verifier.verify_bundle(form).tx_hash == bundle.event.tx.tx_hash


def test_trust_file_round_trip(chain: SyntheticChain) -> None:
    doc = trust_to_json(chain.genesis, chain.blocks[0].header)
    assert load_trust(json.dumps(doc)) == chain.genesis
    doc["genesis_hash"] = "0x" + "00" * 32
    with pytest.raises(ChainError):
        load_trust(doc)


# --- tampering: each field gives its specific error --------------------------------------------------
def _flip(hex_text: str, at: int = -3) -> str:
    digits = list(hex_text)
    digits[at] = "0" if digits[at] != "0" else "1"
    return "".join(digits)


def _reencode_header(h: str, **changes: Any) -> str:
    header = BlockHeader.decode(bytes.fromhex(h[2:]))
    return "0x" + replace(header, **changes).encode().hex()


def _reencode_tx(t: str, **changes: Any) -> str:
    tx = Transaction.decode(bytes.fromhex(t[2:]))
    return "0x" + replace(tx, **changes).encode().hex()


def _reencode_receipt(r: str, **changes: Any) -> str:
    receipt = Receipt.decode(bytes.fromhex(r[2:]))
    return "0x" + replace(receipt, **changes).encode().hex()


def _drop_seals(c: str) -> str:
    cert = CommitCertificate.decode(bytes.fromhex(c[2:]))
    return "0x" + replace(cert, seals=()).encode().hex()


def _bad_seal(c: str) -> str:
    cert = CommitCertificate.decode(bytes.fromhex(c[2:]))
    seal = cert.seals[0]
    sig = bytes([seal.signature[0] ^ 1]) + seal.signature[1:]
    return "0x" + replace(cert, seals=(Seal(seal.validator_index, sig),)).encode().hex()


def _set(path: str, fn: Callable[[Any], Any]) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for p in parents:
            target = target[int(p)] if p.isdigit() else target[p]
        key: Any = int(last) if last.isdigit() else last
        target[key] = fn(target[key])

    return apply


TAMPERS: list[tuple[str, Callable[[dict[str, Any]], None], type[VerificationError]]] = [
    ("format", _set("format", lambda _: "something/else"), FormatError),
    ("version", _set("version", lambda _: 2), FormatError),
    ("hex", _set("event.tx", lambda v: v + "zz"), FormatError),
    ("non-canonical tx", _set("event.tx", lambda v: v + "00"), FormatError),
    ("chain id", _set("chain_id", lambda v: v + 1), ChainError),
    ("genesis hint", _set("genesis_hash", _flip), ChainError),
    ("tx signature", _set("event.tx", _flip), SignatureError),
    ("tx data", _set("event.tx", lambda v: _reencode_tx(v, data=b"\x09")), SignatureError),
    ("tx chain id", _set("event.tx", lambda v: _reencode_tx(v, chain_id=7)), ChainError),
    ("tx index", _set("event.tx_index", lambda v: v + 1), ProofError),
    ("tx count", _set("event.tx_count", lambda v: v + 7), ProofError),
    ("tx proof", _set("event.tx_proof.0", _flip), ProofError),
    ("receipt proof", _set("event.receipt_proof.1", _flip), ProofError),
    ("receipt gas", _set("event.receipt", lambda v: _reencode_receipt(v, gas_used=1)), ProofError),
    ("receipt logs", _set("event.receipt", lambda v: _reencode_receipt(v, logs=())), ProofError),
    (
        "receipt status",
        _set("event.receipt", lambda v: _reencode_receipt(v, status=0, revert_reason=b"x")),
        ProofError,
    ),
    ("log index", _set("event.log_index", lambda v: 5), ProofError),
    ("header time", _set("block.header", lambda v: _reencode_header(v, timestamp_ms=1)), ChainError),
    ("header tx root", _set("block.header", lambda v: _reencode_header(v, tx_root=bytes(32))), ChainError),
    ("header chain", _set("block.header", lambda v: _reencode_header(v, chain_id=9)), ChainError),
    (
        "header set",
        _set("block.header", lambda v: _reencode_header(v, validators_hash=bytes(32))),
        ChainError,
    ),
    ("no certificate", _set("block.certificate", lambda v: None), QuorumError),
    ("no seals", _set("block.certificate", _drop_seals), QuorumError),
    ("seal signature", _set("block.certificate", _bad_seal), SignatureError),
    ("state header", _set("state.header", lambda v: _reencode_header(v, state_root=bytes(32))), ChainError),
    ("state seal", _set("state.certificate", _bad_seal), SignatureError),
    ("state slot", _set("state.slot", _flip), ProofError),
    ("state address", _set("state.address", _flip), ProofError),
    ("state account node", _set("state.account_proof.0", _flip), ProofError),
    ("state storage node", _set("state.storage_proof.0", _flip), ProofError),
    ("state storage dropped", _set("state.storage_proof", lambda v: v[:-1]), ProofError),
    ("state kind", _set("state.kind", lambda v: "other"), FormatError),
]


@pytest.mark.parametrize(("name", "tamper", "error"), TAMPERS, ids=[t[0] for t in TAMPERS])
def test_altered_field_gives_its_specific_error(
    chain: SyntheticChain, name: str, tamper: Callable[[dict[str, Any]], None], error: type[VerificationError]
) -> None:
    height, _ = chain.height_id  # type: ignore[attr-defined]
    doc = chain.bundle(height, 2, state_height=3).to_json()
    Verifier(trust=chain.genesis).verify_bundle(copy.deepcopy(doc))  # the untouched bundle is fine
    tamper(doc)
    with pytest.raises(error) as info:
        Verifier(trust=chain.genesis).verify_bundle(doc)
    assert type(info.value) is error, info.value.diagnostics()
    assert info.value.diagnostics().strip()


def test_reverted_transaction_is_a_status_error() -> None:
    c = SyntheticChain.start()
    tx, _ = c.licence_tx(licence_identifier())
    block = c.add_block([tx])
    c.receipts[-1] = [Receipt(tx.tx_hash, 0, 1, (), b"not an issuer")]
    # rebuild the block with the reverted receipt so the roots match
    c.blocks.pop(), c.certs.pop(), c.receipts.pop()
    c.history = MerkleAccumulator.from_leaf_hashes(
        [
            __import__("sdk.proofs.merkle", fromlist=["x"]).compute_leaf_hash(b.header.block_hash)
            for b in c.blocks
        ]
    )
    parent = c.blocks[-1].header
    receipts = [Receipt(tx.tx_hash, 0, 1, (), b"not an issuer")]
    header = replace(block.header, receipt_root=compute_receipt_root(receipts), parent_hash=parent.block_hash)
    c._append(Block(header, (tx,), ()), c.seal(header, c.validators), receipts)
    with pytest.raises(StatusError, match="reverted: not an issuer"):
        Verifier(trust=c.genesis).verify_bundle(c.bundle(1, log_index=None))


# --- revocation -----------------------------------------------------------------------------------------
def test_revoked_licence_fails_the_status_check_and_says_at_which_height() -> None:
    c = SyntheticChain.start()
    height, id_hash = issue(c)
    c.add_block()
    revoked_at = c.add_block(storage={licence_slot(id_hash): REVOKED}).header.height
    c.add_block()
    verifier = Verifier(trust=c.genesis)
    ok = verifier.verify_bundle(c.bundle(height, 2, state_height=revoked_at - 1))
    assert ok.state is not None and ok.state.licence is not None and ok.state.licence.name == "VALID"
    with pytest.raises(StatusError) as info:
        verifier.verify_bundle(c.bundle(height, 2, state_height=revoked_at + 1))
    assert info.value.detail["height"] == revoked_at + 1
    assert info.value.detail["issued_at_height"] == height
    assert f"at height {revoked_at + 1}" in info.value.message


def test_expired_licence_fails_the_status_check() -> None:
    c = SyntheticChain.start()
    height, _ = issue(c, valid_until=1_700_000_002)  # blocks are one second apart from 1_700_000_000
    c.add_block()
    c.add_block()
    c.add_block()
    verifier = Verifier(trust=c.genesis)
    assert verifier.verify_bundle(c.bundle(height, 2, state_height=2)).state is not None
    with pytest.raises(StatusError, match="EXPIRED at height 4"):
        verifier.verify_bundle(c.bundle(height, 2, state_height=4))


def test_state_proof_before_the_event_is_refused(chain: SyntheticChain) -> None:
    height, _ = chain.height_id  # type: ignore[attr-defined]
    bundle = chain.bundle(height, 2, state_height=3)
    early = replace(bundle, state=chain.state_proof(1, bundle.state.slot))  # type: ignore[union-attr]
    with pytest.raises(ChainError, match="before the event"):
        Verifier(trust=chain.genesis).verify_bundle(early)


def test_licence_status_proof_of_another_licence_is_refused(chain: SyntheticChain) -> None:
    """A VALID status of some other licence cannot vouch for this one: the verifier derives the slot."""
    height, _ = chain.height_id  # type: ignore[attr-defined]
    other_id = chain.receipts[height][0].logs[0].topics[1]
    bundle = chain.bundle(height, 2, state_height=3, slot=licence_slot(other_id))
    with pytest.raises(ProofError, match="another slot"):
        Verifier(trust=chain.genesis).verify_bundle(bundle)


def test_raw_slot_proof_reports_the_value(chain: SyntheticChain) -> None:
    height, id_hash = chain.height_id  # type: ignore[attr-defined]
    bundle = chain.bundle(height, 2, state_height=3)
    raw = replace(bundle, state=replace(bundle.state, kind="slot", slot=licence_slot(id_hash) + 99))  # type: ignore[type-var]
    state = Verifier(trust=chain.genesis).verify_bundle(raw).state
    assert state is not None and state.value == 0 and state.licence is None  # proven absent


# --- validator-set handovers -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rotated() -> SyntheticChain:
    """One validator, then four (handover at 2), then three others (handover at 5); events after each."""
    c = SyntheticChain.start(1)
    issue(c, 0)  # 1
    c.add_block(next_validators=c.new_keys(4))  # 2: sealed by the genesis set, hands over to B
    issue(c, 1)  # 3: sealed by B
    c.add_block()  # 4
    c.add_block(next_validators=c.new_keys(3))  # 5: sealed by B, hands over to C
    issue(c, 2)  # 6: sealed by C
    c.add_block()  # 7
    return c


def test_validator_set_changed_twice_still_verifies_through_handovers(rotated: SyntheticChain) -> None:
    verifier = Verifier(trust=rotated.genesis)
    for height, tx_index in ((1, 0), (3, 1), (6, 2)):
        event = verifier.verify_bundle(rotated.bundle(height, tx_index, state_height=7))
        assert event.validators == (
            rotated.blocks[0].next_validators
            if height <= 2
            else rotated.blocks[2].next_validators
            if height <= 5
            else rotated.blocks[5].next_validators
        )
    event = verifier.verify_bundle(rotated.bundle(6, 2, state_height=7))
    assert event.handovers == (2, 5)
    assert len(event.validators) == 3 and len(event.sealed_by) == 3


def test_bundle_missing_a_handover_is_refused(rotated: SyntheticChain) -> None:
    bundle = rotated.bundle(6, 2)
    with pytest.raises(ChainError, match="handover is missing"):
        Verifier(trust=rotated.genesis).verify_bundle(replace(bundle, handovers=bundle.handovers[:1]))
    with pytest.raises(ChainError, match="handover is missing"):
        Verifier(trust=rotated.genesis).verify_bundle(replace(bundle, handovers=bundle.handovers[1:]))


def test_block_sealed_by_a_superseded_set_is_refused(rotated: SyntheticChain) -> None:
    """Set B (four keys) seals block 6 in place of set C: the header names C, so B's seals do not count."""
    bundle = rotated.bundle(6, 2)
    b_set = rotated.blocks[2].next_validators
    forged = rotated.seal(rotated.blocks[6].header, b_set)
    with pytest.raises((QuorumError, SignatureError)):
        Verifier(trust=rotated.genesis).verify_bundle(
            replace(bundle, block=replace(bundle.block, certificate=forged))
        )


def test_below_quorum_after_handover_is_refused(rotated: SyntheticChain) -> None:
    """Set B has four validators, quorum three: two seals are not enough."""
    bundle = rotated.bundle(3, 1)
    weak = rotated.seal(rotated.blocks[3].header, rotated.blocks[2].next_validators, signers=[0, 1])
    with pytest.raises(QuorumError, match="quorum of 4 is 3"):
        Verifier(trust=rotated.genesis).verify_bundle(
            replace(bundle, block=replace(bundle.block, certificate=weak))
        )


def test_handover_with_a_set_its_header_does_not_commit_to_is_refused(rotated: SyntheticChain) -> None:
    bundle = rotated.bundle(6, 2)
    first = bundle.handovers[0]
    swapped = replace(first, validators=rotated.new_keys(4))
    with pytest.raises(ChainError, match="does not commit to"):
        Verifier(trust=rotated.genesis).verify_bundle(
            replace(bundle, handovers=(swapped, bundle.handovers[1]))
        )


# --- checkpoint mode -------------------------------------------------------------------------------------
def test_checkpoint_mode_proves_old_blocks_by_history(rotated: SyntheticChain) -> None:
    top = rotated.blocks[7].header
    checkpoint = Checkpoint(top, rotated.blocks[5].next_validators, rotated.certs[7])
    verifier = Verifier(trust=checkpoint)
    hashes = [b.header.block_hash for b in rotated.blocks[:7]]
    bundle = replace(
        rotated.bundle(3, 1),
        handovers=(),
        block=replace(rotated.bundle(3, 1).block, certificate=None, history=build_history_proof(hashes, 3)),
    )
    event = verifier.verify_bundle(bundle)
    assert event.height == 3 and event.sealed_by == ()
    bad = replace(bundle, block=replace(bundle.block, history=HistoryProof(6, bundle.block.history.path)))  # type: ignore[union-attr]
    with pytest.raises(ProofError, match="checkpoint at height 6"):
        verifier.verify_bundle(bad)
    wrong_leaf = replace(bundle, block=replace(bundle.block, history=build_history_proof(hashes, 4)))
    with pytest.raises(ProofError, match="not in the checkpoint's history"):
        verifier.verify_bundle(wrong_leaf)


def test_checkpoint_with_the_wrong_set_is_refused(rotated: SyntheticChain) -> None:
    with pytest.raises(ChainError):
        Checkpoint(rotated.blocks[7].header, rotated.blocks[2].next_validators)


# --- wrong chain ---------------------------------------------------------------------------------------
def test_bundle_from_another_chain_is_refused(chain: SyntheticChain) -> None:
    other = SyntheticChain.start()  # same chain id, other genesis and validators
    height, _ = issue(other)
    bundle = other.bundle(height, 2)
    with pytest.raises(ChainError, match="another chain"):
        Verifier(trust=chain.genesis).verify_bundle(bundle)
    # even with the genesis claim rewritten, the seals are not those of the trusted set
    with pytest.raises((ChainError, SignatureError)):
        Verifier(trust=chain.genesis).verify_bundle(
            replace(bundle, genesis_hash=chain.blocks[0].header.block_hash)
        )
    foreign = SyntheticChain.start(chain_id=77)
    h2, _ = issue(foreign)
    with pytest.raises(ChainError, match="chain 77"):
        Verifier(trust=chain.genesis).verify_bundle(foreign.bundle(h2, 2))


def test_garbage_is_a_format_error(chain: SyntheticChain) -> None:
    verifier = Verifier(trust=chain.genesis)
    for junk in ("", "{", "[]", "XL1:!!", "XL1:ABC", "https://x/verify#tx=1", b"\xff\xfe", "{}"):
        with pytest.raises(FormatError):
            verifier.verify_bundle(junk)
    with pytest.raises(FormatError):
        load_bundle("not base64 ~~~")


# --- the MPT verifier against the trie package -----------------------------------------------------------
def test_mpt_verifier_agrees_with_hexary_trie() -> None:
    t = HexaryTrie({})
    keys = [secrets.token_bytes(32) for _ in range(300)]
    for i, k in enumerate(keys):
        t[keccak(k)] = rlp.encode(i + 1)
    probes = keys[:50] + [secrets.token_bytes(32) for _ in range(50)]
    for k in probes:
        proof = t.get_proof(keccak(k))
        encoded = tuple(rlp.encode(n) for n in proof)
        assert get_from_proof(t.root_hash, keccak(k), encoded) == HexaryTrie.get_from_proof(
            t.root_hash, keccak(k), proof
        )
    with pytest.raises(MptProofError):
        get_from_proof(
            t.root_hash, keccak(keys[0]), tuple(rlp.encode(n) for n in t.get_proof(keccak(keys[0])))[:-1]
        )


def test_storage_slot_of_a_missing_account_is_zero() -> None:
    accounts = HexaryTrie({})
    accounts[keccak(b"\x01" * 20)] = rlp.encode([1, 0, BLANK_ROOT, CODE_HASH])
    proof = tuple(rlp.encode(n) for n in accounts.get_proof(keccak(LICENCE_REGISTRY_ADDRESS)))
    assert verify_storage_proof(accounts.root_hash, LICENCE_REGISTRY_ADDRESS, 5, proof, ()) == 0
