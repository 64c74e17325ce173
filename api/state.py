"""The active forecast held in memory, and a bounded cache of rendered responses."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import pandas as pd

from forecast.bundle import ForecastBundle, demand_with_quantiles


@dataclass(frozen=True)
class Rendered:
    body: bytes
    media_type: str
    etag: str


class ResponseCache:
    """LRU of rendered bodies keyed by (version, route, normalized query, format)."""

    def __init__(self, max_entries: int):
        self._max = max_entries
        self._data: OrderedDict[tuple, Rendered] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Rendered | None:
        with self._lock:
            hit = self._data.get(key)
            if hit is not None:
                self._data.move_to_end(key)
            return hit

    def put(self, key: tuple, value: Rendered) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._max:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


@dataclass(frozen=True)
class Served:
    """The active bundle and the tables derived from it once, swapped together."""

    bundle: ForecastBundle
    demand_q: pd.DataFrame  # demand with a 'total' segment and Monte Carlo quantiles
    backtest: pd.DataFrame | None  # driver skill report


class ForecastState:
    """Holds what is served; swapping it is a single reference assignment (atomic for readers)."""

    def __init__(self, cache_entries: int):
        self.served: Served | None = None
        self.loaded_at: float | None = None
        self.cache = ResponseCache(cache_entries)

    @property
    def bundle(self) -> ForecastBundle | None:
        return self.served.bundle if self.served else None

    def activate(self, bundle: ForecastBundle) -> None:
        """Derive the served tables (off every request's path), then swap them in at once."""
        served = Served(bundle, demand_with_quantiles(bundle), bundle.fits.report() if bundle.fits else None)
        self.served = served
        self.loaded_at = time.time()
        self.cache.clear()

    @property
    def ready(self) -> bool:
        return self.served is not None
