"use strict";
// Dashboard: reads the JSON API of this same server and draws plotly charts.

async function getJSON(url) {
  const r = await fetch(url, { headers: { Accept: "application/json" } });
  if (!r.ok) throw new Error(url + " -> " + r.status);
  return r.json();
}

// Each chart's data source (one API request), so its CSV download is exactly the data it draws.
const SOURCES = {};
let VERSION = "";

async function source(chart, url, body) {
  SOURCES[chart] = { url, body };
  if (!body) return getJSON(url);
  return postJSON(url, body);
}

class APIFailure extends Error {
  constructor(status, payload) {
    super(payload && payload.error ? payload.error : "HTTP " + status);
    this.status = status; this.payload = payload;
  }
}

async function postJSON(url, body) {
  const r = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
                               body: JSON.stringify(body) });
  const payload = await r.json().catch(() => null);
  if (!r.ok) throw new APIFailure(r.status, payload);
  return payload;
}

function withFormat(url) { return url + (url.includes("?") ? "&" : "?") + "format=csv"; }

async function chartCSV(chart) {
  const src = SOURCES[chart];
  if (!src) throw new Error("no data drawn yet for " + chart);
  const init = src.body ? { method: "POST", headers: { "Content-Type": "application/json", Accept: "text/csv" },
                            body: JSON.stringify(src.body) } : { headers: { Accept: "text/csv" } };
  const r = await fetch(withFormat(src.url), init);
  if (!r.ok) throw new Error(src.url + " -> " + r.status);
  return r.text();
}

async function downloadCSV(chart) {
  const text = await chartCSV(chart);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
  link.download = `${chart.replace(/^chart-/, "")}-${VERSION}.csv`;
  document.body.append(link);
  link.click();
  link.remove();
  document.getElementById(chart).dataset.csvFile = link.download;
}

function groupBy(records, key) {
  const out = {};
  for (const r of records) (out[r[key]] = out[r[key]] || []).push(r);
  return out;
}

const LAYOUT = { margin: { t: 10, r: 10, b: 40, l: 70 }, legend: { orientation: "h", y: -0.15 }, hovermode: "x unified" };
const CONFIG = { displaylogo: false, responsive: true };

function markDrawn(id) { document.getElementById(id).dataset.drawn = "true"; }

async function drawDemand(scenario) {
  const q = await source("chart-demand", `/v1/demand?scenario=${scenario}&element=NdFeB&unit=t_magnet&quantiles=true`);
  const bySeg = groupBy(q.records.filter(r => r.segment !== "total"), "segment");
  const traces = Object.entries(bySeg).map(([seg, rows]) => ({
    x: rows.map(r => r.year), y: rows.map(r => r.value), name: seg, stackgroup: "one", type: "scatter", mode: "none",
  }));
  if (scenario !== "uncalibrated") {
    const u = await getJSON("/v1/demand?scenario=uncalibrated&element=NdFeB&unit=t_magnet");
    const total = {};
    for (const r of u.records) total[r.year] = (total[r.year] || 0) + r.value;
    const ys = Object.keys(total).map(Number).sort((a, b) => a - b);
    traces.push({ x: ys, y: ys.map(y => total[y]), name: "uncalibrated total (evidence)", type: "scatter",
                  mode: "lines", line: { color: "rgb(214,39,40)", width: 2 } });
  }
  const band = q.records.filter(r => r.segment === "total" && r.p5 !== null);
  traces.push({ x: band.map(r => r.year), y: band.map(r => r.p50), name: "P50", type: "scatter", mode: "lines",
                line: { color: "rgba(0,0,0,0.8)", width: 1 } });
  traces.push({ x: band.map(r => r.year), y: band.map(r => r.p5), name: "P5", type: "scatter", mode: "lines",
                line: { color: "rgba(0,0,0,0.5)", dash: "dot" } });
  traces.push({ x: band.map(r => r.year), y: band.map(r => r.p95), name: "P5-P95 band", type: "scatter", mode: "lines",
                fill: "tonexty", fillcolor: "rgba(0,0,0,0.08)", line: { color: "rgba(0,0,0,0.5)", dash: "dot" } });
  await Plotly.newPlot("chart-demand", traces, { ...LAYOUT, yaxis: { title: "t NdFeB" } }, CONFIG);
  markDrawn("chart-demand");
}

async function drawGap(scenario) {
  const g = await source("chart-gap", `/v1/gap?scenario=${scenario}&stage=magnet&region=ex_china&element=NdFeB&chain=outside_china`);
  const x = g.records.map(r => r.year);
  const traces = [
    { x, y: g.records.map(r => r.demand_t), name: "demand outside China", type: "scatter", mode: "lines", line: { width: 3 } },
    { x, y: g.records.map(r => r.supply_nameplate_t), name: "supply, nameplate", type: "scatter", mode: "lines", line: { dash: "dot" } },
    { x, y: g.records.map(r => r.supply_risked_t), name: "supply, risked", type: "scatter", mode: "lines", fill: "tozeroy" },
    { x, y: g.records.map(r => r.supply_p10_t), name: "supply P10", type: "scatter", mode: "lines",
      line: { color: "rgba(44,160,44,0.6)", dash: "dot" } },
    { x, y: g.records.map(r => r.supply_p90_t), name: "supply P10-P90", type: "scatter", mode: "lines", fill: "tonexty",
      fillcolor: "rgba(44,160,44,0.12)", line: { color: "rgba(44,160,44,0.6)", dash: "dot" } },
    { x, y: g.records.map(r => r.gap_t), name: "gap (risked)", type: "bar", opacity: 0.35 },
  ];
  await Plotly.newPlot("chart-gap", traces, { ...LAYOUT, yaxis: { title: "t NdFeB" } }, CONFIG);
  markDrawn("chart-gap");
}

