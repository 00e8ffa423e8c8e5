"""Drug-code bundles: a code proven in the DrugLots part that commissioned it, by the part's receipt and its
LotCommissioned log under a sealed header, without the part's transaction (which carries every code id of
the part). The Python Verifier and the browser's verify.js give the same verdict for the valid bundle, its
compact forms and every tampered field."""

from __future__ import annotations

import base64
import copy
import json
import secrets
import subprocess
import zlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from test_verify import SyntheticChain, _flip, _reencode_receipt, _set, issue
from test_verify_js import NODE, RUNNER, STATIC  # one Node.js look-up, and its guard in CI

from sdk.domains.drugs.lots import LOTS_CONTRACT, LotTree
from sdk.errors import ChainError, FormatError, ProofError, QuorumError, VerificationError
from sdk.proofs.bundle import LotProof, ProofBundle, load_bundle
from sdk.proofs.trust import trust_to_json
from sdk.proofs.verify import Verifier
from sdk.system import DRUG_LOTS_ADDRESS
from sdk.types import Log, Transaction

PRODUCT = bytes.fromhex("8612001234567890") + bytes(24)
LEVEL = 1


def lot_bundle(
    chain: SyntheticChain, size: int = 13, leaf: int = 11, batch: bytes = b"B2025001"
) -> tuple[ProofBundle, list[bytes]]:
    """Commit a block with two licence issuances and a lot part of ``size`` codes (third transaction); return
    the drug-code bundle of the code at ``leaf`` and the part's code ids."""
    height, _ = issue(chain, n_other=1)  # an earlier block, so the bundle's block is not the first
    codes = [PRODUCT[:8] + secrets.token_bytes(24) for _ in range(size)]
    tree = LotTree(codes)
    data = LOTS_CONTRACT.encode_call("commission_lot", [PRODUCT, "B2025001", 20000, 20700, LEVEL, codes])
    tx = Transaction.create(
        chain.sender, chain_id=chain.chain_id, to=DRUG_LOTS_ADDRESS, data=data, gas_limit=5_000_000,
        expiry_height=1000,
    )  # fmt: skip
    topics = (
        LOTS_CONTRACT.event_topic("LotCommissioned"),
        (7).to_bytes(32, "big"),
        PRODUCT,
        bytes(12) + chain.sender.public_key.address,
    )
    # ``bytes`` has the layout of ``string``: the contract takes any bytes as a batch number
    body = abi_encode(["bytes", "uint8", "bytes32", "uint256"], [batch, LEVEL, tree.root, size])
    others = [chain.licence_tx(f"x{i}") for i in range(2)]
    chain.add_block(
        [others[0][0], others[1][0], tx],
        [[others[0][1]], [others[1][1]], [Log(DRUG_LOTS_ADDRESS, topics, body)]],
    )
    whole = chain.bundle(height + 1, 2, log_index=0)
    bundle = replace(
        whole,
        event=replace(whole.event, tx=None, tx_proof=()),
        lot=LotProof(codes[leaf], leaf, tree.path(leaf)),
    )
    return bundle, codes


@pytest.fixture
def made() -> tuple[SyntheticChain, ProofBundle, list[bytes]]:
    chain = SyntheticChain.start()
    bundle, codes = lot_bundle(chain)
    return chain, bundle, codes


def verify(chain: SyntheticChain, bundle: Any) -> Any:
    return Verifier(trust=chain.genesis).verify_bundle(bundle)


def test_a_drug_code_bundle_proves_the_code_in_its_part_and_nothing_else(made) -> None:
    chain, bundle, codes = made
    event = verify(chain, bundle)
    lot = event.lot
    assert lot is not None and (lot.code_id, lot.part, lot.leaf) == (codes[11], 7, 11)
    assert (lot.product_id, lot.batch_no, lot.level) == (PRODUCT, "B2025001", LEVEL)
    assert lot.mah == event.sender == chain.sender.public_key.address
    assert event.sender_public_key == b"" and event.contract == DRUG_LOTS_ADDRESS
    assert event.tx_hash == bundle.event.receipt.tx_hash and event.licence is None
    text = json.dumps(bundle.to_json())
    assert not any(code.hex() in text for code in codes[:11])  # only the code's path: hashes, not ids
    for form in (bundle.to_qr_text(), bundle.to_link_fragment(), bundle.dumps()):
        assert verify(chain, load_bundle(form) if form[0] in "{X" else form).lot == lot


