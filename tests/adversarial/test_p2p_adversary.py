"""Byzantine members against a real PeerService over loopback TLS: no member can halt, stall or starve it,
nor relay another node's handshake."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from node.p2p.peers import SCORE_BAD_FRAME, P2PLimits
from node.p2p.service import PeerService
from node.p2p.tls import compute_certificate_hash
from node.p2p.wire import (
    MAX_FRAME_BYTES,
    P2P_VERSION,
    FrameType,
    Hello,
    compute_handshake_preimage,
    decode_hello,
    decode_uints,
    encode_block_pairs,
    encode_bytes_list,
    encode_frame,
    encode_hello,
    encode_uints,
)
from scripts.bench.grants import get_free_port as free_port
from sdk.crypto import PrivateKey
from tests.support import make_p2p_tls

CHAIN_ID = 7
GENESIS = b"\x22" * 32
VICTIM_KEY, ATTACKER_KEY, HONEST_KEY = (PrivateKey.generate() for _ in range(3))
ATTACKER = ATTACKER_KEY.public_key.to_bytes()
HONEST = HONEST_KEY.public_key.to_bytes()
#: The p2p TLS certificate of each key (a node presents its own; the attacker holds a spare one too).
TLS_OF = {
    key.public_key.to_bytes(): make_p2p_tls(f"adversary-{name}")
    for key, name in ((VICTIM_KEY, "victim"), (ATTACKER_KEY, "attacker"), (HONEST_KEY, "honest"))
}
SPARE_TLS = make_p2p_tls("adversary-spare")
#: Nothing an attacker needs should take longer than this on loopback.
STEP_TIMEOUT_S: float = 4.0


class Recorder:
    """A PeerHandler recording what the victim hands to the node (get_blocks can be held on a gate)."""

    def __init__(self) -> None:
        self.consensus: list[bytes] = []
        self.transactions: list[bytes] = []
        self.blocks: list[tuple[bytes, bytes]] = []
        self.block_calls = 0
        self.gate = threading.Event()
        self.gate.set()

    def get_height(self) -> int:
        return 10

    def on_peer_connected(self, peer: bytes) -> None:
        pass

    def on_consensus(self, data: bytes, peer: bytes) -> bool:
        self.consensus.append(data)
        return data != b"bad"

    def on_transactions(self, raws: list[bytes], peer: bytes) -> None:
        self.transactions.extend(raws)

    def get_blocks(self, from_height: int, max_count: int) -> list[tuple[bytes, bytes]]:
        self.block_calls += 1
        self.gate.wait(STEP_TIMEOUT_S)
        return [(b"block%d" % h, b"cert%d" % h) for h in range(from_height, from_height + min(max_count, 3))]

    def on_blocks(self, pairs: list[tuple[bytes, bytes]], peer: bytes) -> None:
        self.blocks.extend(pairs)


class Adversary:
    """A member holding a real SM2 key and its p2p TLS certificate that speaks the wire protocol by hand over
    a blocking TLS socket."""

    def __init__(self, port: int, key: PrivateKey = ATTACKER_KEY, *, rcvbuf: int | None = None) -> None:
        self.key = key
        self.public_key = key.public_key.to_bytes()
        self.tls = TLS_OF[self.public_key]
        raw = socket.socket()
        if rcvbuf is not None:  # set before connect so the window stays small
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.settimeout(STEP_TIMEOUT_S)
        raw.connect(("127.0.0.1", port))
        self.sock = self.tls.client.wrap_socket(raw)

    def handshake(self, *, signed_certificate_hash: bytes | None = None) -> Hello:
        """Authenticate as ``key``; returns the victim's HELLO. The AUTH covers this link's certificates
        unless ``signed_certificate_hash`` replaces the one this end presented."""
        nonce = b"\x07" * 32
        hello = Hello(P2P_VERSION, CHAIN_ID, GENESIS, self.public_key, nonce, 0)
        self.send(FrameType.HELLO, encode_hello(hello))
        kind, payload = self.read_frame()
        assert kind == FrameType.HELLO
        theirs = decode_hello(payload)
        preimage = compute_handshake_preimage(
            CHAIN_ID,
            GENESIS,
            theirs.nonce,
            self.public_key,
            theirs.public_key,
            signed_certificate_hash or self.tls.certificate_hash,
            compute_certificate_hash(self.sock.getpeercert(binary_form=True) or b""),
        )
        self.send(FrameType.AUTH, self.key.sign(preimage))
        kind, _ = self.read_frame()
        assert kind == FrameType.AUTH
        return theirs

    def send(self, kind: FrameType, payload: bytes) -> None:
        self.sock.sendall(encode_frame(kind, payload))

    def read_exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def read_frame(self) -> tuple[int, bytes]:
        size = int.from_bytes(self.read_exactly(4), "big")
        body = self.read_exactly(size)
        return body[0], body[1:]

    def read_frame_of(self, kind: FrameType) -> bytes:
        """Return the payload of the next frame of ``kind`` (skipping others, e.g. STATUS)."""
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while time.monotonic() < deadline:
            got, payload = self.read_frame()
            if got == kind:
                return payload
        raise AssertionError(f"no {kind.name} frame")

    def is_closed_by_peer(self, timeout_s: float = STEP_TIMEOUT_S) -> bool:
        """Read (and discard) until the victim closes the link; False if it is still open at the deadline."""
        deadline = time.monotonic() + timeout_s
        self.sock.settimeout(0.05)
        try:
            while time.monotonic() < deadline:
                try:
                    if not self.sock.recv(65536):
                        return True
                except TimeoutError:
                    continue
                except OSError:
                    return True
            return False
        finally:
            self.sock.settimeout(STEP_TIMEOUT_S)

    def close(self) -> None:
        self.sock.close()


def wait_until(predicate: Callable[[], bool], timeout_s: float = STEP_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached in time")


@contextmanager
def running_victim(
    limits: P2PLimits | None = None,
    handler: Recorder | None = None,
    *,
    peers: tuple[str, ...] = (),
    key: PrivateKey = VICTIM_KEY,
    handshake_timeout_s: float = 2.0,
) -> Iterator[PeerService]:
    service = PeerService(
        chain_id=CHAIN_ID,
        genesis_hash=GENESIS,
        key=key,
        tls=TLS_OF[key.public_key.to_bytes()],
        host="127.0.0.1",
        port=free_port(),
        peers=peers,
        handler=handler or Recorder(),
        backoff_base_s=0.05,
        backoff_cap_s=0.2,
        handshake_timeout_s=handshake_timeout_s,
        limits=limits,
    )
    service.start()
    try:
        yield service
    finally:
        service.stop()


def connect(victim: PeerService, key: PrivateKey = ATTACKER_KEY, *, rcvbuf: int | None = None) -> Adversary:
    adversary = Adversary(victim.port, key, rcvbuf=rcvbuf)
    adversary.handshake()
    wait_until(lambda: adversary.public_key in victim.connected_peers())
    return adversary


# Limits where only the budget under test can bite: no ban, no rate that honest test traffic could reach.
NO_BAN = P2PLimits(ban_score=1e12)


# --- 1. send queues -----------------------------------------------------------------------------------------
def test_peer_that_stops_reading_is_disconnected_and_memory_stays_bounded() -> None:
    budget = 256 * 1024
    payload = b"\x00" * (64 * 1024)
    limits = P2PLimits(send_queue_bytes=budget, slow_peer_timeout_s=0.5, ban_score=1e12)
    with running_victim(limits) as victim:
        adversary = connect(victim, rcvbuf=4096)  # authenticates, then never reads again
        conn = victim._connections[ATTACKER][-1]
        # 16 MiB towards a peer that reads nothing: far beyond what the kernel buffers absorb.
        for _ in range(256):
            victim.broadcast(FrameType.CONSENSUS, payload)
        wait_until(lambda: victim.stats.get("dropped_outbound") > 0)
        # Consensus keeps broadcasting (a frame every 10 ms) while the peer keeps not reading.
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while ATTACKER in victim.connected_peers() and time.monotonic() < deadline:
            victim.broadcast(FrameType.CONSENSUS, payload)
            time.sleep(0.01)
        assert victim.stats.get("slow_peer_disconnects") == 1
        assert ATTACKER not in victim.connected_peers()
        assert conn.peak_queued_bytes <= budget + len(payload) + 5
        assert conn.queued_bytes == 0 and not conn.queue
        adversary.close()


# --- 2. the sending API never raises into the consensus thread ----------------------------------------------
def test_oversized_or_malformed_sends_never_raise_into_the_caller_and_the_link_keeps_working() -> None:
    with running_victim(NO_BAN) as victim:
        adversary = connect(victim)
        victim.broadcast(FrameType.CONSENSUS, b"\x00" * MAX_FRAME_BYTES)
        victim.send_to(ATTACKER, FrameType.CONSENSUS, b"\x00" * MAX_FRAME_BYTES)
        victim.request_blocks(ATTACKER, -1)
        victim.broadcast_status(-5)
        victim.gossip_transaction(b"\x01" * MAX_FRAME_BYTES)  # would not fit any TRANSACTIONS frame
        victim.gossip_transaction(b"tx-after-the-huge-one")
        victim.send_to(ATTACKER, FrameType.CONSENSUS, b"still-alive")
        assert victim.stats.get("oversized_outbound") == 3
        assert victim.stats.get("bad_outbound") == 2
        assert adversary.read_frame_of(FrameType.CONSENSUS) == b"still-alive"
        assert adversary.read_frame_of(FrameType.TRANSACTIONS) == encode_bytes_list(
            [b"tx-after-the-huge-one"]
        )
        adversary.close()


# --- 3. GET_BLOCKS ------------------------------------------------------------------------------------------
def test_block_request_flood_is_answered_one_at_a_time_and_rate_limited() -> None:
    handler = Recorder()
    handler.gate.clear()  # the first answer is still being read from storage while the flood arrives
    limits = P2PLimits(block_requests_per_s=0.2, block_request_burst=2.0, ban_score=1e12)
    with running_victim(limits, handler) as victim:
        adversary = connect(victim)
        for _ in range(20):
            adversary.send(FrameType.GET_BLOCKS, encode_uints(1, 64))
        wait_until(lambda: victim.stats.get("block_requests_busy") == 19)
        # The one answer's storage read may start after the whole flood was refused (TLS hands the 20
        # frames over at once), and there is never a second one while it is held.
        wait_until(lambda: handler.block_calls == 1)
        handler.gate.set()
        adversary.read_frame_of(FrameType.BLOCKS)
        wait_until(lambda: not victim._peers[ATTACKER].serving_blocks)
        adversary.send(FrameType.GET_BLOCKS, encode_uints(1, 64))  # the burst's second token
        adversary.read_frame_of(FrameType.BLOCKS)
        wait_until(lambda: not victim._peers[ATTACKER].serving_blocks)
        adversary.send(FrameType.GET_BLOCKS, encode_uints(1, 64))  # no token left
        wait_until(lambda: victim.stats.get("block_requests_over_rate") == 1)
        assert handler.block_calls == 2
        assert victim.stats.get("blocks_served") == 6
        adversary.close()


# --- 4. BLOCKS only as an answer ----------------------------------------------------------------------------
def test_unsolicited_blocks_are_ignored_and_only_an_answer_to_our_request_is_taken() -> None:
    handler = Recorder()
    forged = encode_block_pairs([(b"forged-block", b"forged-cert")])
    with running_victim(NO_BAN, handler) as victim:
        adversary = connect(victim)
        adversary.send(FrameType.BLOCKS, forged)
        wait_until(lambda: victim.stats.get("unsolicited_blocks") == 1)
        victim.request_blocks(ATTACKER, 5, 2)
        assert decode_uints(adversary.read_frame_of(FrameType.GET_BLOCKS), 2) == (5, 2)
        answer = encode_block_pairs([(b"block5", b"cert5")])
        adversary.send(FrameType.BLOCKS, answer)
        adversary.send(FrameType.BLOCKS, forged)  # a second answer to one request
        wait_until(lambda: victim.stats.get("unsolicited_blocks") == 2)
        assert handler.blocks == [(b"block5", b"cert5")]
        assert victim.peer_scores()[ATTACKER] > 0
        adversary.close()


# --- 5. gossiped transactions -------------------------------------------------------------------------------
def test_transaction_flood_is_cut_to_the_per_peer_byte_budget() -> None:
    handler = Recorder()
    burst, rate = 64 * 1024, 32 * 1024
    limits = P2PLimits(
        tx_bytes_per_s=rate, tx_burst_bytes=burst, max_tx_frame_bytes=64 * 1024, ban_score=1e12
    )
    frame = encode_bytes_list([bytes([i]) * 4096 for i in range(4)])  # ~16 KiB
    with running_victim(limits, handler) as victim:
        adversary = connect(victim)
        started = time.monotonic()
        for _ in range(40):  # 640 KiB at once
            adversary.send(FrameType.TRANSACTIONS, frame)
        wait_until(lambda: victim.stats.get("frames_in") >= 40)
        elapsed = time.monotonic() - started
        accepted = len(handler.transactions) // 4
        assert accepted * len(frame) <= burst + rate * elapsed + len(frame)
        assert victim.stats.get("transactions_over_budget") == 40 - accepted >= 30
        adversary.close()


def test_transactions_frame_over_its_size_cap_closes_the_link_unread() -> None:
    limits = P2PLimits(max_tx_frame_bytes=64 * 1024, tx_burst_bytes=64 * 1024, ban_score=1e12)
    with running_victim(limits) as victim:
        adversary = connect(victim)
        # Announces a 1 MiB TRANSACTIONS frame and sends only its header: the victim must not wait for it.
        adversary.sock.sendall((1024 * 1024).to_bytes(4, "big") + bytes([FrameType.TRANSACTIONS]))
        assert adversary.is_closed_by_peer()
        assert victim.stats.get("bad_frames") == 1
        adversary.close()


# --- 6. scoring and bans ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "payload", "frames"),
    [
        (FrameType.STATUS, b"\x05", 3),  # undecodable: an integer where a list belongs
        (FrameType.HELLO, b"\xc0", 3),  # a handshake frame on an authenticated link
        (FrameType.CONSENSUS, b"bad", 60),  # consensus messages the node refuses
    ],
    ids=["undecodable-status", "unexpected-hello", "invalid-consensus"],
)
def test_misbehaving_peer_is_banned_then_refused_at_the_handshake_until_the_ban_expires(
    kind: FrameType, payload: bytes, frames: int
) -> None:
    limits = P2PLimits(ban_score=2.5 * SCORE_BAD_FRAME, ban_s=0.6, score_decay_per_s=0.001)
    with running_victim(limits) as victim:
        adversary = connect(victim)
        for _ in range(frames):
            adversary.send(kind, payload)
        assert adversary.is_closed_by_peer()
        assert victim.stats.get("bans") == 1 and victim.banned_peers() == [ATTACKER]
        again = Adversary(victim.port)
        with pytest.raises(OSError):  # ConnectionError: refused after HELLO, before AUTH
            again.handshake()
        assert victim.stats.get("refused_banned") == 1
        again.close()
        wait_until(lambda: victim.banned_peers() == [])
        connect(victim).close()  # after the ban it may connect again
        adversary.close()


# --- 7. half-open handshakes --------------------------------------------------------------------------------
def test_half_open_handshakes_are_capped_and_an_honest_peer_gets_in_after_they_time_out() -> None:
    limits = P2PLimits(max_handshakes=4)
    with running_victim(limits, handshake_timeout_s=0.5) as victim:
        sockets = [socket.create_connection(("127.0.0.1", victim.port)) for _ in range(10)]
        try:
            wait_until(lambda: victim.stats.get("refused_handshakes") == 6)
            wait_until(lambda: victim.stats.get("handshake_failures") == 4)  # the 4 timed out
            connect(victim, HONEST_KEY).close()
        finally:
            for sock in sockets:
                sock.close()


# --- 8. HELLO with the victim's own key ---------------------------------------------------------------------
def impersonating_listener(port: int, *, reflect: bool, stop: threading.Event) -> None:
    """At ``port``, answer every dial with a HELLO carrying the dialler's own key: with a fresh nonce, or
    (``reflect``) echoing the dialler's HELLO and then any AUTH it sends."""
    with socket.create_server(("127.0.0.1", port)) as server:
        server.settimeout(0.05)
        deadline = time.monotonic() + 2 * STEP_TIMEOUT_S
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                raw, _ = server.accept()
            except TimeoutError:
                continue
            raw.settimeout(1.0)
            try:
                sock = TLS_OF[ATTACKER].server.wrap_socket(raw, server_side=True)
            except OSError:
                raw.close()
                continue
            with sock:
                try:
                    size = int.from_bytes(sock.recv(4), "big")
                    hello = sock.recv(size)
                    theirs = decode_hello(hello[1:])
                    if reflect:
                        sock.sendall(size.to_bytes(4, "big") + hello)
                        auth = sock.recv(4096)
                        if auth:
                            sock.sendall(auth)
                    else:
                        forged = Hello(P2P_VERSION, CHAIN_ID, GENESIS, theirs.public_key, b"\x09" * 32, 0)
                        sock.sendall(encode_frame(FrameType.HELLO, encode_hello(forged)))
                    sock.recv(4096)
                except OSError:
                    pass


