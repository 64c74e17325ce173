"""The model's own history against published history: world NdFeB tonnage by year.

The published series (``series/ndfeb_history.csv``) states its basis (blank for production
figures); the model's total is converted to that basis (:mod:`forecast.basis`) before comparing.
MAPE = mean over published years of |model / published - 1|.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecast.model import demand_for_params, total_magnet_t
from forecast.params import ParamSet
from forecast.schemas import Assumptions

HINDCAST_COLUMNS = ["year", "model_t", "published_t", "error", "source", "note"]
END_USE_COLUMNS = ["year", "end_use", "segments", "model_t", "published_t", "error", "source", "note"]


@dataclass(frozen=True)
class Hindcast:
    """Model against published world NdFeB tonnage on one basis."""

    basis: str
    rows: pd.DataFrame = field(repr=False)  # HINDCAST_COLUMNS
    end_uses: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=END_USE_COLUMNS), repr=False)

    @property
    def mape(self) -> float:
        """Mean absolute percentage error over the published years [fraction]."""
        return float(np.mean(np.abs(self.rows["error"]))) if len(self.rows) else float("nan")

    def to_dict(self) -> dict:
        """JSON-ready: {basis, mape, rows: [{year, model_t, published_t, error, source, note}]}."""
        rows = self.rows.replace({np.nan: None}).to_dict(orient="records")
        end_uses = self.end_uses.replace({np.nan: None}).to_dict(orient="records")
        return {"basis": self.basis, "mape": self.mape, "n_years": len(rows), "rows": rows, "end_uses": end_uses}


def published_world(a: Assumptions) -> pd.DataFrame:
    """Published world NdFeB tonnage: year, basis, value [t], source, note."""
    h = a.ndfeb_history
    world = h[h["region"] == "World"]
    return world[["year", "basis", "value", "source", "note"]].sort_values("year").reset_index(drop=True)


def hindcast(a: Assumptions, params: ParamSet, basis: str | None = None) -> Hindcast:
    """Model total against every published world year on ``basis`` (default: the published series' own)."""
    published = published_world(a)
    if basis is None:
        basis = str(published["basis"].mode().iloc[0]) if len(published) else "blank"
    published = published[published["basis"] == basis]
    years = (
        np.arange(int(published["year"].min()), int(published["year"].max()) + 1) if len(published) else np.array([])
    )
    if not len(years):
        return Hindcast(basis, pd.DataFrame(columns=HINDCAST_COLUMNS))
    model = total_magnet_t(demand_for_params(a, params, years), basis)
    rows = published.assign(
        model_t=model.reindex(published["year"]).to_numpy(),
        published_t=published["value"].to_numpy(dtype=float),
    )
    rows["error"] = rows["model_t"] / rows["published_t"] - 1.0
    return Hindcast(basis, rows[HINDCAST_COLUMNS].reset_index(drop=True), end_use_check(a, params))


def end_use_check(a: Assumptions, params: ParamSet) -> pd.DataFrame:
    """Published end-use tonnages (wind, electric vehicles, air conditioners...) against the model's segments.

    Each published row names the model segments it covers; the model's tonnage is their sum on the
    row's basis. Sources define end uses differently (the notes say how), so these rows inform the
    base-year mix and are not part of the MAPE.
    """
    uses = a.ndfeb_end_use
    if uses.empty:
        return pd.DataFrame(columns=END_USE_COLUMNS)
    years = np.array(sorted({int(y) for y in uses["year"]}))
    demand = demand_for_params(a, params, years)
    magnet = demand[(demand["material"] == "NdFeB") & (demand["unit"] == "t_magnet")]
    by = magnet.set_index(["basis", "segment", "year"])["value"]
    model = [
        float(sum(by.loc[(str(basis), seg, int(str(year)))] for seg in str(segments).split("+")))
        for basis, segments, year in zip(uses["basis"], uses["segments"], uses["year"], strict=True)
    ]
    out = uses.assign(model_t=model, published_t=uses["value"].astype(float))
    out["error"] = out["model_t"] / out["published_t"] - 1.0
    return out[END_USE_COLUMNS].sort_values(["end_use", "year"]).reset_index(drop=True)
