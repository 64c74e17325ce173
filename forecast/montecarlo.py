"""Monte Carlo bands: the priors of every uncertain input (:mod:`forecast.priors`) propagated to demand.

- **Inputs**: one standard-normal score per prior group and path (:mod:`forecast.priors` states the
  dependence structure): intensities, motors per vehicle, PM share, composition, yields, adoption
  trajectory (inverter share) on their split-normal priors truncated at their
  ranges; driver families (electrification, wind, car market, humanoid robots) as log-normal
  multipliers, constant in z over the years of a path, capped at the family's ceiling.
- **Base-year allocation**: the residual segment (``model.yaml: uncertainty.residual_segment``)
  takes, in the base year, the published-history total less the other segments of the path; so a
  path re-allocates the base-year total among segments instead of inventing a different history.
- **Scores** are randomized quasi-Monte Carlo: a scrambled Sobol sequence (scipy.stats.qmc), whose
  one- and two-dimensional projections are stratified, so quantiles converge faster than with
  independent draws; the run's error is estimated from independent scramblings
  (:func:`quantile_error`).
- **World totals** by conditional Monte Carlo (:mod:`forecast.conditional`): each total row
  integrates one input exactly (a grade's content of the element, or a driver family the paths only
  multiply), which cuts the error of the totals' P5 and P95 from up to 1.7% to under 0.3% at the
  same paths; the segments' rows are order statistics.
- **Calibrated scenarios**: inputs the calibration moved to a range end are held there and every
  other input is drawn around its calibrated value (:func:`forecast.calibration.held_at_range_ends`).
- **Central value and P50**: the central path is the deterministic model, and the published P50 *is*
  the central path: each row's quantiles are the Monte Carlo's divided by its own median and
  multiplied by the central value (:func:`centre_on`), so the bands carry the Monte Carlo's relative
  spread around the headline number. Every prior has its median at its central value, but sums and
  products of skewed inputs do not keep it: the Monte Carlo's own median lies within about 3% of the
  central path to 2040 and drifts to about 10% by 2050 as the drivers' log-normal spreads widen
  (:func:`median_shift` measures it; ``make bench`` prints it; tests bound it).

The paths run through the same model functions as the deterministic forecast
(:func:`forecast.model.demand_series`): parameters broadcast as (paths, 1) columns (trajectories as
(paths, years)), drivers as (paths, years) arrays. Quantiles are taken per year, segment, material,
basis and unit by radix-sorting 16-bit codes of float32 rows (:func:`order_statistics`: within 1.3e-4
of the exact order statistics, far inside the Monte Carlo error); the totals' order statistics then
start the conditional estimator's Newton step.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtri
from scipy.stats import norm, qmc

from forecast.composition import OXIDE_BASIS
from forecast.conditional import total_quantiles
from forecast.drivers import driver_arrays, project_drivers
from forecast.model import KEY_COLUMNS, Key, demand_series, unit_driver_units
from forecast.params import DrawnParams, ParamSet
from forecast.priors import (
    DRIVER_FAMILIES,
    TRUNCATION,
    Priors,
    capped_multipliers,
    driver_ceilings,
    driver_sigmas,
    path_drivers,
    priors,
)
from forecast.schemas import Assumptions
from forecast.tables import repeated_labels

QUANTILES: tuple[float, ...] = (0.05, 0.10, 0.50, 0.90, 0.95)
QUANTILE_COLUMNS: tuple[str, ...] = ("p5", "p10", "p50", "p90", "p95")
DEFAULT_PATHS = 4096
QUANTILE_THREADS = 2  # numpy's sort releases the GIL: two threads halve the quantile time
DTYPE = np.float32  # paths are summarised by quantiles: single precision is ample and twice as fast
SCORE_CACHE_SIZE = 16  # score matrices kept (4,096 paths x 35 groups: 1.1 MB each)
CODE_MAX = int(np.iinfo(np.uint16).max)  # sort keys of 16 bits: the widest numpy radix-sorts


@dataclass(frozen=True)
class Draws:
    """Scores of a Monte Carlo run: z (paths, groups) in the order of ``priors.groups``."""

    priors: Priors
    z: np.ndarray

    @property
    def n_paths(self) -> int:
        return int(self.z.shape[0])


def power_of_two(n: int) -> int:
    """The largest power of two <= n (a Sobol sequence is balanced at powers of two)."""
    return 1 << max(int(n).bit_length() - 1, 0)


def sobol_scores(pri: Priors, n_paths: int, seed: int) -> np.ndarray:
    """Standard-normal scores (n_paths, groups) from a scrambled Sobol sequence; parameters truncated."""
    return _scores(tuple(bool(t) for t in ~pri.is_driver()), n_paths, seed)


@functools.lru_cache(maxsize=SCORE_CACHE_SIZE)
def _scores(truncated: tuple[bool, ...], n_paths: int, seed: int) -> np.ndarray:
    """Scores (n_paths, len(truncated)), read-only: a pure function of its arguments, kept because every
    band of a version and every what-if draws the same ones."""
    d = max(len(truncated), 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # balance warning when n is not a power of two
        u = qmc.Sobol(d, scramble=True, seed=seed).random(n_paths)[:, : len(truncated)]
    mask = np.array(truncated, dtype=bool)
    u = np.where(mask[None, :], TRUNCATION + (1 - 2 * TRUNCATION) * u, u)
    z = ndtri(np.clip(u, 1e-12, 1 - 1e-12))  # norm.ppf's own kernel, without its argument checks
    z.setflags(write=False)
    return z


def model_years(a: Assumptions, years: np.ndarray) -> np.ndarray:
    """Years evaluated on a path: the requested ones and the calibration's base year."""
    return np.union1d(years, [a.model.calibration.base_year])


