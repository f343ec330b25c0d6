"""The report's recommendations and propensity section: how each recommender did on the last
days of purchases, what the chosen one recommends most, and the propensity model's
discrimination and calibration on held-out customers."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pandas as pd
import plotly.graph_objects as go

from .html import Section, chart

if TYPE_CHECKING:
    from ..workspace import Workspace


def _latest(ws: "Workspace", table: str) -> dict | None:
    row = ws.con.execute(f'SELECT summary FROM "{table}" ORDER BY run_id DESC LIMIT 1').fetchone()
    return None if row is None else json.loads(row[0])


def recommend_section(ws: "Workspace") -> Section | None:
    """Recommendations and propensity; ``None`` before either has run."""
    recommended, propensity = _latest(ws, "recommendation_runs"), _latest(ws, "propensity_runs")
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
    settings, checked = run["settings"], pd.DataFrame(run["evaluation"])
    sec.figures.append((f"Recommender (top {settings['n']}, exclude {settings['exclude']})",
                        run["model"].replace("_", " ")))
    if checked.empty:
        return
    split = run["split"]
    by = checked.set_index("model")
    if "popularity" in by.index and run["model"] in by.index:
        gain = by.loc[run["model"], "precision"] / max(by.loc["popularity", "precision"], 1e-12)
        sec.figures.append((f"Precision@{split['k']} against best-sellers", f"{gain:.1f}x"))
    fig = go.Figure([go.Bar(x=checked["model"], y=checked[metric], name=label)
                     for metric, label in (("precision", f"precision@{split['k']}"), ("recall", f"recall@{split['k']}"),
                                           ("ndcg", f"NDCG@{split['k']}"))])
    fig.update_layout(title=f"Recommenders checked on purchases {split['cutoff']} to {split['last_day']}", barmode="group")
    sec.charts.append(chart(fig))
    top = ws.con.execute("""SELECT r.product_id, any_value(p.name), any_value(p.category), count(*) AS lists
                            FROM recommendations r LEFT JOIN products p USING (product_id)
                            GROUP BY r.product_id ORDER BY lists DESC, r.product_id LIMIT 10""").fetchall()
    sec.tables.append({"caption": "Most recommended products", "header": ("product", "name", "category", "customers"),
                       "rows": [(p, n or "", c or "", f"{k:,}") for p, n, c, k in top]})


def _propensity(sec: Section, run: dict) -> None:
    q = run["quality"]
    if run.get("notes"):
        sec.intro += " Propensity: " + " ".join(f"{n[0].upper()}{n[1:]}." for n in run["notes"])
    sec.figures += [(f"Propensity to buy {run['target']} in {run['days']} days: AUC", f"{q['auc']:.3f}"),
                    ("Brier score, calibrated (raw)", f"{q['brier']:.4f} ({q['brier_raw']:.4f})"),
                    ("Buyers in the top decile / overall", f"{q['top_decile_rate']:.0%} / {q['base_rate']:.0%}")]
    fig = go.Figure([go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line=dict(dash="dot", color="grey")),
                     go.Scatter(x=q["calibration_raw"]["predicted"], y=q["calibration_raw"]["observed"],
                                mode="lines+markers", name="gradient boosting, raw"),
                     go.Scatter(x=q["calibration"]["predicted"], y=q["calibration"]["observed"],
                                mode="lines+markers", name="calibrated (isotonic)")])
    fig.update_layout(title="Calibration on held-out customers (deciles of predicted probability)",
                      xaxis_title="predicted probability", yaxis_title="share who bought")
    sec.charts.append(chart(fig))
    fig = go.Figure([go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line=dict(dash="dot", color="grey")),
                     go.Scatter(x=q["roc"]["fpr"], y=q["roc"]["tpr"], mode="lines", name=f"AUC {q['auc']:.3f}")])
    fig.update_layout(title="ROC curve on held-out customers", xaxis_title="false positive rate",
                      yaxis_title="true positive rate")
    sec.charts.append(chart(fig))
