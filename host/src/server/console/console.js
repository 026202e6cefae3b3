// hookgate console: reads the admin API with the master key typed in (kept in this tab's
// sessionStorage only) and writes everything it shows as text, never as HTML.
"use strict";

const POLL_MS = 2000;
const HISTORY_MS = 10 * 60 * 1000;
const state = { key: sessionStorage.getItem("hookgate-key"), lastEvent: 0, history: new Map(), timer: null };

const $ = (id) => document.getElementById(id);

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

async function api(method, path, body, contentType) {
  const headers = { Authorization: "Bearer " + state.key };
  if (contentType) headers["Content-Type"] = contentType;
  const response = await fetch(path, { method, headers, body });
  const text = await response.text();
  let json = null;
  try { json = JSON.parse(text); } catch (_) { /* /metrics is text */ }
  if (!response.ok) {
    const message = json && json.error ? json.error.message : text || response.statusText;
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return json === null ? text : json;
}

// --- /metrics (Prometheus text) into per-plugin, per-hook figures ---------------------

function parseMetrics(text) {
  const series = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels = {};
    for (const pair of (match[2] || "").matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2];
    series.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return series;
}

function hookFigures(series) {
  const figures = new Map();
  const entry = (plugin, hook) => {
    const key = plugin + "\u0000" + hook;
    if (!figures.has(key)) figures.set(key, { plugin, hook, calls: 0, buckets: [], fuel: 0, rejections: 0, faults: {} });
    return figures.get(key);
  };
  for (const { name, labels, value } of series) {
    if (!labels.plugin || !labels.hook) continue;
    const figure = entry(labels.plugin, labels.hook);
    if (name === "hookgate_plugin_hook_duration_seconds_count") figure.calls = value;
    else if (name === "hookgate_plugin_hook_duration_seconds_bucket") figure.buckets.push([Number(labels.le === "+Inf" ? Infinity : labels.le), value]);
    else if (name === "hookgate_plugin_fuel_consumed_total") figure.fuel = value;
    else if (name === "hookgate_plugin_rejections_total") figure.rejections = value;
    else if (name === "hookgate_plugin_faults_total") figure.faults[labels.kind] = (figure.faults[labels.kind] || 0) + value;
  }
  return [...figures.values()].sort((a, b) => (a.plugin + a.hook).localeCompare(b.plugin + b.hook));
}

// The upper bound of the bucket holding quantile `q`: "at most this long".
function quantile(buckets, count, q) {
  if (!count) return null;
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  for (const [le, cumulative] of sorted) if (cumulative >= q * count) return le;
  return Infinity;
}

function duration(seconds) {
  if (seconds === null) return "–";
  if (seconds === Infinity) return "> max";
  return seconds < 0.001 ? "≤ " + Math.round(seconds * 1e6) + " µs" : "≤ " + (seconds * 1000).toFixed(seconds < 0.01 ? 1 : 0) + " ms";
}

function sparkline(points) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", "0 0 120 24");
  if (points.length > 1) {
    const max = Math.max(1e-9, ...points.map((p) => p[1]));
    const t0 = points[0][0], span = Math.max(1, points[points.length - 1][0] - t0);
    const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", points.map(([t, v]) => `${((t - t0) / span * 118 + 1).toFixed(1)},${(23 - v / max * 22).toFixed(1)}`).join(" "));
    svg.appendChild(line);
  }
  return svg;
}

// --- rendering --------------------------------------------------------------------------

function sourceText(source) {
  if (!source) return "";
  if (source.kind === "oci") return source.ref + (source.digest ? " @ " + source.digest.slice(0, 19) + "…" : "") + (source.signer ? " signed " + source.signer.key_id : "") + (source.error ? " ⚠ " + source.error : "");
  return "file";
}