async function drawBinding(scenario) {
  const chain = document.getElementById("chain").value || "outside_china";
  // one query: every stage's risked output of both chains (the chart shows one chain, the table both)
  const all = await source("chart-binding", `/v1/gap?scenario=${scenario}&region=ex_china&element=NdFeB`);
  const byStage = groupBy(all.records.filter(r => r.chain === chain && r.stage !== "chain"), "stage");
  const traces = Object.entries(byStage).map(([stage, rows]) => ({
    x: rows.map(r => r.year), y: rows.map(r => r.supply_risked_t), name: stage, type: "scatter", mode: "lines",
  }));
  const g = { records: all.records.filter(r => r.stage === "chain") };
  const own = g.records.filter(r => r.chain === chain);
  traces.push({
    x: own.map(r => r.year), y: own.map(r => r.supply_risked_t), name: `${chain} chain output`,
    text: own.map(r => `binding: ${r.binding_stage}; next: ${r.next_stage} ${Math.round(r.next_stage_t)} t`),
    type: "scatter", mode: "lines+markers", line: { width: 4, color: "#111" },
  });
  await Plotly.newPlot("chart-binding", traces, { ...LAYOUT, yaxis: { title: "t NdFeB-eq", type: "log" } }, CONFIG);
  const byYear = {};
  for (const r of g.records) (byYear[r.year] = byYear[r.year] || {})[r.chain] = r;
  const tbody = document.querySelector("#binding-table tbody");
  tbody.innerHTML = "";
  for (const year of Object.keys(byYear).map(Number).filter(y => y % 5 === 0)) {
    const tr = document.createElement("tr");
    const cell = r => r ? `${Math.round(r.supply_risked_t).toLocaleString()} t, ${r.binding_stage} (next ${r.next_stage})` : "";
    for (const text of [String(year), cell(byYear[year].outside_china), cell(byYear[year].china_free)]) {
      const td = document.createElement("td"); td.textContent = text; tr.append(td);
    }
    tr.dataset.year = String(year);
    tbody.append(tr);
  }
  markDrawn("chart-binding");
}

async function drawBalance(scenario) {
  const material = document.getElementById("balance-material").value || "NdPr";
  const b = await source("chart-balance", `/v1/balance?scenario=${scenario}&material=${material}`);
  const x = b.records.map(r => r.year);
  const bar = (key, name) => ({ x, y: b.records.map(r => r[key]), name, type: "bar" });
  const traces = [
    bar("china_t", "China"), bar("rest_of_world_t", "rest of the world"), bar("recycled_t", "recycled"),
    { x, y: b.records.map(r => Math.max(r.deficit_t, 0)), name: "deficit", type: "bar", marker: { color: "rgba(200,0,0,0.35)" } },
    { x, y: b.records.map(r => r.demand_t), name: "world demand", type: "scatter", mode: "lines", line: { width: 3, color: "#111" } },
  ];
  const unit = material === "NdFeB" ? "t NdFeB" : `t ${material} oxide`;
  await Plotly.newPlot("chart-balance", traces, { ...LAYOUT, barmode: "stack", yaxis: { title: unit } }, CONFIG);
  document.getElementById("chart-balance").dataset.material = material;
  markDrawn("chart-balance");
}

let PROJECTS = [];

function renderPipeline() {
  const value = id => document.getElementById(id).value.trim().toLowerCase();
  const [company, country, stage, status, financing] = ["f-company", "f-country", "f-stage", "f-status", "f-financing"].map(value);
  const rows = PROJECTS.filter(p =>
    (!company || p.company.toLowerCase().includes(company)) && (!country || p.country.toLowerCase().includes(country)) &&
    (!stage || p.stage === stage) && (!status || p.status === status) && (!financing || p.financing === financing));
  const tbody = document.querySelector("#pipeline-table tbody");
  tbody.innerHTML = "";
  for (const p of rows) {
    const tr = document.createElement("tr");
    const link = document.createElement("a");
    link.href = p.source_url; link.textContent = p.source_publisher; link.rel = "noopener";
    const latest = p.output_latest_year ? `${Math.round(p.output_latest_t).toLocaleString()} (${p.output_latest_year})` : "";
    const cells = [p.project, p.company, p.country, p.stage, p.capacity === null ? "n/a" : Math.round(p.capacity).toLocaleString(),
                   p.unit, String(p.first_year), p.status, p.financing, p.china_feed_share ? `${Math.round(p.china_feed_share * 100)}%` : "", latest];
    for (const text of cells) { const td = document.createElement("td"); td.textContent = text; tr.append(td); }
    const td = document.createElement("td"); td.append(link); tr.append(td);
    tr.title = p.note || "";
    tbody.append(tr);
  }
  document.getElementById("pipeline-count").textContent = `${rows.length} of ${PROJECTS.length} projects`;
}

async function drawPipeline() {
  const d = await getJSON("/v1/supply/projects");
  PROJECTS = d.records;
  const fill = (id, key) => {
    const select = document.getElementById(id);
    for (const v of [...new Set(PROJECTS.map(p => p[key]))].sort()) {
      const o = document.createElement("option"); o.value = v; o.textContent = v; select.append(o);
    }
    select.addEventListener("change", renderPipeline);
  };
  fill("f-stage", "stage"); fill("f-status", "status"); fill("f-financing", "financing");
  for (const id of ["f-company", "f-country"]) document.getElementById(id).addEventListener("input", renderPipeline);
  renderPipeline();
  document.getElementById("pipeline-table").dataset.drawn = "true";
}

