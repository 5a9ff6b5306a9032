// fraudguard alerts dashboard: plain JavaScript, no external assets, so it works offline.
// The table polls the API for alerts stored after the newest one shown; charts refresh from /api/stats.
"use strict";

const LIVE_POLL_MS = 2000;
const STATS_POLL_MS = 5000;
const TABLE_ROWS = 200;
const SVG = "http://www.w3.org/2000/svg";

let newestId = null;
let filterQuery = "";

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

function alertRow(alert, fresh) {
  const row = document.createElement("tr");
  row.dataset.transactionId = alert.transaction_id;
  if (fresh) row.className = "fresh";
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
  cell(row, alert.status.replace("_", " "));
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
  newestId = page.alerts.length ? page.alerts[0].id : 0;
  showCount(page.total);
  document.getElementById("download-csv").href = `/api/alerts.csv?${filterQuery}`;
}

async function pollNewAlerts() {
  if (newestId === null) return;
  const page = await getJson(`/api/alerts?limit=1000&after_id=${newestId}&${filterQuery}`);
  if (!page.alerts.length) return;
  const body = document.querySelector("#alerts tbody");
  for (const alert of page.alerts) {  // oldest first: each goes on top
    body.insertBefore(alertRow(alert, true), body.firstChild);
    newestId = Math.max(newestId, alert.id);
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

function drawMap(places) {
  // Equirectangular projection fitted to where the alerts are, with a 10-degree graticule.
  const svg = document.getElementById("map");
  const width = 600, height = 300, pad = 4;
  const lats = places.map((p) => p.lat), lons = places.map((p) => p.lon);
  let [south, north] = places.length ? [Math.min(...lats) - pad, Math.max(...lats) + pad] : [-60, 75];
  let [west, east] = places.length ? [Math.min(...lons) - pad, Math.max(...lons) + pad] : [-180, 180];
  const scale = Math.min(width / (east - west), height / (north - south));
  west -= ((width / scale) - (east - west)) / 2; north += ((height / scale) - (north - south)) / 2;
  const x = (lon) => (lon - west) * scale, y = (lat) => (north - lat) * scale;
  const children = [];
  for (let lon = Math.ceil(west / 10) * 10; lon <= west + width / scale; lon += 10) {
    children.push(svgElement("line", { class: "grid", x1: x(lon), y1: 0, x2: x(lon), y2: height }));
  }
  for (let lat = Math.floor(north / 10) * 10; lat >= north - height / scale; lat -= 10) {
    children.push(svgElement("line", { class: "grid", x1: 0, y1: y(lat), x2: width, y2: y(lat) }));
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

async function refreshStats() {
  const stats = await getJson("/api/stats?minutes=60");
  document.getElementById("total").textContent = stats.total.toLocaleString();
  const perMinute = stats.per_minute;
  document.getElementById("last-minute").textContent = perMinute.length ? perMinute[perMinute.length - 1].alerts : 0;
  document.getElementById("precision").textContent =
    stats.confirmed_precision === null ? "–" : `${(100 * stats.confirmed_precision).toFixed(0)}% of ${stats.reviewed}`;
  drawPerMinute(perMinute);
  drawMap(stats.places);
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

function every(ms, task) {
  const run = () => task().catch((error) => console.warn(error)).finally(() => setTimeout(run, ms));
  run();
}

document.getElementById("filters").addEventListener("submit", (event) => {
  event.preventDefault();
  loadTable().catch((error) => console.warn(error));
});
loadTable().catch((error) => console.warn(error)).finally(() => {
  every(LIVE_POLL_MS, pollNewAlerts);
});
every(STATS_POLL_MS, refreshStats);
every(STATS_POLL_MS, refreshHealth);
