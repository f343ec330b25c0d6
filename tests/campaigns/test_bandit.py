"""Thompson sampling between message variants in waves, and its inverse-propensity measurement."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from micromarket.campaigns.bandit import (allocation, assign_wave, ipw_rate, posterior, probability_best,
                                          simulate)
from micromarket.exceptions import MicromarketError

RATES = [0.02, 0.03, 0.05]
WAVES = [4_000] * 5
FLOOR = 0.05
SEEDS = range(20)


@pytest.fixture(scope="module")
def runs():
    """The bandit and the even split on the same customers, over 20 seeds."""
    return [simulate(RATES, WAVES, floor=FLOOR, seed=seed) for seed in SEEDS]


# -- the model and the allocation ---------------------------------------------------------
def test_posterior_is_beta_one_plus_successes_one_plus_failures():
    alpha, beta = posterior([3, 0, 7], [10, 0, 7])
    assert alpha.tolist() == [4, 1, 8] and beta.tolist() == [8, 1, 1]


def _probability_best_by_quadrature(successes, trials):
    """A plain reference: P(j best) = integral of f_j(x) prod_{i != j} F_i(x) dx."""
    alpha, beta = posterior(successes, trials)
    out = []
    for j in range(len(alpha)):
        others = [i for i in range(len(alpha)) if i != j]
        density = lambda x, j=j, others=others: stats.beta.pdf(x, alpha[j], beta[j]) * np.prod(  # noqa: E731
            [stats.beta.cdf(x, alpha[i], beta[i]) for i in others])
        out.append(integrate.quad(density, 0, 1, limit=200, points=[0.01, 0.05, 0.1, 0.2])[0])
    return np.array(out)


def test_probability_best_matches_numerical_integration():
    successes, trials = [3, 5, 8], [100, 100, 90]
    draws = 40_000
    estimate = probability_best(successes, trials, draws=draws, seed=4)
    exact = _probability_best_by_quadrature(successes, trials)
    assert exact.sum() == pytest.approx(1, abs=1e-6)
    assert np.abs(estimate - exact).max() < 4 * np.sqrt(0.25 / draws)


def test_identical_variants_get_identical_shares_and_a_first_wave_is_even():
    assert allocation([0, 0, 0, 0], [0, 0, 0, 0], floor=0.1).tolist() == [0.25] * 4
    p = allocation([5, 5, 9], [100, 100, 100], floor=0.0, seed=2)
    assert p[0] == p[1] and p[2] > p[0]


@pytest.mark.parametrize("floor", [0.0, 0.05, 0.2, 1 / 3])
def test_allocation_sums_to_one_and_keeps_the_floor(floor):
    p = allocation([10, 30, 80], [2000, 2000, 2000], floor=floor, seed=0)
    assert p.sum() == pytest.approx(1, abs=1e-12)
    assert p.min() >= floor - 1e-12
    if floor == 1 / 3:
        assert p == pytest.approx([1 / 3] * 3)


def test_allocation_is_deterministic_given_the_seed():
    counts = ([12, 15, 14], [500, 500, 500])
    assert allocation(*counts, floor=0.05, seed=(9, 3)).tolist() == allocation(*counts, floor=0.05, seed=(9, 3)).tolist()
    assert allocation(*counts, floor=0.05, seed=(9, 3)).tolist() != allocation(*counts, floor=0.05, seed=(9, 4)).tolist()


@pytest.mark.parametrize(("successes", "trials", "floor", "message"), [
    ([1, 2, 3], [10, 10, 10], 0.34, "floor=0.34"),
    ([1, 2], [10, 10], -0.1, "floor=-0.1"),
    ([1, 2], [10, 10], float("nan"), "floor=nan"),
    ([-1, 2], [10, 10], 0.1, ">= 0"),
    ([1, 2], [10, -10], 0.1, ">= 0"),
    ([11, 2], [10, 10], 0.1, "more successes than trials"),
    ([1], [10], 0.1, "two variants or more"),
    ([], [], 0.1, "two variants or more"),
    ([1, 2], [10, 10, 10], 0.1, "shapes"),
])
def test_allocation_refuses_bad_input(successes, trials, floor, message):
    with pytest.raises(MicromarketError, match=message) as caught:
        allocation(successes, trials, floor=floor)
    assert isinstance(caught.value, ValueError)


def test_probability_best_refuses_zero_draws():
    with pytest.raises(ValueError, match="draws=0"):
        probability_best([1, 2], [10, 10], draws=0)


# -- assignment ------------------------------------------------------------------------------
IDS = np.array([f"C{i:06d}" for i in range(30_000)])


def test_assign_wave_records_the_wave_allocation_and_realises_it():
    p = np.array([0.1, 0.3, 0.6])
    chosen, probability = assign_wave(IDS, p, seed=42, wave=3)
    assert (probability == p[chosen]).all()
    shares = np.bincount(chosen, minlength=3) / len(IDS)
    assert np.abs(shares - p).max() < 4 * np.sqrt(0.25 / len(IDS))


def test_assign_wave_is_deterministic_order_free_and_new_each_wave():
    p = [0.5, 0.5]
    chosen, _ = assign_wave(IDS, p, seed=1, wave=1)
    assert chosen.tolist() == assign_wave(IDS, p, seed=1, wave=1)[0].tolist()
    order = np.random.default_rng(0).permutation(len(IDS))
    assert assign_wave(IDS[order], p, seed=1, wave=1)[0].tolist() == chosen[order].tolist()
    # Waves and seeds draw anew: about half the customers change variant.
    assert 0.45 < (assign_wave(IDS, p, seed=1, wave=2)[0] != chosen).mean() < 0.55
    assert 0.45 < (assign_wave(IDS, p, seed=2, wave=1)[0] != chosen).mean() < 0.55


def test_a_variant_with_no_share_is_never_chosen():
    chosen, _ = assign_wave(IDS[:5000], [0.0, 1.0, 0.0], seed=3, wave=1)
    assert set(chosen.tolist()) == {1}


def test_assign_wave_hash_is_the_engines_bucket():
    """The integration can draw a wave on the engine: the same digest as the holdout's bucket."""
    import ibis

    from micromarket.campaigns.audience import bucket, threshold

    ids = IDS[:200]
    table = ibis.memtable({"customer_id": ids.tolist()})
    first = bucket("bandit:17:2", table.customer_id) < threshold(0.3)
    engine = ibis.duckdb.connect().execute(table.mutate(first=first).order_by("customer_id"))
    chosen, _ = assign_wave(ids, [0.3, 0.7], seed=17, wave=2)
    assert engine["first"].tolist() == (chosen == 0).tolist()


