"""Fault loop: a 4-validator devnet under load through kill -9, SIGSTOP, restarts and network partitions.

Every p2p link runs through a TCP proxy of this script (one per dialling node and peer), so a partition is
real: the proxies between two groups drop their connections and refuse new ones until healed. A load
thread submits signed transactions to whichever nodes are up and remembers every one a node accepted
(HTTP 202). At the end the network is healed and restarted, and the run checks that

* every node holds the same block hash at every height (agreement),
* every accepted transaction is committed (no accepted write lost),
* how long the nodes took to agree on a new height after the last heal (recovery time).

Long run (the figures quoted in docs/operations.md)::

    python -m scripts.bench.faults --seconds 300
    python -m scripts.bench.faults --seconds 300 --database "$XINLIAN_TEST_PG_URL"

tests/e2e/test_faults.py runs a short schedule of the same faults in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import select
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.devnet import Devnet, DevnetNode, init_devnet
from node.storage import Store
from scripts.bench.grants import (
    GRANT_GAS_LIMIT,
    Network,
    encode_fresh_grant,
    get_free_port,
    grant_target,
    load_accounts,
    load_grantors,
)
from sdk.client import Client
from sdk.errors import XinlianError
from sdk.system import GOVERNANCE_ADDRESS
from sdk.types import Transaction

CHAIN_ID = 4747
VALIDATORS = 4
#: Blocks a load transaction stays valid: far longer than any fault of a run, so none expires unseen (the
#: network's expiry window is raised to allow it).
EXPIRY_BLOCKS = 5_000
EXPIRY_WINDOW = 10_000


# --- links that can be cut ----------------------------------------------------------------------------
class LinkProxy:
    """A TCP forwarder from a local port to one node's p2p port; ``cut`` drops its connections and refuses
    new ones until ``heal`` (one direction of dialling between two nodes)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._cut = False
        self._closed = False
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, name=f"proxy-{self.port}", daemon=True)
        self._thread.start()

    @property
    def is_cut(self) -> bool:
        return self._cut

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            sockets, self._open = self._open, []
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def heal(self) -> None:
        self._cut = False

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._thread.join(2)
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                inbound, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._cut:
                inbound.close()
                continue
            try:
                outbound = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
            except OSError:
                inbound.close()
                continue
            with self._lock:
                self._open += [inbound, outbound]
            threading.Thread(target=self._pump, args=(inbound, outbound), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while not self._cut:
                ready, _, _ = select.select([a, b], [], [], 0.5)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for sock in (a, b):
                with suppress(OSError):
                    sock.close()


# --- the network ----------------------------------------------------------------------------------------
@dataclass
class FaultNet:
    """A devnet whose every p2p link goes through a LinkProxy."""

    devnet: Devnet
    network: Network
    proxies: dict[tuple[int, int], LinkProxy]
    urls: list[str]

    @property
    def nodes(self) -> list[DevnetNode]:
        return self.devnet.nodes

    def partition(self, *groups: Sequence[int]) -> None:
        """Cut every link between two different groups (nodes named in no group are alone); heal the rest."""
        group_of = {n: g for g, members in enumerate(groups) for n in members}
        for (dialer, target), proxy in self.proxies.items():
            apart = group_of.get(dialer, -1 - dialer) != group_of.get(target, -1 - target)
            proxy.cut() if apart else proxy.heal()

    def heal(self) -> None:
        for proxy in self.proxies.values():
            proxy.heal()

    def close(self) -> None:
        self.devnet.stop()
        for proxy in self.proxies.values():
            proxy.close()


def make_fault_net(base: Path, *, database_urls: Sequence[str | None] = ()) -> FaultNet:
    """Write a 4-validator devnet under ``base`` whose peers are each other's proxies; ``database_urls``
    (one per node) puts the nodes on PostgreSQL instead of their own SQLite files (None: that node keeps
    its SQLite file)."""
    api_ports = [get_free_port() for _ in range(VALIDATORS)]
    p2p_ports = [get_free_port() for _ in range(VALIDATORS)]
    paths = init_devnet(
        base,
        validators=VALIDATORS,
        chain_id=CHAIN_ID,
        api_ports=api_ports,
        p2p_ports=p2p_ports,
        committee_size=1,
        log_level="warning",
        chain_overrides={"expiry_window": EXPIRY_WINDOW},
    )
    proxies = {
        (i, j): LinkProxy(p2p_ports[j]) for i in range(VALIDATORS) for j in range(VALIDATORS) if i != j
    }
    for i, path in enumerate(paths):
        raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        raw["peers"] = [f"127.0.0.1:{proxies[(i, j)].port}" for j in range(VALIDATORS) if j != i]
        if database_urls and database_urls[i] is not None:
            raw["database_url"] = database_urls[i]
        path.write_text(json.dumps(raw, indent=2), encoding="utf-8")
    network = Network(base, paths[0], api_ports[0], CHAIN_ID, load_accounts(base), load_grantors(base))
    return FaultNet(Devnet(base), network, proxies, [f"http://127.0.0.1:{p}" for p in api_ports])


# --- load ------------------------------------------------------------------------------------------------
@dataclass
class Load:
    """Submits grants to the nodes that are up, round-robin, at about ``rate`` per second; keeps the hash
    of every transaction a node accepted."""

    net: FaultNet
    rate: float
    accepted: set[bytes] = field(default_factory=set)
    refused: int = 0
    unreachable: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    paused: set[int] = field(default_factory=set)  # nodes under SIGSTOP: a request would only time out

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fault-load", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _run(self) -> None:
        grantors = self.net.network.grantors
        clients = [Client(url, timeout=5.0) for url in self.net.urls]
        head = 0
        index = 0
        try:
            while not self._stop.is_set():
                live = [i for i, node in enumerate(self.net.nodes) if node.running and i not in self.paused]
                if not live:
                    time.sleep(0.2)
                    continue
                target = live[index % len(live)]
                grantor = grantors[index % len(grantors)]
                index += 1
                heights = [h for h in (self.net.nodes[i].height(0.5) for i in live[:1]) if h is not None]
                head = max([head, *heights])
                tx = Transaction.create(
                    grantor.key,
                    chain_id=self.net.network.chain_id,
                    to=GOVERNANCE_ADDRESS,
                    data=encode_fresh_grant(
                        grant_target(self.net.network.accounts, grantor, index), grantor.role
                    ),
                    gas_limit=GRANT_GAS_LIMIT,
                    expiry_height=head + EXPIRY_BLOCKS,
                )
                try:
                    self.accepted.add(clients[target].submit(tx))
                except XinlianError as exc:
                    if exc.code in ("unreachable", "timeout"):
                        self.unreachable += 1
                    else:
                        self.refused += 1
                self._stop.wait(1.0 / self.rate)
        finally:
            for client in clients:
                client.close()


# --- faults ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fault:
    """One step of a schedule: what it does, how long it lasts, and how it is undone."""

    name: str
    seconds: float
    apply: Callable[[FaultNet, Load], None]
    undo: Callable[[FaultNet, Load], None]


def _kill(*nodes: int) -> Callable[[FaultNet, Load], None]:
    def apply(net: FaultNet, _load: Load) -> None:
        for n in nodes:
            net.nodes[n].kill()

    return apply


def _restart(*nodes: int) -> Callable[[FaultNet, Load], None]:
    def undo(net: FaultNet, _load: Load) -> None:
        for n in nodes:
            if not net.nodes[n].running:
                net.nodes[n].start()

    return undo


def _pause(node: int) -> Callable[[FaultNet, Load], None]:
    def apply(net: FaultNet, load: Load) -> None:
        load.paused.add(node)
        process = net.nodes[node].process
        if process is not None:
            os.kill(process.pid, signal.SIGSTOP)

    return apply


def _resume(node: int) -> Callable[[FaultNet, Load], None]:
    def undo(net: FaultNet, load: Load) -> None:
        process = net.nodes[node].process
        if process is not None:
            os.kill(process.pid, signal.SIGCONT)
        load.paused.discard(node)

    return undo


def _split(*groups: Sequence[int]) -> Callable[[FaultNet, Load], None]:
    return lambda net, _load: net.partition(*groups)


def _heal(net: FaultNet, _load: Load) -> None:
    net.heal()


def schedule(seconds_each: float, rng: random.Random) -> list[Fault]:
    """One round of every fault kind, on nodes chosen by ``rng``."""
    a, b = rng.sample(range(VALIDATORS), 2)
    lone = rng.randrange(VALIDATORS)
    rest = [n for n in range(VALIDATORS) if n != lone]
    halves = rng.sample(range(VALIDATORS), VALIDATORS)
    return [
        Fault(f"kill -9 node {a}", seconds_each, _kill(a), _restart(a)),
        Fault(f"kill -9 nodes {a} and {b}", seconds_each, _kill(a, b), _restart(a, b)),
        Fault(f"SIGSTOP node {b}", seconds_each, _pause(b), _resume(b)),
        Fault(f"partition {{{lone}}} | rest", seconds_each, _split([lone], rest), _heal),
        Fault(f"partition {halves[:2]} | {halves[2:]}", seconds_each, _split(halves[:2], halves[2:]), _heal),
    ]


# --- checks ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Observation:
    """Each node's height early in a fault and at its end (None: down, paused or not answering)."""

    fault: str
    early: list[int | None]
    late: list[int | None]


def _heights(net: FaultNet, load: Load) -> list[int | None]:
    return [None if i in load.paused else node.height(1.0) for i, node in enumerate(net.nodes)]


@dataclass
class FaultResult:
    faults: list[str]
    accepted: int
    refused: int
    unreachable: int
    lost: list[str]
    heights: list[int]
    agreed_through: int
    recovery_s: float
    disagreements: list[str]
    observed: list[Observation] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "faults": self.faults,
            "accepted": self.accepted,
            "refused": self.refused,
            "unreachable": self.unreachable,
            "lost": len(self.lost),
            "lost_hashes": self.lost[:20],
            "heights": self.heights,
            "agreed_through": self.agreed_through,
            "recovery_s": round(self.recovery_s, 2),
            "disagreements": self.disagreements[:20],
            "heights_during_faults": [
                {"fault": o.fault, "early": o.early, "late": o.late} for o in self.observed
            ],
        }


