"""The Governance.vy facade: committee proposals and votes, role administration, and reads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from eth_utils.crypto import keccak

from sdk.domains.calendar import (
    HOLIDAY,
    MAKE_UP,
    ORDINARY,
    CalendarExtension,
    HolidayNotice,
    calendar_extension,
    check_proposal_days,
    day_of_timestamp,
)
from sdk.domains.facade import ContractFacade
from sdk.domains.governance.certificates import (
    check_bound_certificate,
    checked_anchor,
    checked_binding,
)
from sdk.domains.governance.encoders import Action, compute_role_id, decode_payload, encode_payload
from sdk.domains.governance.model import (
    Account,
    BoundCertificate,
    Organisation,
    Proposal,
    ProposalResult,
    TrustAnchor,
    Upgrade,
    UpgradeStatus,
)
from sdk.errors import ClientError, DomainError, EncodingError
from sdk.identifiers import parse_uscc
from sdk.identity.x509 import CertificateDescription, CertifiedIdentity, describe_certificate
from sdk.system import (
    GLOBAL_SCOPE,
    MAX_CODE_BYTES,
    MAX_MIGRATION_BYTES,
    SYSTEM_CONTRACT_ADDRESSES,
    UPGRADE_NOTICE_BLOCKS,
)

if TYPE_CHECKING:
    from sdk.answers import ReceiptResult


#: Roles whose scopes are licence types: a delegated admin grants them only for types its organisation
#: defined (any other scope, and the global one, take a committee proposal).
LICENCE_TYPE_SCOPED_ROLES: frozenset[str] = frozenset({"ISSUER"})


DEFAULT_PROPOSAL_EXPIRY_BLOCKS: int = 100_000


def compute_code_hash(code: bytes) -> bytes:
    """The keccak256 hash of runtime code: the EVM's codeHash of an account holding it."""
    return keccak(code)


GOVERNANCE_GAS_LIMIT: int = 2_000_000


# a calendar proposal stores up to 4 KB of payload (about 22,000 gas a word): the chain's default tx limit
CALENDAR_PROPOSAL_GAS_LIMIT: int = 5_000_000


