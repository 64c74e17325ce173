"""End-of-life stock model: mass balance and the limits of recycling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from forecast.recycling import eol_outflow, in_use_stock, lifetime_pmf, recycled_t, scrap_recycled_t

inflows = st.lists(st.floats(0, 1e6), min_size=1, max_size=60)


@given(mean=st.floats(1, 30), sd=st.floats(0.5, 10))
def test_lifetime_distribution_sums_to_at_most_one(mean, sd):
    pmf = lifetime_pmf(mean, sd, 200)
    assert (pmf >= 0).all()
    assert pmf.sum() == pytest.approx(1.0, abs=1e-6)


@given(inflow=inflows, mean=st.floats(1, 30), sd=st.floats(0.5, 10))
def test_outflow_never_exceeds_what_went_in(inflow, mean, sd):
    x = np.array(inflow)
    out = eol_outflow(x, mean, sd)
    assert (np.cumsum(out) <= np.cumsum(x) * (1 + 1e-9) + 1e-6).all()
    assert (in_use_stock(x, out) >= -1e-6).all()


@given(inflow=inflows, c=st.floats(0, 1), r=st.floats(0, 1))
def test_recycling_cannot_exceed_the_stock_reaching_end_of_life(inflow, c, r):
    x = np.array(inflow)
    eol = eol_outflow(x, 10, 3)
    rec = recycled_t(eol, np.full(eol.shape, c), np.full(eol.shape, r))
    assert (rec <= eol + 1e-9).all()


def test_a_single_cohort_leaves_around_its_mean_lifetime():
    x = np.zeros(40)
    x[0] = 100.0
    out = eol_outflow(x, 10, 1)
    assert out.argmax() == 10
    assert out.sum() == pytest.approx(100.0, rel=1e-6)


def test_scrap_is_the_alloy_lost_in_manufacturing():
    s = scrap_recycled_t(np.array([75.0]), np.array([0.75]), np.array([1.0]))
    assert s[0] == pytest.approx(25.0)
