"""LicenceRegistry.vy on the real py-evm engine: types, issuance, every lifecycle transition and refusal."""

from __future__ import annotations

from typing import Any

import pytest

from node.genesis import (
    GOVERNANCE_ADDRESS,
    LICENCE_REGISTRY_ADDRESS,
)
from sdk.crypto import PrivateKey, sm3
from sdk.domains.governance import Action, encode_payload
from sdk.domains.licences import (
    HolderKeys,
    compute_consent_message,
    compute_holder_commitment,
    compute_holder_key_hash,
    compute_licence_hash,
    compute_type_id,
    new_holder_salt,
    validate_holder_salt,
)
from sdk.errors import WeakSaltError
from tests.contracts.worlds.licences import (
    AUTHORITY,
    BANK,
    BANK_AUTHORITY,
    CHAIN_ID,
    CITY,
    CITY_CLERK,
    CITY_DESK,
    CITY_ORG,
    COMMITMENT,
    DAY,
    DISTRICT,
    DISTRICT_DESK,
    DISTRICT_ORG,
    DOC_HASH,
    HOLDER_KEY,
    ISSUER_ROLE,
    JURISDICTION,
    M1,
    MINISTRY_ORG,
    OTHER_TYPE_CODE,
    OTHER_TYPE_ID,
    OUTSIDER,
    REGISTRY,
    RESIDENT_ID,
    SALT,
    STATUS,
    TYPE_CODE,
    TYPE_ID,
    Chain,
    licence_id,
    make_base,
)


@pytest.fixture(scope="module")
def base() -> Chain:
    return make_base()


@pytest.fixture()
def chain(base: Chain) -> Chain:
    # state roots are immutable: each test starts from the same root in the same node store
    return base.fork()


# --- genesis and types ---------------------------------------------------------------------------------
def test_genesis_initialises_once_with_governance(chain: Chain) -> None:
    assert chain.view("governance") == GOVERNANCE_ADDRESS
    assert "already initialized" in chain.refused(M1, "initialize", OUTSIDER)


def test_type_id_is_sm3_of_the_code_through_the_precompile(chain: Chain) -> None:
    assert chain.view("compute_type_id", TYPE_CODE) == sm3(TYPE_CODE.encode()) == TYPE_ID


def test_define_type_records_the_authority_and_emits(chain: Chain) -> None:
    receipt = chain.must(AUTHORITY, "define_type", MINISTRY_ORG + "040", "药品经营许可证")
    [(name, args)] = chain.named_events(receipt)
    assert name == "LicenceTypeDefined"
    assert args["type_id"] == compute_type_id(MINISTRY_ORG + "040")
    assert (args["authority"], args["authority_org"], args["type_code"]) == (
        AUTHORITY,
        MINISTRY_ORG,
        MINISTRY_ORG + "040",
    )
    row = chain.view("licence_types", args["type_id"])
    assert row["defined"] and row["name"] == "药品经营许可证"
    assert chain.view("type_count") == 3


@pytest.mark.parametrize(
    ("sender", "code", "reason"),
    [
        (CITY, MINISTRY_ORG + "041", "not a licence authority"),
        (OUTSIDER, MINISTRY_ORG + "041", "not a licence authority"),
        (BANK_AUTHORITY, MINISTRY_ORG + "041", "type code does not belong to the sender's organisation"),
        (AUTHORITY, TYPE_CODE, "licence type already defined"),
        (AUTHORITY, MINISTRY_ORG + "41", "type code must be 21 characters"),
    ],
    ids=["wrong_role", "unknown_account", "other_organisation", "duplicate", "short_code"],
)
def test_define_type_refusals(chain: Chain, sender: bytes, code: str, reason: str) -> None:
    assert reason in chain.refused(sender, "define_type", code, "名称")


def test_issuer_authorisation_is_scoped_to_the_type(chain: Chain) -> None:
    assert chain.view("is_issuer", CITY, TYPE_ID)
    assert not chain.view("is_issuer", CITY, OTHER_TYPE_ID)
    assert chain.view("is_issuer", DISTRICT, OTHER_TYPE_ID)
    assert not chain.view("is_issuer", BANK, TYPE_ID)


