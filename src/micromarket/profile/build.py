"""The profile stage: transactions -> ``customer_profile``.

Steps: the RFM summary; model selection on a calibration/holdout split; the chosen purchase
model and the Gamma-Gamma spend model refitted on the whole period; P(alive), expected
purchases, spend, margin and CLV; tiers and deciles; RFM scores and segments; behaviour.
The stage writes nothing: :func:`build_profile` yields the result and the output tables (as
expressions over the run's temporaries), and :func:`micromarket.runner.run_profile` stores
them with the ``profile_runs`` record as one unit.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, NamedTuple

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..arrays import engine_independent
from ..clv import GammaGammaFitter
from ..clv.diagnostics import dropout_identified, purchase_model_warnings
from ..clv.selection import CANDIDATES, compare_models, holdout_by_frequency
from ..clv.value import customer_lifetime_value, pareto_share, value_deciles, value_tiers
from ..config import validate_profile
from ..exceptions import SchemaError
from ..schema import CUSTOMER_CATEGORY_SHARES, CUSTOMER_CHANNEL_SHARES, CUSTOMER_PROFILE
from ..storage.base import Output, Write
from .behaviour import (behaviour, category_medians, category_profile, category_shares, channel_shares,
                        customer_categories, customer_channels, purchase_lines)
from .rfm import SPLIT_COLUMNS, customer_baskets, profile_summary, rfm_scores

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from ..workspace import Workspace


@dataclass
class ProfileResult:
    """What a profile run found: the model, its fit, the comparison, and headline figures."""

    run_id: int
    observation_end: str
    calibration_end: str
    unit: str
    model: str
    params: dict[str, float]
    standard_errors: dict[str, float]
    spend_params: dict[str, float]
    spend_standard_errors: dict[str, float]
    comparison: list[dict]
    comparison_customers: int
    holdout_customers: int
    holdout_by_frequency: list[dict]
    customers: int
    total_clv: float
    pareto_top20_share: float
    settings: dict[str, Any] = field(default_factory=dict)
    #: Whether the data show customers dropping out (if not, P(alive) is an artefact of the fit).
    dropout_identified: bool = True
    #: Why a figure of this run is weak (see :mod:`micromarket.clv.diagnostics`), one sentence each.
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def _settings(ws: "Workspace", overrides: dict) -> dict:
    settings = dict(ws.config["profile"])
    unknown = set(overrides) - set(settings) - {"observation_end"}
    if unknown:
        raise SchemaError(f"unknown profile setting(s) {sorted(unknown)}; settings: {', '.join(settings)}, observation_end")
    settings.update({k: v for k, v in overrides.items() if v is not None})
    validate_profile({k: v for k, v in settings.items() if k != "observation_end"}, "build_profile arguments")
    return settings


def _calibration_end(summary_span_days: int, end: dt.date, holdout_weeks: int) -> dt.date:
    weeks = holdout_weeks or max(1, min(52, summary_span_days // 21))  # a third of the span, at most a year
    return end - dt.timedelta(weeks=weeks)


#: Model choice fits the candidates on a random sample of this many calibration customers when
#: there are more (their parameters are then within about 1 % of a fit on everyone) and compares
#: their holdout errors on every calibration customer; the chosen model is refitted on everyone.
COMPARISON_CUSTOMERS = 50_000

#: Intermediate tables of one profile run (temporary, ``_profile_<name>``), dropped when it ends.
_TEMPORARIES = ("baskets", "medians", "categories", "per_category", "channels", "values", "features")


def _temporary(ws: "Workspace", name: str, expr: "ir.Table") -> "ir.Table":
    """Materialise ``expr`` as the run's temporary table ``name`` (one of :data:`_TEMPORARIES`)."""
    assert name in _TEMPORARIES, name
    return ws.storage.temporary(f"profile_{name}", expr)


class _Intermediates(NamedTuple):
    """What the stage reads the transaction log into, once (see :func:`_intermediates`)."""

    baskets: "ir.Table"
    categories: "ir.Table"
    per_category: "ir.Table"
    channels: "ir.Table"


