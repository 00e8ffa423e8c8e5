"""DataAuthorisation.vy on the real py-evm engine: every transition and refusal, SM2-precompile consent."""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import keccak

from node.api.access import VIEW_RECORDS, Record
from node.genesis import (
    DATA_AUTHORISATION_ADDRESS,
    DATA_HOLDER,
    DATA_REGULATOR,
    DATA_USER,
    GOVERNANCE_ADDRESS,
)
from sdk.contracts import DecodedEvent
from sdk.crypto import PrivateKey, sm3
from sdk.domains import authorisations as sdk_auth
from sdk.domains.authorisations import (
    ConsentTerms,
    GrantStatus,
    compute_consent_message,
    compute_fields_mask,
    compute_revocation_message,
    compute_subject_commitment,
    compute_subject_key_message,
    compute_subject_tag,
    sign_consent,
    sign_subject_key_binding,
)
from sdk.errors import DomainError, IdentifierError
from tests.contracts.worlds.authorisations import (
    BASIS,
    CHAIN_ID,
    CONDITION,
    DA,
    EMPTY32,
    HOLDER,
    HOLDER_AND_REGULATOR,
    HOLDER_CLERK,
    HOLDER_REGULATOR,
    M1,
    ORG_HOLDER,
    ORG_REG,
    ORG_REG2,
    ORG_USER,
    OTHER_HOLDER,
    OTHER_USER,
    PURPOSE,
    REGULATOR,
    REGULATOR2,
    REGULATOR_COLLEAGUE,
    RELAY,
    RESIDENT_ID,
    ROGUE_REGULATOR,
    SALT,
    SCHEMA,
    UNREGISTERED,
    USER,
    USER_REGULATOR,
    Chain,
    commitment,
    key_hash_of,
    make_chain,
    signed_binding,
    subject_tag,
)


@pytest.fixture()
def chain() -> Chain:
    return make_chain()


@pytest.fixture()
def subject() -> PrivateKey:
    return PrivateKey.generate()


# --- genesis ----------------------------------------------------------------------------------------------
def test_initialised_once_with_governance(chain: Chain) -> None:
    assert chain.view("initialized") is True
    assert chain.view("governance") == GOVERNANCE_ADDRESS
    assert chain.refused(M1, "initialize", USER) == "already initialized"


def test_role_ids_match_governance(chain: Chain) -> None:
    assert chain.view("DATA_HOLDER") == DATA_HOLDER
    assert chain.view("DATA_USER") == DATA_USER
    assert chain.view("DATA_REGULATOR") == DATA_REGULATOR


# --- resources --------------------------------------------------------------------------------------------
def test_holder_registers_resource_for_its_organisation(chain: Chain) -> None:
    events = chain.emitted(HOLDER, "register_resource", 2, 2, SCHEMA, CONDITION, 0b1011, True)
    assert events[0].name == "ResourceRegistered"
    assert events[0].args["holder"] == ORG_HOLDER
    assert events[0].args["resource_id"] == 1
    r = chain.view("resources", 1)
    assert (r["holder"], r["registrant"], r["level"], r["share_type"]) == (ORG_HOLDER, HOLDER, 2, 2)
    assert (r["schema_hash"], r["condition_hash"], r["fields"], r["personal"]) == (
        SCHEMA,
        CONDITION,
        0b1011,
        True,
    )
    assert chain.view("resource_count") == 1


@pytest.mark.parametrize(
    ("sender", "args", "reason"),
    [
        (USER, (1, 1, SCHEMA, EMPTY32, 1, False), "not a data holder"),
        (HOLDER_CLERK, (1, 1, SCHEMA, EMPTY32, 1, False), "not a data holder"),
        (HOLDER, (0, 1, SCHEMA, EMPTY32, 1, False), "level must be 1, 2 or 3"),
        (HOLDER, (4, 1, SCHEMA, EMPTY32, 1, False), "level must be 1, 2 or 3"),
        (HOLDER, (1, 4, SCHEMA, EMPTY32, 1, False), "share type must be 1, 2 or 3"),
        (HOLDER, (1, 1, SCHEMA, CONDITION, 1, False), "unconditional sharing takes no condition"),
        (HOLDER, (1, 2, SCHEMA, EMPTY32, 1, False), "conditional sharing needs a condition hash"),
        (HOLDER, (1, 3, SCHEMA, EMPTY32, 1, False), "no-sharing needs a basis hash"),
        (HOLDER, (1, 1, EMPTY32, EMPTY32, 1, False), "empty schema hash"),
        (HOLDER, (1, 1, SCHEMA, EMPTY32, 0, False), "a resource needs at least one field"),
    ],
)
def test_bad_resource_registration_is_refused(
    chain: Chain, sender: bytes, args: tuple[Any, ...], reason: str
) -> None:
    assert chain.refused(sender, "register_resource", *args) == reason
    assert chain.view("resource_count") == 0


def test_only_the_holder_organisation_reclassifies(chain: Chain) -> None:
    rid = chain.register()
    assert (
        chain.refused(OTHER_HOLDER, "set_share_type", rid, 3, BASIS)
        == "not an account of the holder organisation"
    )
    assert chain.refused(USER, "set_share_type", rid, 3, BASIS) == "not a data holder"
    assert chain.refused(HOLDER, "set_share_type", 99, 3, BASIS) == "unknown resource"
    assert chain.refused(HOLDER, "set_share_type", rid, 3, EMPTY32) == "no-sharing needs a basis hash"
    events = chain.emitted(HOLDER, "set_share_type", rid, 3, BASIS)
    assert events[0].name == "ShareTypeChanged" and events[0].args["share_type"] == 3
    assert chain.view("resources", rid)["condition_hash"] == BASIS


# --- requests ---------------------------------------------------------------------------------------------
def test_user_requests_a_field_subset(chain: Chain) -> None:
    rid = chain.register()
    start, end = chain.now + 10, chain.now + 1000
    events = chain.emitted(USER, "request", rid, PURPOSE, 0b101, start, end, 5, EMPTY32, EMPTY32)
    assert events[0].name == "AccessRequested"
    args = events[0].args
    assert (args["grant_id"], args["resource_id"], args["requester"]) == (1, rid, USER)
    assert (args["requester_org"], args["holder_org"]) == (ORG_USER, ORG_HOLDER)
    g = chain.view("grants", 1)
    assert (g["fields"], g["valid_from"], g["valid_until"], g["use_limit"], g["uses"]) == (
        0b101,
        start,
        end,
        5,
        0,
    )
    assert chain.status(1) == GrantStatus.REQUESTED


