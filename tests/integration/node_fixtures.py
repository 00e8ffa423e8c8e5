"""A real one-validator node (SQLite, the native engine, SM2) served over real HTTP by uvicorn, for API/SDK
tests; and the replay that checks a node's chain on the other engine.

Use from a test module with ``pytest_plugins = ["node_fixtures"]`` (import RunningNode under TYPE_CHECKING).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from eth_abi.abi import encode as abi_encode
from eth_utils.abi import function_signature_to_4byte_selector
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from node.api import create_app
from node.api.limits import ApiLimits
from node.config import NodeConfig
from node.demo_network import init_network
from node.execution import ExecutionEngine, ReferenceExecutionEngine
from node.genesis import build_genesis
from node.ledger.chain import Ledger
from node.runtime import Node, make_engine
from node.storage import StateNodeStore, Store
from sdk.crypto import PrivateKey
from sdk.signer import Signer
from sdk.types import Transaction


@dataclass
class Member:
    """A genesis organisation with its admin account."""

    name: str
    uscc: str
    signer: Signer
    roles: list[str] = field(default_factory=list)


@dataclass
class RunningNode:
    url: str
    node: Node
    members: list[Member]
    data_dir: Path
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def ledger(self) -> Any:
        return self.node.ledger

    @property
    def committee(self) -> Member:
        """The committee member (threshold 1: its proposals execute at once)."""
        return self.members[0]

    def member_with(self, role: str) -> Member:
        return next(m for m in self.members if role in m.roles)

    def produce_block(self) -> None:
        """Commit one block now through the QBFT core, quorum 1 (for nodes started with ``produce=False``)."""
        self.node.produce_block_now()


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def start_node(
    base: Path,
    *,
    produce: bool = True,
    mempool_capacity: int = 50_000,
    chain_overrides: dict[str, int] | None = None,
    max_body_bytes: int = 1024 * 1024,
    database_url: str = "",
    tls: bool = False,
    limits: ApiLimits | None = None,
    committee_size: int = 1,
    execution_engine: str = "",
) -> RunningNode:
    """Create a one-validator network under ``base``, start its node and serve its API on a free port.

    ``execution_engine`` names the node's engine (default: the node's default, "auto");
    ``database_url`` selects the node's database (default: a SQLite file in the node's data folder);
    ``tls`` serves https with the network CA's certificate (``base/tls/ca.pem``); a ``committee_size`` of 2 or
    more gives a committee whose proposals need more than the proposer's vote (threshold: a majority).
    """
    overrides = {"block_period_ms": 50, **(chain_overrides or {})}
    init_network(
        base,
        validators=1,
        chain_id=4242,
        committee_size=committee_size,
        chain_overrides=overrides,
        tls=tls,
    )
    config_path = base / "nodes" / "node-0.json"
    raw = json.loads(config_path.read_text(encoding="utf-8"))
    raw["mempool_capacity"] = mempool_capacity
    raw["database_url"] = database_url
    if execution_engine:
        raw["execution_engine"] = execution_engine
    config_path.write_text(json.dumps(raw), encoding="utf-8")
    node = Node(NodeConfig.load(config_path))
    if produce:
        node.start()
    directory = json.loads((base / "orgs.json").read_text(encoding="utf-8"))
    members = [
        Member(
            name=entry["name"],
            uscc=entry["uscc"],
            signer=Signer(PrivateKey.from_pem((base / entry["key"]).read_bytes())),
            roles=list(entry["roles"]),
        )
        for entry in directory
    ]
    app = create_app(
        node.ledger,
        max_body_bytes=max_body_bytes,
        liveness=node.liveness if produce else None,
        limits=limits,
        statement_key=node.key,
    )
    sock = _free_socket()
    port = sock.getsockname()[1]
    config = node.config
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            lifespan="off",
            timeout_keep_alive=5,
            ssl_certfile=config.api_tls_cert or None,
            ssl_keyfile=config.api_tls_key or None,
            proxy_headers=False,  # as node.cli serves it
        )
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="xinlian-test-api", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API server did not start")
        time.sleep(0.01)
    return RunningNode(
        url=f"{'https' if tls else 'http'}://127.0.0.1:{port}",
        node=node,
        members=members,
        data_dir=base,
        server=server,
        thread=thread,
    )


def stop_node(running: RunningNode) -> None:
    running.server.should_exit = True
    running.thread.join(timeout=10)
    running.node.stop()


def replay_chain(running: RunningNode, engine: str) -> ExecutionEngine:
    """Re-execute every block ``running`` committed on a fresh in-memory ledger whose node runs ``engine``
    ("pyevm": ``ReferenceExecutionEngine``, py-evm writing its tries one key at a time, so the replay also
    checks the batched trie updates the nodes ran).

    ``Ledger.commit_block`` re-executes each block and refuses it when a recomputed root (state, receipts,
    gas) differs from its header; each block's receipts must also equal the ones the node stored. Returns the
    replaying engine (its ``counts`` when native). Raises InvalidBlock or AssertionError at the first block
    the two engines disagree on.
    """
    node = running.node
    store = Store("sqlite://")
    state_db = StateNodeStore(store)
    replayer = (
        ReferenceExecutionEngine(state_db, node.chain.chain_id)
        if engine == "pyevm"
        else make_engine(replace(node.config, execution_engine=engine), state_db, node.chain.chain_id)
    )
    ledger = Ledger(node.chain, store, state_db, replayer, node.genesis.governance_address)
    ledger.load(build_genesis(replayer, node.genesis))
    state_db.clear_pending()
    for height in range(1, running.ledger.height + 1):
        block, certificate = running.ledger.get_block(height), running.ledger.get_certificate(height)
        assert block is not None and certificate is not None
        result = ledger.commit_block(block, certificate)
        assert list(result.receipts) == running.ledger.get_block_receipts(height), f"height {height}"
    return replayer


PG_URL = os.environ.get("XINLIAN_TEST_PG_URL")
NODE_BACKENDS = [pytest.param("sqlite", id="sqlite")]
if PG_URL:
    NODE_BACKENDS.append(pytest.param("postgres", id="postgres", marks=pytest.mark.postgres))


@contextmanager
def database_for(backend: str) -> Iterator[str]:
    """An empty database URL: "" (the node's own SQLite file) or a fresh PostgreSQL schema, dropped after."""
    if backend == "sqlite":
        yield ""
        return
    if PG_URL is None:
        raise RuntimeError("XINLIAN_TEST_PG_URL is not set")
    schema = f"xl_node_{secrets.token_hex(6)}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield (
            make_url(PG_URL)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="module", params=NODE_BACKENDS)