async function drawElements(scenario) {
  const d = await source("chart-elements", `/v1/demand?scenario=${scenario}&unit=t_oxide`);
  const byEl = groupBy(d.records, "material");
  const traces = Object.entries(byEl).map(([el, rows]) => {
    const sums = {};
    for (const r of rows) sums[r.year] = (sums[r.year] || 0) + r.value;
    const years = Object.keys(sums).map(Number).sort((a, b) => a - b);
    return { x: years, y: years.map(y => sums[y]), name: el + " oxide", type: "scatter", mode: "lines" };
  });
  await Plotly.newPlot("chart-elements", traces, { ...LAYOUT, yaxis: { title: "t oxide", type: "log" } }, CONFIG);
  markDrawn("chart-elements");
}

async function drawDrivers(scenario) {
  const d = await source("chart-drivers", `/v1/drivers?scenario=${scenario}`);
  const cars = d.records.filter(r => r.driver.startsWith("ev_car_sales."));
  const sum = (rows, key) => {
    const out = {};
    for (const r of rows) out[r.year] = (out[r.year] || 0) + r[key];
    return out;
  };
  const [mid, lo, hi] = ["value", "p5", "p95"].map(k => sum(cars, k));
  const years = Object.keys(mid).map(Number).sort((a, b) => a - b);
  // the band starts at the last observed year, where it has no width, so it joins the history line
  const firstProjected = Math.min(...cars.filter(r => r.kind === "projection").map(r => r.year));
  const future = years.filter(y => y >= firstProjected - 1);
  const traces = [
    { x: future, y: future.map(y => lo[y] / 1e6), name: "P5", type: "scatter", mode: "lines",
      line: { color: "rgba(31,119,180,0.5)", dash: "dot" } },
    { x: future, y: future.map(y => hi[y] / 1e6), name: "P5-P95 band", type: "scatter", mode: "lines", fill: "tonexty",
      fillcolor: "rgba(31,119,180,0.12)", line: { color: "rgba(31,119,180,0.5)", dash: "dot" } },
    { x: years, y: years.map(y => mid[y] / 1e6), name: "electric cars (BEV + PHEV)", type: "scatter", mode: "lines",
      line: { width: 3, color: "rgb(31,119,180)" } },
  ];
  const commercial = groupBy(d.records.filter(r => r.driver.startsWith("ev_commercial_sales.")), "driver");
  for (const [name, rows] of Object.entries(commercial)) {
    const label = { bus: "electric buses", truck: "electric trucks", van: "electric vans" }[name.split(".")[1]];
    traces.push({ x: rows.map(r => r.year), y: rows.map(r => r.value / 1e6), name: label || name,
                  type: "scatter", mode: "lines" });
  }
  const wind = sum(d.records.filter(r => r.driver.startsWith("wind_installs.")), "value");
  traces.push({ x: years, y: years.map(y => wind[y]), name: "wind installations (GW)", type: "scatter",
                mode: "lines", yaxis: "y2", line: { color: "rgb(44,160,44)", dash: "dash" } });
  const layout = { ...LAYOUT, margin: { ...LAYOUT.margin, r: 60 }, yaxis: { title: "million vehicles/yr" },
                   yaxis2: { title: "GW/yr", overlaying: "y", side: "right" } };
  await Plotly.newPlot("chart-drivers", traces, layout, CONFIG);
  markDrawn("chart-drivers");
}

async function drawCalibration() {
  const c = await getJSON("/v1/calibration");
  const card = document.getElementById("calibration-card");
  const t = c.tension;
  const moved = c.parameters.filter(p => Math.abs(p.z) >= 0.05).sort((a, b) => Math.abs(b.z) - Math.abs(a.z));
  const uplift = Object.entries(c.uplift_by_segment).filter(([, v]) => Math.abs(v) >= 500);
  const rows = [
    ["target", `${c.quantity}: ${c.target_year}/${c.base_year} = ${c.target_ratio}`],
    ["statement", c.statement],
    ["read as", c.interpretation],
    ["uncalibrated ratio", c.uncalibrated_ratio.toFixed(3) + " (the evidence: scenario 'uncalibrated')"],
    ["reachable ratio", c.reachable_ratio.toFixed(3) + " (the most the sourced ranges, the published history and the base-year mix allow)"],
    ["calibrated ratio", c.achieved_ratio.toFixed(3) + (c.reachable ? (c.within_tolerance ? " (within tolerance)" : " (NOT within tolerance)") : " - target NOT reachable within the ranges: no move applied")],
    ["tension", `chi2 ${t.chi2.toFixed(1)} (dof ${t.dof}), p = ${t.p_value.toPrecision(2)}: the target lies ${t.sigma.toFixed(1)} prior standard deviations from the evidence`],
    ["moves (z)", moved.map(p => `${p.name} ${p.before.toPrecision(3)} -> ${p.after.toPrecision(3)} (z ${p.z.toFixed(2)})`).join("; ")],
    [c.uplift_applied ? `uplift ${c.target_year}` : `uplift needed ${c.target_year}`, uplift.map(([s, v]) => `${s} ${(v / 1000).toFixed(1)} kt`).join(", ")],
    ["base-year mix kept", c.end_uses.map(u => `${u.end_use} ${u.year}: ${(u.low_t / 1000).toFixed(1)}-${u.high_t === null ? "" : (u.high_t / 1000).toFixed(1)} kt published, `
      + `evidence ${(u.evidence_t / 1000).toFixed(1)}, moved ${(u.moved_t / 1000).toFixed(1)}${u.within ? "" : " (outside)"}`).join("; ")],
  ];
  card.innerHTML = "";
  for (const [k, v] of rows) {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v; dd.style.margin = "0";
    card.append(dt, dd);
  }
}

