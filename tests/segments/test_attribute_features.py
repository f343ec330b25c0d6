"""Attributes a customers file brought are clustering features and appear in personas."""

import numpy as np
import pandas as pd
import pytest

from micromarket import Workspace
from micromarket.ingest.generate import generate
from micromarket.runner import run_clusters, run_profile
from micromarket.segments.features import customer_features

BANDS = ["Under 15K", "15-24K", "25-34K", "35-49K", "50-74K", "75-99K", "100-124K", "250K+"]


@pytest.fixture(scope="module")
def with_demographics(tmp_path_factory):
    root = tmp_path_factory.mktemp("demographics")
    generate(root / "data", 1_500, seed=9)
    ws = Workspace.create(root / "ws")
    for table in ("products", "customers", "transactions"):
        ws.ingest(root / "data" / f"{table}.parquet", table=table)
    run_profile(ws)
    ids = ws.table("customer_profile").select("customer_id", "frequency").to_pandas()
    rng = np.random.default_rng(3)
    # Income rises with how often a customer buys, so the band separates customers as frequency does.
    rank = ids["frequency"].rank(pct=True).to_numpy()
    band = np.minimum((rank * len(BANDS)).astype(int), len(BANDS) - 1)
    extra = pd.DataFrame({"customer_id": ids["customer_id"], "INCOME_DESC": np.array(BANDS)[band],
                          "HOMEOWNER_DESC": np.where(rng.random(len(ids)) < 0.7, "Homeowner", "Renter")})
    extra.loc[extra.index[:20], "INCOME_DESC"] = "Unknown"
    extra.to_csv(root / "demographics.csv", index=False)
    ws.ingest(root / "demographics.csv", table="customers")
    yield ws, extra.set_index("customer_id")
    ws.close()


def test_bands_are_positions_and_categories_indicators(with_demographics):
    ws, extra = with_demographics
    frame = customer_features(ws)
    expected = extra["INCOME_DESC"].map({b: float(i) for i, b in enumerate(BANDS)}).reindex(frame.index)
    assert np.allclose(frame["customer:income_desc"], expected, equal_nan=True)
    assert frame["customer:income_desc"].isna().sum() == 20  # "Unknown" is no band
    renter = (extra["HOMEOWNER_DESC"] == "Renter").astype(float).reindex(frame.index)
    assert np.array_equal(frame["customer:homeowner_desc=Renter"], renter)
    # Attributes are clustered on only when asked for (--feature customer:*).
    assert not any(f.startswith("customer:") for f in run_clusters(ws, "default", k=3).features)


def test_clusters_on_attributes_describe_them(with_demographics):
    ws, extra = with_demographics
    result = run_clusters(ws, "by income", features=["frequency", "customer:*"], k=3)
    assert "customer:income_desc" in result.features and "customer:homeowner_desc=Renter" in result.features
    segments = result.segments[result.segments["granularity"] == "segment"]
    persona = ws.con.execute("SELECT persona FROM segments WHERE segmentation = 'by income' AND granularity = 'segment'"
                             ).fetchall()
    assert len(segments) == 3 and all("Most common: income desc " in p for (p,) in persona)
    # The most common income band named for each segment is the band most of its members have.
    members = ws.con.execute(
        "SELECT s.persona, m.customer_id FROM segments s JOIN segment_members m USING (segment_id) "
        "WHERE s.segmentation = 'by income' AND s.granularity = 'segment'").fetchall()
    by_persona = pd.DataFrame(members, columns=["persona", "customer_id"])
    for persona_text, group in by_persona.groupby("persona"):
        mode = extra["INCOME_DESC"].reindex(group["customer_id"]).value_counts().index[0]
        assert f"income desc {mode}" in persona_text


def test_the_report_shows_customers_by_band_in_order(with_demographics, tmp_path):
    from micromarket.reports import write_report
    from micromarket.reports.overview import customers_by

    ws, extra = with_demographics
    counted = customers_by(ws.table("customers"), "income_desc", BANDS).execute()
    assert counted["key"].tolist()[:len(BANDS)] == BANDS  # in the bands' order, not by text or count
    assert dict(zip(counted["key"], counted["customers"]))["Unknown"] == 20
    html = write_report(ws, tmp_path / "r.html").read_text()
    assert "Customers by income desc (band)" in html and "Customers by homeowner desc (category)" in html
    assert "Kept as income_desc" in html and "Columns not used" not in html
