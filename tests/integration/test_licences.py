"""E-licences end to end through the SDK facade and the HTTP API against a real node (py-evm, SQL, SM2)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from scripts.samples import SAMPLE_RESIDENT_ID
from sdk.client import Client
from sdk.crypto import PrivateKey, sm3
from sdk.domains.licences import (
    LICENCE_GAS_LIMIT,
    HolderCredential,
    HolderKeys,
    Licences,
    LicenceStatus,
    compute_holder_key_hash,
    compute_licence_hash,
)
from sdk.errors import DomainError, ExecutionError, IdentifierError, WeakSaltError, XinlianError
from sdk.identifiers import make_licence_id
from sdk.signer import Signer
from sdk.system import LICENCE_REGISTRY_ADDRESS
from tests.support import check_transaction_readers, member_auth

if TYPE_CHECKING:
    from node_fixtures import RunningNode

pytest_plugins = ["node_fixtures"]

RESIDENT_ID = SAMPLE_RESIDENT_ID
DAY = 86_400


class CountingClient(Client):
    """A real client that also counts the transactions it submits."""

    submitted = 0

    def submit_raw(self, raw: bytes) -> bytes:
        self.submitted += 1
        return super().submit_raw(raw)


@dataclass
class World:
    client: CountingClient
    authority: Signer  # Municipal Market Regulation Bureau: LICENCE_AUTHORITY (+ ISSUER globally)
    authority_uscc: str
    issuer: Signer  # Data Exchange Authority: authorised for the type by the bureau
    issuer_uscc: str
    bank: Signer  # Commercial Bank of Example: a relying party
    bank_uscc: str
    type_code: str

    def licences(self, signer: Signer | None = None) -> Licences:
        return Licences(self.client, signer)

    def identifier(self, serial: str, version: int = 1) -> str:
        return make_licence_id(self.type_code, self.issuer_uscc, serial, version)


def _member(node: RunningNode, name: str) -> Any:
    return next(m for m in node.members if m.name == name)


@pytest.fixture(scope="module")
def world(running_node: RunningNode) -> Iterator[World]:
    bureau = _member(running_node, "Municipal Market Regulation Bureau")
    exchange = _member(running_node, "Data Exchange Authority")
    bank = _member(running_node, "Commercial Bank of Example")
    # The world reads as the issuing organisation: a licence's events are its issuer's and its authority's.
    with CountingClient(running_node.url, timeout=20, signer=exchange.signer) as client:
        world = World(
            client=client,
            authority=bureau.signer,
            authority_uscc=bureau.uscc,
            issuer=exchange.signer,
            issuer_uscc=exchange.uscc,
            bank=bank.signer,
            bank_uscc=bank.uscc,
            type_code=bureau.uscc + "032",
        )
        authority = world.licences(world.authority)
        defined = authority.define_type(world.type_code, "营业执照")
        assert defined.authority_org == bureau.uscc
        authority.authorise_issuer(exchange.signer.address, world.type_code)
        yield world


def _issue(world: World, serial: str, **overrides: Any) -> Any:
    now = int(time.time())
    args: dict[str, Any] = {
        "holder_name": "张三",
        "holder_code": RESIDENT_ID,
        "holder_code_type": "111",
        "document_hash": sm3(b"document " + serial.encode()),
        "valid_from": now - 60,
        "valid_until": now + 365 * DAY,
        "jurisdiction": "110105",
        **overrides,
    }
    return world.licences(world.issuer).issue(world.identifier(serial), **args)


def test_registry_is_found_through_the_governance_registry(world: World) -> None:
    assert world.licences().address == LICENCE_REGISTRY_ADDRESS
    assert world.licences().is_issuer(world.issuer.address, world.type_code)
    assert not world.licences().is_issuer(world.bank.address, world.type_code)


def test_full_lifecycle_through_sdk_and_api(world: World, running_node: RunningNode) -> None:
    holder = HolderKeys.generate()  # her wallet: one key per licence, derived for the licence it binds
    key = world.licences().holder_public_key(holder, world.identifier("2025000001"))
    result = _issue(world, "2025000001", holder_public_key=key)
    credential = HolderCredential.from_json(result.credential.to_json())  # validates the commitment opening
    assert credential.height == result.receipt.height and credential.tx_hash == result.receipt.tx_hash
    body = result.credential.to_dict()
    assert body["证照标识"] == world.identifier("2025000001") and body["持证主体代码类型"] == "111"
    assert body["颁发机构代码"] == world.issuer_uscc and body["证照名称"] == "营业执照"

    reader = world.licences()
    assert reader.status(result.identifier) == LicenceStatus.VALID
    record = reader.get(result.id_hash)
    assert record is not None and record.issuer_org == world.issuer_uscc and record.jurisdiction == "110105"

    api = httpx.Client(base_url=running_node.url, timeout=10)
    status = api.get(f"/v1/licences/{result.identifier}/status").json()
    assert status["status"] == "VALID" and status["type_code"] == world.type_code
    assert status["issuer_org"] == world.issuer_uscc and status["id_hash"] == "0x" + result.id_hash.hex()
    assert api.get(f"/v1/licences/0x{result.id_hash.hex()}/status").json()["status"] == "VALID"
    assert RESIDENT_ID not in str(status)

    # 用证: the holder consents, the bank records the use
    consent = reader.make_consent(holder, result.identifier, user=world.bank.address, purpose="开户核验")
    world.licences(world.bank).record_use(consent)
    with pytest.raises(ExecutionError, match="consent already used"):
        world.licences(world.bank).record_use(consent)
    with pytest.raises(DomainError):  # the consent names the bank: another account may not carry it
        world.licences(world.issuer).record_use(consent)

    issuer = world.licences(world.issuer)
    issuer.suspend(result.identifier, "经营异常")
    assert api.get(f"/v1/licences/{result.identifier}/status").json()["status"] == "SUSPENDED"
    issuer.resume(result.identifier, "整改完成")
    issuer.annotate(result.identifier, annotation_hash=sm3(b"annotation"), reason="变更经营范围")
    renewed = issuer.renew(
        credential,
        world.identifier("2025000001", 2),
        document_hash=sm3(b"document v2"),
        valid_from=int(time.time()) - 60,
        valid_until=None,
    )
    assert renewed.credential.holder_salt == credential.holder_salt
    assert renewed.credential.valid_until == "长期"
    renewed.credential.validate()
    assert reader.status(result.identifier) == LicenceStatus.SUPERSEDED
    # the renewal keeps the holder key: her wallet derives it for the version it was bound to
    assert renewed.credential.holder_key_id_hash == result.id_hash
    renewed_use = reader.make_consent(holder, renewed.credential, user=world.bank.address, purpose="核验")
    world.licences(world.bank).record_use(renewed_use)
    new_status = api.get(f"/v1/licences/{renewed.identifier}/status").json()
    assert new_status["previous"] == "0x" + result.id_hash.hex() and new_status["status"] == "VALID"
    issuer.revoke(renewed.identifier, "吊销")
    assert reader.status(renewed.identifier) == LicenceStatus.REVOKED

    names = [e.name for e in reader.history(result.identifier)]
    assert names == [
        "LicenceIssued",
        "LicenceUsed",
        "LicenceSuspended",
        "LicenceResumed",
        "LicenceAnnotated",
        "LicenceRenewed",
    ]
    assert [e.name for e in reader.history(renewed.id_hash)] == [
        "LicenceIssued",
        "LicenceUsed",
        "LicenceRevoked",
    ]

    # history through the API: member-signed, for the issuing organisation and the type's authority only
    path = f"/v1/licences/{result.identifier}/history"
    for signer in (world.issuer, world.authority):
        answer = world.client.signed_request(signer, "GET", path)
        assert [e["event"] for e in answer["events"]] == names
    with pytest.raises(XinlianError) as refused:
        world.client.signed_request(world.bank, "GET", path)
    assert refused.value.code == "forbidden"
    assert api.get(path).status_code == 401  # unsigned


def test_bad_check_character_is_refused_before_signing(world: World) -> None:
    good = world.identifier("2025000002")
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    before = world.client.submitted
    issuer = world.licences(world.issuer)
    with pytest.raises(IdentifierError, match="check character"):
        issuer.issue(
            bad,
            holder_name="张三",
            holder_code=RESIDENT_ID,
            holder_code_type="111",
            document_hash=sm3(b"d"),
            valid_from=0,
            valid_until=None,
            jurisdiction="110105",
        )
    with pytest.raises(IdentifierError):
        issuer.suspend(bad, "x")
    with pytest.raises(IdentifierError):  # resident ID with a wrong check digit
        _issue(world, "2025000003", holder_code="110105194912310021")
    with pytest.raises(IdentifierError):  # a USCC holder with a wrong check character
        _issue(world, "2025000004", holder_code="91350200776049653B", holder_code_type="001")
    with pytest.raises(IdentifierError):
        _issue(world, "2025000005", jurisdiction="11")
    assert world.client.submitted == before


def test_refusals_reach_the_caller_with_reasons(world: World, running_node: RunningNode) -> None:
    # the bank holds no ISSUER grant: the SDK's checks pass (its USCC is the issuer code), the chain refuses
    bank = world.licences(world.bank)
    with pytest.raises(ExecutionError, match="not an issuer of this licence type"):
        bank.issue(
            make_licence_id(world.type_code, world.bank_uscc, "2025000006", 1),
            holder_name="某公司",
            holder_code=world.bank_uscc,
            holder_code_type="001",
            document_hash=sm3(b"d"),
            valid_from=0,
            valid_until=None,
            jurisdiction="310000",
        )
    with pytest.raises(DomainError, match="issuer code"):  # the identifier names another issuer
        bank.prepare_issue(
            world.identifier("2025000007"),
            holder_name="x",
            holder_code=world.bank_uscc,
            holder_code_type="001",
            document_hash=sm3(b"d"),
            valid_from=0,
            valid_until=None,
            jurisdiction="310000",
        )
    result = _issue(world, "2025000008")
    with pytest.raises(ExecutionError, match="not the issuing organisation"):
        bank.suspend(result.identifier, "x")
    with pytest.raises(ExecutionError, match="licence already issued"):
        _issue(world, "2025000008")
    with pytest.raises(DomainError, match="defining authority") as not_authority:
        world.licences(world.issuer).authorise_issuer(world.bank.address, world.type_code)
    assert not_authority.value.code == "not_type_authority"
    with pytest.raises(DomainError):
        world.licences(world.issuer).define_type(world.authority_uscc + "099", "x")  # not its organisation


def test_api_status_errors(world: World, running_node: RunningNode) -> None:
    api = httpx.Client(base_url=running_node.url, timeout=10)
    unknown = api.get(f"/v1/licences/{world.identifier('2099999999')}/status")
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    assert (
        unknown.json()["detail"]["id_hash"]
        == "0x" + compute_licence_hash(world.identifier("2099999999")).hex()
    )
    good = world.identifier("2025000009")
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    malformed = api.get(f"/v1/licences/{bad}/status")
    assert malformed.status_code == 400 and malformed.json()["code"] == "invalid_identifier"
    assert api.get("/v1/licences/0x1234/status").status_code == 422


def test_uses_of_licences_that_do_not_stand_are_refused_and_change_nothing(world: World) -> None:
    """Not yet valid, expired, revoked, superseded, and a consent forged with another key: each use is
    refused through the SDK against the running node with its reason, and the licence's state is unchanged."""
    holder = PrivateKey.generate()
    reader, bank, issuer = world.licences(), world.licences(world.bank), world.licences(world.issuer)
    now = int(time.time())

    def refused(result: Any, reason: str, *, key: PrivateKey = holder) -> None:
        def stored() -> dict[str, Any]:  # the record as stored (status is derived at the head's time)
            record = reader.get(result.id_hash)
            assert record is not None
            return {k: v for k, v in dataclasses.asdict(record).items() if k != "status"}

        before = stored()
        consent = reader.make_consent(key, result.identifier, user=world.bank.address, purpose="核验")
        with pytest.raises(ExecutionError, match=reason):
            bank.record_use(consent)
        assert stored() == before

    future = _issue(world, "2025000101", holder_public_key=holder.public_key, valid_from=now + 30 * DAY)
    assert reader.status(future.identifier) == LicenceStatus.NOT_YET_VALID
    refused(future, "licence not yet valid")

    # A licence cannot be issued already expired: issue one that lapses in two seconds, then wait.
    lapsed = _issue(
        world, "2025000102", holder_public_key=holder.public_key, valid_until=int(time.time()) + 2
    )
    time.sleep(3.5)
    refused(lapsed, "licence expired")  # the use's block is past valid_until (the head may not be yet)
    assert reader.status(lapsed.identifier) == LicenceStatus.EXPIRED

    revoked = _issue(world, "2025000103", holder_public_key=holder.public_key)
    issuer.revoke(revoked.identifier, "吊销")
    refused(revoked, "licence revoked")

    old = _issue(world, "2025000104", holder_public_key=holder.public_key)
    issuer.renew(
        old.credential,
        world.identifier("2025000104", 2),
        document_hash=sm3(b"v2"),
        valid_from=now - 60,
        valid_until=now + 365 * DAY,
    )
    assert reader.status(old.identifier) == LicenceStatus.SUPERSEDED
    refused(old, "licence superseded")

    valid = _issue(world, "2025000105", holder_public_key=holder.public_key)
    refused(valid, "holder key does not match the licence", key=PrivateKey.generate())
    assert reader.status(valid.identifier) == LicenceStatus.VALID


