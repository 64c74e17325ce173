"""The active forecast held in memory, and a bounded cache of rendered responses."""

from __future__ import annotations

import gzip
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import pandas as pd

from forecast.bundle import ForecastBundle, demand_with_quantiles

GZIP_LEVEL = 6  # zlib's default: most of level 9's ratio at a fraction of its time


@dataclass(frozen=True)
class Rendered:
    """A rendered body, and its gzip form (made once, when the entry is cached; None if too small)."""

    body: bytes
    media_type: str
    etag: str
    gzipped: bytes | None = None

    @classmethod
    def make(cls, body: bytes, media_type: str, etag: str, gzip_min_bytes: int) -> Rendered:
        packed = gzip.compress(body, GZIP_LEVEL, mtime=0) if len(body) >= gzip_min_bytes else None
        return cls(body, media_type, etag, packed)

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzipped or b"")


class ResponseCache:
    """LRU of rendered bodies keyed by (version, route, normalized query, format), bounded in entries and bytes."""

    def __init__(self, max_entries: int, max_bytes: int = 64 * 1024 * 1024):
        self._max, self._max_bytes = max_entries, max_bytes
        self._data: OrderedDict[tuple, Rendered] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: tuple) -> Rendered | None:
        with self._lock:
            hit = self._data.get(key)
            if hit is not None:
                self._data.move_to_end(key)
            return hit

    def put(self, key: tuple, value: Rendered) -> None:
        if value.size > self._max_bytes:  # larger than the whole cache: served, not kept
            return
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old.size
            self._data[key] = value
            self._bytes += value.size
            while len(self._data) > self._max or self._bytes > self._max_bytes:
                _, evicted = self._data.popitem(last=False)
                self._bytes -= evicted.size

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0


@dataclass(frozen=True)
class Served:
    """The active bundle and the tables derived from it once, swapped together."""

    bundle: ForecastBundle
    demand_q: pd.DataFrame  # demand with a 'total' segment and Monte Carlo quantiles
    backtest: pd.DataFrame | None  # driver skill report


class ForecastState:
    """Holds what is served; swapping it is a single reference assignment (atomic for readers)."""

    def __init__(self, cache_entries: int, cache_bytes: int = 64 * 1024 * 1024):
        self.served: Served | None = None
        self.loaded_at: float | None = None
        self.cache = ResponseCache(cache_entries, cache_bytes)

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