def test_bad_requests_are_refused(chain: Chain) -> None:
    open_rid = chain.register()
    personal_rid = chain.register(personal=True)
    conditional_rid = chain.register(share_type=2, condition=CONDITION)
    closed_rid = chain.register(share_type=3, condition=BASIS)
    now, later = chain.now, chain.now + 3600

    def refused(sender: bytes, *args: Any) -> str:
        return chain.refused(sender, "request", *args)

    assert refused(HOLDER, open_rid, PURPOSE, 1, now, later, 1, EMPTY32, EMPTY32) == "not a data user"
    assert refused(USER, 99, PURPOSE, 1, now, later, 1, EMPTY32, EMPTY32) == "unknown resource"
    assert (
        refused(USER, closed_rid, PURPOSE, 1, now, later, 1, EMPTY32, BASIS)
        == "resource is not shared (share type 3)"
    )
    assert (
        refused(USER, conditional_rid, PURPOSE, 1, now, later, 1, EMPTY32, EMPTY32)
        == "the resource's sharing condition is not acknowledged"
    )
    assert refused(USER, open_rid, EMPTY32, 1, now, later, 1, EMPTY32, EMPTY32) == "empty purpose"
    assert refused(USER, open_rid, PURPOSE, 0, now, later, 1, EMPTY32, EMPTY32) == "no fields requested"
    assert (
        refused(USER, open_rid, PURPOSE, 1 << 7, now, later, 1, EMPTY32, EMPTY32)
        == "fields outside the resource"
    )
    assert refused(USER, open_rid, PURPOSE, 1, later, later, 1, EMPTY32, EMPTY32) == "empty period"
    assert (
        refused(USER, open_rid, PURPOSE, 1, now - 100, now - 1, 1, EMPTY32, EMPTY32) == "period already over"
    )
    assert (
        refused(USER, open_rid, PURPOSE, 1, now, later, 0, EMPTY32, EMPTY32) == "use limit must be positive"
    )
    assert (
        refused(USER, personal_rid, PURPOSE, 1, now, later, 1, EMPTY32, EMPTY32)
        == "personal data needs a subject commitment"
    )
    assert (
        refused(USER, open_rid, PURPOSE, 1, now, later, 1, commitment(), EMPTY32)
        == "non-personal data takes no subject commitment"
    )
    assert chain.view("grant_count") == 0
    # acknowledging the condition makes the conditional request acceptable
    chain.emitted(USER, "request", conditional_rid, PURPOSE, 1, chain.now, later, 1, EMPTY32, CONDITION)


# --- grants of non-personal data ---------------------------------------------------------------------------
def test_holder_grants_non_personal_request(chain: Chain) -> None:
    gid = chain.request(chain.register())
    assert chain.refused(OTHER_HOLDER, "grant", gid, b"", b"") == "not an account of the holder organisation"
    assert chain.refused(USER, "grant", gid, b"", b"") == "not a data holder"
    assert chain.refused(HOLDER, "grant", gid, bytes(64), bytes(64)) == "non-personal data takes no consent"
    events = chain.emitted(HOLDER, "grant", gid, b"", b"")
    assert events[0].name == "AccessGranted"
    assert events[0].args["subject_tag"] == EMPTY32 and events[0].args["granted_by"] == HOLDER
    assert chain.status(gid) == GrantStatus.GRANTED
    assert chain.refused(HOLDER, "grant", gid, b"", b"") == "request is not pending"
    assert chain.refused(HOLDER, "grant", 99, b"", b"") == "unknown request"


def test_holder_refuses_a_request_and_it_cannot_be_granted(chain: Chain) -> None:
    gid = chain.request(chain.register())
    assert chain.refused(USER, "refuse", gid, EMPTY32) == "not a data holder"
    assert chain.refused(REGULATOR, "refuse", gid, EMPTY32) == "not a data holder"  # not core data
    reason = sm3(b"not within the agreed purpose")
    events = chain.emitted(HOLDER, "refuse", gid, reason)
    assert events[0].name == "RequestRefused" and events[0].args["reason_hash"] == reason
    assert chain.status(gid) == GrantStatus.REFUSED
    assert chain.refused(HOLDER, "grant", gid, b"", b"") == "request is not pending"


def test_no_grant_once_resource_is_not_shared(chain: Chain) -> None:
    rid = chain.register()
    gid = chain.request(rid)
    chain.emitted(HOLDER, "set_share_type", rid, 3, BASIS)
    assert chain.refused(HOLDER, "grant", gid, b"", b"") == "resource is not shared (share type 3)"
    assert chain.status(gid) == GrantStatus.REQUESTED


def test_grant_after_the_period_is_refused(chain: Chain) -> None:
    gid = chain.request(chain.register(), valid_until=chain.now + 5)
    chain.advance(10)
    assert chain.refused(HOLDER, "grant", gid, b"", b"") == "request period has ended"


# --- core data: regulator approval --------------------------------------------------------------------------
def test_core_data_needs_regulator_approval_before_grant(chain: Chain) -> None:
    gid = chain.request(chain.register(level=3))
    assert chain.refused(HOLDER, "grant", gid, b"", b"") == "core data needs regulator approval first"
    assert chain.refused(HOLDER, "approve", gid) == "not a data regulator"
    assert chain.refused(USER_REGULATOR, "approve", gid) == "a regulator cannot approve its own request"
    events = chain.emitted(REGULATOR, "approve", gid)
    assert events[0].name == "RequestApproved" and events[0].args["regulator"] == REGULATOR
    assert chain.status(gid) == GrantStatus.APPROVED
    assert chain.view("grants", gid)["approved_by"] == REGULATOR
    assert chain.refused(REGULATOR, "approve", gid) == "request already approved"
    chain.emitted(HOLDER, "grant", gid, b"", b"")
    assert chain.status(gid) == GrantStatus.GRANTED
    assert chain.refused(REGULATOR, "approve", gid) == "request is not pending"


def test_approval_applies_to_core_data_only(chain: Chain) -> None:
    gid = chain.request(chain.register(level=2))
    assert chain.refused(REGULATOR, "approve", gid) == "only core data needs approval"


