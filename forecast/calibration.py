"""Calibration of the base scenario to the DOE 2023 projection (demand ratio target/base year).

Every listed parameter moves the same fraction ``s`` of the way from its central value towards
the bound of its sourced range that raises (or lowers) the ratio; ``s`` in [0, 1] is found by
Brent's method. If even ``s = 1`` cannot reach the target, the result says so, reports the ratio
that ``s = 1`` gives, and applies no move: the base scenario stays on the sourced central values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.optimize import brentq

from forecast.model import demand_for_params, total_magnet_t
from forecast.params import ParamSet
from forecast.scenarios import resolve_parameters
from forecast.schemas import Assumptions, Parameter


@dataclass(frozen=True)
class MovedParameter:
    name: str
    unit: str
    before: float | dict[int, float]
    after: float | dict[int, float]
    low: float
    high: float
    source: str


@dataclass(frozen=True)
class CalibrationResult:
    quantity: str
    statement: str
    source: str
    base_year: int
    target_year: int
    target_ratio: float
    uncalibrated_ratio: float
    achieved_ratio: float
    tolerance: float
    within_tolerance: bool
    reachable: bool
    stretch: float
    parameters: list[MovedParameter] = field(default_factory=list)
    calibrated: dict[str, Parameter] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict:
        """JSON-ready summary (without the Parameter objects)."""
        d = asdict(self)
        d.pop("calibrated")
        for p in d["parameters"]:
            for k in ("before", "after"):
                if isinstance(p[k], dict):
                    p[k] = {str(y): v for y, v in p[k].items()}
        return d


def demand_ratio(a: Assumptions, params: ParamSet, base_year: int, target_year: int) -> float:
    """NdFeB magnet demand in target_year / base_year [-] for a parameter set."""
    years = np.array([base_year, target_year])
    total = total_magnet_t(demand_for_params(a, params, years))
    return float(total[target_year] / total[base_year])


def _stretched(p: Parameter, bound: float, s: float) -> Parameter:
    if p.value is not None:
        return p.with_values(p.value + s * (bound - p.value))
    return p.with_values({y: v + s * (bound - v) for y, v in (p.trajectory or {}).items()})


def calibrate(a: Assumptions) -> CalibrationResult:
    """Calibrate the base scenario's listed parameters to the target ratio (see module docstring)."""
    target = a.model.calibration
    base = resolve_parameters(a, "base")
    ratio = lambda ps: demand_ratio(a, ps, target.base_year, target.target_year)  # noqa: E731
    r0 = ratio(base)
    raise_ratio = r0 < target.ratio
    bounds: dict[str, float] = {}
    for name in target.parameters:
        p = base[name]
        hi = ratio({**base, name: _stretched(p, p.high, 1.0)})
        lo = ratio({**base, name: _stretched(p, p.low, 1.0)})
        bounds[name] = p.high if (hi >= lo) == raise_ratio else p.low

    def params_at(s: float) -> dict[str, Parameter]:
        return {**base, **{n: _stretched(base[n], bounds[n], s) for n in target.parameters}}

    def gap(s: float) -> float:
        return ratio(params_at(s)) - target.ratio

    if abs(gap(0.0)) <= target.tolerance * target.ratio:
        s, reachable = 0.0, True
    elif np.sign(gap(1.0)) == np.sign(gap(0.0)):
        s, reachable = 1.0, False
    else:
        s, reachable = float(brentq(gap, 0.0, 1.0, xtol=1e-6)), True
    final = params_at(s)
    achieved = ratio(final)
    moved = [
        MovedParameter(
            name=n,
            unit=base[n].unit,
            before=base[n].value if base[n].value is not None else dict(base[n].trajectory or {}),
            after=final[n].value if final[n].value is not None else dict(final[n].trajectory or {}),
            low=base[n].low,
            high=base[n].high,
            source=base[n].source,
        )
        for n in target.parameters
    ]
    return CalibrationResult(
        quantity=target.quantity,
        statement=target.statement,
        source=target.source,
        base_year=target.base_year,
        target_year=target.target_year,
        target_ratio=target.ratio,
        uncalibrated_ratio=r0,
        achieved_ratio=achieved,
        tolerance=target.tolerance,
        within_tolerance=abs(achieved - target.ratio) <= target.tolerance * target.ratio,
        reachable=reachable,
        stretch=s,
        parameters=moved,
        # An unreachable target is reported, not forced: the base scenario then stays on the evidence.
        calibrated={n: final[n] for n in target.parameters} if reachable else {},
    )