def draw(a: Assumptions, params: ParamSet, n_paths: int, seed: int, years: np.ndarray | None = None) -> Draws:
    """All random inputs, reproducible from the seed."""
    ys = model_years(
        a, years if years is not None else np.arange(a.model.horizon.first_year, a.model.horizon.last_year + 1)
    )
    pri = priors(a, params, ys, a.model.uncertainty.residual_segment)
    return Draws(pri, sobol_scores(pri, n_paths, seed))


def evaluate(
    a: Assumptions,
    params: ParamSet,
    pri: Priors,
    z: np.ndarray,
    base: Mapping[str, np.ndarray] | None = None,
    residual: bool = True,
    select: Callable[[Key], bool] | None = None,
    central: Mapping[Key, np.ndarray] | None = None,
    dtype: type | None = None,
) -> dict[Key, np.ndarray]:
    """Demand [t/yr] by (segment, material, basis, unit) for score rows z (n, groups): (n, years of ``pri``).

    ``base``: the central drivers over ``pri.years`` (computed when not given). With ``residual`` the
    residual segment absorbs the base-year allocation (module docstring). ``central``: the deterministic
    model over ``pri.years`` with at least every finished-magnet segment (:func:`central_model`;
    computed when not given). ``dtype``: the precision of the rows (:func:`forecast.model.demand_series`;
    the bands use ``DTYPE``, the calibration's finite differences keep float64).
    """
    years = pri.years
    if base is None:
        base = driver_arrays(a.histories(), params, years, a.driver_trends, unit_driver_units(a))
    mult = capped_multipliers(pri, z, driver_ceilings(base, params))
    drawn = DrawnParams(params, pri.parameter_values(z))
    residual_segment = a.model.uncertainty.residual_segment if residual else None
    keep = select
    if select is not None and residual_segment is not None:  # the reallocation reads finished tonnages
        keep = lambda k: select(k) or _finished(k[1], k[2], k[3])  # noqa: E731
    series = demand_series(a, drawn, years, path_drivers(base, mult), keep, dtype=dtype)
    n = z.shape[0]
    out = {k: np.broadcast_to(v, (n, len(years))) for k, v in series.items()}
    if residual_segment is not None:
        out = _reallocate_base_year(a, params, years, out, residual_segment, base, central)
    return out if select is None else {k: v for k, v in out.items() if select(k)}


def _reallocate_base_year(
    a: Assumptions,
    params: ParamSet,
    years: np.ndarray,
    series: dict[Key, np.ndarray],
    residual: str,
    base: Mapping[str, np.ndarray],
    central: Mapping[Key, np.ndarray] | None = None,
) -> dict[Key, np.ndarray]:
    """Scale the residual segment on each path so the base-year total is the central one [t/yr]."""
    col = int(np.searchsorted(years, a.model.calibration.base_year))
    if central is None:
        central = central_model(a, params, years, base, lambda k: False)
    target = sum(
        float(np.broadcast_to(v, years.shape)[col]) for (s, m, b, u), v in central.items() if _finished(m, b, u)
    )
    finished = {s: v[:, col] for (s, m, b, u), v in series.items() if _finished(m, b, u)}
    others = sum(v for s, v in finished.items() if s != residual)
    own = finished[residual]
    factor = np.where(own > 0, np.maximum(target - others, 0.0) / np.where(own > 0, own, 1.0), 1.0)[:, None]
    return {k: (v * factor.astype(v.dtype) if k[0] == residual else v) for k, v in series.items()}