def test_a_raw_issuance_of_another_issuers_identifier_is_refused_on_chain(world: World) -> None:
    """The SDK refuses it before signing; a hand-made transaction meets the same rule in the registry."""
    issuer = world.licences(world.issuer)
    squatted = make_licence_id(world.type_code, world.authority_uscc, "2025000201", 1)  # the bureau's
    args: dict[str, Any] = {
        "holder_name": "张三",
        "holder_code": RESIDENT_ID,
        "holder_code_type": "111",
        "document_hash": sm3(b"d"),
        "valid_from": 0,
        "valid_until": None,
        "jurisdiction": "110105",
    }
    with pytest.raises(DomainError, match="issuer code"):
        issuer.prepare_issue(squatted, **args)
    own = issuer.prepare_issue(world.identifier("2025000201"), **args)
    raw = issuer.contract.encode_call(
        "issue", [squatted, own.credential.holder_commitment, bytes(32), sm3(b"d"), 0, 0, "110105"]
    )
    with pytest.raises(ExecutionError, match="identifier's issuer code is not the issuing organisation"):
        world.client.send(world.issuer, issuer.address, raw, gas_limit=LICENCE_GAS_LIMIT, check=True)
    assert world.licences().status(squatted) == LicenceStatus.UNKNOWN
    with pytest.raises(DomainError, match="region code"):  # a region-coded issuer names no organisation
        issuer.prepare_issue(make_licence_id(world.type_code, "110105", "2025000202", 1), **args)


