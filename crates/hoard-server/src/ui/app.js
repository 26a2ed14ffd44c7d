// The dashboard of `hoard serve`: polls /v1/stats and /v1/stats/history, draws the
// figures, the charts, the namespace table and the semantic cache's namespaces (with the
// candidates each check refused), lists the model caches (/v1/models), and browses a
// namespace's keys (/v1/cache/{namespace}, a page at a time; `#keys=NS&pattern=P&view=KEY`
// in the address opens it there); with the admin token it deletes keys, one or all that
// match, and reindexes datasets. Everything is built with textContent and DOM calls (never
// by parsing HTML text), so a hostile namespace name is shown, not run.
"use strict";

const POLL_MS = 2000;
const state = {
  token: sessionStorage.getItem("hoard-token") || "",
  lastAt: null,
  samples: [],
  capacity: 720,
  namespaces: {},
  census: null,
  sort: { key: "hits", dir: -1 },
};

class Unauthorized extends Error {}

// The admin token, asked for once and kept in the tab's session storage (apart from the
// read token): with it the key browser shows delete controls, without it only reads.
const admin = { token: sessionStorage.getItem("hoard-admin-token") || "", on: false, checking: false };

// A request the server refused (401, 403) for the admin token, with the server's message.
class Refused extends Error {}

async function adminCall(method, path, body) {
  const init = { method, cache: "no-store", headers: { Authorization: "Bearer " + admin.token } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const answer = await response.json().catch(() => ({}));
  if (response.ok) return answer;
  const message = answer.message || path + " answered " + response.status;
  if (response.status === 401 || response.status === 403) throw new Refused(message);
  throw new Error(message);
}

async function api(path) {
  const headers = state.token ? { Authorization: "Bearer " + state.token } : {};
  const response = await fetch(path, { headers, cache: "no-store" });
  if (response.status === 401 || response.status === 403) throw new Unauthorized(path);
  if (!response.ok) throw new Error(path + " answered " + response.status);
  return response.json();
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? String(n) : n.toFixed(1)) + " " + units[i];
}

function duration(ms) {
  if (ms < 1000) return ms + " ms";
  const s = ms / 1000;
  if (s < 60) return s.toFixed(1) + " s";
  if (s < 3600) return (s / 60).toFixed(1) + " min";
  return (s / 3600).toFixed(1) + " h";
}

const count = (n) => Number(n).toLocaleString("en-US");
const FORMATS = { used_memory_bytes: bytes, memory_budget_bytes: bytes, compute_saved_ms: duration, hit_rate: String };

function setStatus(kind, text) {
  const status = document.getElementById("status");
  status.dataset.state = kind;
  status.textContent = text;
}

function showFigures(stats) {
  for (const output of document.querySelectorAll("[data-figure]")) {
    const name = output.dataset.figure;
    const value = stats.stats[name];
    if (value === undefined) continue;
    output.dataset.value = String(value);
    output.textContent = (FORMATS[name] || count)(value);
  }
}

function svg(name, attributes) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  return element;
}

