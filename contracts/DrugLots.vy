# pragma version 0.4.3
# pragma evm-version prague
"""
@title Xinlian DrugLots: commissioning drug codes by the Merkle root of a lot's code ids (药品追溯 at scale)
@notice A MAH commissions a part of a lot, up to MAX_PART code ids, in one call that stores one record: the
        RFC 9162 root of the ids (leaf keccak256(0x00 ‖ id), node keccak256(0x01 ‖ left ‖ right)), computed
        here from the calldata. No code gets a word yet. Before a code's first movement, `materialise` proves
        it in its part and has DrugTrace give it exactly the word and `Commissioned` log `commission` would
        have: from then on it is a commissioned code like any other.

Rules (DrugTrace keeps them; this contract only proves membership)
-------------------------------------------------------------------
* `commission_lot` runs DrugTrace's commissioning checks for the caller (MAH of the product, product
  active, batch dates, lot not on hold) through `DrugTrace.commission_for` with no codes, and refuses a code
  id whose first 8 bytes are not the product's ("code of another product"), as `commission` does.
* `materialise` is the part's MAH's (the account that commissioned it, and becomes the codes' custodian).
  DrugTrace runs the commissioning checks again, so a code materialises only while its MAH may still
  commission it (not while its lot is on hold), and refuses a code that already has a word with an "already
  commissioned" Alert (its actor is the part's MAH), recording nothing.
* A code id in two parts is commissioned once: the first materialisation wins.
"""

interface DrugTrace:
    def commission_for(
        mah: address,
        product: bytes32,
        batch_no: String[20],
        production_day: uint32,
        expiry_day: uint32,
        level: uint8,
        codes: DynArray[bytes32, MAX_CODES],
    ) -> bool: nonpayable

DRUG_TRACE: constant(address) = 0x0000000000000000000000000000000000001003
MAX_CODES: public(constant(uint256)) = 200  # codes per materialise call (DrugTrace.MAX_CODES)
MAX_PART: public(constant(uint256)) = 4000  # codes per commission_lot call
MAX_LEVELS: constant(uint256) = 12  # a part's tree has at most 4,096 leaves: paths of at most 12 nodes
BLOCK_SHIFT: constant(uint256) = 7  # materialise_range takes a block of 128 consecutive leaves
BLOCK: public(constant(uint256)) = 128  # 1 << BLOCK_SHIFT

struct Part:
    mah: address
    level: uint8
    production_day: uint32
    expiry_day: uint32
    product: bytes32
    batch_no: String[20]
    root: bytes32
    size: uint256

event LotCommissioned:
    part: indexed(uint256)
    product: indexed(bytes32)
    batch_no: String[20]
    level: uint8
    root: bytes32
    count: uint256
    by: indexed(address)

parts: public(HashMap[uint256, Part])
part_count: public(uint256)


@external
def commission_lot(
    product: bytes32,
    batch_no: String[20],
    production_day: uint32,
    expiry_day: uint32,
    level: uint8,
    codes: DynArray[bytes32, MAX_PART],
) -> uint256:
    """
    @notice Commission a part of a lot: up to MAX_PART code ids of one batch, recorded as their root.
    @return the part's number (1, 2, ...), also in its `LotCommissioned` log
    """
    assert len(codes) > 0, "no codes"
    assert extcall DrugTrace(DRUG_TRACE).commission_for(
        msg.sender, product, batch_no, production_day, expiry_day, level, empty(DynArray[bytes32, MAX_CODES])
    )
    prefix: uint256 = convert(product, uint256) >> 192
    frontier: bytes32[MAX_LEVELS + 1] = empty(bytes32[MAX_LEVELS + 1])
    size: uint256 = 0
    for code: bytes32 in codes:
        assert convert(code, uint256) >> 192 == prefix, "code of another product"
        node: bytes32 = keccak256(concat(b"\x00", code))
        height: uint256 = 0
        for _: uint256 in range(MAX_LEVELS):
            if (size >> height) & 1 == 0:
                break
            node = keccak256(concat(b"\x01", frontier[height], node))
            height += 1
        frontier[height] = node
        size += 1
    root: bytes32 = empty(bytes32)
    started: bool = False
    for height: uint256 in range(MAX_LEVELS + 1):
        if (size >> height) & 1 == 1:
            if started:
                root = keccak256(concat(b"\x01", frontier[height], root))
            else:
                root = frontier[height]
                started = True
    part: uint256 = self.part_count + 1
    self.part_count = part
    self.parts[part] = Part(
        mah=msg.sender,
        level=level,
        production_day=production_day,
        expiry_day=expiry_day,
        product=product,
        batch_no=batch_no,
        root=root,
        size=size,
    )
    log LotCommissioned(
        part=part, product=product, batch_no=batch_no, level=level, root=root, count=size, by=msg.sender
    )
    return part


