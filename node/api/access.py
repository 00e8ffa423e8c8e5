"""The read policy in code: who may read a record, a log, a transaction, a view call or contract storage.

Every event and every keyed view function of the system contracts names the record it belongs to (a letter,
a grant, a licence, a drug code, a shipment, a data subject), or is readable by any member. A record kind has
one rule saying which members read it — its parties and the regulator of its family — and every read path
(REST and JSON-RPC logs, calls, transactions, proofs, full blocks) asks a ``ReadScope`` built from these
tables. A transaction whose call data carries a person's data (a data subject's key or commitment, a licence
holder's key) is read only as ``CALLDATA_RECORDS`` says, whoever may read its logs. ``docs/read-access.md``
prints the same tables; tests/unit/node/test_read_policy.py checks that the page and this module agree and
that every event, keyed view function and function carrying a person's key or commitment is listed.

Decisions are memoised per scope (one request at one head), so a page of logs about one letter costs one
look-up of the letter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, TypeVar

from eth_hash.auto import keccak

from node.api.auth import Member
from node.api.errors import Forbidden
from node.api.limits import refuse
from node.api.reader import LedgerReader
from node.genesis import (
    AUDIT_ACCREDITOR,
    DATA_REGULATOR,
    DRUG_REGULATOR,
    GLOBAL_SCOPE,
)
from sdk.contracts import Contract
from sdk.domains.authorisations import AuthorisationQueries
from sdk.domains.confirmations import LETTER_EVENTS, LetterParty, parties_of
from sdk.domains.drugs import CODE_EVENTS, DrugEvent, DrugQueries
from sdk.errors import StorageError
from sdk.system import SYSTEM_CONTRACT_ADDRESSES
from sdk.types import Log

#: Distinct records one request may have the node decide (each costs ledger reads); a REST log page holds at
#: most 1,000 logs, so only wide eth_getLogs queries meet it.
MAX_RECORDS_PER_REQUEST: Final = 1_000


class Record(StrEnum):
    """The kinds of record a log or a view call belongs to, each with one read rule (``ReadScope``)."""

    MEMBER = "member"  # registry data every member reads: organisations, roles, calendar, catalogues
    LETTER = "letter"  # a confirmation letter: its auditor, bank and client; the finance regulator
    GRANT = "grant"  # a data-sharing request / grant: its holder and requester; the data regulator
    LICENCE = "licence"  # a licence's events: its issuer and its type's authority
    CODE = "code"  # a drug code: its MAH, organisations in its history; the drug regulator
    SHIPMENT = "shipment"  # a drug shipment: its sender and receiver; the drug regulator
    SUBJECT = "subject"  # a data subject's key bindings, commitment and consent: the data regulator
    LOT = "lot"  # a part of a drug lot commissioned by its root (its code ids): its MAH; the drug regulator


#: A grant's events: each names the grant id as its first indexed argument (topic1), its use trail.
GRANT_EVENTS: Final = (
    "AccessRequested",
    "RequestApproved",
    "RequestRefused",
    "AccessGranted",
    "UseRecorded",
    "GrantRevoked",
    "GrantExpired",
)
#: A licence's lifecycle events, each naming it by ``id_hash``: issued, then its status and annotations.
LICENCE_LIFECYCLE_EVENTS: Final = (
    "LicenceIssued",
    "LicenceSuspended",
    "LicenceResumed",
    "LicenceRevoked",
    "LicenceRenewed",
    "LicenceAnnotated",
    "HolderKeyBound",
)

K = TypeVar("K")


def _all_as(record: Record, key: K, *names: str) -> dict[str, tuple[Record, K]]:
    """Each of ``names`` (events or view functions of one contract) mapped to the same record kind and key."""
    return {name: (record, key) for name in names}


#: Per contract, per event: the record kind and the event argument holding its key (None for MEMBER).
EVENT_RECORDS: Final[Mapping[str, Mapping[str, tuple[Record, str | None]]]] = {
    "Governance": _all_as(
        Record.MEMBER,
        None,
        "OrganisationRegistered",
        "OrganisationActiveSet",
        "AccountRegistered",
        "AccountActiveSet",
        "RoleGranted",
        "RoleRevoked",
        "RoleAdminSet",
        "ValidatorAdded",
        "ValidatorRemoved",
        "CommitteeMemberSet",
        "ThresholdSet",
        "ContractRegistered",
        "ProposalCreated",
        "ProposalVoted",
        "ProposalExecuted",
        "UpgradeScheduled",
        "UpgradeCode",
        "UpgradeApplied",
        "TrustAnchorAdded",
        "TrustAnchorRemoved",
        "CertificateBound",
        "CertificateUnbound",
    ),
    "Calendar": _all_as(Record.MEMBER, None, "DaySet", "CoverageSet"),
    "LicenceRegistry": {
        "LicenceTypeDefined": (Record.MEMBER, None),
        **_all_as(Record.LICENCE, "id_hash", *LICENCE_LIFECYCLE_EVENTS, "LicenceUsed"),
    },
    "DataAuthorisation": {
        **_all_as(Record.MEMBER, None, "ResourceRegistered", "ShareTypeChanged"),
        **_all_as(Record.GRANT, "grant_id", *GRANT_EVENTS),
        **_all_as(
            Record.SUBJECT,
            "subject_commitment",
            "SubjectKeyBound",
            "SubjectKeyRebindProposed",
            "SubjectKeyRebound",
        ),
    },
    "DrugTrace": {
        **_all_as(
            Record.MEMBER,
            None,
            "ProductRegistered",
            "BatchCommissioned",
            "BatchHoldSet",
            "KeyPrefixAssigned",
            "ProductSettled",
        ),
        **_all_as(Record.CODE, "code", *sorted(CODE_EVENTS)),
        **_all_as(Record.SHIPMENT, "shipment", "ShipmentCreated", "ShipmentClosed"),
    },
    "DrugLots": {"LotCommissioned": (Record.LOT, "part")},
    "BankConfirmation": {
        **_all_as(Record.LETTER, "letter_id", *LETTER_EVENTS),
        # the directory of banks' and regulators' envelope keys: organisations, never letters
        "EnvelopeKeySet": (Record.MEMBER, None),
    },
}

#: Per contract, per view function taking arguments: the record kind and the argument index of its key.
#: View functions without arguments (constants, counters) are for any member. Licence look-ups by id are
#: member reads: a licence's status by identifier is public anyway (``/v1/licences/{id}/status``).
VIEW_RECORDS: Final[Mapping[str, Mapping[str, tuple[Record, int | None]]]] = {
    "Governance": _all_as(
        Record.MEMBER,
        None,
        "is_active_account",
        "has_role",
        "organisation_of",
        "organisations",
        "accounts",
        "role_granted",
        "role_admin",
        "is_committee_member",
        "proposals",
        "has_voted",
        "contracts",
        "system_contract_names",
        "upgrade_at",
        "upgrades",
        "trust_anchors",
        "certificates",
    ),
    "Calendar": _all_as(
        Record.MEMBER, None, "day_kind", "is_working_day", "add_working_days", "day_of", "end_of_day"
    ),
    "LicenceRegistry": _all_as(
        Record.MEMBER,
        None,
        "get_licence",
        "compute_type_id",
        "status",
        "status_at",
        "is_issuer",
        "consent_message",
        "licence_types",
        "consent_used",
    ),
    "DataAuthorisation": {
        "status_of": (Record.GRANT, 0),
        "can_use": (Record.GRANT, 0),
        # The signed messages hold the subject's commitment, which grants() shows only as a per-grant tag.
        "consent_message": (Record.SUBJECT, 0),
        "revocation_message": (Record.SUBJECT, 0),
        "grants": (Record.GRANT, 0),
        "resources": (Record.MEMBER, None),
        "subject_key_message": (Record.MEMBER, None),
        # Keyed by a subject's salted commitment: only whoever already knows it can ask.
        "subject_keys": (Record.MEMBER, None),
        "subject_key_history": (Record.MEMBER, None),
        "rebind_proposals": (Record.MEMBER, None),
    },
    "DrugTrace": {
        "registrant_of": (Record.MEMBER, None),
        "products": (Record.MEMBER, None),
        # A code's state is what the public consumer check (/v1/drugs/codes/{code}) shows, and more.
        "get_code": (Record.CODE, 0),
        "parent_of": (Record.CODE, 0),
        "get_batch": (Record.MEMBER, None),
        "batches": (Record.MEMBER, None),
        "get_shipment": (Record.SHIPMENT, 0),
    },
    "DrugLots": {"parts": (Record.LOT, 0)},
    "BankConfirmation": {
        **_all_as(Record.LETTER, 0, "get_letter", "status_at", "status_of", "due_day_of", "deadline_of"),
        # a pure computation over its arguments (a letter id, a party, a USCC): reads no letter
        "party_tag": (Record.MEMBER, None),
        "envelope_key_of": (Record.MEMBER, None),
    },
}

#: Per contract, per function whose call data carries a person's data — a data subject's SM2 key or salted
#: commitment, a licence holder's SM2 key — the record kind whose rule (besides the sender's organisation)
#: decides who reads the transaction's body and receipt, and the argument index of its key. The log rule
#: still applies too: these only narrow it. ``request`` names the subject by commitment to the holder it asks:
#: its sender, the holder and the data regulator read it by its AccessRequested log. ``issue`` and
#: ``bind_holder_key`` carry a holder's commitment and key hash, one per licence, which their events publish.
CALLDATA_RECORDS: Final[Mapping[str, Mapping[str, tuple[Record, int]]]] = {
    "DataAuthorisation": _all_as(
        Record.SUBJECT,
        0,
        "grant",
        "revoke_by_subject",
        "bind_subject_key",
        "propose_subject_key_rebind",
        "confirm_subject_key_rebind",
    ),
    "LicenceRegistry": {"record_use": (Record.LICENCE, 0)},
}

#: Events whose transactions anyone may fetch as a proof bundle by transaction hash: a licence's lifecycle,
#: which is public to whoever names the licence (its status and bundle by identifier are public too).
PUBLIC_BUNDLE_EVENTS: Final[frozenset[tuple[str, str]]] = frozenset(
    ("LicenceRegistry", name) for name in LICENCE_LIFECYCLE_EVENTS
)

#: Contracts whose storage any member may read or prove slot by slot (eth_getProof, proof bundles with a
#: state slot). Storage slots of the others cannot be attributed to one record, so only the node's own
#: record proofs (licence bundles, transaction bundles a party fetches) reach them.
OPEN_STATE_CONTRACTS: Final[frozenset[str]] = frozenset({"Governance", "Calendar"})

_CONTRACT_BY_ADDRESS: Final[dict[bytes, str]] = {a: n for n, a in SYSTEM_CONTRACT_ADDRESSES.items()}
_CONTRACTS: Final[dict[str, Contract]] = {name: Contract(name) for name in SYSTEM_CONTRACT_ADDRESSES}
_LETTERS = _CONTRACTS["BankConfirmation"]
_LICENCES = _CONTRACTS["LicenceRegistry"]
_GOVERNANCE = _CONTRACTS["Governance"]


@dataclass(frozen=True)
class _KeyAt:
    """Where an event carries its record key: a topic, or a static word of the data."""

    topic: int | None
    word: int | None

    def read(self, log: Log) -> bytes | None:
        if self.topic is not None:
            return log.topics[self.topic] if self.topic < len(log.topics) else None
        assert self.word is not None
        start = 32 * self.word
        return log.data[start : start + 32] if len(log.data) >= start + 32 else None


def _locate_keys() -> dict[tuple[str, bytes], tuple[Record, _KeyAt | None]]:
    """(contract, topic0) → the record kind and where its key is, from EVENT_RECORDS and the ABIs."""
    located: dict[tuple[str, bytes], tuple[Record, _KeyAt | None]] = {}
    for contract_name, events in EVENT_RECORDS.items():
        contract = _CONTRACTS[contract_name]
        for event_name, (kind, arg) in events.items():
            where = None
            if arg is not None:
                inputs = contract.get_event(event_name).get("inputs", [])
                indexed = [p["name"] for p in inputs if p.get("indexed")]
                plain = [p["name"] for p in inputs if not p.get("indexed")]
                if arg in indexed:
                    where = _KeyAt(topic=1 + indexed.index(arg), word=None)
                else:  # every key is a static value before any dynamic one in its event's data
                    where = _KeyAt(topic=None, word=plain.index(arg))
            located[(contract_name, contract.event_topic(event_name))] = (kind, where)
    return located


def _select_views() -> dict[tuple[str, bytes], tuple[str, Record, int | None]]:
    """(contract, selector) → the function name, record kind and key argument index, for every view."""
    selected: dict[tuple[str, bytes], tuple[str, Record, int | None]] = {}
    for contract_name, contract in _CONTRACTS.items():
        table = VIEW_RECORDS.get(contract_name, {})
        for entry in contract.abi:
            if entry.get("type") != "function" or entry.get("stateMutability") not in ("view", "pure"):
                continue
            name = str(entry["name"])
            inputs = entry.get("inputs", [])
            signature = f"{name}({','.join(str(p['type']) for p in inputs)})"
            kind, index = table.get(name, (Record.MEMBER, None)) if inputs else (Record.MEMBER, None)
            selected[(contract_name, keccak(signature.encode())[:4])] = (name, kind, index)
    return selected


def _select_calldata() -> dict[tuple[bytes, bytes], tuple[str, Record, int]]:
    """(contract address, selector) → the function name, record kind and key argument index, for every
    function of CALLDATA_RECORDS."""
    selected: dict[tuple[bytes, bytes], tuple[str, Record, int]] = {}
    for contract_name, functions in CALLDATA_RECORDS.items():
        contract = _CONTRACTS[contract_name]
        for entry in contract.abi:
            name = str(entry.get("name", ""))
            if entry.get("type") == "function" and name in functions:
                inputs = entry.get("inputs", [])
                signature = f"{name}({','.join(str(p['type']) for p in inputs)})"
                kind, index = functions[name]
                selected[(SYSTEM_CONTRACT_ADDRESSES[contract_name], keccak(signature.encode())[:4])] = (
                    name,
                    kind,
                    index,
                )
    return selected


_EVENT_KEYS: Final = _locate_keys()
_CALLDATA: Final = _select_calldata()
_PUBLIC_BUNDLE_TOPICS: Final[frozenset[tuple[bytes, bytes]]] = frozenset(
    (SYSTEM_CONTRACT_ADDRESSES[c], _CONTRACTS[c].event_topic(e)) for c, e in PUBLIC_BUNDLE_EVENTS
)


def calldata_record(to: bytes, data: bytes) -> tuple[Record, bytes] | None:
    """The record whose rule governs reading a transaction to ``to`` with call data ``data`` (its kind and
    32-byte key), when CALLDATA_RECORDS lists the function; else None. A listed function whose key word is
    missing (short call data) answers the key of 32 zero bytes."""
    found = _CALLDATA.get((bytes(to), bytes(data[:4])))
    if found is None:
        return None
    _name, kind, index = found
    start = 4 + 32 * index
    return kind, bytes(data[start : start + 32]).ljust(32, b"\0")


def is_public_bundle(to: bytes, data: bytes, logs: list[Log]) -> bool:
    """Whether anyone may fetch the bundle of a transaction to ``to`` with call data ``data`` and these
    logs: it emitted logs, each is an event of PUBLIC_BUNDLE_EVENTS, and its call data carries no person's
    data (CALLDATA_RECORDS)."""
    return (
        bool(logs)
        and calldata_record(to, data) is None
        and all(bool(log.topics) and (log.address, log.topics[0]) in _PUBLIC_BUNDLE_TOPICS for log in logs)
    )


_VIEWS: Final = _select_views()


def view_functions_with_arguments() -> dict[str, set[str]]:
    """Per system contract, the view functions that take arguments (what VIEW_RECORDS must list)."""
    found: dict[str, set[str]] = {}
    for contract_name, contract in _CONTRACTS.items():
        found[contract_name] = {
            str(e["name"])
            for e in contract.abi
            if e.get("type") == "function"
            and e.get("stateMutability") in ("view", "pure")
            and e.get("inputs")
        }
    return found


class ReadScope:
    """What one member may read at one head. Decisions are memoised; build one per request.

    A record that does not exist is readable: its absence tells nothing that the public checks (licence
    status, the consumer drug-code check) or the zero answer of any call would not.
    """

    def __init__(self, reader: LedgerReader, member: Member) -> None:
        self.reader = reader
        self.member = member
        self._decided: dict[tuple[Record, bytes], bool] = {}
        self._roles: dict[bytes, bool] = {}
        self._senders: dict[bytes, str] = {}
        self._bodies: dict[bytes, tuple[Record, bytes] | None] = {}  # CALLDATA_RECORDS of each transaction
        self._drugs_queries: DrugQueries | None = None
        self._rules: dict[Record, Callable[[bytes], bool]] = {
            Record.MEMBER: lambda _key: True,
            Record.LETTER: self._reads_letter,
            Record.GRANT: self._reads_grant,
            Record.LICENCE: self._reads_licence,
            Record.CODE: self._reads_code,
            Record.SHIPMENT: self._reads_shipment,
            Record.SUBJECT: lambda _key: self.holds(DATA_REGULATOR),
            Record.LOT: self._reads_lot,
        }

    @property
    def _drugs(self) -> DrugQueries:
        """One DrugTrace read model per scope, so its organisation cache serves every code decided."""
        if self._drugs_queries is None:
            self._drugs_queries = DrugQueries(self.reader)
        return self._drugs_queries

    # --- the rules of each record kind -------------------------------------------------------------
    def may_read(self, kind: Record, key: bytes) -> bool:
        """Whether the member may read record ``key`` of ``kind`` (a 32-byte word; uints big-endian).

        Raises LimitExceeded (``too_many_records``) when one request would decide more than
        ``MAX_RECORDS_PER_REQUEST`` distinct records: each costs the node ledger reads.
        """
        decided = self._decided.get((kind, key))
        if decided is None:
            if kind is not Record.MEMBER and len(self._decided) > MAX_RECORDS_PER_REQUEST:
                raise refuse(
                    "too_many_records",
                    f"this read touches more than {MAX_RECORDS_PER_REQUEST} records whose readers the node "
                    "must look up: narrow the block range or filter by address and topics",
                    limit=MAX_RECORDS_PER_REQUEST,
                )
            decided = self._decided[(kind, key)] = self._rules[kind](key)
        return decided

    def holds(self, role: bytes) -> bool:
        """Whether the member's account holds ``role`` globally (memoised)."""
        if role not in self._roles:
            self._roles[role] = self.reader.has_role(self.member.address, role, GLOBAL_SCOPE)
        return self._roles[role]

    def _reads_letter(self, letter_id: bytes) -> bool:
        address = SYSTEM_CONTRACT_ADDRESSES["BankConfirmation"]
        row = self.reader.read(_LETTERS, address, "get_letter", letter_id)
        tags = {
            LetterParty.AUDITOR: bytes(row["auditor_tag"]),
            LetterParty.BANK: bytes(row["bank_tag"]),
            LetterParty.CLIENT: bytes(row["client_tag"]),
        }
        return not row["status"] or is_letter_reader(self, letter_id, tags)

    def _reads_grant(self, key: bytes) -> bool:
        grant = AuthorisationQueries(self.reader).get_grant(int.from_bytes(key, "big"))
        return grant is None or is_grant_reader(self, grant.holder_org, grant.requester_org)

    def _reads_licence(self, id_hash: bytes) -> bool:
        address = SYSTEM_CONTRACT_ADDRESSES["LicenceRegistry"]
        row = self.reader.read(_LICENCES, address, "get_licence", id_hash)
        if not int(row["state"]):
            return True
        authority_org = self.reader.read(_LICENCES, address, "licence_types", row["type_id"])["authority_org"]
        return is_licence_reader(self, row["issuer_org"], authority_org)

    def _reads_code(self, code_id: bytes) -> bool:
        if self.holds(DRUG_REGULATOR):
            return True
        queries = self._drugs
        try:
            state, lot = queries.get_code_and_lot(code_id)
            if not state.known:
                return True
            product = queries.get_product(state.product_id)
            mah_uscc = product.mah_uscc if product else None
            return self.member.uscc == mah_uscc or is_code_reader(
                self, queries, queries.history(code_id, lot=lot), mah_uscc
            )
        except StorageError as exc:
            if exc.code != "history_not_filled":
                raise
            return False  # a node that joined by snapshot cannot decide before its back-fill: regulator only

    def _reads_shipment(self, key: bytes) -> bool:
        if self.holds(DRUG_REGULATOR):
            return True
        queries = self._drugs
        shipment = queries.get_shipment(int.from_bytes(key, "big"))
        if shipment is None:
            return True
        ends = {queries.organisation_of(shipment.sender), queries.organisation_of(shipment.receiver)}
        return self.member.uscc in ends

    def _reads_lot(self, key: bytes) -> bool:
        if self.holds(DRUG_REGULATOR):
            return True
        part = self._drugs.lot_part_record(int.from_bytes(key, "big"))
        if part is not None and not int(part["size"]):
            return True  # no such part
        return is_lot_reader(self, self._drugs, part)

    # --- read paths ---------------------------------------------------------------------------------
    def may_read_log(self, log: Log, tx_hash: bytes | None = None) -> bool:
        """Whether the member may read one log: because the member's organisation sent the transaction that
        emitted it (asked first: one look-up per transaction, where a record may cost several), or by its
        record's rule. Logs of other contracts are any member's."""
        contract_name = _CONTRACT_BY_ADDRESS.get(log.address)
        if contract_name is None:
            return True
        if tx_hash is not None and self.sent(tx_hash):
            return True
        located = _EVENT_KEYS.get((contract_name, log.topics[0])) if log.topics else None
        if located is None:  # no event of the contract's ABI: nothing to attribute, nothing to show
            return False
        kind, where = located
        key = where.read(log) if where is not None else b""
        return key is not None and self.may_read(kind, key)

    def sent(self, tx_hash: bytes) -> bool:
        """Whether the member's organisation sent the committed transaction ``tx_hash``."""
        if tx_hash not in self._senders:
            stored = self.reader.ledger.get_transaction(tx_hash)
            sender = stored.transaction.sender if stored is not None else None
            self._senders[tx_hash] = self.reader.ledger.organisation_of(sender) if sender else ""
            tx = stored.transaction if stored is not None else None
            self._bodies[tx_hash] = calldata_record(tx.to, tx.data) if tx is not None else None
        return bool(self._senders[tx_hash]) and self._senders[tx_hash] == self.member.uscc

    def may_read_transaction(self, tx_hash: bytes, logs: list[Log]) -> bool:
        """Whether the member may read a committed transaction (calldata, receipt): its organisation sent
        it, or the transaction emitted logs, the member may read every one of them and, when its call data
        carries a person's data (CALLDATA_RECORDS), the record that table names."""
        if self.sent(tx_hash):
            return True
        if not logs or not all(self.may_read_log(log) for log in logs):
            return False
        body = self._bodies.get(tx_hash)  # looked up with the sender
        return body is None or self.may_read(*body)

    def check_transaction(self, tx_hash: bytes, logs: list[Log]) -> None:
        """Raise Forbidden unless ``may_read_transaction``."""
        if not self.may_read_transaction(tx_hash, logs):
            raise Forbidden(
                "only the sending organisation and the parties of the records a transaction touches may "
                "read it",
                tx_hash="0x" + tx_hash.hex(),
            )

    def check_call(self, to: bytes, data: bytes, sender: bytes = bytes(20)) -> None:
        """Raise Forbidden unless the member may make this read-only call.

        A view function of a system contract is checked against its record's rule. Any other function is
        a dry run of a transaction: allowed as the member's own account or the zero address (what sending
        it would show the member anyway), never as another account. Calls to other addresses are any
        member's.
        """
        contract_name = _CONTRACT_BY_ADDRESS.get(to)
        if contract_name is None:
            return
        view = _VIEWS.get((contract_name, bytes(data[:4])))
        if view is None:
            if sender in (self.member.address, bytes(20)):
                return
            raise Forbidden(
                "a dry run of a transaction is made as the member's own account (or the zero address)",
                contract=contract_name,
            )
        name, kind, index = view
        if kind is Record.MEMBER or index is None:
            return
        start = 4 + 32 * index
        key = bytes(data[start : start + 32])
        if len(key) != 32 or not self.may_read(kind, key):
            raise Forbidden(
                f"{contract_name}.{name}: only the parties of this {kind.value} and its regulator may "
                "read it",
                contract=contract_name,
                function=name,
            )

    def check_state(self, address: bytes, slots: int) -> None:
        """Raise Forbidden unless the member may read ``slots`` storage slots of ``address``: any for
        other addresses and the open contracts; none of the record-holding system contracts."""
        contract_name = _CONTRACT_BY_ADDRESS.get(address)
        if slots and contract_name is not None and contract_name not in OPEN_STATE_CONTRACTS:
            raise Forbidden(
                f"storage of {contract_name} holds records of many parties and cannot be read slot by slot; "
                "ask for the record through its family's API or a proof bundle",
                contract=contract_name,
            )


