"""Join by snapshot: a new node fetches the state at a recent sealed height from several peers and starts
following the chain there, without replaying its history.

1. **Manifests.** Every connected peer is asked for its snapshot manifest (node.ledger.snapshot). Each is
   proven from the node's own genesis: the validator-set handovers from genesis, then the block's commit
   certificate under the set in force (the one certificate rule), its receipts and history frontier
   against the header's roots. A peer whose manifest fails is charged and left out. The highest proven
   block wins; every peer whose proven manifest is of the same chain serves its state.
2. **State.** The trie nodes under that block's state root are asked by hash from those peers, a batch per
   peer at a time (``StateDownload``; at most MAX_STATE_KEYS keys a request, MAX_STATE_ANSWER_BYTES an
   answer, paced under the peers' request budget). An answer holding a value that hashes to no key asked
   convicts the peer: it is charged, dropped from the download, and its keys go to the others. A peer
   that does not answer in time loses its batch to the others.
3. The caller stores the block and state (``install_snapshot``) and starts consensus and block sync from
   there. Everything is bounded by ``timeout_s``; when it passes, JoinError says what was missing.
"""

from __future__ import annotations

import logging
import queue
import time
from dataclasses import dataclass

from node.ledger.snapshot import Snapshot, StateDownload, verify_manifest
from node.p2p.peers import MAX_STATE_KEYS, SCORE_BAD_FRAME
from node.p2p.service import PeerService
from sdk.errors import XinlianError
from sdk.proofs.trust import Genesis

log = logging.getLogger("xinlian.join")

#: How long to wait for manifests once the first proven one is in (slower peers may hold a higher block).
MANIFEST_GRACE_S: float = 1.0
#: A state request unanswered after this long goes to another peer.
STATE_REQUEST_TIMEOUT_S: float = 10.0
#: The least time between two requests to one peer (its block-request budget refills at 4 a second).
REQUEST_SPACING_S: float = 0.3
#: How often a manifest is asked again of a peer that has not answered.
MANIFEST_RETRY_S: float = 3.0


class JoinError(XinlianError):
    """Joining by snapshot did not complete (no proven manifest, or the state download ran out of time)."""

    code = "join_failed"


class JoinHandler:
    """The peer handler while a node joins: it serves nothing and ignores consensus traffic; the answers
    to its snapshot and state requests are queued for ``join_by_snapshot`` (bounded by the requests)."""

    def __init__(self) -> None:
        self.answers: queue.Queue[tuple[str, object, bytes]] = queue.Queue()

    def get_height(self) -> int:
        return 0

    def on_peer_connected(self, peer: bytes) -> None:
        return None

    def on_consensus(self, data: bytes, peer: bytes) -> bool:
        return True  # not followed yet: dropped, no fault of the peer

    def on_transactions(self, raws: list[bytes], peer: bytes) -> None:
        return None

    def get_blocks(self, from_height: int, max_count: int) -> list[tuple[bytes, bytes]]:
        return []

    def on_blocks(self, pairs: list[tuple[bytes, bytes]], peer: bytes) -> None:
        return None

    def get_snapshot(self) -> bytes:
        return b""

    def get_state(self, keys: list[bytes]) -> list[bytes]:
        return []

    def on_snapshot(self, payload: bytes, peer: bytes) -> None:
        self.answers.put(("snapshot", payload, peer))

    def on_state(self, values: list[bytes], peer: bytes) -> None:
        self.answers.put(("state", values, peer))

    def get_history(self, top_height: int, max_count: int) -> bytes:
        return b"\xc0"  # no block held yet: the empty list

    def on_history(self, payload: bytes, peer: bytes) -> None:
        return None


@dataclass(frozen=True)
class Joined:
    """What a completed join brings: the proven snapshot, its state nodes, and who served them."""

    snapshot: Snapshot
    nodes: dict[bytes, bytes]
    peers: tuple[bytes, ...]
    convicted: tuple[bytes, ...]