def test_holder_salts_are_fresh_and_never_chosen_by_the_caller(world: World) -> None:
    issuer = world.licences(world.issuer)
    args: dict[str, Any] = {
        "holder_name": "张三",
        "holder_code": RESIDENT_ID,
        "holder_code_type": "111",
        "document_hash": sm3(b"d"),
        "valid_from": 0,
        "valid_until": None,
        "jurisdiction": "110105",
    }
    first = issuer.prepare_issue(world.identifier("2025000301"), **args).credential
    second = issuer.prepare_issue(world.identifier("2025000301"), **args).credential
    assert first.holder_salt != second.holder_salt and first.holder_commitment != second.holder_commitment
    with pytest.raises(TypeError):
        issuer.prepare_issue(world.identifier("2025000302"), salt=bytes(32), **args)  # type: ignore[call-arg]
    weak = dataclasses.replace(first, holder_salt=bytes(32))
    with pytest.raises(WeakSaltError):  # a credential file with a degenerate salt is refused too
        HolderCredential.from_json(weak.to_json())


def test_a_holder_key_rebind_is_an_issuers_act_and_stays_in_the_history(world: World) -> None:
    lost, new = PrivateKey.generate(), PrivateKey.generate()
    result = _issue(world, "2025000401", holder_public_key=lost.public_key)
    with pytest.raises(ExecutionError, match="not the issuing organisation"):
        world.licences(world.bank).bind_holder_key(result.identifier, new.public_key)
    world.licences(world.issuer).bind_holder_key(result.identifier, new.public_key)
    [bound] = [e for e in world.licences().history(result.identifier) if e.name == "HolderKeyBound"]
    assert bound.args["previous_holder_key_hash"] == compute_holder_key_hash(lost.public_key)
    assert bound.args["holder_key_hash"] == compute_holder_key_hash(new.public_key)
    reader, bank = world.licences(), world.licences(world.bank)
    with pytest.raises(ExecutionError, match="holder key does not match"):
        bank.record_use(reader.make_consent(lost, result.identifier, user=world.bank.address, purpose="核验"))
    bank.record_use(reader.make_consent(new, result.identifier, user=world.bank.address, purpose="核验"))


