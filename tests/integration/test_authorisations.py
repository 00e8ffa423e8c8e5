"""Data-sharing authorisations through the SDK against a real node: consent, uses, revocation, refusals."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import pytest

from node.demo_network import make_uscc
from scripts.samples import SAMPLE_RESIDENT_ID
from sdk.client import Client
from sdk.crypto import PrivateKey, sm3
from sdk.domains.authorisations import (
    Authorisations,
    GrantStatus,
    Level,
    ShareType,
    SubjectKeyBinding,
    compute_subject_commitment,
    new_salt,
    sign_consent,
)
from sdk.domains.governance import Governance
from sdk.errors import DomainError, ExecutionError, IdentifierError, XinlianError
from sdk.signer import Signer
from tests.support import check_transaction_readers

if TYPE_CHECKING:
    from node_fixtures import RunningNode

pytest_plugins = ["node_fixtures"]

RESIDENT_ID = SAMPLE_RESIDENT_ID
OTHER_RESIDENT_ID = "110105194912310038"
SCHEMA = sm3(b"schema: name, id, address, income, tax")
BASIS = sm3(b"basis: state secrets law art. 9")
FIELDS = (0, 1, 2, 3, 4)


@dataclass
class Parties:
    client: Client
    holder: Authorisations  # Data Exchange Authority: DATA_HOLDER only
    regulator: Authorisations  # Municipal Data Administration: DATA_REGULATOR only
    second_regulator: Authorisations  # an identity service given DATA_REGULATOR by the committee
    requester: Authorisations  # a credit bureau account with DATA_USER, registered by the committee
    relay: Authorisations  # the committee member, relaying a revocation the subject signed (with terms
    # a party of the grant gave her app: the relay may not read the grant itself)
    outsider: Authorisations  # a member that is no party (the bank)
    requester_uscc: str
    requester_address: bytes
    regulator_address: bytes
    second_regulator_address: bytes


def _register(committee: Governance, uscc: str, name: str) -> Signer:
    committee.register_organisation(uscc, name)
    account = Signer.generate()
    committee.register_account(account.address, uscc)
    return account


@pytest.fixture(scope="module")
def parties(running_node: RunningNode) -> Iterator[Parties]:
    with Client(running_node.url, timeout=15) as client:
        holder_member = running_node.member_with("DATA_HOLDER")
        regulator_member = running_node.member_with("DATA_REGULATOR")
        assert holder_member.uscc != regulator_member.uscc  # the demo genesis separates the duties
        committee = Governance(client, running_node.committee.signer)
        uscc = make_uscc("110000", 20_000_001)
        account = _register(committee, uscc, "Example Credit Bureau")
        Governance(client, regulator_member.signer).grant_role(account.address, "DATA_USER")
        identity_service = _register(committee, make_uscc("110000", 20_000_002), "Example Identity Service")
        assert committee.propose_grant_role(identity_service.address, "DATA_REGULATOR").executed
        yield Parties(
            client=client,
            holder=Authorisations(client, holder_member.signer),
            regulator=Authorisations(client, regulator_member.signer),
            second_regulator=Authorisations(client, identity_service),
            requester=Authorisations(client, account),
            relay=Authorisations(client, running_node.committee.signer),
            outsider=Authorisations(client, running_node.member_with("BANK").signer),
            requester_uscc=uscc,
            requester_address=account.address,
            regulator_address=regulator_member.signer.address,
            second_regulator_address=identity_service.address,
        )


def _now() -> int:
    return int(time.time())


def _request(p: Parties, resource_id: int, **overrides: object) -> int:
    args: dict[str, object] = {
        "purpose": "credit assessment for loan application",
        "field_ids": (0, 1),
        "valid_from": _now() - 60,
        "valid_until": _now() + 3600,
        "use_limit": 10,
    }
    args.update(overrides)
    return p.requester.request(resource_id, **args).grant_id  # type: ignore[arg-type]


def _resource(p: Parties, level: Level = Level.GENERAL, *, personal: bool = False) -> int:
    """Register an unconditionally shared resource of the holder; returns its id."""
    return p.holder.register_resource(
        level=level,
        share_type=ShareType.UNCONDITIONAL,
        schema_hash=SCHEMA,
        field_ids=FIELDS,
        personal=personal,
    ).resource_id


def _reason(info: pytest.ExceptionInfo[ExecutionError]) -> str:
    return str(info.value.detail.get("reason"))


def test_consent_uses_subject_revocation_and_trail(parties: Parties) -> None:
    p = parties
    resource_id = _resource(p, personal=True)
    salt = new_salt()
    commitment = compute_subject_commitment(RESIDENT_ID, salt)
    grant_id = _request(p, resource_id, subject_commitment=commitment)
    assert p.holder.status(grant_id) == GrantStatus.REQUESTED

    subject = PrivateKey.generate()
    # the subject signs her key's binding with it; a DATA_REGULATOR (not the holder) vouches for her identity
    assert p.holder.subject_key(commitment) is None
    binding = p.holder.subject_key_binding(subject, resident_id=RESIDENT_ID, salt=salt)
    p.regulator.bind_subject_key(binding)
    assert p.holder.subject_key(commitment) == sm3(subject.public_key.to_bytes())
    consent = p.holder.subject_consent(subject, grant_id, resident_id=RESIDENT_ID, salt=salt)
    p.holder.grant(grant_id, consent)
    grant = p.holder.get_grant(grant_id)
    assert grant is not None and grant.status == GrantStatus.GRANTED
    assert grant.subject_tag == p.holder.subject_tag(grant_id, commitment)  # not the commitment, nor the key

    for number in (1, 2, 3):
        use = p.holder.record_use(grant_id, (0, 1), sm3(f"answer {number}".encode()))
        assert use.use_number == number

    p.relay.revoke_by_subject(
        p.holder.subject_revocation(subject, grant_id, resident_id=RESIDENT_ID, salt=salt)
    )
    assert p.holder.status(grant_id) == GrantStatus.REVOKED
    with pytest.raises(ExecutionError) as refused:
        p.holder.record_use(grant_id, (0,), sm3(b"answer 4"))
    assert _reason(refused) == "grant revoked"

    record = p.holder.grant_record(grant_id)
    assert record.status == GrantStatus.REVOKED and record.uses == 3
    assert [e.event for e in record.trail] == [
        "AccessRequested",
        "AccessGranted",
        "UseRecorded",
        "UseRecorded",
        "UseRecorded",
        "GrantRevoked",
    ]
    assert record.trail[-1].args["by_subject"] is True
    assert [e.args["result_digest"] for e in record.trail[2:5]] == [
        "0x" + sm3(f"answer {n}".encode()).hex() for n in (1, 2, 3)
    ]
    # the clear resident ID appears nowhere in what the node returns
    assert RESIDENT_ID not in repr(record)

    by_subject = p.requester.grants_by_subject(commitment)
    assert [g.grant_id for g in by_subject] == [grant_id]
    assert by_subject[0].requester_org == p.requester_uscc
    assert p.outsider.grants_by_subject(commitment) == []
    assert grant_id in [g.grant_id for g in p.holder.grants_by_resource(resource_id)]
    mine = [g.grant_id for g in p.requester.grants_by_requester(p.requester_address)]
    assert grant_id in mine
    assert mine == [g.grant_id for g in p.holder.grants_by_requester(p.requester_address)]
    assert p.outsider.grants_by_requester(p.requester_address) == []
    assert p.outsider.grants_by_resource(resource_id) == []
    with pytest.raises(XinlianError) as forbidden:
        p.outsider.grant_record(grant_id)
    assert forbidden.value.code == "forbidden"


def test_forged_consent_is_refused(parties: Parties) -> None:
    p = parties
    resource_id = _resource(p, Level.IMPORTANT, personal=True)
    salt = new_salt()
    grant_id = _request(p, resource_id, subject_commitment=compute_subject_commitment(RESIDENT_ID, salt))
    subject, impostor = PrivateKey.generate(), PrivateKey.generate()
    p.regulator.bind_subject_key(p.holder.subject_key_binding(subject, resident_id=RESIDENT_ID, salt=salt))
    genuine = p.holder.subject_consent(subject, grant_id, resident_id=RESIDENT_ID, salt=salt)
    forged = sign_consent(impostor, genuine.terms)
    with pytest.raises(ExecutionError) as refused:
        p.holder.grant(
            grant_id,
            type(genuine)(terms=genuine.terms, public_key=genuine.public_key, signature=forged.signature),
        )
    assert _reason(refused) == "subject consent signature is invalid"
    with pytest.raises(DomainError):
        p.holder.subject_consent(subject, grant_id, resident_id=OTHER_RESIDENT_ID, salt=salt)
    with pytest.raises(IdentifierError) as bad_id:
        p.holder.subject_consent(subject, grant_id, resident_id="110105194912310021", salt=salt)
    assert "110105194912310021" not in str(bad_id.value)
    assert p.holder.status(grant_id) == GrantStatus.REQUESTED


def test_subject_key_binding_stops_a_holder_consenting_for_the_subject(parties: Parties) -> None:
    p = parties
    resource_id = _resource(p, personal=True)
    salt = new_salt()
    commitment = compute_subject_commitment(RESIDENT_ID, salt)
    grant_id = _request(p, resource_id, subject_commitment=commitment)
    subject, throwaway = PrivateKey.generate(), PrivateKey.generate()
    terms = p.holder.consent_terms(grant_id, commitment)
    genuine = p.holder.subject_key_binding(subject, resident_id=RESIDENT_ID, salt=salt)
    own = p.holder.subject_key_binding(throwaway, resident_id=RESIDENT_ID, salt=salt)

    # no binding yet: even a valid signature is refused
    with pytest.raises(ExecutionError) as unbound:
        p.holder.grant(grant_id, sign_consent(throwaway, terms))
    assert _reason(unbound) == "subject key not bound"
    # only a DATA_REGULATOR binds keys: neither the holder nor the requester, even with a key's own signature
    for party in (p.holder, p.requester):
        with pytest.raises(ExecutionError) as not_regulator:
            party.bind_subject_key(own)
        assert _reason(not_regulator) == "not a data regulator"
    # a regulator cannot bind the subject's key without her signature (sent as is: the SDK does not check it)
    forged = SubjectKeyBinding(commitment, genuine.public_key, own.signature, 1)
    with pytest.raises(ExecutionError) as unsigned:
        p.regulator.bind_subject_key(forged)
    assert _reason(unsigned) == "subject key signature is invalid"
    assert p.holder.subject_key(commitment) is None

    p.regulator.bind_subject_key(genuine)
    # the holder's throwaway key signs the exact terms, but it is not the subject's bound key
    with pytest.raises(ExecutionError) as throwaway_refused:
        p.holder.grant(grant_id, sign_consent(throwaway, terms))
    assert _reason(throwaway_refused) == "consent key is not the subject's bound key"
    assert p.holder.status(grant_id) == GrantStatus.REQUESTED
    # and the binding cannot be swapped for the throwaway key by binding again
    with pytest.raises(ExecutionError) as rebind:
        p.second_regulator.bind_subject_key(own)
    assert _reason(rebind) == "subject key already bound"

    p.holder.grant(grant_id, p.holder.subject_consent(subject, grant_id, resident_id=RESIDENT_ID, salt=salt))
    p.relay.revoke_by_subject(
        p.holder.subject_revocation(subject, grant_id, resident_id=RESIDENT_ID, salt=salt)
    )  # the real subject can still withdraw her consent
    assert p.holder.status(grant_id) == GrantStatus.REVOKED


def test_supervised_rebind_needs_two_regulators_and_keeps_history(parties: Parties) -> None:
    p = parties
    resource_id = _resource(p, personal=True)
    salt = new_salt()
    commitment = compute_subject_commitment(RESIDENT_ID, salt)
    old_key, new_key = PrivateKey.generate(), PrivateKey.generate()
    p.regulator.bind_subject_key(p.holder.subject_key_binding(old_key, resident_id=RESIDENT_ID, salt=salt))
    grant_id = _request(p, resource_id, subject_commitment=commitment)
    p.holder.grant(grant_id, p.holder.subject_consent(old_key, grant_id, resident_id=RESIDENT_ID, salt=salt))

    # the subject lost her key: she signs the binding of a new one (version 2) and a regulator proposes it
    binding = p.holder.subject_key_binding(new_key, resident_id=RESIDENT_ID, salt=salt)
    assert binding.version == 2
    with pytest.raises(DomainError):
        p.regulator.bind_subject_key(binding)  # the SDK points to the rebind; the contract would refuse too
    p.regulator.propose_subject_key_rebind(binding, sm3(b"case file: key lost"))
    assert p.holder.subject_key(commitment) == sm3(old_key.public_key.to_bytes())  # not yet
    with pytest.raises(ExecutionError) as own_org:
        p.regulator.confirm_subject_key_rebind(commitment, new_key.public_key.to_bytes())
    assert _reason(own_org) == "a rebind needs a regulator of another organisation"
    p.second_regulator.confirm_subject_key_rebind(commitment, new_key.public_key.to_bytes())

    record = p.holder.subject_key_record(commitment)
    assert record is not None and record.version == 2
    assert record.key_hash == sm3(new_key.public_key.to_bytes())
    assert (record.attested_by, record.confirmed_by) == (p.regulator_address, p.second_regulator_address)
    assert p.holder.subject_key_history(commitment) == [
        sm3(old_key.public_key.to_bytes()),
        sm3(new_key.public_key.to_bytes()),
    ]
    # the grant consented with the old key stays in force; the subject withdraws it with the new key
    assert p.holder.status(grant_id) == GrantStatus.GRANTED
    p.relay.revoke_by_subject(
        p.holder.subject_revocation(new_key, grant_id, resident_id=RESIDENT_ID, salt=salt)
    )
    assert p.holder.status(grant_id) == GrantStatus.REVOKED


def test_no_sharing_resource_is_never_granted(parties: Parties) -> None:
    p = parties
    closed = p.holder.register_resource(
        level=Level.GENERAL,
        share_type=ShareType.NONE,
        schema_hash=SCHEMA,
        field_ids=FIELDS,
        personal=False,
        condition_hash=BASIS,
    ).resource_id
    with pytest.raises(ExecutionError) as refused:
        _request(p, closed, condition_hash=BASIS)
    assert _reason(refused) == "resource is not shared (share type 3)"
    reclassified = _resource(p)
    grant_id = _request(p, reclassified)
    p.holder.set_share_type(reclassified, ShareType.NONE, BASIS)
    with pytest.raises(ExecutionError) as refused_grant:
        p.holder.grant(grant_id)
    assert _reason(refused_grant) == "resource is not shared (share type 3)"


def test_core_data_needs_regulator_approval(parties: Parties) -> None:
    p = parties
    core = _resource(p, Level.CORE)
    grant_id = _request(p, core)
    with pytest.raises(ExecutionError) as refused:
        p.holder.grant(grant_id)
    assert _reason(refused) == "core data needs regulator approval first"
    for party in (p.requester, p.holder):
        with pytest.raises(ExecutionError) as not_regulator:
            party.approve(grant_id)
        assert _reason(not_regulator) == "not a data regulator"
    p.regulator.approve(grant_id)  # a regulator of neither the holder's nor the requester's organisation
    assert p.holder.status(grant_id) == GrantStatus.APPROVED
    p.holder.grant(grant_id)
    assert p.holder.status(grant_id) == GrantStatus.GRANTED


def test_over_use_and_out_of_fields_are_refused(parties: Parties) -> None:
    p = parties
    resource_id = _resource(p)
    grant_id = _request(p, resource_id, use_limit=1)
    p.holder.grant(grant_id)
    with pytest.raises(ExecutionError) as outside:
        p.requester.record_use(grant_id, (0, 4), sm3(b"answer"))
    assert _reason(outside) == "fields outside the grant"
    assert p.requester.can_use(grant_id, (1,)) is True
    assert p.requester.record_use(grant_id, (1,), sm3(b"answer")).use_number == 1
    with pytest.raises(ExecutionError) as over:
        p.holder.record_use(grant_id, (1,), sm3(b"answer 2"))
    assert _reason(over) == "use limit reached"
    with pytest.raises(DomainError):
        p.requester.request(
            resource_id, purpose="x", field_ids=(0,), valid_from=_now(), valid_until=_now() + 10, use_limit=0
        )


def test_expired_grant_is_refused(parties: Parties) -> None:
    p = parties
    resource_id = _resource(p)
    until = _now() + 3
    grant_id = _request(p, resource_id, valid_until=until)
    p.holder.grant(grant_id)
    while _now() <= until:
        time.sleep(0.2)
    with pytest.raises(ExecutionError) as refused:
        p.holder.record_use(grant_id, (0,), sm3(b"late answer"))
    assert _reason(refused) == "grant expired"
    p.relay.expire(grant_id)
    assert p.holder.status(grant_id) == GrantStatus.EXPIRED


def test_unsigned_or_unknown_queries_are_refused(running_node: RunningNode, parties: Parties) -> None:
    response = httpx.get(f"{running_node.url}/v1/authorisations/grants/1")
    assert response.status_code == 401 and response.json()["code"] == "unauthenticated"
    with pytest.raises(XinlianError) as missing:
        parties.holder.grant_record(10**9)
    assert missing.value.code == "not_found"
    holder = parties.holder
    assert holder.signer is not None
    with pytest.raises(XinlianError) as bad:  # the node refuses an empty page
        holder.client.signed_request(
            holder.signer, "GET", f"/v1/authorisations/by-subject/0x{'01' * 32}", params={"limit": 0}
        )
    assert bad.value.code == "bad_request"
    with pytest.raises(XinlianError) as negative:
        holder.grants_by_subject(bytes(31) + b"\x01", limit=-1)
    assert negative.value.code == "bad_argument"
    assert holder.grants_by_subject(bytes(31) + b"\x01", limit=0) == []


def test_grant_listings_follow_every_page(parties: Parties) -> None:
    """The SDK follows next_after to the end: the grants of a resource read one per page are the whole
    listing, and ``limit`` stops after that many."""
    p = parties
    assert p.holder.signer is not None
    resource_id = _resource(p)
    made = [_request(p, resource_id) for _ in range(3)]
    path = f"/v1/authorisations/by-resource/{resource_id}"
    whole = [g.grant_id for g in p.holder.grants_by_resource(resource_id)]
    assert whole == made
    one_by_one = p.holder.client.signed_pages(
        p.holder.signer, path, items="grants", resume=("after", "next_after"), page_size=1
    )
    assert [g["grant_id"] for g in one_by_one] == whole
    assert [g.grant_id for g in p.holder.grants_by_resource(resource_id, limit=2)] == whole[:2]


def test_transactions_carrying_the_subjects_key_are_read_by_their_sender_and_the_regulator(
    running_node: RunningNode, parties: Parties
) -> None:
    """Attack: the requester (or any party of a grant's logs) fetches the transactions of its grant to read
    the subject's key, the same in every grant about her, and link her grants from other holders."""
    p = parties
    salt = new_salt()
    commitment = compute_subject_commitment(RESIDENT_ID, salt)
    grant_id = _request(p, _resource(p, personal=True), subject_commitment=commitment)
    subject = PrivateKey.generate()
    bound = p.regulator.bind_subject_key(
        p.holder.subject_key_binding(subject, resident_id=RESIDENT_ID, salt=salt)
    )
    granted = p.holder.grant(
        grant_id, p.holder.subject_consent(subject, grant_id, resident_id=RESIDENT_ID, salt=salt)
    )
    revoked = p.relay.revoke_by_subject(
        p.holder.subject_revocation(subject, grant_id, resident_id=RESIDENT_ID, salt=salt)
    )
    # the requester reads the grant's whole trail, including the AccessGranted and GrantRevoked logs …
    trail = [e.event for e in p.requester.grant_record(grant_id).trail]
    assert trail == ["AccessRequested", "AccessGranted", "GrantRevoked"]
    # … but not the transactions whose call data carries her key or commitment
    callers = {
        "anonymous": None,
        "holder": p.holder.signer,
        "requester": p.requester.signer,
        "regulator": p.regulator.signer,
        "relay": p.relay.signer,
        "outsider": p.outsider.signer,
    }
    # the sender's organisation and the data regulator, no one else
    for receipt, readers in (
        (bound, {"regulator"}),
        (granted, {"holder", "regulator"}),
        (revoked, {"relay", "regulator"}),
    ):
        check_transaction_readers(running_node.url, callers, readers, receipt.tx_hash, receipt.height)
    # what the grant's parties read names the subject only by the grant's tag
    body = p.requester.client.signed_request(
        p.requester.signer, "GET", f"/v1/authorisations/grants/{grant_id}"
    )
    assert body["subject_tag"] == "0x" + p.holder.subject_tag(grant_id, commitment).hex()
    assert commitment.hex() not in str(body) and subject.public_key.to_hex() not in str(body)
    assert "subject_commitment" not in body and "subject_key_hash" not in body
