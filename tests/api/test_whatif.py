"""The what-if panel's inputs are ordered by the version's sensitivity table."""

from __future__ import annotations

import pandas as pd

from api.whatif import WHAT_IF_INPUTS, sensitivity_order


def _table(rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"scenario": "base", "year": 2040, "output": "total", "name": n, "output_low": lo, "output_high": hi}
            for n, lo, hi in rows
        ]
    )


def test_a_shared_group_gives_its_swing_to_every_member_on_the_panel():
    members = [i.name for i in WHAT_IF_INPUTS if i.name.startswith("ev.motor_kg.")]
    assert len(members) >= 2
    table = _table([("ev.motor_kg.* (2 shared)", 100.0, 350.0), ("ev.pm_motor_share", 0.0, 10.0)])
    order = sensitivity_order(table, "base")
    assert all(order[m] == 250.0 for m in members)
    assert order["ev.pm_motor_share"] == 10.0


def test_only_the_scenario_year_and_output_asked_for_count():
    t = _table([("ev.pm_motor_share", 0.0, 10.0)])
    other = t.assign(year=2030, output_high=99.0)
    assert sensitivity_order(pd.concat([t, other], ignore_index=True), "base") == {"ev.pm_motor_share": 10.0}


def test_without_a_sensitivity_table_there_is_no_order():
    assert sensitivity_order(None, "base") == {}
