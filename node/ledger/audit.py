"""Audit the native engine in production: re-execute sampled committed blocks on py-evm, in the background.

Every contract suite and workload already runs under both engines in CI; this watches the blocks the node
really commits. The node's ``execution_audit_every`` (N) picks every N-th committed block that holds
transactions and re-executes it on a private py-evm engine over the committed parent state (reading stored
state nodes, writing only to memory), then compares the state root, the receipts and the gas with what the
node committed. The re-execution runs in a worker process (another core, lower priority) when the node's
database can be opened there, else in a thread of the node. A difference is a divergence: logged as an
error and counted in ``xinlian_execution_divergences_total`` (alert on any increase, then run the node with
``execution_engine = "pyevm"``). The audit never changes the chain; when blocks arrive faster than it
re-executes them, the surplus is skipped and counted.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Iterator, MutableMapping, Sequence
from concurrent.futures import BrokenExecutor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Final

from trie.exceptions import MissingTrieNode

from node.config import ChainConfig
from node.execution import ExecutionResult, ReferenceExecutionEngine
from node.ledger.chain import Ledger
from node.ledger.rules import compute_block_context
from node.ledger.upgrades import execute_block_body, read_validators
from node.storage import Store
from node.workers import ErrorData, can_share_database, error_as_data, rebuild_error, start_worker_pool
from sdk.errors import XinlianError
from sdk.types import Block, CommitCertificate, Receipt

log = logging.getLogger("xinlian.audit")

#: Blocks waiting for the audit thread at most; more are skipped (counted).
MAX_QUEUED_BLOCKS: Final = 8
_CACHED_NODES: Final = 50_000


@dataclass(frozen=True, slots=True)
class Divergence:
    """Where py-evm disagrees with what the node committed at ``height``."""

    height: int
    field: str  # "state_root", "gas_used", "receipts", "receipt <i>" or "error"
    committed: str
    reference: str


def compare_execution(
    height: int, committed: ExecutionResult, reference: ExecutionResult
) -> list[Divergence]:
    """Every field in which ``reference`` (py-evm) differs from ``committed`` (the node's engine); empty
    when they agree."""
    found: list[Divergence] = []
    if committed.state_root != reference.state_root:
        found.append(Divergence(height, "state_root", committed.state_root.hex(), reference.state_root.hex()))
    if committed.gas_used != reference.gas_used:
        found.append(Divergence(height, "gas_used", str(committed.gas_used), str(reference.gas_used)))
    if len(committed.receipts) != len(reference.receipts):
        found.append(
            Divergence(height, "receipts", str(len(committed.receipts)), str(len(reference.receipts)))
        )
    else:
        found += [
            Divergence(height, f"receipt {index}", _receipt(mine), _receipt(theirs))
            for index, (mine, theirs) in enumerate(zip(committed.receipts, reference.receipts, strict=True))
            if mine != theirs
        ]
    return found


def _receipt(receipt: Receipt) -> str:
    reason = receipt.revert_reason.decode("utf-8", "replace")[:64]
    return f"status={receipt.status} gas={receipt.gas_used} logs={len(receipt.logs)} reason={reason!r}"


class _CommittedNodes(MutableMapping[bytes, bytes]):
    """Committed state nodes read from the store (through a bounded cache); writes stay in this object.

    The audit engine's own database: it never sees the node's write overlay, so it neither reads a node of
    an abandoned proposal nor adds to what the node stores.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._written: dict[bytes, bytes] = {}
        self._cache: OrderedDict[bytes, bytes] = OrderedDict()

    def __getitem__(self, key: bytes) -> bytes:
        value = self._written.get(key)
        if value is None:
            value = self._cache.get(key)
        if value is None:
            value = self._store.get_state_node(key)
            if value is None:
                raise KeyError(key)
            self._cache[key] = value
            if len(self._cache) > _CACHED_NODES:
                self._cache.popitem(last=False)
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._written[key] = value

    def __delitem__(self, key: bytes) -> None:
        self._written.pop(key, None)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._written)

    def __len__(self) -> int:
        return len(self._written)

    def forget_writes(self) -> None:
        self._written.clear()