def test_a_regulator_of_the_holder_organisation_cannot_approve(chain: Chain) -> None:
    # Attack: the holder organisation also holds DATA_REGULATOR and approves its own core-data grant.
    gid = chain.request(chain.register(level=3))
    for regulator in (HOLDER_REGULATOR, HOLDER_AND_REGULATOR):
        assert (
            chain.refused(regulator, "approve", gid)
            == "a regulator of the holder organisation cannot approve"
        )
    assert chain.view("grants", gid)["approved_by"] == bytes(20)
    assert chain.status(gid) == GrantStatus.REQUESTED
    assert chain.refused(HOLDER_AND_REGULATOR, "grant", gid, b"", b"") == (
        "core data needs regulator approval first"
    )


def test_regulator_may_refuse_core_request(chain: Chain) -> None:
    gid = chain.request(chain.register(level=3))
    chain.emitted(REGULATOR, "refuse", gid, EMPTY32)
    assert chain.status(gid) == GrantStatus.REFUSED
    assert chain.refused(REGULATOR, "approve", gid) == "request is not pending"


# --- personal data: the subject's consent -------------------------------------------------------------------
def test_consent_message_matches_the_sdk(chain: Chain) -> None:
    gid = chain.request(chain.register(personal=True), commitment=commitment())
    terms = chain.terms(gid)
    assert chain.view("consent_message", gid) == compute_consent_message(terms)
    assert chain.view("revocation_message", gid) == compute_revocation_message(
        CHAIN_ID, DATA_AUTHORISATION_ADDRESS, gid, commitment()
    )
    assert compute_consent_message(terms).startswith(b"xinlian/consent/1" + CHAIN_ID.to_bytes(32, "big"))


def test_grant_with_subject_consent_binds_the_subject_key(chain: Chain, subject: PrivateKey) -> None:
    gid = chain.request(chain.register(personal=True), commitment=commitment())
    chain.bind(subject)
    consent = sign_consent(subject, chain.terms(gid))
    events = chain.emitted(HOLDER, "grant", gid, consent.public_key, consent.signature)
    assert events[0].args == {
        "grant_id": gid,
        "resource_id": consent.terms.resource_id,
        "subject_tag": subject_tag(gid),  # neither the commitment nor the key hash
        "granted_by": HOLDER,
    }
    g = chain.view("grants", gid)
    assert g["subject_tag"] == subject_tag(gid) and g["granted_by"] == HOLDER
    assert "subject_commitment" not in g and "subject_key_hash" not in g
    # the consenting key is stored, out of sight: it (and no other) withdraws the consent
    assert chain.revocable_by(gid, subject) == ""
    assert chain.revocable_by(gid, PrivateKey.generate()) == "not the consenting subject's key"


def test_forged_or_missing_consent_is_refused(chain: Chain, subject: PrivateKey) -> None:
    gid = chain.request(chain.register(personal=True), commitment=commitment())
    terms = chain.terms(gid)
    chain.bind(subject)
    impostor = PrivateKey.generate()
    forged = sign_consent(impostor, terms)  # signed by another key, presented as the subject's
    bad = "subject consent signature is invalid"
    assert chain.refused(HOLDER, "grant", gid, subject.public_key.to_bytes(), forged.signature) == bad
    # consent to different terms (more uses, another request, another chain) does not fit this request
    for altered in (
        ConsentTerms(**{**_fields(terms), "use_limit": terms.use_limit + 1}),
        ConsentTerms(**{**_fields(terms), "grant_id": gid + 1}),
        ConsentTerms(**{**_fields(terms), "chain_id": CHAIN_ID + 1}),
        ConsentTerms(**{**_fields(terms), "fields": terms.fields | 0b100}),
    ):
        other = sign_consent(subject, altered)
        assert chain.refused(HOLDER, "grant", gid, other.public_key, other.signature) == bad
    # a revocation signature is no consent (different domain tag)
    revocation = subject.sign(
        compute_revocation_message(CHAIN_ID, DATA_AUTHORISATION_ADDRESS, gid, commitment())
    )
    assert chain.refused(HOLDER, "grant", gid, subject.public_key.to_bytes(), revocation) == bad
    assert chain.refused(HOLDER, "grant", gid, b"", b"") == "subject public key must be 64 bytes"
    assert chain.refused(HOLDER, "grant", gid, subject.public_key.to_bytes(), b"\x01" * 63) == (
        "consent signature must be 64 bytes"
    )
    assert chain.refused(HOLDER, "grant", gid, bytes(64), bytes(64)) == (
        "consent key is not the subject's bound key"
    )
    assert chain.status(gid) == GrantStatus.REQUESTED


# --- personal data: binding the subject's key (her own signature + an independent regulator) -------------
def test_regulator_binds_a_key_only_with_its_holders_own_signature(chain: Chain, subject: PrivateKey) -> None:
    # Attack: a regulator binds a key to a commitment (seen in AccessRequested) without the subject.
    gid = chain.request(chain.register(personal=True), commitment=commitment())
    pk = subject.public_key.to_bytes()
    impostor = PrivateKey.generate()
    genuine = signed_binding(subject)
    bad = "subject key signature is invalid"
    for signature in (
        bytes(64),  # no signature at all
        impostor.sign(
            compute_subject_key_message(  # another key signed the subject key's binding
                CHAIN_ID, DATA_AUTHORISATION_ADDRESS, commitment(), key_hash_of(subject), 1
            )
        ),
        signed_binding(subject, compute_subject_commitment("110105194912310038", SALT)).signature,
        signed_binding(subject, version=2).signature,  # the signature is for another key version
        sign_subject_key_binding(  # another chain
            subject,
            chain_id=CHAIN_ID + 1,
            contract=DATA_AUTHORISATION_ADDRESS,
            subject_commitment=commitment(),
        ).signature,
        sign_consent(subject, chain.terms(gid)).signature,  # a consent is no binding (domain tag)
    ):
        assert chain.refused(REGULATOR, "bind_subject_key", commitment(), pk, signature) == bad
    # the impostor's signature cannot bind the subject's key, nor the subject's the impostor's
    assert (
        chain.refused(
            REGULATOR, "bind_subject_key", commitment(), impostor.public_key.to_bytes(), genuine.signature
        )
        == bad
    )
    assert chain.refused(REGULATOR, "bind_subject_key", commitment(), b"", b"") == (
        "subject public key must be 64 bytes"
    )
    assert chain.refused(REGULATOR, "bind_subject_key", commitment(), pk, b"\x01" * 63) == (
        "subject key signature must be 64 bytes"
    )
    assert chain.refused(REGULATOR, "bind_subject_key", EMPTY32, pk, genuine.signature) == (
        "empty subject commitment"
    )
    assert chain.view("subject_keys", commitment())["key_hash"] == EMPTY32  # state unchanged

    events = chain.emitted(REGULATOR, "bind_subject_key", commitment(), pk, genuine.signature)
    assert events[0].name == "SubjectKeyBound"
    assert events[0].args == {
        "subject_commitment": commitment(),
        "key_hash": key_hash_of(subject),
        "by": REGULATOR,
        "attester_org": ORG_REG,
        "version": 1,
    }
    record = chain.view("subject_keys", commitment())
    assert (record["key_hash"], record["version"], record["attested_by"], record["attester_org"]) == (
        key_hash_of(subject),
        1,
        REGULATOR,
        ORG_REG,
    )
    assert (record["confirmed_by"], record["confirmer_org"]) == (bytes(20), "")
    assert chain.view("subject_key_history", commitment(), 1) == key_hash_of(subject)
    assert chain.view("subject_key_message", commitment(), key_hash_of(subject), 1) == (
        compute_subject_key_message(
            CHAIN_ID, DATA_AUTHORISATION_ADDRESS, commitment(), key_hash_of(subject), 1
        )
    )


