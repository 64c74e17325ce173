"""Plausibility checks of a new assumptions version against the active one."""

from __future__ import annotations

import pandas as pd

from forecast.sanity import SanityRules, check


def _with_wind(a, rows: list[tuple]) -> object:
    extra = pd.DataFrame(rows, columns=["year", "region", "location", "value", "unit", "source", "note"])
    return a.model_copy(update={"wind_installations": pd.concat([a.wind_installations, extra], ignore_index=True)})


def test_a_new_jump_in_an_existing_series_is_rejected(assumptions):
    w = assumptions.wind_installations.copy()
    w.loc[(w["year"] == 2024) & (w["region"] == "World") & (w["location"] == "onshore"), "value"] = 1090.0
    report = check(assumptions, assumptions.model_copy(update={"wind_installations": w}), SanityRules())
    assert any("World/onshore jumps by more than x5.0 in 2024" in e for e in report.errors)


def test_a_series_new_in_this_version_is_noted_not_judged_by_its_jumps(assumptions):
    """A new series has no earlier version to compare with: early tiny values may jump a lot."""
    new = _with_wind(
        assumptions,
        [
            (2010, "India", "total", 0.01, "GW", "gwec_2010_stats", None),
            (2011, "India", "total", 3.0, "GW", "gwec_2010_stats", None),
        ],
    )
    report = check(assumptions, new, SanityRules())
    assert not any("India" in e for e in report.errors)
    assert "wind_installations: India/total is a new series" in report.warnings


def test_the_same_version_raises_nothing(assumptions):
    report = check(assumptions, assumptions, SanityRules())
    assert report.errors == []
    assert report.warnings == []
