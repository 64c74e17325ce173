"""Non-Chinese supply: ramps, risk weights, stage sums, and bad project rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from forecast.loading import AssumptionsError, load_assumptions
from forecast.scenarios import resolve_parameters
from forecast.schemas import STATUSES, SupplyProject
from forecast.supply import capacity_native, ramp, risk, stage_capacity
from tests.conftest import SLOW_PROPERTIES

YEARS = np.arange(2020, 2051)


def _project(**kw) -> SupplyProject:
    base = dict(
        id="x",
        project="Plant X",
        company="Co",
        country="US",
        stage="magnet",
        unit="t_NdFeB_magnet",
        capacity=1000.0,
        first_year=2027,
        years_to_full=2,
        status="construction",
        source_title="Title",
        source_publisher="pub",
        source_url="https://example.org/x",
    )
    return SupplyProject.model_validate({**base, **kw})


def test_ramp_reaches_nameplate_after_years_to_full():
    r = ramp(np.array([2026, 2027, 2028, 2029]), 2027, 2)
    np.testing.assert_allclose(r, [0.0, 0.5, 1.0, 1.0])


def test_undisclosed_capacity_counts_as_zero():
    assert capacity_native(_project(capacity=None), YEARS).sum() == 0.0


def test_risk_weights_are_probabilities_and_delays_non_negative(assumptions):
    params = resolve_parameters(assumptions, "base")
    probs = [risk(params, s)[0] for s in STATUSES]
    assert all(0.0 <= p <= 1.0 for p in probs)
    assert probs == sorted(probs, reverse=True)  # less advanced status, lower probability
    assert all(risk(params, s)[1] >= 0 for s in STATUSES)


def test_risked_never_exceeds_nameplate(assumptions):
    cap = stage_capacity(assumptions, resolve_parameters(assumptions, "base"), YEARS)
    w = cap.pivot_table(index=["year", "stage", "material"], columns="weighting", values="value")
    assert (w["risked"] <= w["nameplate"] + 1e-9).all()


def test_every_project_row_has_a_source(assumptions):
    assert len(assumptions.projects) >= 60
    for p in assumptions.projects:
        assert p.source_url.startswith("http")
        assert p.source_title
        assert p.source_publisher


def test_required_companies_are_covered(assumptions):
    companies = " ".join(p.company for p in assumptions.projects)
    for name in (
        "MP Materials",
        "Lynas",
        "Energy Fuels",
        "Iluka",
        "Arafura",
        "Solvay",
        "Neo Performance",
        "VAC",
        "USA Rare Earth",
        "Noveon",
        "REalloys",
        "Saskatchewan Research Council",
        "Ramaco",
        "Shin-Etsu",
    ):
        assert name in companies, name


@SLOW_PROPERTIES
@given(extra=st.floats(0, 50000), stage=st.sampled_from(["mine", "separation", "metal_alloy", "magnet"]))
def test_adding_a_project_never_lowers_supply(assumptions, extra, stage):
    unit = {
        "mine": "t_TREO_concentrate",
        "separation": "t_NdPr_oxide",
        "metal_alloy": "t_NdPr_metal",
        "magnet": "t_NdFeB_magnet",
    }[stage]
    params = resolve_parameters(assumptions, "base")
    years = np.array([2025, 2030, 2040])
    before = stage_capacity(assumptions, params, years)
    more = assumptions.model_copy(
        update={
            "projects": [
                *assumptions.projects,
                _project(id="new", stage=stage, unit=unit, capacity=extra, first_year=2026, status="announced"),
            ]
        }
    )
    after = stage_capacity(more, params, years)
    assert (after["value"].to_numpy() >= before["value"].to_numpy() - 1e-9).all()


def test_feeder_plants_are_not_counted_twice(assumptions):
    params = resolve_parameters(assumptions, "base")
    years = np.array([2030])
    base = stage_capacity(assumptions, params, years)
    without = assumptions.model_copy(
        update={"projects": [p for p in assumptions.projects if p.id != "lynas_kalgoorlie"]}
    )
    assert stage_capacity(without, params, years)["value"].sum() == pytest.approx(base["value"].sum())


def _write_rows(copy: Path, edit) -> list[str]:
    path = copy / "supply" / "projects.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")
    with pytest.raises(AssumptionsError) as exc:
        load_assumptions(copy)
    return [str(p) for p in exc.value.problems]


@pytest.mark.parametrize(
    "old, new, needle",
    [
        (",magnet,t_NdFeB_magnet,1000,2025,", ",smelter,t_NdFeB_magnet,1000,2025,", "'smelter'"),
        (",magnet,t_NdFeB_magnet,1000,2025,", ",magnet,t_gold,1000,2025,", "unknown unit 't_gold'"),
        (",magnet,t_NdFeB_magnet,1000,2025,", ",magnet,t_NdPr_oxide,1000,2025,", "does not fit stage 'magnet'"),
        (",magnet,t_NdFeB_magnet,1000,2025,", ",magnet,,1000,2025,", "capacity given without a unit"),
        (",magnet,t_NdFeB_magnet,1000,2025,", ",magnet,t_NdFeB_magnet,1000,1900,", "first_year"),
        (",magnet,t_NdFeB_magnet,1000,2025,", ",magnet,t_NdFeB_magnet,1000,2150,", "first_year"),
    ],
)
def test_bad_project_rows_name_the_row(assumptions_copy, old, new, needle):
    def edit(lines):
        target = next(i for i, ln in enumerate(lines) if old in ln)
        lines[target] = lines[target].replace(old, new)
        return lines

    msgs = _write_rows(assumptions_copy, edit)
    assert any(needle in m and "supply/projects.csv: row" in m for m in msgs), msgs


def test_duplicate_project_id_names_both_rows(assumptions_copy):
    msgs = _write_rows(assumptions_copy, lambda lines: [*lines, lines[1]])
    assert any("duplicate id 'mp_mountain_pass_mine' (first on row 2)" in m for m in msgs)


def test_supply_quantiles_are_ordered_and_bracket_the_expectation(assumptions):
    from forecast.supply import supply_quantile_table

    params = resolve_parameters(assumptions, "base")
    years = np.array([2026, 2030, 2040])
    q = supply_quantile_table(assumptions, params, years, n_paths=4000)
    assert (q["p10"] <= q["p50"]).all()
    assert (q["p50"] <= q["p90"]).all()
    risked = stage_capacity(assumptions, params, years)
    risked = risked[risked["weighting"] == "risked"]
    m = q.merge(risked, on=["year", "stage", "material"])
    nameplate = stage_capacity(assumptions, params, years)
    nameplate = nameplate[nameplate["weighting"] == "nameplate"].set_index(["year", "stage", "material"])["value"]
    m = m.set_index(["year", "stage", "material"])
    assert (m["p90"] <= nameplate.loc[m.index] + 1e-6).all()  # no path beats every plan coming true
    mag = m.loc[(2030, "magnet", "NdFeB")]
    assert mag["p10"] <= mag["value"] <= mag["p90"]


def test_supply_paths_are_reproducible(assumptions):
    from forecast.supply import supply_quantile_table

    params = resolve_parameters(assumptions, "base")
    years = np.array([2030])
    a = supply_quantile_table(assumptions, params, years, n_paths=500, seed=4)
    b = supply_quantile_table(assumptions, params, years, n_paths=500, seed=4)
    assert a.equals(b)
