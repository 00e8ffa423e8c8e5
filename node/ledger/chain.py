"""The chain state machine of one node: admit transactions (``node.ledger.admission``), build, validate
and commit blocks.

Reads top-down as named steps: ``submit_transaction`` (a client's: ``admit_transaction``'s checks, then a
durable record) or ``admit_transaction`` (a peer's: ``check_transaction``) → ``build_block`` (select,
execute, seal-ready header) → ``validate_block`` (``check_header`` → ``check_body``, which applies
``check_transaction`` to each transaction → ``apply_body`` → ``check_roots``) → ``commit_block``
(certificate check, one SQL transaction, in-memory head). The pure rules live in ``node.ledger.rules``.
Consensus decides *which* block; this module decides whether it is valid.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar, Unpack

from eth_abi.abi import decode as abi_decode, encode as abi_encode
from eth_utils.abi import function_signature_to_4byte_selector
from trie.exceptions import MissingTrieNode

from node.config import PROTOCOL_VERSION, ChainConfig
from node.execution import AccountProof, BlockContext, ExecutionEngine, ExecutionResult
from node.ledger.admission import Admission
from node.ledger.history import HISTORY_FRONTIER_KEY, ChainHistory
from node.ledger.mempool import Mempool, MempoolLimits
from node.ledger.rules import (
    check_block_bytes,
    check_block_limits,
    check_header,
    check_roots,
    check_transaction_fields,
    check_transaction_size,
    compute_block_context,
    is_expired,
)
from node.ledger.snapshot import (
    VALIDATORS_AT_KEY as _VALIDATORS_AT,
    read_snapshot_deciding,
    read_validators_in_force,
)
from node.ledger.types import (
    ExecutedBlock,
    Head,
    SignatureChecker,
    ViewExecutor,
)
from node.ledger.upgrades import execute_block_body, read_validators
from node.storage import LogCursor, StateNodeStore, Store, StoredLog, StoredReceipt, StoredTransaction
from node.storage.group_commit import GroupCommit
from node.storage.logs import LogFilter
from node.storage.records import LotCode
from sdk.domains.calendar import CalendarOutlook, day_of_timestamp
from sdk.errors import (
    InvalidBlock,
    InvalidSignatureError,
    InvalidTransaction,
    StorageError,
    XinlianError,
)
from sdk.proofs.certificate import verify_certificate
from sdk.system import CALENDAR_ADDRESS
from sdk.types import (
    Block,
    BlockHeader,
    CommitCertificate,
    Receipt,
    Transaction,
    compute_receipt_root,
    compute_tx_root,
    compute_validators_hash,
)

log = logging.getLogger("xinlian.ledger")

T = TypeVar("T")

GOVERNANCE_ADDRESS_NAME = "Governance"
_IS_ACTIVE = function_signature_to_4byte_selector("is_active_account(address)")
_ORGANISATION_OF = function_signature_to_4byte_selector("organisation_of(address)")
_COVERED_THROUGH = function_signature_to_4byte_selector("covered_through()")
_VIEW_GAS = 1_000_000
_EXECUTED_CACHE = 64


def entries_at_root(cache: dict[tuple[bytes, bytes], T], root: bytes) -> dict[tuple[bytes, bytes], T]:
    """The entries of a per-root answer cache keyed ``(root, …)`` that belong to ``root``.

    API and gossip threads fill these caches without the ledger lock, so the commit that prunes them must not
    iterate a dict they may grow. ``dict.copy`` copies it without running any Python code (no per-item
    objects are made, so no garbage collection and no thread switch can happen mid-copy), and the filter
    runs on the copy. A Python loop over ``cache.items()`` raised "dictionary changed size during iteration"
    and stopped the consensus driver; ``list(cache.items())`` still did under load (it makes a tuple per
    item, and a collection it triggers can switch threads). An answer added meanwhile for the old root is
    dropped, which only costs one more lookup.
    """
    snapshot = cache.copy()
    return {key: value for key, value in snapshot.items() if key[0] == root}


class Ledger(Admission):
    """One node's view of the chain. Thread-safe: API threads admit, the consensus thread builds/commits.

    Admission (the mempool's front door) is written in ``node.ledger.admission``; the rest here."""

    def __init__(
        self,
        chain: ChainConfig,
        store: Store,
        state_db: StateNodeStore,
        engine: ExecutionEngine,
        governance_address: bytes,
        *,
        mempool_limits: MempoolLimits | None = None,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        self.chain = chain
        self.store = store
        self.state_db = state_db
        self.engine = engine
        self.governance_address = governance_address
        self.mempool = Mempool(mempool_limits)
        # Clients' accepted transactions, recorded in the store before the API answers 202.
        self._durable: GroupCommit[tuple[bytes, bytes]] = GroupCommit(store.add_pending)
        self._clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self._lock = threading.RLock()
        self._committed = threading.Condition(self._lock)
        self._history = ChainHistory()
        self._executed: OrderedDict[bytes, ExecutedBlock] = OrderedDict()
        self._head_block: Block | None = None  # the last block this ledger committed
        # tx hash -> the signature this node verified for it. The hash covers the signing preimage, not the
        # signature, so a cached verdict holds only for that exact signature (a proposer could swap it).
        self._verified_txs: dict[bytes, bytes] = {}
        self._activity: dict[tuple[bytes, bytes], bool] = {}
        self._organisations: dict[tuple[bytes, bytes], str] = {}
        self._calendar: tuple[bytes, CalendarOutlook | None] | None = None  # (head block hash, outlook)
        self._head: Head | None = None
        self.on_commit: list[Callable[[Block, CommitCertificate, ExecutionResult], None]] = []
        # Called with (tx_hash, raw) after a transaction enters the mempool (the runtime gossips it).
        self.on_admit: list[Callable[[bytes, bytes], None]] = []
        # Where API reads (``call``/``view``) run: worker processes when the node serves them (see
        # node.api.views), so heavy reads never hold this process's GIL; in process otherwise.
        self.view_executor: ViewExecutor | None = None
        # Where a batch's SM2 signatures are checked: a worker process when the node has one (the same
        # pool), so that verifying them does not hold this process's GIL; in process otherwise.
        self.signature_checker: SignatureChecker | None = None

    # --- start-up ------------------------------------------------------------------------------------
    def load(self, genesis_block: Block, genesis_nodes: dict[bytes, bytes] | None = None) -> None:
        """Resume from storage, or commit ``genesis_block`` when the store is empty.

        ``genesis_nodes`` are the state trie nodes that produced the genesis state root (the node builds
        them deterministically from the genesis file). Raises StorageError/InvalidBlock on a corrupt store or
        a store that belongs to another chain.
        """
        with self._lock:
            stored = self.store.head()
            if stored is None:
                self._commit_genesis(genesis_block)
            else:
                stored_genesis = self.store.get_block(0)
                if (
                    stored_genesis is None
                    or stored_genesis.header.block_hash != genesis_block.header.block_hash
                ):
                    raise InvalidBlock(
                        "the database holds another chain than this genesis file",
                        code="genesis_mismatch",
                        expected=genesis_block.header.block_hash.hex(),
                    )
            self._reload_head()
            if stored is not None:
                self.check_head()

    def check_head(self) -> None:
        """The start-up check of the stored head (``Store.verify_head``) plus its roots: the certificate
        must be sealed by the set the header names, the transactions and receipts must give the header's
        tx and receipt roots. Cheap: one block. Raises StorageError (code ``corrupt_head``)."""
        head = self.head
        header = head.header
        deciding = self._deciding_set(header)

        def check_certificate(checked: BlockHeader, certificate: CommitCertificate) -> None:
            verify_certificate(certificate, checked, deciding)

        self.store.verify_head(check_certificate)
        block = self.store.get_block(header.height)
        receipts = self.store.get_block_receipts(header.height)
        if block is None or receipts is None:
            raise StorageError("the head block is missing", code="corrupt_head", height=header.height)
        if compute_tx_root(block.transactions) != header.tx_root:
            raise StorageError(
                "the stored head's transactions do not give its tx root",
                code="corrupt_head",
                height=header.height,
            )
        if compute_receipt_root(receipts) != header.receipt_root:
            raise StorageError(
                "the stored head's receipts do not give its receipt root",
                code="corrupt_head",
                height=header.height,
            )

    def _deciding_set(self, header: BlockHeader) -> tuple[bytes, ...]:
        """The validator set that decided the head: the set in force after it, unless the head changed it
        (then the governance set at its parent's state, which the header's validators_hash must name)."""
        head = self.head
        if header.height == 0 or compute_validators_hash(head.validators) == header.validators_hash:
            return head.validators
        parent = self.store.get_header(header.height - 1)
        candidate: tuple[bytes, ...] = ()
        if parent is not None:
            with contextlib.suppress(XinlianError):
                candidate = self.governance_validators(parent.state_root)
        else:  # a node that joined by snapshot at this block: the set its manifest proved
            candidate = read_snapshot_deciding(self.store)
        if not candidate or compute_validators_hash(candidate) != header.validators_hash:
            raise StorageError(
                "the validator set the stored head names cannot be established",
                code="corrupt_head",
                height=header.height,
            )
        return candidate

    def _commit_genesis(self, genesis: Block) -> None:
        empty_cert = CommitCertificate(height=0, round=0, block_hash=genesis.header.block_hash, seals=())
        self.store.commit_block(
            genesis,
            empty_cert,
            (),
            state_nodes=self.state_db.pending(),
            metadata={HISTORY_FRONTIER_KEY: self._history.frontier_bytes()},
        )
        self.state_db.clear_pending()

    def _reload_head(self) -> None:
        stored = self.store.head()
        if stored is None:
            raise InvalidBlock("store is empty after genesis", code="no_genesis")
        height, block_hash = stored
        validators = read_validators_in_force(self.store)
        header = self.store.get_header(height)
        if header is None:
            raise InvalidBlock(f"head block {height} is missing", code="missing_block")
        # The history root of the next header, from the frontier stored with the head (not every hash).
        self._history.stop()
        self._history = ChainHistory.resume(
            self.store.get_metadata(HISTORY_FRONTIER_KEY), header, self.store.get_block_hashes
        )
        self._head = Head(header=header, block_hash=block_hash, validators=validators)

    # --- queries -------------------------------------------------------------------------------------
    @property
    def head(self) -> Head:
        head = self._head
        if head is None:
            raise InvalidBlock("the ledger has not been loaded", code="not_loaded")
        return head

    @property
    def height(self) -> int:
        return self.head.header.height

    def history_root(self) -> bytes:
        """SM3 Merkle root over the hashes of every committed block (0..head)."""
        return self._history.root()

    def history_proof(self, height: int, size: int) -> tuple[bytes, ...]:
        """Return the inclusion proof of block ``height``'s hash in the history root over blocks
        ``0..size-1`` (the ``history_root`` of header ``size``), in O(log n) once the history tree is
        filled (after a restart: ``fill_history``, or here at the first proof asked).

        Raises MerkleProofError unless ``height < size <= head + 1``; StorageError when the stored block
        hashes cannot fill the tree.
        """
        return self._history.inclusion_proof(height, size, self.store.get_block_hashes)

    def fill_history(self) -> None:
        """Fill the history tree that inclusion proofs need from the stored block hashes (a node runs it
        in the background after start-up; ``stop_history_fill`` ends it). Raises StorageError."""
        self._history.fill(self.store.get_block_hashes)

    def stop_history_fill(self) -> None:
        """End a ``fill_history`` in progress."""
        self._history.stop()

    def call(
        self, to: bytes, data: bytes, *, sender: bytes = b"\x00" * 20, gas_limit: int = _VIEW_GAS
    ) -> bytes:
        """Read-only contract call at the head state, seeing the head's height and timestamp."""
        header = self.head.header
        ctx = BlockContext(
            height=header.height,
            timestamp_ms=header.timestamp_ms,
            gas_limit=self.chain.block_gas_limit,
            proposer=b"\x00" * 20,
        )
        return self.view(header.state_root, sender, to, data, gas_limit, ctx)

    def view(
        self, state_root: bytes, sender: bytes, to: bytes, data: bytes, gas_limit: int, ctx: BlockContext
    ) -> bytes:
        """Read-only call at a committed ``state_root`` for a reader (API, RPC): in the view workers when
        the node has them, else in process. Raises ExecutionError (revert, out of gas …)."""
        executor = self.view_executor
        if executor is not None:
            return executor(state_root, sender, to, data, gas_limit, ctx)
        return self.engine.call(state_root, sender, to, data, gas_limit, ctx=ctx)

    def is_active_account(self, address: bytes, state_root: bytes | None = None) -> bool:
        """Whether Governance lists ``address`` as an active account of an active organisation.

        Answers are cached per state root (state is immutable at a root), so a busy sender costs one EVM
        call per block, not one per transaction.
        """
        root = state_root if state_root is not None else self.head.header.state_root
        return bool(self._account_lookup(self._activity, root, address, _IS_ACTIVE, "bool"))

    def organisation_of(self, address: bytes) -> str:
        """The USCC of the organisation Governance lists for ``address`` at the head ("" for none).

        Cached per state root like ``is_active_account``: a member asking many times in one block costs one
        EVM call.
        """
        root = self.head.header.state_root
        return str(self._account_lookup(self._organisations, root, address, _ORGANISATION_OF, "string"))

    def _account_lookup(
        self, cache: dict[tuple[bytes, bytes], T], root: bytes, address: bytes, selector: bytes, abi_type: str
    ) -> T:
        """Governance's one-``address`` view ``selector`` at ``root``, decoded as ``abi_type``; answers are
        kept in ``cache`` by (root, address) (state at a root never changes), emptied past 100,000 entries."""
        key = (root, address)
        cached = cache.get(key)
        if cached is not None:
            return cached
        data = selector + abi_encode(["address"], [address])
        out = self.engine.call(root, b"\x00" * 20, self.governance_address, data, _VIEW_GAS)
        value: T = abi_decode([abi_type], out)[0]
        if len(cache) > 100_000:
            cache.clear()
        cache[key] = value
        return value

    def calendar_outlook(self) -> CalendarOutlook | None:
        """How far the working-day calendar's entered notices reach, seen from the head block's China-time
        day; None when the chain has no Calendar contract. One EVM read per head."""
        head = self.head
        header = head.header
        cached = self._calendar
        if cached is not None and cached[0] == head.block_hash:  # not the state root: empty blocks keep it
            return cached[1]
        try:
            out = self.call(CALENDAR_ADDRESS, _COVERED_THROUGH)
        except XinlianError:  # a Calendar that reverts reads as none
            out = b""
        outlook = (
            CalendarOutlook(
                today=day_of_timestamp(header.timestamp_ms // 1000),
                covered_through=int(abi_decode(["uint256"], out)[0]),
            )
            if len(out) == 32
            else None
        )
        self._calendar = (head.block_hash, outlook)
        return outlook

    def governance_validators(self, state_root: bytes) -> tuple[bytes, ...]:
        return read_validators(self.engine, state_root, self.governance_address)

    # --- committed records and pending transactions: the queries readers (API, RPC, peers) need ------
    def get_header(self, height: int) -> BlockHeader | None:
        return self.store.get_header(height)

    def get_block(self, height: int) -> Block | None:
        head_block = self._head_block  # what pollers of the head and every event stream read after a commit
        if head_block is not None and head_block.header.height == height:
            return head_block
        return self.store.get_block(height)

    def get_block_by_hash(self, block_hash: bytes) -> Block | None:
        return self.store.get_block_by_hash(block_hash)

    def get_height_by_hash(self, block_hash: bytes) -> int | None:
        return self.store.get_height_by_hash(block_hash)

    def get_certificate(self, height: int) -> CommitCertificate | None:
        return self.store.get_certificate(height)

    def get_transaction(self, tx_hash: bytes) -> StoredTransaction | None:
        return self.store.get_transaction(tx_hash)

    def get_receipt(self, tx_hash: bytes) -> StoredReceipt | None:
        return self.store.get_receipt(tx_hash)

    def get_block_receipts(self, height: int) -> list[Receipt] | None:
        return self.store.get_block_receipts(height)

    def query_logs(self, **log_filter: Unpack[LogFilter]) -> tuple[list[StoredLog], LogCursor | None]:
        """Committed logs matching an eth_getLogs-style filter, one page at a time (see
        ``Store.query_logs``)."""
        return self.store.query_logs(**log_filter)

    def get_lot_codes(self, code_id: bytes) -> list[LotCode]:
        """The committed lot parts that hold a code, in part order (see ``Store.get_lot_codes``)."""
        return self.store.get_lot_codes(code_id)

    def state_root_at(self, header: BlockHeader) -> bytes:
        """The state root of committed ``header``, for a read of that height's state.

        Raises: StorageError (code ``state_pruned``) when this node no longer keeps that height's state
        (``NodeConfig.state_history_blocks``; an archive node keeps every height).
        """
        self.store.require_state(header.height)
        return header.state_root

    def get_code(self, state_root: bytes, address: bytes) -> bytes:
        """The code at ``address`` in a committed state (b"" for none)."""
        with self._pruned_state_reads():
            return self.engine.get_code(state_root, address)

    def get_proof(self, state_root: bytes, address: bytes, slots: Sequence[int]) -> AccountProof:
        """The account and storage proof of ``address`` and ``slots`` against a committed state root."""
        with self._pruned_state_reads():
            return self.engine.get_proof(state_root, address, slots)

    @contextlib.contextmanager
    def _pruned_state_reads(self) -> Iterator[None]:
        # A read that passed state_root_at may still meet a node the state collector deleted meanwhile
        # (its height fell out of the kept history during the read): say so, as for an older height.
        try:
            yield
        except MissingTrieNode as exc:
            floor = self.store.state_pruned_below()
            if floor == 0:
                raise
            raise StorageError(
                "the state read is pruned: its height left the kept history during the read",
                code="state_pruned",
                oldest_state_height=floor,
            ) from exc

    def check_transaction(
        self,
        tx: Transaction,
        size: int,
        head: Head,
        *,
        before_signature: Callable[[], None] | None = None,
        signature_ok: bool | None = None,
    ) -> None:
        """The transaction rules, cheapest first, for admission and for every transaction of a proposed
        block: size, the fields (``check_transaction_fields``), ``before_signature`` (admission's pool
        checks), the SM2 signature (once per signature this node verified; ``signature_ok`` is the verdict
        of a worker that checked it already), an active sender at the head.

        Raises InvalidTransaction: oversize, wrong_chain, gas_limit, gas_too_low, expired, expiry_too_far,
        bad_signature, unknown_sender (and what ``before_signature`` raises).
        """
        check_transaction_size(self.chain, size)
        check_transaction_fields(self.chain, tx, head.header.height)
        if before_signature is not None:
            before_signature()
        if signature_ok is False:
            raise InvalidTransaction("SM2 signature does not verify", code="bad_signature")
        if signature_ok is None and self._verified_txs.get(tx.tx_hash) != tx.signature:
            try:
                tx.verify_signature()
            except InvalidSignatureError as exc:
                raise InvalidTransaction("SM2 signature does not verify", code="bad_signature") from exc
        sender = tx.sender
        if not self.is_active_account(sender, head.header.state_root):
            raise InvalidTransaction(
                "sender is not an active account of a registered organisation",
                code="unknown_sender",
                sender="0x" + sender.hex(),
            )

    # --- block building ------------------------------------------------------------------------------
    def build_block(
        self,
        *,
        round: int = 0,
        proposer_index: int = 0,
        now_ms: int | None = None,
        max_txs: int | None = None,
    ) -> ExecutedBlock:
        """Select pending transactions, execute them on the head state and return a complete block.

        ``max_txs`` lowers the chain's per-block transaction limit for this block (the consensus runtime
        bounds blocks so that re-executing one fits well inside a round).
        """
        with self._lock:
            head = self.head
            now = self._clock_ms() if now_ms is None else now_ms
            timestamp_ms = max(now, head.header.timestamp_ms + self.chain.block_period_ms)
            height = head.header.height + 1
            chosen: list[Transaction] = []
            stale: list[bytes] = []
            limit = (
                self.chain.max_block_txs
                if max_txs is None
                else max(1, min(max_txs, self.chain.max_block_txs))
            )
            candidates = self.mempool.select(limit, self.chain.block_gas_limit, self.chain.max_block_bytes)
            committed = self.store.has_transactions([h for h, _ in candidates]) if candidates else set()
            for tx_hash, tx in candidates:
                if (
                    tx_hash in committed
                    or is_expired(tx, head.header.height)
                    or not self.is_active_account(tx.sender, head.header.state_root)
                ):
                    stale.append(tx_hash)
                else:
                    chosen.append(tx)
            if stale:
                self.mempool.remove(stale)
                for tx_hash in stale:
                    self._verified_txs.pop(tx_hash, None)
                self._forget_records(stale)
            return self._execute(head, height, timestamp_ms, round, proposer_index, tuple(chosen))

    def _execute(
        self,
        head: Head,
        height: int,
        timestamp_ms: int,
        round: int,
        proposer_index: int,
        txs: tuple[Transaction, ...],
    ) -> ExecutedBlock:
        ctx = compute_block_context(self.chain, height, timestamp_ms, head.validators, proposer_index)
        # The overlay may already hold other proposals of this height: record what this one touches, so
        # that a commit stores its nodes only (commit_block).
        with self.state_db.recording() as touched:
            result = execute_block_body(
                self.engine, self.store, self.governance_address, head.header.state_root, ctx, txs
            )
            new_set = self.governance_validators(result.state_root)
        state_keys = frozenset(touched)
        validators_hash = compute_validators_hash(head.validators)
        next_validators: tuple[bytes, ...] = ()
        next_hash = validators_hash
        if new_set and new_set != head.validators:
            next_validators = new_set
            next_hash = compute_validators_hash(new_set)
        header = BlockHeader(
            version=PROTOCOL_VERSION,
            chain_id=self.chain.chain_id,
            height=height,
            parent_hash=head.block_hash,
            timestamp_ms=timestamp_ms,
            round=round,
            proposer_index=proposer_index,
            tx_root=compute_tx_root(txs),
            receipt_root=compute_receipt_root(result.receipts),
            state_root=result.state_root,
            history_root=self._history.root(),
            validators_hash=validators_hash,
            next_validators_hash=next_hash,
            gas_used=result.gas_used,
        )
        executed = ExecutedBlock(
            Block(header=header, transactions=txs, next_validators=next_validators), result, state_keys
        )
        self._remember(executed)
        return executed

    def _remember(self, executed: ExecutedBlock) -> None:
        self._executed[executed.block_hash] = executed
        while len(self._executed) > _EXECUTED_CACHE:
            self._executed.popitem(last=False)

    # --- validation ----------------------------------------------------------------------------------
    def validate_block(self, block: Block, *, now_ms: int | None = None) -> ExecutedBlock:
        """Check a proposed block against the head by re-executing it; returns it with its result.

        Raises InvalidBlock naming the first mismatch. Does not change the committed chain.
        """
        with self._lock:
            cached = self._executed.get(block.header.block_hash)
            if cached is not None and cached.block == block:
                return cached
            head = self.head
            now = self._clock_ms() if now_ms is None else now_ms
            check_header(self.chain, block.header, head.header, head.validators, now)
            self.check_body(block, head)
            executed = self.apply_body(block, head)
            check_roots(block, executed.block)
            return executed

    def check_body(self, block: Block, head: Head) -> None:
        """Check every transaction of ``block`` (``check_transaction``; none repeated or already
        committed) and the block's count, gas and byte limits. Raises InvalidBlock."""
        hashes = [tx.tx_hash for tx in block.transactions]
        already = self.store.has_transactions(hashes) if hashes else set()
        seen: set[bytes] = set()
        gas = 0
        size = 0
        for tx, tx_hash in zip(block.transactions, hashes, strict=True):
            if tx_hash in seen or tx_hash in already:
                raise InvalidBlock("block repeats a transaction", code="duplicate_tx", tx_hash=tx_hash.hex())
            seen.add(tx_hash)
            tx_size = len(tx.encode())
            size += tx_size
            check_block_bytes(self.chain, size)
            try:
                self.check_transaction(tx, tx_size, head)
            except InvalidTransaction as exc:
                raise InvalidBlock(
                    f"block carries an invalid transaction: {exc.message}",
                    code="bad_tx",
                    tx_hash=tx_hash.hex(),
                    reason=exc.code,
                ) from exc
            gas += tx.gas_limit
        check_block_limits(self.chain, len(block.transactions), gas)

    def apply_body(self, block: Block, head: Head) -> ExecutedBlock:
        """Re-execute ``block``'s transactions on the head state as its header places them (height,
        time, round, proposer); returns the block this node would have built from them."""
        h = block.header
        return self._execute(head, h.height, h.timestamp_ms, h.round, h.proposer_index, block.transactions)

    # --- commit --------------------------------------------------------------------------------------
    def commit_block(self, block: Block, certificate: CommitCertificate) -> ExecutionResult:
        """Persist a block with its certificate (one SQL transaction) and advance the head.

        Raises InvalidBlock when the certificate does not prove the block, or the block is invalid.
        """
        with self._lock:
            head = self.head
            try:
                verify_certificate(certificate, block.header, head.validators)
            except XinlianError as exc:
                raise InvalidBlock(
                    f"commit certificate refused: {exc.message}", code="bad_certificate"
                ) from exc
            executed = self._executed.get(block.header.block_hash)
            if executed is None or executed.block != block:
                executed = self.validate_block(block, now_ms=block.header.timestamp_ms)
            # The frontier below this block: a restart checks it against this header's history root.
            metadata = {HISTORY_FRONTIER_KEY: self._history.frontier_bytes()}
            if block.next_validators:
                metadata[_VALIDATORS_AT] = block.header.height.to_bytes(8, "big")
            self.store.commit_block(
                block,
                certificate,
                executed.result.receipts,
                state_nodes=self.state_db.pending(executed.state_keys),
                metadata=metadata,
            )
            # The committed block's nodes are stored (and cached); whatever else the overlay holds belongs
            # to proposals of this height that were abandoned: dropped, never stored.
            self.state_db.clear_pending(executed.state_keys)
            self.state_db.discard_pending()
            self._history.append(block.header.block_hash)
            validators = tuple(block.next_validators) if block.next_validators else head.validators
            self._head = Head(header=block.header, block_hash=block.header.block_hash, validators=validators)
            self._head_block = block
            hashes = [tx.tx_hash for tx in block.transactions]
            self.mempool.remove(hashes)
            for tx_hash in hashes:
                self._verified_txs.pop(tx_hash, None)
            self._executed.clear()
            self._activity = entries_at_root(self._activity, block.header.state_root)
            self._organisations = entries_at_root(self._organisations, block.header.state_root)
            expired = self.mempool.drop_expired(block.header.height)
            for tx_hash in expired:
                self._verified_txs.pop(tx_hash, None)
            self._committed.notify_all()
        # Records go after their pool entries: ``_record`` relies on that order.
        self._forget_records(hashes + expired)
        for callback in self.on_commit:
            callback(block, certificate, executed.result)
        return executed.result

    def wait_for_height(self, height: int, timeout_s: float) -> bool:
        """Block until the head reaches ``height`` or the timeout passes; returns whether it did."""
        deadline = time.monotonic() + timeout_s
        with self._committed:
            while self.head.header.height < height:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._committed.wait(remaining)
            return True
