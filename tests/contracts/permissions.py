"""The permissions table of docs/permissions.md as data: one row per (contract, function, caller).

Each contract's runner (tests/contracts/test_permissions_<contract>.py) sends every row's call from the
named caller on a real chain; test_permissions_table.py checks that the table covers every state-changing
function."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sdk.types import Receipt

REPO = Path(__file__).resolve().parents[2]
PERMISSIONS_PATH = REPO / "docs" / "permissions.md"
BUILD_DIR = REPO / "contracts" / "build"
VERDICTS = ("allowed", "refused", "allowed if")
#: Functions that only the genesis builder calls once (they refuse any later call by construction).
GENESIS_ONLY = frozenset({"initialize", "initialize_trust"})


@dataclass(frozen=True)
class PermissionRow:
    contract: str
    function: str
    caller: str
    verdict: str  # "allowed", "refused" or "allowed if"
    condition: str

    @property
    def allowed(self) -> bool:
        """Whether the caller may change state (``allowed if`` rows: when the condition holds)."""
        return self.verdict != "refused"


def load_permissions(path: Path = PERMISSIONS_PATH) -> list[PermissionRow]:
    """Parse every table row of the permissions page. Raises ValueError for a malformed row."""
    rows: list[PermissionRow] = []
    contract = ""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        heading = re.match(r"^## (\w+)\s*$", line)
        if heading:
            contract = heading.group(1)
            continue
        if not line.startswith("|") or not contract:
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] in ("function", "---") or set(cells[0]) <= {"-", " "}:
            continue
        if len(cells) != 4:
            raise ValueError(f"{path.name}:{number}: a row has 4 cells: function, caller, verdict, condition")
        function, caller, verdict, condition = cells
        function = function.strip("`")
        if verdict not in VERDICTS:
            raise ValueError(f"{path.name}:{number}: verdict {verdict!r} is not one of {VERDICTS}")
        if (verdict == "allowed if") != bool(condition):
            raise ValueError(f"{path.name}:{number}: 'allowed if' needs a condition, other verdicts none")
        rows.append(PermissionRow(contract, function, caller, verdict, condition))
    return rows


def rows_for(contract: str, path: Path = PERMISSIONS_PATH) -> list[PermissionRow]:
    """The rows of one contract's section."""
    return [row for row in load_permissions(path) if row.contract == contract]


def conditional(rows: list[PermissionRow]) -> list[PermissionRow]:
    """The ``allowed if`` rows: each is also run with its condition broken."""
    return [row for row in rows if row.verdict == "allowed if"]


def row_id(row: PermissionRow) -> str:
    """The pytest id of a row's case."""
    return f"{row.function}-{row.caller}"


def expect_refused(row: PermissionRow, call: Callable[[], Receipt], observe: Callable[[], object]) -> Receipt:
    """Send the row's ``call``: it must revert and leave what ``observe`` reads as it was."""
    before = observe()
    receipt = call()
    assert receipt.status == 0, f"{row} was allowed"
    assert observe() == before, f"{row}: a refused call changed state"
    return receipt


def expect_allowed(row: PermissionRow, call: Callable[[], Receipt], observe: Callable[[], object]) -> Receipt:
    """Send the row's ``call``: it must succeed and change what ``observe`` reads."""
    before = observe()
    receipt = call()
    assert receipt.status == 1, f"{row} was refused: {receipt.revert_reason!r}"
    assert observe() != before, f"{row}: an allowed call changed nothing"
    return receipt


ChainT = TypeVar("ChainT")


def check_row(
    row: PermissionRow,
    chain: ChainT,
    callers: Mapping[str, bytes],
    scenarios: Mapping[str, tuple[Callable[[ChainT], object], object, Callable[[ChainT, bytes], Receipt]]],
    observe: Callable[[ChainT], object],
) -> None:
    """Run one table row where scenarios are ``(holds, breaks, action)``: set the scenario up so the row's
    condition holds, send the action as the row's caller and expect its verdict (``expect_refused`` or
    ``expect_allowed`` with ``observe`` as the state to compare)."""
    assert row.caller in callers, f"the test does not know the caller {row.caller!r}: add it to CALLERS"
    assert row.function in scenarios, f"the test has no scenario for {row.function!r}"
    who = callers[row.caller]
    holds, _breaks, action = scenarios[row.function]
    holds(chain)
    expect = expect_allowed if row.allowed else expect_refused
    expect(row, lambda: action(chain, who), lambda: observe(chain))


def state_changing_functions(contract: str) -> set[str]:
    """Names of the contract's non-view ABI functions (from its build artifact)."""
    abi = json.loads((BUILD_DIR / f"{contract}.json").read_text(encoding="utf-8"))["abi"]
    return {
        entry["name"]
        for entry in abi
        if entry.get("type") == "function" and entry.get("stateMutability") in ("nonpayable", "payable")
    }


def contracts() -> list[str]:
    """Every system contract with a build artifact."""
    return sorted(p.stem for p in BUILD_DIR.glob("*.json"))
