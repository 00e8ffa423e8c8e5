/* Xinlian (信链) member-signed requests in the browser: the same scheme as sdk/auth.py (tag xinlian/query/2).
 * The member's key file is read here, on the member's machine, and kept in memory only (never sent, never
 * stored): unencrypted PKCS#8 PEM, SEC1 "EC PRIVATE KEY" PEM, 0x-hex, or encrypted PKCS#8 PEM as
 * `xinlian keys new --password-env` writes it (PBES2: PBKDF2-HMAC-SHA256 by WebCrypto, SM4-CBC written here).
 * Each request is signed afresh: SM2 over RLP([tag, chain id, audience, METHOD, path?query, time ms, nonce,
 * SM3(body)]) with Z_A of the default user ID, r‖s as 128 hex digits. SM3 comes from sm-crypto.js (bundled);
 * the curve arithmetic is written here with BigInt; the signing nonce k and the request nonce are drawn from
 * crypto.getRandomValues. signTransaction builds a signed transaction exactly as sdk/types.py Transaction.
 * Throws KeyFileError {kind, message} for a key file it cannot use. Works in Node too (tests load it into a
 * vm with sm-crypto.js). */
"use strict";
(function (root) {
  const SM = root.sm2 ? { sm2: root.sm2, sm3: root.sm3 } : { sm2: require("sm-crypto").sm2, sm3: require("sm-crypto").sm3 };
  const webcrypto = root.crypto;

  class KeyFileError extends Error {
    constructor(kind, message) { super(message); this.kind = kind; }
  }
  const bad = (kind, message) => { throw new KeyFileError(kind, message); };

  // --- bytes ----------------------------------------------------------------------------------------------
  const toHex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  function fromHex(h) {
    const out = new Uint8Array(h.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(h.substr(2 * i, 2), 16);
    return out;
  }
  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.length; }
    return out;
  }
  const utf8 = (s) => new TextEncoder().encode(s);
  const sm3 = (bytes) => fromHex(SM.sm3(Array.from(bytes)));
  const bigOf = (b) => (b.length ? BigInt("0x" + toHex(b)) : 0n);
  const bytesOf = (n, size) => fromHex(n.toString(16).padStart(2 * size, "0"));
  function randomBytes(n) {
    const out = new Uint8Array(n);
    webcrypto.getRandomValues(out);
    return out;
  }

  // --- RLP (as sdk/encoding.py: ints big-endian minimal, 0 the empty string) ------------------------------
  function encLen(n, base) {
    if (n < 56) return Uint8Array.of(base + n);
    const bytes = [];
    for (let x = n; x > 0; x = Math.floor(x / 256)) bytes.unshift(x % 256);
    return Uint8Array.of(base + 55 + bytes.length, ...bytes);
  }
  function rlp(item) {
    if (Array.isArray(item)) { const body = concat(...item.map(rlp)); return concat(encLen(body.length, 0xc0), body); }
    if (typeof item === "number" || typeof item === "bigint") {
      const n = BigInt(item);
      if (n < 0n) throw new RangeError("RLP cannot encode a negative integer");
      return rlp(n === 0n ? new Uint8Array(0) : fromHex(n.toString(16).padStart(Math.ceil(n.toString(16).length / 2) * 2, "0")));
    }
    if (item.length === 1 && item[0] < 0x80) return item;
    return concat(encLen(item.length, 0x80), item);
  }

  // --- SM2 (GB/T 32918.2) ---------------------------------------------------------------------------------
  const P = 0xfffffffeffffffffffffffffffffffffffffffff00000000ffffffffffffffffn;
  const A = 0xfffffffeffffffffffffffffffffffffffffffff00000000fffffffffffffffcn;
  const B = 0x28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93n;
  const N = 0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123n;
  const GX = 0x32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7n;
  const GY = 0xbc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0n;
  const DEFAULT_USER_ID = utf8("1234567812345678");
  const mod = (a, m) => ((a % m) + m) % m;
  function inverse(a, m) {
    let [r0, r1, s0, s1] = [mod(a, m), m, 1n, 0n];
    while (r1) { const q = r0 / r1; [r0, r1] = [r1, r0 - q * r1]; [s0, s1] = [s1, s0 - q * s1]; }
    return mod(s0, m);
  }
  // Curve arithmetic in Jacobian coordinates with BigInt (a = -3 formulas: dbl-2001-b, add-2007-bl); null is
  // the point at infinity. d·G uses a table of j·16^i·G (built once), so signing costs 64 additions.
  const fp = (a) => mod(a, P);
  function dbl(p1) {
    if (!p1 || p1[1] === 0n) return null;
    const [X, Y, Z] = p1;
    const delta = fp(Z * Z), gamma = fp(Y * Y), beta = fp(X * gamma);
    const alpha = fp(3n * (X - delta) * (X + delta));
    const X3 = fp(alpha * alpha - 8n * beta);
    const Z3 = fp((Y + Z) * (Y + Z) - gamma - delta);
    const Y3 = fp(alpha * (4n * beta - X3) - 8n * gamma * gamma);
    return [X3, Y3, Z3];
  }
  function add(p1, p2) {
    if (!p1) return p2;
    if (!p2) return p1;
    const [X1, Y1, Z1] = p1, [X2, Y2, Z2] = p2;
    const Z1Z1 = fp(Z1 * Z1), Z2Z2 = fp(Z2 * Z2);
    const U1 = fp(X1 * Z2Z2), U2 = fp(X2 * Z1Z1);
    const S1 = fp(Y1 * Z2 * Z2Z2), S2 = fp(Y2 * Z1 * Z1Z1);
    const H = fp(U2 - U1), r = fp(2n * (S2 - S1));
    if (H === 0n) return r === 0n ? dbl(p1) : null;
    const I = fp(4n * H * H), J = fp(H * I), V = fp(U1 * I);
    const X3 = fp(r * r - J - 2n * V);
    const Y3 = fp(r * (V - X3) - 2n * S1 * J);
    const Z3 = fp(((Z1 + Z2) * (Z1 + Z2) - Z1Z1 - Z2Z2) * H);
    return [X3, Y3, Z3];
  }
  function affine(p1) {
    if (!p1) return null;
    const zi = inverse(p1[2], P), zi2 = fp(zi * zi);
    return [fp(p1[0] * zi2), fp(p1[1] * zi2 * zi)];
  }
  let gTable = null;
  function mulG(k) {
    if (!gTable) {
      gTable = [];
      let base = [GX, GY, 1n];
      for (let i = 0; i < 64; i++) {
        const row = [null, base];
        for (let j = 2; j < 16; j++) row.push(add(row[j - 1], base));
        gTable.push(row);
        base = dbl(dbl(dbl(dbl(base))));
      }
    }
    let acc = null;
    for (let i = 0; i < 64; i++) { const nib = Number((k >> BigInt(4 * i)) & 15n); if (nib) acc = add(acc, gTable[i][nib]); }
    return acc;
  }
  function mul(k, point) {
    const table = [null, point];
    for (let j = 2; j < 16; j++) table.push(add(table[j - 1], point));
    let acc = null;
    for (let i = 63; i >= 0; i--) {
      acc = dbl(dbl(dbl(dbl(acc))));
      const nib = Number((k >> BigInt(4 * i)) & 15n);
      if (nib) acc = add(acc, table[nib]);
    }
    return acc;
  }
  const onCurve = (x, y) => x < P && y < P && fp(y * y) === fp(x * x * x + A * x + B);
  /** The 64-byte x‖y of d·G (d a BigInt in [1, n-1]). */
  function multiplyG(d) {
    const [x, y] = affine(mulG(d));
    return concat(bytesOf(x, 32), bytesOf(y, 32));
  }
  /** Z_A = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA). */
  function zA(publicKey, userId = DEFAULT_USER_ID) {
    const bits = userId.length * 8;
    return sm3(concat(Uint8Array.of(bits >> 8, bits & 0xff), userId, bytesOf(A, 32), bytesOf(B, 32), bytesOf(GX, 32), bytesOf(GY, 32), publicKey));
  }
  /** A scalar drawn uniformly from [1, n-1] by crypto.getRandomValues (rejection sampling). */
  function randomScalar() {
    for (;;) {
      const k = bigOf(randomBytes(32));
      if (k >= 1n && k < N) return k;
    }
  }

  /** A signing key: the scalar, its public key x‖y and its address. Verifies that d is in [1, n-2]. */
  function keyFromScalar(dBytes) {
    const d = bigOf(dBytes);
    if (dBytes.length !== 32 || d < 1n || d > N - 2n) bad("KeyRange", "the private key is not a valid SM2 key (d must be in [1, n-2])");
    const publicKey = multiplyG(d);
    return Object.freeze({ d, publicKey, address: sm3(publicKey).subarray(12) });
  }

  /** The 64-byte r‖s signature of ``message`` with ``key``: e = SM3(Z_A ‖ message); fresh k each time; the
   * signature is checked before it is returned (as sdk.keyholder.sign_checked). */
  function sign(key, message) {
    const e = bigOf(sm3(concat(zA(key.publicKey), message)));
    const dInv = inverse(1n + key.d, N);
    for (;;) {
      const k = randomScalar();
      const x1 = bigOf(multiplyG(k).subarray(0, 32));
      const r = mod(e + x1, N);
      if (r === 0n || r + k === N) continue;
      const s = mod(dInv * (k - r * key.d), N);
      if (s === 0n) continue;
      const sig = concat(bytesOf(r, 32), bytesOf(s, 32));
      if (!verify(key.publicKey, message, sig)) throw new Error("SM2 signature self-check failed");
      return sig;
    }
  }
  /** Whether ``signature`` (r‖s) is ``publicKey``'s SM2 signature of ``message`` (GB/T 32918.2 §7). */
  function verify(publicKey, message, signature) {
    if (publicKey.length !== 64 || signature.length !== 64) return false;
    const x = bigOf(publicKey.subarray(0, 32)), y = bigOf(publicKey.subarray(32));
    const r = bigOf(signature.subarray(0, 32)), s = bigOf(signature.subarray(32));
    if (!onCurve(x, y) || r < 1n || r >= N || s < 1n || s >= N) return false;
    const t = mod(r + s, N);
    if (t === 0n) return false;
    const point = affine(add(mulG(s), mul(t, [x, y, 1n])));
    if (!point) return false;
    const e = bigOf(sm3(concat(zA(publicKey), message)));
    return mod(e + point[0], N) === r;
  }

  // --- the request signature (sdk/auth.py) ----------------------------------------------------------------
  const QUERY_TAG = utf8("xinlian/query/2");
  const NONCE_BYTES = 16;
  function queryPreimage(chainId, audience, method, pathAndQuery, timestampMs, nonce, body) {
    return rlp([QUERY_TAG, chainId, utf8(audience), utf8(method.toUpperCase()), utf8(pathAndQuery), timestampMs, nonce, sm3(body)]);
  }
  /** The five X-Xinlian-* headers that authenticate one request as ``key``'s account. */
  function signQuery(key, { chainId, audience, method, pathAndQuery, body = new Uint8Array(0), timestampMs, nonce }) {
    const ts = timestampMs === undefined ? Date.now() : timestampMs;
    const n = nonce === undefined ? randomBytes(NONCE_BYTES) : nonce;
    const preimage = queryPreimage(chainId, audience, method, pathAndQuery, ts, n, body);
    return {
      "X-Xinlian-Key": toHex(key.publicKey),
      "X-Xinlian-Time": String(ts),
      "X-Xinlian-Nonce": toHex(n),
      "X-Xinlian-Audience": audience,
      "X-Xinlian-Signature": toHex(sign(key, preimage)),
    };
  }

  // --- transactions (sdk/types.py Transaction) -----------------------------------------------------------
  const TX_TAG = utf8("xinlian/tx/1");
  const TX_NONCE_BYTES = 16;
  /** A signed transaction: RLP([chain id, nonce, expiry height, to, data, gas limit, public key, r‖s]), the
   * signature over RLP([TX_TAG, …the first seven fields]); its hash is SM3 of that preimage. */
  function signTransaction(key, { chainId, to, data, gasLimit, expiryHeight, nonce }) {
    const n = nonce === undefined ? randomBytes(TX_NONCE_BYTES) : nonce;
    if (n.length !== TX_NONCE_BYTES || to.length !== 20) throw new RangeError("a transaction needs a 16-byte nonce and a 20-byte address");
    const fields = [chainId, n, expiryHeight, to, data, gasLimit, key.publicKey];
    const preimage = rlp([TX_TAG, ...fields]);
    const signature = sign(key, preimage);
    return { raw: rlp([...fields, signature]), hash: sm3(preimage) };
  }

  // --- DER (just enough for PKCS#8, SEC1 and PBES2) -------------------------------------------------------
  function der(data, pos = 0) {
    if (pos + 2 > data.length) bad("KeyFormat", "the key file is truncated");
    const tag = data[pos];
    let len = data[pos + 1], start = pos + 2;
    if (len & 0x80) {
      const ll = len & 0x7f;
      if (ll < 1 || ll > 3 || start + ll > data.length) bad("KeyFormat", "the key file has a bad length");
      len = 0;
      for (let i = 0; i < ll; i++) len = len * 256 + data[start + i];
      start += ll;
    }
    if (start + len > data.length) bad("KeyFormat", "the key file is truncated");
    return { tag, value: data.subarray(start, start + len), next: start + len };
  }
  function children(node) {
    const out = [];
    for (let p = 0; p < node.value.length;) { const c = der(node.value, p); out.push(c); p = c.next; }
    return out;
  }
  const oidHex = (node) => toHex(node.value);
  const OID = {
    ecPublicKey: "2a8648ce3d0201", sm2: "2a811ccf5501822d", pbes2: "2a864886f70d01050d", pbkdf2: "2a864886f70d01050c",
    hmacSha256: "2a864886f70d0209", sm4cbc: "2a811ccf55016802",
  };
  function scalarFromSec1(bytes) {
    const f = children(der(bytes));
    if (f.length < 2 || f[1].tag !== 0x04) bad("KeyFormat", "not an EC private key");
    const d = f[1].value;
    if (d.length > 32) bad("KeyFormat", "the private scalar is too long");
    return concat(new Uint8Array(32 - d.length), d);
  }
  function scalarFromPkcs8(bytes) {
    const f = children(der(bytes));
    if (f.length < 3) bad("KeyFormat", "not a PKCS#8 private key");
    const alg = children(f[1]);
    if (oidHex(alg[0]) !== OID.ecPublicKey || alg.length < 2 || oidHex(alg[1]) !== OID.sm2) bad("NotSm2", "the key file holds a key that is not SM2");
    return scalarFromSec1(f[2].value);
  }

  // --- SM4 (GB/T 32907), decryption in CBC mode for encrypted PKCS#8 ---------------------------------------
  const SBOX = fromHex(
    "d690e9fecce13db716b614c228fb2c052b679a762abe04c3aa441326498606999c4250f491ef987a33540b43edcfac62" +
    "e4b31ca9c908e89580df94fa758f3fa64707a7fcf37317ba83593c19e6854fa8686b81b27164da8bf8eb0f4b70569d35" +
    "1e240e5e6358d1a225227c3b01217887d40046579fd327524c3602e7a0c4c89eeabf8ad240c738b5a3f7f2cef96115a1" +
    "e0ae5da49b341a55ad933230f58cb1e31df6e22e8266ca60c02923ab0d534e6fd5db3745defd8e2f03ff6a726d6c5b51" +
    "8d1baf92bbddbc7f11d95c411f105ad80ac13188a5cd7bbd2d74d012b8e5b4b08969974a0c96777e65b9f109c56ec684" +
    "18f07dec3adc4d2079ee5f3ed7cb3948");
  const FK = [0xa3b1bac6, 0x56aa3350, 0x677d9197, 0xb27022dc];
  const rotl = (x, n) => ((x << n) | (x >>> (32 - n))) >>> 0;
  const tau = (x) => ((SBOX[x >>> 24] << 24) | (SBOX[(x >>> 16) & 0xff] << 16) | (SBOX[(x >>> 8) & 0xff] << 8) | SBOX[x & 0xff]) >>> 0;
  const word = (b, i) => ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
  function sm4RoundKeys(key) {
    const k = [0, 1, 2, 3].map((i) => (word(key, 4 * i) ^ FK[i]) >>> 0);
    const rk = [];
    for (let i = 0; i < 32; i++) {
      let ck = 0;
      for (let j = 0; j < 4; j++) ck = (ck << 8) | (((4 * i + j) * 7) & 0xff);
      const t = tau((k[i + 1] ^ k[i + 2] ^ k[i + 3] ^ ck) >>> 0);
      k.push((k[i] ^ t ^ rotl(t, 13) ^ rotl(t, 23)) >>> 0);
      rk.push(k[i + 4]);
    }
    return rk;
  }
  function sm4Block(rk, block) {
    const x = [0, 1, 2, 3].map((i) => word(block, 4 * i));
    for (let i = 0; i < 32; i++) {
      const t = tau((x[i + 1] ^ x[i + 2] ^ x[i + 3] ^ rk[i]) >>> 0);
      x.push((x[i] ^ t ^ rotl(t, 2) ^ rotl(t, 10) ^ rotl(t, 18) ^ rotl(t, 24)) >>> 0);
    }
    const out = new Uint8Array(16);
    [x[35], x[34], x[33], x[32]].forEach((w, i) => { out[4 * i] = w >>> 24; out[4 * i + 1] = (w >>> 16) & 0xff; out[4 * i + 2] = (w >>> 8) & 0xff; out[4 * i + 3] = w & 0xff; });
    return out;
  }
  /** SM4-CBC decryption with PKCS#7 padding removed; null when the padding is wrong (a wrong password). */
  function sm4CbcDecrypt(key, iv, data) {
    if (data.length === 0 || data.length % 16) return null;
    const rk = sm4RoundKeys(key).reverse();
    const out = new Uint8Array(data.length);
    let prev = iv;
    for (let o = 0; o < data.length; o += 16) {
      const block = data.subarray(o, o + 16);
      const plain = sm4Block(rk, block);
      for (let i = 0; i < 16; i++) out[o + i] = plain[i] ^ prev[i];
      prev = block;
    }
    const pad = out[out.length - 1];
    if (pad < 1 || pad > 16 || !out.subarray(out.length - pad).every((x) => x === pad)) return null;
    return out.subarray(0, out.length - pad);
  }
  async function decryptPkcs8(bytes, password) {
    const f = children(der(bytes));
    const alg = children(f[0]);
    if (oidHex(alg[0]) !== OID.pbes2) bad("KeyFormat", "the encrypted key does not use PBES2");
    const [kdf, cipher] = children(alg[1]);
    const [kdfOid, kdfParams] = children(kdf);
    if (oidHex(kdfOid) !== OID.pbkdf2) bad("KeyFormat", "the encrypted key does not use PBKDF2");
    const kp = children(kdfParams);
    const salt = kp[0].value;
    const iterations = Number(bigOf(kp[1].value));
    const prf = kp.find((x, i) => i >= 2 && x.tag === 0x30);
    if (!prf || oidHex(children(prf)[0]) !== OID.hmacSha256) bad("KeyCipher", "the encrypted key uses a PBKDF2 hash other than HMAC-SHA256");
    const [cipherOid, iv] = children(cipher);
    if (oidHex(cipherOid) !== OID.sm4cbc) bad("KeyCipher", "the encrypted key uses a cipher other than SM4-CBC");
    if (iterations < 1 || iterations > 10_000_000) bad("KeyFormat", "the encrypted key has an unusable iteration count");
    if (!password) bad("PasswordNeeded", "this key file is encrypted: enter its password");
    const base = await webcrypto.subtle.importKey("raw", utf8(password), "PBKDF2", false, ["deriveBits"]);
    const bits = await webcrypto.subtle.deriveBits({ name: "PBKDF2", salt, iterations, hash: "SHA-256" }, base, 128);
    const plain = sm4CbcDecrypt(new Uint8Array(bits), iv.value, f[1].value);
    if (plain === null) bad("WrongPassword", "wrong password, or the key file is damaged");
    try { return scalarFromPkcs8(plain); } catch (e) { if (e instanceof KeyFileError && e.kind === "NotSm2") throw e; bad("WrongPassword", "wrong password, or the key file is damaged"); }
  }

  function pemBody(text, label) {
    const m = text.match(new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`));
    if (!m) return null;
    const b64 = m[1].replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) bad("KeyFormat", "the PEM is not base64");
    const bin = atob(b64);
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  }

  /** Read a key file's text: the signing key (KeyFileError when it cannot be used). ``password`` is needed
   * only for an encrypted PEM; whether one is: ``isEncrypted(text)``. */
  async function loadKey(text, password) {
    if (typeof text !== "string") bad("KeyFormat", "no key file");
    const trimmed = text.trim();
    if (/^(0x)?[0-9a-fA-F]{64}$/.test(trimmed)) return keyFromScalar(fromHex(trimmed.replace(/^0x/, "")));
    let body;
    if ((body = pemBody(trimmed, "ENCRYPTED PRIVATE KEY"))) return keyFromScalar(await decryptPkcs8(body, password));
    if ((body = pemBody(trimmed, "PRIVATE KEY"))) return keyFromScalar(scalarFromPkcs8(body));
    if ((body = pemBody(trimmed, "EC PRIVATE KEY"))) return keyFromScalar(scalarFromSec1(body));
    if (pemBody(trimmed, "PUBLIC KEY")) bad("PublicKeyOnly", "this is a public key: the console needs the private key file");
    bad("KeyFormat", "not a key file: expected a PKCS#8 PEM or 64 hex digits");
  }
  const isEncrypted = (text) => typeof text === "string" && text.includes("-----BEGIN ENCRYPTED PRIVATE KEY-----");

  const api = { KeyFileError, loadKey, isEncrypted, signQuery, queryPreimage, signTransaction, sign, verify, zA, rlp, sm3, sm4CbcDecrypt, toHex, fromHex, NONCE_BYTES };
  root.XinlianAuth = api;
  if (typeof module !== "undefined" && module.exports) module.exports = api;
})(typeof globalThis !== "undefined" ? globalThis : this);
