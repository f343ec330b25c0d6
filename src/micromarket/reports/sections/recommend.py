"""The report's recommendations and propensity section: how each recommender did on the last
days of purchases, what the chosen one recommends most, and the propensity model's
discrimination and calibration on held-out customers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis
import pandas as pd

from .. import figures
from ..page import Section, chart, latest_summary, with_interval

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from ...workspace import Workspace

#: Products listed in the table of the most recommended.
TOP_RECOMMENDED = 10


def recommend_section(ws: "Workspace") -> Section | None:
    """Recommendations and propensity.

    Parameters
    ----------
    ws : Workspace
        The workspace reported on.

    Returns
    -------
    Section or None
        ``None`` before either ``micromarket offers recommend`` or ``offers propensity`` has run.
    """
    recommended, propensity = latest_summary(ws, "recommendation_runs"), latest_summary(ws, "propensity_runs")
    if recommended is None and propensity is None:
        return None
    sec = Section("Recommendations and propensity",
                  "What to offer each customer (product recommendations, checked against what customers bought in "
                  "the last days before it was fitted again on everything), and how likely each is to buy at all "
                  "(a calibrated model, checked on customers it did not learn from).")
    if recommended is not None:
        _recommendations(ws, sec, recommended)
    if propensity is not None:
        _propensity(sec, propensity)
    return sec


def _recommendations(ws: "Workspace", sec: Section, run: dict) -> None:
    """The chosen recommender, every recommender's check, and the products recommended most."""
    settings, checked = run["settings"], pd.DataFrame(run["evaluation"])
    sec.figures.append((f"Recommender (top {settings['n']}, exclude {settings['exclude']})",
                        run["model"].replace("_", " ")))
    if checked.empty:
        return
    split = run["split"]
    by = checked.set_index("model")
    if "popularity" in by.index and run["model"] in by.index:
        gain = by.loc[run["model"], "precision"] / max(by.loc["popularity", "precision"], 1e-12)
        low, high = (by.loc[run["model"]].get(f"precision_gain_{end}") for end in ("low", "high"))
        sec.figures.append((f"Precision@{split['k']} against best-sellers", with_interval(gain, low, high, "{:.1f}x".format)))
    sec.charts.append(chart(figures.recommender_check(checked, split)))
    top = ws.storage.rows(most_recommended(ws.table("recommendations"), ws.table("products")))
    sec.tables.append({"caption": "Most recommended products", "header": ("product", "name", "category", "customers"),
                       "rows": [(r["product_id"], r["name"] or "", r["category"] or "", f"{r['lists']:,}") for r in top]})


def most_recommended(recommendations: "ir.Table", products: "ir.Table", n: int = TOP_RECOMMENDED) -> "ir.Table":
    """The ``n`` products on most customers' lists, with name and category where known.

    Parameters
    ----------
    recommendations, products : ibis Table
        The workspace's ``recommendations`` and ``products``.
    n : int
        Products kept.

    Returns
    -------
    ibis Table
        ``product_id``, ``name``, ``category``, ``lists`` (customers whose list has it), most first,
        ties by product.
    """
    named = recommendations.select("product_id").left_join(
        products.select("product_id", name="name", category="category"), "product_id")
    counted = named.group_by("product_id").aggregate(name=named["name"].arbitrary(),
                                                     category=named["category"].arbitrary(), lists=named.count())
    return counted.order_by([ibis.desc("lists"), "product_id"]).limit(n)


def _propensity(sec: Section, run: dict) -> None:
    """The propensity model's discrimination and calibration on held-out customers."""
    q = run["quality"]
    if run.get("notes"):
        sec.intro += " Propensity: " + " ".join(f"{n[0].upper()}{n[1:]}." for n in run["notes"])
    auc = with_interval(q["auc"], q.get("auc_low"), q.get("auc_high"), "{:.3f}".format)
    sec.figures += [(f"Propensity to buy {run['target']} in {run['days']} days: AUC, held out", auc),
                    ("Brier score, calibrated (raw)", f"{q['brier']:.4f} ({q['brier_raw']:.4f})"),
                    ("Buyers in the top decile / overall", f"{q['top_decile_rate']:.0%} / {q['base_rate']:.0%}")]
    sec.charts.append(chart(figures.calibration(q)))
    sec.charts.append(chart(figures.roc(q)))


__all__ = ["recommend_section", "most_recommended"]
