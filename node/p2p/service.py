"""The peer service: an asyncio loop in its own thread holding authenticated TCP links to the other nodes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from node.p2p.wire import (
    HANDSHAKE_MAX_FRAME_BYTES,
    NONCE_BYTES,
    P2P_VERSION,
    FrameType,
    Hello,
    P2PError,
    compute_handshake_preimage,
    decode_block_pairs,
    decode_bytes_list,
    decode_hello,
    decode_uints,
    encode_block_pairs,
    encode_bytes_list,
    encode_frame,
    encode_hello,
    encode_uints,
    read_frame,
)
from sdk.crypto import PrivateKey, PublicKey
from sdk.errors import EncodingError, XinlianError

log = logging.getLogger("xinlian.p2p")

#: Frames waiting to be written to one peer; beyond this new frames are dropped (and counted).
DEFAULT_SEND_QUEUE_FRAMES: int = 4_096
#: A peer sending this many invalid consensus messages is disconnected.
MAX_INVALID_MESSAGES: int = 200
#: Transactions per TRANSACTIONS frame, and the most accepted in one.
MAX_TXS_PER_FRAME: int = 4_096
#: Blocks per BLOCKS answer and the byte budget of one answer.
MAX_BLOCKS_PER_ANSWER: int = 64
MAX_ANSWER_BYTES: int = 16 * 1024 * 1024
#: Connections (inbound and outbound) beyond this are refused.
DEFAULT_MAX_CONNECTIONS: int = 64
#: Outgoing transactions are batched for this long before a TRANSACTIONS frame leaves.
TX_FLUSH_INTERVAL_S: float = 0.01


class PeerHandler(Protocol):
    """What the node does with peer traffic. Called on the p2p loop thread: must not block (except
    ``get_blocks``, which runs in a worker thread)."""

    def get_height(self) -> int:
        """Return this node's committed height (sent in HELLO)."""
        ...

    def on_peer_connected(self, peer: bytes) -> None:
        """A peer (64-byte public key) completed the handshake."""
        ...

    def on_consensus(self, data: bytes, peer: bytes) -> bool:
        """Take one encoded consensus message; return False when it is invalid (counted against the peer)."""
        ...

    def on_transactions(self, raws: list[bytes], peer: bytes) -> None:
        """Take gossiped raw transactions (not yet checked)."""
        ...

    def get_blocks(self, from_height: int, max_count: int) -> list[tuple[bytes, bytes]]:
        """Return up to ``max_count`` committed (block, certificate) encodings from ``from_height`` on."""
        ...

    def on_blocks(self, pairs: list[tuple[bytes, bytes]], peer: bytes) -> None:
        """Take (block, certificate) encodings answering a GET_BLOCKS (not yet checked)."""
        ...


@dataclass
class P2PStats:
    """Counters of the peer service (read from other threads; plain ints are fine under the GIL)."""

    counters: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, amount: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + amount

    def get(self, name: str) -> int:
        return self.counters.get(name, 0)


class _Connection:
    """One authenticated link: a bounded send queue drained by a writer task."""

    def __init__(
        self,
        peer: bytes,
        address: str,
        outbound: bool,
        writer: asyncio.StreamWriter,
        height: int,
        queue_frames: int,
        stats: P2PStats,
    ) -> None:
        self.peer = peer
        self.address = address
        self.outbound = outbound
        self.writer = writer
        self.height = height
        self.invalid = 0
        self.established_s = time.monotonic()
        self.stats = stats
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=queue_frames)
        self.closed = False

    def send(self, frame: bytes) -> bool:
        """Queue ``frame``; returns False (and counts a drop) when the queue is full or the link closed."""
        if self.closed:
            return False
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.stats.add("dropped_outbound")
            return False
        return True

    async def write_loop(self) -> None:
        try:
            while True:
                frame = await self.queue.get()
                self.writer.write(frame)
                # Coalesce what is already queued before waiting for the socket.
                while not self.queue.empty():
                    self.writer.write(self.queue.get_nowait())
                await self.writer.drain()
                self.stats.add("frames_out")
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            self.writer.close()