# --- issuance --------------------------------------------------------------------------------------------
def test_issue_stores_hashes_only_and_emits(chain: Chain) -> None:
    identifier = licence_id("2024000001")
    id_hash, receipt = chain.issue(identifier)
    assert receipt.status == 1, receipt.revert_reason
    [(name, args)] = chain.named_events(receipt)
    assert name == "LicenceIssued"
    assert args["id_hash"] == id_hash and args["issuer"] == CITY and args["issuer_org"] == CITY_ORG
    assert args["holder_commitment"] == COMMITMENT and args["previous"] == bytes(32)
    row = chain.view("get_licence", id_hash)
    assert (
        row["type_id"] == TYPE_ID
        and row["jurisdiction"] == JURISDICTION.encode().ljust(12, b"\x00")
        and row["issuer"] == CITY
    )
    assert chain.status(id_hash) == STATUS.VALID
    assert chain.view("status", compute_licence_hash(identifier)) == STATUS.VALID  # the SDK's hash
    # nothing personal: the identifier is in the call data (the chain checks it), the log has its hash
    for blob in [receipt.logs[0].data, *receipt.logs[0].topics]:
        assert RESIDENT_ID.encode() not in blob and identifier.encode() not in blob


def test_any_account_of_an_authorised_issuer_issues(chain: Chain) -> None:
    id_hash, receipt = chain.issue(licence_id("2024000002"), sender=CITY_DESK)
    assert receipt.status == 1
    assert chain.view("get_licence", id_hash)["issuer_org"] == CITY_ORG


def test_issue_refusals_change_no_state(chain: Chain) -> None:
    ok = licence_id("2024000003")
    chain.issue(ok)
    cases = [
        (
            DISTRICT,
            chain.issue_args(licence_id("1", issuer=DISTRICT_ORG)),
            "not an issuer of this licence type",
        ),
        (BANK, chain.issue_args(licence_id("2")), "not an issuer of this licence type"),
        (OUTSIDER, chain.issue_args(licence_id("3")), "not an issuer of this licence type"),
        (
            CITY,
            chain.issue_args(licence_id("4", type_code=OTHER_TYPE_CODE)),
            "not an issuer of this licence type",
        ),
        (
            CITY,
            chain.issue_args(licence_id("5", type_code=MINISTRY_ORG + "099")),
            "unknown licence type",
        ),
        (CITY, chain.issue_args(ok), "licence already issued"),
        (CITY, chain.issue_args(licence_id("6"), commitment=bytes(32)), "empty holder commitment"),
        (
            CITY,
            chain.issue_args(licence_id("7"), valid_from=chain.now + 10, valid_until=chain.now + 5),
            "validity window is empty",
        ),
        (
            CITY,
            chain.issue_args(licence_id("8"), valid_from=chain.now - 10 * DAY, valid_until=chain.now - DAY),
            "validity already ended",
        ),
    ]
    for sender, args, reason in cases:
        assert reason in chain.refused(sender, "issue", *args)
    bad_region = chain.issue_args(licence_id("9"))
    bad_region[-1] = "43"
    assert "jurisdiction must be a region code" in chain.refused(CITY, "issue", *bad_region)
    assert chain.view("licence_count") == 1


def test_revoked_issuer_grant_stops_issuing(chain: Chain) -> None:
    chain.must(AUTHORITY, "revoke_role", CITY, ISSUER_ROLE, TYPE_ID, to=GOVERNANCE_ADDRESS)
    _, receipt = chain.issue(licence_id("2024000010"))
    assert receipt.status == 0 and b"not an issuer" in receipt.revert_reason
    _, receipt = chain.issue(licence_id("2024000011"), sender=CITY_DESK)  # still granted
    assert receipt.status == 1


def test_only_a_licence_authority_administers_issuer_grants(chain: Chain) -> None:
    receipt = chain.send(CITY, "grant_role", DISTRICT, ISSUER_ROLE, TYPE_ID, to=GOVERNANCE_ADDRESS)
    assert receipt.status == 0 and b"not an admin of this role" in receipt.revert_reason


# --- validity window and status ---------------------------------------------------------------------
def test_status_follows_the_validity_window(chain: Chain) -> None:
    start, end = chain.now + 10 * DAY, chain.now + 20 * DAY
    id_hash, _ = chain.issue(licence_id("2024000020"), valid_from=start, valid_until=end)
    assert chain.status(id_hash) == STATUS.NOT_YET_VALID
    assert chain.view("status_at", id_hash, start - 1) == STATUS.NOT_YET_VALID
    assert chain.view("status_at", id_hash, start) == STATUS.VALID
    assert chain.view("status_at", id_hash, end) == STATUS.VALID
    assert chain.view("status_at", id_hash, end + 1) == STATUS.EXPIRED
    assert chain.view("status", id_hash, at=end + 1) == STATUS.EXPIRED
    assert chain.status(b"\x01" * 32) == STATUS.UNKNOWN