def _finished(material: str, basis: str, unit: str) -> bool:
    return material == "NdFeB" and basis == "finished" and unit == "t_magnet"


def with_totals(series: Mapping[Key, np.ndarray], dtype: type = DTYPE) -> dict[Key, np.ndarray]:
    """Series as ``dtype`` plus a 'total' segment per (material, basis, unit)."""
    out: dict[Key, np.ndarray] = {k: np.asarray(v, dtype=dtype) for k, v in series.items()}
    totals: dict[Key, np.ndarray] = {}
    for (_, material, basis, unit), v in out.items():
        key = ("total", material, basis, unit)
        totals[key] = totals[key] + v if key in totals else v.copy()
    return out | totals


def simulate(
    a: Assumptions,
    params: ParamSet,
    years: np.ndarray,
    n_paths: int = DEFAULT_PATHS,
    seed: int = 0,
    draws: Draws | None = None,
    select: Callable[[Key], bool] | None = None,
) -> dict[Key, np.ndarray]:
    """Paths of demand [t/yr] by (segment, material, basis, unit), shape (paths, years), plus a 'total' segment.

    The same model as the deterministic forecast (:func:`forecast.model.demand_series`) evaluated
    with drawn parameters and drivers over a paths axis. ``select`` keeps only some keys.
    """
    d = draws if draws is not None else draw(a, params, n_paths, seed, years)
    series = evaluate(a, params, d.priors, d.z, select=select, dtype=DTYPE)
    cols = year_columns(d.priors.years, years)
    return with_totals({k: v[:, cols] for k, v in series.items()})


def year_columns(model: np.ndarray, years: np.ndarray) -> slice | np.ndarray:
    """Columns of ``years`` among the model years: a slice (a view, no copy) when they are consecutive."""
    cols = np.searchsorted(model, years)
    if len(cols) and np.array_equal(cols, np.arange(cols[0], cols[0] + len(cols))):
        return slice(int(cols[0]), int(cols[0]) + len(cols))
    return cols


def central_model(
    a: Assumptions,
    params: ParamSet,
    years: np.ndarray,
    base: Mapping[str, np.ndarray] | None = None,
    select: Callable[[Key], bool] | None = None,
) -> dict[Key, np.ndarray]:
    """The deterministic model over ``years`` [t/yr]: the keys ``select`` keeps plus every segment's finished
    magnet, which the base-year allocation reads (:func:`evaluate`)."""
    keep = None if select is None else (lambda k: select(k) or _finished(k[1], k[2], k[3]))
    return demand_series(a, params, years, base, keep)


def selector(basis: str | None = None, units: tuple[str, ...] | None = None) -> Callable[[Key], bool] | None:
    """Keys on one magnet basis plus the oxide rows, and only some units (None: every key)."""
    if basis is None and units is None:
        return None
    return lambda k: (basis is None or k[2] in (basis, OXIDE_BASIS)) and (units is None or k[3] in units)


def quantile_table(
    a: Assumptions,
    params: ParamSet,
    scenario: str,
    years: np.ndarray,
    n_paths: int = DEFAULT_PATHS,
    seed: int = 0,
    basis: str | None = None,
    units: tuple[str, ...] | None = None,
    centred: bool = True,
    conditional: bool = True,
) -> pd.DataFrame:
    """Tidy quantiles: year, scenario, segment, material, basis, unit, p5, p10, p50, p90, p95 [t/yr].

    ``basis``: only that magnet basis and the oxide rows; ``units``: only those units (default: all);
    ``centred``: P50 defined as the central path (module docstring); False gives the raw quantiles.
    ``conditional``: the world totals' quantiles by conditional Monte Carlo (:mod:`forecast.conditional`);
    False gives their order statistics, as for the segments.
    """
    keep = selector(basis, units)
    d = draw(a, params, n_paths, seed, years)
    ys = d.priors.years
    base = driver_arrays(a.histories(), params, ys, a.driver_trends, unit_driver_units(a))
    model = central_model(a, params, ys, base, keep)  # shared by the allocation and the centring
    series = evaluate(a, params, d.priors, d.z, base=base, select=keep, central=model, dtype=DTYPE)
    cols = year_columns(ys, years)
    keys, quantiles = path_quantiles({k: v[:, cols] for k, v in series.items()})
    totals = [k for k in keys if k[0] == "total"]
    q = quantiles.astype(float)
    if conditional and totals:
        rows = slice(len(keys) - len(totals), len(keys))  # path_quantiles puts the totals last
        q[rows] = total_quantiles(
            a, d.priors, d.z, driver_ceilings(base, params), series, cols, totals, q[rows], QUANTILES
        )
    if centred:
        wanted = {k: np.broadcast_to(v, ys.shape)[cols] for k, v in model.items() if keep is None or keep(k)}
        central = with_totals(wanted, dtype=float)
        q = centre_on(q, np.stack([central[k] for k in keys]))
    return quantile_frame(keys, q, years, scenario)


