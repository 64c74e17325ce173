"""Driver forecasting models behind one interface: fit on a yearly series, predict h years with intervals.

Models: naive drift (the baseline, on the raw scale), logistic diffusion, ETS with damped trend,
ARIMA (small order search), Prophet. Adoption-type series with a sourced saturation cap are modelled
on the logit scale ``ln(y / (cap - y))`` (Prophet uses its own logistic growth with that cap), other
series on the log scale, so every model respects positivity and, where known, saturation.

``predict`` returns a frame with columns year, mean, lo_80, hi_80, lo_95, hi_95 in the series' unit.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import pandas as pd
from scipy.stats import norm

LEVELS: tuple[int, ...] = (80, 95)
MIN_POINTS = 4  # below this only the naive drift is fitted (documented fallback)
PROPHET_SAMPLES = 300  # posterior predictive draws behind Prophet's intervals
FORECAST_COLUMNS = ["year", "mean", "lo_80", "hi_80", "lo_95", "hi_95"]


def z_of(level: int) -> float:
    """Two-sided normal quantile of a central interval level in percent."""
    return float(norm.ppf(0.5 + level / 200.0))


@dataclass(frozen=True)
class Transform:
    """Variance-stabilising scale: logit with a cap for adoption series, log otherwise."""

    cap: float | None = None

    def forward(self, y: np.ndarray) -> np.ndarray:
        if self.cap is None:
            return np.log(y)
        return np.log(y / (self.cap - y))

    def inverse(self, z: np.ndarray) -> np.ndarray:
        if self.cap is None:
            return np.exp(z)
        return self.cap / (1.0 + np.exp(-z))

    def clip(self, y: np.ndarray) -> np.ndarray:
        """Keep values strictly inside the transform's domain."""
        hi = np.inf if self.cap is None else self.cap * (1 - 1e-9)
        floor = 1e-9 * max(float(np.nanmax(np.abs(y))), 1.0)
        return np.clip(y, floor, hi)


class Model(Protocol):
    name: str

    def fit(self, years: np.ndarray, values: np.ndarray) -> Model: ...

    def predict(self, h: int) -> pd.DataFrame: ...


def _frame(last_year: int, h: int, center: np.ndarray, sd: np.ndarray, tf: Transform | None) -> pd.DataFrame:
    """Normal intervals on the model scale, mapped back through the transform (monotone)."""
    out = {"year": np.arange(last_year + 1, last_year + h + 1)}
    inv = tf.inverse if tf else (lambda x: x)
    out["mean"] = inv(center)
    for lvl in LEVELS:
        z = z_of(lvl)
        lo, hi = inv(center - z * sd), inv(center + z * sd)
        if tf is None:
            lo = np.maximum(lo, 0.0)
        out[f"lo_{lvl}"], out[f"hi_{lvl}"] = lo, hi
    return pd.DataFrame(out)[FORECAST_COLUMNS]


def _frame_bounds(
    last_year: int, h: int, center: np.ndarray, bounds: dict[int, tuple[np.ndarray, np.ndarray]], tf: Transform
) -> pd.DataFrame:
    """Explicit interval bounds on the model scale, mapped back through the transform."""
    out = {"year": np.arange(last_year + 1, last_year + h + 1), "mean": tf.inverse(center)}
    for lvl, (lo, hi) in bounds.items():
        out[f"lo_{lvl}"], out[f"hi_{lvl}"] = tf.inverse(lo), tf.inverse(hi)
    return pd.DataFrame(out)[FORECAST_COLUMNS]


@dataclass
class NaiveDrift:
    """y_T + h x average change, raw scale; sd grows as sqrt(h (1 + h / (T - 1))) (Hyndman & Athanasopoulos)."""

    name: str = "naive_drift"
    _state: tuple = field(default=(), repr=False)

    def fit(self, years: np.ndarray, values: np.ndarray) -> NaiveDrift:
        y = np.asarray(values, dtype=float)
        t = len(y)
        slope = (y[-1] - y[0]) / (t - 1) if t > 1 else 0.0
        resid = np.diff(y) - slope
        sd = float(np.std(resid, ddof=1)) if t > 2 else 0.0
        self._state = (int(years[-1]), float(y[-1]), slope, sd, t)
        return self

    def predict(self, h: int) -> pd.DataFrame:
        last_year, last, slope, sd, t = self._state
        k = np.arange(1, h + 1)
        sd_h = sd * np.sqrt(k * (1 + k / max(t - 1, 1)))
        return _frame(last_year, h, last + slope * k, sd_h, None)


