"""The report's layout: sections import the toolkit, not the writer (no import loop); no report
module reads the engine's connection (the same report runs on Spark); the figures are plain
functions of data; and the Ibis queries that replaced the report's DuckDB SQL give its rows."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import pytest

from micromarket.reports import figures
from micromarket.reports.sections.local import _clv_density, _over_items, _strongest_over
from micromarket.reports.sections.recommend import most_recommended

REPORTS = Path(__file__).resolve().parents[2] / "src" / "micromarket" / "reports"
MODULES = sorted(REPORTS.rglob("*.py"))
SECTIONS = sorted(p.stem for p in (REPORTS / "sections").glob("*.py") if p.stem != "__init__")


def _imports(path: Path) -> set[str]:
    """The modules ``path`` imports from, relative ones as written (``..page``, ``.offers``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {"." * node.level + (node.module or "") for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}


def test_sections_import_the_toolkit_not_the_writer():
    for path in MODULES:
        if path not in (REPORTS / "html.py", REPORTS / "__init__.py"):  # the writer, and the package's public names
            assert not {"..html", ".html", "micromarket.reports.html"} & _imports(path), path


@pytest.mark.parametrize("module", ["figures", "page", *(f"sections.{s}" for s in SECTIONS)])
def test_each_report_module_imports_first(module):
    # A fresh interpreter importing the module before anything else of the package: an import
    # loop would show as a partially initialised module.
    code = f"import micromarket.reports.{module}"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_no_report_module_reads_the_connection():
    for path in MODULES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        uses = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr == "con"]
        assert not uses, f"{path.name} reads ws.con on lines {uses}: use ws.table(...) and Ibis"


def test_figures_are_functions_of_data():
    deciles = pd.DataFrame({"bin": [1, 2], "uplift": [0.05, 0.01], "low": [0.02, -0.01], "high": [0.08, 0.03],
                            "predicted": [0.04, 0.01]})
    quality = {"calibration_raw": {"predicted": [0.1, 0.5], "observed": [0.2, 0.4]},
               "calibration": {"predicted": [0.1, 0.5], "observed": [0.1, 0.5]},
               "roc": {"fpr": [0, 0.5, 1], "tpr": [0, 0.8, 1]}, "auc": 0.8}
    balance = {"treatment": {"threshold": 0.1, "features": [{"feature": "recency", "smd": -0.02},
                                                            {"feature": "frequency", "smd": None}]}}
    made = [figures.uplift_by_decile(deciles, "treatment"), figures.calibration(quality), figures.roc(quality),
            figures.balance_check(balance),
            figures.revenue_by(pd.DataFrame({"key": ["a", "b"], "revenue": [2.0, 1.0]}), "category", "Revenue"),
            figures.cluster_ranges(pd.DataFrame({"store_cluster": ["x"], "skus_across_stores": [12]}), 10)]
    assert all(isinstance(fig, go.Figure) for fig in made)
    assert made[3].data[0].x == (0.02, None)  # |SMD|, none where not measured


@pytest.fixture
def filled(ws):
    """A workspace with a few rows in each table the report queries."""
    ws.append("products", pd.DataFrame({"product_id": ["p1", "p2", "p3"], "name": ["Brie", None, "Merlot"],
                                        "category": ["Cheese", "Dairy", None]}))
    ws.append("recommendations", pd.DataFrame({
        "customer_id": ["c1", "c1", "c2", "c2", "c3", "c3"], "rank": [1, 2, 1, 2, 1, 2],
        "product_id": ["p2", "p1", "p2", "p9", "p1", "p2"], "score": 1.0, "model": "als"}))
    ws.append("areas", pd.DataFrame({"area_id": ["A1", "A2", "A3"], "households": [10.0, 0.0, 4.0]}))
    ws.append("customers", pd.DataFrame({"customer_id": ["c1", "c2", "c3", "c4"], "area_id": ["A1", "A1", "A2", "A3"]}))
    ws.append("customer_profile", pd.DataFrame({"customer_id": ["c1", "c2", "c3", "c4"], "clv": [5.0, 7.0, 3.0, 2.0]}))
    rows = [("cluster", "0", "north", "p1", "g1", 150.0, 0.01, "over", "add"),
            ("cluster", "0", "north", "p3", "g1", 180.0, 0.01, "over", "keep"),
            ("cluster", "0", "north", "p2", "g2", 120.0, 0.20, "over", "expand"),
            ("cluster", "0", "north", "p4", "g2", 90.0, 0.01, "under", "drop"),
            ("cluster", "1", "south", "p2", "g2", 130.0, 0.05, "over", "add"),
            ("store", "s1", "north", "p1", "g1", 300.0, 0.001, "over", "add")]
    columns = ["level", "unit", "store_cluster", "item_id", "item_group", "index", "q_value", "direction", "action"]
    ws.append("assortment_recommendations", pd.DataFrame(rows, columns=columns))
    groups = [("cluster", "0", "north", "Cheese", 140.0, 0.01, "over"), ("cluster", "0", "north", "Wine", 160.0, 0.02, "over"),
              ("cluster", "0", "north", "Dairy", 60.0, 0.01, "under"), ("cluster", "1", "south", "Dairy", 110.0, 0.03, "over")]
    ws.append("assortment_segments", pd.DataFrame(groups, columns=["level", "unit", "store_cluster", "item_group", "index",
                                                                   "q_value", "direction"]))
    return ws


def test_most_recommended_as_the_sql_it_replaced(filled):
    got = filled.storage.rows(most_recommended(filled.table("recommendations"), filled.table("products"), n=2))
    sql = filled.con.execute("""SELECT r.product_id, any_value(p.name), any_value(p.category), count(*) AS lists
                                FROM recommendations r LEFT JOIN products p USING (product_id)
                                GROUP BY r.product_id ORDER BY lists DESC, r.product_id LIMIT 2""").fetchall()
    assert [tuple(r.values()) for r in got] == sql == [("p2", None, "Dairy", 3), ("p1", "Brie", "Cheese", 2)]


def test_over_indexes_as_the_sql_they_replaced(filled):
    items = _over_items(filled).to_pandas()
    sql = filled.con.execute("""
        SELECT r.store_cluster, r.item_id, p.name, r.item_group, r.index, r.q_value, r.action,
               row_number() OVER (PARTITION BY r.unit ORDER BY r.q_value, r.index DESC) AS n
        FROM assortment_recommendations r LEFT JOIN products p ON p.product_id = r.item_id
        WHERE r.level = 'cluster' AND r.direction = 'over' QUALIFY n <= 5
        ORDER BY r.store_cluster, n""").df()
    pd.testing.assert_frame_equal(items, sql, check_dtype=False)
    assert list(items["item_id"]) == ["p3", "p1", "p2", "p2"]
    groups = _strongest_over(filled.table("assortment_segments"), 1, lambda t: [t["index"].desc()])
    groups = groups.select("store_cluster", "item_group", "index", "n").order_by(["store_cluster", "n"]).to_pandas()
    assert list(groups["item_group"]) == ["Wine", "Dairy"] and list(groups["n"]) == [1, 1]


def test_clv_density_as_the_sql_it_replaced(filled):
    sql = filled.con.execute("""
        SELECT c.area_id, sum(p.clv) / any_value(a.households) AS density
        FROM customer_profile p JOIN customers c USING (customer_id) JOIN areas a ON a.area_id = c.area_id
        WHERE a.households > 0 GROUP BY c.area_id ORDER BY c.area_id""").df()
    density = _clv_density(filled)
    assert density.to_dict() == sql.set_index("area_id")["density"].to_dict() == {"A1": 1.2, "A3": 0.5}
