"""Rolling-origin backtests of every driver series and model, skill metrics, and the ensemble.

Rule for the ensemble (per series): score each model by its MAE relative to naive drift (MASE
against drift), pooled over horizons 1-5; keep the best ``ENSEMBLE_SIZE`` models with finite
scores and weight them by inverse score. The ensemble's mean and interval bounds are the weighted
averages of the members' (quantile averaging).

Interval calibration (split conformal on the backtest, Angelopoulos & Bates 2021, "A Gentle
Introduction to Conformal Prediction", arXiv:2107.07511): each backtest error is scored as its
log-distance from the ensemble mean over the log half-width of the interval on its side; the
interval is stretched on the log scale by the ceil((n+1) level)-th smallest score, never narrowed.
The backtest's ensemble rows use only errors already observable at their origin (so their coverage
is an out-of-sample figure); projections use all of a series' errors.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecast.driver_models import FORECAST_COLUMNS, LEVELS, clean_series, fit_predict, model_set
from forecast.params import ParamSet, scalar
from forecast.progress import ProgressFn, silent
from forecast.schemas import TOTAL, Assumptions

MAX_HORIZON = 5
MIN_TRAIN = 6  # observations before the first origin
ENSEMBLE_SIZE = 3
ENSEMBLE = "ensemble"
CONFORMAL_MIN_ERRORS = 5  # fewer observed errors than this: intervals are left as the models give them
BACKTEST_COLUMNS = ["series", "model", "origin", "horizon", "year", "actual", *FORECAST_COLUMNS[1:], "note"]
METRIC_COLUMNS = [
    "series",
    "model",
    "horizon",
    "n",
    "mape",
    "mae",
    "mase",
    "coverage_80",
    "coverage_95",
    "chosen",
    "weight",
]
REPORT_COLUMNS = [*METRIC_COLUMNS, "interval_stretch_80", "interval_stretch_95"]


@dataclass(frozen=True)
class Series:
    """One driver series: name, yearly history and its saturation cap (None if not adoption-type)."""

    name: str
    years: np.ndarray
    values: np.ndarray
    cap: float | None
    unit: str


def ev_sales_cap(params: ParamSet) -> float:
    """Saturation of world electric car sales [vehicles/yr]: the largest car market anchor x the saturation share."""
    market = max((params["drivers.car_sales.anchors"].trajectory or {0: 0.0}).values())
    return market * scalar(params, "drivers.ev_share.saturation")


def driver_series(a: Assumptions, params: ParamSet) -> list[Series]:
    """Every world driver series in the assumptions (the ones the demand model uses), backtested alike.

    Regional series stay in the assumptions for the regional view but are not backtested: the demand
    model projects world drivers, and each backtested series costs five model fits per origin.
    """
    out = [s for s in _all_series(a, params) if ".World." in s.name]
    return out


def _all_series(a: Assumptions, params: ParamSet) -> list[Series]:
    out = []
    ev = a.ev_car_sales
    ev_cap = ev_sales_cap(params)
    for region, grp in ev.groupby("region", sort=True):
        tot = grp.groupby("year")["value"].sum().sort_index()
        cap = ev_cap if region == "World" else None
        out.append(Series(f"ev_car_sales.{region}.total", tot.index.to_numpy(), tot.to_numpy(), cap, "vehicles"))
        for pt, g2 in grp[grp["powertrain"] != TOTAL].groupby("powertrain"):
            s = g2.set_index("year")["value"].sort_index()
            out.append(
                Series(
                    f"ev_car_sales.{region}.{pt}",
                    s.index.to_numpy(),
                    s.to_numpy(),
                    ev_cap if (region == "World" and pt == "BEV") else None,
                    "vehicles",
                )
            )
    for (area, mode), g2 in a.ev_commercial_sales.groupby(["region", "mode"], sort=True):
        s = g2.set_index("year")["value"].sort_index()
        out.append(Series(f"ev_commercial_sales.{area}.{mode}", s.index.to_numpy(), s.to_numpy(), None, "vehicles"))
    for (area, name), g2 in a.unit_sales.groupby(["region", "driver"], sort=True):
        s = g2.set_index("year")["value"].sort_index()
        unit = str(g2["unit"].iloc[0])
        out.append(Series(f"unit_sales.{area}.{name}", s.index.to_numpy(), s.to_numpy(), None, unit))
    wind = a.wind_installations
    w_cap = scalar(params, "drivers.wind_cap_gw_per_yr")
    for region, grp in wind.groupby("region", sort=True):
        tot = grp.groupby("year")["value"].sum().sort_index()
        out.append(Series(f"wind_installations.{region}.total", tot.index.to_numpy(), tot.to_numpy(), w_cap, "GW"))
        for loc, g2 in grp[grp["location"] != TOTAL].groupby("location"):
            s = g2.set_index("year")["value"].sort_index()
            out.append(Series(f"wind_installations.{region}.{loc}", s.index.to_numpy(), s.to_numpy(), None, "GW"))
    return out


def backtest_series(s: Series, max_h: int = MAX_HORIZON, min_train: int = MIN_TRAIN) -> pd.DataFrame:
    """Forecasts from every origin that leaves ``min_train`` points; a model never sees data after its origin."""
    c = clean_series(s.years, s.values)
    rows = []
    for model in model_set(s.cap):
        for k in range(min_train, len(c.years)):
            h = min(max_h, len(c.years) - k)
            fc, note = fit_predict(model, c.years[:k], c.values[:k], h)
            fc = fc.assign(
                series=s.name,
                model=model.name,
                origin=int(c.years[k - 1]),
                horizon=np.arange(1, h + 1),
                actual=c.values[k : k + h],
                note=note,
            )
            rows.append(fc)
    if not rows:
        return pd.DataFrame(columns=BACKTEST_COLUMNS)
    return pd.concat(rows, ignore_index=True)[BACKTEST_COLUMNS]


def skill(backtest: pd.DataFrame) -> pd.DataFrame:
    """MAPE, MAE, MASE against naive drift, and interval coverage per series, model and horizon."""
    b = backtest.copy()
    b["abs_err"] = (b["mean"] - b["actual"]).abs()
    b["ape"] = b["abs_err"] / b["actual"].abs().where(b["actual"] != 0)
    for lvl in LEVELS:
        b[f"in_{lvl}"] = (b["actual"] >= b[f"lo_{lvl}"]) & (b["actual"] <= b[f"hi_{lvl}"])
    g = b.groupby(["series", "model", "horizon"])
    m = pd.DataFrame(
        {
            "n": g.size(),
            "mape": g["ape"].mean(),
            "mae": g["abs_err"].mean(),
            "coverage_80": g["in_80"].mean(),
            "coverage_95": g["in_95"].mean(),
        }
    ).reset_index()
    drift = m[m["model"] == "naive_drift"].set_index(["series", "horizon"])["mae"]
    denom = drift.reindex(pd.MultiIndex.from_frame(m[["series", "horizon"]])).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        m["mase"] = np.where(denom > 0, m["mae"].to_numpy() / denom, np.nan)
    return m


def ensemble_weights(metrics: pd.DataFrame, size: int = ENSEMBLE_SIZE) -> pd.DataFrame:
    """Inverse-score weights of the best models per series (see module docstring).

    score = sum over horizons of the model's MAE / the same sum for naive drift (pooled, so a horizon
    where drift happened to be almost exact cannot dominate).
    """
    mae = metrics.pivot_table(index=["series", "model"], columns="horizon", values="mae")
    drift = pd.DataFrame(mae.xs("naive_drift", level="model"))
    pooled = mae.sum(axis=1, min_count=1)
    denom = drift.sum(axis=1, min_count=1).reindex(pooled.index.get_level_values("series")).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = pd.Series(np.where(denom > 0, pooled.to_numpy() / denom, np.nan), index=pooled.index)
    score = ratio.rename("score").reset_index()
    score["weight"] = 0.0
    for series, grp in score.groupby("series"):
        ok = grp[np.isfinite(grp["score"]) & (grp["score"] > 0)].nsmallest(size, "score")
        if ok.empty:  # no skill measurable (history too short): naive drift alone
            score.loc[(score["series"] == series) & (score["model"] == "naive_drift"), "weight"] = 1.0
            continue
        inv = 1.0 / ok["score"]
        score.loc[ok.index, "weight"] = (inv / inv.sum()).to_numpy()
    score["chosen"] = score["weight"] > 0
    return score


def ensemble_backtest(bt: pd.DataFrame, weights: pd.DataFrame) -> pd.DataFrame:
    """Backtest rows of the ensemble: members' forecasts at each origin and horizon, combined.

    The weights come from the same backtest, so the ensemble's skill is an in-sample figure.
    """
    w = weights[weights["weight"] > 0][["series", "model", "weight"]]
    m = bt.merge(w, on=["series", "model"])
    cols = FORECAST_COLUMNS[1:]
    for c in cols:
        m[c] = m[c] * m["weight"]
    g = m.groupby(["series", "origin", "horizon", "year", "actual"], as_index=False)
    out = g[[*cols, "weight"]].sum()
    for c in cols:
        out[c] = out[c] / out["weight"]
    out["model"], out["note"] = ENSEMBLE, None
    return out[BACKTEST_COLUMNS]


def interval_scores(rows: pd.DataFrame, level: int) -> np.ndarray:
    """|log(actual / mean)| over |log(bound / mean)|, with the bound of the level% interval on the error's side.

    1 means the actual sat exactly on the interval's edge; rows without positive values are dropped.
    """
    mean, actual = rows["mean"].to_numpy(dtype=float), rows["actual"].to_numpy(dtype=float)
    bound = np.where(actual >= mean, rows[f"hi_{level}"], rows[f"lo_{level}"]).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.abs(np.log(actual / mean)) / np.abs(np.log(bound / mean))
    s = np.where(actual == mean, 0.0, s)
    return s[np.isfinite(s)]


def conformal_factor(scores: np.ndarray, level: int) -> float:
    """Stretch (>= 1) that makes ``level``% of these scores fall inside: the ceil((n+1) level/100)-th
    smallest, capped at the largest; 1 when there are fewer than CONFORMAL_MIN_ERRORS scores."""
    n = len(scores)
    if n < CONFORMAL_MIN_ERRORS:
        return 1.0
    k = min(n, math.ceil((n + 1) * level / 100))
    return max(1.0, float(np.sort(scores)[k - 1]))


def widen(fc: pd.DataFrame, factors: dict[int, float], cap: float | None = None) -> pd.DataFrame:
    """Intervals stretched on the log scale about the mean, bound' = mean (bound / mean)^factor.

    Nested levels stay nested, and the mean and every bound stay at or below the series' cap (an
    ensemble member without saturation can carry the mean past it).
    """
    out = fc.copy()
    mean = out["mean"].to_numpy(dtype=float)
    for lvl, k in factors.items():
        for side in ("lo", "hi"):
            b = out[f"{side}_{lvl}"].to_numpy(dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                stretched = mean * np.power(b / mean, k)
            out[f"{side}_{lvl}"] = np.where((mean > 0) & (b > 0) & np.isfinite(stretched), stretched, b)
    levels = sorted(factors)
    for narrow, wide in itertools.pairwise(levels):  # a wider level contains a narrower one
        out[f"lo_{wide}"] = np.minimum(out[f"lo_{wide}"], out[f"lo_{narrow}"])
        out[f"hi_{wide}"] = np.maximum(out[f"hi_{wide}"], out[f"hi_{narrow}"])
    if cap is not None:
        for col in ["mean", *(f"{side}_{lvl}" for lvl in factors for side in ("lo", "hi"))]:
            out[col] = np.minimum(out[col], cap)
    return out


def calibrate_ensemble(
    ens: pd.DataFrame, caps: dict[str, float | None]
) -> tuple[pd.DataFrame, dict[str, dict[int, float]]]:
    """Ensemble backtest rows with conformally widened intervals, and each series' final factors.

    Rows at origin o are widened with the errors of earlier forecasts whose year is <= o (what a
    forecaster standing at o could have seen); the final factors use every row of the series.
    """
    rows, factors = [], {}
    for name, grp in ens.groupby("series", sort=False):
        cap = caps.get(str(name))
        for origin, at in grp.groupby("origin", sort=True):
            seen = grp[grp["year"] <= origin]
            f = {lvl: conformal_factor(interval_scores(seen, lvl), lvl) for lvl in LEVELS}
            rows.append(widen(at, f, cap))
        factors[str(name)] = {lvl: conformal_factor(interval_scores(grp, lvl), lvl) for lvl in LEVELS}
    return (pd.concat(rows, ignore_index=True) if rows else ens), factors


def combine(forecasts: dict[str, pd.DataFrame], weights: dict[str, float]) -> pd.DataFrame:
    """Weighted average of members' means and interval bounds (quantile averaging)."""
    members = [m for m, w in weights.items() if w > 0 and m in forecasts]
    total = sum(weights[m] for m in members)
    out = forecasts[members[0]][["year"]].copy()
    for col in FORECAST_COLUMNS[1:]:
        out[col] = sum(weights[m] * forecasts[m][col].to_numpy() for m in members) / total
    return out


