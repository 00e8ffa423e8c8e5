"""Where the bytes of a licence's offline proof go: a size breakdown of a real licence bundle's compact form.

Run: ``.venv/bin/python scripts/bench/credential_bytes.py [--url URL --network var/devnet]``.
The ``xls1`` part measures the built licence status statement (docs/proof-bundle.md, "Licence status
statements") with real SM2 signatures.
Without ``--url`` it starts a one-validator node in a temporary folder, issues an e-licence and measures the
bundle the node serves (``GET /v1/proofs/licences/{id}``: issuance event + current status). Prints JSON:
each part's RLP size in bytes, the deflated total and the QR version it needs
(docs/design-notes/compact-credential.md reads these numbers).
"""

from __future__ import annotations

import argparse
import json
import sys
import zlib
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from scripts.bench.verify import fetch, node_at  # noqa: E402
from sdk.encoding import (  # noqa: E402
    decode as rlp_decode,
    decode_fields,
    decode_list,
    decode_string,
    encode,
)
from sdk.proofs.bundle import ProofBundle  # noqa: E402
from sdk.proofs.qr import make_credential_payload  # noqa: E402
from sdk.proofs.trust import load_trust  # noqa: E402
from sdk.proofs.verify import Verifier  # noqa: E402


def _size(item: Any) -> int:
    """Bytes of an RLP item once encoded again (strings and lists alike)."""

    def plain(x: Any) -> Any:
        return [plain(i) for i in x] if isinstance(x, list) else bytes(x)

    return len(encode(plain(item)))


def breakdown(doc: dict[str, Any], trust: dict[str, Any]) -> dict[str, Any]:
    """The compact bundle's parts and their sizes, and the licence's own facts (verified first)."""
    verified = Verifier(trust=load_trust(trust)).verify_bundle(doc)
    licence = verified.licence
    if licence is None:
        raise SystemExit("not a licence bundle")
    bundle = ProofBundle.from_json(doc)
    compact = bundle.to_compact()
    top = decode_fields(rlp_decode(compact), "bundle", 7)
    event = decode_fields(top[3], "event", 7)
    block = decode_fields(top[4], "block", 3)
    tx = bundle.event.tx
    receipt = bundle.event.receipt
    log = receipt.logs[bundle.event.log_index or 0]
    seals = decode_fields(rlp_decode(decode_string(block[1], "cert")), "cert", 4)[3]
    n_seals = len(decode_list(seals, "seals"))
    out: dict[str, Any] = {
        "compact_total": len(compact),
        "deflated_total": len(zlib.compress(compact, 9)),
        "qr_version_XL1_text": make_credential_payload(bundle).version,
        "version_chain_genesis": _size(top[0]) + _size(top[1]) + _size(top[2]),
        "event": {
            "tx": _size(event[0]),
            "tx_call_data": len(tx.data),
            "tx_public_key_and_signature": len(tx.public_key) + len(tx.signature),
            "receipt": _size(event[1]),
            "receipt_licence_issued_log_data": len(log.data),
            "receipt_log_topics": 32 * len(log.topics),
            "tx_index_count_log_index": _size(event[2]) + _size(event[3]) + _size(event[6]),
            "tx_proof": _size(event[4]),
            "receipt_proof": _size(event[5]),
            "tx_count": bundle.event.tx_count,
        },
        "event_block": {
            "header": _size(block[0]),
            "certificate": _size(block[1]),
            "seals": n_seals,
            "history": _size(block[2]),
        },
        "handovers": _size(top[5]),
    }
    if bundle.state is not None:
        state = decode_fields(top[6], "state", 6)
        sealed = decode_fields(state[0], "state.sealed", 3)
        out["state"] = {
            "header": _size(sealed[0]),
            "certificate": _size(sealed[1]),
            "kind_address_slot": _size(state[1]) + _size(state[2]) + _size(state[3]),
            "account_proof": _size(state[4]),
            "account_proof_nodes": len(bundle.state.account_proof),
            "storage_proof": _size(state[5]),
            "storage_proof_nodes": len(bundle.state.storage_proof),
        }
    event_only = ProofBundle.from_json(dict(doc, state=None))
    out["event_only_compact"] = len(event_only.to_compact())
    out["event_only_deflated"] = len(zlib.compress(event_only.to_compact(), 9))
    # the facts a citizen is shown, RLP-encoded as one record (what a compact statement would have to carry)
    facts = [
        licence.identifier.encode(),
        licence.type_id,
        licence.issuer,
        licence.issuer_org.encode(),
        licence.holder_commitment,
        licence.holder_key_hash,
        licence.document_hash,
        licence.valid_from,
        licence.valid_until,
        licence.jurisdiction.encode(),
    ]
    out["licence_facts"] = {
        "identifier_chars": len(licence.identifier),
        "issuer_org_chars": len(licence.issuer_org.encode()),
        "jurisdiction_chars": len(licence.jurisdiction),
        "record_rlp": len(encode(facts)),
        "status_height_time_rlp": len(encode([1, verified.height, verified.block_time_ms])),
    }
    out["compact_statement"] = statement_sizes(licence, verified)
    return out


