"""A peer lying in block sync against a real node (real ledger, consensus driver, p2p over loopback TLS):
it claims a far greater height than the validators and answers every block request with blocks whose
certificates it forged (or with junk). The node still syncs from the honest validators, refuses every
forged block, is charged for the lie only once per rest period, and ends on the validators' chain."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

from node.config import NodeConfig
from node.devnet import init_devnet
from node.p2p.tls import compute_certificate_hash
from node.p2p.wire import (
    P2P_VERSION,
    FrameType,
    Hello,
    compute_handshake_preimage,
    decode_hello,
    decode_uints,
    encode_block_pairs,
    encode_frame,
    encode_hello,
)
from node.runtime import Node
from sdk.crypto import PrivateKey
from sdk.types import CommitCertificate, Seal, commit_preimage
from tests.support import free_ports, make_p2p_tls, wait_until

CHAIN_ID = 5353
CHAIN = {"block_period_ms": 100, "round_timeout_ms": 1_000, "max_round_timeout_ms": 3_000}
CLAIMED_HEIGHT = 10_000


class SyncLiar:
    """An allowed observer that dials the victim, claims CLAIMED_HEIGHT and answers GET_BLOCKS with the
    honest chain's blocks under certificates sealed by its own key (junk beyond that chain)."""

    def __init__(self, key: PrivateKey, victim: Node, source: Node) -> None:
        self.key = key
        self.victim = victim
        self.source = source
        self.requests: list[tuple[int, int]] = []
        self.closed = threading.Event()
        tls = make_p2p_tls("sync-liar")
        raw = socket.create_connection(("127.0.0.1", victim.config.p2p_port), timeout=5)
        self.sock = tls.client.wrap_socket(raw)
        self.certificate_hash = tls.certificate_hash
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _read(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def _frame(self) -> tuple[int, bytes]:
        body = self._read(int.from_bytes(self._read(4), "big"))
        return body[0], body[1:]

    def _send(self, kind: FrameType, payload: bytes) -> None:
        self.sock.sendall(encode_frame(kind, payload))

    def start(self) -> None:
        public = self.key.public_key.to_bytes()
        hello = Hello(P2P_VERSION, CHAIN_ID, self.victim.genesis_hash, public, b"\x05" * 32, CLAIMED_HEIGHT)
        self._send(FrameType.HELLO, encode_hello(hello))
        kind, payload = self._frame()
        assert kind == FrameType.HELLO
        theirs = decode_hello(payload)
        preimage = compute_handshake_preimage(
            CHAIN_ID,
            self.victim.genesis_hash,
            theirs.nonce,
            public,
            theirs.public_key,
            self.certificate_hash,
            compute_certificate_hash(self.sock.getpeercert(binary_form=True) or b""),
        )
        self._send(FrameType.AUTH, self.key.sign(preimage))
        kind, _ = self._frame()
        assert kind == FrameType.AUTH
        self.sock.settimeout(None)
        self._thread.start()

    def _forged(self, height: int) -> tuple[bytes, bytes]:
        block = self.source.store.get_block(height)
        if block is None:
            return b"junk", b"junk"
        block_hash = block.header.block_hash
        seal = self.key.sign(commit_preimage(CHAIN_ID, height, block.header.round, block_hash))
        forged = CommitCertificate(height, block.header.round, block_hash, (Seal(0, seal),))
        return block.encode(), forged.encode()

    def _serve(self) -> None:
        try:
            while True:
                kind, payload = self._frame()
                if kind == FrameType.GET_BLOCKS:
                    from_height, count = decode_uints(payload, 2)
                    self.requests.append((from_height, count))
                    pairs = [self._forged(h) for h in range(from_height, from_height + min(count, 64))]
                    self._send(FrameType.BLOCKS, encode_block_pairs(pairs))
        except (OSError, ConnectionError, ValueError):
            self.closed.set()

    def close(self) -> None:
        self.sock.close()


def start_three_of_four(tmp_path: Path, nodes: list[Node], height: int) -> list[Path]:
    """Write a 4-validator devnet, start its first three validators (appended to ``nodes``) and wait for
    them to commit ``height`` blocks; returns the four node config paths."""
    paths = init_devnet(
        tmp_path / "net",
        validators=4,
        chain_id=CHAIN_ID,
        api_ports=free_ports(4),
        p2p_ports=free_ports(4),
        chain_overrides=CHAIN,
        committee_size=1,
        log_level="warning",
    )
    nodes += [Node(NodeConfig.load(p), empty_block_interval_ms=50) for p in paths[:3]]
    for node in nodes:
        node.start()
    wait_until(lambda: min(n.ledger.height for n in nodes) >= height, 120, "three validators to commit")
    return paths


def test_a_peer_lying_in_sync_is_refused_avoided_and_honest_peers_serve(tmp_path: Path) -> None:
    liars: list[SyncLiar] = []
    nodes: list[Node] = []
    try:
        paths = start_three_of_four(tmp_path, nodes, 30)
        # The late validator allows one observer key: the liar's.
        liar_key = PrivateKey.generate()
        raw = json.loads(paths[3].read_text(encoding="utf-8"))
        raw["allowed_peer_keys"] = [liar_key.public_key.to_bytes().hex()]
        paths[3].write_text(json.dumps(raw), encoding="utf-8")
        late = Node(NodeConfig.load(paths[3]), empty_block_interval_ms=50)
        nodes.append(late)
        late.start()
        liar = SyncLiar(liar_key, late, nodes[0])
        liars.append(liar)
        liar.start()
        assert late.driver is not None
        driver = late.driver
        wait_until(lambda: late.ledger.height >= 30, 60, "the late node to sync from the honest validators")
        wait_until(lambda: len(liar.requests) >= 1, 30, "the liar (claiming the top height) to be asked")
        refused = ("sync_bad_certificate", "sync_undecodable")
        wait_until(lambda: sum(driver.stats.get(r) for r in refused) >= 1, 30, "the lie to be refused")
        public = liar_key.public_key.to_bytes()
        assert driver._sync.is_resting(public, driver.clock_ms())
        # While honest peers are there, the liar's claim brings no further request until its rest ends.
        asked = len(liar.requests)
        before = late.ledger.height
        wait_until(lambda: late.ledger.height >= before + 5, 30, "the late node to follow consensus")
        assert len(liar.requests) <= asked + 1, liar.requests
        # Every block the late node holds is the validators' block.
        top = min(n.ledger.height for n in nodes)
        for height in range(1, top + 1):
            assert len({n.store.get_block_hashes(height, height)[0] for n in nodes}) == 1, height
    finally:
        for each in liars:
            each.close()
        for node in nodes:
            node.stop()
