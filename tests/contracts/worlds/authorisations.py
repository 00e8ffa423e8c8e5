"""The DataAuthorisation world: data holders, users and regulators of independent organisations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from node.demo_network import make_uscc
from node.genesis import (
    DATA_AUTHORISATION_ADDRESS,
    DATA_HOLDER,
    DATA_REGULATOR,
    DATA_USER,
)
from scripts.samples import SAMPLE_RESIDENT_ID
from sdk.contracts import Contract, DecodedEvent
from sdk.crypto import PrivateKey, sm3
from sdk.domains import authorisations as sdk_auth
from sdk.domains.authorisations import (
    ConsentTerms,
    GrantStatus,
    compute_revocation_message,
    compute_subject_commitment,
    compute_subject_tag,
    sign_subject_key_binding,
)
from sdk.errors import ExecutionError
from tests.contracts.harness import ContractChain, genesis_chain

CHAIN_ID = 7
DA = Contract("DataAuthorisation")
ORG_HOLDER, ORG_USER, ORG_REG, ORG_OTHER = (
    "12100000400000000E",
    "91110000100000000A",
    "11100000000013338W",
    "91310000200000000B",
)
ORG_REG2 = make_uscc("110000", 30_000_001)  # a second, independent regulator
M1 = bytes([0x10]) * 20
HOLDER, HOLDER_CLERK, USER, USER_REGULATOR, REGULATOR, OTHER_HOLDER, RELAY = (
    bytes([0x40 + i]) * 20 for i in range(7)
)
# HOLDER_AND_REGULATOR: one account of the holder organisation with both DATA_HOLDER and DATA_REGULATOR;
# HOLDER_REGULATOR: a DATA_REGULATOR account of the holder organisation; REGULATOR_COLLEAGUE: a second
# DATA_REGULATOR of REGULATOR's organisation; REGULATOR2: a DATA_REGULATOR of another organisation;
# ROGUE_REGULATOR: a DATA_REGULATOR of an organisation that is no party (ORG_OTHER); OTHER_USER: a DATA_USER
# that requested nothing; UNREGISTERED: an account no organisation holds; REGULATOR2_COLLEAGUE: a second
# DATA_REGULATOR of REGULATOR2's organisation.
(
    HOLDER_AND_REGULATOR,
    HOLDER_REGULATOR,
    REGULATOR_COLLEAGUE,
    REGULATOR2,
    ROGUE_REGULATOR,
    OTHER_USER,
    UNREGISTERED,
    REGULATOR2_COLLEAGUE,
) = (bytes([0x50 + i]) * 20 for i in range(8))
RESIDENT_ID = SAMPLE_RESIDENT_ID
SALT = bytes(range(1, 33))
SCHEMA = sm3(b"schema: name, id, address, income, tax")
CONDITION = sm3(b"condition: only for credit assessment under contract 42")
BASIS = sm3(b"basis: state secrets law art. 9")
PURPOSE = sm3(b"purpose: credit assessment")
EMPTY32 = bytes(32)
T0 = 1_700_000_000  # block.timestamp at height 0 (seconds)


@dataclass
class Chain(ContractChain):
    """Calls go to DataAuthorisation; block.timestamp = T0 + height + skipped seconds."""

    def emitted(self, sender: bytes, name: str, *args: Any) -> list[DecodedEvent]:
        """Send, expect acceptance, and return the events it emitted."""
        return self.events(self.must(sender, name, *args))

    # --- shortcuts ----------------------------------------------------------------------------------
    def register(
        self,
        *,
        level: int = 1,
        share_type: int = 1,
        condition: bytes = EMPTY32,
        fields: int = 0b11111,
        personal: bool = False,
        sender: bytes = HOLDER,
    ) -> int:
        events = self.emitted(
            sender, "register_resource", level, share_type, SCHEMA, condition, fields, personal
        )
        return int(events[0].args["resource_id"])

    def request(
        self,
        resource_id: int,
        *,
        fields: int = 0b00011,
        valid_from: int | None = None,
        valid_until: int | None = None,
        use_limit: int = 3,
        commitment: bytes = EMPTY32,
        condition: bytes = EMPTY32,
        sender: bytes = USER,
    ) -> int:
        start = self.now if valid_from is None else valid_from
        end = self.now + 3600 if valid_until is None else valid_until
        events = self.emitted(
            sender, "request", resource_id, PURPOSE, fields, start, end, use_limit, commitment, condition
        )
        return int(events[0].args["grant_id"])

    def bind(
        self, subject: PrivateKey, subject_commitment: bytes | None = None, *, regulator: bytes = REGULATOR
    ) -> None:
        """A regulator binds the subject's key to the commitment (default: RESIDENT_ID with SALT), relaying
        the subject's own binding signature."""
        binding = signed_binding(subject, commitment() if subject_commitment is None else subject_commitment)
        self.emitted(
            regulator, "bind_subject_key", binding.subject_commitment, binding.public_key, binding.signature
        )

    def terms(self, grant_id: int, subject_commitment: bytes | None = None) -> ConsentTerms:
        """The consent terms of ``grant_id`` for its subject (default: RESIDENT_ID with SALT), checked
        against the grant's subject tag: the view shows no commitment."""
        g = self.view("grants", grant_id)
        subject = commitment() if subject_commitment is None else subject_commitment
        assert g["subject_tag"] == subject_tag(grant_id, subject), "the grant names another subject"
        return ConsentTerms(
            chain_id=CHAIN_ID,
            contract=DATA_AUTHORISATION_ADDRESS,
            grant_id=grant_id,
            resource_id=g["resource_id"],
            requester=g["requester"],
            subject_commitment=subject,
            purpose=g["purpose"],
            fields=g["fields"],
            valid_from=g["valid_from"],
            valid_until=g["valid_until"],
            use_limit=g["use_limit"],
        )

    def status(self, grant_id: int) -> GrantStatus:
        return GrantStatus(self.view("status_of", grant_id))

    def revocable_by(self, grant_id: int, key: PrivateKey) -> str:
        """Dry-run the subject's withdrawal of ``grant_id`` signed by ``key`` (relayed by RELAY): "" when
        it would pass, else the revert reason. The consenting key hash is kept out of every view; this is
        how a test sees which keys it accepts (the consenting one and the one bound now)."""
        message = compute_revocation_message(CHAIN_ID, DATA_AUTHORISATION_ADDRESS, grant_id, commitment())
        data = DA.encode_call("revoke_by_subject", [grant_id, key.public_key.to_bytes(), key.sign(message)])
        try:
            self.engine.call(self.root, RELAY, DATA_AUTHORISATION_ADDRESS, data, 2_000_000, ctx=self.ctx())
        except ExecutionError as exc:
            return str(exc.detail.get("revert_reason"))
        return ""


