"""kill -9 of a committing node under load loses no accepted or acknowledged transaction and leaves no
partial block."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from node.genesis import GenesisFile
from node.storage import Store
from sdk.answers import ReceiptResult
from sdk.client import Client
from sdk.errors import ClientError
from sdk.proofs.certificate import verify_certificate
from sdk.signer import Signer
from sdk.types import BlockHeader, CommitCertificate
from tests.e2e.helpers import Network, NodeProcess, make_grant

SEED = 20_240_601
KILL_CYCLES = 5
LOAD_THREADS = 3
BATCH = 6
COMMIT_WAIT_S = 8.0


@dataclass(frozen=True)
class Ack:
    """What the node said when it acknowledged a transaction as committed."""

    height: int
    index: int
    block_hash: bytes
    receipt: ReceiptResult


@dataclass
class LoadRecord:
    acked: dict[bytes, Ack] = field(default_factory=dict)
    uncertain: set[bytes] = field(default_factory=set)  # accepted, then the node died before answering
    submitted: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ack_count(self) -> int:
        with self.lock:
            return len(self.acked)


class LoadGenerator:
    """Threads that each submit batches of signed delegated grants and wait (?wait=) for their commit."""

    def __init__(self, network: Network, *, threads: int, seed: int) -> None:
        self.network = network
        self.record = LoadRecord()
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._guard, args=(i, seed + i), name=f"load-{i}", daemon=True)
            for i in range(threads)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=COMMIT_WAIT_S + 20)

    def _guard(self, worker: int, seed: int) -> None:
        try:
            self._run(worker, random.Random(seed))
        except BaseException as exc:  # surfaced by the test, not swallowed in a thread
            self.errors.append(exc)

    def _run(self, worker: int, rng: random.Random) -> None:
        grantor = self.network.grantors[worker % len(self.network.grantors)]
        with Client(self.network.url, timeout=10.0, signer=Signer(grantor.key)) as client:
            while not self._stop.is_set():
                try:
                    head = client.chain_info().height
                except ClientError:
                    self._stop.wait(0.1)  # the node is down or restarting
                    continue
                accepted: list[bytes] = []
                try:
                    for _ in range(BATCH):
                        index = rng.randrange(1_000_000)
                        tx = make_grant(self.network, grantor, head_height=head, index=index)
                        with self.record.lock:
                            self.record.submitted += 1
                        accepted.append(client.submit(tx))
                    for tx_hash in list(accepted):
                        status = client.transaction(tx_hash, wait_s=COMMIT_WAIT_S)
                        if status.status == "committed":
                            receipt = status.receipt
                            assert receipt is not None, "a committed transaction has no receipt"
                            with self.record.lock:
                                self.record.acked[tx_hash] = Ack(
                                    receipt.height, receipt.index, receipt.block_hash, receipt
                                )
                            accepted.remove(tx_hash)
                except ClientError:
                    self._stop.wait(0.1)
                with self.record.lock:
                    self.record.uncertain.update(accepted)


def _wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


def _more_acks(record: LoadRecord) -> Callable[[], bool]:
    """A predicate: more transactions have been acknowledged than now."""
    before = record.ack_count()
    return lambda: record.ack_count() > before


def _check_acks_via_api(client: Client, acked: dict[bytes, Ack]) -> None:
    def check(item: tuple[bytes, Ack]) -> None:
        tx_hash, ack = item
        status = client.transaction(tx_hash)
        assert status.status == "committed", f"acknowledged 0x{tx_hash.hex()} is {status.status} now"
        assert status.receipt == ack.receipt, f"receipt of 0x{tx_hash.hex()} changed across restarts"

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(check, acked.items()))


def _check_blocks_via_api(client: Client, head_height: int) -> int:
    """Every block's transactions are committed at their position with a receipt; returns the tx count."""

    def check(height: int) -> int:
        block = client.block(height)
        assert block.height == height
        for index, tx_hash in enumerate(block.transactions):
            status = client.transaction(tx_hash)
            assert status.status == "committed" and status.receipt is not None, f"block {height} lacks a tx"
            assert (status.receipt.height, status.receipt.index) == (height, index)
            assert status.receipt.block_hash == block.block_hash
        return len(block.transactions)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return sum(pool.map(check, range(head_height + 1)))