@dataclass
class LogisticDiffusion:
    """Linear trend of the transformed series (logistic S-curve with a cap; exponential without)."""

    transform: Transform = field(default_factory=Transform)
    name: str = "logistic"
    _state: tuple = field(default=(), repr=False)

    def fit(self, years: np.ndarray, values: np.ndarray) -> LogisticDiffusion:
        z = self.transform.forward(self.transform.clip(np.asarray(values, dtype=float)))
        t = np.asarray(years, dtype=float)
        b, a = np.polyfit(t, z, 1)
        resid = z - (a + b * t)
        n = len(t)
        s = float(np.sqrt(resid @ resid / max(n - 2, 1)))
        self._state = (int(years[-1]), a, b, s, float(t.mean()), float(((t - t.mean()) ** 2).sum()), n)
        return self

    def predict(self, h: int) -> pd.DataFrame:
        last_year, a, b, s, tbar, sxx, n = self._state
        tt = np.arange(last_year + 1, last_year + h + 1, dtype=float)
        sd = s * np.sqrt(1 + 1 / n + (tt - tbar) ** 2 / max(sxx, 1e-12))
        return _frame(last_year, h, a + b * tt, sd, self.transform)


@dataclass
class ETSDamped:
    """Additive-error ETS with a damped additive trend (statsmodels ETSModel) on the transformed scale."""

    transform: Transform = field(default_factory=Transform)
    name: str = "ets_damped"
    _state: tuple = field(default=(), repr=False)

    def fit(self, years: np.ndarray, values: np.ndarray) -> ETSDamped:
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        z = self.transform.forward(self.transform.clip(np.asarray(values, dtype=float)))
        # a dated index: statsmodels' ETS prediction needs one
        series = pd.Series(z, index=pd.period_range(start=str(int(years[0])), periods=len(z), freq="Y"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = ETSModel(series, error="add", trend="add", damped_trend=True).fit(disp=False)
        self._state = (int(years[-1]), res, len(z))
        return self

    def predict(self, h: int) -> pd.DataFrame:
        last_year, res, n = self._state
        bounds = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pred = res.get_prediction(start=n, end=n + h - 1)
            for lvl in LEVELS:
                sf = pred.summary_frame(alpha=1 - lvl / 100.0)
                bounds[lvl] = (sf["pi_lower"].to_numpy(), sf["pi_upper"].to_numpy())
            center = np.asarray(pred.predicted_mean, dtype=float)
        return _frame_bounds(last_year, h, center, bounds, self.transform)


@dataclass
class AutoARIMA:
    """ARIMA(p,1,q) with drift, p, q in {0, 1}, chosen by AICc, on the transformed scale (statsmodels)."""

    transform: Transform = field(default_factory=Transform)
    name: str = "arima"
    orders: tuple[tuple[int, int, int], ...] = ((0, 1, 0), (1, 1, 0), (0, 1, 1), (1, 1, 1))
    _state: tuple = field(default=(), repr=False)

    def fit(self, years: np.ndarray, values: np.ndarray) -> AutoARIMA:
        from statsmodels.tsa.arima.model import ARIMA

        z = self.transform.forward(self.transform.clip(np.asarray(values, dtype=float)))
        best = None
        for order in self.orders:
            if sum(order) + 2 >= len(z):
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    res = ARIMA(z, order=order, trend="t").fit()
                except (ValueError, np.linalg.LinAlgError):
                    continue
            if np.isfinite(res.aicc) and (best is None or res.aicc < best.aicc):
                best = res
        if best is None:
            raise ValueError("no ARIMA order could be fitted")
        self._state = (int(years[-1]), best)
        return self

    def predict(self, h: int) -> pd.DataFrame:
        last_year, res = self._state
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fc = res.get_forecast(h)
            center = np.asarray(fc.predicted_mean)
            sd = np.sqrt(np.asarray(fc.var_pred_mean))
        return _frame(last_year, h, center, sd, self.transform)


@dataclass
class ProphetModel:
    """Prophet on yearly points: logistic growth with the sourced cap, linear growth without one."""

    cap: float | None = None
    seed: int = 0
    name: str = "prophet"
    _state: tuple = field(default=(), repr=False)

    def fit(self, years: np.ndarray, values: np.ndarray) -> ProphetModel:
        logging.getLogger("cmdstanpy").setLevel(logging.ERROR)
        logging.getLogger("prophet").setLevel(logging.ERROR)
        logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)  # plotting libraries are optional
        from prophet import Prophet

        df = pd.DataFrame({"ds": pd.to_datetime([f"{int(y)}-07-01" for y in years]), "y": np.asarray(values, float)})
        growth: Literal["linear", "logistic"] = "linear"
        if self.cap is not None:
            growth = "logistic"
            df["cap"], df["floor"] = self.cap, 0.0
        m = Prophet(
            growth=growth,
            yearly_seasonality=False,
            weekly_seasonality=False,
            daily_seasonality=False,
            uncertainty_samples=PROPHET_SAMPLES,
            n_changepoints=min(5, max(len(years) - 3, 0)),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.fit(df)
        self._state = (int(years[-1]), m)
        return self

    def predict(self, h: int) -> pd.DataFrame:
        last_year, m = self._state
        years = np.arange(last_year + 1, last_year + h + 1)
        fut = pd.DataFrame({"ds": pd.to_datetime([f"{y}-07-01" for y in years])})
        if self.cap is not None:
            fut["cap"], fut["floor"] = self.cap, 0.0
        np.random.seed(self.seed)  # Prophet samples its intervals with numpy's global generator
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            draws = m.predictive_samples(fut)["yhat"]  # (len(years), samples)
            mean = m.predict(fut)["yhat"].to_numpy()
        out = {"year": years, "mean": mean}
        hi_cap = np.inf if self.cap is None else self.cap  # observation noise must not pass saturation
        for lvl in LEVELS:
            q = (100 - lvl) / 200.0
            out[f"lo_{lvl}"] = np.maximum(np.quantile(draws, q, axis=1), 0.0)
            out[f"hi_{lvl}"] = np.minimum(np.quantile(draws, 1 - q, axis=1), hi_cap)
        out["mean"] = np.minimum(out["mean"], hi_cap)
        return pd.DataFrame(out)[FORECAST_COLUMNS]


def model_set(cap: float | None) -> list[Model]:
    """The models fitted to a series; the logistic diffusion only where a saturation cap is sourced."""
    tf = Transform(cap)
    models: list[Model] = [NaiveDrift(), ETSDamped(tf), AutoARIMA(tf), ProphetModel(cap)]
    if cap is not None:
        models.insert(1, LogisticDiffusion(tf))
    return models


@dataclass(frozen=True)
class CleanSeries:
    years: np.ndarray
    values: np.ndarray
    notes: tuple[str, ...]


def clean_series(years: np.ndarray, values: np.ndarray) -> CleanSeries:
    """Drop NaN, fill internal gaps by linear interpolation, and say what was done."""
    notes = []
    y = np.asarray(values, dtype=float)
    t = np.asarray(years, dtype=int)
    order = np.argsort(t)
    t, y = t[order], y[order]
    bad = ~np.isfinite(y)
    if bad.any():
        notes.append(f"dropped {int(bad.sum())} missing value(s)")
        t, y = t[~bad], y[~bad]
    if len(t) >= 2:
        full = np.arange(t[0], t[-1] + 1)
        if len(full) != len(t):
            notes.append(f"interpolated {len(full) - len(t)} missing year(s)")
            y = np.interp(full, t, y)
            t = full
    return CleanSeries(t, y, tuple(notes))


def fit_predict(model: Model, years: np.ndarray, values: np.ndarray, h: int) -> tuple[pd.DataFrame, str | None]:
    """Fit and predict with documented fallbacks: too short, constant or failing -> naive drift.

    Returns the forecast and a note saying which fallback was used (None when the model itself ran).
    """
    if len(values) < MIN_POINTS:
        return NaiveDrift().fit(years, values).predict(
            h
        ), f"{model.name}: fewer than {MIN_POINTS} points, naive drift used"
    if np.ptp(values) == 0 and model.name != "naive_drift":
        return NaiveDrift().fit(years, values).predict(h), f"{model.name}: constant series, naive drift used"
    try:
        out = model.fit(years, values).predict(h)
        if not np.isfinite(out[["mean", "lo_80", "hi_80", "lo_95", "hi_95"]].to_numpy()).all():
            raise ValueError("non-finite forecast")
        return out, None
    except Exception as exc:
        return NaiveDrift().fit(years, values).predict(
            h
        ), f"{model.name}: failed ({type(exc).__name__}), naive drift used"
