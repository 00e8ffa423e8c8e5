"""The block and transaction rules that need no state: pure functions of the chain config and the parent.

``Ledger.validate_block`` applies them top-down: ``check_header`` → ``Ledger.check_transaction`` (which
calls ``check_transaction_size`` and ``check_transaction_fields``, for admission and for every transaction
of a proposed block) → ``Ledger.apply_body`` → ``check_roots``.
"""

from __future__ import annotations

from collections.abc import Sequence

from node.config import PROTOCOL_VERSION, ChainConfig
from node.execution import BlockContext, Message, compute_floor_gas, compute_intrinsic_gas
from sdk.errors import InvalidBlock, InvalidTransaction
from sdk.types import Block, BlockHeader, Transaction, compute_validators_hash

#: How far ahead of this node's clock a block timestamp may be.
MAX_CLOCK_SKEW_MS = 1_000

#: The header fields a block's re-execution recomputes, in the order they are compared.
RECOMPUTED_FIELDS = (
    "tx_root",
    "receipt_root",
    "state_root",
    "history_root",
    "next_validators_hash",
    "gas_used",
)


def compute_minimum_gas(data: bytes) -> int:
    """Return the least gas limit a transaction carrying ``data`` may declare: its intrinsic gas or the
    EIP-7623 calldata floor, whichever is higher."""
    return max(compute_intrinsic_gas(data), compute_floor_gas(data))


def is_expired(tx: Transaction, head_height: int) -> bool:
    """Whether ``tx`` can no longer be included: it is valid only while the head is below its expiry."""
    return tx.expiry_height <= head_height


def check_transaction_size(chain: ChainConfig, size: int) -> None:
    """Raise InvalidTransaction ``oversize`` when an encoding of ``size`` bytes is over the chain's limit.

    Admission asks before decoding, so that an oversize submission costs nothing to refuse.
    """
    if size > chain.max_tx_bytes:
        raise InvalidTransaction(
            f"transaction is {size} bytes; the limit is {chain.max_tx_bytes}",
            code="oversize",
            size=size,
            limit=chain.max_tx_bytes,
        )


def check_transaction_fields(chain: ChainConfig, tx: Transaction, head_height: int) -> None:
    """Checks that need no state: chain id, gas limit (within the chain's cap and at least the
    transaction's intrinsic gas), expiry window. Raises InvalidTransaction."""
    gas_limit, expiry_height = tx.gas_limit, tx.expiry_height
    if tx.chain_id != chain.chain_id:
        raise InvalidTransaction(
            f"transaction is for chain {tx.chain_id}, this is chain {chain.chain_id}",
            code="wrong_chain",
        )
    if gas_limit > chain.tx_gas_limit or gas_limit <= 0:
        raise InvalidTransaction(
            f"gas limit {gas_limit} is outside 1..{chain.tx_gas_limit}",
            code="gas_limit",
            limit=chain.tx_gas_limit,
        )
    # Below its intrinsic gas a transaction would fail before any code runs, yet still cost every
    # validator its bytes, signature check and storage: refuse it instead of carrying it nearly free.
    minimum = compute_minimum_gas(tx.data)
    if gas_limit < minimum:
        raise InvalidTransaction(
            f"gas limit {gas_limit} is below this transaction's intrinsic gas {minimum}",
            code="gas_too_low",
            minimum=minimum,
        )
    if is_expired(tx, head_height):
        raise InvalidTransaction(
            f"transaction expired at height {expiry_height}; head is {head_height}",
            code="expired",
            head=head_height,
        )
    if expiry_height > head_height + chain.expiry_window:
        raise InvalidTransaction(
            f"expiry height {expiry_height} is beyond head {head_height} + window {chain.expiry_window}",
            code="expiry_too_far",
            head=head_height,
        )


