"""Command line (an edge, like the HTTP service): ``magnet-forecast demand | supply | gap | refresh | ...``.

It reads the same settings object as the service and the store (``api.settings``).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import httpx
import pandas as pd
import typer
from sqlalchemy.exc import SQLAlchemyError

from api.allocator import retain_freed_memory
from api.fitcache import FitCacheError, fit_cache_path, load_or_fit
from api.progress import BUNDLE_NOTE, FIRST_FIT_NOTE, reporter, say
from api.render import neutralised
from api.settings import get_settings
from api.store.locks import LockBusy
from api.store.refresh import refresh as run_refresh
from api.store.repository import OutdatedBundle, Store, UnknownVersion
from api.workbook import write_workbook
from forecast.backtest import DriverFits, with_fitted_drivers
from forecast.balance import BALANCE_MATERIALS
from forecast.bundle import ForecastBundle, build_bundle, gap_table, world_balance
from forecast.calibration import CalibrationResult, band_parameters, calibrate
from forecast.composition import OXIDE_BASIS
from forecast.gap import GAP_MATERIALS, GAP_REGIONS, GAP_STAGES
from forecast.hindcast import hindcast as hindcast_report
from forecast.loading import AssumptionsError, load_assumptions
from forecast.model import forecast_scenario, horizon_years
from forecast.montecarlo import DEFAULT_PATHS, driver_quantile_table, quantile_table
from forecast.regions import regional_demand_for_params
from forecast.scenarios import resolve_parameters, scenario_names
from forecast.schemas import EX_CHINA_REGIONS, REGIONS, Assumptions
from forecast.sensitivity import sensitivity
from forecast.supply import CHAIN, CHAINS, stage_capacity, supply_quantile_table
from forecast.versioning import assumptions_hash

app = typer.Typer(no_args_is_help=True, add_completion=False, help="NdFeB magnet and rare-earth demand outlook.")
assumptions_app = typer.Typer(no_args_is_help=True, help="Work with assumption directories.")
app.add_typer(assumptions_app, name="assumptions")

USAGE_ERROR = 2


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


class TableFormat(StrEnum):
    table = "table"
    json = "json"


class Weighting(StrEnum):
    nameplate = "nameplate"
    risked = "risked"


class Basis(StrEnum):
    finished = "finished"
    blank = "blank"
    alloy = "alloy"


class By(StrEnum):
    segment = "segment"
    material = "material"
    region = "region"


class _State:
    assumptions_dir: Path | None = None  # --assumptions, else the settings' assumptions directory
    quiet: bool = False  # --quiet: no progress bars or notes on stderr

    @classmethod
    def directory(cls) -> Path:
        return cls.assumptions_dir or get_settings().assumptions_dir


def _fail(message: str, code: int = USAGE_ERROR) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


class Drivers(StrEnum):
    ensemble = "ensemble"
    logistic = "logistic"


def _fitted(a: Assumptions, drivers: Drivers = Drivers.ensemble) -> tuple[Assumptions, DriverFits | None]:
    """Assumptions with the backtested ensemble drivers (fits cached per version), or as they are."""
    if drivers is Drivers.logistic:
        return a, None
    fits = _fits(a)
    return with_fitted_drivers(a, fits), fits


def _fits(a: Assumptions) -> DriverFits:
    """Driver fits from the cache; on a first run, fitted with a note and a progress bar on a terminal."""
    cache = get_settings().fit_cache_dir()
    if not fit_cache_path(a, cache).is_file():
        say(FIRST_FIT_NOTE, _State.quiet)
    try:
        with reporter("driver models", _State.quiet) as progress:
            return load_or_fit(a, cache, progress)
    except FitCacheError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


DriversOpt = Annotated[
    Drivers, typer.Option(help="ensemble (backtested models, cached per version) or logistic (capped S-curve).")
]


def _load(directory: Path | None = None) -> Assumptions:
    try:
        return load_assumptions(directory or _State.directory())
    except AssumptionsError as err:
        for p in err.problems:
            typer.echo(str(p), err=True)
        typer.echo(f"{len(err.problems)} problem(s) in {directory or _State.directory()}", err=True)
        raise typer.Exit(1) from None


@app.callback()
def main(
    assumptions: Annotated[
        Path | None,
        typer.Option("--assumptions", envvar="MAGNET_FORECAST_ASSUMPTIONS", help="Assumptions directory."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bars or notes (they go to stderr on a terminal only).")
    ] = False,
) -> None:
    """NdFeB permanent-magnet demand by segment and the Nd, Pr, Dy, Tb it needs."""
    retain_freed_memory()
    if assumptions is not None:
        _State.assumptions_dir = assumptions
    _State.quiet = quiet


def _check_years(a: Assumptions, start: int | None, end: int | None) -> tuple[int, int]:
    h = a.model.horizon
    s, e = start or h.first_year, end or h.last_year
    for name, y in (("--start", s), ("--end", e)):
        if not h.first_year <= y <= h.last_year:
            _fail(f"{name} {y} is outside the horizon; expected a year from {h.first_year} to {h.last_year}")
    if s > e:
        _fail(f"--start {s} is after --end {e}; expected start <= end")
    return s, e


def _open_scenario(scenario: str, start: int | None, end: int | None, drivers: Drivers) -> tuple[Assumptions, int, int]:
    """Assumptions (with their driver fits) for a known scenario, and the checked first and last year."""
    a = _load()
    if scenario not in a.scenarios:
        _fail(f"unknown scenario {scenario!r}; expected one of {scenario_names(a)}")
    s, e = _check_years(a, start, end)
    return _fitted(a, drivers)[0], s, e


def _machine_readable(df: pd.DataFrame, fmt: Format) -> bool:
    """Print the whole table as csv or json records; False when a human table was asked for."""
    if fmt is Format.csv:
        neutralised(df).to_csv(sys.stdout, index=False)
    elif fmt is Format.json:
        typer.echo(df.to_json(orient="records"))
    return fmt is not Format.table


def _human_table(df: pd.DataFrame, by: By, basis: str = "finished") -> str:
    if by is By.region:
        m = df[(df["material"] == "NdFeB") & (df["unit"] == "t_magnet")]
        wide = m.pivot_table(index="year", columns="region", values="value", aggfunc="sum")[list(REGIONS)]
        wide["ex_china"] = wide[list(EX_CHINA_REGIONS)].sum(axis=1)
        wide["world"] = wide[list(REGIONS)].sum(axis=1)
        title = (
            f"NdFeB magnet demand [t/yr] by region (where products are sold or installed), basis {basis}; "
            "ex_china = the sum of the regions outside China (the gap's ex-China demand)"
        )
        share = (wide["ex_china"] / wide["world"]).map(lambda v: f"{v:.1%}").rename("ex_china_share")
        return title + "\n" + wide.round(0).astype("int64").join(share).to_string()
    if by is By.segment:
        m = df[(df["material"] == "NdFeB") & (df["unit"] == "t_magnet")]
        wide = m.pivot_table(index="year", columns="segment", values="value", aggfunc="sum")
        wide["total"] = wide.sum(axis=1)
        title = f"NdFeB magnet demand [t/yr] by segment, basis {basis}"
    else:
        m = df.copy()
        m["column"] = m["material"] + " " + m["unit"]
        wide = m.pivot_table(index="year", columns="column", values="value", aggfunc="sum")
        title = (
            f"Demand by material [t/yr], basis {basis}: t_magnet = magnet, t_metal = element in the magnet, "
            "t_oxide = primary oxide needed (net of recycled swarf), t_oxide_gross = before swarf recycling"
        )
    return title + "\n" + wide.round(0).astype("int64").to_string()


def _emit(df: pd.DataFrame, fmt: Format, by: By, basis: str = "finished") -> None:
    if not _machine_readable(df, fmt):
        typer.echo(_human_table(df, by, basis))


def select_basis(df: pd.DataFrame, basis: str) -> pd.DataFrame:
    """Rows on one magnet basis, plus the oxide rows (the same whatever basis is reported)."""
    return df[df["basis"].isin([basis, OXIDE_BASIS])]


@app.command()
def demand(
    scenario: Annotated[str, typer.Option(help="Scenario name (see scenarios.yaml).")] = "base",
    start: Annotated[int | None, typer.Option(help="First year.")] = None,
    end: Annotated[int | None, typer.Option(help="Last year.")] = None,
    by: Annotated[
        By, typer.Option(help="Shape of the human table; region also adds a region column to csv/json.")
    ] = By.segment,
    fmt: Annotated[Format, typer.Option("--format", help="table, or the whole tidy table as csv/json.")] = Format.table,
    quantiles: Annotated[bool, typer.Option("--quantiles", help="Add Monte Carlo p5, p10, p50, p90, p95.")] = False,
    paths: Annotated[int, typer.Option(min=100, max=100_000, help="Monte Carlo paths.")] = DEFAULT_PATHS,
    seed: Annotated[int, typer.Option(help="Monte Carlo seed (same seed, same numbers).")] = 0,
    drivers: DriversOpt = Drivers.ensemble,
    basis: Annotated[Basis, typer.Option(help="Magnet tonnage basis: finished, blank or alloy.")] = Basis.finished,
) -> None:
    """World NdFeB demand by segment and element (or by region), per year, on a declared tonnage basis."""
    if quantiles and by is By.region:
        _fail("--quantiles gives world totals; expected --by segment or --by material with --quantiles")
    a, s, e = _open_scenario(scenario, start, end, drivers)
    cal = calibrate(a)
    years = horizon_years(a, s, e)
    df = select_basis(forecast_scenario(a, scenario, cal.calibrated, years), basis.value)
    if by is By.region:
        df = regional_demand_for_params(a, resolve_parameters(a, scenario, cal.calibrated), df, years)
    if quantiles:
        params = band_parameters(a, cal, scenario)
        with reporter("Monte Carlo", _State.quiet) as progress:
            progress(f"{paths} paths, scenario {scenario}", 0, 1)
            q = quantile_table(a, params, scenario, years, paths, seed, basis=basis.value)  # the rows shown
        df = df.merge(q, on=["year", "scenario", "segment", "material", "basis", "unit"], how="left")
        if fmt is Format.table:
            m = q[(q["segment"] == "total") & (q["material"] == "NdFeB") & (q["basis"] == basis.value)].set_index(
                "year"
            )
            cols = ["p5", "p10", "p50", "p90", "p95"]
            typer.echo(
                "NdFeB magnet demand, all segments, Monte Carlo quantiles [t/yr] "
                f"({paths} paths, seed {seed})\n" + m[cols].round(0).astype("int64").to_string() + "\n"
            )
    _emit(df, fmt, by, basis.value)


@app.command()
def hindcast(
    fmt: Annotated[TableFormat, typer.Option("--format", help="table or json.")] = TableFormat.table,
    drivers: DriversOpt = Drivers.ensemble,
) -> None:
    """The model's 2015-2025 world totals against published NdFeB production, with the MAPE."""
    a = _fitted(_load(), drivers)[0]
    h = hindcast_report(a, resolve_parameters(a, "base", calibrate(a).calibrated))
    if fmt is TableFormat.json:
        typer.echo(json.dumps(h.to_dict(), indent=2))
        return
    rows = h.rows.assign(error=lambda d: (100 * d["error"]).round(1))
    typer.echo(
        f"World NdFeB, model against published history [t/yr], basis {h.basis}; error in %\n"
        + rows[["year", "model_t", "published_t", "error"]].round(0).to_string(index=False)
        + f"\nMAPE {100 * h.mape:.1f}% over {len(rows)} years\n"
        + "Sources: "
        + ", ".join(sorted(set(rows["source"])))
    )


