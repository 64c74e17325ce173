"use strict";
// Dashboard: reads the JSON API of this same server and draws plotly charts.

async function getJSON(url) {
  const r = await fetch(url, { headers: { Accept: "application/json" } });
  if (!r.ok) throw new Error(url + " -> " + r.status);
  return r.json();
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
  const d = await getJSON(`/v1/demand?scenario=${scenario}&element=NdFeB`);
  const q = await getJSON(`/v1/demand?scenario=${scenario}&segment=total&element=NdFeB&unit=t_magnet&quantiles=true`);
  const bySeg = groupBy(d.records, "segment");
  const traces = Object.entries(bySeg).map(([seg, rows]) => ({
    x: rows.map(r => r.year), y: rows.map(r => r.value), name: seg, stackgroup: "one", type: "scatter", mode: "none",
  }));
  const band = q.records.filter(r => r.p5 !== null);
  traces.push({ x: band.map(r => r.year), y: band.map(r => r.p5), name: "P5", type: "scatter", mode: "lines",
                line: { color: "rgba(0,0,0,0.5)", dash: "dot" } });
  traces.push({ x: band.map(r => r.year), y: band.map(r => r.p95), name: "P5-P95 band", type: "scatter", mode: "lines",
                fill: "tonexty", fillcolor: "rgba(0,0,0,0.08)", line: { color: "rgba(0,0,0,0.5)", dash: "dot" } });
  await Plotly.newPlot("chart-demand", traces, { ...LAYOUT, yaxis: { title: "t NdFeB" } }, CONFIG);
  markDrawn("chart-demand");
}

async function drawGap(scenario) {
  const g = await getJSON(`/v1/gap?scenario=${scenario}&stage=magnet&region=ex_china&element=NdFeB&chain=outside_china`);
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
  const s = await getJSON(`/v1/supply?weighting=risked&element=NdFeB&chain=${chain}`);
  const g = await getJSON(`/v1/gap?scenario=${scenario}&stage=chain&region=ex_china&element=NdFeB`);
  const byStage = groupBy(s.records, "stage");
  const traces = Object.entries(byStage).map(([stage, rows]) => ({
    x: rows.map(r => r.year), y: rows.map(r => r.capacity_t), name: stage, type: "scatter", mode: "lines",
  }));
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
  const b = await getJSON(`/v1/balance?scenario=${scenario}&material=${material}`);
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
  const d = await getJSON(`/v1/demand?scenario=${scenario}&unit=t_oxide`);
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
  const d = await getJSON(`/v1/drivers?scenario=${scenario}`);
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
  const rows = [
    ["target", `${c.quantity}: ${c.target_year}/${c.base_year} = ${c.target_ratio}`],
    ["statement", c.statement],
    ["uncalibrated ratio", c.uncalibrated_ratio.toFixed(3)],
    ["calibrated ratio", c.achieved_ratio.toFixed(3) + (c.within_tolerance ? " (within tolerance)" : " (NOT within tolerance)")],
    ["parameters moved", c.parameters.map(p => `${p.name}: ${p.before} -> ${typeof p.after === "number" ? p.after.toFixed(4) : JSON.stringify(p.after)} [${p.low}, ${p.high}]`).join("; ")],
  ];
  card.innerHTML = "";
  for (const [k, v] of rows) {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v; dd.style.margin = "0";
    card.append(dt, dd);
  }
}

async function drawSources() {
  const a = await getJSON("/v1/assumptions");
  document.getElementById("version").textContent = a.assumptions_version;
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

async function drawAll() {
  const scenario = document.getElementById("scenario").value || "base";
  const status = document.getElementById("status");
  status.textContent = "loading...";
  try {
    await Promise.all([
      drawDemand(scenario), drawDrivers(scenario), drawGap(scenario), drawBinding(scenario), drawElements(scenario),
      drawBalance(scenario),
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
  const s = await getJSON("/v1/scenarios");
  const select = document.getElementById("scenario");
  for (const sc of s.scenarios) {
    const o = document.createElement("option");
    o.value = sc.name; o.textContent = sc.name; o.title = sc.description;
    select.append(o);
  }
  select.addEventListener("change", () => { document.body.dataset.ready = "false"; drawAll(); });
  const scenarioNow = () => document.getElementById("scenario").value || "base";
  document.getElementById("chain").addEventListener("change", () => drawBinding(scenarioNow()));
  document.getElementById("balance-material").addEventListener("change", () => drawBalance(scenarioNow()));
  await Promise.all([drawCalibration(), drawSources(), drawPipeline()]);
  await drawAll();
}

init();
