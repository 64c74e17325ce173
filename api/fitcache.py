"""Driver fits cached on disk per assumptions version (fits never run on a request path).

File I/O at the edge: the model package never imports it. Cache files are archives of tables and
JSON (api.serialization), never pickles; one that does not validate is refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

from api.serialization import ArchiveError, OutdatedFormat, dump_fits, load_fits
from api.settings import get_settings
from forecast.backtest import DriverFits, fit_drivers
from forecast.params import PARAMETERS
from forecast.progress import ProgressFn, silent
from forecast.scenarios import resolve_parameters
from forecast.schemas import SERIES, Assumptions
from forecast.versioning import normalized_assumptions


class FitCacheError(Exception):
    """A cache file that is not a valid fits archive; the message names the file and the part."""


def fit_code_version() -> str:
    """Hash of the code that produces fits: a code change invalidates cached fits."""
    import forecast.backtest
    import forecast.driver_models

    h = hashlib.sha256()
    for mod in (forecast.driver_models, forecast.backtest):
        h.update(Path(str(mod.__file__)).read_bytes())
    return h.hexdigest()[:12]


# The parameters the backtest reads, from the registry (caps and the car market the fits depend on)
DRIVER_PARAMETERS: tuple[str, ...] = tuple(
    spec.pattern for spec in PARAMETERS if "backtest" in spec.read_by and "{" not in spec.pattern
)


def driver_inputs_hash(a: Assumptions) -> str:
    """Hash of what the fits depend on: the driver series, their caps and the horizon."""
    n = normalized_assumptions(a)
    key = {
        **{spec.name: n[spec.name] for spec in SERIES},
        "caps": {p: n["parameters"].get(p) for p in DRIVER_PARAMETERS},
        "horizon": n["model"]["horizon"],
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:24]


def fit_cache_path(a: Assumptions, cache_dir: Path | None = None) -> Path:
    """Where the driver fits of these assumptions are cached (the file may not exist yet)."""
    directory = cache_dir or get_settings().fit_cache_dir()
    return directory / f"fits-{driver_inputs_hash(a)}-{fit_code_version()}.zip"


def load_or_fit(a: Assumptions, cache_dir: Path | None = None, progress: ProgressFn = silent) -> DriverFits:
    """The driver fits of these assumptions: from the cache, or fitted now and cached atomically.

    A damaged or tampered cache file is refused with :class:`FitCacheError` (never executed); one of
    another format of the code is refitted and replaced.
    """
    path = fit_cache_path(a, cache_dir)
    directory = path.parent
    if path.is_file():
        try:
            return load_fits(path.read_bytes(), f"fit cache {path}")
        except OutdatedFormat:
            pass  # written by another format of the code: refitted and replaced
        except ArchiveError as exc:  # damaged or tampered with: refused, never executed
            raise FitCacheError(f"{exc}; delete the file to refit") from None
        except OSError:
            pass  # unreadable: refitted (and replaced if the directory allows)
    fits = fit_drivers(a, resolve_parameters(a, "base"), progress)
    try:
        _write(directory, path, fits)
    except OSError as exc:  # the cache only saves time: a full or read-only directory costs a refit later
        logging.getLogger("magnet_forecast.fitcache").warning(
            "fit cache not written", extra={"fields": {"error": type(exc).__name__, "directory": str(directory)}}
        )
    return fits


def _write(directory: Path, path: Path, fits: DriverFits) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".fits-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(dump_fits(fits))
        os.replace(tmp, path)  # atomic: readers see the old file or the complete new one
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
