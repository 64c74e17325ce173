"""Quantiles of world totals by conditional Monte Carlo: one input integrated exactly, the others drawn.

A world total is the sum of its segments. For some inputs it splits exactly into a part proportional
to the input and a rest that does not depend on it (a :class:`Split`):

- a grade's content of an element (``composition.<grade>.<element>``): the element rows of the
  grade's segments are proportional to it (:func:`forecast.composition.element_t` is linear in the
  mass fraction);
- a driver family the paths only multiply (:data:`forecast.priors.PROPORTIONAL_FAMILIES`): the rows
  of the segments it drives are proportional to its multiplier.

On a path the total is then ``rest + slope x g``, with ``g`` the input, and the probability that it
is at most y, given every other score of the path, is the input's prior distribution function at
``(y - rest) / slope``, in closed form: a split normal truncated at its range (parameters) or a
log-normal capped at its family's ceiling (drivers). A quantile solves mean over paths = p, by Newton's
method from the order statistic. Averaged this way the total's distribution function is smooth in the
other scores, where the indicator 1{total <= y} is a step, and scrambled Sobol points integrate a
smooth function far more accurately (``make bench`` prints the error with and without).

Each total row (material, basis, unit, year) is conditioned on the split whose input's score explains
most of the row's log across the paths (the squared correlation; a variance would favour the heavy
upper tail of a log-normal driver over a content that moves the lower quantiles more). Rows with no
split that moves in their year keep the order statistic.

Conditional Monte Carlo for quantiles: M. K. Nakayama, "Quantile estimation when applying conditional
Monte Carlo", SIMULTECH 2014, https://scitepress.org/PublishedPapers/2014/51097/pdf/index.html; with
randomized quasi-Monte Carlo: P. L'Ecuyer, F. Puchhammer, A. Ben Abdellah, "Monte Carlo and
quasi-Monte Carlo density estimation via conditioning", arXiv:1906.04607.

Caveat: a path whose input is exactly zero (a Dy or Tb content at the bottom of its range) has no
slope; it keeps its indicator, exact for that path but not smoothed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from forecast.demand import segment_driver
from forecast.model import Key
from forecast.priors import (
    DRIVER_FAMILIES,
    DRIVER_PREFIX,
    PROPORTIONAL_FAMILIES,
    TRUNCATION,
    Z95,
    Priors,
    family_multiplier,
    moved_value,
)
from forecast.schemas import ELEMENTS, Assumptions

CONDITIONAL_PATHS = 2048  # the first paths of the run (a balanced Sobol net): error < 0.5% (``make bench``)
STRONG_SHARE = 0.6  # a row whose input's score explains this share of its log across the paths ...
STRONG_PATHS = 512  # ... is left with little noise to average: it reads this many paths (error < 0.2%)
NEWTON_STEPS = 1  # from the order statistic (within about 2%): then within 0.2% of the root, 0.03% on average
MAX_STEP = 0.25  # a Newton step moves a quantile by at most this fraction of its value (a safeguard)
TABLE_Z = 8.5  # the standard normal holds < 1e-16 beyond +-8.5: the span of its CDF table
TABLE_POINTS = 1 << 12  # cells of a CDF table: within 5e-7 of the normal CDF, and small enough to stay in cache
WORK = np.float32  # the solver's arrays: its probabilities are means of thousands of values
FLAT = 1e30  # table cells per unit of a side without spread: any move leaves the table
VANISHING_SLOPE = 1e-12  # relative slope given to a path without one: its probability is a step


@dataclass(frozen=True)
class Marginal:
    """The prior of an input g by year, (years,) arrays: its score is ``(t - centre) / above`` above
    the centre and ``(t - centre) / below`` under it, with t = ln g (``log``) or g; scores truncated at
    +-``Z95`` (``truncated``, the parameters' draws); g capped at ``ceiling`` (a driver family's)."""

    centre: np.ndarray
    below: np.ndarray
    above: np.ndarray
    ceiling: np.ndarray
    log: bool
    truncated: bool

    def moves(self) -> np.ndarray:
        """Years in which the input has a spread (booleans, (years,))."""
        return (self.below > 0) | (self.above > 0)


@dataclass(frozen=True)
class Split:
    """Part of a total proportional to one input: the input's group, the segments making the part,
    the input's value on each path (paths, years) and its prior."""

    group: str
    segments: frozenset[str]
    value: np.ndarray
    marginal: Marginal