def wait_for_agreement(net: FaultNet, above: int, timeout_s: float) -> float:
    """Seconds until every node answers with one height above ``above`` (progress and catch-up); raises
    RuntimeError after ``timeout_s``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        heights = [node.height(1.0) for node in net.nodes]
        if all(h is not None and h > above for h in heights) and len(set(heights)) == 1:
            return time.monotonic() - start
        time.sleep(0.25)
    raise RuntimeError(f"the nodes did not agree above height {above} within {timeout_s} s: {heights}")


def wait_committed(net: FaultNet, accepted: set[bytes], timeout_s: float) -> list[bytes]:
    """Wait until node 0 has committed every accepted transaction; returns those still missing."""
    missing = set(accepted)
    deadline = time.monotonic() + timeout_s
    grantor = net.network.grantors[0]
    from sdk.signer import Signer

    with Client(net.urls[0], timeout=10.0, signer=Signer(grantor.key)) as client:
        while missing and time.monotonic() < deadline:
            for tx_hash in list(missing)[:200]:
                with suppress(XinlianError):
                    if client.transaction(tx_hash).status == "committed":
                        missing.discard(tx_hash)
            if missing:
                time.sleep(1.0)
    return sorted(missing)


def compare_stores(database_urls: Sequence[str]) -> tuple[list[int], int, list[str]]:
    """Each node's head, the height through which all agree, and the heights where they differ."""
    stores = [Store(url) for url in database_urls]
    try:
        heads = [(store.head() or (0, b""))[0] for store in stores]
        through = min(heads)
        hashes = [store.get_block_hashes(0, through) for store in stores]
        differ = [str(h) for h in range(through + 1) if len({column[h] for column in hashes}) != 1]
        return heads, through, differ
    finally:
        for store in stores:
            store.close()


