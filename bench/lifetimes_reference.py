"""Compute reference predictions with lifetimes 0.11.3 for tests/clv/test_lifetimes_parity.py.

lifetimes needs numpy 1.26, pandas 1.5 and scipy 1.11, so it runs in its own environment,
never in the project's:

    python3.11 -m venv /tmp/lt
    /tmp/lt/bin/pip install lifetimes==0.11.3 numpy==1.26.4 pandas==1.5.3 scipy==1.11.4
    /tmp/lt/bin/python bench/lifetimes_reference.py tests/clv/fixtures/lifetimes_reference.json

The output holds, for fixed parameters (the published CDNOW estimates) and a grid of
customer histories, every prediction the parity test compares.
"""

import json
import sys

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter, ParetoNBDFitter
import lifetimes

PARAMS = {
    "BetaGeoFitter": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
    "ModifiedBetaGeoFitter": {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614},
    "ParetoNBDFitter": {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669},
}
GG = {"p": 6.25, "q": 3.74, "v": 15.44}
HORIZONS = [1.0, 10.0, 39.0, 52.0]


def grid():
    rows = []
    for T in (5.0, 20.0, 38.86, 78.0):
        for x in (0, 1, 2, 5, 12, 30):
            for share in (0.1, 0.5, 0.9, 1.0):
                t_x = 0.0 if x == 0 else round(share * T, 4)
                rows.append((x, t_x, T))
    return pd.DataFrame(sorted(set(rows)), columns=["frequency", "recency", "T"])


def main(out: str) -> None:
    data = grid()
    classes = {"BetaGeoFitter": BetaGeoFitter, "ModifiedBetaGeoFitter": ModifiedBetaGeoFitter,
               "ParetoNBDFitter": ParetoNBDFitter}
    result = {"lifetimes_version": lifetimes.__version__, "numpy": np.__version__, "pandas": pd.__version__,
              "inputs": data.to_dict("list"), "horizons": HORIZONS, "models": {}}
    for name, params in PARAMS.items():
        model = classes[name]()
        model.params_ = pd.Series(params)
        x, t_x, T = data["frequency"], data["recency"], data["T"]
        result["models"][name] = {
            "params": params,
            "probability_alive": list(map(float, model.conditional_probability_alive(x, t_x, T))),
            "expected_purchases": {str(t): list(map(float, model.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T)))
                                   for t in HORIZONS},
            "expected_purchases_new_customer": [float(model.expected_number_of_purchases_up_to_time(t)) for t in HORIZONS],
        }
    gg = GammaGammaFitter()
    gg.params_ = pd.Series(GG)
    freq = pd.Series([1, 2, 3, 5, 10, 25])
    spend = pd.Series([10.0, 22.35, 50.0, 5.5, 100.0, 31.2])
    result["gamma_gamma"] = {"params": GG, "frequency": freq.tolist(), "monetary_value": spend.tolist(),
                             "expected_spend": list(map(float, gg.conditional_expected_average_profit(freq, spend)))}
    with open(out, "w") as fh:
        json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "lifetimes_reference.json")
