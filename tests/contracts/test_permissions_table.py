"""The permissions table covers every state-changing function of every contract, and names nothing else."""

from __future__ import annotations

import pytest

from tests.contracts.permissions import GENESIS_ONLY, contracts, load_permissions, state_changing_functions


@pytest.mark.parametrize("contract", contracts())
def test_every_state_changing_function_has_rows_for_outsiders_and_members(contract: str) -> None:
    rows = [row for row in load_permissions() if row.contract == contract]
    functions = state_changing_functions(contract)
    covered = {row.function for row in rows}
    missing = sorted(functions - covered)
    assert not missing, f"docs/permissions.md has no rows for {contract}.{missing}"
    unknown = sorted(covered - functions)
    assert not unknown, f"docs/permissions.md names functions {contract} does not have: {unknown}"
    for function in functions - GENESIS_ONLY:
        callers = {row.caller for row in rows if row.function == function}
        assert "outsider" in callers, f"{contract}.{function} has no row for an outsider"


def test_rows_are_unique() -> None:
    keys = [(row.contract, row.function, row.caller) for row in load_permissions()]
    assert len(keys) == len(set(keys))
