/**
 * The dashboard's static page, stylesheet and script, kept as strings so that the Node server
 * and a bundled Lambda serve the same bytes without reading files at run time. The page holds
 * no data: it asks for the admin token (kept in sessionStorage) and fetches JSON with
 * `Authorization: Bearer`. The chart is plain SVG drawn by the script below; no framework.
 */

export const DASHBOARD_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>imagegate · admin</title>
<meta name="imagegate-base-path" content="{{basePath}}">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/_admin/dashboard.css">
<script src="/_admin/dashboard.js" defer></script>
</head>
<body>
<header>
  <h1>imagegate <span>admin</span></h1>
  <form id="token-form" autocomplete="off">
    <label>Admin token <input id="token" type="password" placeholder="Bearer token from admin: in the config"></label>
    <button type="submit">Use token</button>
    <button type="button" id="forget">Forget</button>
    <span id="auth-status" class="muted"></span>
  </form>
</header>
<main>
  <section id="usage">
    <h2>Usage per key per day</h2>
    <form id="usage-form" class="row">
      <label>From <input id="from" type="date"></label>
      <label>To <input id="to" type="date"></label>
      <label>Key <input id="key" placeholder="all keys" size="12"></label>
      <label>Show <select id="metric">
        <option value="requests">requests</option>
        <option value="bytes">bytes sent</option>
        <option value="transformations">transformations</option>
        <option value="cacheHits">cache hits</option>
        <option value="signed">signed requests</option>
        <option value="4xx">4xx responses</option>
        <option value="5xx">5xx responses</option>
      </select></label>
      <button type="submit">Refresh</button>
    </form>
    <div id="chart" class="chart" aria-live="polite"></div>
    <p id="usage-totals" class="muted"></p>
  </section>

  <section id="live">
    <h2>This process <span id="window" class="muted"></span></h2>
    <div class="cards">
      <div class="card"><div class="label">Requests</div><div class="value" id="s-requests">–</div></div>
      <div class="card"><div class="label">Cache hit ratio</div><div class="value" id="s-hit">–</div><div class="sub" id="s-hit-sub"></div></div>
      <div class="card"><div class="label">Latency p50 / p90 / p99</div><div class="value" id="s-lat">–</div><div class="sub" id="s-lat-sub"></div></div>
      <div class="card"><div class="label">In flight / queued</div><div class="value" id="s-queue">–</div><div class="sub" id="s-queue-sub"></div></div>
      <div class="card"><div class="label">Status</div><div class="value small" id="s-status">–</div></div>
    </div>
    <h3>Access per source</h3>
    <table id="access"><thead><tr><th>Source</th><th class="num">X-API-Key</th><th class="num">Signed</th><th class="num">Anonymous</th><th class="num">Refused</th></tr></thead><tbody></tbody></table>
    <h3>Top paths</h3>
    <table id="top-paths"><thead><tr><th>Path</th><th class="num">Requests</th><th class="num">p50 ms</th><th class="num">Errors</th></tr></thead><tbody></tbody></table>
  </section>

  <section id="playground">
    <h2>Playground</h2>
    <form id="play-form" class="row" autocomplete="off">
      <label class="grow">Path <input id="p-path" placeholder="products/shoe.jpg" required></label>
      <label class="grow">Parameters <input id="p-params" placeholder="w=400&amp;auto=format" value="w=400&amp;auto=format"></label>
      <label>API key <input id="p-key" type="password" placeholder="X-API-Key"></label>
      <button type="submit">Render</button>
    </form>
    <div class="row"><input id="p-url" class="grow" readonly aria-label="Image URL"><button type="button" id="p-copy">Copy URL</button></div>
    <p id="p-meta" class="muted"></p>
    <div id="p-frame" class="frame"><img id="p-img" alt=""></div>
  </section>
