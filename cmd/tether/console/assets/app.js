// Tether console: hash-routed pages over /api, re-rendered when
// /api/version changes (polled every second).
"use strict";

const app = document.getElementById("app");
let version = -1;
let rendering = false;

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
function enc(s) { return encodeURIComponent(s); }
// Severity bands (models.Band), lowest first, from the page: "info:0 low:30 …".
const bands = (document.body.dataset.bands || "info:0").split(" ").map((b) => { const [name, floor] = b.split(":"); return { name, floor: +floor }; });
function band(sev) { let n = bands[0].name; for (const b of bands) if (sev >= b.floor) n = b.name; return n; }
function sev(s) { return `<span class="sev ${band(s)}" title="severity ${s}">${s}</span>`; }
function ts(t) {
  if (!t || t.startsWith("0001")) return "–";
  const d = new Date(t);
  return d.toISOString().replace("T", " ").replace("Z", "");
}
function hms(t) { const s = ts(t); return s === "–" ? s : s.slice(11); }
function dur(a, b) {
  if (!a || !b || a.startsWith("0001") || b.startsWith("0001")) return "–";
  const ms = new Date(b) - new Date(a);
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(3)} s`;
}
function agentLink(id) { return `<a href="#/agent/${enc(id)}" class="mono">${esc(id)}</a>`; }
function sessionLink(id) { return `<a href="#/session/${enc(id)}" class="mono">${esc(id)}</a>`; }
function findingLink(id, text) { return `<a href="#/finding/${enc(id)}">${esc(text ?? id.slice(0, 12))}</a>`; }
function status(s) { return `<span class="status ${esc(s)}">${esc(s)}</span>`; }
function autonomy(a) {
  if (!a.autonomy && !a.current_autonomy) return "–";
  if (a.current_autonomy && a.current_autonomy !== a.autonomy) return `${esc(a.current_autonomy)} <span class="muted">(was ${esc(a.autonomy)})</span>`;
  return esc(a.autonomy);
}

async function api(path) {
  const r = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

// ---- pages ----

async function overview() {
  const o = await api("/api/overview");
  document.title = `${o.title} – fleet`;
  const rows = o.agents.map((a) => `<tr data-agent="${esc(a.agent_id)}">
    <td>${agentLink(a.agent_id)}${a.parent_agent_id ? ` <span class="muted">↳ ${esc(a.parent_agent_id)}</span>` : ""}</td>
    <td>${sev(a.risk)}</td><td>${a.open_findings}</td><td>${a.findings}</td>
    <td>${autonomy(a)}</td><td>${a.containment ? `<span class="pill action">${esc(a.containment)}</span>` : "–"}</td>
    <td>${esc(a.purpose || (a.registered ? "" : "unregistered"))}</td><td>${esc(a.owner || "")}</td>
    <td>${a.sessions}</td><td>${a.events}</td><td class="mono">${hms(a.last_seen)}</td></tr>`).join("");
  const s = o.stats;
  return `<h1>Fleet overview</h1>
  <div class="stats"><div><b>${s.agents}</b>agents</div><div><b>${o.agents.filter((a) => a.risk >= 50).length}</b>at risk (≥ 50)</div>
  <div><b>${s.sessions}</b>sessions in memory</div><div><b>${s.findings}</b>findings</div><div><b>${s.commands}</b>commands</div></div>
  <table id="agents"><thead><tr><th>agent</th><th>risk</th><th>open</th><th>findings</th><th>autonomy</th><th>containment</th>
  <th>purpose</th><th>owner</th><th>sessions</th><th>events</th><th>last seen</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function toolChart(tools) {
  if (!tools || !tools.length) return `<p class="muted">no tool calls yet</p>`;
  const top = tools.slice(0, 12), rowH = 22, w = 420, lab = 150, bw = w - lab - 40;
  const bars = top.map((t, i) => {
    const y = i * rowH;
    return `<text x="0" y="${y + 14}">${esc(t.tool.slice(0, 22))}</text>
      <rect class="bar-base" x="${lab}" y="${y + 3}" width="${(t.baseline * bw).toFixed(1)}" height="7"><title>baseline ${(t.baseline * 100).toFixed(1)}%</title></rect>
      <rect class="bar-recent" x="${lab}" y="${y + 11}" width="${(t.recent * bw).toFixed(1)}" height="7"><title>recent ${(t.recent * 100).toFixed(1)}%</title></rect>
      <text x="${lab + Math.max(t.baseline, t.recent) * bw + 4}" y="${y + 15}">${Math.round(t.recent * 100)}%</text>`;
  }).join("");
  return `<div class="legend"><span><i class="sw base"></i>baseline (all calls)</span><span><i class="sw recent"></i>recent (last 50 calls)</span></div>
  <svg id="tool-chart" width="${w}" height="${top.length * rowH}" role="img" aria-label="tool use, baseline vs recent">${bars}</svg>`;
}