def path_quantiles(series: Mapping[Key, np.ndarray]) -> tuple[list[Key], np.ndarray]:
    """Nearest-rank P5..P95 of paths (paths, years) of every key plus a 'total' segment per (material,
    basis, unit): the keys (totals last) and their quantiles (keys, years, 5) [as the series].

    The same numbers as :func:`with_totals` then :func:`sorted_quantiles` (each series rounded to
    ``DTYPE``, totals summed in it in key order). The work is cut into blocks, one per (material, basis,
    unit) and part of the years, that each thread casts to a ``DTYPE`` matrix (rows contiguous over the
    paths), sums into its total and sorts (:func:`order_statistics`): numpy's casts and sorts release the GIL.
    """
    keys = list(series)
    totals = list(dict.fromkeys(("total", *k[1:]) for k in keys))
    n_paths, n_years = next(iter(series.values())).shape
    members: dict[Key, list[Key]] = {total: [] for total in totals}
    for key in keys:
        members[("total", *key[1:])].append(key)
    spans = [(int(c[0]), int(c[-1]) + 1) for c in np.array_split(np.arange(n_years), QUANTILE_THREADS) if len(c)]
    ranks = quantile_ranks(n_paths)

    def block(task: tuple[Key, tuple[int, int]]) -> np.ndarray:
        total, (y0, y1) = task
        group = members[total]
        rows = np.empty((len(group) + 1, y1 - y0, n_paths), dtype=DTYPE)
        for i, key in enumerate(group):
            # cast, then transpose in single precision: half the bytes strided (faster than one mixed copy)
            rows[i] = np.asarray(series[key][:, y0:y1], dtype=DTYPE).T
            if i == 0:
                rows[-1] = rows[0]
            else:
                rows[-1] += rows[i]
        return order_statistics(rows.reshape(-1, n_paths), ranks).reshape(len(group) + 1, y1 - y0, len(QUANTILES))

    tasks = [(total, span) for total in totals for span in spans]
    with ThreadPoolExecutor(QUANTILE_THREADS) as pool:
        blocks = dict(zip(tasks, pool.map(block, tasks), strict=True))
    position = {k: i for i, k in enumerate(keys + totals)}
    q = np.empty((len(keys) + len(totals), n_years, len(QUANTILES)), dtype=DTYPE)
    for (total, (y0, y1)), qs in blocks.items():
        rows_of = [position[k] for k in members[total]] + [position[total]]
        q[rows_of, y0:y1] = qs
    return keys + totals, q


def central_series(a: Assumptions, params: ParamSet, years: np.ndarray, keys: list[Key]) -> dict[Key, np.ndarray]:
    """The deterministic model's value of each key over ``years`` [t/yr], 'total' segments included."""
    wanted = set(keys)
    series = demand_series(a, params, years, select=lambda k: ("total", *k[1:]) in wanted or k in wanted)
    full = with_totals({k: np.broadcast_to(v, years.shape) for k, v in series.items()}, dtype=float)
    return {k: full[k] for k in keys if k in full}


def sorted_quantiles(rows: np.ndarray) -> np.ndarray:
    """Nearest-rank P5..P95 of every row of a float32 (rows, paths) matrix: (rows, 5), as
    :func:`order_statistics` gives them, in ``QUANTILE_THREADS`` threads. ``rows`` is overwritten."""
    ranks = quantile_ranks(rows.shape[1])
    blocks = np.array_split(rows, QUANTILE_THREADS)
    with ThreadPoolExecutor(QUANTILE_THREADS) as pool:
        return np.vstack(list(pool.map(lambda block: order_statistics(block, ranks), blocks)))


