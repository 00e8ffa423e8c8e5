"""Every system contract's runtime code fits EIP-170 (24,576 bytes): a contract upgrade installs nothing
larger (Governance.MAX_CODE_BYTES), so a contract that outgrew it could never be upgraded again. The margin
is printed on failure: DrugTrace is within a hundred bytes of the limit, Governance within a thousand."""

from __future__ import annotations

import pytest

from node.genesis import DOMAIN_CONTRACTS, load_runtime_code
from sdk.system import MAX_CODE_BYTES


@pytest.mark.parametrize("name", ("Governance", *DOMAIN_CONTRACTS))
def test_runtime_code_fits_eip_170(name: str) -> None:
    size = len(load_runtime_code(name))
    assert size <= MAX_CODE_BYTES, f"{name} is {size} bytes, {size - MAX_CODE_BYTES} over EIP-170"