def test_only_a_regulator_relays_a_subject_signed_binding(chain: Chain, subject: PrivateKey) -> None:
    binding = signed_binding(subject)
    for sender in (HOLDER, USER, RELAY, M1, UNREGISTERED):  # holder, user, plain members, an outsider
        assert (
            chain.refused(sender, "bind_subject_key", commitment(), binding.public_key, binding.signature)
            == "not a data regulator"
        )
    assert chain.view("subject_keys", commitment())["key_hash"] == EMPTY32


def test_a_bound_key_is_not_replaced_by_binding_again(chain: Chain, subject: PrivateKey) -> None:
    chain.bind(subject)
    other = PrivateKey.generate()
    binding = signed_binding(other)  # even a key's own, valid signature
    for regulator in (REGULATOR, USER_REGULATOR, REGULATOR2):
        assert (
            chain.refused(regulator, "bind_subject_key", commitment(), binding.public_key, binding.signature)
            == "subject key already bound"
        )
    assert chain.view("subject_keys", commitment())["key_hash"] == key_hash_of(subject)


def test_holder_and_regulator_cannot_forge_consent(chain: Chain) -> None:
    # Attack: an organisation holding DATA_HOLDER and DATA_REGULATOR binds a key of its own to the
    # subject's commitment (the chain cannot tell whose key it is), "consents" with it and grants.
    gid = chain.request(chain.register(personal=True), commitment=commitment())
    own_key = PrivateKey.generate()
    chain.bind(own_key, regulator=HOLDER_AND_REGULATOR)
    forged = sign_consent(own_key, chain.terms(gid))
    before = chain.view("grants", gid)
    for granter in (HOLDER_AND_REGULATOR, HOLDER):
        assert chain.refused(granter, "grant", gid, forged.public_key, forged.signature) == (
            "subject key attested by the holder organisation"
        )
    assert chain.view("grants", gid) == before and chain.status(gid) == GrantStatus.REQUESTED


def test_a_key_vouched_for_by_the_holders_regulator_cannot_consent(chain: Chain) -> None:
    gid = chain.request(chain.register(personal=True), commitment=commitment())
    own_key = PrivateKey.generate()
    chain.bind(own_key, regulator=HOLDER_REGULATOR)
    forged = sign_consent(own_key, chain.terms(gid))
    assert chain.refused(HOLDER, "grant", gid, forged.public_key, forged.signature) == (
        "subject key attested by the holder organisation"
    )
    assert chain.status(gid) == GrantStatus.REQUESTED


def test_a_key_vouched_for_by_the_requesters_regulator_cannot_consent(chain: Chain) -> None:
    gid = chain.request(chain.register(personal=True), commitment=commitment())
    own_key = PrivateKey.generate()
    chain.bind(own_key, regulator=USER_REGULATOR)
    forged = sign_consent(own_key, chain.terms(gid))
    assert chain.refused(HOLDER, "grant", gid, forged.public_key, forged.signature) == (
        "subject key attested by the requesting organisation"
    )
    assert chain.status(gid) == GrantStatus.REQUESTED


def rebind(
    chain: Chain, new_key: PrivateKey, *, proposer: bytes, confirmer: bytes, version: int = 2
) -> list[DecodedEvent]:
    binding = signed_binding(new_key, version=version)
    reason = sm3(b"case file 2024-17: key lost")
    chain.emitted(
        proposer,
        "propose_subject_key_rebind",
        binding.subject_commitment,
        binding.public_key,
        binding.signature,
        reason,
    )
    return chain.emitted(confirmer, "confirm_subject_key_rebind", commitment(), key_hash_of(new_key))


def test_a_regulator_cannot_lock_the_subject_out_with_a_wrong_key(chain: Chain, subject: PrivateKey) -> None:
    # Attack: a rogue regulator (of no party to the request) binds a key of its own to the commitment it
    # saw in AccessRequested, first, to lock the real subject out.
    gid = chain.request(chain.register(personal=True), commitment=commitment())
    rogue_key = PrivateKey.generate()
    chain.bind(rogue_key, regulator=ROGUE_REGULATOR)
    # it cannot make the lock stick on its own: a rebind needs a second regulator of another organisation
    own = signed_binding(PrivateKey.generate(), version=2)
    reason = sm3(b"rogue")
    chain.emitted(
        ROGUE_REGULATOR, "propose_subject_key_rebind", commitment(), own.public_key, own.signature, reason
    )
    assert chain.refused(ROGUE_REGULATOR, "confirm_subject_key_rebind", commitment(), own.key_hash) == (
        "a rebind needs a regulator of another organisation"
    )
    # the subject has her key rebound through the supervised procedure: her own signature (version 2),
    # proposed by one regulator and confirmed by a regulator of another organisation
    events = rebind(chain, subject, proposer=REGULATOR2, confirmer=REGULATOR)
    assert events[0].name == "SubjectKeyRebound"
    assert events[0].args["previous_key_hash"] == key_hash_of(rogue_key)
    assert events[0].args["key_hash"] == key_hash_of(subject)
    # the rogue key no longer consents; the subject's does
    forged = sign_consent(rogue_key, chain.terms(gid))
    assert chain.refused(HOLDER, "grant", gid, forged.public_key, forged.signature) == (
        "consent key is not the subject's bound key"
    )
    consent = sign_consent(subject, chain.terms(gid))
    chain.emitted(HOLDER, "grant", gid, consent.public_key, consent.signature)
    assert chain.status(gid) == GrantStatus.GRANTED
    # the rogue's stale proposal (made for version 2) can no longer be confirmed by anyone
    assert chain.refused(REGULATOR2, "confirm_subject_key_rebind", commitment(), own.key_hash) == (
        "rebind proposal is stale"
    )