@contextmanager
def build_profile(ws: "Workspace", progress: Callable[[str], None] | None = None,
                  **overrides: Any) -> Iterator[tuple[ProfileResult, Output]]:
    """Compute ``customer_profile`` (see the module) for the workspace; a context manager whose
    output reads the run's temporaries, so it is stored inside the block.

    Parameters
    ----------
    ws : Workspace
    progress : callable, optional
        Called with each step's name.
    **overrides
        ``observation_end`` (date; default the last purchase day) and any ``[profile]``
        setting: ``unit``, ``horizon_months``, ``discount_rate``, ``margin``,
        ``holdout_weeks``, ``models``, ``database_memory_share`` (the database's share of
        ``backend.memory_limit`` during the stage, the rest left to the model arrays).

    Yields
    ------
    (ProfileResult, Output)
        The result (its ``run_id`` set when the output is stored), and the profile, category and
        channel shares with the ``profile_runs`` record.
    """
    step = progress or (lambda _s: None)
    settings = _settings(ws, overrides)
    with ws.memory_share(settings["database_memory_share"]):
        try:
            yield _build(ws, settings, step)
        finally:
            for name in _TEMPORARIES:
                _drop(ws, name)


def _build(ws: "Workspace", settings: dict, step: Callable[[str], None]) -> tuple[ProfileResult, Output]:
    """The stage's reading and valuing (see :func:`build_profile`)."""
    tx = ws.table("transactions")
    step("reading transactions")
    read = _intermediates(ws, tx, settings["margin"])
    step("summarising")
    end, cal_end = _period(read.baskets, settings)
    summary = _summary(tx, read, end, cal_end, settings["unit"])
    # The behaviour needs no model: the database describes customers while NumPy values them.
    with _in_background(ws, _temporary, ws, "features",
                        behaviour(tx, read.baskets, read.per_category, read.channels)) as described:
        result, values = _value(summary, end, cal_end, settings, step)
        step("describing")
        features = described()
    _drop(ws, "baskets")  # the largest intermediate, no longer read: its memory serves the writing
    profile = rfm_scores(_temporary(ws, "values", ibis.memtable(values))).left_join(
        features, "customer_id").drop("customer_id_right")
    return result, _output(profile, {CUSTOMER_CATEGORY_SHARES: category_shares(read.categories, read.per_category),
                                     CUSTOMER_CHANNEL_SHARES: channel_shares(read.channels)}, result)


def _intermediates(ws: "Workspace", tx: "ir.Table", default_margin: float) -> _Intermediates:
    """Baskets, customer x category, its per-customer summary and customer x channel,
    materialised once: with them the transaction log is read three times in all (baskets,
    category medians, categories), and its return lines once more."""
    baskets = _temporary(ws, "baskets", customer_baskets(tx))
    medians = _temporary(ws, "medians", category_medians(tx, ws.table("products")))
    categories = _temporary(ws, "categories", customer_categories(purchase_lines(tx, ws.table("products"), medians)))
    return _Intermediates(baskets, categories, _temporary(ws, "per_category", category_profile(categories, default_margin)),
                          _temporary(ws, "channels", customer_channels(baskets)))


def _period(baskets: "ir.Table", settings: dict) -> tuple[dt.date, dt.date]:
    """The observation end (setting, else the last purchase day) and the calibration end."""
    span = baskets.aggregate(first=baskets.ts.min(), last=baskets.ts.max()).to_pyarrow().to_pylist()[0]
    if span["last"] is None:
        raise SchemaError("the workspace has no purchases with a customer id: load some first (micromarket ingest)")
    end = dt.date.fromisoformat(str(settings.get("observation_end") or span["last"])[:10])
    return end, _calibration_end((end - span["first"].date()).days, end, settings["holdout_weeks"])


def _summary(tx: "ir.Table", read: _Intermediates, end: dt.date, cal_end: dt.date, unit: str) -> pa.Table:
    """The RFM and calibration/holdout summary per customer with its margin, as Arrow, by customer:
    the fits add up the likelihood in row order, and engines return groups in any order. (Sorted
    in Arrow: a sort in the database holds its buffers, up to the database's share, beside the
    model arrays that come next.)"""
    summary = (profile_summary(tx, end, cal_end, unit, read.baskets)
               .left_join(read.per_category.select("customer_id", "margin"), "customer_id")
               .drop("customer_id_right").to_pyarrow())
    return summary.sort_by("customer_id")


