/**
 * The feature browser's page: one self-contained HTML file (no network, no
 * libraries) that reads `api/summary.json` once and each feature's
 * `api/feature/<component>/<id>.json` when it is opened, so the same page
 * works served by `deno task features` and from static files.
 *
 * @module
 */

const STYLE = `
:root { color-scheme: light; --accent: #d9480f; --muted: #667085; --line: #e4e7ec; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2939; background: #f8f9fb; }
header { padding: 10px 18px; background: #fff; border-bottom: 1px solid var(--line); display: flex; gap: 18px; align-items: baseline; flex-wrap: wrap; }
header h1 { font-size: 17px; margin: 0; }
#run { color: var(--muted); }
#app { display: grid; grid-template-columns: 360px 1fr; gap: 16px; padding: 16px; align-items: start; }
aside, main section, #search-form { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px; }
main { display: flex; flex-direction: column; gap: 16px; min-width: 0; }
.controls { display: flex; gap: 10px; flex-wrap: wrap; margin-bottom: 8px; }
label { color: var(--muted); font-size: 12px; display: flex; flex-direction: column; gap: 2px; }
select, input, button { font: inherit; padding: 4px 8px; border: 1px solid #d0d5dd; border-radius: 6px; background: #fff; }
button { cursor: pointer; }
button:disabled { opacity: .4; cursor: default; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid var(--line); font-variant-numeric: tabular-nums; }
th { color: var(--muted); font-weight: 500; font-size: 12px; }
#features tbody tr { cursor: pointer; }
#features tbody tr:hover { background: #fff4e6; }
#features tbody tr.selected { background: #ffe8cc; }
.dbar { display: inline-block; height: 8px; background: var(--accent); border-radius: 2px; vertical-align: middle; margin-right: 6px; opacity: .75; }
.pager { display: flex; justify-content: space-between; align-items: center; margin-top: 8px; }
.chart { display: block; width: 100%; height: auto; }
.chart .bar { fill: var(--accent); opacity: .8; }
.chart text { font-size: 10px; fill: var(--muted); }
.chart .axis { stroke: #98a2b3; stroke-width: 1; }
figure { margin: 0; }
figcaption { color: var(--muted); font-size: 12px; margin-bottom: 4px; }
#feature h2 { margin: 0 0 4px; font-size: 16px; }
.facts { color: var(--muted); margin: 0 0 12px; }
.row { display: grid; grid-template-columns: minmax(260px, 1fr) minmax(260px, 1fr); gap: 16px; }
.logits { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; }
.logits td.tok { font-family: ui-monospace, Menlo, Consolas, monospace; white-space: pre; }
.up { color: #067647; } .down { color: #b42318; }
h3 { font-size: 13px; margin: 16px 0 6px; color: var(--muted); font-weight: 600; }
.context { display: flex; gap: 10px; padding: 4px 0; border-bottom: 1px solid var(--line); align-items: baseline; }
.context .act { flex: 0 0 52px; text-align: right; color: var(--muted); font-variant-numeric: tabular-nums; }
.toks { font-family: ui-monospace, Menlo, Consolas, monospace; white-space: pre-wrap; word-break: break-word; }
.tok { border-radius: 2px; }
.tok.top { outline: 1.5px solid var(--accent); }
.tok.special { color: var(--muted); font-size: 11px; }
.hint, .empty { color: var(--muted); }
.result { padding: 6px 0; border-bottom: 1px solid var(--line); }
.result a { color: var(--accent); cursor: pointer; text-decoration: none; font-weight: 600; margin-right: 8px; }
.error { color: #b42318; }
@media (max-width: 900px) { #app, .row { grid-template-columns: 1fr; } }
`;