def _calibration_table(c: CalibrationResult) -> str:
    t = c.tension
    lines = [
        f"Target: {c.quantity}, {c.target_year}/{c.base_year} = {c.target_ratio:g} ({c.source})",
        f"  Statement: {c.statement}",
        f"  Read as: {c.interpretation}",
        f"Method: {c.method}",
        f"Uncalibrated ratio (sourced central values): {c.uncalibrated_ratio:.3f}",
        f"Reachable within the ranges and the history: up to {c.reachable_ratio:.3f}",
        f"Calibrated ratio: {c.achieved_ratio:.3f}  (within {c.tolerance:.0%}: {'yes' if c.within_tolerance else 'NO'})"
        + ("" if c.reachable else "  -- TARGET NOT REACHABLE within the sourced ranges: no move applied"),
        f"Tension: chi2 = {t.chi2:.2f} (dof {t.dof}), p = {t.p_value:.2g}, {t.sigma:.2f} prior standard deviations",
        f"History: base-year error {c.history['base_year_error']:+.1%} (limit {c.history['base_year_tolerance']:.0%}), "
        f"hindcast MAPE {c.history['hindcast_mape']:.1%} (limit {c.history['hindcast_mape_limit']:.0%})",
        "",
        f"{'input':62} {'unit':18} {'before':>11} {'after':>11} {'low':>11} {'high':>11} {'z':>6}",
    ]
    for p in sorted(c.parameters, key=lambda p: -abs(p.z)):
        lines.append(
            f"{p.name:62} {p.unit:18} {p.before:>11.4g} {p.after:>11.4g} {p.low:>11.4g} {p.high:>11.4g} {p.z:>6.2f}"
        )
    if c.end_uses:
        lines += ["", "Published end-use tonnages the base-year mix must keep [t]:"]
        lines.append(f"  {'year':4} {'end use':28} {'low':>9} {'high':>9} {'evidence':>9} {'moved':>9}  within")
        for u in c.end_uses:
            high = "-" if u["high_t"] is None else f"{u['high_t']:.0f}"
            lines.append(
                f"  {u['year']:4} {u['end_use']:28} {u['low_t']:>9.0f} {high:>9} {u['evidence_t']:>9.0f} "
                f"{u['moved_t']:>9.0f}  {'yes' if u['within'] else 'NO'}"
            )
    applied = "added by the calibration" if c.uplift_applied else "the target would need (not applied)"
    lines += ["", f"Uplift by segment in {c.target_year} [t finished magnet], {applied}:"]
    lines += [f"  {seg:24} {v:>10.0f}" for seg, v in c.uplift_by_segment.items() if abs(v) >= 0.5]
    return "\n".join(lines)