async function drawTornado() {
  const year = document.getElementById("tornado-year").value;
  const s = await getJSON(`/v1/sensitivity?scenario=base&year=${year}&output=total`);
  const top = s.parameters.slice(0, 12).reverse();
  const names = top.map(p => `${p.name} (ST ${p.ST.toFixed(2)})`);
  const traces = [
    { y: names, x: top.map(p => p.output_low - s.central), base: s.central, name: "input at low end", type: "bar",
      orientation: "h", marker: { color: "rgb(31,119,180)" } },
    { y: names, x: top.map(p => p.output_high - s.central), base: s.central, name: "input at high end", type: "bar",
      orientation: "h", marker: { color: "rgb(255,127,14)" } },
  ];
  const layout = { ...LAYOUT, barmode: "overlay", margin: { ...LAYOUT.margin, l: 330 }, hovermode: "closest",
                   xaxis: { title: `world NdFeB ${year} [t], central ${Math.round(s.central)}` } };
  await Plotly.newPlot("chart-tornado", traces, layout, CONFIG);
  markDrawn("chart-tornado");
}

async function drawScenarios() {
  const s = await getJSON("/v1/scenarios");
  const tbody = document.querySelector("#scenarios-table tbody");
  tbody.innerHTML = "";
  const kt = v => (v === null || v === undefined) ? "" : (v / 1000).toFixed(0);
  for (const sc of s.scenarios) {
    const at = Object.fromEntries(sc.totals.map(t => [t.year, t]));
    const y30 = at[2030] || {}, y40 = at[2040] || {};
    const overrides = Object.keys(sc.overrides).join(", ") || (sc.calibrated ? "calibrated base" : "none: sourced central values");
    const cells = [sc.name, kt(y30.ndfeb_t), kt(y40.ndfeb_t), `${kt(y40.ndfeb_p5)}-${kt(y40.ndfeb_p95)}`,
                   kt(y40.ndpr_oxide_t), overrides];
    const tr = document.createElement("tr");
    tr.title = sc.description;
    for (const text of cells) { const td = document.createElement("td"); td.textContent = text; tr.append(td); }
    tbody.append(tr);
  }
}

async function drawSources() {
  const a = await getJSON("/v1/assumptions");
  document.getElementById("version").textContent = a.assumptions_version;
  VERSION = a.assumptions_version;
  const tbody = document.querySelector("#sources tbody");
  tbody.innerHTML = "";
  for (const s of a.sources) {
    const tr = document.createElement("tr");
    const link = document.createElement("a");
    link.href = s.url; link.textContent = s.title; link.rel = "noopener";
    const cells = [s.id, null, s.publisher, String(s.year)];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      if (i === 1) td.append(link); else td.textContent = text;
      tr.append(td);
    });
    tbody.append(tr);
  }
}

// ---- What if ------------------------------------------------------------------------------------

const SUMMARY_YEAR = 2040;
const WHATIF = { inputs: [], values: {}, seq: 0, last: null };
const fmtT = v => Math.round(v).toLocaleString("en-US");
const fmtSigned = v => (v >= 0 ? "+" : "-") + fmtT(Math.abs(v));
const fmtPct = v => (v >= 0 ? "+" : "-") + Math.abs(v).toFixed(1) + "%";

function trajectoryCopy(t) {
  const out = {};
  for (const [y, v] of Object.entries(t || {})) out[y] = v;
  return out;
}

// The overrides one input sets: a constant, a trajectory's anchor, a path held from a year, or a
// share whose siblings are scaled so the group still sums to 1 (see api/whatif.py).
function overridesFor(input, x) {
  if (input.kind === "value") return { [input.name]: x };
  const year = String(input.year);
  if (input.kind === "anchor") return { [input.name]: { ...trajectoryCopy(input.trajectory), [year]: x } };
  if (input.kind === "path") {
    const t = trajectoryCopy(input.trajectory);
    for (const y of Object.keys(t)) if (Number(y) > input.year) t[y] = x;
    t[year] = x;
    return { [input.name]: t };
  }
  const others = Object.keys(input.group).filter(m => m !== input.name);
  const rest = others.reduce((acc, m) => acc + input.group_values[m], 0);
  const out = { [input.name]: { ...trajectoryCopy(input.group[input.name]), [year]: x } };
  for (const m of others) {
    const v = rest > 0 ? input.group_values[m] * (1 - x) / rest : (1 - x) / others.length;
    out[m] = { ...trajectoryCopy(input.group[m]), [year]: Math.max(0, v) };
  }
  return out;
}

function whatIfOverrides() {
  let out = {};
  for (const input of WHATIF.inputs) {
    if (input.name in WHATIF.values) out = { ...out, ...overridesFor(input, WHATIF.values[input.name]) };
  }
  return out;
}

function inputId(name) { return "wi-" + name.replace(/[^A-Za-z0-9_-]/g, "_"); }

