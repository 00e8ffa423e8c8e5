/* The member console (/console). Sign-in: the member's key file is read here (member-auth.js) and kept in
 * this page's memory only; every request to the node is signed afresh (sdk/auth.py's scheme). The views
 * show what the node returns to that member under its read policy: an audit firm's letters board, a bank's
 * inbox, a finance regulator's overdue letters, a drug regulator's alerts. One live stream (GET /v1/events,
 * read with fetch() so it can carry the signature headers) re-reads the views when a letter event or a new
 * block arrives (OVERDUE follows the chain's clock, so a new block can change it with no event).
 * Every shown string comes from XinlianConsoleMessages (console-i18n.js). Pure helpers (boardOf, inboxOf,
 * chinaDate, daysBetween, parseSse, decodeAlert) are exported as XinlianConsole for tests. */
"use strict";
(function (root) {
  // --- pure helpers --------------------------------------------------------------------------------------
  const CHINA_OFFSET_S = 8 * 3600;
  /** The China-time date (YYYY-MM-DD) of unix seconds ``s``. */
  const chinaDate = (s) => new Date((s + CHINA_OFFSET_S) * 1000).toISOString().slice(0, 10);
  /** The China-time date and minute of unix seconds ``s``. */
  const chinaTime = (s) => new Date((s + CHINA_OFFSET_S) * 1000).toISOString().slice(0, 16).replace("T", " ");
  /** Calendar days from date ``a`` to date ``b`` (ISO dates). */
  const daysBetween = (a, b) => Math.round((Date.parse(b + "T00:00:00Z") - Date.parse(a + "T00:00:00Z")) / 86400000);
  const CLOSED = new Set(["REJECTED_NONCONFORMING", "REPLIED", "RECEIVED", "RECALLED", "EXPIRED"]);

  /** The audit firm's board: letters sorted into overdue / due today / awaiting / closed, as of ``today``. */
  function boardOf(letters, today) {
    const board = { overdue: [], dueToday: [], awaiting: [], closed: [] };
    for (const l of letters) {
      if (l.status === "OVERDUE") board.overdue.push(l);
      else if (CLOSED.has(l.status)) board.closed.push(l);
      else if (l.status === "ACCEPTED" && l.due_date === today) board.dueToday.push(l);
      else board.awaiting.push(l);
    }
    const byDue = (a, b) => (a.deadline || Infinity) - (b.deadline || Infinity) || a.created_at - b.created_at;
    board.overdue.sort(byDue);
    board.awaiting.sort(byDue);
    board.closed.sort((a, b) => b.created_at - a.created_at);
    return board;
  }
  /** The bank's inbox: new (sent, for the bank to accept), open (accepted or overdue; or still awaiting the
   * audited company's authorisation, when the bank cannot act yet), closed. */
  function inboxOf(letters) {
    const inbox = { new: [], open: [], closed: [] };
    for (const l of letters) {
      if (l.status === "SENT") inbox.new.push(l);
      else if (CLOSED.has(l.status)) inbox.closed.push(l);
      else inbox.open.push(l);
    }
    inbox.new.sort((a, b) => b.created_at - a.created_at);
    inbox.open.sort((a, b) => (a.deadline || Infinity) - (b.deadline || Infinity));
    return inbox;
  }
  /** One server-sent event from its text block: {event, data (parsed JSON or null), id}. */
  function parseSse(block) {
    const ev = { event: "message", data: null, id: null };
    const data = [];
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const i = line.indexOf(":");
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
      if (field === "event") ev.event = value;
      else if (field === "data") data.push(value);
      else if (field === "id") ev.id = value;
    }
    if (data.length) { try { ev.data = JSON.parse(data.join("\n")); } catch (_) { ev.data = null; } }
    return ev;
  }
  /** ABI-decode the non-indexed fields of a log's data: uint, bool, address and string types. */
  function abiDecode(types, data) {
    const hex = (data || "0x").replace(/^0x/, "");
    const word = (i) => hex.slice(64 * i, 64 * i + 64);
    return types.map((type, i) => {
      const w = word(i);
      if (type === "bool") return BigInt("0x" + w) !== 0n;
      if (type === "address") return "0x" + w.slice(24);
      if (type === "bytes32") return "0x" + w;
      if (type !== "string") return Number(BigInt("0x" + w));
      const at = Number(BigInt("0x" + w)) / 32;
      const length = Number(BigInt("0x" + word(at)));
      const raw = hex.slice(64 * (at + 1), 64 * (at + 1) + 2 * length);
      return new TextDecoder().decode(Uint8Array.from(raw.match(/../g) || [], (b) => parseInt(b, 16)));
    });
  }
  /** DrugTrace's Alert(code indexed, actor indexed, action uint8, reason String[32]). */
  function decodeAlert(log) {
    const [action, reason] = abiDecode(["uint8", "string"], log.data);
    return { action, reason, actor: "0x" + (log.topics[2] || "").slice(-40), code: log.topics[1] || "" };
  }
  /** DrugTrace's BatchHoldSet(lot indexed, product indexed, batch_no, recalled, regulator_freeze, mah_hold,
   * reason, by): a batch's recall and freeze flags as set. */
  function decodeHold(log) {
    const [batch, recalled, frozen, held, reason, by] = abiDecode(["string", "bool", "bool", "bool", "string", "address"], log.data);
    return { batch, recalled, frozen, held, reason, by, lot: log.topics[1] || "" };
  }
  /** Proposals from Governance's ProposalCreated / ProposalVoted / ProposalExecuted logs (chain order), as of
   * block ``head``: {id, action, proposer, expiry, votes, executed, voters, state: open|executed|expired},
   * open ones first (oldest first), then the rest (newest first). */
  function proposalsOf(logs, topics, head) {
    const byId = new Map();
    const idOf = (log) => BigInt(log.topics[1]).toString();
    for (const log of logs) {
      const kind = log.topics[0];
      if (kind === topics.ProposalCreated) {
        const [action, , expiry] = abiDecode(["uint8", "uint256", "uint256"], log.data);
        byId.set(idOf(log), { id: idOf(log), action, proposer: "0x" + log.topics[2].slice(-40), expiry, votes: 0, executed: false, voters: [], height: log.height });
        continue;
      }
      const p = byId.get(idOf(log));
      if (!p) continue; // created before the blocks read
      if (kind === topics.ProposalVoted) {
        p.votes = abiDecode(["uint256"], log.data)[0];
        p.voters.push("0x" + log.topics[2].slice(-40));
      } else if (kind === topics.ProposalExecuted) p.executed = true;
    }
    const all = [...byId.values()];
    for (const p of all) p.state = p.executed ? "executed" : p.expiry < head ? "expired" : "open";
    const open = all.filter((p) => p.state === "open").sort((a, b) => Number(BigInt(a.id) - BigInt(b.id)));
    const rest = all.filter((p) => p.state !== "open").sort((a, b) => Number(BigInt(b.id) - BigInt(a.id)));
    return [...open, ...rest];
  }
  /** The licences ``uscc`` issued, from LicenceRegistry's logs (chain order), with the status their later
   * events give them, as of ``nowS`` (unix seconds): VALID, SUSPENDED, REVOKED, RENEWED (superseded) or
   * EXPIRED (past valid_until); newest first. */
  function licencesOf(logs, topics, uscc, nowS) {
    const byId = new Map();
    const STATUS = { [topics.LicenceSuspended]: "SUSPENDED", [topics.LicenceResumed]: "VALID", [topics.LicenceRevoked]: "REVOKED", [topics.LicenceRenewed]: "RENEWED" };
    for (const log of logs) {
      const id = log.topics[1];
      if (log.topics[0] === topics.LicenceIssued) {
        const [issuerOrg, , , , validFrom, validUntil, jurisdiction] = abiDecode(["string", "bytes32", "bytes32", "bytes32", "uint256", "uint256", "string", "bytes32"], log.data);
        if (issuerOrg !== uscc) continue;
        byId.set(id, { idHash: id, typeId: log.topics[2], issuer: "0x" + log.topics[3].slice(-40), validFrom, validUntil, jurisdiction, height: log.height, status: "VALID" });
      } else if (byId.has(id) && STATUS[log.topics[0]]) byId.get(id).status = STATUS[log.topics[0]];
    }
    const all = [...byId.values()].reverse();
    for (const l of all) if (l.status === "VALID" && l.validUntil && l.validUntil < nowS) l.status = "EXPIRED";
    return all;
  }
  const helpers = { licencesOf, proposalsOf, boardOf, inboxOf, chinaDate, chinaTime, daysBetween, parseSse, abiDecode, decodeAlert, decodeHold };
  root.XinlianConsole = helpers;
  if (typeof module !== "undefined" && module.exports) module.exports = helpers;
  if (typeof document === "undefined") return; // loaded by a test: helpers only

  // --- page --------------------------------------------------------------------------------------------
  const M = root.XinlianConsoleMessages;
  const X = root.XinlianAuth;
  const $ = (id) => document.getElementById(id);
  const LANG_KEY = "xinlian.console.lang";
  const ROLES = ["AUDITOR", "BANK", "AUDIT_ACCREDITOR", "DRUG_REGULATOR", "ISSUER", "LICENCE_AUTHORITY"];
  // Each view and the role it is for ("" = every member).
  const VIEWS = { board: "AUDITOR", inbox: "BANK", overdue: "AUDIT_ACCREDITOR", alerts: "DRUG_REGULATOR", licences: "ISSUER", governance: "" };
  const shows = (view) => !!state.key && (VIEWS[view] === "" || state.roles.includes(VIEWS[view]));
  const HEAD_REFRESH_MS = 3000;

  function initialLang() {
    const asked = new URLSearchParams(location.search).get("lang");
    if (M.LANGS.includes(asked)) return asked;
    try { const saved = localStorage.getItem(LANG_KEY); if (M.LANGS.includes(saved)) return saved; } catch (_) { /* none */ }
    return M.DEFAULT;
  }
  let lang = initialLang();
  const t = (key, params) => M.t(lang, key, params);
  const has = (key) => M.messages[lang][key] !== undefined;

  const state = {
    key: null, keyText: null, keyName: "", chain: null, me: null, roles: [], config: null, clockOffset: 0,
    signin: { state: "idle", key: "signin.idle", params: {}, error: "" },
    live: { state: "off", height: "" }, calendar: null, data: {}, errors: {}, arrived: new Set(), drugs: { alerts: [], holds: [], seen: new Set() },
    session: 0, streamGen: 0, streamAbort: null, committee: false, votes: {},
  };

  class ApiError extends Error {
    constructor(code, message, status) { super(message); this.code = code; this.status = status; }
  }
  function errorText(e) {
    if (e instanceof X.KeyFileError) return t("err." + e.kind);
    if (e instanceof ApiError) return has("err." + e.code) ? t("err." + e.code) : t("err.unknown", { code: e.code, message: e.message });
    return t("err.network", { message: e.message || String(e) });
  }

  // --- requests ------------------------------------------------------------------------------------------
  function signedFetch(method, path, signal, body) {
    const bytes = body === undefined ? new Uint8Array(0) : new TextEncoder().encode(body);
    const headers = X.signQuery(state.key, {
      chainId: state.chain.chain_id, audience: state.chain.audience, method, pathAndQuery: path, body: bytes,
      timestampMs: Date.now() + state.clockOffset,
    });
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(path, { method, headers, cache: "no-store", signal, body: body === undefined ? undefined : bytes });
  }
  async function readJson(resp) {
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new ApiError(body.code || "http_" + resp.status, body.message || resp.statusText, resp.status);
    return body;
  }
  const getSigned = async (path) => readJson(await signedFetch("GET", path));
  const getPublic = async (path) => readJson(await fetch(path, { cache: "no-store" }));

  /** Every page of a letters listing (``next_cursor`` followed; at most 20 pages). */
  async function listLetters(path) {
    const letters = [];
    let page = await getSigned(path + "?limit=500");
    letters.push(...page.letters);
    for (let n = 0; page.next_cursor && n < 20; n++) {
      page = await getSigned(`${path}?limit=500&cursor=${encodeURIComponent(page.next_cursor)}`);
      letters.push(...page.letters);
    }
    return { asOf: page.as_of, letters };
  }

  // --- sign-in -------------------------------------------------------------------------------------------
  function setSignin(st, key, params, error) {
    state.signin = { state: st, key, params: params || {}, error: error || "" };
    renderSignin();
  }
  async function chooseFile(file) {
    state.keyText = file ? await file.text() : null;
    state.keyName = file ? file.name : "";
    $("password-row").hidden = !(state.keyText && X.isEncrypted(state.keyText));
    if (file) setSignin("idle", "signin.chosen", { name: file.name });
  }
  async function signIn() {
    if (!state.keyText) { setSignin("error", "signin.nofile", {}, "no_file"); return; }
    forget(false);
    setSignin("working", "signin.working");
    try {
      const key = await X.loadKey(state.keyText, $("key-password").value);
      const t0 = Date.now();
      const resp = await fetch("/v1/chain", { cache: "no-store" });
      const chain = await readJson(resp);
      const served = Date.parse(resp.headers.get("Date") || "");
      const skew = Number.isNaN(served) ? 0 : served - (t0 + Date.now()) / 2;
      state.clockOffset = Math.abs(skew) > 5000 ? Math.round(skew) : 0; // Date has 1 s resolution
      state.config = state.config || (await getPublic("/console/config.json"));
      state.chain = chain;
      state.key = key;
      state.me = await getSigned("/v1/members/me");
      state.keyText = null; // from now on only the key object is kept
      $("key-password").value = "";
      $("key-file").value = "";
      $("password-row").hidden = true;
      const held = await Promise.all(ROLES.map((r) => getPublic(`/v1/accounts/${state.me.address}/roles/${r}`).then((x) => x.has_role, () => false)));
      state.roles = ROLES.filter((_, i) => held[i]);
      state.committee = await isCommitteeMember().catch(() => false);
      setSignin("signed-in", "signin.done", { address: state.me.address, uscc: state.me.uscc });
      renderViews();
      refreshCalendar();
      refreshAll();
      if (state.roles.includes("DRUG_REGULATOR")) loadDrugHistory();
      startStream();
    } catch (e) {
      state.key = null;
      state.me = null;
      if (e instanceof X.KeyFileError && e.kind === "PasswordNeeded") $("password-row").hidden = false;
      setSignin("error", null, { exc: e }, e instanceof X.KeyFileError ? e.kind : e.code || "network");
    }
  }
  /** Drop the key and everything read with it. */
  function forget(announce) {
    state.session++;
    state.streamGen++;
    if (state.streamAbort) state.streamAbort.abort();
    state.key = null; state.me = null; state.roles = []; state.committee = false; state.votes = {}; state.data = {}; state.errors = {}; state.drugs = { alerts: [], holds: [], seen: new Set() };
    state.arrived = new Set(); state.live = { state: "off", height: "" };
    if (announce) {
      state.keyText = null;
      $("key-file").value = "";
      $("key-password").value = "";
      $("password-row").hidden = true;
      setSignin("idle", "signin.forgotten");
    }
    renderViews();
  }

  // --- refreshing ----------------------------------------------------------------------------------------
  const LOADERS = {
    board: () => listLetters("/v1/confirmations/as-auditor"),
    inbox: () => listLetters("/v1/confirmations/as-bank"),
    overdue: () => listLetters("/v1/confirmations/overdue"),
    governance: loadProposals,
    licences: loadLicences,
  };
  /** Every page of a /v1/logs query of ``contract``'s ``topics`` from block ``from`` (at most ``pages``). */
  async function readLogs(contract, from, pages) {
    const base = `/v1/logs?address=${contract.address}&` + Object.values(contract.topics).map((x) => "topic0=" + x).join("&") +
      `&from_height=${Math.max(0, from)}&limit=500`;
    let page = await getSigned(base);
    const logs = [...page.logs];
    for (let n = 1; page.next_cursor && n < pages; n++) {
      page = await getSigned(base + "&cursor=" + encodeURIComponent(page.next_cursor));
      logs.push(...page.logs);
    }
    return logs;
  }
  /** The licences this organisation issued in the last LICENCE_BLOCKS blocks, with their status. */
  const LICENCE_BLOCKS = 200000;
  async function loadLicences() {
    const chain = await getPublic("/v1/chain");
    const logs = await readLogs(state.config.licences, chain.head.height - LICENCE_BLOCKS + 1, 25);
    return { licences: licencesOf(logs, state.config.licences.topics, state.me.uscc, Math.floor(chain.head.timestamp_ms / 1000)) };
  }
  /** Proposals of the last PROPOSAL_BLOCKS blocks (a proposal's default lifetime), from Governance's logs. */
  const PROPOSAL_BLOCKS = 100000;
  async function loadProposals() {
    const chain = await getPublic("/v1/chain");
    const g = state.config.governance;
    const logs = await readLogs(g, chain.head.height - PROPOSAL_BLOCKS + 1, 20);
    return { head: chain.head.height, proposals: proposalsOf(logs, g.topics, chain.head.height) };
  }
  /** Whether the signed-in account is a committee member (Governance.is_committee_member, a signed call). */
  async function isCommitteeMember() {
    const g = state.config.governance;
    const body = JSON.stringify({ to: g.address, data: g.selectors.is_committee_member + state.me.address.slice(2).padStart(64, "0") });
    const resp = await signedFetch("POST", "/v1/call", undefined, body);
    const out = await readJson(resp);
    return BigInt(out.result) !== 0n;
  }
  /** Vote for proposal ``id``: a transaction signed here, submitted, and waited for. */
  async function vote(id) {
    state.votes[id] = { state: "working" };
    renderGovernance();
    try {
      const chain = await getPublic("/v1/chain");
      const g = state.config.governance;
      const tx = X.signTransaction(state.key, {
        chainId: chain.chain_id, to: X.fromHex(g.address.slice(2)),
        data: X.fromHex(g.selectors.vote.slice(2) + BigInt(id).toString(16).padStart(64, "0")),
        gasLimit: g.gas_limit, expiryHeight: chain.head.height + chain.config.expiry_window,
      });
      await readJson(await fetch("/v1/transactions", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ raw: "0x" + X.toHex(tx.raw) }) }));
      let done;
      for (let n = 0; n < 6; n++) {
        done = await getSigned(`/v1/transactions/0x${X.toHex(tx.hash)}?wait=10`);
        if (done.status === "committed") break;
      }
      if (!done || done.status !== "committed") throw new ApiError("not_committed", done ? done.status : "");
      if (done.receipt.status !== 1) throw new ApiError("reverted", done.receipt.revert_reason || "");
      state.votes[id] = { state: "done" };
    } catch (e) {
      state.votes[id] = { state: "error", text: errorText(e) };
    }
    renderGovernance();
    scheduleRefresh(0);
  }
  let refreshing = null, again = false, timer = null, lastRefresh = 0;
  async function refreshAll() {
    if (refreshing) { again = true; return refreshing; }
    refreshing = (async () => {
      do {
        again = false;
        lastRefresh = Date.now();
        const session = state.session;
        for (const view of Object.keys(LOADERS)) {
          if (!shows(view)) continue;
          let data, error;
          try { data = await LOADERS[view](); } catch (e) { error = e; }
          if (session !== state.session) { again = true; break; } // signed out or in meanwhile: start over
          if (error) state.errors[view] = error;
          else { state.data[view] = data; delete state.errors[view]; }
        }
        if (session === state.session) renderViews();
      } while (again && state.key);
    })().finally(() => { refreshing = null; });
    return refreshing;
  }
  /** Refresh after ``delay`` ms, unless one is already due sooner. */
  function scheduleRefresh(delay) {
    const at = Date.now() + delay;
    if (timer && timer.at <= at) return;
    if (timer) clearTimeout(timer.id);
    timer = { at, id: setTimeout(() => { timer = null; refreshAll(); }, delay) };
  }
  async function refreshCalendar() {
    try {
      const resp = await fetch("/health", { cache: "no-store" });
      state.calendar = (await resp.json()).calendar || null;
    } catch (_) { state.calendar = null; }
    renderCalendar();
  }

  // --- the live stream -----------------------------------------------------------------------------------
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  async function startStream() {
    const gen = ++state.streamGen;
    const c = state.config;
    const watching = [c.governance];
    if (state.roles.some((r) => ["AUDITOR", "BANK", "AUDIT_ACCREDITOR"].includes(r))) watching.push(c.letters);
    if (state.roles.includes("DRUG_REGULATOR")) watching.push(c.drugs);
    if (state.roles.includes("ISSUER")) watching.push(c.licences);
    if (!watching.length) return;
    const query = [
      ...watching.map((w) => "address=" + w.address),
      ...watching.flatMap((w) => Object.values(w.topics).map((topic) => "topic0=" + topic)),
    ].join("&");
    let cursor = null, delay = 1000;
    while (gen === state.streamGen && state.key) {
      const abort = new AbortController();
      state.streamAbort = abort;
      setLive("connecting");
      let ended = false;
      try {
        const path = "/v1/events?" + query + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
        const resp = await signedFetch("GET", path, abort.signal);
        if (!resp.ok) await readJson(resp);
        const reader = resp.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const ev = parseSse(buffer.slice(0, cut));
            buffer = buffer.slice(cut + 2);
            if (gen !== state.streamGen) return;
            if (ev.id) cursor = ev.id;
            if (ev.event === "end") { ended = true; if (ev.data && ev.data.cursor) cursor = ev.data.cursor; }
            onEvent(ev);
            delay = 1000;
          }
        }
      } catch (e) {
        if (gen !== state.streamGen) return;
        if (e instanceof ApiError && e.code === "not_a_member") { forget(false); setSignin("error", null, { exc: e }, e.code); return; }
      }
      if (gen !== state.streamGen) return;
      if (ended) continue;
      setLive("retrying", { seconds: delay / 1000 });
      await sleep(delay);
      delay = Math.min(delay * 2, 30000);
    }
  }
  function onEvent(ev) {
    if (ev.event === "ready") { setLive("live"); scheduleRefresh(0); return; }
    if (ev.event === "head" && ev.data) {
      state.live.height = ev.data.height;
      setLive("live");
      scheduleRefresh(Math.max(0, lastRefresh + HEAD_REFRESH_MS - Date.now()));
      return;
    }
    if (ev.event === "error") { forget(false); setSignin("error", null, { exc: new ApiError(ev.data.code, ev.data.message) }, ev.data.code); return; }
    if (ev.event !== "log" || !ev.data) return;
    const log = ev.data;
    const topics = state.config.letters.topics;
    const from = (contract) => log.address.toLowerCase() === contract.address.toLowerCase();
    if (from(state.config.governance) || from(state.config.licences)) {
      scheduleRefresh(150);
    } else if (log.address.toLowerCase() === state.config.letters.address.toLowerCase()) {
      // letter_id: LetterCreated's first data word (its topics are the parties' tags); LetterAuthorised's topic 1
      if (log.topics[0] === topics.LetterCreated) state.arrived.add("0x" + log.data.replace(/^0x/, "").slice(0, 64));
      if (log.topics[0] === topics.LetterAuthorised) state.arrived.add(log.topics[1]);
      scheduleRefresh(150);
    } else {
      addDrugEvent(log);
      renderAlerts();
    }
  }
  /** Record a DrugTrace Alert or BatchHoldSet log once (the history read and the stream may overlap). */
  function addDrugEvent(log) {
    const id = `${log.height}.${log.tx_index}.${log.log_index}`;
    if (state.drugs.seen.has(id)) return;
    state.drugs.seen.add(id);
    const topics = state.config.drugs.topics;
    const where = { height: log.height, tx: log.tx_hash };
    if (log.topics[0] === topics.Alert) state.drugs.alerts.unshift({ ...decodeAlert(log), ...where });
    else if (log.topics[0] === topics.BatchHoldSet) state.drugs.holds.unshift({ ...decodeHold(log), ...where });
    state.drugs.alerts.length = Math.min(state.drugs.alerts.length, 200);
    state.drugs.holds.length = Math.min(state.drugs.holds.length, 200);
  }
  /** The drug events of the last MAX_LOG_BLOCK_RANGE blocks (what the node lets this member read). */
  async function loadDrugHistory() {
    const session = state.session;
    try {
      const chain = await getPublic("/v1/chain");
      const d = state.config.drugs;
      const base = `/v1/logs?address=${d.address}&topic0=${d.topics.Alert}&topic0=${d.topics.BatchHoldSet}` +
        `&from_height=${Math.max(0, chain.head.height - 9999)}&limit=200`;
      let page = await getSigned(base);
      const logs = [...page.logs];
      for (let n = 0; page.next_cursor && n < 10; n++) {
        page = await getSigned(base + "&cursor=" + encodeURIComponent(page.next_cursor));
        logs.push(...page.logs);
      }
      if (session !== state.session) return;
      for (const log of logs) addDrugEvent(log);
      delete state.errors.alerts;
    } catch (e) {
      if (session !== state.session) return;
      state.errors.alerts = e;
    }
    state.data.alerts = true;
    renderViews();
  }
  function setLive(st, params) {
    state.live.state = st;
    state.live.params = params || {};
    renderLive();
  }

  // --- rendering -----------------------------------------------------------------------------------------
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (k.startsWith("data-")) e.setAttribute(k, v); else e[k] = v;
    }
    for (const kid of kids) if (kid !== null && kid !== undefined) e.append(kid);
    return e;
  }
  const short = (h) => (h && h.length > 14 ? h.slice(0, 10) + "…" + h.slice(-4) : h || "");
  function applyI18n() {
    document.documentElement.lang = lang;
    document.title = t("page.title");
    for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
    for (const e of document.querySelectorAll("[data-i18n-aria-label]")) e.setAttribute("aria-label", t(e.dataset.i18nAriaLabel));
    const sel = $("lang-select");
    sel.textContent = "";
    for (const code of M.LANGS) sel.append(el("option", { value: code, lang: code, textContent: M.t(code, "lang.name"), selected: code === lang }));
  }
  function renderSignin() {
    const s = state.signin;
    const p = $("signin-status");
    p.dataset.state = s.state;
    p.dataset.error = s.error;
    p.textContent = s.key ? t(s.key, s.params) : errorText(s.params.exc); // in the language chosen now
    $("forget-button").hidden = !(state.key || state.keyText);
    $("who").hidden = !state.me;
    $("roles").textContent = state.roles.length ? state.roles.map((r) => t("role." + r)).join(t("role.separator")) : t("role.none");
  }
  function renderLive() {
    const p = $("live-status");
    p.dataset.state = state.live.state;
    p.dataset.height = String(state.live.height);
    p.textContent = t("live." + state.live.state, { height: state.live.height, ...(state.live.params || {}) });
  }
  function renderCalendar() {
    const p = $("calendar-note");
    const c = state.calendar;
    p.dataset.status = c ? c.status : "";
    p.textContent = c ? t("calendar." + c.status, { date: c.covered_through, days: c.days_left }) : "";
  }
  function letterItem(l, today, extra) {
    const provisional = state.calendar && l.due_date && l.due_date > state.calendar.covered_through;
    const facts = el("dl", { class: "facts" });
    const fact = (key, value) => { if (value) facts.append(el("div", {}, el("dt", { textContent: t(key) }), el("dd", { textContent: value }))); };
    fact("letter.baseDate", l.base_date);
    fact("letter.created", l.created_at ? chinaTime(l.created_at) : "");
    if (l.due_date) {
      fact("letter.dueDate", l.due_date + (provisional ? " · " + t("letter.provisional") : ""));
      fact("letter.deadline", chinaTime(l.deadline));
    } else if (!CLOSED.has(l.status)) fact("letter.deadline", t("letter.noDeadline"));
    let clock = null;
    if (l.due_date && !CLOSED.has(l.status) && l.status !== "REPLIED") {
      const days = daysBetween(today, l.due_date);
      const text = l.status === "OVERDUE" ? t("letter.daysOver", { days: Math.max(1, -days) }) : days === 0 ? t("letter.dueTodayLeft") : t("letter.daysLeft", { days });
      clock = el("span", { class: "clock", "data-days": String(days), textContent: text });
    }
    const arrived = state.arrived.has(l.letter_id);
    return el("li", { class: "letter", "data-letter-id": l.letter_id, "data-status": l.status, "data-provisional": provisional ? "1" : "", "data-arrived": arrived ? "1" : "" },
      el("div", { class: "head" },
        el("strong", { class: "status", textContent: has("status." + l.status) ? t("status." + l.status) : l.status }),
        arrived && extra === "inbox" ? el("span", { class: "badge", textContent: t("letter.arrived") }) : null,
        l.replied_late ? el("span", { class: "badge", "data-kind": "late", textContent: t("letter.late") }) : null,
        clock),
      el("div", { class: "id", title: l.letter_id, textContent: t("letter.id") + " " + short(l.letter_id) }),
      facts);
  }
  function fill(listId, letters, today, extra) {
    const ul = $(listId);
    ul.textContent = "";
    if (!letters.length) ul.append(el("li", { class: "empty", textContent: t("board.empty") }));
    for (const l of letters) ul.append(letterItem(l, today, extra));
  }
  function renderViewState(view) {
    const section = $(view);
    const err = state.errors[view];
    const p = section.querySelector(".view-error");
    p.hidden = !err;
    p.textContent = err ? (err.status === 403 ? t("view.forbidden", { message: err.message }) : t("view.failed", { message: errorText(err) })) : "";
    section.dataset.state = err ? "error" : state.data[view] ? "loaded" : "loading";
  }
  function renderViews() {
    renderSignin();
    renderLive();
    renderCalendar();
    for (const view of Object.keys(VIEWS)) {
      $(view).hidden = !shows(view);
      if (!$(view).hidden) renderViewState(view);
    }
    const board = state.data.board;
    if (board) {
      const today = chinaDate(board.asOf);
      $("board-help").textContent = t("board.help", { today });
      const b = boardOf(board.letters, today);
      fill("board-overdue", b.overdue, today);
      fill("board-due-today", b.dueToday, today);
      fill("board-awaiting", b.awaiting, today);
      fill("board-closed", b.closed, today);
    } else {
      $("board-help").textContent = "";
      for (const id of ["board-overdue", "board-due-today", "board-awaiting", "board-closed"]) $(id).textContent = "";
    }
    const inbox = state.data.inbox;
    for (const id of ["inbox-new", "inbox-open", "inbox-closed"]) $(id).textContent = "";
    if (inbox) {
      const today = chinaDate(inbox.asOf);
      const i = inboxOf(inbox.letters);
      fill("inbox-new", i.new, today, "inbox");
      fill("inbox-open", i.open, today, "inbox");
      fill("inbox-closed", i.closed, today, "inbox");
    }
    const overdue = state.data.overdue;
    $("overdue-list").textContent = "";
    if (overdue) fill("overdue-list", overdue.letters, chinaDate(overdue.asOf));
    renderAlerts();
    renderGovernance();
    renderLicences();
  }
  const chinaDay = (s) => (s ? chinaDate(s) : "");
  function renderLicences() {
    const ul = $("licences-list");
    ul.textContent = "";
    const data = state.data.licences;
    if (!data) return;
    if (!data.licences.length) ul.append(el("li", { class: "empty", textContent: t("board.empty") }));
    for (const l of data.licences) {
      ul.append(el("li", { class: "licence", "data-id-hash": l.idHash, "data-status": l.status },
        el("div", { class: "head" },
          el("strong", { textContent: t("lic.status." + l.status) }),
          el("span", { class: "id", title: l.idHash, textContent: t("lic.item", { id: short(l.idHash) }) })),
        el("div", { textContent: t("lic.detail", { from: chinaDay(l.validFrom), until: l.validUntil ? chinaDay(l.validUntil) : t("lic.noEnd"), jurisdiction: l.jurisdiction, height: l.height }) })));
    }
  }
  function renderGovernance() {
    const ul = $("proposals-list");
    ul.textContent = "";
    $("committee-note").textContent = state.key ? t(state.committee ? "gov.committee" : "gov.readOnly") : "";
    const data = state.data.governance;
    if (!data) return;
    if (!data.proposals.length) ul.append(el("li", { class: "empty", textContent: t("board.empty") }));
    const me = state.me ? state.me.address.toLowerCase() : "";
    for (const p of data.proposals) {
      const actionName = state.config.governance.actions[String(p.action)] || String(p.action);
      const voted = p.voters.some((v) => v.toLowerCase() === me);
      const v = state.votes[p.id] || {};
      const canVote = state.committee && p.state === "open" && !voted;
      ul.append(el("li", { class: "proposal", "data-proposal-id": p.id, "data-state": p.state, "data-voted": voted ? "1" : "", "data-vote": v.state || "" },
        el("div", { class: "head" },
          el("strong", { textContent: t("gov.proposal", { id: p.id, action: has("action." + actionName) ? t("action." + actionName) : actionName }) }),
          el("span", { class: "clock", textContent: t("gov.state." + p.state) })),
        el("div", { textContent: t("gov.detail", { votes: p.votes, expiry: p.expiry, proposer: short(p.proposer) }) }),
        voted ? el("div", { textContent: t("gov.voted") }) : null,
        canVote ? el("button", { type: "button", class: "vote", textContent: t("gov.vote"), disabled: v.state === "working", onclick: () => vote(p.id) }) : null,
        v.state === "error" ? el("div", { class: "view-error", textContent: v.text }) : null));
    }
  }
  function renderAlerts() {
    const alerts = $("alerts-list");
    alerts.textContent = "";
    if (!state.drugs.alerts.length) alerts.append(el("li", { class: "empty", textContent: t("board.empty") }));
    for (const a of state.drugs.alerts) {
      alerts.append(el("li", { class: "alert", "data-tx": a.tx, "data-reason": a.reason },
        el("strong", { textContent: a.reason }),
        el("div", { class: "id", textContent: t("alerts.item", { height: a.height, tx: short(a.tx) }) })));
    }
    const holds = $("holds-list");
    holds.textContent = "";
    if (!state.drugs.holds.length) holds.append(el("li", { class: "empty", textContent: t("board.empty") }));
    for (const h of state.drugs.holds) {
      const flags = [h.recalled && t("hold.recalled"), h.frozen && t("hold.frozen"), h.held && t("hold.held")].filter(Boolean);
      holds.append(el("li", { class: "alert", "data-batch": h.batch, "data-recalled": h.recalled ? "1" : "", "data-tx": h.tx },
        el("div", { class: "head" },
          el("strong", { textContent: t("hold.batch", { batch: h.batch }) }),
          el("span", { class: "clock", textContent: flags.length ? flags.join(t("role.separator")) : t("hold.cleared") })),
        h.reason ? el("div", { textContent: h.reason }) : null,
        el("div", { class: "id", textContent: t("alerts.item", { height: h.height, tx: short(h.tx) }) })));
    }
  }

  // --- wiring --------------------------------------------------------------------------------------------
  $("key-file").addEventListener("change", (ev) => { chooseFile(ev.target.files[0] || null); });
  $("signin-button").addEventListener("click", () => { signIn(); });
  $("key-password").addEventListener("keydown", (ev) => { if (ev.key === "Enter") signIn(); });
  $("forget-button").addEventListener("click", () => forget(true));
  $("lang-select").addEventListener("change", (ev) => {
    lang = ev.target.value;
    try { localStorage.setItem(LANG_KEY, lang); } catch (_) { /* not remembered */ }
    applyI18n();
    renderViews();
  });
  applyI18n();
  renderViews();
  document.body.dataset.ready = "1";
})(typeof globalThis !== "undefined" ? globalThis : this);