def test_every_code_of_a_part_verifies_at_its_own_leaf_and_no_other() -> None:
    chain = SyntheticChain.start()
    bundle, codes = lot_bundle(chain, size=5, leaf=0)
    tree = LotTree(codes)
    for leaf, code in enumerate(codes):
        assert verify(chain, replace(bundle, lot=LotProof(code, leaf, tree.path(leaf)))).lot.leaf == leaf
        wrong = (leaf + 1) % 5
        with pytest.raises(ProofError, match="not in lot part 7"):
            verify(chain, replace(bundle, lot=LotProof(code, wrong, tree.path(wrong))))


def _lot_log_of_another_kind(doc: dict[str, Any]) -> None:
    doc["event"]["log_index"] = None


#: What an attacker changes in a drug-code bundle, and the error each change must give (both verifiers).
LOT_TAMPERS: list[tuple[str, Callable[[dict[str, Any]], None], type[VerificationError]]] = [
    ("lot code id", _set("lot.code_id", _flip), ProofError),
    ("lot code of another product", _set("lot.code_id", lambda v: _flip(v, 3)), ProofError),
    ("lot leaf", _set("lot.leaf", lambda v: v - 1), ProofError),
    ("lot leaf beyond the part", _set("lot.leaf", lambda v: v + 100), ProofError),
    ("lot path element", _set("lot.path.0", _flip), ProofError),
    ("lot path cut", _set("lot.path", lambda v: v[:-1]), ProofError),
    ("lot path grown", _set("lot.path", lambda v: [*v, v[0]]), ProofError),
    ("lot path not hex", _set("lot.path.1", lambda v: v + "zz"), FormatError),
    ("lot not an object", _set("lot", lambda v: [v]), FormatError),
    ("no lot", _set("lot", lambda v: None), FormatError),
    ("no log", _lot_log_of_another_kind, ProofError),
    (
        "a transaction proof without its transaction",
        _set("event.tx_proof", lambda v: ["0x" + "11" * 32]),
        FormatError,
    ),
    ("receipt root in the log", _set("event.receipt", lambda v: _reencode_receipt(v, logs=())), ProofError),
    ("receipt proof", _set("event.receipt_proof.0", _flip), ProofError),
    ("receipt index", _set("event.tx_index", lambda v: v - 1), ProofError),
    ("no certificate", _set("block.certificate", lambda v: None), QuorumError),
    ("chain id", _set("chain_id", lambda v: v + 1), ChainError),
]


@pytest.mark.parametrize(("name", "tamper", "error"), LOT_TAMPERS, ids=[t[0] for t in LOT_TAMPERS])
def test_a_tampered_drug_code_bundle_gives_its_specific_error(
    made, name: str, tamper: Callable[[dict[str, Any]], None], error: type[VerificationError]
) -> None:
    chain, bundle, _ = made
    doc = copy.deepcopy(bundle.to_json())
    tamper(doc)
    with pytest.raises(error):
        verify(chain, doc)


def test_a_lot_section_on_another_event_proves_nothing(made) -> None:
    chain, bundle, _ = made
    licence = chain.bundle(len(chain.blocks) - 1, 0, log_index=0)  # a licence issuance of the same block
    with pytest.raises(ProofError, match="LotCommissioned"):
        verify(chain, replace(licence, lot=bundle.lot))
    with pytest.raises(ProofError, match="LotCommissioned"):  # the licence's receipt, without its tx
        verify(chain, replace(licence, event=replace(licence.event, tx=None, tx_proof=()), lot=bundle.lot))
    with_tx = chain.bundle(len(chain.blocks) - 1, 2, log_index=0)  # the regulator's view: tx included
    assert verify(chain, replace(with_tx, lot=bundle.lot)).lot == verify(chain, bundle).lot


