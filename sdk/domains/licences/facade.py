"""The LicenceRegistry.vy facade (电子证照): types, issuers, issuance, lifecycle, consented use, status and
history. Every identifier is validated before anything is signed (IdentifierError, nothing sent)."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final, NotRequired, TypedDict, Unpack

from sdk.crypto import PrivateKey, PublicKey, sm3
from sdk.domains.calendar import CHINA_TZ
from sdk.domains.facade import ContractFacade
from sdk.domains.licences.credentials import Consent, HolderCredential
from sdk.domains.licences.encoders import (
    MAX_TYPE_NAME_BYTES,
    USCC_LENGTH,
    compute_holder_commitment,
    compute_holder_key_hash,
    compute_licence_hash,
    compute_type_id,
    decode_jurisdiction,
    format_time,
    new_holder_salt,
    to_unix_seconds,
    to_validity,
    validate_holder_code,
    validate_jurisdiction,
    validate_reason,
    validate_type_code,
)
from sdk.domains.licences.holder_keys import HolderKeys
from sdk.domains.licences.model import (
    IssuedLicence,
    LicenceEvent,
    LicenceRecord,
    LicenceStatus,
    LicenceType,
    decode_history,
)
from sdk.encoding import readable_repr
from sdk.errors import ClientError, DomainError, EncodingError
from sdk.identifiers import LicenceId, parse_licence_id
from sdk.keyholder import KeyHolder
from sdk.system import LICENCE_REGISTRY_ADDRESS

if TYPE_CHECKING:
    from sdk.answers import ReceiptResult
    from sdk.client import Client


LICENCE_REGISTRY_NAME: Final = "LicenceRegistry"


ISSUER_ROLE: Final = "ISSUER"


LICENCE_GAS_LIMIT: Final = 1_500_000


@readable_repr
@dataclass(frozen=True, slots=True)
class PreparedIssue:
    """An issuance checked and encoded but not yet sent: call data plus the credential (no tx fields)."""

    data: bytes
    id_hash: bytes
    credential: HolderCredential


@readable_repr
@dataclass(frozen=True, slots=True)
class IssueResult:
    """What ``issue`` / ``renew`` committed, and the holder's credential file."""

    identifier: str
    id_hash: bytes
    receipt: ReceiptResult
    credential: HolderCredential