// Lines over time in an SVG of 400 x 120 units, all on the scale of the largest value;
// null values are gaps. `series` is a list of point lists, drawn first to last, line N
// with the class `classes[N]` (default `lineN`).
// Each line's last value and its time are left on the SVG (`data-latest0`, `data-at0`,
// ...), the figure a reader (or a test) compares with the history.
function drawChart(id, series, format, classes = []) {
  const chart = document.getElementById(id);
  // The scale is written in the caption: text inside a stretched SVG would stretch too.
  const caption = chart.parentElement.querySelector("[data-max]");
  chart.replaceChildren();
  for (const key of Object.keys(chart.dataset)) delete chart.dataset[key];
  series.forEach((points, line) => {
    const last = points.filter((p) => p.y !== null).pop();
    if (last === undefined) return;
    chart.dataset["latest" + line] = String(last.y);
    chart.dataset["at" + line] = String(last.t);
  });
  const all = series.flat();
  const known = all.filter((p) => p.y !== null);
  if (known.length < 2) {
    caption.textContent = "(waiting for samples)";
    return;
  }
  const t0 = Math.min(...all.map((p) => p.t)), t1 = Math.max(...all.map((p) => p.t));
  const most = Math.max(...known.map((p) => p.y));
  // All zero: the lines lie on the axis, and the caption says 0.
  const top = most || 1;
  const x = (t) => ((t - t0) / Math.max(t1 - t0, 1)) * 400;
  const y = (v) => 116 - (v / top) * 100;
  series.forEach((points, line) => {
    const kind = classes[line] || "line" + line;
    let run = [];
    const flush = () => {
      if (run.length > 1) chart.append(svg("polyline", { points: run.join(" "), class: kind }));
      // A value alone between gaps is a dot, not nothing.
      if (run.length === 1) {
        const [cx, cy] = run[0].split(",");
        chart.append(svg("circle", { cx, cy, r: 2.5, class: kind }));
      }
      run = [];
    };
    for (const p of points) {
      if (p.y === null) flush();
      else run.push(x(p.t).toFixed(1) + "," + y(p.y).toFixed(1));
    }
    flush();
  });
  caption.textContent = "(max " + format(most) + ")";
}

// Rates from the differences of consecutive samples; a server restart (counts going
// down) leaves a gap.
function drawCharts() {
  const rates = [];
  for (let i = 1; i < state.samples.length; i++) {
    const a = state.samples[i - 1], b = state.samples[i];
    const seconds = (b.at_ms - a.at_ms) / 1000;
    const hits = b.l1_hits + b.l2_hits - a.l1_hits - a.l2_hits;
    const misses = b.misses - a.misses;
    const ops = hits + misses + (b.sets - a.sets) + (b.deletes - a.deletes);
    const valid = seconds > 0 && hits >= 0 && misses >= 0 && ops >= 0;
    // The semantic cache's, when the server has one (null counts without).
    const lookups = b.semantic_lookups - a.semantic_lookups;
    const found = b.semantic_hits - a.semantic_hits;
    const semantic = a.semantic_lookups != null && b.semantic_lookups != null && seconds > 0 &&
      lookups > 0 && found >= 0 ? found / lookups : null;
    // Evictions and expirations: counts that only grow while the server runs.
    const perSecond = (field) => {
      const n = b[field] - a[field];
      return seconds > 0 && n >= 0 ? n / seconds : null;
    };
    rates.push({
      t: b.at_ms,
      hitRate: valid && hits + misses > 0 ? hits / (hits + misses) : null,
      ops: valid ? ops / seconds : null,
      semantic,
      evictions: perSecond("evictions"),
      expirations: perSecond("expirations"),
    });
  }
  const percent = (v) => (v * 100).toFixed(0) + "%";
  const over = (pick) => state.samples.map((s) => ({ t: s.at_ms, y: pick(s) }));
  const micros = (v) => (v < 1000 ? v.toFixed(0) + " µs" : (v / 1000).toFixed(1) + " ms");
  drawChart("chart-hit-rate", [rates.map((r) => ({ t: r.t, y: r.hitRate })),
    rates.map((r) => ({ t: r.t, y: r.semantic }))], percent);
  const rate = (v) => v.toFixed(1) + "/s";
  drawChart("chart-ops", [rates.map((r) => ({ t: r.t, y: r.ops }))], rate);
  drawChart("chart-latency", [over((s) => s.p50_us ?? null), over((s) => s.p99_us ?? null)], micros);
  drawChart("chart-memory", [over((s) => s.used_memory_bytes), over((s) => s.memory_budget_bytes ?? null)],
    bytes, ["line0", "budget"]);
  drawChart("chart-keys", [over((s) => s.total_keys)], count);
  drawChart("chart-removals", [rates.map((r) => ({ t: r.t, y: r.evictions })),
    rates.map((r) => ({ t: r.t, y: r.expirations }))], rate);
}

