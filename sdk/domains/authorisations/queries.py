"""Read-only DataAuthorisation queries over any ledger that runs read-only calls (a node client, or the node
itself through ``node.api.reader.LedgerReader``): resources, grants, statuses and subject keys."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from sdk.contracts import Contract
from sdk.domains.authorisations.encoders import (
    WORD_BYTES,
    GrantStatus,
    Level,
    ShareType,
    compute_field_ids,
    compute_fields_mask,
)
from sdk.domains.authorisations.model import Grant, Resource, SubjectKeyRecord, check_hash32, optional_bytes
from sdk.system import DATA_AUTHORISATION_ADDRESS


class AuthorisationLedger(Protocol):
    """What the queries need from a ledger: a read-only call at its head."""

    def call(self, to: bytes, data: bytes) -> bytes: ...


class AuthorisationQueries:
    """Reads of DataAuthorisation over any ``AuthorisationLedger``, decoded into the SDK's read model."""

    def __init__(self, ledger: AuthorisationLedger, address: bytes = DATA_AUTHORISATION_ADDRESS) -> None:
        self.ledger = ledger
        self.address = address
        self.contract = Contract("DataAuthorisation")

    def _read(self, function: str, *args: Any) -> Any:
        return self.contract.read(self.ledger.call, self.address, function, *args)

    def resource(self, resource_id: int) -> Resource | None:
        """Return a registered resource, or None."""
        row = self._read("resources", resource_id)
        if int(row["level"]) == 0:
            return None
        return Resource(
            resource_id=resource_id,
            holder=str(row["holder"]),
            registrant=row["registrant"],
            level=Level(row["level"]),
            share_type=ShareType(row["share_type"]),
            schema_hash=bytes(row["schema_hash"]),
            condition_hash=bytes(row["condition_hash"]),
            fields=compute_field_ids(int(row["fields"])),
            personal=bool(row["personal"]),
        )

    def get_grant(self, grant_id: int) -> Grant | None:
        """Return a request / grant by id (status with expiry derived), or None when there is none."""
        row = self._read("grants", grant_id)
        if int(row["status"]) == GrantStatus.NONE:
            return None
        return Grant(
            grant_id=grant_id,
            resource_id=int(row["resource_id"]),
            requester=row["requester"],
            requester_org=str(row["requester_org"]),
            holder_org=str(row["holder_org"]),
            purpose=bytes(row["purpose"]),
            fields=compute_field_ids(int(row["fields"])),
            valid_from=int(row["valid_from"]),
            valid_until=int(row["valid_until"]),
            use_limit=int(row["use_limit"]),
            uses=int(row["uses"]),
            status=self.status(grant_id),
            subject_tag=optional_bytes(bytes(row["subject_tag"]), WORD_BYTES),
            approved_by=optional_bytes(row["approved_by"], 20),
            granted_by=optional_bytes(row["granted_by"], 20),
            requested_at=int(row["requested_at"]),
            granted_at=int(row["granted_at"]),
        )

    def status(self, grant_id: int) -> GrantStatus:
        """Return the status of a request / grant (NONE for an unknown id; EXPIRED once its period ended)."""
        return GrantStatus(int(self._read("status_of", grant_id)))

    def can_use(self, grant_id: int, field_ids: Iterable[int]) -> bool:
        """Whether a use of ``field_ids`` would pass the grant's checks now (not the sender's role)."""
        return bool(self._read("can_use", grant_id, compute_fields_mask(field_ids)))

    def subject_key(self, subject_commitment: bytes) -> bytes | None:
        """Return SM3 of the SM2 key bound to ``subject_commitment``, or None when none is bound.

        Raises DomainError for a commitment that is not 32 non-zero bytes.
        """
        record = self.subject_key_record(subject_commitment)
        return None if record is None else record.key_hash

    def subject_key_record(self, subject_commitment: bytes) -> SubjectKeyRecord | None:
        """Return the current key binding of ``subject_commitment`` (key hash, version, attesting
        regulators), or None when none is bound. Raises DomainError for a malformed commitment."""
        commitment = check_hash32(subject_commitment, "subject_commitment", required=True)
        row = self._read("subject_keys", commitment)
        if bytes(row["key_hash"]) == bytes(WORD_BYTES):
            return None
        return SubjectKeyRecord(
            subject_commitment=commitment,
            key_hash=bytes(row["key_hash"]),
            version=int(row["version"]),
            attested_by=row["attested_by"],
            attester_org=str(row["attester_org"]),
            confirmed_by=optional_bytes(row["confirmed_by"], 20),
            confirmer_org=str(row["confirmer_org"]) or None,
            bound_at=int(row["bound_at"]),
        )

    def subject_key_history(self, subject_commitment: bytes) -> list[bytes]:
        """Return the key hashes bound to ``subject_commitment`` so far, oldest first (version 1, 2, …)."""
        record = self.subject_key_record(subject_commitment)
        if record is None:
            return []
        return [
            bytes(self._read("subject_key_history", record.subject_commitment, version))
            for version in range(1, record.version + 1)
        ]