def test_rebinding_only_through_the_supervised_path_keeps_history(chain: Chain, subject: PrivateKey) -> None:
    old_grant = chain.request(chain.register(personal=True), commitment=commitment())
    chain.bind(subject)
    consent = sign_consent(subject, chain.terms(old_grant))
    chain.emitted(HOLDER, "grant", old_grant, consent.public_key, consent.signature)
    new_key = PrivateKey.generate()
    v2 = signed_binding(new_key, version=2)
    reason = sm3(b"case file 2024-17: key lost")
    propose = "propose_subject_key_rebind"
    # the direct path stays closed
    assert chain.refused(REGULATOR2, "bind_subject_key", commitment(), v2.public_key, v2.signature) == (
        "subject key already bound"
    )
    # a proposal needs a regulator, a bound key, a reason and the new key's own signature for version 2
    assert chain.refused(HOLDER, propose, commitment(), v2.public_key, v2.signature, reason) == (
        "not a data regulator"
    )
    unbound = compute_subject_commitment("110105194912310038", SALT)
    assert chain.refused(REGULATOR2, propose, unbound, v2.public_key, v2.signature, reason) == (
        "subject key not bound"
    )
    assert chain.refused(REGULATOR2, propose, commitment(), v2.public_key, v2.signature, EMPTY32) == (
        "a rebind needs a reason hash"
    )
    v1_replay = signed_binding(new_key, version=1)  # a first-binding signature is no rebind signature
    assert chain.refused(
        REGULATOR2, propose, commitment(), v1_replay.public_key, v1_replay.signature, reason
    ) == ("subject key signature is invalid")
    same = signed_binding(subject, version=2)
    assert chain.refused(REGULATOR2, propose, commitment(), same.public_key, same.signature, reason) == (
        "key already bound to the commitment"
    )
    events = chain.emitted(REGULATOR2, propose, commitment(), v2.public_key, v2.signature, reason)
    assert events[0].name == "SubjectKeyRebindProposed"
    assert events[0].args["previous_key_hash"] == key_hash_of(subject) and events[0].args["version"] == 2
    assert chain.view("rebind_proposals", commitment(), v2.key_hash)["proposer_org"] == ORG_REG2
    assert chain.view("subject_keys", commitment())["key_hash"] == key_hash_of(subject)  # not yet
    # confirmation needs a regulator of another organisation than the proposer's
    confirm = "confirm_subject_key_rebind"
    assert chain.refused(REGULATOR2, confirm, commitment(), v2.key_hash) == (
        "a rebind needs a regulator of another organisation"
    )
    assert chain.refused(HOLDER, confirm, commitment(), v2.key_hash) == "not a data regulator"
    assert chain.refused(REGULATOR, confirm, commitment(), key_hash_of(PrivateKey.generate())) == (
        "no such rebind proposal"
    )
    events = chain.emitted(REGULATOR, confirm, commitment(), v2.key_hash)
    assert events[0].args == {
        "subject_commitment": commitment(),
        "key_hash": v2.key_hash,
        "previous_key_hash": key_hash_of(subject),
        "version": 2,
        "proposed_by": REGULATOR2,
        "confirmed_by": REGULATOR,
        "reason_hash": reason,
    }
    record = chain.view("subject_keys", commitment())
    assert (record["key_hash"], record["version"], record["attested_by"], record["confirmed_by"]) == (
        v2.key_hash,
        2,
        REGULATOR2,
        REGULATOR,
    )
    assert [chain.view("subject_key_history", commitment(), v) for v in (1, 2)] == [
        key_hash_of(subject),
        v2.key_hash,
    ]
    assert chain.view("rebind_proposals", commitment(), v2.key_hash)["version"] == 0  # used up
    assert chain.refused(REGULATOR, confirm, commitment(), v2.key_hash) == "no such rebind proposal"
    # the grant consented with the old key stays in force; the subject withdraws it with her new key
    assert chain.status(old_grant) == GrantStatus.GRANTED
    message = compute_revocation_message(CHAIN_ID, DATA_AUTHORISATION_ADDRESS, old_grant, commitment())
    chain.emitted(RELAY, "revoke_by_subject", old_grant, v2.public_key, new_key.sign(message))
    assert chain.status(old_grant) == GrantStatus.REVOKED


def test_a_key_confirmed_by_the_holders_regulator_cannot_consent(chain: Chain, subject: PrivateKey) -> None:
    # The grant check covers both regulators of a rebind, the confirming one too.
    gid = chain.request(chain.register(personal=True), commitment=commitment())
    chain.bind(PrivateKey.generate())
    rebind(chain, subject, proposer=REGULATOR2, confirmer=HOLDER_REGULATOR)
    consent = sign_consent(subject, chain.terms(gid))
    assert chain.refused(HOLDER, "grant", gid, consent.public_key, consent.signature) == (
        "subject key attested by the holder organisation"
    )
    assert chain.status(gid) == GrantStatus.REQUESTED


def test_a_pending_rebind_is_not_re_proposed_under_another_name(chain: Chain, subject: PrivateKey) -> None:
    chain.bind(PrivateKey.generate())
    v2 = signed_binding(subject, version=2)
    reason = sm3(b"case file")
    chain.emitted(REGULATOR2, "propose_subject_key_rebind", commitment(), v2.public_key, v2.signature, reason)
    # the subject's signature is public once sent; replaying it does not take the proposal over
    assert (
        chain.refused(
            ROGUE_REGULATOR,
            "propose_subject_key_rebind",
            commitment(),
            v2.public_key,
            v2.signature,
            sm3(b"x"),
        )
        == "rebind already proposed"
    )
    assert chain.view("rebind_proposals", commitment(), v2.key_hash)["proposed_by"] == REGULATOR2


