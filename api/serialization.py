"""Computed forecasts and driver fits as data, never as code: what crosses a process boundary.

One archive format for both: a zip holding ``manifest.json`` (kind, format number, the JSON parts)
and one Parquet file per table. Reading checks the archive, the manifest (pydantic), the format
number and the columns of every table, and refuses anything else with an error naming the part.
Nothing read is executed: Parquet and JSON carry values only.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from forecast.backtest import DriverFits, with_fitted_drivers
from forecast.bundle import BUNDLE_FORMAT, ForecastBundle
from forecast.calibration import CalibrationResult
from forecast.hindcast import Hindcast
from forecast.schemas import Assumptions

FITS_FORMAT = 1  # bump when DriverFits changes shape
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024

# Columns each table must have (more are allowed); what the service and the command line read.
FITS_TABLES: dict[str, tuple[str, ...]] = {
    "backtest": ("series", "model", "origin", "horizon", "year", "actual", "mean"),
    "metrics": ("series", "model", "horizon", "n", "mape", "mae", "mase", "coverage_80", "coverage_95"),
    "weights": ("series", "model", "weight", "chosen"),
    "projections": ("series", "year", "mean", "lo_80", "hi_80", "lo_95", "hi_95"),
}
BUNDLE_TABLES: dict[str, tuple[str, ...]] = {
    "demand": ("year", "scenario", "segment", "material", "basis", "unit", "value"),
    "supply": ("year", "stage", "weighting", "material", "capacity_t"),
    "gap": ("year", "scenario", "stage", "region", "material"),
    "quantiles": ("year", "scenario", "segment", "material", "basis", "unit", "p5", "p50", "p95"),
    "drivers": ("year", "scenario", "driver", "kind", "value"),
    "hindcast.rows": ("year", "model_t", "published_t", "error", "source"),
    "hindcast.end_uses": ("year", "end_use", "segments", "model_t", "published_t", "error", "source"),
    "balance": ("year", "scenario", "material"),
    "china": ("year",),
    "projects": ("id",),
    "sensitivity": ("scenario", "year", "output", "name", "output_low", "output_high", "S1", "ST"),
}
OPTIONAL_TABLES: tuple[str, ...] = ("quantiles", "drivers", "balance", "china", "projects", "sensitivity")
_CALIBRATION = TypeAdapter(CalibrationResult)


class ArchiveError(ValueError):
    """Stored or cached data that is not a valid archive of this kind; the message names the part."""


class OutdatedFormat(ValueError):
    """A valid archive written by another format of the code (recompute it)."""


class _Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["forecast-bundle", "driver-fits"]
    format: int
    tables: list[str]
    data: dict[str, Any]


class _FitsData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notes: dict[str, list[str]]
    interval_factors: dict[str, dict[int, float]]


class _BundleData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str
    calibration: dict[str, Any]
    hindcast_basis: Literal["finished", "blank", "alloy"]
    fits: _FitsData | None


def _table_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), buf)
    return buf.getvalue()


def _write(kind: str, fmt: int, tables: dict[str, pd.DataFrame], data: dict[str, Any]) -> bytes:
    manifest = _Manifest(kind=kind, format=fmt, tables=sorted(tables), data=data)  # type: ignore[arg-type]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST, manifest.model_dump_json())
        for name, df in tables.items():
            zf.writestr(f"{name}.parquet", _table_bytes(df))
    return buf.getvalue()


def _read(blob: bytes, kind: str, fmt: int, required: dict[str, tuple[str, ...]], what: str) -> tuple[_Manifest, dict]:
    """The validated manifest and the tables of an archive (ArchiveError / OutdatedFormat otherwise)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(blob))
    except zipfile.BadZipFile:
        raise ArchiveError(f"{what}: not a zip archive of tables (refused; expected {kind} format {fmt})") from None
    with zf:
        try:
            info = zf.getinfo(MANIFEST)
        except KeyError:
            raise ArchiveError(f"{what}: {MANIFEST} missing") from None
        if info.file_size > MAX_MANIFEST_BYTES:
            raise ArchiveError(f"{what}: {MANIFEST} is {info.file_size} bytes, more than {MAX_MANIFEST_BYTES}")
        try:
            manifest = _Manifest.model_validate_json(zf.read(info))
        except (ValidationError, zipfile.BadZipFile, ValueError) as exc:
            raise ArchiveError(f"{what}: {MANIFEST} is not valid: {_first_error(exc)}") from None
        if manifest.kind != kind:
            raise ArchiveError(f"{what}: holds {manifest.kind!r}, expected {kind!r}")
        if manifest.format != fmt:
            raise OutdatedFormat(f"{what}: format {manifest.format}, expected {fmt}")
        tables: dict[str, pd.DataFrame] = {}
        for name in manifest.tables:
            if name not in required:
                raise ArchiveError(f"{what}: unexpected table {name!r}; expected some of {sorted(required)}")
            try:
                tables[name] = pq.read_table(io.BytesIO(zf.read(f"{name}.parquet"))).to_pandas()
            except KeyError:
                raise ArchiveError(f"{what}: table {name}.parquet missing") from None
            except (pa.ArrowException, zipfile.BadZipFile, OSError, ValueError) as exc:
                raise ArchiveError(f"{what}: table {name}.parquet is not valid Parquet ({exc})") from None
            missing = [c for c in required[name] if c not in tables[name].columns]
            if missing:
                raise ArchiveError(f"{what}: table {name} lacks columns {missing}")
    return manifest, tables


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        e = exc.errors()[0]
        return f"{'.'.join(str(x) for x in e['loc']) or 'document'}: {e['msg']}"
    return str(exc)


