"""Consensus messages, arithmetic, certificates, the verification memo and the WAL."""

from __future__ import annotations

import pytest

from node.consensus.core import (
    ConsensusConfig,
    compute_max_faulty,
    compute_proposer_index,
    compute_quorum,
    compute_round_timeout_ms,
    validate_commit_certificate,
)
from node.consensus.messages import (
    Commit,
    CommitPayload,
    MessageKind,
    Prepare,
    PreparedCertificate,
    PreparePayload,
    Proposal,
    ProposalPayload,
    RoundChange,
    RoundChangePayload,
    compute_commit_seal_preimage,
    compute_signing_preimage,
    decode_message,
    decode_prepared_certificate,
    encode_message,
    encode_prepared_certificate,
    sign_payload,
    verify_signed,
)
from node.consensus.signing import CachingVerifier, Sm2Signer, Sm2Verifier
from node.consensus.wal import EquivocationRefused, InMemoryWal, WalRecord
from sdk.crypto import PrivateKey
from sdk.encoding import encode as rlp_encode
from sdk.errors import ConsensusError, EncodingError, InvalidSignatureError
from sdk.proofs.certificate import verify_certificate
from sdk.types import BlockHeader, CommitCertificate, Seal, commit_preimage

SIGNERS = [Sm2Signer(PrivateKey.generate()) for _ in range(4)]
KEYS = tuple(s.public_key for s in SIGNERS)
DIGEST = bytes(range(32))


def identity(block: bytes) -> bytes:
    return block


# --- arithmetic -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("n", "f", "quorum"),
    [(1, 0, 1), (2, 0, 2), (3, 0, 2), (4, 1, 3), (5, 1, 4), (6, 1, 4), (7, 2, 5), (10, 3, 7)],
)
def test_quorum_is_ceil_two_thirds_not_two_f_plus_one(n: int, f: int, quorum: int) -> None:
    assert compute_max_faulty(n) == f
    assert compute_quorum(n) == quorum


def test_proposer_rotates_from_the_parent_proposer_and_with_the_round() -> None:
    assert [compute_proposer_index(None, r, 4) for r in range(5)] == [0, 1, 2, 3, 0]
    assert [compute_proposer_index(2, r, 4) for r in range(3)] == [3, 0, 1]
    assert compute_proposer_index(0, 0, 1) == compute_proposer_index(None, 7, 1) == 0
    with pytest.raises(ConsensusError):
        compute_proposer_index(None, 0, 0)


def test_round_timeout_doubles_and_is_capped() -> None:
    config = ConsensusConfig(1, 500, 1_000, 8_000)
    assert [compute_round_timeout_ms(config, r) for r in range(6)] == [
        1_000,
        2_000,
        4_000,
        8_000,
        8_000,
        8_000,
    ]
    assert compute_round_timeout_ms(config, 10**9) == 8_000


def test_config_refuses_nonsense() -> None:
    with pytest.raises(ConsensusError):
        ConsensusConfig(1, 0, 1_000, 8_000)
    with pytest.raises(ConsensusError):
        ConsensusConfig(1, 500, 1_000, 999)


# --- messages ---------------------------------------------------------------------------------------------
def _sample_messages() -> list[object]:
    s = SIGNERS[0]
    prepare = Prepare(sign_payload(5, PreparePayload(3, 1, DIGEST), s))
    seal = s.sign(compute_commit_seal_preimage(5, 3, 1, DIGEST))
    commit = Commit(sign_payload(5, CommitPayload(3, 1, DIGEST, seal), s))
    rc_empty = RoundChange(sign_payload(5, RoundChangePayload(3, 2, None, None), s))
    rc_prepared = RoundChange(
        sign_payload(5, RoundChangePayload(3, 2, 1, DIGEST), s), b"block-bytes", (prepare.signed,) * 2
    )
    proposal = Proposal(
        sign_payload(5, ProposalPayload(3, 2, DIGEST), s),
        b"block-bytes",
        (rc_prepared.signed,),
        (prepare.signed,),
    )
    return [prepare, commit, rc_empty, rc_prepared, proposal]


@pytest.mark.parametrize("message", _sample_messages(), ids=lambda m: type(m).__name__)
def test_messages_round_trip_through_the_canonical_encoding(message: object) -> None:
    encoded = encode_message(message, identity)  # type: ignore[arg-type]
    assert decode_message(encoded, identity) == message
    with pytest.raises(EncodingError):
        decode_message(encoded + b"\x00", identity)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        rlp_encode([]),
        rlp_encode([9, []]),
        rlp_encode([2, [[3, 1, DIGEST], KEYS[0], b"\x01" * 64], b"extra"]),
        rlp_encode([2, [[3, 1, DIGEST[:31]], KEYS[0], b"\x01" * 64]]),
        rlp_encode([2, [[b"\x00\x03", 1, DIGEST], KEYS[0], b"\x01" * 64]]),  # non-canonical integer
        rlp_encode([4, [[3, 2, [1]], KEYS[0], b"\x01" * 64], [], []]),  # half a prepared claim
        rlp_encode([4, [[3, 2, []], KEYS[0], b"\x01" * 64], [b"a", b"b"], []]),
    ],
)
def test_malformed_encodings_are_refused(data: bytes) -> None:
    with pytest.raises(EncodingError):
        decode_message(data, identity)