def test_a_colleague_of_the_proposer_cannot_confirm_a_rebind(chain: Chain, subject: PrivateKey) -> None:
    chain.bind(subject)
    new_key = PrivateKey.generate()
    v2 = signed_binding(new_key, version=2)
    chain.emitted(
        REGULATOR, "propose_subject_key_rebind", commitment(), v2.public_key, v2.signature, sm3(b"reason")
    )
    assert chain.refused(REGULATOR_COLLEAGUE, "confirm_subject_key_rebind", commitment(), v2.key_hash) == (
        "a rebind needs a regulator of another organisation"
    )
    assert chain.view("subject_keys", commitment())["key_hash"] == key_hash_of(subject)


def test_grant_for_an_unbound_subject_is_refused(chain: Chain, subject: PrivateKey) -> None:
    gid = chain.request(chain.register(personal=True), commitment=commitment())
    consent = sign_consent(subject, chain.terms(gid))  # a genuine signature, but no one vouched for the key
    assert (
        chain.refused(HOLDER, "grant", gid, consent.public_key, consent.signature) == "subject key not bound"
    )
    # a binding for another subject does not help
    chain.bind(subject, compute_subject_commitment("110105194912310038", SALT))
    assert (
        chain.refused(HOLDER, "grant", gid, consent.public_key, consent.signature) == "subject key not bound"
    )
    assert chain.status(gid) == GrantStatus.REQUESTED


def test_holder_cannot_consent_with_a_throwaway_key(chain: Chain, subject: PrivateKey) -> None:
    gid = chain.request(chain.register(personal=True), commitment=commitment())
    chain.bind(subject)
    throwaway = PrivateKey.generate()  # the holder's own key, validly signing the exact consent terms
    forged = sign_consent(throwaway, chain.terms(gid))
    before = chain.view("grants", gid)
    assert chain.refused(HOLDER, "grant", gid, forged.public_key, forged.signature) == (
        "consent key is not the subject's bound key"
    )  # chain.refused also checks the state root is unchanged
    assert chain.view("grants", gid) == before
    assert chain.status(gid) == GrantStatus.REQUESTED
    assert chain.view("subject_keys", commitment())["key_hash"] == sm3(subject.public_key.to_bytes())
    # the real subject consents, and she (not the throwaway key) can withdraw it
    consent = sign_consent(subject, chain.terms(gid))
    chain.emitted(HOLDER, "grant", gid, consent.public_key, consent.signature)
    assert chain.revocable_by(gid, subject) == ""
    message = compute_revocation_message(CHAIN_ID, DATA_AUTHORISATION_ADDRESS, gid, commitment())
    assert chain.refused(
        RELAY, "revoke_by_subject", gid, throwaway.public_key.to_bytes(), throwaway.sign(message)
    ) == ("not the consenting subject's key")
    events = chain.emitted(
        RELAY, "revoke_by_subject", gid, subject.public_key.to_bytes(), subject.sign(message)
    )
    assert events[0].args["by_subject"] is True
    assert chain.status(gid) == GrantStatus.REVOKED


def test_non_personal_grants_need_no_binding(chain: Chain) -> None:
    gid = chain.request(chain.register())
    chain.emitted(HOLDER, "grant", gid, b"", b"")
    assert chain.status(gid) == GrantStatus.GRANTED


def _fields(terms: ConsentTerms) -> dict[str, Any]:
    return {name: getattr(terms, name) for name in ConsentTerms.__dataclass_fields__}


# --- uses ---------------------------------------------------------------------------------------------------
def test_uses_are_counted_up_to_the_limit(chain: Chain) -> None:
    gid = chain.request(chain.register(), fields=0b0111, use_limit=3)
    chain.emitted(HOLDER, "grant", gid, b"", b"")
    digests = [sm3(f"result {i}".encode()) for i in range(4)]
    for number, sender in ((1, HOLDER), (2, USER), (3, HOLDER)):
        events = chain.emitted(sender, "record_use", gid, 0b0011, digests[number - 1])
        assert events[0].name == "UseRecorded"
        assert (
            events[0].args["use_number"] == number and events[0].args["result_digest"] == digests[number - 1]
        )
        assert events[0].args["recorded_by"] == sender
    assert chain.view("can_use", gid, 0b1) is False
    assert chain.refused(HOLDER, "record_use", gid, 0b0011, digests[3]) == "use limit reached"
    assert chain.view("grants", gid)["uses"] == 3


def test_use_outside_fields_or_by_strangers_is_refused(chain: Chain) -> None:
    gid = chain.request(chain.register(), fields=0b0011)
    digest = sm3(b"result")
    assert (
        chain.refused(HOLDER, "record_use", gid, 0b0001, digest) == "grant is not in force"
    )  # not granted yet
    chain.emitted(HOLDER, "grant", gid, b"", b"")
    assert chain.view("can_use", gid, 0b0001) is True
    assert chain.view("can_use", gid, 0b0100) is False
    assert chain.refused(HOLDER, "record_use", gid, 0b0100, digest) == "fields outside the grant"
    assert chain.refused(HOLDER, "record_use", gid, 0, digest) == "no fields used"
    assert chain.refused(HOLDER, "record_use", gid, 0b0001, EMPTY32) == "empty result digest"
    assert (
        chain.refused(OTHER_HOLDER, "record_use", gid, 0b0001, digest)
        == "not an account of the holder organisation"
    )
    assert chain.refused(USER_REGULATOR, "record_use", gid, 0b0001, digest) == "not a data holder"
    assert chain.refused(HOLDER, "record_use", 99, 0b0001, digest) == "unknown grant"
    assert chain.view("grants", gid)["uses"] == 0


def test_use_outside_the_period_is_refused(chain: Chain) -> None:
    start = chain.now + 100
    gid = chain.request(chain.register(), valid_from=start, valid_until=start + 50)
    chain.emitted(HOLDER, "grant", gid, b"", b"")
    digest = sm3(b"result")
    assert chain.refused(HOLDER, "record_use", gid, 1, digest) == "grant not yet valid"
    chain.advance(100)
    chain.emitted(HOLDER, "record_use", gid, 1, digest)
    chain.advance(60)
    assert chain.status(gid) == GrantStatus.EXPIRED
    assert chain.refused(HOLDER, "record_use", gid, 1, digest) == "grant expired"