def _fits_data(fits: DriverFits) -> dict[str, Any]:
    return _FitsData(notes=fits.notes, interval_factors=fits.interval_factors).model_dump(mode="json")


def _fits_from(data: _FitsData, tables: dict[str, pd.DataFrame], what: str) -> DriverFits:
    missing = [t for t in FITS_TABLES if t not in tables]
    if missing:
        raise ArchiveError(f"{what}: fit tables {missing} missing")
    return DriverFits(
        backtest=tables["backtest"],
        metrics=tables["metrics"],
        weights=tables["weights"],
        projections=tables["projections"],
        notes=data.notes,
        interval_factors=data.interval_factors,
    )


def dump_fits(fits: DriverFits) -> bytes:
    """Driver fits as an archive (see module docstring)."""
    tables = {name: getattr(fits, name) for name in FITS_TABLES}
    return _write("driver-fits", FITS_FORMAT, tables, _fits_data(fits))


def load_fits(blob: bytes, what: str = "driver fits") -> DriverFits:
    """Driver fits from an archive; ArchiveError if it is not one, OutdatedFormat if of another format."""
    manifest, tables = _read(blob, "driver-fits", FITS_FORMAT, FITS_TABLES, what)
    try:
        data = _FitsData.model_validate(manifest.data)
    except ValidationError as exc:
        raise ArchiveError(f"{what}: {MANIFEST} data is not valid: {_first_error(exc)}") from None
    return _fits_from(data, tables, what)


def dump_bundle(bundle: ForecastBundle) -> bytes:
    """A computed forecast as an archive; its assumptions are not included (they are stored as files)."""
    tables: dict[str, pd.DataFrame] = {
        "demand": bundle.demand,
        "supply": bundle.supply,
        "gap": bundle.gap,
        "hindcast.rows": bundle.hindcast.rows,
        "hindcast.end_uses": bundle.hindcast.end_uses,
    }
    for name in OPTIONAL_TABLES:
        table = getattr(bundle, name)
        if table is not None:
            tables[name] = table
    if bundle.fits is not None:
        tables.update({f"fits.{name}": getattr(bundle.fits, name) for name in FITS_TABLES})
    data = _BundleData(
        version=bundle.version,
        calibration=_CALIBRATION.dump_python(bundle.calibration, mode="json"),
        hindcast_basis=bundle.hindcast.basis,  # type: ignore[arg-type]  # a Literal checked on read
        fits=_FitsData.model_validate(_fits_data(bundle.fits)) if bundle.fits is not None else None,
    )
    return _write("forecast-bundle", bundle.format, tables, data.model_dump(mode="json"))


def load_bundle(blob: bytes, assumptions: Assumptions, what: str = "stored forecast") -> ForecastBundle:
    """A computed forecast from an archive, joined to the assumptions it was computed from.

    ``assumptions`` are the version's stored files, loaded and validated; with fits, their driver
    trends are set from the fits as when the bundle was built.
    """
    required = {**BUNDLE_TABLES, **{f"fits.{name}": cols for name, cols in FITS_TABLES.items()}}
    manifest, tables = _read(blob, "forecast-bundle", BUNDLE_FORMAT, required, what)
    try:
        data = _BundleData.model_validate(manifest.data)
        calibration = _CALIBRATION.validate_python(data.calibration)
    except ValidationError as exc:
        raise ArchiveError(f"{what}: {MANIFEST} data is not valid: {_first_error(exc)}") from None
    for name in ("demand", "supply", "gap", "hindcast.rows", "hindcast.end_uses"):
        if name not in tables:
            raise ArchiveError(f"{what}: table {name} missing")
    fits = None
    if data.fits is not None:
        fits = _fits_from(data.fits, {k[5:]: v for k, v in tables.items() if k.startswith("fits.")}, what)
        assumptions = with_fitted_drivers(assumptions, fits)
    return ForecastBundle(
        version=data.version,
        assumptions=assumptions,
        calibration=calibration,
        demand=tables["demand"],
        supply=tables["supply"],
        gap=tables["gap"],
        hindcast=Hindcast(data.hindcast_basis, tables["hindcast.rows"], tables["hindcast.end_uses"]),
        fits=fits,
        quantiles=tables.get("quantiles"),
        drivers=tables.get("drivers"),
        balance=tables.get("balance"),
        china=tables.get("china"),
        projects=tables.get("projects"),
        sensitivity=tables.get("sensitivity"),
    )


def manifest_of(blob: bytes) -> dict[str, Any]:
    """The raw manifest of an archive (for inspection and tests); ArchiveError if unreadable."""
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            return dict(json.loads(zf.read(MANIFEST)))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ArchiveError(f"not an archive with a manifest ({exc})") from None