function renderWhatIfForm() {
  const form = document.getElementById("whatif-form");
  form.innerHTML = "";
  for (const input of WHATIF.inputs) {
    const row = document.createElement("div");
    row.className = "wi-row";
    const id = inputId(input.name);
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = input.label;
    const src = input.source;
    label.title = `${input.name} [${input.unit}], range ${input.low} to ${input.high}\n` +
      `Source: ${src.title} (${src.publisher}${src.year ? ", " + src.year : ""}) ${src.url}` + (input.note ? `\n${input.note}` : "");
    const field = document.createElement("input");
    field.type = "number"; field.id = id; field.name = input.name;
    field.min = String(input.low); field.max = String(input.high);
    field.step = "any";
    field.value = String(input.name in WHATIF.values ? WHATIF.values[input.name] : +input.value.toPrecision(6));
    field.title = label.title;
    field.dataset.unit = input.unit; field.dataset.source = src.id; field.dataset.low = input.low; field.dataset.high = input.high;
    field.addEventListener("change", () => onWhatIfChange(input, field));
    const meta = document.createElement("span");
    meta.className = "wi-meta";
    meta.textContent = `${input.unit}; range ${input.low}-${input.high}; ${src.publisher || src.id}` +
      (input.swing_t ? `; 2040 swing ${fmtT(input.swing_t)} t` : "");
    const err = document.createElement("span");
    err.className = "wi-error"; err.id = id + "-error"; err.setAttribute("role", "alert");
    row.append(label, field, meta, err);
    form.append(row);
  }
}

function clearWhatIfErrors() {
  for (const el of document.querySelectorAll("#whatif-form .wi-error")) el.textContent = "";
  for (const el of document.querySelectorAll("#whatif-form input")) el.removeAttribute("aria-invalid");
}

function showWhatIfError(failure, fallback) {
  // The API names the override at fault (overrides.<name>, or the body path of a malformed value).
  const detail = failure.payload && failure.payload.details && failure.payload.details[0];
  const where = detail && detail.parameter ? String(detail.parameter) : "";
  let target = fallback;
  for (const input of WHATIF.inputs) {
    const names = input.kind === "share" ? Object.keys(input.group) : [input.name];
    if (names.some(n => where.includes(n))) { target = input; break; }
  }
  const message = detail ? detail.message : failure.message;
  const field = document.getElementById(inputId(target.name));
  field.setAttribute("aria-invalid", "true");
  document.getElementById(inputId(target.name) + "-error").textContent = message;
  const section = document.getElementById("whatif");
  section.dataset.state = "error";
}

async function onWhatIfChange(input, field) {
  const raw = field.value.trim();
  const x = raw === "" ? null : Number(raw);
  const before = { ...WHATIF.values };
  if (x !== null && Number.isFinite(x) && Math.abs(x - input.value) < 1e-12) delete WHATIF.values[input.name];
  else WHATIF.values[input.name] = x;
  field.classList.toggle("changed", input.name in WHATIF.values);
  const ok = await runWhatIf(input);
  if (!ok) WHATIF.values = before;  // a refused value is not kept (nor put in the URL)
  else writeURL();
}

async function runWhatIf(changed) {
  const scenario = scenarioNow();
  const section = document.getElementById("whatif");
  const seq = ++WHATIF.seq;
  section.dataset.state = "computing";
  const started = performance.now();
  clearWhatIfErrors();
  const overrides = whatIfOverrides();
  let res;
  try {
    res = await postJSON("/v1/forecast", { scenario, overrides, quantiles: true, basis: "finished" });
  } catch (e) {
    if (seq !== WHATIF.seq) return false;
    if (e instanceof APIFailure && changed) { showWhatIfError(e, changed); return false; }
    section.dataset.state = "error";
    document.getElementById("whatif-summary").textContent = "error: " + e.message;
    return false;
  }
  if (seq !== WHATIF.seq) return true;  // a newer change is on its way
  WHATIF.last = { scenario, overrides, res };
  await drawWhatIf(scenario, overrides, res);
  const ms = Math.round(performance.now() - started);
  section.dataset.roundtripMs = String(ms);
  section.dataset.state = "done";
  section.dataset.seq = String(seq);
  document.getElementById("whatif-roundtrip").textContent = `computed and drawn in ${ms} ms`;
  updateCompareWhatIf();
  return true;
}

function totalsOf(records) {
  return records.filter(r => r.segment === "total" && r.material === "NdFeB" && r.unit === "t_magnet")
                .sort((a, b) => a.year - b.year);
}

function chainGap(records) {
  return records.filter(r => r.region === "ex_china" && r.stage === "chain" && r.material === "NdFeB")
                .sort((a, b) => a.year - b.year);
}

function bandTraces(rows, name, color, dash) {
  const band = rows.filter(r => r.p5 !== null && r.p5 !== undefined);
  return [
    { x: band.map(r => r.year), y: band.map(r => r.p5), name: `${name} P5`, type: "scatter", mode: "lines",
      line: { color, width: 0.5, dash: "dot" }, showlegend: false },
    { x: band.map(r => r.year), y: band.map(r => r.p95), name: `${name} P5-P95`, type: "scatter", mode: "lines",
      fill: "tonexty", fillcolor: color.replace("rgb(", "rgba(").replace(")", ",0.12)"), line: { color, width: 0.5, dash: "dot" } },
    { x: rows.map(r => r.year), y: rows.map(r => r.value), name, type: "scatter", mode: "lines", line: { color, width: 3, dash } },
  ];
}

