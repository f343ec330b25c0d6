"""Clustered segments, personas and area types on a generated chain with known personas and area types."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from micromarket.exceptions import SchemaError
from micromarket.segments import list_segments
from micromarket.runner import run_area_types, run_assign, run_clusters, run_rule_segment
from micromarket.learn.clusters import CustomerClusters, knee, nearest, weighted_ward
from micromarket.segments.geo import area_types
from micromarket.segments.segmentation import segment_labels


def _truth_labels(ws, truth, name, granularity="segment"):
    labels = segment_labels(ws, name, granularity).to_pandas()
    truth = truth.assign(customer_id=truth["customer_id"].astype(str))
    return labels.merge(truth[["customer_id", "persona"]], on="customer_id")


def test_clusters_recover_the_generated_personas_at_the_true_k(chain):
    ws, truth = chain
    result = run_clusters(ws, "at-true-k", k=truth["persona"].nunique())
    both = _truth_labels(ws, truth, "at-true-k")
    assert len(both) == len(ws.table("customer_profile").execute())
    assert adjusted_rand_score(both["persona"], both["segment"]) >= 0.8
    assert result.stability > 0.8 and 0 < result.silhouette < 1


def test_automatic_k_lands_within_one_of_the_true_number(chain):
    ws, truth = chain
    result = run_clusters(ws, "auto-k", k="auto")
    assert abs(result.k - truth["persona"].nunique()) <= 1
    assert len(result.scores) == 11  # k = 2..12 were tried, and their costs are kept


def test_personas_are_deterministic_and_describe_what_sets_segments_apart(chain):
    ws, truth = chain
    first = run_clusters(ws, "persona-a", k=5).segments
    second = run_clusters(ws, "persona-b", k=5).segments
    assert list(first["persona_name"]) == list(second["persona_name"])
    assert first["persona_name"].is_unique
    rows = ws.con.execute("SELECT name, persona, definition FROM segments WHERE segmentation = 'persona-a'").fetchall()
    for name, persona, definition in rows:
        facts = json.loads(definition)
        assert f"{facts['customers']:,} customers" in persona and "Top categories" in persona
        assert facts["top_categories"] and facts["preferred_channel"] in {"store", "web", "app"}
    # The segment holding most of the generator's senior persona is named and described as older.
    both = _truth_labels(ws, truth, "persona-a")
    seniors = both[both["persona"] == "Senior loyalists"]["segment"].value_counts().index[0]
    name, persona = ws.con.execute("SELECT persona_name, persona FROM segments WHERE name = ?", [seniors]).fetchone()
    assert "Senior" in name and "are older" in persona


def test_hierarchy_nests_micro_segments_into_niches_and_segments(chain):
    ws, truth = chain
    result = run_clusters(ws, "tree", k=5, micro_k=40)
    assert result.levels == {"segment": 5, "niche": 14, "micro": 40}
    levels = {g: segment_labels(ws, "tree", g).to_pandas().set_index("customer_id")["segment"]
              for g in ("mass", "segment", "niche", "micro", "one")}
    assert levels["mass"].nunique() == 1 and levels["one"].nunique() == len(levels["one"])
    # Nested: every micro-segment lies in exactly one niche, every niche in one segment.
    for fine, coarse in (("micro", "niche"), ("niche", "segment")):
        pairs = pd.DataFrame({"fine": levels[fine], "coarse": levels[coarse]})
        assert (pairs.groupby("fine")["coarse"].nunique() == 1).all()
    parents = ws.con.execute("SELECT count(*) FROM segments s JOIN segments p ON s.parent_id = p.segment_id "
                             "WHERE s.segmentation = 'tree' AND s.granularity = 'micro' AND p.granularity = 'niche'").fetchone()
    assert parents[0] == 40
    both = _truth_labels(ws, truth, "tree")
    assert adjusted_rand_score(both["persona"], both["segment"]) >= 0.7
    with pytest.raises(SchemaError, match="granularity"):
        segment_labels(ws, "tree", "neighbourhood")


def test_new_customers_are_assigned_without_refitting(chain):
    ws, _ = chain
    run_clusters(ws, "assign", k=5)
    before = segment_labels(ws, "assign").to_pandas().set_index("customer_id")["segment"]
    leavers = before.index[:300]
    ws.con.execute("DELETE FROM segment_members WHERE customer_id IN (SELECT unnest(?)) AND segment_id IN "
                   "(SELECT segment_id FROM segments WHERE segmentation = 'assign')", [list(leavers)])
    assert run_assign(ws, "assign") == 300
    after = segment_labels(ws, "assign").to_pandas().set_index("customer_id")["segment"]
    # The stored scaling and centres put them back where the fit had them.
    assert (after.loc[leavers] == before.loc[leavers]).mean() > 0.98
    assert run_assign(ws, "assign") == 0


def test_gaussian_mixture_and_chosen_features_and_weights(chain):
    ws, truth = chain
    result = run_clusters(ws, "gmm", k=5, method="gmm", features=["age", "share:*", "channel:*"],
                               weights={"age": 2.0})
    assert result.method == "gmm" and "frequency" not in result.features and result.levels == {"segment": 5}
    assert run_assign(ws, "gmm") == 0
    with pytest.raises(SchemaError, match="unknown feature 'agee'"):
        run_clusters(ws, "bad", features=["agee", "clv"])
    with pytest.raises(SchemaError, match="weights for features not chosen"):
        run_clusters(ws, "bad", features=["age", "clv"], weights={"frequency": 2})


def test_area_types_recover_the_generated_neighbourhood_types(chain):
    ws, _ = chain
    truth = pd.read_parquet(ws.root / "data" / "truth" / "areas_truth.parquet")
    result = run_area_types(ws, k="auto")
    assert result.k == truth["area_type"].nunique()
    got = ws.table("area_types").to_pandas().merge(truth, on="area_id", suffixes=("", "_true"))
    assert adjusted_rand_score(got["area_type_true"], got["area_type"]) >= 0.8
    # Customers inherit their area's type; each type is profiled.
    profile = result.types.set_index("area_type")
    assert profile["customers"].sum() == len(ws.table("customers").execute())
    assert (profile["penetration"] > 0).all() and profile["top_categories"].notna().all()
    affluent = profile["mean_clv"].idxmax()
    assert "high median income" in affluent.lower()
    # ... and rules can use the type.
    info = run_rule_segment(ws, "in-top-type", f'area.type == "{affluent}"', replace=True)
    assert info["size"] == profile.loc[affluent, "customers"]
    assert set(list_segments(ws, kind="area_type")["persona_name"]) == set(profile.index)


def test_knee_ward_and_nearest_centre_helpers():
    assert knee([2, 3, 4, 5, 6, 7, 8], [100, 70, 45, 22, 20, 18.5, 17]) == 5
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [0.2, 0.0], [10.0, 10.0], [10.3, 10.0]])
    Z = weighted_ward(centres, np.array([10, 1000, 10, 10]))
    from scipy.cluster.hierarchy import fcluster
    two = fcluster(Z, 2, "maxclust")
    assert two[0] == two[1] and two[2] == two[3] and two[0] != two[2]
    X = rng.normal(size=(1000, 2)) + centres[rng.integers(0, 4, 1000)]
    brute = np.argmin(((X[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
    assert (nearest(X, centres) == brute).all()
    with pytest.raises(SchemaError, match="too few"):
        CustomerClusters(n_clusters=5).fit(X[:6])


def test_persona_names_repeat_no_word_and_tell_segments_apart():
    """recency and tenure_days both say "long-standing": the name takes the next word instead; a
    name already given gets a third word before it gets a number."""
    from micromarket.segments.personas import name_for

    used: set[str] = set()
    diff = pd.Series({"tenure_days": 1.2, "recency": 1.1, "frequency": 0.8, "weekend_share": -0.5})
    assert name_for(diff, used) == "Long-standing frequent shoppers"
    assert name_for(diff, used) == "Long-standing frequent weekday shoppers"
    assert name_for(diff, used) == "Long-standing frequent weekday shoppers (2)"
    assert name_for(pd.Series({"share:(unknown)": 2.0, "age": 0.1}), set()) == "Typical shoppers"