def make_chain() -> Chain:
    """A fresh genesis with the data organisations, accounts and roles, DataAuthorisation installed."""
    return genesis_chain(
        Chain,
        address=DATA_AUTHORISATION_ADDRESS,
        organisations=(
            (ORG_HOLDER, "Data Exchange Authority"),
            (ORG_USER, "Example Bank"),
            (ORG_REG, "Data Regulator"),
            (ORG_OTHER, "Other Holder"),
            (ORG_REG2, "Second Data Regulator"),
        ),
        accounts=(
            (M1, ORG_HOLDER),
            (HOLDER, ORG_HOLDER),
            (HOLDER_CLERK, ORG_HOLDER),
            (USER, ORG_USER),
            (USER_REGULATOR, ORG_USER),
            (REGULATOR, ORG_REG),
            (OTHER_HOLDER, ORG_OTHER),
            (RELAY, ORG_OTHER),
            (HOLDER_AND_REGULATOR, ORG_HOLDER),
            (HOLDER_REGULATOR, ORG_HOLDER),
            (REGULATOR_COLLEAGUE, ORG_REG),
            (REGULATOR2, ORG_REG2),
            (ROGUE_REGULATOR, ORG_OTHER),
            (OTHER_USER, ORG_OTHER),
            (REGULATOR2_COLLEAGUE, ORG_REG2),
        ),
        committee=(M1,),
        roles=(
            (HOLDER, DATA_HOLDER),
            (USER, DATA_USER),
            (USER_REGULATOR, DATA_REGULATOR),
            (REGULATOR, DATA_REGULATOR),
            (OTHER_HOLDER, DATA_HOLDER),
            (HOLDER_AND_REGULATOR, DATA_HOLDER),
            (HOLDER_AND_REGULATOR, DATA_REGULATOR),
            (HOLDER_REGULATOR, DATA_REGULATOR),
            (REGULATOR_COLLEAGUE, DATA_REGULATOR),
            (REGULATOR2, DATA_REGULATOR),
            (ROGUE_REGULATOR, DATA_REGULATOR),
            (OTHER_USER, DATA_USER),
            (REGULATOR2_COLLEAGUE, DATA_REGULATOR),
        ),
        contracts=("DataAuthorisation",),
        timestamp_ms=T0 * 1000,
        gas=2_000_000,
        proposer=M1,
        viewer=RELAY,
    )


def commitment() -> bytes:
    return compute_subject_commitment(RESIDENT_ID, SALT)


def subject_tag(grant_id: int, subject_commitment: bytes | None = None) -> bytes:
    """The SDK's subject tag of ``grant_id`` on this chain and contract (default subject: commitment())."""
    subject = commitment() if subject_commitment is None else subject_commitment
    return compute_subject_tag(CHAIN_ID, DATA_AUTHORISATION_ADDRESS, grant_id, subject)


def signed_binding(
    subject: PrivateKey, subject_commitment: bytes | None = None, version: int = 1
) -> sdk_auth.SubjectKeyBinding:
    """The subject's own request, signed with ``subject``, to bind that key to the commitment."""
    return sign_subject_key_binding(
        subject,
        chain_id=CHAIN_ID,
        contract=DATA_AUTHORISATION_ADDRESS,
        subject_commitment=commitment() if subject_commitment is None else subject_commitment,
        version=version,
    )


def key_hash_of(key: PrivateKey) -> bytes:
    return sm3(key.public_key.to_bytes())
