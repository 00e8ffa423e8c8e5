"""Wires one node together: storage, execution, ledger, block production and the HTTP API."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from node.config import ChainConfig, NodeConfig
from node.execution import ExecutionEngine
from node.ledger.chain import ExecutedBlock, Ledger
from node.network import GenesisFile, build_genesis
from node.storage import StateNodeStore, Store
from sdk.crypto import PrivateKey
from sdk.errors import XinlianError
from sdk.types import CommitCertificate, Seal, commit_preimage

log = logging.getLogger("xinlian.node")


@dataclass
class ProducerStats:
    blocks: int = 0
    transactions: int = 0
    last_commit_s: float = 0.0


class SoloProducer:
    """Block production for a single-validator chain: build, seal with the one key, commit.

    Produces a block as soon as transactions are pending and the block period has passed, and an empty
    block every ``idle_block_ms`` so the head's age shows the node is alive.
    """

    def __init__(self, ledger: Ledger, key: PrivateKey, *, idle_block_ms: int = 5_000) -> None:
        self.ledger = ledger
        self.key = key
        self.idle_block_ms = idle_block_ms
        self.stats = ProducerStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        validators = ledger.head.validators
        public = key.public_key.to_bytes()
        if public not in validators:
            raise XinlianError("this node's key is not in the validator set", code="not_a_validator")
        self.index = validators.index(public)
        if len(validators) != 1:
            raise XinlianError(
                f"a solo producer needs a one-validator set, this chain has {len(validators)}",
                code="needs_consensus",
            )

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="xinlian-producer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def produce_once(self) -> ExecutedBlock:
        """Build, seal and commit one block now (used by the loop and by tests)."""
        executed = self.ledger.build_block(round=0, proposer_index=self.index)
        header = executed.block.header
        preimage = commit_preimage(header.chain_id, header.height, header.round, header.block_hash)
        cert = CommitCertificate(
            height=header.height,
            round=header.round,
            block_hash=header.block_hash,
            seals=(Seal(validator_index=self.index, signature=self.key.sign(preimage)),),
        )
        self.ledger.commit_block(executed.block, cert)
        self.stats.blocks += 1
        self.stats.transactions += len(executed.block.transactions)
        self.stats.last_commit_s = time.time()
        return executed

    def _run(self) -> None:
        period_s = self.ledger.chain.block_period_ms / 1000
        while not self._stop.is_set():
            head = self.ledger.head.header
            now_ms = int(time.time() * 1000)
            due_ms = head.timestamp_ms + self.ledger.chain.block_period_ms
            pending = len(self.ledger.mempool) > 0
            if now_ms < due_ms:
                self._stop.wait(max(0.001, (due_ms - now_ms) / 1000))
                continue
            if not pending and now_ms - head.timestamp_ms < self.idle_block_ms:
                self._stop.wait(min(period_s, 0.02))
                continue
            try:
                self.produce_once()
            except Exception:  # keep producing; the failure is logged with its cause
                log.exception("block production failed at height %d", head.height + 1)
                self._stop.wait(period_s)


class Node:
    """A running node: opens its database, loads or creates genesis, produces blocks, serves the API."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        Path(config.data_dir).mkdir(parents=True, exist_ok=True)
        self.genesis = GenesisFile.load(config.genesis_path)
        self.chain: ChainConfig = self.genesis.chain
        self.store = Store(config.resolved_database_url())
        self.state_db = StateNodeStore(self.store)
        self.engine = ExecutionEngine(self.state_db, self.chain.chain_id)
        genesis_block = build_genesis(self.engine, self.genesis)
        self.ledger = Ledger(
            self.chain,
            self.store,
            self.state_db,
            self.engine,
            self.genesis.governance_address,
            mempool_capacity=config.mempool_capacity,
        )
        self.ledger.load(genesis_block)
        self.state_db.clear_pending()
        self.key: PrivateKey | None = None
        if config.validator_key_path:
            import os

            password = (
                os.environ.get(config.key_password_env, "").encode() if config.key_password_env else None
            )
            self.key = PrivateKey.from_pem(Path(config.validator_key_path).read_bytes(), password or None)
        self.producer: SoloProducer | None = None

    def start(self) -> None:
        if self.key is not None:
            self.producer = SoloProducer(self.ledger, self.key)
            self.producer.start()

    def stop(self) -> None:
        if self.producer is not None:
            self.producer.stop()
        self.store.close()
