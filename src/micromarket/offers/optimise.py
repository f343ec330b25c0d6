"""Who gets which offer: at most one offer per customer, maximising total expected incremental
profit under a budget, channel capacities, contact caps and consent.

The problem is a multiple-choice knapsack. Each (customer, offer) pair has an expected
incremental profit (uplift x margin - contact cost - discount cost) and a cost against the
budget; pairs a customer may not receive (no consent for the offer's channel, contact cap
reached) are marked ineligible. Pairs with no positive profit are never chosen: leaving a
customer alone is always allowed and earns nothing.

Two solvers:

- ``"lagrange"`` (a single budget, no channel capacities): the budget is priced at ``lam`` and
  each customer takes the offer with the best ``profit - lam * cost`` if it is positive; ``lam``
  is found by bisection so that the plan fits the budget, and the budget left over is then
  filled greedily. Its plan is within one customer's profit of the optimum (the linear
  relaxation is solved exactly by the best ``lam``, and its solution has at most one
  fractional customer), at the cost of a few passes over the arrays: millions of customers in
  seconds.
- ``"milp"``: the exact integer programme with ``scipy.optimize.milp`` (HiGHS), for channel
  capacities or a proof of optimality.

``"auto"`` takes the Lagrangian path when there are no capacities and the MILP otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import LinearConstraint, milp
from scipy.sparse import csr_matrix, vstack

#: Bisection steps for the budget's price: enough to pin it to double precision.
BISECTION_STEPS = 100


@dataclass
class Plan:
    """An assignment and its totals."""

    offer: np.ndarray  # per customer: the offer's column, -1 for none
    profit: float
    cost: float
    solver: str


def _checked(profit, cost, eligible) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    profit = np.atleast_2d(np.asarray(profit, dtype=float))
    cost = np.broadcast_to(np.asarray(cost, dtype=float), profit.shape)
    eligible = np.ones(profit.shape, bool) if eligible is None else np.broadcast_to(np.asarray(eligible, bool), profit.shape)
    if (cost < 0).any() or not np.isfinite(profit).all() or not np.isfinite(cost).all():
        raise ValueError("profits must be finite and costs finite and >= 0")
    return profit, cost, eligible & (profit > 0)


def optimise(profit, cost, budget: float, *, eligible=None, channel_of=None, capacity: dict | None = None,
             solver: str = "auto") -> Plan:
    """Choose at most one offer per customer (see the module).

    Parameters
    ----------
    profit : array (customers, offers)
        Expected incremental profit of each pair.
    cost : array (customers, offers) or (offers,)
        What each pair spends of the budget (contact and discount costs).
    budget : float
        Total that may be spent (``numpy.inf``: no limit).
    eligible : bool array, optional
        Pairs that may be chosen (consent, contact caps); default all.
    channel_of : array (offers,), optional
        Each offer's channel, for ``capacity``.
    capacity : dict, optional
        Channel -> most contacts through it.
    solver : "auto", "lagrange" or "milp"
    """
    if budget < 0:
        raise ValueError(f"budget = {budget}: must be >= 0")
    profit, cost, usable = _checked(profit, cost, eligible)
    if capacity and channel_of is None:
        raise ValueError("channel capacities need channel_of (each offer's channel)")
    method = solver if solver != "auto" else ("milp" if capacity else "lagrange")
    if method == "lagrange" and capacity:
        raise ValueError("the Lagrangian path handles a single budget: use solver='milp' for channel capacities")
    offer = _lagrange(profit, cost, usable, budget) if method == "lagrange" else \
        _milp(profit, cost, usable, budget, np.asarray(channel_of) if capacity else None, capacity or {})
    rows = np.flatnonzero(offer >= 0)
    return Plan(offer, float(profit[rows, offer[rows]].sum()), float(cost[rows, offer[rows]].sum()), method)


def _best_at(profit, cost, usable, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's best offer when the budget costs ``lam`` per unit (-1: none pays)."""
    value = np.where(usable, profit - lam * cost, -np.inf)
    best = value.argmax(axis=1)
    chosen = value[np.arange(len(best)), best] > 0
    return np.where(chosen, best, -1), chosen


def _spend(offer, cost) -> float:
    rows = np.flatnonzero(offer >= 0)
    return float(cost[rows, offer[rows]].sum())


def _lagrange(profit, cost, usable, budget: float) -> np.ndarray:
    offer, _ = _best_at(profit, cost, usable, 0.0)
    if _spend(offer, cost) <= budget:
        return offer
    positive = cost[usable & (cost > 0)]
    low, high = 0.0, float((profit[usable & (cost > 0)] / positive).max()) + 1.0
    for _ in range(BISECTION_STEPS):
        lam = (low + high) / 2
        if _spend(_best_at(profit, cost, usable, lam)[0], cost) > budget:
            low = lam
        else:
            high = lam
    offer, _ = _best_at(profit, cost, usable, high)
    return _fill(offer, profit, cost, usable, budget - _spend(offer, cost))


def _fill(offer, profit, cost, usable, left: float) -> np.ndarray:
    """Spend what the budget has left on the best upgrades, by extra profit per extra cost."""
    n = len(offer)
    current_profit = np.where(offer >= 0, profit[np.arange(n), np.maximum(offer, 0)], 0.0)
    current_cost = np.where(offer >= 0, cost[np.arange(n), np.maximum(offer, 0)], 0.0)
    extra_profit = np.where(usable, profit - current_profit[:, None], -np.inf)
    extra_cost = cost - current_cost[:, None]
    candidates = np.argwhere((extra_profit > 0) & (extra_cost <= left))
    if not len(candidates):
        return offer
    gain, spend = extra_profit[tuple(candidates.T)], extra_cost[tuple(candidates.T)]
    ratio = np.where(spend > 0, gain / np.maximum(spend, 1e-300), np.inf)
    order = np.argsort(-ratio, kind="stable")
    cheapest_after = np.minimum.accumulate(spend[order][::-1])[::-1]  # stop once nothing left fits
    offer = offer.copy()
    changed = np.zeros(n, bool)
    for position, k in enumerate(order):
        if cheapest_after[position] > left:
            break
        i, j = candidates[k]
        if not changed[i] and spend[k] <= left:
            offer[i], left, changed[i] = j, left - spend[k], True
    return offer


def _milp(profit, cost, usable, budget: float, channel_of, capacity: dict) -> np.ndarray:
    rows, cols = np.nonzero(usable)
    if not len(rows):
        return np.full(profit.shape[0], -1)
    n_var = len(rows)
    index = np.arange(n_var)
    one_each = csr_matrix((np.ones(n_var), (rows, index)), shape=(profit.shape[0], n_var))
    constraints = [LinearConstraint(one_each, 0, 1),
                   LinearConstraint(csr_matrix(cost[rows, cols][None, :]), 0, budget)]
    if capacity:
        channels = list(capacity)
        per_channel = vstack([csr_matrix((channel_of[cols] == c).astype(float)[None, :]) for c in channels])
        constraints.append(LinearConstraint(per_channel, 0, np.array([capacity[c] for c in channels], float)))
    result = milp(-profit[rows, cols], constraints=constraints, integrality=np.ones(n_var), bounds=(0, 1))
    if result.x is None:
        raise RuntimeError(f"the offer plan could not be solved: {result.message}")
    offer = np.full(profit.shape[0], -1)
    take = result.x > 0.5
    offer[rows[take]] = cols[take]
    return offer


__all__ = ["optimise", "Plan"]
