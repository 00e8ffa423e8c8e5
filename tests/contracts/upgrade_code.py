"""New versions of system contracts for upgrade tests: a contract of this build with functions added at the
end (its storage layout unchanged), compiled once per process with the pinned Vyper."""

from __future__ import annotations

import functools
from pathlib import Path

import vyper

ROOT = Path(__file__).resolve().parents[2]

#: Calendar version 2: a `version()` view and a `migrate()` that only Governance may call, once.
CALENDAR_V2 = """

migrated_at: public(uint256)


@view
@external
def version() -> uint256:
    return 2


@external
def migrate():
    assert msg.sender == self.governance, "only governance migrates"
    assert self.migrated_at == 0, "already migrated"
    self.migrated_at = block.number
"""

#: A Calendar whose migration always fails.
CALENDAR_FAILING_MIGRATION = """

@external
def migrate():
    raise "migration refused"
"""


#: Governance version 2: a `version()` view.
GOVERNANCE_V2 = """

@view
@external
def version() -> uint256:
    return 2
"""


def calendar_with(addition: str) -> bytes:
    """The runtime code of contracts/Calendar.vy with ``addition`` appended."""
    return contract_with("Calendar", addition)


@functools.cache
def contract_with(name: str, addition: str) -> bytes:
    """The runtime code of contracts/<name>.vy with ``addition`` appended."""
    source = (ROOT / "contracts" / f"{name}.vy").read_text() + addition
    out = vyper.compile_code(source, output_formats=["bytecode_runtime"])
    return bytes.fromhex(str(out["bytecode_runtime"]).removeprefix("0x"))