def _check_store(network: Network, acked: dict[bytes, Ack], min_height: int) -> tuple[int, int]:
    """Open the database the killed node left; returns (head height, transaction count)."""
    validators = GenesisFile.load(network.base / "genesis.json").validator_keys()

    def check_certificate(header: BlockHeader, certificate: CommitCertificate) -> None:
        if header.height > 0:  # genesis is trusted from the genesis file and carries no seals
            verify_certificate(certificate, header, validators)

    store = Store(f"sqlite:///{network.database_path}")
    try:
        head = store.verify_chain(check_certificate, certificate_depth=None)
        assert head is not None
        head_height = head[0]
        assert head_height >= min_height, "a block the node served is no longer stored"
        tx_total = 0
        for height in range(head_height + 1):
            block = store.get_block(height)
            receipts = store.get_block_receipts(height)
            assert block is not None and receipts is not None, f"block {height} is missing"
            assert [r.tx_hash for r in receipts] == [tx.tx_hash for tx in block.transactions], (
                f"block {height}: receipts do not match its transactions"
            )
            tx_total += len(block.transactions)
        for tx_hash, ack in acked.items():
            stored = store.get_transaction(tx_hash)
            receipt = store.get_receipt(tx_hash)
            assert stored is not None and receipt is not None, f"acknowledged 0x{tx_hash.hex()} is gone"
            assert (stored.height, stored.tx_index) == (ack.height, ack.index)
            assert receipt.receipt.status == ack.receipt.status
            assert receipt.receipt.gas_used == ack.receipt.gas_used
    finally:
        store.close()
    with sqlite3.connect(f"file:{network.database_path}?mode=ro", uri=True) as conn:
        (tx_rows,) = conn.execute("SELECT COUNT(*) FROM transactions").fetchone()
        # A receipt is stored as the outcome column of its transaction's row.
        (receipt_rows,) = conn.execute("SELECT COUNT(receipt) FROM transactions").fetchone()
        (block_rows, counted) = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(tx_count), 0) FROM blocks"
        ).fetchone()
    assert block_rows == head_height + 1
    assert tx_rows == receipt_rows == counted == tx_total, "rows of a partial block are in the database"
    return head_height, tx_total


@pytest.mark.e2e
@pytest.mark.slow
def test_sigkill_under_load_loses_no_acknowledged_commit(network: Network, node_process: NodeProcess) -> None:
    rng = random.Random(SEED)
    started = time.monotonic()
    node_process.start()
    node_process.wait_healthy(timeout_s=90)
    load = LoadGenerator(network, threads=LOAD_THREADS, seed=SEED)
    load.start()
    # Grants are Governance records, which every member reads: check them as one of the grantors.
    client = Client(network.url, timeout=20.0, signer=Signer(network.grantors[0].key))
    try:
        _wait_for(lambda: load.record.ack_count() > 0, 60, "the first acknowledged commit")
        restart_height = 0
        for cycle in range(KILL_CYCLES):
            time.sleep(rng.uniform(0.3, 2.0))
            node_process.kill()
            with load.record.lock:
                acked_max = max((a.height for a in load.record.acked.values()), default=0)
            node_process.start()
            restart_height = node_process.wait_healthy(timeout_s=90)
            assert restart_height >= acked_max, (
                f"cycle {cycle}: restarted at height {restart_height} below acknowledged height {acked_max}"
            )
            _wait_for(_more_acks(load.record), 60, f"commits after restart {cycle}")
        # The chain continues after the last restart: new blocks, new acknowledged transactions.
        _wait_for(lambda: client.head().height > restart_height, 30, "a new block after the last restart")
        load.stop()
        assert not load.errors, f"load generator failed: {load.errors[0]!r}"
        acked = dict(load.record.acked)
        head_height = client.head().height
        assert head_height > restart_height

        _check_acks_via_api(client, acked)
        api_tx_total = _check_blocks_via_api(client, head_height)
        # A transaction the node accepted (202) but never confirmed, because it was killed first, is
        # committed all the same: the node recorded it before the 202 and reloaded it at its restart.
        unconfirmed = load.record.uncertain - acked.keys()
        for tx_hash in unconfirmed:
            assert client.wait(tx_hash, timeout=COMMIT_WAIT_S * 4).tx_hash == tx_hash
    finally:
        load.stop()
        client.close()
        node_process.kill()  # the final stop is a crash too
    stored_height, stored_tx_total = _check_store(network, acked, head_height)
    assert stored_tx_total >= api_tx_total
    assert len(acked) >= KILL_CYCLES
    elapsed = time.monotonic() - started
    print(
        f"\n{KILL_CYCLES} SIGKILLs, {len(acked)} acknowledged commits of {load.record.submitted} submitted, "
        f"{len(unconfirmed)} accepted but unconfirmed at a kill (all committed since), head {stored_height}, "
        f"{stored_tx_total} stored transactions, {elapsed:.1f} s"
    )