def _value(summary: pa.Table, end: dt.date, cal_end: dt.date, settings: dict,
           step: Callable[[str], None]) -> tuple[ProfileResult, pa.Table]:
    """Model choice and fit, and the value columns per customer (as Arrow), from :func:`_summary`."""
    unit = settings["unit"]
    # Rounded: the last bits of sums differ between engines (and DuckDB's runs), and the fits should not.
    rfm = engine_independent(pd.DataFrame({c: summary[c].to_numpy() for c in ("frequency", "recency", "T")}))
    # The fits' own warnings (a fit that stopped short, spend correlated with frequency) belong
    # to the result, where the CLI, the run record and the report all read them.
    with _recorded() as caught:
        step("choosing a model")
        split = _split_frame(summary)
        _check_enough(len(rfm), len(split), int((rfm["frequency"] > 0).sum()), cal_end)
        best, fitted, metrics = compare_models(split, list(settings["models"]), fit_customers=COMPARISON_CUSTOMERS)
        by_frequency = holdout_by_frequency(fitted[best], split)
        step("fitting")
        model = CANDIDATES[best]().fit(rfm)
        spend_model, spend = _spend(rfm, engine_independent(summary["monetary_value"].to_numpy()))

    step("valuing")
    margin = np.nan_to_num(summary["margin"].to_numpy(zero_copy_only=False), nan=settings["margin"])
    month = 365.25 / 12 / (7.0 if unit == "week" else 1.0)
    clv = customer_lifetime_value(model, rfm, spend, horizon_months=settings["horizon_months"],
                                  discount_rate=settings["discount_rate"], margin=margin, unit=unit)
    p_alive = model.probability_alive(rfm)
    dropout = dropout_identified(model, rfm)
    values = summary.select(list(_SUMMARY_COLUMNS)).append_column("p_alive", pa.array(p_alive))
    for name, column in (("expected_purchases", model.expected_purchases(rfm, settings["horizon_months"] * month)),
                         ("expected_spend", spend), ("margin", margin), ("clv", clv),
                         ("value_tier", value_tiers(clv)), ("value_decile", value_deciles(clv))):
        values = values.append_column(name, pa.array(column))
    result = ProfileResult(
        run_id=0, observation_end=str(end), calibration_end=str(cal_end), unit=unit, model=best,
        params=model.params_, standard_errors=model.standard_errors_,
        spend_params=spend_model.params_, spend_standard_errors=spend_model.standard_errors_,
        comparison=metrics.reset_index().to_dict("records"),
        comparison_customers=int(fitted[best].n_obs_), holdout_customers=len(split),
        holdout_by_frequency=by_frequency.to_dict("records"),
        customers=len(clv), total_clv=float(clv.sum()), pareto_top20_share=pareto_share(clv, 0.2),
        settings=settings,
        dropout_identified=dropout[0],
        warnings=purchase_model_warnings(best, model, dropout, p_alive, metrics, unit) + _distinct(caught),
    )
    return result, values


def _spend(rfm: pd.DataFrame, monetary_value: np.ndarray) -> tuple[GammaGammaFitter, np.ndarray]:
    """The Gamma-Gamma fit and every customer's expected spend per purchase."""
    spend_in = pd.DataFrame({"frequency": rfm["frequency"], "monetary_value": monetary_value})
    # Gamma-Gamma models positive spend: repeat buyers whose repeat purchases were free
    # (CDNOW's zero-value orders) are left out of the fit, and still get a prediction.
    paying = (spend_in["frequency"] > 0) & (spend_in["monetary_value"] > 0)
    spend_model = GammaGammaFitter().fit(spend_in[paying])
    free = int(((spend_in["frequency"] > 0) & ~paying).sum())
    if free:
        warnings.warn(f"{free:,} repeat buyer(s) whose repeat purchases were worth nothing were left out of "
                      "the spend model's fit (it models positive spend); their expected spend is predicted",
                      stacklevel=2)
    return spend_model, spend_model.expected_spend(spend_in)