def test_open_ended_licence_never_expires(chain: Chain) -> None:
    id_hash, _ = chain.issue(licence_id("2024000021"), valid_until=0)
    assert chain.view("status_at", id_hash, 2**63) == STATUS.VALID


# --- suspend / resume / revoke ---------------------------------------------------------------------
def test_suspend_resume_revoke_lifecycle(chain: Chain) -> None:
    id_hash, _ = chain.issue(licence_id("2024000030"))
    issued_at = chain.now
    receipt = chain.must(CITY_DESK, "suspend", id_hash, "经营异常")
    assert chain.named_events(receipt) == [
        ("LicenceSuspended", {"id_hash": id_hash, "by": CITY_DESK, "reason": "经营异常"})
    ]
    suspended_at = chain.now
    assert chain.status(id_hash) == STATUS.SUSPENDED
    assert chain.view("status_at", id_hash, issued_at) == STATUS.VALID
    assert "licence already suspended" in chain.refused(CITY, "suspend", id_hash, "again")
    receipt = chain.must(CITY, "resume", id_hash, "整改完成")
    assert chain.named_events(receipt)[0][0] == "LicenceResumed"
    assert chain.status(id_hash) == STATUS.VALID
    assert "licence not suspended" in chain.refused(CITY, "resume", id_hash, "again")
    chain.must(CITY, "suspend", id_hash, "再次异常")
    receipt = chain.must(CITY, "revoke", id_hash, "吊销")
    revoked_at = chain.now
    assert chain.named_events(receipt)[0][0] == "LicenceRevoked"
    assert chain.status(id_hash) == STATUS.REVOKED
    assert chain.view("status_at", id_hash, suspended_at - 1) == STATUS.VALID
    assert chain.view("status_at", id_hash, revoked_at - 1) == STATUS.SUSPENDED
    assert chain.view("status_at", id_hash, revoked_at) == STATUS.REVOKED
    for name in ("suspend", "resume", "revoke"):
        assert "licence revoked" in chain.refused(CITY, name, id_hash, "after revocation")


@pytest.mark.parametrize("name", ["suspend", "revoke", "resume"])
def test_lifecycle_refusals_for_other_organisations(chain: Chain, name: str) -> None:
    id_hash, _ = chain.issue(licence_id("2024000031"))
    assert "not the issuing organisation" in chain.refused(DISTRICT, name, id_hash, "x")
    assert "not the issuing organisation" in chain.refused(AUTHORITY, name, id_hash, "x")
    assert "not an active account" in chain.refused(OUTSIDER, name, id_hash, "x")
    assert "unknown licence" in chain.refused(CITY, name, b"\x05" * 32, "x")


def test_suspend_needs_a_reason_and_a_live_licence(chain: Chain) -> None:
    id_hash, _ = chain.issue(licence_id("2024000032"), valid_until=chain.now + 100)
    assert "empty reason" in chain.refused(CITY, "suspend", id_hash, "")
    chain.now += 200
    assert "licence expired" in chain.refused(CITY, "suspend", id_hash, "late")
    chain.must(CITY, "revoke", id_hash, "expired licences can still be revoked")


def test_disabled_issuer_account_cannot_act(chain: Chain) -> None:
    id_hash, _ = chain.issue(licence_id("2024000033"))
    payload = encode_payload(Action.SET_ACCOUNT_ACTIVE, CITY, False)
    chain.must(
        M1, "propose", int(Action.SET_ACCOUNT_ACTIVE), payload, chain.height + 10, to=GOVERNANCE_ADDRESS
    )
    assert "not an active account" in chain.refused(CITY, "suspend", id_hash, "x")
    chain.must(CITY_DESK, "suspend", id_hash, "the organisation still acts through its other account")


