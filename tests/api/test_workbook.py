"""The workbook writer: numbers stay numbers, text that looks like a formula is neutralised."""

from __future__ import annotations

import io

import numpy as np
import openpyxl
import pandas as pd
import xlsxwriter

from api.workbook import HEADER_FORMAT, _Sheet


def _roundtrip(df: pd.DataFrame):
    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"in_memory": True, "constant_memory": True, "strings_to_formulas": False})
    sheet = _Sheet(book, "t", book.add_format(HEADER_FORMAT))
    sheet.write_table(df)
    sheet.finish()
    book.close()
    return openpyxl.load_workbook(io.BytesIO(buf.getvalue()))["t"]


def test_numbers_are_numbers_and_missing_values_are_blank():
    ws = _roundtrip(pd.DataFrame({"year": [2030, 2040], "value": [1.5, np.nan], "flag": [True, False]}))
    assert [c.value for c in ws[1]] == ["year", "value", "flag"]
    assert ws["A2"].data_type == "n"
    assert ws["A2"].value == 2030
    assert ws["B2"].value == 1.5
    assert ws["B3"].value is None
    assert ws["C2"].value in ("True", True)


def test_formula_like_text_is_written_as_inert_text():
    hostile = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "plain"]
    ws = _roundtrip(pd.DataFrame({"name": hostile}))
    values = [ws.cell(row=i + 2, column=1) for i in range(len(hostile))]
    assert all(c.data_type == "s" for c in values)
    assert [c.value for c in values] == ["'" + h for h in hostile[:4]] + ["plain"]


def test_a_formula_like_header_is_neutralised_too():
    ws = _roundtrip(pd.DataFrame({"=cmd": [1.0]}))
    assert ws["A1"].value == "'=cmd"
    assert ws["A1"].data_type == "s"
