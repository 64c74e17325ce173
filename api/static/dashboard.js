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
  if (scenario !== "uncalibrated") {
    const u = await getJSON("/v1/demand?scenario=uncalibrated&element=NdFeB&unit=t_magnet");
    const total = {};
    for (const r of u.records) total[r.year] = (total[r.year] || 0) + r.value;
    const ys = Object.keys(total).map(Number).sort((a, b) => a - b);
    traces.push({ x: ys, y: ys.map(y => total[y]), name: "uncalibrated total (evidence)", type: "scatter",
                  mode: "lines", line: { color: "rgb(214,39,40)", width: 2 } });
  }
  const band = q.records.filter(r => r.p5 !== null);
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
  const g = await getJSON(`/v1/gap?scenario=${scenario}&stage=magnet&region=ex_china&element=NdFeB`);
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
  const s = await getJSON(`/v1/supply?weighting=risked&element=NdFeB`);
  const g = await getJSON(`/v1/gap?scenario=${scenario}&stage=chain&region=ex_china&element=NdFeB`);
  const byStage = groupBy(s.records, "stage");
  const traces = Object.entries(byStage).map(([stage, rows]) => ({
    x: rows.map(r => r.year), y: rows.map(r => r.capacity_t), name: stage, type: "scatter", mode: "lines",
  }));
  traces.push({
    x: g.records.map(r => r.year), y: g.records.map(r => r.supply_risked_t), name: "chain output",
    text: g.records.map(r => "binding: " + r.binding_stage), type: "scatter", mode: "lines+markers",
    line: { width: 4, color: "#111" },
  });
  await Plotly.newPlot("chart-binding", traces, { ...LAYOUT, yaxis: { title: "t NdFeB-eq", type: "log" } }, CONFIG);
  markDrawn("chart-binding");
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
  const t = c.tension;
  const moved = c.parameters.filter(p => Math.abs(p.z) >= 0.05).sort((a, b) => Math.abs(b.z) - Math.abs(a.z));
  const uplift = Object.entries(c.uplift_by_segment).filter(([, v]) => Math.abs(v) >= 500);
  const rows = [
    ["target", `${c.quantity}: ${c.target_year}/${c.base_year} = ${c.target_ratio}`],
    ["statement", c.statement],
    ["read as", c.interpretation],
    ["uncalibrated ratio", c.uncalibrated_ratio.toFixed(3) + " (the evidence: scenario 'uncalibrated')"],
    ["calibrated ratio", c.achieved_ratio.toFixed(3) + (c.reachable ? (c.within_tolerance ? " (within tolerance)" : " (NOT within tolerance)") : " - target NOT reachable within the ranges: no move applied")],
    ["tension", `chi2 ${t.chi2.toFixed(1)} (dof ${t.dof}), p = ${t.p_value.toPrecision(2)}: the target lies ${t.sigma.toFixed(1)} prior standard deviations from the evidence`],
    ["moves (z)", moved.map(p => `${p.name} ${p.before.toPrecision(3)} -> ${p.after.toPrecision(3)} (z ${p.z.toFixed(2)})`).join("; ")],
    [c.uplift_applied ? `uplift ${c.target_year}` : `uplift needed ${c.target_year}`, uplift.map(([s, v]) => `${s} ${(v / 1000).toFixed(1)} kt`).join(", ")],
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
  document.getElementById("tornado-year").addEventListener("change", () => drawTornado());
  await Promise.all([drawCalibration(), drawSources(), drawScenarios(), drawTornado()]);
  await drawAll();
}

init();