def test_a_bundle_without_its_transaction_must_be_a_drug_code_bundle(made) -> None:
    _, bundle, _ = made
    with pytest.raises(FormatError, match="drug-code"):
        replace(bundle, lot=None)
    compact = bundle.to_compact()
    assert ProofBundle.from_compact(compact) == replace(bundle, labels={})


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed")
def test_browser_verifier_agrees_on_drug_code_bundles(made, tmp_path: Path) -> None:
    chain, bundle, _ = made
    trust = trust_to_json(chain.genesis, chain.blocks[0].header)
    doc = bundle.to_json()
    cases: list[dict[str, Any]] = []
    for name, tamper, _error in [("valid", lambda d: None, None), *LOT_TAMPERS]:
        d = copy.deepcopy(doc)
        tamper(d)
        cases.append({"name": name, "bundle": d, "trust": trust})
    cases.append({"name": "qr", "bundle": bundle.to_qr_text(), "trust": trust})
    odd, _ = lot_bundle(chain, batch=b"\xff\xfe01")  # a batch number that is not UTF-8: genuine, accepted
    cases.append({"name": "non-UTF-8 batch", "bundle": odd.to_json(), "trust": trust})
    cases.append(
        {"name": "link", "bundle": "https://x/verify#b=" + bundle.to_link_fragment(), "trust": trust}
    )
    runner = tmp_path / "run.js"
    runner.write_text(RUNNER, encoding="utf-8")
    done = subprocess.run(
        [str(NODE), str(runner), str(STATIC)], input=json.dumps(cases), capture_output=True, text=True,
        timeout=300, check=True,
    )  # fmt: skip
    browser = dict(zip([c["name"] for c in cases], json.loads(done.stdout), strict=True))
    python = {}
    for case in cases:
        try:
            verify(chain, case["bundle"])
            python[case["name"]] = ""
        except VerificationError as exc:
            python[case["name"]] = type(exc).__name__
    assert browser == python
    assert python["valid"] == python["qr"] == python["link"] == python["non-UTF-8 batch"] == ""
    expected = {name: error.__name__ for name, _, error in LOT_TAMPERS}
    assert {name: python[name] for name in expected} == expected


def _link(compact: bytes) -> str:
    return "https://x/verify#b=" + base64.urlsafe_b64encode(zlib.compress(compact, 9)).rstrip(b"=").decode()


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed")
def test_every_byte_of_a_drug_code_bundle_is_checked_by_both_verifiers(made, tmp_path: Path) -> None:
    """Flip each byte of the compact form in turn: both verifiers refuse every one, with the same error."""
    chain, bundle, _ = made
    compact = bundle.to_compact()
    trust = trust_to_json(chain.genesis, chain.blocks[0].header)
    tampered = [compact[:i] + bytes([compact[i] ^ 0x01]) + compact[i + 1 :] for i in range(len(compact))]
    python = []
    for data in tampered:
        try:
            verify(chain, ProofBundle.from_compact(data))
            python.append("")
        except VerificationError as exc:
            python.append(type(exc).__name__)
    assert "" not in python, f"a flipped byte went unnoticed at {python.index('')}"
    runner = tmp_path / "run.js"
    runner.write_text(RUNNER, encoding="utf-8")
    cases = [{"bundle": _link(data), "trust": trust} for data in tampered]
    done = subprocess.run(
        [str(NODE), str(runner), str(STATIC)], input=json.dumps(cases), capture_output=True, text=True,
        timeout=600, check=True,
    )  # fmt: skip
    browser = json.loads(done.stdout)
    differ = [(i, p, b) for i, (p, b) in enumerate(zip(python, browser, strict=True)) if p != b]
    assert not differ, differ[:10]