def join_by_snapshot(
    service: PeerService,
    handler: JoinHandler,
    trust: Genesis,
    *,
    min_peers: int = 1,
    timeout_s: float = 120.0,
) -> Joined:
    """Run steps 1 and 2 over the started ``service`` (whose handler is ``handler``). ``min_peers``: proven
    manifests to wait for before choosing (fewer are taken when ``timeout_s`` is half gone). Raises
    JoinError when nothing is proven or the state is not complete in time."""
    deadline = time.monotonic() + timeout_s
    convicted: set[bytes] = set()
    snapshot, peers = _choose_manifest(service, handler, trust, min_peers, deadline, convicted)
    log.info(
        "joining at height %d (state root %s…) from %d peers",
        snapshot.height,
        snapshot.state_root[:6].hex(),
        len(peers),
    )
    download = StateDownload(snapshot.state_root, batch=MAX_STATE_KEYS)
    asked_at: dict[bytes, float] = {}
    last_request: dict[bytes, float] = {}
    while not download.done:
        now = time.monotonic()
        if now > deadline or not peers:
            raise JoinError("the state download did not complete", pending=download.pending, peers=len(peers))
        connected = set(service.connected_peers())
        for peer in sorted(peers):
            late = download.is_busy(peer) and now - asked_at[peer] > STATE_REQUEST_TIMEOUT_S
            if peer not in connected or late:
                log.info("peer %s… left or did not answer a state request in time", peer[:6].hex())
                download.drop(peer)
                asked_at.pop(peer, None)
            elif not download.is_busy(peer) and now - last_request.get(peer, 0.0) >= REQUEST_SPACING_S:
                keys = download.next_request(peer)
                if keys:
                    service.request_state(peer, keys)
                    asked_at[peer] = last_request[peer] = now
        try:
            kind, item, peer = handler.answers.get(timeout=0.05)
        except queue.Empty:
            continue
        if kind != "state" or peer not in peers or not download.is_busy(peer):
            continue
        assert isinstance(item, list)
        if not download.on_answer(peer, item, peers):
            log.warning(
                "peer %s… sent state nodes it was not asked for: dropped from the join", peer[:6].hex()
            )
            service.report_misbehaviour(peer, SCORE_BAD_FRAME, "bad snapshot state")
            convicted.add(peer)
            peers.discard(peer)
    log.info("downloaded %d state nodes at height %d", len(download.nodes), snapshot.height)
    return Joined(snapshot, download.nodes, tuple(sorted(peers)), tuple(sorted(convicted)))


def _choose_manifest(
    service: PeerService,
    handler: JoinHandler,
    trust: Genesis,
    min_peers: int,
    deadline: float,
    convicted: set[bytes],
) -> tuple[Snapshot, set[bytes]]:
    """Ask every connected peer for its manifest until ``min_peers`` are proven (or the grace after the first
    one passes once half the time is gone); return the highest and the peers whose manifests were proven."""
    half = time.monotonic() + (deadline - time.monotonic()) / 2
    asked: dict[bytes, float] = {}
    proven: dict[bytes, Snapshot] = {}
    first_at: float | None = None
    while True:
        now = time.monotonic()
        enough = len(proven) >= min_peers or (proven and now > half)
        if enough and first_at is not None and now - first_at >= MANIFEST_GRACE_S:
            break
        if now > deadline:
            raise JoinError("no peer sent a snapshot manifest proven from genesis", convicted=len(convicted))
        for peer in service.connected_peers():
            if peer in proven or peer in convicted:
                continue
            if now - asked.get(peer, -MANIFEST_RETRY_S) >= MANIFEST_RETRY_S:
                service.request_snapshot(peer)
                asked[peer] = now
        try:
            kind, item, peer = handler.answers.get(timeout=0.05)
        except queue.Empty:
            continue
        if kind != "snapshot" or peer in proven or peer in convicted:
            continue
        assert isinstance(item, bytes)
        if not item:  # the peer has no snapshot to offer (a fresh chain): asked again later
            continue
        try:
            proven[peer] = verify_manifest(item, trust)
        except XinlianError as exc:
            log.warning("peer %s… sent a snapshot manifest that is not proven: %s", peer[:6].hex(), exc)
            service.report_misbehaviour(peer, SCORE_BAD_FRAME, "bad snapshot manifest")
            convicted.add(peer)
            continue
        first_at = first_at if first_at is not None else time.monotonic()
    best = max(proven.values(), key=lambda s: s.height)
    return best, set(proven)