</main>
</body>
</html>
`;

export const DASHBOARD_CSS = String.raw`
:root { --fg: #1d2330; --muted: #6b7385; --line: #e3e6ec; --bg: #f6f7f9; --card: #fff; --accent: #2f6fde; --bad: #c23b3b; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; gap: 12px 24px; align-items: center; justify-content: space-between; padding: 12px 24px; background: #1d2330; color: #fff; }
header h1 { margin: 0; font-size: 18px; } header h1 span { font-weight: 400; opacity: .7; }
header input { width: 260px; }
main { padding: 16px 24px 40px; display: grid; gap: 20px; max-width: 1200px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; }
h2 { margin: 0 0 12px; font-size: 16px; } h3 { font-size: 14px; margin: 18px 0 8px; }
.row { display: flex; flex-wrap: wrap; gap: 8px 12px; align-items: flex-end; margin-bottom: 10px; }
.grow { flex: 1 1 220px; display: flex; flex-direction: column; } .grow input { width: 100%; }
label { display: inline-flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: 2px; }
header label { color: #c9cfdb; flex-direction: row; align-items: center; gap: 8px; }
input, select, button { font: inherit; padding: 5px 8px; border: 1px solid #c8cdd8; border-radius: 5px; background: #fff; color: var(--fg); }
button { background: var(--accent); border-color: var(--accent); color: #fff; cursor: pointer; }
button[type=button]#forget { background: transparent; color: #c9cfdb; border-color: #4a5366; }
.muted { color: var(--muted); } header .muted { color: #c9cfdb; }
.error { color: var(--bad); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 10px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
.card .label { font-size: 12px; color: var(--muted); } .card .value { font-size: 20px; font-weight: 600; white-space: nowrap; } .card .value.small { font-size: 14px; white-space: normal; }
.card .sub { font-size: 12px; color: var(--muted); }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; } td.path { font-family: ui-monospace, monospace; word-break: break-all; }
.chart svg { width: 100%; height: auto; display: block; }
.chart .axis { stroke: #9aa3b5; } .chart .grid { stroke: var(--line); }
.chart text { font-size: 11px; fill: var(--muted); } .chart text.bar-label { fill: var(--fg); font-weight: 600; }
.frame { background: repeating-conic-gradient(#eee 0% 25%, #fff 0% 50%) 50% / 16px 16px; border: 1px solid var(--line); border-radius: 6px; padding: 8px; overflow: auto; max-height: 70vh; }
.frame img { display: block; max-width: 100%; }
#p-url { font-family: ui-monospace, monospace; font-size: 12px; }
`;

export const DASHBOARD_JS = String.raw`'use strict';
(function () {
  var TOKEN_KEY = 'imagegate.adminToken';
  var API_KEY = 'imagegate.apiKey';
  var PALETTE = ['#2f6fde', '#e07b39', '#3aa676', '#b04fc6', '#d4a72c', '#4bb3c9', '#c94b6d', '#6d7fa3'];
  var SVG_NS = 'http://www.w3.org/2000/svg';
  var baseMeta = document.querySelector('meta[name="imagegate-base-path"]');
  var info = { basePath: baseMeta ? baseMeta.getAttribute('content') : '' };
  var objectUrl = null;

  function $(id) { return document.getElementById(id); }
  function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }
  function fmtInt(n) { return Number(n).toLocaleString('en-US'); }
  function fmtBytes(n) {
    if (n < 1024) return n + ' B';
    if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
    return (n / 1048576).toFixed(2) + ' MiB';
  }
  function fmtMs(v) { return v >= 10 ? String(Math.round(v)) : String(v); }
  function isoDay(d) { return d.toISOString().slice(0, 10); }
  function setText(id, text, cls) { var el = $(id); el.textContent = text; if (cls !== undefined) el.className = cls; }

  function api(path) {
    return fetch(path, { headers: { Authorization: 'Bearer ' + token() }, cache: 'no-store' }).then(function (res) {
      if (res.status === 401 || res.status === 403) {
        setText('auth-status', 'token refused (' + res.status + ')', 'error');
        throw new Error('unauthorized');
      }
      return res.json().then(function (body) {
        if (!res.ok) throw new Error(body && body.message ? body.message : 'HTTP ' + res.status);
        setText('auth-status', 'signed in', 'muted');
        return body;
      });
    });
  }

  // ---- usage chart -------------------------------------------------------------------------
  function metricOf(rec, metric) {
    if (metric === '4xx' || metric === '5xx') return rec.responses ? rec.responses[metric] : 0;
    return rec[metric] || 0;
  }

  function days(from, to) {
    var out = [];
    var d = new Date(from + 'T00:00:00Z');
    var end = new Date(to + 'T00:00:00Z');
    while (d <= end && out.length < 400) { out.push(isoDay(d)); d = new Date(d.getTime() + 86400000); }
    return out;
  }

  function el(name, attrs, text) {
    var e = document.createElementNS(SVG_NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  /** A round step so that 4 or 5 grid lines cover v; integer steps for counts. */
  function niceStep(v, integer) {
    if (v <= 0) return 1;
    var raw = v / 4;
    var p = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      var st = steps[i] * p;
      if (integer && st < 1) continue;
      if (integer && st % 1 !== 0) continue;
      if (st >= raw) return st;
    }
    return 10 * p;
  }

  /** Grouped bars: one group per day, one bar per key, the value written above each bar. */
  function drawChart(report, metric, from, to) {
    var holder = $('chart');
    holder.textContent = '';
    var dayList = days(from, to);
    var keys = [];
    var values = {};
    (report.records || []).forEach(function (r) {
      if (keys.indexOf(r.key) < 0) keys.push(r.key);
      values[r.key + '|' + r.date] = metricOf(r, metric);
    });
    keys.sort();
    var W = 960, H = 300, L = 56, R = 12, T = 24, B = 44;
    var svg = el('svg', { viewBox: '0 0 ' + W + ' ' + (H + (keys.length ? 24 : 0)), role: 'img', 'aria-label': 'Usage per key per day: ' + metric, 'data-metric': metric });
    var max = 0;
    for (var v in values) max = Math.max(max, values[v]);
    var step = niceStep(max, metric !== 'bytes');
    var lines = Math.max(1, Math.ceil(max / step));
    var top = step * lines;
    var plotW = W - L - R, plotH = H - T - B;
    for (var g = 0; g <= lines; g++) {
      var gy = T + plotH - (plotH * g) / lines;
      svg.appendChild(el('line', { x1: L, x2: W - R, y1: gy, y2: gy, class: 'grid' }));
      var gv = step * g;
      svg.appendChild(el('text', { x: L - 6, y: gy + 4, 'text-anchor': 'end' }, metric === 'bytes' ? fmtBytes(gv) : fmtInt(Math.round(gv * 100) / 100)));
    }
    svg.appendChild(el('line', { x1: L, x2: W - R, y1: T + plotH, y2: T + plotH, class: 'axis' }));
    var groupW = plotW / Math.max(1, dayList.length);
    var barW = Math.max(2, Math.min(36, (groupW * 0.8) / Math.max(1, keys.length)));
    var labelEvery = Math.ceil(dayList.length / 16);
    dayList.forEach(function (day, i) {
      var gx = L + i * groupW + (groupW - barW * keys.length) / 2;
      keys.forEach(function (key, k) {
        var value = values[key + '|' + day] || 0;
        var h = (plotH * value) / top;
        var x = gx + k * barW;
        var y = T + plotH - h;
        var bar = el('rect', { x: x + 1, y: y, width: Math.max(1, barW - 2), height: Math.max(0, h), fill: PALETTE[k % PALETTE.length], class: 'bar', 'data-key': key, 'data-date': day, 'data-value': value });
        bar.appendChild(el('title', {}, key + ' · ' + day + ': ' + (metric === 'bytes' ? fmtBytes(value) : fmtInt(value))));
        svg.appendChild(bar);
        if (value > 0) {
          svg.appendChild(el('text', { x: x + barW / 2, y: y - 4, 'text-anchor': 'middle', class: 'bar-label', 'data-key': key, 'data-date': day }, metric === 'bytes' ? fmtBytes(value) : fmtInt(value)));
        }
      });
      if (i % labelEvery === 0) svg.appendChild(el('text', { x: L + i * groupW + groupW / 2, y: T + plotH + 16, 'text-anchor': 'middle', class: 'day-label' }, day.slice(5)));
    });
    keys.forEach(function (key, k) {
      var lx = L + k * 130;
      svg.appendChild(el('rect', { x: lx, y: H + 6, width: 12, height: 12, fill: PALETTE[k % PALETTE.length] }));
      svg.appendChild(el('text', { x: lx + 18, y: H + 16, class: 'legend', 'data-key': key }, key));
    });
    if (!keys.length) svg.appendChild(el('text', { x: L + plotW / 2, y: T + plotH / 2, 'text-anchor': 'middle' }, 'no usage recorded in this range'));
    holder.appendChild(svg);
    var t = report.totals || {};
    setText('usage-totals', 'Totals ' + report.from + ' … ' + report.to + ': ' + fmtInt(t.requests || 0) + ' requests, ' + fmtBytes(t.bytes || 0) + ' sent, ' +
      fmtInt(t.transformations || 0) + ' transformations, ' + fmtInt(t.cacheHits || 0) + ' cache hits' +
      (t.rateLimited || t.quotaExceeded ? ', ' + fmtInt(t.rateLimited || 0) + ' rate-limited, ' + fmtInt(t.quotaExceeded || 0) + ' over quota' : '') + '.');
  }

  function loadUsage() {
    var from = $('from').value, to = $('to').value, key = $('key').value.trim(), metric = $('metric').value;
    var q = '?from=' + encodeURIComponent(from) + '&to=' + encodeURIComponent(to) + (key ? '&key=' + encodeURIComponent(key) : '');
    return api('/_admin/usage' + q).then(function (report) { drawChart(report, metric, from, to); }).catch(function (e) {
      if (e.message !== 'unauthorized') setText('usage-totals', e.message, 'error');
    });
  }

  // ---- live stats ----------------------------------------------------------------------------
  function loadStats() {
    return api('/_admin/stats').then(function (s) {
      info = s;
      setText('window', '(last ' + Math.round(s.windowMs / 60000) + ' min, ' + (s.process ? s.process.pid ? 'pid ' + s.process.pid : '' : '') + ')');
      setText('s-requests', fmtInt(s.requests));
      setText('s-hit', s.cache.hitRatio === null ? '–' : (s.cache.hitRatio * 100).toFixed(1) + ' %');
      setText('s-hit-sub', fmtInt(s.cache.hits) + ' hits (' + fmtInt(s.cache.memoryHits) + ' memory, ' + fmtInt(s.cache.persistentHits) + ' persistent) · ' + fmtInt(s.cache.misses) + ' renders');
      setText('s-lat', fmtMs(s.latency.p50) + ' / ' + fmtMs(s.latency.p90) + ' / ' + fmtMs(s.latency.p99) + ' ms');
      setText('s-lat-sub', fmtInt(s.latency.count) + ' image requests · max ' + s.latency.max + ' ms');
      var q = s.queue || {};
      setText('s-queue', fmtInt(s.inFlight) + ' / ' + (q.queued === undefined ? '–' : fmtInt(q.queued)));
      setText('s-queue-sub', q.active === undefined ? 'requests in flight' : fmtInt(q.active) + ' transformations running' + (q.concurrency ? ' of ' + q.concurrency : '') + (q.capacity !== undefined ? ', queue capacity ' + q.capacity : ''));
      setText('s-status', '2xx ' + fmtInt(s.status['2xx']) + ' · 3xx ' + fmtInt(s.status['3xx']) + ' · 4xx ' + fmtInt(s.status['4xx']) + ' · 5xx ' + fmtInt(s.status['5xx']));
      var body = document.querySelector('#top-paths tbody');
      body.textContent = '';
      s.topPaths.forEach(function (p) {
        var tr = document.createElement('tr');
        [['path', p.path], ['num', fmtInt(p.count)], ['num', String(p.p50)], ['num', fmtInt(p.errors)]].forEach(function (c) {
          var td = document.createElement('td'); td.className = c[0]; td.textContent = c[1]; tr.appendChild(td);
        });
        body.appendChild(tr);
      });
      var access = document.querySelector('#access tbody');
      access.textContent = '';
      (s.access || []).forEach(function (a) {
        var tr = document.createElement('tr');
        tr.dataset.source = a.source;
        [['path', a.source], ['num', fmtInt(a.key)], ['num', fmtInt(a.signed)], ['num', fmtInt(a.anonymous)], ['num', fmtInt(a.refused)]].forEach(function (c) {
          var td = document.createElement('td'); td.className = c[0]; td.textContent = c[1]; tr.appendChild(td);
        });
        access.appendChild(tr);
      });
      if (!s.topPaths.length) {
        var tr = document.createElement('tr'); var td = document.createElement('td'); td.colSpan = 4; td.className = 'muted'; td.textContent = 'no image requests yet'; tr.appendChild(td); body.appendChild(tr);
      }
    }).catch(function () {});
  }

  // ---- playground ----------------------------------------------------------------------------
  function imageUrl() {
    var path = $('p-path').value.trim().replace(/^\/+/, '');
    var params = $('p-params').value.trim().replace(/^\?/, '');
    var encoded = path.split('/').map(function (s) { return encodeURIComponent(decodeURIComponentSafe(s)); }).join('/');
    return location.origin + (info.basePath || '') + '/' + encoded + (params ? '?' + params : '');
  }
  function decodeURIComponentSafe(s) { try { return decodeURIComponent(s); } catch (e) { return s; } }

  function render(ev) {
    if (ev) ev.preventDefault();
    var key = $('p-key').value;
    sessionStorage.setItem(API_KEY, key);
    var url = imageUrl();
    $('p-url').value = url;
    var img = $('p-img');
    img.removeAttribute('src');
    img.dataset.state = 'loading';
    setText('p-meta', 'loading…', 'muted');
    var started = performance.now();
    fetch(url, { headers: { 'X-API-Key': key }, cache: 'no-store' }).then(function (res) {
      var type = res.headers.get('content-type') || '';
      return res.blob().then(function (blob) {
        var ms = Math.round(performance.now() - started);
        if (!res.ok) {
          return blob.text().then(function (text) {
            var msg = text;
            try { var j = JSON.parse(text); msg = j.message + (j.code ? ' (' + j.code + ')' : ''); } catch (e) {}
            img.dataset.state = 'error';
            setText('p-meta', res.status + ': ' + msg, 'error');
          });
        }
        if (objectUrl) URL.revokeObjectURL(objectUrl);
        if (!/^image\//.test(type)) {
          return blob.text().then(function (text) {
            img.dataset.state = 'text';
            setText('p-meta', res.status + ' · ' + type + ' · ' + fmtBytes(blob.size) + ' · ' + ms + ' ms — ' + text.slice(0, 400), 'muted');
          });
        }
        objectUrl = URL.createObjectURL(blob);
        img.onload = function () {
          img.dataset.state = 'loaded';
          img.dataset.bytes = String(blob.size);
          img.dataset.contentType = type;
          setText('p-meta', res.status + ' · ' + img.naturalWidth + ' × ' + img.naturalHeight + ' px · ' + fmtBytes(blob.size) + ' · ' + type + ' · ' + ms + ' ms' + (res.headers.get('vary') ? ' · Vary: ' + res.headers.get('vary') : ''), 'muted');
          loadStats();
        };
        img.onerror = function () { img.dataset.state = 'error'; setText('p-meta', 'the browser could not decode ' + type, 'error'); };
        img.src = objectUrl;
      });
    }).catch(function (e) { img.dataset.state = 'error'; setText('p-meta', String(e), 'error'); });
  }

  function refreshAll() { loadStats(); loadUsage(); }

  document.addEventListener('DOMContentLoaded', function () {
    var today = new Date();
    $('to').value = isoDay(today);
    $('from').value = isoDay(new Date(today.getTime() - 13 * 86400000));
    $('token').value = token();
    $('p-key').value = sessionStorage.getItem(API_KEY) || '';
    $('token-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
      refreshAll();
    });
    $('forget').addEventListener('click', function () {
      sessionStorage.removeItem(TOKEN_KEY); sessionStorage.removeItem(API_KEY);
      $('token').value = ''; $('p-key').value = ''; setText('auth-status', 'token forgotten', 'muted');
    });
    $('usage-form').addEventListener('submit', function (ev) { ev.preventDefault(); loadUsage(); });
    $('metric').addEventListener('change', loadUsage);
    $('play-form').addEventListener('submit', render);
    $('p-copy').addEventListener('click', function () {
      var u = $('p-url'); u.select();
      if (navigator.clipboard) navigator.clipboard.writeText(u.value).catch(function () {}); else document.execCommand('copy');
    });
    if (token()) refreshAll(); else setText('auth-status', 'enter the admin token', 'muted');
    setInterval(function () { if (token() && !document.hidden) loadStats(); }, 5000);
  });
})();
`;
