/* The /verify page: load the trust anchor and a credential (QR link fragment, paste or file), verify it in
 * this browser with XinlianVerify and render the verdict into #verdict (data-status, data-error,
 * data-licence-status) and #facts. The bundle in a #b= fragment never reaches the server. */
"use strict";
(function () {
  const X = window.XinlianVerify;
  const $ = (id) => document.getElementById(id);
  let trust = null;
  let lastLicence = null;

  const time = (ms) => new Date(ms).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false }) + " (UTC+8)";
  const unix = (s) => (s ? new Date(s * 1000).toLocaleDateString("zh-CN", { timeZone: "Asia/Shanghai" }) : "长期 (no end date)");

  function setVerdict(status, text, error, licenceStatus) {
    const v = $("verdict");
    v.dataset.status = status;
    v.dataset.error = error || "";
    v.dataset.licenceStatus = licenceStatus || "";
    v.textContent = text;
  }
  function showFacts(rows) {
    const dl = $("facts");
    dl.textContent = "";
    for (const [k, val] of rows) {
      const dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = k;
      dd.textContent = val;
      dl.append(dt, dd);
    }
  }

  async function loadTrust() {
    try {
      const r = await fetch("/v1/proofs/trust");
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      trust = X.parseTrust(await r.json());
      $("trust").textContent = `Genesis ${X.toHex(trust.hash)} of chain ${trust.chainId}, ${trust.validators.length} validator(s). ` +
        "Fetched from this node: compare the genesis hash with the one your consortium publishes, or load a trust file.";
    } catch (e) {
      $("trust").textContent = `Could not load the trust anchor (${e.message}); load a trust file.`;
    }
  }

  async function verifyDoc(getDoc) {
    setVerdict("pending", "Verifying in this browser…");
    showFacts([]);
    $("holder-box").hidden = true;
    lastLicence = null;
    try {
      if (!trust) throw new X.VerificationError("FormatError", "no trust anchor loaded");
      const doc = await getDoc();
      const r = X.verifyBundle(doc, trust);
      const rows = [
        ["Trusted anchor", r.trust],
        ["Block", `${r.height}  ${r.blockHash}`],
        ["Block time", time(r.blockTimeMs)],
        ["Sealed by", `${r.sealedBy.length} of ${r.validators} validators in force`],
        ["Validator-set handovers followed", r.handovers.join(", ") || "none"],
        ["Transaction", r.txHash],
        ["Signed by (address)", r.sender],
        ["Contract", r.contract],
      ];
      if (r.licence) {
        const l = r.licence;
        rows.push(["Licence id hash", l.idHash], ["Issuer", `${l.issuerOrg} (account ${l.issuer})`],
          ["Licence type id", l.typeId + (r.labels.licence_type ? ` — “${r.labels.licence_type}” (label, not verified)` : "")],
          ["Validity", `${unix(l.validFrom)} → ${unix(l.validUntil)}`], ["Jurisdiction", l.jurisdiction], ["Document hash", l.documentHash]);
        lastLicence = l;
        $("holder-box").hidden = false;
      }
      let status = "";
      if (r.state) {
        if (r.state.licence) {
          status = r.state.licence.name;
          rows.push(["Status", `${status} at block ${r.state.height} (${time(r.state.blockTimeMs)})`]);
        } else rows.push(["State", `slot ${r.state.slot} of ${r.state.address} = ${r.state.value} at block ${r.state.height}`]);
      }
      // A proof of status speaks only for the block it was taken at: say how old it is, and never let an
      // issuance-only bundle read as "valid now".
      let text = "VERIFIED";
      if (status) {
        const ageH = (Date.now() - r.state.blockTimeMs) / 3_600_000;
        text = `VERIFIED — licence ${status} as of ${time(r.state.blockTimeMs)} (block ${r.state.height})`;
        if (ageH > 24) {
          text += ` — this status proof is ${Math.floor(ageH / 24)} day(s) old: ask the holder for a fresh one`;
          rows.push(["Warning", "the status may have changed since this proof was taken"]);
        }
      } else if (r.licence) {
        text = "VERIFIED — licence issuance proven; its current status is not proven by this bundle";
      }
      showFacts(rows);
      setVerdict("verified", text, "", status);
    } catch (e) {
      const kind = e.kind || "FormatError";
      setVerdict("failed", `NOT VERIFIED — ${kind}: ${e.message}`, kind, (e.detail && e.detail.status) || "");
      const rows = [["What failed", kind], ["Why", e.message]];
      for (const [k, val] of Object.entries(e.detail || {})) rows.push([k, String(val)]);
      showFacts(rows);
    }
  }

  async function fetchJson(url) {
    const r = await fetch(url);
    const body = await r.json();
    if (!r.ok) throw new X.VerificationError("FormatError", `the node answered ${r.status}: ${body.message || ""}`);
    return body;
  }

  async function fromHash() {
    const p = new URLSearchParams(location.hash.slice(1));
    if (p.get("b")) return verifyDoc(() => X.loadPayload(p.get("b")));
    if (p.get("licence")) return verifyDoc(() => fetchJson(`/v1/proofs/licences/${encodeURIComponent(p.get("licence"))}`));
    if (p.get("tx")) return verifyDoc(() => fetchJson(`/v1/proofs/tx/${encodeURIComponent(p.get("tx"))}`));
  }

  $("verify-button").addEventListener("click", () => verifyDoc(() => X.loadPayload($("bundle-text").value)));
  $("bundle-file").addEventListener("change", async (ev) => {
    const f = ev.target.files[0];
    if (f) { $("bundle-text").value = await f.text(); verifyDoc(() => X.loadPayload($("bundle-text").value)); }
  });
  $("trust-file").addEventListener("change", async (ev) => {
    const f = ev.target.files[0];
    if (!f) return;
    try {
      trust = X.parseTrust(JSON.parse(await f.text()));
      $("trust").textContent = `Trust file: ${trust.kind} ${X.toHex(trust.hash)} of chain ${trust.chainId} (loaded from your file).`;
    } catch (e) { $("trust").textContent = `Trust file refused: ${e.message}`; }
  });
  $("holder-button").addEventListener("click", async () => {
    const out = $("holder-result");
    try {
      const ok = await X.holderMatches(lastLicence.holderCommitment, $("holder-salt").value.trim(), $("holder-type").value, $("holder-code").value);
      out.dataset.match = ok ? "yes" : "no";
      out.textContent = ok ? "The holder matches the licence's holder commitment." : "The holder does NOT match this licence.";
    } catch (e) { out.dataset.match = "no"; out.textContent = `Cannot check: ${e.message}`; }
  });
  window.addEventListener("hashchange", fromHash);
  window.xinlianVerifyText = (text) => verifyDoc(() => X.loadPayload(text));
  loadTrust().then(fromHash);
})();
