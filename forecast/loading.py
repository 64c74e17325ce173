"""Read an assumptions directory into validated :class:`~forecast.schemas.Assumptions`.

Every problem is collected (not just the first) and reported with the file, the row or field, the
bad value and what was expected. This module does file I/O; the model modules never import it.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ValidationError

from forecast.params import GRADES, registered_parameters, share_sum_errors
from forecast.schemas import (
    HISTORY_REGIONS,
    SERIES,
    TOTAL,
    Assumptions,
    ChinaSupplyRow,
    ModelConfig,
    OutputRow,
    Parameter,
    Scenario,
    SeriesSpec,
    Source,
    Structure,
    SupplyProject,
)

SHARE_TOLERANCE = 1e-6  # numerical tolerance for shares summing to 1
# Regional history values are rounded (the IEA publishes two significant figures), so the named
# regions may add up to a little more than the rounded world total.
REGION_SUM_TOLERANCE = 0.02
ROW_COLUMN = "_row"  # a series row's line in its file, kept while loading to name it in problems
FORMULA_CELL = re.compile(r"^[=+@\t\r]|^-[A-Za-z(]")  # what a spreadsheet would run as a formula


def _registry_problems(parameters: dict[str, Parameter], structure: Structure) -> list[Problem]:
    """Required parameters missing, parameters nothing reads, and units other than the registry's."""
    registered = registered_parameters(structure)
    problems = [
        Problem(
            "parameters.yaml",
            name,
            f"missing; the model needs this parameter ({spec.unit}, read by {', '.join(spec.read_by)})",
        )
        for name, spec in registered.items()
        if spec.required and name not in parameters
    ]
    for name, p in parameters.items():
        spec = registered.get(name)
        if spec is None:
            problems.append(
                Problem(
                    "parameters.yaml",
                    name,
                    "not read by the model; remove it, or register it in forecast.params.PARAMETERS",
                )
            )
        elif p.unit not in spec.unit.split("|"):
            problems.append(Problem("parameters.yaml", f"{name}.unit", f"{p.unit!r}; expected {spec.unit!r}"))
    return problems


def _formula_cells(row: dict[str, str]) -> list[str]:
    """Columns whose text a spreadsheet would evaluate as a formula."""
    return [k for k, v in row.items() if isinstance(v, str) and FORMULA_CELL.match(v)]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an assumptions directory."""

    file: str
    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.location}: {self.message}"


class AssumptionsError(Exception):
    """Raised with every problem found in an assumptions directory."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def _pydantic_problems(file: str, prefix: str, err: ValidationError) -> list[Problem]:
    out = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"] if x != "__root__")
        where = f"{prefix}.{loc}" if loc else prefix
        got = e.get("input")
        got_s = "" if isinstance(got, dict) else f" (got {got!r})"
        out.append(Problem(file, where, f"{e['msg']}{got_s}"))
    return out


def _read_text(path: Path, rel: str, problems: list[Problem]) -> str | None:
    if not path.is_file():
        problems.append(Problem(rel, "file", "missing; expected this file in the assumptions directory"))
        return None
    try:
        # utf-8-sig: a byte-order mark (a spreadsheet's "CSV UTF-8") is read, not taken for part of a name
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(Problem(rel, f"byte {exc.start}", "not valid UTF-8 text; expected UTF-8"))
        return None


MAX_YAML_BYTES = 4 * 1024 * 1024  # a hundred times the largest bundled file


class _PlainYamlLoader(yaml.SafeLoader):
    """YAML without anchors and aliases: every node is written out once (no exponential expansion)."""

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def,unused-ignore]
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases are not allowed; write each value out", event.start_mark
            )
        return super().compose_node(parent, index)


