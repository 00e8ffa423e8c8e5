"""The peer service: an asyncio loop in its own thread holding authenticated TLS 1.3 links to the other
nodes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Coroutine, Sequence

from node.p2p.connection import _Connection, _SelfConnectionError
from node.p2p.handshake import LinkCertificates, exchange_hellos
from node.p2p.outbox import TransactionOutbox
from node.p2p.peers import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_SEND_QUEUE_FRAMES,
    MAINTENANCE_INTERVAL_S,
    MAX_ANSWER_BYTES,
    MAX_BLOCKS_PER_ANSWER,
    MAX_PENDING_BLOCK_REQUESTS,
    MAX_SNAPSHOT_BYTES,
    MAX_STATE_ANSWER_BYTES,
    MAX_STATE_KEYS,
    MAX_TXS_PER_FRAME,
    PEER_STATE_TTL_S,
    SCORE_BAD_FRAME,
    SCORE_INVALID_MESSAGE,
    SCORE_OVER_BUDGET,
    SCORE_UNSOLICITED,
    TX_FLUSH_INTERVAL_S,
    P2PLimits,
    P2PStats,
    PeerHandler,
    _PeerState,
)
from node.p2p.tls import P2PTls, read_peer_certificate_hash
from node.p2p.wire import (
    HANDSHAKE_MAX_FRAME_BYTES,
    MAX_CONTROL_FRAME_BYTES,
    MAX_FRAME_BYTES,
    NONCE_BYTES,
    P2P_VERSION,
    FrameType,
    Hello,
    P2PError,
    decode_block_pairs,
    decode_bytes_list,
    decode_uints,
    encode_block_pairs,
    encode_bytes_list,
    encode_frame,
    encode_uints,
    read_frame,
)
from sdk.crypto import PrivateKey
from sdk.errors import EncodingError, XinlianError

log = logging.getLogger("xinlian.p2p")


class _UnreadUntilTls(asyncio.StreamReaderProtocol):
    """The protocol of an accepted link: reads nothing until TLS starts on it.

    A dialler sends its TLS ClientHello at once; read before ``start_tls`` it would sit in the stream's
    buffer, out of the TLS layer's reach, and the handshake would wait for it until the timeout.
    """

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(transport, asyncio.ReadTransport):
            transport.pause_reading()
        super().connection_made(transport)


class PeerService:
    """Authenticated, encrypted links to a consortium's other nodes over TCP (127.0.0.1 or a LAN).

    Every link is TLS 1.3 with a certificate at both ends (``tls``). Inside it, each side proves its SM2 key
    by signing the other's fresh nonce under a domain tag with the chain id, the genesis hash and the hashes
    of both TLS certificates; the TLS handshake and this one finish within ``handshake_timeout_s`` together.
    Frames are length-prefixed. Every peer address in ``peers`` is dialled and re-dialled with
    capped exponential backoff; inbound links are accepted on (host, port). Two nodes that dial each other
    keep both links (each side sends on its newest and reads from all), which needs no tie-breaking.
    Thread-safe public methods hand work to the loop with ``call_soon_threadsafe`` and never raise.

    Every peer key has budgets (``limits``): bytes queued towards it, consensus frames and bytes, gossiped
    transaction bytes, block requests. Frames over a budget are dropped and counted; misbehaviour costs
    points, and a key over ``limits.ban_score`` is disconnected and refused at the handshake for a while.
    """

    def __init__(
        self,
        *,
        chain_id: int,
        genesis_hash: bytes,
        key: PrivateKey,
        tls: P2PTls,
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
        limits: P2PLimits | None = None,
    ) -> None:
        self.chain_id = chain_id
        self.genesis_hash = genesis_hash
        self._key = key
        self.public_key = key.public_key.to_bytes()
        self._tls = tls
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
        self.limits = limits or P2PLimits()
        self.stats = P2PStats()
        self._connections: dict[bytes, list[_Connection]] = {}
        self._peers: dict[bytes, _PeerState] = {}
        self._banned: dict[bytes, float] = {}
        self._own_nonces: set[bytes] = set()
        self._handshaking = 0
        self._kind_limits = self._compute_kind_limits()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._tx_outbox = TransactionOutbox(self.limits, self.stats, time.monotonic())

    def _compute_kind_limits(self) -> dict[int, int]:
        limits = dict.fromkeys(range(256), HANDSHAKE_MAX_FRAME_BYTES)
        limits[FrameType.CONSENSUS] = MAX_FRAME_BYTES
        limits[FrameType.BLOCKS] = MAX_FRAME_BYTES
        limits[FrameType.TRANSACTIONS] = self.limits.max_tx_frame_bytes
        limits[FrameType.STATUS] = MAX_CONTROL_FRAME_BYTES
        limits[FrameType.GET_BLOCKS] = MAX_CONTROL_FRAME_BYTES
        limits[FrameType.GET_SNAPSHOT] = MAX_CONTROL_FRAME_BYTES
        limits[FrameType.SNAPSHOT] = MAX_SNAPSHOT_BYTES
        limits[FrameType.GET_STATE] = MAX_STATE_KEYS * 40
        # One value is always answered, even above the budget (a contract's code): twice the budget.
        limits[FrameType.STATE] = 2 * MAX_STATE_ANSWER_BYTES
        limits[FrameType.GET_HISTORY] = MAX_CONTROL_FRAME_BYTES
        limits[FrameType.HISTORY] = MAX_FRAME_BYTES  # one block is always answered, even above the budget
        return limits

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
                # Plain TCP here: TLS starts in _handshake, once the link is counted against the caps on
                # half-open handshakes and under the handshake timeout.
                self._server = await asyncio.get_running_loop().create_server(
                    lambda: _UnreadUntilTls(asyncio.StreamReader(), self._accept), self.host, self.port
                )
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
        self._spawn(self._maintain_forever())
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

    # --- public sending API (any thread; never raises) -----------------------------------------------
    def broadcast(self, kind: FrameType, payload: bytes) -> None:
        """Send one frame to every connected peer (dropped, and counted, where a queue is over budget)."""
        frame = self._encode_outbound(kind, payload)
        if frame is not None:
            self._call(self._broadcast_frame, frame)

    def send_to(self, peer: bytes, kind: FrameType, payload: bytes) -> None:
        """Send one frame to ``peer`` when connected (silently nothing otherwise)."""
        frame = self._encode_outbound(kind, payload)
        if frame is not None:
            self._call(self._send_frame, peer, frame)

    def gossip_transaction(self, raw: bytes) -> None:
        """Queue ``raw`` for the next TRANSACTIONS batch to every peer (not gossiped, and counted, when it
        cannot fit a frame or the outbox is full)."""
        self._tx_outbox.put(raw)

    def request_blocks(self, peer: bytes, from_height: int, max_count: int = MAX_BLOCKS_PER_ANSWER) -> None:
        """Ask ``peer`` for committed blocks with certificates from ``from_height`` on (its BLOCKS answer is
        accepted while the request is unanswered and younger than ``limits.block_request_timeout_s``)."""
        self._send_request(peer, FrameType.GET_BLOCKS, self._encode_uints(from_height, max_count))

    def request_snapshot(self, peer: bytes) -> None:
        """Ask ``peer`` for its snapshot manifest (answered like a block request: one at a time, in time)."""
        self._send_request(peer, FrameType.GET_SNAPSHOT, self._encode_uints(0))

    def request_state(self, peer: bytes, keys: list[bytes]) -> None:
        """Ask ``peer`` for the state node values of ``keys`` (at most MAX_STATE_KEYS)."""
        self._send_request(peer, FrameType.GET_STATE, encode_bytes_list(keys[:MAX_STATE_KEYS]))

    def request_history(self, peer: bytes, top_height: int, max_count: int) -> None:
        """Ask ``peer`` for committed blocks with certificates and receipts from ``top_height`` downwards
        (answered like a block request: one at a time, in time)."""
        self._send_request(peer, FrameType.GET_HISTORY, self._encode_uints(top_height, max_count))

    def broadcast_status(self, height: int) -> None:
        """Tell every peer this node's committed height."""
        payload = self._encode_uints(height)
        if payload is not None:
            self.broadcast(FrameType.STATUS, payload)

    def peer_heights(self) -> dict[bytes, int]:
        """Return the connected peers (public keys) and the highest height each reported."""
        out: dict[bytes, int] = {}
        for key, conns in list(self._connections.items()):
            heights = [c.height for c in list(conns) if not c.closed]
            if heights:
                out[key] = max(heights)
        return out

    def connected_peers(self) -> list[bytes]:
        """Return the public keys of the peers with at least one open link."""
        return [key for key, conns in list(self._connections.items()) if any(not c.closed for c in conns)]

    def peer_scores(self) -> dict[bytes, float]:
        """Return the current misbehaviour points of every peer the service remembers."""
        now = time.monotonic()
        decay = self.limits.score_decay_per_s
        return {key: state.score_at(now, decay) for key, state in list(self._peers.items())}

    def report_misbehaviour(self, peer: bytes, points: float, reason: str) -> None:
        """Charge ``peer`` misbehaviour points found above the p2p layer (e.g. invalid gossiped
        transactions); thread-safe. Over the ban score the peer is disconnected and refused for a while."""
        self._call(self._penalize, peer, points, reason)

    def banned_peers(self) -> list[bytes]:
        """Return the keys refused at the handshake right now."""
        now = time.monotonic()
        return [key for key, until in list(self._banned.items()) if until > now]

    def _encode_outbound(self, kind: FrameType, payload: bytes) -> bytes | None:
        try:
            return encode_frame(kind, payload)
        except (XinlianError, TypeError, ValueError) as exc:
            self.stats.add("oversized_outbound")
            log.warning("not sending a frame of type %s (%d bytes): %s", kind, len(payload), exc)
            return None

    def _send_request(self, peer: bytes, kind: FrameType, payload: bytes | None) -> None:
        """Send a request frame to ``peer`` under its block-request rule (one unanswered at a time, answered
        in time); nothing is sent when the payload or the frame could not be encoded (counted there)."""
        frame = None if payload is None else self._encode_outbound(kind, payload)
        if frame is not None:
            self._call(self._send_block_request, peer, frame)

    def _encode_uints(self, *values: int) -> bytes | None:
        try:
            return encode_uints(*values)
        except (XinlianError, TypeError, ValueError) as exc:
            self.stats.add("bad_outbound")
            log.warning("not sending integers %r: %s", values, exc)
            return None

    def _call(self, fn: Callable[..., None], *args: object) -> None:
        loop = self._loop
        if loop is None or loop.is_closed() or self._stopping:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed between the check and the call
            loop.call_soon_threadsafe(fn, *args)

    # --- loop side: sending --------------------------------------------------------------------------
    def _latest(self, peer: bytes) -> _Connection | None:
        for conn in reversed(self._connections.get(peer, [])):
            if not conn.closed:
                return conn
        return None

    def _broadcast_frame(self, frame: bytes) -> None:
        for peer in list(self._connections):
            conn = self._latest(peer)
            if conn is not None:
                conn.send(frame)

    def _send_frame(self, peer: bytes, frame: bytes) -> None:
        conn = self._latest(peer)
        if conn is not None:
            conn.send(frame)

    def _send_block_request(self, peer: bytes, frame: bytes) -> None:
        conn = self._latest(peer)
        if conn is None or not conn.send(frame):
            return
        pending = self._state(peer).pending_block_requests
        pending.append(time.monotonic() + self.limits.block_request_timeout_s)
        while len(pending) > MAX_PENDING_BLOCK_REQUESTS:
            pending.popleft()

    async def _flush_transactions_forever(self) -> None:
        while True:
            await asyncio.sleep(TX_FLUSH_INTERVAL_S)
            # With no peer linked, transactions wait in the outbox for the first one instead of going to no
            # one: a restarting node announces its reloaded pool before its links are up.
            if not self.connected_peers():
                continue
            while (chunk := self._tx_outbox.take(time.monotonic())) is not None:
                frame = self._encode_outbound(FrameType.TRANSACTIONS, encode_bytes_list(chunk))
                if frame is not None:
                    self._broadcast_frame(frame)
                    self.stats.add("transactions_gossiped", len(chunk))

    # --- loop side: budgets and scores ---------------------------------------------------------------
    def _state(self, peer: bytes) -> _PeerState:
        state = self._peers.get(peer)
        if state is None:
            state = self._peers[peer] = _PeerState(self.limits, time.monotonic())
        return state

    def _is_banned(self, peer: bytes, now: float) -> bool:
        until = self._banned.get(peer)
        return until is not None and until > now

    def _penalize(self, peer: bytes, points: float, reason: str, *, counter: str | None = None) -> None:
        """Add misbehaviour points to ``peer`` (and one to the stats ``counter`` naming the offence); over
        the ban score it is disconnected and banned."""
        if counter is not None:
            self.stats.add(counter)
        now = time.monotonic()
        state = self._state(peer)
        score = state.add_score(points, now, self.limits.score_decay_per_s)
        self.stats.add("penalties")
        if score < self.limits.ban_score or self._is_banned(peer, now):
            return
        state.score = 0.0
        self._banned[peer] = now + self.limits.ban_s
        self.stats.add("bans")
        log.warning(
            "banning peer %s… for %.0f s: misbehaviour (last: %s)", peer[:6].hex(), self.limits.ban_s, reason
        )
        for conn in list(self._connections.get(peer, [])):
            conn.close(abort=True)

    async def _maintain_forever(self) -> None:
        while True:
            await asyncio.sleep(MAINTENANCE_INTERVAL_S)
            self._maintain(time.monotonic())

    def _maintain(self, now: float) -> None:
        timeout_s = self.limits.slow_peer_timeout_s
        for conns in list(self._connections.values()):
            for conn in list(conns):
                if conn.closed or conn.stalled_since is None or now - conn.stalled_since <= timeout_s:
                    continue
                self.stats.add("slow_peer_disconnects")
                log.warning(
                    "disconnecting peer %s… at %s: it has not read its frames for %.1f s",
                    conn.peer[:6].hex(),
                    conn.address,
                    now - conn.stalled_since,
                )
                conn.close(abort=True)
        for peer, until in list(self._banned.items()):
            if until <= now:
                del self._banned[peer]
        for peer, state in list(self._peers.items()):
            idle = peer not in self._connections and not state.serving_blocks
            if idle and now - state.last_seen > PEER_STATE_TTL_S:
                del self._peers[peer]

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
            except (OSError, TimeoutError):
                self.stats.add("dial_failures")
            else:
                self.stats.add("dials")
                try:
                    conn = await self._handshake(reader, writer, address, outbound=True)
                except _SelfConnectionError:
                    log.info(
                        "peer %s is this node itself; dialling it again in %.0f s",
                        address,
                        self.limits.self_dial_retry_s,
                    )
                    await asyncio.sleep(self.limits.self_dial_retry_s)
                    continue
                if conn is not None:
                    connected = True
                    delay_s = self.backoff_base_s
                    await self._serve(conn, reader)
            if self._is_stopping():
                return
            if not connected:
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, self.backoff_cap_s)
            else:
                self.stats.add("reconnects")
                await asyncio.sleep(self.backoff_base_s)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve an accepted link in a task of the service's own, so that stopping cancels and awaits it (a
        TLS link closes in several steps, which must not outlive the loop)."""
        self._spawn(self._on_inbound(reader, writer))

    async def _on_inbound(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        address = f"{peername[0]}:{peername[1]}" if peername else "?"
        established = sum(len(c) for c in self._connections.values())
        # Half-open handshakes hold a socket and a timer each: they count against both caps.
        if self._handshaking >= self.limits.max_handshakes:
            self.stats.add("refused_handshakes")
            writer.close()
            return
        if established + self._handshaking >= self.max_connections:
            self.stats.add("refused_full")
            writer.close()
            return
        self._handshaking += 1
        try:
            conn = await self._handshake(reader, writer, address, outbound=False)
        except _SelfConnectionError:
            return
        finally:
            self._handshaking -= 1
        if conn is not None:
            await self._serve(conn, reader)

    async def _handshake(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, address: str, *, outbound: bool
    ) -> _Connection | None:
        """Run TLS, then exchange HELLO and AUTH, all within the handshake timeout; returns the registered
        link, or None (link closed) on any failure. Raises _SelfConnectionError when the peer signed with
        this node's own key."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        self._own_nonces.add(nonce)
        try:
            ours = Hello(
                P2P_VERSION,
                self.chain_id,
                self.genesis_hash,
                self.public_key,
                nonce,
                self.handler.get_height(),
            )
            theirs, is_self = await asyncio.wait_for(
                self._secure_and_authenticate(reader, writer, ours, outbound=outbound),
                self.handshake_timeout_s,
            )
        except (XinlianError, OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            self.stats.add("handshake_failures")
            log.info("handshake with %s failed: %s", address, str(exc) or type(exc).__name__)
            writer.close()
            return None
        finally:
            self._own_nonces.discard(nonce)
        if is_self:
            self.stats.add("self_connections")
            writer.close()
            raise _SelfConnectionError
        if self._stopping:
            writer.close()
            return None
        conn = _Connection(
            theirs.public_key,
            address,
            outbound,
            writer,
            theirs.height,
            self.stats,
            queue_frames=self.send_queue_frames,
            queue_bytes=self.limits.send_queue_bytes,
        )
        conns = self._connections.setdefault(conn.peer, [])
        conns.append(conn)
        if not outbound:
            inbound = [c for c in conns if not c.outbound and not c.closed]
            for old in inbound[: max(0, len(inbound) - self.limits.max_inbound_per_peer)]:
                self.stats.add("replaced_links")
                old.close()
        self.stats.add("connects")
        ssl_object = writer.get_extra_info("ssl_object")
        log.info(
            "connected to peer %s… at %s (%s, height %d, %s %s)",
            conn.peer[:6].hex(),
            address,
            "outbound" if outbound else "inbound",
            theirs.height,
            ssl_object.version(),
            ssl_object.cipher()[0],
        )
        self._spawn(conn.write_loop())
        try:
            self.handler.on_peer_connected(conn.peer)
        except Exception:  # the handler's failure must not take the link (or the loop) down
            self.stats.add("handler_errors")
            log.exception("the handler failed on a new peer")
        return conn

    async def _secure_and_authenticate(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ours: Hello, *, outbound: bool
    ) -> tuple[Hello, bool]:
        """Upgrade the link to TLS 1.3 (this node dialled: client side), then run HELLO/AUTH bound to both
        certificates; returns what ``exchange_hellos`` returns."""
        context = self._tls.client if outbound else self._tls.server
        await writer.start_tls(context, ssl_handshake_timeout=self.handshake_timeout_s)
        certificates = LinkCertificates(self._tls.certificate_hash, read_peer_certificate_hash(writer))
        return await exchange_hellos(
            reader, writer, ours, self._key, certificates, self._own_nonces, self._refusal, self.stats
        )

    def _refusal(self, peer: bytes) -> str | None:
        """Why a handshake with ``peer`` is refused (banned, not allowed), or None."""
        if self._is_banned(peer, time.monotonic()):
            self.stats.add("refused_banned")
            return "peer is banned"
        if not self.is_allowed(peer):
            return "peer key is not allowed on this network"
        return None

    async def _serve(self, conn: _Connection, reader: asyncio.StreamReader) -> None:
        """Read and dispatch frames until the link closes."""
        try:
            while not conn.closed:
                kind, payload = await read_frame(reader, MAX_FRAME_BYTES, self._kind_limits)
                self.stats.add("frames_in")
                self.stats.add("bytes_in", len(payload) + 5)
                self._dispatch(conn, kind, payload)
        except (OSError, asyncio.IncompleteReadError):
            pass
        except P2PError as exc:
            log.info("peer %s… sent a bad frame: %s", conn.peer[:6].hex(), exc)
            self._penalize(conn.peer, SCORE_BAD_FRAME, "bad frame", counter="bad_frames")
        finally:
            conn.close()
            conns = self._connections.get(conn.peer, [])
            if conn in conns:
                conns.remove(conn)
            if not conns:
                self._connections.pop(conn.peer, None)
            self._state(conn.peer).last_seen = time.monotonic()
            self.stats.add("disconnects")
            log.info("link to peer %s… at %s closed", conn.peer[:6].hex(), conn.address)

    def _dispatch(self, conn: _Connection, kind: int, payload: bytes) -> None:
        now = time.monotonic()
        state = self._state(conn.peer)
        try:
            if kind == FrameType.CONSENSUS:
                self._on_consensus_frame(conn, state, payload, now)
            elif kind == FrameType.TRANSACTIONS:
                self._on_transactions_frame(conn, state, payload, now)
            elif kind == FrameType.STATUS:
                (height,) = decode_uints(payload, 1)
                conn.height = max(conn.height, height)
            elif kind == FrameType.GET_BLOCKS:
                self._on_block_request(conn, state, payload, now)
            elif kind == FrameType.BLOCKS:
                self._on_blocks_frame(conn, state, payload, now)
            elif kind == FrameType.GET_SNAPSHOT:
                decode_uints(payload, 1)
                self._on_serve_request(conn, state, now, FrameType.SNAPSHOT, self.handler.get_snapshot)
            elif kind == FrameType.GET_STATE:
                keys = decode_bytes_list(payload, limit=MAX_STATE_KEYS)
                self._on_serve_request(
                    conn, state, now, FrameType.STATE, lambda: encode_bytes_list(self.handler.get_state(keys))
                )
            elif kind == FrameType.GET_HISTORY:
                top, count = decode_uints(payload, 2)
                self._on_serve_request(
                    conn, state, now, FrameType.HISTORY, lambda: self.handler.get_history(top, count)
                )
            elif kind in (FrameType.SNAPSHOT, FrameType.STATE, FrameType.HISTORY):
                self._on_snapshot_answer(conn, state, kind, payload, now)
            else:
                self._penalize(
                    conn.peer, SCORE_BAD_FRAME, f"unexpected frame type {kind}", counter="unknown_frames"
                )
        except EncodingError:
            self._penalize(conn.peer, SCORE_BAD_FRAME, "undecodable frame", counter="bad_frames")
        except Exception:  # the handler's failure must not take the link (or the loop) down
            self.stats.add("handler_errors")
            log.exception("handling a frame of type %d from peer %s… failed", kind, conn.peer[:6].hex())

    def _on_transactions_frame(
        self, conn: _Connection, state: _PeerState, payload: bytes, now: float
    ) -> None:
        if not state.tx_bytes.take(len(payload), now):
            self._penalize(
                conn.peer, SCORE_OVER_BUDGET, "transactions over budget", counter="transactions_over_budget"
            )
            return
        raws = decode_bytes_list(payload, limit=MAX_TXS_PER_FRAME)
        self.stats.add("transactions_in", len(raws))
        self.handler.on_transactions(raws, conn.peer)

    def _on_blocks_frame(self, conn: _Connection, state: _PeerState, payload: bytes, now: float) -> None:
        if not state.take_pending_request(now):
            self._penalize(conn.peer, SCORE_UNSOLICITED, "unsolicited blocks", counter="unsolicited_blocks")
            return
        pairs = decode_block_pairs(payload, limit=MAX_BLOCKS_PER_ANSWER)
        self.stats.add("blocks_in", len(pairs))
        self.handler.on_blocks(pairs, conn.peer)

    def _on_consensus_frame(self, conn: _Connection, state: _PeerState, payload: bytes, now: float) -> None:
        frames, size = state.consensus_frames, state.consensus_bytes
        if not (frames.can_take(1, now) and size.can_take(len(payload), now)):
            self._penalize(
                conn.peer, SCORE_OVER_BUDGET, "consensus over budget", counter="consensus_over_budget"
            )
            return
        frames.take(1, now)
        size.take(len(payload), now)
        if not self.handler.on_consensus(payload, conn.peer):
            self._penalize(
                conn.peer, SCORE_INVALID_MESSAGE, "invalid consensus message", counter="invalid_consensus"
            )

    def _on_block_request(self, conn: _Connection, state: _PeerState, payload: bytes, now: float) -> None:
        from_height, max_count = decode_uints(payload, 2)
        if state.serving_blocks:
            self._penalize(
                conn.peer,
                SCORE_OVER_BUDGET,
                "block request while one is served",
                counter="block_requests_busy",
            )
            return
        if not state.block_requests.take(1, now):
            self._penalize(
                conn.peer, SCORE_OVER_BUDGET, "block requests over rate", counter="block_requests_over_rate"
            )
            return
        state.serving_blocks = True
        self._spawn(self._answer_blocks(conn, state, from_height, min(max_count, MAX_BLOCKS_PER_ANSWER)))

    def _on_serve_request(
        self, conn: _Connection, state: _PeerState, now: float, kind: FrameType, produce: Callable[[], bytes]
    ) -> None:
        """A snapshot, state or history request: served like block requests (one at a time per peer,
        rate-limited by the same bucket), the answer read in a worker thread."""
        if state.serving_blocks or not state.block_requests.take(1, now):
            self._penalize(
                conn.peer, SCORE_OVER_BUDGET, "snapshot request over budget", counter="snapshot_busy"
            )
            return
        state.serving_blocks = True
        self._spawn(self._answer(conn, state, kind, produce))

    async def _answer(
        self, conn: _Connection, state: _PeerState, kind: FrameType, produce: Callable[[], bytes]
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            try:
                payload = await loop.run_in_executor(None, produce)
            except Exception:  # a storage failure answers nothing; the requester asks elsewhere
                log.exception("reading a %s answer for a peer failed", kind.name)
                return
            frame = self._encode_outbound(kind, payload)
            if frame is not None and conn.send(frame):
                self.stats.add(f"{kind.name.lower()}_served")
        finally:
            state.serving_blocks = False

    def _on_snapshot_answer(
        self, conn: _Connection, state: _PeerState, kind: int, payload: bytes, now: float
    ) -> None:
        if not state.take_pending_request(now):
            self._penalize(conn.peer, SCORE_UNSOLICITED, "unsolicited snapshot", counter="unsolicited_blocks")
            return
        if kind == FrameType.SNAPSHOT:
            self.handler.on_snapshot(payload, conn.peer)
        elif kind == FrameType.HISTORY:
            self.handler.on_history(payload, conn.peer)
        else:
            self.handler.on_state(decode_bytes_list(payload, limit=MAX_STATE_KEYS), conn.peer)

    async def _answer_blocks(
        self, conn: _Connection, state: _PeerState, from_height: int, max_count: int
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
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
            frame = self._encode_outbound(FrameType.BLOCKS, encode_block_pairs(chosen))
            if frame is not None and conn.send(frame):
                self.stats.add("blocks_served", len(chosen))
        finally:
            state.serving_blocks = False