@pytest.mark.parametrize("reflect", [False, True], ids=["forged-hello", "reflected-hello-and-auth"])
def test_hello_claiming_the_victims_own_key_does_not_stop_it_dialling_that_address(reflect: bool) -> None:
    port = free_port()
    stop = threading.Event()
    listener = threading.Thread(
        target=impersonating_listener, args=(port,), kwargs={"reflect": reflect, "stop": stop}
    )
    listener.start()
    try:
        with running_victim(peers=(f"127.0.0.1:{port}",)) as victim:
            wait_until(lambda: victim.stats.get("dials") >= 3)
            assert victim.stats.get("impostor_hellos") >= 2
            assert victim.stats.get("self_connections") == 0
    finally:
        stop.set()
        listener.join(timeout=STEP_TIMEOUT_S)


# --- 9. consensus frames ------------------------------------------------------------------------------------
def test_consensus_flood_from_one_validator_does_not_crowd_out_another() -> None:
    handler = Recorder()
    limits = P2PLimits(consensus_frames_per_s=10.0, consensus_frame_burst=20.0, ban_score=1e12)
    with running_victim(limits, handler) as victim:
        adversary = connect(victim)
        honest = connect(victim, HONEST_KEY)
        started = time.monotonic()
        for i in range(300):
            adversary.send(FrameType.CONSENSUS, b"spam-%d" % i)
        honest.send(FrameType.CONSENSUS, b"honest-prepare")
        wait_until(lambda: b"honest-prepare" in handler.consensus)
        wait_until(lambda: victim.stats.get("frames_in") >= 301)
        elapsed = time.monotonic() - started
        spam = [m for m in handler.consensus if m.startswith(b"spam")]
        assert len(spam) <= 20 + 10 * elapsed + 1
        assert victim.stats.get("consensus_over_budget") == 300 - len(spam)
        adversary.close()
        honest.close()