@app.command()
def calibration(
    fmt: Annotated[TableFormat, typer.Option("--format", help="table or json.")] = TableFormat.table,
    drivers: DriversOpt = Drivers.ensemble,
) -> None:
    """How the base scenario is tied to the DOE 2023 projection: standardized moves, tension, uplift."""
    c = calibrate(_fitted(_load(), drivers)[0])
    typer.echo(json.dumps(c.to_dict(), indent=2) if fmt is TableFormat.json else _calibration_table(c))
    if not c.reachable:
        raise typer.Exit(1)


class Output(StrEnum):
    total = "total"
    NdPr = "NdPr"
    Dy = "Dy"
    Tb = "Tb"


@app.command("sensitivity")
def sensitivity_cmd(
    scenario: Annotated[str, typer.Option(help="Scenario name.")] = "base",
    year: Annotated[int, typer.Option(help="Year of the output.")] = 2040,
    output: Annotated[Output, typer.Option(help="total (NdFeB, finished), NdPr, Dy or Tb (oxide).")] = Output.total,
    fmt: Annotated[TableFormat, typer.Option("--format", help="table or json.")] = TableFormat.table,
    drivers: DriversOpt = Drivers.ensemble,
) -> None:
    """What drives the answer: each input across its range (one at a time) and Sobol S1/ST indices."""
    a, s, _ = _open_scenario(scenario, year, year, drivers)
    params = resolve_parameters(a, scenario, calibrate(a).calibrated)
    t = sensitivity(a, params, scenario, (s,))
    t = t[t["output"] == output.value]
    rows = t.drop(columns=["scenario", "year", "output"]).to_dict(orient="records")
    if fmt is TableFormat.json:
        typer.echo(json.dumps({"scenario": scenario, "year": s, "output": output.value, "parameters": rows}, indent=2))
        return
    typer.echo(f"Sensitivity of {output.value} in {s}, scenario {scenario} (largest swing first) [t/yr]")
    view = t[["name", "low_value", "high_value", "output_low", "output_high", "S1", "ST"]].copy()
    view[["output_low", "output_high"]] = view[["output_low", "output_high"]].round(0)
    typer.echo(view.round({"S1": 3, "ST": 3}).to_string(index=False, float_format=lambda v: f"{v:.4g}"))