def quantile_ranks(n_paths: int) -> list[int]:
    """0-based nearest ranks of P5..P95 among ``n_paths`` sorted values."""
    return [round(p * (n_paths - 1)) for p in QUANTILES]


def order_statistics(rows: np.ndarray, ranks: list[int]) -> np.ndarray:
    """Values at 0-based ``ranks`` of every row of a float32 (rows, paths) matrix once sorted: (rows, ranks).

    Rows of positive values are sorted on 16-bit codes of their float bit patterns, which order as the
    values do and are close to logarithmic in them: numpy radix-sorts 16-bit keys (``kind="stable"``)
    about four times faster than it sorts float32. A code spans 1/65535 of the row's range of bit
    patterns and the value returned is the middle of the code, so it lies within a relative
    ``log2(max / min) / 131070`` of the exact order statistic (1.3e-4 for a row spanning five orders
    of magnitude; ``make bench`` prints the largest difference seen). Rows holding a zero or a negative
    value, and constant rows, are sorted exactly. ``rows`` is overwritten.
    """
    out = np.empty((rows.shape[0], len(ranks)), dtype=DTYPE)
    bits = rows.view(np.int32)  # IEEE 754: non-negative floats order as their bit patterns
    low, high = bits.min(axis=1), bits.max(axis=1)
    coded = (low > 0) & (high > low)
    if not coded.all():
        exact = rows[~coded]
        exact.sort(axis=1)
        out[~coded] = exact[:, ranks]
    if coded.any():
        patterns = bits if coded.all() else bits[coded]
        floor, span = low[coded][:, None], (high - low)[coded][:, None]
        np.subtract(patterns, floor, out=patterns)  # 0 .. span
        scaled = np.multiply(patterns, (CODE_MAX / span).astype(np.float32), dtype=np.float32)
        codes = np.empty(scaled.shape, dtype=np.uint16)
        np.minimum(scaled, CODE_MAX, out=codes, casting="unsafe")  # truncates: code c holds [c, c + 1)
        codes.sort(axis=1, kind="stable")
        middle = np.rint((codes[:, ranks] + 0.5) * (span / CODE_MAX))
        out[coded] = (floor + np.minimum(middle, span)).astype(np.int32).view(DTYPE)
    return out


def centre_on(q: np.ndarray, central: np.ndarray) -> np.ndarray:
    """Quantiles (series, years, quantiles) rescaled so the median equals ``central`` (series, years).

    A row whose Monte Carlo median is 0 keeps its quantiles (nothing to scale).
    """
    median = q[:, :, QUANTILES.index(0.5)]
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(median > 0, central / np.where(median > 0, median, 1.0), 1.0)
    return q * factor[:, :, None]


