"""Wires one node together: storage, execution, ledger, the QBFT driver, the peer service and block sync."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import os
import threading
from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from node.api.limits import ApiLimits
from node.config import ChainConfig, ConfigError, NodeConfig
from node.consensus.adapter import LedgerBlockSource, compute_consensus_config, get_chain_head
from node.consensus.core import (
    Action,
    CommitBlock,
    QbftCore,
    ScheduleTimer,
)
from node.consensus.liveness import ConsensusLiveness
from node.consensus.messages import (
    SignatureVerifier,
)
from node.consensus.signing import CachingVerifier, LockedVerifier, Sm2Signer, Sm2Verifier
from node.consensus.signing_guard import GuardedWal, SigningGuard
from node.consensus.sql_wal import SqlWal
from node.consensus.wal import ConsensusWal
from node.driver import ConsensusDriver, wall_clock_ms
from node.execution import ExecutionEngine, NativeExecutionEngine, evmone
from node.genesis import GenesisFile, build_genesis
from node.ledger.audit import ExecutionAuditor
from node.ledger.backfill import history_floor
from node.ledger.chain import Ledger
from node.ledger.mempool import MempoolLimits
from node.ledger.snapshot import install_snapshot
from node.ledger.types import ExecutedBlock
from node.p2p.backfill import HistoryBackfill
from node.p2p.join import Joined, JoinHandler, join_by_snapshot
from node.p2p.peers import P2PLimits, PeerHandler
from node.p2p.service import PeerService
from node.p2p.tls import prepare_p2p_tls
from node.p2p.wire import P2PError
from node.storage import StateNodeStore, Store
from node.storage.pruning import StateCollector
from sdk.crypto import PrivateKey
from sdk.errors import ConsensusError, ExecutionError, XinlianError
from sdk.exit_codes import ExitCode
from sdk.proofs.trust import Genesis
from sdk.types import Block

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

log = logging.getLogger("xinlian.node")

#: Exit status of a node process ended by an internal failure (EX_SOFTWARE), for its supervisor to see: the
#: CLI's INTERNAL status, so the one table (sdk/exit_codes.py, docs/cli.md) lists it.
FATAL_EXIT_CODE: int = int(ExitCode.INTERNAL)
#: How often the node checks that its consensus, admission and p2p threads are still alive.
WATCHDOG_INTERVAL_S: float = 1.0


# --- single-validator production through the core --------------------------------------------------------
def produce_block_with_core(
    ledger: Ledger,
    signer: Sm2Signer,
    wal: ConsensusWal,
    verifier: SignatureVerifier,
    *,
    now_ms: int | None = None,
) -> ExecutedBlock:
    """Decide and commit one block of a one-validator chain by running the QBFT core to completion.

    Takes the ledger, the validator's signer, its WAL and a verifier; ``now_ms`` defaults to the wall
    clock (the block timer fires at once if it is not due yet). Returns the committed block with its
    execution result. Raises ConsensusError when the chain has more than one validator or this key is not
    it, and InvalidBlock/StorageError from the commit.
    """
    now = wall_clock_ms() if now_ms is None else now_ms
    core: QbftCore[Block] = QbftCore(
        config=compute_consensus_config(ledger.chain),
        app=LedgerBlockSource(ledger),
        signer=signer,
        verifier=verifier,
        wal=wal,
        head=get_chain_head(ledger),
    )
    if core.my_index is None or core.quorum != 1 or len(core.validators) != 1:
        raise ConsensusError(
            "producing a block alone needs a one-validator chain with this node's key",
            validators=len(core.validators),
        )
    pending: list[Action[Block]] = core.start(now)
    for _ in range(16):
        for action in pending:
            if isinstance(action, CommitBlock):
                result = ledger.commit_block(action.block, action.certificate)
                return ExecutedBlock(action.block, result)
        timers = sorted((a for a in pending if isinstance(a, ScheduleTimer)), key=lambda a: a.at_ms)
        if not timers:
            break
        due = timers[0]
        now = max(now, due.at_ms)
        pending = core.on_timeout(due.timer, now)
    raise ConsensusError("the single validator did not decide a block", rejected=dict(core.metrics.rejected))


class SoloProducer:
    """Produce blocks of a one-validator chain on demand (tests and benchmarks), through the QBFT core.

    There is no separate solo mode: ``produce_once`` runs the same core as a consortium with quorum 1.
    """

    def __init__(self, ledger: Ledger, key: PrivateKey, *, wal: ConsensusWal | None = None) -> None:
        self.ledger = ledger
        self.signer = Sm2Signer(key)
        self.wal: ConsensusWal = wal if wal is not None else SqlWal(ledger.store)
        self.verifier = CachingVerifier(Sm2Verifier())
        if self.signer.public_key not in ledger.head.validators:
            raise XinlianError("this node's key is not in the validator set", code="not_a_validator")

    def produce_once(self) -> ExecutedBlock:
        """Decide and commit one block now. Raises ConsensusError for a multi-validator chain."""
        return produce_block_with_core(self.ledger, self.signer, self.wal, self.verifier)


def compute_p2p_limits(config: NodeConfig) -> P2PLimits:
    """Return the p2p budgets: the defaults with the node config's ``p2p_limits`` overrides.

    Raises ConfigError naming an unknown or non-positive budget.
    """
    known = {f.name for f in fields(P2PLimits)}
    unknown = sorted(set(config.p2p_limits) - known)
    if unknown:
        raise ConfigError(f"node config p2p_limits has unknown keys {unknown}; known: {sorted(known)}")
    try:
        return P2PLimits(**config.p2p_limits)  # type: ignore[arg-type]
    except (P2PError, TypeError) as exc:
        raise ConfigError(f"node config p2p_limits: {exc}") from exc


def compute_api_limits(config: NodeConfig) -> ApiLimits:
    """Return the API limits: the defaults with the node config's ``api_limits`` overrides.

    Every limit is a finite number above 0, whole where the default is; ``auth_failure_burst`` may be 0
    (no failed-signature limit, for a node behind a proxy that limits them).
    Raises ConfigError naming an unknown or out-of-range limit.
    """
    defaults = ApiLimits()
    known = {f.name: type(getattr(defaults, f.name)) for f in fields(ApiLimits)}
    unknown = sorted(set(config.api_limits) - set(known))
    if unknown:
        raise ConfigError(f"node config api_limits has unknown keys {unknown}; known: {sorted(known)}")
    values: dict[str, Any] = {}
    for name, value in config.api_limits.items():
        may_be_zero = name == "auth_failure_burst"
        finite = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
        if not finite or value < 0 or (value == 0 and not may_be_zero):
            floor = ">= 0" if may_be_zero else "> 0"
            raise ConfigError(f"node config api_limits.{name} must be a finite number {floor}, not {value!r}")
        if known[name] is int and value != int(value):
            raise ConfigError(f"node config api_limits.{name} must be a whole number, not {value!r}")
        values[name] = known[name](value)
    return replace(defaults, **values)


def make_engine(config: NodeConfig, state_db: StateNodeStore, chain_id: int) -> ExecutionEngine:
    """The execution engine ``config.execution_engine`` names, over the node's state store.

    All engines give identical receipts and state roots (docs/execution.md); the native ones are faster.
    "auto" runs evmone when its library loads, else revm, and logs which and why. Raises ExecutionError when
    the named native engine cannot run (an unsupported pyrevm; for "evmone", libxevm not built or refused).
    """
    name = config.execution_engine
    if name == "auto":
        try:
            engine = NativeExecutionEngine(state_db, chain_id, vm="evmone")
        except ExecutionError as exc:
            if exc.code != "native_engine_unavailable":
                raise
            # absent (not built, the wheel): expected; present but refused (a stale build): worth a warning
            level = logging.WARNING if evmone.library_path().is_file() else logging.INFO
            log.log(level, "execution engine: native on revm (evmone is not available: %s)", exc.message)
            return NativeExecutionEngine(state_db, chain_id)
        log.info("execution engine: native on evmone (%s)", evmone.library_path())
        return engine
    if name == "native":
        return NativeExecutionEngine(state_db, chain_id)
    if name == "evmone":
        return NativeExecutionEngine(state_db, chain_id, vm="evmone")
    return ExecutionEngine(state_db, chain_id)


class Node:
    """A running node: opens its database, loads or creates genesis, runs consensus and the peer service.

    ``start()`` runs the QBFT driver (n = 1 included: quorum 1, the same code) and, when the node has
    peers or shares its chain with other validators, the peer service on (p2p_host, p2p_port).
    """

    def __init__(
        self, config: NodeConfig, *, empty_block_interval_ms: int = 5_000, exit_on_fatal: bool = True
    ) -> None:
        self.config = config
        # An internal thread that fails ends the process (FATAL_EXIT_CODE) so that a supervisor restarts
        # it: a node that still answers HTTP but no longer decides blocks would hide the failure.
        self.exit_on_fatal = exit_on_fatal
        self.fatal: str | None = None
        self._stopping = threading.Event()
        self._watchdog: threading.Thread | None = None
        self.empty_block_interval_ms = empty_block_interval_ms
        Path(config.data_dir).mkdir(parents=True, exist_ok=True)
        # Held (shared) for the node's life: `xinlian node restore` takes it exclusively, so it never
        # replaces the database of a node that has it open.
        self._data_lock = lock_data_dir(Path(config.data_dir), exclusive=False)
        try:
            self._open(config)
        except BaseException:
            self._data_lock.close()
            raise

    def _open(self, config: NodeConfig) -> None:
        self.genesis = GenesisFile.load(config.genesis_path)
        self.chain: ChainConfig = self.genesis.chain
        self.store = Store(config.resolved_database_url())
        self.state_db = StateNodeStore(self.store)
        self.engine = make_engine(config, self.state_db, self.chain.chain_id)
        genesis_block = build_genesis(self.engine, self.genesis)
        self.genesis_hash = genesis_block.header.block_hash
        # Only a genesis a quorum of its own validators approved may start a chain (node.ceremony).
        self.genesis.check_signatures(self.genesis_hash)
        self.ledger = Ledger(
            self.chain,
            self.store,
            self.state_db,
            self.engine,
            self.genesis.governance_address,
            mempool_limits=MempoolLimits(
                capacity=config.mempool_capacity,
                max_bytes=config.mempool_max_bytes,
                sender_max_txs=config.mempool_sender_max_txs,
                sender_max_bytes=config.mempool_sender_max_bytes,
            ),
        )
        self.ledger.load(genesis_block)
        self.state_db.clear_pending()
        self._genesis_block = genesis_block
        self.key: PrivateKey | None = None
        if config.validator_key_path:
            self.key = PrivateKey.from_pem(Path(config.validator_key_path).read_bytes(), self._key_password())
        self.consensus_config = compute_consensus_config(self.chain)
        self.verifier = LockedVerifier()
        self.signer = Sm2Signer(self.key) if self.key is not None else None
        # What this validator signed, beside the database (never in a backup): when the database is behind
        # it (a restored backup), nothing is signed at or below that height until the chain has passed it.
        self.signing_guard: SigningGuard | None = None
        self.wal: ConsensusWal = SqlWal(self.store)
        if self.signer is not None:
            self.signing_guard = SigningGuard.in_folder(Path(config.data_dir))
            self.wal = GuardedWal(self.wal, self.signing_guard)
            held = self.signing_guard.arm(self.ledger.height, self.wal.get_records)
            if held >= 0:
                log.warning(
                    "the database (head %d) is behind what this validator signed (height %d): it signs "
                    "nothing through height %d and follows the chain until then",
                    self.ledger.height,
                    held,
                    held,
                )
        self._allowed_peer_keys = frozenset(k.lower().removeprefix("0x") for k in config.allowed_peer_keys)
        self.p2p_limits = compute_p2p_limits(config)
        self.api_limits = compute_api_limits(config)
        self.driver: ConsensusDriver | None = None
        self.p2p: PeerService | None = None
        self._history_filler: threading.Thread | None = None
        self.backfill: HistoryBackfill | None = None  # fetches the blocks below a snapshot height
        self.join_report: Joined | None = None  # what a join by snapshot brought (None: none ran)
        # py-evm re-executes sampled committed blocks to catch a native engine that is wrong.
        self.auditor: ExecutionAuditor | None = None
        if isinstance(self.engine, NativeExecutionEngine) and config.execution_audit_every > 0:
            self.auditor = ExecutionAuditor(
                self.ledger, every=config.execution_audit_every, database_url=config.resolved_database_url()
            )
        # Pruned state: old heights' state nodes are deleted in the background (0: archive, keep all).
        self.state_collector: StateCollector | None = None
        if config.state_history_blocks > 0:
            collector = StateCollector(self.store, config.state_history_blocks)
            self.ledger.on_commit.append(
                lambda block, _cert, _result: collector.on_commit(block.header.height)
            )
            self.state_collector = collector

    def _key_password(self) -> bytes | None:
        """The password of the node's key files, from the environment variable ``key_password_env``."""
        env = self.config.key_password_env
        return (os.environ.get(env, "").encode() or None) if env else None

    @property
    def wants_peers(self) -> bool:
        """Whether this node runs the peer service: it has peers, or other validators exist."""
        return bool(self.config.peers) or len(self.ledger.head.validators) > 1

    def start(self) -> None:
        """Start consensus and (when needed) the peer service, whose TLS certificate is created in the data
        folder at the first start. Raises P2PError if the port is taken or that certificate cannot be
        loaded."""
        identity = self._p2p_identity() if self.wants_peers else None
        if identity is not None and self.config.join == "snapshot" and self.ledger.height == 0:
            self._join_by_snapshot(identity)
        driver = ConsensusDriver(
            ledger=self.ledger,
            config=self.consensus_config,
            signer=self.signer,
            verifier=self.verifier,
            wal=self.wal,
            empty_block_interval_ms=self.empty_block_interval_ms,
            on_fatal=self.fail,
        )
        self.ledger.on_admit.append(driver.on_local_admit)
        if identity is not None:
            self.p2p = self._peer_service(identity, driver)
            driver.network = self.p2p
            self.p2p.start()
        self.driver = driver
        if self.p2p is not None and self.config.history_backfill and history_floor(self.store) > 0:
            self.backfill = HistoryBackfill(
                self.store, self.p2p, busy_peers=lambda: driver.sync_peers, on_done=self._fill_history
            )
            driver.history_sink = self.backfill.offer
            self.backfill.start()
        self._restore_pending()
        if self.auditor is not None:
            self.auditor.start()
        if self.state_collector is not None:
            self.state_collector.start()
        self._history_filler = threading.Thread(
            target=self._fill_history, name="xinlian-history", daemon=True
        )
        self._history_filler.start()
        driver.start()
        self._watchdog = threading.Thread(target=self._watch, name="xinlian-watchdog", daemon=True)
        self._watchdog.start()

    def _p2p_identity(self) -> PrivateKey:
        """The key this node authenticates with to its peers: its validator key, else its node key."""
        if self.key is not None:
            return self.key
        if self.config.node_key_path:
            return PrivateKey.from_pem(Path(self.config.node_key_path).read_bytes(), self._key_password())
        return PrivateKey.generate()  # an observer without a configured key: validators will refuse it

    def _peer_service(self, identity: PrivateKey, handler: PeerHandler) -> PeerService:
        return PeerService(
            chain_id=self.chain.chain_id,
            genesis_hash=self.genesis_hash,
            key=identity,
            tls=prepare_p2p_tls(Path(self.config.data_dir), name=self.config.name),
            host=self.config.p2p_host,
            port=self.config.p2p_port,
            peers=self.config.peers,
            handler=handler,
            is_allowed=self._is_allowed_peer,
            limits=self.p2p_limits,
        )

    def _join_by_snapshot(self, identity: PrivateKey) -> None:
        """Fetch and prove the state at the peers' recent sealed height, store it as the head (node.p2p.join),
        then load the ledger from it. Raises JoinError (nothing is stored then) or StorageError."""
        handler = JoinHandler()
        service = self._peer_service(identity, handler)
        trust = Genesis(self.chain.chain_id, self.genesis_hash, tuple(self._genesis_block.next_validators))
        service.start()
        try:
            joined = join_by_snapshot(
                service,
                handler,
                trust,
                min_peers=self.config.join_min_peers,
                timeout_s=self.config.join_timeout_s,
            )
        finally:
            service.stop()
        install_snapshot(self.store, joined.snapshot, joined.nodes)
        self.ledger.load(self._genesis_block)
        self.join_report = joined
        log.info(
            "joined by snapshot at height %d: %d state nodes from %d peers (%d refused)",
            joined.snapshot.height,
            len(joined.nodes),
            len(joined.peers),
            len(joined.convicted),
        )

    def _fill_history(self) -> None:
        """Fill the history tree for inclusion proofs after start-up (start-up itself reads no old block)."""
        try:
            self.ledger.fill_history()
        except XinlianError as exc:
            if exc.code == "history_not_filled":  # joined by snapshot: filled again once back-filled
                log.info("no history proofs here below the snapshot height until its blocks are back-filled")
            else:
                log.error("the chain history could not be loaded for inclusion proofs: %s", exc)

    def _restore_pending(self) -> None:
        """Reload what clients submitted here before a stop or crash (announced to peers as it is admitted,
        and in the pool before the first block is built)."""
        pool = self.ledger.restore_pending()
        if pool.restored or pool.dropped:
            log.info(
                "restored %d pending transactions accepted before the last stop; dropped %d no longer valid",
                pool.restored,
                pool.dropped,
            )

    @property
    def signing_held_through(self) -> int | None:
        """The height through which this validator withholds its signatures (its database is behind what
        it signed before, e.g. after a restore), while the chain has not passed it; None otherwise."""
        guard = self.signing_guard
        if guard is None or not guard.is_held(self.ledger.height + 1):
            return None
        return guard.hold_through

    def liveness(self) -> ConsensusLiveness:
        """Return the consensus driver's liveness (``down`` before start, after a failure or a stop)."""
        driver = self.driver
        held = self.signing_held_through
        if driver is None:
            return ConsensusLiveness(
                running=False,
                height=self.ledger.height + 1,
                round=0,
                decided_age_s=0.0,
                error=self.fatal,
                signing_held_through=held,
            )
        current = driver.liveness()
        return replace(
            current,
            error=current.error if current.error is not None else self.fatal,
            signing_held_through=held,
        )

    def fail(self, where: str, exc: BaseException) -> None:
        """An internal thread stopped unexpectedly: log one line and end the process (exit status
        FATAL_EXIT_CODE) unless the node was built with ``exit_on_fatal=False``."""
        if self._stopping.is_set() or self.fatal is not None:
            return
        self.fatal = f"{where}: {type(exc).__name__}: {exc}"
        log.critical(
            "fatal: the %s stopped unexpectedly (%s: %s); the node process exits so that its supervisor "
            "restarts it",
            where,
            type(exc).__name__,
            exc,
        )
        if self.exit_on_fatal:
            for handler in logging.getLogger().handlers:
                with contextlib.suppress(Exception):
                    handler.flush()
            os._exit(FATAL_EXIT_CODE)

    def _watch(self) -> None:
        """Turn a thread that ended without raising (or was ended from outside) into a fatal failure."""
        try:
            while not self._stopping.wait(WATCHDOG_INTERVAL_S):
                driver = self.driver
                if driver is not None and not driver.running:
                    self.fail("consensus driver", driver.error or RuntimeError("its thread ended"))
                elif driver is not None and not driver.admitting:
                    self.fail("gossip admission", RuntimeError("its thread ended"))
                elif self.p2p is not None and not self.p2p.running:
                    self.fail("p2p service", RuntimeError("its event loop ended"))
        except Exception as exc:
            self.fail("watchdog", exc)

    def _is_allowed_peer(self, public_key: bytes) -> bool:
        """Only validators of the current set and configured observer keys may hold a p2p link."""
        if public_key in self.ledger.head.validators:
            return True
        return public_key.hex() in self._allowed_peer_keys

    def produce_block_now(self) -> ExecutedBlock:
        """Decide and commit one block of a one-validator chain through the core (node not started).

        Raises ConsensusError when the driver runs, the node has no key, or the chain has other validators.
        """
        if self.driver is not None and self.driver.running:
            raise ConsensusError("the consensus driver is producing blocks already")
        if self.signer is None:
            raise ConsensusError("this node has no validator key")
        return produce_block_with_core(self.ledger, self.signer, self.wal, self.verifier)

    def stop(self) -> None:
        """Stop consensus, the peer service and close the database."""
        self._stopping.set()
        if self._watchdog is not None:
            self._watchdog.join(timeout=5)
        if self.driver is not None:
            self.driver.stop()
            if self.driver.on_local_admit in self.ledger.on_admit:
                self.ledger.on_admit.remove(self.driver.on_local_admit)
        if self.backfill is not None:
            self.backfill.stop()
        if self.p2p is not None:
            self.p2p.stop()
        if self.auditor is not None:
            self.auditor.stop()
        if self.state_collector is not None:
            self.state_collector.stop()
        self.ledger.stop_history_fill()
        if self._history_filler is not None:
            self._history_filler.join(timeout=30)
        self.store.close()
        self._data_lock.close()