def project_series(s: Series, weights: dict[str, float], last_year: int) -> tuple[pd.DataFrame, list[str]]:
    """Ensemble projection of a series from its last observation to ``last_year``."""
    c = clean_series(s.years, s.values)
    h = last_year - int(c.years[-1])
    notes = list(c.notes)
    forecasts = {}
    for model in model_set(s.cap):
        if weights.get(model.name, 0) > 0:
            fc, note = fit_predict(model, c.years, c.values, h)
            forecasts[model.name] = fc
            if note:
                notes.append(note)
    return combine(forecasts, weights), notes


@dataclass(frozen=True)
class DriverFits:
    """Backtest, skill, ensemble weights and projections of the driver series (one assumptions version)."""

    backtest: pd.DataFrame
    metrics: pd.DataFrame
    weights: pd.DataFrame
    projections: pd.DataFrame  # series, year, mean, lo_80, hi_80, lo_95, hi_95
    notes: dict[str, list[str]]
    interval_factors: dict[str, dict[int, float]] = field(default_factory=dict)  # series -> level -> stretch

    def report(self) -> pd.DataFrame:
        """Records: series, model, horizon, n, mape, mae, mase, coverage_80, coverage_95, chosen, weight,
        interval_stretch_80, interval_stretch_95.

        The ensemble appears as model "ensemble" (chosen, weight 1): it is what the demand model uses;
        the stretches (its conformal widening) are given on its rows only.
        """
        w = pd.concat(
            [
                self.weights[["series", "model", "weight", "chosen"]],
                pd.DataFrame(
                    {"series": self.weights["series"].unique(), "model": ENSEMBLE, "weight": 1.0, "chosen": True}
                ),
            ]
        )
        r = self.metrics.merge(w, on=["series", "model"])
        for lvl in LEVELS:
            stretch = r["series"].map(lambda s, lvl=lvl: self.interval_factors.get(s, {}).get(lvl, np.nan))
            r[f"interval_stretch_{lvl}"] = stretch.where(r["model"] == ENSEMBLE)
        return r[REPORT_COLUMNS].sort_values(["series", "model", "horizon"]).reset_index(drop=True)