// A namespace's row: this server's counts since it started, and what the last census of
// the stored keys found (a namespace another process wrote has a census and no counts).
function namespaceRows() {
  const counted = state.census ? state.census.namespaces : {};
  const names = new Set([...Object.keys(state.namespaces), ...Object.keys(counted)]);
  return [...names].map((name) => {
    const ns = state.namespaces[name] || { hits: 0, misses: 0, hit_rate: 0, sets: 0, deletes: 0 };
    const held = counted[name] || { keys: 0, bytes: 0 };
    return { name, ...ns, keys: state.census ? held.keys : null, bytes_held: state.census ? held.bytes : null };
  });
}

function drawNamespaces() {
  const { key, dir } = state.sort;
  const rows = namespaceRows();
  rows.sort((a, b) => {
    const order = key === "name" ? a.name.localeCompare(b.name) : (a[key] || 0) - (b[key] || 0);
    return order * dir || a.name.localeCompare(b.name);
  });
  const names = rows.map((ns) => {
    const option = document.createElement("option");
    option.value = ns.name;
    return option;
  });
  document.getElementById("namespace-names").replaceChildren(...names);
  const body = document.querySelector("#namespaces tbody");
  const held = (n, show) => (n === null ? "–" : show(n));
  body.replaceChildren(...rows.map((ns) => row([ns.name, count(ns.hits), count(ns.misses),
    (ns.hit_rate * 100).toFixed(1) + "%", held(ns.keys, count), held(ns.bytes_held, bytes),
    count(ns.sets), count(ns.deletes), duration(ns.compute_saved_ms || 0)],
  ns.keys === null ? { namespace: ns.name } : { namespace: ns.name, keys: ns.keys, bytes: ns.bytes_held })));
  const census = state.census;
  document.getElementById("census-at").textContent = census
    ? "(keys and bytes as of " + new Date(census.at_ms).toLocaleTimeString() + ", counted in " +
      duration(census.took_ms) + ")"
    : "(keys and bytes: counting…)";
  for (const th of document.querySelectorAll("#namespaces th")) {
    const sorted = th.dataset.sort === key;
    if (sorted) th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
    else th.removeAttribute("aria-sort");
  }
}

// The checks that turn a semantic candidate down, in the order a lookup runs them (the
// order of `refusals` in /v1/stats).
const GUARDS = ["feedback", "numbers", "dates", "negation", "entities", "scope", "references", "verifier"];
const share = (part, whole) => (whole > 0 ? ((part / whole) * 100).toFixed(1) + "%" : "–");

// The semantic cache's namespaces, or that the server has none (`semantic` absent).
function drawSemantic(semantic) {
  const on = semantic !== undefined && semantic !== null;
  document.getElementById("semantic-off").hidden = on;
  document.getElementById("semantic").hidden = !on;
  document.getElementById("semantic-key").hidden = !on;
  const total = document.getElementById("semantic-total");
  if (!on) {
    total.textContent = "";
    return;
  }
  const t = semantic.totals;
  const refused = (r) => GUARDS.reduce((sum, guard) => sum + (r[guard] || 0), 0);
  total.textContent = "(" + count(t.entries) + " entries, " + share(t.hits, t.lookups) + " of " +
    count(t.lookups) + " lookups hit, " + count(refused(t.refusals)) + " candidates refused)";
  const rows = Object.entries(semantic.namespaces);
  rows.sort(([a, x], [b, y]) => y.lookups - x.lookups || a.localeCompare(b));
  document.querySelector("#semantic tbody").replaceChildren(...rows.map(([name, ns]) => {
    const tr = row([name, count(ns.entries), count(ns.lookups), count(ns.hits), count(ns.misses),
      share(ns.hits, ns.lookups), count(ns.stores)],
    { semantic: name, entries: ns.entries, lookups: ns.lookups, hits: ns.hits, misses: ns.misses, stores: ns.stores });
    for (const guard of GUARDS) {
      const n = ns.refusals[guard] || 0;
      const td = document.createElement("td");
      td.textContent = count(n);
      td.dataset.refused = guard;
      td.dataset.count = n;
      if (n === 0) td.className = "zero";
      tr.append(td);
    }
    return tr;
  }));
}

