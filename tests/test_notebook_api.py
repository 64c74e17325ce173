"""The Python API returns the service's tables, and the example notebook runs from top to bottom."""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbclient import NotebookClient

import magnet_forecast as mf
from forecast.model import DEMAND_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "workbench.ipynb"
NOTEBOOK_TIMEOUT_S = 1800  # the first cell may fit the driver models when the cache is cold


def test_demand_is_the_tidy_table_on_one_basis(assumptions_fitted, calibration_fitted):
    d = mf.demand(scenario="high", basis="alloy", start=2030, end=2031)
    assert list(d.columns) == DEMAND_COLUMNS
    assert set(d["basis"]) == {"alloy", "oxide"}
    assert set(d["scenario"]) == {"high"}
    assert set(d["year"]) == {2030, 2031}
    blank = mf.demand(scenario="high", basis="blank", start=2030, end=2031)
    magnet = lambda t: t[t["unit"] == "t_magnet"]["value"].sum()  # noqa: E731
    assert magnet(d) > magnet(blank)  # alloy = blank / sintering yield


def test_demand_matches_the_model_the_service_serves(assumptions_fitted, calibration_fitted):
    from forecast.model import forecast_scenario

    expected = forecast_scenario(assumptions_fitted, "base", calibration_fitted.calibrated)
    expected = expected[expected["basis"].isin(["finished", "oxide"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(mf.demand(), expected)


def test_gap_and_balance_filters_and_identity():
    g = mf.gap(chain="china_free", region="ex_china", stage="chain", material="NdFeB", start=2040, end=2040)
    assert len(g) == 1
    assert g["gap_t"].iloc[0] == pytest.approx(g["demand_t"].iloc[0] - g["supply_risked_t"].iloc[0])
    b = mf.balance(material="NdPr", start=2030, end=2035)
    total = b["china_t"] + b["rest_of_world_t"] + b["recycled_t"] + b["deficit_t"]
    assert np.allclose(total, b["demand_t"])


def test_tables_of_record_and_errors():
    assert {"year", "model_t", "published_t", "error"} <= set(mf.hindcast().columns)
    assert {"series", "model", "mase"} <= set(mf.backtest().columns)
    assert mf.calibration()["target_ratio"] > 1
    assert mf.sources()["url"].str.startswith(("http", "assumptions/")).all()
    assert "ev.motor_kg.BEV" in set(mf.parameters()["name"])
    with pytest.raises(ValueError, match="horizon"):
        mf.demand(start=1990)
    with pytest.raises(KeyError, match="unknown scenario"):
        mf.demand(scenario="nope")


def test_load_assumptions_reads_another_directory(assumptions_copy):
    a = mf.load_assumptions(assumptions_copy)
    assert mf.version(a) == mf.version()


def test_sensitivity_ranks_every_input_by_its_swing_in_the_year_asked():
    s = mf.sensitivity(year=2040, output="NdPr")
    assert {"name", "unit", "low_value", "high_value", "output_low", "output_high", "S1", "ST"} <= set(s.columns)
    assert set(s["year"]) == {2040}
    assert set(s["output"]) == {"NdPr"}
    swing = (s["output_high"] - s["output_low"]).abs().to_numpy()
    assert len(swing) > 10
    assert (swing >= 0).all()


def test_example_notebook_runs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    resources = {"metadata": {"path": ROOT}}
    client = NotebookClient(nb, timeout=NOTEBOOK_TIMEOUT_S, kernel_name="python3", resources=resources)
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "assumptions version" in text
    assert "MAPE" in text