@contextmanager
def _recorded() -> Iterator[list]:
    """Record the warnings a block raises instead of showing them (numerical noise such as a
    logarithm of 0 met while the optimiser probes extreme parameters is dropped)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        yield caught


def _distinct(caught: list) -> list[str]:
    """The recorded warnings meant for users (UserWarning and its kin, such as a fit's
    ConvergenceWarning; not a library's deprecation notices), each once, in order."""
    return list(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, UserWarning)))


_SUMMARY_COLUMNS = ("customer_id", "frequency", "recency", "T", "monetary_value", "first_purchase", "last_purchase")


#: The fewest customers seen before the holdout, and repeat buyers, that models are fitted on:
#: below that the estimates say nothing (one customer made the comparison fail outright).
MIN_CALIBRATION_CUSTOMERS, MIN_REPEAT_BUYERS = 20, 10


def _check_enough(customers: int, calibration: int, repeat: int, cal_end: dt.date) -> None:
    """Refuse data too small to choose and fit the models, saying what there is and what would do."""
    if calibration < MIN_CALIBRATION_CUSTOMERS:
        raise SchemaError(
            f"{customers:,} customers with purchases, {calibration:,} of them first seen by {cal_end} (the end of the "
            f"period the models are fitted on, before the holdout): at least {MIN_CALIBRATION_CUSTOMERS} are needed to "
            "choose and fit a purchase model; load more customers or a longer history, or shorten the holdout "
            "(--holdout-weeks)")
    if repeat < MIN_REPEAT_BUYERS:
        raise SchemaError(f"{repeat:,} of {customers:,} customers bought more than once: at least {MIN_REPEAT_BUYERS} "
                          "repeat buyers are needed to learn purchase rates and spend; load a longer history")


def _split_frame(summary: pa.Table) -> pd.DataFrame:
    """The calibration/holdout columns of the customers first seen in the calibration period."""
    split = summary.select(list(SPLIT_COLUMNS))
    return engine_independent(split.filter(pc.is_valid(split["frequency_cal"])).to_pandas())


@contextmanager
def _in_background(ws: "Workspace", func: Callable, *args: Any) -> Iterator[Callable[[], Any]]:
    """Run ``func(*args)`` (database work) on a thread while the body runs (NumPy work);
    yields a function that waits for its result.

    The engine releases the GIL while it runs a query, so the two share the machine's
    cores. Only the thread uses the connection until the result is taken. If the body
    fails, the query is interrupted before the error goes on.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(func, *args)
        try:
            yield future.result
        except BaseException:
            ws.storage.interrupt()
            raise


def _drop(ws: "Workspace", name: str) -> None:
    """Drop the run's temporary table ``name`` if it exists."""
    ws.storage.drop_temporary(f"profile_{name}")


def _output(profile: "ir.Table", shares: dict, result: ProfileResult) -> Output:
    """The profile and the category and channel shares (``{table: expression}``, computed on the
    engine: nothing passes through Python), each row marked with the run, and the run record."""
    writes = [Write(table.name, expr.mutate(profile_run_id=ibis.literal(0, "int64")).select(*table.column_names),
                    run_column="profile_run_id")
              for table, expr in ((CUSTOMER_PROFILE, profile), *shares.items())]
    return Output(writes, "profile_runs", lambda run: _record(result, run))


def _record(result: ProfileResult, run: int) -> dict:
    """The ``profile_runs`` columns of ``result``, numbered ``run`` (the result learns its number)."""
    result.run_id = run
    return {"observation_end": dt.date.fromisoformat(result.observation_end),
            "calibration_end": dt.date.fromisoformat(result.calibration_end), "unit": result.unit,
            "model": result.model, "report": json.dumps(result.to_dict(), default=float)}


def latest_run(ws: "Workspace") -> dict | None:
    """The newest ``profile_runs`` record, decoded, or ``None``."""
    row = ws.storage.latest_run("profile_runs")
    return json.loads(row["report"]) if row else None


__all__ = ["build_profile", "ProfileResult", "latest_run"]
