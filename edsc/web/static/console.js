// The editdsc console: plain browser JavaScript, no build step, nothing loaded from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "edsc-console-token";   // sessionStorage: gone when the tab closes

const state = {
  config: null,
  file: null,          // the chosen photo (File), or null
  sample: null,        // the chosen sample id, or null
  sourceUrl: null,     // what the source images show
  sessionId: "",       // the conversation to continue
  busy: false,
  parseSeq: 0,
};

// ---------------------------------------------------------------------------------------------- helpers
function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (token()) h["Authorization"] = "Bearer " + token();
  return h;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
  if (message) box.scrollIntoView({block: "nearest"});
}

class HttpError extends Error {
  constructor(status, detail, code) { super(detail); this.status = status; this.code = code || ""; }
}

async function errorOf(resp) {
  let detail = "HTTP " + resp.status;
  let code = "";
  try {
    const body = await resp.json();
    if (body && body.detail) detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    code = (body && body.code) || "";
  } catch (e) { /* not JSON */ }
  return new HttpError(resp.status, detail, code);
}

function needSignIn(err) {
  if (err && err.status === 401) {
    $("signin").hidden = false;
    $("signed-in").hidden = true;
    $("token-input").focus();
    return true;
  }
  return false;
}

async function api(path, options) {
  const resp = await fetch(path, Object.assign({}, options, {headers: headers((options || {}).headers)}));
  if (!resp.ok) throw await errorOf(resp);
  return resp.json();
}

// Images behind the token cannot be plain <img src> links: fetch them with the header, show a blob URL.
async function imageUrl(path) {
  if (path.startsWith("data:")) return path;
  const sep = path.includes("?") ? "&" : "?";
  const resp = await fetch(path + sep + "wait=30", {headers: headers()});
  if (!resp.ok) throw await errorOf(resp);
  return URL.createObjectURL(await resp.blob());
}

function fmt(x, digits) { return (x === null || x === undefined) ? "–" : Number(x).toFixed(digits); }
function seconds(x) { return (x === null || x === undefined) ? "–" : Number(x).toFixed(2) + " s"; }

const DEGREE_WORDS = {
  bangs: "bangs", eyeglasses: "glasses", beard: "beard", smiling: "smile", age: "age",
};

function describeEdit(edit) {
  const what = DEGREE_WORDS[edit.attribute] || edit.attribute;
  if (edit.mode === "target") return `${what}: set to degree ${edit.target}`;
  const dir = edit.direction > 0 ? "more" : "less";
  if (edit.mode === "definite") return `${what}: ${dir}, by ${edit.change} degree${edit.change === 1 ? "" : "s"}`;
  return `${what}: ${dir} (one degree)`;
}

// ---------------------------------------------------------------------------------------------- source photo
function setSource(url, caption) {
  state.sourceUrl = url;
  state.sessionId = "";
  $("preview").hidden = !url;
  if (url) $("source-preview").src = url;
  $("preview-caption").textContent = caption || "Photo to edit";
  $("new-button").hidden = true;
  $("submit-button").textContent = "Send";
}

function chooseFile(file) {
  showError("");
  if (!file) return;
  const url = URL.createObjectURL(file);
  const probe = new Image();
  probe.onload = () => {
    state.file = file;
    state.sample = null;
    markSample(null);
    setSource(url, file.name);
  };
  probe.onerror = () => {
    URL.revokeObjectURL(url);
    state.file = null;
    $("image-input").value = "";
    showError(`"${file.name.slice(0, 100)}" is not an image this console can read: choose a PNG or JPEG photo.`);
  };
  probe.src = url;
}

function markSample(id) {
  for (const b of document.querySelectorAll("#samples button")) {
    b.setAttribute("aria-pressed", String(Number(b.dataset.id) === id));
  }
}

async function loadSamples() {
  const {items} = await api("/console/api/samples");
  const row = $("samples");
  for (const s of items) {
    const b = el("button", {type: "button", class: "sample", "data-id": s.id, "aria-pressed": "false",
                            "aria-label": s.label, "data-testid": "sample-button"},
                 el("img", {src: s.url, alt: "", width: 56, height: 56}));
    b.addEventListener("click", () => {
      showError("");
      state.sample = s.id;
      state.file = null;
      $("image-input").value = "";
      markSample(s.id);
      setSource(s.url, s.label);
    });
    row.append(b);
  }
}

// ---------------------------------------------------------------------------------------------- parsing
let parseTimer = null;

function scheduleParse() {
  clearTimeout(parseTimer);
  parseTimer = setTimeout(parseNow, 300);
}

