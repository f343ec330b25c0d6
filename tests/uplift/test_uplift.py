"""Uplift models and metrics: scikit-uplift's numbers reproduced, Hillstrom, simulate-and-recover."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression

from micromarket.uplift import (SLearner, TLearner, TransformedOutcome, XLearner, qini_auc_score, qini_curve,
                                uplift_auc_score, uplift_by_decile)

REFERENCE = json.loads((Path(__file__).parents[1] / "data" / "sklift_reference.json").read_text())
LEARNERS = (SLearner, TLearner, XLearner, TransformedOutcome)


def test_metrics_reproduce_scikit_uplift():
    assert REFERENCE["scikit_uplift"] == "0.5.1"
    for case in REFERENCE["metrics"]:
        args = (case["y"], case["uplift"], case["treatment"])
        assert qini_auc_score(*args) == pytest.approx(case["qini_auc_score"], abs=1e-12)
        assert uplift_auc_score(*args) == pytest.approx(case["uplift_auc_score"], abs=1e-12)


def test_perfect_and_random_rankings_score_one_and_about_zero():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 2, 4000)
    y = (rng.random(4000) < 0.2 + 0.2 * t).astype(int)
    assert qini_auc_score(y, y * t - y * (1 - t), t) == pytest.approx(1.0)
    assert abs(qini_auc_score(y, rng.random(4000), t)) < 0.1
    x, curve = qini_curve(y, rng.random(4000), t)
    assert x[0] == 0 and curve[0] == 0 and x[-1] == 4000


def hillstrom(data_dir):
    """The split of bench/uplift_peers.py: features, visit, segment, held-out mask."""
    frame = pd.read_csv(data_dir / "hillstrom" / "hillstrom.csv")
    X = pd.get_dummies(frame[["recency", "history_segment", "history", "mens", "womens", "zip_code", "newbie",
                              "channel"]], dtype=float).to_numpy()
    held_out = np.zeros(len(frame), dtype=bool)
    held_out[np.random.RandomState(0).permutation(len(frame))[len(frame) // 2:]] = True
    return X, frame["visit"].to_numpy(), frame["segment"].to_numpy(), held_out


def test_hillstrom_best_model_matches_or_beats_scikit_uplift(data_dir):
    X, y, segment, held_out = hillstrom(data_dir)
    train = ~held_out
    qini = {}
    for learner in LEARNERS:
        # Both e-mails at once, each against No E-Mail.
        model = learner(HistGradientBoostingClassifier(random_state=0), control="No E-Mail")
        uplift = model.fit(X[train], y[train], segment[train]).predict(X[held_out])
        assert model.treatments_ == ["Mens E-Mail", "Womens E-Mail"] and uplift.shape == (held_out.sum(), 2)
        for j, mail in enumerate(model.treatments_):
            rows = np.isin(segment[held_out], [mail, "No E-Mail"])
            qini[(learner.__name__, mail)] = qini_auc_score(y[held_out][rows], uplift[rows, j],
                                                            (segment[held_out][rows] == mail).astype(int))
    for mail, peers in REFERENCE["hillstrom_qini"].items():
        ours = max(v for (name, m), v in qini.items() if m == mail)
        assert ours >= max(peers.values()) - 1e-12, (mail, qini, peers)
        # The T-learner is scikit-uplift's two-model approach: the same numbers.
        assert qini[("TLearner", mail)] == pytest.approx(peers["two_models"], abs=1e-9)
    assert qini[("TLearner", "Womens E-Mail")] > 0.03  # women's e-mail has a targetable effect on visits


def simulated(n=20_000, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    t = rng.integers(0, 2, n)
    effect = 0.15 * (X[:, 0] > 0) - 0.05 * (X[:, 1] > 1)
    base = 1 / (1 + np.exp(-(-1.2 + 0.6 * X[:, 2])))
    y = (rng.random(n) < np.clip(base + t * effect, 0, 1)).astype(int)
    return X, y, t, effect


@pytest.mark.parametrize("learner", LEARNERS)
def test_learners_recover_a_known_effect(learner):
    X, y, t, effect = simulated()
    model = learner(HistGradientBoostingClassifier(max_iter=60, random_state=0)).fit(X[:15_000], y[:15_000], t[:15_000])
    predicted = model.predict(X[15_000:])
    assert np.corrcoef(predicted, effect[15_000:])[0, 1] > 0.5
    table = uplift_by_decile(y[15_000:], predicted, t[15_000:])
    assert table["uplift"].iloc[0] > table["uplift"].iloc[-1] and (table["low"] < table["high"]).all()
    assert table["rows"].sum() == 5_000


def test_amounts_unbalanced_groups_and_a_propensity_model():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(8_000, 3))
    t = (rng.random(8_000) < 0.25).astype(int)  # a quarter treated
    spend = 10 + 2 * X[:, 0] + t * (3 + 4 * (X[:, 1] > 0)) + rng.normal(0, 1, 8_000)
    truth = 3 + 4 * (X[:, 1] > 0)
    for model in (TLearner(LinearRegression()), SLearner(HistGradientBoostingRegressor(random_state=0)),
                  XLearner(LinearRegression(), propensity_estimator=LogisticRegression()),
                  TransformedOutcome(HistGradientBoostingRegressor(random_state=0))):
        predicted = model.fit(X, spend, t).predict(X)
        assert abs(predicted.mean() - truth.mean()) < 0.6, type(model).__name__
    # Class transformation re-weights unbalanced groups, so its uplift stays centred on the truth.
    y = (rng.random(8_000) < 0.2 + 0.2 * t).astype(int)
    mean = TransformedOutcome(LogisticRegression()).fit(X, y, t).predict(X).mean()
    assert mean == pytest.approx(0.2, abs=0.05)


def test_bad_input():
    X, y, t, _ = simulated(200)
    with pytest.raises(ValueError, match="name the untreated one"):
        TLearner(LogisticRegression()).fit(X, y, np.where(t == 1, "mail", "none"))
    with pytest.raises(ValueError, match="control label 'holdout' does not occur"):
        TLearner(LogisticRegression(), control="holdout").fit(X, y, np.where(t == 1, "mail", "none"))
    with pytest.raises(ValueError, match="0/1 outcome"):
        TLearner(LogisticRegression()).fit(X, y * 2.5, t)
    with pytest.raises(ValueError, match="must match"):
        TLearner(LogisticRegression()).fit(X[:10], y, t)
    with pytest.raises(ValueError, match="treatment must be 0/1"):
        qini_auc_score(y, y, t * 2)