// `/plugins`' `runs_for` in words: by default or on request, the guardrail entries, the
// teams and keys it runs for (or not), and who gives it a config of their own.
function runsFor(runs) {
  if (!runs || typeof runs !== "object") return runs ?? "";
  const parts = [runs.default_on ? "every request" : "on request"];
  const on = (map) => Object.entries(map || {}).filter(([, yes]) => yes).map(([name]) => name);
  const off = (map) => Object.entries(map || {}).filter(([, yes]) => !yes).map(([name]) => name);
  const guardrails = (runs.guardrails || []).map((g) => `${g.guardrail_name} (${(g.mode || []).join(", ")})`);
  if (guardrails.length) parts.push("guardrails: " + guardrails.join(", "));
  for (const [what, map] of [["teams", runs.teams], ["keys", runs.keys]]) {
    if (on(map).length) parts.push(`${what}: ${on(map).join(", ")}`);
    if (off(map).length) parts.push(`not ${what}: ${off(map).join(", ")}`);
  }
  if ((runs.config_from || []).length) parts.push("own config: " + runs.config_from.join(", "));
  return parts.join(" · ");
}

function renderPlugins(listing) {
  const body = $("plugins").querySelector("tbody");
  body.replaceChildren();
  let active = 0, quarantined = 0, failed = 0;
  for (const plugin of listing.plugins) {
    const row = el("tr");
    row.dataset.plugin = plugin.name;
    row.append(el("td", plugin.name), el("td", sourceText(plugin.source), "wrap"), el("td", plugin.version ?? ""), el("td", (plugin.hooks || []).join(", "), "wrap"));
    const stateCell = el("td", plugin.state, "state-" + plugin.state);
    stateCell.dataset.role = "state";
    if (plugin.load_error) {
      stateCell.append(el("div", plugin.load_error, "error"));
      stateCell.className += " wrap";
    }
    row.append(stateCell, el("td", plugin.priority ?? ""), el("td", plugin.on_error ?? ""), el("td", runsFor(plugin.runs_for), "wrap"));
    const calls = el("td", plugin.calls ?? 0);
    calls.dataset.role = "calls";
    row.append(calls, el("td", plugin.faults ?? 0), el("td", plugin.rejections ?? 0), el("td", plugin.quarantines ?? 0));
    const actions = el("td");
    if (plugin.state === "active" || plugin.state === "quarantined") {
      const quarantine = plugin.state === "active";
      const button = el("button", quarantine ? "Quarantine" : "Release");
      button.dataset.action = quarantine ? "quarantine" : "release";
      button.addEventListener("click", () => act(`/plugins/${encodeURIComponent(plugin.name)}/${button.dataset.action}`));
      actions.append(button);
    }
    row.append(actions);
    body.append(row);
    if (plugin.state === "active") active++; else if (plugin.state === "quarantined") quarantined++; else failed++;
  }
  $("summary").textContent = `${active} active · ${quarantined} quarantined · ${failed} failed to load`;
}

function renderHooks(figures, now) {
  const body = $("hooks").querySelector("tbody");
  body.replaceChildren();
  for (const figure of figures) {
    const key = figure.plugin + "\u0000" + figure.hook;
    const history = state.history.get(key) || [];
    history.push([now, figure.calls]);
    while (history.length && history[0][0] < now - HISTORY_MS) history.shift();
    state.history.set(key, history);
    const rates = history.slice(1).map(([t, calls], i) => [t, Math.max(0, calls - history[i][1]) / Math.max(0.001, (t - history[i][0]) / 1000)]);
    const faults = Object.entries(figure.faults).map(([kind, n]) => `${kind} ${n}`).join(", ") || "0";
    const row = el("tr");
    row.dataset.plugin = figure.plugin;
    row.dataset.hook = figure.hook;
    row.append(el("td", figure.plugin), el("td", figure.hook), el("td", figure.calls), el("td", duration(quantile(figure.buckets, figure.calls, 0.5))), el("td", duration(quantile(figure.buckets, figure.calls, 0.99))));
    row.append(el("td", figure.calls ? Math.round(figure.fuel / figure.calls) : "–"), el("td", figure.rejections), el("td", faults, "wrap"));
    const chart = el("td");
    chart.append(sparkline(rates));
    row.append(chart);
    body.append(row);
  }
}

