# pragma version ~=0.4.3
"""
@title The first movement of a lot-commissioned drug code, reduced to what it costs: a bench probe
@notice Not a product contract. `materialise_sm3` and `materialise_keccak` each prove one code's leaf in its
        lot's RFC 9162 tree (leaf H(0x00 ‖ text), node H(0x01 ‖ left ‖ right)) and give the code its word,
        as `DrugLots` would before the code's first move (docs/design-notes/drug-lots.md). They differ only
        in H: SM3 through the precompile at 0x…0a01, or the EVM's keccak256. `append_codes` computes a lot's
        keccak256 root on chain from the codes in calldata, part after part, keeping only the tree's
        frontier in storage. scripts/bench/lot_paths.py times them on both execution engines.
"""

SM3_PRECOMPILE: constant(address) = 0x0000000000000000000000000000000000000a01
MAX_DEPTH: constant(uint256) = 32
MAX_CODE: constant(uint256) = 64
MAX_PART: constant(uint256) = 4000  # codes per append_codes call
MAX_LEVELS: constant(uint256) = 32

lots: public(HashMap[bytes32, uint256])  # root -> its number of leaves
words: public(HashMap[bytes32, uint256])  # code id -> its word (here only "materialised")


@external
def open_lot(root: bytes32, size: uint256):
    self.lots[root] = size


@view
@internal
def _sm3(data: Bytes[65]) -> bytes32:
    out: Bytes[32] = raw_call(SM3_PRECOMPILE, data, max_outsize=32, is_static_call=True)
    assert len(out) == 32, "SM3 precompile unavailable"
    return convert(out, bytes32)


@view
@internal
def _node(left: bytes32, right: bytes32, use_sm3: bool) -> bytes32:
    if use_sm3:
        return self._sm3(concat(b"\x01", left, right))
    return keccak256(concat(b"\x01", left, right))


@view
@internal
def _root(leaf: bytes32, index: uint256, size: uint256, path: DynArray[bytes32, MAX_DEPTH], use_sm3: bool) -> bytes32:
    # RFC 9162 section 2.1.3.2
    fn: uint256 = index
    sn: uint256 = size - 1
    r: bytes32 = leaf
    for p: bytes32 in path:
        assert sn != 0, "path too long"
        if fn % 2 == 1 or fn == sn:
            r = self._node(p, r, use_sm3)
            if fn % 2 == 0:
                for _: uint256 in range(MAX_DEPTH):
                    if fn == 0 or fn % 2 == 1:
                        break
                    fn = fn >> 1
                    sn = sn >> 1
        else:
            r = self._node(r, p, use_sm3)
        fn = fn >> 1
        sn = sn >> 1
    assert sn == 0, "path too short"
    return r


@internal
def _materialise(text: Bytes[MAX_CODE], index: uint256, path: DynArray[bytes32, MAX_DEPTH], root: bytes32, use_sm3: bool):
    size: uint256 = self.lots[root]
    assert index < size, "not a leaf of this lot"
    leaf: bytes32 = empty(bytes32)
    if use_sm3:
        leaf = self._sm3(concat(b"\x00", text))
    else:
        leaf = keccak256(concat(b"\x00", text))
    assert self._root(leaf, index, size, path, use_sm3) == root, "not in this lot"
    assert self.words[leaf] == 0, "already commissioned"
    self.words[leaf] = 1


@external
def materialise_sm3(text: Bytes[MAX_CODE], index: uint256, path: DynArray[bytes32, MAX_DEPTH], root: bytes32):
    self._materialise(text, index, path, root, True)


@external
def materialise_keccak(text: Bytes[MAX_CODE], index: uint256, path: DynArray[bytes32, MAX_DEPTH], root: bytes32):
    self._materialise(text, index, path, root, False)


@external
def materialise_bare(text: Bytes[MAX_CODE]):
    """The word alone, no proof: what DrugTrace.commission writes per code today."""
    leaf: bytes32 = keccak256(text)
    assert self.words[leaf] == 0, "already commissioned"
    self.words[leaf] = 1


# --- a lot's root computed on chain: an append-only tree's frontier --------------------------------------
lot_size: public(uint256)
frontier: HashMap[uint256, bytes32]  # level -> root of a perfect subtree of 2**level leaves (bit set in lot_size)


@external
def append_codes(codes: DynArray[bytes32, MAX_PART]):
    """Append each code (its text, left-aligned in 32 bytes) as leaf keccak256(0x00 ‖ code)."""
    size: uint256 = self.lot_size
    f: bytes32[MAX_LEVELS] = empty(bytes32[MAX_LEVELS])
    for level: uint256 in range(MAX_LEVELS):
        if (size >> level) & 1 == 1:
            f[level] = self.frontier[level]
    for code: bytes32 in codes:
        h: bytes32 = keccak256(concat(b"\x00", code))
        level: uint256 = 0
        for _: uint256 in range(MAX_LEVELS):
            if (size >> level) & 1 == 0:
                break
            h = keccak256(concat(b"\x01", f[level], h))
            level += 1
        f[level] = h
        size += 1
    for level: uint256 in range(MAX_LEVELS):
        if (size >> level) & 1 == 1:
            self.frontier[level] = f[level]
    self.lot_size = size


@view
@external
def lot_root() -> bytes32:
    """The RFC 9162 root over every code appended so far."""
    size: uint256 = self.lot_size
    r: bytes32 = empty(bytes32)
    started: bool = False
    for level: uint256 in range(MAX_LEVELS):
        if (size >> level) & 1 == 1:
            if started:
                r = keccak256(concat(b"\x01", self.frontier[level], r))
            else:
                r = self.frontier[level]
                started = True
    return r