function rateChart(rate) {
  if (!rate || rate.length < 1) return `<p class="muted">no events yet</p>`;
  const w = 420, h = 90, maxv = Math.max(...rate.map((p) => p.events), 1);
  const n = rate.length, step = n > 1 ? w / (n - 1) : 0;
  const pts = rate.map((p, i) => `${(i * step).toFixed(1)},${(h - 14 - (p.events / maxv) * (h - 24)).toFixed(1)}`);
  const area = `0,${h - 14} ${pts.join(" ")} ${((n - 1) * step).toFixed(1)},${h - 14}`;
  return `<svg id="rate-chart" width="${w}" height="${h}" role="img" aria-label="events per minute">
    <polygon class="spark-area" points="${area}"></polygon><polyline class="spark" points="${pts.join(" ")}"></polyline>
    <text x="0" y="${h - 2}">${esc(hms(rate[0].minute).slice(0, 5))}</text><text x="${w - 34}" y="${h - 2}">${esc(hms(rate[n - 1].minute).slice(0, 5))}</text>
    <text x="${w - 60}" y="10">max ${maxv}/min</text></svg>`;
}

function tree(node, current) {
  const me = node.agent_id === current ? `<b>${esc(node.agent_id)}</b>` : agentLink(node.agent_id);
  const kids = (node.children || []).map((c) => tree(c, current)).join("");
  return `<li>${me} ${node.risk ? sev(node.risk) : ""}${kids ? `<ul class="tree">${kids}</ul>` : ""}</li>`;
}

// ackLine is one acknowledgement: status, consumer, reason, time-to-contain.
function ackLine(k) {
  // Event time (the agent's clock) to the ack (the consumer's): a negative
  // value means the clocks disagree.
  const ttc = k.status === "applied" && k.time_to_contain_ms ? ` · time to contain ${k.time_to_contain_ms} ms${k.time_to_contain_ms < 0 ? " (event time ahead of the ack)" : ""}` : "";
  return `<div class="ack" data-status="${esc(k.status)}" data-consumer="${esc(k.consumer)}"><span class="pill ack-${esc(k.status)}">${esc(k.status)}</span>
  by ${esc(k.consumer)}${k.reason ? `: ${esc(k.reason)}` : ""}${ttc ? `<span class="muted">${ttc}</span>` : ""} <span class="mono muted">${ts(k.acked_at)}</span></div>`;
}

function commandRows(cmds, acks) {
  if (!cmds || !cmds.length) return `<p class="muted">none</p>`;
  const by = {};
  for (const k of acks || []) (by[k.command_id] ||= []).push(k);
  return `<table class="commands"><thead><tr><th>issued</th><th>action</th><th>target</th><th>severity</th><th>session</th><th>reason</th><th>findings</th><th>acknowledgement</th></tr></thead><tbody>
  ${cmds.map((c) => `<tr data-command="${esc(c.command_id)}"><td class="mono">${ts(c.issued_at)}</td><td><span class="pill action">${esc(c.action)}</span></td>
  <td>${esc(c.target_autonomy || "")}</td><td>${sev(c.severity)}</td><td>${c.session_id ? sessionLink(c.session_id) : "–"}</td><td>${esc(c.reason)}</td>
  <td>${(c.finding_ids || []).map((f) => findingLink(f)).join(" ")}</td>
  <td class="acks">${(by[c.command_id] || []).map(ackLine).join("") || `<span class="muted">none yet</span>`}</td></tr>`).join("")}</tbody></table>`;
}

function findingRows(fs) {
  if (!fs || !fs.length) return `<p class="muted">none</p>`;
  return `<table class="findings"><thead><tr><th>time</th><th>sev</th><th>detector / kind</th><th>step</th><th>session</th><th>status</th><th>explanation</th></tr></thead><tbody>
  ${fs.map((f) => `<tr><td class="mono">${ts(f.time)}</td><td>${sev(f.severity)}</td><td>${findingLink(f.finding_id, `${f.detector}/${f.kind}`)}</td>
  <td>${f.step}</td><td>${sessionLink(f.session_id)}</td><td>${status(f.status)}</td><td>${esc(f.explanation)}</td></tr>`).join("")}</tbody></table>`;
}