async function drawWhatIf(scenario, overrides, res) {
  const [base, baseGap] = await Promise.all([
    getJSON(`/v1/demand?scenario=${scenario}&segment=total&element=NdFeB&unit=t_magnet&quantiles=true`),
    getJSON(`/v1/gap?scenario=${scenario}&stage=chain&region=ex_china&element=NdFeB`),
  ]);
  const b = totalsOf(base.records), w = totalsOf(res.demand);
  const traces = [...bandTraces(b, `${scenario}`, "rgb(90,100,114)", "dash"), ...bandTraces(w, "what-if", "rgb(214,39,40)", "solid")];
  await Plotly.react("chart-whatif-demand", traces, { ...LAYOUT, yaxis: { title: "t NdFeB (finished)" } }, CONFIG);
  const gb = chainGap(baseGap.records), gw = chainGap(res.gap);
  const gapTraces = [];
  for (const [chain, color] of [["outside_china", "rgb(31,119,180)"], ["china_free", "rgb(44,160,44)"]]) {
    const rb = gb.filter(r => r.chain === chain), rw = gw.filter(r => r.chain === chain);
    gapTraces.push({ x: rb.map(r => r.year), y: rb.map(r => r.gap_t), name: `${chain}, ${scenario}`, type: "scatter",
                     mode: "lines", line: { color, dash: "dash" } });
    gapTraces.push({ x: rw.map(r => r.year), y: rw.map(r => r.gap_t), name: `${chain}, what-if`, type: "scatter",
                     mode: "lines", line: { color, width: 3 } });
  }
  await Plotly.react("chart-whatif-gap", gapTraces, { ...LAYOUT, yaxis: { title: "t NdFeB (blank)" } }, CONFIG);
  const body = { scenarios: [scenario], what_if: { scenario, overrides }, by: "total", basis: "finished", unit: "magnet", quantiles: true };
  SOURCES["chart-whatif-demand"] = { url: "/v1/compare", body: { ...body, measure: "demand" } };
  SOURCES["chart-whatif-gap"] = { url: "/v1/compare", body: { ...body, measure: "gap" } };
  markDrawn("chart-whatif-demand"); markDrawn("chart-whatif-gap");
  // the difference in numbers
  const at = (rows, y) => rows.find(r => r.year === y);
  const db = at(b, SUMMARY_YEAR), dw = at(w, SUMMARY_YEAR);
  const summary = document.getElementById("whatif-summary");
  summary.innerHTML = "";
  const line = (html, id) => { const p = document.createElement("div"); p.id = id; p.innerHTML = html; summary.append(p); };
  const n = Object.keys(overrides).length;
  line(`<b>${n}</b> parameter${n === 1 ? "" : "s"} changed from scenario <b>${scenario}</b>; <span id="whatif-roundtrip"></span>`, "whatif-head");
  if (db && dw) {
    const diff = dw.value - db.value;
    line(`${SUMMARY_YEAR} world NdFeB demand: what-if <b id="whatif-demand-2040">${fmtT(dw.value)}</b> t ` +
         `(P5-P95 ${fmtT(dw.p5)}-${fmtT(dw.p95)}) against ${fmtT(db.value)} t: ` +
         `<b id="whatif-demand-diff">${fmtSigned(diff)} t (${fmtPct(100 * diff / db.value)})</b>`, "whatif-demand-line");
  }
  for (const chain of ["outside_china", "china_free"]) {
    const rb = at(gb.filter(r => r.chain === chain), SUMMARY_YEAR), rw = at(gw.filter(r => r.chain === chain), SUMMARY_YEAR);
    if (!rb || !rw) continue;
    const diff = rw.gap_t - rb.gap_t;
    line(`${SUMMARY_YEAR} gap outside China, ${chain} chain: what-if <b id="whatif-gap-${chain}">${fmtT(rw.gap_t)}</b> t ` +
         `against ${fmtT(rb.gap_t)} t: <b>${fmtSigned(diff)} t</b> (coverage ${(100 * rw.coverage).toFixed(1)}% against ${(100 * rb.coverage).toFixed(1)}%)`,
         `whatif-gap-line-${chain}`);
  }
}

async function loadWhatIfInputs(scenario) {
  const d = await getJSON(`/v1/what-if/inputs?scenario=${scenario}`);
  WHATIF.inputs = d.inputs;
  const known = new Set(d.inputs.map(i => i.name));
  for (const name of Object.keys(WHATIF.values)) if (!known.has(name)) delete WHATIF.values[name];
  renderWhatIfForm();
  document.getElementById("whatif-form").dataset.ranked = d.ranked_by;
}

async function drawWhatIfBase(scenario) {
  // before any change the what-if equals the scenario: draw the scenario alone, no request to POST /v1/forecast
  if (Object.keys(WHATIF.values).length) return runWhatIf(null);
  const base = await getJSON(`/v1/demand?scenario=${scenario}&segment=total&element=NdFeB&unit=t_magnet&quantiles=true`);
  const gap = await getJSON(`/v1/gap?scenario=${scenario}&stage=chain&region=ex_china&element=NdFeB`);
  await Plotly.react("chart-whatif-demand", bandTraces(totalsOf(base.records), scenario, "rgb(90,100,114)", "dash"),
                     { ...LAYOUT, yaxis: { title: "t NdFeB (finished)" } }, CONFIG);
  const g = chainGap(gap.records);
  await Plotly.react("chart-whatif-gap", ["outside_china", "china_free"].map(chain => {
    const rows = g.filter(r => r.chain === chain);
    return { x: rows.map(r => r.year), y: rows.map(r => r.gap_t), name: `${chain}, ${scenario}`, type: "scatter", mode: "lines" };
  }), { ...LAYOUT, yaxis: { title: "t NdFeB (blank)" } }, CONFIG);
  const body = { scenarios: [scenario], by: "total", basis: "finished", unit: "magnet", quantiles: true };
  SOURCES["chart-whatif-demand"] = { url: "/v1/compare", body: { ...body, measure: "demand" } };
  SOURCES["chart-whatif-gap"] = { url: "/v1/compare", body: { ...body, measure: "gap" } };
  markDrawn("chart-whatif-demand"); markDrawn("chart-whatif-gap");
  document.getElementById("whatif").dataset.state = "idle";
}

