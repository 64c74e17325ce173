"""Plausibility checks of new assumptions against the active ones (configurable rules)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from forecast.schemas import SERIES, Assumptions

Action = Literal["reject", "warn", "ignore"]


@dataclass(frozen=True)
class SanityRules:
    """What to do with each kind of suspicious change, and the thresholds."""

    unit_change: Action = "reject"
    jump: Action = "reject"
    max_jump_factor: float = 5.0  # year-on-year ratio of a series, or new/old ratio of a parameter
    history_rewrite: Action = "warn"
    history_tolerance: float = 0.02  # relative change of an existing observation that counts as a rewrite


@dataclass
class SanityReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, action: Action, message: str) -> None:
        if action == "reject":
            self.errors.append(message)
        elif action == "warn":
            self.warnings.append(message)


def _ratio(x: float, y: float) -> float:
    lo, hi = sorted((abs(x), abs(y)))
    return np.inf if lo == 0 and hi > 0 else (1.0 if hi == 0 else hi / lo)


def _series_jumps(df: pd.DataFrame, keys: list[str], factor: float) -> set[tuple]:
    """(key..., year) where a series moves by more than ``factor`` from the previous year."""
    out = set()
    for key, grp in df.sort_values("year").groupby(keys):
        v, y = grp["value"].to_numpy(), grp["year"].to_numpy()
        for i in range(1, len(v)):
            if _ratio(v[i], v[i - 1]) > factor:
                out.add((*(key if isinstance(key, tuple) else (key,)), int(y[i])))
    return out


def check(old: Assumptions | None, new: Assumptions, rules: SanityRules) -> SanityReport:
    """Suspicious changes from the active assumptions to the new ones."""
    report = SanityReport()
    if old is None:
        return report
    for name, p in new.parameters.items():
        q = old.parameters.get(name)
        if q is None:
            continue
        if p.unit != q.unit:
            report.add(rules.unit_change, f"parameters.yaml: {name}: unit changed from {q.unit} to {p.unit}")
        if p.value is not None and q.value is not None and _ratio(p.value, q.value) > rules.max_jump_factor:
            report.add(
                rules.jump,
                f"parameters.yaml: {name}: value jumps from {q.value} to {p.value} "
                f"(more than x{rules.max_jump_factor})",
            )
    for attr, keys in ((spec.name, list(spec.keys)) for spec in SERIES):
        a, b = getattr(old, attr), getattr(new, attr)
        before = _series_jumps(a, keys, rules.max_jump_factor)
        known = set(a[keys].itertuples(index=False, name=None))
        # A series the active version does not have has nothing to be compared with: noted, not judged.
        for key in sorted(set(b[keys].itertuples(index=False, name=None)) - known, key=str):
            report.warnings.append(f"{attr}: {'/'.join(map(str, key))} is a new series")
        jumps = {j for j in _series_jumps(b, keys, rules.max_jump_factor) - before if j[:-1] in known}
        for jump in sorted(jumps, key=str):
            report.add(
                rules.jump,
                f"{attr}: {'/'.join(map(str, jump[:-1]))} jumps by more than x{rules.max_jump_factor} in {jump[-1]}",
            )
        merged = a.merge(b, on=["year", *keys], suffixes=("_old", "_new"))
        for _, r in merged.iterrows():
            if r["unit_old"] != r["unit_new"]:
                report.add(
                    rules.unit_change,
                    f"{attr}: {r['year']} {'/'.join(str(r[k]) for k in keys)}: "
                    f"unit changed from {r['unit_old']} to {r['unit_new']}",
                )
            old_v, new_v = float(r["value_old"]), float(r["value_new"])
            if abs(new_v - old_v) > rules.history_tolerance * max(abs(old_v), 1e-12):
                report.add(
                    rules.history_rewrite,
                    f"{attr}: {r['year']} {'/'.join(str(r[k]) for k in keys)}: "
                    f"history rewritten from {old_v:g} to {new_v:g}",
                )
    return report
