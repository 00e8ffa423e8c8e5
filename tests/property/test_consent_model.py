"""A stateful model test of DataAuthorisation's consent: random regulators bind and rebind subject keys, and
the holder grants personal-data requests with consent signed by the subject's key or by someone else's.

Invariants: a personal-data grant exists only with a consent signature by the key currently bound to the
subject, bound or confirmed by regulators of neither the holder's nor the requester's organisation; a key is
bound by the first binding and replaced only by a proposal confirmed by a regulator of another
organisation."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from sdk.crypto import PrivateKey, sm3
from sdk.domains.authorisations import GrantStatus, sign_consent
from tests.contracts.worlds.authorisations import (
    HOLDER,
    HOLDER_REGULATOR,
    ORG_HOLDER,
    ORG_OTHER,
    ORG_REG,
    ORG_REG2,
    ORG_USER,
    REGULATOR,
    REGULATOR2,
    REGULATOR_COLLEAGUE,
    RELAY,
    ROGUE_REGULATOR,
    USER_REGULATOR,
    Chain,
    commitment,
    key_hash_of,
    make_chain,
    signed_binding,
    subject_tag,
)

#: Who tries to bind, propose or confirm, and their organisation (None: not a DATA_REGULATOR).
ACTORS: dict[str, tuple[bytes, str | None]] = {
    "regulator": (REGULATOR, ORG_REG),
    "regulator's colleague": (REGULATOR_COLLEAGUE, ORG_REG),
    "second regulator": (REGULATOR2, ORG_REG2),
    "holder's regulator": (HOLDER_REGULATOR, ORG_HOLDER),
    "requester's regulator": (USER_REGULATOR, ORG_USER),
    "uninvolved regulator": (ROGUE_REGULATOR, ORG_OTHER),
    "holder": (HOLDER, None),
    "member": (RELAY, None),
}
#: The subject's own key and keys that others (the holder, a rogue regulator) hold.
KEYS = {name: PrivateKey.generate() for name in ("subject", "subject's new key", "holder's", "rogue's")}
REASON = sm3(b"case file 2026-17: key lost")


@dataclass
class Bound:
    key: str
    version: int
    attester_org: str
    confirmer_org: str | None = None


class ConsentMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.chain: Chain = make_chain()
        self.resource = self.chain.register(personal=True)
        self.bound: Bound | None = None
        self.proposals: dict[str, tuple[int, str]] = {}  # key name -> (version, proposer organisation)
        self.grants: dict[int, tuple[GrantStatus, str | None]] = {}  # id -> (status, consenting key)

    @rule(actor=st.sampled_from(sorted(ACTORS)), key=st.sampled_from(sorted(KEYS)))
    def bind(self, actor: str, key: str) -> None:
        account, org = ACTORS[actor]
        binding = signed_binding(KEYS[key])
        receipt = self.chain.send(
            account, "bind_subject_key", commitment(), binding.public_key, binding.signature
        )
        if org is not None and self.bound is None:
            assert receipt.status == 1, receipt.revert_reason
            self.bound = Bound(key, 1, org)
        else:
            assert receipt.status == 0, f"{actor} bound a key ({self.bound=})"

    @rule(actor=st.sampled_from(sorted(ACTORS)), key=st.sampled_from(sorted(KEYS)))
    def propose_rebind(self, actor: str, key: str) -> None:
        account, org = ACTORS[actor]
        version = (self.bound.version if self.bound else 0) + 1
        binding = signed_binding(KEYS[key], version=version)
        receipt = self.chain.send(
            account, "propose_subject_key_rebind", commitment(), binding.public_key, binding.signature, REASON
        )
        pending = self.proposals.get(key, (0, ""))[0] == version
        if org is not None and self.bound is not None and key != self.bound.key and not pending:
            assert receipt.status == 1, receipt.revert_reason
            self.proposals[key] = (version, org)
        else:
            assert receipt.status == 0, f"{actor} proposed {key} ({self.bound=}, {self.proposals=})"

    @rule(actor=st.sampled_from(sorted(ACTORS)), key=st.sampled_from(sorted(KEYS)))
    def confirm_rebind(self, actor: str, key: str) -> None:
        account, org = ACTORS[actor]
        receipt = self.chain.send(account, "confirm_subject_key_rebind", commitment(), key_hash_of(KEYS[key]))
        version, proposer_org = self.proposals.get(key, (0, ""))
        current = self.bound.version if self.bound else 0
        if org is not None and version != 0 and version == current + 1 and org != proposer_org:
            assert receipt.status == 1, receipt.revert_reason
            self.bound = Bound(key, version, proposer_org, org)
            del self.proposals[key]
        else:
            assert receipt.status == 0, f"{actor} confirmed {key} ({self.bound=}, {self.proposals=})"

    @rule(signer=st.sampled_from(sorted(KEYS)))
    def the_holder_grants_a_new_request(self, signer: str) -> None:
        grant_id = self.chain.request(self.resource, commitment=commitment())
        consent = sign_consent(KEYS[signer], self.chain.terms(grant_id))
        receipt = self.chain.send(HOLDER, "grant", grant_id, consent.public_key, consent.signature)
        b = self.bound
        independent = b is not None and not {b.attester_org, b.confirmer_org} & {ORG_HOLDER, ORG_USER}
        if b is not None and independent and signer == b.key:
            assert receipt.status == 1, receipt.revert_reason
            self.grants[grant_id] = (GrantStatus.GRANTED, signer)
        else:
            assert receipt.status == 0, f"a grant with {signer}'s consent went through ({b=})"
            self.grants[grant_id] = (GrantStatus.REQUESTED, None)

    @invariant()
    def the_bound_key_is_the_models(self) -> None:
        record = self.chain.view("subject_keys", commitment())
        if self.bound is None:
            assert record["key_hash"] == bytes(32)
            return
        assert record["key_hash"] == key_hash_of(KEYS[self.bound.key])
        assert record["version"] == self.bound.version
        assert record["attester_org"] == self.bound.attester_org
        assert record["confirmer_org"] == (self.bound.confirmer_org or "")

    @invariant()
    def grants_exist_only_with_the_bound_keys_consent(self) -> None:
        for grant_id, (status, key) in self.grants.items():
            grant = self.chain.view("grants", grant_id)
            assert GrantStatus(self.chain.view("status_of", grant_id)) == status
            assert grant["subject_tag"] == subject_tag(grant_id)  # never the commitment or a key hash
            if key is None:
                continue
            # the consenting key (kept out of every view) withdraws; a key neither consenting nor bound not
            assert self.chain.revocable_by(grant_id, KEYS[key]) == ""
            bound = self.bound.key if self.bound else None
            for other in set(KEYS) - {key, bound}:
                assert self.chain.revocable_by(grant_id, KEYS[other]) == "not the consenting subject's key"


ConsentMachine.TestCase.settings = settings(max_examples=10, stateful_step_count=20, deadline=None)
test_consent_only_by_the_subjects_independently_bound_key = ConsentMachine.TestCase