// ---- Scenarios side by side --------------------------------------------------------------------

const COMPARE = { scenarios: [], seq: 0 };
const WHAT_IF = "what-if";
const PALETTE = ["rgb(31,119,180)", "rgb(255,127,14)", "rgb(44,160,44)", "rgb(148,103,189)", "rgb(140,86,75)",
                 "rgb(227,119,194)", "rgb(127,127,127)", "rgb(188,189,34)", "rgb(23,190,207)", "rgb(214,39,40)"];

function compareChoice() {
  const boxes = [...document.querySelectorAll("#compare-scenarios input:checked")].map(b => b.value);
  return {
    scenarios: boxes.filter(n => n !== WHAT_IF), whatIf: boxes.includes(WHAT_IF),
    by: document.getElementById("compare-by").value, basis: document.getElementById("compare-basis").value,
    unit: document.getElementById("compare-unit").value, year: Number(document.getElementById("compare-year").value),
  };
}

function updateCompareWhatIf() {
  const box = document.getElementById("cmp-" + WHAT_IF);
  const active = Object.keys(WHATIF.values).length > 0;
  box.disabled = !active;
  if (!active) box.checked = false;
  if (box.checked) drawCompare();
}

async function drawCompare() {
  const c = compareChoice();
  const status = document.getElementById("compare-status");
  const section = document.getElementById("compare");
  document.getElementById("compare-basis").disabled = c.unit === "oxide";
  if (c.scenarios.length + (c.whatIf ? 1 : 0) < 1) { status.textContent = "choose at least one scenario"; return; }
  const seq = ++COMPARE.seq;
  section.dataset.state = "computing";
  const body = { scenarios: c.scenarios.length ? c.scenarios : [scenarioNow()], measure: "demand", by: c.by,
                 basis: c.basis, unit: c.unit, quantiles: true };
  if (c.whatIf) body.what_if = { scenario: scenarioNow(), overrides: whatIfOverrides() };
  let d;
  try {
    d = await source("chart-compare", "/v1/compare", body);
  } catch (e) {
    status.textContent = "error: " + e.message; status.className = "error"; section.dataset.state = "error";
    return;
  }
  if (seq !== COMPARE.seq) return;
  status.textContent = ""; status.className = "";
  const names = d.scenarios;
  const unit = d.records.length ? `${d.records[0].unit} (${d.records[0].basis})` : "";
  const traces = [];
  if (c.by === "total") {
    names.forEach((name, i) => {
      const rows = d.records.filter(r => r.scenario === name);
      const color = name === WHAT_IF ? "rgb(214,39,40)" : PALETTE[i % PALETTE.length];
      if (rows.some(r => r.p5 !== null && r.p5 !== undefined)) traces.push(...bandTraces(rows, name, color, "solid"));
      else traces.push({ x: rows.map(r => r.year), y: rows.map(r => r.value), name, type: "scatter", mode: "lines", line: { color, width: 3 } });
    });
  } else {
    names.forEach((name, i) => {
      const rows = d.records.filter(r => r.scenario === name && r.year === c.year);
      const color = name === WHAT_IF ? "rgb(214,39,40)" : PALETTE[i % PALETTE.length];
      traces.push({ x: rows.map(r => r.item), y: rows.map(r => r.value), name, type: "bar", marker: { color } });
    });
  }
  const layout = { ...LAYOUT, yaxis: { title: unit }, barmode: "group",
                   xaxis: c.by === "total" ? {} : { title: `${c.by}s in ${c.year}` } };
  await Plotly.react("chart-compare", traces, layout, CONFIG);
  renderCompareTable(d, c);
  const chart = document.getElementById("chart-compare");
  chart.dataset.scenarios = names.join(",");
  chart.dataset.by = c.by; chart.dataset.unit = unit;
  markDrawn("chart-compare");
  section.dataset.state = "done";
}

function renderCompareTable(d, c) {
  const names = d.scenarios;
  const table = document.getElementById("compare-table");
  const head = table.querySelector("thead"), body = table.querySelector("tbody");
  head.innerHTML = ""; body.innerHTML = "";
  const first = names[0];
  const cols = [c.by === "total" ? "year" : c.by, ...names, ...names.slice(1).map(n => `${n} vs ${first}`)];
  const tr = document.createElement("tr");
  for (const text of cols) { const th = document.createElement("th"); th.textContent = text; tr.append(th); }
  head.append(tr);
  const value = {};
  for (const r of d.records) value[`${r.scenario}|${c.by === "total" ? r.year : r.item}|${c.by === "total" ? "" : r.year}`] = r.value;
  const keys = c.by === "total"
    ? [...new Set(d.records.map(r => r.year))].filter(y => y % 5 === 0)
    : [...new Set(d.records.filter(r => r.year === c.year).map(r => r.item))];
  for (const k of keys) {
    const row = document.createElement("tr");
    row.dataset.key = String(k);
    const get = n => value[`${n}|${k}|${c.by === "total" ? "" : c.year}`];
    const cells = [String(k), ...names.map(n => get(n) === undefined ? "" : fmtT(get(n))),
                   ...names.slice(1).map(n => (get(n) === undefined || !get(first)) ? "" : fmtPct(100 * (get(n) / get(first) - 1)))];
    for (const text of cells) { const td = document.createElement("td"); td.textContent = text; row.append(td); }
    body.append(row);
  }
}

