"""Scenarios side by side: one tidy table of totals, segments or elements on one basis and unit.

Input is the tidy demand table (``year, scenario, segment, material, basis, unit, value``, any
number of scenarios), optionally with Monte Carlo quantile columns and a ``total`` segment as
:func:`forecast.bundle.demand_with_quantiles` gives it. Output columns: ``year, scenario, item,
unit, basis, value`` and, where a band exists, ``p5 .. p95``.

- ``unit="magnet"``: NdFeB in magnets [t_magnet] for totals and segments, the element contained in
  the magnets [t_metal] for elements, on the chosen basis (finished, blank or alloy).
- ``unit="oxide"``: primary oxide needed, net of recycled swarf [t_oxide]; the basis is ``oxide``
  whatever basis was asked for; totals and segments sum the four oxides.

Bands are quantiles of a sum and cannot be added up, so they are carried only where the Monte Carlo
gives them directly: the magnet total and each element's total.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from forecast.composition import OXIDE_BASIS
from forecast.gap import SUPPLY_BASIS
from forecast.montecarlo import QUANTILE_COLUMNS

CompareBy = Literal["total", "segment", "element"]
CompareUnit = Literal["magnet", "oxide"]
COMPARE_BY: tuple[str, ...] = ("total", "segment", "element")
COMPARE_UNITS: tuple[str, ...] = ("magnet", "oxide")
COMPARE_COLUMNS: list[str] = ["year", "scenario", "item", "unit", "basis", "value"]
TOTAL = "total"


def _rows(demand: pd.DataFrame, by: str, basis: str, unit: str) -> tuple[pd.DataFrame, str, str]:
    """The demand rows a comparison reads, their unit and basis."""
    if unit == "oxide":
        rows = demand[(demand["unit"] == "t_oxide") & (demand["basis"] == OXIDE_BASIS)]
        return rows, "t_oxide", OXIDE_BASIS
    if by == "element":
        rows = demand[(demand["unit"] == "t_metal") & (demand["basis"] == basis)]
        return rows, "t_metal", basis
    rows = demand[(demand["material"] == "NdFeB") & (demand["unit"] == "t_magnet") & (demand["basis"] == basis)]
    return rows, "t_magnet", basis


def compare_table(
    demand: pd.DataFrame, by: str = "total", basis: str = "finished", unit: str = "magnet"
) -> pd.DataFrame:
    """Totals, segments or elements of every scenario in ``demand`` [t/yr], in the order scenarios appear.

    ``by``: total, segment or element; ``basis``: finished, blank or alloy; ``unit``: magnet or oxide.
    """
    if by not in COMPARE_BY:
        raise ValueError(f"by must be one of {COMPARE_BY}, not {by!r}")
    if unit not in COMPARE_UNITS:
        raise ValueError(f"unit must be one of {COMPARE_UNITS}, not {unit!r}")
    rows, out_unit, out_basis = _rows(demand, by, basis, unit)
    has_total = TOTAL in set(rows["segment"])
    parts = rows[rows["segment"] != TOTAL]
    group = {"total": [], "segment": ["segment"], "element": ["material"]}[by]
    summed = parts.groupby(["year", "scenario", *group], as_index=False, sort=False)["value"].sum()
    summed["item"] = summed[group[0]] if group else TOTAL
    out = summed.assign(unit=out_unit, basis=out_basis)[COMPARE_COLUMNS]
    bands = [c for c in QUANTILE_COLUMNS if c in rows.columns]
    if bands and has_total and (by == "element" or (by == "total" and unit == "magnet")):
        q = rows[rows["segment"] == TOTAL]
        q = q.assign(item=q["material"] if by == "element" else TOTAL)[["year", "scenario", "item", *bands]]
        out = out.merge(q, on=["year", "scenario", "item"], how="left")
    order = {s: i for i, s in enumerate(dict.fromkeys(demand["scenario"]))}
    keys = out["scenario"].map(order).to_numpy() * 10_000 + out["year"].to_numpy()
    return out.iloc[np.argsort(keys, kind="stable")].reset_index(drop=True)


def difference_table(table: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Each scenario's value against ``reference``'s in the same year and item: diff_t and diff_pct [%]."""
    ref = table[table["scenario"] == reference][["year", "item", "value"]].rename(columns={"value": "reference"})
    out = table.merge(ref, on=["year", "item"], how="left")
    out["diff_t"] = out["value"] - out["reference"]
    out["diff_pct"] = np.where(out["reference"] != 0, 100 * out["diff_t"] / out["reference"], np.nan)
    return out.drop(columns="reference")


GAP_REGION = "ex_china"
GAP_STAGE = "chain"


def gap_compare_table(gap: pd.DataFrame, material: str = "NdFeB") -> pd.DataFrame:
    """Gap outside China of every scenario in ``gap`` per chain: what each chain cannot deliver [t/yr].

    Rows: year, scenario, item (the chain), unit, basis, value (demand less the chain's risked output,
    on the gap's own basis: blank magnet for NdFeB, oxide otherwise).
    """
    g = gap[(gap["region"] == GAP_REGION) & (gap["stage"] == GAP_STAGE) & (gap["material"] == material)]
    unit, basis = ("t_magnet", SUPPLY_BASIS) if material == "NdFeB" else ("t_oxide", OXIDE_BASIS)
    out = g.assign(item=g["chain"], unit=unit, basis=basis, value=g["gap_t"])[COMPARE_COLUMNS]
    order = {s: i for i, s in enumerate(dict.fromkeys(gap["scenario"]))}
    keys = out["scenario"].map(order).to_numpy() * 10_000 + out["year"].to_numpy()
    return out.iloc[np.argsort(keys, kind="stable")].reset_index(drop=True)
