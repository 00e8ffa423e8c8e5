"""The peer service over loopback TLS: TLS 1.3 links, frames, SM2 handshake, gossip, block answers, bounds,
reconnects."""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from node.p2p.connection import _Connection
from node.p2p.peers import P2PLimits, P2PStats, _TokenBucket
from node.p2p.service import PeerService
from node.p2p.tls import compute_certificate_hash
from node.p2p.wire import (
    MAX_FRAME_BYTES,
    P2P_VERSION,
    FrameType,
    Hello,
    P2PError,
    compute_handshake_preimage,
    decode_block_pairs,
    decode_hello,
    encode_block_pairs,
    encode_frame,
    encode_hello,
    read_frame,
)
from node.tls import create_local_ca
from scripts.bench.grants import get_free_port as free_port
from sdk.crypto import PrivateKey
from sdk.errors import EncodingError
from tests.support import make_p2p_tls

GENESIS = b"\x11" * 32
KEYS = [PrivateKey.generate() for _ in range(3)]
TLS = [make_p2p_tls(f"unit-p2p-{i}") for i in range(3)]
#: The cipher suites of TLS 1.3 (RFC 8446 §B.4) that OpenSSL enables by default.
TLS13_SUITES = {"TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256"}


class Recorder:
    """A PeerHandler that records what arrives."""

    def __init__(self, height: int = 0) -> None:
        self.height = height
        self.connected: list[bytes] = []
        self.consensus: list[bytes] = []
        self.transactions: list[bytes] = []
        self.blocks: list[tuple[bytes, bytes]] = []
        self.lock = threading.Lock()

    def get_height(self) -> int:
        return self.height

    def on_peer_connected(self, peer: bytes) -> None:
        self.connected.append(peer)

    def on_consensus(self, data: bytes, peer: bytes) -> bool:
        self.consensus.append(data)
        return data != b"bad"

    def on_transactions(self, raws: list[bytes], peer: bytes) -> None:
        self.transactions.extend(raws)

    def get_blocks(self, from_height: int, max_count: int) -> list[tuple[bytes, bytes]]:
        top = min(self.height, from_height + max_count - 1)
        return [(f"block{h}".encode(), f"cert{h}".encode()) for h in range(from_height, top + 1)]

    def on_blocks(self, pairs: list[tuple[bytes, bytes]], peer: bytes) -> None:
        self.blocks.extend(pairs)


def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def make_service(
    key: PrivateKey,
    port: int,
    peers: list[str],
    handler: Recorder,
    *,
    chain_id: int = 7,
    is_allowed: Callable[[bytes], bool] | None = None,
) -> PeerService:
    return PeerService(
        chain_id=chain_id,
        genesis_hash=GENESIS,
        key=key,
        tls=TLS[KEYS.index(key)],
        host="127.0.0.1",
        port=port,
        peers=peers,
        handler=handler,
        is_allowed=is_allowed,
        backoff_base_s=0.05,
        backoff_cap_s=0.4,
        handshake_timeout_s=2.0,
    )


@pytest.fixture
def pair() -> Iterator[tuple[PeerService, Recorder, PeerService, Recorder]]:
    port_a, port_b = free_port(), free_port()
    rec_a, rec_b = Recorder(height=5), Recorder(height=9)
    a = make_service(KEYS[0], port_a, [f"127.0.0.1:{port_b}"], rec_a)
    b = make_service(KEYS[1], port_b, [f"127.0.0.1:{port_a}"], rec_b)
    a.start()
    b.start()
    try:
        yield a, rec_a, b, rec_b
    finally:
        a.stop()
        b.stop()


# --- wire ------------------------------------------------------------------------------------------------
def test_hello_round_trips_and_malformed_hello_is_refused() -> None:
    hello = Hello(1, 7, GENESIS, KEYS[0].public_key.to_bytes(), b"\x05" * 32, 42)
    assert decode_hello(encode_hello(hello)) == hello
    with pytest.raises(EncodingError):
        decode_hello(encode_hello(Hello(1, 7, GENESIS[:31], hello.public_key, hello.nonce, 42)))