class PeerService:
    """Authenticated links to a consortium's other nodes over TCP (127.0.0.1 or a LAN).

    Each side proves its SM2 key by signing the other's fresh nonce under a domain tag with the chain id and
    genesis hash. Frames are length-prefixed. Every peer address in ``peers`` is dialled and re-dialled with
    capped exponential backoff; inbound links are accepted on (host, port). Two nodes that dial each other
    keep both links (each side sends on its newest and reads from all), which needs no tie-breaking.
    Thread-safe public methods hand work to the loop with ``call_soon_threadsafe``.
    """

    def __init__(
        self,
        *,
        chain_id: int,
        genesis_hash: bytes,
        key: PrivateKey,
        host: str,
        port: int,
        peers: Sequence[str],
        handler: PeerHandler,
        is_allowed: Callable[[bytes], bool] | None = None,
        listen: bool = True,
        send_queue_frames: int = DEFAULT_SEND_QUEUE_FRAMES,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        backoff_base_s: float = 0.2,
        backoff_cap_s: float = 5.0,
        handshake_timeout_s: float = 5.0,
    ) -> None:
        self.chain_id = chain_id
        self.genesis_hash = genesis_hash
        self._key = key
        self.public_key = key.public_key.to_bytes()
        self.host = host
        self.port = port
        self.peer_addresses = tuple(peers)
        self.handler = handler
        self.is_allowed = is_allowed or (lambda _key: True)
        self.listen = listen
        self.send_queue_frames = send_queue_frames
        self.max_connections = max_connections
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.handshake_timeout_s = handshake_timeout_s
        self.stats = P2PStats()
        self._connections: dict[bytes, list[_Connection]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._tx_outbox: list[bytes] = []
        self._tx_lock = threading.Lock()

    # --- lifecycle (any thread) ----------------------------------------------------------------------
    def start(self, timeout_s: float = 10.0) -> None:
        """Start the loop thread, bind the listener and start dialling.

        Raises P2PError when the listener cannot be bound or the loop does not start in time.
        """
        self._thread = threading.Thread(target=self._run, name="xinlian-p2p", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout_s):
            raise P2PError("the p2p service did not start in time")
        if self._start_error is not None:
            raise P2PError(f"the p2p service could not start: {self._start_error}") from self._start_error

    def stop(self) -> None:
        """Close every link and the listener, and end the loop thread."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._begin_shutdown)
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def running(self) -> bool:
        """Whether the loop thread is alive (False before start, after stop or after the loop failed)."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        except Exception:  # the loop died: logged; the node keeps running without peers
            log.exception("p2p loop failed")
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._started.set()

    async def _main(self) -> None:
        self._stop_event = asyncio.Event()
        try:
            if self.listen:
                self._server = await asyncio.start_server(self._on_inbound, self.host, self.port)
                sockets = self._server.sockets
                if sockets:
                    self.port = int(sockets[0].getsockname()[1])
        except OSError as exc:
            self._start_error = exc
            self._started.set()
            return
        for address in self.peer_addresses:
            self._spawn(self._dial_forever(address))
        self._spawn(self._flush_transactions_forever())
        self._started.set()
        await self._stop_event.wait()
        if self._server is not None:
            self._server.close()
        for conns in list(self._connections.values()):
            for conn in conns:
                conn.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _is_stopping(self) -> bool:
        return self._stopping

    def _begin_shutdown(self) -> None:
        self._stopping = True
        self._stop_event.set()

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- public sending API (any thread) -------------------------------------------------------------
    def broadcast(self, kind: FrameType, payload: bytes) -> None:
        """Send one frame to every connected peer (dropped, and counted, where a queue is full)."""
        frame = encode_frame(kind, payload)
        self._call(self._broadcast_frame, frame)

    def send_to(self, peer: bytes, kind: FrameType, payload: bytes) -> None:
        """Send one frame to ``peer`` when connected (silently nothing otherwise)."""
        frame = encode_frame(kind, payload)
        self._call(self._send_frame, peer, frame)

    def gossip_transaction(self, raw: bytes) -> None:
        """Queue ``raw`` for the next TRANSACTIONS batch to every peer."""
        with self._tx_lock:
            self._tx_outbox.append(raw)

    def request_blocks(self, peer: bytes, from_height: int, max_count: int = MAX_BLOCKS_PER_ANSWER) -> None:
        """Ask ``peer`` for committed blocks with certificates from ``from_height`` on."""
        self.send_to(peer, FrameType.GET_BLOCKS, encode_uints(from_height, max_count))

    def broadcast_status(self, height: int) -> None:
        """Tell every peer this node's committed height."""
        self.broadcast(FrameType.STATUS, encode_uints(height))

    def peer_heights(self) -> dict[bytes, int]:
        """Return the connected peers (public keys) and the highest height each reported."""
        return {key: max(c.height for c in conns) for key, conns in list(self._connections.items()) if conns}

    def connected_peers(self) -> list[bytes]:
        """Return the public keys of the peers with at least one open link."""
        return [key for key, conns in list(self._connections.items()) if conns]

    def _call(self, fn: Callable[..., None], *args: object) -> None:
        loop = self._loop
        if loop is None or loop.is_closed() or self._stopping:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed between the check and the call
            loop.call_soon_threadsafe(fn, *args)

    # --- loop side: sending --------------------------------------------------------------------------
    def _latest(self, peer: bytes) -> _Connection | None:
        conns = self._connections.get(peer)
        return conns[-1] if conns else None

    def _broadcast_frame(self, frame: bytes) -> None:
        for peer in list(self._connections):
            conn = self._latest(peer)
            if conn is not None:
                conn.send(frame)

    def _send_frame(self, peer: bytes, frame: bytes) -> None:
        conn = self._latest(peer)
        if conn is not None:
            conn.send(frame)

    async def _flush_transactions_forever(self) -> None:
        while True:
            await asyncio.sleep(TX_FLUSH_INTERVAL_S)
            with self._tx_lock:
                batch, self._tx_outbox = self._tx_outbox, []
            for start in range(0, len(batch), MAX_TXS_PER_FRAME):
                chunk = batch[start : start + MAX_TXS_PER_FRAME]
                self._broadcast_frame(encode_frame(FrameType.TRANSACTIONS, encode_bytes_list(chunk)))
                self.stats.add("transactions_gossiped", len(chunk))

    # --- loop side: links ----------------------------------------------------------------------------
    async def _dial_forever(self, address: str) -> None:
        host, _, port_text = address.rpartition(":")
        try:
            port = int(port_text)
        except ValueError:
            log.error("peer address %r is not host:port; not dialling it", address)
            return
        delay_s = self.backoff_base_s
        while not self._stopping:
            connected = False
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port), self.handshake_timeout_s
                )
                self.stats.add("dials")
                conn = await self._handshake(reader, writer, address, outbound=True)
                if conn is not None:
                    connected = True
                    delay_s = self.backoff_base_s
                    await self._serve(conn, reader)
                    if conn.peer == self.public_key:
                        return
            except (OSError, TimeoutError, asyncio.IncompleteReadError):
                self.stats.add("dial_failures")
            if self._is_stopping():
                return
            if not connected:
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, self.backoff_cap_s)
            else:
                self.stats.add("reconnects")
                await asyncio.sleep(self.backoff_base_s)

    async def _on_inbound(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        address = f"{peername[0]}:{peername[1]}" if peername else "?"
        if sum(len(c) for c in self._connections.values()) >= self.max_connections:
            self.stats.add("refused_full")
            writer.close()
            return
        try:
            conn = await self._handshake(reader, writer, address, outbound=False)
            if conn is not None:
                await self._serve(conn, reader)
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            self.stats.add("handshake_failures")
            writer.close()

    async def _handshake(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, address: str, *, outbound: bool
    ) -> _Connection | None:
        """Exchange HELLO and AUTH; returns the registered link, or None (link closed) on any failure."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        hello = Hello(
            P2P_VERSION, self.chain_id, self.genesis_hash, self.public_key, nonce, self.handler.get_height()
        )
        try:
            writer.write(encode_frame(FrameType.HELLO, encode_hello(hello)))
            await writer.drain()
            kind, payload = await asyncio.wait_for(
                read_frame(reader, HANDSHAKE_MAX_FRAME_BYTES), self.handshake_timeout_s
            )
            if kind != FrameType.HELLO:
                raise P2PError("expected HELLO")
            theirs = decode_hello(payload)
            if theirs.version != P2P_VERSION:
                raise P2PError("unsupported p2p version", version=theirs.version)
            if theirs.chain_id != self.chain_id or theirs.genesis_hash != self.genesis_hash:
                raise P2PError("peer is on another chain", chain_id=theirs.chain_id)
            if theirs.public_key == self.public_key:
                log.info("peer %s is this node itself; not dialling it again", address)
                writer.close()
                return _Connection(self.public_key, address, outbound, writer, 0, 1, self.stats)
            if not self.is_allowed(theirs.public_key):
                raise P2PError("peer key is not allowed on this network")
            preimage = compute_handshake_preimage(
                self.chain_id, self.genesis_hash, theirs.nonce, self.public_key, theirs.public_key
            )
            writer.write(encode_frame(FrameType.AUTH, self._key.sign(preimage)))
            await writer.drain()
            kind, signature = await asyncio.wait_for(
                read_frame(reader, HANDSHAKE_MAX_FRAME_BYTES), self.handshake_timeout_s
            )
            if kind != FrameType.AUTH:
                raise P2PError("expected AUTH")
            expected = compute_handshake_preimage(
                self.chain_id, self.genesis_hash, nonce, theirs.public_key, self.public_key
            )
            PublicKey.from_bytes(theirs.public_key).verify(expected, signature)
        except (P2PError, EncodingError, XinlianError) as exc:
            self.stats.add("handshake_failures")
            log.info("handshake with %s failed: %s", address, exc)
            writer.close()
            return None
        if self._stopping:
            writer.close()
            return None
        conn = _Connection(
            theirs.public_key, address, outbound, writer, theirs.height, self.send_queue_frames, self.stats
        )
        self._connections.setdefault(conn.peer, []).append(conn)
        self.stats.add("connects")
        log.info(
            "connected to peer %s… at %s (%s, height %d)",
            conn.peer[:6].hex(),
            address,
            "outbound" if outbound else "inbound",
            theirs.height,
        )
        self._spawn(conn.write_loop())
        self.handler.on_peer_connected(conn.peer)
        return conn

    async def _serve(self, conn: _Connection, reader: asyncio.StreamReader) -> None:
        """Read and dispatch frames until the link closes."""
        if conn.peer == self.public_key:
            return
        try:
            while not conn.closed:
                kind, payload = await read_frame(reader)
                self.stats.add("frames_in")
                self.stats.add("bytes_in", len(payload) + 5)
                self._dispatch(conn, kind, payload)
        except (OSError, asyncio.IncompleteReadError, P2PError) as exc:
            if isinstance(exc, P2PError):
                self.stats.add("bad_frames")
        finally:
            conn.close()
            conns = self._connections.get(conn.peer, [])
            if conn in conns:
                conns.remove(conn)
            if not conns:
                self._connections.pop(conn.peer, None)
            self.stats.add("disconnects")
            log.info("link to peer %s… at %s closed", conn.peer[:6].hex(), conn.address)

    def _dispatch(self, conn: _Connection, kind: int, payload: bytes) -> None:
        try:
            if kind == FrameType.CONSENSUS:
                if not self.handler.on_consensus(payload, conn.peer):
                    conn.invalid += 1
                    self.stats.add("invalid_consensus")
                    if conn.invalid > MAX_INVALID_MESSAGES:
                        log.warning("disconnecting peer %s…: too many invalid messages", conn.peer[:6].hex())
                        conn.close()
            elif kind == FrameType.TRANSACTIONS:
                raws = decode_bytes_list(payload, limit=MAX_TXS_PER_FRAME)
                self.stats.add("transactions_in", len(raws))
                self.handler.on_transactions(raws, conn.peer)
            elif kind == FrameType.STATUS:
                (height,) = decode_uints(payload, 1)
                conn.height = max(conn.height, height)
            elif kind == FrameType.GET_BLOCKS:
                from_height, max_count = decode_uints(payload, 2)
                self._spawn(self._answer_blocks(conn, from_height, min(max_count, MAX_BLOCKS_PER_ANSWER)))
            elif kind == FrameType.BLOCKS:
                pairs = decode_block_pairs(payload, limit=MAX_BLOCKS_PER_ANSWER)
                self.stats.add("blocks_in", len(pairs))
                self.handler.on_blocks(pairs, conn.peer)
            else:
                self.stats.add("unknown_frames")
        except EncodingError:
            self.stats.add("bad_frames")
            conn.invalid += 1
            if conn.invalid > MAX_INVALID_MESSAGES:
                conn.close()

    async def _answer_blocks(self, conn: _Connection, from_height: int, max_count: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            pairs = await loop.run_in_executor(None, self.handler.get_blocks, from_height, max_count)
        except Exception:  # a storage failure answers nothing; the requester retries elsewhere
            log.exception("reading blocks %d.. for a peer failed", from_height)
            return
        budget = MAX_ANSWER_BYTES - 1024
        chosen: list[tuple[bytes, bytes]] = []
        for block, cert in pairs:
            budget -= len(block) + len(cert) + 16
            if budget < 0 and chosen:
                break
            chosen.append((block, cert))
        conn.send(encode_frame(FrameType.BLOCKS, encode_block_pairs(chosen)))
        self.stats.add("blocks_served", len(chosen))
