"""The active forecast held in memory, and a bounded cache of rendered responses."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from forecast.bundle import ForecastBundle


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


class ForecastState:
    """Holds the active bundle; swapping it is a single reference assignment (atomic for readers)."""

    def __init__(self, cache_entries: int):
        self.bundle: ForecastBundle | None = None
        self.loaded_at: float | None = None
        self.cache = ResponseCache(cache_entries)

    def activate(self, bundle: ForecastBundle) -> None:
        self.bundle = bundle
        self.loaded_at = time.time()
        self.cache.clear()

    @property
    def ready(self) -> bool:
        return self.bundle is not None
