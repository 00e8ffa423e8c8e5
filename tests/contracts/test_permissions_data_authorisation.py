"""DataAuthorisation against its rows of docs/permissions.md: every (function, caller) on a fresh chain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from node.genesis import DATA_AUTHORISATION_ADDRESS, GOVERNANCE_ADDRESS
from sdk.crypto import PrivateKey, sm3
from sdk.domains.authorisations import GrantStatus, compute_revocation_message, sign_consent
from tests.contracts.permissions import PermissionRow, conditional, row_id, rows_for
from tests.contracts.worlds.authorisations import (
    BASIS,
    CHAIN_ID,
    EMPTY32,
    HOLDER,
    HOLDER_CLERK,
    HOLDER_REGULATOR,
    OTHER_HOLDER,
    OTHER_USER,
    PURPOSE,
    REGULATOR,
    REGULATOR2,
    REGULATOR2_COLLEAGUE,
    RELAY,
    SCHEMA,
    UNREGISTERED,
    USER,
    USER_REGULATOR,
    Chain,
    commitment,
    key_hash_of,
    make_chain,
    signed_binding,
)

ROWS = rows_for("DataAuthorisation")

#: Each caller name of the table as an account of the test chain (tests/contracts/worlds/authorisations.py).
CALLERS: dict[str, bytes] = {
    "outsider": UNREGISTERED,  # no organisation holds it
    "member": RELAY,  # an account of an organisation that is no party, without data roles
    "DATA_HOLDER": OTHER_HOLDER,  # of an organisation that holds none of the resources below
    "DATA_HOLDER (other organisation)": OTHER_HOLDER,
    "DATA_USER": OTHER_USER,  # requested nothing below
    "DATA_REGULATOR": REGULATOR,  # of an organisation that is no party
    "DATA_REGULATOR (holder's organisation)": HOLDER_REGULATOR,
    "DATA_REGULATOR (requester's organisation)": USER_REGULATOR,
    "DATA_REGULATOR (proposer's organisation)": REGULATOR2_COLLEAGUE,
    "holder": HOLDER,
    "holder's member": HOLDER_CLERK,
    "requester": USER,
    "proposer": REGULATOR2,
}

REASON = sm3(b"case file: the subject's key was lost")


@dataclass(frozen=True)
class Attempt:
    """One call prepared on a chain, and a probe telling whether its intended state change happened."""

    function: str
    args: tuple[Any, ...]
    done: Callable[[Chain], bool]


#: Prepares the state (``holds``: the row's condition holds, else it does not) and returns the call.
Scenario = Callable[[Chain, bool], Attempt]


def _resource(c: Chain, *, level: int = 1, personal: bool = False) -> int:
    return c.register(level=level, personal=personal)


def _request(c: Chain, *, level: int = 1, personal: bool = False, valid_until: int | None = None) -> int:
    rid = _resource(c, level=level, personal=personal)
    return c.request(rid, commitment=commitment() if personal else EMPTY32, valid_until=valid_until)


def _status_is(grant_id: int, status: GrantStatus) -> Callable[[Chain], bool]:
    return lambda c: c.status(grant_id) == status


def _granted(c: Chain, *, valid_until: int | None = None) -> int:
    gid = _request(c, valid_until=valid_until)
    c.must(HOLDER, "grant", gid, b"", b"")
    return gid


def initialize(c: Chain, holds: bool) -> Attempt:
    return Attempt("initialize", (GOVERNANCE_ADDRESS,), lambda c: c.view("governance") != GOVERNANCE_ADDRESS)


def register_resource(c: Chain, holds: bool) -> Attempt:
    return Attempt(
        "register_resource",
        (1, 1, SCHEMA, EMPTY32, 0b1111, False),
        lambda c: c.view("resource_count") == 1,
    )


def set_share_type(c: Chain, holds: bool) -> Attempt:
    rid = _resource(c)
    return Attempt("set_share_type", (rid, 3, BASIS), lambda c: c.view("resources", rid)["share_type"] == 3)


def bind_subject_key(c: Chain, holds: bool) -> Attempt:
    subject = PrivateKey.generate()
    binding = signed_binding(subject)
    signature = binding.signature if holds else PrivateKey.generate().sign(b"not the subject's binding")
    return Attempt(
        "bind_subject_key",
        (commitment(), binding.public_key, signature),
        lambda c: c.view("subject_keys", commitment())["key_hash"] == key_hash_of(subject),
    )


def bind_subject_key_twice(c: Chain) -> Attempt:
    """The other way the condition fails: a key is already bound (a valid signature does not help)."""
    c.bind(PrivateKey.generate())
    return bind_subject_key(c, True)


def propose_subject_key_rebind(c: Chain, holds: bool) -> Attempt:
    c.bind(PrivateKey.generate())
    new_key = PrivateKey.generate()
    binding = signed_binding(new_key, version=2 if holds else 1)  # version 1 is not the next version
    return Attempt(
        "propose_subject_key_rebind",
        (commitment(), binding.public_key, binding.signature, REASON),
        lambda c: c.view("rebind_proposals", commitment(), key_hash_of(new_key))["version"] == 2,
    )


def confirm_subject_key_rebind(c: Chain, holds: bool) -> Attempt:
    c.bind(PrivateKey.generate())
    new_key = PrivateKey.generate()
    proposals = [signed_binding(new_key, version=2)]
    if not holds:  # another proposal for version 2 is confirmed first: this one becomes stale
        proposals.append(signed_binding(PrivateKey.generate(), version=2))
    for binding in proposals:
        c.must(
            REGULATOR2,
            "propose_subject_key_rebind",
            commitment(),
            binding.public_key,
            binding.signature,
            REASON,
        )
    if not holds:
        c.must(USER_REGULATOR, "confirm_subject_key_rebind", commitment(), proposals[1].key_hash)
    return Attempt(
        "confirm_subject_key_rebind",
        (commitment(), key_hash_of(new_key)),
        lambda c: c.view("subject_keys", commitment())["key_hash"] == key_hash_of(new_key),
    )


def request(c: Chain, holds: bool) -> Attempt:
    rid = _resource(c)
    return Attempt(
        "request",
        (rid, PURPOSE, 0b11, c.now, c.now + 3600, 3, EMPTY32, EMPTY32),
        lambda c: c.view("grant_count") == 1,
    )


def approve(c: Chain, holds: bool) -> Attempt:
    gid = _request(c, level=3 if holds else 2)  # only 核心 data is approved
    return Attempt("approve", (gid,), _status_is(gid, GrantStatus.APPROVED))


def refuse(c: Chain, holds: bool) -> Attempt:
    gid = _request(c, level=3 if holds else 2)  # a regulator refuses only 核心 data
    return Attempt("refuse", (gid, sm3(b"reason")), _status_is(gid, GrantStatus.REFUSED))


def grant(c: Chain, holds: bool) -> Attempt:
    gid = _request(c, personal=True)
    subject = PrivateKey.generate()
    # holds: an independent regulator vouched for the key; else the holder's own regulator did
    c.bind(subject, regulator=REGULATOR if holds else HOLDER_REGULATOR)
    consent = sign_consent(subject, c.terms(gid))
    return Attempt(
        "grant", (gid, consent.public_key, consent.signature), _status_is(gid, GrantStatus.GRANTED)
    )


def record_use(c: Chain, holds: bool) -> Attempt:
    gid = _granted(c)
    return Attempt("record_use", (gid, 0b01, sm3(b"answer")), lambda c: c.view("grants", gid)["uses"] == 1)


def revoke(c: Chain, holds: bool) -> Attempt:
    gid = _granted(c)
    return Attempt("revoke", (gid, sm3(b"reason")), _status_is(gid, GrantStatus.REVOKED))


def revoke_by_subject(c: Chain, holds: bool) -> Attempt:
    gid = _request(c, personal=True)
    subject = PrivateKey.generate()
    c.bind(subject)
    consent = sign_consent(subject, c.terms(gid))
    c.must(HOLDER, "grant", gid, consent.public_key, consent.signature)
    signer = subject if holds else PrivateKey.generate()  # else: someone else's withdrawal
    message = compute_revocation_message(CHAIN_ID, DATA_AUTHORISATION_ADDRESS, gid, commitment())
    return Attempt(
        "revoke_by_subject",
        (gid, signer.public_key.to_bytes(), signer.sign(message)),
        _status_is(gid, GrantStatus.REVOKED),
    )


def expire(c: Chain, holds: bool) -> Attempt:
    gid = _granted(c, valid_until=c.now + 20)
    if holds:
        c.advance(30)
    return Attempt("expire", (gid,), lambda c: c.view("grants", gid)["status"] == GrantStatus.EXPIRED)


SCENARIOS: dict[str, Scenario] = {
    scenario.__name__: scenario
    for scenario in (
        initialize,
        register_resource,
        set_share_type,
        bind_subject_key,
        propose_subject_key_rebind,
        confirm_subject_key_rebind,
        request,
        approve,
        refuse,
        grant,
        record_use,
        revoke,
        revoke_by_subject,
        expire,
    )
}
#: Further states in which an ``allowed if`` row's condition does not hold.
MORE_VIOLATIONS: dict[str, Callable[[Chain], Attempt]] = {"bind_subject_key": bind_subject_key_twice}


def assert_refused(c: Chain, attempt: Attempt, who: bytes, row: PermissionRow) -> None:
    before = c.root
    receipt = c.send(who, attempt.function, *attempt.args)
    assert receipt.status == 0, f"{row} was allowed"
    assert c.root == before, f"{row}: a refused call changed the state"
    assert not attempt.done(c)


def assert_allowed(c: Chain, attempt: Attempt, who: bytes, row: PermissionRow) -> None:
    assert not attempt.done(c), f"{row}: the scenario already shows the change"
    receipt = c.send(who, attempt.function, *attempt.args)
    assert receipt.status == 1, f"{row} was refused: {receipt.revert_reason!r}"
    assert attempt.done(c), f"{row}: the allowed call did not make its change"


def _caller(row: PermissionRow) -> bytes:
    assert row.caller in CALLERS, f"the test does not know the caller {row.caller!r}: add it to CALLERS"
    assert row.function in SCENARIOS, f"the test has no scenario for {row.function!r}"
    return CALLERS[row.caller]


def test_the_table_has_data_authorisation_rows() -> None:
    assert {row.function for row in ROWS} == set(SCENARIOS)


@pytest.mark.parametrize("row", ROWS, ids=row_id)
def test_the_contract_enforces_the_permissions_table(row: PermissionRow) -> None:
    who = _caller(row)
    chain = make_chain()
    attempt = SCENARIOS[row.function](chain, True)
    if row.allowed:
        assert_allowed(chain, attempt, who, row)
    else:
        assert_refused(chain, attempt, who, row)


@pytest.mark.parametrize("row", conditional(ROWS), ids=row_id)
def test_allowed_if_rows_are_refused_when_their_condition_does_not_hold(row: PermissionRow) -> None:
    who = _caller(row)
    chain = make_chain()
    assert_refused(chain, SCENARIOS[row.function](chain, False), who, row)
    if row.function in MORE_VIOLATIONS:
        chain = make_chain()
        assert_refused(chain, MORE_VIOLATIONS[row.function](chain), who, row)