def test_no_use_while_the_resource_is_not_shared(chain: Chain) -> None:
    rid = chain.register()
    gid = chain.request(rid)
    chain.emitted(HOLDER, "grant", gid, b"", b"")
    chain.emitted(HOLDER, "set_share_type", rid, 3, BASIS)
    assert chain.view("can_use", gid, 1) is False
    assert chain.refused(HOLDER, "record_use", gid, 1, sm3(b"r")) == "resource is not shared (share type 3)"


# --- revocation and expiry ----------------------------------------------------------------------------------
def test_holder_revokes_and_uses_stop(chain: Chain) -> None:
    gid = chain.request(chain.register())
    chain.emitted(HOLDER, "grant", gid, b"", b"")
    chain.emitted(USER, "record_use", gid, 1, sm3(b"r1"))
    assert chain.refused(USER, "revoke", gid, EMPTY32) == "not a data holder"
    assert chain.refused(OTHER_HOLDER, "revoke", gid, EMPTY32) == "not an account of the holder organisation"
    events = chain.emitted(HOLDER, "revoke", gid, sm3(b"contract ended"))
    assert events[0].name == "GrantRevoked" and events[0].args["by_subject"] is False
    assert chain.status(gid) == GrantStatus.REVOKED
    assert chain.view("grants", gid)["uses"] == 1  # not retroactive
    assert chain.refused(USER, "record_use", gid, 1, sm3(b"r2")) == "grant revoked"
    assert chain.refused(HOLDER, "revoke", gid, EMPTY32) == "grant revoked"


def test_subject_revokes_with_the_bound_key_and_replay_is_refused(chain: Chain, subject: PrivateKey) -> None:
    gid = chain.request(chain.register(personal=True), commitment=commitment())
    chain.bind(subject)
    consent = sign_consent(subject, chain.terms(gid))
    chain.emitted(HOLDER, "grant", gid, consent.public_key, consent.signature)
    message = compute_revocation_message(CHAIN_ID, DATA_AUTHORISATION_ADDRESS, gid, commitment())
    impostor = PrivateKey.generate()
    pk = subject.public_key.to_bytes()
    assert chain.refused(
        RELAY, "revoke_by_subject", gid, impostor.public_key.to_bytes(), impostor.sign(message)
    ) == ("not the consenting subject's key")
    assert chain.refused(RELAY, "revoke_by_subject", gid, pk, impostor.sign(message)) == (
        "subject revocation signature is invalid"
    )
    # the consent signature is no revocation (different domain tag)
    assert chain.refused(RELAY, "revoke_by_subject", gid, pk, consent.signature) == (
        "subject revocation signature is invalid"
    )
    other_grant = compute_revocation_message(CHAIN_ID, DATA_AUTHORISATION_ADDRESS, gid + 1, commitment())
    assert chain.refused(RELAY, "revoke_by_subject", gid, pk, subject.sign(other_grant)) == (
        "subject revocation signature is invalid"
    )
    signature = subject.sign(message)
    events = chain.emitted(RELAY, "revoke_by_subject", gid, pk, signature)
    assert events[0].args["by_subject"] is True and events[0].args["by"] == RELAY
    assert chain.status(gid) == GrantStatus.REVOKED
    assert chain.refused(RELAY, "revoke_by_subject", gid, pk, signature) == "grant revoked"
    assert chain.refused(HOLDER, "record_use", gid, 1, sm3(b"r")) == "grant revoked"


def test_subject_revocation_needs_a_personal_grant(chain: Chain, subject: PrivateKey) -> None:
    gid = chain.request(chain.register())
    chain.emitted(HOLDER, "grant", gid, b"", b"")
    pk = subject.public_key.to_bytes()
    assert chain.refused(RELAY, "revoke_by_subject", gid, pk, bytes(64)) == "grant has no data subject"


def test_expire_marks_a_finished_grant(chain: Chain) -> None:
    gid = chain.request(chain.register(), valid_until=chain.now + 20)
    assert chain.refused(RELAY, "expire", gid) == "grant is not in force"
    chain.emitted(HOLDER, "grant", gid, b"", b"")
    assert chain.refused(RELAY, "expire", gid) == "grant period not over"
    chain.advance(30)
    assert chain.status(gid) == GrantStatus.EXPIRED
    events = chain.emitted(RELAY, "expire", gid)
    assert events[0].name == "GrantExpired"
    assert chain.view("grants", gid)["status"] == GrantStatus.EXPIRED
    assert chain.refused(HOLDER, "record_use", gid, 1, sm3(b"r")) == "grant expired"
    assert chain.refused(HOLDER, "revoke", gid, EMPTY32) == "grant expired"


def test_an_unregistered_account_is_refused_by_the_contract_too(chain: Chain, subject: PrivateKey) -> None:
    # The ledger refuses an outsider at admission; the contract does not rely on it.
    gid = chain.request(chain.register(personal=True), commitment=commitment(), valid_until=chain.now + 20)
    chain.bind(subject)
    consent = sign_consent(subject, chain.terms(gid))
    chain.emitted(HOLDER, "grant", gid, consent.public_key, consent.signature)
    message = compute_revocation_message(CHAIN_ID, DATA_AUTHORISATION_ADDRESS, gid, commitment())
    pk = subject.public_key.to_bytes()
    assert chain.refused(UNREGISTERED, "revoke_by_subject", gid, pk, subject.sign(message)) == (
        "not an active member account"
    )
    chain.advance(30)
    assert chain.refused(UNREGISTERED, "expire", gid) == "not an active member account"
    assert chain.view("grants", gid)["status"] == GrantStatus.GRANTED


# --- SDK helpers (pure) -------------------------------------------------------------------------------------
def test_subject_commitment_is_salted_and_validates_the_id() -> None:
    first = compute_subject_commitment(RESIDENT_ID, SALT)
    assert len(first) == 32
    assert compute_subject_commitment(RESIDENT_ID.lower(), SALT) == first
    assert compute_subject_commitment(RESIDENT_ID, bytes(reversed(SALT))) != first
    assert RESIDENT_ID.encode() not in first
    with pytest.raises(IdentifierError) as caught:
        compute_subject_commitment("110105194912310021", SALT)  # wrong check character
    assert "110105194912310021" not in str(caught.value)
    with pytest.raises(DomainError):
        compute_subject_commitment(RESIDENT_ID, b"short")