# --- renew -----------------------------------------------------------------------------------------------
def test_renew_links_versions_and_supersedes(chain: Chain) -> None:
    old = licence_id("2024000040", 1)
    new = licence_id("2024000040", 2)
    old_hash, _ = chain.issue(old)
    new_hash = compute_licence_hash(new)
    doc2 = sm3(b"licence document v2")
    receipt = chain.must(CITY, "renew", old_hash, new, doc2, chain.now, chain.now + 730 * DAY)
    renewed_at = chain.now
    names = [n for n, _ in chain.named_events(receipt)]
    assert names == ["LicenceIssued", "LicenceRenewed"]
    issued = chain.named_events(receipt)[0][1]
    assert (
        issued["id_hash"] == new_hash and issued["previous"] == old_hash and issued["document_hash"] == doc2
    )
    assert issued["holder_commitment"] == COMMITMENT and issued["jurisdiction"] == JURISDICTION
    assert chain.status(old_hash) == STATUS.SUPERSEDED and chain.status(new_hash) == STATUS.VALID
    assert chain.view("get_licence", old_hash)["next"] == new_hash
    assert chain.view("status_at", old_hash, renewed_at - 1) == STATUS.VALID
    for name in ("suspend", "revoke"):
        assert "licence superseded" in chain.refused(CITY, name, old_hash, "x")
    newer = licence_id("2024000040", 3)
    assert "licence superseded" in chain.refused(CITY, "renew", old_hash, newer, doc2, chain.now, 0)
    # the new version is a full licence: it can be renewed in turn
    chain.must(CITY, "renew", new_hash, newer, doc2, chain.now, 0)


def test_renew_refusals(chain: Chain) -> None:
    id_hash, _ = chain.issue(licence_id("2024000041"))
    other_hash, _ = chain.issue(licence_id("2024000042"))
    args = (licence_id("2024000041", 2), DOC_HASH, chain.now, 0)
    assert "not the issuing organisation" in chain.refused(DISTRICT, "renew", id_hash, *args)
    assert "licence already issued" in chain.refused(
        CITY, "renew", id_hash, licence_id("2024000042"), DOC_HASH, chain.now, 0
    )
    assert other_hash == compute_licence_hash(licence_id("2024000042"))
    chain.must(CITY, "suspend", id_hash, "x")
    assert "licence suspended" in chain.refused(CITY, "renew", id_hash, *args)
    chain.must(CITY, "resume", id_hash, "ok")
    chain.must(AUTHORITY, "revoke_role", CITY, ISSUER_ROLE, TYPE_ID, to=GOVERNANCE_ADDRESS)
    assert "not an issuer of this licence type" in chain.refused(CITY, "renew", id_hash, *args)
    chain.must(CITY_DESK, "renew", id_hash, *args)


def test_expired_licence_can_be_renewed(chain: Chain) -> None:
    id_hash, _ = chain.issue(licence_id("2024000043"), valid_until=chain.now + 50)
    chain.now += 100
    assert chain.status(id_hash) == STATUS.EXPIRED
    new_hash = compute_licence_hash(licence_id("2024000043", 2))
    chain.must(CITY, "renew", id_hash, licence_id("2024000043", 2), DOC_HASH, chain.now, chain.now + DAY)
    assert chain.status(new_hash) == STATUS.VALID


# --- annotate ------------------------------------------------------------------------------------------
def test_annotate_counts_and_emits(chain: Chain) -> None:
    id_hash, _ = chain.issue(licence_id("2024000050"))
    note = sm3(b"annotation document")
    receipt = chain.must(CITY, "annotate", id_hash, note, "变更经营范围", chain.now, chain.now + DAY)
    [(name, args)] = chain.named_events(receipt)
    assert name == "LicenceAnnotated" and args["index"] == 1 and args["annotation_hash"] == note
    chain.must(CITY_DESK, "annotate", id_hash, note, "再次加注", 0, 0)
    assert chain.view("get_licence", id_hash)["annotations"] == 2
    assert "not the issuing organisation" in chain.refused(DISTRICT, "annotate", id_hash, note, "x", 0, 0)
    assert "empty annotation hash" in chain.refused(CITY, "annotate", id_hash, bytes(32), "x", 0, 0)
    assert "validity window is empty" in chain.refused(CITY, "annotate", id_hash, note, "x", 10, 5)
    chain.must(CITY, "revoke", id_hash, "x")
    assert "licence revoked" in chain.refused(CITY, "annotate", id_hash, note, "x", 0, 0)


def test_annotate_refuses_an_expired_licence(chain: Chain) -> None:
    id_hash, _ = chain.issue(licence_id("2024000051"), valid_until=chain.now + 10)
    chain.now += 20
    assert "licence expired" in chain.refused(CITY, "annotate", id_hash, DOC_HASH, "late", 0, 0)


