"""Supply outside China: ramps, risk, output history, chains, the corrected rows, and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecast.loading import AssumptionsError, load_assumptions
from forecast.scenarios import resolve_parameters
from forecast.schemas import STATUSES, SupplyProject
from forecast.supply import (
    capacity_native,
    output_history,
    project_supply,
    project_table,
    ramp,
    risk,
    risked_native,
    stage_capacity,
)

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


@pytest.fixture(scope="module")
def params(assumptions):
    return resolve_parameters(assumptions, "base")


def _by_id(a, pid):
    return next(p for p in a.projects if p.id == pid)


def test_ramp_reaches_nameplate_after_years_to_full():
    r = ramp(np.array([2026, 2027, 2028, 2029]), 2027, 2)
    np.testing.assert_allclose(r, [0.0, 0.5, 1.0, 1.0])


def test_undisclosed_capacity_counts_as_zero():
    assert capacity_native(_project(capacity=None), YEARS).sum() == 0.0


def test_risk_weights_are_probabilities_and_delays_non_negative(params):
    probs = [risk(params, s)[0] for s in STATUSES]
    assert all(0.0 <= p <= 1.0 for p in probs)
    assert probs == sorted(probs, reverse=True)  # less advanced status, lower probability
    assert all(risk(params, s)[1] >= 0 for s in STATUSES)


def test_financing_raises_a_pre_construction_project_but_never_lowers_one(params):
    assert risk(params, "feasibility", "conditional_commitment")[0] > risk(params, "feasibility")[0]
    assert risk(params, "feasibility", "letter_of_interest")[0] >= risk(params, "feasibility")[0]
    assert risk(params, "construction", "letter_of_interest") == risk(params, "construction")


# --- the rows the review found wrong ---------------------------------------------------------------
def test_lynas_malaysia_nameplate_is_pre_upgrade_with_the_upgrade_from_2025(assumptions):
    base = _by_id(assumptions, "lynas_malaysia")
    upgrade = _by_id(assumptions, "lynas_malaysia_upgrade")
    assert base.capacity == 7200
    assert upgrade.expands == "lynas_malaysia"
    assert upgrade.first_year == 2025
    assert base.capacity + upgrade.capacity == 10500


def test_lynas_malaysia_output_history_is_published_output(assumptions, params):
    h = output_history(assumptions)["lynas_malaysia"]
    assert h[2024] == 5655
    assert h[2025] == 6558
    years = np.array([2024, 2025])
    out = risked_native(_by_id(assumptions, "lynas_malaysia"), assumptions, params, years, output_history(assumptions))
    np.testing.assert_allclose(out, [5655, 6558])
    up = risked_native(
        _by_id(assumptions, "lynas_malaysia_upgrade"), assumptions, params, years, output_history(assumptions)
    )
    np.testing.assert_allclose(up, [0, 0])  # the site's history already holds it


def test_a_running_plant_counts_before_its_first_published_year_at_that_year_s_utilisation(assumptions, params):
    """Lynas Malaysia ran from 2012; its output is published from FY20: earlier years are not zero."""
    h = output_history(assumptions)["lynas_malaysia"]
    first = min(h)
    years = np.array([2011, first - 1, first, 2022])
    out = risked_native(_by_id(assumptions, "lynas_malaysia"), assumptions, params, years, output_history(assumptions))
    np.testing.assert_allclose(out, [0.0, h[first], h[first], h[2022]])


def test_lynas_heavy_rare_earths_operate_since_2025(assumptions):
    dy, tb = _by_id(assumptions, "lynas_malaysia_dy"), _by_id(assumptions, "lynas_malaysia_tb")
    assert dy.status == tb.status == "operating"
    assert dy.first_year == tb.first_year == 2025
    assert dy.unit == "t_Dy_oxide"
    assert tb.unit == "t_Tb_oxide"


def test_shin_etsu_vietnam_starts_2016_and_doubles_2018(assumptions):
    base, phase2 = _by_id(assumptions, "shin_etsu_vietnam"), _by_id(assumptions, "shin_etsu_vietnam_phase2")
    assert (base.first_year, base.capacity) == (2016, 1100)
    assert (phase2.first_year, phase2.capacity) == (2018, 1100)


def test_ramaco_brook_is_not_counted_as_rare_earth_oxide(assumptions, params):
    brook = _by_id(assumptions, "ramaco_brook")
    assert brook.capacity is None
    assert "scandium" in (brook.note or "")
    cap = project_supply(assumptions, params, YEARS)
    assert cap[cap["id"] == "ramaco_brook"]["magnet_eq_t"].sum() == 0.0


def test_mines_carry_their_own_ndpr_share(assumptions):
    assert _by_id(assumptions, "mp_mountain_pass_mine").ndpr_share_of_treo == pytest.approx(0.157)
    counted_treo = [p for p in assumptions.projects if p.unit.startswith("t_TREO") and p.capacity is not None]
    assert counted_treo
    assert all(p.ndpr_share_of_treo is not None for p in counted_treo)


def test_metal_and_alloy_makers_outside_china_are_listed(assumptions):
    stages = {(p.stage, p.country) for p in assumptions.projects}
    for stage, country in [
        ("alloy", "Japan"),
        ("metal", "Vietnam"),
        ("alloy", "South Korea"),
        ("metal", "UK"),
        ("alloy", "Estonia"),
    ]:
        assert (stage, country) in stages, (stage, country)
    ids = {p.id for p in assumptions.projects}
    assert {"mp_upstream_60k", "arr_halleck_creek", "irel_india", "mp_10x_alloy", "vulcan_benson_alloy"} <= ids


def test_src_realloys_chain_as_published(assumptions):
    metal = _by_id(assumptions, "src_saskatoon_metal")
    exp = _by_id(assumptions, "src_saskatoon_metal_expansion")
    assert metal.capacity + exp.capacity == 600
    assert exp.first_year == 2027
    assert _by_id(assumptions, "src_saskatoon_dy").capacity == 30
    assert _by_id(assumptions, "src_saskatoon_tb").capacity == 15


# --- output, not nameplate --------------------------------------------------------------------------
def test_operating_plants_count_at_output_not_nameplate(assumptions, params):
    mp = _by_id(assumptions, "mp_mountain_pass_separation")
    out = risked_native(mp, assumptions, params, np.array([2024, 2025, 2026, 2040]), output_history(assumptions))
    np.testing.assert_allclose(out[:2], [1294, 2599])
    # ramps from the observed level, never past nameplate
    assert out[2] > out[1]
    assert out[3] <= mp.capacity


def test_a_new_plant_ramps_utilisation(assumptions, params):
    p = _project(status="operating", first_year=2030, years_to_full=1)
    out = risked_native(p, assumptions, params, np.array([2029, 2030, 2040]), {})
    assert out[0] == 0
    assert 0 < out[1] < out[2] <= 1000


def test_risked_never_exceeds_nameplate_without_history(assumptions, params):
    cap = project_supply(assumptions, params, YEARS)
    with_history = set(assumptions.project_output["id"])
    cap = cap[~cap["id"].isin(with_history)]
    w = cap.pivot_table(index=["year", "id"], columns="weighting", values="native_t")
    assert (w["risked"] <= w["nameplate"] + 1e-9).all()


def test_every_project_row_has_a_source_status_and_financing(assumptions):
    assert len(assumptions.projects) >= 90
    for p in assumptions.projects:
        assert p.source_url.startswith("http")
        assert p.source_title
        assert p.source_publisher
        assert p.status_source.startswith("http")
        assert p.financing_source.startswith("http")


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
        "IREL",
        "American Rare Earths",
    ):
        assert name in companies, name


def test_project_table_lists_status_financing_and_latest_output(assumptions, params):
    t = project_table(assumptions, params)
    assert len(t) == len(assumptions.projects)
    row = t.set_index("id").loc["lynas_malaysia"]
    assert row["output_latest_year"] == 2025
    assert row["output_latest_t"] == 6558
    assert set(t["status"]) <= set(STATUSES)


# --- chains -----------------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(extra=st.floats(0, 50000), stage=st.sampled_from(["mine", "separation", "metal", "alloy", "magnet"]))
def test_adding_a_project_never_lowers_supply(assumptions, extra, stage):
    unit = {
        "mine": "t_NdPr_oxide",
        "separation": "t_NdPr_oxide",
        "metal": "t_NdPr_metal",
        "alloy": "t_NdFeB_alloy",
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


def test_china_free_never_exceeds_outside_china_at_any_stage(assumptions, params):
    cap = stage_capacity(assumptions, params, YEARS)
    w = cap.pivot_table(index=["year", "stage", "weighting", "material"], columns="chain", values="value")
    assert (w["china_free"] <= w["outside_china"] + 1e-9).all()
    assert (w["china_free"] < w["outside_china"] - 1).any()  # Chinese feed makes a difference somewhere


def test_chinese_controlled_plant_counts_outside_china_but_not_china_free(assumptions, params):
    years = np.array([2030])
    plant = _project(id="cn_abroad", status="operating", first_year=2020, ownership="chinese_controlled")
    more = assumptions.model_copy(update={"projects": [*assumptions.projects, plant]})
    before, after = stage_capacity(assumptions, params, years), stage_capacity(more, params, years)

    def magnet(df, chain):
        m = df[
            (df["chain"] == chain)
            & (df["stage"] == "magnet")
            & (df["weighting"] == "nameplate")
            & (df["material"] == "NdFeB")
        ]
        return float(m["value"].sum())

    assert magnet(after, "outside_china") == pytest.approx(magnet(before, "outside_china") + 1000)
    assert magnet(after, "china_free") == pytest.approx(magnet(before, "china_free"))


def test_chinese_feed_counts_only_the_non_chinese_share_in_china_free(assumptions, params):
    years = np.array([2030])
    plant = _project(id="fed", status="operating", first_year=2020, china_feed_share=0.75)
    more = assumptions.model_copy(update={"projects": [*assumptions.projects, plant]})
    before, after = stage_capacity(assumptions, params, years), stage_capacity(more, params, years)
    key = (before["stage"] == "magnet") & (before["weighting"] == "nameplate") & (before["material"] == "NdFeB")
    diff = after.loc[key, "value"].to_numpy() - before.loc[key, "value"].to_numpy()
    chains = before.loc[key, "chain"].to_numpy()
    assert diff[chains == "china_free"][0] == pytest.approx(250)
    assert diff[chains == "outside_china"][0] == pytest.approx(1000)


def test_a_plant_that_feeds_another_is_never_counted_twice(assumptions, params):
    years = np.array([2025, 2030])
    base = stage_capacity(assumptions, params, years)
    without = assumptions.model_copy(
        update={"projects": [p for p in assumptions.projects if p.id != "lynas_kalgoorlie"]}
    )
    np.testing.assert_allclose(stage_capacity(without, params, years)["value"], base["value"])
    kal = _by_id(assumptions, "lynas_kalgoorlie")
    assert kal.feeds == "lynas_malaysia"
    assert kal.capacity
    assert kal.capacity > 0


# --- bad input ----------------------------------------------------------------------------------------
def _write(copy: Path, rel: str, edit) -> list[str]:
    path = copy / rel
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")
    with pytest.raises(AssumptionsError) as exc:
        load_assumptions(copy)
    return [str(p) for p in exc.value.problems]


def _replace(old, new):
    def edit(lines):
        target = next(i for i, ln in enumerate(lines) if old in ln)
        lines[target] = lines[target].replace(old, new, 1)
        return lines

    return edit


@pytest.mark.parametrize(
    "old, new, needle",
    [
        (
            ",magnet,t_NdFeB_magnet,product,1000,2025,",
            ",smelter,t_NdFeB_magnet,product,1000,2025,",
            ".stage: Input should be",
        ),
        (",magnet,t_NdFeB_magnet,product,1000,2025,", ",magnet,t_gold,product,1000,2025,", "unknown unit 't_gold'"),
        (
            ",magnet,t_NdFeB_magnet,product,1000,2025,",
            ",magnet,t_NdPr_oxide,product,1000,2025,",
            "does not fit stage 'magnet'",
        ),
        (
            ",magnet,t_NdFeB_magnet,product,1000,2025,",
            ",magnet,,product,1000,2025,",
            ".unit: capacity given without a unit",
        ),
        (
            ",magnet,t_NdFeB_magnet,product,1000,2025,",
            ",magnet,t_NdFeB_magnet,feed,1000,2025,",
            ".basis: capacity on a 'feed' basis",
        ),
        (",magnet,t_NdFeB_magnet,product,1000,2025,", ",magnet,t_NdFeB_magnet,product,1000,1900,", "first_year"),
        (",magnet,t_NdFeB_magnet,product,1000,2025,", ",magnet,t_NdFeB_magnet,product,1000,2150,", "first_year"),
        (
            ",t_TREO_concentrate,product,45000,2018,1,operating,fid,0.157,",
            ",t_TREO_concentrate,product,45000,2018,1,operating,fid,,",
            "needs ndpr_share_of_treo",
        ),
    ],
)
def test_bad_project_rows_name_file_row_and_field(assumptions_copy, old, new, needle):
    msgs = _write(assumptions_copy, "supply/projects.csv", _replace(old, new))
    assert any(needle in m and "supply/projects.csv: row" in m for m in msgs), msgs


def test_feed_to_a_missing_row_is_named(assumptions_copy):
    msgs = _write(
        assumptions_copy,
        "supply/projects.csv",
        _replace(",lynas_malaysia,,0,non_chinese", ",no_such_plant,,0,non_chinese"),
    )
    assert any("feeds: unknown project id 'no_such_plant'" in m for m in msgs), msgs


def test_feeds_that_make_a_cycle_are_named(assumptions_copy):
    # Lynas Malaysia made to feed Kalgoorlie, which already feeds Lynas Malaysia
    msgs = _write(assumptions_copy, "supply/projects.csv", lambda lines: [_feed(ln) for ln in lines])
    assert any("feeds: makes a cycle (lynas_malaysia -> lynas_kalgoorlie -> lynas_malaysia)" in m for m in msgs), msgs


def _feed(line: str) -> str:
    if not line.startswith("lynas_malaysia,"):
        return line
    cells = line.split(",")
    cells[16] = "lynas_kalgoorlie"  # the feeds column
    return ",".join(cells)


def test_output_above_nameplate_without_a_note_is_named(assumptions_copy):
    msgs = _write(
        assumptions_copy,
        "supply/output.csv",
        lambda lines: [*lines, "lynas_malaysia,2022,9000,t_NdPr_oxide,fastmarkets_lynas_2024,"],
    )
    assert any(
        "supply/output.csv: row" in m and ".value: output 9000 is above the nameplate 7200" in m for m in msgs
    ), msgs


def test_output_for_a_missing_project_is_named(assumptions_copy):
    msgs = _write(
        assumptions_copy, "supply/output.csv", lambda lines: [*lines, "nowhere,2024,1,t_NdPr_oxide,mp_2024_results,"]
    )
    row = len((assumptions_copy / "supply/output.csv").read_text().splitlines())  # the line of the added row
    assert any(f"supply/output.csv: row {row}.id: unknown project id 'nowhere'" in m for m in msgs), msgs


def test_a_second_output_for_the_same_plant_and_year_is_named(assumptions_copy):
    msgs = _write(
        assumptions_copy,
        "supply/output.csv",
        lambda lines: [*lines, "lynas_malaysia,2024,5000,t_NdPr_oxide,lynas_fy25_report,"],
    )
    row = len((assumptions_copy / "supply/output.csv").read_text().splitlines())
    assert any(f"supply/output.csv: row {row}: second value for lynas_malaysia 2024" in m for m in msgs), msgs


def test_duplicate_project_id_names_both_rows(assumptions_copy):
    msgs = _write(assumptions_copy, "supply/projects.csv", lambda lines: [*lines, lines[1]])
    assert any("duplicate id 'mp_mountain_pass_mine' (first on row 2)" in m for m in msgs)


# --- Monte Carlo ----------------------------------------------------------------------------------------
def test_supply_quantiles_are_ordered_and_bracket_the_expectation(assumptions, params):
    from forecast.supply import supply_quantile_table

    years = np.array([2026, 2030, 2040])
    q = supply_quantile_table(assumptions, params, years, n_paths=2000)
    assert (q["p10"] <= q["p50"]).all()
    assert (q["p50"] <= q["p90"]).all()
    cap = stage_capacity(assumptions, params, years)
    keys = ["year", "chain", "stage", "material"]
    risked = cap[cap["weighting"] == "risked"].merge(q, on=keys).set_index(keys)
    nameplate = cap[cap["weighting"] == "nameplate"].set_index(keys)["value"]
    assert (risked["p90"] <= nameplate.loc[risked.index] + 1e-6).all()  # no path beats every plan coming true
    mag = risked.loc[(2030, "outside_china", "magnet", "NdFeB")]
    assert mag["p10"] <= mag["value"] <= mag["p90"]


def test_supply_paths_are_reproducible(assumptions, params):
    from forecast.supply import supply_quantile_table

    years = np.array([2030])
    a = supply_quantile_table(assumptions, params, years, n_paths=300, seed=4)
    b = supply_quantile_table(assumptions, params, years, n_paths=300, seed=4)
    assert a.equals(b)