def _read_yaml(root: Path, rel: str, problems: list[Problem]) -> dict[str, Any] | None:
    text = _read_text(root / rel, rel, problems)
    if text is None:
        return None
    if len(text) > MAX_YAML_BYTES:
        problems.append(Problem(rel, "file", f"{len(text)} characters; expected at most {MAX_YAML_BYTES}"))
        return None
    try:
        data = yaml.load(text, Loader=_PlainYamlLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "file"
        problems.append(Problem(rel, where, f"not valid YAML ({getattr(exc, 'problem', exc)})"))
        return None
    if not isinstance(data, dict):
        problems.append(Problem(rel, "file", "expected a mapping at the top level"))
        return None
    return data


def _validate_map(raw: dict[str, Any], model: type[BaseModel], rel: str, problems: list[Problem]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in raw.items():
        try:
            out[str(key)] = model.model_validate(item)
        except ValidationError as err:
            problems.extend(_pydantic_problems(rel, str(key), err))
    return out


def _read_series(root: Path, spec: SeriesSpec, problems: list[Problem]) -> pd.DataFrame:
    rel, row_model, keys = spec.path, spec.row, spec.keys
    columns = ["year", *keys, "value"]
    text = _read_text(root / rel, rel, problems)
    if text is None:
        return pd.DataFrame(columns=columns)
    reader = csv.DictReader(io.StringIO(text))
    expected = set(row_model.model_fields)
    required = {name for name, f in row_model.model_fields.items() if f.is_required()}
    header = set(reader.fieldnames or [])
    missing = required - header
    if missing:
        problems.append(Problem(rel, "header", f"missing columns {sorted(missing)}; expected {sorted(expected)}"))
        return pd.DataFrame(columns=columns)
    rows: list[dict[str, Any]] = []
    for line_no, raw in enumerate(reader, start=2):
        for col in _formula_cells({k: v for k, v in raw.items() if isinstance(k, str)}):
            problems.append(Problem(rel, f"row {line_no}.{col}", "formula-like cell; expected plain text or a number"))
        clean = {k: (v.strip() if isinstance(v, str) else v) for k, v in raw.items() if k in expected}
        # an empty optional cell takes the field's default (no note, no upper bound)
        clean = {k: v for k, v in clean.items() if v != "" or k in required}
        try:
            rows.append(row_model.model_validate(clean).model_dump())
        except ValidationError as err:
            problems.extend(_pydantic_problems(rel, f"row {line_no}", err))
            continue
        rows[-1]["_line"] = line_no
    df = pd.DataFrame(rows)
    if df.empty:
        if not problems:
            problems.append(Problem(rel, "file", "no data rows; expected at least one"))
        return pd.DataFrame(columns=columns)
    dup = df.duplicated(subset=["year", *keys], keep="first")
    for _, r in df[dup].iterrows():
        problems.append(
            Problem(rel, f"row {r['_line']}", f"duplicate year {r['year']} for {'/'.join(str(r[k]) for k in keys)}")
        )
    if spec.consecutive:
        problems.extend(_coverage_problems(spec, df[~dup]))
    # the file line stays as _row until the cross-checks have named it (load_assumptions drops it)
    return df[~dup].rename(columns={"_line": ROW_COLUMN}).reset_index(drop=True)


def _coverage_problems(spec: SeriesSpec, df: pd.DataFrame) -> list[Problem]:
    """One entry per year from a series' first year to its last.

    Where the parts add up to a total (BEV + PHEV, onshore + offshore) the series is the region: each
    year has every part or a single ``total`` row, never both. Otherwise (bus, truck, van) each
    region and part is a series of its own.
    """
    rel, (region_key, part_key) = spec.path, spec.keys
    out: list[Problem] = []
    if not spec.splits_a_total:
        groups = df.groupby([region_key, part_key], sort=True)
        for (region, part), grp in groups:
            out.extend(_year_gaps(rel, f"{region}/{part}", grp["year"]))
        return out
    parts = list(spec.values)
    for region, grp in df.groupby(region_key, sort=True):
        for year, rows in grp.groupby("year"):
            have = set(rows[part_key])
            where = " ".join((str(region), str(year)))
            if TOTAL in have and len(have) > 1:
                line = int(rows.loc[rows[part_key] == TOTAL, "_line"].iloc[0])
                out.append(
                    Problem(rel, f"row {line}", f"{where}: a total row and split rows; expected one or the other")
                )
            elif TOTAL not in have and have != set(parts):
                missing = sorted(set(parts) - have)
                out.append(
                    Problem(rel, where, f"split incomplete, missing {missing}; expected all of {parts} or a total row")
                )
        out.extend(_year_gaps(rel, str(region), grp["year"]))
    return out


def _year_gaps(rel: str, name: str, years: pd.Series) -> list[Problem]:
    present = {int(y) for y in years}
    gaps = [y for y in range(min(present), max(present) + 1) if y not in present]
    return [Problem(rel, name, f"missing years {gaps}; expected one entry per year")] if gaps else []


PROJECTS_FILE = "supply/projects.csv"
OUTPUT_FILE = "supply/output.csv"
CHINA_FILE = "supply/china.csv"


def _read_projects(root: Path, problems: list[Problem]) -> list[SupplyProject]:
    """Supply projects, one per row; problems name the row number (header is row 1) and the field."""
    text = _read_text(root / PROJECTS_FILE, PROJECTS_FILE, problems)
    if text is None:
        return []
    reader = csv.DictReader(io.StringIO(text))
    fields = set(SupplyProject.model_fields)
    missing = {f for f, info in SupplyProject.model_fields.items() if info.is_required()} - set(reader.fieldnames or [])
    if missing:
        problems.append(Problem(PROJECTS_FILE, "header", f"missing columns {sorted(missing)}"))
        return []
    out: list[SupplyProject] = []
    seen: dict[str, int] = {}
    for line_no, raw in enumerate(reader, start=2):
        row = {k: v.strip() for k, v in raw.items() if k in fields and isinstance(v, str) and v.strip() != ""}
        where = f"row {line_no}"
        bad_cells = _formula_cells(row)
        if bad_cells:
            for col in bad_cells:
                problems.append(Problem(PROJECTS_FILE, f"{where}.{col}", "formula-like cell; expected plain text"))
            continue
        if "capacity" in row and "unit" not in row:
            problems.append(
                Problem(PROJECTS_FILE, f"{where}.unit", "capacity given without a unit; expected a unit column value")
            )
            continue
        if "own_feed" in row:
            if row["own_feed"].lower() not in ("yes", "no", "true", "false"):
                problems.append(
                    Problem(PROJECTS_FILE, f"{where}.own_feed", f"got {row['own_feed']!r}; expected yes or no")
                )
                continue
            row["own_feed"] = row["own_feed"].lower() in ("yes", "true")  # type: ignore[assignment]
        try:
            project = SupplyProject.model_validate(row)
        except ValidationError as err:
            problems.extend(_project_problems(where, err))
            continue
        if project.id in seen:
            problems.append(
                Problem(PROJECTS_FILE, f"{where}.id", f"duplicate id {project.id!r} (first on row {seen[project.id]})")
            )
            continue
        seen[project.id] = line_no
        out.append(project)
    problems.extend(_link_problems(out, seen))
    return out


def _project_problems(where: str, err: ValidationError) -> list[Problem]:
    """A row's validation errors; a whole-row check names the field it is about."""
    out = []
    for p in _pydantic_problems(PROJECTS_FILE, where, err):
        if p.location == where:
            message = p.message.removeprefix("Value error, ")
            field = "basis" if "basis" in message else ("ndpr_share_of_treo" if "share" in message else "unit")
            p = Problem(p.file, f"{where}.{field}", message)
        out.append(p)
    return out


def _link_problems(projects: list[SupplyProject], rows: dict[str, int]) -> list[Problem]:
    """feeds and expands must name another row, and following them must never come back to a row."""
    out = []
    by_id = {p.id: p for p in projects}
    for p in projects:
        for col in ("feeds", "expands"):
            target = getattr(p, col)
            if target is not None and target not in by_id:
                out.append(Problem(PROJECTS_FILE, f"row {rows[p.id]}.{col}", f"unknown project id {target!r}"))
    for p in projects:
        for col in ("feeds", "expands"):
            path, node = [p.id], getattr(p, col)
            while node is not None and node in by_id and node not in path:
                path.append(node)
                node = getattr(by_id[node], col)
            if node is not None and node == p.id:
                cycle = " -> ".join([*path, node])
                out.append(Problem(PROJECTS_FILE, f"row {rows[p.id]}.{col}", f"makes a cycle ({cycle})"))
    return out


def _read_rows(root: Path, rel: str, model: type[BaseModel], problems: list[Problem]) -> tuple[pd.DataFrame, list[int]]:
    """A small CSV validated row by row: the table and the file line of each kept row."""
    text = _read_text(root / rel, rel, problems)
    columns = list(model.model_fields)
    if text is None:
        return pd.DataFrame(columns=columns), []
    rows, lines = [], []
    for line_no, raw in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        row = {k: v.strip() for k, v in raw.items() if isinstance(k, str) and isinstance(v, str) and v.strip() != ""}
        bad = _formula_cells(row)
        if bad:
            problems.extend(Problem(rel, f"row {line_no}.{c}", "formula-like cell; expected plain text") for c in bad)
            continue
        try:
            rows.append(model.model_validate(row).model_dump())
            lines.append(line_no)
        except ValidationError as err:
            problems.extend(_pydantic_problems(rel, f"row {line_no}", err))
    return pd.DataFrame(rows, columns=columns), lines


class _OutputCells(NamedTuple):
    """One row of supply/output.csv as read (validated by OutputRow in _read_rows)."""

    id: str
    unit: str
    year: int
    value: float
    note: str | None


def _read_output(root: Path, projects: list[SupplyProject], problems: list[Problem]) -> pd.DataFrame:
    """Published yearly output per project; above the nameplate in force that year needs a note."""
    df, lines = _read_rows(root, OUTPUT_FILE, OutputRow, problems)
    by_id = {p.id: p for p in projects}
    keep = []
    for i, (pid, unit, year, value, note) in enumerate(
        zip(df["id"], df["unit"], df["year"], df["value"], df["note"], strict=True)
    ):
        row = _OutputCells(str(pid), str(unit), int(year), float(value), note if isinstance(note, str) else None)
        where = f"row {lines[i]}"
        p = by_id.get(row.id)
        if p is None:
            problems.append(
                Problem(
                    OUTPUT_FILE, f"{where}.id", f"unknown project id {row.id!r}; expected an id from {PROJECTS_FILE}"
                )
            )
            continue
        if row.unit != p.unit:
            problems.append(
                Problem(OUTPUT_FILE, f"{where}.unit", f"got {row.unit!r}; expected the project's unit {p.unit!r}")
            )
            continue
        nameplate = site_nameplate(p, projects, row.year)
        noted = isinstance(row.note, str) and row.note.strip() != ""
        if nameplate is not None and row.value > nameplate * (1 + SHARE_TOLERANCE) and not noted:
            problems.append(
                Problem(
                    OUTPUT_FILE,
                    f"{where}.value",
                    f"output {row.value:g} is above the nameplate {nameplate:g} {p.unit} in {row.year} "
                    "without a note; expected a note saying why (or a corrected nameplate)",
                )
            )
            continue
        keep.append(i)
    out = df.iloc[keep].reset_index(drop=True)
    dup = out.duplicated(["id", "year"], keep="first")
    for k in np.flatnonzero(dup.to_numpy()).tolist():
        second = f"second value for {out['id'].iloc[k]!s} {out['year'].iloc[k]!s}"
        problems.append(Problem(OUTPUT_FILE, f"row {lines[keep[k]]}", second))
    return out[~dup].reset_index(drop=True)


def site_nameplate(project: SupplyProject, projects: list[SupplyProject], year: int) -> float | None:
    """Nameplate of a project and the expansions of it started by ``year`` [project unit]; None if undisclosed."""
    if project.capacity is None:
        return None
    return project.capacity + sum(
        q.capacity or 0.0 for q in projects if q.expands == project.id and q.first_year <= year
    )


def _read_china(root: Path, problems: list[Problem]) -> pd.DataFrame:
    df, lines = _read_rows(root, CHINA_FILE, ChinaSupplyRow, problems)
    dup = df.duplicated(["year", "stage", "material"], keep="first")
    for i in np.flatnonzero(dup.to_numpy()):
        problems.append(Problem(CHINA_FILE, f"row {lines[i]}", "second value for the same year, stage and material"))
    return df[~dup].reset_index(drop=True)


def _cross_check(a: dict[str, Any], problems: list[Problem]) -> None:
    sources: dict[str, Source] = a["sources"]
    parameters: dict[str, Parameter] = a["parameters"]
    if a.get("_sources_unreadable"):
        sources = _AnySource()
    for name, p in parameters.items():
        if p.source not in sources:
            problems.append(
                Problem(
                    "parameters.yaml",
                    f"{name}.source",
                    f"unknown source {p.source!r}; expected an id from sources.yaml",
                )
            )
    for path, table in [
        *((spec.path, a[spec.name]) for spec in SERIES),
        (OUTPUT_FILE, a["project_output"]),
        (CHINA_FILE, a["china_supply"]),
    ]:
        for src in sorted(s for s in set(table["source"]) if s not in sources) if not table.empty else []:
            problems.append(Problem(path, "source", f"unknown source {src!r}; expected an id from sources.yaml"))
    structure: Structure | None = a.get("structure")
    if structure is not None:
        problems.extend(_registry_problems(parameters, structure))
    if structure is not None:
        problems.extend(_structure_problems(structure, parameters, a))
    if structure is not None:
        for el, element in structure.elements.items():
            if element.source not in sources:
                problems.append(
                    Problem("structure.yaml", f"elements.{el}.source", f"unknown source {element.source!r}")
                )
    for sname, sc in a["scenarios"].items():
        if sc.source not in sources:
            problems.append(Problem("scenarios.yaml", f"scenarios.{sname}.source", f"unknown source {sc.source!r}"))
    model: ModelConfig | None = a.get("model")
    if model is not None:
        cal = model.calibration
        if cal.source not in sources:
            problems.append(Problem("model.yaml", "calibration.source", f"unknown source {cal.source!r}"))
        if cal.history_source is not None and cal.history_source not in sources:
            problems.append(
                Problem("model.yaml", "calibration.history_source", f"unknown source {cal.history_source!r}")
            )
        for name in cal.fixed:
            if name not in parameters and not name.startswith("driver:"):
                problems.append(Problem("model.yaml", "calibration.fixed", f"unknown parameter {name!r}"))
        residual = model.uncertainty.residual_segment
        if residual is not None and structure is not None and residual not in structure.segments:
            problems.append(Problem("model.yaml", "uncertainty.residual_segment", f"unknown segment {residual!r}"))
    years = np.arange(1990, 2101)
    present = {n: p for n, p in parameters.items()}
    for msg in share_sum_errors(present, years, SHARE_TOLERANCE):
        problems.append(Problem("parameters.yaml", msg.split(":")[0], msg.split(": ", 1)[1]))
    for grade in GRADES:
        names = [f"composition.{grade}.{e}" for e in ("Nd", "Pr", "Dy", "Tb")]
        if all(n in parameters for n in names):
            total = sum(max(parameters[n].points()) for n in names)
            if total > 1:
                problems.append(
                    Problem(
                        "parameters.yaml",
                        f"composition.{grade}",
                        f"element fractions sum to {total:.3f}; expected at most 1",
                    )
                )
    scenarios: dict[str, Scenario] = a["scenarios"]
    if scenarios and "base" not in scenarios:
        problems.append(Problem("scenarios.yaml", "scenarios", "no 'base' scenario; expected one"))
    for sname, sc in scenarios.items():
        merged = dict(parameters)
        for pname, new in sc.overrides.items():
            where = f"scenarios.{sname}.overrides.{pname}"
            if pname not in parameters:
                problems.append(
                    Problem("scenarios.yaml", where, "unknown parameter; expected a name from parameters.yaml")
                )
                continue
            try:
                merged[pname] = parameters[pname].with_values(new)
            except ValidationError as err:
                problems.extend(_pydantic_problems("scenarios.yaml", where, err))
        # a group the scenario does not touch is reported once, for parameters.yaml, not per scenario
        touched = {pname.rsplit(".", 1)[0] for pname in sc.overrides}
        for msg in share_sum_errors(merged, years, SHARE_TOLERANCE):
            if msg.split(".*", 1)[0] in touched:
                problems.append(Problem("scenarios.yaml", f"scenarios.{sname}", msg))


INTENSITY_UNITS: frozenset[str] = frozenset({"kg_per_unit", "kg_per_vehicle", "kg_per_motor", "t_per_MW"})


def _structure_problems(structure: Structure, parameters: dict[str, Parameter], a: dict[str, Any]) -> list[Problem]:
    """Segments name known drivers and magnet intensities on a declared basis; series name known drivers."""
    out: list[Problem] = []
    drivers = {f"units.{n}" for n in structure.unit_drivers} | {
        "cars.market",
        "cars.electric",
        "cars.non_plugin",
        "cars.HEV",
        "ev_car_sales.BEV",
        "ev_car_sales.PHEV",
    }
    for name, seg in structure.segments.items():
        where = f"segments.{name}"
        if seg.kind == "units" and seg.driver not in drivers:
            out.append(
                Problem(
                    "structure.yaml",
                    f"{where}.driver",
                    f"unknown driver {seg.driver!r}; expected one of {sorted(drivers)}",
                )
            )
        intensities = [seg.intensity] if seg.intensity else []
        if seg.kind == "ev":
            intensities.append(f"ev.motor_kg.{seg.powertrain}")
        for p_name in intensities:
            p = parameters.get(str(p_name))
            if p is None:
                continue
            if p.unit not in INTENSITY_UNITS:
                out.append(
                    Problem(
                        "parameters.yaml",
                        f"{p_name}.unit",
                        f"{p.unit!r} is not a magnet intensity; expected one of {sorted(INTENSITY_UNITS)}",
                    )
                )
            if p.basis is None:
                out.append(
                    Problem(
                        "parameters.yaml",
                        f"{p_name}.basis",
                        "missing; expected the magnet basis its source publishes (finished, blank or alloy)",
                    )
                )
    out.extend(_region_problems(structure, parameters, a))
    units = a.get("unit_sales")
    if units is not None and not units.empty:
        for driver in sorted(set(units["driver"]) - set(structure.unit_drivers)):
            out.append(
                Problem(
                    "series/unit_sales.csv",
                    f"driver {driver}",
                    f"unknown driver; expected one of {sorted(structure.unit_drivers)} (structure.yaml unit_drivers)",
                )
            )
    uses = a.get("ndfeb_end_use")
    if uses is not None and not uses.empty:
        for value in sorted(set(uses["segments"])):
            unknown = [s for s in str(value).split("+") if s not in structure.segments]
            if unknown:
                out.append(
                    Problem(
                        "series/ndfeb_end_use.csv",
                        f"segments {value}",
                        f"unknown segments {unknown}; expected names from structure.yaml",
                    )
                )
    return out


REGION_SHARE_PREFIX = "regions."
REGION_SERIES_PARTS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "ev_car_sales": ("series/ev_car_sales.csv", "powertrain", ("BEV", "PHEV")),
    "wind_installations": ("series/wind_installations.csv", "location", ("onshore", "offshore")),
}


def _region_problems(structure: Structure, parameters: dict[str, Parameter], a: dict[str, Any]) -> list[Problem]:
    """Every segment names a regional split (and a part of a history split's series), regional shares
    lie in [0, 1], and no history year gives the named regions more than the world."""
    out: list[Problem] = []
    for name, seg in structure.segments.items():
        where = f"segments.{name}.region_split"
        split = structure.region_splits.get(str(seg.region_split))
        if seg.region_split is None or split is None:
            out.append(
                Problem(
                    "structure.yaml",
                    where,
                    f"got {seg.region_split!r}; expected one of {sorted(structure.region_splits)} (region_splits)",
                )
            )
            continue
        if split.method == "history":
            parts = (*REGION_SERIES_PARTS[str(split.series)][2], TOTAL)
            if seg.region_part not in parts:
                out.append(
                    Problem(
                        "structure.yaml",
                        f"segments.{name}.region_part",
                        f"got {seg.region_part!r}; expected one of {list(parts)} (the part of {split.series})",
                    )
                )
    for name, p in parameters.items():
        if name.startswith(REGION_SHARE_PREFIX) and p.unit == "fraction":
            for field, v in (
                ("high", p.high),
                *(("value" if p.value is not None else "trajectory", x) for x in p.points()),
            ):
                if not 0.0 <= v <= 1.0:
                    out.append(Problem("parameters.yaml", f"{name}.{field}", f"share {v:g} outside [0, 1]"))
                    break
    for series in sorted({str(s.series) for s in structure.region_splits.values() if s.method == "history"}):
        out.extend(_regional_history_problems(series, a.get(series)))
    return out


def _regional_history_problems(series: str, table: pd.DataFrame | None) -> list[Problem]:
    """China, Europe and the United States together at most the world, per year and part."""
    rel, part_col, _ = REGION_SERIES_PARTS[series]
    if table is None or table.empty:
        return []
    named = table[table["region"].isin(list(HISTORY_REGIONS))]
    world = table[table["region"] == "World"].set_index(["year", part_col])["value"]
    out = []
    for (year, part), grp in named.groupby(["year", part_col]):
        total = float(grp["value"].sum())
        w = world.get((year, part))  # a year the world gives as a total only has no share by part
        if w is not None and total > float(w) * (1 + REGION_SUM_TOLERANCE):
            regions = ", ".join(str(r) for r in grp["region"])
            # the row of the largest region, the likeliest to be wrong
            biggest = int(np.argmax(grp["value"].to_numpy()))
            line = int(grp[ROW_COLUMN].to_numpy()[biggest]) if ROW_COLUMN in grp.columns else None
            where = f"row {line}.value" if line is not None else f"{year} {part}"
            out.append(
                Problem(
                    rel,
                    where,
                    f"{regions} in {year} {part}: {total:g} > World {float(w):g}; "
                    "expected regional shares in [0, 1] that sum to at most 1",
                )
            )
    return out


class _AnySource(dict):
    """Stand-in when sources.yaml itself is unreadable: avoids one error per citation."""

    def __contains__(self, key: object) -> bool:
        return True


def load_assumptions(directory: str | Path) -> Assumptions:
    """Read and validate an assumptions directory; raise AssumptionsError listing every problem."""
    root = Path(directory)
    problems: list[Problem] = []
    if not root.is_dir():
        raise AssumptionsError([Problem(str(root), "directory", "not found; expected an assumptions directory")])
    raw_sources = _read_yaml(root, "sources.yaml", problems)
    raw_params = _read_yaml(root, "parameters.yaml", problems) or {}
    raw_structure = _read_yaml(root, "structure.yaml", problems)
    raw_model = _read_yaml(root, "model.yaml", problems)
    raw_scen = _read_yaml(root, "scenarios.yaml", problems) or {}

    a: dict[str, Any] = {
        "sources": _validate_map(raw_sources or {}, Source, "sources.yaml", problems),
        "_sources_unreadable": raw_sources is None,
        "parameters": _validate_map(raw_params, Parameter, "parameters.yaml", problems),
        "scenarios": _validate_map(raw_scen.get("scenarios") or {}, Scenario, "scenarios.yaml", problems),
    }
    for key, model_cls, rel in (("structure", Structure, "structure.yaml"), ("model", ModelConfig, "model.yaml")):
        raw = raw_structure if key == "structure" else raw_model
        if raw is None:
            continue
        try:
            a[key] = model_cls.model_validate(raw)
        except ValidationError as err:
            problems.extend(_pydantic_problems(rel, key, err))
    for spec in SERIES:
        a[spec.name] = _read_series(root, spec, problems)
    a["projects"] = _read_projects(root, problems)
    a["project_output"] = _read_output(root, a["projects"], problems)
    a["china_supply"] = _read_china(root, problems)
    _cross_check(a, problems)
    for spec in SERIES:
        a[spec.name] = a[spec.name].drop(columns=ROW_COLUMN, errors="ignore")
    if problems:
        raise AssumptionsError(problems)
    a.pop("_sources_unreadable")
    return Assumptions(**a)


def default_assumptions_dir() -> Path:
    """The bundled assumptions: package data of an installed wheel, else the checkout's ``assumptions/``."""
    here = Path(__file__).resolve().parent
    packaged = here / "assumptions"  # the build copies the top-level assumptions/ here
    return packaged if packaged.is_dir() else here.parent / "assumptions"
