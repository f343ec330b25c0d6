"""scikit-uplift side by side: reference values for the tests, and peer timings.

Runs in its own environment (scikit-uplift stays out of micromarket's dependencies):

    python -m venv /tmp/sk && /tmp/sk/bin/pip install scikit-uplift pandas scikit-learn lightgbm
    /tmp/sk/bin/python bench/uplift_peers.py reference   # writes tests/data/sklift_reference.json
    /tmp/sk/bin/python bench/uplift_peers.py timing 1000000

``reference``: scikit-uplift's ``qini_auc_score`` and ``uplift_auc_score`` on stored random
inputs (ties, unbalanced groups, negative effects), and on Hillstrom (visit, each e-mail against
No E-Mail, the held-out half of a fixed split) the Qini coefficient of its two-model
(``TwoModels``, vanilla) and class-transformation (``ClassTransformation``) approaches with
``HistGradientBoostingClassifier(random_state=0)``.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

try:  # the project's environment imports synthetic() only; scikit-uplift lives in its own
    import sklearn
    import sklift
    from sklift.metrics import qini_auc_score, uplift_auc_score
    from sklift.models import ClassTransformation, TwoModels
except ImportError:
    sklift = None

ROOT = Path(__file__).resolve().parents[1]
HILLSTROM = ROOT.parent / "shared" / "data" / "hillstrom" / "hillstrom.csv"
REFERENCE = ROOT / "tests" / "data" / "sklift_reference.json"


def hillstrom_split():
    """Features (one-hot), visit, segment and the held-out mask: the split the tests use."""
    frame = pd.read_csv(HILLSTROM)
    X = pd.get_dummies(frame[["recency", "history_segment", "history", "mens", "womens", "zip_code", "newbie",
                              "channel"]], dtype=float).to_numpy()
    held_out = np.zeros(len(frame), dtype=bool)
    held_out[np.random.RandomState(0).permutation(len(frame))[len(frame) // 2:]] = True
    return X, frame["visit"].to_numpy(), frame["segment"].to_numpy(), held_out


def metric_cases() -> list[dict]:
    rng = np.random.RandomState(1)
    cases = []
    for n, share, ties in ((200, 0.5, False), (300, 0.3, True), (150, 0.7, False), (500, 0.5, True)):
        t = (rng.rand(n) < share).astype(int)
        score = rng.randn(n)
        score = np.round(score, 1) if ties else score
        y = (rng.rand(n) < 0.2 + 0.15 * t * (score > 0) - 0.05 * t * (score < -1)).astype(int)
        cases.append({"y": y.tolist(), "uplift": score.tolist(), "treatment": t.tolist(),
                      "qini_auc_score": float(qini_auc_score(y, score, t)),
                      "uplift_auc_score": float(uplift_auc_score(y, score, t))})
    return cases


def hillstrom_reference() -> dict:
    X, y, segment, held_out = hillstrom_split()
    out = {}
    for mail in ("Mens E-Mail", "Womens E-Mail"):
        rows = np.isin(segment, [mail, "No E-Mail"])
        t = (segment == mail).astype(int)
        train, test = rows & ~held_out, rows & held_out
        scores = {}
        for name, model in (("two_models", TwoModels(estimator_trmnt=HistGradientBoostingClassifier(random_state=0),
                                                      estimator_ctrl=HistGradientBoostingClassifier(random_state=0),
                                                      method="vanilla")),
                            ("class_transformation", ClassTransformation(HistGradientBoostingClassifier(random_state=0)))):
            model.fit(X[train], y[train], t[train])
            scores[name] = float(qini_auc_score(y[test], model.predict(X[test]), t[test]))
        out[mail] = scores
    return out


def reference() -> None:
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    REFERENCE.write_text(json.dumps({"scikit_uplift": sklift.__version__, "scikit_learn": sklearn.__version__,
                                     "metrics": metric_cases(), "hillstrom_qini": hillstrom_reference()}, indent=1))
    print(f"wrote {REFERENCE}")


def synthetic(n: int, seed: int = 0):
    """The benchmark's rows: 20 features, a randomised treatment, a heterogeneous effect."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 20))
    t = rng.integers(0, 2, n)
    p = 1 / (1 + np.exp(-(-2 + X[:, 0] + 0.5 * X[:, 1] + t * (0.4 * X[:, 2] + 0.2))))
    return X, (rng.random(n) < p).astype(int), t


def timing(n: int) -> None:
    from lightgbm import LGBMClassifier

    X, y, t = synthetic(n)
    rows = []
    for learner_name, make in (("HistGradientBoostingClassifier", lambda: HistGradientBoostingClassifier(random_state=0)),
                               ("LGBMClassifier", lambda: LGBMClassifier(random_state=0, verbose=-1))):
        for name, model in (("TwoModels", TwoModels(estimator_trmnt=make(), estimator_ctrl=make(), method="vanilla")),
                            ("ClassTransformation", ClassTransformation(make()))):
            start = time.perf_counter()
            model.fit(X, y, t)
            model.predict(X)
            rows.append({"peer": f"scikit-uplift {sklift.__version__} {name}", "base": learner_name,
                         "rows": n, "seconds": round(time.perf_counter() - start, 2)})
    print(json.dumps(rows))


if __name__ == "__main__":
    if sys.argv[1:2] == ["reference"]:
        reference()
    elif sys.argv[1:2] == ["timing"]:
        timing(int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000)
    else:
        raise SystemExit(__doc__)
