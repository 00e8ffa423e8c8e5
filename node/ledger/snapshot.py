"""State snapshots: what a node needs to start following a chain at a recent sealed height, and its checks.

A snapshot *manifest* (one SNAPSHOT frame) names a committed block ``H`` and carries what proves it and
what a node at head ``H`` keeps besides the state:

    RLP [block H, certificate H, [receipt, ...], [[header, certificate, [validator, ...]], ...], frontier]

* the block and its certificate: the header is proven a block of the chain by following the validator-set
  ``handovers`` from genesis (each sealed by the set before it) and checking the certificate under the set
  in force (``Verifier.verify_header``: the one certificate rule). A joining node trusts its genesis file
  and certificates, never the peer that sent them;
* the block's receipts (they must give its receipt root: a restart checks them again);
* the history ``frontier`` over blocks ``0..H-1`` (it must give the header's ``history_root``).

The *state* at ``H`` is then fetched by trie node hash from several peers (``StateDownload``): every value
must hash (Keccak-256) to the key asked, and the walk starts at the header's state root, so the state
rebuilt is the state that root names: nothing else can be assembled from nodes that hash to their keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from eth_hash.auto import keccak

from node.ledger.handovers import collect_handovers
from node.ledger.history import HISTORY_FRONTIER_KEY
from node.storage.pruning import node_references
from node.storage.store import BLANK_STATE_ROOT, SNAPSHOT_HEIGHT_KEY, STATE_PRUNED_BELOW_KEY, Store
from sdk.encoding import decode, encode
from sdk.errors import EncodingError, InvalidBlock, MerkleProofError, StorageError, VerificationError
from sdk.proofs.bundle import Handover, SealedHeader
from sdk.proofs.merkle import MerkleAccumulator
from sdk.proofs.trust import Genesis
from sdk.proofs.verify import Verifier
from sdk.types import (
    Block,
    BlockHeader,
    CommitCertificate,
    Receipt,
    compute_receipt_root,
    compute_tx_root,
    compute_validators_hash,
)

if TYPE_CHECKING:
    from node.ledger.chain import Ledger

#: Metadata: the height of the block that carries the validator set in force (absent: genesis).
VALIDATORS_AT_KEY = "validators_height"
#: Metadata of a node that joined by snapshot: the set in force after the snapshot height (RLP list).
SNAPSHOT_VALIDATORS_KEY = "snapshot_validators"
#: Metadata of a node that joined by snapshot at a block that handed over: the set that sealed that block.
SNAPSHOT_DECIDING_KEY = "snapshot_deciding"
#: Validator-set handovers one manifest may carry.
MAX_SNAPSHOT_HANDOVERS = 4_096
#: Validators one handover may name.
MAX_HANDOVER_VALIDATORS = 1_024


class SnapshotError(VerificationError):
    """A snapshot manifest or state answer a peer sent is malformed or does not prove what it claims."""

    code = "bad_snapshot"


@dataclass(frozen=True)
class Snapshot:
    """A verified snapshot manifest: the block to start from and what a node at that head keeps."""

    block: Block
    certificate: CommitCertificate
    receipts: tuple[Receipt, ...]
    handovers: tuple[Handover, ...]
    frontier: MerkleAccumulator
    validators: tuple[bytes, ...]  # the set in force for the next height
    deciding: tuple[bytes, ...] = ()  # the set that sealed the block (when the block hands over: another)

    @property
    def height(self) -> int:
        return self.block.header.height

    @property
    def state_root(self) -> bytes:
        return self.block.header.state_root


def encode_manifest(
    block: Block,
    certificate: CommitCertificate,
    receipts: Sequence[Receipt],
    handovers: Sequence[Handover],
    frontier: bytes,
) -> bytes:
    """The SNAPSHOT payload of block ``block`` (see the module docstring)."""
    return encode(
        [
            block.encode(),
            certificate.encode(),
            [r.encode() for r in receipts],
            [
                [h.header.encode(), h.certificate.encode() if h.certificate else b"", list(h.validators)]
                for h in handovers
            ],
            frontier,
        ]
    )


def verify_manifest(payload: bytes, trust: Genesis) -> Snapshot:
    """Decode a SNAPSHOT payload and prove it from ``trust`` (the node's genesis: chain id, hash, first set).

    Raises SnapshotError (or another VerificationError naming the check) when it is malformed, the block is
    not sealed by a quorum of the set the handovers lead to, or its receipts or frontier do not give the
    header's roots.
    """
    try:
        block, certificate, receipts, handovers, frontier = _decode_manifest(payload)
    except (EncodingError, MerkleProofError, ValueError, TypeError) as exc:
        raise SnapshotError(f"the snapshot manifest is malformed: {exc}") from exc
    header = block.header
    if header.chain_id != trust.chain_id:
        raise SnapshotError("the snapshot is of another chain", chain_id=header.chain_id)
    if header.height < 1:
        raise SnapshotError("a snapshot starts above genesis")
    deciding = Verifier(trust=trust).verify_header(SealedHeader(header, certificate), handovers)
    if compute_tx_root(block.transactions) != header.tx_root:
        raise SnapshotError("the snapshot block's transactions do not give its tx root", height=header.height)
    if compute_receipt_root(receipts) != header.receipt_root:
        raise SnapshotError(
            "the snapshot receipts do not give the block's receipt root", height=header.height
        )
    if frontier.size != header.height or frontier.root() != header.history_root:
        raise SnapshotError(
            "the snapshot history does not give the block's history root", height=header.height
        )
    validators = deciding
    if header.next_validators_hash != header.validators_hash:
        if compute_validators_hash(block.next_validators) != header.next_validators_hash:
            raise SnapshotError("the snapshot block carries another set than its header names")
        validators = tuple(block.next_validators)
    return Snapshot(block, certificate, tuple(receipts), tuple(handovers), frontier, validators, deciding)


def _decode_manifest(
    payload: bytes,
) -> tuple[Block, CommitCertificate, list[Receipt], list[Handover], MerkleAccumulator]:
    item = decode(payload)
    if not isinstance(item, list) or len(item) != 5:
        raise EncodingError("expected [block, certificate, receipts, handovers, frontier]")
    block_raw, cert_raw, receipts_raw, handovers_raw, frontier_raw = item
    if not isinstance(receipts_raw, list) or not isinstance(handovers_raw, list):
        raise EncodingError("expected lists of receipts and handovers")
    if len(handovers_raw) > MAX_SNAPSHOT_HANDOVERS:
        raise EncodingError(f"more than {MAX_SNAPSHOT_HANDOVERS} handovers")
    block = Block.decode(_string(block_raw))
    if len(receipts_raw) != len(block.transactions):
        raise EncodingError("one receipt per transaction is needed")
    receipts = [Receipt.decode(_string(r)) for r in receipts_raw]
    handovers = []
    for entry in handovers_raw:
        if not isinstance(entry, list) or len(entry) != 3 or not isinstance(entry[2], list):
            raise EncodingError("expected [header, certificate, validators]")
        if len(entry[2]) > MAX_HANDOVER_VALIDATORS:
            raise EncodingError(f"more than {MAX_HANDOVER_VALIDATORS} validators in a handover")
        cert = CommitCertificate.decode(_string(entry[1])) if entry[1] else None
        validators = tuple(_string(v) for v in entry[2])
        handovers.append(Handover(BlockHeader.decode(_string(entry[0])), cert, validators))
    frontier = MerkleAccumulator.from_bytes(_string(frontier_raw))
    return block, CommitCertificate.decode(_string(cert_raw)), receipts, handovers, frontier


def _string(item: object) -> bytes:
    if not isinstance(item, bytes):
        raise EncodingError("expected a string")
    return item


# --- the state download ------------------------------------------------------------------------------------
@dataclass
class StateDownload:
    """Which state nodes to ask which peer for, and what their answers prove (pure: no I/O, no clock).

    Every node is asked by its key (the Keccak-256 of its value) starting at ``root``; an answer whose
    value is not one of the keys asked of that peer convicts the peer (``on_answer`` returns False: the
    caller drops it and its keys are asked of another peer). A key that every peer of the download has
    left out of its answers is taken for what it is: a 32-byte value inside a node that is no node key
    (``node_references`` over-approximates), never a node that an honest peer would withhold.
    """

    root: bytes
    batch: int = 512
    nodes: dict[bytes, bytes] = field(default_factory=dict)
    _wanted: dict[bytes, None] = field(default_factory=dict)  # insertion-ordered set
    _asked: dict[bytes, list[bytes]] = field(default_factory=dict)
    _asked_keys: set[bytes] = field(default_factory=set)
    _omitted_by: dict[bytes, set[bytes]] = field(default_factory=dict)
    _not_nodes: set[bytes] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.root != BLANK_STATE_ROOT:
            self._wanted[self.root] = None

    @property
    def done(self) -> bool:
        """Whether every node reachable from the root is here (nothing wanted, nothing asked)."""
        return not self._wanted and not self._asked

    @property
    def pending(self) -> int:
        """Keys wanted or asked and not answered yet."""
        return len(self._wanted) + sum(len(k) for k in self._asked.values())

    def is_busy(self, peer: bytes) -> bool:
        return peer in self._asked

    def next_request(self, peer: bytes) -> list[bytes]:
        """Up to ``batch`` wanted keys to ask ``peer`` for (none while it has a request outstanding, and none
        it has left out before)."""
        if peer in self._asked:
            return []
        keys = [k for k in self._wanted if peer not in self._omitted_by.get(k, ())][: self.batch]
        for key in keys:
            del self._wanted[key]
        if keys:
            self._asked[peer] = keys
            self._asked_keys.update(keys)
        return keys

    def on_answer(self, peer: bytes, values: Iterable[bytes], peers: Iterable[bytes]) -> bool:
        """Take ``peer``'s answer to its outstanding request (``peers``: every peer still in the download).
        Returns False, keeping nothing of it, when a value is not a node asked of it."""
        asked = self._asked.pop(peer, [])
        by_key = {keccak(value): value for value in values}
        expected = set(asked)
        if not set(by_key) <= expected:
            self._asked_keys.difference_update(asked)
            self._wanted.update(dict.fromkeys(asked))
            return False
        everyone = set(peers)
        for key in asked:
            value = by_key.get(key)
            if value is None:
                omitted = self._omitted_by.setdefault(key, set())
                omitted.add(peer)
                if everyone <= omitted:
                    self._not_nodes.add(key)
                    self._wanted.pop(key, None)
                else:
                    self._wanted[key] = None
                continue
            self.nodes[key] = value
            self._omitted_by.pop(key, None)
            self._wanted.pop(key, None)
            for ref in node_references(value):
                if not (
                    ref in self.nodes
                    or ref in self._wanted
                    or ref in self._asked_keys
                    or ref in self._not_nodes
                ):
                    self._wanted[ref] = None
        self._asked_keys.difference_update(asked)
        return True

    def drop(self, peer: bytes) -> None:
        """``peer`` left the download (convicted, gone or too slow): its keys are wanted again."""
        keys = self._asked.pop(peer, [])
        self._asked_keys.difference_update(keys)
        self._wanted.update(dict.fromkeys(keys))


# --- what a node keeps -------------------------------------------------------------------------------------
def read_validators_in_force(store: Store) -> tuple[bytes, ...]:
    """The validator set in force after the stored head: the most recent set carried in a block body (its
    height is kept in metadata, so a restart reads one block, not the whole chain), or, below the height a
    node joined at by snapshot, the set its verified manifest named. Raises InvalidBlock when missing."""
    marker = store.get_metadata(VALIDATORS_AT_KEY)
    set_height = int.from_bytes(marker, "big") if marker else 0
    joined = store.get_metadata(SNAPSHOT_HEIGHT_KEY)
    if joined is not None and set_height < int(joined.decode()):
        validators = _stored_set(store, SNAPSHOT_VALIDATORS_KEY)
        if not validators:
            raise InvalidBlock("the validator set of the snapshot is missing", code="missing_validators")
        return validators
    carrier = store.get_block(set_height)
    if carrier is None or not carrier.next_validators:
        raise InvalidBlock(f"block {set_height} should carry the validator set", code="missing_validators")
    return tuple(carrier.next_validators)


def read_snapshot_deciding(store: Store) -> tuple[bytes, ...]:
    """The set that sealed the block this node joined at, when that block handed over to another set (the
    start-up check of that head cannot read it from the parent's state: the parent is not here); else ()."""
    return _stored_set(store, SNAPSHOT_DECIDING_KEY)


def _stored_set(store: Store, key: str) -> tuple[bytes, ...]:
    stored = store.get_metadata(key)
    item = decode(stored) if stored else None
    if isinstance(item, list) and all(isinstance(k, bytes) for k in item):
        return tuple(bytes(k) for k in item)  # type: ignore[arg-type]
    return ()


def install_snapshot(store: Store, snapshot: Snapshot, nodes: Mapping[bytes, bytes]) -> None:
    """Store a verified snapshot as the head of a store that holds only genesis: the block with its
    certificate and receipts, the state ``nodes`` (the complete download) and, in the same transaction, the
    history frontier, the snapshot height (also the lowest height whose state is kept) and the validator
    set in force. The node's ledger is loaded (``Ledger.load``) afterwards. Raises StorageError when the
    store holds more than genesis or the state root is not among ``nodes``."""
    if snapshot.state_root != BLANK_STATE_ROOT and snapshot.state_root not in nodes:
        raise StorageError("the downloaded state lacks its root node", height=snapshot.height)
    metadata = {
        HISTORY_FRONTIER_KEY: snapshot.frontier.to_bytes(),
        SNAPSHOT_HEIGHT_KEY: str(snapshot.height).encode(),
        # The state below the snapshot is never fetched (its blocks are back-filled, not their state).
        STATE_PRUNED_BELOW_KEY: str(snapshot.height).encode(),
        SNAPSHOT_VALIDATORS_KEY: encode(list(snapshot.validators)),
    }
    if snapshot.deciding and snapshot.deciding != snapshot.validators:
        metadata[SNAPSHOT_DECIDING_KEY] = encode(list(snapshot.deciding))
    store.commit_block(
        snapshot.block,
        snapshot.certificate,
        snapshot.receipts,
        state_nodes=nodes,
        metadata=metadata,
        snapshot=True,
    )


# --- serving ---------------------------------------------------------------------------------------------
def build_manifest(ledger: Ledger) -> bytes:
    """This node's SNAPSHOT payload: the most recent block whose history frontier is stored (the head,
    committed with it in one transaction), or b"" when there is none (genesis only, or a database whose
    head was committed before frontiers were stored). Raises StorageError when a handover block is missing
    (a node that joined by snapshot itself and has not back-filled them)."""
    store = ledger.store
    frontier = store.get_metadata(HISTORY_FRONTIER_KEY)
    if frontier is None or len(frontier) < 8:
        return b""
    height = int.from_bytes(frontier[:8], "big")
    block, certificate = store.get_block(height), store.get_certificate(height)
    receipts = store.get_block_receipts(height)
    if height < 1 or block is None or certificate is None or receipts is None:
        return b""
    return encode_manifest(block, certificate, receipts, collect_handovers(ledger, height), frontier)


def read_state_answer(store: Store, keys: Sequence[bytes], max_bytes: int) -> list[bytes]:
    """The stored values of ``keys`` (those this node has, in order) up to ``max_bytes`` in total (at least
    one value)."""
    out: list[bytes] = []
    budget = max_bytes
    for key in keys:
        value = store.get_state_node(key)
        if value is None:
            continue
        budget -= len(value)
        if budget < 0 and out:
            break
        out.append(value)
    return out