def _qr_version(data: bytes, level: str = "l") -> int | None:
    """The smallest QR version holding ``data`` in binary mode at error ``level`` (L by default), or None."""
    import segno

    try:
        return int(segno.make(data, error=level, mode="byte", micro=False, boost_error=False).version)
    except segno.DataOverflowError:
        return None


def statement_sizes(licence: Any, verified: Any) -> dict[str, Any]:
    """Sizes of the compact statement sketched in docs/design-notes/compact-credential.md, built from this
    licence's real facts with random stand-ins of the right size for the validators' seals: RLP [version,
    chain id, [identifier, holder commitment, document hash, valid from, valid until, jurisdiction],
    [status, height, block time s], [[validator index, signature], …]], for 1 to 7 seals."""
    import secrets

    record = [
        licence.identifier.encode(),
        licence.holder_commitment,
        licence.document_hash,
        licence.valid_from,
        licence.valid_until,
        licence.jurisdiction.encode(),
    ]
    status = [1, verified.height + 1_000_000, verified.block_time_ms // 1000]  # a mature chain's height
    sizes: dict[str, Any] = {
        "record_rlp": len(encode(record)),
        "status_rlp": len(encode(status)),
        "seal_rlp": len(encode([6, secrets.token_bytes(64)])),
    }
    # the identifier without its fixed root "1.2.156.3005.2." (GB/T 36904), seals packed as a bitmap of the
    # signing validators' indexes and their 64-byte signatures back to back
    packed_record = [licence.identifier.removeprefix("1.2.156.3005.2.").encode(), *record[1:]]
    sizes["packed_record_rlp"] = len(encode(packed_record))
    for quorum, validators in ((1, 1), (3, 4), (5, 7), (7, 10)):
        signatures = [secrets.token_bytes(64) for _ in range(quorum)]
        chain = verified.chain_id
        listed = encode([1, chain, record, status, [[i, sig] for i, sig in enumerate(signatures)]])
        packed = encode([1, chain, packed_record, status, [(1 << quorum) - 1, b"".join(signatures)]])
        sizes[f"{validators}_validators_{quorum}_seals"] = {
            "listed_bytes": len(listed),
            "listed_qr_version_L": _qr_version(listed),
            "packed_bytes": len(packed),
            "packed_qr_version_L": _qr_version(packed),
        }
    return sizes


def xls1_sizes(url: str, doc: dict[str, Any], trust: dict[str, Any]) -> dict[str, Any]:
    """The built XLS1 statement (sdk/proofs/statement.py): collected from the node (its real seal), then the
    same facts sealed by quorum-many fresh keys with real SM2 signatures, as 4, 7 and 10 validators would.
    Bytes of the binary QR payload (``XLS1:`` + RLP) and its QR version at level M (what `xinlian licence
    card` renders when it fits) and L."""
    from sdk.crypto import PrivateKey
    from sdk.proofs.certificate import compute_quorum
    from sdk.proofs.collect import collect_statement
    from sdk.proofs.statement import LicenceStatement
    from sdk.proofs.verify import Verifier

    anchor = load_trust(trust)
    licence = Verifier(trust=anchor).verify_bundle(doc).licence
    if licence is None:
        raise SystemExit("not a licence bundle")
    collected = collect_statement([url], licence.identifier, anchor)
    out: dict[str, Any] = {}
    for n in (1, 4, 7, 10):
        q = compute_quorum(n)
        pre = collected.facts.preimage()
        seals = collected.seals if n == 1 else tuple((i, PrivateKey.generate().sign(pre)) for i in range(q))
        payload = LicenceStatement(collected.facts, seals).to_qr_bytes()
        out[f"{n}_validators_{q}_seals"] = {
            "payload_bytes": len(payload),
            "qr_version_M": _qr_version(payload, "m"),
            "qr_version_L": _qr_version(payload),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running node (default: start one in a temporary folder)")
    parser.add_argument("--network", type=Path, default=Path("var/devnet"), help="network folder (orgs.json)")
    args = parser.parse_args()
    with node_at(args.url, args.network, "xl-bench-credential-") as (url, network):
        trust, licence = fetch(url, network)
        out = breakdown(licence, trust)
        out["xls1"] = xls1_sizes(url, licence, trust)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
