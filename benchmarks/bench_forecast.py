"""Model timings: deterministic forecast of every scenario, calibration, sensitivity, gap tables, driver
fits, and the Monte Carlo of one scenario (quasi-Monte Carlo paths x 2024-2050 x every segment; NdFeB
magnet on one basis and Nd, Pr, Dy, Tb primary oxide; P5, P10, P50, P90, P95) against one deterministic
run, measured side by side in this process, with the quantiles' Monte Carlo error (standard deviation
over independent scramblings, relative to the value) of the world totals (conditional Monte Carlo,
:mod:`forecast.conditional`, beside their order statistics) and of the segments.

Goals: deterministic forecast of all scenarios < 50 ms; fitting every driver series < 30 s;
Monte Carlo with quantiles < 100 ms; quantile error < 0.5% at P5 and P95.
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np

from api.allocator import retain_freed_memory
from forecast.backtest import fit_drivers, with_fitted_drivers
from forecast.bundle import gap_and_balance
from forecast.calibration import band_parameters, calibrate
from forecast.loading import default_assumptions_dir, load_assumptions
from forecast.model import demand_for_params, forecast_all, horizon_years
from forecast.montecarlo import (
    DEFAULT_PATHS,
    QUANTILES,
    median_shift,
    order_statistics,
    quantile_error,
    quantile_ranks,
    quantile_table,
    selector,
    simulate,
)
from forecast.scenarios import resolve_parameters
from forecast.sensitivity import sensitivity

REPEATS = 20
ERROR_GOAL = 0.005  # goal for the Monte Carlo error of P5 and P95 [fraction of the value]


def _time(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _line(label: str, runs: list[float], extra: str = "") -> None:
    print(f"{label:44} min {min(runs) * 1e3:9.1f} ms  median {statistics.median(runs) * 1e3:9.1f} ms  {extra}")


def main() -> None:
    # as the service and the command line run (api.allocator): freed arrays are reused, not page-faulted
    print(f"{'allocator keeps freed memory':44} {retain_freed_memory()}")
    t0 = time.perf_counter()
    raw = load_assumptions(default_assumptions_dir())
    print(f"{'load assumptions':44} {(time.perf_counter() - t0) * 1e3:9.1f} ms")

    t0 = time.perf_counter()
    fits = fit_drivers(raw, resolve_parameters(raw, "base"))
    n_series = fits.backtest["series"].nunique()
    print(
        f"{'fit + backtest every driver series':44} {time.perf_counter() - t0:9.2f} s   "
        f"({n_series} series, {len(fits.backtest)} forecasts; goal < 30 s)"
    )

    a = with_fitted_drivers(raw, fits)
    _line("calibration (once per version)", _time(lambda: calibrate(a), 3))
    cal = calibrate(a)
    runs = _time(lambda: forecast_all(a, cal.calibrated), REPEATS)
    _line(f"forecast all {len(a.scenarios)} scenarios", runs, "goal < 50 ms")
    _line(
        "gap tables, all scenarios",
        _time(
            lambda: [
                gap_and_balance(a, resolve_parameters(a, s, cal.calibrated), s, horizon_years(a)) for s in a.scenarios
            ],
            3,
        ),
    )

    params = resolve_parameters(a, "base", cal.calibrated)
    _line("sensitivity: sweep + Sobol, 2030 and 2040", _time(lambda: sensitivity(a, params, "base", (2030, 2040)), 1))
    years = np.arange(2024, 2051)
    drawn = band_parameters(a, cal, "base")  # as the service draws the calibrated base
    units = ("t_magnet", "t_oxide")
    keep = selector("finished", units)
    det, mc, mcq, ordered = [], [], [], []
    for _ in range(9):  # interleaved so all see the same machine state
        det += _time(lambda: demand_for_params(a, params, years), 1)
        mc += _time(lambda: simulate(a, drawn, years, DEFAULT_PATHS, select=keep), 1)
        mcq += _time(lambda: quantile_table(a, drawn, "base", years, DEFAULT_PATHS, basis="finished", units=units), 1)
        ordered += _time(
            lambda: quantile_table(
                a, drawn, "base", years, DEFAULT_PATHS, basis="finished", units=units, conditional=False
            ),
            1,
        )
    q = quantile_table(a, drawn, "base", years, DEFAULT_PATHS, basis="finished", units=units)
    _line("deterministic run, one scenario 2024-2050", det)
    _line(f"Monte Carlo paths ({DEFAULT_PATHS} paths)", mc)
    quantiles_only = [max(total - paths, 0.0) for total, paths in zip(mcq, mc, strict=True)]
    _line("quantiles P5..P95 (with - without)", quantiles_only)
    _line("Monte Carlo paths + P5..P95 quantiles", mcq, "goal < 100 ms")
    _line("the same, totals as order statistics", ordered)
    added = statistics.median(mcq) - statistics.median(ordered)
    print(f"{'  the totals conditional quantiles add':44} {added * 1e3:9.1f} ms (difference of the medians)")
    print(
        f"{len(q)} quantile rows ({q['segment'].nunique()} segments incl. total x {q['material'].nunique()} "
        f"materials x {len(years)} years), {len(q) * 5} quantiles; sum of all P50 {q['p50'].sum():.6g} t"
    )
    print(
        f"ratio Monte Carlo / deterministic: paths {statistics.median(mc) / statistics.median(det):.1f}x, "
        f"quantiles {statistics.median(quantiles_only) / statistics.median(det):.1f}x, "
        f"with quantiles {statistics.median(mcq) / statistics.median(det):.1f}x"
    )
    paths = simulate(a, drawn, years, DEFAULT_PATHS, select=keep)
    rows = np.concatenate([np.asarray(v, dtype=np.float32).T for v in paths.values()])
    exact = np.sort(rows, axis=1)[:, quantile_ranks(DEFAULT_PATHS)]
    coded = order_statistics(rows.copy(), quantile_ranks(DEFAULT_PATHS))
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.nan_to_num(np.abs(coded.astype(float) / exact - 1.0))
    print(
        f"16-bit coded order statistics vs an exact float sort, every row and P{100 * QUANTILES[0]:.0f}.."
        f"P{100 * QUANTILES[-1]:.0f}: max relative difference {gap.max():.2e}, exact in {100 * (gap == 0).mean():.0f}%"
    )
    for name, scenario_params in (("base", drawn), ("uncalibrated", resolve_parameters(a, "uncalibrated"))):
        shift = median_shift(a, scenario_params, years)
        near = shift[shift["year"] <= a.model.calibration.target_year]["shift"].abs()
        print(
            f"Monte Carlo's own P50 vs central path, every total, {name}: to "
            f"{a.model.calibration.target_year} max {100 * near.max():.2f}%, to {years[-1]} max "
            f"{100 * shift['shift'].abs().max():.2f}% (published P50 = central path)"
        )
    err = quantile_error(a, drawn, years, DEFAULT_PATHS, replicates=8, basis="finished", units=units)
    plain = quantile_error(a, drawn, years, DEFAULT_PATHS, 8, "finished", units, conditional=False)
    total, plain_total = err[err["segment"] == "total"], plain[plain["segment"] == "total"]
    segments = err[err["segment"] != "total"]
    worst = segments[["err_p5", "err_p95"]].max(axis=1)
    print(
        "Monte Carlo error (sd over 8 scramblings / value): totals (conditional) max "
        f"P5 {100 * total['err_p5'].max():.2f}%, P95 {100 * total['err_p95'].max():.2f}% "
        f"(order statistics: P5 {100 * plain_total['err_p5'].max():.2f}%, "
        f"P95 {100 * plain_total['err_p95'].max():.2f}%); "
        f"segments: median {100 * worst.median():.2f}%, 95th percentile {100 * worst.quantile(0.95):.2f}%, "
        f"max {100 * worst.max():.2f}% ({segments.loc[worst.idxmax(), 'segment']} "
        f"{segments.loc[worst.idxmax(), 'material']}), {100 * (worst <= ERROR_GOAL).mean():.0f}% of their rows "
        f"within {100 * ERROR_GOAL:.1f}%"
    )
    print(f"load average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
