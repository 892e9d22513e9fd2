// dashboardHtml owns the dashboard page served at / : one self-contained HTML document (inline CSS and script, nothing fetched but /api/status) that shows the admin console's results and refreshes them live.
import { SETTLED_MIGRATION_STATES } from '../catalog/CatalogBase.js';

/** how often the page reads /api/status */
export const DASHBOARD_REFRESH_MS = 1500;

/**
 * Every number sits in an element with a stable `data-metric` attribute: `SECTION.ROW.COLUMN` with the admin console's
 * column names (pools.s0.app.server_idle, cache.volume.hits, cache.*.hit_ratio, prefetch.used, stats.clients,
 * shards.s1.requests_per_s), so that a test or a scraper reads the page as it reads the console.
 */
export const dashboardHtml = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Prescient</title>
<style>
  :root { --bg: #f6f7f9; --card: #fff; --ink: #1d2430; --dim: #6b7480; --line: #e2e5ea; --ok: #1f8a4c; --warn: #b7791f; --bad: #c53030; --accent: #2b6cb0; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--ink); }
  header { display: flex; align-items: baseline; gap: 16px; padding: 14px 24px; background: var(--ink); color: #fff; }
  header h1 { margin: 0; font-size: 18px; }
  header .dim { color: #aab3c0; }
  #live { margin-left: auto; }
  #live.ok::before, #live.bad::before { content: "\\25CF "; }
  #live.ok::before { color: #48bb78; } #live.bad::before { color: #fc8181; }
  main { padding: 16px 24px; display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; }
  section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; overflow-x: auto; }
  section.wide { grid-column: 1 / -1; }
  h2 { margin: 0 0 8px; font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--dim); }
  .tiles { display: flex; flex-wrap: wrap; gap: 18px; }
  .tile b { display: block; font-size: 22px; font-variant-numeric: tabular-nums; }
  .tile span { color: var(--dim); font-size: 12px; }
  table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
  th, td { text-align: right; padding: 3px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
  th:first-child, td:first-child, th.text, td.text { text-align: left; }
  th { font-weight: 600; color: var(--dim); font-size: 12px; }
  .empty { color: var(--dim); font-style: italic; }
  .status-active { color: var(--ok); } .status-draining { color: var(--warn); } .status-inactive { color: var(--bad); }
  .bar { display: inline-block; height: 8px; background: var(--accent); border-radius: 2px; vertical-align: middle; margin-left: 6px; }
</style>
</head>
<body>
<header><h1>Prescient</h1><span class="dim" id="at">loading…</span><span id="live">connecting</span></header>
<main>
  <section class="wide"><h2>Overview</h2><div class="tiles" id="overview"></div></section>
  <section class="wide"><h2>Shards</h2><div id="shards"></div></section>
  <section class="wide"><h2>Pools</h2><div id="pools"></div></section>
  <section><h2>Cache</h2><div id="cache"></div></section>
  <section><h2>Predictions and prefetch</h2><div id="prefetch"></div></section>
  <section><h2>Hot keys</h2><div id="hotspots"></div></section>
  <section><h2>Migrations in progress</h2><div id="migrations"></div></section>
</main>
<script>
"use strict";
const REFRESH_MS = ${DASHBOARD_REFRESH_MS};
const SETTLED = ${JSON.stringify(SETTLED_MIGRATION_STATES)};
const $ = (id) => document.getElementById(id);
function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function rowsOf(r) {
  return r ? r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, row[i]]))) : [];
}
function show(v) {
  return v === null || v === undefined ? "" : String(v);
}
/* a table of the admin result's rows; key(row) names the row in data-metric; cols: the columns shown */
function table(section, rows, key, cols, extra) {
  if (rows.length === 0) return el("div", { class: "empty" }, "none");
  const t = el("table");
  const head = el("tr");
  for (const c of cols) head.appendChild(el("th", typeof rows[0][c] === "number" ? {} : { class: "text" }, c));
  t.appendChild(head);
  for (const r of rows) {
    const tr = el("tr");
    cols.forEach((c, i) => {
      const v = r[c];
      const td = el("td", { "data-metric": section + "." + key(r) + "." + c }, show(v));
      if (typeof v !== "number") td.className = "text";
      if (c === "status") td.className = "text status-" + v;
      if (extra) extra(td, c, r);
      tr.appendChild(td);
    });
    t.appendChild(tr);
  }
  return t;
}
function fill(id, node) {
  const box = $(id);
  box.replaceChildren(node);
}
function tile(metric, value, label) {
  const d = el("div", { class: "tile" });
  d.appendChild(el("b", { "data-metric": metric }, show(value)));
  d.appendChild(el("span", {}, label));
  return d;
}
function render(s) {
  const stats = rowsOf(s.stats)[0] || {};
  const cacheAll = rowsOf(s.cache).find((r) => r.domain === "*");
  const pools = rowsOf(s.pools);
  const waiting = pools.reduce((n, p) => n + p.cl_waiting, 0);
  const tiles = el("div", { class: "tiles" });
  tiles.appendChild(tile("stats.clients", stats.clients, "clients"));
  tiles.appendChild(tile("pools.cl_waiting", waiting, "clients waiting"));
  tiles.appendChild(tile("stats.queries", stats.queries, "queries"));
  tiles.appendChild(tile("stats.bytes_in", stats.bytes_in, "bytes in"));
  tiles.appendChild(tile("stats.bytes_out", stats.bytes_out, "bytes out"));
  tiles.appendChild(tile("cache.hit_ratio", cacheAll ? cacheAll.hit_ratio : "off", "cache hit ratio"));
  tiles.appendChild(tile("stats.uptime_s", stats.uptime_s, "uptime (s)"));
  fill("overview", tiles);
  // shards: the catalog's status, SHOW LOAD's figures (shard manager on), the pools' connections
  const load = new Map(rowsOf(s.load).map((l) => [l.shard, l]));
  const shards = rowsOf(s.shards).map((sh) => {
    const l = load.get(sh.name) || {};
    const ps = pools.filter((p) => p.shard === sh.name);
    const sum = (c) => ps.reduce((n, p) => n + p[c], 0);
    return { name: sh.name, status: sh.status, host: sh.host + ":" + sh.port, requests_per_s: s.load ? (l.requests_per_s ?? 0) : null, share: s.load ? (l.share ?? null) : null,
      server_total: sum("server_total"), server_active: sum("server_active"), server_idle: sum("server_idle"), cl_waiting: sum("cl_waiting") };
  });
  fill("shards", table("shards", shards, (r) => r.name, ["name", "status", "host", "requests_per_s", "share", "server_total", "server_active", "server_idle", "cl_waiting"], (td, c, r) => {
    if (c === "share" && typeof r.share === "number") td.appendChild(el("span", { class: "bar", style: "width:" + Math.round(r.share * 60) + "px" }));
  }));
  fill("pools", table("pools", pools, (p) => p.shard + "." + p.user, ["shard", "database", "user", "pool_mode", "size", "server_total", "server_active", "server_idle", "cl_active", "cl_waiting", "acquired", "waited", "queue_timeouts", "connect_failures"]));
  fill("cache", s.cache ? table("cache", rowsOf(s.cache), (r) => r.domain, ["domain", "entries", "bytes", "hits", "misses", "fills", "invalidations", "evictions", "hit_ratio"]) : el("div", { class: "empty" }, "cache off (cache.enabled)"));
  const pf = rowsOf(s.prefetch)[0];
  const pfTiles = el("div", { class: "tiles" });
  if (pf) for (const c of ["predictions", "accuracy", "issued", "stored", "used", "wasted", "dropped", "failed", "saved_ms"]) pfTiles.appendChild(tile("prefetch." + c, pf[c], c));
  fill("prefetch", pf ? pfTiles : el("div", { class: "empty" }, "prefetch off (cache.prefetch.enabled)"));
  fill("hotspots", s.hotspots ? table("hotspots", rowsOf(s.hotspots).slice(0, 10), (r) => r.kind + "." + r.key, ["kind", "key", "requests", "share", "recent_requests", "recent_share", "backend_ms"]) : el("div", { class: "empty" }, "shard manager off (shard_manager.enabled)"));
  const moving = rowsOf(s.migrations).filter((m) => !SETTLED.includes(m.state));
  fill("migrations", table("migrations", moving, (m) => m.id, ["id", "key", "from", "to", "state", "rows", "elapsed_ms"]));
  $("at").textContent = "updated " + s.at;
}
async function refresh() {
  try {
    const r = await fetch("/api/status", { cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    render(await r.json());
    $("live").className = "ok";
    $("live").textContent = "live";
  } catch (e) {
    $("live").className = "bad";
    $("live").textContent = "not answering: " + e.message;
  }
}
refresh();
setInterval(refresh, REFRESH_MS);
</script>
</body>
</html>
`;