def is_finance_regulator(scope: ReadScope) -> bool:
    """Whether the member sees every letter: holds AUDIT_ACCREDITOR (the finance authority that accredits
    audit firms) or sits on the consortium committee."""
    if scope.holds(AUDIT_ACCREDITOR):
        return True
    reader, account = scope.reader, scope.member.address
    return bool(reader.read(_GOVERNANCE, reader.governance_address, "is_committee_member", account))


def is_letter_reader(scope: ReadScope, letter_id: bytes, tags: Mapping[LetterParty, bytes]) -> bool:
    """A letter is read by its auditor, bank and client organisations and the finance regulator. The letter
    names its parties by per-letter tags (``tags``, sdk/domains/confirmations/parties.py): the member's
    organisation is a party when one of its own tags for this letter is among them."""
    parts = parties_of(
        scope.member.uscc,
        tags,
        chain_id=scope.reader.ledger.chain.chain_id,
        contract=SYSTEM_CONTRACT_ADDRESSES["BankConfirmation"],
        letter_id=letter_id,
    )
    return bool(parts) or is_finance_regulator(scope)


def is_grant_reader(scope: ReadScope, holder_org: str, requester_org: str) -> bool:
    """A request / grant is read by its holder and requester organisations and the data regulator."""
    return scope.member.uscc in (holder_org, requester_org) or scope.holds(DATA_REGULATOR)


