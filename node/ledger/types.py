"""The values the ledger hands out: its head, executed blocks, what a submission came to, and the ports
through which worker processes take work off the node's GIL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from node.execution import BlockContext, ExecutionResult
from sdk.types import Block, BlockHeader


@dataclass(frozen=True)
class Head:
    """The committed tip as this node knows it."""

    header: BlockHeader
    block_hash: bytes
    validators: tuple[bytes, ...]  # the set in force for the NEXT height


@dataclass(frozen=True)
class ExecutedBlock:
    """A block together with the execution result that produced (or validated) its roots, and the state
    overlay keys that execution wrote or read (the trie nodes and code its state adds to the stored ones)."""

    block: Block
    result: ExecutionResult
    state_keys: frozenset[bytes] = frozenset()

    @property
    def block_hash(self) -> bytes:
        return self.block.header.block_hash


@dataclass(frozen=True)
class Submission:
    """What a client's submission came to: the transaction is pending here (and durable), or was already
    committed."""

    tx_hash: bytes
    status: Literal["pending", "committed"]


@dataclass(frozen=True)
class RestoredPool:
    """What ``Ledger.restore_pending`` did: transactions back in the mempool, and records dropped."""

    restored: int
    dropped: int


#: Runs a read-only call: (state_root, sender, to, data, gas_limit, ctx) -> output.
ViewExecutor = Callable[[bytes, bytes, bytes, bytes, int, BlockContext], bytes]

#: Checks SM2 signatures elsewhere (a worker process): for each (public key, message, signature), whether it
#: verifies (``sdk.crypto.batch_verify``'s rule), or None when it cannot answer (the ledger then verifies).
SignatureChecker = Callable[[Sequence[tuple[bytes, bytes, bytes]]], list[bool] | None]
