"""Execution: the py-evm adapter that runs messages on the EVM and answers state queries and proofs."""

from node.execution.engine import (
    ExecutionEngine,
    compute_floor_gas,
    compute_intrinsic_gas,
    compute_revert_reason,
)
from node.execution.types import AccountProof, BlockContext, ExecutionResult, Message, StorageProof

__all__ = [
    "AccountProof",
    "BlockContext",
    "ExecutionEngine",
    "ExecutionResult",
    "Message",
    "StorageProof",
    "compute_floor_gas",
    "compute_intrinsic_gas",
    "compute_revert_reason",
]