function sessionRows(ss) {
  if (!ss || !ss.length) return `<p class="muted">none in memory</p>`;
  return `<table class="sessions"><thead><tr><th>session</th><th>agent</th><th>start</th><th>events</th><th>findings</th><th>max</th><th>first alert after</th><th>first command after</th></tr></thead><tbody>
  ${ss.map((s) => `<tr><td>${sessionLink(s.session_id)}</td><td>${agentLink(s.agent_id)}</td><td class="mono">${ts(s.start)}</td><td>${s.events}</td><td>${s.findings}</td>
  <td>${s.findings ? sev(s.max_severity) : "–"}</td><td>${dur(s.start, s.first_alert)}</td><td>${dur(s.start, s.first_command)}</td></tr>`).join("")}</tbody></table>`;
}

async function agentPage(id) {
  const a = await api(`/api/agents/${enc(id)}`);
  document.title = `Tether – ${a.agent_id}`;
  const demotions = (a.commands || []).filter((c) => c.action === "demote_autonomy");
  const clears = (a.acks || []).filter((k) => k.action === "clear");
  return `<h1>Agent ${esc(a.agent_id)} ${sev(a.risk)}</h1>
  <div class="grid">
   <div class="card"><dl class="kv"><dt>purpose</dt><dd>${esc(a.purpose || "–")}</dd><dt>owner</dt><dd>${esc(a.owner || "–")}</dd>
    <dt>registered</dt><dd>${a.registered ? "yes" : "<b>no</b>"}</dd><dt>autonomy</dt><dd>${autonomy(a)}</dd>
    <dt>containment</dt><dd>${a.containment ? `<span class="pill action">${esc(a.containment)}</span>` : "none"}</dd>
    <dt>open findings</dt><dd>${a.open_findings} of ${a.findings}</dd><dt>events</dt><dd>${a.events} in ${a.sessions} sessions</dd>
    <dt>root agent</dt><dd>${agentLink(a.root_agent_id)}</dd><dt>last seen</dt><dd class="mono">${ts(a.last_seen)}</dd></dl></div>
   <div class="card"><h3>Lineage</h3><ul class="tree root" id="lineage">${tree(a.lineage, a.agent_id)}</ul></div>
   <div class="card"><h3>Tool use: baseline vs recent</h3>${toolChart(a.tools)}</div>
   <div class="card"><h3>Events per minute</h3>${rateChart(a.rate)}</div>
  </div>
  <p><a href="/export/incident?agent=${enc(a.agent_id)}" target="_blank">incident report</a> ·
   <a href="/api/export/incident?agent=${enc(a.agent_id)}" target="_blank">JSON</a></p>
  <h2>Commands and demotions</h2>
  <p class="muted">${demotions.length} demotion(s), ${clears.length} human clear(s) applied.</p>
  ${capNote(a.commands, 20)}${commandRows((a.commands || []).slice(-20).reverse(), a.acks)}
  ${clears.length ? `<h3>Human clears</h3><div id="clears">${clears.map(ackLine).join("")}</div>` : ""}
  <h2>Findings</h2>${capNote(a.recent_findings, 50)}${findingRows((a.recent_findings || []).slice(0, 50))}
  <h2>Sessions</h2>${capNote(a.recent_sessions, 30)}${sessionRows((a.recent_sessions || []).slice(0, 30))}`;
}

function capNote(xs, n) {
  return xs && xs.length > n ? `<p class="muted">the latest ${n} of ${xs.length} in memory</p>` : "";
}

function eventSummary(e) {
  switch (e.kind) {
    case "tool_call": return `<b>${esc(e.tool)}</b>${e.destination ? ` → <code>${esc(e.destination)}</code>` : ""} <code>${esc((e.arguments || "").slice(0, 90))}</code>`;
    case "tool_result": return `<b>${esc(e.tool)}</b> result${e.error ? ` <span class="error">${esc(e.error)}</span>` : ""} <span class="muted">${esc((e.result || "").slice(0, 90))}</span>`;
    case "agent_spawn": return `spawns ${agentLink(e.child_agent_id)} (${sessionLink(e.child_session_id)})`;
    default: return `<span class="muted">${esc(e.role || "")}</span> ${esc((e.content || "").slice(0, 110))}`;
  }
}

