"""One Excel workbook of a forecast version: a sheet per table, the sources, the version and scenarios.

Written with XlsxWriter in constant-memory mode (rows streamed in order). Numbers are written as
numbers and text as text, never as formulas; text that a spreadsheet could read as a formula gets
a leading apostrophe (:func:`api.render.safe_cell`), as in every CSV the service writes.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xlsxwriter

import forecast
from api.render import safe_cell
from forecast.bundle import ForecastBundle, demand_with_quantiles

ProgressFn = Callable[[str], None]
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_COLUMN_WIDTH = 60
HEADER_FORMAT = {"bold": True, "bottom": 1, "bg_color": "#E8ECF1"}


def _cell_text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def _column_cells(col: pd.Series) -> tuple[bool, list[Any]]:
    """(numeric, cells) of a column: floats (None where missing) or neutralised text (None where missing)."""
    if pd.api.types.is_bool_dtype(col) or not (
        pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_complex_dtype(col)
    ):
        missing = col.isna().to_numpy()
        cells = [None if m else safe_cell(_cell_text(v)) for v, m in zip(col.tolist(), missing, strict=True)]
        return False, cells
    values = col.to_numpy(dtype=float, na_value=np.nan)
    return True, [float(v) if math.isfinite(v) else None for v in values]


class _Sheet:
    """A worksheet written row by row: numbers as numbers, text neutralised, missing values blank."""

    def __init__(self, book: xlsxwriter.Workbook, name: str, header_format: Any):
        self.ws = book.add_worksheet(name)
        self.header_format = header_format
        self.row = 0
        self.widths: dict[int, int] = {}

    def _width(self, col: int, width: int) -> None:
        self.widths[col] = max(self.widths.get(col, 0), min(width, MAX_COLUMN_WIDTH))

    def write_table(self, df: pd.DataFrame) -> None:
        first = self.row
        for j, name in enumerate(df.columns):
            self.ws.write_string(self.row, j, safe_cell(str(name)), self.header_format)
            self._width(j, len(str(name)) + 2)
        self.row += 1
        columns = [_column_cells(df[c]) for c in df.columns]
        for j, (numeric, cells) in enumerate(columns):
            texts = [len(c) for c in cells if c is not None] if not numeric else []
            self._width(j, (max(texts) + 2) if texts else 12)
        write_number, write_string = self.ws.write_number, self.ws.write_string
        for i in range(len(df)):
            r = self.row + i
            for j, (numeric, cells) in enumerate(columns):
                v = cells[i]
                if v is None:
                    continue
                if numeric:
                    write_number(r, j, v)
                else:
                    write_string(r, j, v)
        self.row += len(df)
        if first == 0 and len(df.columns):
            self.ws.freeze_panes(1, 0)
            self.ws.autofilter(0, 0, max(self.row - 1, 0), len(df.columns) - 1)

    def finish(self) -> None:
        for col, width in self.widths.items():
            self.ws.set_column(col, col, max(width, 8))


def elements_table(b: ForecastBundle) -> pd.DataFrame:
    """World Nd, Pr, Dy, Tb summed over segments: year, scenario, material, basis, unit, value [t/yr]."""
    d = b.demand[b.demand["material"] != "NdFeB"]
    keys = ["year", "scenario", "material", "basis", "unit"]
    return d.groupby(keys, as_index=False, sort=False).agg(value=("value", "sum"))


def _flatten(summary: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """A result dict as key/value rows, plus one table per list of records in it."""
    scalars, tables = [], {}
    for key, value in summary.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables[key] = pd.DataFrame(value)
        else:
            scalars.append({"field": key, "value": value})
    return pd.DataFrame(scalars, columns=["field", "value"]), tables


def _sheet_tables(b: ForecastBundle, backtest: pd.DataFrame | None) -> list[tuple[str, list[tuple[str, pd.DataFrame]]]]:
    """(sheet name, [(title, table), ...]) of every table of the version, in workbook order."""
    a = b.assumptions
    sheets: list[tuple[str, list[tuple[str, pd.DataFrame]]]] = []
    scenarios = pd.DataFrame(
        [
            {
                "scenario": name,
                "description": a.scenarios[name].description,
                "source": a.scenarios[name].source,
                "note": a.scenarios[name].note,
                "overrides": {
                    k: ({str(y): x for y, x in v.items()} if isinstance(v, dict) else v)
                    for k, v in a.scenarios[name].overrides.items()
                },
            }
            for name in b.scenarios
        ]
    )
    h = a.model.horizon
    about = pd.DataFrame(
        [
            ("assumptions_version", b.version),
            ("bundle_format", b.format),
            ("magnet_forecast", forecast.__version__),
            ("written_at_utc", datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")),
            ("horizon", f"{h.first_year}-{h.last_year}"),
            ("units", "t/yr; NdFeB t_magnet on a basis (finished, blank, alloy), elements t_metal, oxides t_oxide"),
        ],
        columns=["field", "value"],
    )
    sheets.append(("version", [("", about), ("Scenarios", scenarios)]))
    sheets.append(("demand", [("", demand_with_quantiles(b))]))
    sheets.append(("elements", [("", elements_table(b))]))
    if b.drivers is not None:
        sheets.append(("drivers", [("", b.drivers)]))
    sheets.append(("supply by stage", [("", b.supply)]))
    sheets.append(("gap", [("", b.gap)]))
    if b.balance is not None:
        sheets.append(("balance", [("", b.balance)]))
    if b.china is not None:
        sheets.append(("china supply", [("", b.china)]))
    if b.projects is not None:
        sheets.append(("projects", [("", b.projects)]))
    summary, tables = _flatten(b.calibration.to_dict())
    sheets.append(("calibration", [("", summary), *tables.items()]))
    sensitivity = getattr(b, "sensitivity", None)
    if isinstance(sensitivity, pd.DataFrame) and not sensitivity.empty:
        sheets.append(("sensitivity", [("", sensitivity)]))
    if backtest is not None:
        sheets.append(("backtest", [("", backtest)]))
    hc = b.hindcast
    hc_head = pd.DataFrame(
        [("basis", hc.basis), ("mape", hc.mape), ("years", len(hc.rows))], columns=["field", "value"]
    )
    sheets.append(("hindcast", [("", hc_head), ("Years", hc.rows), ("End uses", hc.end_uses)]))
    params = pd.DataFrame(
        [
            {
                "name": n,
                "value": p.value,
                "trajectory": {str(y): v for y, v in p.trajectory.items()} if p.trajectory else None,
                "unit": p.unit,
                "low": p.low,
                "high": p.high,
                "source": p.source,
                "note": p.note,
            }
            for n, p in sorted(a.parameters.items())
        ]
    )
    sheets.append(("parameters", [("", params)]))
    sources = pd.DataFrame(
        [{"id": k, **s.model_dump()} for k, s in sorted(a.sources.items())],
        columns=["id", "title", "publisher", "year", "url", "quote", "note"],
    )
    sheets.append(("sources", [("", sources)]))
    return sheets


SHEETS_ALWAYS: tuple[str, ...] = (
    "version",
    "demand",
    "elements",
    "supply by stage",
    "gap",
    "calibration",
    "hindcast",
    "parameters",
    "sources",
)


def write_workbook(
    b: ForecastBundle,
    target: Path | io.BytesIO,
    backtest: pd.DataFrame | None = None,
    progress: ProgressFn | None = None,
) -> list[str]:
    """Write the version's workbook to a path or buffer; returns the sheet names in order."""
    book = xlsxwriter.Workbook(
        target,
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
            "in_memory": isinstance(target, io.BytesIO),
        },
    )
    book.set_properties({"title": f"magnet-forecast {b.version}", "comments": f"assumptions_version {b.version}"})
    header = book.add_format(HEADER_FORMAT)
    title_format = book.add_format({"bold": True, "font_size": 12})
    names = []
    for name, tables in _sheet_tables(b, backtest):
        if progress:
            progress(name)
        sheet = _Sheet(book, name, header)
        for i, (title, table) in enumerate(tables):
            if i:
                sheet.row += 1
            if title:
                sheet.ws.write_string(sheet.row, 0, title, title_format)
                sheet.row += 1
            sheet.write_table(table)
        sheet.finish()
        names.append(name)
    book.close()
    return names


def workbook_bytes(b: ForecastBundle, backtest: pd.DataFrame | None = None) -> bytes:
    """The workbook in memory (for the HTTP route)."""
    buf = io.BytesIO()
    write_workbook(b, buf, backtest)
    return buf.getvalue()


def workbook_filename(b: ForecastBundle) -> str:
    return f"magnet-forecast-{b.version}.xlsx"
