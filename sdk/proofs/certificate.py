"""The commit-certificate rule: when a certificate proves that a block was committed.

One rule for everyone who checks seals: the node's consensus and ledger (a block it is handed or syncs),
the offline Verifier (every sealed header of a bundle) and clients. A certificate proves a block when it
names the block's height, round and hash, the validator set is non-empty without repeated keys, its seals
come from distinct validators of that set in index order, at least ``compute_quorum(n)`` of them sealed,
and every seal is that validator's SM2 signature over ``commit_preimage(chain_id, height, round, hash)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal

from sdk.errors import CertificateError, ChainError, QuorumError, SignatureError, XinlianError
from sdk.types import BlockHeader, CommitCertificate, commit_preimage, public_key_of

#: Why a certificate failed (``CertificateError.detail["fault"]``): the validator set itself, another
#: block, the seals' order or range, too few seals, or a seal that does not verify.
Fault = Literal["validator_set", "other_block", "seal_order", "quorum", "seal"]

#: ``verify_seal(public_key, preimage, signature)`` returns None or raises a XinlianError.
SealCheck = Callable[[bytes, bytes, bytes], None]

_BUNDLE_ERRORS: Final[dict[str, type[ChainError | QuorumError | SignatureError]]] = {
    "validator_set": QuorumError,
    "other_block": ChainError,
    "seal_order": QuorumError,
    "quorum": QuorumError,
    "seal": SignatureError,
}


def compute_quorum(validator_count: int) -> int:
    """Return (2n - 1) div 3 + 1 = ceil(2n/3), the distinct validators a quorum needs (not 2f+1: n = 6);
    1 for 1, 3 for 4, 67 for 100."""
    return (2 * validator_count - 1) // 3 + 1


def _verify_sm2(public_key: bytes, preimage: bytes, signature: bytes) -> None:
    public_key_of(public_key).verify(preimage, signature)


def _fail(fault: Fault, message: str, **detail: Any) -> CertificateError:
    return CertificateError(message, fault=fault, **detail)


def check_certificate(
    cert: CommitCertificate,
    *,
    chain_id: int,
    height: int,
    round: int,
    block_hash: bytes,
    validators: Sequence[bytes],
    verify_seal: SealCheck = _verify_sm2,
) -> tuple[int, ...]:
    """Check that ``cert`` proves block ``block_hash`` committed at (``height``, ``round``) of chain
    ``chain_id`` by the set ``validators`` (64-byte public keys, in index order).

    Returns the indexes of the sealing validators. Raises CertificateError saying which check failed,
    with ``detail["fault"]`` one of ``Fault``.
    """
    _check_set(validators)
    for field, claimed, actual in (("height", cert.height, height), ("round", cert.round, round)):
        if claimed != actual:
            raise _fail(
                "other_block",
                f"certificate seals another block: it is for {field} {claimed}, the block's is {actual}",
                **{f"certificate_{field}": claimed, f"block_{field}": actual},
            )
    if cert.block_hash != block_hash:
        raise _fail(
            "other_block",
            "certificate seals another block",
            certificate_block_hash=cert.block_hash.hex(),
            block_hash=block_hash.hex(),
        )
    preimage = commit_preimage(chain_id, cert.height, cert.round, cert.block_hash)
    seals = [(s.validator_index, s.signature) for s in cert.seals]
    return check_seals(seals, validators, preimage, verify_seal=verify_seal)


def _check_set(validators: Sequence[bytes]) -> None:
    if not validators:
        raise _fail("validator_set", "the validator set is empty")
    if len(set(validators)) != len(validators):
        raise _fail("validator_set", "the validator set names the same public key twice")


def check_seals(
    seals: Sequence[tuple[int, bytes]],
    validators: Sequence[bytes],
    preimage: bytes,
    *,
    verify_seal: SealCheck = _verify_sm2,
) -> tuple[int, ...]:
    """The quorum rule on its own: ``seals`` ((validator index, signature) pairs) come from distinct
    validators of ``validators`` in index order, at least ``compute_quorum(n)`` of them, and each is that
    validator's SM2 signature over ``preimage``. Used for commit certificates and licence statements.

    Returns the indexes. Raises CertificateError with ``detail["fault"]`` one of ``Fault``.
    """
    _check_set(validators)
    n = len(validators)
    indexes = tuple(i for i, _ in seals)
    if any(b <= a for a, b in itertools.pairwise(indexes)):
        raise _fail("seal_order", "seals are not sorted by validator index without duplicates")
    for i in indexes:
        if i >= n:
            raise _fail(
                "seal_order", f"seal from validator index {i}, but the set has {n}", validator_index=i
            )
    need = compute_quorum(n)
    if len(indexes) < need:
        raise _fail(
            "quorum",
            f"too few seals: sealed by {len(indexes)} distinct validators, quorum of {n} is {need}",
            signers=len(indexes),
            quorum=need,
        )
    for index, signature in seals:
        try:
            verify_seal(validators[index], preimage, signature)
        except XinlianError as exc:
            raise _fail(
                "seal",
                f"seal of validator {index} does not verify: {exc.message}",
                validator_index=index,
            ) from exc
    return indexes


def verify_certificate(
    cert: CommitCertificate, header: BlockHeader, validators: Sequence[bytes]
) -> tuple[int, ...]:
    """Check that ``cert`` proves ``header`` under the validator set ``validators`` (``check_certificate``
    with the header's chain id, height, round and hash). Returns the sealing indexes; raises
    CertificateError."""
    return check_certificate(
        cert,
        chain_id=header.chain_id,
        height=header.height,
        round=header.round,
        block_hash=header.block_hash,
        validators=validators,
    )


def check_sealed(
    cert: CommitCertificate | None, header: BlockHeader, validators: Sequence[bytes], what: str
) -> tuple[int, ...]:
    """The Verifier's view of the rule: ``cert`` must seal ``header`` (``what``, e.g. "the event block").

    Returns the sealing indexes. Raises ChainError (a certificate of another block), QuorumError (none, too
    few or out-of-range seals, a malformed set) or SignatureError (a seal that does not verify).
    """
    h = header.height
    if cert is None:
        raise QuorumError(f"{what} (height {h}) has no commit certificate", height=h)
    try:
        return verify_certificate(cert, header, validators)
    except CertificateError as exc:
        raise as_verification_error(exc, validators, f"{what} (height {h})", height=h) from exc


def as_verification_error(
    exc: CertificateError, validators: Sequence[bytes], what: str, **detail: Any
) -> ChainError | QuorumError | SignatureError:
    """The Verifier's error for a failed quorum rule about ``what``: ChainError (another block),
    QuorumError (too few or out-of-range seals, a malformed set) or SignatureError (a bad seal)."""
    detail.update({k: v for k, v in exc.detail.items() if k != "fault"})
    fault = str(exc.detail["fault"])
    if fault == "seal":
        i = int(detail["validator_index"])
        detail["validator"] = validators[i].hex()[:16] + "…"
    return _BUNDLE_ERRORS[fault](f"{what}: {exc.message}", **detail)