def check_header(
    chain: ChainConfig,
    header: BlockHeader,
    parent: BlockHeader,
    validators: Sequence[bytes],
    now_ms: int,
) -> None:
    """Check that ``header`` may follow ``parent`` under the set ``validators`` at ``now_ms``: version,
    chain, height and parent links, timestamp window, validator set and proposer. Raises InvalidBlock."""
    if header.version != PROTOCOL_VERSION:
        raise InvalidBlock(f"unsupported block version {header.version}", code="bad_version")
    if header.chain_id != chain.chain_id:
        raise InvalidBlock("block is for another chain", code="wrong_chain")
    if header.height != parent.height + 1:
        raise InvalidBlock(
            f"block height {header.height} does not follow head {parent.height}", code="bad_height"
        )
    if header.parent_hash != parent.block_hash:
        raise InvalidBlock("block does not extend the head", code="bad_parent")
    if header.timestamp_ms < parent.timestamp_ms + chain.block_period_ms:
        raise InvalidBlock("block timestamp is earlier than parent + block period", code="bad_timestamp")
    if header.timestamp_ms > now_ms + MAX_CLOCK_SKEW_MS:
        raise InvalidBlock("block timestamp is more than 1 s in the future", code="bad_timestamp")
    if header.validators_hash != compute_validators_hash(validators):
        raise InvalidBlock("block names another validator set", code="bad_validators")
    if validators and not 0 <= header.proposer_index < len(validators):
        raise InvalidBlock("proposer index out of range", code="bad_proposer")


def check_block_limits(chain: ChainConfig, tx_count: int, gas: int) -> None:
    """Raise InvalidBlock ``block_limit`` when a block carries too many transactions or too much gas."""
    if tx_count > chain.max_block_txs or gas > chain.block_gas_limit:
        raise InvalidBlock("block exceeds the transaction or gas limit", code="block_limit")


def check_block_bytes(chain: ChainConfig, size: int) -> None:
    """Raise InvalidBlock ``block_limit`` when a block's transactions together exceed the byte limit."""
    if size > chain.max_block_bytes:
        raise InvalidBlock(f"block's transactions exceed {chain.max_block_bytes} bytes", code="block_limit")


def check_roots(block: Block, expected: Block) -> None:
    """Check ``block`` against ``expected``, the block re-execution produced from the same body: every
    recomputed root, the validator handover, then the whole header. Raises InvalidBlock naming the first
    mismatch."""
    got, want = block.header, expected.header
    for name in RECOMPUTED_FIELDS:
        if getattr(want, name) != getattr(got, name):
            raise InvalidBlock(f"block {name} does not match re-execution", code=f"bad_{name}")
    if expected.next_validators != block.next_validators:
        raise InvalidBlock("block's validator handover does not match governance", code="bad_validators")
    if want != got:
        raise InvalidBlock("block header does not match re-execution", code="bad_header")


# --- what executing a block means: one rule for building, validating and auditing ------------------------
def compute_block_context(
    chain: ChainConfig,
    height: int,
    timestamp_ms: int,
    validators: Sequence[bytes],
    proposer_index: int,
) -> BlockContext:
    """The EVM's block context of a block at ``height``: its time, the chain's block gas limit and the
    address of its proposer in ``validators`` (the set in force for that height)."""
    proposer = validators[proposer_index] if validators else b""
    return BlockContext(
        height=height,
        timestamp_ms=timestamp_ms,
        gas_limit=chain.block_gas_limit,
        proposer=_address_of(proposer),
    )


def compute_messages(txs: Sequence[Transaction]) -> list[Message]:
    """The EVM messages of a block's transactions, in order."""
    return [
        Message(sender=tx.sender, to=tx.to, data=tx.data, gas_limit=tx.gas_limit, tx_hash=tx.tx_hash)
        for tx in txs
    ]


def _address_of(public_key: bytes) -> bytes:
    if not public_key:
        return b"\x00" * 20
    from sdk.crypto import address_from_public_key

    return address_from_public_key(public_key)