// The key browser: one namespace and pattern at a time, pages appended as asked for.
const browser = { namespace: "", pattern: "*", cursor: null, listed: false };
const entryPath = (...parts) => "/v1/cache/" + parts.map(encodeURIComponent).join("/");

async function listKeys(more) {
  const body = document.querySelector("#keys tbody");
  const status = document.getElementById("keys-status");
  if (!more) {
    browser.cursor = null;
    browser.listed = false;
    body.replaceChildren();
    document.getElementById("key-value").hidden = true;
    document.getElementById("keys-confirm").hidden = true;
    status.textContent = "listing…";
  }
  const query = new URLSearchParams({ pattern: browser.pattern, limit: "100" });
  if (browser.cursor) query.set("cursor", browser.cursor);
  try {
    const page = await api(entryPath(browser.namespace) + "?" + query);
    for (const info of page.keys) {
      const tr = row([info.key, tagsText(info), bytes(info.bytes), duration(info.ttl_ms),
        duration(info.compute_ms)], { key: info.key });
      tr.addEventListener("click", () => viewKey(info.key));
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "danger";
      remove.textContent = "delete";
      remove.dataset.delete = info.key;
      remove.hidden = remove.disabled = !admin.on;
      remove.addEventListener("click", (event) => {
        event.stopPropagation();
        deleteKey(info.key, tr);
      });
      const td = document.createElement("td");
      td.append(remove);
      tr.append(td);
      body.append(tr);
    }
    browser.cursor = page.cursor;
    browser.listed = true;
    document.getElementById("keys-more").hidden = page.cursor === null;
    showKeyCount();
  } catch (error) {
    browser.listed = false;
    status.textContent = "listing failed: " + error.message;
  }
  showAdmin();
}

// An entry's tags, then the keys it depends on (marked, so they read as keys, not tags).
const tagsText = (info) =>
  [...(info.tags || []), ...(info.depends_on || []).map((key) => "depends on " + key)].join(", ");

const keysText = (n) => count(n) + (n === 1 ? " key" : " keys");

function showKeyCount() {
  const listed = document.querySelector("#keys tbody").children.length;
  document.getElementById("keys-status").textContent =
    keysText(listed) + (browser.cursor === null ? "" : " so far");
}

function adminStatus(kind, text) {
  const status = document.getElementById("admin-status");
  status.dataset.state = kind;
  status.textContent = text;
}

// Shows the delete controls only while an accepted admin token is held.
function showAdmin() {
  document.getElementById("admin-form").hidden = admin.on;
  document.getElementById("admin-on").hidden = !admin.on;
  const all = document.getElementById("keys-delete-all");
  all.hidden = all.disabled = !admin.on || !browser.listed;
  if (!admin.on) document.getElementById("keys-confirm").hidden = true;
  for (const button of document.querySelectorAll("[data-delete]")) {
    button.hidden = button.disabled = !admin.on;
  }
  for (const button of document.querySelectorAll("[data-reindex]")) {
    button.hidden = !admin.on;
    button.disabled = !admin.on || reindexing.has(button.dataset.reindex);
  }
}

function forgetAdmin() {
  admin.token = "";
  admin.on = false;
  sessionStorage.removeItem("hoard-admin-token");
  showAdmin();
}

// What a failed delete or check says; a refused token is forgotten (asked for again).
function adminFailed(error) {
  if (error instanceof Refused) {
    forgetAdmin();
    adminStatus("refused", "admin token refused: " + error.message);
  } else if (error instanceof TypeError) {
    adminStatus("failed", "no answer from the server: " + error.message);
  } else {
    adminStatus("failed", error.message);
  }
}

