# pragma version ~=0.4.3
"""
@title SM3 written in EVM code, against the SM3 precompile: a bench probe
@notice Not a product contract. `record_evm` hashes its input with SM3 (GB/T 32905) computed in EVM code
        (`_sm3`: padding, message expansion and the 64 rounds on 32-bit words held in uint256), and
        `record_precompile` with the precompile at 0x…0a01 that only py-evm has; both store the digest.
        Issuing a licence hashes its type code and identifier with SM3, which keeps `issue` off the native
        engine; scripts/bench/sm3_evm.py measures what moving SM3 into EVM code would cost on each engine.
"""

SM3_PRECOMPILE: constant(address) = 0x0000000000000000000000000000000000000a01

MAX_BYTES: constant(uint256) = 256
MASK: constant(uint256) = 2**32 - 1  # SM3 works on 32-bit words
ZEROS: constant(Bytes[64]) = b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"

digests: public(HashMap[bytes32, bytes32])  # keccak256(input) -> its SM3 digest


@internal
@pure
def _rotl(x: uint256, n: uint256) -> uint256:
    return ((x << n) | (x >> (32 - n))) & MASK


@internal
@pure
def _compress(v: uint256[8], first: bytes32, second: bytes32) -> uint256[8]:
    w: uint256[68] = empty(uint256[68])
    hi: uint256 = convert(first, uint256)
    lo: uint256 = convert(second, uint256)
    for k: uint256 in range(8):
        w[k] = (hi >> (224 - 32 * k)) & MASK
        w[k + 8] = (lo >> (224 - 32 * k)) & MASK
    for j: uint256 in range(16, 68):
        x: uint256 = w[j - 16] ^ w[j - 9] ^ self._rotl(w[j - 3], 15)
        w[j] = (x ^ self._rotl(x, 15) ^ self._rotl(x, 23)) ^ self._rotl(w[j - 13], 7) ^ w[j - 6]  # P1
    a: uint256 = v[0]
    b: uint256 = v[1]
    c: uint256 = v[2]
    d: uint256 = v[3]
    e: uint256 = v[4]
    f: uint256 = v[5]
    g: uint256 = v[6]
    h: uint256 = v[7]
    for j: uint256 in range(64):
        t: uint256 = 2043430169  # the round constant T_j: 0x79CC4519, from round 16 0x7A879D8A
        if j >= 16:
            t = 2055708042
        a12: uint256 = self._rotl(a, 12)
        ss1: uint256 = self._rotl((a12 + e + self._rotl(t, j % 32)) & MASK, 7)
        ss2: uint256 = ss1 ^ a12
        ff: uint256 = 0
        gg: uint256 = 0
        if j < 16:
            ff = a ^ b ^ c
            gg = e ^ f ^ g
        else:
            ff = (a & b) | (a & c) | (b & c)
            gg = (e & f) | ((e ^ MASK) & g)
        tt1: uint256 = (ff + d + ss2 + (w[j] ^ w[j + 4])) & MASK
        tt2: uint256 = (gg + h + ss1 + w[j]) & MASK
        d = c
        c = self._rotl(b, 9)
        b = a
        a = tt1
        h = g
        g = self._rotl(f, 19)
        f = e
        e = tt2 ^ self._rotl(tt2, 9) ^ self._rotl(tt2, 17)  # P0
    return [v[0] ^ a, v[1] ^ b, v[2] ^ c, v[3] ^ d, v[4] ^ e, v[5] ^ f, v[6] ^ g, v[7] ^ h]


@internal
@pure
def _sm3(data: Bytes[MAX_BYTES]) -> bytes32:
    n: uint256 = len(data)
    pad: uint256 = (119 - n % 64) % 64  # zero bytes between 0x80 and the 8-byte length
    bits: bytes32 = convert(n * 8, bytes32)
    padded: Bytes[MAX_BYTES + 73] = concat(data, b"\x80", slice(ZEROS, 0, pad), slice(bits, 24, 8))
    # the initial value IV: 7380166F 4914B2B9 172442D7 DA8A0600 A96F30BC 163138AA E38DEE4D B0FB0E4E
    v: uint256[8] = [
        1937774191, 1226093241, 388252375, 3666478592, 2842636476, 372324522, 3817729613, 2969243214
    ]
    blocks: uint256 = len(padded) // 64
    for i: uint256 in range(5):
        if i == blocks:
            break
        v = self._compress(v, extract32(padded, 64 * i), extract32(padded, 64 * i + 32))
    out: uint256 = 0
    for k: uint256 in range(8):
        out = (out << 32) | v[k]
    return convert(out, bytes32)



@external
def record_evm(data: Bytes[MAX_BYTES]):
    self.digests[keccak256(data)] = self._sm3(data)


@external
def record_precompile(data: Bytes[MAX_BYTES]):
    out: Bytes[32] = raw_call(SM3_PRECOMPILE, data, max_outsize=32, is_static_call=True)
    assert len(out) == 32, "SM3 precompile unavailable"
    self.digests[keccak256(data)] = convert(out, bytes32)