function setupCompare(scenarios, years, chosen) {
  const box = document.getElementById("compare-scenarios");
  for (const name of [...scenarios, WHAT_IF]) {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "checkbox"; input.value = name; input.id = "cmp-" + name;
    input.checked = chosen.includes(name);
    input.addEventListener("change", () => { drawCompare(); writeURL(); });
    label.append(input, " " + name);
    box.append(label);
  }
  const year = document.getElementById("compare-year");
  for (const y of years) { const o = document.createElement("option"); o.value = String(y); o.textContent = String(y); year.append(o); }
  for (const id of ["compare-by", "compare-basis", "compare-unit", "compare-year"]) {
    document.getElementById(id).addEventListener("change", () => { drawCompare(); writeURL(); });
  }
}

// ---- Page state in the URL ---------------------------------------------------------------------

function writeURL() {
  const q = new URLSearchParams();
  q.set("scenario", scenarioNow());
  const wi = Object.entries(WHATIF.values).map(([k, v]) => `${k}:${v}`).join(";");
  if (wi) q.set("whatif", wi);
  const c = compareChoice();
  q.set("compare", [...c.scenarios, ...(c.whatIf ? [WHAT_IF] : [])].join(","));
  for (const k of ["by", "basis", "unit", "year"]) q.set(k, String(c[k]));
  q.set("chain", document.getElementById("chain").value);
  q.set("material", document.getElementById("balance-material").value);
  history.replaceState(null, "", "?" + q.toString());
}

function readURL() {
  const q = new URLSearchParams(location.search);
  const values = {};
  for (const pair of (q.get("whatif") || "").split(";").filter(Boolean)) {
    const i = pair.lastIndexOf(":");
    const x = Number(pair.slice(i + 1));
    if (i > 0 && Number.isFinite(x)) values[pair.slice(0, i)] = x;
  }
  return { scenario: q.get("scenario"), values, compare: q.get("compare"), by: q.get("by"), basis: q.get("basis"),
           unit: q.get("unit"), year: q.get("year"), chain: q.get("chain"), material: q.get("material") };
}

function setSelect(id, value) {
  const el = document.getElementById(id);
  if (value && [...el.options].some(o => o.value === value)) el.value = value;
}

function scenarioNow() { return document.getElementById("scenario").value || "base"; }

// ---- Page ----------------------------------------------------------------------------------------

async function drawAll() {
  const scenario = scenarioNow();
  const status = document.getElementById("status");
  status.textContent = "loading...";
  try {
    await Promise.all([
      drawDemand(scenario), drawDrivers(scenario), drawGap(scenario), drawBinding(scenario), drawElements(scenario),
      drawBalance(scenario), loadWhatIfInputs(scenario).then(() => Promise.all([drawWhatIfBase(scenario), drawCompare()])),
    ]);
    status.textContent = "";
    document.body.dataset.ready = "true";
  } catch (e) {
    status.textContent = "error: " + e.message;
    status.className = "error";
    throw e;
  }
}

async function init() {
  const state = readURL();
  const s = await getJSON("/v1/scenarios");
  const names = s.scenarios.map(sc => sc.name);
  const select = document.getElementById("scenario");
  for (const sc of s.scenarios) {
    const o = document.createElement("option");
    o.value = sc.name; o.textContent = sc.name; o.title = sc.description;
    select.append(o);
  }
  setSelect("scenario", state.scenario);
  setSelect("chain", state.chain);
  setSelect("balance-material", state.material);
  WHATIF.values = state.values;
  const preferred = ["base", "uncalibrated", "export_controls"].filter(n => names.includes(n));
  const defaults = [...preferred, ...names.filter(n => !preferred.includes(n))].slice(0, 3);
  const chosen = state.compare ? state.compare.split(",") : defaults;
  const horizon = Array.from({ length: 2050 - 2025 + 1 }, (_, i) => 2025 + i);
  setupCompare(names, horizon, chosen);
  setSelect("compare-by", state.by); setSelect("compare-basis", state.basis);
  setSelect("compare-unit", state.unit); setSelect("compare-year", state.year || String(SUMMARY_YEAR));
  document.getElementById("cmp-" + WHAT_IF).disabled = Object.keys(WHATIF.values).length === 0;
  select.addEventListener("change", () => {
    document.body.dataset.ready = "false"; WHATIF.values = {};
    const box = document.getElementById("cmp-" + WHAT_IF);
    box.checked = false; box.disabled = true;
    writeURL(); drawAll();
  });
  document.getElementById("chain").addEventListener("change", () => { drawBinding(scenarioNow()); writeURL(); });
  document.getElementById("balance-material").addEventListener("change", () => { drawBalance(scenarioNow()); writeURL(); });
  document.getElementById("whatif-reset").addEventListener("click", () => {
    WHATIF.values = {}; renderWhatIfForm(); updateCompareWhatIf(); drawWhatIfBase(scenarioNow()); writeURL();
  });
  for (const button of document.querySelectorAll("button.csv")) {
    button.addEventListener("click", () => downloadCSV(button.dataset.chart));
  }
  document.getElementById("tornado-year").addEventListener("change", () => drawTornado());
  await Promise.all([drawCalibration(), drawSources(), drawPipeline(), drawScenarios(), drawTornado()]);
  await drawAll();
  writeURL();
}

init();