class Reexecutor:
    """py-evm over the committed state of ``store``: re-executes a committed block on its parent state."""

    def __init__(self, store: Store, chain: ChainConfig, governance: bytes) -> None:
        self._store = store
        self._chain = chain
        self._governance = governance
        self._nodes = _CommittedNodes(store)
        self._engine = ReferenceExecutionEngine(self._nodes, chain.chain_id)

    def warm_up(self) -> None:
        """Load what a re-execution needs (py-evm's VM, the Governance code) with one read at the head."""
        head = self._store.head()
        header = self._store.get_header(head[0]) if head is not None else None
        if header is not None:
            read_validators(self._engine, header.state_root, self._governance)

    def reexecute_height(self, height: int) -> ExecutionResult:
        """``reexecute`` the committed block at ``height``; XinlianError ``no_block`` when not stored."""
        block = self._store.get_block(height)
        if block is None:
            raise XinlianError("the block is not stored", code="no_block", height=height)
        return self.reexecute(block)

    def reexecute(self, block: Block) -> ExecutionResult:
        """Raises XinlianError ``no_parent``, KeyError for a state node that is not stored, or what the
        engine raises."""
        header = block.header
        parent = self._store.get_header(header.height - 1)
        if parent is None:
            raise XinlianError("the parent block is not stored", code="no_parent", height=header.height)
        try:
            validators = read_validators(self._engine, parent.state_root, self._governance)
            ctx = compute_block_context(
                self._chain, header.height, header.timestamp_ms, validators, header.proposer_index
            )
            return execute_block_body(
                self._engine, self._store, self._governance, parent.state_root, ctx, block.transactions
            )
        except (KeyError, MissingTrieNode) as exc:  # py-evm's missing account/storage nodes subclass it
            raise XinlianError(
                f"a state node of the parent state is not stored: {exc!r}", code="missing_state"
            ) from exc
        finally:
            self._nodes.forget_writes()


#: Error codes that mean the audit could not run (counted as ``failed``), not that the engines disagree.
UNAUDITABLE: Final = frozenset({"no_parent", "no_block", "missing_state", "audit_worker"})

# The audit worker's re-executor: one per worker process, opened by _init_worker.
_worker: Reexecutor | None = None


def _init_worker(database_url: str, chain: ChainConfig, governance: bytes) -> None:
    global _worker
    _worker = Reexecutor(Store(database_url), chain, governance)


def _warm_up_worker() -> None:
    if _worker is not None:
        _worker.warm_up()


def _reexecute_in_worker(height: int) -> tuple[bool, ExecutionResult | ErrorData]:
    """In the worker: re-execute the committed block at ``height``; (True, result) or (False, the error)."""
    try:
        if _worker is None:
            raise XinlianError("the audit worker has no engine", code="audit_worker")
        return True, _worker.reexecute_height(height)
    except XinlianError as exc:
        return False, error_as_data(exc)
    except Exception as exc:  # py-evm failed on a block the node committed: reported as a divergence
        return False, ("XinlianError", f"{type(exc).__name__}: {exc}", "reference_failed", {})


