"""What drives the answer: one-at-a-time sweeps and Sobol indices over the priors of the uncertain inputs.

Both use the Monte Carlo's machinery (:func:`forecast.montecarlo.evaluate`, one vectorised model
run for all rows) and its priors (:mod:`forecast.priors`): an input is a prior group (inputs sharing
one score are one input).

- **One at a time**: each input at the ends of its range (score -1.96 and +1.96), every other input
  at its central value; ``output_low`` / ``output_high`` are the output there.
- **Sobol indices** (first order S1, total ST) by Saltelli's sampling and Jansen's estimators as
  implemented in SALib; inputs are sampled uniformly on the probability scale and mapped through
  their priors, so the indices decompose the Monte Carlo's own variance.

Outputs: world demand in one year, ``total`` (NdFeB magnet, finished basis) or an element's primary
oxide (``NdPr``: Nd + Pr, ``Dy``, ``Tb``; t_oxide).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from SALib.analyze import sobol as sobol_analyze
from SALib.sample import sobol as sobol_sample
from scipy.stats import norm

from forecast.drivers import driver_arrays
from forecast.model import Key, unit_driver_units
from forecast.montecarlo import evaluate, model_years
from forecast.params import ParamSet
from forecast.priors import (
    DRIVER_FAMILIES,
    TRUNCATION,
    Z95,
    Priors,
    capped_multipliers,
    driver_ceilings,
    moved_value,
    priors,
)
from forecast.schemas import Assumptions

OUTPUTS: dict[str, tuple[tuple[str, ...], str]] = {
    "total": (("NdFeB",), "t_magnet"),
    "NdPr": (("Nd", "Pr"), "t_oxide"),
    "Dy": (("Dy",), "t_oxide"),
    "Tb": (("Tb",), "t_oxide"),
}
COLUMNS = [
    "scenario",
    "year",
    "output",
    "name",
    "unit",
    "low_value",
    "high_value",
    "output_low",
    "output_high",
    "S1",
    "S1_conf",
    "ST",
    "ST_conf",
]
SOBOL_BASE_SAMPLES = 512  # Saltelli base samples N (N (k + 2) model rows); a power of two
SEED = 0


def _outputs(series: dict[Key, np.ndarray], col: int) -> dict[str, np.ndarray]:
    """Each output [t/yr] on every row, in one year column."""
    out: dict[str, np.ndarray] = {}
    for name, (materials, unit) in OUTPUTS.items():
        basis_ok = ("finished",) if unit == "t_magnet" else ("oxide",)
        rows = [v[:, col] for k, v in series.items() if k[1] in materials and k[3] == unit and k[2] in basis_ok]
        out[name] = np.sum(rows, axis=0)
    return out


def _select(k: Key) -> bool:
    return any(k[1] in m and k[3] == u for m, u in OUTPUTS.values()) and k[2] in ("finished", "oxide")


def _input_value(pri: Priors, params: ParamSet, group: int, z: float, drivers: dict, year: int) -> float:
    """What an input is at score z: the first member parameter's value, or the family's first driver in ``year``."""
    member = next(i for i in pri.inputs if i.group == pri.groups[group])
    col = int(np.searchsorted(pri.years, year))
    if member.kind == "parameter":
        return float(np.ravel(moved_value(params[member.name], np.array([z]), np.array([year])))[0])
    fam = member.name.split(":", 1)[1]
    zz = np.zeros((1, len(pri.groups)))
    zz[0, group] = z
    mult = capped_multipliers(pri, zz, driver_ceilings(drivers, params))[fam][0, col]
    return float(np.atleast_2d(drivers[DRIVER_FAMILIES[fam][0]])[0, col] * mult)


def _label(pri: Priors, group: int) -> tuple[str, str]:
    members = [i for i in pri.inputs if i.group == pri.groups[group]]
    if members[0].kind == "driver":
        fam = members[0].name.split(":", 1)[1]
        return f"{members[0].name} ({DRIVER_FAMILIES[fam][0]})", members[0].unit
    name = members[0].name if len(members) == 1 else f"{pri.groups[group]}.* ({len(members)} shared)"
    return name, members[0].unit


def scores_from_uniform(pri: Priors, u: np.ndarray) -> np.ndarray:
    """Probability-scale samples (rows, groups) to prior scores, truncated for parameters as in the Monte Carlo."""
    truncated = ~pri.is_driver()
    u = np.where(truncated[None, :], TRUNCATION + (1 - 2 * TRUNCATION) * u, u)
    return norm.ppf(np.clip(u, 1e-9, 1 - 1e-9))


def sensitivity(
    a: Assumptions,
    params: ParamSet,
    scenario: str,
    years: tuple[int, ...],
    base_samples: int = SOBOL_BASE_SAMPLES,
    seed: int = SEED,
) -> pd.DataFrame:
    """One-at-a-time sweep and Sobol S1/ST of every output for every input, in each of ``years`` (COLUMNS)."""
    ys = model_years(a, np.array(sorted(years)))
    pri = priors(a, params, ys, a.model.uncertainty.residual_segment)
    drivers = driver_arrays(a.histories(), params, ys, a.driver_trends, unit_driver_units(a))
    k = len(pri.groups)
    oat = np.zeros((2 * k, k))
    for g in range(k):
        oat[2 * g, g], oat[2 * g + 1, g] = -Z95, Z95
    problem = {"num_vars": k, "names": list(pri.groups), "bounds": [[0.0, 1.0]] * k}
    u = sobol_sample.sample(problem, base_samples, calc_second_order=False, seed=seed)
    rows = np.vstack([oat, scores_from_uniform(pri, u)])
    series = evaluate(a, params, pri, rows, drivers, select=_select)
    frames = []
    for year in years:
        col = int(np.searchsorted(ys, year))
        outs = _outputs(series, col)
        for output, y in outs.items():
            y_oat, y_mc = y[: 2 * k], y[2 * k :]
            if np.std(y_mc) > 0:
                res = sobol_analyze.analyze(problem, y_mc, calc_second_order=False, seed=seed)
                s1, s1c, st, stc = res["S1"], res["S1_conf"], res["ST"], res["ST_conf"]
            else:
                s1 = s1c = st = stc = np.zeros(k)
            for g in range(k):
                name, unit = _label(pri, g)
                frames.append(
                    {
                        "scenario": scenario,
                        "year": int(year),
                        "output": output,
                        "name": name,
                        "unit": unit,
                        "low_value": _input_value(pri, params, g, -Z95, drivers, int(year)),
                        "high_value": _input_value(pri, params, g, Z95, drivers, int(year)),
                        "output_low": float(y_oat[2 * g]),
                        "output_high": float(y_oat[2 * g + 1]),
                        "S1": float(s1[g]),
                        "S1_conf": float(s1c[g]),
                        "ST": float(st[g]),
                        "ST_conf": float(stc[g]),
                    }
                )
    out = pd.DataFrame(frames, columns=COLUMNS)
    swing = (out["output_high"] - out["output_low"]).abs()
    return (
        out.assign(_swing=swing)
        .sort_values(["year", "output", "_swing"], ascending=[True, True, False])
        .drop(columns="_swing")
        .reset_index(drop=True)
    )


def sobol_indices(problem: dict, y: np.ndarray, seed: int = SEED) -> dict[str, np.ndarray]:
    """S1 and ST of model outputs ``y`` on SALib's Saltelli sample of ``problem`` (a thin wrapper for tests)."""
    res = sobol_analyze.analyze(problem, y, calc_second_order=False, seed=seed)
    return {"S1": np.asarray(res["S1"]), "ST": np.asarray(res["ST"])}