# --- use records with holder consent ------------------------------------------------------------------
def test_consent_message_matches_the_sdk(chain: Chain) -> None:
    consent = chain.consent(b"\x09" * 32)
    on_chain = chain.view(
        "consent_message", consent.id_hash, BANK, consent.purpose_hash, consent.nonce, consent.not_after
    )
    assert (
        on_chain
        == consent.message()
        == compute_consent_message(
            chain_id=CHAIN_ID,
            registry=LICENCE_REGISTRY_ADDRESS,
            id_hash=consent.id_hash,
            user=BANK,
            purpose_hash=consent.purpose_hash,
            nonce=consent.nonce,
            not_after=consent.not_after,
        )
    )
    assert on_chain.startswith(b"xinlian/licence-use/1" + CHAIN_ID.to_bytes(32, "big"))


def test_record_use_with_consent_then_replay_is_refused(chain: Chain) -> None:
    id_hash, _ = chain.issue(licence_id("2024000060"))
    consent = chain.consent(id_hash)
    receipt = chain.must(BANK, "record_use", *chain.use_args(consent))
    [(name, args)] = chain.named_events(receipt)
    assert name == "LicenceUsed" and args["user"] == BANK and args["nonce"] == consent.nonce
    assert args["consent_hash"] == sm3(consent.message())
    assert chain.view("get_licence", id_hash)["uses"] == 1
    assert chain.view("consent_used", id_hash, consent.nonce)
    assert "consent already used" in chain.refused(BANK, "record_use", *chain.use_args(consent))
    # a second, fresh consent is fine
    chain.must(BANK, "record_use", *chain.use_args(chain.consent(id_hash)))


def test_forged_consents_are_refused(chain: Chain) -> None:
    id_hash, _ = chain.issue(licence_id("2024000061"))
    good = chain.consent(id_hash)
    mallory = PrivateKey.generate()
    forged = chain.consent(id_hash, key=mallory)
    flipped = bytes([good.signature[0] ^ 1]) + good.signature[1:]
    cases = [
        (BANK, chain.use_args(good, signature=forged.signature), "bad consent signature"),  # other signer
        (BANK, chain.use_args(good, signature=flipped), "bad consent signature"),
        (BANK, chain.use_args(good, signature=bytes(64)), "bad consent signature"),
        (BANK, chain.use_args(forged), "holder key does not match the licence"),
        (BANK, chain.use_args(chain.consent(id_hash, chain_id=CHAIN_ID + 1)), "bad consent signature"),
        (BANK_AUTHORITY, chain.use_args(good), "bad consent signature"),  # consent names another user
        (OUTSIDER, chain.use_args(chain.consent(id_hash, user=OUTSIDER)), "not an active account"),
        (BANK, chain.use_args(chain.consent(id_hash, not_after=chain.now)), "consent expired"),
        (BANK, chain.use_args(good, public_key=good.holder_public_key[:63]), "holder key must be 64 bytes"),
    ]
    tampered_purpose = chain.use_args(good)
    tampered_purpose[1] = sm3(b"another purpose")
    cases.append((BANK, tampered_purpose, "bad consent signature"))
    for sender, args, reason in cases:
        assert reason in chain.refused(sender, "record_use", *args)
    chain.must(BANK, "record_use", *chain.use_args(good))  # the genuine one still works once


def test_record_use_needs_a_valid_licence(chain: Chain) -> None:
    later, _ = chain.issue(
        licence_id("2024000062"), valid_from=chain.now + DAY, valid_until=chain.now + 2 * DAY
    )
    assert "licence not yet valid" in chain.refused(BANK, "record_use", *chain.use_args(chain.consent(later)))
    short, _ = chain.issue(licence_id("2024000063"), valid_until=chain.now + 5)
    consent = chain.consent(short, not_after=chain.now + DAY)
    chain.now += 10
    assert "licence expired" in chain.refused(BANK, "record_use", *chain.use_args(consent))
    suspended, _ = chain.issue(licence_id("2024000064"))
    chain.must(CITY, "suspend", suspended, "x")
    assert "licence suspended" in chain.refused(BANK, "record_use", *chain.use_args(chain.consent(suspended)))
    chain.must(CITY, "revoke", suspended, "x")
    assert "licence revoked" in chain.refused(BANK, "record_use", *chain.use_args(chain.consent(suspended)))
    old, _ = chain.issue(licence_id("2024000065"))
    chain.must(CITY, "renew", old, licence_id("2024000065", 2), DOC_HASH, chain.now, 0)
    assert "licence superseded" in chain.refused(BANK, "record_use", *chain.use_args(chain.consent(old)))
    assert "unknown licence" in chain.refused(
        BANK, "record_use", *chain.use_args(chain.consent(b"\x07" * 32))
    )


