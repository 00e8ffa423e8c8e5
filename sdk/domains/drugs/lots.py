"""A lot part's code ids as DrugLots commits to them: an RFC 9162 tree with keccak256, its root and paths.

``DrugLots.commission_lot`` computes the same root on chain from the code ids in its calldata (leaf
``keccak256(0x00 ‖ code id)``, node ``keccak256(0x01 ‖ left ‖ right)``); ``DrugLots.materialise`` walks each
code's path to it. keccak256, not SM3: the SM3 precompile would send every such message to py-evm
(docs/design-notes/drug-lots.md measures both).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from eth_utils.crypto import keccak

from sdk.contracts import Contract
from sdk.domains.drugs.encoders import MAX_CODES_PER_CALL
from sdk.encoding import from_hex, readable_repr, to_hex
from sdk.errors import DomainError, InputError
from sdk.proofs.merkle import verify_inclusion_of_leaf_hash
from sdk.system import DRUG_LOTS_ADDRESS

if TYPE_CHECKING:
    from sdk.answers import ReceiptResult
    from sdk.types import Log

#: Code ids per ``commission_lot`` call (DrugLots.MAX_PART): a part's paths have at most 12 nodes.
MAX_LOT_PART: Final = 4000
#: ``materialise_range`` proves a block of 2**BLOCK_SHIFT consecutive codes of a part with one path.
BLOCK_SHIFT: Final = 7
BLOCK: Final = 1 << BLOCK_SHIFT
LOTS_CONTRACT: Final = Contract("DrugLots")
COMMISSION_LOT_SELECTOR: Final = LOTS_CONTRACT.selector("commission_lot")
LOT_COMMISSIONED_TOPIC: Final = LOTS_CONTRACT.event_topic("LotCommissioned")
LEAF_PREFIX: Final = b"\x00"
NODE_PREFIX: Final = b"\x01"


class LotTree:
    """The tree of one lot part's code ids, in the order they are commissioned."""

    __slots__ = ("_levels",)

    def __init__(self, code_ids: Sequence[bytes]) -> None:
        """Raises InputError for an empty part, one over MAX_LOT_PART, or an id that is not 32 bytes."""
        if not 1 <= len(code_ids) <= MAX_LOT_PART:
            raise InputError(
                f"a lot part holds 1 to {MAX_LOT_PART} codes, not {len(code_ids)}", count=len(code_ids)
            )
        if any(len(code_id) != 32 for code_id in code_ids):
            raise InputError("a code id is 32 bytes")
        levels = [[compute_lot_leaf_hash(code_id) for code_id in code_ids]]
        while len(levels[-1]) > 1:
            below = levels[-1]
            above = [_node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
            if len(below) % 2:
                above.append(below[-1])  # promoted: RFC 9162's left-full split gives the same root
            levels.append(above)
        self._levels = levels

    @property
    def size(self) -> int:
        return len(self._levels[0])

    @property
    def root(self) -> bytes:
        return self._levels[-1][0]

    def path(self, index: int, *, height: int = 0) -> tuple[bytes, ...]:
        """The inclusion path (RFC 9162 §2.1.3.1, up to the root) of the code at ``index``, or with ``height``
        of the node ``index`` that many levels up (``BLOCK_SHIFT``: a block of ``materialise_range``)."""
        if not 0 <= index < -(-self.size >> height):
            raise InputError(f"no node {index} at height {height} in a part of {self.size}", index=index)
        path = []
        for level in self._levels[height:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index >>= 1
        return tuple(path)


def compute_lot_leaf_hash(code_id: bytes) -> bytes:
    """A code id's leaf in its part's tree: ``keccak256(0x00 ‖ code id)``."""
    return keccak(LEAF_PREFIX + code_id)


def _node_hash(left: bytes, right: bytes) -> bytes:
    return keccak(NODE_PREFIX + left + right)


def verify_lot_path(code_id: bytes, leaf: int, size: int, path: Sequence[bytes], root: bytes) -> None:
    """Check that ``code_id`` is leaf ``leaf`` of the part of ``size`` codes whose root is ``root`` (both
    from the part's ``LotCommissioned`` log, never from the proof): RFC 9162 inclusion with keccak256.

    Raises MerkleProofError saying why it does not hold.
    """
    verify_inclusion_of_leaf_hash(compute_lot_leaf_hash(code_id), leaf, size, path, root, node=_node_hash)


# --- gas and sizes ---------------------------------------------------------------------------------------
# Measured on the contract tests' chain: 1,370 gas a code in a 3,000-code part, 580,839 for a part of one code
# that opens its batch; materialising, 34,000-39,000 gas a code.
LOT_GAS_BASE: Final = 600_000  # DrugTrace's checks and a new batch, the part's record and its log
LOT_GAS_PER_CODE: Final = 1_400  # its leaf, the node hashes it completes, its 32 bytes of call data
MATERIALISE_GAS_BASE: Final = 200_000
MATERIALISE_GAS_PER_CODE: Final = 40_000  # a path of up to 12 nodes, the word and its two logs
MATERIALISE_RANGE_GAS_PER_CODE: Final = 27_000  # its leaf and share of the block's nodes, the word and logs
#: What a part's transaction carries besides its code ids: the envelope, signature and other arguments.
LOT_TX_OVERHEAD_BYTES: Final = 1024


def compute_lot_part_size(tx_gas_limit: int, max_tx_bytes: int) -> int:
    """How many code ids one ``commission_lot`` transaction carries under the chain's gas and size limits."""
    by_gas = (tx_gas_limit - LOT_GAS_BASE) // LOT_GAS_PER_CODE
    by_bytes = (max_tx_bytes - LOT_TX_OVERHEAD_BYTES) // 32
    return max(1, min(MAX_LOT_PART, by_gas, by_bytes))


def compute_materialise_chunk_size(tx_gas_limit: int) -> int:
    """How many codes one ``materialise`` transaction proves under the chain's gas limit (at most
    DrugTrace's codes per call)."""
    return max(1, min(MAX_CODES_PER_CALL, (tx_gas_limit - MATERIALISE_GAS_BASE) // MATERIALISE_GAS_PER_CODE))


@readable_repr
@dataclass(frozen=True, slots=True)
class LotPart:
    """One part of a lot as commissioned by its root: what its MAH keeps to materialise the codes later.

    ``to_json`` / ``from_json`` give it a file's form (the code ids are hashes: no code in clear).
    """

    part: int  # DrugLots' number of the part
    product_id: bytes
    root: bytes
    code_ids: tuple[bytes, ...]  # in leaf order
    tx_hash: bytes

    def tree(self) -> LotTree:
        return LotTree(self.code_ids)

    def to_json(self) -> dict[str, Any]:
        return {
            "part": self.part,
            "product_id": to_hex(self.product_id),
            "root": to_hex(self.root),
            "tx_hash": to_hex(self.tx_hash),
            "code_ids": [to_hex(code_id) for code_id in self.code_ids],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LotPart:
        """Raises InputError when ``data`` is not a part as ``to_json`` writes it, or its ids do not make its
        root."""
        try:
            part = cls(
                part=int(data["part"]),
                product_id=from_hex(data["product_id"], "product_id", size=32, error=InputError),
                root=from_hex(data["root"], "root", size=32, error=InputError),
                tx_hash=from_hex(data["tx_hash"], "tx_hash", size=32, error=InputError),
                code_ids=tuple(
                    from_hex(code_id, "code_ids", size=32, error=InputError) for code_id in data["code_ids"]
                ),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not a lot part: {exc}") from None
        if part.tree().root != part.root:
            raise InputError("the lot part's code ids do not make its root", part=part.part)
        return part


def build_commission_lot_calls(
    product_id: bytes,
    batch_no: str,
    days: tuple[int, int],
    level: int,
    code_ids: Sequence[bytes],
    *,
    part_size: int,
    tx_gas_limit: int,
) -> list[tuple[list[bytes], bytes, int]]:
    """The ``DrugLots.commission_lot`` calls of a lot: its code ids in order, ``part_size`` a part, each
    with the production and expiry days ``days``. Returns: (the part's code ids, call data, gas limit) per
    transaction."""
    calls = []
    for start in range(0, len(code_ids), part_size):
        chunk = list(code_ids[start : start + part_size])
        data = LOTS_CONTRACT.encode_call("commission_lot", [product_id, batch_no, *days, level, chunk])
        calls.append((chunk, data, min(tx_gas_limit, LOT_GAS_BASE + LOT_GAS_PER_CODE * len(chunk))))
    return calls


def decode_lot_commissioned(receipt: ReceiptResult) -> tuple[int, bytes]:
    """The part number and root of the one ``LotCommissioned`` log of a ``commission_lot`` receipt.

    Raises DomainError (``not_a_lot_part``) for a receipt without exactly one such log of DrugLots.
    """
    found = read_lot_commissioned(receipt.logs) if receipt.succeeded else None
    if found is None:
        raise DomainError("not a committed lot part", code="not_a_lot_part", tx_hash=to_hex(receipt.tx_hash))
    return found.part, found.root


@readable_repr
@dataclass(frozen=True, slots=True)
class LotCommissionedLog:
    """A ``LotCommissioned`` log of DrugLots, read by position: its topics and the words of its data, as the
    EVM wrote them (what the lot index and both proof-bundle verifiers read, alike)."""

    part: int
    product_id: bytes
    batch_no: str  # its bytes as UTF-8, an invalid sequence as U+FFFD (the contract takes any bytes)
    level: int
    root: bytes
    count: int
    mah: bytes  # ``by``: the account that commissioned the part


def read_lot_commissioned_log(log: Log) -> LotCommissionedLog | None:
    """The fields of a DrugLots ``LotCommissioned`` log, or None when ``log`` is none (another address or
    event, or topics and words that do not fit it). Never raises."""
    topics, data = log.topics, log.data
    if log.address != DRUG_LOTS_ADDRESS or len(topics) != 4 or topics[0] != LOT_COMMISSIONED_TOPIC:
        return None
    if any(topics[3][:12]) or len(data) < 4 * 32:
        return None

    def word(at: int) -> int:
        return int.from_bytes(data[at : at + 32], "big")

    level, count = word(32), word(96)
    batch_bytes = _abi_bytes(data, word(0))
    if batch_bytes is None or level > 255 or count > MAX_LOT_PART:
        return None
    batch = batch_bytes.decode("utf-8", "replace")
    return LotCommissionedLog(
        part=int.from_bytes(topics[1], "big"),
        product_id=topics[2],
        batch_no=batch,
        level=level,
        root=data[64:96],
        count=count,
        mah=topics[3][12:],
    )


def read_lot_commissioned(logs: Sequence[Log]) -> LotCommissionedLog | None:
    """The one ``LotCommissioned`` log of DrugLots among a receipt's ``logs``, or None (none, or more than
    one DrugLots log). Never raises."""
    ours = [log for log in logs if log.address == DRUG_LOTS_ADDRESS]
    return read_lot_commissioned_log(ours[0]) if len(ours) == 1 else None


def _abi_bytes(data: bytes, offset: int) -> bytes | None:
    """The bytes of an ABI ``string``/``bytes`` whose length word is at ``offset`` of ``data``, or None."""
    length = int.from_bytes(data[offset : offset + 32], "big") if offset + 32 <= len(data) else -1
    return data[offset + 32 : offset + 32 + length] if 0 <= length <= len(data) - offset - 32 else None


def read_part_record(output: bytes) -> dict[str, Any] | None:
    """A ``DrugLots.parts(n)`` answer read by position (``mah``, ``level``, ``production_day``,
    ``expiry_day``, ``product``, ``batch_no``, ``root``, ``size``), the batch number's bytes as UTF-8 with an
    invalid sequence as U+FFFD, as the logs are read; None for an answer of another shape. Never raises: the
    contract takes any bytes as a batch number, which a strict decoder refuses."""
    base = int.from_bytes(output[:32], "big")
    body = output[base:] if 32 <= base <= len(output) else b""
    if len(body) < 8 * 32:
        return None
    words = [int.from_bytes(body[32 * i : 32 * (i + 1)], "big") for i in range(8)]
    batch = _abi_bytes(body, words[5])
    if batch is None or words[0] >> 160 or words[1] > 255 or words[2] >> 32 or words[3] >> 32:
        return None
    return {
        "mah": body[12:32],
        "level": words[1],
        "production_day": words[2],
        "expiry_day": words[3],
        "product": body[128:160],
        "batch_no": batch.decode("utf-8", "replace"),
        "root": body[192:224],
        "size": words[7],
    }


def read_lot_call_codes(data: bytes) -> tuple[bytes, ...] | None:
    """The code ids of ``commission_lot`` call data as the contract reads them, or None for other call data
    or a code array that cannot be read. Never raises.

    Vyper reads the ``codes`` array through its offset and length words, and ``calldataload`` pads short
    call data with zeros; so does this. Other arguments are not read: a strict ABI decoder would refuse
    encodings the contract accepts (non-zero string padding, a batch number that is not UTF-8, cut-off call
    data), and a part's codes must be read whatever its other arguments look like.
    """
    if data[:4] != COMMISSION_LOT_SELECTOR:
        return None
    args = data[4:]

    def word(at: int) -> int:
        return int.from_bytes(args[at : at + 32].ljust(32, b"\0"), "big")

    offset = word(5 * 32)  # the head: product, batch_no's offset, the two days, level, codes' offset
    if offset > len(args):
        return None
    count = word(offset)
    if not 1 <= count <= MAX_LOT_PART:
        return None
    body = args[offset + 32 : offset + 32 + 32 * count].ljust(32 * count, b"\0")
    return tuple(body[32 * i : 32 * (i + 1)] for i in range(count))


@readable_repr
@dataclass(frozen=True, slots=True)
class CommittedPart:
    """What a committed ``commission_lot`` transaction recorded: its part number, product, root and MAH, and
    the code ids of its call data in leaf order, checked to make the root DrugLots recorded."""

    part: int
    product_id: bytes
    root: bytes
    code_ids: tuple[bytes, ...]
    mah: bytes
    tree: LotTree = field(compare=False, repr=False)  # of ``code_ids``, built once to check the root


def decode_committed_part(
    to: bytes | None, data: bytes, succeeded: bool, logs: Sequence[Log]
) -> CommittedPart | None:
    """The lot part a committed transaction recorded (its call data, and the ``LotCommissioned`` log of its
    receipt), or None when it is not a successful ``DrugLots.commission_lot`` whose codes make the root and
    count of its log. The one reading of a part from the chain: the node's lot index and ``Drugs.lot_part``
    both use it, and it never raises, since the index reads it while a block commits.
    """
    if to != DRUG_LOTS_ADDRESS or not succeeded:
        return None
    log = read_lot_commissioned(logs)
    codes = read_lot_call_codes(data) if log is not None else None
    if log is None or codes is None or len(codes) != log.count:
        return None
    tree = LotTree(codes)
    if tree.root != log.root:
        return None
    return CommittedPart(log.part, log.product_id, log.root, codes, log.mah, tree)


def build_materialise_calls(
    part: LotPart, indices: Sequence[int], tx_gas_limit: int
) -> list[tuple[bytes, int, int]]:
    """The ``DrugLots`` calls that materialise the codes at ``indices`` of ``part``: one
    ``materialise_range`` per block of BLOCK consecutive codes wanted whole, ``materialise`` with a path
    per code for the rest (as many a call as DrugTrace and the gas limit allow).

    Returns: (call data, gas limit, codes) per transaction. Raises InputError for an index outside the part.
    """
    tree = part.tree()
    wanted = sorted(set(indices))
    if wanted and not 0 <= wanted[0] <= wanted[-1] < tree.size:
        raise InputError(f"a code index outside lot part {part.part}", part=part.part)
    by_block: dict[int, list[int]] = {}
    for index in wanted:
        by_block.setdefault(index >> BLOCK_SHIFT, []).append(index)
    calls: list[tuple[bytes, int, int]] = []
    singles: list[int] = []
    for block, members in by_block.items():
        if len(members) < min(BLOCK, tree.size - (block << BLOCK_SHIFT)):
            singles += members
            continue
        codes = [part.code_ids[index] for index in members]
        path = list(tree.path(block, height=BLOCK_SHIFT))
        data = LOTS_CONTRACT.encode_call("materialise_range", [part.part, block, codes, path])
        gas = min(tx_gas_limit, MATERIALISE_GAS_BASE + MATERIALISE_RANGE_GAS_PER_CODE * len(codes))
        calls.append((data, gas, len(codes)))
    size = compute_materialise_chunk_size(tx_gas_limit)
    for start in range(0, len(singles), size):
        at = singles[start : start + size]
        paths = [list(tree.path(index)) for index in at]
        data = LOTS_CONTRACT.encode_call(
            "materialise", [part.part, [part.code_ids[i] for i in at], at, paths]
        )
        calls.append(
            (data, min(tx_gas_limit, MATERIALISE_GAS_BASE + MATERIALISE_GAS_PER_CODE * len(at)), len(at))
        )
    return calls