def test_oversized_frames_are_refused_on_both_ends() -> None:
    with pytest.raises(P2PError):
        encode_frame(FrameType.CONSENSUS, b"\x00" * MAX_FRAME_BYTES)

    async def read(data: bytes) -> tuple[int, bytes]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await read_frame(reader)

    assert asyncio.run(read(encode_frame(FrameType.STATUS, b"\xc1\x05"))) == (FrameType.STATUS, b"\xc1\x05")
    with pytest.raises(P2PError):
        asyncio.run(read((MAX_FRAME_BYTES + 1).to_bytes(4, "big") + b"\x03"))
    with pytest.raises(P2PError):
        asyncio.run(read(b"\x00\x00\x00\x00"))


def test_block_pairs_decoder_refuses_malformed_and_oversized_lists() -> None:
    pairs = [(b"b1", b"c1"), (b"b2", b"c2")]
    assert decode_block_pairs(encode_block_pairs(pairs), limit=2) == pairs
    with pytest.raises(EncodingError):
        decode_block_pairs(encode_block_pairs(pairs), limit=1)
    with pytest.raises(EncodingError):
        decode_block_pairs(b"\xc3\x82ab", limit=4)


def test_send_queue_is_bounded_in_bytes_and_drops_are_counted() -> None:
    stats = P2PStats()

    class Writer:
        def close(self) -> None:
            pass

    conn = _Connection(b"p" * 64, "x", True, Writer(), 0, stats, queue_frames=100, queue_bytes=10)  # type: ignore[arg-type]
    assert conn.send(b"12345") and conn.send(b"67890")
    assert not conn.send(b"x")
    assert stats.get("dropped_outbound") == 1 and stats.get("dropped_outbound_bytes") == 1
    assert conn.queued_bytes == conn.peak_queued_bytes == 10
    assert conn.stalled_since is not None
    conn.close()
    assert conn.queued_bytes == 0 and not conn.queue and not conn.send(b"y")


def test_an_empty_send_queue_takes_one_frame_above_its_byte_budget() -> None:
    class Writer:
        def close(self) -> None:
            pass

    conn = _Connection(b"p" * 64, "x", True, Writer(), 0, P2PStats(), queue_bytes=4)  # type: ignore[arg-type]
    assert conn.send(b"a frame larger than the budget")
    assert not conn.send(b"z")


def test_token_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    bucket = _TokenBucket(rate=2.0, burst=4.0, now=100.0)
    assert all(bucket.take(1, 100.0) for _ in range(4))
    assert not bucket.take(1, 100.0)
    assert bucket.take(1, 100.5) and not bucket.take(1, 100.5)
    assert bucket.can_take(4, 1_000.0) and bucket.tokens == 4.0  # never above the burst
    assert bucket.take(10, 1_000.0) and bucket.tokens == -6.0  # a full bucket admits one oversized item
    assert not bucket.take(1, 1_003.0)


def test_limits_refuse_non_positive_values() -> None:
    with pytest.raises(P2PError):
        P2PLimits(send_queue_bytes=0)
    with pytest.raises(P2PError):
        P2PLimits(ban_s=-1.0)
    with pytest.raises(P2PError):
        P2PLimits(max_tx_frame_bytes=MAX_FRAME_BYTES + 1)


def test_a_frame_over_its_type_limit_is_refused_before_its_payload_is_read() -> None:
    async def read(data: bytes) -> tuple[int, bytes]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)  # no payload follows the header: a read of it would hang
        return await read_frame(reader, MAX_FRAME_BYTES, {FrameType.STATUS: 16})

    with pytest.raises(P2PError):
        asyncio.run(asyncio.wait_for(read((1024).to_bytes(4, "big") + bytes([FrameType.STATUS])), 2))