def test_holder_key_binding(chain: Chain) -> None:
    id_hash, _ = chain.issue(licence_id("2024000066"), holder_key_hash=bytes(32))
    consent = chain.consent(id_hash)
    assert "no holder key bound" in chain.refused(BANK, "record_use", *chain.use_args(consent))
    key_hash = compute_holder_key_hash(HOLDER_KEY.public_key)
    assert "not the issuing organisation" in chain.refused(BANK, "bind_holder_key", id_hash, key_hash)
    receipt = chain.must(CITY, "bind_holder_key", id_hash, key_hash)
    assert chain.named_events(receipt) == [
        (
            "HolderKeyBound",
            {
                "id_hash": id_hash,
                "by": CITY,
                "previous_holder_key_hash": bytes(32),
                "holder_key_hash": key_hash,
            },
        )
    ]
    assert "holder key already bound" in chain.refused(CITY, "bind_holder_key", id_hash, key_hash)
    chain.must(BANK, "record_use", *chain.use_args(consent))
    # renewal carries the holder key over
    new_hash = compute_licence_hash(licence_id("2024000066", 2))
    chain.must(CITY, "renew", id_hash, licence_id("2024000066", 2), DOC_HASH, chain.now, 0)
    chain.must(BANK, "record_use", *chain.use_args(chain.consent(new_hash)))


# --- history ----------------------------------------------------------------------------------------------
def test_every_transition_is_an_event_keyed_by_the_id_hash(chain: Chain) -> None:
    start = len(chain.receipts)
    id_hash, _ = chain.issue(licence_id("2024000070"))
    chain.must(CITY, "suspend", id_hash, "a")
    chain.must(CITY, "resume", id_hash, "b")
    chain.must(CITY, "annotate", id_hash, DOC_HASH, "c", 0, 0)
    chain.must(BANK, "record_use", *chain.use_args(chain.consent(id_hash)))
    chain.must(CITY, "revoke", id_hash, "d")
    logs = [log for r in chain.receipts[start:] for log in r.logs if log.topics[1] == id_hash]
    names = [REGISTRY.decode_log(log).name for log in logs]
    assert names == [
        "LicenceIssued",
        "LicenceSuspended",
        "LicenceResumed",
        "LicenceAnnotated",
        "LicenceUsed",
        "LicenceRevoked",
    ]


# --- separation of duties (attacks) ------------------------------------------------------------------
def test_an_issuer_cannot_pre_issue_another_organisations_identifier(chain: Chain) -> None:
    # DISTRICT_DESK issues the type too, but the identifier names CITY as its issuer
    squatted = licence_id("2024000090", issuer=CITY_ORG)
    assert "identifier's issuer code is not the issuing organisation" in chain.refused(
        DISTRICT_DESK, "issue", *chain.issue_args(squatted)
    )
    id_hash, receipt = chain.issue(squatted)
    assert receipt.status == 1, receipt.revert_reason  # the named issuer still can
    assert chain.view("get_licence", id_hash)["issuer_org"] == CITY_ORG
    own = licence_id("2024000090", issuer=DISTRICT_ORG)
    _, receipt = chain.issue(own, sender=DISTRICT_DESK)
    assert receipt.status == 1, receipt.revert_reason


def test_an_identifier_of_another_type_is_issued_under_its_own_type_only(chain: Chain) -> None:
    # the type is the identifier's type code: CITY (ISSUER of TYPE only) cannot issue OTHER_TYPE's
    other = licence_id("2024000091", type_code=OTHER_TYPE_CODE)
    assert "not an issuer of this licence type" in chain.refused(CITY, "issue", *chain.issue_args(other))
    id_hash, receipt = chain.issue(
        licence_id("2024000091", issuer=DISTRICT_ORG, type_code=OTHER_TYPE_CODE), sender=DISTRICT
    )
    assert receipt.status == 1 and chain.view("get_licence", id_hash)["type_id"] == OTHER_TYPE_ID