@pytest.mark.parametrize(("probabilities", "wave", "message"), [
    ([0.5, 0.6], 1, "summing to 1"),
    ([-0.1, 1.1], 1, "summing to 1"),
    ([1.0], 1, "two variants or more"),
    ([0.5, 0.5], 0, "wave=0"),
])
def test_assign_wave_refuses_bad_input(probabilities, wave, message):
    with pytest.raises(ValueError, match=message):
        assign_wave(["C1"], probabilities, seed=1, wave=wave)


# -- the simulation: the bandit against an even split ------------------------------------------
def test_the_best_variant_gets_most_of_the_later_waves(runs):
    for run in runs:
        assert run["best_share"][2:].min() > 0.5
    assert np.mean([run["best_share"][-1] for run in runs]) > 0.8


def test_regret_is_below_the_even_splits(runs):
    bandit = np.array([run["regret"][-1] for run in runs])
    even = np.array([run["even_regret"][-1] for run in runs])
    assert bandit.mean() < even.mean()
    assert (bandit < even).sum() >= 18
    # The even split's expected regret: every customer loses 0.05 - mean(RATES) on average.
    assert even.mean() == pytest.approx(sum(WAVES) * (max(RATES) - np.mean(RATES)), rel=0.05)


def test_every_wave_keeps_the_floor_sums_to_one_and_records_its_allocation(runs):
    for run in runs:
        allocations = run["allocations"]
        assert allocations.min() >= FLOOR - 1e-12
        assert allocations.sum(axis=1) == pytest.approx(np.ones(len(WAVES)), abs=1e-12)
        assert (run["probability"] == allocations[run["wave"] - 1, run["chosen"]]).all()
        assert run["counts"].sum(axis=1).tolist() == WAVES


