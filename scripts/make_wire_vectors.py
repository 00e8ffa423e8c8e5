"""Write tests/vectors/wire_vectors.json: fixed keys and field values with their exact wire encodings."""

# Run: .venv/bin/python scripts/make_wire_vectors.py
# The file lets another implementation prove byte-for-byte compatibility: every encoding, preimage, hash
# and root is deterministic; SM2 signatures are randomised, so each signed object carries one signature
# that must verify (re-running this script changes only the signatures and the encodings that hold them).

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sdk.crypto import PrivateKey  # noqa: E402
from sdk.proofs.merkle import compute_consistency_proof, compute_inclusion_proof, compute_root  # noqa: E402
from sdk.types import (  # noqa: E402
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

OUT = ROOT / "tests" / "vectors" / "wire_vectors.json"
CHAIN_ID = 20240601
PRIVATE_KEYS = [
    "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8",  # GB/T 32918.2 example d_A
    "1111111111111111111111111111111111111111111111111111111111111111",
    "2222222222222222222222222222222222222222222222222222222222222222",
    "3333333333333333333333333333333333333333333333333333333333333333",
]


def hx(b: bytes) -> str:
    return b.hex()


def tx_vector(key: PrivateKey, key_index: int, tx: Transaction) -> dict[str, Any]:
    return {
        "signer": key_index,
        "fields": {
            "chain_id": tx.chain_id,
            "nonce": hx(tx.nonce),
            "expiry_height": tx.expiry_height,
            "to": hx(tx.to),
            "data": hx(tx.data),
            "gas_limit": tx.gas_limit,
            "public_key": hx(tx.public_key),
            "signature": hx(tx.signature),
        },
        "signing_preimage": hx(tx.signing_preimage()),
        "tx_hash": hx(tx.tx_hash),
        "sender": hx(tx.sender),
        "encoded": hx(tx.encode()),
    }


def header_fields(h: BlockHeader) -> dict[str, Any]:
    return {
        "version": h.version,
        "chain_id": h.chain_id,
        "height": h.height,
        "parent_hash": hx(h.parent_hash),
        "timestamp_ms": h.timestamp_ms,
        "round": h.round,
        "proposer_index": h.proposer_index,
        "tx_root": hx(h.tx_root),
        "receipt_root": hx(h.receipt_root),
        "state_root": hx(h.state_root),
        "history_root": hx(h.history_root),
        "validators_hash": hx(h.validators_hash),
        "next_validators_hash": hx(h.next_validators_hash),
        "gas_used": h.gas_used,
    }


def receipt_fields(r: Receipt) -> dict[str, Any]:
    return {
        "tx_hash": hx(r.tx_hash),
        "status": r.status,
        "gas_used": r.gas_used,
        "logs": [
            {"address": hx(log.address), "topics": [hx(t) for t in log.topics], "data": hx(log.data)}
            for log in r.logs
        ],
        "revert_reason": hx(r.revert_reason),
    }


def build() -> dict[str, Any]:
    keys = [PrivateKey.from_hex(k) for k in PRIVATE_KEYS]
    pubs = [k.public_key.to_bytes() for k in keys]
    validators = sort_validators(pubs)
    order = [pubs.index(v) for v in validators]  # validator index -> private key index
    contract = bytes.fromhex("00000000000000000000000000000000000000a1")

    txs = [
        Transaction.create(
            keys[0],
            chain_id=CHAIN_ID,
            to=contract,
            data=bytes.fromhex("a9059cbb") + bytes(range(64)),
            gas_limit=250_000,
            expiry_height=1_000,
            nonce=bytes(range(16)),
        ),
        Transaction.create(
            keys[1],
            chain_id=CHAIN_ID,
            to=contract,
            data=b"",
            gas_limit=0,
            expiry_height=1,
            nonce=b"\xff" * 16,
        ),
        Transaction.create(
            keys[2],
            chain_id=CHAIN_ID,
            to=contract,
            data=bytes(300),  # long enough for two-byte RLP lengths
            gas_limit=(1 << 64) - 1,
            expiry_height=65_536,
            nonce=b"\x00" * 16,
        ),
    ]
    receipts = [
        Receipt(
            txs[0].tx_hash,
            1,
            51_234,
            (Log(contract, (b"\x01" * 32, b"\x02" * 32), b"event data"), Log(contract, (), b"")),
            b"",
        ),
        Receipt(txs[1].tx_hash, 0, 21_000, (), b"Governance: not authorised"),
        Receipt(txs[2].tx_hash, 1, 0, (), b""),
    ]
    vhash = compute_validators_hash(validators)
    header = BlockHeader(
        version=1,
        chain_id=CHAIN_ID,
        height=42,
        parent_hash=b"\xaa" * 32,
        timestamp_ms=1_717_171_717_171,
        round=2,
        proposer_index=1,
        tx_root=compute_tx_root(txs),
        receipt_root=compute_receipt_root(receipts),
        state_root=b"\x5e" * 32,
        history_root=compute_root([bytes([i]) * 32 for i in range(42)]),
        validators_hash=vhash,
        next_validators_hash=vhash,
        gas_used=sum(r.gas_used for r in receipts),
    )
    block = Block(header, tuple(txs), tuple(validators))
    preimage = commit_preimage(CHAIN_ID, header.height, header.round, header.block_hash)
    seals = tuple(Seal(i, keys[order[i]].sign(preimage)) for i in (0, 1, 3))
    cert = CommitCertificate(header.height, header.round, header.block_hash, seals)

    merkle_leaves = [b"", b"\x00", b"leaf 2", bytes(100), b"leaf 4", b"leaf 5", b"leaf 6"]
    return {
        "description": (
            "Xinlian wire-format golden vectors (docs/wire-format.md). All byte strings are hex. "
            "Signatures are SM2 with user ID 1234567812345678 and are randomised: check that each verifies; "
            "every other value is deterministic. Generated by scripts/make_wire_vectors.py."
        ),
        "chain_id": CHAIN_ID,
        "private_keys": PRIVATE_KEYS,
        "public_keys": [hx(p) for p in pubs],
        "validators": {
            "sorted_public_keys": [hx(v) for v in validators],
            "validators_hash": hx(vhash),
        },
        "transactions": [tx_vector(keys[i], i, tx) for i, tx in enumerate(txs)],
        "tx_root": hx(header.tx_root),
        "receipts": [{"fields": receipt_fields(r), "encoded": hx(r.encode())} for r in receipts],
        "receipt_root": hx(header.receipt_root),
        "header": {
            "fields": header_fields(header),
            "encoded": hx(header.encode()),
            "block_hash": hx(header.block_hash),
        },
        "block": {"encoded": hx(block.encode())},
        "certificate": {
            "commit_preimage": hx(preimage),
            "seals": [{"validator_index": s.validator_index, "signature": hx(s.signature)} for s in seals],
            "encoded": hx(cert.encode()),
        },
        "merkle": {
            "leaves": [hx(d) for d in merkle_leaves],
            "roots": [hx(compute_root(merkle_leaves[:n])) for n in range(len(merkle_leaves) + 1)],
            "inclusion": [
                {"index": i, "size": 7, "proof": [hx(p) for p in compute_inclusion_proof(merkle_leaves, i)]}
                for i in range(7)
            ],
            "consistency": [
                {
                    "old_size": m,
                    "new_size": 7,
                    "proof": [hx(p) for p in compute_consistency_proof(merkle_leaves, m)],
                }
                for m in range(8)
            ],
        },
    }


def main() -> None:
    OUT.write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
