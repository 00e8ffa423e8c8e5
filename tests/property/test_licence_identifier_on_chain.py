"""The LicenceRegistry's identifier check against the SDK's parser, on random near-valid identifiers.

The contract checks the form of every identifier it issues or renews (dots, 0-9/A-Z segments, a 3-digit
version, the MOD 37,36 check character) with a hand-optimised loop; the SDK's ``parse_licence_id`` is the
readable reference. On identifiers with the world's type and issuer, both must agree exactly: the contract
issues what the SDK accepts as already normalised, and refuses everything else.
"""

from __future__ import annotations

from hypothesis import HealthCheck, event, given, settings, strategies as st

from sdk.errors import IdentifierError
from sdk.identifiers import compute_licence_check, parse_licence_id
from tests.contracts.worlds.licences import CITY, CITY_ORG, TYPE_CODE, make_base

BASE = make_base()
PREFIX = f"1.2.156.3005.2.{TYPE_CODE}.{CITY_ORG}."
ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: Mostly the identifier alphabet, plus the characters a near miss is made of.
NEAR = ALNUM + ".a_/: é"


def _tails() -> st.SearchStrategy[str]:
    """serial.version.check, each part usually well-formed, sometimes not; the check usually right."""
    serial = st.one_of(
        st.text(alphabet=ALNUM, min_size=1, max_size=32),
        st.text(alphabet=NEAR, min_size=0, max_size=34),
    )
    version = st.one_of(
        st.text(alphabet="0123456789", min_size=3, max_size=3),
        st.text(alphabet=ALNUM, min_size=3, max_size=3),
        st.text(alphabet=NEAR, max_size=4),
    )

    @st.composite
    def tail(draw: st.DrawFn) -> str:
        s, v = draw(serial), draw(version)
        body = f"{TYPE_CODE}{CITY_ORG}{s}{v}"
        try:
            right = compute_licence_check(body)
        except IdentifierError:
            right = "0"
        check = draw(st.one_of(st.just(right), st.sampled_from(ALNUM), st.text(alphabet=NEAR, max_size=2)))
        return f"{s}.{v}.{check}"

    return st.one_of(tail(), st.text(alphabet=NEAR, max_size=40))


def _sdk_accepts(identifier: str) -> bool:
    try:
        parsed = parse_licence_id(identifier, check_embedded_uscc=False)
    except IdentifierError:
        return False
    return parsed.identifier == identifier  # the contract hashes the bytes it gets: no normalisation


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tail=_tails())
def test_the_contract_issues_exactly_the_identifiers_the_sdk_accepts(tail: str) -> None:
    identifier = PREFIX + tail
    chain = BASE.fork()
    receipt = chain.send(CITY, "issue", *chain.issue_args(identifier))
    event("issued" if receipt.status == 1 else f"refused: {receipt.revert_reason!r}")
    assert (receipt.status == 1) == _sdk_accepts(identifier), (identifier, receipt.revert_reason)
