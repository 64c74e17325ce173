"""Long tables built column by column: one row per key and year, label columns as pandas strings.

Building a long table from many small frames, or converting one Python string per row, costs more
than the model run it reports; these helpers build each column once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionArray


def repeated_labels(labels: Sequence[str], n: int) -> ExtensionArray:
    """Each label repeated n times, as a pandas string column (the distinct strings converted once)."""
    return pd.array(list(labels), dtype="str").take(np.repeat(np.arange(len(labels)), n))


def long_table(
    years: np.ndarray,
    columns: Sequence[str],
    keys: Sequence[tuple[str, ...]],
    values: Sequence[np.ndarray],
    value_column: str = "value",
) -> pd.DataFrame:
    """year, one label column per key position, and ``value_column``: key by key, years within a key.

    ``values[i]`` is the (years,) array of ``keys[i]`` (a scalar or shorter array is broadcast).
    """
    n = len(years)
    frame: dict[str, object] = {"year": np.tile(years, len(keys))}
    for i, col in enumerate(columns):
        frame[col] = repeated_labels([k[i] for k in keys], n)
    arrays = [v if np.shape(v) == (n,) else np.broadcast_to(v, (n,)) for v in values]
    frame[value_column] = np.concatenate(arrays).astype(float) if arrays else np.array([], dtype=float)
    return pd.DataFrame(frame)


def year_positions(years: np.ndarray, row_years: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's column among ``years`` (increasing and distinct) and whether its year is one of them."""
    ys = np.asarray(years)
    if len(ys) > 1 and not (np.diff(ys) > 0).all():
        raise ValueError(f"years must be increasing and distinct, got {ys.tolist()}")
    rows = np.asarray(row_years)
    if len(ys) == 0:
        return np.zeros(len(rows), dtype=int), np.zeros(len(rows), dtype=bool)
    pos = np.clip(np.searchsorted(ys, rows), 0, len(ys) - 1)
    return pos, ys[pos] == rows