// Whether the server takes the token as admin: invalidating no tags is an admin request
// that changes nothing. (Single deletes need only the write scope, which is open on a
// server without read or write tokens: they alone would accept any token there.)
async function checkAdmin() {
  admin.checking = true;
  try {
    await adminCall("POST", "/v1/invalidate", { tags: [] });
    admin.on = true;
    sessionStorage.setItem("hoard-admin-token", admin.token);
    adminStatus("ok", "admin token accepted");
    showAdmin();
  } catch (error) {
    adminFailed(error);
  } finally {
    admin.checking = false;
  }
}

async function deleteKey(key, tr) {
  try {
    const answer = await adminCall("DELETE", entryPath(browser.namespace, key));
    tr.remove();
    const shown = document.getElementById("key-value");
    if (shown.dataset.key === key) shown.hidden = true;
    showKeyCount();
    adminStatus("deleted", "deleted " + key + (answer.deleted ? "" : " (it had already gone)"));
  } catch (error) {
    adminFailed(error);
  }
}

// The admin route deletes by a glob over full keys (`namespace:key`): the namespace goes
// in escaped, so the pattern selects the listed namespace's keys and no other's.
const globLiteral = (text) => text.replace(/[\\*?[\]]/g, "\\$&");

function confirmDeleteAll() {
  const listed = document.querySelector("#keys tbody").children.length;
  const known = (browser.cursor === null ? "" : "at least ") + keysText(listed);
  document.getElementById("keys-confirm-text").textContent = "delete " + known + " of " +
    JSON.stringify(browser.namespace) + " matching " + JSON.stringify(browser.pattern) + "?";
  document.getElementById("keys-confirm").hidden = false;
}

async function deleteAll() {
  document.getElementById("keys-confirm").hidden = true;
  const { namespace, pattern } = browser;
  const query = new URLSearchParams({ pattern: globLiteral(namespace) + ":" + pattern });
  try {
    const answer = await adminCall("DELETE", "/v1/cache?" + query);
    await listKeys(false);
    adminStatus("deleted", "deleted " + keysText(answer.deleted) + " of " + JSON.stringify(namespace) +
      " matching " + JSON.stringify(pattern));
  } catch (error) {
    adminFailed(error);
  }
}

async function viewKey(key) {
  const shown = document.getElementById("key-value");
  try {
    const value = await api(entryPath(browser.namespace, key));
    shown.textContent = key + "\n" + JSON.stringify(value, null, 2);
  } catch (error) {
    shown.textContent = key + ": " + error.message;
  }
  shown.dataset.key = key;
  shown.hidden = false;
}

function openKeys(namespace, pattern) {
  browser.namespace = namespace;
  browser.pattern = pattern || "*";
  document.getElementById("keys-namespace").value = browser.namespace;
  document.getElementById("keys-pattern").value = browser.pattern;
  return listKeys(false);
}

function row(cells, attributes = {}) {
  const tr = document.createElement("tr");
  Object.assign(tr.dataset, attributes);
  for (const text of cells) {
    const td = document.createElement("td");
    td.textContent = text;
    tr.append(td);
  }
  return tr;
}

// The datasets and model stores: walks of folders on the server, so every 30 s, not
// every poll (and at the next poll again after one that failed).
const FOLDERS_EVERY = 15;
let pollsSinceFolders = FOLDERS_EVERY;