async function parseNow() {
  const text = $("instruction-input").value.trim();
  const out = $("parsed");
  const seq = ++state.parseSeq;
  if (!text) {
    out.className = "parsed";
    out.textContent = "Type what to change: bangs, glasses, beard, smile or age.";
    return;
  }
  try {
    const r = await api("/console/api/parse", {method: "POST", headers: {"Content-Type": "application/json"},
                                               body: JSON.stringify({instruction: text})});
    if (seq !== state.parseSeq) return;
    out.className = "parsed ok";
    out.textContent = "Understood: " + describeEdit(r.edit);
    state.attributes = r.attributes;
    if (r.bundle_version) $("bundle-version").textContent = "bundle " + r.bundle_version;
  } catch (err) {
    if (seq !== state.parseSeq) return;
    if (needSignIn(err)) { out.className = "parsed"; out.textContent = "Sign in to use the console."; return; }
    out.className = "parsed refused";
    out.textContent = err.status === 400 ? "Cannot do that: " + err.message : "The parser is unavailable: " + err.message;
  }
}

// ---------------------------------------------------------------------------------------------- submitting
function formFields(extra) {
  const fd = new FormData();
  fd.append("instruction", $("instruction-input").value.trim());
  fd.append("snr_db", $("snr-input").value);
  fd.append("channel", $("channel-select").value);
  fd.append("csi", $("csi-select").value);
  for (const [k, v] of Object.entries(extra || {})) fd.append(k, v);
  return fd;
}

function addSource(fd) {
  if (state.file) fd.append("image", state.file, state.file.name);
  else if (state.sample !== null) fd.append("sample", String(state.sample));
  else throw new HttpError(400, "Choose a photo or a sample face first.");
  return fd;
}

function progress(text, fraction) {
  $("progress-text").textContent = text;
  const bar = $("progress-bar");
  if (fraction === null) bar.removeAttribute("value");
  else bar.value = fraction;
}

const STAGE_WORDS = {queued: "queued", inversion: "inversion", editing: "editing (JECC)", channel: "channel"};

function describeProgress(p) {
  const word = STAGE_WORDS[p.stage] || p.stage;
  if (p.stage === "inversion" || p.stage === "editing") return `${word} ${p.step}/${p.total}`;
  return word;
}

// POST the form, read the Server-Sent Events, call onProgress per event; resolves with the result.
async function submitStream(fd, onProgress) {
  const resp = await fetch("/console/api/submit", {method: "POST", body: fd, headers: headers()});
  if (!resp.ok) throw await errorOf(resp);
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, {stream: true});
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      const payload = data ? JSON.parse(data) : {};
      if (event === "progress") onProgress(payload);
      else if (event === "result") return payload;
      else if (event === "error") throw new HttpError(payload.status || 502, payload.detail, payload.code);
    }
  }
  throw new HttpError(502, "the connection ended before the result arrived");
}

function setBusy(busy) {
  state.busy = busy;
  for (const id of ["submit-button", "sweep-button", "compare-button"]) $(id).disabled = busy;
}

function checkReady() {
  if (!$("instruction-input").value.trim()) throw new HttpError(400, "Type an instruction first.");
  if (!state.sessionId && !state.file && state.sample === null) {
    throw new HttpError(400, "Choose a photo or a sample face first.");
  }
}

