// lb/admin/dashboard_page.cpp — the admin dashboard (SPEC 15): GET / on the
// admin listener. One self-contained page, compiled into the binary: inline
// style and script, nothing loaded from anywhere else (a strict
// Content-Security-Policy header says so too). Every 2 s it fetches /stats
// and redraws: listeners (request rate, error rate, p50/p99, SLO burn),
// pools and servers (state, health, circuit, connections, rate, latency and
// a sparkline of the request rate over the last 5 minutes, kept in the
// page), the last reload. With the admin token typed in, each server can be
// made ready, drained, put in maintenance or re-weighted through the admin
// API (POST /pools/{pool}/servers/{address}/state|weight).
//
// States are coloured and always written out as words; numbers carry units.
// Drawing is one innerHTML per section per refresh (no per-cell DOM work),
// which keeps 50 pools × 20 servers well under a frame.
#include "lb/admin/dashboard_page.h"

namespace lb {

namespace {

constexpr std::string_view kPage = R"html(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>lb dashboard</title>
<style>
body{font:14px/1.35 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
header{display:flex;flex-wrap:wrap;gap:16px;align-items:center;padding:10px 16px;background:#1d2330;color:#fff}
header h1{font-size:18px;margin:0} header .meta{opacity:.85} header label{margin-left:auto}
header input{font:inherit;padding:3px 6px;width:14em}
main{padding:12px 16px} h2{font-size:16px;margin:18px 0 6px}
table{border-collapse:collapse;width:100%;background:#fff;margin-bottom:10px;box-shadow:0 1px 2px #0002}
th,td{padding:4px 8px;text-align:left;border-bottom:1px solid #e3e6eb;white-space:nowrap}
th{background:#eef0f4;font-weight:600} td.n{text-align:right;font-variant-numeric:tabular-nums}
.pool h3{font-size:14px;margin:12px 0 4px} .pool h3 small{font-weight:normal;color:#555}
.b{display:inline-block;padding:1px 7px;border-radius:9px;font-size:12px;font-weight:600}
.ok{background:#d7f5de;color:#0b6b25}.bad{background:#fbd9d7;color:#9b1c13}.warn{background:#fdf0c8;color:#7a5600}
.info{background:#dfe8fb;color:#1c3f94}.mute{background:#e6e8ec;color:#444}
button{font:inherit;font-size:12px;padding:1px 6px;margin-right:2px;cursor:pointer}
button:disabled{cursor:not-allowed;opacity:.45} svg{vertical-align:middle}
#status{font-size:12px} #msg{padding:6px 16px;background:#fff4d6;display:none}
</style></head><body>
<header><h1>lb</h1><span class="meta" id="meta">loading…</span><span class="meta" id="reload"></span>
<span id="status" class="b mute">connecting</span>
<label>Admin token <input id="token" type="password" autocomplete="off" placeholder="needed for actions"></label></header>
<div id="msg" role="status"></div>
<main><h2>Listeners</h2><div id="listeners"></div><h2>Pools</h2><div id="pools"></div></main>
<script>
"use strict";
const REFRESH_MS = 2000, HISTORY = 150;  // 150 × 2 s = 5 minutes of sparkline
const history = new Map();  // "pool|server" → request rates (req/s)
let previous = null;        // the last /stats answer and when it came
const esc = s => String(s).replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"})[c]);
const badge = (cls, word) => `<span class="b ${cls}">${esc(word)}</span>`;
const num = (v, unit, digits) => v == null || !isFinite(v) ? "–" : v.toFixed(digits ?? (v < 10 ? 2 : v < 100 ? 1 : 0)) + unit;
const stateClass = {up: "ok", down: "bad", drain: "warn", maint: "info"};
const healthClass = {passing: "ok", failing: "bad", unchecked: "mute"};
const circuitClass = {closed: "ok", open: "bad", half_open: "warn"};
const classes = ["1xx", "2xx", "3xx", "4xx", "5xx"];
function rate(now, before, dt) { return before == null || dt <= 0 ? null : Math.max(0, now - before) / dt; }
function spark(values) {
  const w = 90, h = 18, pts = values.filter(v => v != null);
  if (pts.length < 2) return `<svg width="${w}" height="${h}" aria-label="no history yet"></svg>`;
  const max = Math.max(...pts, 1e-9), step = w / (HISTORY - 1), start = HISTORY - values.length;
  const p = values.map((v, i) => v == null ? null : `${((start + i) * step).toFixed(1)},${(h - 1 - (v / max) * (h - 2)).toFixed(1)}`).filter(Boolean).join(" ");
  return `<svg width="${w}" height="${h}" role="img" aria-label="request rate, last 5 minutes, max ${max.toFixed(1)} req/s"><polyline fill="none" stroke="#2b6cb0" stroke-width="1.5" points="${p}"/></svg>`;
}
function burn(slo) {
  if (!slo) return "–";
  const parts = [];
  for (const [name, o] of Object.entries(slo)) {
    if (!o) continue;
    const b1 = o.windows["1h"].burn_rate, b5 = o.windows["5m"].burn_rate;
    const cls = b1 >= 14.4 && b5 >= 14.4 ? "bad" : b1 >= 1 ? "warn" : "ok";
    parts.push(`${esc(name)} ${badge(cls, "×" + b5.toFixed(2) + " 5m / ×" + b1.toFixed(2) + " 1h")}`);
  }
  return parts.join("<br>") || "–";
}
function renderListeners(stats, dt) {
  const before = previous && new Map(previous.stats.listeners.map(l => [l.name, l]));
  let h = "<table><thead><tr><th>listener</th><th>address</th><th>protocol</th><th>requests</th><th>errors (5xx)</th><th>connections</th><th>p50</th><th>p99</th><th>SLO burn</th></tr></thead><tbody>";
  for (const l of stats.listeners) {
    const b = before && before.get(l.name);
    const r = rate(l.requests_total, b && b.requests_total, dt);
    const e5 = rate(l.responses["5xx"], b && b.responses["5xx"], dt);
    const answered = classes.reduce((s, c) => s + l.responses[c], 0) - (b ? classes.reduce((s, c) => s + b.responses[c], 0) : 0);
    const errPct = b && answered > 0 ? 100 * (l.responses["5xx"] - b.responses["5xx"]) / answered : null;
    const lat = l.latency_ms || {};
    h += `<tr><td>${esc(l.name)}</td><td>${esc(l.listen)}</td><td>${esc(l.protocol)}${l.tls ? " + TLS" : ""}</td>` +
         `<td class="n">${num(r, " req/s")}</td><td class="n">${errPct == null ? "–" : badge(errPct > 1 ? "bad" : "ok", errPct.toFixed(1) + " % (" + num(e5, " /s") + ")")}</td>` +
         `<td class="n">${l.connections_active}</td><td class="n">${num(lat.p50, " ms")}</td><td class="n">${num(lat.p99, " ms")}</td><td>${burn(l.slo)}</td></tr>`;
  }
  document.getElementById("listeners").innerHTML = h + "</tbody></table>";
}
function renderPools(stats, dt) {
  const before = previous && new Map(previous.stats.pools.flatMap(p => p.servers.map(s => [p.name + "|" + s.address, s])));
  const can = document.getElementById("token").value !== "";
  const dis = can ? "" : " disabled title=\"type the admin token first\"";
  let h = "";
  for (const p of stats.pools) {
    h += `<section class="pool" data-pool="${esc(p.name)}"><h3>${esc(p.name)} <small>${esc(p.algorithm)} · ${p.servers_available}/${p.servers_total} available` +
         `${p.panic ? " · " + badge("bad", "panic") : ""}</small></h3><table><thead><tr><th>server</th><th>state</th><th>health</th><th>circuit</th>` +
         `<th>weight</th><th>connections</th><th>rate</th><th>p50</th><th>p99</th><th>last 5 min</th><th>actions</th></tr></thead><tbody>`;
    for (const s of p.servers) {
      const key = p.name + "|" + s.address;
      const b = before && before.get(key);
      const r = rate(s.requests_total, b && b.requests_total, dt);
      let hist = history.get(key);
      if (!hist) history.set(key, hist = []);
      hist.push(r);
      if (hist.length > HISTORY) hist.shift();
      const lat = s.latency_ms || {};
      const a = `data-pool="${esc(p.name)}" data-server="${esc(s.address)}"`;
      h += `<tr data-server="${esc(s.address)}" data-state="${esc(s.state)}"><td>${esc(s.address)}${s.backup ? " " + badge("mute", "backup") : ""}</td>` +
           `<td>${badge(stateClass[s.state] || "mute", s.state)}</td>` +
           `<td>${badge(healthClass[s.health.status] || "mute", s.health.status)}${s.health.last_error ? " <small>" + esc(s.health.last_error) + "</small>" : ""}</td>` +
           `<td>${badge(circuitClass[s.circuit] || "mute", s.circuit.replace("_", "-"))}</td><td class="n">${s.weight}</td>` +
           `<td class="n">${s.connections_active}</td><td class="n">${num(r, " req/s")}</td><td class="n">${num(lat.p50, " ms")}</td>` +
           `<td class="n">${num(lat.p99, " ms")}</td><td>${spark(hist)}</td><td>` +
           `<button ${a} data-act="ready"${dis}>ready</button><button ${a} data-act="drain"${dis}>drain</button>` +
           `<button ${a} data-act="maint"${dis}>maint</button><button ${a} data-act="weight"${dis}>weight…</button></td></tr>`;
    }
    h += "</tbody></table></section>";
  }
  document.getElementById("pools").innerHTML = h;
}
function show(text, bad) {
  const m = document.getElementById("msg");
  m.textContent = text;
  m.style.display = text ? "block" : "none";
  m.style.background = bad ? "#fbd9d7" : "#fff4d6";
}
async function refresh() {
  try {
    const res = await fetch("/stats", {cache: "no-store"});
    if (!res.ok) throw new Error("HTTP " + res.status);
    const stats = await res.json(), at = performance.now();
    const dt = previous ? (at - previous.at) / 1000 : 0;
    const lr = stats.last_reload;
    document.getElementById("meta").textContent = `version ${stats.version} · up ${stats.uptime_s} s · generation ${stats.generation}`;
    document.getElementById("reload").innerHTML = `last reload ${esc(lr.at)} ` + (lr.ok ? badge("ok", "ok") : badge("bad", "failed") + " " + esc(lr.error));
    renderListeners(stats, dt);
    renderPools(stats, dt);
    previous = {stats, at};
    const st = document.getElementById("status");
    st.className = "b ok";
    st.textContent = "live · " + new Date().toLocaleTimeString();
  } catch (e) {
    const st = document.getElementById("status");
    st.className = "b bad";
    st.textContent = "stale: " + e.message;
  }
}
document.getElementById("pools").addEventListener("click", async ev => {
  const btn = ev.target.closest("button[data-act]");
  if (!btn) return;
  const pool = btn.dataset.pool, server = btn.dataset.server, act = btn.dataset.act;
  let what = "state", body;
  if (act === "weight") {
    const w = prompt(`New weight for ${server} in ${pool} (1–1000):`);
    if (w === null) return;
    what = "weight";
    body = {weight: Number(w)};
  } else {
    body = {state: act};
  }
  const url = `/pools/${encodeURIComponent(pool)}/servers/${encodeURIComponent(server)}/${what}`;
  try {
    const res = await fetch(url, {method: "POST", headers: {"Authorization": "Bearer " + document.getElementById("token").value,
                                  "Content-Type": "application/json"}, body: JSON.stringify(body)});
    const text = await res.text();
    show(res.ok ? `${server} in ${pool}: ${what} set` : `${server} in ${pool}: HTTP ${res.status} ${text}`, !res.ok);
  } catch (e) {
    show("request failed: " + e.message, true);
  }
  refresh();
});
document.getElementById("token").addEventListener("input", () => {
  const can = document.getElementById("token").value !== "";
  for (const b of document.querySelectorAll("button[data-act]")) {
    b.disabled = !can;
    b.title = can ? "" : "type the admin token first";
  }
});
refresh();
setInterval(refresh, REFRESH_MS);
</script></body></html>
)html";

}  // namespace

std::string_view dashboard_page() { return kPage; }

}  // namespace lb
