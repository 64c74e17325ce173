"""Rendering tables as JSON or spreadsheet-safe CSV, with version-tied ETags."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import pandas as pd

FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A text cell that a spreadsheet could run as a formula gets a leading apostrophe (OWASP)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralised(df: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells (and column names) a spreadsheet cannot run; every CSV written goes through it."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(safe_cell)
    out.columns = [safe_cell(c) for c in out.columns]
    return out


def to_csv_bytes(df: pd.DataFrame, version: str) -> bytes:
    """CSV with an assumptions_version column; text cells neutralised against formula injection."""
    out = neutralised(df)
    out.insert(0, "assumptions_version", version)
    buf = io.StringIO()
    out.to_csv(buf, index=False)
    return buf.getvalue().encode()


def to_json_bytes(version: str, records: pd.DataFrame, **extra: Any) -> bytes:
    """{"assumptions_version": ..., <extra>, "records": [...]} without per-row Python objects."""
    head = {"assumptions_version": version, **extra}
    prefix = json.dumps(head)[:-1]
    body = records.to_json(orient="records", double_precision=10)
    return f'{prefix}, "records": {body}}}'.encode()


def etag(version: str, *parts: str) -> str:
    """Weak ETag tied to the assumptions version and the request's normalized parameters."""
    h = hashlib.sha256("|".join((version, *parts)).encode()).hexdigest()[:20]
    return f'W/"{version}-{h}"'
