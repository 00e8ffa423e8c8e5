/* The /verify page: load the trust anchor and a credential (QR link fragment, camera/image scan, paste or
 * file), verify it in this browser with XinlianVerify and render the verdict into #verdict (data-status,
 * data-error, data-licence-status) and #facts; check the holder from her holder QR or credential file
 * (#holder-result data-match). The bundle and holder data in a #b= / #h= fragment never reach the server.
 * Every shown string comes from XinlianMessages (verify-i18n.js): zh-CN by default, en by ?lang=en or the
 * switch (remembered in localStorage). The page state is kept as data and re-rendered on a language change. */
"use strict";
(function () {
  const X = window.XinlianVerify;
  const M = window.XinlianMessages;
  const $ = (id) => document.getElementById(id);
  const LANG_KEY = "xinlian.verify.lang";

  // --- language ----------------------------------------------------------------------------------------
  function initialLang() {
    const asked = new URLSearchParams(location.search).get("lang");
    if (M.LANGS.includes(asked)) return asked;
    try {
      const kept = localStorage.getItem(LANG_KEY);
      if (M.LANGS.includes(kept)) return kept;
    } catch (e) { /* storage disabled: the default */ }
    return M.DEFAULT;
  }
  let lang = initialLang();
  const t = (key, params) => M.t(lang, key, params);
  const locale = () => (lang === "en" ? "en-GB" : "zh-CN");

  // --- state (rendered by render()) --------------------------------------------------------------------
  let trust = null;
  let trustView = { key: "trust.loading" };
  let result = { kind: "idle" }; // idle | pending | verified (r) | failed (error)
  let holder = null; // null | {match, codeType, code} | {error}
  let holderOpening = null; // parsed from the link, a file or a scan; checked against the verified licence

  const time = (ms) => new Date(ms).toLocaleString(locale(), { timeZone: "Asia/Shanghai", hour12: false }) + t("fact.tz");
  const day = (s) => (s ? new Date(s * 1000).toLocaleDateString(locale(), { timeZone: "Asia/Shanghai" }) : t("fact.noEnd"));
  const statusName = (name) => (M.messages[lang]["status." + name] !== undefined ? t("status." + name) : name);

  // A message for a thrown error: the verifier's kinds (VerificationError.kind) and the page's own.
  function errorMessage(e) {
    if (e.uiKey) return t(e.uiKey, e.uiParams);
    const kind = e.kind;
    if (kind === "StatusError" && e.detail && e.detail.status) {
      return t("err.StatusError.status", { status: statusName(e.detail.status), height: e.detail.height });
    }
    if (kind && M.messages[lang]["err." + kind] !== undefined) return t("err." + kind);
    return t("err.unknown", { code: kind || e.name || "Error" });
  }
  const pageError = (uiKey, uiParams) => Object.assign(new X.VerificationError("FormatError", uiKey), { uiKey, uiParams });

  // --- rendering ---------------------------------------------------------------------------------------
  function applyStatic() {
    document.documentElement.lang = lang;
    document.title = t("page.title");
    for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    for (const el of document.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
    for (const el of document.querySelectorAll("[data-i18n-aria-label]")) el.setAttribute("aria-label", t(el.dataset.i18nAriaLabel));
    const sel = $("lang-select");
    sel.textContent = "";
    for (const code of M.LANGS) {
      const o = document.createElement("option");
      o.value = code;
      o.lang = code;
      o.textContent = M.t(code, "lang.name");
      o.selected = code === lang;
      sel.append(o);
    }
  }

  function copyButton(value, label) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "copy";
    b.textContent = t("copy.button");
    b.setAttribute("aria-label", t("copy.label", { what: label }));
    b.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(value);
      } catch (e) { // no clipboard permission: select the value for a manual copy
        const range = document.createRange();
        range.selectNodeContents(b.previousSibling);
        getSelection().removeAllRanges();
        getSelection().addRange(range);
        return;
      }
      b.textContent = t("copy.done");
      setTimeout(() => { b.textContent = t("copy.button"); }, 1500);
    });
    return b;
  }

  // rows: [labelKey, text, {hash: true}?]; a hash or id is shown whole (it wraps) with a copy button
  function showFacts(rows) {
    const dl = $("facts");
    dl.textContent = "";
    for (const [key, val, opts] of rows) {
      const div = document.createElement("div"), dt = document.createElement("dt"), dd = document.createElement("dd");
      div.className = "fact";
      dt.textContent = t(key);
      if (opts && opts.hash) {
        const code = document.createElement("code");
        code.className = "hash";
        code.textContent = val;
        dd.append(code, copyButton(val, t(key)));
      } else dd.textContent = val;
      div.append(dt, dd);
      dl.append(div);
    }
  }

  function renderTrust() {
    const p = $("trust");
    p.dataset.state = trustView.state || "loading";
    p.textContent = t(trustView.key, trustView.params);
  }

  function renderResult() {
    const v = $("verdict");
    const tech = $("tech");
    tech.hidden = true;
    v.dataset.error = "";
    v.dataset.licenceStatus = "";
    v.dataset.status = result.kind;
    if (result.kind === "idle" || result.kind === "pending") {
      v.textContent = t("verdict." + result.kind);
      showFacts([]);
      return;
    }
    if (result.kind === "failed") {
      const e = result.error;
      v.dataset.error = e.kind || "FormatError";
      v.dataset.licenceStatus = (e.detail && e.detail.status) || "";
      v.textContent = t("verdict.failed", { reason: errorMessage(e) });
      showFacts(e.uiKey ? [] : [["fact.whatFailed", e.kind || e.name || "Error"]]);
      if (!e.uiKey) {
        tech.hidden = false;
        const lines = [e.message, ...Object.entries(e.detail || {}).map(([k, val]) => k + ": " + String(val))];
        $("tech-text").textContent = lines.join("\n");
      }
      return;
    }
    const r = result.r;
    const statement = r.kind === "statement";
    const rows = [
      ["fact.trust", result.trust.kind === "genesis"
        ? t("fact.trustGenesis", { hash: X.toHex(result.trust.hash), chain: result.trust.chainId })
        : t("fact.trustCheckpoint", { hash: X.toHex(result.trust.hash), height: result.trust.height })],
      ["fact.form", t(statement ? "fact.formStatement" : "fact.formBundle")],
      ["fact.block", r.height + " · " + r.blockHash],
      ["fact.blockTime", time(r.blockTimeMs)],
      ["fact.sealedBy", t("fact.sealedByValue", { count: r.sealedBy.length, total: r.validators })],
    ];
    if (!statement) {
      rows.push(["fact.handovers", r.handovers.join(", ") || t("fact.none")], ["fact.tx", r.txHash, { hash: true }]);
      // A drug-code bundle has no transaction: its MAH account (from the log) is shown with the code below.
      if (!r.lot) rows.push(["fact.sender", r.sender, { hash: true }], ["fact.contract", r.contract, { hash: true }]);
    }
    if (r.licence) {
      const l = r.licence;
      if (l.identifier) rows.push(["fact.identifier", l.identifier, { hash: true }]);
      rows.push(["fact.idHash", l.idHash, { hash: true }],
        statement ? ["fact.issuer", l.issuerOrg] : ["fact.issuer", t("fact.issuerValue", { org: l.issuerOrg, account: l.issuer })],
        statement ? ["fact.typeCode", l.typeCode] : ["fact.typeId", l.typeId, { hash: true }],
        ...(r.labels.licence_type ? [["fact.typeName", t("fact.typeLabel", { label: r.labels.licence_type })]] : []),
        ["fact.validity", day(l.validFrom) + " → " + day(l.validUntil)], ["fact.jurisdiction", l.jurisdiction],
        ["fact.documentHash", l.documentHash, { hash: true }]);
    }
    if (r.lot) {
      const l = r.lot;
      rows.push(["fact.drugCode", l.codeId, { hash: true }], ["fact.lotPart", t("fact.lotPartValue", { part: l.part, leaf: l.leaf })],
        ["fact.product", l.productId, { hash: true }], ["fact.batch", l.batchNo], ["fact.mah", l.mah, { hash: true }]);
    }
    let status = "";
    if (r.state) {
      if (r.state.licence) {
        status = r.state.licence.name;
        rows.push(["fact.status", t("fact.statusValue", { status: statusName(status), height: r.state.height, time: time(r.state.blockTimeMs) })]);
      } else rows.push(["fact.state", t("fact.stateValue", { slot: r.state.slot, address: r.state.address, value: r.state.value, height: r.state.height })]);
      rows.push(["fact.code", t("fact.codeValue", { hash: r.state.codeHash, address: r.state.address, height: r.state.height })]);
    }
    // A proof of status speaks only for the block it was taken at: say how old it is, and never let an
    // issuance-only bundle read as "valid now". Stale after X.STALE_AFTER_MS (24 h), as the Python verifier.
    let text = t("verdict.verified");
    if (status) {
      const ageMs = Date.now() - r.state.blockTimeMs;
      const params = { status: statusName(status), time: time(r.state.blockTimeMs), height: r.state.height, count: r.sealedBy.length };
      text = t(statement ? "verdict.verified.statement" : "verdict.verified.status", params);
      if (ageMs > X.STALE_AFTER_MS) {
        text += " — " + t("verdict.stale", { days: Math.floor(ageMs / 86_400_000) });
        rows.push(["fact.warning", t("fact.staleWarning")]);
      }
    } else if (r.licence) text = t("verdict.verified.issuance");
    else if (r.lot) text = t("verdict.verified.drugCode");
    v.dataset.licenceStatus = status;
    v.textContent = text;
    showFacts(rows);
  }

  function renderHolder() {
    const box = $("holder-box"), out = $("holder-result");
    box.hidden = !(result.kind === "verified" && result.r.licence);
    out.dataset.match = "";
    out.textContent = "";
    if (!holder) return;
    if (holder.error) {
      out.dataset.match = "no";
      out.textContent = holder.error.kind === "HolderError" ? "✘ " + errorMessage(holder.error) : t("holder.cannot", { reason: errorMessage(holder.error) });
      return;
    }
    out.dataset.match = holder.match ? "yes" : "no";
    if (!holder.match) { out.textContent = t("holder.mismatch"); return; }
    const typeKey = "holder.type." + holder.codeType;
    const type = M.messages[lang][typeKey] !== undefined ? t(typeKey) : t("holder.type.other", { type: holder.codeType });
    const [before, after] = t("holder.match", { type, code: "\u0000" }).split("\u0000");
    const code = document.createElement("strong");
    code.className = "holder-code";
    code.textContent = holder.code;
    out.append(before, code, after);
  }

  function render() {
    applyStatic();
    renderTrust();
    renderResult();
    renderHolder();
  }

  // --- trust anchor ------------------------------------------------------------------------------------
  async function loadTrust() {
    try {
      const r = await fetch("/v1/proofs/trust");
      if (!r.ok) throw new Error("HTTP " + r.status);
      trust = X.parseTrust(await r.json());
      trustView = { state: "node", key: "trust.node", params: { hash: X.toHex(trust.hash), chain: trust.chainId, validators: trust.validators.length } };
    } catch (e) {
      trustView = { state: "unavailable", key: "trust.unavailable", params: { reason: e.message } };
    }
    renderTrust();
  }

  // --- verification ------------------------------------------------------------------------------------
  // `holderText`: the holder data that came with the credential (a link's h=), checked once it is verified;
  // a credential pasted, uploaded or scanned alone starts without one.
  async function verifyDoc(getDoc, holderText, statement) {
    result = { kind: "pending" };
    holder = null;
    holderOpening = null;
    renderResult();
    renderHolder();
    try {
      if (!trust) throw pageError("err.NoTrust");
      const doc = await getDoc();
      result = { kind: "verified", r: statement ? X.verifyStatement(doc, trust) : X.verifyBundle(doc, trust), trust };
    } catch (e) {
      result = { kind: "failed", error: e };
    }
    renderResult();
    if (holderText && result.kind === "verified" && result.r.licence) await checkHolder(holderText);
    else renderHolder();
  }

  async function fetchJson(url) {
    const r = await fetch(url);
    const body = await r.json();
    if (!r.ok) throw pageError("err.NodeAnswer", { status: r.status });
    return body;
  }

  async function fromHash() {
    const p = new URLSearchParams(location.hash.slice(1));
    const withHolder = p.get("h") ? location.hash : null;
    if (p.get("b")) return verifyDoc(() => X.loadPayload(p.get("b")), withHolder);
    if (p.get("licence")) return verifyDoc(() => fetchJson("/v1/proofs/licences/" + encodeURIComponent(p.get("licence"))), withHolder);
    if (p.get("tx")) return verifyDoc(() => fetchJson("/v1/proofs/tx/" + encodeURIComponent(p.get("tx"))), withHolder);
  }

  // --- holder check ------------------------------------------------------------------------------------
  async function checkHolder(openingOrText) {
    try {
      const opening = typeof openingOrText === "string" ? X.parseHolderOpening(openingOrText) : openingOrText;
      holderOpening = opening;
      if (result.kind !== "verified" || !result.r.licence) throw pageError("err.HolderFirst");
      holder = await X.checkHolder(result.r.licence, opening);
    } catch (e) {
      holder = { error: e };
    }
    renderHolder();
  }

  // --- QR scanning: the camera or an uploaded image, read by the browser's BarcodeDetector where it has one,
  // else by the bundled jsqr.js (loaded on first use); the QR text can always be pasted too ---------------
  const hasDetector = typeof window.BarcodeDetector === "function";
  const hasCamera = !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  let jsqr = null;
  function loadJsQR() {
    jsqr = jsqr || new Promise((ok, no) => {
      const el = document.createElement("script");
      el.src = "/verify/assets/jsqr.js";
      el.onload = () => ok(window.jsQR);
      el.onerror = () => { jsqr = null; no(pageError("scan.unavailable")); };
      document.head.append(el);
    });
    return jsqr;
  }
  // The text of the first QR code in `source` (an ImageBitmap or a playing <video>), or null; the bytes
  // (Uint8Array) of a binary-mode licence statement (XLS1), which no text decoding may touch.
  async function readQr(source, width, height) {
    if (hasDetector) {
      try {
        const codes = await new window.BarcodeDetector({ formats: ["qr_code"] }).detect(source);
        // a detector gives text only: a binary XLS1 code is read again from the pixels below
        if (codes.length && !codes[0].rawValue.startsWith("XLS1:")) return codes[0].rawValue;
      } catch (e) { /* no QR support in this detector: read the pixels below */ }
    }
    const read = await loadJsQR();
    const scale = Math.min(1, 1600 / Math.max(width, height));
    const w = Math.max(1, Math.round(width * scale)), h = Math.max(1, Math.round(height * scale));
    const canvas = document.createElement("canvas");
    canvas.width = w;
    canvas.height = h;
    const g = canvas.getContext("2d", { willReadFrequently: true });
    g.drawImage(source, 0, 0, w, h);
    const code = read(g.getImageData(0, 0, w, h).data, w, h);
    if (!code) return null;
    const bytes = Uint8Array.from(code.binaryData || []);
    return X.isStatementPayload(bytes) ? bytes : code.data;
  }
  async function decodeImage(file) {
    let bitmap;
    try { bitmap = await createImageBitmap(file); } catch (e) { throw pageError("scan.none"); }
    const text = await readQr(bitmap, bitmap.width, bitmap.height);
    if (!text) throw pageError("scan.none");
    return text;
  }
  let stopScan = null;
  async function scanCamera(video, button, onText) {
    if (stopScan) { stopScan(); return; }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    } catch (e) {
      throw pageError("scan.failed", { reason: e.message });
    }
    let running = true;
    stopScan = () => {
      running = false;
      stream.getTracks().forEach((tr) => tr.stop());
      video.hidden = true;
      button.dataset.i18n = "scan.camera";
      button.textContent = t("scan.camera");
      stopScan = null;
    };
    video.srcObject = stream;
    video.hidden = false;
    button.dataset.i18n = "scan.stop";
    button.textContent = t("scan.stop");
    await video.play();
    while (running) {
      const text = video.videoWidth ? await readQr(video, video.videoWidth, video.videoHeight).catch(() => null) : null;
      if (text && running) { stopScan(); onText(text); return; }
      await new Promise((ok) => setTimeout(ok, 200));
    }
  }
  function wireScan(buttonId, videoId, imageId, onText, onError) {
    $(buttonId).hidden = !hasCamera;
    $(buttonId).addEventListener("click", () => scanCamera($(videoId), $(buttonId), onText).catch(onError));
    $(imageId).addEventListener("change", async (ev) => {
      const f = ev.target.files[0];
      if (f) decodeImage(f).then(onText, onError);
    });
  }

  // --- wiring ------------------------------------------------------------------------------------------
  // A holder QR given where a credential is expected: check the holder when a licence is verified, else say
  // that the licence comes first.
  function verifyText(text) {
    if (X.isStatementPayload(text)) return verifyDoc(() => text, null, true);
    if (/^\s*XLH1:/i.test(text)) {
      if (result.kind === "verified" && result.r.licence) { $("holder-text").value = text.trim(); return checkHolder(text); }
      result = { kind: "failed", error: pageError("err.HolderFirst") };
      renderResult();
      return Promise.resolve();
    }
    return verifyDoc(() => X.loadPayload(text));
  }
  $("verify-button").addEventListener("click", () => verifyText($("bundle-text").value));
  $("bundle-file").addEventListener("change", async (ev) => {
    const f = ev.target.files[0];
    if (f) { $("bundle-text").value = await f.text(); verifyText($("bundle-text").value); }
  });
  wireScan("scan-button", "scan-video", "bundle-image", (text) => {
    // a scanned /verify link opens like a phone's camera would open it; anything else is a payload
    if (typeof text !== "string") return verifyText(text); // a binary licence statement
    if (/^https?:\/\/[^#]*\/verify#/.test(text)) {
      const fragment = "#" + text.split("#")[1];
      if (location.hash === fragment) fromHash();
      else location.hash = fragment; // hashchange runs fromHash
      return;
    }
    $("bundle-text").value = text;
    verifyText(text);
  }, (e) => { result = { kind: "failed", error: e }; renderResult(); });
  $("trust-file").addEventListener("change", async (ev) => {
    const f = ev.target.files[0];
    if (!f) return;
    try {
      trust = X.parseTrust(JSON.parse(await f.text()));
      trustView = { state: "file", key: "trust.loaded", params: { kind: t("trust.kind." + trust.kind), hash: X.toHex(trust.hash), chain: trust.chainId } };
    } catch (e) {
      trustView = { state: "refused", key: "trust.refused", params: { reason: e.message } };
    }
    renderTrust();
  });
  $("holder-button").addEventListener("click", () => {
    const text = $("holder-text").value.trim();
    if (text) checkHolder(text);
    else if (holderOpening) checkHolder(holderOpening);
    else { holder = { error: pageError("holder.empty") }; renderHolder(); }
  });
  $("holder-file").addEventListener("change", async (ev) => {
    const f = ev.target.files[0];
    if (f) checkHolder(await f.text());
  });
  wireScan("holder-scan-button", "holder-video", "holder-image", (text) => {
    $("holder-text").value = text;
    checkHolder(text);
  }, (e) => { holder = { error: e }; renderHolder(); });
  $("lang-select").addEventListener("change", (ev) => {
    lang = ev.target.value;
    try { localStorage.setItem(LANG_KEY, lang); } catch (e) { /* not remembered */ }
    render();
  });
  window.addEventListener("hashchange", fromHash);
  window.xinlianVerifyText = verifyText;
  render();
  // Without a BarcodeDetector the bundled reader is fetched now, so a page opened online still reads QR
  // images after the connection is gone.
  loadTrust().then(fromHash).then(() => { if (!hasDetector) loadJsQR().catch(() => {}); });
})();
