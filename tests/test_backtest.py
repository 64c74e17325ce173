"""Rolling-origin backtests: no look-ahead, honest metrics, and a stated ensemble rule."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from forecast import backtest
from forecast.backtest import Series, backtest_series, combine, ensemble_weights, ev_sales_cap, skill


class Spy:
    """A model that records the last year it was shown and predicts the last value."""

    name = "spy"
    seen: ClassVar[list[int]] = []

    def fit(self, years, values):
        Spy.seen.append(int(years[-1]))
        self._last, self._y = float(values[-1]), int(years[-1])
        return self

    def predict(self, h):
        yrs = np.arange(self._y + 1, self._y + h + 1)
        v = np.full(h, self._last)
        return pd.DataFrame({"year": yrs, "mean": v, "lo_80": v, "hi_80": v, "lo_95": v, "hi_95": v})


def test_the_backtest_never_uses_data_after_its_origin(monkeypatch):
    monkeypatch.setattr(backtest, "model_set", lambda cap: [Spy()])
    Spy.seen = []
    s = Series("x", np.arange(2010, 2022), np.arange(12, dtype=float) + 1, None, "u")
    bt = backtest_series(s)
    assert (bt["year"] > bt["origin"]).all()
    assert Spy.seen == sorted(set(bt["origin"]))  # each fit saw data only up to its origin
    assert set(bt["horizon"]) == {1, 2, 3, 4, 5}
    assert bt["origin"].min() == 2010 + backtest.MIN_TRAIN - 1


def test_skill_metrics_are_computed_as_defined():
    bt = pd.DataFrame(
        {
            "series": "s",
            "model": ["naive_drift", "m"] * 2,
            "origin": [2020, 2020, 2021, 2021],
            "horizon": 1,
            "year": [2021, 2021, 2022, 2022],
            "actual": [10.0, 10.0, 20.0, 20.0],
            "mean": [12.0, 11.0, 16.0, 22.0],
            "lo_80": [11.0, 9.0, 15.0, 21.0],
            "hi_80": [13.0, 12.0, 17.0, 23.0],
            "lo_95": [10.5, 8.0, 14.0, 19.0],
            "hi_95": [13.5, 13.0, 18.0, 25.0],
            "note": None,
        }
    )
    m = skill(bt).set_index("model")
    assert m.loc["m", "mae"] == pytest.approx(1.5)
    assert m.loc["naive_drift", "mae"] == pytest.approx(3.0)
    assert m.loc["m", "mase"] == pytest.approx(0.5)
    assert m.loc["m", "mape"] == pytest.approx((0.1 + 0.1) / 2)
    assert m.loc["m", "coverage_80"] == pytest.approx(0.5)
    assert m.loc["m", "coverage_95"] == pytest.approx(1.0)


def test_ensemble_weights_follow_the_rule():
    metrics = pd.DataFrame(
        {
            "series": "s",
            "model": ["naive_drift", "a", "b", "c", "d"],
            "horizon": 1,
            "mae": [4.0, 1.0, 2.0, 4.0, 8.0],
            "mase": [1.0, 0.25, 0.5, 1.0, 2.0],
        }
    )
    w = ensemble_weights(metrics).set_index("model")["weight"]
    assert w["d"] == 0
    assert w[["a", "b", "naive_drift", "c"]].gt(0).sum() == 3
    assert w.sum() == pytest.approx(1.0)
    assert w["a"] == pytest.approx(2 * w["b"])  # inverse-score weights


def test_combination_is_a_weighted_average():
    f = pd.DataFrame({"year": [1], "mean": [10.0], "lo_80": [8.0], "hi_80": [12.0], "lo_95": [7.0], "hi_95": [13.0]})
    g = f.copy()
    g[["mean", "lo_80", "hi_80", "lo_95", "hi_95"]] *= 2
    c = combine({"a": f, "b": g}, {"a": 0.75, "b": 0.25})
    assert c["mean"].iloc[0] == pytest.approx(12.5)


def test_report_has_the_documented_fields_and_an_ensemble_row(driver_fits):
    r = driver_fits.report()
    for col in ("series", "model", "horizon", "mape", "mase", "coverage_80", "coverage_95", "chosen"):
        assert col in r.columns
    ev = r[(r["series"] == "ev_car_sales.World.total") & (r["model"] == "ensemble")]
    assert set(ev["horizon"]) == {1, 2, 3, 4, 5}
    assert np.isfinite(ev["mase"]).all()
    assert set(r["series"]) >= {
        "ev_car_sales.World.BEV",
        "wind_installations.World.offshore",
        "unit_sales.World.smartphones",
    }
    stretch = driver_fits.interval_factors["ev_car_sales.World.total"]
    assert (ev["interval_stretch_95"] == stretch[95]).all()
    assert (ev["interval_stretch_80"] == stretch[80]).all()
    assert r.loc[r["model"] != "ensemble", "interval_stretch_95"].isna().all()


def test_projections_cover_the_horizon_and_respect_the_caps(driver_fits, assumptions):
    p = driver_fits.projections
    ev = p[p["series"] == "ev_car_sales.World.total"]
    world = assumptions.ev_car_sales[assumptions.ev_car_sales["region"] == "World"]
    assert ev["year"].min() == world["year"].max() + 1
    assert ev["year"].max() == assumptions.model.horizon.last_year
    cap = ev_sales_cap(assumptions.parameters)
    assert (ev["hi_95"] <= cap * 1.0001).all()


# --- Conformal interval calibration -------------------------------------------------------------------


def _rows(origin, year, actual, mean=100.0, half80=1.2, half95=1.5):
    """Backtest rows with intervals symmetric on the log scale: bounds mean / half and mean * half."""
    n = len(actual)
    return pd.DataFrame(
        {
            "series": "s",
            "origin": origin,
            "year": year,
            "actual": actual,
            "mean": np.full(n, mean),
            "lo_80": np.full(n, mean / half80),
            "hi_80": np.full(n, mean * half80),
            "lo_95": np.full(n, mean / half95),
            "hi_95": np.full(n, mean * half95),
        }
    )


def test_an_actual_on_the_interval_edge_scores_one():
    r = _rows([2020, 2020], [2021, 2022], np.array([120.0, 100 / 1.2]))
    assert np.allclose(backtest.interval_scores(r, 80), [1.0, 1.0])


def test_the_conformal_factor_is_the_stated_order_statistic():
    scores = np.arange(1.0, 11.0)  # n = 10
    assert backtest.conformal_factor(scores, 80) == 9.0  # ceil(11 x 0.8) = 9th smallest
    assert backtest.conformal_factor(scores, 95) == 10.0  # ceil(11 x 0.95) = 11 > n: the largest
    assert backtest.conformal_factor(np.full(10, 0.3), 80) == 1.0  # never narrows
    assert backtest.conformal_factor(np.arange(1.0, backtest.CONFORMAL_MIN_ERRORS), 80) == 1.0  # too few errors


@given(st.lists(st.floats(0.0, 20.0), min_size=backtest.CONFORMAL_MIN_ERRORS, max_size=60), st.sampled_from([80, 95]))
def test_the_factor_covers_at_least_the_level_of_its_own_scores(scores, level):
    s = np.array(scores)
    k = backtest.conformal_factor(s, level)
    assert (s <= k).mean() >= level / 100


def test_widening_stretches_on_the_log_scale_keeps_levels_nested_and_respects_the_cap():
    fc = _rows([2020], [2021], np.array([100.0]))
    out = backtest.widen(fc, {80: 2.0, 95: 1.0}, cap=130.0)
    assert out["lo_80"].iloc[0] == pytest.approx(100 / 1.2**2)
    assert out["hi_80"].iloc[0] == pytest.approx(130.0)  # 144 capped
    assert out["lo_95"].iloc[0] <= out["lo_80"].iloc[0]  # 95% widened to contain the wider 80%
    assert out["hi_95"].iloc[0] >= out["hi_80"].iloc[0]
    assert out["mean"].iloc[0] == 100.0


def test_a_backtest_row_is_widened_only_with_errors_seen_by_its_origin():
    origins = np.repeat(np.arange(2010, 2020), 1)
    base = _rows(origins, origins + 1, np.full(10, 150.0))
    later = base.copy()
    later.loc[later["year"] > 2015, "actual"] = 1000.0  # errors after 2015 change
    a, _ = backtest.calibrate_ensemble(base, {"s": None})
    b, _ = backtest.calibrate_ensemble(later, {"s": None})
    keep = a["origin"] <= 2015
    assert np.allclose(a.loc[keep, "hi_95"], b.loc[b["origin"] <= 2015, "hi_95"])
    assert not np.allclose(a.loc[~keep, "hi_95"], b.loc[b["origin"] > 2015, "hi_95"])


def test_model_driver_projections_carry_their_widening_and_stay_ordered(driver_fits, assumptions):
    cap = ev_sales_cap(assumptions.parameters)
    for name in backtest.MODEL_DRIVERS.values():
        assert all(k >= 1.0 for k in driver_fits.interval_factors[name].values())
        p = driver_fits.projections[driver_fits.projections["series"] == name]
        assert (p["lo_95"] <= p["lo_80"] + 1e-9).all()
        assert (p["lo_80"] <= p["mean"] + 1e-9).all()
        assert (p["mean"] <= p["hi_80"] + 1e-9).all()
        assert (p["hi_80"] <= p["hi_95"] + 1e-9).all()
    ev = driver_fits.projections[driver_fits.projections["series"] == "ev_car_sales.World.total"]
    assert (ev["hi_95"] <= cap * 1.0001).all()
