"""Confirmation letters through the SDK against a real node: the full story, sealed documents, OVERDUE."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from node_fixtures import RunningNode

from node.demo_network import make_uscc
from scripts.samples import (
    BANK_BALANCE,
    BOOK_BALANCE,
    CLIENT_NAME,
    sample_letter_reply,
    sample_letter_request,
)
from sdk.client import Client
from sdk.contracts import Contract
from sdk.crypto import PublicKey
from sdk.domains.calendar import OFFICIAL_CALENDAR, day_of_timestamp, end_of_day
from sdk.domains.confirmations import (
    Confirmations,
    LetterParty,
    LetterReply,
    LetterRequest,
    LetterState,
    LetterStatus,
)
from sdk.domains.governance import Governance
from sdk.errors import DecryptionError, DomainError, ExecutionError, InvalidKeyError, XinlianError
from sdk.proofs.trust import load_trust
from sdk.proofs.verify import Verifier
from sdk.signer import Signer
from sdk.types import BlockHeader, CommitCertificate, Transaction

pytest_plugins = ["node_fixtures"]

CLIENT_USCC = make_uscc("310000", 30_000_001)


@dataclass
class Parties:
    client: Client
    auditor: Confirmations
    bank: Confirmations
    company: Confirmations
    regulator: Confirmations  # the audit accreditor, standing for the finance authority
    bank_key: PublicKey
    regulator_key: PublicKey
    bank_uscc: str


def _parties(node: RunningNode, client: Client) -> Parties:
    committee = Governance(client, node.committee.signer)
    company = Signer.generate()
    committee.register_organisation(CLIENT_USCC, CLIENT_NAME)
    committee.register_account(company.address, CLIENT_USCC)
    bank = node.member_with("BANK")
    regulator = node.member_with("AUDIT_ACCREDITOR")
    return Parties(
        client=client,
        auditor=Confirmations(client, node.member_with("AUDITOR").signer),
        bank=Confirmations(client, bank.signer),
        company=Confirmations(client, company),
        regulator=Confirmations(client, regulator.signer),
        bank_key=bank.signer.private_key.public_key,
        regulator_key=regulator.signer.private_key.public_key,
        bank_uscc=bank.uscc,
    )


@pytest.fixture(scope="module")
def parties(running_node: RunningNode) -> Iterator[Parties]:
    with Client(running_node.url) as client:
        yield _parties(running_node, client)


def _ids(letters: Iterable[LetterState]) -> set[bytes]:
    return {letter.letter_id for letter in letters}


def _request(p: Parties) -> LetterRequest:
    return sample_letter_request(CLIENT_USCC, p.bank_uscc)


def _reply(bank_balance: str = BOOK_BALANCE) -> LetterReply:
    return sample_letter_reply(bank_balance, bank_reference="BANK-REF-1")


# --- the full story ----------------------------------------------------------------------------------
def test_letter_from_creation_to_auditor_receipt(
    parties: Parties, running_node: RunningNode, tmp_path: Path
) -> None:
    p = parties
    request = _request(p)
    # Other tests of this module share the node and may run first: listings are compared with before.
    awaiting_before = _ids(p.company.as_client(status=LetterStatus.AWAITING_CLIENT_AUTH))
    due_before = _ids(p.bank.due())
    created = p.auditor.create(request, bank_keys=[p.bank_key], regulator_key=p.regulator_key)
    lid = created.letter_id
    assert p.auditor.letter(lid).status == LetterStatus.AWAITING_CLIENT_AUTH
    assert _ids(p.company.as_client(status=LetterStatus.AWAITING_CLIENT_AUTH)) - awaiting_before == {lid}
    with pytest.raises(ExecutionError, match="not awaiting the bank"):
        p.bank.accept(lid)

    p.company.authorise(lid)
    assert lid in [x.letter_id for x in p.bank.as_bank(status=LetterStatus.SENT)]
    assert p.bank.open_request(lid) == request  # the bank decrypts what the auditor sealed
    assert p.regulator.open_request(lid) == request
    with pytest.raises(DecryptionError):
        p.company.open_request(lid)  # not a recipient of this letter

    accepted = p.bank.accept(lid)
    state = p.bank.letter(lid)
    receipt_day = day_of_timestamp(state.accepted_at)
    assert accepted.due_date == state.due_date
    assert state.due_date is not None
    assert (state.due_date - dt.date(1970, 1, 1)).days == OFFICIAL_CALENDAR.add_working_days(receipt_day, 10)
    assert (
        accepted.deadline == state.deadline == end_of_day(OFFICIAL_CALENDAR.add_working_days(receipt_day, 10))
    )
    assert _ids(p.bank.due()) - due_before == {lid}
    # The due date is provisional exactly when it lies past the calendar's entered notices.
    covered = OFFICIAL_CALENDAR.covered_through
    assert state.due_date_provisional == ((state.due_date - dt.date(1970, 1, 1)).days > covered)
    with pytest.raises(ExecutionError, match="bank has started processing"):
        p.auditor.recall(lid)

    replied = p.bank.reply(lid, _reply(BANK_BALANCE))  # auditor key read from the creating transaction
    assert not replied.paper_supplement and not replied.late
    reply = p.auditor.open_reply(lid)
    assert reply.exception_items == {1}
    assert reply.answers[1].rows[0].balance == Decimal("12345600.00")  # type: ignore[attr-defined]

    p.auditor.confirm_receipt(lid)
    with pytest.raises(ExecutionError, match="no reply to receive"):
        p.auditor.confirm_receipt(lid)
    final = p.auditor.letter(lid)
    assert final.status == LetterStatus.RECEIVED and final.exception_items == {1}
    assert [e.name for e in p.auditor.events(lid)] == [
        "LetterCreated",
        "LetterAuthorised",
        "LetterAccepted",
        "LetterReplied",
        "LetterReceived",
    ]

    archive = p.auditor.export_archive(lid, tmp_path / "letter.zip")
    with zipfile.ZipFile(archive) as z:
        names = set(z.namelist())
        assert {
            "manifest.json",
            "letter.json",
            "request.sealed",
            "reply.sealed",
            "request.json",
            "reply.json",
        } <= names
        proofs = [json.loads(z.read(n)) for n in sorted(names) if n.startswith("proofs/")]
        bundles = [json.loads(z.read(n)) for n in sorted(names) if n.startswith("bundles/")]
        assert json.loads(z.read("reply.json"))["answers"]["1"]["outcome"] == "exception"
    assert len(proofs) == 5
    for proof in proofs:
        header = BlockHeader.decode(bytes.fromhex(proof["header_raw"][2:]))
        certificate = CommitCertificate.decode(bytes.fromhex(proof["certificate_raw"][2:]))
        assert header.block_hash.hex() == proof["block_hash"][2:] == certificate.block_hash.hex()
        assert header.height == proof["height"] == certificate.height
    # Every transaction of the letter also comes as a proof bundle that verifies offline against the genesis.
    trust = load_trust(httpx.get(f"{running_node.url}/v1/proofs/trust").json())
    verified = [Verifier(trust=trust).verify_bundle(bundle) for bundle in bundles]
    assert [v.height for v in verified] == [proof["height"] for proof in proofs]
    assert all(v.contract == p.auditor.address for v in verified)


def test_parties_only_see_their_letters(parties: Parties, running_node: RunningNode) -> None:
    p = parties
    lid = p.auditor.create(_request(p), bank_keys=[p.bank_key]).letter_id
    outsider = running_node.member_with("MAH").signer
    with pytest.raises(XinlianError) as info:
        p.client.signed_request(outsider, "GET", f"/v1/confirmations/letters/0x{lid.hex()}")
    assert info.value.code == "forbidden"
    with pytest.raises(XinlianError) as info:
        p.bank.overdue()
    assert info.value.code == "forbidden"
    regulator = running_node.member_with("AUDIT_ACCREDITOR").signer
    body = p.client.signed_request(regulator, "GET", f"/v1/confirmations/letters/0x{lid.hex()}")
    assert body["status"] == "AWAITING_CLIENT_AUTH"
    assert lid in [x.letter_id for x in p.bank.as_bank(status=LetterStatus.AWAITING_CLIENT_AUTH)]
    assert lid not in [x.letter_id for x in p.bank.as_auditor()]  # the bank sent no letters


def test_each_party_finds_its_letters_by_its_own_tags_and_others_find_none(
    parties: Parties, running_node: RunningNode
) -> None:
    """Letters name their parties by per-letter tags: the node finds a member's letters by computing its
    tags, each party recognises its part, and no other organisation (even another bank) is matched."""
    p = parties
    committee = Governance(p.client, running_node.committee.signer)
    other_bank, other_uscc = Signer.generate(), make_uscc("310000", 30_000_002)
    committee.register_organisation(other_uscc, "Another Bank")
    committee.register_account(other_bank.address, other_uscc)
    committee.propose_grant_role(other_bank.address, "BANK")
    to_other = p.auditor.create(
        sample_letter_request(CLIENT_USCC, other_uscc), bank_keys=[other_bank.private_key.public_key]
    ).letter_id
    to_ours = p.auditor.create(_request(p), bank_keys=[p.bank_key]).letter_id

    ours, other = p.auditor.letter(to_ours), p.auditor.letter(to_other)
    assert not {ours.auditor_tag, ours.bank_tag, ours.client_tag} & {
        other.auditor_tag,
        other.bank_tag,
        other.client_tag,
    }
    assert ours.client_tag == p.auditor.party_tag(to_ours, LetterParty.CLIENT, CLIENT_USCC)
    assert ours.bank_tag == p.auditor.party_tag(to_ours, LetterParty.BANK, p.bank_uscc)
    assert p.auditor.parties_of(ours) == {LetterParty.AUDITOR}
    assert p.bank.parties_of(ours) == {LetterParty.BANK} and p.bank.parties_of(other) == frozenset()
    assert p.company.parties_of(ours) == p.company.parties_of(other) == {LetterParty.CLIENT}

    def listed(facade: Confirmations, role: str) -> set[bytes]:
        return {x.letter_id for x in getattr(facade, f"as_{role}")()} & {to_ours, to_other}

    other_facade = Confirmations(p.client, other_bank)
    assert listed(p.auditor, "auditor") == listed(p.company, "client") == {to_ours, to_other}
    assert listed(p.bank, "bank") == {to_ours} and listed(other_facade, "bank") == {to_other}
    outsider = Confirmations(p.client, running_node.member_with("MAH").signer)
    for facade, role in [(outsider, r) for r in ("auditor", "bank", "client")] + [
        (p.bank, "client"),
        (p.bank, "auditor"),
        (p.company, "bank"),
        (other_facade, "client"),
    ]:
        assert listed(facade, role) == set(), (facade.signer, role)
    with pytest.raises(XinlianError) as refused:
        other_facade.letter(to_ours)
    assert refused.value.code == "forbidden"
    p.company.authorise(to_ours)
    with pytest.raises(ExecutionError, match="not the letter's bank"):
        other_facade.accept(to_ours)


def test_recall_before_the_bank_starts(parties: Parties) -> None:
    p = parties
    lid = p.auditor.create(_request(p), bank_keys=[p.bank_key]).letter_id
    p.company.authorise(lid)
    p.auditor.recall(lid)
    assert p.bank.letter(lid).status == LetterStatus.RECALLED
    with pytest.raises(ExecutionError, match="not awaiting the bank"):
        p.bank.accept(lid)


def test_letter_will_be_overdue_after_its_deadline(parties: Parties) -> None:
    p = parties
    lid = p.auditor.create(_request(p), bank_keys=[p.bank_key]).letter_id
    p.company.authorise(lid)
    deadline = p.bank.accept(lid).deadline
    assert p.auditor.status_at(lid, deadline - 1) == LetterStatus.ACCEPTED
    assert p.auditor.status_at(lid, deadline) == LetterStatus.OVERDUE
    assert lid not in [x.letter_id for x in p.regulator.overdue()]
    assert lid in [x.letter_id for x in p.regulator.overdue(as_of=deadline)]
    assert [x.status for x in p.bank.due(as_of=deadline) if x.letter_id == lid] == [LetterStatus.OVERDUE]


# --- a real OVERDUE at the head: a chain whose clock runs one day per block (node_fixtures) ------------
def test_unanswered_letter_turns_overdue_at_the_head(day_per_block_node: RunningNode) -> None:
    node = day_per_block_node
    with Client(node.url) as client:
        p = _parties(node, client)
        lid = p.auditor.create(_request(p), bank_keys=[p.bank_key]).letter_id
        p.company.authorise(lid)
        deadline = p.bank.accept(lid).deadline
        assert p.auditor.letter(lid).status == LetterStatus.ACCEPTED
        while client.chain_info().head_timestamp_ms // 1000 < deadline:
            node.produce_block()  # one more day of chain time
        time.sleep(0.05)
        state = p.auditor.letter(lid)
        assert state.status == LetterStatus.OVERDUE and state.stored_status == LetterStatus.ACCEPTED
        assert [x.letter_id for x in p.regulator.overdue()] == [lid]
        late = p.bank.reply(lid, _reply())
        assert late.late
        assert p.auditor.letter(lid).replied_late
        assert p.regulator.overdue() == []


def test_bank_rejects_a_nonconforming_letter_and_nothing_further_happens(parties: Parties) -> None:
    p = parties
    lid = p.auditor.create(_request(p), bank_keys=[p.bank_key]).letter_id
    p.company.authorise(lid)
    with pytest.raises(XinlianError):
        p.bank.reject(lid, "   ")  # a reason is required: refused before signing
    rejected = p.bank.reject(lid, "询证函未加盖被审计单位公章")
    assert rejected.event == "LetterRejected"
    assert p.auditor.letter(lid).status == LetterStatus.REJECTED_NONCONFORMING
    with pytest.raises(ExecutionError):
        p.bank.reply(lid, _reply())
    with pytest.raises(ExecutionError):
        p.bank.accept(lid)
    assert p.auditor.letter(lid).status == LetterStatus.REJECTED_NONCONFORMING


def test_a_reply_leaving_items_uncovered_is_flagged_for_a_paper_supplement(parties: Parties) -> None:
    p = parties
    lid = p.auditor.create(_request(p), bank_keys=[p.bank_key]).letter_id
    p.company.authorise(lid)
    p.bank.accept(lid)
    partial = LetterReply(answers={1: _reply().answers[1]}, bank_reference="BANK-REF-2")
    replied = p.bank.reply(lid, partial)
    assert replied.paper_supplement
    assert p.auditor.open_reply(lid).covered_items == frozenset({1})


class KeySwappingNode(Client):
    """A compromised node: answers every read honestly except the letter's creating transaction, which it
    re-signs with a key of its own (same fields, so only the key and the signature differ)."""

    def __init__(self, url: str, attacker: Signer) -> None:
        super().__init__(url)
        self.attacker = attacker

    def transaction(self, tx_hash: bytes, *, wait_s: float = 0.0) -> Any:
        status = super().transaction(tx_hash, wait_s=wait_s)
        tx = status.transaction
        if tx is None:
            return status
        forged = Transaction.create(
            self.attacker.private_key,
            chain_id=tx.chain_id,
            to=tx.to,
            data=tx.data,
            gas_limit=tx.gas_limit,
            expiry_height=tx.expiry_height,
        )
        return dataclasses.replace(status, transaction=forged)


def test_a_node_substituting_the_auditors_key_cannot_get_the_reply_sealed_to_it(
    parties: Parties, running_node: RunningNode
) -> None:
    p = parties
    lid = p.auditor.create(_request(p), bank_keys=[p.bank_key]).letter_id
    p.company.authorise(lid)
    p.bank.accept(lid)
    attacker = Signer.generate()
    bank_signer = running_node.member_with("BANK").signer
    with KeySwappingNode(running_node.url, attacker) as hostile:
        misled = Confirmations(hostile, bank_signer)
        with pytest.raises(DomainError) as refused:
            misled.reply(lid, _reply())
        assert refused.value.code == "auditor_key_mismatch"
    # Nor can a caller pass a key that is not the auditor's.
    with pytest.raises(DomainError) as wrong_key:
        p.bank.reply(lid, _reply(), auditor_key=attacker.private_key.public_key)
    assert wrong_key.value.code == "auditor_key_mismatch"
    assert p.auditor.letter(lid).status == LetterStatus.ACCEPTED  # nothing was sent
    replied = p.bank.reply(lid, _reply())
    assert replied.reply_hash and p.auditor.open_reply(lid).bank_reference


# --- listings (last: leaves a letter awaiting the client) ----------------------------------------------
def test_listings_remembered_by_the_node_include_letters_created_since(parties: Parties) -> None:
    """The node remembers each organisation's letters found so far (node.api.tag_index) and walks only the
    blocks committed since: a letter created after a listing shows at the end of the next one, for every
    party, and nowhere else."""
    p = parties
    listings = {
        "auditor": lambda: [x.letter_id for x in p.auditor.as_auditor()],
        "bank": lambda: [x.letter_id for x in p.bank.as_bank()],
        "client": lambda: [x.letter_id for x in p.company.as_client()],
    }
    before = {party: listing() for party, listing in listings.items()}
    lid = p.auditor.create(_request(p), bank_keys=[p.bank_key], regulator_key=p.regulator_key).letter_id
    for party, listing in listings.items():
        assert listing() == [*before[party], lid], party
    assert lid not in [x.letter_id for x in p.bank.as_auditor()]
    assert lid not in [x.letter_id for x in p.auditor.as_bank()]


def test_listings_page_by_cursor_at_one_as_of(parties: Parties, running_node: RunningNode) -> None:
    """A listing read one letter per page (following next_cursor) is the whole listing; every page is
    evaluated at the first page's as_of; a cursor that is malformed, from another listing or paired with
    another as_of is refused with a typed error, never answered with a partial or shifted page."""
    p = parties
    signer = p.auditor._require_signer()
    for _ in range(3 - len(p.auditor.as_auditor())):
        p.auditor.create(_request(p), bank_keys=[p.bank_key], regulator_key=p.regulator_key)
    whole = [x.letter_id for x in p.auditor.as_auditor()]
    assert len(whole) >= 3
    first = p.client.signed_request(signer, "GET", "/v1/confirmations/as-auditor", params={"limit": 1})
    assert first["truncated"] and first["next_cursor"] and first["count"] == 1
    pages = p.client.signed_pages(
        signer, "/v1/confirmations/as-auditor", items="letters", resume=("cursor", "next_cursor"), page_size=1
    )
    letters = list(pages)
    assert [bytes.fromhex(x["letter_id"][2:]) for x in letters] == whole
    assert {x["as_of"] for x in letters} == {first["as_of"]}
    second = p.client.signed_request(
        signer, "GET", "/v1/confirmations/as-auditor", params={"limit": 1, "cursor": first["next_cursor"]}
    )
    assert [x["letter_id"] for x in second["letters"]] == [letters[1]["letter_id"]]

    refusals = {
        "malformed": {"cursor": "1.2.3"},
        "other as_of": {"cursor": first["next_cursor"], "as_of": first["as_of"] + 1},
    }
    for name, params in refusals.items():
        with pytest.raises(XinlianError) as refused:
            p.client.signed_request(signer, "GET", "/v1/confirmations/as-auditor", params=params)
        assert refused.value.code == "bad_request", name
    stranger = f"{first['as_of']}.1.{'00' * 32}"  # names no letter of the bank's
    with pytest.raises(XinlianError) as foreign:
        p.client.signed_request(
            p.bank._require_signer(), "GET", "/v1/confirmations/as-bank", params={"cursor": stranger}
        )
    assert foreign.value.code == "bad_request"


def test_overdue_listing_pages_by_cursor(parties: Parties) -> None:
    p = parties
    far = 2**40  # every accepted, unanswered letter is overdue by then
    for _ in range(2):
        lid = p.auditor.create(_request(p), bank_keys=[p.bank_key], regulator_key=p.regulator_key).letter_id
        p.company.authorise(lid)
        p.bank.accept(lid)
    whole = [x.letter_id for x in p.regulator.overdue(as_of=far)]
    assert len(whole) >= 2
    pages = p.client.signed_pages(
        p.regulator._require_signer(),
        "/v1/confirmations/overdue",
        items="letters",
        resume=("cursor", "next_cursor"),
        params={"as_of": far},
        page_size=1,
    )
    assert [bytes.fromhex(x["letter_id"][2:]) for x in pages] == whole


# --- the envelope key directory --------------------------------------------------------------------------
def test_an_auditor_seals_to_the_key_the_bank_published(parties: Parties, running_node: RunningNode) -> None:
    p = parties
    published = p.bank.publish_envelope_key()
    assert published.organisation == p.bank_uscc and published.public_key == p.bank_key
    assert p.auditor.envelope_key(p.bank_uscc) == published
    lid = p.auditor.create(_request(p)).letter_id  # no bank key passed: the directory's
    p.company.authorise(lid)
    opened = p.bank.open_request(lid)
    assert (opened.bank_org, opened.client_org) == (p.bank_uscc, CLIENT_USCC)
    with pytest.raises(DomainError) as refused:
        p.auditor.envelope_key(CLIENT_USCC)  # the audited company publishes none
    assert refused.value.code == "no_envelope_key"
    with pytest.raises(ExecutionError, match="only a bank or a finance regulator"):
        p.auditor.publish_envelope_key()

    # A bank publishing bytes that are no curve point (past the SDK, by a raw call) gets nothing sealed to it.
    bank = running_node.member_with("BANK").signer
    contract = Contract("BankConfirmation")
    p.client.send(bank, p.bank.address, contract.encode_call("set_envelope_key", [bytes(64)]), check=True)
    with pytest.raises(InvalidKeyError):
        p.auditor.envelope_key(p.bank_uscc)
    with pytest.raises(InvalidKeyError):
        p.auditor.create(_request(p))
    assert p.bank.publish_envelope_key().version == published.version + 2