def test_field_masks_round_trip_and_refuse_bad_ids() -> None:
    assert compute_fields_mask([0, 3, 255]) == 1 | 8 | 1 << 255
    assert sdk_auth.compute_field_ids(0b1001) == (0, 3)
    for bad in ([], [256], [-1]):
        with pytest.raises(DomainError):
            compute_fields_mask(bad)


# --- data minimisation: a grant names its subject only by a per-grant tag ---------------------------------
def _words(blob: bytes) -> set[bytes]:
    """The 32-byte words of an ABI blob (call data after its selector, event data, view output)."""
    return {blob[i : i + 32] for i in range(0, len(blob) - len(blob) % 32, 32)}


def _grant_views(chain: Chain, grant_id: int) -> dict[str, bytes]:
    """The raw output of every DataAuthorisation view a grant's readers may call for ``grant_id`` (the
    node's VIEW_RECORDS: grant and member views keyed by the grant id), by name."""
    calls = {"grants": [grant_id], "status_of": [grant_id], "can_use": [grant_id, 0b1]}
    readable = {name for name, (kind, _) in VIEW_RECORDS["DataAuthorisation"].items() if kind is Record.GRANT}
    assert readable == set(calls), "a new grant view: add it here so its output is checked"
    return {
        name: chain.engine.call(
            chain.root,
            RELAY,
            DATA_AUTHORISATION_ADDRESS,
            DA.encode_call(name, args),
            2_000_000,
            ctx=chain.ctx(),
        )
        for name, args in calls.items()
    }


def _granted_about(
    chain: Chain, subject: PrivateKey, *, holder: bytes, requester: bytes, purpose: bytes
) -> tuple[int, set[bytes]]:
    """A personal-data grant about the default subject from ``holder`` to ``requester``, used once; returns
    its id and every word its holder and requester read: its events' topics and data, its views' output."""
    rid = chain.register(personal=True, sender=holder)
    receipts = [
        chain.must(
            requester, "request", rid, purpose, 0b11, chain.now, chain.now + 3600, 3, commitment(), EMPTY32
        )
    ]
    gid = int(chain.events(receipts[0])[0].args["grant_id"])
    consent = sign_consent(subject, chain.terms(gid))
    receipts.append(chain.must(holder, "grant", gid, consent.public_key, consent.signature))
    receipts.append(chain.must(requester, "record_use", gid, 0b1, sm3(b"answer %d" % gid)))
    seen: set[bytes] = set()
    for receipt in receipts:
        for log in receipt.logs:
            seen |= set(log.topics) | _words(log.data)
    for output in _grant_views(chain, gid).values():
        seen |= _words(output)
    return gid, seen


def test_grants_about_one_person_share_no_word_their_readers_see(chain: Chain, subject: PrivateKey) -> None:
    """Attack: two requesters (or anyone they hand their logs and bundles to) compare what they read about
    their grants from two different holders, to find out the grants are about the same person."""
    chain.bind(subject)  # by REGULATOR, of neither holder's nor requester's organisation
    first, seen_first = _granted_about(chain, subject, holder=HOLDER, requester=USER, purpose=PURPOSE)
    second, seen_second = _granted_about(
        chain, subject, holder=OTHER_HOLDER, requester=OTHER_USER, purpose=sm3(b"purpose: tenancy check")
    )
    public_key = subject.public_key.to_bytes()
    personal = {commitment(), key_hash_of(subject), public_key[:32], public_key[32:]}
    assert not personal & (seen_first | seen_second)
    event_ids = {DA.event_topic(str(e["name"])) for e in DA.abi if e.get("type") == "event"}
    shared = (seen_first & seen_second) - event_ids
    # besides the events' ids, only small numbers (ids, counts, times, flags, ABI offsets) are common
    assert all(int.from_bytes(word, "big") < 2**64 for word in shared), [w.hex() for w in shared]
    assert subject_tag(first) in seen_first and subject_tag(second) in seen_second
    assert subject_tag(first) != subject_tag(second)


def test_the_subject_tag_is_the_sdks_and_names_one_grant(chain: Chain, subject: PrivateKey) -> None:
    rid = chain.register(personal=True)
    chain.bind(subject)
    gid = chain.request(rid, commitment=commitment())
    requested = chain.events(chain.receipts[-1])[0]
    assert requested.name == "AccessRequested" and requested.args["subject_tag"] == subject_tag(gid)
    consent = sign_consent(subject, chain.terms(gid))
    granted = chain.must(HOLDER, "grant", gid, consent.public_key, consent.signature).logs[0]
    assert granted.topics == (
        DA.event_topic("AccessGranted"),
        gid.to_bytes(32, "big"),
        rid.to_bytes(32, "big"),
        subject_tag(gid),  # the subject (or the holder) finds her grant with one topic filter
    )
    assert chain.view("grants", gid)["subject_tag"] == subject_tag(gid)
    # domain-separated, fixed-width and bound to the chain, the contract, the grant and the subject
    preimage = b"xinlian/grant-subject/1" + CHAIN_ID.to_bytes(32, "big") + DATA_AUTHORISATION_ADDRESS
    assert subject_tag(gid) == keccak(preimage + gid.to_bytes(32, "big") + commitment())
    other_subject = compute_subject_commitment("110105194912310038", SALT)
    variants = {
        compute_subject_tag(CHAIN_ID + 1, DATA_AUTHORISATION_ADDRESS, gid, commitment()),
        compute_subject_tag(CHAIN_ID, bytes(20), gid, commitment()),
        subject_tag(gid + 1),
        subject_tag(gid, other_subject),
    }
    assert subject_tag(gid) not in variants and len(variants) == 4
    # non-personal data names no subject: an empty tag
    plain = chain.request(chain.register())
    assert chain.view("grants", plain)["subject_tag"] == EMPTY32 == subject_tag(plain, EMPTY32)


def test_views_that_hold_the_commitment_are_the_data_regulators(chain: Chain) -> None:
    """The signed messages hold the subject's commitment: the node's read policy keeps them from a grant's
    parties (subject records), who see the grant through views that show only its tag."""
    gid = chain.request(chain.register(personal=True), commitment=commitment())
    for name in ("consent_message", "revocation_message"):
        assert commitment() in chain.view(name, gid)
        assert VIEW_RECORDS["DataAuthorisation"][name] == (Record.SUBJECT, 0)
    for name, output in _grant_views(chain, gid).items():
        assert commitment() not in output, name