def is_licence_reader(scope: ReadScope, issuer_org: str, authority_org: str) -> bool:
    """A licence's events are read by its issuing organisation and its type's defining authority."""
    return scope.member.uscc in (issuer_org, authority_org)


def is_lot_reader(scope: ReadScope, queries: DrugQueries, part: Mapping[str, Any] | None) -> bool:
    """A lot part (its transaction, log and record), a code's lot parts and its drug-code bundle (which shows
    its part's size) are read by the MAH organisation of the part's product and the drug regulator: a code's
    position in a part tells the volumes of a batch. ``part`` is the DrugLots record (None when it does not
    decode: then the regulator only)."""
    if scope.holds(DRUG_REGULATOR):
        return True
    product = queries.get_product(bytes(part["product"])) if part is not None else None
    return product is not None and scope.member.uscc == product.mah_uscc


def is_code_reader(
    scope: ReadScope, queries: DrugQueries, events: Sequence[DrugEvent], mah_uscc: str | None
) -> bool:
    """A drug code's history is read by its product's MAH, every organisation in its custody history (an
    Alert's actor is none: ``DrugQueries.involved_organisations``) and the drug regulator."""
    if scope.member.uscc == mah_uscc or scope.holds(DRUG_REGULATOR):
        return True
    return scope.member.uscc in queries.involved_organisations(events)


__all__ = [
    "CALLDATA_RECORDS",
    "EVENT_RECORDS",
    "OPEN_STATE_CONTRACTS",
    "PUBLIC_BUNDLE_EVENTS",
    "VIEW_RECORDS",
    "ReadScope",
    "Record",
    "calldata_record",
    "is_code_reader",
    "is_finance_regulator",
    "is_grant_reader",
    "is_letter_reader",
    "is_licence_reader",
    "is_lot_reader",
    "is_public_bundle",
    "view_functions_with_arguments",
]
