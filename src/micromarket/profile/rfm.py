"""RFM: the per-customer summary the buy-till-you-die models read, scores, and named segments.

Stage functions take the ``transactions`` Ibis table and return Ibis tables; nothing runs
until the caller executes, so the same code serves DuckDB and Spark.

Definitions (the ones Fader, Hardie & Lee use, and ``lifetimes`` with ``freq="D"``):

- a *purchase occasion* is a calendar day on which the customer started at least one
  purchase (an invoice of purchase lines; returns and cancellations left out; days after
  the observation end left out);
- ``frequency`` is the number of occasions after the first (repeat purchases);
- ``recency`` is the time from the first to the last occasion, ``T`` from the first
  occasion to the observation end, in days, or in weeks as days / 7 (not rounded);
- ``monetary_value`` is the mean value of the repeat occasions (0 without repeats).
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from ..data import customer_purchases
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


def customer_baskets(transactions: ir.Table) -> ir.Table:
    """One row per customer and invoice of purchase lines.

    Returns
    -------
    ibis Table
        ``customer_id, value, items, ts`` (the invoice's first line), ``channel``, ``store_id``.
        The RFM summary and the behaviour features all read this table, so a caller on a
        large database materialises it once and the transaction log is scanned once for both.
    """
    lines = customer_purchases(transactions)
    return lines.group_by("customer_id", "invoice_id").aggregate(
        value=lines.amount.sum(), items=lines.quantity.sum(), ts=lines.ts.min(),
        # An invoice has one channel and store: any line's will do (cheaper than min on text).
        channel=lines.channel.arbitrary(), store_id=lines.store_id.arbitrary()).drop("invoice_id")


def purchase_occasions(baskets: ir.Table, start=None, end=None) -> ir.Table:
    """One row per customer and purchase day: ``customer_id``, ``day``, ``value``.

    ``baskets`` comes from :func:`customer_baskets`; ``start`` and ``end`` (dates,
    inclusive) restrict the days.
    """
    day = baskets.ts.date()
    if start is not None:
        baskets = baskets.filter(day >= start)
    if end is not None:
        baskets = baskets.filter(day <= end)
    return baskets.group_by("customer_id", day=baskets.ts.date()).aggregate(value=baskets.value.sum())


def _occasion_totals(occasions: ir.Table, upto: ir.Value | None = None, suffix: str = "") -> dict[str, ir.Value]:
    """Per-customer aggregates of the occasions (those up to ``upto`` only, if given).

    Without ``upto`` they include ``_first_value``, the value of the first occasion, which
    is within any period that holds one.
    """
    within = None if upto is None else occasions.day <= upto
    day = occasions.day if within is None else ibis.ifelse(within, occasions.day, ibis.null())
    totals = {
        f"_first{suffix}": day.min(), f"_last{suffix}": day.max(),
        f"_occasions{suffix}": occasions.count(where=within), f"_total{suffix}": occasions.value.sum(where=within),
    }
    return totals if upto is not None else {**totals, "_first_value": occasions.value.argmin(occasions.day)}


def _rfm_columns(per: ir.Table, end: ir.Value, scale: float, suffix: str = "") -> dict[str, ir.Value]:
    """``frequency, recency, T, monetary_value`` (each with ``suffix``) from :func:`_occasion_totals`."""
    first, last = per[f"_first{suffix}"], per[f"_last{suffix}"]
    frequency = per[f"_occasions{suffix}"] - 1
    repeat_value = per[f"_total{suffix}"] - per._first_value
    # Days as doubles before dividing: Spark reads a literal such as 7.0 as a decimal, and an
    # integer divided by a decimal keeps six decimal places, enough to break ties of recency.
    return {
        f"frequency{suffix}": frequency,
        f"recency{suffix}": last.delta(first, unit="day").cast("float64") / scale,
        f"T{suffix}": end.delta(first, unit="day").cast("float64") / scale,
        f"monetary_value{suffix}": ibis.ifelse(frequency > 0, repeat_value / frequency.cast("float64"), 0.0),
    }


def _holdout_columns(per: ir.Table, calibration_end: ir.Value, observation_end: ir.Value, scale: float) -> dict:
    frequency = per._occasions - per._occasions_cal
    return {
        "frequency_holdout": frequency,
        "monetary_value_holdout": ibis.ifelse(frequency > 0, (per._total - per._total_cal.fill_null(0))
                                              / frequency.cast("float64"), 0.0),
        "duration_holdout": observation_end.delta(calibration_end, unit="day").cast("float64") / scale,
    }


def _occasions_until(transactions: ir.Table, baskets: ir.Table | None, end: ir.Value) -> ir.Table:
    return purchase_occasions(customer_baskets(transactions) if baskets is None else baskets, end=end)


def rfm_summary(transactions: ir.Table, observation_end: str | dt.date | None = None, unit: str = "week",
                baskets: ir.Table | None = None) -> ir.Table:
    """Per customer ``frequency``, ``recency``, ``T``, ``monetary_value`` (see the module for the definitions).

    Parameters
    ----------
    transactions : ibis Table
        The canonical ``transactions`` table.
    observation_end : date or str, optional
        Last day observed (inclusive); default the last purchase day in the data.
    unit : {"week", "day"}
        Time unit of ``recency`` and ``T``.
    baskets : ibis Table, optional
        :func:`customer_baskets` of ``transactions``, where the caller has materialised it.

    Returns
    -------
    ibis Table
        ``customer_id, frequency, recency, T, monetary_value, first_purchase, last_purchase``.
    """
    scale, end = _unit(unit), _end(observation_end, transactions)
    occasions = _occasions_until(transactions, baskets, end)
    per = occasions.group_by("customer_id").aggregate(**_occasion_totals(occasions))
    return per.select("customer_id", **_rfm_columns(per, end, scale), first_purchase=per._first, last_purchase=per._last)


def calibration_holdout(transactions: ir.Table, calibration_end: str | dt.date, observation_end: str | dt.date,
                        unit: str = "week", baskets: ir.Table | None = None) -> ir.Table:
    """The RFM summary up to ``calibration_end`` joined with what each customer did after it.

    ``baskets`` is as in :func:`rfm_summary`.

    Returns
    -------
    ibis Table
        ``customer_id, frequency_cal, recency_cal, T_cal, monetary_value_cal, frequency_holdout,
        monetary_value_holdout, duration_holdout`` for customers whose first purchase is in the
        calibration period.
    """
    return profile_summary(transactions, observation_end, calibration_end, unit, baskets).filter(
        lambda t: t.frequency_cal.notnull()).select(*SPLIT_COLUMNS)


SPLIT_COLUMNS = ("customer_id", "frequency_cal", "recency_cal", "T_cal", "monetary_value_cal",
                  "frequency_holdout", "monetary_value_holdout", "duration_holdout")


def profile_summary(transactions: ir.Table, observation_end: str | dt.date | None, calibration_end: str | dt.date,
                    unit: str = "week", baskets: ir.Table | None = None) -> ir.Table:
    """:func:`rfm_summary` and :func:`calibration_holdout` side by side, from one pass over the occasions.

    Returns
    -------
    ibis Table
        The columns of both, one row per customer; the calibration and holdout columns are
        NULL for customers whose first purchase is after ``calibration_end``.
    """
    scale, end, cal_end = _unit(unit), _end(observation_end, transactions), _end(calibration_end, transactions)
    occasions = _occasions_until(transactions, baskets, end)
    per = occasions.group_by("customer_id").aggregate(**_occasion_totals(occasions),
                                                      **_occasion_totals(occasions, cal_end, "_cal"))
    in_calibration = per._first_cal.notnull()
    calibration = {name: ibis.ifelse(in_calibration, value, ibis.null())
                   for name, value in {**_rfm_columns(per, cal_end, scale, "_cal"),
                                       **_holdout_columns(per, cal_end, end, scale)}.items()}
    return per.select("customer_id", **_rfm_columns(per, end, scale), first_purchase=per._first,
                      last_purchase=per._last, **calibration)


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
