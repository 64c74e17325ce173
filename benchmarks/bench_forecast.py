"""Time one full deterministic forecast of every scenario (goal: under 50 ms after import).

Prints the minimum and median over repeated runs, with calibration timed separately (it runs once
per assumptions version, not per forecast).
"""

from __future__ import annotations

import statistics
import time

from forecast.calibration import calibrate
from forecast.gap import gap_table
from forecast.loading import default_assumptions_dir, load_assumptions
from forecast.model import forecast_all

REPEATS = 20


def _time(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    t0 = time.perf_counter()
    a = load_assumptions(default_assumptions_dir())
    load_s = time.perf_counter() - t0
    cal_s = _time(lambda: calibrate(a), 3)
    cal = calibrate(a)
    runs = _time(lambda: forecast_all(a, cal.calibrated), REPEATS)
    rows = len(forecast_all(a, cal.calibrated))
    gaps = _time(lambda: [gap_table(a, s, cal.calibrated) for s in a.scenarios], 5)
    print(f"load assumptions:          {load_s * 1e3:8.1f} ms")
    cal_med = statistics.median(cal_s)
    print(f"calibration (once/version): min {min(cal_s) * 1e3:8.1f} ms  median {cal_med * 1e3:8.1f} ms")
    print(
        f"forecast all {len(a.scenarios)} scenarios:   min {min(runs) * 1e3:8.1f} ms  "
        f"median {statistics.median(runs) * 1e3:8.1f} ms  ({rows} rows; goal < 50 ms)"
    )
    print(f"gap tables, all scenarios: min {min(gaps) * 1e3:8.1f} ms  median {statistics.median(gaps) * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
