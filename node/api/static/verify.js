/* Xinlian (信链) proof-bundle verifier for the browser: the same checks as sdk/proofs/verify.py, in the same order.
 * SM2/SM3 come from sm-crypto.js (bundled, see README.md); Keccak-256 (for EVM state proofs), RLP, RFC 9162
 * Merkle proofs and the Merkle-Patricia walk are written here. Nothing is fetched but the bundle and the
 * trust anchor; verification runs on the citizen's machine. verifyBundle(bundle, trust) returns verified
 * facts or throws VerificationError {kind: FormatError|ChainError|SignatureError|QuorumError|ProofError|
 * StatusError|LicenceIdentifierError, message, detail}; checkHolder throws HolderError for another licence's
 * holder data. Works in Node too (tests load it with require). */
"use strict";
(function (root) {
  const SM = typeof root.sm2 !== "undefined" ? { sm2: root.sm2, sm3: root.sm3 } : null;
  const crypto = SM || { sm2: require("sm-crypto").sm2, sm3: require("sm-crypto").sm3 };

  class VerificationError extends Error {
    constructor(kind, message, detail) {
      super(message);
      this.kind = kind;
      this.detail = detail || {};
    }
  }
  const fail = (kind, message, detail) => {
    throw new VerificationError(kind, message, detail);
  };

  // --- bytes -------------------------------------------------------------------------------------------
  const HEX = /^(0x)?([0-9a-fA-F]{2})*$/;
  function fromHex(text, where, size) {
    if (typeof text !== "string" || !HEX.test(text)) fail("FormatError", `${where} is not hex`, { field: where });
    const h = text.startsWith("0x") ? text.slice(2) : text;
    const out = new Uint8Array(h.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(h.substr(2 * i, 2), 16);
    if (size !== undefined && out.length !== size) fail("FormatError", `${where} must be ${size} bytes, got ${out.length}`, { field: where });
    return out;
  }
  const toHex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  function concat(...parts) {
    const n = parts.reduce((a, p) => a + p.length, 0);
    const out = new Uint8Array(n);
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.length; }
    return out;
  }
  const eq = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  const ascii = (s) => Uint8Array.from(s, (c) => c.charCodeAt(0));
  const sm3 = (bytes) => fromHex(crypto.sm3(Array.from(bytes)));

  // --- RLP (canonical only, like sdk/encoding.py) -------------------------------------------------------
  function rlpDecode(data, where) {
    const bad = (m) => fail("FormatError", `${where}: ${m}`, { field: where });
    function item(pos, end, depth) {
      if (depth > 16) bad("nested too deep");
      if (pos >= end) bad("truncated");
      const b0 = data[pos];
      let start, len, isList;
      if (b0 < 0x80) return { v: data.subarray(pos, pos + 1), raw: data.subarray(pos, pos + 1), next: pos + 1 };
      if (b0 < 0xb8) { len = b0 - 0x80; start = pos + 1; isList = false; if (len === 1 && data[start] < 0x80) bad("non-canonical single byte"); }
      else if (b0 < 0xc0) { const ll = b0 - 0xb7; len = lenOf(pos + 1, ll, end); start = pos + 1 + ll; isList = false; if (len < 56) bad("non-canonical long string"); }
      else if (b0 < 0xf8) { len = b0 - 0xc0; start = pos + 1; isList = true; }
      else { const ll = b0 - 0xf7; len = lenOf(pos + 1, ll, end); start = pos + 1 + ll; isList = true; if (len < 56) bad("non-canonical long list"); }
      const stop = start + len;
      if (stop > end) bad("item runs past its end");
      if (!isList) return { v: data.subarray(start, stop), raw: data.subarray(pos, stop), next: stop };
      const items = [];
      let p = start;
      while (p < stop) { const it = item(p, stop, depth + 1); items.push(it); p = it.next; }
      return { v: items, raw: data.subarray(pos, stop), next: stop };
    }
    function lenOf(pos, ll, end) {
      if (pos + ll > end) bad("truncated length");
      if (data[pos] === 0) bad("length with leading zero");
      let n = 0;
      for (let i = 0; i < ll; i++) n = n * 256 + data[pos + i];
      return n;
    }
    const top = item(0, data.length, 0);
    if (top.next !== data.length) bad("trailing bytes");
    return top;
  }
  function encBytes(b) {
    if (b.length === 1 && b[0] < 0x80) return b;
    return concat(encLen(b.length, 0x80), b);
  }
  function encLen(n, base) {
    if (n < 56) return Uint8Array.of(base + n);
    const bytes = [];
    for (let x = n; x > 0; x = Math.floor(x / 256)) bytes.unshift(x % 256);
    return Uint8Array.of(base + 55 + bytes.length, ...bytes);
  }
  const encList = (items) => { const p = concat(...items); return concat(encLen(p.length, 0xc0), p); };
  function intBytes(n) {
    let x = BigInt(n);
    const out = [];
    while (x > 0n) { out.unshift(Number(x & 0xffn)); x >>= 8n; }
    return Uint8Array.from(out);
  }
  const encInt = (n) => encBytes(intBytes(n));
  const isList = (it) => Array.isArray(it.v);
  function str(it, where, size) {
    if (isList(it)) fail("FormatError", `${where} must be a string`, { field: where });
    if (size !== undefined && it.v.length !== size) fail("FormatError", `${where} must be ${size} bytes`, { field: where });
    return it.v;
  }
  function list(it, where, arity) {
    if (!isList(it)) fail("FormatError", `${where} must be a list`, { field: where });
    if (arity !== undefined && it.v.length !== arity) fail("FormatError", `${where} must have ${arity} fields`, { field: where });
    return it.v;
  }
  function uint(it, where) {
    const b = str(it, where);
    if (b.length > 8) fail("FormatError", `${where} exceeds 64 bits`, { field: where });
    if (b.length && b[0] === 0) fail("FormatError", `${where} has a leading zero`, { field: where });
    let n = 0n;
    for (const x of b) n = (n << 8n) | BigInt(x);
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) return n;
    return Number(n);
  }

  // --- wire types (docs/wire-format.md) -------------------------------------------------------------
  const TX_TAG = encBytes(ascii("xinlian/tx/1"));
  const COMMIT_TAG = encBytes(ascii("xinlian/commit/1"));
  const VALIDATORS_TAG = encBytes(ascii("xinlian/validators/1"));

  function decodeTx(raw, where) {
    const f = list(rlpDecode(raw, where), where, 8);
    const tx = {
      chainId: uint(f[0], "tx.chain_id"), nonce: str(f[1], "tx.nonce", 16), expiry: uint(f[2], "tx.expiry_height"),
      to: str(f[3], "tx.to", 20), data: str(f[4], "tx.data"), gasLimit: uint(f[5], "tx.gas_limit"),
      publicKey: str(f[6], "tx.public_key", 64), signature: str(f[7], "tx.signature", 64), raw,
    };
    tx.preimage = encList([TX_TAG, ...f.slice(0, 7).map((x) => x.raw)]);
    tx.hash = sm3(tx.preimage);
    tx.sender = sm3(tx.publicKey).subarray(12);
    return tx;
  }
  function decodeHeader(raw, where) {
    const f = list(rlpDecode(raw, where), where, 14);
    const names = ["version", "chainId", "height", "parentHash", "timestampMs", "round", "proposerIndex", "txRoot",
      "receiptRoot", "stateRoot", "historyRoot", "validatorsHash", "nextValidatorsHash", "gasUsed"];
    const h = { raw, hash: sm3(raw) };
    names.forEach((n, i) => { h[n] = [3, 7, 8, 9, 10, 11, 12].includes(i) ? str(f[i], `${where}.${n}`, 32) : uint(f[i], `${where}.${n}`); });
    return h;
  }
  function decodeCert(raw, where) {
    const f = list(rlpDecode(raw, where), where, 4);
    const seals = list(f[3], `${where}.seals`).map((s, i) => {
      const sf = list(s, `${where}.seals[${i}]`, 2);
      return { index: uint(sf[0], "validator_index"), signature: str(sf[1], "seal signature", 64) };
    });
    for (let i = 1; i < seals.length; i++) if (seals[i].index <= seals[i - 1].index) fail("FormatError", `${where}: seals must be sorted by validator index without duplicates`);
    return { height: uint(f[0], "height"), round: uint(f[1], "round"), blockHash: str(f[2], "block_hash", 32), seals };
  }
  function decodeReceipt(raw, where) {
    const f = list(rlpDecode(raw, where), where, 5);
    const logs = list(f[3], `${where}.logs`).map((l, i) => {
      const lf = list(l, `${where}.logs[${i}]`, 3);
      const topics = list(lf[1], "topics").map((t) => str(t, "topic", 32));
      if (topics.length > 4) fail("FormatError", "a log has at most 4 topics");
      return { address: str(lf[0], "log.address", 20), topics, data: str(lf[2], "log.data") };
    });
    const r = { txHash: str(f[0], "receipt.tx_hash", 32), status: uint(f[1], "receipt.status"), gasUsed: uint(f[2], "gas_used"), logs, revertReason: str(f[4], "revert_reason"), raw };
    if (r.status > 1) fail("FormatError", "receipt status must be 0 or 1");
    if (r.status === 1 && r.revertReason.length) fail("FormatError", "a successful receipt has no revert reason");
    return r;
  }
  const commitPreimage = (chainId, height, round, blockHash) => encList([COMMIT_TAG, encInt(chainId), encInt(height), encInt(round), encBytes(blockHash)]);
  const validatorsHash = (keys) => sm3(encList([VALIDATORS_TAG, encList(keys.map(encBytes))]));
  const quorum = (n) => Math.floor((2 * n - 1) / 3) + 1;
  function checkSorted(keys, what) {
    const addrs = keys.map((k) => toHex(sm3(k).subarray(12)));
    for (let i = 1; i < addrs.length; i++) if (addrs[i] <= addrs[i - 1]) fail("FormatError", `${what} must be sorted by address without duplicates`);
  }
  function sm2Verify(publicKey, message, signature) {
    try {
      return crypto.sm2.doVerifySignature(Array.from(message), toHex(signature), "04" + toHex(publicKey), { hash: true, userId: "1234567812345678" });
    } catch (e) {
      return false;
    }
  }

  // --- RFC 9162 Merkle inclusion (SM3; keccak256 for a DrugLots part's tree) ------------------------------
  function verifyInclusion(leaf, index, size, proof, rootHash, h = sm3) {
    if (index >= size) return `leaf index ${index} is outside a tree of ${size} leaves`;
    let fn = index, sn = size - 1;
    let r = h(concat(Uint8Array.of(0), leaf));
    for (const p of proof) {
      if (sn === 0) return `inclusion proof is too long for leaf ${index} of ${size}`;
      if (fn % 2 === 1 || fn === sn) {
        r = h(concat(Uint8Array.of(1), p, r));
        if (fn % 2 === 0) while (fn !== 0 && fn % 2 === 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      } else r = h(concat(Uint8Array.of(1), r, p));
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    if (sn !== 0) return `inclusion proof is too short for leaf ${index} of ${size}`;
    if (!eq(r, rootHash)) return `inclusion proof of leaf ${index} of ${size} does not lead to the expected root`;
    return null;
  }

  // --- Keccak-256 (EVM state proofs only) ------------------------------------------------------------------
  const RC = [0x1n, 0x8082n, 0x800000000000808an, 0x8000000080008000n, 0x808bn, 0x80000001n, 0x8000000080008081n,
    0x8000000000008009n, 0x8an, 0x88n, 0x80008009n, 0x8000000an, 0x8000808bn, 0x800000000000008bn, 0x8000000000008089n,
    0x8000000000008003n, 0x8000000000008002n, 0x8000000000000080n, 0x800an, 0x800000008000000an, 0x8000000080008081n,
    0x8000000000008080n, 0x80000001n, 0x8000000080008008n];
  const ROT = [0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14];
  const M64 = (1n << 64n) - 1n;
  const rotl = (x, n) => (n === 0 ? x : ((x << BigInt(n)) | (x >> BigInt(64 - n))) & M64);
  function keccakF(s) {
    const C = new Array(5), B = new Array(25);
    for (let r = 0; r < 24; r++) {
      for (let x = 0; x < 5; x++) C[x] = s[x] ^ s[x + 5] ^ s[x + 10] ^ s[x + 15] ^ s[x + 20];
      for (let x = 0; x < 5; x++) { const d = C[(x + 4) % 5] ^ rotl(C[(x + 1) % 5], 1); for (let y = 0; y < 25; y += 5) s[x + y] ^= d; }
      for (let x = 0; x < 5; x++) for (let y = 0; y < 5; y++) B[y + 5 * ((2 * x + 3 * y) % 5)] = rotl(s[x + 5 * y], ROT[x + 5 * y]);
      for (let y = 0; y < 25; y += 5) for (let x = 0; x < 5; x++) s[x + y] = B[x + y] ^ (~B[((x + 1) % 5) + y] & M64 & B[((x + 2) % 5) + y]);
      s[0] ^= RC[r];
    }
  }
  function keccak256(msg) {
    const rate = 136, padded = new Uint8Array(Math.floor(msg.length / rate) * rate + rate);
    padded.set(msg); padded[msg.length] ^= 0x01; padded[padded.length - 1] ^= 0x80;
    const s = new Array(25).fill(0n);
    for (let off = 0; off < padded.length; off += rate) {
      for (let i = 0; i < rate / 8; i++) { let lane = 0n; for (let b = 7; b >= 0; b--) lane = (lane << 8n) | BigInt(padded[off + 8 * i + b]); s[i] ^= lane; }
      keccakF(s);
    }
    const out = new Uint8Array(32);
    for (let i = 0; i < 4; i++) for (let b = 0; b < 8; b++) out[8 * i + b] = Number((s[i] >> BigInt(8 * b)) & 0xffn);
    return out;
  }

  // --- Merkle-Patricia proofs (sdk/proofs/mpt.py) ----------------------------------------------------------
  const nibbles = (key) => Array.from(key).flatMap((b) => [b >> 4, b & 15]);
  function mptGet(rootHash, key, proof) {
    const byHash = new Map(proof.map((n) => [toHex(keccak256(n)), n]));
    const path = nibbles(key);
    const BLANK = "56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421";
    if (toHex(rootHash) === BLANK && proof.length === 0) return new Uint8Array(0);
    let ref = { v: rootHash }, depth = 0;
    for (;;) {
      let node;
      if (!isList(ref)) {
        if (ref.v.length === 0) return new Uint8Array(0);
        if (ref.v.length !== 32) fail("ProofError", "trie node reference is neither a hash nor an embedded node");
        const enc = byHash.get(toHex(ref.v));
        if (!enc) fail("ProofError", `proof lacks the trie node ${toHex(ref.v)} at depth ${depth}`);
        node = rlpDecodeProof(enc);
      } else node = ref;
      const items = node.v;
      if (!Array.isArray(items)) fail("ProofError", "trie node is not a list");
      if (items.length === 17) {
        if (depth === path.length) return items[16].v;
        ref = items[path[depth]]; depth += 1;
      } else if (items.length === 2) {
        const enc = items[0].v, flag = enc[0] >> 4;
        if (flag > 3) fail("ProofError", "bad hex-prefix flag");
        let seg = nibbles(enc);
        seg = flag & 1 ? seg.slice(1) : seg.slice(2);
        const here = path.slice(depth, depth + seg.length);
        if (here.length !== seg.length || here.some((x, i) => x !== seg[i])) return new Uint8Array(0);
        depth += seg.length;
        if (flag >= 2) return depth === path.length ? items[1].v : new Uint8Array(0);
        ref = items[1];
      } else fail("ProofError", `trie node has ${items.length} items`);
    }
  }
  function rlpDecodeProof(enc) {
    try { return rlpDecode(enc, "trie node"); } catch (e) { fail("ProofError", "trie node is not RLP"); }
  }
  // The storage root and code hash of an account (sdk/proofs/mpt.py get_account); an absent account has none.
  function accountOf(stateRoot, address, accountProof) {
    const account = mptGet(stateRoot, keccak256(address), accountProof);
    if (!account.length) return { storageRoot: fromHex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"),
      codeHash: fromHex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470") };
    const f = rlpDecodeProof(account).v;
    if (!Array.isArray(f) || f.length !== 4 || Array.isArray(f[2].v) || Array.isArray(f[3].v) || f[2].v.length !== 32 || f[3].v.length !== 32)
      fail("ProofError", "account record is malformed");
    return { storageRoot: f[2].v, codeHash: f[3].v };
  }
  function storageValue(storageRoot, slot, storageProof) {
    const raw = mptGet(storageRoot, keccak256(slot), storageProof);
    if (!raw.length) return 0n;
    const v = rlpDecodeProof(raw).v;
    if (Array.isArray(v) || v.length > 32 || (v.length && v[0] === 0)) fail("ProofError", "storage value is malformed");
    return v.reduce((a, b) => (a << 8n) | BigInt(b), 0n);
  }
  function storageSlot(baseSlot, key) {
    const base = new Uint8Array(32); let x = BigInt(baseSlot);
    for (let i = 31; i >= 0; i--) { base[i] = Number(x & 0xffn); x >>= 8n; }
    return keccak256(concat(base, key));
  }
  function addToSlot(slot, offset) {
    let v = slot.reduce((a, b) => (a << 8n) | BigInt(b), 0n) + BigInt(offset);
    const out = new Uint8Array(32);
    for (let i = 31; i >= 0; i--) { out[i] = Number(v & 0xffn); v >>= 8n; }
    return out;
  }

  // --- licences (LicenceRegistry; sdk/proofs/licence.py LICENCE_STATUS_RULE) -------------------------------
  const REGISTRY = "0000000000000000000000000000000000001001";
  const LICENCE_BASE_SLOT = 2, LICENCE_STATE_OFFSET = 6; // Licence.lifecycle = state | suspended_since << 64 | ended_at << 128
  const STATUS = ["UNKNOWN", "VALID", "NOT_YET_VALID", "EXPIRED", "SUSPENDED", "REVOKED", "SUPERSEDED"];
  const ISSUED = keccak256(ascii("LicenceIssued(bytes32,bytes32,address,string,bytes32,bytes32,bytes32,uint256,uint256,string,bytes32)"));
  function abiWord(data, i) { if (data.length < 32 * (i + 1)) fail("FormatError", "the LicenceIssued log data does not decode"); return data.subarray(32 * i, 32 * (i + 1)); }
  const wordInt = (w) => w.reduce((a, b) => (a << 8n) | BigInt(b), 0n);
  function abiString(data, i) {
    const off = Number(wordInt(abiWord(data, i)));
    const len = Number(wordInt(abiWord(data.subarray(off), 0)));
    const bytes = data.subarray(off + 32, off + 32 + len);
    if (bytes.length !== len) fail("FormatError", "the LicenceIssued log data does not decode");
    return new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes); // a BOM is kept, as Python keeps it
  }
  function decodeLicence(log) {
    if (!log || toHex(log.address) !== REGISTRY || log.topics.length !== 4 || !eq(log.topics[0], ISSUED)) return null;
    const d = log.data;
    return {
      idHash: log.topics[1], typeId: log.topics[2], issuer: log.topics[3].subarray(12), issuerOrg: abiString(d, 0),
      holderCommitment: abiWord(d, 1), holderKeyHash: abiWord(d, 2), documentHash: abiWord(d, 3),
      validFrom: Number(wordInt(abiWord(d, 4))), validUntil: Number(wordInt(abiWord(d, 5))), jurisdiction: abiString(d, 6),
    };
  }

  // A drug code in a DrugLots part: the part's LotCommissioned log (sdk/proofs/verify.py _validate_lot)
  const DRUG_LOTS = "0000000000000000000000000000000000001006";
  const LOT_COMMISSIONED = keccak256(ascii("LotCommissioned(uint256,bytes32,string,uint8,bytes32,uint256,address)"));
  const CODE_PRODUCT_PREFIX_BYTES = 8, MAX_LOT_PART = 4000; // a part holds at most 4,000 codes (DrugLots.MAX_PART)
  function decodeLotCommissioned(log) {
    const no = () => fail("ProofError", "a drug-code bundle's event must be a DrugLots LotCommissioned log");
    if (!log || toHex(log.address) !== DRUG_LOTS || log.topics.length !== 4 || !eq(log.topics[0], LOT_COMMISSIONED)) no();
    if (log.topics[3].subarray(0, 12).some((x) => x !== 0)) no();
    const d = log.data;
    let batchNo, level, count;
    try { batchNo = abiString(d, 0); level = wordInt(abiWord(d, 1)); count = wordInt(abiWord(d, 3)); } catch (e) { no(); }
    if (level > 255n || count > BigInt(MAX_LOT_PART)) no();
    return { part: wordInt(log.topics[1]), product: log.topics[2], mah: log.topics[3].subarray(12), batchNo, level: Number(level), root: abiWord(d, 2), count: Number(count) };
  }
  function checkLot(lot, log) {
    const l = decodeLotCommissioned(log);
    if (!eq(lot.codeId.subarray(0, CODE_PRODUCT_PREFIX_BYTES), l.product.subarray(0, CODE_PRODUCT_PREFIX_BYTES))) fail("ProofError", `the code is not of the product of lot part ${l.part}`);
    const err = verifyInclusion(lot.codeId, lot.leaf, l.count, lot.path, l.root, keccak256);
    if (err) fail("ProofError", `the code is not in lot part ${l.part}: ${err}`);
    return { codeId: toHex(lot.codeId), part: l.part.toString(), leaf: lot.leaf, productId: toHex(l.product), batchNo: l.batchNo, level: l.level, mah: toHex(l.mah) };
  }

  // The call that emitted LicenceIssued and which argument is the identifier (sdk/proofs/licence.py LICENCE_ISSUING_CALLS)
  const ISSUING_CALLS = [["issue(string,bytes32,bytes32,bytes32,uint256,uint256,string)", 0], ["renew(bytes32,string,bytes32,uint256,uint256)", 1]]
    .map(([sig, i]) => [toHex(keccak256(ascii(sig)).subarray(0, 4)), i]);
  const ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  function checkLicenceIdentifier(tx, licence) {
    const no = (m, d) => fail("LicenceIdentifierError", m, d);
    const call = toHex(tx.to) === REGISTRY ? ISSUING_CALLS.find(([sel]) => sel === toHex(tx.data.subarray(0, 4))) : undefined;
    if (!call) no("the licence issuance's transaction is not an issue or renew call to the registry: its identifier cannot be read");
    let id;
    try { id = abiString(tx.data.subarray(4), call[1]); } catch (e) { no("the call's identifier does not decode"); }
    if (!/^[\x20-\x7e]*$/.test(id) || !eq(sm3(ascii(id)), licence.idHash)) no("the call's identifier does not hash to the licence's id hash", { identifier: id });
    const named = identifierFacts(id);
    if (named.issuerOrg !== licence.issuerOrg) no(`the licence identifier names issuer ${named.issuerOrg}, but organisation ${licence.issuerOrg} issued it`, { identifier: id });
    if (!eq(named.typeId, licence.typeId)) no(`the licence identifier names type ${named.typeCode}, not the licence's type`, { identifier: id });
    return id;
  }
  // What a well-formed identifier names (sdk/proofs/licence.py read_licence_identifier): its hash, type and issuer.
  function identifierFacts(id) {
    const no = (m, d) => fail("LicenceIdentifierError", m, d);
    if (!/^[\x20-\x7e]*$/.test(id)) no("the licence identifier is malformed", { identifier: id });
    const root = "1.2.156.3005.2.", segs = id.startsWith(root) ? id.slice(root.length).split(".") : [];
    const [type, issuer, serial, version, check] = segs;
    const ok = segs.length === 5 && /^[0-9A-Z]{18}[0-9]{3}$/.test(type) && /^([0-9A-Z]{18}|[0-9]{6})$/.test(issuer) && /^[0-9A-Z]{1,32}$/.test(serial) && /^[0-9]{3}$/.test(version) && /^[0-9A-Z]$/.test(check);
    if (!ok) no("the licence identifier is malformed", { identifier: id });
    let p = 36;
    for (const c of type + issuer + serial + version) { p = (p + ALNUM.indexOf(c)) % 36 || 36; p = (2 * p) % 37; }
    if (ALNUM[(37 - p) % 36] !== check) no("the licence identifier is malformed: wrong check character", { identifier: id });
    return { identifier: id, idHash: sm3(ascii(id)), typeCode: type, typeId: sm3(ascii(type)), issuerOrg: issuer };
  }

  // --- bundle parsing ------------------------------------------------------------------------------------
  function hashes(arr, where) {
    if (!Array.isArray(arr) || arr.length > 64) fail("FormatError", `${where} must be an array of hashes`);
    return arr.map((h, i) => fromHex(h, `${where}[${i}]`, 32));
  }
  function uintJ(v, where) { if (!Number.isInteger(v) || v < 0) fail("FormatError", `${where} must be a non-negative integer`); return v; }
  function sealed(o, where) {
    if (!o || typeof o !== "object") fail("FormatError", `${where} must be an object`);
    const s = { header: decodeHeader(fromHex(o.header, `${where}.header`), `${where}.header`) };
    s.cert = o.certificate == null ? null : decodeCert(fromHex(o.certificate, `${where}.certificate`), `${where}.certificate`);
    s.history = o.history ? { size: uintJ(o.history.size, "history.size"), proof: hashes(o.history.proof, `${where}.history.proof`) } : null;
    return s;
  }
  function parseBundle(doc) {
    if (!doc || typeof doc !== "object" || doc.format !== "xinlian/proof-bundle") fail("FormatError", `not a proof bundle: format is ${JSON.stringify(doc && doc.format)}`);
    if (doc.version !== 1) fail("FormatError", `unsupported bundle version ${doc.version}; this verifier reads version 1`);
    const e = doc.event;
    if (!e || typeof e !== "object") fail("FormatError", "event must be an object");
    const event = {
      tx: e.tx == null ? null : decodeTx(fromHex(e.tx, "event.tx"), "event.tx"), receipt: decodeReceipt(fromHex(e.receipt, "event.receipt"), "event.receipt"),
      txIndex: uintJ(e.tx_index, "tx_index"), txCount: uintJ(e.tx_count, "tx_count"),
      txProof: hashes(e.tx_proof, "event.tx_proof"), receiptProof: hashes(e.receipt_proof, "event.receipt_proof"),
      logIndex: e.log_index == null ? null : uintJ(e.log_index, "log_index"),
    };
    const b = { chainId: uintJ(doc.chain_id, "chain_id"), genesisHash: fromHex(doc.genesis_hash, "genesis_hash", 32), event, block: sealed(doc.block, "block") };
    if (!Array.isArray(doc.handovers)) fail("FormatError", "handovers must be an array");
    b.handovers = doc.handovers.map((h, i) => {
      const s = sealed(h, `handovers[${i}]`);
      if (!Array.isArray(h.validators)) fail("FormatError", `handovers[${i}].validators must be an array`);
      s.validators = h.validators.map((k, j) => fromHex(k, `handovers[${i}].validators[${j}]`, 64));
      return s;
    });
    b.state = null;
    if (doc.state != null) {
      const st = doc.state, s = sealed(st, "state");
      const kind = st.kind === undefined ? "slot" : st.kind;
      if (kind !== "slot" && kind !== "licence") fail("FormatError", "state.kind must be slot or licence");
      const arr = (a, w) => { if (!Array.isArray(a) || a.length > 64) fail("FormatError", `${w} must be an array`); return a.map((n, i) => fromHex(n, `${w}[${i}]`)); };
      Object.assign(s, { kind, address: fromHex(st.address, "state.address", 20), slot: fromHex(st.slot, "state.slot", 32),
        accountProof: arr(st.account_proof, "state.account_proof"), storageProof: arr(st.storage_proof, "state.storage_proof") });
      b.state = s;
    }
    b.lot = null;
    if (doc.lot != null) {
      const l = doc.lot;
      if (typeof l !== "object" || Array.isArray(l)) fail("FormatError", "lot must be a JSON object");
      b.lot = { codeId: fromHex(l.code_id, "lot.code_id", 32), leaf: uintJ(l.leaf, "lot.leaf"), path: hashes(l.path, "lot.path") };
    }
    if (!event.tx && !b.lot) fail("FormatError", "only a drug-code bundle (with a lot section) may leave out its transaction");
    if (!event.tx && event.txProof.length) fail("FormatError", "a bundle without its transaction carries no transaction proof");
    b.labels = doc.labels && typeof doc.labels === "object" ? doc.labels : {};
    return b;
  }

  // --- trust ---------------------------------------------------------------------------------------------
  function parseTrust(doc) {
    if (!doc || doc.format !== "xinlian/trust" || doc.version !== 1) fail("FormatError", "not a trust file");
    const validators = (doc.validators || []).map((k, i) => fromHex(k, `validators[${i}]`, 64));
    checkSorted(validators, "the trusted validator set");
    if (doc.kind === "genesis") {
      const genesisHash = fromHex(doc.genesis_hash, "genesis_hash", 32);
      if (doc.genesis_header) {
        const h = decodeHeader(fromHex(doc.genesis_header, "genesis_header"), "genesis_header");
        if (h.height !== 0 || !eq(h.hash, genesisHash)) fail("ChainError", "trust file genesis_hash does not match its genesis header");
        if (!eq(validatorsHash(validators), h.nextValidatorsHash)) fail("ChainError", "the validator set does not match the genesis header");
      }
      return { kind: "genesis", chainId: doc.chain_id, height: 0, hash: genesisHash, validators, vhash: validatorsHash(validators), nextHash: validatorsHash(validators) };
    }
    if (doc.kind === "checkpoint") {
      const h = decodeHeader(fromHex(doc.header, "header"), "header");
      if (!eq(validatorsHash(validators), h.validatorsHash)) fail("ChainError", "the checkpoint's validator set does not match its header's validators_hash");
      const t = { kind: "checkpoint", chainId: h.chainId, height: h.height, hash: h.hash, header: h, validators, vhash: h.validatorsHash, nextHash: h.nextValidatorsHash };
      if (doc.certificate) validateCertificate(decodeCert(fromHex(doc.certificate, "certificate"), "certificate"), h, validators, "the checkpoint");
      return t;
    }
    fail("FormatError", "trust file kind must be genesis or checkpoint");
  }
  const describeTrust = (t) => (t.kind === "genesis" ? `genesis ${toHex(t.hash).slice(0, 16)}… of chain ${t.chainId}` : `checkpoint ${toHex(t.hash).slice(0, 16)}… at height ${t.height}`);

  // --- verification (same steps and order as sdk/proofs/verify.py) -----------------------------------------
  function validateCertificate(cert, header, validators, what) {
    const h = header.height;
    if (!cert) fail("QuorumError", `${what} (height ${h}) has no commit certificate`, { height: h });
    if (cert.height !== h || cert.round !== header.round || !eq(cert.blockHash, header.hash)) fail("ChainError", `the certificate of ${what} seals another block (height ${cert.height}, round ${cert.round})`, { height: h });
    return checkSeals(cert.seals, validators, commitPreimage(header.chainId, cert.height, cert.round, cert.blockHash), `${what} (height ${h})`, h);
  }
  // The quorum rule (sdk/proofs/certificate.py check_seals): seals in index order from the set, a quorum of
  // them, each a valid SM2 signature over the preimage. Commit certificates and licence statements share it.
  function checkSeals(seals, validators, pre, what, h) {
    const n = validators.length;
    for (let i = 1; i < seals.length; i++) if (seals[i].index <= seals[i - 1].index) fail("QuorumError", `${what}: seals are not sorted by validator index without duplicates`, { height: h });
    for (const s of seals) if (s.index >= n) fail("QuorumError", `${what} has a seal from validator index ${s.index}, but the set in force has ${n}`, { height: h });
    const need = quorum(n);
    if (seals.length < need) fail("QuorumError", `${what} is sealed by ${seals.length} distinct validators; quorum of ${n} is ${need}`, { height: h });
    for (const s of seals) if (!sm2Verify(validators[s.index], pre, s.signature)) fail("SignatureError", `the seal of validator ${s.index} on ${what} does not verify`, { height: h });
    return seals.map((s) => s.index);
  }

  function verifyBundle(doc, trustDoc) {
    const trust = trustDoc.kind && trustDoc.validators && trustDoc.validators[0] instanceof Uint8Array ? trustDoc : parseTrust(trustDoc);
    const b = parseBundle(doc);
    // chain ids
    if (b.chainId !== trust.chainId) fail("ChainError", `the bundle is for chain ${b.chainId}, the trusted chain is ${trust.chainId}`);
    if (trust.kind === "genesis" && !eq(b.genesisHash, trust.hash)) fail("ChainError", "the bundle comes from another chain: its genesis differs from the trusted genesis");
    const headers = [["the event block", b.block.header], ...b.handovers.map((h, i) => [`handover ${i}`, h.header])];
    if (b.state) headers.push(["the state block", b.state.header]);
    for (const [what, h] of headers) if (h.chainId !== trust.chainId) fail("ChainError", `${what} (height ${h.height}) is for chain ${h.chainId}, not ${trust.chainId}`);
    if (b.event.tx && b.event.tx.chainId !== trust.chainId) fail("ChainError", `the transaction is for chain ${b.event.tx.chainId}, not ${trust.chainId}`);
    // handovers
    const changes = [{ height: trust.height, validators: trust.nextHash === trust.vhash || eq(trust.nextHash, trust.vhash) ? trust.validators : null, vhash: trust.nextHash }];
    let previous = -1;
    for (const ho of b.handovers) {
      const h = ho.header.height, what = `handover block ${h}`;
      if (h <= previous) fail("FormatError", "handovers must be in strictly increasing height order");
      previous = h;
      checkSorted(ho.validators, `${what}'s validator set`);
      const newHash = validatorsHash(ho.validators);
      if (!eq(newHash, ho.header.nextValidatorsHash)) fail("ChainError", `${what} carries a validator set that its header does not commit to`, { height: h });
      if (h < trust.height) continue;
      if (h === trust.height) {
        if (!eq(ho.header.hash, trust.hash)) fail("ChainError", `${what} is not the trusted anchor block at that height`);
        changes[0] = { height: h, validators: ho.validators, vhash: newHash };
        continue;
      }
      if (eq(ho.header.nextValidatorsHash, ho.header.validatorsHash)) fail("FormatError", `block ${h} does not change the validator set; it is no handover`);
      validateCertificate(ho.cert, ho.header, setAt(changes, h, ho.header), what);
      changes.push({ height: h, validators: ho.validators, vhash: newHash });
    }
    function setAt(chs, height, header) {
      let c = chs[0];
      for (const x of chs) if (x.height < height) c = x;
      if (!c.validators) fail("ChainError", `the trusted checkpoint hands over to a new set, which the bundle lacks (height ${height})`);
      if (!eq(header.validatorsHash, c.vhash)) fail("ChainError", `block ${height} names another validator set than the one in force from height ${c.height + 1}: a handover is missing from the bundle, or the block is from a fork`, { height });
      return c.validators;
    }
    function authenticate(s, what) {
      const h = s.header.height;
      if (h === trust.height) {
        if (!eq(s.header.hash, trust.hash)) fail("ChainError", `${what} at the anchor height ${h} is not the trusted block`);
        return { validators: trust.validators, sealedBy: [] };
      }
      if (h < trust.height) {
        if (trust.kind !== "checkpoint") fail("ChainError", `${what} is below the trusted genesis`);
        if (!s.history) fail("ProofError", `${what} (height ${h}) is below the checkpoint (${trust.height}) but has no history proof`, { height: h });
        if (s.history.size !== trust.height) fail("ProofError", `the history proof of ${what} is for a checkpoint at height ${s.history.size}, the trusted one is at ${trust.height}`);
        const err = verifyInclusion(s.header.hash, h, s.history.size, s.history.proof, trust.header.historyRoot);
        if (err) fail("ProofError", `${what} (height ${h}) is not in the checkpoint's history: ${err}`, { height: h });
        return { validators: [], sealedBy: [] };
      }
      const validators = setAt(changes, h, s.header);
      return { validators, sealedBy: validateCertificate(s.cert, s.header, validators, what) };
    }
    const header = b.block.header;
    const sealedInfo = authenticate(b.block, "the event block");
    // transaction signature (a drug-code bundle has no transaction: its receipt and log stand for it)
    const tx = b.event.tx;
    if (tx && !sm2Verify(tx.publicKey, tx.preimage, tx.signature)) fail("SignatureError", "the transaction's SM2 signature does not verify", { tx_hash: toHex(tx.hash) });
    // inclusion
    const e = b.event;
    let err = tx ? verifyInclusion(tx.raw, e.txIndex, e.txCount, e.txProof, header.txRoot) : null;
    if (err) fail("ProofError", `the transaction is not in block ${header.height}: ${err}`, { height: header.height });
    err = verifyInclusion(e.receipt.raw, e.txIndex, e.txCount, e.receiptProof, header.receiptRoot);
    if (err) fail("ProofError", `the receipt is not in block ${header.height}: ${err}`, { height: header.height });
    // receipt and log
    if (tx && !eq(e.receipt.txHash, tx.hash)) fail("ProofError", "the receipt belongs to another transaction");
    if (e.receipt.status !== 1) fail("StatusError", `the transaction was committed at height ${header.height} but reverted: ${new TextDecoder().decode(e.receipt.revertReason)}`, { height: header.height });
    let log = null;
    if (e.logIndex !== null) {
      if (e.logIndex >= e.receipt.logs.length) fail("ProofError", `log index ${e.logIndex} is outside the receipt's ${e.receipt.logs.length} logs`);
      log = e.receipt.logs[e.logIndex];
    }
    const lot = b.lot ? checkLot(b.lot, log) : null;
    const licence = tx ? decodeLicence(log) : null;
    if (licence) licence.identifier = checkLicenceIdentifier(tx, licence);
    // state
    let state = null;
    if (b.state) {
      const s = b.state, sh = s.header;
      if (sh.height < header.height) fail("ChainError", `the state proof is at height ${sh.height}, before the event (height ${header.height})`);
      authenticate(s, "the state block");
      if (s.kind === "licence") {
        if (!licence) fail("FormatError", "a licence status proof needs the event to be a LicenceIssued log");
        const expected = addToSlot(storageSlot(LICENCE_BASE_SLOT, licence.idHash), LICENCE_STATE_OFFSET);
        if (toHex(s.address) !== REGISTRY || !eq(s.slot, expected)) fail("ProofError", "the state proof is about another slot than the status of the licence in the event");
      }
      const account = accountOf(sh.stateRoot, s.address, s.accountProof);
      const value = storageValue(account.storageRoot, s.slot, s.storageProof);
      state = { height: sh.height, blockHash: toHex(sh.hash), blockTimeMs: sh.timestampMs, address: toHex(s.address), slot: toHex(s.slot), value: value.toString(), kind: s.kind, codeHash: toHex(account.codeHash) };
      if (s.kind === "licence") {
        const mask = (1n << 64n) - 1n, st = Number(value & mask), suspended = Number((value >> 64n) & mask), ended = Number((value >> 128n) & mask);
        const t = Math.floor(sh.timestampMs / 1000);
        let code;
        if (st === 0) code = 0;
        else if ((st === 5 || st === 6) && t >= ended) code = st;
        else if (suspended && t >= suspended) code = 4;
        else if (t < licence.validFrom) code = 2;
        else if (licence.validUntil && t > licence.validUntil) code = 3;
        else code = 1;
        const utc = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC";
        state.licence = { code, name: STATUS[code] || `UNKNOWN(${code})`, height: sh.height, endedAt: ended || null };
        if (code !== 1) fail("StatusError", `the licence is ${state.licence.name} at height ${sh.height} (block time ${utc(sh.timestampMs)}${ended ? `, since ${utc(ended * 1000)}` : ""}); it was issued at height ${header.height}`, { status: state.licence.name, height: sh.height, block_time_ms: sh.timestampMs, issued_at_height: header.height, ended_at: ended || null });
      }
    }
    return {
      verified: true, trust: describeTrust(trust), chainId: header.chainId, height: header.height, blockHash: toHex(header.hash),
      blockTimeMs: header.timestampMs, txHash: toHex(e.receipt.txHash), txIndex: e.txIndex, sender: tx ? toHex(tx.sender) : lot.mah, contract: tx ? toHex(tx.to) : DRUG_LOTS,
      validators: sealedInfo.validators.length, sealedBy: sealedInfo.sealedBy, handovers: changes.slice(1).map((c) => c.height),
      log: log && { index: e.logIndex, address: toHex(log.address), topics: log.topics.map(toHex) },
      licence: licence && { idHash: toHex(licence.idHash), typeId: toHex(licence.typeId), issuer: toHex(licence.issuer), issuerOrg: licence.issuerOrg,
        holderCommitment: toHex(licence.holderCommitment), documentHash: toHex(licence.documentHash), validFrom: licence.validFrom,
        validUntil: licence.validUntil, jurisdiction: licence.jurisdiction, identifier: licence.identifier },
      state, lot, labels: b.labels,
    };
  }

  // --- compact payloads (#b=base64url(deflate(RLP))) ---------------------------------------------------
  async function inflate(bytes) {
    const ds = new DecompressionStream("deflate");
    const out = new Response(new Blob([bytes]).stream().pipeThrough(ds));
    return new Uint8Array(await out.arrayBuffer());
  }
  function fromBase64Url(text) {
    if (!/^[A-Za-z0-9_-]*$/.test(text)) fail("FormatError", "QR payload is not base64url");
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
    return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  }
  const B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
  function fromBase45(text) {
    const v = Array.from(text, (c) => { const i = B45.indexOf(c); if (i < 0) fail("FormatError", "not base45"); return i; });
    if (v.length % 3 === 1) fail("FormatError", "not base45: bad length");
    const out = [];
    for (let i = 0; i < v.length; i += 3) {
      if (i + 2 < v.length) { const n = v[i] + v[i + 1] * 45 + v[i + 2] * 2025; if (n > 0xffff) fail("FormatError", "not base45"); out.push(n >> 8, n & 255); }
      else { const n = v[i] + v[i + 1] * 45; if (n > 255) fail("FormatError", "not base45"); out.push(n); }
    }
    return Uint8Array.from(out);
  }
  const hx = (b) => "0x" + toHex(b);
  // Rebuild the JSON document from the compact RLP form (sdk/proofs/bundle.py to_compact), so one parser checks both.
  function compactToJson(raw) {
    const top = list(rlpDecode(raw, "compact bundle"), "bundle");
    if (top.length !== 7 && top.length !== 8) fail("FormatError", `bundle must have 7 or 8 fields, found ${top.length}`);
    const sealedJ = (it, w) => {
      const f = list(it, w, 3);
      const hist = list(f[2], `${w}.history`);
      const o = { header: hx(f[0].raw), certificate: str(f[1], w).length ? hx(str(f[1], w)) : null };
      if (hist.length) o.history = { size: Number(uint(hist[0], "history.size")), proof: list(hist[1], "history").map((x) => hx(str(x, "history"))) };
      return o;
    };
    const ev = list(top[3], "event", 7);
    const logIdx = list(ev[6], "log_index");
    const doc = {
      format: "xinlian/proof-bundle", version: Number(uint(top[0], "version")), chain_id: Number(uint(top[1], "chain_id")), genesis_hash: hx(str(top[2], "genesis_hash")),
      event: { tx: !isList(ev[0]) && str(ev[0], "event.tx").length === 0 ? null : hx(ev[0].raw), receipt: hx(ev[1].raw), tx_index: Number(uint(ev[2], "tx_index")), tx_count: Number(uint(ev[3], "tx_count")),
        tx_proof: list(ev[4], "tx_proof").map((x) => hx(str(x, "tx_proof"))), receipt_proof: list(ev[5], "receipt_proof").map((x) => hx(str(x, "receipt_proof"))),
        log_index: logIdx.length ? Number(uint(logIdx[0], "log_index")) : null },
      block: sealedJ(top[4], "block"),
      handovers: list(top[5], "handovers").map((h, i) => { const f = list(h, `handovers[${i}]`, 3); return { header: hx(f[0].raw), certificate: str(f[1], "cert").length ? hx(str(f[1], "cert")) : null, validators: list(f[2], "validators").map((k) => hx(str(k, "validator"))) }; }),
      state: null,
    };
    const st = list(top[6], "state");
    if (st.length) {
      if (st.length !== 6) fail("FormatError", "state must have 6 fields in the compact bundle");
      doc.state = Object.assign(sealedJ(st[0], "state"), { kind: new TextDecoder().decode(str(st[1], "kind")), address: hx(str(st[2], "address")), slot: hx(str(st[3], "slot")),
        account_proof: list(st[4], "account_proof").map((x) => hx(str(x, "node"))), storage_proof: list(st[5], "storage_proof").map((x) => hx(str(x, "node"))) });
    }
    if (top.length === 8) {
      const f = list(top[7], "lot", 3);
      doc.lot = { code_id: hx(str(f[0], "lot.code_id")), leaf: Number(uint(f[1], "lot.leaf")), path: list(f[2], "lot.path").map((x) => hx(str(x, "lot.path"))) };
    }
    return doc;
  }
  async function loadPayload(text) {
    text = text.trim();
    if (text.startsWith("{")) { try { return JSON.parse(text); } catch (e) { fail("FormatError", `bundle is not JSON: ${e.message}`); } }
    let bytes;
    if (text.startsWith("XL1:")) bytes = fromBase45(text.slice(4));
    else {
      if (text.includes("#")) { const p = new URLSearchParams(text.split("#")[1]); if (!p.get("b")) fail("FormatError", "the link carries no bundle (#b=…)"); text = p.get("b"); }
      bytes = fromBase64Url(text);
    }
    let raw;
    try { raw = await inflate(bytes); } catch (e) { fail("FormatError", "compact bundle does not inflate"); }
    return compactToJson(raw);
  }
  async function holderMatches(holderCommitmentHex, saltHex, codeType, code) {
    const c = sm3(concat(fromHex(saltHex, "salt", 32), ascii(codeType), ascii(code.trim().toUpperCase())));
    return toHex(c) === holderCommitmentHex;
  }

  // --- holder check: the holder's opening of the licence's holder commitment ------------------------------
  // Read from her credential file (xinlian/licence-credential/1), her holder QR text (XLH1:base45) or a /verify
  // link's h= (base64url); both compact forms are RLP [1, id hash, salt, code type, code]
  // (sdk/domains/licences/credentials.py HolderCredential.holder_opening). No key is in any of them.
  const HOLDER_PREFIX = "XLH1:";
  const CREDENTIAL_FORMAT = "xinlian/licence-credential/1";
  function holderOpeningFromRlp(raw) {
    const f = list(rlpDecode(raw, "holder opening"), "holder opening", 5);
    if (uint(f[0], "holder opening version") !== 1) fail("FormatError", "unsupported holder opening version", { field: "holder opening" });
    const text = (it, w) => { const b = str(it, w); if (!/^[\x20-\x7e]*$/.test(String.fromCharCode(...b))) fail("FormatError", `${w} is not ASCII`, { field: w }); return String.fromCharCode(...b); };
    return { idHash: toHex(str(f[1], "id_hash", 32)), salt: toHex(str(f[2], "holder salt", 32)), codeType: text(f[3], "holder code type"), code: text(f[4], "holder code") };
  }
  function parseHolderOpening(text) {
    text = String(text).trim();
    if (text.startsWith("{")) {
      let body;
      try { body = JSON.parse(text); } catch (e) { fail("FormatError", `the holder file is not JSON: ${e.message}`); }
      const x = body && body.xinlian;
      if (!x || x.format !== CREDENTIAL_FORMAT) fail("FormatError", "not a Xinlian licence credential file");
      const codeType = body["持证主体代码类型"], code = body["持证主体代码"];
      if (typeof codeType !== "string" || typeof code !== "string") fail("FormatError", "the credential file lacks the holder code", { field: "持证主体代码" });
      return { idHash: toHex(fromHex(x.id_hash, "id_hash", 32)), salt: toHex(fromHex(x.holder_salt, "holder_salt", 32)), codeType, code };
    }
    if (text.toUpperCase().startsWith(HOLDER_PREFIX)) return holderOpeningFromRlp(fromBase45(text.slice(HOLDER_PREFIX.length).toUpperCase()));
    if (text.includes("#")) {
      const h = new URLSearchParams(text.split("#")[1]).get("h");
      if (!h) fail("FormatError", "the link carries no holder data (h=…)");
      return holderOpeningFromRlp(fromBase64Url(h));
    }
    if (/^[A-Za-z0-9_-]+$/.test(text)) return holderOpeningFromRlp(fromBase64Url(text));
    fail("FormatError", "not a holder credential: expected the credential file, an XLH1: code or a /verify link with h=");
  }
  // The opening against a verified licence (verifyBundle(...).licence): HolderError when it is another
  // licence's; otherwise {match, codeType, code}: match is whether SM3(salt ‖ type ‖ code) is the commitment.
  async function checkHolder(licence, opening) {
    if (!licence) fail("FormatError", "no verified licence to check the holder against");
    if (opening.idHash !== licence.idHash) fail("HolderError", "the holder credential is for another licence", { id_hash: "0x" + opening.idHash });
    const match = await holderMatches(licence.holderCommitment, opening.salt, opening.codeType, opening.code);
    return { match, codeType: opening.codeType, code: opening.code.trim().toUpperCase() };
  }

  // --- licence status statements: XLS1 (sdk/proofs/statement.py; same steps, same order) ------------------
  // "XLS1:" then RLP [1, chain_id, [identifier without its root, holder_commitment, document_hash, valid_from,
  // valid_until, jurisdiction], [status_code, height, block_time_s, block_hash], [bitmap, signatures]]; from a
  // binary-mode QR code (jsQR's binaryData) as bytes, or pasted as "XLS1:" + base45.
  const STATEMENT_PREFIX = "XLS1:";
  const STATEMENT_TAG = encBytes(ascii("xinlian/licence-statement/1"));
  const ID_ROOT = "1.2.156.3005.2.";
  const MAX_STATEMENT_BYTES = 2953, MAX_VALIDATORS = 256, STALE_AFTER_MS = 24 * 3600 * 1000;
  function isStatementPayload(data) {
    if (typeof data === "string") return data.trim().startsWith(STATEMENT_PREFIX);
    return data instanceof Uint8Array && data.length >= 5 && String.fromCharCode(...data.subarray(0, 5)) === STATEMENT_PREFIX;
  }
  function statementBytes(data) {
    if (!isStatementPayload(data)) fail("FormatError", "not a licence statement: an XLS1 payload starts with 'XLS1:'");
    if (typeof data === "string") return fromBase45(data.trim().slice(5));
    const body = data.subarray(5);
    return body.length && body[0] < 0xc0 ? fromBase45(String.fromCharCode(...body).trim()) : body;
  }
  function statementText(it, what, asciiOnly) {
    const b = str(it, what);
    if (b.length > 128) fail("FormatError", `${what} is longer than 128 bytes`, { field: what });
    let text;
    try { text = new TextDecoder(asciiOnly ? "ascii" : "utf-8", { fatal: true }).decode(b); } catch (e) { fail("FormatError", `${what} is not text`, { field: what }); }
    if ((asciiOnly && !/^[\x20-\x7e]*$/.test(text)) || /[\x00-\x1f\x7f]/.test(text)) fail("FormatError", `${what} has control characters`, { field: what });
    return text;
  }
  function decodeStatement(raw) {
    if (raw.length > MAX_STATEMENT_BYTES) fail("FormatError", `a statement is at most ${MAX_STATEMENT_BYTES} bytes, got ${raw.length}`);
    const top = list(rlpDecode(raw, "statement"), "statement", 5);
    const version = uint(top[0], "version");
    if (version !== 1) fail("FormatError", `unsupported statement version ${version}; this verifier reads 1`);
    const rec = list(top[2], "statement.record", 6), st = list(top[3], "statement.status", 4), se = list(top[4], "statement.seals", 2);
    const bitmapBytes = str(se[0], "seal bitmap");
    if (bitmapBytes.length > MAX_VALIDATORS / 8) fail("FormatError", "the seal bitmap names validators beyond 255");
    if (bitmapBytes.length && bitmapBytes[0] === 0) fail("FormatError", "seal bitmap has a leading zero");
    const sigs = str(se[1], "seal signatures"), indexes = [];
    for (let i = 0; i < 8 * bitmapBytes.length; i++) if ((bitmapBytes[bitmapBytes.length - 1 - (i >> 3)] >> (i & 7)) & 1) indexes.push(i);
    if (sigs.length !== 64 * indexes.length) fail("FormatError", `the seal bitmap names ${indexes.length} validators but ${sigs.length} bytes of signatures follow (64 each)`);
    const num = (it, w) => { const n = uint(it, w); if (typeof n === "bigint") fail("FormatError", `${w} is too large`); return n; };
    return {
      chainId: num(top[1], "chain_id"), identifier: ID_ROOT + statementText(rec[0], "identifier", true),
      holderCommitment: str(rec[1], "holder_commitment", 32), documentHash: str(rec[2], "document_hash", 32),
      validFrom: num(rec[3], "valid_from"), validUntil: num(rec[4], "valid_until"), jurisdiction: statementText(rec[5], "jurisdiction", false),
      rawJurisdiction: str(rec[5], "jurisdiction"), raw: { validFrom: rec[3].raw, validUntil: rec[4].raw, code: st[0].raw, height: st[1].raw, time: st[2].raw, chainId: top[1].raw },
      statusCode: num(st[0], "status_code"), height: num(st[1], "height"), blockTimeS: num(st[2], "block_time_s"), blockHash: str(st[3], "block_hash", 32),
      seals: indexes.map((index, k) => ({ index, signature: sigs.subarray(64 * k, 64 * k + 64) })),
    };
  }
  function statementPreimage(s, named) {
    return encList([STATEMENT_TAG, s.raw.chainId, encBytes(fromHex(REGISTRY)), encBytes(named.idHash), encBytes(named.typeId), encBytes(ascii(named.issuerOrg)),
      encBytes(s.holderCommitment), encBytes(s.documentHash), s.raw.validFrom, s.raw.validUntil, encBytes(s.rawJurisdiction), s.raw.code, s.raw.height, s.raw.time, encBytes(s.blockHash)]);
  }
  // The set the trust file names for a statement's height (sdk/proofs/statement.py validators_at).
  function statementValidators(trust, s) {
    if (trust.kind === "genesis") {
      if (s.height === 0) fail("ChainError", "a statement at height 0 (the genesis) proves no licence");
      return trust.validators;
    }
    if (s.height < trust.height) fail("ChainError", `the statement is at height ${s.height}, below the trusted checkpoint (${trust.height}): the trust file does not name the validator set in force then`, { height: s.height });
    if (s.height === trust.height && !eq(s.blockHash, trust.hash)) fail("ChainError", "the statement names another block than the trusted checkpoint", { height: s.height });
    if (s.height > trust.height && !eq(trust.nextHash, trust.vhash)) fail("ChainError", `the trusted checkpoint hands over to a new validator set, which the trust file lacks (statement at height ${s.height})`, { height: s.height });
    return trust.validators;
  }
  function verifyStatement(payload, trustDoc, nowMs) {
    const trust = trustDoc.kind && trustDoc.validators && trustDoc.validators[0] instanceof Uint8Array ? trustDoc : parseTrust(trustDoc);
    const s = decodeStatement(statementBytes(payload));
    if (s.chainId !== trust.chainId) fail("ChainError", `the statement is for chain ${s.chainId}, the trusted chain is ${trust.chainId}`);
    const named = identifierFacts(s.identifier);
    const validators = statementValidators(trust, s);
    const sealedBy = checkSeals(s.seals, validators, statementPreimage(s, named), "the statement", s.height);
    const blockTimeMs = s.blockTimeS * 1000, name = STATUS[s.statusCode] || `UNKNOWN(${s.statusCode})`;
    if (s.statusCode !== 1) fail("StatusError", `the licence is ${name} at height ${s.height}`, { status: name, height: s.height, block_time_ms: blockTimeMs });
    const now = nowMs === undefined ? Date.now() : nowMs;
    return {
      verified: true, kind: "statement", trust: describeTrust(trust), chainId: s.chainId, height: s.height, blockHash: toHex(s.blockHash), blockTimeMs,
      validators: validators.length, sealedBy, stale: now - blockTimeMs > STALE_AFTER_MS,
      licence: { idHash: toHex(named.idHash), typeId: toHex(named.typeId), typeCode: named.typeCode, issuerOrg: named.issuerOrg, identifier: named.identifier,
        holderCommitment: toHex(s.holderCommitment), documentHash: toHex(s.documentHash), validFrom: s.validFrom, validUntil: s.validUntil, jurisdiction: s.jurisdiction },
      state: { height: s.height, blockHash: toHex(s.blockHash), blockTimeMs, kind: "licence", licence: { code: s.statusCode, name, height: s.height, endedAt: null } },
      labels: {},
    };
  }

  const api = { VerificationError, verifyBundle, verifyStatement, isStatementPayload, STALE_AFTER_MS, parseTrust, loadPayload, compactToJson, holderMatches, parseHolderOpening, checkHolder, keccak256, sm3, toHex, fromHex };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  root.XinlianVerify = api;
})(typeof globalThis !== "undefined" ? globalThis : this);
