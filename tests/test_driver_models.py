"""Driver models: one interface, known curves recovered, intervals that mean what they say."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.driver_models import (
    FORECAST_COLUMNS,
    AutoARIMA,
    ETSDamped,
    LogisticDiffusion,
    NaiveDrift,
    ProphetModel,
    Transform,
    clean_series,
    fit_predict,
    model_set,
)

YEARS = np.arange(2008, 2024)
CAP = 100.0
LOGISTIC = CAP / (1 + np.exp(-0.4 * (YEARS - 2022)))  # an exact S-curve, well below the cap


def truth(h: int) -> np.ndarray:
    t = np.arange(2024, 2024 + h)
    return CAP / (1 + np.exp(-0.4 * (t - 2022)))


@pytest.mark.parametrize("model", model_set(CAP), ids=lambda m: m.name)
def test_every_model_speaks_the_same_interface(model):
    out = model.fit(YEARS, LOGISTIC).predict(5)
    assert list(out.columns) == FORECAST_COLUMNS
    assert out["year"].tolist() == list(range(2024, 2029))
    q = out[["lo_95", "lo_80", "mean", "hi_80", "hi_95"]].to_numpy()
    assert (np.diff(q, axis=1) >= -1e-9).all()  # quantiles are ordered


@pytest.mark.parametrize(
    "model",
    [LogisticDiffusion(Transform(CAP)), AutoARIMA(Transform(CAP)), ETSDamped(Transform(CAP)), ProphetModel(CAP)],
    ids=lambda m: m.name,
)
def test_models_recover_an_exact_logistic(model):
    out = model.fit(YEARS, LOGISTIC).predict(5)
    tol = {"logistic": 1e-6, "arima": 0.02, "ets_damped": 0.1, "prophet": 0.15}[model.name]
    np.testing.assert_allclose(out["mean"], truth(5), rtol=tol)


def test_capped_models_never_exceed_the_cap():
    for model in model_set(CAP):
        if model.name == "naive_drift":
            continue
        out = model.fit(YEARS, LOGISTIC).predict(30)
        assert (out["hi_95"] <= CAP * (1 + 1e-6)).all(), model.name


def test_naive_drift_extends_the_average_change():
    out = NaiveDrift().fit(np.arange(5), np.array([1.0, 2.0, 3.0, 4.0, 5.0])).predict(3)
    np.testing.assert_allclose(out["mean"], [6.0, 7.0, 8.0])


@pytest.mark.parametrize("model", [NaiveDrift(), LogisticDiffusion(Transform(None))], ids=lambda m: m.name)
def test_interval_coverage_is_near_nominal_on_simulated_data(model):
    rng = np.random.default_rng(42)
    hits80 = hits95 = total = 0
    for _ in range(300):
        if model.name == "naive_drift":  # random walk with drift: the drift model's own assumption
            y = 100 + np.cumsum(2 + rng.normal(0, 3, 21))
        else:  # log-linear trend with iid noise: the regression's own assumption
            y = np.exp(1 + 0.1 * np.arange(21) + rng.normal(0, 0.1, 21))
        out = model.fit(np.arange(20), y[:20]).predict(1)
        a = y[20]
        hits80 += out["lo_80"].iloc[0] <= a <= out["hi_80"].iloc[0]
        hits95 += out["lo_95"].iloc[0] <= a <= out["hi_95"].iloc[0]
        total += 1
    assert 0.72 <= hits80 / total <= 0.88
    assert 0.90 <= hits95 / total <= 0.99


def test_bands_widen_with_horizon():
    for model in model_set(None):
        out = model.fit(YEARS, 10 + np.arange(len(YEARS)) * 2.0 + np.sin(np.arange(len(YEARS)))).predict(8)
        width = (out["hi_80"] - out["lo_80"]).to_numpy()
        if model.name == "prophet":  # sampled intervals: trend uncertainty only, widening within sampling noise
            assert width[-1] >= 0.9 * width[0]
        else:
            assert width[-1] > width[0], model.name


@pytest.mark.parametrize(
    "values, needle",
    [
        (np.array([1.0, 2.0, 3.0]), "fewer than"),
        (np.full(10, 5.0), "constant series"),
    ],
)
def test_bad_series_fall_back_to_drift_and_say_so(values, needle):
    out, note = fit_predict(ETSDamped(), np.arange(len(values)), values, 3)
    assert needle in note
    assert len(out) == 3
    assert np.isfinite(out["mean"]).all()


def test_gaps_and_nan_are_cleaned_and_recorded():
    c = clean_series(np.array([2010, 2011, 2013, 2014, 2015]), np.array([1.0, np.nan, 3.0, 4.0, 5.0]))
    assert c.years.tolist() == [2010, 2011, 2012, 2013, 2014, 2015]
    assert c.values[2] == pytest.approx(1 + 2 * 2 / 3)  # 2011 (NaN) dropped, 2011-2012 interpolated
    assert any("missing value" in n for n in c.notes)
    assert any("missing year" in n for n in c.notes)
    assert np.isfinite(c.values).all()


def test_same_seed_gives_the_same_prophet_intervals():
    a = ProphetModel(CAP, seed=3).fit(YEARS, LOGISTIC).predict(4)
    b = ProphetModel(CAP, seed=3).fit(YEARS, LOGISTIC).predict(4)
    pd.testing.assert_frame_equal(a, b)