def test_sending_apis_never_raise_even_before_the_service_starts() -> None:
    service = make_service(KEYS[0], free_port(), [], Recorder())
    service.broadcast(FrameType.CONSENSUS, b"\x00" * MAX_FRAME_BYTES)
    service.send_to(KEYS[1].public_key.to_bytes(), FrameType.BLOCKS, b"\x00" * MAX_FRAME_BYTES)
    service.request_blocks(KEYS[1].public_key.to_bytes(), -1)
    service.broadcast_status(-1)
    assert service.stats.snapshot() == {"oversized_outbound": 2, "bad_outbound": 2}


# --- service ---------------------------------------------------------------------------------------------
def test_two_nodes_authenticate_and_exchange_every_frame_kind(
    pair: tuple[PeerService, Recorder, PeerService, Recorder],
) -> None:
    a, rec_a, b, rec_b = pair
    wait_until(lambda: a.connected_peers() == [b.public_key] and b.connected_peers() == [a.public_key])
    wait_until(lambda: a.peer_heights().get(b.public_key) == 9)
    a.broadcast(FrameType.CONSENSUS, b"hello-consensus")
    wait_until(lambda: b"hello-consensus" in rec_b.consensus)
    a.gossip_transaction(b"tx-1")
    a.gossip_transaction(b"tx-2")
    wait_until(lambda: rec_b.transactions == [b"tx-1", b"tx-2"])
    a.request_blocks(b.public_key, 7, 64)
    wait_until(lambda: len(rec_a.blocks) == 3)
    assert rec_a.blocks[0] == (b"block7", b"cert7")
    b.broadcast_status(12)
    wait_until(lambda: a.peer_heights().get(b.public_key) == 12)


def test_a_peer_on_another_chain_is_refused() -> None:
    port_a, port_b = free_port(), free_port()
    a = make_service(KEYS[0], port_a, [], Recorder())
    b = make_service(KEYS[1], port_b, [f"127.0.0.1:{port_a}"], Recorder(), chain_id=8)
    a.start()
    b.start()
    try:
        wait_until(lambda: a.stats.get("handshake_failures") >= 1 and b.stats.get("handshake_failures") >= 1)
        assert a.connected_peers() == [] and b.connected_peers() == []
    finally:
        a.stop()
        b.stop()


def test_a_key_outside_the_allowed_set_is_refused_at_the_handshake() -> None:
    port_a, port_b = free_port(), free_port()
    allowed = {KEYS[0].public_key.to_bytes(), KEYS[1].public_key.to_bytes()}
    a = make_service(KEYS[0], port_a, [], Recorder(), is_allowed=allowed.__contains__)
    outsider = make_service(KEYS[2], port_b, [f"127.0.0.1:{port_a}"], Recorder())
    a.start()
    outsider.start()
    try:
        wait_until(lambda: a.stats.get("handshake_failures") >= 1)
        assert a.connected_peers() == []
    finally:
        a.stop()
        outsider.stop()


def test_an_unauthenticated_peer_cannot_send_a_large_frame() -> None:
    port = free_port()
    a = make_service(KEYS[0], port, [], Recorder())
    a.start()

    async def flood() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=TLS[2].client)
        writer.write((10 * 1024 * 1024).to_bytes(4, "big"))  # announces a 10 MiB frame before any HELLO
        await writer.drain()
        await read_frame(reader)  # the node's own HELLO
        rest = await reader.read()  # then it drops the link without reading the frame
        writer.close()
        return rest

    try:
        assert asyncio.run(flood()) == b""
        wait_until(lambda: a.stats.get("handshake_failures") >= 1)
    finally:
        a.stop()


