"""The DataAuthorisation.vy facade: resources, requests, subject consent, approvals, uses and revocations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from sdk.crypto import PrivateKey, PublicKey, sm3
from sdk.domains.authorisations.encoders import (
    WORD_BYTES,
    ConsentTerms,
    Level,
    ShareType,
    SubjectConsent,
    SubjectKeyBinding,
    SubjectRevocation,
    compute_fields_mask,
    compute_purpose,
    compute_subject_commitment,
    compute_subject_tag,
    sign_consent,
    sign_revocation,
    sign_subject_key_binding,
)
from sdk.domains.authorisations.model import (
    Grant,
    GrantRecord,
    RequestResult,
    ResourceResult,
    UseResult,
    check_hash32,
    grant_record_from_json,
    to_enum,
    to_seconds,
)
from sdk.domains.authorisations.queries import AuthorisationQueries
from sdk.domains.facade import SignerFacade
from sdk.errors import ClientError, DomainError
from sdk.keyholder import KeyHolder
from sdk.system import DATA_AUTHORISATION_ADDRESS

if TYPE_CHECKING:
    from sdk.answers import ReceiptResult
    from sdk.client import Client


AUTHORISATION_GAS_LIMIT: Final = 1_000_000


DEFAULT_QUERY_LIMIT: Final = 100  # grants asked per page; the SDK follows every page


class Authorisations(AuthorisationQueries, SignerFacade):
    """Reads of DataAuthorisation through a node, signed writes with ``signer``, member-signed queries.

    Writes wait for the commit and raise ExecutionError with the contract's reason on a refusal (e.g.
    ``use limit reached``); inputs are checked before anything is signed (DomainError, IdentifierError).
    """

    def __init__(
        self, client: Client, signer: KeyHolder | None = None, *, address: bytes | None = None
    ) -> None:
        client = client.reading_as(signer)
        super().__init__(client, address if address is not None else DATA_AUTHORISATION_ADDRESS)
        self.client = client
        self.signer = signer

    def with_signer(self, signer: KeyHolder) -> Authorisations:
        """Return a facade that signs writes with ``signer``."""
        return Authorisations(self.client, signer, address=self.address)

    # --- reads (the rest are AuthorisationQueries') ---------------------------------------------------
    def subject_tag(self, grant_id: int, subject_commitment: bytes) -> bytes:
        """Return grant ``grant_id``'s subject tag for ``subject_commitment`` on this chain and contract
        (``compute_subject_tag``): what the grant's events and view show in place of the commitment."""
        return compute_subject_tag(
            self.client.chain_info(refresh=False).chain_id, self.address, grant_id, subject_commitment
        )

    def _subject_grant(self, grant_id: int, subject_commitment: bytes) -> Grant:
        """The request ``grant_id``, checked to name the data subject of ``subject_commitment``.

        Raises DomainError (``not_found``, ``no_subject``, or ``wrong_subject`` when its subject tag is not
        this commitment's).
        """
        commitment = check_hash32(subject_commitment, "subject_commitment", required=True)
        grant = self.get_grant(grant_id)
        if grant is None:
            raise DomainError(f"no request {grant_id}", code="not_found", grant_id=grant_id)
        if grant.subject_tag is None:
            raise DomainError("this request concerns no personal data", code="no_subject", grant_id=grant_id)
        if grant.subject_tag != self.subject_tag(grant_id, commitment):
            raise DomainError(
                "request names another data subject (its subject tag is not this commitment's)",
                code="wrong_subject",
                grant_id=grant_id,
            )
        return grant

    def consent_terms(self, grant_id: int, subject_commitment: bytes) -> ConsentTerms:
        """Return the terms of request ``grant_id`` that its data subject, ``subject_commitment``, consents
        to. The chain shows a request's subject only by its tag: the commitment comes from whoever knows it
        (the subject's app, the holder) and is checked against the tag.

        Raises DomainError when there is no such request, it concerns no personal data or it names another
        subject.
        """
        grant = self._subject_grant(grant_id, subject_commitment)
        return ConsentTerms(
            chain_id=self.client.chain_info(refresh=False).chain_id,
            contract=self.address,
            grant_id=grant_id,
            resource_id=grant.resource_id,
            requester=grant.requester,
            subject_commitment=subject_commitment,
            purpose=grant.purpose,
            fields=compute_fields_mask(grant.fields),
            valid_from=grant.valid_from,
            valid_until=grant.valid_until,
            use_limit=grant.use_limit,
        )

    # --- the data subject's side ---------------------------------------------------------------------
    def subject_key_binding(
        self, subject_key: PrivateKey, *, resident_id: str, salt: bytes
    ) -> SubjectKeyBinding:
        """Sign the subject's own request to bind ``subject_key`` to her commitment, for the next key version
        (1 when none is bound yet, else current + 1: a rebind).

        Takes: the subject's SM2 key, her resident ID and the commitment salt (turned into the commitment
        locally; the ID is never sent). Returns: the SubjectKeyBinding a DATA_REGULATOR relays.
        Raises: IdentifierError (bad ID, masked), DomainError.
        """
        commitment = compute_subject_commitment(resident_id, salt)
        current = self.subject_key_record(commitment)
        return sign_subject_key_binding(
            subject_key,
            chain_id=self.client.chain_info(refresh=False).chain_id,
            contract=self.address,
            subject_commitment=commitment,
            version=1 if current is None else current.version + 1,
        )

    def subject_consent(
        self, subject_key: PrivateKey, grant_id: int, *, resident_id: str, salt: bytes
    ) -> SubjectConsent:
        """Build and sign the subject's consent to request ``grant_id``.

        Takes: the subject's own SM2 key, the request id, the subject's resident ID and the commitment salt.
        The ID is validated and turned into the salted commitment locally; it is never sent. Returns: the
        SubjectConsent for ``grant``. Raises: IdentifierError (bad ID, masked in the message), DomainError
        when the request names another subject (its subject tag is not her commitment's) or concerns no
        personal data.
        """
        commitment = compute_subject_commitment(resident_id, salt)
        return sign_consent(subject_key, self.consent_terms(grant_id, commitment))

    def subject_revocation(
        self, subject_key: PrivateKey, grant_id: int, *, resident_id: str, salt: bytes
    ) -> SubjectRevocation:
        """Sign the subject's withdrawal of consent for ``grant_id`` (to relay with ``revoke_by_subject``).

        Takes: the subject's key, which must be the one that consented or the one bound to her commitment
        now (after a supervised rebind: the contract checks it), the grant id, her resident ID and the
        commitment salt (the revocation message holds the commitment; the ID is never sent).
        Raises IdentifierError, DomainError when the grant has no data subject or names another one.
        """
        commitment = compute_subject_commitment(resident_id, salt)
        self._subject_grant(grant_id, commitment)
        return sign_revocation(
            subject_key,
            chain_id=self.client.chain_info(refresh=False).chain_id,
            contract=self.address,
            grant_id=grant_id,
            subject_commitment=commitment,
        )

    # --- writes -------------------------------------------------------------------------------------
    def _send(self, function: str, *args: Any) -> ReceiptResult:
        signer = self._require_signer()
        data = self.contract.encode_call(function, list(args))
        return self.client.send(signer, self.address, data, gas_limit=AUTHORISATION_GAS_LIMIT, check=True)

    def _event(self, receipt: ReceiptResult, name: str) -> dict[str, Any]:
        for event in self.contract.events_in(receipt.logs, self.address):
            if event.name == name:
                return event.args
        raise ClientError(f"the receipt carries no {name} event", code="bad_response")

    def register_resource(
        self,
        *,
        level: Level | int,
        share_type: ShareType | int,
        schema_hash: bytes,
        field_ids: Iterable[int],
        personal: bool,
        condition_hash: bytes | None = None,
    ) -> ResourceResult:
        """List a resource of the signer's organisation (signer needs DATA_HOLDER).

        Takes: level 1/2/3, share type 1/2/3 (2 needs a condition hash, 3 a basis hash), the schema hash,
        the field ids, whether it holds personal information. Returns: the resource id and receipt.
        Raises: DomainError before signing; ExecutionError when the contract refuses.
        """
        level_value = to_enum(Level, level, "level")
        share_value = to_enum(ShareType, share_type, "share_type")
        condition = check_hash32(
            condition_hash, "condition_hash", required=share_value != ShareType.UNCONDITIONAL
        )
        if share_value == ShareType.UNCONDITIONAL and condition != bytes(WORD_BYTES):
            raise DomainError("unconditional sharing takes no condition", code="bad_arguments")
        receipt = self._send(
            "register_resource",
            int(level_value),
            int(share_value),
            check_hash32(schema_hash, "schema_hash", required=True),
            condition,
            compute_fields_mask(field_ids),
            bool(personal),
        )
        return ResourceResult(int(self._event(receipt, "ResourceRegistered")["resource_id"]), receipt)

    def set_share_type(
        self, resource_id: int, share_type: ShareType | int, condition_hash: bytes | None = None
    ) -> ReceiptResult:
        """Reclassify a resource's share type (holder). Raises DomainError, ExecutionError."""
        share_value = to_enum(ShareType, share_type, "share_type")
        condition = check_hash32(
            condition_hash, "condition_hash", required=share_value != ShareType.UNCONDITIONAL
        )
        return self._send("set_share_type", resource_id, int(share_value), condition)

    def request(
        self,
        resource_id: int,
        *,
        purpose: str | bytes,
        field_ids: Iterable[int],
        valid_from: int | dt.datetime,
        valid_until: int | dt.datetime,
        use_limit: int,
        subject_commitment: bytes | None = None,
        condition_hash: bytes | None = None,
    ) -> RequestResult:
        """Request access to a resource (signer needs DATA_USER).

        Takes: the resource id, a purpose (text → SM3 code, or a 32-byte code), the field ids, the period
        (unix seconds or aware datetimes, until exclusive), the use limit, the subject commitment for
        personal data (``compute_subject_commitment``) and the resource's condition hash when it is shared
        conditionally. Returns: the request (= grant) id and receipt.
        Raises: DomainError before signing; ExecutionError when the contract refuses.
        """
        start, end = to_seconds(valid_from, "valid_from"), to_seconds(valid_until, "valid_until")
        if start >= end:
            raise DomainError(
                "valid_from must be before valid_until", code="bad_arguments", field="valid_until"
            )
        if isinstance(use_limit, bool) or not isinstance(use_limit, int) or use_limit < 1:
            raise DomainError("use_limit must be a positive integer", code="bad_arguments", field="use_limit")
        receipt = self._send(
            "request",
            resource_id,
            compute_purpose(purpose),
            compute_fields_mask(field_ids),
            start,
            end,
            use_limit,
            check_hash32(subject_commitment, "subject_commitment", required=False),
            check_hash32(condition_hash, "condition_hash", required=False),
        )
        return RequestResult(int(self._event(receipt, "AccessRequested")["grant_id"]), receipt)

    def bind_subject_key(self, binding: SubjectKeyBinding) -> ReceiptResult:
        """Bind the subject's key to her commitment (signer needs DATA_REGULATOR and has checked her identity
        off chain), relaying her own ``binding`` signed with that key (``subject_key_binding``). Needed before
        any personal-data grant for the commitment; grants refuse a key attested by the holder's or the
        requester's organisation.

        Raises: DomainError / InvalidKeyError before signing; ExecutionError when the contract refuses
        (``not a data regulator``, ``subject key already bound``, ``subject key signature is invalid``).
        """
        self._check_binding(binding)
        if binding.version != 1:
            raise DomainError(
                "a first binding is version 1; use propose_subject_key_rebind", code="bad_arguments"
            )
        return self._send(
            "bind_subject_key", binding.subject_commitment, binding.public_key, binding.signature
        )

    def propose_subject_key_rebind(self, binding: SubjectKeyBinding, reason_hash: bytes) -> ReceiptResult:
        """First step of the supervised rebind (signer needs DATA_REGULATOR): propose the subject's new key,
        signed by it for the next version, with the hash of the reason (case file). A DATA_REGULATOR of
        another organisation confirms it (``confirm_subject_key_rebind``).

        Raises: DomainError before signing; ExecutionError (``subject key not bound``, ``subject key
        signature is invalid`` e.g. for a stale version, ``key already bound to the commitment``).
        """
        self._check_binding(binding)
        return self._send(
            "propose_subject_key_rebind",
            binding.subject_commitment,
            binding.public_key,
            binding.signature,
            check_hash32(reason_hash, "reason_hash", required=True),
        )

    def confirm_subject_key_rebind(self, subject_commitment: bytes, new_public_key: bytes) -> ReceiptResult:
        """Second step of the supervised rebind (signer needs DATA_REGULATOR of another organisation than the
        proposer's): the proposed key replaces the bound one; the old hash stays in the history.

        Raises: DomainError / InvalidKeyError before signing; ExecutionError (``no such rebind proposal``,
        ``rebind proposal is stale``, ``a rebind needs a regulator of another organisation``).
        """
        commitment = check_hash32(subject_commitment, "subject_commitment", required=True)
        key = PublicKey.from_bytes(new_public_key).to_bytes()
        return self._send("confirm_subject_key_rebind", commitment, sm3(key))

    def _check_binding(self, binding: SubjectKeyBinding) -> None:
        check_hash32(binding.subject_commitment, "subject_commitment", required=True)
        # raises InvalidKeyError for a key off the curve; the contract hashes exactly these 64 bytes
        if PublicKey.from_bytes(binding.public_key).to_bytes() != binding.public_key:
            raise DomainError("the subject key is 64 bytes x‖y", code="bad_arguments")
        if len(binding.signature) != 64:
            raise DomainError("a subject key signature is 64 bytes", code="bad_arguments")

    def approve(self, grant_id: int) -> ReceiptResult:
        """Approve a pending request for 核心 data (signer needs DATA_REGULATOR, of neither the holder's nor
        the requester's organisation). Raises ExecutionError."""
        return self._send("approve", grant_id)

    def refuse(self, grant_id: int, reason_hash: bytes | None = None) -> ReceiptResult:
        """Refuse a pending request (holder; or a regulator for 核心 data). Raises ExecutionError."""
        return self._send("refuse", grant_id, check_hash32(reason_hash, "reason_hash", required=False))

    def grant(self, grant_id: int, consent: SubjectConsent | None = None) -> ReceiptResult:
        """Grant a pending request (holder). Personal data needs the subject's ``consent`` for this request.

        Raises: DomainError when the consent is for another request or malformed; ExecutionError when the
        contract refuses (e.g. ``subject key not bound``, ``consent key is not the subject's bound key``,
        ``subject key attested by the holder organisation``, ``subject consent signature is invalid``,
        ``core data needs regulator approval first``).
        """
        if consent is None:
            return self._send("grant", grant_id, b"", b"")
        if consent.terms.grant_id != grant_id or consent.terms.contract != self.address:
            raise DomainError("the consent is for another request", code="bad_arguments", grant_id=grant_id)
        PublicKey.from_bytes(consent.public_key)  # raises InvalidKeyError for a key off the curve
        if len(consent.signature) != 64:
            raise DomainError("a consent signature is 64 bytes", code="bad_arguments")
        return self._send("grant", grant_id, consent.public_key, consent.signature)

    def record_use(self, grant_id: int, field_ids: Iterable[int], result_digest: bytes) -> UseResult:
        """Record one use of a grant: the fields read and SM3 of what was returned (holder or requester).

        Raises: DomainError before signing; ExecutionError when the contract refuses (``use limit
        reached``, ``fields outside the grant``, ``grant revoked``, ``grant expired`` …).
        """
        receipt = self._send(
            "record_use",
            grant_id,
            compute_fields_mask(field_ids),
            check_hash32(result_digest, "result_digest", required=True),
        )
        return UseResult(grant_id, int(self._event(receipt, "UseRecorded")["use_number"]), receipt)

    def revoke(self, grant_id: int, reason_hash: bytes | None = None) -> ReceiptResult:
        """Revoke a grant in force (holder). Raises DomainError, ExecutionError."""
        return self._send("revoke", grant_id, check_hash32(reason_hash, "reason_hash", required=False))

    def revoke_by_subject(
        self,
        subject: PrivateKey | SubjectRevocation,
        grant_id: int | None = None,
        *,
        resident_id: str | None = None,
        salt: bytes | None = None,
    ) -> ReceiptResult:
        """Relay a data subject's withdrawal of consent, signed here with the subject's key or beforehand.

        Takes: a SubjectRevocation (``subject_revocation``), or the subject's PrivateKey with the grant id,
        her resident ID and commitment salt. The transaction carries her key: the node shows it to its
        sender and the data regulator only. Raises DomainError, ExecutionError (e.g. ``not the consenting
        subject's key``, ``grant revoked`` for a replay).
        """
        if isinstance(subject, SubjectRevocation):
            revocation = subject
            if grant_id is not None and grant_id != revocation.grant_id:
                raise DomainError("the revocation is for another grant", code="bad_arguments")
        else:
            if grant_id is None or resident_id is None or salt is None:
                raise DomainError(
                    "grant_id, resident_id and salt are required with a subject key", code="bad_arguments"
                )
            revocation = self.subject_revocation(subject, grant_id, resident_id=resident_id, salt=salt)
        return self._send(
            "revoke_by_subject", revocation.grant_id, revocation.public_key, revocation.signature
        )

    def expire(self, grant_id: int) -> ReceiptResult:
        """Mark a grant whose period is over as expired. Raises ExecutionError."""
        return self._send("expire", grant_id)

    # --- member-signed queries of the node API -------------------------------------------------------
    def _query(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.client.signed_request(self._require_signer(), "GET", path, params=dict(params or {}))

    def grant_record(self, grant_id: int) -> GrantRecord:
        """Return one grant with its use trail (the signer's organisation must be a party, or a regulator)."""
        return grant_record_from_json(self._query(f"/v1/authorisations/grants/{int(grant_id)}"))

    def _grants(self, path: str, limit: int | None) -> list[GrantRecord]:
        """The grants of a member-signed listing, page after page, at most ``limit`` (None: all)."""
        pages = self.client.signed_pages(
            self._require_signer(),
            path,
            items="grants",
            resume=("after", "next_after"),
            limit=limit,
            page_size=DEFAULT_QUERY_LIMIT,
        )
        return [grant_record_from_json(g) for g in pages]

    def grants_by_resource(self, resource_id: int, *, limit: int | None = None) -> list[GrantRecord]:
        """Return the grants of a resource that the signer's organisation may see, with their trails: all
        of them (page after page), or the first ``limit``."""
        return self._grants(f"/v1/authorisations/by-resource/{int(resource_id)}", limit)

    def grants_by_requester(self, requester: bytes, *, limit: int | None = None) -> list[GrantRecord]:
        """Return the grants requested by account ``requester`` that the signer may see, with their trails:
        all of them (page after page), or the first ``limit``."""
        return self._grants(f"/v1/authorisations/by-requester/0x{requester.hex()}", limit)

    def grants_by_subject(self, subject_commitment: bytes, *, limit: int | None = None) -> list[GrantRecord]:
        """Return the granted grants about a subject commitment that the signer's organisation is party to
        (a DATA_REGULATOR: all), page after page, or the first ``limit``. The node matches each grant's
        subject tag; the commitment travels only in this signed request, never to the chain."""
        commitment = check_hash32(subject_commitment, "subject_commitment", required=True)
        return self._grants(f"/v1/authorisations/by-subject/0x{commitment.hex()}", limit)