class ExecutionAuditor:
    """Re-execute every ``every``-th committed block with transactions on py-evm and compare (see module)."""

    def __init__(self, ledger: Ledger, *, every: int, database_url: str = "") -> None:
        """``database_url``: the node's database, for a worker process to re-execute in (empty, or an
        in-memory database: a thread of this process does)."""
        if every < 1:
            raise ValueError("audit every N-th block: N >= 1")
        self.ledger = ledger
        self.every = every
        self._database_url = database_url if database_url and can_share_database(database_url) else ""
        self._local: Reexecutor | None = None
        self._pool: ProcessPoolExecutor | None = None
        if self._database_url:
            self._pool = self._start_pool()
        else:
            self._local = Reexecutor(ledger.store, ledger.chain, ledger.governance_address)
        self._queue: deque[tuple[Block, ExecutionResult]] = deque()
        self._wake = threading.Condition()
        self._stopping = False
        self._seen = 0
        self.audited = 0
        self.skipped = 0
        self.failed = 0  # sampled blocks the audit could not re-execute (UNAUDITABLE)
        self.divergences: list[Divergence] = []
        self._thread = threading.Thread(target=self._run, name="xinlian-execution-audit", daemon=True)

    def start(self) -> None:
        self.ledger.on_commit.append(self.on_commit)
        self._thread.start()

    def stop(self) -> None:
        if self.on_commit in self.ledger.on_commit:
            self.ledger.on_commit.remove(self.on_commit)
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    @property
    def divergence_count(self) -> int:
        return len({d.height for d in self.divergences})

    # --- the commit hook (consensus thread): pick, enqueue, never wait --------------------------------
    def on_commit(self, block: Block, _certificate: CommitCertificate, result: ExecutionResult) -> None:
        if not block.transactions:
            return
        self._seen += 1
        if self._seen % self.every:
            return
        with self._wake:
            if len(self._queue) >= MAX_QUEUED_BLOCKS:
                self.skipped += 1
                return
            self._queue.append((block, result))
            self._wake.notify()

    # --- the audit thread -----------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._stopping:
                    self._wake.wait()
                if self._stopping:
                    return
                block, committed = self._queue.popleft()
            self.audit(block, committed)

    @property
    def in_worker(self) -> bool:
        """Whether blocks are re-executed in a worker process (else in this process's audit thread)."""
        return self._pool is not None

    def warm_up(self) -> Future[None] | None:
        """Start the worker and load py-evm in it now, in the background (``xinlian node run`` does, as it
        warms its other worker pools): left to the first sampled block, the worker's start (a few seconds of
        CPU) lands on a node busy with blocks. Nothing needs to wait for the returned future (None without a
        worker); a failure is logged, and the first sampled block starts a new worker."""
        if self._pool is None:
            return None

        def report(done: Future[None]) -> None:
            if not done.cancelled() and done.exception() is not None:
                log.warning("the execution audit's worker did not warm up: %r", done.exception())

        warming = self._pool.submit(_warm_up_worker)
        warming.add_done_callback(report)
        return warming

    def _start_pool(self) -> ProcessPoolExecutor:
        args = (self._database_url, self.ledger.chain, self.ledger.governance_address)
        return start_worker_pool(1, _init_worker, args)

    def audit(self, block: Block, committed: ExecutionResult) -> Sequence[Divergence]:
        """Re-execute ``block`` on py-evm over its committed parent state and compare with ``committed``;
        record and return the divergences (also when py-evm cannot execute it: field "error"). When the
        audit cannot run (UNAUDITABLE: the worker died, the parent state is gone), the block is counted as
        ``failed`` and logged as a warning: no divergence."""
        height = block.header.height
        try:
            reference = self._reexecute(block)
            found = compare_execution(height, committed, reference)
        except XinlianError as exc:
            if exc.code in UNAUDITABLE:
                self.failed += 1
                log.warning(
                    "execution audit of height %d could not run: %s (%s)", height, exc.message, exc.code
                )
                return []
            found = [Divergence(height, "error", "", f"{type(exc).__name__}: {exc}")]
        self.audited += 1
        for divergence in found:
            log.error(
                "execution divergence at height %d in %s: committed %s, py-evm %s (the native engine "
                'disagrees with the reference: run this node with execution_engine = "pyevm" and report it)',
                divergence.height,
                divergence.field,
                divergence.committed,
                divergence.reference,
            )
        self.divergences += found
        return found

    def _reexecute(self, block: Block) -> ExecutionResult:
        if self._pool is None:
            assert self._local is not None
            return self._local.reexecute(block)
        try:
            ok, value = self._pool.submit(_reexecute_in_worker, block.header.height).result()
        except BrokenExecutor as exc:
            # The worker died (killed, out of memory, or it could not open the database): start a new one
            # for the next sampled block.
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._start_pool()
            raise XinlianError("the audit worker stopped", code="audit_worker") from exc
        if ok:
            assert isinstance(value, ExecutionResult)
            return value
        assert isinstance(value, tuple)
        raise rebuild_error(value)
