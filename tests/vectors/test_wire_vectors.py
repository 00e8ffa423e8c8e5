"""Golden wire vectors: fixed fields re-encode to the stored bytes, hashes match, stored signatures verify."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import rlp

from sdk.crypto import PrivateKey, PublicKey, sm3
from sdk.proofs.certificate import verify_certificate
from sdk.proofs.merkle import verify_consistency, verify_inclusion
from sdk.types import (
    COMMIT_TAG,
    TX_TAG,
    VALIDATORS_TAG,
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

V: dict[str, Any] = json.loads((Path(__file__).parent / "wire_vectors.json").read_text())
B = bytes.fromhex

TX_BYTES = ("nonce", "to", "data", "public_key", "signature")
HEADER_BYTES = (
    "parent_hash",
    "tx_root",
    "receipt_root",
    "state_root",
    "history_root",
    "validators_hash",
    "next_validators_hash",
)


def tx_from(fields: dict[str, Any]) -> Transaction:
    return Transaction(**{k: B(v) if k in TX_BYTES else v for k, v in fields.items()})


def header_from(fields: dict[str, Any]) -> BlockHeader:
    return BlockHeader(**{k: B(v) if k in HEADER_BYTES else v for k, v in fields.items()})


def receipt_from(f: dict[str, Any]) -> Receipt:
    logs = tuple(Log(B(x["address"]), tuple(B(t) for t in x["topics"]), B(x["data"])) for x in f["logs"])
    return Receipt(B(f["tx_hash"]), f["status"], f["gas_used"], logs, B(f["revert_reason"]))


def test_keys_derive_the_stored_public_keys() -> None:
    for priv, pub in zip(V["private_keys"], V["public_keys"], strict=True):
        assert PrivateKey.from_hex(priv).public_key.to_bytes().hex() == pub


@pytest.mark.parametrize("i", range(len(V["transactions"])))
def test_transaction_vector(i: int) -> None:
    v = V["transactions"][i]
    f = v["fields"]
    tx = tx_from(f)
    assert tx.encode().hex() == v["encoded"]
    assert Transaction.decode(B(v["encoded"])) == tx
    # independent of sdk.encoding: the rlp package and SM3 directly
    body = [
        f["chain_id"],
        B(f["nonce"]),
        f["expiry_height"],
        B(f["to"]),
        B(f["data"]),
        f["gas_limit"],
        B(f["public_key"]),
    ]
    assert rlp.encode([*body, B(f["signature"])]).hex() == v["encoded"]
    assert rlp.encode([TX_TAG, *body]).hex() == v["signing_preimage"] == tx.signing_preimage().hex()
    assert sm3(B(v["signing_preimage"])).hex() == v["tx_hash"] == tx.tx_hash.hex()
    assert sm3(B(f["public_key"]))[-20:].hex() == v["sender"] == tx.sender.hex()
    assert f["public_key"] == V["public_keys"][v["signer"]]
    tx.verify_signature()
    PublicKey.from_bytes(B(f["public_key"])).verify(B(v["signing_preimage"]), B(f["signature"]))


def test_validator_set_vector() -> None:
    keys = [B(k) for k in V["validators"]["sorted_public_keys"]]
    assert sort_validators([B(k) for k in V["public_keys"]]) == keys
    assert compute_validators_hash(keys).hex() == V["validators"]["validators_hash"]
    assert sm3(rlp.encode([VALIDATORS_TAG, keys])).hex() == V["validators"]["validators_hash"]


def test_receipt_vectors_and_roots() -> None:
    receipts = []
    for v in V["receipts"]:
        r = receipt_from(v["fields"])
        assert r.encode().hex() == v["encoded"]
        assert Receipt.decode(B(v["encoded"])) == r
        receipts.append(r)
    assert compute_receipt_root(receipts).hex() == V["receipt_root"]
    txs = [tx_from(v["fields"]) for v in V["transactions"]]
    assert compute_tx_root(txs).hex() == V["tx_root"]
    assert [r.tx_hash for r in receipts] == [t.tx_hash for t in txs]


def test_header_and_block_vectors() -> None:
    h = header_from(V["header"]["fields"])
    assert h.encode().hex() == V["header"]["encoded"]
    assert BlockHeader.decode(B(V["header"]["encoded"])) == h
    assert sm3(B(V["header"]["encoded"])).hex() == V["header"]["block_hash"] == h.block_hash.hex()
    assert h.tx_root.hex() == V["tx_root"] and h.receipt_root.hex() == V["receipt_root"]
    assert h.validators_hash.hex() == V["validators"]["validators_hash"]
    txs = tuple(tx_from(v["fields"]) for v in V["transactions"])
    keys = tuple(B(k) for k in V["validators"]["sorted_public_keys"])
    block = Block(h, txs, keys)
    assert block.encode().hex() == V["block"]["encoded"]
    assert Block.decode(B(V["block"]["encoded"])) == block


def test_certificate_vector() -> None:
    h = header_from(V["header"]["fields"])
    c = V["certificate"]
    pre = commit_preimage(h.chain_id, h.height, h.round, h.block_hash)
    assert pre.hex() == c["commit_preimage"]
    assert rlp.encode([COMMIT_TAG, h.chain_id, h.height, h.round, h.block_hash]).hex() == c["commit_preimage"]
    cert = CommitCertificate(
        h.height,
        h.round,
        h.block_hash,
        tuple(Seal(s["validator_index"], B(s["signature"])) for s in c["seals"]),
    )
    assert cert.encode().hex() == c["encoded"]
    assert CommitCertificate.decode(B(c["encoded"])) == cert
    verify_certificate(cert, h, [B(k) for k in V["validators"]["sorted_public_keys"]])


def test_merkle_vectors() -> None:
    m = V["merkle"]
    leaves = [B(x) for x in m["leaves"]]
    roots = [B(r) for r in m["roots"]]
    assert roots[0] == sm3(b"")
    assert roots[1] == sm3(b"\x00" + leaves[0])
    for p in m["inclusion"]:
        verify_inclusion(
            leaves[p["index"]], p["index"], p["size"], [B(x) for x in p["proof"]], roots[p["size"]]
        )
    for p in m["consistency"]:
        verify_consistency(
            p["old_size"],
            p["new_size"],
            roots[p["old_size"]],
            roots[p["new_size"]],
            [B(x) for x in p["proof"]],
        )