@pure
@internal
def _root(leaf: bytes32, index: uint256, size: uint256, path: DynArray[bytes32, MAX_LEVELS]) -> bytes32:
    # RFC 9162 section 2.1.3.2: the root a leaf's inclusion path leads to
    assert index < size, "leaf index outside the part"
    fn: uint256 = index
    sn: uint256 = size - 1
    node: bytes32 = leaf
    for sibling: bytes32 in path:
        assert sn != 0, "path too long"
        if fn % 2 == 1 or fn == sn:
            node = keccak256(concat(b"\x01", sibling, node))
            if fn % 2 == 0:
                for _: uint256 in range(MAX_LEVELS):
                    if fn == 0 or fn % 2 == 1:
                        break
                    fn = fn >> 1
                    sn = sn >> 1
        else:
            node = keccak256(concat(b"\x01", node, sibling))
        fn = fn >> 1
        sn = sn >> 1
    assert sn == 0, "path too short"
    return node


@external
def materialise(
    part: uint256,
    codes: DynArray[bytes32, MAX_CODES],
    indices: DynArray[uint256, MAX_CODES],
    paths: DynArray[DynArray[bytes32, MAX_LEVELS], MAX_CODES],
) -> bool:
    """
    @notice Prove each code at its leaf index in `part`, then commission them for the part's MAH (DrugTrace).
    @return True, or False with an "already commissioned" Alert per code that has a word (nothing recorded)
    """
    p: Part = self.parts[part]
    assert p.size != 0, "unknown lot part"
    assert msg.sender == p.mah, "not the lot's MAH"
    assert len(codes) > 0, "no codes"
    assert len(indices) == len(codes) and len(paths) == len(codes), "one leaf index and path per code"
    for i: uint256 in range(MAX_CODES):
        if i == len(codes):
            break
        leaf: bytes32 = keccak256(concat(b"\x00", codes[i]))
        assert self._root(leaf, indices[i], p.size, paths[i]) == p.root, "code not in this lot part"
    return extcall DrugTrace(DRUG_TRACE).commission_for(
        p.mah, p.product, p.batch_no, p.production_day, p.expiry_day, p.level, codes
    )


@external
def materialise_range(
    part: uint256, block_index: uint256, codes: DynArray[bytes32, BLOCK], path: DynArray[bytes32, MAX_LEVELS]
) -> bool:
    """
    @notice Materialise a whole block of `part`: its leaves `block_index` * BLOCK onwards (BLOCK of them, fewer in
            the part's last block), proven by the block's node and one path, then commissioned for the
            part's MAH (DrugTrace). About 30 bytes of call data a code instead of a path each.
    @return True, or False with an "already commissioned" Alert per code that has a word (nothing recorded)
    """
    p: Part = self.parts[part]
    assert p.size != 0, "unknown lot part"
    assert msg.sender == p.mah, "not the lot's MAH"
    first: uint256 = block_index << BLOCK_SHIFT
    assert first < p.size, "block outside the part"
    assert len(codes) == min(BLOCK, p.size - first), "a range is a whole block"
    nodes: bytes32[BLOCK] = empty(bytes32[BLOCK])
    count: uint256 = len(codes)
    for i: uint256 in range(BLOCK):
        if i == count:
            break
        nodes[i] = keccak256(concat(b"\x00", codes[i]))
    for _: uint256 in range(BLOCK_SHIFT):
        for i: uint256 in range(BLOCK // 2):
            if 2 * i + 1 < count:
                nodes[i] = keccak256(concat(b"\x01", nodes[2 * i], nodes[2 * i + 1]))
            elif 2 * i + 1 == count:
                nodes[i] = nodes[2 * i]  # an odd last node is promoted, as in the part's tree
            else:
                break
        count = (count + 1) // 2
    blocks: uint256 = (p.size + BLOCK - 1) >> BLOCK_SHIFT
    assert self._root(nodes[0], block_index, blocks, path) == p.root, "block not in this lot part"
    return extcall DrugTrace(DRUG_TRACE).commission_for(
        p.mah, p.product, p.batch_no, p.production_day, p.expiry_day, p.level, codes
    )