function eventDetails(e) {
  const parts = [];
  if (e.arguments) parts.push(`<div class="muted">arguments</div><pre>${esc(e.arguments)}</pre>`);
  if (e.result) parts.push(`<div class="muted">result</div><pre>${esc(e.result)}</pre>`);
  if (e.content) parts.push(`<div class="muted">content</div><pre>${esc(e.content)}</pre>`);
  if (e.data_classes) parts.push(`<div class="muted">data classes: ${esc(e.data_classes.join(", "))}</div>`);
  if (e.resource) parts.push(`<div class="muted">resource: <code>${esc(e.resource)}</code></div>`);
  if (e.truncated) parts.push(`<div class="muted">(cut to the console's text limit)</div>`);
  parts.push(`<div class="muted mono">event ${esc(e.event_id)} · agent ${esc(e.agent_id)}</div>`);
  return `<details data-key="${esc(e.event_id)}"><summary>details</summary>${parts.join("")}</details>`;
}

async function sessionPage(id) {
  const s = await api(`/api/sessions/${enc(id)}`);
  document.title = `Tether – session ${s.session_id}`;
  // Taint: the flow detector's evidence is the source event(s) then the sink call.
  const role = {};
  for (const f of s.findings || []) {
    if (f.detector !== "flow" || !f.evidence_event_ids) continue;
    const ev = f.evidence_event_ids;
    ev.forEach((id, i) => { role[id] = role[id] === "sink" || i === ev.length - 1 ? "sink" : "source"; });
  }
  const byStep = {};
  for (const f of s.findings || []) (byStep[f.step] ||= []).push(f);
  const events = s.timeline || [];
  const lastIdx = {};
  events.forEach((e, i) => { lastIdx[e.step] = i; });
  const pinned = new Set();
  const rows = [];
  const findingRow = (f) => `<tr class="finding ${band(f.severity)}" data-finding-id="${esc(f.finding_id)}" data-step="${f.step}">
    <td>${f.step}</td><td class="mono">${hms(f.time)}</td><td colspan="2">${sev(f.severity)} ${findingLink(f.finding_id, `${f.detector}/${f.kind}`)} ${status(f.status)}</td>
    <td colspan="2">${esc(f.explanation)}</td></tr>`;
  events.forEach((e, i) => {
    const r = role[e.event_id];
    rows.push(`<tr class="ev ${r ? `taint-${r}` : ""}" data-event-id="${esc(e.event_id)}" data-step="${e.step}">
      <td>${e.step}</td><td class="mono">${hms(e.time)}</td><td>${esc(e.kind)}${r === "source" ? `<span class="tag src">taint source</span>` : r === "sink" ? `<span class="tag sink">sink</span>` : ""}</td>
      <td class="mono">${e.agent_id !== s.agent_id ? agentLink(e.agent_id) : ""}</td><td>${eventSummary(e)}</td><td>${eventDetails(e)}</td></tr>`);
    if (lastIdx[e.step] === i && byStep[e.step]) {
      for (const f of byStep[e.step]) { rows.push(findingRow(f)); pinned.add(f.finding_id); }
    }
  });
  for (const f of s.findings || []) if (!pinned.has(f.finding_id)) rows.push(findingRow(f));
  const kids = (s.children || []).map((c) => `<li>${sessionLink(c.session_id)} by ${agentLink(c.agent_id)}</li>`).join("");
  return `<h1>Session <span class="mono">${esc(s.session_id)}</span> ${s.findings ? sev(s.max_severity) : ""}</h1>
  <div class="card"><dl class="kv"><dt>agent</dt><dd>${agentLink(s.agent_id)} (root ${agentLink(s.root_agent_id)})</dd>
   ${s.parent_session_id ? `<dt>parent session</dt><dd>${sessionLink(s.parent_session_id)}</dd>` : ""}
   <dt>principal</dt><dd>${esc(s.principal || "–")}</dd><dt>start</dt><dd class="mono">${ts(s.start)}</dd><dt>last event</dt><dd class="mono">${ts(s.last)}${s.ended ? " (ended)" : ""}</dd>
   <dt>events</dt><dd>${s.events}${s.dropped_events ? ` (+${s.dropped_events} not kept)` : ""}</dd>
   <dt>first alert</dt><dd>${ts(s.first_alert)} <span class="muted">(${dur(s.start, s.first_alert)} after start)</span></dd>
   <dt>first command</dt><dd>${ts(s.first_command)} <span class="muted">(${dur(s.start, s.first_command)} after start)</span></dd>
   ${kids ? `<dt>sub-agent sessions</dt><dd><ul>${kids}</ul></dd>` : ""}</dl></div>
  <h2>Timeline</h2>
  <p class="legend muted"><span><i class="sw src"></i>taint source</span><span><i class="sw sink"></i>sink</span> findings are pinned after the last event of the step they fired at.</p>
  <table id="timeline"><thead><tr><th>step</th><th>time</th><th>kind</th><th>agent</th><th>what</th><th></th></tr></thead><tbody>${rows.join("")}</tbody></table>
  <h2>Commands</h2>${commandRows(s.commands, s.acks)}`;
}

