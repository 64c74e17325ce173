"""End-of-life stock model: magnets leave use after a normally distributed lifetime.

A lifetime-convolution (inflow-driven) dynamic stock model, the same survival method as flodym's
DynamicStockModel, written as one numpy convolution per segment so that it vectorises and tests
against closed forms.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm


def lifetime_pmf(mean_years: float, sd_years: float, n_years: int) -> np.ndarray:
    """Probability that a product leaves use at age 0, 1, ..., n-1 years [-] (normal, truncated at 0).

    Mass below age 0.5 is assigned to age 0; the tail beyond n-1 years stays in use.
    """
    edges = np.arange(n_years + 1) - 0.5
    cdf = norm.cdf(edges, loc=mean_years, scale=sd_years)
    pmf = np.diff(cdf)
    pmf[0] += cdf[0]  # negative lifetimes are not possible: count them at age 0
    return pmf


def eol_outflow(inflow: np.ndarray, mean_years: float, sd_years: float) -> np.ndarray:
    """Products reaching end of life each year [same unit as inflow], from yearly inflows."""
    pmf = lifetime_pmf(mean_years, sd_years, len(inflow))
    return np.convolve(inflow, pmf)[: len(inflow)]


def in_use_stock(inflow: np.ndarray, outflow: np.ndarray) -> np.ndarray:
    """Stock in use at the end of each year = cumulative inflow - cumulative outflow."""
    return np.cumsum(inflow) - np.cumsum(outflow)


def recycled_t(eol_t: np.ndarray, collection_rate: np.ndarray, recovery_yield: np.ndarray) -> np.ndarray:
    """Secondary magnet-equivalent from end-of-life products [t/yr] = EOL x collected share x recovery."""
    return eol_t * collection_rate * recovery_yield


def scrap_recycled_t(
    magnet_output_t: np.ndarray, magnet_yield: np.ndarray, scrap_recovery_rate: np.ndarray
) -> np.ndarray:
    """Manufacturing scrap returned [t/yr]: output / yield - output is the alloy lost as swarf."""
    return magnet_output_t * (1.0 / magnet_yield - 1.0) * scrap_recovery_rate
