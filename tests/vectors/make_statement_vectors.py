"""Write tests/vectors/statement_vectors.json: licence status statements (XLS1) sealed by fixed test keys,
each with the verdict both verifiers (sdk.proofs.statement and node/api/static/verify.js) must reach.

Run: ``python tests/vectors/make_statement_vectors.py`` (signatures are fresh each run; the verdicts are not).
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sdk.crypto import PrivateKey, sm3
from sdk.identifiers import make_licence_id
from sdk.proofs.statement import LicenceStatement, StatementFacts
from sdk.proofs.trust import Genesis, trust_to_json
from sdk.types import sort_validators

OUT = Path(__file__).with_name("statement_vectors.json")
CHAIN_ID = 4242
NOW_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: the time the cases are verified at
ISSUER_ORG = "91110000MA01ABCDE0"
TYPE_CODE = "11100000000013338W032"


def keys(seed: str, n: int) -> list[PrivateKey]:
    """Fixed test keys (never real ones): scalars from SM3 of a seed."""
    return [PrivateKey.from_bytes(b"\x00" + sm3(f"{seed}/{i}".encode())[1:]) for i in range(n)]


def ordered(ks: list[PrivateKey]) -> list[PrivateKey]:
    by_pub = {k.public_key.to_bytes(): k for k in ks}
    return [by_pub[p] for p in sort_validators(list(by_pub))]


def trust(ks: list[PrivateKey]) -> dict[str, Any]:
    return trust_to_json(Genesis(CHAIN_ID, sm3(b"genesis"), tuple(k.public_key.to_bytes() for k in ks)))


def facts(**over: Any) -> StatementFacts:
    base = StatementFacts(
        chain_id=CHAIN_ID,
        identifier=make_licence_id(TYPE_CODE, ISSUER_ORG, "A1B2C3", 1, check_embedded_uscc=False),
        holder_commitment=sm3(b"holder"),
        document_hash=sm3(b"document"),
        valid_from=1_735_689_600,
        valid_until=1_893_456_000,
        jurisdiction="110105",
        status_code=1,
        height=1234,
        block_time_s=NOW_MS // 1000 - 3600,
        block_hash=sm3(b"block 1234"),
    )
    return replace(base, **over)


def seal(f: StatementFacts, ks: list[PrivateKey], signers: list[int]) -> LicenceStatement:
    pre = f.preimage()
    return LicenceStatement(f, tuple((i, ks[i].sign(pre)) for i in signers))


def main() -> None:
    four, one, strangers = ordered(keys("validator", 4)), ordered(keys("solo", 1)), ordered(keys("other", 4))
    valid = seal(facts(), four, [0, 1, 3])
    # the bitmap names 3 validators; 4 signatures follow (validator 0's twice)
    raw_dup = _with_extra_signature(valid, valid.seals[0][1])
    w = trust(four)  # the four-validator trust file
    cases = [
        ("valid", valid.to_qr_bytes(), w, "", False),
        ("valid-one-validator", seal(facts(), one, [0]).to_qr_bytes(), trust(one), "", False),
        ("valid-text", valid.to_qr_text().encode(), trust(four), "", False),
        (
            "wrong-chain",
            seal(facts(chain_id=4243), four, [0, 1, 2]).to_qr_bytes(),
            trust(four),
            "ChainError",
            False,
        ),
        ("unknown-validator-set", valid.to_qr_bytes(), trust(strangers), "SignatureError", False),
        ("too-few-seals", seal(facts(), four, [0, 2]).to_qr_bytes(), trust(four), "QuorumError", False),
        ("duplicate-seal", raw_dup, trust(four), "FormatError", False),
        (
            "seal-outside-the-set",
            seal(facts(), four, [0, 1, 3]).to_qr_bytes(),
            trust(one),
            "QuorumError",
            False,
        ),
        (
            "revoked",
            seal(facts(status_code=5), four, [1, 2, 3]).to_qr_bytes(),
            trust(four),
            "StatusError",
            False,
        ),
        (
            "stale",
            seal(facts(block_time_s=NOW_MS // 1000 - 2 * 86400), four, [0, 1, 2]).to_qr_bytes(),
            trust(four),
            "",
            True,
        ),
    ]
    doc = {
        "description": "XLS1 licence statements; verify each payload (hex) against its trust file at now_ms",
        "now_ms": NOW_MS,
        "flip": "valid-one-validator",
        "cases": [
            {"name": n, "payload": p.hex(), "trust": t, "error": e, "stale": s} for n, p, t, e, s in cases
        ],
    }
    OUT.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(cases)} cases)")


def _with_extra_signature(statement: LicenceStatement, signature: bytes) -> bytes:
    from sdk.encoding import decode, encode

    top = decode(statement.encode())
    assert isinstance(top, list) and isinstance(top[4], list)
    top[4][1] = bytes(top[4][1]) + signature
    return b"XLS1:" + encode(top)


if __name__ == "__main__":
    main()
