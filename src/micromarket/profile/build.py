"""The profile stage: transactions -> ``customer_profile``.

Steps: the RFM summary; model selection on a calibration/holdout split; the chosen purchase
model and the Gamma-Gamma spend model refitted on the whole period; P(alive), expected
purchases, spend, margin and CLV; tiers and deciles; RFM scores and segments; behaviour.
Everything is written in one transaction, with a ``profile_runs`` record.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import ibis
import pandas as pd

from ..clv import GammaGammaFitter
from ..clv.selection import CANDIDATES, compare_models, holdout_by_frequency
from ..clv.value import customer_lifetime_value, pareto_share, value_deciles, value_tiers
from ..exceptions import SchemaError
from ..schema import CUSTOMER_CATEGORY_SHARES, CUSTOMER_PROFILE
from .behaviour import baskets, behaviour, category_medians, category_shares, customer_categories, purchase_lines
from .rfm import calibration_holdout, customer_purchases, rfm_scores, rfm_summary

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
    holdout_by_frequency: list[dict]
    customers: int
    total_clv: float
    pareto_top20_share: float
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def _settings(ws: "Workspace", overrides: dict) -> dict:
    settings = dict(ws.config["profile"])
    unknown = set(overrides) - set(settings) - {"observation_end"}
    if unknown:
        raise SchemaError(f"unknown profile setting(s) {sorted(unknown)}; settings: {', '.join(settings)}, observation_end")
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return settings


def _calibration_end(summary_span_days: int, end: dt.date, holdout_weeks: int) -> dt.date:
    weeks = holdout_weeks or max(1, min(52, summary_span_days // 21))  # a third of the span, at most a year
    return end - dt.timedelta(weeks=weeks)


def _customer_margin(ws: "Workspace", default: float) -> "ir.Table":
    """Per-customer margin share from product costs where known, else ``default``."""
    tx, products = ws.table("transactions"), ws.table("products")
    lines = customer_purchases(tx).inner_join(
        products.select("product_id", "unit_cost").filter(lambda p: p.unit_cost.notnull()), "product_id")
    costed = lines.group_by("customer_id").aggregate(cost=(lines.quantity * lines.unit_cost).sum(),
                                                     revenue=lines.amount.sum())
    return costed.select("customer_id", margin=ibis.ifelse(
        costed.revenue > 0, (1 - costed.cost / costed.revenue).clip(lower=0, upper=1), default))


def build_profile(ws: "Workspace", progress: Callable[[str], None] | None = None, **overrides: Any) -> ProfileResult:
    """Compute and store ``customer_profile`` (see the module) for the workspace.

    Parameters
    ----------
    ws : Workspace
    progress : callable, optional
        Called with each step's name.
    **overrides
        ``observation_end`` (date; default the last purchase day) and any ``[profile]``
        setting: ``unit``, ``horizon_months``, ``discount_rate``, ``margin``,
        ``holdout_weeks``, ``models``.

    Returns
    -------
    ProfileResult
    """
    step = progress or (lambda _s: None)
    settings = _settings(ws, overrides)
    unit = settings["unit"]
    tx = ws.table("transactions")
    step("summarising")
    last = tx.filter(tx.customer_id.notnull()).ts.max().execute()
    if last is None or pd.isna(last):
        raise SchemaError("the workspace has no transactions with a customer id: load some first (micromarket ingest)")
    end = dt.date.fromisoformat(str(settings.get("observation_end") or last)[:10])
    summary = rfm_summary(tx, end, unit).execute()
    first = pd.to_datetime(summary["first_purchase"]).min().date()
    cal_end = _calibration_end((end - first).days, end, settings["holdout_weeks"])

    step("choosing a model")
    split = calibration_holdout(tx, cal_end, end, unit).execute()
    best, fitted, metrics = compare_models(split, list(settings["models"]))
    by_frequency = holdout_by_frequency(fitted[best], split)

    step("fitting")
    rfm = summary[["frequency", "recency", "T"]]
    model = CANDIDATES[best]().fit(rfm)
    repeat = summary[summary["frequency"] > 0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spend_model = GammaGammaFitter().fit(repeat[["frequency", "monetary_value"]])
    spend = spend_model.expected_spend(summary[["frequency", "monetary_value"]])

    step("valuing")
    margins = _customer_margin(ws, settings["margin"]).execute().set_index("customer_id")["margin"]
    margin = summary["customer_id"].map(margins).fillna(settings["margin"]).to_numpy()
    month = 365.25 / 12 / (7.0 if unit == "week" else 1.0)
    profile = summary.assign(
        p_alive=model.probability_alive(rfm),
        expected_purchases=model.expected_purchases(rfm, settings["horizon_months"] * month),
        expected_spend=spend,
        margin=margin,
        clv=customer_lifetime_value(model, rfm, spend, horizon_months=settings["horizon_months"],
                                    discount_rate=settings["discount_rate"], margin=margin, unit=unit),
    )
    profile["value_tier"] = value_tiers(profile["clv"].to_numpy())
    profile["value_decile"] = value_deciles(profile["clv"].to_numpy())

    result = ProfileResult(
        run_id=0, observation_end=str(end), calibration_end=str(cal_end), unit=unit, model=best,
        params=model.params_, standard_errors=model.standard_errors_,
        spend_params=spend_model.params_, spend_standard_errors=spend_model.standard_errors_,
        comparison=metrics.reset_index().to_dict("records"),
        holdout_by_frequency=by_frequency.to_dict("records"),
        customers=len(profile), total_clv=float(profile["clv"].sum()),
        pareto_top20_share=pareto_share(profile["clv"].to_numpy(), 0.2),
        settings={**settings, "warnings": [str(w.message) for w in caught]},
    )

    step("scoring and describing")
    scores = rfm_scores(ibis.memtable(summary[["customer_id", "frequency", "recency", "T", "monetary_value"]])).execute()
    profile = profile.merge(scores[["customer_id", "r_score", "f_score", "m_score", "rfm_code", "rfm_segment"]],
                            on="customer_id", how="left")
    try:
        features, shares = _behaviour(ws, tx)
        profile = profile.merge(features, on="customer_id", how="left")
        step("writing")
        _write(ws, profile, shares, result)
    finally:
        for name in _TEMPORARIES:
            ws.con.execute(f"DROP TABLE IF EXISTS {name}")
    return result


#: Intermediate tables of one profile run, dropped when it ends.
_TEMPORARIES = ("_profile_medians", "_profile_baskets", "_profile_categories")


def _behaviour(ws: "Workspace", tx: "ir.Table") -> tuple[pd.DataFrame, "ir.Table"]:
    """Behaviour features, and the category-shares expression (written later straight from the
    database); the per-invoice and per-category tables are materialised once, so the
    transaction log is scanned a few times only."""
    medians = ws.ibis.create_table(_TEMPORARIES[0], category_medians(tx, ws.table("products")), temp=True)
    lines = purchase_lines(tx, ws.table("products"), medians)
    invoices = ws.ibis.create_table(_TEMPORARIES[1], baskets(lines), temp=True)
    categories = ws.ibis.create_table(_TEMPORARIES[2], customer_categories(lines), temp=True)
    return behaviour(tx, invoices, categories).execute(), category_shares(categories)


def _write(ws: "Workspace", profile: pd.DataFrame, shares: "ir.Table", result: ProfileResult) -> None:
    con = ws.con
    con.execute("BEGIN TRANSACTION")
    try:
        run_id = con.execute("SELECT coalesce(max(profile_run_id), 0) + 1 FROM profile_runs").fetchone()[0]
        result.run_id = run_id
        frame = profile.assign(profile_run_id=run_id)[CUSTOMER_PROFILE.column_names]
        con.register("_frame", frame)
        con.execute(f'DELETE FROM "{CUSTOMER_PROFILE.name}"')
        con.execute(f'INSERT INTO "{CUSTOMER_PROFILE.name}" SELECT * FROM _frame')
        con.unregister("_frame")
        # Category shares stay in the database: compiled to SQL, never through pandas.
        shares_sql = ws.ibis.compile(shares.mutate(profile_run_id=ibis.literal(run_id, "int64"))
                                     .select(*CUSTOMER_CATEGORY_SHARES.column_names))
        con.execute(f'DELETE FROM "{CUSTOMER_CATEGORY_SHARES.name}"')
        con.execute(f'INSERT INTO "{CUSTOMER_CATEGORY_SHARES.name}" {shares_sql}')
        con.execute(
            "INSERT INTO profile_runs VALUES (?, ?, ?, ?, ?, ?, ?)",
            [run_id, dt.datetime.now(), result.observation_end, result.calibration_end, result.unit, result.model,
             json.dumps(result.to_dict(), default=float)],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def latest_run(ws: "Workspace") -> dict | None:
    """The newest ``profile_runs`` record, decoded, or ``None``."""
    row = ws.con.execute("SELECT report FROM profile_runs ORDER BY profile_run_id DESC LIMIT 1").fetchone()
    return json.loads(row[0]) if row else None


__all__ = ["build_profile", "ProfileResult", "latest_run"]