# --- the facade ----------------------------------------------------------------------------------------
class Licences(ContractFacade):
    """LicenceRegistry through a node: reads, and writes signed with ``signer``.

    ``Licences(client)`` reads; ``Licences(client, signer)`` (or ``.with_signer(signer)``) also writes.
    Writes wait for the commit and raise ExecutionError with the contract's reason on a refusal; every
    identifier is validated first (IdentifierError: nothing is signed or sent).
    """

    CONTRACT = LICENCE_REGISTRY_NAME

    def __init__(
        self, client: Client, signer: KeyHolder | None = None, *, address: bytes | None = None
    ) -> None:
        super().__init__(client, signer, address=address)
        self._types: dict[bytes, LicenceType] = {}
        self._orgs: dict[bytes, str] = {}

    @property
    def address(self) -> bytes:
        """The LicenceRegistry address: from Governance's contract registry, else the genesis default."""
        if self._address is None:
            governance = self.client.governance
            found = governance.contract.read(
                self.client.call,
                governance.address,
                "contracts",
                LICENCE_REGISTRY_NAME.encode().ljust(32, b"\0"),
            )
            self._address = found if found != bytes(20) else LICENCE_REGISTRY_ADDRESS
        return self._address

    # --- reads --------------------------------------------------------------------------------------
    def _read(self, function: str, *args: Any) -> Any:
        return self.contract.read(self.client.call, self.address, function, *args)

    @staticmethod
    def _id_hash(licence: str | bytes) -> bytes:
        if isinstance(licence, bytes):
            if len(licence) != 32:
                raise EncodingError("a licence id hash is 32 bytes", code="bad_arguments")
            return licence
        return compute_licence_hash(licence)

    def get_type(self, type_code: str) -> LicenceType | None:
        """Return a defined licence type, or None. Raises IdentifierError for a malformed type code."""
        type_id = compute_type_id(type_code)
        cached = self._types.get(type_id)
        if cached is not None:
            return cached
        row = self._read("licence_types", type_id)
        if not row["defined"]:
            return None
        found = LicenceType(
            type_id=type_id,
            type_code=row["type_code"],
            name=row["name"],
            authority=row["authority"],
            authority_org=row["authority_org"],
        )
        self._types[type_id] = found  # a definition never changes
        return found

    def get(self, licence: str | bytes) -> LicenceRecord | None:
        """Return the licence (by identifier or id hash) with its current status, or None when unknown.

        Raises IdentifierError for a malformed identifier.
        """
        id_hash = self._id_hash(licence)
        row = self._read("get_licence", id_hash)
        if int(row["state"]) == LicenceStatus.UNKNOWN:
            return None
        return LicenceRecord(
            id_hash=id_hash,
            type_id=row["type_id"],
            issuer=row["issuer"],
            issuer_org=row["issuer_org"],
            holder_commitment=row["holder_commitment"],
            holder_key_hash=row["holder_key_hash"],
            document_hash=row["document_hash"],
            valid_from=int(row["valid_from"]),
            valid_until=int(row["valid_until"]),
            jurisdiction=decode_jurisdiction(row["jurisdiction"]),
            status=LicenceStatus(int(self._read("status", id_hash))),
            suspended_since=int(row["suspended_since"]),
            ended_at=int(row["ended_at"]),
            previous=row["previous"],
            next=row["next"],
            annotations=int(row["annotations"]),
            uses=int(row["uses"]),
        )

    def status(self, licence: str | bytes) -> LicenceStatus:
        """Return the licence's status at the head (UNKNOWN when never issued)."""
        return LicenceStatus(int(self._read("status", self._id_hash(licence))))

    def status_at(self, licence: str | bytes, when: int | dt.datetime | dt.date) -> LicenceStatus:
        """Return the licence's status at ``when`` by its current record (LicenceRegistry.status_at)."""
        return LicenceStatus(int(self._read("status_at", self._id_hash(licence), to_unix_seconds(when))))

    def is_issuer(self, account: bytes, type_code: str) -> bool:
        """Whether ``account`` may issue licences of ``type_code``."""
        return bool(self._read("is_issuer", account, compute_type_id(type_code)))

    def history(self, licence: str | bytes) -> list[LicenceEvent]:
        """Return every event of the licence in chain order (from the node's log index).

        A renewal shows as LicenceRenewed here and LicenceIssued (``previous`` = this) in the new version's
        history. Raises IdentifierError, ClientError.
        """
        id_hash = self._id_hash(licence)
        return decode_history(self.contract, self.client.logs(address=self.address, topics=[None, id_hash]))

    def issued(self, by: bytes | None = None) -> list[IssuedLicence]:
        """Every licence the account ``by`` (default: this facade's signer) issued or renewed, in chain order,
        with its identifier (read from the issuing transaction) and its record now (member-signed reads: the
        node answers the issuing organisation and the type's authority).

        Raises ClientError (``no_signer`` without ``by`` and signer), the node's errors.
        """
        account = by if by is not None else self._require_signer().address
        topic = self.contract.event_topic("LicenceIssued")
        issuer = self.contract.encode_topic("LicenceIssued", "issuer", account)
        out: list[IssuedLicence] = []
        for entry in self.client.logs(address=self.address, topics=[topic, None, None, issuer]):
            sent = self.client.transaction(entry.tx_hash).transaction
            if sent is None:
                raise ClientError("the node lacks a logged licence's transaction", code="bad_response")
            function, args = self.contract.decode_call(sent.data)
            identifier = str(args["identifier"] if function == "issue" else args["new_identifier"])
            record = self.get(identifier)
            if record is None:
                raise ClientError("a logged licence has no record", code="bad_response")
            out.append(IssuedLicence(identifier, entry.height, entry.tx_hash, record))
        return out

    # --- writes -------------------------------------------------------------------------------------
    def _send(self, function: str, *args: Any) -> ReceiptResult:
        signer = self._require_signer()
        data = self.contract.encode_call(function, list(args))
        return self.client.send(signer, self.address, data, gas_limit=LICENCE_GAS_LIMIT, check=True)

    def _organisation_of(self, account: bytes) -> str:
        org = self._orgs.get(account)
        if org is None:
            org = self._orgs[account] = self.client.governance.organisation_of(account)
        return org

    def define_type(self, type_code: str, name: str) -> LicenceType:
        """Define a licence type as its authority (the signer's organisation is the code's USCC).

        Raises IdentifierError (bad code), DomainError (``wrong_organisation``: the code's USCC is not the
        signer's organisation; nothing sent), ExecutionError (refused on chain, e.g. not a licence authority).
        """
        code = validate_type_code(type_code)
        name = name.strip()
        if not name or len(name.encode("utf-8")) > MAX_TYPE_NAME_BYTES:
            raise EncodingError(
                f"a type name is 1 to {MAX_TYPE_NAME_BYTES} UTF-8 bytes", code="bad_arguments"
            )
        signer = self._require_signer()
        if self._organisation_of(signer.address) != code[:USCC_LENGTH]:
            raise DomainError(
                "the type code's defining authority is not the signer's organisation",
                code="wrong_organisation",
                type_code=code,
            )
        self._send("define_type", code, name)
        found = self.get_type(code)
        if found is None:
            raise ClientError("the type definition committed but cannot be read", code="bad_response")
        return found

    def authorise_issuer(self, org_account: bytes, type_code: str) -> ReceiptResult:
        """Grant ISSUER for the type to ``org_account`` through Governance (the signer administers ISSUER).

        Raises IdentifierError, DomainError (``unknown_type``, or ``not_type_authority`` when the signer's
        organisation did not define the type; nothing sent), ExecutionError.
        """
        licence_type = self._require_type(type_code)
        self._require_authority(licence_type)
        return self.client.governance.with_signer(self._require_signer()).grant_role(
            org_account, ISSUER_ROLE, licence_type.type_id
        )

    def deauthorise_issuer(self, org_account: bytes, type_code: str) -> ReceiptResult:
        """Revoke the type's ISSUER grant from ``org_account`` (as for ``authorise_issuer``)."""
        licence_type = self._require_type(type_code)
        self._require_authority(licence_type)
        return self.client.governance.with_signer(self._require_signer()).revoke_role(
            org_account, ISSUER_ROLE, licence_type.type_id
        )

    def _require_type(self, type_code: str) -> LicenceType:
        licence_type = self.get_type(type_code)
        if licence_type is None:
            raise DomainError("no such licence type", code="unknown_type", type_code=type_code)
        return licence_type

    def _require_authority(self, licence_type: LicenceType) -> None:
        if self._organisation_of(self._require_signer().address) != licence_type.authority_org:
            raise DomainError(
                "only the type's defining authority authorises its issuers",
                code="not_type_authority",
                type_code=licence_type.type_code,
            )

    def _check_issuer_code(self, parsed: LicenceId) -> None:
        # LicenceRegistry checks the same on chain: this only saves a refused transaction
        if parsed.issuer_kind != "uscc":
            raise DomainError(
                "the registry issues identifiers whose issuer code is the issuer's USCC, not a region code",
                code="wrong_organisation",
                issuer_code=parsed.issuer_code,
            )
        if self._organisation_of(self._require_signer().address) != parsed.issuer_code:
            raise DomainError(
                "the identifier's issuer code is not the signer's organisation",
                code="wrong_organisation",
                issuer_code=parsed.issuer_code,
            )

    def prepare_issue(
        self,
        identifier: str,
        *,
        holder_name: str,
        holder_code: str,
        holder_code_type: str,
        document_hash: bytes,
        valid_from: int | dt.datetime | dt.date,
        valid_until: int | dt.datetime | dt.date | None,
        jurisdiction: str,
        holder_public_key: PublicKey | bytes | None = None,
        licence_name: str | None = None,
        issue_date: dt.date | None = None,
    ) -> PreparedIssue:
        """Validate and encode an issuance without sending it (``issue`` sends it; benchmarks batch it).

        Takes the GB/T 36904 identifier (its type code must be a defined type and its issuer code the USCC
        of the signer's organisation: the registry checks both on chain), the holder's name, code and code
        type ("111"/"001"), the SM3 of the licence document, the validity (``valid_until`` None = no end
        date), the jurisdiction region code, optionally the holder's public key for this licence (needed
        for consented use records; the holder derives one per licence, ``HolderKeys.public_key_for`` /
        ``holder_public_key``, so that no key hash links her licences), the licence name (default: the
        type's name) and the issue date (default: today, China time). The commitment's salt is always
        fresh from ``secrets`` (``new_holder_salt``): no caller chooses it.
        Returns: the call data, id hash and the credential (without tx hash and height).
        Raises: IdentifierError, EncodingError, DomainError (``unknown_type``, ``wrong_organisation``).
        """
        parsed = parse_licence_id(identifier)
        code = validate_holder_code(holder_code_type, holder_code)
        region = validate_jurisdiction(jurisdiction)
        _check_document_hash(document_hash)
        start, end = to_validity(valid_from, valid_until)
        if end and end < start:
            raise EncodingError("valid_until is before valid_from", code="bad_arguments")
        licence_type = self._require_type(parsed.type_code)
        self._check_issuer_code(parsed)
        salt = new_holder_salt()
        commitment = compute_holder_commitment(salt, holder_code_type, code)
        key_hash = compute_holder_key_hash(holder_public_key) if holder_public_key is not None else bytes(32)
        id_hash = sm3(parsed.identifier.encode("ascii"))
        data = self.contract.encode_call(
            "issue", [parsed.identifier, commitment, key_hash, document_hash, start, end, region]
        )
        credential = HolderCredential(
            licence_name=licence_name or licence_type.name,
            type_code=parsed.type_code,
            identifier=parsed.identifier,
            issuer_code=parsed.issuer_code,
            **_credential_dates(issue_date, start, end),
            jurisdiction=region,
            holder_name=holder_name,
            holder_code=code,
            holder_code_type=holder_code_type,
            holder_salt=salt,
            document_hash=document_hash,
            chain_id=self.client.chain_info(refresh=False).chain_id,
            registry=self.address,
            id_hash=id_hash,
            holder_commitment=commitment,
            holder_key_hash=key_hash,
            holder_key_id_hash=id_hash if holder_public_key is not None else bytes(32),
        )
        return PreparedIssue(data=data, id_hash=id_hash, credential=credential)

    def issue(self, identifier: str, **terms: Unpack[IssueTerms]) -> IssueResult:
        """Issue a licence and return the committed result with the holder's credential file.

        Takes the arguments of ``prepare_issue``. Raises what it raises, and ExecutionError when the chain
        refuses (``not an issuer of this licence type``, ``licence already issued`` …).
        """
        prepared = self.prepare_issue(identifier, **terms)
        receipt = self.client.send(
            self._require_signer(), self.address, prepared.data, gas_limit=LICENCE_GAS_LIMIT, check=True
        )
        return _committed(prepared.credential, receipt)

    def suspend(self, licence: str | bytes, reason: str) -> ReceiptResult:
        """Suspend a licence (issuing organisation). Raises IdentifierError, EncodingError, ExecutionError."""
        return self._send("suspend", self._id_hash(licence), validate_reason(reason))

    def resume(self, licence: str | bytes, reason: str) -> ReceiptResult:
        """Lift a suspension (issuing organisation). Raises IdentifierError, EncodingError, ExecutionError."""
        return self._send("resume", self._id_hash(licence), validate_reason(reason))

    def revoke(self, licence: str | bytes, reason: str) -> ReceiptResult:
        """Revoke a licence for good (issuing organisation). Raises as ``suspend``."""
        return self._send("revoke", self._id_hash(licence), validate_reason(reason))

    def renew(
        self,
        credential: HolderCredential,
        new_identifier: str,
        *,
        document_hash: bytes,
        valid_from: int | dt.datetime | dt.date,
        valid_until: int | dt.datetime | dt.date | None,
        issue_date: dt.date | None = None,
    ) -> IssueResult:
        """Issue the next version of the licence in ``credential``; the old one becomes SUPERSEDED.

        The new identifier must have the same type code; holder, holder key and jurisdiction carry over, so
        the returned credential keeps the salt and the id hash its holder key was derived for. Raises
        IdentifierError, EncodingError, DomainError (``wrong_type``, ``wrong_organisation``), ExecutionError.
        """
        parsed = parse_licence_id(new_identifier)
        if parsed.type_code != credential.type_code:
            raise DomainError(
                "a renewal keeps the licence type", code="wrong_type", type_code=parsed.type_code
            )
        self._check_issuer_code(parsed)
        _check_document_hash(document_hash)
        start, end = to_validity(valid_from, valid_until)
        new_hash = sm3(parsed.identifier.encode("ascii"))
        receipt = self._send("renew", credential.id_hash, parsed.identifier, document_hash, start, end)
        renewed = replace(
            credential,
            identifier=parsed.identifier,
            issuer_code=parsed.issuer_code,
            **_credential_dates(issue_date, start, end),
            document_hash=document_hash,
            id_hash=new_hash,
        )
        return _committed(renewed, receipt)

    def annotate(
        self,
        licence: str | bytes,
        *,
        annotation_hash: bytes,
        reason: str,
        valid_from: int | dt.datetime | dt.date = 0,
        valid_until: int | dt.datetime | dt.date | None = None,
    ) -> ReceiptResult:
        """Attach a 加注件 (the SM3 of its document, 事由, validity) to a live licence (issuing organisation).

        The reason is public on chain: never put personal data in it. Raises IdentifierError, EncodingError,
        ExecutionError.
        """
        if not isinstance(annotation_hash, bytes) or len(annotation_hash) != 32:
            raise EncodingError("annotation_hash is a 32-byte SM3 digest", code="bad_arguments")
        start, end = to_validity(valid_from, valid_until)
        return self._send(
            "annotate", self._id_hash(licence), annotation_hash, validate_reason(reason), start, end
        )

    def bind_holder_key(self, licence: str | bytes, holder_public_key: PublicKey | bytes) -> ReceiptResult:
        """Bind (or replace) the holder key whose consent use records need: the holder's key for this
        licence (``holder_public_key``), never one she uses for another.

        The signer must be an account of the issuing organisation holding ISSUER for the licence's type
        (checked on chain); HolderKeyBound records the replaced key's hash. Raises ExecutionError
        (``not an issuer of this licence type``, ``holder key already bound`` …).
        """
        return self._send(
            "bind_holder_key", self._id_hash(licence), compute_holder_key_hash(holder_public_key)
        )

    def holder_key(self, holder: HolderKeys, licence: str | bytes | HolderCredential) -> PrivateKey:
        """Return ``holder``'s key for a licence on this node's chain and registry: for a credential, the
        key derived for its ``holder_key_id_hash`` (a renewal keeps the key of the version it was bound to);
        for an identifier or id hash, the key derived for that licence. Raises IdentifierError."""
        if isinstance(licence, HolderCredential):
            return holder.key_for_credential(licence)
        info = self.client.chain_info(refresh=False)
        return holder.key_for(chain_id=info.chain_id, id_hash=self._id_hash(licence), registry=self.address)

    def holder_public_key(self, holder: HolderKeys, licence: str | bytes) -> PublicKey:
        """Return ``holder``'s public key for the licence ``licence`` (identifier or id hash): what its
        issuer binds at ``issue`` or with ``bind_holder_key``. Raises IdentifierError."""
        return self.holder_key(holder, licence).public_key

    def make_consent(
        self,
        holder_key: PrivateKey | HolderKeys,
        licence: str | bytes | HolderCredential,
        *,
        user: bytes,
        purpose: str | bytes,
        valid_for_s: int = 600,
    ) -> Consent:
        """Sign, as the holder, a consent for ``user`` to record one use within ``valid_for_s`` seconds (from
        the later of the chain's head and this machine's clock).

        Takes the holder's key for this licence, or her HolderKeys (the key is derived: ``holder_key``), and
        the licence by identifier, id hash or credential. Uses this node's chain id and registry address;
        nothing is sent. Raises IdentifierError.
        """
        # The deadline counts from now: the head as it is (never a cached copy), or this machine's clock when
        # the head is older (a chain still at genesis, or idle). The block that records the use is stamped
        # after the head, with its proposer's clock.
        info = self.client.chain_info(refresh=True)
        now_s = max(info.head_timestamp_ms // 1000, int(time.time()))
        if isinstance(holder_key, HolderKeys):
            holder_key = self.holder_key(holder_key, licence)
        id_hash = licence.id_hash if isinstance(licence, HolderCredential) else self._id_hash(licence)
        return Consent.create(
            holder_key,
            chain_id=info.chain_id,
            id_hash=id_hash,
            user=user,
            purpose=purpose,
            not_after=now_s + valid_for_s,
            registry=self.address,
        )

    def record_use(self, consent: Consent) -> ReceiptResult:
        """Record a use of the licence by the signer, carrying the holder's consent (checked on chain).

        Raises DomainError (``wrong_user``: the consent names another account; nothing sent), ExecutionError
        (``bad consent signature``, ``consent already used``, ``licence suspended`` …).
        """
        if consent.user != self._require_signer().address:
            raise DomainError("the consent names another using account", code="wrong_user")
        return self._send(
            "record_use",
            consent.id_hash,
            consent.purpose_hash,
            consent.nonce,
            consent.not_after,
            consent.holder_public_key,
            consent.signature,
        )


def _check_document_hash(document_hash: object) -> None:
    """Issuance and renewal name the licence document by its SM3; raises EncodingError otherwise."""
    if not isinstance(document_hash, bytes) or len(document_hash) != 32:
        raise EncodingError("document_hash is the 32-byte SM3 of the licence document", code="bad_arguments")


class IssueTerms(TypedDict):
    """The keyword arguments of ``Licences.prepare_issue``, which ``Licences.issue`` passes on unchanged."""

    holder_name: str
    holder_code: str
    holder_code_type: str
    document_hash: bytes
    valid_from: int | dt.datetime | dt.date
    valid_until: int | dt.datetime | dt.date | None
    jurisdiction: str
    holder_public_key: NotRequired[PublicKey | bytes | None]
    licence_name: NotRequired[str | None]
    issue_date: NotRequired[dt.date | None]


class _CredentialDates(TypedDict):
    issue_date: str
    valid_from: str
    valid_until: str


def _credential_dates(issue_date: dt.date | None, start: int, end: int) -> _CredentialDates:
    """The dates a holder's credential prints: the issue date (default today, China time) and the validity,
    "长期" (long-term) when there is no end date."""
    return _CredentialDates(
        issue_date=(issue_date or dt.datetime.now(CHINA_TZ).date()).isoformat(),
        valid_from=format_time(start),
        valid_until=format_time(end) if end else "长期",
    )


def _committed(credential: HolderCredential, receipt: ReceiptResult) -> IssueResult:
    done = replace(credential, tx_hash=receipt.tx_hash, height=receipt.height)
    return IssueResult(identifier=done.identifier, id_hash=done.id_hash, receipt=receipt, credential=done)