def test_consensus_bytes_over_the_per_peer_budget_are_dropped() -> None:
    handler = Recorder()
    limits = P2PLimits(consensus_bytes_per_s=1024.0, consensus_burst_bytes=64 * 1024, ban_score=1e12)
    with running_victim(limits, handler) as victim:
        adversary = connect(victim)
        for _ in range(10):
            adversary.send(FrameType.CONSENSUS, b"\x01" * (30 * 1024))
        wait_until(lambda: victim.stats.get("frames_in") >= 10)
        assert len(handler.consensus) == 2
        assert victim.stats.get("consensus_over_budget") == 8
        adversary.close()


# --- links per key ------------------------------------------------------------------------------------------
def test_one_key_cannot_hold_more_than_its_share_of_inbound_links() -> None:
    limits = P2PLimits(max_inbound_per_peer=2)
    with running_victim(limits) as victim:
        links = [connect(victim) for _ in range(5)]
        wait_until(lambda: victim.stats.get("replaced_links") == 3)
        assert all(link.is_closed_by_peer() for link in links[:3])
        assert sum(not c.closed for c in victim._connections[ATTACKER]) == 2
        for link in links:
            link.close()


# --- 10. TLS binding ----------------------------------------------------------------------------------------
def test_auth_signed_for_another_tls_certificate_than_the_one_presented_is_refused() -> None:
    with running_victim() as victim:
        adversary = Adversary(victim.port)
        with pytest.raises(OSError):  # ConnectionError: the victim closes the link after AUTH
            adversary.handshake(signed_certificate_hash=SPARE_TLS.certificate_hash)
            adversary.read_frame()
        wait_until(lambda: victim.stats.get("bad_auth_signatures") == 1)
        assert victim.connected_peers() == []
        adversary.close()
        connect(victim).close()  # the same key over its own certificate gets in