async function findingPage(id) {
  const d = await api(`/api/findings/${enc(id)}`);
  const f = d.finding;
  document.title = `Tether – finding ${f.finding_id}`;
  const feats = (f.features || []).map((x) => `<tr><td>${esc(x.name)}</td><td>${x.observed}</td><td>${x.baseline}</td><td>${x.spread ?? ""}</td></tr>`).join("");
  const evid = (d.evidence || []).map((e, i) => `<li data-event-id="${esc(e.event_id)}"><b>${i === d.evidence.length - 1 ? "trigger" : "source"}</b> step ${e.step} · ${esc(e.kind)} ${eventSummary(e)} ${eventDetails(e)}</li>`).join("");
  const hist = (d.triage || []).map((t) => `<tr><td class="mono">${ts(t.at)}</td><td>${status(t.status)}</td><td>${esc(t.by)}</td><td>${esc(t.comment || "")}</td></tr>`).join("");
  const opts = ["new", "acknowledged", "false_positive", "accepted_risk", "resolved"].map((s) => `<option${s === f.status ? " selected" : ""}>${s}</option>`).join("");
  return `<h1>Finding ${sev(f.severity)} ${esc(f.detector)}/${esc(f.kind)}</h1>
  <div class="grid"><div class="card"><dl class="kv">
   <dt>id</dt><dd class="mono">${esc(f.finding_id)}</dd><dt>detector / kind</dt><dd>${esc(f.detector)} / ${esc(f.kind)}</dd>
   <dt>subject</dt><dd>${esc(f.subject || "–")}</dd><dt>rule</dt><dd>${esc(f.rule_id || "–")} <span class="muted">${esc(f.ruleset_version ? "ruleset " + f.ruleset_version : "")}</span>${f.exception ? " · suppressed by " + esc(f.exception) : ""}</dd>
   <dt>severity</dt><dd>${f.severity} (confidence ${(f.confidence ?? 0).toFixed(2)})</dd><dt>time</dt><dd class="mono">${ts(f.time)}</dd>
   <dt>agent</dt><dd>${agentLink(f.agent_id)} (root ${agentLink(f.root_agent_id)})</dd><dt>session</dt><dd>${sessionLink(f.session_id)} step ${f.step}</dd>
   <dt>principal</dt><dd>${esc(f.principal || "–")}</dd><dt>status</dt><dd id="status">${status(f.status)}</dd></dl></div>
   <div class="card"><h3>Explanation</h3><p id="explanation">${esc(f.explanation)}</p>
   ${feats ? `<table><thead><tr><th>feature</th><th>observed</th><th>baseline</th><th>spread</th></tr></thead><tbody>${feats}</tbody></table>` : ""}</div></div>
  <p><a href="/export/incident?finding=${enc(f.finding_id)}" target="_blank">incident report</a> ·
   <a href="/api/export/incident?finding=${enc(f.finding_id)}" target="_blank">JSON</a></p>
  <h2>Evidence chain</h2><ol id="evidence">${evid}</ol>
  ${d.missing_evidence ? `<p class="muted">not in memory: ${d.missing_evidence.map(esc).join(", ")}</p>` : ""}
  <h2>Commands it caused</h2><div id="commands">${commandRows(d.commands, d.acks)}</div>
  <h2>Triage</h2>
  ${hist ? `<table id="triage-history"><thead><tr><th>at</th><th>status</th><th>by</th><th>comment</th></tr></thead><tbody>${hist}</tbody></table>` : `<p class="muted">no triage yet</p>`}
  <form class="triage" id="triage-form" data-finding="${esc(f.finding_id)}">
   <select name="status">${opts}</select><input name="comment" placeholder="comment" maxlength="4000">
   <input name="by" placeholder="your name" maxlength="200" value="${esc(localStorage.getItem("tether.by") || "")}"><button type="submit">Set status</button>
   <span id="triage-msg"></span></form>`;
}