def test_signatures_are_bound_to_the_chain_kind_and_fields() -> None:
    signed = sign_payload(5, PreparePayload(3, 1, DIGEST), SIGNERS[1])
    verifier = Sm2Verifier()
    verify_signed(5, signed, verifier)
    with pytest.raises(InvalidSignatureError):
        verify_signed(6, signed, verifier)  # another chain
    as_proposal = type(signed)(ProposalPayload(3, 1, DIGEST), signed.author, signed.signature)
    with pytest.raises(InvalidSignatureError):
        verify_signed(5, as_proposal, verifier)  # another kind
    assert compute_signing_preimage(5, PreparePayload(3, 1, DIGEST)) != compute_signing_preimage(
        5, ProposalPayload(3, 1, DIGEST)
    )


def test_half_filled_prepared_metadata_never_signs_like_an_empty_one() -> None:
    empty = compute_signing_preimage(5, RoundChangePayload(3, 2, None, None))
    assert compute_signing_preimage(5, RoundChangePayload(3, 2, 1, None)) != empty
    assert compute_signing_preimage(5, RoundChangePayload(3, 2, None, DIGEST)) != empty


def test_commit_seals_sign_the_sdk_commit_preimage() -> None:
    assert compute_commit_seal_preimage(5, 3, 1, DIGEST) == commit_preimage(5, 3, 1, DIGEST)


def test_prepared_certificate_round_trips() -> None:
    prepares = tuple(sign_payload(5, PreparePayload(3, 1, DIGEST), s) for s in SIGNERS[:3])
    cert = PreparedCertificate(1, b"block", prepares)
    assert decode_prepared_certificate(encode_prepared_certificate(cert, identity), identity) == cert


# --- certificates -----------------------------------------------------------------------------------------
def _certificate(indices: list[int], *, round: int = 0) -> CommitCertificate:
    preimage = commit_preimage(5, 3, round, DIGEST)
    return CommitCertificate(3, round, DIGEST, tuple(Seal(i, SIGNERS[i].sign(preimage)) for i in indices))


def _validate(cert: CommitCertificate, *, round: int = 0) -> None:
    validate_commit_certificate(
        chain_id=5,
        validators=KEYS,
        height=3,
        round=round,
        block_hash=DIGEST,
        certificate=cert,
        verifier=Sm2Verifier(),
    )


def test_certificate_needs_a_quorum_of_distinct_valid_seals() -> None:
    _validate(_certificate([0, 1, 2]))
    with pytest.raises(ConsensusError, match="too few"):
        _validate(_certificate([0, 1]))
    good = _certificate([0, 1, 2])
    forged = CommitCertificate(3, 0, DIGEST, (*good.seals[:2], Seal(3, good.seals[2].signature)))
    with pytest.raises(ConsensusError, match="does not verify"):
        _validate(forged)
    with pytest.raises(ConsensusError, match="another block"):
        _validate(good, round=1)


def test_core_certificates_satisfy_the_sdk_verifier() -> None:
    header = BlockHeader(
        version=1,
        chain_id=5,
        height=3,
        parent_hash=b"\x01" * 32,
        timestamp_ms=1,
        round=2,
        proposer_index=1,
        tx_root=b"\x02" * 32,
        receipt_root=b"\x03" * 32,
        state_root=b"\x04" * 32,
        history_root=b"\x05" * 32,
        validators_hash=b"\x06" * 32,
        next_validators_hash=b"\x06" * 32,
        gas_used=0,
    )
    preimage = compute_commit_seal_preimage(5, 3, header.round, header.block_hash)
    cert = CommitCertificate(
        3, 2, header.block_hash, tuple(Seal(i, SIGNERS[i].sign(preimage)) for i in range(3))
    )
    verify_certificate(cert, header, KEYS)


# --- verification memo ------------------------------------------------------------------------------------
class CountingVerifier:
    def __init__(self) -> None:
        self.calls = 0
        self.inner = Sm2Verifier()

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> None:
        self.calls += 1
        self.inner.verify(public_key, message, signature)


def test_caching_verifier_memoises_verdicts_both_ways_and_stays_bounded() -> None:
    inner = CountingVerifier()
    cache = CachingVerifier(inner, max_entries=2)
    sig = SIGNERS[0].sign(b"m")
    cache.verify(KEYS[0], b"m", sig)
    cache.verify(KEYS[0], b"m", sig)
    for _ in range(2):
        with pytest.raises(InvalidSignatureError):
            cache.verify(KEYS[1], b"m", sig)
    assert inner.calls == 2 and cache.hits == 2
    cache.verify(KEYS[0], b"m", SIGNERS[0].sign(b"m"))  # a re-signature is another triple
    assert len(cache) == 2 and inner.calls == 3


def test_verifier_refuses_a_malformed_public_key() -> None:
    with pytest.raises(InvalidSignatureError):
        Sm2Verifier().verify(b"\x00" * 64, b"m", SIGNERS[0].sign(b"m"))


# --- WAL ------------------------------------------------------------------------------------------------
def test_wal_refuses_a_second_value_for_a_signed_step_and_prunes_committed_heights() -> None:
    wal = InMemoryWal()
    wal.append(WalRecord(3, 0, MessageKind.PREPARE, DIGEST))
    wal.append(WalRecord(3, 0, MessageKind.PREPARE, DIGEST))  # the same value again is fine
    with pytest.raises(EquivocationRefused):
        wal.append(WalRecord(3, 0, MessageKind.PREPARE, b"\xff" * 32))
    wal.append(WalRecord(3, 1, MessageKind.PREPARE, b"\xff" * 32))
    wal.append(WalRecord(4, 0, MessageKind.ROUND_CHANGE, DIGEST))
    assert [r.round for r in wal.get_records(3)] == [0, 0, 1]
    wal.prune_below(4)
    assert wal.get_records(3) == () and len(wal) == 1