def test_a_renewal_cannot_take_another_issuers_identifier(chain: Chain) -> None:
    id_hash, _ = chain.issue(licence_id("2024000093"))
    for new, reason in [
        (
            licence_id("2024000093", 2, issuer=DISTRICT_ORG),
            "identifier's issuer code is not the issuing organisation",
        ),
        (
            licence_id("2024000093", 2, type_code=OTHER_TYPE_CODE),
            "identifier's type code is not the licence's type",
        ),
    ]:
        assert reason in chain.refused(CITY, "renew", id_hash, new, DOC_HASH, chain.now, 0)
    chain.must(CITY, "renew", id_hash, licence_id("2024000093", 2), DOC_HASH, chain.now, 0)


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda i: i[:-1] + ("0" if i[-1] != "0" else "1"), "check character is wrong"),
        (lambda i: i[:56] + i[56:].lower(), "segments are 0-9 or A-Z"),
        (lambda i: i[:56] + "2024.00094" + i[-6:], "segments are 0-9 or A-Z"),
        (lambda i: i[:-5] + "0A1" + i[-2:], "version is 3 digits"),
        (lambda i: i.replace("1.2.156.3005.2.", "1.2.156.3005.3."), "not an e-licence identifier"),
        (lambda i: i[:56] + "1" * 33 + i[-6:], ""),  # longer than the ABI type: refused by decoding
        (lambda i: i[:56] + "2024_00094" + i[-6:], "segments are 0-9 or A-Z"),
    ],
    ids=["check", "lower_case", "dot_in_serial", "version", "root", "long_serial", "charset"],
)
def test_malformed_identifiers_are_refused_on_chain(chain: Chain, mangle: Any, reason: str) -> None:
    identifier = mangle(licence_id("202400AB94"))
    assert reason in chain.refused(CITY, "issue", *chain.issue_args(identifier))


def test_a_region_coded_issuer_segment_is_refused_on_chain(chain: Chain) -> None:
    regional = licence_id("2024000095", issuer="430100")
    assert "identifier's issuer code is not the issuing organisation" in chain.refused(
        CITY, "issue", *chain.issue_args(regional)
    )


def test_an_account_without_issuer_cannot_rebind_the_holder_key_and_forge_consent(chain: Chain) -> None:
    id_hash, _ = chain.issue(licence_id("2024000092"))
    mallory = PrivateKey.generate()  # the clerk's own key
    assert "not an issuer of this licence type" in chain.refused(
        CITY_CLERK, "bind_holder_key", id_hash, compute_holder_key_hash(mallory.public_key)
    )
    forged = chain.consent(id_hash, key=mallory)
    assert "holder key does not match the licence" in chain.refused(
        BANK, "record_use", *chain.use_args(forged)
    )
    # an ISSUER of another organisation, or of another type, cannot either
    assert "not the issuing organisation" in chain.refused(
        DISTRICT_DESK, "bind_holder_key", id_hash, compute_holder_key_hash(mallory.public_key)
    )
    # the clerk still does the organisation's other lifecycle work
    chain.must(CITY_CLERK, "annotate", id_hash, DOC_HASH, "变更", 0, 0)


def test_a_holder_key_rebind_by_an_issuer_keeps_the_replaced_key_in_the_history(chain: Chain) -> None:
    id_hash, _ = chain.issue(licence_id("2024000096"))
    first = compute_holder_key_hash(HOLDER_KEY.public_key)
    new_key = PrivateKey.generate()  # the holder lost her key
    second = compute_holder_key_hash(new_key.public_key)
    receipt = chain.must(CITY_DESK, "bind_holder_key", id_hash, second)
    [(name, args)] = chain.named_events(receipt)
    assert name == "HolderKeyBound" and args["previous_holder_key_hash"] == first
    assert args["holder_key_hash"] == second and args["by"] == CITY_DESK
    assert chain.view("get_licence", id_hash)["holder_key_hash"] == second
    assert "holder key does not match" in chain.refused(
        BANK, "record_use", *chain.use_args(chain.consent(id_hash))
    )
    chain.must(BANK, "record_use", *chain.use_args(chain.consent(id_hash, key=new_key)))