async function onSubmit(ev) {
  ev.preventDefault();
  if (state.busy) return;
  showError("");
  try {
    checkReady();
  } catch (err) { showError(err.message); return; }
  setBusy(true);
  const followUp = Boolean(state.sessionId);
  const fd = formFields({return_ideal: "true"});
  if (followUp) fd.append("session_id", state.sessionId); else addSource(fd);
  const instruction = $("instruction-input").value.trim();
  const t0 = performance.now();
  progress("sending…", null);
  try {
    const r = await submitStream(fd, (p) => progress(describeProgress(p), p.total ? p.step / p.total : null));
    progress(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`, 1);
    state.sessionId = r.session_id;
    $("new-button").hidden = false;
    $("submit-button").textContent = "Send follow-up";
    await addTurn(r, instruction);
    $("instruction-input").value = "";
    $("instruction-input").focus();
    parseNow();
    loadHistory();
  } catch (err) {
    progress("failed", 0);
    if (!needSignIn(err)) showError(err.message);
  } finally {
    setBusy(false);
  }
}

function figure(label, img, testid) {
  return el("figure", {class: "tile"}, img, el("figcaption", {text: label}));
}

function imgEl(testid, alt) {
  return el("img", {"data-testid": testid, alt: alt, width: 128, height: 128});
}

function degreeLine(outcome) {
  const o = outcome || {};
  if (!o.degrees_before || !o.degrees_before.length) return "–";
  const attrs = state.attributes || [];
  const i = attrs.indexOf(o.attribute);
  if (i >= 0) return `${o.attribute} ${o.degrees_before[i]} → ${o.degrees_after[i]} (aim ${o.expected_degree})`;
  return `${o.attribute}: aim ${o.expected_degree}`;
}

async function addTurn(r, instruction) {
  $("thread-empty").hidden = true;
  const source = imgEl("source-image", "The photo");
  source.src = state.sourceUrl;
  const ideal = imgEl("ideal-image", "The transmitter's noiseless edit");
  if (r.ideal) ideal.src = r.ideal;
  const received = imgEl("result-image", "What the receiver got");
  const t = r.timings || {};
  const cached = t.inversion_cache_hit === 1 ? " (cached)" : "";
  const facts = el("dl", {class: "facts"},
    el("dt", {text: "Edit"}), el("dd", {text: describeEdit(r.edit)}),
    el("dt", {text: "JECC"}), el("dd", {text: `${r.outcome.status}, ${r.outcome.iterations} steps`}),
    el("dt", {text: "Degrees"}), el("dd", {text: degreeLine(r.outcome)}),
    el("dt", {text: "Link"}), el("dd", {text: `${r.channel_report.model || ""} at ${fmt(r.channel_report.snr_db, 1)} dB`}),
    el("dt", {text: "CBR"}), el("dd", {text: `${fmt(r.cbr, 4)} (k = ${r.k} reals, ${r.channel_uses} channel uses)`}),
    el("dt", {text: "Timings"}), el("dd", {text: r.inverted
      ? `inversion ${seconds(t.inversion_s)}${cached}, JECC ${seconds(t.jecc_s)}, channel + receiver ${seconds(t.forward_s)}, total ${seconds(t.total_s)}`
      : `JECC ${seconds(t.jecc_s)}, channel + receiver ${seconds(t.forward_s)}, total ${seconds(t.total_s)}`}),
  );
  const item = el("li", {class: "turn", "data-testid": "turn"},
    el("h3", {}, el("span", {class: "turn-no", text: `Turn ${r.session_turn}`}), " ", el("q", {text: instruction})),
    el("div", {class: "tiles"},
      figure(r.session_turn > 1 ? "Photo (turn 1)" : "Photo", source),
      figure("Noiseless edit", ideal),
      figure("Received", received)),
    facts);
  $("thread").append(item);
  try {
    received.src = await imageUrl(r.image_url);
  } catch (err) {
    received.alt = "The received image could not be loaded: " + err.message;
    showError("The received image could not be loaded: " + err.message);
  }
  item.scrollIntoView({block: "nearest"});
}

// ---------------------------------------------------------------------------------------------- sweep
async function onSweep() {
  if (state.busy) return;
  showError("");
  try {
    checkReady();
    if (!state.file && state.sample === null) throw new HttpError(400, "The sweep needs a photo or a sample face.");
  } catch (err) { showError(err.message); return; }
  setBusy(true);
  const levels = state.config.sweep_db;
  const panel = $("sweep-panel");
  panel.hidden = false;
  const strip = $("sweep");
  strip.replaceChildren();
  $("sweep-caption").textContent = `"${$("instruction-input").value.trim()}" over ${$("channel-select").value.toUpperCase()}, ` +
    "one inversion shared by every level";
  const cells = levels.map((snr) => {
    const img = imgEl("sweep-image", `Received at ${snr} dB`);
    const note = el("span", {class: "note", text: "waiting"});
    const fig = el("figure", {class: "tile"}, img, el("figcaption", {}, el("b", {text: `${snr} dB`}), " ", note));
    strip.append(fig);
    return {snr, img, note};
  });
  let done = 0;
  const one = async (cell) => {
    const fd = addSource(formFields({return_ideal: "false"}));
    fd.set("snr_db", String(cell.snr));
    cell.note.textContent = "sending";
    try {
      const r = await submitStream(fd, (p) => { cell.note.textContent = describeProgress(p); });
      cell.img.src = await imageUrl(r.image_url);
      cell.note.textContent = `${r.outcome.status}`;
    } catch (err) {
      cell.note.textContent = "failed: " + err.message;
      if (!needSignIn(err)) showError(err.message);
    }
    done += 1;
    progress(`sweep ${done}/${cells.length}`, done / cells.length);
  };
  progress(`sweep 0/${cells.length}`, 0);
  try {
    await one(cells[0]);                        // inverts once; the others reuse that inversion
    await Promise.all(cells.slice(1).map(one));
    loadHistory();
  } finally {
    setBusy(false);
  }
}

// ---------------------------------------------------------------------------------------------- comparison
async function onCompare() {
  if (state.busy) return;
  showError("");
  try {
    checkReady();
    if (!state.file && state.sample === null) throw new HttpError(400, "The comparison needs a photo or a sample face.");
  } catch (err) { showError(err.message); return; }
  setBusy(true);
  progress("comparing: edit, then three links…", null);
  const t0 = performance.now();
  try {
    const fd = addSource(formFields({}));
    const r = await api("/console/api/compare", {method: "POST", body: fd});
    $("compare-panel").hidden = false;
    $("compare-caption").textContent = `"${$("instruction-input").value.trim()}" at ${fmt(r.snr_db, 0)} dB over ` +
      `${r.channel.toUpperCase()} (CSI ${r.csi}). LPIPS is measured against the noiseless edit (lower is closer).`;
    const strip = $("compare");
    strip.replaceChildren();
    const ref = imgEl("compare-image", "The noiseless edit");
    ref.src = r.ideal;
    strip.append(el("figure", {class: "tile"}, ref, el("figcaption", {}, el("b", {text: "Noiseless edit"}),
                                                      el("span", {class: "note", text: "reference"}))));
    for (const link of r.links) {
      const img = imgEl("compare-image", link.name);
      if (link.image) img.src = link.image;
      const facts = link.lpips === null
        ? el("span", {class: "note refused", text: link.note})
        : el("span", {class: "note", text: `CBR ${fmt(link.cbr, 4)} · LPIPS ${fmt(link.lpips, 3)}` + (link.note ? ` · ${link.note}` : "")});
      strip.append(el("figure", {class: "tile" + (link.image ? "" : " missing")}, link.image ? img : el("div", {class: "placeholder", text: "not run"}),
                      el("figcaption", {}, el("b", {text: link.name}), facts)));
    }
    progress(`comparison done in ${((performance.now() - t0) / 1000).toFixed(1)} s`, 1);
    loadHistory();
  } catch (err) {
    progress("failed", 0);
    if (!needSignIn(err)) showError(err.message);
  } finally {
    setBusy(false);
  }
}

// ---------------------------------------------------------------------------------------------- history
async function loadHistory() {
  const list = $("history");
  try {
    const page = await api("/console/api/history?limit=12");
    list.replaceChildren();
    if (!page.items.length) { list.append(el("li", {class: "hint", text: "No results yet."})); return; }
    for (const item of page.items) {
      const m = item.metadata || {};
      const ch = m.channel || {};
      const img = el("img", {alt: "", width: 48, height: 48});
      const when = new Date(item.created * 1000).toLocaleTimeString();
      list.append(el("li", {class: "history-item"}, img,
        el("span", {}, el("q", {text: m.instruction || ""}),
          el("small", {text: ` ${ch.model || ""} ${ch.snr_db !== undefined ? fmt(ch.snr_db, 0) + " dB" : ""} · ` +
                              `${(m.outcome || {}).status || ""} · ${when}`}))));
      imageUrl(item.image_url).then((u) => { img.src = u; }).catch(() => { img.alt = "image unavailable"; });
    }
  } catch (err) {
    if (!needSignIn(err)) {
      list.replaceChildren(el("li", {class: "hint", text: "History unavailable: " + err.message}));
    }
  }
}

// ---------------------------------------------------------------------------------------------- start
async function start() {
  $("snr-input").addEventListener("input", () => { $("snr-value").textContent = $("snr-input").value + " dB"; });
  $("image-input").addEventListener("change", (e) => chooseFile(e.target.files[0]));
  const zone = $("dropzone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer.files.length) chooseFile(e.dataTransfer.files[0]);
  });
  $("instruction-input").addEventListener("input", scheduleParse);
  $("compose").addEventListener("submit", onSubmit);
  $("sweep-button").addEventListener("click", onSweep);
  $("compare-button").addEventListener("click", onCompare);
  $("new-button").addEventListener("click", () => {
    setSource(state.sourceUrl, $("preview-caption").textContent);
    $("thread").replaceChildren();
    $("thread-empty").hidden = false;
    $("instruction-input").focus();
  });
  $("history-button").addEventListener("click", loadHistory);
  $("signin").addEventListener("submit", (e) => {
    e.preventDefault();
    const value = $("token-input").value.trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    $("token-input").value = "";
    $("signin").hidden = true;
    $("signed-in").hidden = false;
    showError("");
    parseNow();
    loadHistory();
  });
  $("signout-button").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    $("signed-in").hidden = true;
    $("signin").hidden = false;
  });
  try {
    state.config = await api("/console/api/config");
    const snr = $("snr-input");
    snr.min = String(Math.max(state.config.snr_range_db[0], -10));
    snr.max = String(Math.min(state.config.snr_range_db[1], 30));
    if (state.config.auth) {
      $("signin").hidden = Boolean(token());
      $("signed-in").hidden = !token();
    }
    await loadSamples();
  } catch (err) {
    showError("The console could not start: " + err.message);
  }
  loadHistory();
}

window.addEventListener("error", (e) => showError("Something went wrong in the page: " + e.message));
window.addEventListener("unhandledrejection", (e) => showError("Something went wrong: " + ((e.reason && e.reason.message) || e.reason)));
document.addEventListener("DOMContentLoaded", start);
