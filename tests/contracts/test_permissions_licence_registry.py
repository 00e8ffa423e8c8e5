"""LicenceRegistry against its rows of docs/permissions.md: every (function, caller) on a fresh chain.

Each row's call is sent from an account of the named kind on the real py-evm engine, starting from the same
genesis state (tests/unit/node/test_licence_registry.py: the type defined by the ministry, CITY and CITY_DESK
ISSUER for it, DISTRICT ISSUER for another type, DISTRICT_DESK ISSUER for the same type in another
organisation, CITY_CLERK an account of CITY's organisation without ISSUER). Allowed: receipt status 1 and the
registry's state changed. Refused: status 0, no log, and the state root unchanged. An ``outsider`` is refused
at admission by the ledger (``unknown_sender``); here the contract is shown to refuse it too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from node.genesis import GOVERNANCE_ADDRESS
from sdk.crypto import PrivateKey
from sdk.domains.licences import compute_holder_key_hash, compute_licence_hash
from sdk.types import Receipt
from tests.contracts.permissions import (
    PermissionRow,
    check_row,
    conditional,
    expect_refused,
    row_id,
    rows_for,
    state_changing_functions,
)
from tests.contracts.worlds.licences import (
    AUTHORITY,
    BANK,
    BANK_ORG,
    CITY,
    CITY_CLERK,
    CITY_ORG,
    DAY,
    DISTRICT,
    DISTRICT_DESK,
    DISTRICT_ORG,
    DOC_HASH,
    HOLDER_KEY,
    MINISTRY_ORG,
    OUTSIDER,
    Chain,
    licence_id,
    make_base,
)

ROWS = rows_for("LicenceRegistry")

#: Each caller name of the table as an account of the test chain.
CALLERS: dict[str, bytes] = {
    "outsider": OUTSIDER,  # no organisation holds it
    "member": BANK,  # an active account of an organisation without licence roles
    "LICENCE_AUTHORITY": AUTHORITY,  # the ministry, which defined the type; no ISSUER
    "ISSUER (own type)": CITY,  # the licence's issuing organisation, ISSUER for its type
    "ISSUER (own type, other organisation)": DISTRICT_DESK,
    "ISSUER (other type)": DISTRICT,
    "issuing organisation's account without ISSUER": CITY_CLERK,
}
ORGANISATION: dict[bytes, str] = {
    BANK: BANK_ORG,
    AUTHORITY: MINISTRY_ORG,
    CITY: CITY_ORG,
    CITY_CLERK: CITY_ORG,
    DISTRICT: DISTRICT_ORG,
    DISTRICT_DESK: DISTRICT_ORG,
}

LICENCE = licence_id("2025000001")  # issued by CITY in every scenario but define_type's and issue's
LICENCE_HASH = compute_licence_hash(LICENCE)
NEW_KEY = PrivateKey.generate()


@pytest.fixture(scope="module")
def base() -> Chain:
    return make_base()


@pytest.fixture()
def chain(base: Chain) -> Chain:
    return base.fork()


def own(who: bytes) -> str:
    """The caller's organisation (an outsider has none: it borrows CITY's, which cannot help it)."""
    return ORGANISATION.get(who, CITY_ORG)


# --- states -------------------------------------------------------------------------------------------
def nothing(c: Chain) -> None:
    pass


def issued(c: Chain) -> None:
    c.must(CITY, "issue", *c.issue_args(LICENCE))


def suspended(c: Chain) -> None:
    issued(c)
    c.must(CITY, "suspend", LICENCE_HASH, "经营异常")


def revoked(c: Chain) -> None:
    issued(c)
    c.must(CITY, "revoke", LICENCE_HASH, "吊销")


def expired(c: Chain) -> None:
    c.must(CITY, "issue", *c.issue_args(LICENCE, valid_until=c.now + 10))
    c.now += 100


# --- calls --------------------------------------------------------------------------------------------
def define_type(c: Chain, who: bytes) -> Receipt:
    return c.send(who, "define_type", own(who) + "040", "药品经营许可证")


def issue(c: Chain, who: bytes) -> Receipt:
    return c.send(who, "issue", *c.issue_args(licence_id("2025000002", issuer=own(who))))


def renew(c: Chain, who: bytes) -> Receipt:
    new = licence_id("2025000001", 2, issuer=own(who))
    return c.send(who, "renew", LICENCE_HASH, new, DOC_HASH, c.now, c.now + 365 * DAY)


def record_use(c: Chain, who: bytes, key: PrivateKey = HOLDER_KEY) -> Receipt:
    return c.send(who, "record_use", *c.use_args(c.consent(LICENCE_HASH, user=who, key=key)))


Step = Callable[[Chain], None]
Action = Callable[[Chain, bytes], Receipt]

#: function -> (state in which the row's condition holds, state in which it does not (or None), the call).
SCENARIOS: dict[str, tuple[Step, Step | None, Action]] = {
    "initialize": (nothing, None, lambda c, who: c.send(who, "initialize", GOVERNANCE_ADDRESS)),
    "define_type": (nothing, None, define_type),
    "issue": (nothing, None, issue),
    "suspend": (issued, suspended, lambda c, who: c.send(who, "suspend", LICENCE_HASH, "经营异常")),
    "resume": (suspended, issued, lambda c, who: c.send(who, "resume", LICENCE_HASH, "整改完成")),
    "revoke": (issued, revoked, lambda c, who: c.send(who, "revoke", LICENCE_HASH, "吊销")),
    "renew": (issued, suspended, renew),
    "annotate": (
        issued,
        expired,
        lambda c, who: c.send(who, "annotate", LICENCE_HASH, DOC_HASH, "变更经营范围", 0, 0),
    ),
    "bind_holder_key": (
        issued,
        revoked,
        lambda c, who: c.send(
            who, "bind_holder_key", LICENCE_HASH, compute_holder_key_hash(NEW_KEY.public_key)
        ),
    ),
    "record_use": (issued, suspended, record_use),
}

#: Calls that break a row's condition through their arguments, from the state in which it holds.
VIOLATING_CALLS: dict[str, Action] = {
    "define_type": lambda c, who: c.send(who, "define_type", BANK_ORG + "040", "别人的类型"),
    # the identifier names another organisation as its issuer: pre-issuing another issuer's identifier
    "issue": lambda c, who: c.send(
        who,
        "issue",
        *c.issue_args(licence_id("2025000003", issuer=BANK_ORG if own(who) != BANK_ORG else CITY_ORG)),
    ),
    "renew": lambda c, who: c.send(
        who, "renew", LICENCE_HASH, licence_id("2025000001", 2, issuer=DISTRICT_ORG), DOC_HASH, c.now, 0
    ),
    # rebinding to the key already bound
    "bind_holder_key": lambda c, who: c.send(
        who, "bind_holder_key", LICENCE_HASH, compute_holder_key_hash(HOLDER_KEY.public_key)
    ),
    # a consent forged with a key that is not the bound one
    "record_use": lambda c, who: record_use(c, who, key=NEW_KEY),
}


def snapshot(c: Chain) -> tuple[Any, ...]:
    """What the registry holds: counters and the licences the scenarios touch."""
    renewed = [
        compute_licence_hash(licence_id("2025000001", 2, issuer=org))
        for org in sorted(set(ORGANISATION.values()))
    ]
    issued_ids = [
        compute_licence_hash(licence_id("2025000002", issuer=org))
        for org in sorted(set(ORGANISATION.values()))
    ]
    licences = [c.view("get_licence", h) for h in (LICENCE_HASH, *renewed, *issued_ids)]
    return (
        c.view("type_count"),
        c.view("licence_count"),
        c.view("governance"),
        tuple(tuple(sorted(row.items())) for row in licences),
    )


def assert_refused(c: Chain, action: Action, who: bytes, row: PermissionRow) -> None:
    receipt = expect_refused(row, lambda: action(c, who), lambda: (c.root, snapshot(c)))
    assert receipt.logs == (), f"{row}: a refused call logged"


@pytest.mark.parametrize("row", ROWS, ids=row_id)
def test_the_contract_enforces_the_permissions_table(chain: Chain, row: PermissionRow) -> None:
    check_row(row, chain, CALLERS, SCENARIOS, snapshot)


@pytest.mark.parametrize("row", conditional(ROWS), ids=row_id)
def test_allowed_if_rows_are_refused_when_their_condition_does_not_hold(
    chain: Chain, row: PermissionRow
) -> None:
    who = CALLERS[row.caller]
    holds, breaks, action = SCENARIOS[row.function]
    violating = VIOLATING_CALLS.get(row.function)
    assert breaks is not None or violating is not None, f"nothing breaks the condition of {row}"
    if breaks is not None:
        fresh = chain.fork()
        breaks(fresh)
        assert_refused(fresh, action, who, row)
    if violating is not None:
        holds(chain)
        assert_refused(chain, violating, who, row)


def test_every_state_changing_function_has_a_scenario() -> None:
    assert state_changing_functions("LicenceRegistry") <= set(SCENARIOS)


def test_an_unregistered_account_is_refused_by_the_contract_too(chain: Chain) -> None:
    # The ledger refuses an outsider at admission; the contract does not rely on it.
    issued(chain)
    for function, (_holds, _breaks, action) in SCENARIOS.items():
        before = chain.root
        assert action(chain, OUTSIDER).status == 0, function
        assert chain.root == before