async function submitTriage(form) {
  const msg = document.getElementById("triage-msg");
  const by = form.by.value.trim();
  localStorage.setItem("tether.by", by);
  const headers = { "Content-Type": "application/json" };
  const tok = sessionStorage.getItem("tether.token");
  if (tok) headers.Authorization = `Bearer ${tok}`;
  const r = await fetch(`/api/findings/${enc(form.dataset.finding)}/triage`, {
    method: "POST", headers, body: JSON.stringify({ status: form.status.value, comment: form.comment.value, by }),
  });
  const body = await r.json().catch(() => ({}));
  if (r.status === 401) {
    const t = prompt("Console token (writes need it):");
    if (t) { sessionStorage.setItem("tether.token", t); return submitTriage(form); }
  }
  msg.className = r.ok ? "muted" : "error";
  msg.textContent = r.ok ? "saved" : body.error || r.statusText;
  if (r.ok) { document.activeElement.blur(); form.reset(); version = -1; tick(); }
}

// ---- routing and live updates ----

// navigated: a navigation arrived while a render ran.
let navigated = false;

// render draws the page of the location hash and reports whether it did:
// it does not while another render runs, nor (unless force, a navigation)
// while the analyst fills in the triage form, so a live update never
// wipes what they typed; the caller tries again later.
async function render(force) {
  if (rendering) {
    if (force === true) navigated = true; // drawn when the running render ends
    return false;
  }
  if (force !== true && editing()) return false;
  rendering = true;
  const open = new Set([...document.querySelectorAll("details[open]")].map((d) => d.dataset.key));
  const y = window.scrollY;
  try {
    const [, page, id] = (location.hash || "#/").slice(1).split("/").map(decodeURIComponent);
    let html;
    if (page === "agent") html = await agentPage(id);
    else if (page === "session") html = await sessionPage(id);
    else if (page === "finding") html = await findingPage(id);
    else html = await overview();
    if (force !== true && editing()) return false; // the analyst started typing while the data loaded
    app.innerHTML = html;
    document.querySelectorAll("details").forEach((d) => { if (open.has(d.dataset.key)) d.open = true; });
    window.scrollTo(0, y);
    app.dataset.page = page || "overview";
    app.dataset.rendered = String(version);
  } catch (e) {
    app.innerHTML = `<p class="error">${esc(e.message)}</p><p><a href="#/">back to the fleet</a></p>`;
    app.dataset.page = "error";
  } finally {
    rendering = false;
    if (navigated) {
      navigated = false;
      setTimeout(() => render(true), 0);
    }
  }
  return true;
}

// editing reports whether the analyst is filling in the triage form (a
// field focused or changed).
function editing() {
  const f = document.getElementById("triage-form");
  if (!f) return false;
  if (f.contains(document.activeElement)) return true;
  for (const el of f.elements) {
    if ((el.tagName === "INPUT" || el.tagName === "TEXTAREA") && el.value !== el.defaultValue) return true;
    if (el.tagName === "SELECT" && [...el.options].some((o) => o.selected !== o.defaultSelected)) return true;
  }
  return false;
}

async function tick() {
  const live = document.getElementById("live");
  try {
    const vr = await api("/api/version");
    const v = vr.version;
    live.classList.remove("stale");
    if (v !== version) {
      const prev = version;
      version = v;
      if (await render(false)) {
        document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
      } else {
        version = prev; // not drawn: the next tick tries again
      }
    }
    const st = vr.stats;
    document.getElementById("footer").textContent =
      `in memory: ${st.agents} agents, ${st.sessions} sessions, ${(st.event_bytes / 1048576).toFixed(1)} MiB of events, ${st.findings} findings, ${st.commands} commands (${st.acked_commands ?? 0} acknowledged); ${st.evictions} evicted`;
  } catch (e) {
    live.classList.add("stale");
  }
}

document.addEventListener("submit", (ev) => {
  if (ev.target.id === "triage-form") { ev.preventDefault(); submitTriage(ev.target); }
});
window.addEventListener("hashchange", () => { window.scrollTo(0, 0); render(true); });
tick();
setInterval(tick, 1000);