def node_database_urls(net: FaultNet, database_urls: Sequence[str | None]) -> list[str]:
    urls = list(database_urls) or [None] * len(net.nodes)
    return [
        url if url is not None else f"sqlite:///{Path(node.config.data_dir) / 'chain.db'}"
        for node, url in zip(net.nodes, urls, strict=True)
    ]


def run_faults(
    base: Path,
    *,
    rounds: int,
    seconds_each: float,
    settle_s: float,
    rate: float,
    seed: int,
    database_urls: Sequence[str | None] = (),
    log: Callable[[str], None] = print,
) -> FaultResult:
    """Start the network, run ``rounds`` rounds of every fault under load, heal, and check."""
    rng = random.Random(seed)
    net = make_fault_net(base, database_urls=database_urls)
    done: list[str] = []
    observed: list[Observation] = []
    load = Load(net, rate)
    try:
        net.devnet.start()
        wait_for_agreement(net, 0, 120)
        load.start()
        for _ in range(rounds):
            for fault in schedule(seconds_each, rng):
                log(f"fault: {fault.name} for {fault.seconds:.0f} s")
                fault.apply(net, load)
                time.sleep(min(1.0, fault.seconds / 4))  # a round under way when it struck may still end
                during = _heights(net, load)
                time.sleep(max(0.0, fault.seconds - min(1.0, fault.seconds / 4)))
                observed.append(Observation(fault.name, during, _heights(net, load)))
                fault.undo(net, load)
                done.append(fault.name)
                time.sleep(settle_s)
        load.stop()
        net.heal()
        for node in net.nodes:
            if not node.running:
                node.start()
        top = max(h for h in (node.height(2.0) for node in net.nodes) if h is not None)
        recovery_s = wait_for_agreement(net, top, 180)
        log(f"healed: all nodes agree above {top} after {recovery_s:.1f} s")
        missing = wait_committed(net, load.accepted, 180)
    finally:
        load.stop()
        net.close()
    heads, through, differ = compare_stores(node_database_urls(net, database_urls))
    return FaultResult(
        faults=done,
        accepted=len(load.accepted),
        refused=load.refused,
        unreachable=load.unreachable,
        lost=["0x" + h.hex() for h in missing],
        heights=heads,
        agreed_through=through,
        recovery_s=recovery_s,
        disagreements=differ,
        observed=observed,
    )