MODEL_DRIVERS: dict[str, str] = {
    "ev_car_sales": "ev_car_sales.World.total",
    "wind_installations": "wind_installations.World.total",
}


def fit_drivers(a: Assumptions, params: ParamSet, progress: ProgressFn = silent) -> DriverFits:
    """Backtest every series, weight the models, project the model's driver series.

    Runs serially: the fits are small and a process pool made them much slower on two cores
    (numerical libraries and Stan's own processes contend for the cores). ``progress`` hears of
    every series backtested and every projection.
    """
    series = driver_series(a, params)
    steps = len(series) + len(MODEL_DRIVERS)
    frames = []
    for i, s in enumerate(series):
        progress(f"backtesting {s.name}", i, steps)
        frames.append(backtest_series(s))
    # a series too short for any origin has no rows (it is listed by driver_series all the same)
    bt = pd.concat([f for f in frames if len(f)], ignore_index=True)
    weights = ensemble_weights(skill(bt))
    by_name = {s.name: s for s in series}
    ens, factors = calibrate_ensemble(ensemble_backtest(bt, weights), {n: s.cap for n, s in by_name.items()})
    bt = pd.concat([bt, ens], ignore_index=True)
    metrics = skill(bt)
    last = a.model.horizon.last_year
    proj, notes = [], {}
    for j, name in enumerate(MODEL_DRIVERS.values()):
        progress(f"projecting {name}", len(series) + j, steps)
        w = {str(k): float(v) for k, v in weights[weights["series"] == name].set_index("model")["weight"].items()}
        p, n = project_series(by_name[name], w, last)
        proj.append(widen(p, factors.get(name, {}), by_name[name].cap).assign(series=name))
        notes[name] = n
    projections = pd.concat(proj, ignore_index=True)[["series", *FORECAST_COLUMNS]]
    progress("driver fits done", steps, steps)
    return DriverFits(bt, metrics, weights, projections, notes, factors)


def driver_trends(fits: DriverFits) -> dict[str, pd.DataFrame]:
    """Ensemble projections keyed as the demand model reads them ("ev_car_sales", "wind_installations")."""
    p = fits.projections
    return {
        key: p[p["series"] == name].drop(columns="series").reset_index(drop=True) for key, name in MODEL_DRIVERS.items()
    }


def with_fitted_drivers(a: Assumptions, fits: DriverFits) -> Assumptions:
    """Assumptions whose driver trends are the ensemble projections of ``fits``."""
    return a.model_copy(update={"driver_trends": driver_trends(fits)})