def _read_raw_frame(sock: ssl.SSLSocket) -> bytes:
    """Return one whole frame (header included) read from ``sock``. Raises ConnectionError at its end."""
    data = b""
    size: int | None = None
    while size is None or len(data) < size:
        if size is None and len(data) >= 4:
            size = 4 + int.from_bytes(data[:4], "big")
            continue
        chunk = sock.recv((size or 4) - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


class HandshakeRelay:
    """A man in the middle holding its own p2p certificate (and no node key): it accepts dials at ``port``,
    dials ``target`` for each, and forwards every frame both ways unchanged, recording each frame's type."""

    def __init__(self, port: int, target: int) -> None:
        self.port = port
        self.target = target
        self.forwarded: list[tuple[str, int]] = []  # (direction, frame type)
        self.stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._spawn(self._accept_forever)

    def close(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=STEP_TIMEOUT_S)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_forever(self) -> None:
        with socket.create_server(("127.0.0.1", self.port)) as server:
            server.settimeout(0.05)
            while not self.stop.is_set():
                try:
                    raw, _ = server.accept()
                except TimeoutError:
                    continue
                self._spawn(self._relay, raw)

    def _relay(self, raw: socket.socket) -> None:
        try:
            raw.settimeout(STEP_TIMEOUT_S)
            dialler = SPARE_TLS.server.wrap_socket(raw, server_side=True)
            onward = SPARE_TLS.client.wrap_socket(socket.create_connection(("127.0.0.1", self.target)))
        except OSError:
            raw.close()
            return
        self._spawn(self._pump, onward, dialler, "to-dialler")
        self._pump(dialler, onward, "to-target")

    def _pump(self, source: ssl.SSLSocket, sink: ssl.SSLSocket, direction: str) -> None:
        try:
            while not self.stop.is_set():
                frame = _read_raw_frame(source)
                self.forwarded.append((direction, frame[4]))
                sink.sendall(frame)
        except OSError:
            pass
        finally:
            source.close()
            sink.close()


def test_a_man_in_the_middle_cannot_relay_the_handshake_between_two_nodes() -> None:
    relay_port = free_port()
    with running_victim() as victim:
        relay = HandshakeRelay(relay_port, victim.port)
        relay.start()
        try:
            with running_victim(key=HONEST_KEY, peers=(f"127.0.0.1:{relay_port}",)) as honest:
                # Both nodes' HELLO and AUTH crossed the relay unchanged: chain, keys and nonces all match...
                wait_until(
                    lambda: (
                        {("to-target", FrameType.AUTH), ("to-dialler", FrameType.AUTH)}
                        <= set(relay.forwarded)
                    )
                )
                # ...but each AUTH covers the certificates of its own TLS link, not those of the other one.
                wait_until(lambda: victim.stats.get("bad_auth_signatures") >= 1)
                wait_until(lambda: honest.stats.get("bad_auth_signatures") >= 1)
                assert victim.connected_peers() == [] and honest.connected_peers() == []
                assert victim.stats.get("connects") == honest.stats.get("connects") == 0
        finally:
            relay.close()
        connect(victim, HONEST_KEY).close()  # the honest key gets in over a link of its own