def composition_splits(a: Assumptions, pri: Priors, z: np.ndarray, element: str) -> list[Split]:
    """An element's total split on each grade's content of it: constant contents drawn with a score of their own."""
    n_years = len(pri.years)
    drawn = set(pri.parameter_names)
    sharing = [i.group for i in pri.inputs]
    out = []
    for grade in dict.fromkeys(seg.grade for seg in a.structure.segments.values()):
        name = f"composition.{grade}.{element}"
        p = pri.params.get(name)
        if p is None or p.value is None or name not in drawn or sharing.count(name) != 1:
            continue
        c = float(p.value)
        marginal = Marginal(
            centre=np.full(n_years, c),
            below=np.full(n_years, (c - p.low) / Z95),
            above=np.full(n_years, (p.high - c) / Z95),
            ceiling=np.full(n_years, np.inf),
            log=False,
            truncated=True,
        )
        segments = frozenset(s for s, spec in a.structure.segments.items() if spec.grade == grade)
        value = moved_value(p, z[:, pri.group_of(name)], pri.years)
        out.append(Split(name, segments, np.broadcast_to(value[:, None], (len(value), n_years)), marginal))
    return out


def driver_splits(a: Assumptions, pri: Priors, z: np.ndarray, ceilings: Mapping[str, np.ndarray]) -> list[Split]:
    """Totals split on each proportional driver family's multiplier (families fixed in the base year only:
    the base-year allocation rescales a segment by base-year tonnages, which must not move with it)."""
    base_col = int(np.searchsorted(pri.years, a.model.calibration.base_year))
    out = []
    for family in PROPORTIONAL_FAMILIES:
        if family not in pri.families or pri.sigma[family][base_col] > 0:
            continue
        sigma = pri.sigma[family]
        drivers = set(DRIVER_FAMILIES[family])
        segments = frozenset(s for s, spec in a.structure.segments.items() if segment_driver(spec) in drivers)
        if not segments:
            continue
        marginal = Marginal(
            centre=np.zeros(len(pri.years)),
            below=sigma,
            above=sigma,
            ceiling=np.asarray(ceilings.get(family, np.full(len(pri.years), np.inf)), dtype=float),
            log=True,
            truncated=False,
        )
        multiplier = family_multiplier(pri, z, family, ceilings)
        out.append(Split(f"{DRIVER_PREFIX}{family}", segments, multiplier, marginal))
    return out


@dataclass(frozen=True)
class Table:
    """A distribution function of the score tabulated for linear interpolation: ``values`` at
    ``origin + score x per_unit`` (in cells), ``steps`` to the next value; a flat cell at each end
    makes the function constant, and its slope 0, beyond the tabulated span."""

    values: np.ndarray
    steps: np.ndarray
    origin: float
    per_unit: float

    @classmethod
    def of(cls, span: float, cdf: Callable[[np.ndarray], np.ndarray]) -> Table:
        grid = np.linspace(-span, span, TABLE_POINTS + 1)
        inner = cdf(grid)
        values = np.concatenate([inner[:1], inner, inner[-1:]]).astype(WORK)
        steps = np.append(np.diff(values), 0.0).astype(WORK)
        return cls(values, steps, 1.0 + TABLE_POINTS / 2, TABLE_POINTS / (2 * span))

    @property
    def last(self) -> float:
        return float(len(self.values) - 1)


@functools.cache
def normal_table() -> Table:
    """The standard normal CDF over +-TABLE_Z (a driver family's score, not truncated)."""
    return Table.of(TABLE_Z, ndtr)


@functools.cache
def truncated_table() -> Table:
    """The CDF of a standard normal score truncated at +-Z95 (a parameter's draws)."""
    return Table.of(Z95, lambda s: np.clip((ndtr(s) - TRUNCATION) / (1.0 - 2.0 * TRUNCATION), 0.0, 1.0))


