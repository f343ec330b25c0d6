"""The offer optimiser: exact on small problems, constraints always kept, and a plan from
estimated uplift close to the oracle's and above the usual targeting rules."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import HistGradientBoostingClassifier

from micromarket.offers import optimise
from micromarket.uplift import XLearner


def brute_force(profit, cost, budget, eligible, channel_of=None, capacity=None):
    best = 0.0
    n, k = profit.shape
    for choice in itertools.product(range(-1, k), repeat=n):
        chosen = [(i, j) for i, j in enumerate(choice) if j >= 0]
        if any(not eligible[i, j] for i, j in chosen) or sum(cost[i, j] for i, j in chosen) > budget + 1e-9:
            continue
        if capacity and any(sum(channel_of[j] == c for _, j in chosen) > cap for c, cap in capacity.items()):
            continue
        best = max(best, sum(profit[i, j] for i, j in chosen))
    return best


def check_constraints(plan, profit, cost, budget, eligible, channel_of=None, capacity=None):
    chosen = np.flatnonzero(plan.offer >= 0)
    assert plan.cost <= budget + 1e-6
    assert eligible[chosen, plan.offer[chosen]].all() and (profit[chosen, plan.offer[chosen]] > 0).all()
    for c, cap in (capacity or {}).items():
        assert (channel_of[plan.offer[chosen]] == c).sum() <= cap


problems = st.tuples(st.integers(1, 5), st.integers(1, 3), st.integers(0, 10_000)).map(
    lambda a: _problem(*a))


def _problem(n, k, seed):
    rng = np.random.default_rng(seed)
    profit = np.round(rng.normal(2, 3, (n, k)), 2)
    cost = np.round(rng.uniform(0, 4, (n, k)), 2)
    eligible = rng.random((n, k)) < 0.8
    return profit, cost, float(np.round(rng.uniform(0, 8), 2)), eligible, rng.integers(0, 2, k), {0: int(rng.integers(0, 3))}


@settings(max_examples=150, deadline=None)
@given(problems)
def test_both_solvers_keep_every_constraint_and_the_milp_is_optimal(problem):
    profit, cost, budget, eligible, channel_of, capacity = problem
    exact = optimise(profit, cost, budget, eligible=eligible, solver="milp")
    check_constraints(exact, profit, cost, budget, eligible)
    assert exact.profit == pytest.approx(brute_force(profit, cost, budget, eligible), abs=1e-6)
    fast = optimise(profit, cost, budget, eligible=eligible, solver="lagrange")
    check_constraints(fast, profit, cost, budget, eligible)
    # Within one customer's profit of the optimum (the relaxation's single fractional customer).
    assert fast.profit >= exact.profit - profit.max(initial=0) - 1e-9
    capped = optimise(profit, cost, budget, eligible=eligible, channel_of=channel_of, capacity=capacity)
    check_constraints(capped, profit, cost, budget, eligible, channel_of, capacity)
    assert capped.solver == "milp"
    assert capped.profit == pytest.approx(brute_force(profit, cost, budget, eligible, channel_of, capacity), abs=1e-6)


def test_the_fast_path_is_near_exact_on_a_large_problem():
    rng = np.random.default_rng(3)
    profit = rng.normal(1, 2, (3_000, 4))
    cost = rng.uniform(0.5, 3, (3_000, 4))
    fast = optimise(profit, cost, 800.0)
    exact = optimise(profit, cost, 800.0, solver="milp")
    assert fast.cost <= 800 and fast.profit >= 0.999 * exact.profit


def campaign(n, rng):
    """Customers with known effects of two offers (an e-mail and a costlier discount)."""
    X = rng.normal(size=(n, 5))
    base = 1 / (1 + np.exp(-(-1.5 + 0.8 * X[:, 0])))
    effect = np.column_stack([0.12 * (X[:, 1] > 0.3) - 0.04 * (X[:, 2] > 1),
                              0.25 * (X[:, 3] > 0.5) + 0.05 * (X[:, 1] > 0.3)])
    return X, base, effect


def test_a_plan_from_estimated_uplift_earns_nearly_the_oracles_profit_and_beats_the_rules():
    rng = np.random.default_rng(4)
    margin, cost = 40.0, np.array([0.5, 6.0])  # value of a purchase; e-mail vs discount cost
    # Learn each offer's uplift from a past randomised campaign (control, e-mail, discount).
    X, base, effect = campaign(60_000, rng)
    arm = rng.integers(0, 3, len(X))
    p = base + np.where(arm > 0, effect[np.arange(len(X)), np.maximum(arm - 1, 0)], 0)
    y = (rng.random(len(X)) < np.clip(p, 0, 1)).astype(int)
    model = XLearner(HistGradientBoostingClassifier(max_iter=80, random_state=0), control=0).fit(X, y, arm)
    # Plan for new customers under a budget that reaches a fraction of them.
    X_new, base_new, true_effect = campaign(20_000, rng)
    estimated = model.predict(X_new)
    budget = 12_000.0
    true_profit = true_effect * margin - cost
    plan = optimise(estimated * margin - cost, cost, budget)
    oracle = optimise(true_profit, cost, budget)
    earned = lambda offer: float(true_profit[np.flatnonzero(offer >= 0), offer[offer >= 0]].sum())  # noqa: E731
    assert earned(plan.offer) >= 0.95 * earned(oracle.offer)
    assert plan.cost <= budget

    def within_budget(order, offer_of):
        offer, spent = np.full(len(X_new), -1), 0.0
        for i in order:
            if spent + cost[offer_of[i]] <= budget:
                offer[i], spent = offer_of[i], spent + cost[offer_of[i]]
        return offer

    best_estimate = estimated.argmax(axis=1)
    rules = {
        "everyone, the e-mail, until the budget runs out": within_budget(rng.permutation(len(X_new)), np.zeros(len(X_new), int)),
        "random customers, random offers": within_budget(rng.permutation(len(X_new)), rng.integers(0, 2, len(X_new))),
        "by propensity to buy": within_budget(np.argsort(-base_new), best_estimate),
        "uplift above zero, highest first": within_budget(
            [i for i in np.argsort(-estimated.max(axis=1)) if estimated[i].max() > 0], best_estimate),
    }
    for name, offer in rules.items():
        assert earned(plan.offer) > earned(offer), name


def test_bad_input():
    with pytest.raises(ValueError, match="budget"):
        optimise(np.ones((2, 2)), np.ones(2), -1)
    with pytest.raises(ValueError, match="channel_of"):
        optimise(np.ones((2, 2)), np.ones(2), 1, capacity={"email": 1})
    with pytest.raises(ValueError, match="single budget"):
        optimise(np.ones((2, 2)), np.ones(2), 1, channel_of=np.array([0, 1]), capacity={0: 1}, solver="lagrange")
    with pytest.raises(ValueError, match="finite"):
        optimise(np.array([[np.nan]]), np.ones(1), 1)
