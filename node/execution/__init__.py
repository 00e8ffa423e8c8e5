"""Execution: the py-evm engine that runs messages on the EVM and answers state queries and proofs, and the
native engine (revm where it is exact, py-evm for the rest) that gives the same results faster."""

from node.execution.engine import (
    ExecutionEngine,
    ReferenceExecutionEngine,
    compute_floor_gas,
    compute_intrinsic_gas,
    compute_revert_reason,
)
from node.execution.native import NativeExecutionEngine
from node.execution.types import AccountProof, BlockContext, ExecutionResult, Message, StorageProof

__all__ = [
    "AccountProof",
    "BlockContext",
    "ExecutionEngine",
    "ExecutionResult",
    "Message",
    "NativeExecutionEngine",
    "ReferenceExecutionEngine",
    "StorageProof",
    "compute_floor_gas",
    "compute_intrinsic_gas",
    "compute_revert_reason",
]
