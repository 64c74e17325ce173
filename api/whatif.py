"""The what-if panel's inputs: the parameters that move demand most, described for a form.

Each input names one parameter and how a single number sets it:

- ``value``: a constant parameter takes the number;
- ``anchor``: a trajectory's value in ``year`` becomes the number, its other anchors stay;
- ``path``: a trajectory reaches the number in ``year`` and holds it on every later anchor;
- ``share``: a member of a share group (wind drivetrains) takes the number in ``year`` and the other
  members are scaled so the group still sums to 1.

Every input is bounded by the parameter's sourced range [low, high] and shows its unit and source.
When the version carries a sensitivity table (one-at-a-time swings of 2040 world NdFeB demand), the
inputs are listed by swing, largest first; otherwise in the order below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from forecast import params as parameters
from forecast.schemas import Assumptions, Parameter

InputKind = Literal["value", "anchor", "path", "share"]


@dataclass(frozen=True)
class WhatIfInput:
    name: str  # parameter name (parameters.yaml)
    label: str
    kind: InputKind = "value"
    year: int | None = None  # the year an anchor, path or share input sets


WHAT_IF_INPUTS: tuple[WhatIfInput, ...] = (
    WhatIfInput("ev.motor_kg.BEV", "NdFeB per BEV traction motor"),
    WhatIfInput("ev.motor_kg.PHEV", "NdFeB per PHEV traction motor"),
    WhatIfInput("drivers.ev_share.saturation", "long-run electric share of car sales"),
    WhatIfInput("drivers.ev_sales_multiplier", "electric car sales against the fitted path, from 2030", "path", 2030),
    WhatIfInput("ev.pm_motor_share", "permanent-magnet share of traction motors"),
    WhatIfInput("ev.motor_kg_factor", "thrifting: kg per motor multiplier, from 2035", "path", 2035),
    WhatIfInput(
        "drivers.wind_installs_multiplier", "wind installations against the fitted path, from 2030", "path", 2030
    ),
    WhatIfInput("wind.onshore.share.non_pm", "onshore wind: non-PM drivetrain share in 2050", "share", 2050),
    WhatIfInput("wind.offshore.share.direct_drive", "offshore wind: direct-drive share in 2050", "share", 2050),
    WhatIfInput("drivers.humanoid_robots.anchors", "humanoid robots sold in 2040", "anchor", 2040),
    WhatIfInput("drivers.industrial_robots.anchors", "industrial robots installed in 2035", "anchor", 2035),
    WhatIfInput("recycling.eol_collection_rate", "end-of-life magnet collection rate in 2050", "anchor", 2050),
)
SENSITIVITY_YEAR = 2040
SENSITIVITY_OUTPUT = "total"
SHARED_GROUP = re.compile(r"^(.+)\.\* \(\d+ shared\)$")


def _trajectory(p: Parameter) -> dict[str, float] | None:
    return {str(y): float(v) for y, v in p.trajectory.items()} if p.trajectory else None


def sensitivity_order(sensitivity: pd.DataFrame | None, scenario: str) -> dict[str, float]:
    """Swing of 2040 world NdFeB demand per parameter name [t/yr] (empty without a sensitivity table)."""
    if sensitivity is None or sensitivity.empty or not {"name", "output_low", "output_high"} <= set(sensitivity):
        return {}
    t = sensitivity
    for col, want in (("scenario", scenario), ("year", SENSITIVITY_YEAR), ("output", SENSITIVITY_OUTPUT)):
        if col in t and (t[col] == want).any():
            t = t[t[col] == want]
    swing = (t["output_high"] - t["output_low"]).abs()
    out: dict[str, float] = {}
    for name, value in zip(t["name"], swing, strict=True):
        shared = SHARED_GROUP.match(str(name))
        # a group of parameters moved by one score (forecast.sensitivity names it "prefix.* (n shared)"):
        # each member of the panel carries the group's swing
        members = [i.name for i in WHAT_IF_INPUTS if i.name.startswith(shared.group(1) + ".")] if shared else []
        for member in members or [str(name)]:
            out[member] = float(value)
    return out


def describe_inputs(
    a: Assumptions, params: dict[str, Parameter], sensitivity: pd.DataFrame | None = None, scenario: str = "base"
) -> list[dict[str, Any]]:
    """The panel's inputs with the scenario's current value, range, unit and source (JSON-ready)."""
    swing = sensitivity_order(sensitivity, scenario)
    out = []
    for i, spec in enumerate(WHAT_IF_INPUTS):
        p = params.get(spec.name)
        if p is None:  # an assumptions set without this parameter offers one input less
            continue
        year = spec.year
        current = float(
            parameters.at_years(p, np.array([year if year is not None else a.model.calibration.base_year]))[0]
        )
        src = a.sources.get(p.source)
        item: dict[str, Any] = {
            "name": spec.name,
            "label": spec.label,
            "kind": spec.kind if p.trajectory or spec.kind == "value" else "value",
            "year": year if p.trajectory else None,
            "value": current,
            "unit": p.unit,
            "low": p.low,
            "high": p.high,
            "note": p.note,
            "source": {
                "id": p.source,
                "title": src.title if src else p.source,
                "publisher": src.publisher if src else "",
                "year": src.year if src else None,
                "url": src.url if src else "",
            },
            "trajectory": _trajectory(p),
            "swing_t": swing.get(spec.name),
            "group": None,
            "group_values": None,
        }
        if item["kind"] == "share":
            members = parameters.share_groups(list(params)).get(spec.name.rsplit(".", 1)[0], [])
            item["group"] = {m: _trajectory(params[m]) or {str(year): params[m].value} for m in members}
            at = np.array([year])
            item["group_values"] = {m: float(parameters.at_years(params[m], at)[0]) for m in members}
        out.append((-(swing.get(spec.name) or 0.0), i, item))
    return [item for *_, item in sorted(out, key=lambda t: (t[0], t[1]))]
