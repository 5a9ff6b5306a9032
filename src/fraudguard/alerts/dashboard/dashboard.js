// fraudguard alerts dashboard: plain JavaScript, no external assets, so it works offline.
// The table polls the API for alerts stored after the newest one shown; charts refresh from /api/stats.
// Signed in as a reviewer, the selected alert can be reviewed; writes carry the CSRF cookie's value.
"use strict";

const LIVE_POLL_MS = 2000;
const STATS_POLL_MS = 5000;
const TOP_PRODUCT_WINDOWS = 20;  // the latest windows of event time the stream has scored
const TABLE_ROWS = 200;
const SVG = "http://www.w3.org/2000/svg";

let newestId = null;
let filterQuery = "";
let me = null;  // {username, role} once signed in
let selected = null;  // the alert open in the review panel

const REVIEWER_ROLES = new Set(["reviewer", "admin"]);

function currentFilters() {
  const params = new URLSearchParams();
  for (const [name, value] of new FormData(document.getElementById("filters"))) {
    if (value === "") continue;
    // datetime-local inputs carry no zone: the dashboard works in UTC, as the stored times are.
    params.set(name, name === "since" || name === "until" ? `${value}Z` : value);
  }
  return params.toString();
}

async function getJson(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function csrfHeader() {
  const cookie = document.cookie.split("; ").find((c) => c.startsWith("fraudguard_csrf="));
  return cookie ? { "X-CSRF-Token": cookie.slice("fraudguard_csrf=".length) } : {};
}

async function send(method, path, body) {
  return fetch(path, {
    method,
    headers: { "Content-Type": "application/json", ...csrfHeader() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function detail(response) {
  try { return (await response.json()).detail ?? `HTTP ${response.status}`; } catch { return `HTTP ${response.status}`; }
}

function alertRow(alert, fresh) {
  const row = document.createElement("tr");
  row.dataset.transactionId = alert.transaction_id;
  if (fresh) row.className = "fresh";
  if (selected && selected.transaction_id === alert.transaction_id) row.classList.add("selected");
  const pick = document.createElement("input");
  pick.type = "checkbox";
  pick.className = "pick";
  pick.dataset.version = alert.version;
  pick.setAttribute("aria-label", `select ${alert.transaction_id}`);
  row.insertCell().appendChild(pick);
  cell(row, alert.scored_at.replace("T", " ").slice(0, 19));
  cell(row, alert.score.toFixed(3), "score");
  cell(row, alert.transaction_id);
  cell(row, alert.amount == null ? "" : `${alert.amount.toFixed(2)} ${alert.currency ?? ""}`);
  cell(row, alert.user_id ?? "");
  cell(row, alert.merchant_id ?? "");
  cell(row, alert.merchant_category ?? "");
  cell(row, alert.country ?? "");
  cell(row, alert.reasons.join("; "), "why");
  cell(row, `${alert.model_name} v${alert.model_version}`);
  cell(row, alert.status.replace("_", " "), "status");
  return row;
}

function showCount(total) {
  const body = document.querySelector("#alerts tbody");
  document.getElementById("shown").textContent = `(newest ${body.rows.length} of ${total.toLocaleString()})`;
}

async function loadTable() {
  filterQuery = currentFilters();
  const page = await getJson(`/api/alerts?limit=${TABLE_ROWS}&${filterQuery}`);
  const body = document.querySelector("#alerts tbody");
  body.replaceChildren(...page.alerts.map((alert) => alertRow(alert, false)));
  newestId = Math.max(0, ...page.alerts.map((alert) => alert.id));  // unreviewed first, the newest may be further down
  showCount(page.total);
  document.getElementById("download-csv").href = `/api/alerts.csv?${filterQuery}`;
}

async function pollNewAlerts() {
  if (newestId === null) return;
  const page = await getJson(`/api/alerts?limit=1000&after_id=${newestId}&${filterQuery}`);
  if (!page.alerts.length) return;
  const body = document.querySelector("#alerts tbody");
  const unreviewedFirst = new URLSearchParams(filterQuery).has("unreviewed_first");
  for (const alert of page.alerts) {  // oldest first: each goes on top
    newestId = Math.max(newestId, alert.id);
    // unreviewed first, a reviewed alert newer than the page belongs below the unreviewed ones, not on top
    if (unreviewedFirst && alert.status !== "new") continue;
    body.insertBefore(alertRow(alert, true), body.firstChild);
  }
  while (body.rows.length > TABLE_ROWS) body.deleteRow(-1);
  showCount(page.total);
}

function svgElement(name, attributes, text) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

function drawPerMinute(perMinute) {
  const svg = document.getElementById("per-minute");
  const width = 600, height = 180, left = 30, bottom = 16;
  const peak = Math.max(1, ...perMinute.map((m) => m.alerts));
  const step = (width - left) / perMinute.length;
  const children = [
    svgElement("line", { x1: left, y1: height - bottom, x2: width, y2: height - bottom }),
    svgElement("text", { x: 0, y: 10 }, String(peak)),
    svgElement("text", { x: 0, y: height - bottom }, "0"),
  ];
  perMinute.forEach((minute, i) => {
    const barHeight = ((height - bottom - 4) * minute.alerts) / peak;
    const bar = svgElement("rect", {
      x: left + i * step + 1, y: height - bottom - barHeight, width: Math.max(1, step - 2), height: barHeight,
    });
    bar.appendChild(svgElement("title", {}, `${minute.minute.slice(11, 16)} UTC: ${minute.alerts} alerts`));
    children.push(bar);
    if (i % 10 === 0) children.push(svgElement("text", { x: left + i * step, y: height - 3 }, minute.minute.slice(11, 16)));
  });
  svg.replaceChildren(...children);
}

const CATEGORY_COLOURS = ["#c8102e", "#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#5d4037", "#ad1457", "#455a64", "#9e9d24"];

function drawPer10s(windows) {
  const svg = document.getElementById("per-10s");
  const width = 600, height = 180, left = 30, bottom = 16;
  const peak = Math.max(1, ...windows.map((w) => w.alerts));
  const step = (width - left) / Math.max(windows.length, 1);
  const children = [svgElement("text", { x: 0, y: 10 }, String(peak)), svgElement("text", { x: 0, y: height - bottom }, "0")];
  windows.forEach((window, i) => {
    const barHeight = ((height - bottom - 4) * window.alerts) / peak;
    const bar = svgElement("rect", { x: left + i * step + 1, y: height - bottom - barHeight, width: Math.max(1, step - 2), height: barHeight });
    bar.appendChild(svgElement("title", {}, `${window.start.slice(11, 19)} UTC: ${window.alerts} alerts`));
    children.push(bar);
    if (i % 6 === 0) children.push(svgElement("text", { x: left + i * step, y: height - 3 }, window.start.slice(11, 19)));
  });
  svg.replaceChildren(...children);
}

function drawByCategory(rows, minutes) {
  // One line per category over the same minutes as the per-minute chart.
  const index = new Map(minutes.map((m, i) => [m.minute, i]));
  const series = new Map();
  for (const row of rows) {
    const category = row.category ?? "unknown";
    if (!series.has(category)) series.set(category, new Array(minutes.length).fill(0));
    const at = index.get(row.minute);
    if (at !== undefined) series.get(category)[at] = row.alerts;
  }
  drawLines("by-category", "category-legend", series);
}

function drawTopProducts(windows) {
  // One line per product that made a window's top ranks; a window it was not in the top of counts 0.
  const series = new Map();
  windows.forEach((window, i) => {
    for (const rank of window.ranks) {
      if (!series.has(rank.product_id)) series.set(rank.product_id, new Array(windows.length).fill(0));
      series.get(rank.product_id)[i] = rank.count;
    }
  });
  const svg = document.getElementById("top-products");
  svg.dataset.lastWindow = windows.length ? windows[windows.length - 1].start : "";
  if (windows.length) {
    const last = windows[windows.length - 1];
    document.getElementById("top-products-window").textContent = (Date.parse(last.end) - Date.parse(last.start)) / 1000;
  }
  drawLines("top-products", "product-legend", series, windows.map((window) => window.start.slice(11, 19)));
}

function drawLines(svgId, legendId, series, labels = []) {
  // One polyline per series (most counted first, coloured in that order), with its legend; `labels`
  // name the points (UTC times), a few of them shown under the axis.
  const svg = document.getElementById(svgId);
  const width = 600, height = 180, left = 30, bottom = 16;
  const points = Math.max(0, ...[...series.values()].map((counts) => counts.length));
  const peak = Math.max(1, ...[...series.values()].flat());
  const step = (width - left) / Math.max(points - 1, 1);
  const y = (count) => height - bottom - ((height - bottom - 4) * count) / peak;
  const children = [svgElement("text", { x: 0, y: 10 }, String(peak)), svgElement("text", { x: 0, y: height - bottom }, "0")];
  const every = Math.max(1, Math.ceil(labels.length / 5));
  labels.forEach((label, at) => {
    if (at % every === 0) children.push(svgElement("text", { x: left + at * step, y: height - 3 }, label));
  });
  const legend = [];
  const total = (counts) => counts.reduce((sum, n) => sum + n, 0);
  [...series.entries()].sort((a, b) => total(b[1]) - total(a[1]))
    .forEach(([name, counts], i) => {
      const colour = CATEGORY_COLOURS[i % CATEGORY_COLOURS.length];
      const line = svgElement("polyline", { stroke: colour, points: counts.map((n, at) => `${left + at * step},${y(n)}`).join(" ") });
      line.dataset.series = name;
      line.appendChild(svgElement("title", {}, name));
      children.push(line);
      const key = document.createElement("span");
      key.style.setProperty("--swatch", colour);
      key.textContent = name;
      legend.push(key);
    });
  svg.replaceChildren(...children);
  document.getElementById(legendId).replaceChildren(...legend);
}

async function refreshTopProducts() {
  const aggregates = await getJson(`/api/aggregates?measure=top_products&windows=${TOP_PRODUCT_WINDOWS}`);
  drawTopProducts(aggregates.windows);
}

// The map: an equirectangular projection of land, lakes and borders (GET /api/map/world, once), with
// bubbles by alert count. It fits the alerts until the analyst picks a region, scrolls to zoom or drags.
const MAP_WIDTH = 600, MAP_HEIGHT = 300;
const REGIONS = {  // [west, south, east, north]
  world: [-180, -58, 180, 84],
  europe: [-25, 34, 45, 72],
  "north-america": [-170, 8, -50, 75],
  "south-america": [-95, -57, -30, 14],
  africa: [-20, -36, 55, 38],
  asia: [25, -12, 150, 60],
  oceania: [110, -48, 180, 0],
};
let worldShapes = null;  // path strings in degrees (x = lon, y = -lat), scaled by one transform
let mapView = null;  // [west, south, east, north] the analyst chose; null: fit the alerts
let mapPlaces = [];

function ringsPath(rings, close) {
  return rings.map((ring) => ring.map(([lon, lat], at) => `${at ? "L" : "M"}${lon} ${-lat}`).join("") + (close ? "Z" : "")).join("");
}

async function loadWorld() {
  const response = await fetch("/api/map/world");
  if (!response.ok) throw new Error(`/api/map/world: HTTP ${response.status}`);
  const geometry = Object.fromEntries((await response.json()).features.map((f) => [f.id, f.geometry.coordinates]));
  worldShapes = {
    land: ringsPath(geometry.land.flat(), true),
    lakes: ringsPath(geometry.lakes.flat(), true),
    borders: ringsPath(geometry.borders, false),
  };
  drawMap(mapPlaces);
}

function fittedView(places) {
  if (!places.length) return REGIONS.world;
  const lats = places.map((p) => p.lat), lons = places.map((p) => p.lon), pad = 4;
  return [Math.min(...lons) - pad, Math.min(...lats) - pad, Math.max(...lons) + pad, Math.max(...lats) + pad];
}

function projection(view) {
  // Scale to fit the view, centred: x = (lon - west) * scale, y = (north - lat) * scale.
  let [west, south, east, north] = view;
  const scale = Math.min(MAP_WIDTH / (east - west), MAP_HEIGHT / (north - south));
  west -= (MAP_WIDTH / scale - (east - west)) / 2;
  north += (MAP_HEIGHT / scale - (north - south)) / 2;
  return { west, north, scale, east: west + MAP_WIDTH / scale, south: north - MAP_HEIGHT / scale };
}

function drawMap(places) {
  mapPlaces = places;
  const svg = document.getElementById("map");
  const { west, north, scale, east, south } = projection(mapView ?? fittedView(places));
  svg.dataset.view = [west, south, east, north].map((v) => v.toFixed(1)).join(",");
  const x = (lon) => (lon - west) * scale, y = (lat) => (north - lat) * scale;
  const children = [];
  if (worldShapes) {
    const shapes = svgElement("g", { transform: `matrix(${scale} 0 0 ${scale} ${-west * scale} ${north * scale})` });
    for (const [name, d] of Object.entries(worldShapes)) shapes.appendChild(svgElement("path", { class: name, d }));
    children.push(shapes);
  }
  const step = east - west > 120 ? 30 : 10;
  for (let lon = Math.ceil(west / step) * step; lon <= east; lon += step) {
    children.push(svgElement("line", { class: "grid", x1: x(lon), y1: 0, x2: x(lon), y2: MAP_HEIGHT }));
  }
  for (let lat = Math.floor(north / step) * step; lat >= south; lat -= step) {
    children.push(svgElement("line", { class: "grid", x1: 0, y1: y(lat), x2: MAP_WIDTH, y2: y(lat) }));
    children.push(svgElement("text", { x: 2, y: y(lat) - 2 }, `${lat}°`));
  }
  const peak = Math.max(1, ...places.map((p) => p.alerts));
  for (const place of places) {
    const bubble = svgElement("circle", { cx: x(place.lon), cy: y(place.lat), r: 2 + 12 * Math.sqrt(place.alerts / peak) });
    bubble.appendChild(svgElement("title", {}, `${place.country ?? "?"} (${place.lat.toFixed(2)}, ${place.lon.toFixed(2)}): ${place.alerts} alerts`));
    children.push(bubble);
  }
  const labelled = new Set();
  for (const place of [...places].sort((a, b) => b.alerts - a.alerts)) {
    if (!place.country || labelled.has(place.country)) continue;
    labelled.add(place.country);
    children.push(svgElement("text", { x: x(place.lon) + 6, y: y(place.lat) - 6 }, place.country));
  }
  svg.replaceChildren(...children);
}

function mapPoint(svg, event) {
  // Where the pointer is, in map units (the SVG is drawn at any size; its viewBox is 600 x 300).
  const box = svg.getBoundingClientRect();
  return [(event.clientX - box.left) * MAP_WIDTH / box.width, (event.clientY - box.top) * MAP_HEIGHT / box.height];
}

function setMapView(view, region = view === null ? "alerts" : "") {
  mapView = view;
  document.getElementById("map-region").value = region;  // "": zoomed or moved by hand
  drawMap(mapPlaces);
}

function zoomMap(event) {
  event.preventDefault();
  const svg = event.currentTarget;
  const { west, north, scale } = projection(mapView ?? fittedView(mapPlaces));
  const [px, py] = mapPoint(svg, event);
  const lon = west + px / scale, lat = north - py / scale;
  const zoomed = scale * (event.deltaY < 0 ? 1.25 : 0.8);
  const newWest = lon - px / zoomed, newNorth = lat + py / zoomed;
  setMapView([newWest, newNorth - MAP_HEIGHT / zoomed, newWest + MAP_WIDTH / zoomed, newNorth]);
}

function panMap(start) {
  const svg = start.currentTarget;
  const { west, north, scale } = projection(mapView ?? fittedView(mapPlaces));
  const [x0, y0] = mapPoint(svg, start);
  const move = (event) => {
    const [x1, y1] = mapPoint(svg, event);
    const newWest = west - (x1 - x0) / scale, newNorth = north + (y1 - y0) / scale;
    setMapView([newWest, newNorth - MAP_HEIGHT / scale, newWest + MAP_WIDTH / scale, newNorth]);
  };
  const stop = () => { svg.removeEventListener("pointermove", move); svg.removeEventListener("pointerup", stop); };
  svg.setPointerCapture(start.pointerId);  // keep following the pointer when it leaves the map
  svg.addEventListener("pointermove", move);
  svg.addEventListener("pointerup", stop);
}

async function refreshStats() {
  const stats = await getJson("/api/stats?minutes=60");
  document.getElementById("total").textContent = stats.total.toLocaleString();
  const perMinute = stats.per_minute;
  document.getElementById("last-minute").textContent = perMinute.length ? perMinute[perMinute.length - 1].alerts : 0;
  document.getElementById("precision").textContent =
    stats.confirmed_precision === null ? "–" : `${(100 * stats.confirmed_precision).toFixed(0)}% of ${stats.reviewed}`;
  drawPerMinute(perMinute);
  drawPer10s(stats.per_10s);
  drawByCategory(stats.by_category_per_minute, perMinute);
  drawMap(stats.places);
}

function drawPrecisionByDay(days) {
  const svg = document.getElementById("precision-by-day");
  const width = 600, height = 120, bottom = 14;
  const step = Math.min(48, width / Math.max(days.length, 1));
  svg.replaceChildren(...days.flatMap((day, i) => {
    const barHeight = (height - bottom - 12) * day.precision;
    const bar = svgElement("rect", { x: i * step + 2, y: height - bottom - barHeight, width: Math.min(40, Math.max(1, step - 4)), height: barHeight });
    bar.appendChild(svgElement("title", {}, `${day.day}: ${(100 * day.precision).toFixed(0)}% of ${day.confirmed + day.false_positives}`));
    return [bar, svgElement("text", { x: i * step + 2, y: height - 2 }, day.day.slice(5)),
            svgElement("text", { x: i * step + 2, y: height - bottom - barHeight - 2 }, `${(100 * day.precision).toFixed(0)}%`)];
  }));
}

async function refreshFeedback() {
  const feedback = await getJson("/api/feedback?days=30");
  document.getElementById("next-training").textContent = feedback.training_uses_reviews
    ? `${feedback.next_training_labels.toLocaleString()} verdicts on the labels topic: the next nightly training learns from them`
      + (feedback.labels_queued ? ` (${feedback.labels_queued} still being published)` : "")
    : "the nightly training does not use analysts' verdicts (training.include_confirmed_labels is false)";
  drawPrecisionByDay(feedback.by_day);
  document.querySelector("#by-model-version tbody").replaceChildren(...feedback.by_model_version.map((version) => {
    const row = document.createElement("tr");
    row.dataset.modelVersion = version.model_version;
    cell(row, version.model_version);
    cell(row, version.confirmed.toLocaleString());
    cell(row, version.false_positives.toLocaleString());
    cell(row, `${(100 * version.precision).toFixed(0)}%`);
    return row;
  }));
}

async function refreshHealth() {
  const badge = document.getElementById("health");
  try {
    const health = await getJson("/api/health");
    const error = health.consumer.last_error;
    badge.textContent = error ? `consumer: ${error}` : `consumer ok · ${health.consumer.stored.toLocaleString()} stored`;
    badge.className = error ? "health bad" : "health ok";
  } catch (error) {
    badge.textContent = "service unreachable";
    badge.className = "health bad";
  }
}

async function refreshAccount() {
  const response = await fetch("/api/me", { cache: "no-store" });
  me = response.ok ? await response.json() : null;
  document.getElementById("sign-in").hidden = me !== null;
  document.getElementById("signed-in").hidden = me === null;
  if (me) {
    document.getElementById("who").textContent = me.username;
    document.getElementById("role").textContent = me.role;
  }
  if (selected) showReview(selected);
}

async function signIn(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const response = await send("POST", "/api/sign-in", { username: form.get("username"), password: form.get("password") });
  document.getElementById("account-message").textContent = response.ok ? "" : await detail(response);
  if (response.ok) {
    event.target.reset();
    await refreshAccount();
    await loadTable();
  }
}

async function signOut() {
  await send("POST", "/api/sign-out");
  await refreshAccount();
}

function fact(list, name, value) {
  const term = document.createElement("dt"), description = document.createElement("dd");
  term.textContent = name;
  description.textContent = value ?? "–";
  list.append(term, description);
}

function showReview(alert) {
  selected = alert;
  document.getElementById("review").hidden = false;
  document.getElementById("review-id").textContent = alert.transaction_id;
  const facts = document.getElementById("review-facts");
  facts.replaceChildren();
  fact(facts, "score", `${alert.score.toFixed(3)} (threshold ${alert.threshold.toFixed(3)})`);
  fact(facts, "model", `${alert.model_name} v${alert.model_version}`);
  fact(facts, "amount", alert.amount == null ? null : `${alert.amount.toFixed(2)} ${alert.currency ?? ""}`);
  fact(facts, "event time", alert.event_time?.replace("T", " ").slice(0, 19));
  fact(facts, "user", alert.user_id);
  fact(facts, "merchant", `${alert.merchant_id ?? "–"} (${alert.merchant_category ?? "?"}, ${alert.country ?? "?"})`);
  fact(facts, "status", alert.status.replace("_", " "));
  fact(facts, "reviewed", alert.reviewed_by ? `by ${alert.reviewed_by} at ${alert.reviewed_at.replace("T", " ").slice(0, 19)}` : null);
  fact(facts, "note", alert.note);
  fact(facts, "version", String(alert.version));
  document.getElementById("review-reasons").replaceChildren(...alert.reasons.map((reason) => {
    const item = document.createElement("li");
    item.textContent = reason;
    return item;
  }));
  document.getElementById("review-form").hidden = !(me && REVIEWER_ROLES.has(me.role));
  for (const row of document.querySelectorAll("#alerts tbody tr")) {
    row.classList.toggle("selected", row.dataset.transactionId === alert.transaction_id);
  }
}

function shownValue(value) {
  if (value === null || value === undefined) return null;
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(3);
  return String(value).replace("T", " ").slice(0, 19);
}

function showContext(context) {
  for (const part of ["user", "merchant", "features"]) {
    const list = document.getElementById(`context-${part}`);
    list.replaceChildren();
    for (const [name, value] of Object.entries(context[part] ?? {})) fact(list, name, shownValue(value));
  }
  document.querySelector("#recent tbody").replaceChildren(...context.recent.map((tx) => {
    const row = document.createElement("tr");
    cell(row, shownValue(tx.timestamp));
    cell(row, `${tx.amount.toFixed(2)} ${tx.currency ?? ""}`);
    cell(row, tx.channel ?? "");
    cell(row, tx.merchant_id ?? "");
    cell(row, tx.merchant_category ?? "");
    cell(row, tx.merchant_country ?? "");
    cell(row, tx.score.toFixed(3), tx.alerted ? "score" : "");
    cell(row, tx.alerted ? "yes" : "");
    return row;
  }));
}

async function select(transactionId) {
  const id = encodeURIComponent(transactionId);
  const [alert, audit, context] = await Promise.all([
    getJson(`/api/alerts/${id}`), getJson(`/api/alerts/${id}/audit`), getJson(`/api/alerts/${id}/context`),
  ]);
  showReview(alert);
  showContext(context);
  document.querySelector("#audit tbody").replaceChildren(...audit.map((entry) => {
    const row = document.createElement("tr");
    cell(row, entry.at.replace("T", " ").slice(0, 19));
    cell(row, entry.actor);
    cell(row, entry.from_status.replace("_", " "));
    cell(row, entry.to_status.replace("_", " "));
    cell(row, entry.note ?? "");
    return row;
  }));
}

async function review(event) {
  event.preventDefault();
  const note = new FormData(event.target).get("note");
  const change = { status: event.submitter.value, version: selected.version, note: note === "" ? null : note };
  const response = await send("PATCH", `/api/alerts/${encodeURIComponent(selected.transaction_id)}`, change);
  const message = document.getElementById("review-message");
  message.textContent = response.ok ? `saved: ${change.status.replace("_", " ")}` : await detail(response);
  message.className = response.ok ? "" : "bad";
  if (response.ok) event.target.reset();
  await select(selected.transaction_id);  // after a conflict too: show what the other reviewer did
  const row = document.querySelector(`#alerts tbody tr[data-transaction-id="${CSS.escape(selected.transaction_id)}"]`);
  if (row) row.querySelector("td.status").textContent = selected.status.replace("_", " ");
  await Promise.all([refreshStats(), refreshFeedback()]);
}

function moveSelection(step) {
  const rows = [...document.querySelectorAll("#alerts tbody tr")];
  if (!rows.length) return;
  const at = selected ? rows.findIndex((row) => row.dataset.transactionId === selected.transaction_id) : -1;
  const next = rows[Math.min(rows.length - 1, Math.max(0, at + step))];
  next.scrollIntoView({ block: "nearest" });
  select(next.dataset.transactionId).catch((error) => console.warn(error));
}

document.addEventListener("keydown", (event) => {
  if (event.target.closest("input, textarea, select")) return;
  if (event.key === "j") moveSelection(1);
  else if (event.key === "k") moveSelection(-1);
  else if (event.key === "Escape") {
    selected = null;
    document.getElementById("review").hidden = true;
  }
});
document.querySelector("#alerts tbody").addEventListener("click", (event) => {
  if (event.target.classList.contains("pick")) {
    showPicked();
    return;
  }
  const row = event.target.closest("tr");
  if (row) select(row.dataset.transactionId).catch((error) => console.warn(error));
});

function picked() {
  return [...document.querySelectorAll("#alerts tbody input.pick:checked")].map((box) => ({
    transaction_id: box.closest("tr").dataset.transactionId, version: Number(box.dataset.version),
  }));
}

function showPicked() {
  const count = picked().length;
  document.getElementById("bulk").hidden = !(count && me && REVIEWER_ROLES.has(me.role));
  document.getElementById("picked").textContent = `${count} selected`;
}

async function reviewPicked(event) {
  event.preventDefault();
  const response = await send("POST", "/api/alerts/review", { alerts: picked(), status: event.submitter.value });
  const message = document.getElementById("bulk-message");
  if (!response.ok) {
    message.textContent = await detail(response);
    return;
  }
  const outcome = await response.json();
  message.textContent = `${outcome.reviewed.length} reviewed`
    + (outcome.conflicts.length ? `, ${outcome.conflicts.length} changed meanwhile (reloaded, not changed)` : "");
  await loadTable();
  showPicked();
  await Promise.all([refreshStats(), refreshFeedback()]);
}
document.getElementById("bulk").addEventListener("submit", (event) => reviewPicked(event).catch(console.warn));
document.getElementById("sign-in").addEventListener("submit", (event) => signIn(event).catch(console.warn));
document.getElementById("sign-out").addEventListener("click", () => signOut().catch(console.warn));
document.getElementById("review-form").addEventListener("submit", (event) => review(event).catch(console.warn));

function every(ms, task) {
  const run = () => task().catch((error) => console.warn(error)).finally(() => setTimeout(run, ms));
  run();
}

const map = document.getElementById("map");
map.addEventListener("wheel", zoomMap, { passive: false });
map.addEventListener("pointerdown", panMap);
map.addEventListener("dblclick", () => setMapView(null));
document.getElementById("map-region").addEventListener("change", (event) => {
  setMapView(REGIONS[event.target.value] ?? null, event.target.value);
});
loadWorld().catch((error) => console.warn(error));

document.getElementById("filters").addEventListener("submit", (event) => {
  event.preventDefault();
  loadTable().catch((error) => console.warn(error));
});
loadTable().catch((error) => console.warn(error)).finally(() => {
  every(LIVE_POLL_MS, pollNewAlerts);
});
every(STATS_POLL_MS, refreshStats);
every(STATS_POLL_MS, refreshTopProducts);
every(STATS_POLL_MS, refreshFeedback);
every(STATS_POLL_MS, refreshHealth);
refreshAccount().catch((error) => console.warn(error));
