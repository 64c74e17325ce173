"""The model's own history against published world NdFeB production."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from forecast.hindcast import hindcast, published_world
from forecast.loading import load_assumptions
from forecast.model import demand_for_params, horizon_years, total_magnet_t
from forecast.scenarios import resolve_parameters

GOLDEN = Path(__file__).parent / "golden" / "base_scenario.json"


@pytest.fixture(scope="module")
def base(assumptions):
    return resolve_parameters(assumptions, "base")


def test_rows_are_the_published_years_on_the_published_basis(assumptions, base):
    h = hindcast(assumptions, base)
    published = published_world(assumptions)
    assert h.basis == "blank"
    assert list(h.rows["year"]) == list(published["year"])
    np.testing.assert_allclose(h.rows["published_t"], published["value"])
    model = total_magnet_t(demand_for_params(assumptions, base, np.array(list(h.rows["year"]))), "blank")
    np.testing.assert_allclose(h.rows["model_t"], model.to_numpy())


def test_the_model_matches_published_history_within_ten_percent_mape(assumptions, base):
    h = hindcast(assumptions, base)
    assert len(h.rows) >= 6
    assert h.mape <= 0.10


def test_changing_one_published_value_moves_the_mape(assumptions_copy, base):
    path = assumptions_copy / "series" / "ndfeb_history.csv"
    before = hindcast(load_assumptions(assumptions_copy), base).mape
    lines = path.read_text().splitlines()
    cells = lines[1].split(",")
    cells[3] = str(float(cells[3]) * 2)
    lines[1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    after = hindcast(load_assumptions(assumptions_copy), base).mape
    assert after != pytest.approx(before)


def test_json_names_basis_mape_and_rows(assumptions, base):
    d = hindcast(assumptions, base).to_dict()
    assert set(d) == {"basis", "mape", "n_years", "rows", "end_uses"}
    assert set(d["rows"][0]) >= {"year", "model_t", "published_t", "source"}
    json.dumps(d)


def _growth_changes(total):
    growth = np.diff(total) / total[:-1]
    return np.abs(np.diff(growth))


@pytest.mark.parametrize("scenario", ["base", "high", "low", "iea_steps", "thrifting", "rare_earth_free"])
def test_the_total_has_no_kink_after_history(assumptions, scenario):
    """Year-on-year growth changes by at most 3 percentage points between projected years."""
    params = resolve_parameters(assumptions, scenario)
    years = horizon_years(assumptions)
    total = total_magnet_t(demand_for_params(assumptions, params, years)).to_numpy()
    last_history = int(assumptions.ev_car_sales["year"].max())
    projected = years[2:] > last_history + 1  # growth from one projected year to the next
    assert _growth_changes(total)[projected].max() <= 0.03


def _golden_numbers(assumptions, base):
    years = np.array([2023, 2030, 2040])
    d = demand_for_params(assumptions, base, years)
    total = total_magnet_t(d, "finished")
    ox = d[d["unit"] == "t_oxide"]
    ndpr = ox[ox["material"].isin(["Nd", "Pr"])].groupby("year")["value"].sum()
    dy = ox[ox["material"] == "Dy"].groupby("year")["value"].sum()
    return {
        "NdFeB_finished_t": {str(y): round(float(total[y])) for y in years},
        "NdPr_oxide_t_2030": round(float(ndpr[2030])),
        "Dy_oxide_t_2030": round(float(dy[2030])),
    }


def test_base_scenario_golden_numbers_change_only_on_purpose(assumptions, base):
    """Regenerate with: python -m tests.test_hindcast (after a deliberate change to the model or data)."""
    assert _golden_numbers(assumptions, base) == json.loads(GOLDEN.read_text())


def test_horizon_years_cover_the_hindcast(assumptions):
    assert horizon_years(assumptions)[0] <= int(published_world(assumptions)["year"].min())


if __name__ == "__main__":
    from forecast.loading import default_assumptions_dir

    a = load_assumptions(default_assumptions_dir())
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(_golden_numbers(a, resolve_parameters(a, "base")), indent=2) + "\n")