function renderEvents(events) {
  const body = $("events").querySelector("tbody");
  for (const event of events) {
    const row = el("tr");
    row.dataset.plugin = event.plugin;
    row.append(el("td", new Date(event.at_ms).toLocaleTimeString()), el("td", event.request_id), el("td", event.plugin), el("td", event.hook), el("td", event.decision), el("td", event.cause ?? ""), el("td", event.message ?? "", "wrap"));
    body.prepend(row);
    state.lastEvent = Math.max(state.lastEvent, event.seq);
  }
  while (body.children.length > 200) body.lastChild.remove();
}

// --- actions ----------------------------------------------------------------------------

async function act(path) {
  try {
    await api("POST", path);
  } catch (error) {
    $("reload-result").textContent = error.message;
  }
  await refresh();
}

async function reload() {
  $("reload-result").textContent = "reloading…";
  try {
    const report = await api("POST", "/plugins/reload");
    const failed = Object.keys(report.failed || {});
    $("reload-result").textContent = `reloaded: ${report.loaded.length} loaded, ${report.unchanged.length} unchanged, ${report.removed.length} removed` + (failed.length ? `, failed: ${failed.join(", ")}` : "");
  } catch (error) {
    $("reload-result").textContent = "reload failed: " + error.message;
  }
  await refresh();
}

async function upload(event) {
  event.preventDefault();
  const name = $("upload-name").value.trim();
  const file = $("upload-file").files[0];
  const result = $("upload-result");
  result.className = "";
  result.textContent = "uploading…";
  try {
    const settings = $("upload-settings").value;
    if (settings.trim()) await api("PUT", `/plugins/${encodeURIComponent(name)}/settings`, settings, "application/yaml");
    const report = await api("PUT", `/plugins/${encodeURIComponent(name)}`, file, "application/wasm");
    result.textContent = report.loaded ? `${name} loaded` : `${name} not loaded: ${report.error}`;
    if (!report.loaded) result.className = "error";
  } catch (error) {
    result.textContent = "upload failed: " + error.message;
    result.className = "error";
  }
  await refresh();
}

// --- the loop ---------------------------------------------------------------------------

async function refresh() {
  try {
    const [listing, metrics, events] = await Promise.all([
      api("GET", "/plugins"),
      api("GET", "/metrics"),
      api("GET", "/ui/api/events?after=" + state.lastEvent),
    ]);
    renderPlugins(listing);
    renderHooks(hookFigures(parseMetrics(metrics)), Date.now());
    renderEvents(events.events);
  } catch (error) {
    if (error.status === 401) return signOut("The key was refused: " + error.message);
    $("summary").textContent = "cannot reach the proxy: " + error.message;
  }
}

function start() {
  $("login").classList.add("hidden");
  $("console").classList.remove("hidden");
  refresh();
  state.timer = setInterval(refresh, POLL_MS);
}

function signOut(message) {
  clearInterval(state.timer);
  sessionStorage.removeItem("hookgate-key");
  state.key = null;
  $("console").classList.add("hidden");
  $("login").classList.remove("hidden");
  $("login-error").textContent = message || "";
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  state.key = $("key").value;
  try {
    await api("GET", "/plugins");
  } catch (error) {
    $("login-error").textContent = error.status === 401 ? "That is not the master key." : error.message;
    state.key = null;
    return;
  }
  sessionStorage.setItem("hookgate-key", state.key);
  start();
});
$("reload").addEventListener("click", reload);
$("logout").addEventListener("click", () => signOut());
$("upload-form").addEventListener("submit", upload);
if (state.key) start();