# --- holder commitment salts (the chain sees only the commitment: the SDK is the rule) ---------------------
@pytest.mark.parametrize(
    "salt",
    [
        bytes(32),
        b"\xff" * 32,
        b"\x01" * 32,
        b"ab" * 16,
        b"abcd" * 8,
        b"12345678" * 4,
        bytes(31),
        bytes(range(33)),
    ],
    ids=["zeros", "ones", "repeated_byte", "period_2", "period_4", "period_8", "short", "long"],
)
def test_degenerate_holder_salts_are_refused_with_a_typed_error(salt: bytes) -> None:
    with pytest.raises(WeakSaltError) as refused:
        compute_holder_commitment(salt, "111", RESIDENT_ID)
    assert refused.value.code == "weak_salt"
    with pytest.raises(WeakSaltError):
        validate_holder_salt(salt)


def test_fresh_holder_salts_come_from_the_csprng_and_differ() -> None:
    salts = {new_holder_salt() for _ in range(64)}
    assert len(salts) == 64 and all(validate_holder_salt(s) == s for s in salts)
    assert compute_holder_commitment(SALT, "111", RESIDENT_ID) == COMMITMENT  # a patternless salt is fine


# --- per-licence holder keys: a holder's licences share no key ---------------------------------------------
HOLDER = HolderKeys(bytes(range(100, 132)))  # one holder's wallet (a fixed master secret: reproducible)


def _issue_for(chain: Chain, serial: str) -> tuple[bytes, PrivateKey]:
    """Issue ``serial`` to HOLDER with the key her wallet derives for it; returns the id hash and the key."""
    id_hash = compute_licence_hash(licence_id(serial))
    key = HOLDER.key_for(chain_id=CHAIN_ID, id_hash=id_hash, registry=LICENCE_REGISTRY_ADDRESS)
    issued, _ = chain.issue(licence_id(serial), holder_key_hash=compute_holder_key_hash(key.public_key))
    assert issued == id_hash
    return id_hash, key


def _words(blob: bytes) -> set[bytes]:
    return {blob[i : i + 32] for i in range(0, len(blob) - len(blob) % 32, 32)}


def test_a_holders_licences_share_no_key_and_their_uses_no_call_data_word(chain: Chain) -> None:
    """Attack: a relying party (or a validator, or anyone a use record's bundle reaches) compares the use
    records of two licences to learn they belong to one holder: the same key in both would say so."""
    first, first_key = _issue_for(chain, "2024000901")
    second, second_key = _issue_for(chain, "2024000902")
    assert first_key.public_key != second_key.public_key
    first_hash, second_hash = (chain.view("get_licence", h)["holder_key_hash"] for h in (first, second))
    assert first_hash != second_hash  # the licences' public events and views show different key hashes
    calls = []
    for id_hash, key in ((first, first_key), (second, second_key)):
        consent = chain.consent(id_hash, key=key)  # the same relying party, the same purpose
        data = REGISTRY.encode_call("record_use", chain.use_args(consent))
        receipt = chain.execute(BANK, LICENCE_REGISTRY_ADDRESS, data)
        assert receipt.status == 1, receipt.revert_reason  # the derived key's consent is accepted
        calls.append(_words(data[4:]))
    purpose = chain.consent(first, key=first_key).purpose_hash  # the relying party's, not the holder's
    shared = (calls[0] & calls[1]) - {purpose}
    assert all(int.from_bytes(word, "big") < 2**64 for word in shared), [w.hex() for w in shared]


def test_a_key_derived_for_one_licence_is_refused_for_another(chain: Chain) -> None:
    first, first_key = _issue_for(chain, "2024000903")
    second, second_key = _issue_for(chain, "2024000904")
    wrong = chain.consent(second, key=first_key)  # a valid signature by the holder's key for the first
    assert "holder key does not match the licence" in chain.refused(
        BANK, "record_use", *chain.use_args(wrong)
    )
    chain.must(BANK, "record_use", *chain.use_args(chain.consent(second, key=second_key)))
    # a renewal keeps the key derived for the version it was bound to
    renewed = compute_licence_hash(licence_id("2024000903", 2))
    chain.must(CITY, "renew", first, licence_id("2024000903", 2), DOC_HASH, chain.now, 0)
    chain.must(BANK, "record_use", *chain.use_args(chain.consent(renewed, key=first_key)))
    own = HOLDER.key_for(chain_id=CHAIN_ID, id_hash=renewed, registry=LICENCE_REGISTRY_ADDRESS)
    assert "holder key does not match the licence" in chain.refused(
        BANK, "record_use", *chain.use_args(chain.consent(renewed, key=own))
    )
