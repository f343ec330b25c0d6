"""Customer lifetime value, value tiers and the Pareto share.

CLV over a horizon of ``H`` months is the sum over months ``i = 1..H`` of the expected
purchases in month ``i`` (from a fitted purchase model, given each customer's history),
times the expected spend per purchase (Gamma-Gamma), times the margin, discounted at a
monthly rate ``d``: ``sum_i (E[Y(t_i)] - E[Y(t_{i-1})]) * spend * margin / (1 + d)^i``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..exceptions import SchemaError
from ._base import group_rows

DAYS_PER_MONTH = 365.25 / 12
UNIT_DAYS = {"day": 1.0, "week": 7.0}

#: Value tiers by expected value: the top 20 % heavy, the next 30 % medium, the rest light.
TIER_SHARES = (("heavy", 0.2), ("medium", 0.3), ("light", 0.5))


def customer_lifetime_value(transaction_model, summary: pd.DataFrame, spend: np.ndarray, *,
                            horizon_months: int = 12, discount_rate: float = 0.01,
                            margin: float | np.ndarray = 1.0, unit: str = "week") -> np.ndarray:
    """Discounted expected margin over ``horizon_months`` for every customer of ``summary``.

    Parameters
    ----------
    transaction_model : fitted BetaGeoFitter, ParetoNBDFitter or ModifiedBetaGeoFitter
    summary : DataFrame
        ``frequency``, ``recency``, ``T`` in ``unit``.
    spend : array
        Expected spend per purchase (e.g. ``GammaGammaFitter.expected_spend``).
    horizon_months : int
        Months ahead.
    discount_rate : float
        Monthly discount rate (0.01 = 1 % a month).
    margin : float or array
        Share of spend that is margin, one for all or per customer.
    unit : {"week", "day"}
        Time unit of ``summary``.

    Returns
    -------
    ndarray
    """
    # The discounted purchase stream depends on (frequency, recency, T) only: compute it
    # once per distinct history, then scale each customer's by their spend and margin.
    rows = summary[["frequency", "recency", "T"]].to_numpy(dtype=float)
    unique, _, inverse = group_rows(rows, None)
    histories = pd.DataFrame(unique, columns=["frequency", "recency", "T"])
    value = discounted_purchases(transaction_model, histories, horizon_months=horizon_months,
                                 discount_rate=discount_rate, unit=unit)
    return value[inverse] * np.asarray(spend) * np.asarray(margin)


def discounted_purchases(transaction_model, histories: pd.DataFrame, *, horizon_months: int = 12,
                         discount_rate: float = 0.01, unit: str = "week") -> np.ndarray:
    """Expected purchases over ``horizon_months``, each month's discounted, for each row of
    ``histories`` (``frequency``, ``recency``, ``T`` in ``unit``): CLV per unit of spend and
    margin (see :func:`customer_lifetime_value` for the parameters)."""
    if unit not in UNIT_DAYS:
        raise SchemaError(f"unit = {unit!r}; expected one of {', '.join(UNIT_DAYS)}")
    if horizon_months < 1 or discount_rate < 0:
        raise SchemaError(f"horizon_months = {horizon_months} must be >= 1 and discount_rate = {discount_rate} >= 0")
    month = DAYS_PER_MONTH / UNIT_DAYS[unit]
    # sum_i (E_i - E_(i-1)) f_i = sum_i E_i (f_i - f_(i+1)), with E_0 = 0 and f_(H+1) = 0.
    months = np.arange(1, horizon_months + 1)
    factors = (1 + discount_rate) ** -months.astype(float)
    weights = factors - np.append(factors[1:], 0.0)
    return transaction_model.expected_purchases_by_horizon(histories, months * month, weights)


def _descending_ranks(values: np.ndarray) -> np.ndarray:
    """Rank 1 for the highest value, ties in order of appearance (pandas' ``rank(method="first")``,
    from one stable sort, cheaper than pandas' rank)."""
    order = np.argsort(-np.asarray(values, dtype=float), kind="stable")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    return ranks


def value_tiers(values: np.ndarray) -> np.ndarray:
    """``heavy`` / ``medium`` / ``light`` by rank of ``values`` (see :data:`TIER_SHARES`)."""
    ranks = _descending_ranks(values) / max(len(values), 1)
    edges = np.cumsum([share for _, share in TIER_SHARES])
    names = np.array([name for name, _ in TIER_SHARES])
    return names[np.searchsorted(edges, ranks - 1e-12)]


def value_deciles(values: np.ndarray) -> np.ndarray:
    """Decile 1 (highest value) to 10 (lowest), by rank."""
    ranks = _descending_ranks(values)
    return np.minimum(10, np.ceil(ranks / max(len(values), 1) * 10).astype(int))


def pareto_curve(values: np.ndarray, points: int = 101) -> pd.DataFrame:
    """Share of customers (best first) against the share of total value they hold."""
    ordered = np.sort(np.clip(np.asarray(values, dtype=float), 0, None))[::-1]
    cum = np.concatenate(([0.0], np.cumsum(ordered)))
    total = cum[-1] if cum[-1] > 0 else 1.0
    shares = np.linspace(0, 1, points)
    idx = np.round(shares * len(ordered)).astype(int)
    return pd.DataFrame({"customer_share": shares, "value_share": cum[idx] / total})


def pareto_share(values: np.ndarray, top: float = 0.2) -> float:
    """Share of total value held by the top ``top`` share of customers (e.g. 0.2 -> 0.8 is "80/20")."""
    ordered = np.sort(np.clip(np.asarray(values, dtype=float), 0, None))[::-1]
    total = ordered.sum()
    n = int(round(top * len(ordered)))
    return float(ordered[:n].sum() / total) if total > 0 else 0.0