def _choice(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        _fail(f"{name} {value!r} is not known; expected one of {list(allowed)}")


@app.command()
def supply(
    stage: Annotated[str | None, typer.Option(help="mine, separation, metal, alloy, magnet or recycling.")] = None,
    weighting: Annotated[
        Weighting, typer.Option(help="nameplate, or risked (probability x delay x utilisation; output history).")
    ] = Weighting.risked,
    chain: Annotated[str, typer.Option(help="outside_china or china_free.")] = "outside_china",
    start: Annotated[int | None, typer.Option(help="First year.")] = None,
    end: Annotated[int | None, typer.Option(help="Last year.")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table, csv or json.")] = Format.table,
) -> None:
    """Supply outside China by stage [t/yr]: NdFeB-equivalent, NdPr / Dy / Tb oxide."""
    a, _ = _fitted(_load())
    _choice("--stage", stage, (*CHAIN, "recycling"))
    _choice("--chain", chain, CHAINS)
    s, e = _check_years(a, start, end)
    params = resolve_parameters(a, "base", calibrate(a).calibrated)
    years = horizon_years(a, s, e)
    cap = stage_capacity(a, params, years)
    cap = cap[(cap["weighting"] == weighting.value) & (cap["chain"] == chain)]
    if weighting is Weighting.risked:
        q = supply_quantile_table(a, params, years)
        cap = cap.merge(q, on=["year", "chain", "stage", "material"], how="left")
    if stage:
        cap = cap[cap["stage"] == stage]
    cap = cap.rename(columns={"value": "capacity_t"})
    if not _machine_readable(cap, fmt):
        m = cap[cap["material"] == "NdFeB"]
        wide = m.pivot_table(index="year", columns="stage", values="capacity_t", aggfunc="sum")
        wide = wide[[c for c in (*CHAIN, "recycling") if c in wide.columns]]
        typer.echo(
            f"Supply outside China ({chain}), {weighting.value}, t NdFeB-equivalent per year\n"
            + wide.round(0).astype("int64").to_string()
        )


@app.command()
def drivers(
    scenario: Annotated[str, typer.Option(help="Scenario name.")] = "base",
    start: Annotated[int | None, typer.Option(help="First year.")] = None,
    end: Annotated[int | None, typer.Option(help="Last year.")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table, csv or json.")] = Format.table,
    drivers: DriversOpt = Drivers.ensemble,
) -> None:
    """Electric car, bus/truck/van sales and wind installations: history, projection and P5-P95 bands."""
    a, s, e = _open_scenario(scenario, start, end, drivers)
    params = resolve_parameters(a, scenario, calibrate(a).calibrated)
    d = driver_quantile_table(a, params, scenario, horizon_years(a, s, e))
    if not _machine_readable(d, fmt):
        wide = d.pivot_table(index="year", columns="driver", values="value", aggfunc="sum")
        hist = d[d["kind"] == "history"].groupby("driver")["year"].max()
        last = ", ".join(f"{k} {v}" for k, v in hist.items()) or "none in these years"
        typer.echo(f"Drivers, scenario {scenario} (vehicles/yr; wind in GW/yr); P5-P95 bands in csv/json")
        typer.echo(f"Last history year: {last}")
        typer.echo(wide.round(1).to_string())


@app.command()
def gap(
    scenario: Annotated[str, typer.Option(help="Scenario name.")] = "base",
    chain: Annotated[str, typer.Option(help="outside_china or china_free.")] = "outside_china",
    stage: Annotated[str | None, typer.Option(help="A chain stage, recycling, or chain (deliverable output).")] = None,
    region: Annotated[str, typer.Option(help="world or ex_china.")] = "ex_china",
    material: Annotated[str, typer.Option(help="NdFeB, NdPr, Dy or Tb (table view).")] = "NdFeB",
    start: Annotated[int | None, typer.Option(help="First year.")] = None,
    end: Annotated[int | None, typer.Option(help="Last year.")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table, csv or json.")] = Format.table,
    drivers: DriversOpt = Drivers.ensemble,
) -> None:
    """Demand against supply outside China: gap, coverage and the binding stage of a chain, per year."""
    _choice("--chain", chain, CHAINS)
    _choice("--stage", stage, GAP_STAGES)
    _choice("--region", region, GAP_REGIONS)
    _choice("--material", material, GAP_MATERIALS)
    a, s, e = _open_scenario(scenario, start, end, drivers)
    params = resolve_parameters(a, scenario, calibrate(a).calibrated)
    g = gap_table(a, params, scenario, horizon_years(a, s, e))
    g = g[(g["region"] == region) & (g["chain"] == chain)]
    if stage:
        g = g[g["stage"] == stage]
    if not _machine_readable(g, fmt):
        t = g[(g["material"] == material)].drop(columns=["scenario", "region", "material", "chain"])
        if stage is None:
            t = t[t["stage"] == "chain"]
        num = ["demand_t", "supply_nameplate_t", "supply_risked_t", "gap_t", "binding_stage_t", "next_stage_t"]
        t = t[["year", "stage", *num, "coverage", "binding_stage", "next_stage"]]
        t[num] = t[num].round(0)
        t["coverage"] = t["coverage"].round(3)
        typer.echo(
            f"{material} demand ({region}) against the {chain} chain, scenario {scenario} [t/yr]; the chain delivers "
            "what its binding stage allows, the next stage shows the headroom"
        )
        typer.echo(t.to_string(index=False))


@app.command()
def balance(
    scenario: Annotated[str, typer.Option(help="Scenario name.")] = "base",
    material: Annotated[str | None, typer.Option(help="NdFeB, NdPr, Dy or Tb.")] = None,
    start: Annotated[int | None, typer.Option(help="First year.")] = None,
    end: Annotated[int | None, typer.Option(help="Last year.")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table, csv or json.")] = Format.table,
    drivers: DriversOpt = Drivers.ensemble,
) -> None:
    """World balance: China's supply, the rest of the world's, recycling, world demand and the deficit [t/yr]."""
    _choice("--material", material, BALANCE_MATERIALS)
    a, s, e = _open_scenario(scenario, start, end, drivers)
    params = resolve_parameters(a, scenario, calibrate(a).calibrated)
    b = world_balance(a, params, scenario, horizon_years(a, s, e))
    if material:
        b = b[b["material"] == material]
    if not _machine_readable(b, fmt):
        typer.echo(
            f"World balance, scenario {scenario} [t/yr; NdFeB in magnets, others as oxide]: "
            "china + rest_of_world + recycled + deficit = demand (negative deficit = surplus)"
        )
        num = ["china_t", "rest_of_world_t", "recycled_t", "supply_t", "demand_t", "deficit_t"]
        t = b.drop(columns=["scenario", "unit"]).copy()
        t[num] = t[num].round(0)
        typer.echo(t.to_string(index=False))


@app.command()
def backtest(
    fmt: Annotated[TableFormat, typer.Option("--format", help="table or json.")] = TableFormat.table,
    series: Annotated[str | None, typer.Option(help="Only series whose name contains this text.")] = None,
) -> None:
    """Rolling-origin skill of every driver model: MAPE, MASE vs naive drift, interval coverage."""
    fits = _fits(_load())
    r = fits.report()
    if series:
        r = r[r["series"].str.contains(series, regex=False)]
    if fmt is TableFormat.json:
        typer.echo(r.to_json(orient="records"))
        return
    for name, grp in r.groupby("series", sort=False):
        w = fits.weights[(fits.weights["series"] == name) & fits.weights["chosen"]]
        chosen = ", ".join(f"{m} {x:.2f}" for m, x in zip(w["model"], w["weight"], strict=True))
        stretch = fits.interval_factors.get(str(name), {})
        widened = ", ".join(f"{lvl}% x{k:.2f}" for lvl, k in stretch.items())
        typer.echo(f"\n{name}  (ensemble: {chosen}" + (f"; intervals widened {widened})" if widened else ")"))
        t = grp.drop(columns=["series", "interval_stretch_80", "interval_stretch_95"])  # in the header line
        t = t.round({"mape": 3, "mase": 3, "coverage_80": 2, "coverage_95": 2, "weight": 3})
        t["mae"] = t["mae"].map(lambda v: f"{v:.4g}")
        typer.echo(t.to_string(index=False))


def _store() -> Store:
    st = Store(get_settings().database())
    st.migrate()
    return st


@app.command()
def refresh(
    source: Annotated[str | None, typer.Option(help="Directory or manifest URL (default: bundled).")] = None,
) -> None:
    """Fetch, validate, refit and activate new assumptions; exit 1 when they are rejected."""
    with reporter("refresh", _State.quiet) as progress:
        result = run_refresh(_store(), source or str(_State.directory()), get_settings(), progress=progress)
    typer.echo(json.dumps(result.to_dict(), indent=2))
    codes = {"activated": 0, "unchanged": 0, "rejected": 1, "failed": 1, "locked": 3}
    raise typer.Exit(codes[result.status])


@app.command()
def versions(fmt: Annotated[TableFormat, typer.Option("--format", help="table or json.")] = TableFormat.table) -> None:
    """Stored assumption versions, newest first."""
    rows = [v.to_dict() for v in _store().versions()]
    if fmt is TableFormat.json:
        typer.echo(json.dumps(rows))
        return
    typer.echo(pd.DataFrame(rows, columns=["id", "status", "created_at", "origin", "previous"]).to_string(index=False))


@app.command()
def activate(version: Annotated[str, typer.Argument(help="Version id (12 characters or the full hash).")]) -> None:
    """Make a stored version the active one (rollback)."""
    try:
        info = _store().activate(version)
    except UnknownVersion:
        _fail(f"unknown version {version!r}; see magnet-forecast versions")
    except ValueError as exc:
        _fail(str(exc))
    except LockBusy:
        _fail("a refresh is running; try again when it has finished", 3)
    typer.echo(f"active: {info.short_id} (pinned: refreshes bringing stored content leave it; see unpin)")


@app.command()
def unpin() -> None:
    """End a rollback's pin: the next refresh may activate any valid content again."""
    info = _store().unpin()
    typer.echo(f"active: {info.short_id if info else '-'} (not pinned)")


class ExportFormat(StrEnum):
    xlsx = "xlsx"


def _bundle_for(a: Assumptions) -> ForecastBundle:
    """The forecast of these assumptions: the store's copy when it holds this version, else computed now."""
    try:
        return _store().load_bundle(assumptions_hash(a))
    except (UnknownVersion, OutdatedBundle):
        pass
    fits = _fits(a)
    say(BUNDLE_NOTE, _State.quiet)
    with reporter("forecast", _State.quiet) as progress:
        return build_bundle(a, fits, n_paths=get_settings().monte_carlo_paths, progress=progress)


@app.command()
def export(
    file: Annotated[Path, typer.Argument(help="Workbook to write, e.g. magnet-forecast.xlsx.", dir_okay=False)],
    fmt: Annotated[ExportFormat, typer.Option("--format", help="xlsx (one Excel workbook).")] = ExportFormat.xlsx,
) -> None:
    """Every table of the forecast in one workbook: demand, elements, drivers, supply, gap, balance, calibration,
    backtest, hindcast, parameters, sources, and the version with its scenario definitions."""
    if file.parent and not file.parent.is_dir():
        _fail(f"directory {file.parent} does not exist; expected an existing directory for FILE")
    started = time.monotonic()
    b = _bundle_for(_load())
    backtest = b.fits.report() if b.fits is not None else None
    with reporter("workbook", _State.quiet) as progress:
        sheets = write_workbook(b, file, backtest, lambda name: progress(f"sheet {name}", 0, 1))
    size_kb = file.stat().st_size / 1024
    typer.echo(
        f"wrote {file}: {len(sheets)} sheets ({', '.join(sheets)}), {size_kb:,.0f} KB, "
        f"assumptions version {b.version}, {time.monotonic() - started:.1f} s"
    )


def _announce_when_ready(url: str, timeout_s: float) -> None:
    """Wait for /ready and say where the service is (run in a thread beside the server)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"{url}/ready", timeout=2.0)
            if r.status_code == 200:
                version = r.json().get("assumptions_version", "")
                typer.echo(
                    f"ready: assumptions version {version}\n  dashboard  {url}/\n  API docs   {url}/docs\n"
                    f"  workbook   {url}/v1/export.xlsx",
                    err=True,
                )
                return
        except httpx.HTTPError:
            pass
        time.sleep(SERVE_POLL_S)
    typer.echo(f"the service did not become ready within {timeout_s:.0f} s; see the log above", err=True)


SERVE_POLL_S = 0.5
SERVE_READY_TIMEOUT_S = 3600.0


@app.command()
def serve(
    host: Annotated[str, typer.Option(envvar="HOST", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="PORT", min=1, max=65535, help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(envvar="WORKERS", min=1, help="Worker processes.")] = 1,
) -> None:
    """Start the HTTP service and the dashboard; says when it is ready and where.

    The server has bounded request heads, request read time, connections and shutdown (``api.server``).
    """
    from api.server import run

    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    try:
        first: bool | None = _store().active() is None
    except SQLAlchemyError:
        first = None  # the service itself retries the database at start-up
    typer.echo(
        f"starting magnet-forecast on {url} ("
        + (
            "the assumptions store cannot be reached yet; the service retries it"
            if first is None
            else "first start: validating the bundled assumptions, fitting the driver models and computing every "
            "scenario; usually 5-10 minutes on two cores, seconds on later starts"
            if first
            else "loading the active forecast from the store; usually a few seconds"
        )
        + ")",
        err=True,
    )
    threading.Thread(target=_announce_when_ready, args=(url, SERVE_READY_TIMEOUT_S), daemon=True).start()
    run(host, port, workers)


@assumptions_app.command("validate")
def validate(directory: Annotated[Path | None, typer.Argument(help="Directory to check.")] = None) -> None:
    """Check an assumptions directory; exit non-zero on any problem."""
    target = directory or _State.directory()
    a = _load(target)
    typer.echo(
        f"ok: {target}: {len(a.parameters)} parameters, {len(a.sources)} sources, "
        f"{len(a.scenarios)} scenarios, {sum(len(t) for t in a.histories().values())} series rows"
    )


if __name__ == "__main__":  # pragma: no cover
    app()