class Governance(ContractFacade):
    """Reads of the Governance contract through a node, and signed writes with ``signer``.

    ``client.governance`` reads; ``client.governance.with_signer(signer)`` (or ``Governance(client, signer)``)
    also writes. Writes wait for the commit and raise ExecutionError with the contract's reason on revert.
    """

    CONTRACT = "Governance"

    @property
    def address(self) -> bytes:
        """The Governance contract address (from the node's chain info)."""
        if self._address is None:
            self._address = self.client.chain_info(refresh=False).governance_address
        return self._address

    # --- reads --------------------------------------------------------------------------------------
    def _read(self, function: str, *args: Any) -> Any:
        return self.contract.read(self.client.call, self.address, function, *args)

    def is_active(self, account: bytes) -> bool:
        """Whether ``account`` may transact: registered, active, and its organisation active."""
        return bool(self._read("is_active_account", account))

    def has_role(self, account: bytes, role: str | bytes, scope: bytes = GLOBAL_SCOPE) -> bool:
        """Whether an active ``account`` holds ``role`` for ``scope`` or globally."""
        return bool(self._read("has_role", account, compute_role_id(role), scope))

    def organisation(self, uscc: str) -> Organisation | None:
        """Return a registered organisation, or None. Raises IdentifierError for a malformed USCC."""
        code = parse_uscc(uscc).code
        row = self._read("organisations", code)
        if not row["registered"]:
            return None
        return Organisation(uscc=code, name=row["name"], active=row["active"])

    def account(self, address: bytes) -> Account | None:
        """Return a registered account, or None."""
        row = self._read("accounts", address)
        if not row["registered"]:
            return None
        return Account(address=address, uscc=row["uscc"], active=row["active"])

    def organisation_of(self, account: bytes) -> str:
        """Return the USCC of the account's organisation ("" for an unknown account)."""
        return str(self._read("organisation_of", account))

    def get_validators(self) -> list[bytes]:
        """Return the validator set as Governance holds it (64-byte public keys)."""
        return list(self._read("get_validators"))

    def get_committee(self) -> list[bytes]:
        """Return the committee members' addresses."""
        return list(self._read("get_committee"))

    def threshold(self) -> int:
        """Return the number of committee votes that executes a proposal."""
        return int(self._read("threshold"))

    def contract_address(self, name: str) -> bytes | None:
        """Return the address the system contract registry lists under ``name`` (e.g. "Calendar"), or None."""
        raw = name.encode("ascii", errors="replace")
        if not name.isascii() or not 0 < len(raw) <= 32:
            raise EncodingError("a contract name is 1 to 32 ASCII characters", code="bad_arguments")
        address = bytes(self._read("contracts", raw.ljust(32, b"\x00")))
        return None if address == bytes(20) else address

    def trust_anchors(self) -> list[TrustAnchor]:
        """The CA certificates in force that issue organisation certificates, in the order they were added."""
        return [
            TrustAnchor(anchor_id=bytes(a), certificate=bytes(self._read("trust_anchors", a)))
            for a in self._read("get_trust_anchors")
        ]

    def bound_certificate(self, account: bytes) -> BoundCertificate | None:
        """The SM2 X.509 certificate bound to ``account``, or None."""
        row = self._read("certificates", account)
        if bytes(row["certificate_id"]) == bytes(32):
            return None
        return BoundCertificate(
            account=account,
            certificate_id=bytes(row["certificate_id"]),
            certificate=bytes(row["certificate"]),
            bound_block=int(row["bound_block"]),
        )

    def check_certificate(self, account: bytes, *, at: dt.datetime | None = None) -> CertifiedIdentity:
        """Check the certificate bound to ``account`` against the trust anchors on chain, for the account's
        organisation, at ``at`` (default: now). Returns what it certifies; raises IdentityCertificateError
        with the failed rule's code (``x509_not_bound`` when nothing is bound)."""
        return check_bound_certificate(
            self.bound_certificate(account),
            anchors=self.trust_anchors(),
            uscc=self.organisation_of(account),
            at=at or dt.datetime.now(dt.UTC),
        )

    def check_proposed_certificate(
        self, proposal: Proposal, *, at: dt.datetime | None = None
    ) -> CertificateDescription | None:
        """For a voter: the certificate an ADD_TRUST_ANCHOR or BIND_CERTIFICATE ``proposal`` carries, once it
        passes the checks its proposer's SDK ran (against the anchors in force now, at ``at``); None for
        other actions. Raises IdentityCertificateError with the failed rule's code."""
        if proposal.action is Action.ADD_TRUST_ANCHOR:
            (der,) = decode_payload(Action.ADD_TRUST_ANCHOR, proposal.payload)
            checked_anchor(der, at=at or dt.datetime.now(dt.UTC))
        elif proposal.action is Action.BIND_CERTIFICATE:
            account, der = decode_payload(Action.BIND_CERTIFICATE, proposal.payload)
            self._checked_binding(account, der, at)
        else:
            return None
        return describe_certificate(der)

    def _checked_binding(self, account: bytes, certificate: bytes, at: dt.datetime | None) -> bytes:
        return checked_binding(
            account,
            certificate,
            anchors=self.trust_anchors(),
            uscc=self.organisation_of(account),
            at=at or dt.datetime.now(dt.UTC),
        )

    def proposal(self, proposal_id: int) -> Proposal | None:
        """Return a proposal, or None when no proposal has that id."""
        if not 1 <= proposal_id <= int(self._read("proposal_count")):
            return None
        row = self._read("proposals", proposal_id)
        return Proposal(
            proposal_id=proposal_id,
            action=Action(row["action"]),
            payload=bytes(row["payload"]),
            proposer=row["proposer"],
            created_block=int(row["created_block"]),
            expiry_block=int(row["expiry_block"]),
            votes=int(row["votes"]),
            executed=bool(row["executed"]),
        )

    def upgrade(self, proposal_id: int) -> Upgrade | None:
        """Return the contract upgrade an approved UPGRADE_CONTRACT proposal scheduled, or None."""
        row = self._read("upgrades", proposal_id)
        if not row["status"]:
            return None
        return Upgrade(
            proposal_id=proposal_id,
            target=row["target"],
            code_hash=bytes(row["code_hash"]),
            activation_block=int(row["activation_block"]),
            migration=bytes(row["migration"]),
            status=UpgradeStatus(row["status"]),
            previous_code_hash=bytes(row["previous_code_hash"]),
        )

    # --- writes -------------------------------------------------------------------------------------
    def _send(self, function: str, *args: Any, gas_limit: int = GOVERNANCE_GAS_LIMIT) -> ReceiptResult:
        signer = self._require_signer()
        data = self.contract.encode_call(function, list(args))
        return self.client.send(signer, self.address, data, gas_limit=gas_limit, check=True)

    def _proposal_result(self, receipt: ReceiptResult, proposal_id: int | None = None) -> ProposalResult:
        executed = False
        for event in self.contract.events_in(receipt.logs, self.address):
            if event.name == "ProposalCreated" and proposal_id is None:
                proposal_id = int(event.args["proposal_id"])
            elif event.name == "ProposalExecuted":
                executed = True
                proposal_id = int(event.args["proposal_id"]) if proposal_id is None else proposal_id
        if proposal_id is None:
            raise ClientError("the receipt carries no proposal event", code="bad_response")
        return ProposalResult(proposal_id=proposal_id, executed=executed, receipt=receipt)

    def propose(
        self, action: Action, payload: bytes, *, expiry_blocks: int = DEFAULT_PROPOSAL_EXPIRY_BLOCKS
    ) -> ProposalResult:
        """Create a proposal (casting the proposer's vote; it executes at once when the threshold is 1).

        Raises ExecutionError with the contract's reason (e.g. ``not a committee member``).
        """
        expiry = self.client.chain_info(refresh=False).height + expiry_blocks
        gas_limit = GOVERNANCE_GAS_LIMIT
        if action in (Action.SET_CALENDAR_DAYS, Action.EXTEND_CALENDAR):
            gas_limit = min(CALENDAR_PROPOSAL_GAS_LIMIT, self.client.chain_info(refresh=False).tx_gas_limit)
        return self._proposal_result(self._send("propose", int(action), payload, expiry, gas_limit=gas_limit))

    def vote(self, proposal_id: int) -> ProposalResult:
        """Vote for a proposal; the vote reaching the threshold executes it."""
        return self._proposal_result(self._send("vote", proposal_id), proposal_id)

    def execute(self, proposal_id: int) -> ProposalResult:
        """Execute a proposal that already has enough votes."""
        return self._proposal_result(self._send("execute", proposal_id), proposal_id)

    def register_organisation(self, uscc: str, name: str) -> ProposalResult:
        """Propose registering an organisation (USCC checked before signing)."""
        code = parse_uscc(uscc).code
        return self.propose(
            Action.REGISTER_ORGANISATION, encode_payload(Action.REGISTER_ORGANISATION, code, name)
        )

    def set_organisation_active(self, uscc: str, active: bool) -> ProposalResult:
        """Propose enabling or disabling an organisation (and so all its accounts)."""
        code = parse_uscc(uscc).code
        return self.propose(
            Action.SET_ORGANISATION_ACTIVE, encode_payload(Action.SET_ORGANISATION_ACTIVE, code, active)
        )

    def register_account(self, account: bytes, uscc: str) -> ProposalResult:
        """Propose registering ``account`` (an SM2-derived address) for organisation ``uscc``."""
        code = parse_uscc(uscc).code
        return self.propose(Action.REGISTER_ACCOUNT, encode_payload(Action.REGISTER_ACCOUNT, account, code))

    def set_account_active(self, account: bytes, active: bool) -> ProposalResult:
        """Propose enabling or disabling an account."""
        return self.propose(
            Action.SET_ACCOUNT_ACTIVE, encode_payload(Action.SET_ACCOUNT_ACTIVE, account, active)
        )

    def propose_grant_role(
        self, account: bytes, role: str | bytes, scope: bytes = GLOBAL_SCOPE
    ) -> ProposalResult:
        """Propose a committee grant of ``role`` for ``scope``."""
        payload = encode_payload(Action.GRANT_ROLE, account, compute_role_id(role), scope)
        return self.propose(Action.GRANT_ROLE, payload)

    def propose_revoke_role(
        self, account: bytes, role: str | bytes, scope: bytes = GLOBAL_SCOPE
    ) -> ProposalResult:
        """Propose a committee revocation of ``role`` for ``scope``."""
        payload = encode_payload(Action.REVOKE_ROLE, account, compute_role_id(role), scope)
        return self.propose(Action.REVOKE_ROLE, payload)

    def add_validator(self, public_key: bytes) -> ProposalResult:
        """Propose adding a validator (64-byte SM2 public key)."""
        return self.propose(Action.ADD_VALIDATOR, encode_payload(Action.ADD_VALIDATOR, public_key))

    def remove_validator(self, public_key: bytes) -> ProposalResult:
        """Propose removing a validator."""
        return self.propose(Action.REMOVE_VALIDATOR, encode_payload(Action.REMOVE_VALIDATOR, public_key))

    def set_committee_member(self, account: bytes, member: bool) -> ProposalResult:
        """Propose adding (``member=True``) or removing a committee member."""
        payload = encode_payload(Action.SET_COMMITTEE_MEMBER, account, member)
        return self.propose(Action.SET_COMMITTEE_MEMBER, payload)

    def set_threshold(self, threshold: int) -> ProposalResult:
        """Propose a new committee vote threshold."""
        return self.propose(Action.SET_THRESHOLD, encode_payload(Action.SET_THRESHOLD, threshold))

    def set_role_admin(self, role: str | bytes, admin_role: str | bytes | None) -> ProposalResult:
        """Propose that holders of ``admin_role`` may grant ``role`` (None removes the delegation)."""
        admin = compute_role_id(admin_role) if admin_role is not None else bytes(32)
        payload = encode_payload(Action.SET_ROLE_ADMIN, compute_role_id(role), admin)
        return self.propose(Action.SET_ROLE_ADMIN, payload)

    def register_contract(self, name: str, address: bytes) -> ProposalResult:
        """Propose listing a system contract under ``name`` (≤ 32 ASCII bytes)."""
        raw = name.encode("ascii", errors="replace")
        if not name.isascii() or not 0 < len(raw) <= 32:
            raise EncodingError("a contract name is 1 to 32 ASCII characters", code="bad_arguments")
        payload = encode_payload(Action.REGISTER_CONTRACT, raw.ljust(32, b"\x00"), address)
        return self.propose(Action.REGISTER_CONTRACT, payload)

    def propose_trust_anchor(self, certificate: bytes, *, at: dt.datetime | None = None) -> ProposalResult:
        """Propose trusting a CA certificate (PEM or DER) to issue organisation certificates.

        Checked before signing: an SM2 CA certificate signed with SM2-with-SM3, valid at ``at`` (default
        now), at most MAX_CHAIN_CERTIFICATE_BYTES as DER. Raises IdentityCertificateError, ExecutionError.
        """
        der = checked_anchor(certificate, at=at or dt.datetime.now(dt.UTC))
        return self.propose(Action.ADD_TRUST_ANCHOR, encode_payload(Action.ADD_TRUST_ANCHOR, der))

    def propose_remove_trust_anchor(self, anchor_id: bytes) -> ProposalResult:
        """Propose no longer trusting the anchor ``anchor_id`` (keccak256 of its DER:
        ``compute_certificate_id(certificate)``). Accounts whose certificates it issued then fail the check
        (``x509_unknown_issuer``). Raises EncodingError for an id that is not 32 bytes, ExecutionError."""
        if len(anchor_id) != 32:
            raise EncodingError(
                "an anchor id is 32 bytes: compute_certificate_id(certificate)", code="bad_arguments"
            )
        return self.propose(Action.REMOVE_TRUST_ANCHOR, encode_payload(Action.REMOVE_TRUST_ANCHOR, anchor_id))

    def propose_certificate(
        self, account: bytes, certificate: bytes, *, at: dt.datetime | None = None
    ) -> ProposalResult:
        """Propose binding ``account`` to its organisation's SM2 X.509 certificate (PEM or DER).

        Checked before signing as a relying party will check it later (``check_certificate``): issued by a
        trust anchor on chain, valid at ``at`` (default now), certifying the account's key, naming its
        organisation's USCC. Raises IdentityCertificateError, ExecutionError.
        """
        der = self._checked_binding(account, certificate, at)
        return self.propose(Action.BIND_CERTIFICATE, encode_payload(Action.BIND_CERTIFICATE, account, der))

    def propose_unbind_certificate(self, account: bytes) -> ProposalResult:
        """Propose removing the certificate bound to ``account`` (e.g. revoked by its CA)."""
        return self.propose(Action.UNBIND_CERTIFICATE, encode_payload(Action.UNBIND_CERTIFICATE, account))

    def propose_calendar_days(self, days: Iterable[int], kind: int) -> ProposalResult:
        """Propose listing future ``days`` (day numbers, see sdk.domains.calendar) as HOLIDAY, MAKE_UP or
        ORDINARY.

        The calendar changes when the committee's votes reach the threshold; deadlines computed from it
        (e.g. confirmation letters' due dates) move with it. Checked before signing (conveniences; the
        contracts refuse the same): 1 to MAX_PROPOSAL_DAYS days, a known kind, every day after the head
        block's day. Raises DomainError, ExecutionError.
        """
        if kind not in (ORDINARY, HOLIDAY, MAKE_UP):
            raise DomainError("unknown day kind", code="bad_calendar", kind=kind)
        listed = check_proposal_days(days)
        self._require_future(listed)
        return self.propose(Action.SET_CALENDAR_DAYS, encode_payload(Action.SET_CALENDAR_DAYS, listed, kind))

    def propose_calendar_extension(self, notice: HolidayNotice | CalendarExtension) -> ProposalResult:
        """Propose entering a new year's notice: its non-working and make-up days, then coverage through
        31 December of its year (one proposal, applied as a whole when it passes).

        Raises DomainError (a clash in the notice, too many days, a day already begun), ExecutionError
        (e.g. ``coverage only grows``).
        """
        extension = calendar_extension(notice) if isinstance(notice, HolidayNotice) else notice
        self._require_future([*extension.holidays, *extension.make_up_days])
        return self.propose(Action.EXTEND_CALENDAR, extension.payload())

    def propose_upgrade(
        self,
        target: str | bytes,
        code: bytes,
        *,
        activation_block: int,
        migration: bytes = b"",
        expiry_blocks: int = DEFAULT_PROPOSAL_EXPIRY_BLOCKS,
    ) -> ProposalResult:
        """Propose installing runtime ``code`` at the system contract ``target`` (its name, e.g.
        "Calendar", or its address) at the start of block ``activation_block``, then calling it with
        ``migration`` (calldata, e.g. the selector of ``migrate()``; empty: no call) from Governance's
        address.

        The proposal carries the code's keccak256 hash (the target's codeHash once installed). The upgrade is
        scheduled when the votes reach the threshold, which must happen more than UPGRADE_NOTICE_BLOCKS before
        ``activation_block``. Checked before signing (the contract refuses the same): 1 to MAX_CODE_BYTES
        bytes of code, at most MAX_MIGRATION_BYTES of migration calldata, an activation block far enough
        ahead. Raises DomainError (code ``bad_upgrade``), ExecutionError (e.g. ``not a system contract``).
        """
        address = self._upgrade_target(target)
        if not 0 < len(code) <= MAX_CODE_BYTES:
            raise DomainError(
                f"runtime code must be 1 to {MAX_CODE_BYTES} bytes", code="bad_upgrade", size=len(code)
            )
        if len(migration) > MAX_MIGRATION_BYTES:
            raise DomainError(
                f"migration calldata exceeds {MAX_MIGRATION_BYTES} bytes",
                code="bad_upgrade",
                size=len(migration),
            )
        height = self.client.chain_info(refresh=True).height
        if activation_block <= height + UPGRADE_NOTICE_BLOCKS:
            raise DomainError(
                f"the activation block must be more than {UPGRADE_NOTICE_BLOCKS} blocks ahead",
                code="bad_upgrade",
                activation_block=activation_block,
                height=height,
            )
        info = self.client.chain_info(refresh=False)
        receipt = self._send(
            "propose_upgrade",
            address,
            compute_code_hash(code),
            code,
            migration,
            activation_block,
            height + expiry_blocks,
            gas_limit=info.tx_gas_limit,
        )
        return self._proposal_result(receipt)

    def _upgrade_target(self, target: str | bytes) -> bytes:
        if isinstance(target, bytes):
            if len(target) != 20:
                raise DomainError("a contract address is 20 bytes", code="bad_upgrade")
            return target
        address = SYSTEM_CONTRACT_ADDRESSES.get(target) or self.contract_address(target)
        if address is None:
            raise DomainError(f"no system contract is named {target!r}", code="bad_upgrade")
        return address

    def _require_future(self, days: list[int]) -> None:
        today = day_of_timestamp(self.client.chain_info(refresh=True).head_timestamp_ms // 1000)
        begun = [d for d in days if d <= today]
        if begun:
            raise DomainError("cannot change a day that has begun", code="bad_calendar", days=begun)

    def grant_role(self, account: bytes, role: str | bytes, scope: bytes = GLOBAL_SCOPE) -> ReceiptResult:
        """Grant ``role`` for ``scope`` as its delegated admin (e.g. the drug regulator grants MAH).

        The contract refuses a scope the signer does not administer (a global LICENCE_AUTHORITY grants
        ISSUER only for licence types its organisation defined, never globally) and any grant to an account
        of the signer's own organisation (that takes a committee proposal).
        """
        return self._send("grant_role", account, compute_role_id(role), scope)

    def revoke_role(self, account: bytes, role: str | bytes, scope: bytes = GLOBAL_SCOPE) -> ReceiptResult:
        """Revoke ``role`` for ``scope`` as its delegated admin."""
        return self._send("revoke_role", account, compute_role_id(role), scope)
