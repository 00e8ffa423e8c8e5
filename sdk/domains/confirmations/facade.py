"""The BankConfirmation.vy facade: signed writes that seal documents for their readers, reads, and the
letter archive."""

from __future__ import annotations

import datetime as dt
import io
import json
import secrets
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sdk.contracts import DecodedEvent
from sdk.crypto import PublicKey, sm3
from sdk.domains.calendar import date_of_day, day_of_date
from sdk.domains.confirmations.documents import LetterReply, LetterRequest, canonical_json
from sdk.domains.confirmations.envelope import (
    DocumentKind,
    Recipient,
    RecipientRole,
    open_document,
    seal_document,
)
from sdk.domains.confirmations.items import items_to_mask
from sdk.domains.confirmations.parties import LetterParty, party_tag
from sdk.domains.confirmations.state import (
    LetterEvent,
    LetterState,
    LetterStatus,
    letter_state_from_json,
    letter_state_from_row,
    validate_auditor_key,
)
from sdk.domains.facade import ContractFacade
from sdk.domains.governance import Governance
from sdk.encoding import readable_repr, to_hex
from sdk.errors import ClientError, CryptoError, DecryptionError, DomainError, EncodingError
from sdk.system import BANK_CONFIRMATION_ADDRESS

if TYPE_CHECKING:
    from sdk.answers import LogEntry, ReceiptResult

MAX_REASON_CHARS: Final = 256


REPLY_WORKING_DAYS: Final = 10
#: Letters asked per page of a listing (the node answers at most 1,000); the SDK follows every page.
LETTERS_PER_PAGE: Final = 500


_ARCHIVE_FORMAT: Final = "xinlian-confirmation-archive/1"


_BASE_GAS: Final = 1_000_000


_GAS_PER_BYTE: Final = 48  # EIP-7623 floor is 40/byte of non-zero calldata; event data adds 8


@readable_repr
@dataclass(frozen=True, slots=True)
class LetterCreated:
    letter_id: bytes
    request_hash: bytes
    sealed_request: bytes
    receipt: ReceiptResult


@readable_repr
@dataclass(frozen=True, slots=True)
class LetterAccepted:
    letter_id: bytes
    due_date: dt.date
    deadline: int  # unix seconds
    receipt: ReceiptResult


@readable_repr
@dataclass(frozen=True, slots=True)
class LetterReplied:
    letter_id: bytes
    reply_hash: bytes
    sealed_reply: bytes
    paper_supplement: bool
    late: bool
    receipt: ReceiptResult


@readable_repr
@dataclass(frozen=True, slots=True)
class LetterTransition:
    """The receipt of authorise / reject / confirm_receipt / recall and the event it emitted."""

    letter_id: bytes
    event: str
    receipt: ReceiptResult


@readable_repr
@dataclass(frozen=True, slots=True)
class EnvelopeKeyEntry:
    """An organisation's entry in the envelope key directory: the SM2 key letters are sealed to for it."""

    organisation: str  # USCC
    public_key: PublicKey
    version: int  # 1 for the first key, +1 per replacement
    set_at: int  # unix seconds
    by: bytes  # the account that published it