def running_node(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningNode]:
    """A producing one-validator node on real SQLite (and, with XINLIAN_TEST_PG_URL, real PostgreSQL) and
    the native engine, its API on 127.0.0.1 (module-scoped). After the module its whole chain is replayed
    on py-evm, which must agree block by block: every module using it is a differential test of the
    engines on its workload."""
    with database_for(request.param) as url:
        running = start_node(tmp_path_factory.mktemp("node"), database_url=url)
        try:
            yield running
            replay_chain(running, "pyevm")
        finally:
            stop_node(running)


@pytest.fixture
def idle_node(tmp_path: Path) -> Iterator[RunningNode]:
    """A node that produces blocks only when the test calls ``produce_block`` (mempool capacity 2)."""
    running = start_node(tmp_path, produce=False, mempool_capacity=2)
    try:
        yield running
    finally:
        stop_node(running)


DAY_MS = 86_400_000


@pytest.fixture
def day_per_block_node(tmp_path: Path) -> Iterator[RunningNode]:
    """A real node whose block period is one day and which commits a block whenever transactions are
    pending (plus on demand): chain time (block.timestamp) advances one day per block, so ten working days
    pass in about two weeks of blocks. Everything else — SM2, the EVM, SQLite, HTTP — is the real thing."""
    node = start_node(tmp_path, produce=False, chain_overrides={"block_period_ms": DAY_MS})
    stop = threading.Event()

    def produce_when_pending() -> None:
        while not stop.is_set():
            if len(node.ledger.mempool) > 0:
                node.produce_block()
            stop.wait(0.01)

    thread = threading.Thread(target=produce_when_pending, daemon=True)
    thread.start()
    try:
        yield node
    finally:
        stop.set()
        thread.join(timeout=10)
        stop_node(node)


# --- a one-validator network's files and its Node, driven block by block by the test ---------------------
IS_ACTIVE = function_signature_to_4byte_selector("is_active_account(address)")


@pytest.fixture()
def network(tmp_path: Path) -> Path:
    """The files of a one-validator network (chain 77) under ``tmp_path / "net"``."""
    init_network(tmp_path / "net", validators=1, chain_id=77)
    return tmp_path / "net"


@pytest.fixture()
def node(network: Path) -> Iterator[Node]:
    """The network's node, opened but not started: the test commits blocks (``SoloProducer``)."""
    n = Node(NodeConfig.load(network / "nodes" / "node-0.json"))
    yield n
    n.stop()


def member_key(network: Path, index: int = 0) -> PrivateKey:
    """The account key of the network's ``index``-th demo organisation."""
    orgs = json.loads((network / "orgs.json").read_text(encoding="utf-8"))
    return PrivateKey.from_pem((network / orgs[index]["key"]).read_bytes())


def make_tx(node: Node, key: PrivateKey, **overrides: object) -> Transaction:
    """A real SM2 transaction from ``key``: a Governance ``is_active_account`` call (fields overridable)."""
    fields: dict[str, object] = {
        "chain_id": node.chain.chain_id,
        "to": node.genesis.governance_address,
        "data": IS_ACTIVE + abi_encode(["address"], [key.public_key.address]),
        "gas_limit": 200_000,
        "expiry_height": node.ledger.height + 10,
    }
    fields.update(overrides)
    return Transaction.create(key, **fields)  # type: ignore[arg-type]