def test_a_peer_that_cannot_sign_for_its_claimed_key_is_refused() -> None:
    port = free_port()
    a = make_service(KEYS[0], port, [], Recorder())
    a.start()

    async def impostor() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=TLS[2].client)
        claimed = KEYS[1].public_key.to_bytes()  # claims validator 1's key, holds key 2
        hello = Hello(P2P_VERSION, 7, GENESIS, claimed, b"\x01" * 32, 0)
        writer.write(encode_frame(FrameType.HELLO, encode_hello(hello)))
        await writer.drain()
        _, payload = await read_frame(reader)
        theirs = decode_hello(payload)
        their_cert = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        preimage = compute_handshake_preimage(
            7,
            GENESIS,
            theirs.nonce,
            claimed,
            theirs.public_key,
            TLS[2].certificate_hash,  # the certificates of this very link: only the key is wrong
            compute_certificate_hash(their_cert),
        )
        writer.write(encode_frame(FrameType.AUTH, KEYS[2].sign(preimage)))
        await writer.drain()
        await read_frame(reader)  # their AUTH
        rest = await reader.read()  # then the link is closed
        writer.close()
        return rest

    try:
        assert asyncio.run(impostor()) == b""
        wait_until(lambda: a.stats.get("handshake_failures") >= 1)
        assert a.stats.get("bad_auth_signatures") == 1
        assert a.connected_peers() == []
    finally:
        a.stop()


def test_invalid_consensus_messages_are_counted_against_the_peer(
    pair: tuple[PeerService, Recorder, PeerService, Recorder],
) -> None:
    a, _rec_a, b, _rec_b = pair
    wait_until(lambda: bool(a.connected_peers()) and bool(b.connected_peers()))
    a.broadcast(FrameType.CONSENSUS, b"bad")
    wait_until(lambda: b.stats.get("invalid_consensus") == 1)


def test_a_transaction_gossiped_before_any_peer_is_linked_reaches_the_first_one() -> None:
    port_a, port_b = free_port(), free_port()
    a = make_service(KEYS[0], port_a, [f"127.0.0.1:{port_b}"], Recorder())
    a.start()
    rec_b = Recorder()
    b = make_service(KEYS[1], port_b, [], rec_b)
    try:
        a.gossip_transaction(b"tx-before-any-link")
        # Two failed dials: the outbox has been flushed many times while no peer was linked.
        wait_until(lambda: a.stats.get("dial_failures") >= 2)
        b.start()
        wait_until(lambda: rec_b.transactions == [b"tx-before-any-link"])
    finally:
        a.stop()
        b.stop()


def test_dialler_reconnects_after_the_peer_restarts() -> None:
    port_a, port_b = free_port(), free_port()
    rec_a = Recorder()
    a = make_service(KEYS[0], port_a, [f"127.0.0.1:{port_b}"], rec_a)
    a.start()
    b = make_service(KEYS[1], port_b, [], Recorder())
    b.start()
    try:
        wait_until(lambda: a.connected_peers() == [b.public_key])
        b.stop()
        wait_until(lambda: a.connected_peers() == [])
        time.sleep(0.5)  # a few failed dials: backoff grows to its cap
        assert a.stats.get("dial_failures") >= 1
        b = make_service(KEYS[1], port_b, [], Recorder())
        b.start()
        wait_until(lambda: a.connected_peers() == [b.public_key])
        assert rec_a.connected.count(b.public_key) == 2
    finally:
        a.stop()
        b.stop()


def test_a_node_dialling_itself_proves_it_by_signature_and_backs_off() -> None:
    port = free_port()
    a = make_service(KEYS[0], port, [f"127.0.0.1:{port}"], Recorder())
    a.start()
    try:
        wait_until(lambda: a.stats.get("self_connections") == 2)  # its outbound and its inbound side
        time.sleep(0.3)
        assert a.connected_peers() == []
        assert a.stats.get("dials") == 1
        assert a.stats.get("impostor_hellos") == 0
    finally:
        a.stop()


# --- TLS -------------------------------------------------------------------------------------------------
def test_links_are_tls_1_3_with_both_nodes_certificates(
    pair: tuple[PeerService, Recorder, PeerService, Recorder],
) -> None:
    a, _rec_a, b, _rec_b = pair
    wait_until(lambda: a.connected_peers() == [b.public_key] and b.connected_peers() == [a.public_key])
    for own, peer, peer_tls in ((a, b, TLS[1]), (b, a, TLS[0])):
        for conn in own._connections[peer.public_key]:
            ssl_object = conn.writer.get_extra_info("ssl_object")
            assert ssl_object.version() == "TLSv1.3"
            suite, protocol, _bits = ssl_object.cipher()
            assert suite in TLS13_SUITES and protocol == "TLSv1.3"
            assert compute_certificate_hash(ssl_object.getpeercert(binary_form=True)) == (
                peer_tls.certificate_hash
            )


