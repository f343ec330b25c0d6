"""RFM: the per-customer summary the buy-till-you-die models read, scores, and named segments.

Stage functions take the ``transactions`` Ibis table and return Ibis tables; nothing runs
until the caller executes, so the same code serves DuckDB and Spark.

Definitions (the ones Fader, Hardie & Lee use, and ``lifetimes`` with ``freq="D"``):

- a *purchase occasion* is a calendar day with at least one purchase line of the customer
  (returns and cancellations left out; lines after the observation end left out);
- ``frequency`` is the number of occasions after the first (repeat purchases);
- ``recency`` is the time from the first to the last occasion, ``T`` from the first
  occasion to the observation end, in days, or in weeks as days / 7 (not rounded);
- ``monetary_value`` is the mean value of the repeat occasions (0 without repeats).
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from ..exceptions import SchemaError

UNITS = {"day": 1.0, "week": 7.0}

#: RFM segment per (recency score, frequency score), the rule documented in docs/concepts/rfm.md.
RF_SEGMENTS: dict[str, list[tuple[tuple[int, ...], tuple[int, ...]]]] = {
    "Champions": [((5,), (4, 5))],
    "Loyal": [((3, 4), (4, 5))],
    "Potential loyalist": [((4, 5), (2, 3))],
    "New": [((5,), (1,))],
    "Promising": [((4,), (1,))],
    "Need attention": [((3,), (3,))],
    "About to sleep": [((3,), (1, 2))],
    "At risk": [((1, 2), (3, 4))],
    "Can't lose them": [((1, 2), (5,))],
    "Hibernating": [((2,), (1, 2))],
    "Lost": [((1,), (1, 2))],
}


def _end(observation_end: str | dt.date | None, transactions: ir.Table) -> ir.Value:
    if observation_end is None:
        return transactions.ts.max().date()
    try:
        return ibis.date(dt.date.fromisoformat(str(observation_end)[:10]))
    except ValueError:
        raise SchemaError(f"observation_end = {observation_end!r} is not a date (YYYY-MM-DD)") from None


def _unit(unit: str) -> float:
    if unit not in UNITS:
        raise SchemaError(f"unit = {unit!r}; expected one of {', '.join(UNITS)}")
    return UNITS[unit]


def customer_purchases(transactions: ir.Table) -> ir.Table:
    """Purchase lines of known customers: returns, cancellations and anonymous sales left out."""
    return transactions.filter(transactions.customer_id.notnull(), ~transactions.is_return.fill_null(False))


def purchase_occasions(transactions: ir.Table, start=None, end=None) -> ir.Table:
    """One row per customer and purchase day: ``customer_id``, ``day``, ``value``.

    ``start`` and ``end`` (dates, inclusive) restrict the days.
    """
    tx = customer_purchases(transactions)
    day = tx.ts.date()
    if start is not None:
        tx = tx.filter(day >= start)
    if end is not None:
        tx = tx.filter(day <= end)
    return tx.group_by("customer_id", day=tx.ts.date()).aggregate(value=tx.amount.sum())


def rfm_summary(transactions: ir.Table, observation_end: str | dt.date | None = None, unit: str = "week") -> ir.Table:
    """Per customer ``frequency``, ``recency``, ``T``, ``monetary_value`` (see the module for the definitions).

    Parameters
    ----------
    transactions : ibis Table
        The canonical ``transactions`` table.
    observation_end : date or str, optional
        Last day observed (inclusive); default the last purchase day in the data.
    unit : {"week", "day"}
        Time unit of ``recency`` and ``T``.

    Returns
    -------
    ibis Table
        ``customer_id, frequency, recency, T, monetary_value, first_purchase, last_purchase``.
    """
    scale = _unit(unit)
    end = _end(observation_end, transactions)
    occasions = purchase_occasions(transactions, end=end)
    per = occasions.group_by("customer_id").aggregate(
        first_purchase=occasions.day.min(),
        last_purchase=occasions.day.max(),
        occasions=occasions.count(),
        total=occasions.value.sum(),
        first_value=occasions.value.argmin(occasions.day),
    )
    frequency = per.occasions - 1
    return per.select(
        "customer_id",
        frequency=frequency,
        recency=per.last_purchase.delta(per.first_purchase, unit="day") / scale,
        T=end.delta(per.first_purchase, unit="day") / scale,
        monetary_value=ibis.ifelse(frequency > 0, (per.total - per.first_value) / frequency.cast("float64"), 0.0),
        first_purchase=per.first_purchase,
        last_purchase=per.last_purchase,
    )


def calibration_holdout(transactions: ir.Table, calibration_end: str | dt.date, observation_end: str | dt.date,
                        unit: str = "week") -> ir.Table:
    """The RFM summary up to ``calibration_end`` joined with what each customer did after it.

    Returns
    -------
    ibis Table
        ``customer_id, frequency_cal, recency_cal, T_cal, monetary_value_cal, frequency_holdout,
        monetary_value_holdout, duration_holdout`` for customers whose first purchase is in the
        calibration period.
    """
    scale = _unit(unit)
    cal_end = _end(calibration_end, transactions)
    obs_end = _end(observation_end, transactions)
    cal = rfm_summary(transactions, calibration_end, unit).drop("first_purchase", "last_purchase")
    cal = cal.rename({f"{c}_cal": c for c in ("frequency", "recency", "T", "monetary_value")})
    after = purchase_occasions(transactions, end=obs_end).filter(lambda t: t.day > cal_end)
    hold = after.group_by("customer_id").aggregate(frequency_holdout=after.count(), spend=after.value.sum())
    joined = cal.left_join(hold, "customer_id").drop("customer_id_right")
    frequency = joined.frequency_holdout.fill_null(0)
    return joined.select(
        *(c for c in cal.columns),
        frequency_holdout=frequency,
        monetary_value_holdout=ibis.ifelse(frequency > 0, joined.spend / frequency.cast("float64"), 0.0),
        duration_holdout=ibis.literal(1.0) * obs_end.delta(cal_end, unit="day") / scale,
    )


def rfm_scores(summary: ir.Table) -> ir.Table:
    """Quintile scores 1-5 for recency, frequency and monetary value, and the named RFM segment.

    Scores come from percent ranks, so tied customers share a score (all one-time buyers
    get F = 1). Recency is scored on time since the last purchase (``T - recency``):
    more recent, higher score. The segment follows :data:`RF_SEGMENTS`.
    """
    since_last = summary["T"] - summary.recency

    def score(value: ir.NumericValue, higher_is_better: bool = True) -> ir.IntegerValue:
        ordered = value if higher_is_better else -value
        rank = ordered.percent_rank()
        return ibis.least(ibis.literal(5), (rank * 5).floor().cast("int64") + 1)

    scored = summary.mutate(
        r_score=score(since_last, higher_is_better=False),
        f_score=score(summary.frequency),
        m_score=score(summary.monetary_value),
    )
    cases = []
    for name, cells in RF_SEGMENTS.items():
        for r_values, f_values in cells:
            cases.append((scored.r_score.isin(r_values) & scored.f_score.isin(f_values), name))
    segment = ibis.cases(*cases, else_="Unclassified")
    return scored.mutate(rfm_segment=segment,
                         rfm_code=scored.r_score.cast("string") + scored.f_score.cast("string") + scored.m_score.cast("string"))
