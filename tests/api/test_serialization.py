"""Stored forecasts and cached fits are data: they round-trip exactly, and anything else is refused."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from api.fitcache import FitCacheError, driver_inputs_hash, fit_code_version, load_or_fit
from api.serialization import (
    BUNDLE_TABLES,
    FITS_TABLES,
    ArchiveError,
    OutdatedFormat,
    dump_bundle,
    dump_fits,
    load_bundle,
    load_fits,
    manifest_of,
)
from forecast.bundle import build_bundle
from tests.payloads import file_creating_pickle

N_PATHS = 200


@pytest.fixture(scope="module")
def bundle(assumptions, driver_fits):
    return build_bundle(assumptions, driver_fits, n_paths=N_PATHS)


def _replace_member(blob: bytes, name: str, data: bytes) -> bytes:
    src, out = zipfile.ZipFile(io.BytesIO(blob)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for item in src.namelist():
            dst.writestr(item, data if item == name else src.read(item))
    return out.getvalue()


def _table(bundle, name: str) -> pd.DataFrame:
    """A bundle's table by its archive name ('hindcast.rows' is bundle.hindcast.rows)."""
    owner, _, attribute = name.rpartition(".")
    return getattr(getattr(bundle, owner) if owner else bundle, attribute)


def test_a_bundle_round_trips_every_table_and_the_calibration(bundle, assumptions):
    back = load_bundle(dump_bundle(bundle), assumptions)
    assert bundle.sensitivity is not None
    assert bundle.balance is not None
    for name in BUNDLE_TABLES:
        pd.testing.assert_frame_equal(_table(back, name), _table(bundle, name))
    assert back.calibration == bundle.calibration
    assert back.version == bundle.version
    trends = bundle.assumptions.driver_trends
    assert trends
    assert back.assumptions.driver_trends.keys() == trends.keys()
    for key, frame in trends.items():
        pd.testing.assert_frame_equal(back.assumptions.driver_trends[key], frame)


def test_driver_fits_round_trip(driver_fits):
    back = load_fits(dump_fits(driver_fits))
    for name in FITS_TABLES:
        pd.testing.assert_frame_equal(getattr(back, name), getattr(driver_fits, name))
    assert back.notes == driver_fits.notes
    assert back.interval_factors == driver_fits.interval_factors


def test_an_archive_names_its_kind_and_format(driver_fits):
    m = manifest_of(dump_fits(driver_fits))
    assert m["kind"] == "driver-fits"
    assert m["format"] == 1
    assert m["tables"] == sorted(FITS_TABLES)


def test_a_pickle_is_refused_not_loaded(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(ArchiveError, match="not a zip archive"):
        load_fits(file_creating_pickle(marker))
    assert not marker.exists()


def test_a_table_missing_a_column_is_refused_naming_it(driver_fits):
    buf = io.BytesIO()
    driver_fits.weights.drop(columns=["weight"]).to_parquet(buf, index=False)
    blob = _replace_member(dump_fits(driver_fits), "weights.parquet", buf.getvalue())
    with pytest.raises(ArchiveError, match=r"table weights lacks columns \['weight'\]"):
        load_fits(blob)


def test_an_archive_of_another_format_is_outdated_not_invalid(driver_fits):
    blob = dump_fits(driver_fits)
    manifest = {**manifest_of(blob), "format": 0}
    with pytest.raises(OutdatedFormat, match="format 0, expected 1"):
        load_fits(_replace_member(blob, "manifest.json", json.dumps(manifest).encode()))


def test_a_fits_archive_is_not_a_bundle(driver_fits, assumptions):
    with pytest.raises(ArchiveError, match="holds 'driver-fits', expected 'forecast-bundle'"):
        load_bundle(dump_fits(driver_fits), assumptions)


def _cache_file(assumptions, cache: Path) -> Path:
    return cache / f"fits-{driver_inputs_hash(assumptions)}-{fit_code_version()}.zip"


def test_the_fit_cache_writes_an_archive_and_reads_it_back(assumptions, driver_fits, tmp_path):
    path = _cache_file(assumptions, tmp_path)
    path.write_bytes(dump_fits(driver_fits))
    fits = load_or_fit(assumptions, tmp_path)
    pd.testing.assert_frame_equal(fits.projections, driver_fits.projections)


def test_a_tampered_fit_cache_file_is_refused_naming_the_file(assumptions, tmp_path):
    path = _cache_file(assumptions, tmp_path)
    marker = tmp_path / "ran"
    path.write_bytes(file_creating_pickle(marker))
    with pytest.raises(FitCacheError, match=f"fit cache {path}: not a zip archive"):
        load_or_fit(assumptions, tmp_path)
    assert not marker.exists()
