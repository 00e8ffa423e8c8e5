"""Integration fixtures: node Stores on real SQLite files and (with XINLIAN_TEST_PG_URL) real PostgreSQL."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Sequence

import pytest
from node_fixtures import NODE_BACKENDS, database_for

from node.storage import Store
from sdk.crypto import PrivateKey
from sdk.types import (
    Block,
    BlockHeader,
    CommitCertificate,
    Log,
    Receipt,
    Seal,
    Transaction,
    commit_preimage,
    sort_validators,
)


@pytest.fixture(params=NODE_BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> Iterator[str]:
    """A URL for an empty database: a SQLite file in tmp_path, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{os.path.join(tmp_path, 'node.db')}"
        return
    # Each test gets its own schema, so parallel workers and other suites never share tables.
    with database_for("postgres") as url:
        yield url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An open Store on an empty database."""
    opened = Store(store_url)
    try:
        yield opened
    finally:
        opened.close()


class ChainBuilder:
    """Builds real signed transactions and blocks sealed by 3 of 4 validators, linked to each other.

    Roots in the headers are random: storage stores and links blocks, the ledger recomputes roots.
    """

    CHAIN_ID = 7

    def __init__(self) -> None:
        self.parent_hash = b"\x00" * 32
        self.height = 0
        self.senders = [PrivateKey.generate() for _ in range(3)]
        keys = {key.public_key.to_bytes(): key for key in (PrivateKey.generate() for _ in range(4))}
        self.validator_keys = sort_validators(list(keys))
        self._validator_private = [keys[public] for public in self.validator_keys]

    def dump(self) -> tuple[list[str], list[str]]:
        """Return the sender and validator private keys as hex, for a child process's ``from_dump``."""
        return [k.to_hex() for k in self.senders], [k.to_hex() for k in self._validator_private]

    @classmethod
    def from_dump(cls, dumped: tuple[list[str], list[str]]) -> ChainBuilder:
        """Return a builder at genesis with the keys of ``dump()`` (same validators, same senders)."""
        builder = cls()
        builder.senders = [PrivateKey.from_hex(h) for h in dumped[0]]
        builder._validator_private = [PrivateKey.from_hex(h) for h in dumped[1]]
        builder.validator_keys = [k.public_key.to_bytes() for k in builder._validator_private]
        return builder

    def make_tx(self, *, to: bytes | None = None, data: bytes = b"\x01\x02", key: int = 0) -> Transaction:
        return Transaction.create(
            self.senders[key % len(self.senders)],
            chain_id=self.CHAIN_ID,
            to=to if to is not None else b"\xcc" * 20,
            data=data,
            gas_limit=1_000_000,
            expiry_height=self.height + 100,
        )

    def make_header(
        self, *, height: int | None = None, parent_hash: bytes | None = None, state_root: bytes | None = None
    ) -> BlockHeader:
        return BlockHeader(
            version=1,
            chain_id=self.CHAIN_ID,
            height=self.height if height is None else height,
            parent_hash=self.parent_hash if parent_hash is None else parent_hash,
            timestamp_ms=1_700_000_000_000 + self.height * 1000,
            round=0,
            proposer_index=self.height % 4,
            tx_root=secrets.token_bytes(32),
            receipt_root=secrets.token_bytes(32),
            state_root=secrets.token_bytes(32) if state_root is None else state_root,
            history_root=secrets.token_bytes(32),
            validators_hash=b"\x11" * 32,
            next_validators_hash=b"\x11" * 32,
            gas_used=21_000,
        )

    def make_block(
        self,
        transactions: Sequence[Transaction] = (),
        *,
        logs_per_tx: Sequence[Sequence[Log]] | None = None,
        height: int | None = None,
        parent_hash: bytes | None = None,
        next_validators: tuple[bytes, ...] = (),
        state_root: bytes | None = None,
    ) -> tuple[Block, CommitCertificate, list[Receipt]]:
        """Return the next block (not yet advanced: call ``advance`` once it is committed)."""
        header = self.make_header(height=height, parent_hash=parent_hash, state_root=state_root)
        block = Block(header=header, transactions=tuple(transactions), next_validators=next_validators)
        preimage = commit_preimage(self.CHAIN_ID, header.height, header.round, header.block_hash)
        certificate = CommitCertificate(
            height=header.height,
            round=header.round,
            block_hash=header.block_hash,
            seals=tuple(Seal(i, self._validator_private[i].sign(preimage)) for i in range(3)),
        )
        receipts = [
            Receipt(
                tx_hash=tx.tx_hash,
                status=1,
                gas_used=21_000 + i,
                logs=tuple(logs_per_tx[i]) if logs_per_tx is not None else (),
                revert_reason=b"",
            )
            for i, tx in enumerate(transactions)
        ]
        return block, certificate, receipts

    def advance(self, block: Block) -> None:
        self.parent_hash = block.header.block_hash
        self.height = block.header.height + 1

    def commit(
        self,
        store: Store,
        transactions: Sequence[Transaction] = (),
        *,
        logs_per_tx: Sequence[Sequence[Log]] | None = None,
        state_nodes: dict[bytes, bytes] | None = None,
        metadata: dict[str, bytes] | None = None,
        state_root: bytes | None = None,
    ) -> tuple[Block, CommitCertificate, list[Receipt]]:
        """Build the next block (with ``state_root``, else a random one), commit it to ``store`` and
        advance."""
        block, certificate, receipts = self.make_block(
            transactions, logs_per_tx=logs_per_tx, state_root=state_root
        )
        store.commit_block(
            block, certificate, receipts, state_nodes=state_nodes or {}, metadata=metadata or {}
        )
        self.advance(block)
        return block, certificate, receipts


@pytest.fixture
def chain() -> ChainBuilder:
    """A builder of linked blocks starting at genesis (height 0)."""
    return ChainBuilder()
