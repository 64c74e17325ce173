"""Calibration of the base scenario to a published demand ratio, as an explicit estimation problem.

Every uncertain input has a prior (:mod:`forecast.priors`): a standard-normal score z whose central
95% interval is the input's sourced range (parameters) or its backtested or published interval
(driver families). The calibration finds the scores closest to the evidence,

    minimise sum(z^2)  subject to  ratio(z) = target,  history(z) kept,  |z| <= 1.96,

that is the maximum a-posteriori move of Gaussian priors under the target as an exact constraint
(a minimum-norm move in standardized units). "History kept": the model's world total of the base
year within ``history_tolerance`` of its central value, the hindcast MAPE against the published
series at most ``history_mape_limit``, and the base-year mix: every end-use tonnage marked
``calibration`` in ``series/ndfeb_end_use.csv`` (magnets in new-energy vehicles, inverter air
conditioners) within its published range. Without the mix, a target can be met by moving the
base year's tonnage from slow segments to fast ones, which the published end uses rule out.
Solver: scipy's SLSQP (sequential quadratic programming: smooth objective, non-linear equality and
inequality constraints, bounds), with gradients from finite differences evaluated in one vectorised
model run; when it stops short from the evidence, it starts again from the point on the way to the
most the ranges reach whose ratio is nearest the target.

Tension: ``chi2 = sum(z^2)`` of the minimum-norm move that meets the target, with one degree of
freedom (the one target). Under the priors, and to first order, it is the squared number of prior
standard deviations by which the target ratio lies from the evidence's ratio; ``p_value`` is the
prior probability of a ratio at least that far out. When the target needs moves outside the ranges
the calibration says so and stops (no move is applied: the base scenario stays on the evidence);
the tension is then computed with the bounds widened to |z| <= 4 and the move it would need is
reported, not applied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.stats import chi2 as chi2_dist

from forecast.drivers import driver_arrays
from forecast.hindcast import published_world
from forecast.model import demand_for_params, horizon_years, total_magnet_t, unit_driver_units
from forecast.montecarlo import evaluate
from forecast.params import ParamSet
from forecast.priors import (
    DRIVER_FAMILIES,
    DRIVER_PREFIX,
    FAMILY_LEVER,
    Z95,
    Priors,
    capped_multipliers,
    driver_ceilings,
    moved_parameters,
    moved_value,
    priors,
    spread_factor_name,
    trend_moves,
)
from forecast.scenarios import apply_overrides, resolve_parameters
from forecast.schemas import Assumptions, Parameter

METHOD = (
    "minimum-norm standardized move (MAP of Gaussian priors) subject to the target ratio and the published "
    "history; scipy.optimize.minimize(method='SLSQP') with bounds |z| <= 1.96"
)
AT_RANGE_END = Z95 - 1e-6  # a standardized move this large has reached its range end
TENSION_BOUND = 4.0  # |z| allowed when measuring the tension of a target the ranges cannot reach
STEP = 1e-4  # finite-difference step in z
# SLSQP stops when the objective moves, and the constraints miss, by less than this; finite differences
# blur both at about 1e-6, so a stricter value runs to the iteration limit for the same answer.
SOLVER_TOL = 1e-5
START_STEPS = 33  # points on the line from the evidence to the extreme, for a start near the target
SLACK = 1e-6  # a history constraint met to within this (relative) counts as met: the solver's own precision


@dataclass(frozen=True)
class MovedParameter:
    """One uncertain input before and after calibration (drivers: their value in the target year)."""

    name: str
    unit: str
    before: float
    after: float
    low: float
    high: float
    z: float
    source: str

    @property
    def family(self) -> str | None:
        """The driver family of a driver row ("driver:<family> (<driver>, <year>)"), None for a parameter."""
        if not self.name.startswith(DRIVER_PREFIX):
            return None
        return self.name.removeprefix(DRIVER_PREFIX).split(" ", 1)[0]


@dataclass(frozen=True)
class Tension:
    chi2: float
    dof: int
    p_value: float
    sigma: float  # sqrt(chi2): prior standard deviations between the evidence and the target
    meaning: str


@dataclass(frozen=True)
class CalibrationResult:
    quantity: str
    statement: str
    source: str
    interpretation: str
    base_year: int
    target_year: int
    target_ratio: float
    uncalibrated_ratio: float
    achieved_ratio: float
    reachable_ratio: float  # the largest (or smallest) ratio the ranges and the history allow
    tolerance: float
    within_tolerance: bool
    reachable: bool
    method: str
    tension: Tension
    history: dict
    parameters: list[MovedParameter] = field(default_factory=list)
    # the published end-use tonnages the base-year mix must keep, with the model's before and after
    end_uses: list[dict] = field(default_factory=list)
    uplift_by_segment: dict[str, float] = field(default_factory=dict)
    uplift_applied: bool = False
    calibrated: dict[str, Parameter] = field(default_factory=dict, repr=False)

    @property
    def provenance(self) -> dict:
        return {"statement": self.statement, "source": self.source, "interpretation": self.interpretation}

    def to_dict(self) -> dict:
        """JSON-ready summary (without the Parameter objects)."""
        d = asdict(self)
        d.pop("calibrated")
        d["provenance"] = self.provenance
        return d


@dataclass(frozen=True)
class EndUseBound:
    """A published end-use tonnage the calibrated base-year mix must keep: [low, high] [t/yr]."""

    year: int
    end_use: str
    segments: tuple[str, ...]
    basis: str
    published: float
    low: float
    high: float | None  # None: a lower bound
    source: str


def end_use_bounds(a: Assumptions, years: np.ndarray) -> list[EndUseBound]:
    """The end-use rows marked ``calibration`` in ``series/ndfeb_end_use.csv`` within ``years``."""
    uses = a.ndfeb_end_use
    if uses.empty or "calibration" not in uses:
        return []
    rows = uses[uses["calibration"].astype(bool) & uses["year"].isin(years)]
    return [
        EndUseBound(
            int(r["year"]),
            str(r["end_use"]),
            tuple(str(r["segments"]).split("+")),
            str(r["basis"]),
            float(r["value"]),
            float(r["low"]),
            None if r["high"] is None or pd.isna(r["high"]) else float(r["high"]),
            str(r["source"]),
        )
        for r in rows.to_dict("records")
    ]


@dataclass
class _Problem:
    """The calibration's model: world totals for rows of scores, with a cache for the optimizer."""

    a: Assumptions
    params: ParamSet
    pri: Priors
    movable: np.ndarray  # indices of the groups the calibration may move
    drivers: dict[str, np.ndarray]
    published: dict[int, float]  # year -> published world total on the history basis
    history_basis: str
    end_uses: list[EndUseBound]
    cache: dict[bytes, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def full(self, x: np.ndarray) -> np.ndarray:
        z = np.zeros((x.shape[0], len(self.pri.groups)))
        z[:, self.movable] = x
        return z

    def totals(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World finished and history-basis totals (rows, years) for score rows x (rows, movable), and
        the tonnage of each end-use bound (rows, bounds)."""
        wanted = {("finished", "t_magnet"), (self.history_basis, "t_magnet")}
        wanted |= {(b.basis, "t_magnet") for b in self.end_uses}
        series = evaluate(
            self.a,
            self.params,
            self.pri,
            self.full(x),
            self.drivers,
            residual=False,
            select=lambda k: k[1] == "NdFeB" and (k[2], k[3]) in wanted,
        )
        finished = sum(v for k, v in series.items() if k[2] == "finished")
        history = sum(v for k, v in series.items() if k[2] == self.history_basis)
        by_segment = {(k[0], k[2]): v for k, v in series.items() if k[3] == "t_magnet"}
        uses = np.zeros((x.shape[0], len(self.end_uses)))
        for j, b in enumerate(self.end_uses):
            col = int(np.searchsorted(self.pri.years, b.year))
            uses[:, j] = sum(
                np.broadcast_to(by_segment[(s, b.basis)], (x.shape[0], len(self.pri.years)))[:, col] for s in b.segments
            )
        return np.asarray(finished, dtype=float), np.asarray(history, dtype=float), uses

    def outputs(self, x: np.ndarray) -> np.ndarray:
        """(rows, 3 + bounds): ratio target/base year, base-year total / its central value - 1, hindcast
        MAPE, and each end-use bound's model tonnage [t]."""
        finished, history, uses = self.totals(x)
        years = self.pri.years
        b, t = (int(np.searchsorted(years, y)) for y in (self.base_year, self.target_year))
        ratio = finished[:, t] / finished[:, b]
        central = self.central_base
        base_error = finished[:, b] / central - 1.0
        cols = [int(np.searchsorted(years, y)) for y in self.published]
        pub = np.array(list(self.published.values()))
        mape = np.mean(np.abs(history[:, cols] / pub[None, :] - 1.0), axis=1) if cols else np.zeros(len(x))
        return np.column_stack([ratio, base_error, mape, uses])

    base_year: int = 0
    target_year: int = 0
    central_base: float = 1.0

    def value_and_jacobian(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        key = np.asarray(x, dtype=float).tobytes()
        hit = self.cache.get(key)
        if hit is None:
            rows = np.vstack([x, x + STEP * np.eye(len(x))])
            out = self.outputs(rows)
            hit = (out[0], (out[1:] - out[0]) / STEP)
            self.cache[key] = hit
        return hit


def _problem(a: Assumptions, params: ParamSet) -> _Problem:
    target = a.model.calibration
    years = horizon_years(a)
    pri = trend_moves(priors(a, params, years), target.target_year)
    fixed = set(target.fixed)
    movable = np.array([i for i, g in enumerate(pri.groups) if g not in fixed], dtype=int)
    drivers = driver_arrays(a.histories(), params, years, a.driver_trends, unit_driver_units(a))
    pub = published_world(a)
    basis = str(pub["basis"].mode().iloc[0]) if len(pub) else "blank"
    pub = pub[(pub["basis"] == basis) & pub["year"].isin(years)]
    published = {int(y): float(v) for y, v in zip(pub["year"], pub["value"], strict=True)}
    prob = _Problem(a, params, pri, movable, drivers, published, basis, end_use_bounds(a, years))
    prob.base_year, prob.target_year = target.base_year, target.target_year
    finished, _, _ = prob.totals(np.zeros((1, len(movable))))
    prob.central_base = float(finished[0, int(np.searchsorted(years, target.base_year))])
    return prob


def _constraints(prob: _Problem, target_ratio: float, history_tol: float, mape_limit: float) -> list[dict]:
    def f(i: int, g: Callable[[float], float], dg: Callable[[float], float]) -> dict:
        return {
            "fun": lambda x: g(prob.value_and_jacobian(x)[0][i]),
            "jac": lambda x: dg(prob.value_and_jacobian(x)[0][i]) * prob.value_and_jacobian(x)[1][:, i],
        }

    ratio = f(0, lambda r: r / target_ratio - 1.0, lambda r: 1.0 / target_ratio)
    base = f(1, lambda e: history_tol**2 - e**2, lambda e: -2.0 * e)
    mape = f(2, lambda m: mape_limit - m, lambda m: -1.0)
    out = [{"type": "eq", **ratio}, {"type": "ineq", **base}, {"type": "ineq", **mape}]

    # end-use bounds are relative margins (tonnes / bound - 1), so every constraint is of order one
    def at_least(i: int, low: float) -> dict:
        return {"type": "ineq", **f(i, lambda t: t / low - 1.0, lambda t: 1.0 / low)}

    def at_most(i: int, high: float) -> dict:
        return {"type": "ineq", **f(i, lambda t: 1.0 - t / high, lambda t: -1.0 / high)}

    for j, b in enumerate(prob.end_uses):
        if b.low > 0:
            out.append(at_least(3 + j, b.low))
        if b.high is not None:
            out.append(at_most(3 + j, b.high))
    return out


def _solve(
    prob: _Problem,
    target_ratio: float,
    bound: float,
    history_tol: float,
    mape_limit: float,
    start: np.ndarray | None = None,
) -> np.ndarray:
    k = len(prob.movable)
    res = minimize(
        lambda x: float(x @ x),
        np.zeros(k) if start is None else start,
        jac=lambda x: 2.0 * x,
        method="SLSQP",
        bounds=[(-bound, bound)] * k,
        constraints=_constraints(prob, target_ratio, history_tol, mape_limit),
        options={"maxiter": 200, "ftol": SOLVER_TOL},
    )
    return np.asarray(res.x, dtype=float)


def _extreme_ratio(prob: _Problem, sign: float, history_tol: float, mape_limit: float) -> tuple[float, np.ndarray]:
    """The largest (sign=+1) or smallest (sign=-1) ratio reachable within the ranges and the history, and
    the scores that reach it."""
    k = len(prob.movable)
    cons = _constraints(prob, 1.0, history_tol, mape_limit)[1:]
    res = minimize(
        lambda x: -sign * prob.value_and_jacobian(x)[0][0],
        np.zeros(k),
        jac=lambda x: -sign * prob.value_and_jacobian(x)[1][:, 0],
        method="SLSQP",
        bounds=[(-Z95, Z95)] * k,
        constraints=cons,
        options={"maxiter": 200, "ftol": SOLVER_TOL},
    )
    x = np.asarray(res.x, dtype=float)
    return float(prob.value_and_jacobian(x)[0][0]), x


def _start_on_the_way(prob: _Problem, target_ratio: float, extreme: np.ndarray) -> np.ndarray:
    """Scores on the line from the evidence to ``extreme`` whose ratio is nearest the target: a start the
    minimum-norm search can leave without first crossing a history bound (from z = 0 it can settle on the
    cheapest direction's bound and report a reachable target as unreachable)."""
    steps = np.linspace(0.0, 1.0, START_STEPS)
    ratios = prob.outputs(steps[:, None] * extreme[None, :])[:, 0]
    return steps[int(np.argmin(np.abs(ratios / target_ratio - 1.0)))] * extreme


def _meets(
    prob: _Problem, x: np.ndarray, target_ratio: float, tol: float, history_tol: float, mape_limit: float
) -> bool:
    out = prob.value_and_jacobian(x)[0]
    ratio, base_error, mape = out[:3]
    return (
        abs(ratio / target_ratio - 1.0) <= tol
        and abs(base_error) <= history_tol + SLACK
        and mape <= mape_limit + SLACK
        and all(_within(b, float(t)) for b, t in zip(prob.end_uses, out[3:], strict=True))
    )


def _within(b: EndUseBound, tonnes: float) -> bool:
    """Whether a model tonnage [t] lies within the bound's published range (to the solver's precision)."""
    return tonnes >= b.low * (1.0 - SLACK) and (b.high is None or tonnes <= b.high * (1.0 + SLACK))


def _input_rows(prob: _Problem, z: np.ndarray, year: int) -> list[MovedParameter]:
    """Each movable input before and after, its range and its standardized move (drivers: in ``year``)."""
    pri, col = prob.pri, int(np.searchsorted(prob.pri.years, year))
    ceilings = driver_ceilings(prob.drivers, prob.params)
    rows = []
    for i in prob.movable:
        zi = float(z[i])
        for m in (x for x in pri.inputs if x.group == pri.groups[i]):
            if m.kind == "parameter":
                p = prob.params[m.name]
                values = [float(np.ravel(moved_value(p, np.array([s]), np.array([year])))[0]) for s in (0.0, zi)]
                rows.append(MovedParameter(m.name, p.unit, values[0], values[1], p.low, p.high, zi, p.source))
                continue
            fam = m.name.split(":", 1)[1]
            level = float(np.atleast_2d(prob.drivers[DRIVER_FAMILIES[fam][0]])[0, col])
            scores = np.zeros((4, len(pri.groups)))
            scores[:, i] = (0.0, zi, -Z95, Z95)
            at = level * capped_multipliers(pri, scores, ceilings)[fam][:, col]
            rows.append(
                MovedParameter(
                    f"{m.name} ({DRIVER_FAMILIES[fam][0]}, {year})",
                    m.unit,
                    float(at[0]),
                    float(at[1]),
                    float(at[2]),
                    float(at[3]),
                    zi,
                    f"{m.source}; lever {FAMILY_LEVER[fam]}",
                )
            )
    return rows


def _uplift(a: Assumptions, before: ParamSet, after: ParamSet, year: int) -> dict[str, float]:
    """Tonnes of finished magnet each segment adds in ``year`` [t]."""
    years = np.array([year])
    d0, d1 = (demand_for_params(a, p, years) for p in (before, after))
    sel = lambda d: d[(d["material"] == "NdFeB") & (d["basis"] == "finished")].set_index("segment")["value"]  # noqa: E731
    diff = sel(d1) - sel(d0)
    return {str(k): float(v) for k, v in diff.sort_values(ascending=False).items()}


def demand_ratio(a: Assumptions, params: ParamSet, base_year: int, target_year: int) -> float:
    """NdFeB magnet demand (finished) in target_year / base_year [-] for a parameter set."""
    years = np.array([base_year, target_year])
    total = total_magnet_t(demand_for_params(a, params, years))
    return float(total[target_year] / total[base_year])


def calibrate(a: Assumptions) -> CalibrationResult:
    """Calibrate the base scenario's uncertain inputs to the target ratio (see the module docstring)."""
    target = a.model.calibration
    base = resolve_parameters(a, "base")
    prob = _problem(a, base)
    t, tol = target.ratio, target.tolerance
    htol, mlim = target.history_tolerance, target.history_mape_limit
    r0 = float(prob.value_and_jacobian(np.zeros(len(prob.movable)))[0][0])
    extreme, x_extreme = _extreme_ratio(prob, 1.0 if t >= r0 else -1.0, htol, mlim)
    if (extreme - t) * (t - r0) >= 0:  # the target lies between the evidence and the most the ranges reach
        x = _solve(prob, t, Z95, htol, mlim)
        if not _meets(prob, x, t, tol, htol, mlim):
            x = _solve(prob, t, Z95, htol, mlim, start=_start_on_the_way(prob, t, x_extreme))
    else:  # beyond it: reachable only within the tolerance, at the extreme itself
        x = x_extreme
    reachable = bool(_meets(prob, x, t, tol, htol, mlim))
    x_tension = x if reachable else _solve(prob, t, TENSION_BOUND, htol, mlim)
    exact = reachable or _meets(prob, x_tension, t, tol, htol, mlim)
    chi2 = float(x_tension @ x_tension)
    tension = Tension(
        chi2=chi2,
        dof=1,
        p_value=float(chi2_dist.sf(chi2, 1)),
        sigma=float(np.sqrt(chi2)),
        meaning=(
            "chi2 = sum of squared standardized moves of the minimum-norm move that meets the target; one degree "
            "of freedom (the target). sigma = sqrt(chi2) prior standard deviations between the evidence and the "
            "target; p_value = prior probability of a ratio at least that far from the evidence."
            + ("" if exact else f" Even with |z| <= {TENSION_BOUND:g} the target is not met: chi2 is a lower bound.")
        ),
    )
    z_full = prob.full(x_tension[None, :])[0]
    moved = moved_parameters(prob.pri, z_full, prob.drivers, driver_ceilings(prob.drivers, base))
    # an unreachable target is reported, not forced: the base scenario then stays on the evidence
    calibrated = moved if reachable else {}
    achieved = demand_ratio(a, {**base, **calibrated}, target.base_year, target.target_year)
    outputs = prob.value_and_jacobian(x if reachable else np.zeros(len(prob.movable)))[0]
    evidence = prob.value_and_jacobian(np.zeros(len(prob.movable)))[0]
    moved_out = prob.value_and_jacobian(x_tension)[0]
    return CalibrationResult(
        quantity=target.quantity,
        statement=target.statement,
        source=target.source,
        interpretation=target.interpretation,
        base_year=target.base_year,
        target_year=target.target_year,
        target_ratio=t,
        uncalibrated_ratio=r0,
        achieved_ratio=achieved,
        reachable_ratio=extreme,
        tolerance=tol,
        within_tolerance=bool(abs(achieved / t - 1.0) <= tol),
        reachable=reachable,
        method=METHOD,
        tension=tension,
        history={
            "source": target.history_source,
            "basis": prob.history_basis,
            "base_year_error": float(outputs[1]),
            "base_year_tolerance": htol,
            "hindcast_mape": float(outputs[2]),
            "hindcast_mape_limit": mlim,
        },
        parameters=_input_rows(prob, z_full, target.target_year),
        end_uses=[
            {
                "year": b.year,
                "end_use": b.end_use,
                "segments": "+".join(b.segments),
                "basis": b.basis,
                "published_t": b.published,
                "low_t": b.low,
                "high_t": b.high,
                "evidence_t": float(evidence[3 + j]),
                "moved_t": float(moved_out[3 + j]),
                "within": _within(b, float(moved_out[3 + j])),
                "source": b.source,
            }
            for j, b in enumerate(prob.end_uses)
        ],
        uplift_by_segment=_uplift(a, base, {**base, **moved}, target.target_year),
        uplift_applied=reachable,
        calibrated=calibrated,
    )


def held_at_range_ends(
    cal: CalibrationResult, params: Mapping[str, Parameter], exempt: Iterable[str] = ()
) -> dict[str, Parameter]:
    """A calibrated scenario's parameters for its Monte Carlo: each constant the calibration moved to an
    end of its sourced range is held there (its range collapsed to the value); every other input keeps
    its prior around its calibrated value.

    Why: the calibration moves an input to its range end only when the target needs it there, so the
    evidence allows no draw beyond it and the target none short of it. Drawn around that end, the
    input would sit below its central value on every path, and with several such inputs the P50 of
    every total falls 7-10% under the central path. A driver family moved to the end of its 95%
    interval is held the same way (its spread factor set to 0): drawn around a central path already at
    its published high case, humanoid shipments alone put the 2050 P95 of the total at about six
    times the central value. ``exempt``: names a scenario or what-if sets itself (a family is exempt
    when its lever is).
    """
    out = dict(params)
    skip = set(exempt)
    for row in cal.parameters:
        if abs(row.z) < AT_RANGE_END:
            continue
        family = row.family
        if family is not None:
            if FAMILY_LEVER[family] not in skip:
                out[spread_factor_name(family)] = out[spread_factor_name(family)].with_values(0.0)
            continue
        p = out.get(row.name)
        if p is None or row.name in skip or p.value is None:
            continue
        out[row.name] = p.model_copy(update={"low": p.value, "high": p.value})
    return out


def band_parameters(
    a: Assumptions,
    cal: CalibrationResult,
    scenario: str,
    overrides: Mapping[str, float | dict[int, float]] | None = None,
    params: Mapping[str, Parameter] | None = None,
) -> dict[str, Parameter]:
    """Parameters of a scenario (with what-if ``overrides``) as its Monte Carlo draws them
    (:func:`held_at_range_ends` for a calibrated scenario). ``params``: the scenario's parameters with
    the overrides already applied (resolved here when not given)."""
    extra = dict(overrides or {})
    if params is None:
        params = apply_overrides(resolve_parameters(a, scenario, cal.calibrated), extra)
    params = dict(params)
    if not a.scenarios[scenario].calibrated or not cal.uplift_applied:
        return params
    return held_at_range_ends(cal, params, set(a.scenarios[scenario].overrides) | set(extra))
