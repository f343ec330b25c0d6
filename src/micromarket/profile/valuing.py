"""The profile's valuing: purchase and spend models fitted on distinct histories, and their
predictions joined back to every customer in the engine.

What the stage collects to Python, on purpose, and how big it is:

- the distinct ``(frequency, recency, T)`` histories with the customers each stands for: the
  purchase models' data. Their number is bounded by the history's length (frequencies times
  pairs of days), not by the customers: tens of thousands for a year of weeks.
- the distinct calibration/holdout histories, for choosing the model.
- the distinct ``(frequency, monetary_value)`` pairs, for fitting the spend model: one-time buyers
  are one row, repeat buyers about one each (a mean spend is rarely shared), two floats a row.

The models see each distinct row once with its customer count as weight, which gives the same
likelihood as a row per customer. The purchase model's predictions (P(alive), expected purchases,
the discounted purchase stream) are made per distinct history and joined back on the same keys;
expected spend, a closed formula of the fitted Gamma-Gamma parameters, is computed by the engine, as
are CLV, value tiers, deciles and the headline figures.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator, NamedTuple

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from ..arrays import engine_independent
from ..clv import GammaGammaFitter
from ..clv.gamma_gamma import conditional_expected_spend
from ..clv.diagnostics import dropout_identified
from ..clv.selection import CANDIDATES, compare_models, holdout_by_frequency
from ..clv.value import DAYS_PER_MONTH, TIER_SHARES, UNIT_DAYS, discounted_purchases
from .rfm import SPLIT_COLUMNS

if TYPE_CHECKING:
    import ibis.expr.types as ir

#: The keys predictions are joined back on.
HISTORY = ("frequency", "recency", "T")
SPEND = ("frequency", "monetary_value")
#: The calibration/holdout columns model choice reads.
_SPLIT = tuple(c for c in SPLIT_COLUMNS if c not in ("customer_id", "monetary_value_cal", "monetary_value_holdout"))


class Histories(NamedTuple):
    """The distinct rows collected from the summary, each with ``weights`` (its customers)."""

    purchases: pd.DataFrame
    spends: pd.DataFrame
    split: pd.DataFrame

    @property
    def customers(self) -> int:
        return int(self.purchases["weights"].sum())

    @property
    def repeat_buyers(self) -> int:
        return int(self.purchases.loc[self.purchases["frequency"] > 0, "weights"].sum())


def collect_histories(summary: "ir.Table") -> Histories:
    """The distinct histories of ``summary`` (a materialised :func:`~.rfm.profile_summary`),
    sorted by their keys: the fits add up the likelihood in row order, and engines return
    groups in any order."""
    split = summary.filter(summary.frequency_cal.notnull())
    return Histories(_distinct(summary, HISTORY), _distinct(summary, SPEND), _distinct(split, _SPLIT))


def _distinct(table: "ir.Table", keys: tuple[str, ...]) -> pd.DataFrame:
    counted = table.group_by(list(keys)).aggregate(weights=table.count().cast("float64"))
    return counted.to_pyarrow().sort_by([(k, "ascending") for k in keys]).to_pandas()


class Valued(NamedTuple):
    """The fitted models and their predictions per distinct row (raw keys kept for the join)."""

    best: str
    model: object
    spend_model: GammaGammaFitter
    metrics: pd.DataFrame
    comparison_customers: int
    by_frequency: pd.DataFrame
    dropout: tuple[bool, float]
    p_alive_range: np.ndarray
    purchases: pa.Table


def value_histories(histories: Histories, settings: dict, comparison_customers: int,
                    step: Callable[[str], None]) -> Valued:
    """Choose the purchase model on the calibration/holdout split, fit it and the spend model on
    every customer's history, and predict per distinct row.

    Model inputs are rounded (:func:`~micromarket.arrays.engine_independent`: the last bits of
    sums differ between engines, and the fits should not); the join keys stay as the engine has them.
    """
    rfm = engine_independent(histories.purchases)
    step("choosing a model")
    best, fitted, metrics = compare_models(engine_independent(histories.split), list(settings["models"]),
                                           fit_customers=comparison_customers)
    by_frequency = holdout_by_frequency(fitted[best], engine_independent(histories.split))
    step("fitting")
    model = CANDIDATES[best]().fit(rfm)
    spend_model = _spend(engine_independent(histories.spends))
    step("valuing")
    unit, horizon = settings["unit"], settings["horizon_months"]
    p_alive = model.probability_alive(rfm)
    purchases = pa.table({
        **{k: histories.purchases[k].to_numpy() for k in HISTORY}, "p_alive": p_alive,
        "expected_purchases": model.expected_purchases(rfm, horizon * DAYS_PER_MONTH / UNIT_DAYS[unit]),
        "discounted_purchases": discounted_purchases(model, rfm, horizon_months=horizon,
                                                     discount_rate=settings["discount_rate"], unit=unit)})
    return Valued(best, model, spend_model, metrics, int(fitted[best].n_obs_), by_frequency,
                  dropout_identified(model, rfm), np.array([p_alive.min(), p_alive.max()]), purchases)


def _spend(spends: pd.DataFrame) -> GammaGammaFitter:
    """The Gamma-Gamma fit on the (frequency, monetary_value) rows of paying repeat buyers."""
    # Gamma-Gamma models positive spend: repeat buyers whose repeat purchases were free
    # (CDNOW's zero-value orders) are left out of the fit, and still get a prediction.
    repeat = spends["frequency"] > 0
    paying = repeat & (spends["monetary_value"] > 0)
    spend_model = GammaGammaFitter().fit(spends[paying])
    free = int(spends.loc[repeat & ~paying, "weights"].sum())
    if free:
        warnings.warn(f"{free:,} repeat buyer(s) whose repeat purchases were worth nothing were left out of "
                      "the spend model's fit (it models positive spend); their expected spend is predicted",
                      stacklevel=2)
    return spend_model


def customer_values(summary: "ir.Table", purchases: "ir.Table", spend_model: GammaGammaFitter,
                    default_margin: float) -> "ir.Table":
    """Every customer of ``summary`` with the predictions of their history (joined from
    ``purchases``), their expected spend (the Gamma-Gamma formula, computed by the engine), their
    margin (the stage's default where their categories give none), CLV, value tier and decile.

    Tiers and deciles rank customers by CLV, best first, ties in customer order (as
    :func:`micromarket.clv.value.value_tiers` does on an array); ``_rank`` and ``_customers``
    are kept for :func:`headline`.
    """
    joined = summary.join(purchases, list(HISTORY))
    joined = joined.mutate(margin=joined.margin.fill_null(default_margin), expected_spend=conditional_expected_spend(
        [spend_model.params_[k] for k in ("p", "q", "v")], joined.frequency.cast("float64"), joined.monetary_value))
    valued = joined.mutate(clv=joined.discounted_purchases * joined.expected_spend * joined.margin)
    ranked = valued.mutate(_rank=ibis.row_number().over(order_by=[valued.clv.desc(), valued.customer_id]) + 1,
                           _customers=valued.count().over())
    share = ranked._rank / ranked._customers
    edges = np.cumsum([s for _, s in TIER_SHARES])
    tier = ibis.cases(*((share - 1e-12 <= float(edge), name) for (name, _), edge in zip(TIER_SHARES[:-1], edges)),
                      else_=TIER_SHARES[-1][0])
    decile = ibis.least(ibis.literal(10, "int64"), (share * 10).ceil().cast("int64"))
    return ranked.mutate(value_tier=tier, value_decile=decile)


def headline(values: "ir.Table", top: float = 0.2) -> dict:
    """Customers, total CLV, and the share of (positive) CLV held by the best ``top`` of customers,
    from :func:`customer_values` (as :func:`micromarket.clv.value.pareto_share` on an array)."""
    positive = ibis.greatest(values.clv, 0.0)
    in_top = values._rank <= (values._customers * top).round()
    row = values.aggregate(customers=values.count(), total_clv=values.clv.sum(), positive=positive.sum(),
                           top=ibis.ifelse(in_top, positive, 0.0).sum()).to_pyarrow().to_pylist()[0]
    share = float(row["top"] / row["positive"]) if row["positive"] and row["positive"] > 0 else 0.0
    return {"customers": int(row["customers"]), "total_clv": float(row["total_clv"] or 0.0),
            "pareto_top20_share": share}


@contextmanager
def recorded() -> Iterator[list]:
    """Record the warnings a block raises instead of showing them (numerical noise such as a
    logarithm of 0 met while the optimiser probes extreme parameters is dropped)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        yield caught


def distinct_messages(caught: list) -> list[str]:
    """The recorded warnings meant for users (UserWarning and its kin, such as a fit's
    ConvergenceWarning; not a library's deprecation notices), each once, in order."""
    return list(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, UserWarning)))


__all__ = ["Histories", "Valued", "collect_histories", "value_histories", "customer_values", "headline"]
