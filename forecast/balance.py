"""World balance by year and material: China's supply, the rest of the world's, recycling, demand.

China's supply by stage comes from supply/china.csv (mining and separation quotas, imported feed
separated outside the quota, magnet output), interpolated between published years and projected
after the last one with sourced growth parameters. China's oxides are the quota's separation and
the imported concentrates' (Myanmar, Laos, Malaysia, Mountain Pass until 2025), each with its own
element shares. The rest of the world is the ``outside_china`` chain's risked output. Recycled supply
(manufacturing swarf and end of life, world) is its own line. Every row closes:
china + rest_of_world + recycled + deficit = demand (a negative deficit is a surplus).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast import params as parameters
from forecast import recycling
from forecast.basis import SWARF_RECYCLING, finished_per_alloy, to_finished
from forecast.conversions import ndpr_fraction, ndpr_oxide_per_magnet
from forecast.params import ParamSet
from forecast.schemas import Assumptions

BALANCE_MATERIALS: tuple[str, ...] = ("NdFeB", "NdPr", "Dy", "Tb")
BALANCE_UNITS: dict[str, str] = {"NdFeB": "t_magnet", "NdPr": "t_oxide", "Dy": "t_oxide", "Tb": "t_oxide"}
SUPPLY_LINES: tuple[str, ...] = ("china", "rest_of_world", "recycled")
BALANCE_COLUMNS = [
    "year",
    "scenario",
    "material",
    "unit",
    "china_t",
    "rest_of_world_t",
    "recycled_t",
    "supply_t",
    "demand_t",
    "deficit_t",
    "china_kind",
]
CHINA_SERIES: tuple[tuple[str, str, str], ...] = (
    ("mine", "REO", "china.mine_growth_per_yr"),
    ("separation", "REO", "china.separation_growth_per_yr"),
    ("imported_feed", "REO", "china.imported_feed_growth_per_yr"),
    ("magnet", "NdFeB", "china.magnet_growth_per_yr"),
)
CHINA_COLUMNS = ["year", "stage", "material", "unit", "value_t", "kind"]


def _projected(history: pd.Series, growth: np.ndarray, years: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A published series on ``years``: log-linear between published years, grown after the last, flat before."""
    h = history.sort_index()
    known = h.index.to_numpy()
    logs = np.interp(years, known, np.log(h.to_numpy()))
    value = np.exp(logs)
    published = np.isin(years, known)
    value[published] = h.reindex(years[published]).to_numpy()  # exactly as published, not via logs
    last, last_v = int(known.max()), float(h.iloc[-1])
    after = years > last
    if after.any():
        steps = np.cumprod(1.0 + growth[after])
        value[after] = last_v * steps
    before = years < known.min()
    if before.any():  # back-cast with the same growth rates, one year at a time from the first published
        first_v = float(h.iloc[0])
        steps = np.cumprod((1.0 + growth[before])[::-1])[::-1]
        value[before] = first_v / steps
    kind = np.where(np.isin(years, known), "history", np.where(after, "projection", "interpolated"))
    kind = np.where(before, "backcast", kind)
    return value, kind