async function refreshFolders() {
  if (pollsSinceFolders++ < FOLDERS_EVERY) return;
  await refreshDatasets();
  const models = await api("/v1/models");
  document.getElementById("models-total").textContent =
    "(" + count(models.totals.items) + " items, " + bytes(models.totals.bytes) + ")";
  document.querySelector("#stores tbody").replaceChildren(...models.stores.map((s) =>
    row([s.store, s.folder || "", count(s.items), bytes(s.bytes)], { store: s.store, bytes: s.bytes })));
  document.querySelector("#models tbody").replaceChildren(...models.items.map((m) =>
    row([m.id, m.store, count(m.revisions), bytes(m.size),
      m.last_accessed_ms ? new Date(m.last_accessed_ms).toLocaleString() : ""], { model: m.id })));
  pollsSinceFolders = 1;
}

// Reindexing (admin): the datasets being rebuilt, and what the last rebuild of each said,
// kept apart from the cards, which every refresh draws again.
const reindexing = new Set();
const reindexed = new Map();

function reindexStatus(id, kind, text) {
  reindexed.set(id, { kind, text });
  for (const status of document.querySelectorAll("[data-reindex-status]")) {
    if (status.dataset.reindexStatus !== id) continue;
    status.dataset.state = kind;
    status.textContent = text;
  }
}

// `POST /datasets/reindex` rebuilds the manifest whatever the folder's version says; the
// answer is the new version and what the build did, then the card is drawn again.
async function reindex(id) {
  reindexing.add(id);
  reindexStatus(id, "running", "reindexing…");
  showAdmin();
  let answer = null;
  try {
    answer = await adminCall("POST", "/datasets/reindex", { id });
  } catch (error) {
    reindexStatus(id, "failed", "reindex failed: " + error.message);
    adminFailed(error);
  }
  reindexing.delete(id);
  if (answer !== null) {
    reindexStatus(id, "done", "reindexed: version " + answer.version + ", " + count(answer.files) +
      " files (" + count(answer.probed) + " probed, " + count(answer.reused) + " reused, " +
      count(answer.hashed) + " hashed) in " + duration(Math.round(answer.elapsed)));
    try {
      await refreshDatasets();
    } catch (error) {
      // The next poll draws them.
      pollsSinceFolders = FOLDERS_EVERY;
    }
  }
  showAdmin();
}

// One card per configured dataset: its totals and its label distribution as bars (SVG
// rectangles: the policy allows no inline styles), and with the admin token a button that
// rebuilds its manifest.
function datasetCard(info, summary) {
  const card = document.createElement("div");
  card.className = "dataset";
  card.dataset.dataset = info.id;
  const title = document.createElement("h3");
  title.textContent = info.id + " ";
  const version = document.createElement("span");
  version.className = "muted";
  version.textContent = info.version;
  title.append(version);
  const totals = document.createElement("p");
  totals.dataset.total = info.total;
  totals.textContent = info.error ? info.error : count(info.total) + " files, " + bytes(info.total_bytes) +
    ", " + duration(Math.round(info.total_duration * 1000)) + (info.errors ? ", " + count(info.errors) + " unreadable" : "");
  card.append(title, totals);
  const tools = document.createElement("p");
  tools.className = "reindex";
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = "reindex";
  button.dataset.reindex = info.id;
  button.hidden = !admin.on;
  button.disabled = !admin.on || reindexing.has(info.id);
  button.addEventListener("click", () => reindex(info.id));
  const status = document.createElement("span");
  status.className = "reindex-status";
  status.dataset.reindexStatus = info.id;
  const last = reindexed.get(info.id);
  if (last) {
    status.dataset.state = last.kind;
    status.textContent = last.text;
  }
  tools.append(button, status);
  card.append(tools);
  const labels = Object.entries((summary && summary.label_counts) || {});
  if (labels.length) {
    const most = Math.max(...labels.map(([, n]) => n));
    const table = document.createElement("table");
    for (const [label, n] of labels) {
      const tr = row([label, count(n)], { label, count: n });
      const bar = svg("svg", { viewBox: "0 0 100 10", preserveAspectRatio: "none", class: "bar" });
      bar.append(svg("rect", { x: 0, y: 0, height: 10, width: ((n / most) * 100).toFixed(1) }));
      const td = document.createElement("td");
      td.append(bar);
      tr.append(td);
      table.append(tr);
    }
    card.append(table);
  }
  return card;
}

