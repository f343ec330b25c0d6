"""Given the same parameters, predictions equal those of lifetimes 0.11.3 to 1e-6 relative.

The reference values were computed once with lifetimes in its own environment (it needs
numpy 1.26, pandas 1.5, scipy 1.11) by bench/lifetimes_reference.py, whose docstring says how.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from micromarket.clv import BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter, ParetoNBDFitter

REF = json.loads((Path(__file__).parent / "fixtures" / "lifetimes_reference.json").read_text())
CLASSES = {"BetaGeoFitter": BetaGeoFitter, "ModifiedBetaGeoFitter": ModifiedBetaGeoFitter,
           "ParetoNBDFitter": ParetoNBDFitter}


def _model(name):
    model = CLASSES[name]()
    model.params_ = dict(REF["models"][name]["params"])
    return model


@pytest.mark.parametrize("name", list(CLASSES))
def test_probability_alive_and_expected_purchases_match_lifetimes(name):
    data = pd.DataFrame(REF["inputs"])
    ref = REF["models"][name]
    model = _model(name)
    assert np.allclose(model.probability_alive(data), ref["probability_alive"], rtol=1e-6, atol=1e-12)
    for t, expected in ref["expected_purchases"].items():
        assert np.allclose(model.expected_purchases(data, float(t)), expected, rtol=1e-6, atol=1e-12), t
    assert np.allclose(model.expected_purchases_new_customer(np.array(REF["horizons"])),
                       ref["expected_purchases_new_customer"], rtol=1e-6)


def test_gamma_gamma_expected_spend_matches_lifetimes():
    ref = REF["gamma_gamma"]
    g = GammaGammaFitter()
    g.params_ = dict(ref["params"])
    data = pd.DataFrame({"frequency": ref["frequency"], "monetary_value": ref["monetary_value"]})
    assert np.allclose(g.expected_spend(data), ref["expected_spend"], rtol=1e-6)