def china_supply_table(a: Assumptions, params: ParamSet, years: np.ndarray) -> pd.DataFrame:
    """China's supply by stage [t/yr]: mining and separation quotas and imported feed (REO), NdPr metal, magnets.

    The metal line is derived (not published): the NdPr metal China's magnet output contains, before
    the alloy-to-magnet yield.
    """
    frames = []
    c = a.china_supply
    for stage, material, growth in CHINA_SERIES:
        rows = c[(c["stage"] == stage) & (c["material"] == material)]
        value, kind = _projected(rows.set_index("year")["value"], parameters.value(params, growth, years), years)
        unit = "t_NdFeB_magnet" if material == "NdFeB" else "t_REO"
        frames.append(
            pd.DataFrame(
                {"year": years, "stage": stage, "material": material, "unit": unit, "value_t": value, "kind": kind}
            )
        )
        if stage == "magnet":
            grade = a.structure.supply_grade
            metal = value * ndpr_fraction(params, grade, years) / finished_per_alloy(params, years)
            frames.append(
                pd.DataFrame(
                    {
                        "year": years,
                        "stage": "metal",
                        "material": "NdPr",
                        "unit": "t_NdPr_metal",
                        "value_t": metal,
                        "kind": "derived",
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)[CHINA_COLUMNS]


def china_by_material(a: Assumptions, params: ParamSet, years: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """China's supply counted in the balance [t/yr] and its kind: magnets, and oxides from separation.

    Oxides: the separation quota's REO times its element share, plus the imported feed's REO
    (separated in China outside the quota) times the imported feed's share.
    """
    t = china_supply_table(a, params, years)
    sep = t[t["stage"] == "separation"].set_index("year")["value_t"].reindex(years).to_numpy()
    imported = t[t["stage"] == "imported_feed"].set_index("year")["value_t"].reindex(years).to_numpy()
    kind = t[t["stage"] == "separation"].set_index("year")["kind"].reindex(years).to_numpy()
    mag = t[t["stage"] == "magnet"].set_index("year")
    out = {"NdFeB": (mag["value_t"].reindex(years).to_numpy(), mag["kind"].reindex(years).to_numpy())}
    for material, key in (("NdPr", "ndpr"), ("Dy", "dy"), ("Tb", "tb")):
        quota_share = parameters.value(params, f"china.{key}_share_of_separated", years)
        imported_share = parameters.value(params, f"china.{key}_share_of_imported_feed", years)
        out[material] = (sep * quota_share + imported * imported_share, kind)
    return out


def recycled_by_material(
    a: Assumptions,
    params: ParamSet,
    years: np.ndarray,
    world_blanks_t: np.ndarray,
    world_eol_t: np.ndarray,
    heavy_per_ndpr: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """World recycled supply [t/yr]: swarf from the world's magnet output plus end-of-life recovery.

    ``world_blanks_t`` is magnet output on the blank basis (as China and magnet plants count it):
    the swarf is the alloy that machining and sintering lose on the way to finished magnets.
    In oxide for NdPr, Dy, Tb (returned to the oxide/metal stages); Dy and Tb follow NdPr in the
    proportion the world's magnets use them (``heavy_per_ndpr``: t Dy or Tb oxide per t NdPr oxide
    demanded), since the swarf comes from the whole mix of grades. For NdFeB the line is 0:
    recycled material re-enters as alloy or oxide, so the magnets made from it are already in the
    output lines.
    """
    magnet_yield = finished_per_alloy(params, years)
    finished = to_finished(world_blanks_t, params, "blank", years)
    swarf_alloy = recycling.scrap_recycled_t(finished, magnet_yield, parameters.value(params, SWARF_RECYCLING, years))
    magnet_eq = swarf_alloy * magnet_yield + world_eol_t
    ndpr = magnet_eq * ndpr_oxide_per_magnet(params, a.structure.elements, a.structure.supply_grade, years)
    return {
        "NdFeB": np.zeros(years.shape),
        "NdPr": ndpr,
        "Dy": ndpr * heavy_per_ndpr["Dy"],
        "Tb": ndpr * heavy_per_ndpr["Tb"],
    }


def balance_table(
    a: Assumptions,
    params: ParamSet,
    scenario: str,
    years: np.ndarray,
    world_demand: pd.DataFrame,
    rest_of_world: dict[str, np.ndarray],
    world_eol_t: np.ndarray,
) -> pd.DataFrame:
    """World balance by year and material [t/yr]: supply + deficit = demand.

    world_demand: year, material, demand_t for the world (NdFeB in magnets, NdPr / Dy / Tb oxide);
    rest_of_world: material -> risked output outside China (magnet stage for NdFeB, separation for
    oxides); world_eol_t: end-of-life magnet-equivalent recovered worldwide [t/yr].
    """
    china = china_by_material(a, params, years)
    world_magnets = china["NdFeB"][0] + rest_of_world["NdFeB"]
    demands = {
        m: world_demand[world_demand["material"] == m]
        .set_index("year")["demand_t"]
        .reindex(years, fill_value=0.0)
        .to_numpy()
        for m in BALANCE_MATERIALS
    }
    with np.errstate(divide="ignore", invalid="ignore"):
        heavy_per_ndpr = {m: np.where(demands["NdPr"] > 0, demands[m] / demands["NdPr"], 0.0) for m in ("Dy", "Tb")}
    recycled = recycled_by_material(a, params, years, world_magnets, world_eol_t, heavy_per_ndpr)
    frames = []
    for material in BALANCE_MATERIALS:
        demand = demands[material]
        supply = china[material][0] + rest_of_world[material] + recycled[material]
        frames.append(
            pd.DataFrame(
                {
                    "year": years,
                    "scenario": scenario,
                    "material": material,
                    "unit": BALANCE_UNITS[material],
                    "china_t": china[material][0],
                    "rest_of_world_t": rest_of_world[material],
                    "recycled_t": recycled[material],
                    "supply_t": supply,
                    "demand_t": demand,
                    "deficit_t": demand - supply,
                    "china_kind": china[material][1],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[BALANCE_COLUMNS]