def test_simulate_is_deterministic_given_the_seed(runs):
    again = simulate(RATES, WAVES, floor=FLOOR, seed=0)
    for key, value in runs[0].items():
        assert np.array_equal(again[key], value), key


def test_simulate_refuses_bad_input():
    with pytest.raises(ValueError, match="wave_sizes"):
        simulate(RATES, [100, 0], floor=FLOOR, seed=0)
    with pytest.raises(ValueError, match="rates"):
        simulate([0.1], [100], floor=FLOOR, seed=0)
    with pytest.raises(ValueError, match="rates"):
        simulate([0.1, 1.2], [100], floor=FLOOR, seed=0)
    with pytest.raises(ValueError, match="seed=-1"):
        simulate(RATES, [100], floor=FLOOR, seed=-1)


# -- measurement: inverse propensity weighting ------------------------------------------------
def test_ipw_rate_is_unbiased_where_the_per_variant_mean_is_not():
    """A population that drifts (each wave's rates half-way lower than the one before) under an
    allocation that moves to the best variant: its plain mean is a mean over later, worse waves,
    the others' over earlier, better ones. Weighting by 1/p recovers every variant's rate over
    all the customers, within sampling error over repeated campaigns."""
    drift = np.array([2.0, 1.5, 1.0, 0.75, 0.5])
    rates = np.outer(drift, RATES)
    sizes = [2_000] * 5
    truth = rates.mean(axis=0)  # equal waves: each variant's rate over all customers
    repeats = 50
    ipw, hajek, naive = [], [], []
    for seed in range(repeats):
        run = simulate(rates, sizes, floor=FLOOR, seed=seed, draws=2_000)
        ipw.append(ipw_rate(run["response"], run["chosen"], run["probability"], k=3))
        hajek.append(ipw_rate(run["response"], run["chosen"], run["probability"], k=3, normalised=True))
        naive.append(run["successes"].sum(axis=0) / run["counts"].sum(axis=0))

    def z(estimates):
        estimates = np.array(estimates)
        return (estimates.mean(axis=0) - truth) / (estimates.std(axis=0, ddof=1) / np.sqrt(repeats))

    assert np.abs(z(ipw)).max() < 4
    assert np.abs(z(hajek)).max() < 4
    naive_z = z(naive)
    assert naive_z[2] < -8 and naive_z[0] > 8  # the best variant under-, the worst over-estimated


def test_ipw_rate_by_hand():
    responses, chosen, probability = [1, 0, 1, 1, 0], [0, 0, 1, 1, 2], [0.5, 0.5, 0.2, 0.2, 0.3]
    assert ipw_rate(responses, chosen, probability, k=3) == pytest.approx([2 / 5, 10 / 5, 0])
    assert ipw_rate(responses, chosen, probability, k=3, normalised=True) == pytest.approx([0.5, 1.0, 0.0])
    assert np.isnan(ipw_rate([1, 0], [0, 0], [0.5, 0.5], k=2, normalised=True)[1])


@pytest.mark.parametrize(("responses", "chosen", "probabilities", "k", "message"), [
    ([1, 0], [0, 1], [0.5, 0.0], 2, "keep a floor above 0"),
    ([1, 0], [0, 1], [0.5, 1.5], 2, r"\(0, 1\]"),
    ([1, 0], [0, 2], [0.5, 0.5], 2, "indices in 0..1"),
    ([1, 0], [0, 1], [0.5], 2, "one length"),
    ([1, 0], [0, 1], [0.5, 0.5], 1, "two variants or more"),
    ([], [], [], 2, "no customers"),
])
def test_ipw_rate_refuses_bad_input(responses, chosen, probabilities, k, message):
    with pytest.raises(ValueError, match=message):
        ipw_rate(responses, np.asarray(chosen, dtype=np.int64), probabilities, k=k)


def test_the_how_to_example_runs():
    """docs/how-to/bandits.md: its Python example runs as written."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "how-to" / "bandits.md").read_text()
    blocks = [block.split("```", 1)[0] for block in text.split("```python\n")[1:]]
    assert blocks
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, "bandits.md", "exec"), namespace)  # noqa: S102
    assert namespace["shares"].sum() == pytest.approx(1) and namespace["shares"].argmax() == 2
    assert len(namespace["rates"]) == 3
