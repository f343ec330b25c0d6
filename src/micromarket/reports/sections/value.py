"""The report's value section: the chosen model with standard errors, its holdout check, and CLV."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from ...clv.value import pareto_curve
from ...profile import latest_run
from .. import figures
from ..page import Section, chart, money

if TYPE_CHECKING:
    from ...workspace import Workspace


def value_section(ws: "Workspace") -> Section | None:
    """Value of customers, from the latest profile run.

    Parameters
    ----------
    ws : Workspace
        The workspace reported on.

    Returns
    -------
    Section or None
        ``None`` before the first ``micromarket profile``.
    """
    run = latest_run(ws)
    if run is None:
        return None
    cur = ws.config["workspace"]["currency"]
    prof = ws.table("customer_profile").select("clv", "p_alive", "rfm_segment", "value_tier", "frequency").to_pandas()
    horizon = run["settings"]["horizon_months"]
    sec = Section(
        "Customer value",
        f"Purchases follow the {run['model']} model (chosen for the lowest error on the {run['calibration_end']} to "
        f"{run['observation_end']} holdout), spend the Gamma-Gamma model; CLV is the margin expected over "
        f"{horizon} months, discounted at {run['settings']['discount_rate']:.1%} a month.")
    # Runs recorded before warnings were kept have none to show.
    sec.warnings = list(run.get("warnings", []))
    sec.figures = _key_figures(run, prof, cur)
    segments = prof.groupby("rfm_segment").agg(customers=("clv", "size"), clv=("clv", "sum")).reset_index()
    sec.charts += [chart(fig) for fig in (
        figures.holdout_by_frequency(pd.DataFrame(run["holdout_by_frequency"])), figures.p_alive(prof),
        figures.clv_distribution(prof, horizon, cur), figures.pareto(pareto_curve(prof["clv"].to_numpy())),
        figures.clv_by_segment(segments))]
    sec.tables += [_parameters_table(run), _comparison_table(run), _tiers_table(prof, cur)]
    return sec


def _key_figures(run: dict, prof: pd.DataFrame, cur: str) -> list[tuple[str, str]]:
    """Customers valued, total and mean CLV, the top 20 %'s share, mean P(alive) and the model."""
    alive = f"{prof['p_alive'].mean():.2f}" if run.get("dropout_identified", True) else "not identified"
    return [
        ("Customers valued", f"{run['customers']:,}"), ("Total CLV", money(run["total_clv"], cur)),
        ("Mean CLV", money(prof["clv"].mean(), cur)), ("Top 20 % hold", f"{run['pareto_top20_share']:.0%} of CLV"),
        ("Mean P(alive)", alive), ("Model", run["model"]),
    ]


def _parameters_table(run: dict) -> dict:
    """The purchase and spend models' parameters with their standard errors."""
    rows = [(run["model"], k, f"{v:.4g}", f"{run['standard_errors'][k]:.3g}") for k, v in run["params"].items()]
    rows += [("gamma-gamma", k, f"{v:.4g}", f"{run['spend_standard_errors'][k]:.3g}")
             for k, v in run["spend_params"].items()]
    return {"caption": "Model parameters (maximum likelihood, standard errors from the Hessian)",
            "header": ("model", "parameter", "estimate", "std. error"), "rows": rows}


def _tiers_table(prof: pd.DataFrame, cur: str) -> dict:
    """Customers, CLV and mean CLV per value tier."""
    tiers = prof.groupby("value_tier").agg(customers=("clv", "size"), clv=("clv", "sum"), mean_clv=("clv", "mean"))
    return {"caption": "Value tiers", "header": ("tier", "customers", "CLV", "mean CLV"),
            "rows": [(t, f"{r.customers:,}", money(r.clv, cur), money(r.mean_clv, cur)) for t, r in tiers.iterrows()]}


def _comparison_table(run: dict) -> dict:
    """The candidates' holdout errors, and how each compares with the chosen model."""
    fitted, scored = run.get("comparison_customers"), run.get("holdout_customers")
    return {"caption": "Model comparison on the holdout (lowest RMSE chosen"
                       + (f"; fitted on {fitted:,} calibration customers" if fitted else "")
                       + (f", errors over {scored:,}" if scored else "") + ")",
            "header": ("model", "log-likelihood", "BIC", "holdout RMSE", "holdout MAE", "total error %", "converged",
                       "against the chosen"),
            # Runs recorded before the column existed count as converged (they had no test).
            "rows": [(c["model"], f"{c['log_likelihood']:,.1f}", f"{c['bic']:,.1f}", f"{c['holdout_rmse']:.3f}",
                      f"{c['holdout_mae']:.3f}", f"{c['total_error_pct']:+.1f}",
                      "yes" if c.get("converged", True) else "no (see the warning)", _against(run, c))
                     for c in run["comparison"]]}


def _against(run: dict, row: dict) -> str:
    """``chosen``, ``tied (RMSE +0.2 %)``, ``worse (p = 0.001)``, or empty for runs recorded without the test."""
    if row["model"] == run["model"]:
        return "chosen"
    if "tied_with_best" not in row:
        return ""
    if row["holdout_rmse"] != row["holdout_rmse"]:
        return "no forecast (not a number)"
    if row["tied_with_best"]:
        return f"tied (RMSE {row['rmse_gap_pct']:+.2g} %)"
    return f"worse (RMSE {row['rmse_gap_pct']:+.2g} %, p = {row['tie_p_value']:.2g})"


__all__ = ["value_section"]
