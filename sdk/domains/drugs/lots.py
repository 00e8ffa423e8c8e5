"""A lot part's code ids as DrugLots commits to them: an RFC 9162 tree with keccak256, its root and paths.

``DrugLots.commission_lot`` computes the same root on chain from the code ids in its calldata (leaf
``keccak256(0x00 ‖ code id)``, node ``keccak256(0x01 ‖ left ‖ right)``); ``DrugLots.materialise`` walks each
code's path to it. keccak256, not SM3: the SM3 precompile would send every such message to py-evm
(docs/design-notes/drug-lots.md measures both).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from eth_utils.crypto import keccak

from sdk.errors import InputError

#: Code ids per ``commission_lot`` call (DrugLots.MAX_PART): a part's paths have at most 12 nodes.
MAX_LOT_PART: Final = 4000
LEAF_PREFIX: Final = b"\x00"
NODE_PREFIX: Final = b"\x01"


class LotTree:
    """The tree of one lot part's code ids, in the order they are commissioned."""

    __slots__ = ("_levels",)

    def __init__(self, code_ids: Sequence[bytes]) -> None:
        """Raises InputError for an empty part, one over MAX_LOT_PART, or an id that is not 32 bytes."""
        if not 1 <= len(code_ids) <= MAX_LOT_PART:
            raise InputError(
                f"a lot part holds 1 to {MAX_LOT_PART} codes, not {len(code_ids)}", count=len(code_ids)
            )
        if any(len(code_id) != 32 for code_id in code_ids):
            raise InputError("a code id is 32 bytes")
        levels = [[keccak(LEAF_PREFIX + code_id) for code_id in code_ids]]
        while len(levels[-1]) > 1:
            below = levels[-1]
            above = [keccak(NODE_PREFIX + below[i] + below[i + 1]) for i in range(0, len(below) - 1, 2)]
            if len(below) % 2:
                above.append(below[-1])  # promoted: RFC 9162's left-full split gives the same root
            levels.append(above)
        self._levels = levels

    @property
    def size(self) -> int:
        return len(self._levels[0])

    @property
    def root(self) -> bytes:
        return self._levels[-1][0]

    def path(self, index: int) -> tuple[bytes, ...]:
        """The inclusion path of the code at ``index`` (RFC 9162 §2.1.3.1), leaf to root."""
        if not 0 <= index < self.size:
            raise InputError(f"no code at {index} in a part of {self.size}", index=index)
        path = []
        for level in self._levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index >>= 1
        return tuple(path)