# --- the data folder's lock ------------------------------------------------------------------------------
#: The lock file in a node's data folder: shared by a running node, exclusive for `xinlian node restore`.
DATA_LOCK_NAME = "node.lock"


def lock_data_dir(data_dir: Path, *, exclusive: bool) -> BinaryIO:
    """Take the data folder's lock (``flock``; released when the returned file is closed or the process
    ends). Raises BlockingIOError when it is held in the other mode (a node runs, or a restore does)."""
    handle = (data_dir / DATA_LOCK_NAME).open("ab")
    try:
        fcntl.flock(handle.fileno(), (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BaseException:
        handle.close()
        raise
    return handle


# --- metrics ------------------------------------------------------------------------------------------------
class RuntimeCollector:
    """Prometheus collector of a node's consensus, p2p and execution counters (read at scrape time)."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        driver = self.node.driver
        core = driver.core if driver is not None else None
        round_gauge = GaugeMetricFamily("xinlian_consensus_round", "Round of the height being decided")
        round_gauge.add_metric([], core.round if core is not None else 0)
        yield round_gauge
        events = CounterMetricFamily(
            "xinlian_consensus_events", "Consensus driver events by kind", labels=["kind"]
        )
        rejected = CounterMetricFamily(
            "xinlian_consensus_rejected", "Inputs the core refused, by reason", labels=["reason"]
        )
        ignored = CounterMetricFamily(
            "xinlian_consensus_ignored",
            "Valid but useless inputs the core ignored, by reason",
            labels=["reason"],
        )
        if driver is not None:
            for name, value in sorted(driver.stats.counters.copy().items()):
                events.add_metric([name], value)
        if core is not None:
            for reason, value in sorted(core.metrics.rejected.items()):
                rejected.add_metric([reason], value)
            for reason, value in sorted(core.metrics.ignored.items()):
                ignored.add_metric([reason], value)
            events.add_metric(["rounds_changed"], core.metrics.rounds_changed)
            events.add_metric(["refused_to_sign"], core.metrics.refused_to_sign)
        yield events
        held = GaugeMetricFamily(
            "xinlian_signing_held_through",
            "Height through which this validator withholds signatures until its chain passes it (its "
            "database is behind what it signed, e.g. after a restore); -1 when it signs normally",
        )
        through = self.node.signing_held_through
        held.add_metric([], -1 if through is None else through)
        yield held
        yield rejected
        yield ignored
        frontier = GaugeMetricFamily(
            "xinlian_history_frontier_height",
            "Lowest height from which this node holds every block (0: the whole chain; a node that joined "
            "by snapshot back-fills the blocks below it)",
        )
        backfill = self.node.backfill
        frontier.add_metric([], backfill.floor if backfill is not None else history_floor(self.node.store))
        yield frontier
        if backfill is not None:
            backfilled = CounterMetricFamily(
                "xinlian_history_backfill_events", "History back-fill events by kind", labels=["kind"]
            )
            for name, value in sorted(backfill.stats.copy().items()):
                backfilled.add_metric([name], value)
            yield backfilled
        validators = GaugeMetricFamily(
            "xinlian_validators", "Validators in the set in force for the next height"
        )
        validators.add_metric([], len(self.node.ledger.head.validators))
        yield validators
        p2p = self.node.p2p
        peers = GaugeMetricFamily("xinlian_p2p_peers", "Peers with an open authenticated link")
        peers.add_metric([], len(p2p.connected_peers()) if p2p is not None else 0)
        yield peers
        frames = CounterMetricFamily("xinlian_p2p_events", "Peer service events by kind", labels=["kind"])
        if p2p is not None:
            for name, value in sorted(p2p.stats.snapshot().items()):
                frames.add_metric([name], value)
        yield frames
        messages = CounterMetricFamily(
            "xinlian_execution_messages",
            "Messages the native engine executed, by where: native, or why py-evm ran them",
            labels=["where"],
        )
        engine = self.node.engine
        if isinstance(engine, NativeExecutionEngine):
            for where, value in sorted(engine.counts.copy().items()):
                messages.add_metric([str(where)], value)
        yield messages
        auditor = self.node.auditor
        if auditor is not None:
            audited = CounterMetricFamily(
                "xinlian_execution_audited_blocks",
                "Committed blocks re-executed on py-evm by the execution audit, by outcome",
                labels=["outcome"],
            )
            audited.add_metric(["checked"], auditor.audited)
            audited.add_metric(["skipped"], auditor.skipped)
            audited.add_metric(["failed"], auditor.failed)
            yield audited
            diverged = CounterMetricFamily(
                "xinlian_execution_divergences",
                "Audited blocks on which py-evm disagreed with what this node committed (alert on any)",
            )
            diverged.add_metric([], auditor.divergence_count)
            yield diverged
        outlook = self.node.ledger.calendar_outlook()
        if outlook is not None:
            left = GaugeMetricFamily(
                "xinlian_calendar_days_left",
                "Days from the head block's date to the last date whose official holiday notice is on chain "
                "(alert at 60: the next year's notice needs a committee proposal; negative: deadlines are "
                "provisional)",
            )
            left.add_metric([], outlook.days_left)
            yield left


def register_runtime_metrics(node: Node, registry: CollectorRegistry) -> None:
    """Export the node's consensus and p2p counters through ``registry`` (the API's /metrics)."""
    registry.register(RuntimeCollector(node))
