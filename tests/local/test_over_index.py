"""The over-index tests: tails against SciPy, dispersion and false discovery control by simulation."""

import numpy as np
import pytest
from scipy.stats import binom

from micromarket.local.over_index import binomial_tails, dispersion, index_tests, leave_out_share
from micromarket.local.ranges import test_level as level_tests


def test_binomial_tails_match_scipy_on_whole_counts():
    rng = np.random.default_rng(0)
    n = rng.integers(1, 400, 500).astype(float)
    p = rng.uniform(0.01, 0.9, 500)
    x = np.floor(rng.uniform(0, 1, 500) * (n + 1))
    upper, lower = binomial_tails(x, n, p)
    assert np.allclose(upper, binom.sf(x - 1, n, p), rtol=1e-8, atol=1e-12)
    assert np.allclose(lower, binom.cdf(x, n, p), rtol=1e-8, atol=1e-12)


def test_dispersion_recovers_clumped_purchases():
    rng = np.random.default_rng(1)
    n = np.full(20_000, 400.0)
    p = rng.uniform(0.05, 0.3, n.size)
    assert dispersion(rng.binomial(400, p).astype(float), n * p, p) == pytest.approx(1.0, abs=0.08)
    # Lines bought in threes: three times the binomial variance.
    clumped = 3.0 * rng.binomial(400 // 3, p)
    assert dispersion(clumped, 3 * (400 // 3) * p, p) == pytest.approx(3.0, rel=0.1)


def _simulated_chain(rng, units=40, items=300, groups=15, effect=2.0, share=0.05):
    """Counts of a chain where a known ``share`` of cells sell ``effect`` times their group share."""
    group_of = np.sort(rng.integers(0, groups, items))
    weights = rng.lognormal(0, 0.6, items)
    truth = rng.random((units, items)) < share
    lines = np.zeros((units, items))
    sizes = rng.integers(2_000, 20_000, units)
    for u in range(units):
        w = weights * np.where(truth[u], effect, 1.0)
        for g in range(groups):
            members = group_of == g
            lines[u, members] = rng.multinomial(sizes[u] // groups, w[members] / w[members].sum())
    starts = np.searchsorted(group_of, np.arange(groups))
    return lines, group_of, starts, truth


def test_false_discoveries_stay_below_the_level_and_effects_are_found():
    rng = np.random.default_rng(2)
    proportions, found = [], []
    for _ in range(8):
        lines, group_of, starts, truth = _simulated_chain(rng)
        items = level_tests(lines, group_of, starts, fdr=0.05).items
        discovered = items.direction > 0
        proportions.append((discovered & ~truth).sum() / max(discovered.sum(), 1))
        found.append((discovered & truth).sum() / truth.sum())
    # BH controls the expected proportion at 5 %; eight runs keep the mean close to it.
    assert np.mean(proportions) <= 0.06
    assert np.mean(found) >= 0.4


def test_a_null_chain_gives_almost_no_discoveries_even_for_large_units():
    rng = np.random.default_rng(3)
    lines, group_of, starts, truth = _simulated_chain(rng, units=4, share=0.0)  # four big units, like clusters
    items = level_tests(lines, group_of, starts, fdr=0.05).items
    assert (items.direction != 0).sum() <= 2
    p = leave_out_share(lines, lines.sum(axis=1, keepdims=True), lines.sum(axis=0), lines.sum())
    # Ignoring the reference's own noise (one unit in four) would make the same data look eventful.
    naive = index_tests(lines, np.broadcast_to(lines.sum(axis=1, keepdims=True), lines.shape), p, 0.05, 1.0)
    assert np.nanmean(naive.p_value < 0.05) > np.nanmean(items.p_value < 0.05)