def test_a_use_record_carrying_the_holder_key_is_read_by_the_licence_parties_only(
    world: World, running_node: RunningNode
) -> None:
    """Attack: a member with no part in a licence fetches its use records (or their proof bundles, which
    anyone may otherwise hold) to read the holder's key and find her other licences and uses."""
    holder, reader = HolderKeys.generate(), world.licences()
    key = reader.holder_public_key(holder, world.identifier("2025000501"))
    result = _issue(world, "2025000501", holder_public_key=key)
    consent = reader.make_consent(holder, result.identifier, user=world.bank.address, purpose="核验")
    used = world.licences(world.bank).record_use(consent)
    callers = {
        "anonymous": None,
        "relying party": world.bank,
        "issuer": world.issuer,
        "type authority": world.authority,
        "unrelated member": running_node.member_with("MAH").signer,
    }
    readers = {"relying party", "issuer", "type authority"}
    check_transaction_readers(running_node.url, callers, readers, used.tx_hash, used.height)
    # the licence's lifecycle stays public: its bundle and its issuance's, which carry no holder key
    api = httpx.Client(base_url=running_node.url, timeout=10)
    issued = api.get(f"/v1/proofs/tx/0x{result.receipt.tx_hash.hex()}")
    licence = api.get(f"/v1/proofs/licences/{result.identifier}")
    assert issued.status_code == licence.status_code == 200
    # signing a request for a public bundle never makes it less public, whoever signs
    unrelated = member_auth(running_node.url, callers["unrelated member"])
    signed = api.get(f"/v1/proofs/tx/0x{result.receipt.tx_hash.hex()}", auth=unrelated)
    assert signed.status_code == 200, signed.text
    for bundle in (issued.text, licence.text):
        assert key.to_hex() not in bundle.lower()