# --- the facade --------------------------------------------------------------------------------
class Confirmations(ContractFacade):
    """Bank confirmation letters through a node: signed writes with ``signer``, reads, sealed documents.

    Writes wait for the commit and raise ExecutionError with the contract's reason on a revert. Documents
    are sealed for their recipients before they leave this process; nothing decrypted is logged.
    """

    CONTRACT = "BankConfirmation"

    # --- plumbing ---------------------------------------------------------------------------------------
    @property
    def address(self) -> bytes:
        """The BankConfirmation address (the genesis one unless another was given)."""
        return self._address or BANK_CONFIRMATION_ADDRESS

    @property
    def chain_id(self) -> int:
        return self.client.chain_info(refresh=False).chain_id

    def _send(self, function: str, *args: Any) -> ReceiptResult:
        data = self.contract.encode_call(function, list(args))
        info = self.client.chain_info(refresh=False)
        gas = min(info.tx_gas_limit, _BASE_GAS + _GAS_PER_BYTE * len(data))
        return self.client.send(self._require_signer(), self.address, data, gas_limit=gas, check=True)

    def _read(self, function: str, *args: Any) -> Any:
        return self.contract.read(self.client.call, self.address, function, *args)

    def _events(self, receipt: ReceiptResult) -> list[DecodedEvent]:
        return self.contract.events_in(receipt.logs, self.address)

    def _seal(
        self, kind: DocumentKind, document: Any, recipients: Sequence[Recipient], letter_id: bytes
    ) -> tuple[bytes, bytes]:
        """Seal a letter document for ``recipients``; return the envelope and its SM3 (kept on chain)."""
        sealed = seal_document(
            canonical_json(document),
            kind=kind,
            recipients=recipients,
            chain_id=self.chain_id,
            contract=self.address,
            letter_id=letter_id,
        )
        return sealed, sm3(sealed)

    def _transition(self, function: str, letter_id: bytes, *args: Any) -> LetterTransition:
        receipt = self._send(function, _letter_id(letter_id), *args)
        events = self._events(receipt)
        if not events:
            raise ClientError("the receipt carries no letter event", code="bad_response")
        return LetterTransition(letter_id=letter_id, event=events[0].name, receipt=receipt)

    # --- the envelope key directory -------------------------------------------------------------------
    def publish_envelope_key(self, public_key: PublicKey | None = None) -> EnvelopeKeyEntry:
        """As a bank (BANK) or finance regulator (AUDIT_ACCREDITOR), publish the SM2 key that letters'
        documents are sealed to for this signer's organisation, replacing the one before. By default the
        signer's own key, which its key holder decrypts with; pass another to receive on a separate key.

        Raises ExecutionError (``only a bank or a finance regulator publishes an envelope key``).
        """
        key = public_key or PublicKey.from_bytes(self._require_signer().public_key)
        receipt = self._send("set_envelope_key", key.to_bytes())
        event = next(e for e in self._events(receipt) if e.name == "EnvelopeKeySet")
        return self.envelope_key(str(event.args["organisation"]))

    def envelope_key(self, uscc: str) -> EnvelopeKeyEntry:
        """The envelope key ``uscc``'s organisation published (member read).

        Raises DomainError (``no_envelope_key``) when it has published none, InvalidKeyError when what it
        published is not a point of the curve (nothing is sealed to it).
        """
        row = self._read("envelope_key_of", uscc)
        if not int(row["version"]):
            raise DomainError(
                f"organisation {uscc} has published no envelope key", code="no_envelope_key", uscc=uscc
            )
        return EnvelopeKeyEntry(
            organisation=uscc,
            public_key=PublicKey.from_bytes(bytes(row["key"])),
            version=int(row["version"]),
            set_at=int(row["set_at"]),
            by=bytes(row["by"]),
        )

    # --- writes -----------------------------------------------------------------------------------------
    def create(
        self,
        request: LetterRequest,
        *,
        bank_keys: Sequence[PublicKey] | None = None,
        regulator_key: PublicKey | None = None,
        client_key: PublicKey | None = None,
        letter_id: bytes | None = None,
    ) -> LetterCreated:
        """Seal ``request`` for the auditor (this signer), the bank's keys and optional readers, and create
        the letter (it then awaits the audited company's authorisation). Without ``bank_keys`` the request
        is sealed to the key the bank published in the envelope key directory.

        Returns the letter id (random unless given), the SM3 hash of the sealed request and the receipt.
        Raises DomainError (bad request, no bank key — ``no_envelope_key`` when the bank published none —,
        document too large), ExecutionError (refused).
        """
        signer = self._require_signer()
        if bank_keys is None:
            bank_keys = [self.envelope_key(request.bank_org).public_key]
        if not bank_keys:
            raise DomainError("seal the request for at least one bank key", code="invalid_recipients")
        letter_id = letter_id or secrets.token_bytes(32)
        recipients = [Recipient(RecipientRole.AUDITOR, PublicKey.from_bytes(signer.public_key))]
        recipients += [Recipient(RecipientRole.BANK, k) for k in bank_keys]
        if regulator_key is not None:
            recipients.append(Recipient(RecipientRole.REGULATOR, regulator_key))
        if client_key is not None:
            recipients.append(Recipient(RecipientRole.CLIENT, client_key))
        sealed, request_hash = self._seal(
            DocumentKind.REQUEST, request.to_json(letter_id), recipients, letter_id
        )
        receipt = self._send(
            "create",
            letter_id,
            request.client_org,
            request.bank_org,
            day_of_date(request.base_date),
            items_to_mask(request.items),
            request.letter_format,
            request_hash,
            sealed,
        )
        return LetterCreated(
            letter_id=letter_id, request_hash=request_hash, sealed_request=sealed, receipt=receipt
        )

    def authorise(self, letter_id: bytes) -> LetterTransition:
        """As an account of the audited company, authorise the letter (it is then SENT to the bank)."""
        return self._transition("authorise", letter_id)

    def accept(self, letter_id: bytes) -> LetterAccepted:
        """As the bank, accept a conforming letter; returns the due date computed on chain."""
        receipt = self._send("accept", _letter_id(letter_id))
        event = next(e for e in self._events(receipt) if e.name == "LetterAccepted")
        return LetterAccepted(
            letter_id=letter_id,
            due_date=date_of_day(int(event.args["due_day"])),
            deadline=int(event.args["deadline"]),
            receipt=receipt,
        )

    def reject(self, letter_id: bytes, reason: str) -> LetterTransition:
        """As the bank, refuse a non-conforming letter (不予受理); the reason is public (no client data)."""
        if not reason.strip() or len(reason) > MAX_REASON_CHARS:
            raise DomainError(
                f"a rejection reason is 1 to {MAX_REASON_CHARS} characters", code="invalid_reason"
            )
        return self._transition("reject", letter_id, reason)

    def reply(
        self,
        letter_id: bytes,
        reply: LetterReply,
        *,
        auditor_key: PublicKey | None = None,
        regulator_key: PublicKey | None = None,
    ) -> LetterReplied:
        """As the bank, seal ``reply`` for the auditor, this signer and an optional regulator, and record it.

        The auditor's key is the key that signed the letter's creation (by default read from the chain);
        either way it must be the key of the account the letter records as its auditor, so that no node
        and no caller can get the reply sealed to another key.
        Raises DomainError when the reply covers items the letter did not ask, or ``auditor_key_mismatch``
        when the key is not the letter's auditor's; ExecutionError when refused.
        """
        signer = self._require_signer()
        state = self.letter(letter_id)
        extra = reply.covered_items - state.items
        if extra:
            raise DomainError(f"the letter does not ask items {sorted(extra)}", code="invalid_reply")
        if auditor_key is None:
            auditor_key = self.creator_key(letter_id, state=state)
        validate_auditor_key(state, auditor_key)
        recipients = [
            Recipient(RecipientRole.AUDITOR, auditor_key),
            Recipient(RecipientRole.BANK, PublicKey.from_bytes(signer.public_key)),
        ]
        if regulator_key is not None:
            recipients.append(Recipient(RecipientRole.REGULATOR, regulator_key))
        sealed, reply_hash = self._seal(DocumentKind.REPLY, reply.to_json(letter_id), recipients, letter_id)
        receipt = self._send(
            "reply",
            _letter_id(letter_id),
            reply_hash,
            items_to_mask(reply.covered_items),
            items_to_mask(reply.exception_items),
            sealed,
        )
        event = next(e for e in self._events(receipt) if e.name == "LetterReplied")
        return LetterReplied(
            letter_id=letter_id,
            reply_hash=reply_hash,
            sealed_reply=sealed,
            paper_supplement=bool(event.args["paper_supplement"]),
            late=bool(event.args["late"]),
            receipt=receipt,
        )

    def confirm_receipt(self, letter_id: bytes) -> LetterTransition:
        """As the audit firm, record receipt of the bank's reply (REPLIED → RECEIVED)."""
        return self._transition("confirm_receipt", letter_id)

    def recall(self, letter_id: bytes) -> LetterTransition:
        """As the audit firm, withdraw a letter the bank has not started processing."""
        return self._transition("recall", letter_id)

    # --- reads ------------------------------------------------------------------------------------------
    def letter(self, letter_id: bytes, *, as_of: int | None = None) -> LetterState:
        """Return the letter's state with the status as of ``as_of`` (unix seconds; default the head's time).

        Raises DomainError (``no_such_letter``).
        """
        lid = _letter_id(letter_id)
        when = as_of if as_of is not None else self.client.chain_info().head_timestamp_ms // 1000
        row = self._read("get_letter", lid)
        if not row["status"]:
            raise DomainError("no such letter", code="no_such_letter", letter_id=to_hex(lid))
        return letter_state_from_row(
            lid,
            row,
            status=int(self._read("status_at", lid, when)),
            due_day=int(self._read("due_day_of", lid)),
            deadline=int(self._read("deadline_of", lid)),
            as_of=when,
        )

    def status_at(self, letter_id: bytes, when: int | dt.datetime) -> LetterStatus:
        """Return the status the letter has at ``when`` (unix seconds or an aware datetime), given what is
        recorded now — e.g. whether it will be OVERDUE if the bank has not replied by then."""
        seconds = int(when.timestamp()) if isinstance(when, dt.datetime) else int(when)
        status = int(self._read("status_at", _letter_id(letter_id), seconds))
        if not status:
            raise DomainError("no such letter", code="no_such_letter")
        return LetterStatus(status)

    def events(self, letter_id: bytes, *, state: LetterState | None = None) -> list[LetterEvent]:
        """Return the letter's committed events in chain order (creation first)."""
        lid = _letter_id(letter_id)
        state = state or self.letter(lid)
        # the creation is found by the letter's party tags, which no other letter shares
        created_topics: list[bytes | None] = [
            self.contract.event_topic("LetterCreated"),
            state.auditor_tag,
            state.bank_tag,
            state.client_tag,
        ]
        found: list[LetterEvent] = []
        for entry in self.client.logs(address=self.address, topics=created_topics):
            event = self._decode(entry)
            if event is not None and event.args["letter_id"] == lid:
                found.append(event)
        for entry in self.client.logs(address=self.address, topics=[None, lid]):
            event = self._decode(entry)
            if event is not None:
                found.append(event)
        found.sort(key=lambda e: (e.height, e.log_index))
        return found

    def party_tag(self, letter_id: bytes, party: LetterParty, uscc: str) -> bytes:
        """Return the tag by which letter ``letter_id`` of this contract names organisation ``uscc`` as its
        ``party`` (``sdk.domains.confirmations.parties``). Raises EncodingError for a malformed USCC."""
        return party_tag(self.chain_id, self.address, _letter_id(letter_id), party, uscc)

    def parties_of(self, letter: LetterState, uscc: str | None = None) -> frozenset[LetterParty]:
        """Return the parts organisation ``uscc`` plays in ``letter`` (empty when none); by default this
        signer's organisation, read from Governance. The letter names its parties only by tags: this is how
        an organisation recognises its own letters; the other parties' USCCs are in the letter documents."""
        if uscc is None:
            uscc = Governance(self.client).organisation_of(self._require_signer().address)
        return letter.parties_of(uscc, chain_id=self.chain_id, contract=self.address)

    def _decode(self, entry: LogEntry) -> LetterEvent | None:
        return LetterEvent.from_entry(self.contract, entry)

    def sealed_documents(self, letter_id: bytes) -> tuple[bytes, bytes | None]:
        """Return the sealed request and (when replied) reply from the chain, each checked against the SM3
        hash the letter records. Raises DomainError (``document_mismatch``) when a hash does not match."""
        state = self.letter(letter_id)
        request: bytes | None = None
        reply: bytes | None = None
        for event in self.events(letter_id, state=state):
            if event.name == "LetterCreated":
                request = bytes(event.args["request"])
            elif event.name == "LetterReplied":
                reply = bytes(event.args["reply"])
        if request is None or sm3(request) != state.request_hash:
            raise DomainError("the request on chain does not match its hash", code="document_mismatch")
        if reply is not None and sm3(reply) != state.reply_hash:
            raise DomainError("the reply on chain does not match its hash", code="document_mismatch")
        return request, reply

    def creator_key(self, letter_id: bytes, *, state: LetterState | None = None) -> PublicKey:
        """Return the SM2 public key that signed the letter's creation (the auditor's key), from the chain.

        The transaction the node returns must be the one the creation event names (same hash), carry a
        valid signature, and its key must be the one of the auditor account the letter records: a node
        that substitutes a key of its own is refused (``auditor_key_mismatch``).
        """
        state = state or self.letter(letter_id)
        created = next((e for e in self.events(letter_id, state=state) if e.name == "LetterCreated"), None)
        if created is None:
            raise DomainError("the letter's creation event is missing", code="no_such_letter")
        tx = self.client.transaction(created.tx_hash).transaction
        if tx is None:
            raise ClientError("the node did not return the creating transaction", code="bad_response")
        if tx.tx_hash != created.tx_hash:
            raise DomainError(
                "the node returned another transaction than the letter's creation",
                code="auditor_key_mismatch",
            )
        try:
            tx.verify_signature()
        except CryptoError as exc:
            raise DomainError(
                "the letter's creating transaction carries no valid signature", code="auditor_key_mismatch"
            ) from exc
        key = PublicKey.from_bytes(tx.public_key)
        validate_auditor_key(state, key)
        return key

    def open_request(self, letter_id: bytes) -> LetterRequest:
        """Decrypt the letter's request with this signer's key. Raises DecryptionError if not a recipient."""
        request, _ = self.sealed_documents(letter_id)
        return LetterRequest.from_json(self._open_json(request, letter_id))

    def open_reply(self, letter_id: bytes) -> LetterReply:
        """Decrypt the bank's reply with this signer's key. Raises DomainError (``no_reply``) before a reply,
        DecryptionError if this key is not a recipient."""
        _, reply = self.sealed_documents(letter_id)
        if reply is None:
            raise DomainError("the bank has not replied yet", code="no_reply")
        return LetterReply.from_json(self._open_json(reply, letter_id))

    def _open_json(self, sealed: bytes, letter_id: bytes) -> Any:
        """Decrypt one of the letter's sealed documents with this signer's key and parse its JSON."""
        plain = open_document(
            sealed,
            self._require_signer(),
            chain_id=self.chain_id,
            contract=self.address,
            letter_id=letter_id,
        )
        return json.loads(plain)

    # --- member queries (the node checks the signer's organisation) --------------------------------------
    def _listing(self, path: str, as_of: int | None, status: LetterStatus | None) -> list[LetterState]:
        """Every letter of a listing, page after page (each page one signed query, all at one ``as_of``)."""
        params: dict[str, Any] = {"as_of": as_of, "status": status.name if status else None}
        pages = self.client.signed_pages(
            self._require_signer(),
            path,
            items="letters",
            resume=("cursor", "next_cursor"),
            params=params,
            page_size=LETTERS_PER_PAGE,
        )
        return [letter_state_from_json(x) for x in pages]

    def as_auditor(
        self, *, as_of: int | None = None, status: LetterStatus | None = None
    ) -> list[LetterState]:
        """Letters this signer's audit firm sent (member-signed query)."""
        return self._listing("/v1/confirmations/as-auditor", as_of, status)

    def as_bank(self, *, as_of: int | None = None, status: LetterStatus | None = None) -> list[LetterState]:
        """Letters addressed to this signer's bank (member-signed query)."""
        return self._listing("/v1/confirmations/as-bank", as_of, status)

    def as_client(self, *, as_of: int | None = None, status: LetterStatus | None = None) -> list[LetterState]:
        """Letters about this signer's company, e.g. awaiting its authorisation (member-signed query)."""
        return self._listing("/v1/confirmations/as-client", as_of, status)

    def due(self, *, as_of: int | None = None, role: str = "bank") -> list[LetterState]:
        """Letters accepted and awaiting a reply (ACCEPTED or OVERDUE at ``as_of``), earliest deadline first,
        for this signer's bank (``role="bank"``) or audit firm (``role="auditor"``)."""
        letters = self.as_bank(as_of=as_of) if role == "bank" else self.as_auditor(as_of=as_of)
        waiting = [x for x in letters if x.status in (LetterStatus.ACCEPTED, LetterStatus.OVERDUE)]
        return sorted(waiting, key=lambda x: x.deadline)

    def overdue(self, *, as_of: int | None = None) -> list[LetterState]:
        """Every letter OVERDUE at ``as_of``, for a finance regulator (AUDIT_ACCREDITOR) or the committee."""
        return self._listing("/v1/confirmations/overdue", as_of, None)

    # --- the audit file -----------------------------------------------------------------------------------
    def export_archive(self, letter_id: bytes, path: str | Path) -> Path:
        """Write a zip for the audit file (审计工作底稿): the letter's state, its events, the sealed request
        and reply, their decrypted contents (when this signer is a recipient), and for every transaction of
        the letter its raw transaction, receipt, block header and commit certificate as served by the node,
        and its proof bundle (Merkle inclusion, quorum seals, validator handovers) for offline verification.

        Returns the path written. Raises ClientError when the node cannot serve a part.
        """
        lid = _letter_id(letter_id)
        state = self.letter(lid)
        events = self.events(lid, state=state)
        request, reply = self.sealed_documents(lid)
        files: dict[str, bytes] = {
            "letter.json": _pretty(state.to_json()),
            "events.json": _pretty([_event_json(e) for e in events]),
            "request.sealed": request,
        }
        if reply is not None:
            files["reply.sealed"] = reply
        if self.signer is not None:
            for name, sealed in (("request.json", request), ("reply.json", reply)):
                if sealed is None:
                    continue
                try:
                    plain = open_document(
                        sealed,
                        self.signer,
                        chain_id=self.chain_id,
                        contract=self.address,
                        letter_id=lid,
                    )
                except DecryptionError:
                    continue
                files[name] = _pretty(json.loads(plain))
        for event in events:
            name = f"{event.height:012d}-{event.tx_hash.hex()[:16]}.json"
            files[f"proofs/{name}"] = _pretty(self._proof(event))
            # A full proof bundle per transaction: `xinlian verify` checks it offline against the genesis.
            files[f"bundles/{name}"] = _pretty(self.client.proof_bundle(event.tx_hash))
        manifest = {
            "format": _ARCHIVE_FORMAT,
            "letter_id": to_hex(lid),
            "chain_id": self.chain_id,
            "contract": to_hex(self.address),
            "status": state.status.name,
            "files": {
                name: {"sm3": sm3(data).hex(), "bytes": len(data)} for name, data in sorted(files.items())
            },
            "note": "bundles/ verify offline with `xinlian verify FILE` against the consortium's genesis",
        }
        target = Path(path)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("manifest.json", _pretty(manifest))
            for name, data in sorted(files.items()):
                archive.writestr(name, data)
        target.write_bytes(buffer.getvalue())
        return target

    def _proof(self, event: LetterEvent) -> dict[str, Any]:
        status = self.client.transaction(event.tx_hash)
        if status.receipt is None or status.transaction is None:
            raise ClientError("the node did not return a committed transaction", code="bad_response")
        block = self.client.block(event.height)
        certificate = self.client.certificate(event.height)
        receipt = status.receipt
        return {
            "event": event.name,
            "height": event.height,
            "tx_hash": to_hex(event.tx_hash),
            "transaction_raw": to_hex(status.transaction.encode()),
            "receipt": {
                "status": receipt.status,
                "gas_used": receipt.gas_used,
                "index": receipt.index,
                "block_hash": to_hex(receipt.block_hash),
                "logs": [
                    {
                        "address": to_hex(x.address),
                        "topics": [to_hex(t) for t in x.topics],
                        "data": to_hex(x.data),
                    }
                    for x in receipt.logs
                ],
            },
            "block_hash": to_hex(block.block_hash),
            "header_raw": to_hex(block.header.encode()),
            "certificate_raw": to_hex(certificate.encode()),
        }


def _letter_id(letter_id: bytes) -> bytes:
    if not isinstance(letter_id, bytes) or len(letter_id) != 32:
        raise EncodingError("a letter id is 32 bytes", code="bad_arguments")
    return letter_id


def _pretty(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")


def _event_json(event: LetterEvent) -> dict[str, Any]:
    def plain(v: Any) -> Any:
        if isinstance(v, bytes):
            return to_hex(v)
        return v

    return {
        "name": event.name,
        "height": event.height,
        "tx_hash": to_hex(event.tx_hash),
        "log_index": event.log_index,
        "args": {k: plain(v) for k, v in event.args.items()},
    }