@dataclass(frozen=True)
class Block:
    """Total rows conditioned on inputs of one kind of prior: total = rest + slope x g on each path.

    Held in the form the solver reads, (rows, paths) in ``WORK`` precision: ``inv_slope`` = 1 / slope
    and ``offset`` = rest / slope (+ the prior's centre for a linear input), so that g at y is
    ``y x inv_slope - offset``; per row (rows, 1): table cells per unit of g (or of ln g) below and
    above the centre, and the ceiling's distance from the centre (in g or ln g). A path without a
    slope (its input is zero) is given a vanishing one, so its probability is the step 1{rest <= y}.
    """

    inv_slope: np.ndarray
    offset: np.ndarray
    centre: np.ndarray
    per_unit_below: np.ndarray
    per_unit_above: np.ndarray
    ceiling_above_centre: np.ndarray
    log: bool
    table: Table

    @classmethod
    def of(cls, parts: list[tuple[np.ndarray, np.ndarray, Marginal, np.ndarray]]) -> Block:
        """Rows from (rest, slope, marginal, model-year positions) per split, (paths, years) each, one kind."""
        rest = np.concatenate([r.T for r, _, _, _ in parts])
        slope = np.concatenate([s.T for _, s, _, _ in parts])
        slope = np.where(slope > 0, slope, np.maximum(np.abs(rest), 1.0) * VANISHING_SLOPE)
        first = parts[0][2]
        table = truncated_table() if first.truncated else normal_table()
        centre = prior_column(parts, "centre")
        with np.errstate(divide="ignore"):
            below = np.minimum(table.per_unit / prior_column(parts, "below"), FLAT)
            above = np.minimum(table.per_unit / prior_column(parts, "above"), FLAT)
            ceiling = prior_column(parts, "ceiling")
            ceiling = np.log(ceiling) if first.log else ceiling
        offset = rest / slope + (0.0 if first.log else centre)
        return cls(
            (1.0 / slope).astype(WORK),
            offset.astype(WORK),
            centre.astype(WORK),
            below.astype(WORK),
            above.astype(WORK),
            (ceiling - centre).astype(WORK),
            first.log,
            table,
        )

    def cdf(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean over paths of P(total <= y | other scores), and its derivative in y, for y (rows,)."""
        x = self.inv_slope * y.astype(WORK)[:, None]
        x -= self.offset  # g at y (linear inputs: g - centre)
        if self.log:
            d = np.log(np.maximum(x, np.finfo(WORK).tiny))
            d -= self.centre
        else:
            d = x
        per_unit = self.per_unit_below  # cells per unit of g on the path's side of the centre
        if not np.array_equal(self.per_unit_above, self.per_unit_below):  # a skewed prior
            per_unit = np.empty_like(d)
            per_unit[...] = self.per_unit_below
            np.copyto(per_unit, self.per_unit_above, where=d > 0)  # faster than np.where on broadcast columns
        cell = d * per_unit
        cell += self.table.origin
        np.clip(cell, 0.0, self.table.last, out=cell)
        fraction, whole = np.modf(cell)  # cell >= 0: whole is the cell's index
        index = whole.astype(np.int32)
        steps = np.take(self.table.steps, index)
        p = np.take(self.table.values, index)
        p += fraction * steps
        density = steps * per_unit  # the table's slope per cell x cells per unit of g
        density *= self.inv_slope
        if self.log:
            density /= np.maximum(x, np.finfo(WORK).tiny)
            beyond = d >= self.ceiling_above_centre
            p[beyond] = 1.0
            density[beyond] = 0.0
        return p.mean(axis=1, dtype=float), density.mean(axis=1, dtype=float)


def prior_column(parts: list[tuple[np.ndarray, np.ndarray, Marginal, np.ndarray]], name: str) -> np.ndarray:
    """One field of the parts' priors at their years, stacked as a (rows, 1) column."""
    return np.concatenate([getattr(m, name)[at] for _, _, m, at in parts])[:, None]


def total_quantiles(
    a: Assumptions,
    pri: Priors,
    z: np.ndarray,
    ceilings: Mapping[str, np.ndarray],
    series: Mapping[Key, np.ndarray],
    cols: slice | np.ndarray,
    totals: list[Key],
    start: np.ndarray,
    probabilities: tuple[float, ...],
    n_paths: int = CONDITIONAL_PATHS,
) -> np.ndarray:
    """Quantiles (totals, years, probabilities) of the world totals by conditional Monte Carlo [as the series].

    ``series``: segment rows (paths, model years of ``pri``), the paths those of the scores ``z``;
    ``cols``: the reported years among the model years; ``start``: the order statistics (totals,
    years, probabilities), kept where no split applies. The first ``n_paths`` paths are used.
    """
    n = min(n_paths, z.shape[0])
    z = z[:n]
    positions = np.arange(len(pri.years))[cols]
    centred_scores = (z - z.mean(axis=0)).astype(WORK)
    by_driver = driver_splits(a, pri, z, ceilings)
    by_content = {element: composition_splits(a, pri, z, element) for element in ELEMENTS}
    kinds: dict[tuple[bool, bool, int], list[tuple[np.ndarray, np.ndarray, Marginal, np.ndarray]]] = {}
    where: dict[tuple[bool, bool, int], list[tuple[int, np.ndarray]]] = {}
    for index, (_, material, basis, unit) in enumerate(totals):
        members = [k for k in series if k[0] != "total" and k[1:] == (material, basis, unit)]
        if not members:
            continue
        sums: dict[frozenset[Key], np.ndarray] = {}
        for grade in dict.fromkeys(a.structure.segments[k[0]].grade for k in members):
            keys = frozenset(k for k in members if a.structure.segments[k[0]].grade == grade)
            sums[keys] = row_sum(series, keys, n, cols)
        total = np.add.reduce(list(sums.values()))
        log_total = np.log(np.maximum(total, np.finfo(WORK).tiny))
        log_total -= log_total.mean(axis=0)
        log_spread = np.sqrt((log_total**2).sum(axis=0))
        splits = by_content.get(material, []) + by_driver
        candidates = []
        for split in splits:
            part_keys = frozenset(k for k in members if k[0] in split.segments)
            if not part_keys:
                continue
            if part_keys not in sums:
                sums[part_keys] = row_sum(series, part_keys, n, cols)
            part = sums[part_keys]
            zk = centred_scores[:, pri.groups.index(split.group)]
            with np.errstate(divide="ignore", invalid="ignore"):
                corr = (zk @ log_total) / (np.sqrt(zk @ zk) * log_spread)
            score = np.where(split.marginal.moves()[positions], np.nan_to_num(corr**2), 0.0)
            candidates.append((split, score, part))
        if not candidates:
            continue
        best = np.argmax(np.stack([score for _, score, _ in candidates]), axis=0)
        for i, (split, score, part) in enumerate(candidates):
            for strong in (True, False):
                years = np.flatnonzero((best == i) & (score > 0) & ((score >= STRONG_SHARE) == strong))
                if not len(years):
                    continue
                m = min(STRONG_PATHS, n) if strong else n
                g = split.value[:m, positions[years]]
                slope = np.divide(part[:m, years], g, out=np.zeros(g.shape, dtype=WORK), where=g > 0)
                kind = (split.marginal.log, split.marginal.truncated, m)
                rest = total[:m, years] - part[:m, years]
                kinds.setdefault(kind, []).append((rest, slope, split.marginal, positions[years]))
                where.setdefault(kind, []).append((index, years))
    out = np.array(start, dtype=float)
    for kind, parts in kinds.items():
        rows = where[kind]
        first = np.concatenate([out[i][years] for i, years in rows])
        solved = solve(Block.of(parts), first, probabilities)
        offset = 0
        for i, years in rows:
            out[i, years] = solved[offset : offset + len(years)]
            offset += len(years)
    return out


def row_sum(
    series: Mapping[Key, np.ndarray], keys: frozenset[Key], n_paths: int, cols: slice | np.ndarray
) -> np.ndarray:
    """Sum of some series over their first ``n_paths`` paths at the reported years (paths, years), in ``WORK``."""
    ordered = sorted(keys)
    out = np.array(series[ordered[0]][:n_paths], dtype=WORK)  # the first paths are contiguous rows
    for key in ordered[1:]:
        out += series[key][:n_paths]
    return out[:, cols]


def solve(block: Block, start: np.ndarray, probabilities: tuple[float, ...], steps: int = NEWTON_STEPS) -> np.ndarray:
    """Quantiles (rows, probabilities): the roots y of mean over paths of P(total <= y | other scores) = p,
    by ``steps`` Newton steps from ``start`` (rows, probabilities); kept in increasing order."""
    out = np.array(start, dtype=float)
    for j, p in enumerate(probabilities):
        y = out[:, j].copy()
        for _ in range(steps):
            cdf, density = block.cdf(y)
            step = np.divide(cdf - p, density, out=np.zeros_like(cdf), where=density > 0)
            limit = MAX_STEP * np.abs(y)
            y = y - np.clip(step, -limit, limit)
        out[:, j] = y
    return np.maximum.accumulate(out, axis=1)  # a crossing could only come from the last step's residual
