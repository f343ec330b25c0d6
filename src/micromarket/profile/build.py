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
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, NamedTuple

import ibis

from ..clv.diagnostics import purchase_model_warnings
from ..config import validate_profile
from ..exceptions import SchemaError
from ..schema import CUSTOMER_CATEGORY_SHARES, CUSTOMER_CHANNEL_SHARES, CUSTOMER_PROFILE
from ..storage.base import Output, Write
from .behaviour import (behaviour, category_medians, category_profile, category_shares, channel_shares,
                        customer_categories, customer_channels, purchase_lines)
from .rfm import customer_baskets, profile_summary, rfm_scores
from .valuing import (Histories, Valued, collect_histories, customer_values, distinct_messages, headline, recorded,
                      value_histories)

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
_TEMPORARIES = ("baskets", "medians", "categories", "per_category", "channels", "summary", "values", "features")


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
    summary = _temporary(ws, "summary", _summary(tx, read, end, cal_end, settings["unit"]))
    histories = collect_histories(summary)
    _check_enough(histories, cal_end)
    # The behaviour needs no model: the database describes customers while NumPy values them.
    with _in_background(ws, _temporary, ws, "features",
                        behaviour(tx, read.baskets, read.per_category, read.channels)) as described:
        # The fits' own warnings (a fit that stopped short, spend correlated with frequency) belong
        # to the result, where the CLI, the run record and the report all read them.
        with recorded() as caught:
            valued = value_histories(histories, settings, COMPARISON_CUSTOMERS, step)
        step("describing")
        features = described()
    _drop(ws, "baskets")  # the largest intermediate, no longer read: its memory serves the writing
    values = _temporary(ws, "values", customer_values(summary, ibis.memtable(valued.purchases), valued.spend_model,
                                                      settings["margin"]))
    result = _result(valued, histories, headline(values), (end, cal_end), settings, distinct_messages(caught))
    profile = rfm_scores(values).left_join(features, "customer_id").drop("customer_id_right")
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


def _summary(tx: "ir.Table", read: _Intermediates, end: dt.date, cal_end: dt.date, unit: str) -> "ir.Table":
    """The RFM and calibration/holdout summary per customer with its margin."""
    return (profile_summary(tx, end, cal_end, unit, read.baskets)
            .left_join(read.per_category.select("customer_id", "margin"), "customer_id").drop("customer_id_right"))


def _result(valued: Valued, histories: Histories, figures: dict, period: tuple[dt.date, dt.date], settings: dict,
            caught: list[str]) -> ProfileResult:
    """The run's result from the fitted models and the engine's headline figures (``run_id`` set on storing)."""
    model, spend_model = valued.model, valued.spend_model
    return ProfileResult(
        run_id=0, observation_end=str(period[0]), calibration_end=str(period[1]), unit=settings["unit"],
        model=valued.best, params=model.params_, standard_errors=model.standard_errors_,
        spend_params=spend_model.params_, spend_standard_errors=spend_model.standard_errors_,
        comparison=valued.metrics.reset_index().to_dict("records"),
        comparison_customers=valued.comparison_customers, holdout_customers=int(histories.split["weights"].sum()),
        holdout_by_frequency=valued.by_frequency.to_dict("records"), settings=settings,
        dropout_identified=valued.dropout[0], **figures,
        warnings=purchase_model_warnings(valued.best, model, valued.dropout, valued.p_alive_range, valued.metrics,
                                         settings["unit"]) + caught,
    )


#: The fewest customers seen before the holdout, and repeat buyers, that models are fitted on:
#: below that the estimates say nothing (one customer made the comparison fail outright).
MIN_CALIBRATION_CUSTOMERS, MIN_REPEAT_BUYERS = 20, 10


def _check_enough(histories: Histories, cal_end: dt.date) -> None:
    """Refuse data too small to choose and fit the models, saying what there is and what would do."""
    customers, calibration = histories.customers, int(histories.split["weights"].sum())
    if calibration < MIN_CALIBRATION_CUSTOMERS:
        raise SchemaError(
            f"{customers:,} customers with purchases, {calibration:,} of them first seen by {cal_end} (the end of the "
            f"period the models are fitted on, before the holdout): at least {MIN_CALIBRATION_CUSTOMERS} are needed to "
            "choose and fit a purchase model; load more customers or a longer history, or shorten the holdout "
            "(--holdout-weeks)")
    if histories.repeat_buyers < MIN_REPEAT_BUYERS:
        raise SchemaError(f"{histories.repeat_buyers:,} of {customers:,} customers bought more than once: at least "
                          f"{MIN_REPEAT_BUYERS} repeat buyers are needed to learn purchase rates and spend; load a "
                          "longer history")


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