def test_a_plain_tcp_peer_gets_no_hello_and_is_refused() -> None:
    port = free_port()
    a = make_service(KEYS[0], port, [], Recorder())
    a.start()

    async def plain_peer() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        hello = Hello(P2P_VERSION, 7, GENESIS, KEYS[1].public_key.to_bytes(), b"\x01" * 32, 0)
        writer.write(encode_frame(FrameType.HELLO, encode_hello(hello)))
        await writer.drain()
        answer = await reader.read()  # until the node closes the link
        writer.close()
        return answer

    try:
        answer = asyncio.run(asyncio.wait_for(plain_peer(), 5))
        # Nothing but a TLS alert record (content type 21) comes back: never the node's HELLO in the clear.
        assert answer == b"" or answer[0] == 21
        assert KEYS[0].public_key.to_bytes() not in answer
        wait_until(lambda: a.stats.get("handshake_failures") == 1)
        assert a.connected_peers() == []
    finally:
        a.stop()


def test_a_node_dialling_a_plain_tcp_listener_sends_nothing_in_the_clear_and_gives_up() -> None:
    port = free_port()
    received = bytearray()

    async def plain_listener(connected: asyncio.Event) -> None:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            hello = Hello(P2P_VERSION, 7, GENESIS, KEYS[1].public_key.to_bytes(), b"\x02" * 32, 0)
            writer.write(encode_frame(FrameType.HELLO, encode_hello(hello)))
            received.extend(await reader.read(4096))
            connected.set()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", port)
        async with server:
            await asyncio.wait_for(connected.wait(), 5)

    a = make_service(KEYS[0], free_port(), [f"127.0.0.1:{port}"], Recorder())
    try:
        listener = threading.Thread(target=lambda: asyncio.run(plain_listener(asyncio.Event())))
        listener.start()
        a.start()
        listener.join(10)
        wait_until(lambda: a.stats.get("handshake_failures") >= 1)
        assert received[0] == 22  # a TLS handshake record (the ClientHello), not a HELLO frame
        assert KEYS[0].public_key.to_bytes() not in received
        assert a.connected_peers() == []
    finally:
        a.stop()


def _untrusted_client_context(certificate: tuple[str, str] | None) -> ssl.SSLContext:
    """A TLS 1.3 client context that presents ``certificate`` (cert and key paths), or none."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if certificate is not None:
        context.load_cert_chain(*certificate)
    return context


@pytest.mark.parametrize("presents", ["no-certificate", "certificate-of-another-issuer"])
def test_a_peer_without_a_p2p_client_certificate_is_refused(presents: str, tmp_path: Path) -> None:
    certificate = None
    if presents != "no-certificate":
        create_local_ca(tmp_path / "other.pem", tmp_path / "other-key.pem", name="a self-signed stranger")
        certificate = (str(tmp_path / "other.pem"), str(tmp_path / "other-key.pem"))
    port = free_port()
    a = make_service(KEYS[0], port, [], Recorder())
    a.start()

    async def peer() -> bytes:
        context = _untrusted_client_context(certificate)
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        hello = Hello(P2P_VERSION, 7, GENESIS, KEYS[1].public_key.to_bytes(), b"\x03" * 32, 0)
        writer.write(encode_frame(FrameType.HELLO, encode_hello(hello)))
        try:
            return await reader.read()  # the node's alert ends the link before any frame
        except (ssl.SSLError, ConnectionError):
            return b""
        finally:
            writer.close()

    try:
        assert asyncio.run(asyncio.wait_for(peer(), 5)) == b""
        wait_until(lambda: a.stats.get("handshake_failures") == 1)
        assert a.connected_peers() == []
    finally:
        a.stop()