@contextmanager
def postgres_schemas(url: str, count: int) -> Iterator[list[str]]:
    """``count`` fresh schemas in the PostgreSQL database at ``url`` (one per node), dropped after."""
    from sqlalchemy import create_engine, make_url, text

    names = [f"xl_faults_{secrets.token_hex(4)}_{i}" for i in range(count)]
    admin = create_engine(url)
    with admin.begin() as conn:
        for name in names:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
    try:
        yield [
            make_url(url)
            .update_query_dict({"options": f"-csearch_path={name}"})
            .render_as_string(hide_password=False)
            for name in names
        ]
    finally:
        with admin.begin() as conn:
            for name in names:
                conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300, help="length of the fault loop")
    parser.add_argument("--fault-seconds", type=float, default=8, help="how long each fault lasts")
    parser.add_argument("--settle-seconds", type=float, default=4, help="pause between faults")
    parser.add_argument("--rate", type=float, default=20, help="transactions submitted per second")
    parser.add_argument("--seed", type=int, default=20_261_205)
    parser.add_argument("--database", default="", help="a PostgreSQL URL: one schema per node")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    per_round = 5 * (args.fault_seconds + args.settle_seconds)
    rounds = max(1, round(args.seconds / per_round))
    schemas = postgres_schemas(args.database, VALIDATORS) if args.database else _no_urls()
    with tempfile.TemporaryDirectory(prefix="xinlian-faults-") as tmp, schemas as urls:
        result = run_faults(
            Path(tmp) / "net",
            rounds=rounds,
            seconds_each=args.fault_seconds,
            settle_s=args.settle_seconds,
            rate=args.rate,
            seed=args.seed,
            database_urls=urls,
            log=(lambda _m: None) if args.json else print,
        )
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        for key, value in result.to_json().items():
            print(f"{key:>14}: {value}")
    return 0 if not result.lost and not result.disagreements else 1


@contextmanager
def _no_urls() -> Iterator[list[str]]:
    yield []


if __name__ == "__main__":
    sys.exit(main())