// The page's script. Plain ES2017, no template literals (this file holds it in one).
const SCRIPT = String.raw`
"use strict";
var PAGE = 50;
var state = { summary: null, component: 0, sort: "desc", page: 0, order: [], feature: null };
function $(id) { return document.getElementById(id); }
function esc(s) {
  return String(s).replace(/[&<>"']/g, function (c) {
    return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
  });
}
function fmt(x) {
  if (x === 0) return "0";
  if (Number.isInteger(x) && Math.abs(x) < 1e6) return String(x);
  var a = Math.abs(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 0.01) return x.toPrecision(3);
  return x.toExponential(2);
}
function pct(x) { return x === 0 ? "0%" : (x * 100 >= 0.01 ? (x * 100).toPrecision(3) + "%" : (x * 100).toExponential(1) + "%"); }
function getJson(url) {
  return fetch(url).then(function (r) {
    if (!r.ok) return r.text().then(function (t) { throw new Error(url + ": " + r.status + " " + t); });
    return r.json();
  });
}
// A bar chart as SVG: a value and a tooltip label per bar, and three tick labels (left, middle, right).
function barChart(values, labels, ticks, caption, cls) {
  var w = 320, h = 120, left = 34, bottom = 18, top = 6;
  var max = Math.max.apply(null, values.concat([1]));
  var bw = (w - left - 4) / Math.max(values.length, 1);
  var out = ['<svg class="chart ' + (cls || "") + '" viewBox="0 0 ' + w + " " + h + '" role="img" aria-label="' + esc(caption) + '">'];
  out.push('<line class="axis" x1="' + left + '" y1="' + (h - bottom) + '" x2="' + (w - 2) + '" y2="' + (h - bottom) + '"/>');
  out.push('<text x="' + (left - 4) + '" y="' + (top + 8) + '" text-anchor="end">' + esc(fmt(max)) + "</text>");
  out.push('<text x="' + (left - 4) + '" y="' + (h - bottom) + '" text-anchor="end">0</text>');
  values.forEach(function (v, i) {
    var bh = (h - bottom - top) * v / max;
    out.push('<rect class="bar" x="' + (left + i * bw + 0.5).toFixed(2) + '" y="' + (h - bottom - bh).toFixed(2) +
      '" width="' + Math.max(bw - 1, 0.5).toFixed(2) + '" height="' + bh.toFixed(2) + '"><title>' + esc(labels[i] + ": " + v) + "</title></rect>");
  });
  ticks.forEach(function (tick, n) {
    var anchor = n === 0 ? "start" : n === 1 ? "middle" : "end";
    var x = n === 0 ? left : n === 1 ? (left + w - 2) / 2 : w - 2;
    out.push('<text x="' + x.toFixed(1) + '" y="' + (h - 4) + '" text-anchor="' + anchor + '">' + esc(tick) + "</text>");
  });
  out.push("</svg>");
  return out.join("");
}
function densityChart(c) {
  var lo = -7, step = 0.25, n = 28, counts = [], labels = [], dead = 0;
  for (var i = 0; i < n; i++) { counts.push(0); labels.push("density 1e" + (lo + i * step) + " to 1e" + (lo + (i + 1) * step)); }
  c.density.forEach(function (d) {
    if (d <= 0) { dead++; return; }
    var b = Math.floor((Math.log10(d) - lo) / step);
    counts[Math.max(0, Math.min(n - 1, b))]++;
  });
  return '<figure><figcaption>Feature density (log10 of the fraction of tokens a feature fires on); ' + dead + " never fired</figcaption>" +
    barChart(counts, labels, ["1e-7", "1e-3.5", "1"], "feature density histogram", "density") + "</figure>";
}
function sortOrder() {
  var c = state.summary.components[state.component];
  var ids = c.density.map(function (_, i) { return i; });
  if (state.sort === "desc") ids.sort(function (a, b) { return c.density[b] - c.density[a] || a - b; });
  else if (state.sort === "asc") ids.sort(function (a, b) {
    var da = c.density[a] || Infinity, db = c.density[b] || Infinity;
    return da - db || a - b;
  });
  state.order = ids;
}
function renderList() {
  var c = state.summary.components[state.component];
  var pages = Math.max(1, Math.ceil(state.order.length / PAGE));
  state.page = Math.max(0, Math.min(state.page, pages - 1));
  var maxD = Math.max.apply(null, c.density.concat([1e-12]));
  var rows = state.order.slice(state.page * PAGE, (state.page + 1) * PAGE).map(function (id) {
    var d = c.density[id];
    var bar = d > 0 ? Math.max(2, 60 * (Math.log10(d) + 7) / (Math.log10(maxD) + 7)) : 0;
    var sel = state.feature && state.feature.k === state.component && state.feature.id === id ? ' class="selected"' : "";
    return "<tr" + sel + ' data-feature="' + id + '"><td>#' + id + '</td><td><span class="dbar" style="width:' + bar.toFixed(1) + 'px"></span>' +
      pct(d) + "</td><td>" + fmt(c.maxActivation[id]) + "</td></tr>";
  });
  $("features").querySelector("tbody").innerHTML = rows.join("");
  $("page").textContent = "page " + (state.page + 1) + " of " + pages;
  $("prev").disabled = state.page === 0;
  $("next").disabled = state.page >= pages - 1;
}
function renderComponent() {
  var c = state.summary.components[state.component];
  $("density-chart").innerHTML = densityChart(c);
  sortOrder();
  renderList();
}
function tokenSpans(tokens, acts, max, at) {
  return tokens.map(function (t, i) {
    var a = acts[i] > 0 && max > 0 ? Math.min(1, acts[i] / max) : 0;
    var special = /^\u27e8(BOS|EOS)\u27e9$/.test(t);
    var cls = "tok" + (i === at ? " top" : "") + (special ? " special" : "");
    var shown = t.replace(/\n/g, "\u21b5");
    return '<span class="' + cls + '" style="background:rgba(255,120,20,' + (0.85 * a).toFixed(3) + ')" title="' + esc(fmt(acts[i])) + '">' + esc(shown) + "</span>";
  }).join("");
}
function logitTable(list, cls, title) {
  if (!list) return "";
  return '<table class="' + cls + '"><thead><tr><th>' + title + "</th><th>logit</th></tr></thead><tbody>" +
    list.map(function (e) { return '<tr title="token id ' + e.id + '"><td class="tok">' + esc(JSON.stringify(e.token).slice(1, -1)) + '</td><td class="' + cls + '">' + fmt(e.logit) + "</td></tr>"; }).join("") +
    "</tbody></table>";
}
function renderFeature(f) {
  var s = state.summary;
  var h = f.histogram, labels = h.counts.map(function (_, i) { return fmt(i * h.binWidth) + " to " + fmt((i + 1) * h.binWidth); });
  var last = h.counts.length; while (last > 1 && h.counts[last - 1] === 0) last--;
  var hist = f.count > 0
    ? '<figure><figcaption>Activation histogram (where it fires; bins of ' + fmt(h.binWidth) + ")</figcaption>" +
      barChart(h.counts.slice(0, last), labels.slice(0, last), ["0", fmt(last * h.binWidth / 2), fmt(last * h.binWidth)],
        "activation histogram", "histogram") + "</figure>"
    : '<p class="empty">This feature never fired on these tokens.</p>';
  var logits = f.promoted
    ? '<div class="logits">' + logitTable(f.promoted, "up", "promotes") + logitTable(f.suppressed, "down", "suppresses") + "</div>"
    : '<p class="empty">This component does not write to the residual stream, so it has no direct logit effects.</p>';
  var contexts = f.contexts.length
    ? f.contexts.map(function (ctx) {
      return '<div class="context" data-window="' + ctx.window + '"><span class="act">' + fmt(ctx.activation) + '</span><span class="toks">' +
        tokenSpans(ctx.tokens, ctx.activations, f.maxActivation, ctx.at) + "</span></div>";
    }).join("")
    : '<p class="empty">No contexts.</p>';
  $("feature").innerHTML = "<h2>" + esc(f.component) + " \u00b7 feature #" + f.id + "</h2>" +
    '<p class="facts">density ' + pct(f.density) + " (" + f.count.toLocaleString() + " of " + s.positions.toLocaleString() +
    " tokens) \u00b7 mean activation " + fmt(f.meanActivation) + " \u00b7 max " + fmt(f.maxActivation) + "</p>" +
    '<div class="row">' + hist + logits + "</div><h3>Top activations</h3>" + '<div id="contexts">' + contexts + "</div>";
}
function openFeature(k, id) {
  var c = state.summary.components[k];
  state.feature = { k: k, id: id };
  if (k !== state.component) {
    state.component = k;
    $("component").value = String(k);
    renderComponent();
  }
  var pos = state.order.indexOf(id);
  if (pos >= 0) state.page = Math.floor(pos / PAGE);
  renderList();
  var hash = "#c=" + encodeURIComponent(c.folder) + "&f=" + id;
  if (location.hash !== hash) history.replaceState(null, "", hash);
  $("feature").innerHTML = '<p class="hint">Loading feature #' + id + "\u2026</p>";
  return getJson("api/feature/" + encodeURIComponent(c.folder) + "/" + id + ".json").then(function (f) {
    if (state.feature && state.feature.k === k && state.feature.id === id) renderFeature(f);
  }).catch(function (e) { $("feature").innerHTML = '<p class="error">' + esc(e.message) + "</p>"; });
}
function search(text) {
  var box = $("search-results");
  box.hidden = false;
  box.innerHTML = '<p class="hint">Searching\u2026</p>';
  getJson("api/search?text=" + encodeURIComponent(text)).then(function (r) {
    var parts = ["<h3>Features that fire on this text" + (r.truncated ? " (cut to the context size)" : "") + "</h3>"];
    r.components.forEach(function (c, k) {
      parts.push('<h3>' + esc(c.name) + "</h3>");
      if (!c.features.length) parts.push('<p class="empty">none</p>');
      c.features.slice(0, 8).forEach(function (f) {
        parts.push('<div class="result"><a data-k="' + k + '" data-id="' + f.id + '">#' + f.id + "</a>" +
          '<span class="act">max ' + fmt(f.max) + '</span> <span class="toks">' + tokenSpans(r.tokens, f.activations, f.max, -1) + "</span></div>");
      });
    });
    box.innerHTML = parts.join("");
  }).catch(function (e) { box.innerHTML = '<p class="error">' + esc(e.message) + "</p>"; });
}
function start(summary) {
  state.summary = summary;
  $("run").textContent = summary.run + " \u00b7 " + summary.model + " \u00b7 " + summary.arch + " \u00b7 " +
    summary.positions.toLocaleString() + " tokens \u00b7 " + summary.text;
  $("component").innerHTML = summary.components.map(function (c, k) {
    return '<option value="' + k + '">' + esc(c.name) + " (" + c.dSae + ")</option>";
  }).join("");
  if (!summary.search) $("search-form").hidden = true;
  $("component").onchange = function () { state.component = Number(this.value); state.page = 0; renderComponent(); };
  $("sort").onchange = function () { state.sort = this.value; state.page = 0; sortOrder(); renderList(); };
  $("prev").onclick = function () { state.page--; renderList(); };
  $("next").onclick = function () { state.page++; renderList(); };
  $("features").onclick = function (e) {
    var tr = e.target.closest("tr[data-feature]");
    if (tr) openFeature(state.component, Number(tr.getAttribute("data-feature")));
  };
  $("search-form").onsubmit = function (e) { e.preventDefault(); var t = $("search-text").value; if (t.trim()) search(t); };
  $("search-results").onclick = function (e) {
    var a = e.target.closest("a[data-id]");
    if (a) openFeature(Number(a.getAttribute("data-k")), Number(a.getAttribute("data-id")));
  };
  renderComponent();
  var m = /^#c=([^&]*)&f=(\d+)$/.exec(location.hash);
  if (m) {
    var k = summary.components.findIndex(function (c) { return c.folder === decodeURIComponent(m[1]); });
    if (k >= 0 && Number(m[2]) < summary.components[k].dSae) openFeature(k, Number(m[2]));
  }
  document.body.setAttribute("data-ready", "true");
}
getJson("api/summary.json").then(start).catch(function (e) {
  $("app").innerHTML = '<p class="error">Could not load api/summary.json: ' + esc(e.message) +
    " (static files need a web server: browsers do not fetch from file:// pages)</p>";
});
`;

/**
 * The page's HTML.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { featurePageHtml } from "./page.ts";
 * const html = featurePageHtml();
 * assert.ok(html.startsWith("<!doctype html>"));
 * assert.ok(html.includes("api/summary.json"));
 * ```
 */
export function featurePageHtml(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>saekit · features</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header><h1>saekit · feature browser</h1><div id="run">loading…</div></header>
<div id="app">
<aside>
<div class="controls">
<label>Component <select id="component"></select></label>
<label>Sort <select id="sort"><option value="desc">densest first</option><option value="asc">rarest first (dead last)</option><option value="id">by id</option></select></label>
</div>
<div id="density-chart"></div>
<table id="features"><thead><tr><th>feature</th><th>density</th><th>max act.</th></tr></thead><tbody></tbody></table>
<div class="pager"><button id="prev" type="button">‹ prev</button><span id="page"></span><button id="next" type="button">next ›</button></div>
</aside>
<main>
<form id="search-form"><input id="search-text" size="50" placeholder="Text: which features fire on it?"> <button type="submit">Search</button></form>
<section id="search-results" hidden></section>
<section id="feature"><p class="hint">Pick a feature on the left to see its top activations, histogram and logit effects.</p></section>
</main>
</div>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