def tidy_quantiles(
    paths: Mapping[Key, np.ndarray],
    years: np.ndarray,
    scenario: str,
    central: Mapping[Key, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Nearest-rank P5..P95 of path arrays as one tidy table; with ``central``, centred on it (:func:`centre_on`)."""
    keys = list(paths)
    n = len(years)
    n_paths = next(iter(paths.values())).shape[0]
    q = nearest_rank_quantiles(paths, keys, n_paths).reshape(len(keys), n, len(QUANTILES)).astype(float)
    if central is not None:
        q = centre_on(q, np.stack([np.asarray(central[k], dtype=float) for k in keys]))
    return quantile_frame(keys, q, years, scenario)


def quantile_frame(keys: list[Key], q: np.ndarray, years: np.ndarray, scenario: str) -> pd.DataFrame:
    """The tidy table of quantiles q (keys, years, quantiles)."""
    n = len(years)
    frame: dict[str, object] = {
        "year": np.tile(years, len(keys)),
        "scenario": repeated_labels([scenario], n * len(keys)),
        **{col: repeated_labels([k[i] for k in keys], n) for i, col in enumerate(KEY_COLUMNS)},
    }
    for i, col in enumerate(QUANTILE_COLUMNS):
        frame[col] = q[:, :, i].reshape(-1).astype(float)
    return pd.DataFrame(frame)


def nearest_rank_quantiles(paths: Mapping[Key, np.ndarray], keys: list[Key], n_paths: int) -> np.ndarray:
    """Nearest-rank P5..P95 of every (series, year) column: (series x years, 5) (:func:`sorted_quantiles`)."""
    rows = np.concatenate([np.asarray(paths[k], dtype=DTYPE).T for k in keys])  # a private copy
    assert rows.shape[1] == n_paths, "every series has one value per path"
    return sorted_quantiles(rows)


def quantile_error(
    a: Assumptions,
    params: ParamSet,
    years: np.ndarray,
    n_paths: int = DEFAULT_PATHS,
    replicates: int = 8,
    basis: str | None = "finished",
    units: tuple[str, ...] | None = None,
    conditional: bool = True,
) -> pd.DataFrame:
    """Monte Carlo error of the quantiles: the standard deviation of each quantile over independent
    scramblings (randomized quasi-Monte Carlo), relative to its mean [fraction]. ``conditional`` as in
    :func:`quantile_table`.

    Returns year, segment, material, basis, unit and one ``err_<q>`` column per quantile.
    """
    tables = [
        quantile_table(a, params, "error", years, n_paths, seed, basis, units, centred=False, conditional=conditional)
        for seed in range(replicates)
    ]
    keys = ["year", "segment", "material", "basis", "unit"]
    stacked = np.stack([t[list(QUANTILE_COLUMNS)].to_numpy() for t in tables])
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = stacked.std(axis=0, ddof=1) / np.abs(stacked.mean(axis=0))
    out = tables[0][keys].copy()
    for i, col in enumerate(QUANTILE_COLUMNS):
        out[f"err_{col}"] = np.nan_to_num(rel[:, i])
    return out


def median_shift(
    a: Assumptions, params: ParamSet, years: np.ndarray, n_paths: int = DEFAULT_PATHS, seed: int = 0
) -> pd.DataFrame:
    """The Monte Carlo's own median against the central path, per total: year, material, basis, unit,
    central, p50_mc and shift = p50_mc / central - 1 [fraction]. What :func:`centre_on` removes."""
    paths = simulate(a, params, years, n_paths, seed, select=None)
    totals = {k: v for k, v in paths.items() if k[0] == "total"}
    keys = list(totals)
    central = central_series(a, params, years, keys)
    q = nearest_rank_quantiles(totals, keys, paths[keys[0]].shape[0]).reshape(len(keys), len(years), len(QUANTILES))
    p50 = q[:, :, QUANTILES.index(0.5)].astype(float)
    c = np.stack([central[k] for k in keys])
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(c > 0, p50 / c - 1.0, 0.0)
    n = len(years)
    return pd.DataFrame(
        {
            "year": np.tile(years, len(keys)),
            "material": np.repeat([k[1] for k in keys], n),
            "basis": np.repeat([k[2] for k in keys], n),
            "unit": np.repeat([k[3] for k in keys], n),
            "central": c.reshape(-1),
            "p50_mc": p50.reshape(-1),
            "shift": shift.reshape(-1),
        }
    )


def driver_quantile_table(a: Assumptions, params: ParamSet, scenario: str, years: np.ndarray) -> pd.DataFrame:
    """Drivers with the Monte Carlo's bands: year, scenario, driver, unit, kind, value, p5 .. p95.

    Every path multiplies a driver by exp(z sigma_year) for each family it belongs to (independent
    scores), so its quantiles are the value times exp(z_q sqrt(sum of sigma^2)), capped at the
    family ceiling: the bands the demand paths are drawn from, in closed form. History years carry
    no spread.
    """
    table = project_drivers(a.histories(), params, years, a.driver_trends, unit_driver_units(a))
    arrays = {str(name): g["value"].to_numpy(dtype=float) for name, g in table.groupby("driver", sort=False)}
    sigma = driver_sigmas(a, params, years)
    ceiling = driver_ceilings(arrays, params)
    names = table["driver"].to_numpy()
    pos = np.searchsorted(years, table["year"].to_numpy())
    variance = np.zeros(len(table))
    top = np.full(len(table), np.inf)
    for family, members in DRIVER_FAMILIES.items():
        for name in members:
            hit = names == name
            variance = np.where(hit, variance + sigma[family][pos] ** 2, variance)
            if family in ceiling:
                top = np.where(hit, np.minimum(top, ceiling[family][pos]), top)
    s = np.where(table["kind"].to_numpy() == "history", 0.0, np.sqrt(variance))
    value = table["value"].to_numpy(dtype=float)
    for q, col in zip(QUANTILES, QUANTILE_COLUMNS, strict=True):
        table[col] = value * np.minimum(np.exp(float(norm.ppf(q)) * s), top)
    return table.assign(scenario=scenario)[["year", "scenario", "driver", "unit", "kind", "value", *QUANTILE_COLUMNS]]