async function refreshDatasets() {
  const list = await api("/datasets");
  const cards = [];
  for (const info of list.datasets) {
    let summary = null;
    if (!info.error) {
      try {
        summary = await api("/datasets/summary?id=" + encodeURIComponent(info.id));
      } catch (error) {
        // One dataset that cannot be summed up is that card's problem, not the server's.
        if (error instanceof Unauthorized) throw error;
        info.error = "its summary could not be read: " + error.message;
      }
    }
    cards.push(datasetCard(info, summary));
  }
  document.getElementById("datasets").replaceChildren(...cards);
}

async function poll() {
  try {
    // Datasets first: reading their manifests is a cache read, which the figures then count.
    await refreshFolders();
    const since = state.lastAt === null ? "" : "?since=" + state.lastAt;
    const [stats, history] = await Promise.all([api("/v1/stats"), api("/v1/stats/history" + since)]);
    showFigures(stats);
    state.namespaces = stats.namespaces || {};
    state.census = stats.census || null;
    drawNamespaces();
    drawSemantic(stats.semantic);
    state.capacity = history.capacity;
    state.samples.push(...history.samples);
    state.samples.splice(0, Math.max(0, state.samples.length - state.capacity));
    if (state.samples.length) state.lastAt = state.samples[state.samples.length - 1].at_ms;
    drawCharts();
    document.getElementById("token-form").hidden = true;
    setStatus("live", stats.message || "live");
    // A token that could not be checked (no answer then) is checked once the server answers.
    if (admin.token && !admin.on && !admin.checking) checkAdmin();
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (error) {
    if (error instanceof Unauthorized) {
      document.getElementById("token-form").hidden = false;
      setStatus("unauthorized", "this server needs a read token");
    } else {
      setStatus("unreachable", "server unreachable; retrying");
    }
  }
}

document.getElementById("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.token = document.getElementById("token").value.trim();
  sessionStorage.setItem("hoard-token", state.token);
  poll();
});
for (const th of document.querySelectorAll("#namespaces th")) {
  th.addEventListener("click", () => {
    const key = th.dataset.sort;
    state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : key === "name" ? 1 : -1 };
    drawNamespaces();
  });
}
document.getElementById("keys-form").addEventListener("submit", (event) => {
  event.preventDefault();
  openKeys(document.getElementById("keys-namespace").value.trim(),
    document.getElementById("keys-pattern").value);
});
document.getElementById("keys-more").addEventListener("click", () => listKeys(true));
document.getElementById("admin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("admin-token");
  const token = input.value.trim();
  input.value = "";
  // A header carries printable ASCII only; anything else is no token the server has.
  if (!/^[\x21-\x7e]+$/.test(token)) {
    adminStatus("refused", "an admin token is printable ASCII without spaces");
    return;
  }
  admin.token = token;
  checkAdmin();
});
document.getElementById("admin-forget").addEventListener("click", () => {
  forgetAdmin();
  adminStatus("", "admin token forgotten");
});
document.getElementById("keys-delete-all").addEventListener("click", confirmDeleteAll);
document.getElementById("keys-confirm-yes").addEventListener("click", deleteAll);
document.getElementById("keys-confirm-no").addEventListener("click", () => {
  document.getElementById("keys-confirm").hidden = true;
});
document.getElementById("semantic-guards").append(...GUARDS.map((guard) => {
  const th = document.createElement("th");
  th.textContent = guard;
  return th;
}));
showAdmin();
if (admin.token) checkAdmin();
{
  const asked = new URLSearchParams(location.hash.slice(1));
  if (asked.get("keys")) {
    openKeys(asked.get("keys"), asked.get("pattern")).then(() => {
      if (asked.get("view")) viewKey(asked.get("view"));
    });
  }
}
poll();
setInterval(poll, POLL_MS);
