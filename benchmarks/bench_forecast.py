"""Model timings: deterministic forecast of every scenario, calibration, gap tables, driver fits,
and the Monte Carlo (10,000 paths x 2024-2050 x every segment and element) against one deterministic
run, measured side by side in this process.

Goals: deterministic forecast of all scenarios < 50 ms; fitting every driver series < 30 s;
Monte Carlo < 100 ms.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from forecast.backtest import fit_drivers, with_fitted_drivers
from forecast.bundle import gap_and_balance
from forecast.calibration import calibrate
from forecast.loading import default_assumptions_dir, load_assumptions
from forecast.model import demand_for_params, forecast_all, horizon_years
from forecast.montecarlo import DEFAULT_PATHS, quantile_table, simulate
from forecast.scenarios import resolve_parameters

REPEATS = 20


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
    years = np.arange(2024, 2051)
    det, mc, mcq = [], [], []
    for _ in range(5):  # interleaved so both see the same machine state
        det += _time(lambda: demand_for_params(a, params, years), 1)
        mc += _time(lambda: simulate(a, params, years, DEFAULT_PATHS), 1)
        mcq += _time(lambda: quantile_table(a, params, "base", years, DEFAULT_PATHS), 1)
    _line("deterministic run, one scenario 2024-2050", det)
    _line(f"Monte Carlo paths ({DEFAULT_PATHS} paths)", mc, "goal < 100 ms")
    _line("Monte Carlo paths + P5..P95 quantiles", mcq)
    print(
        f"ratio Monte Carlo / deterministic: paths {statistics.median(mc) / statistics.median(det):.1f}x, "
        f"with quantiles {statistics.median(mcq) / statistics.median(det):.1f}x"
    )


if __name__ == "__main__":
    main()