def test_a_consent_counts_its_validity_from_the_current_head(world: World, running_node: RunningNode) -> None:
    """The consent's deadline is counted from the head the holder sees when she signs, never from a chain
    info the client cached a moment earlier (at a fresh node that copy can be genesis, whose timestamp
    is 0: the consent was then already expired when signed)."""
    with Client(running_node.url, timeout=20, signer=world.bank) as wallet:
        wallet.chain_info()  # a copy that the client may reuse for a few seconds
        time.sleep(1.1)  # the next block's timestamp is at least one second later
        holder, reader = HolderKeys.generate(), Licences(wallet)
        key = world.licences().holder_public_key(holder, world.identifier("2025000601"))
        result = _issue(world, "2025000601", holder_public_key=key)
        issued_at_s = world.client.chain_info().head_timestamp_ms // 1000
        consent = reader.make_consent(holder, result.identifier, user=world.bank.address, purpose="核验")
    assert consent.not_after >= issued_at_s + 600
    assert world.licences(world.bank).record_use(consent).status == 1


def test_a_consent_signed_at_a_chain_still_at_genesis_is_not_expired(idle_node: RunningNode) -> None:
    """A chain still at genesis (timestamp 0 here) or an idle one: the deadline counts from this machine's
    clock, so the consent does not expire before the block that records the use."""
    member = idle_node.committee
    with Client(idle_node.url, timeout=20, signer=member.signer) as client:
        assert client.chain_info().height == 0 and client.chain_info().head_timestamp_ms == 0
        identifier = make_licence_id(member.uscc + "032", member.uscc, "2025000701", 1)
        consent = Licences(client).make_consent(
            PrivateKey.generate(), identifier, user=member.signer.address, purpose="核验"
        )
    assert consent.not_after >= int(time.time()) + 600 - 5
