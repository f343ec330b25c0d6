"""Compute reference values of log 2F1(a, b; a + 1; z) with mpmath for tests/clv/test_hypergeometric.py.

mpmath evaluates the function to 50 digits; it is not a dependency of the project, so this
runs once in any environment that has it (the lifetimes environment of
bench/lifetimes_reference.py does):

    /tmp/lt/bin/pip install mpmath
    /tmp/lt/bin/python bench/hypergeometric_reference.py tests/clv/fixtures/hypergeometric_reference.json

The points cover what Pareto/NBD asks for when one scale parameter dwarfs the other (z up to
1 - 1e-14, a = r + s + x up to 5000, b = s + 1 or r + x from 0.05 to 2000), where SciPy's hyp2f1
fails, and a band below z = 0.99, where the computation hands over to SciPy.
"""

import json
import sys

import mpmath
import numpy as np


def points(rng: np.random.Generator, n: int, log_gap: tuple[float, float]) -> dict[str, list[float]]:
    """``n`` points with a, b log-uniform and 1 - z log-uniform between ``exp(log_gap)``."""
    a = np.exp(rng.uniform(np.log(0.05), np.log(5000), n))
    b = np.exp(rng.uniform(np.log(0.05), np.log(2000), n))
    z = 1 - np.exp(rng.uniform(*log_gap, n))
    return {"a": a.tolist(), "b": b.tolist(), "z": z.tolist()}


def log_hyp2f1(a: float, b: float, z: float) -> float:
    return float(mpmath.log(mpmath.hyp2f1(a, b, a + 1, mpmath.mpf(z))))


def main(path: str) -> None:
    mpmath.mp.dps = 50
    rng = np.random.default_rng(20261124)
    sets = {"near_one": points(rng, 300, (np.log(1e-14), np.log(0.01))),
            "below_handover": points(rng, 100, (np.log(0.01), np.log(0.5)))}
    for values in sets.values():
        values["log_hyp2f1"] = [log_hyp2f1(a, b, z) for a, b, z in zip(values["a"], values["b"], values["z"])]
    sets["mpmath"] = mpmath.__version__
    with open(path, "w") as out:
        json.dump(sets, out)


if __name__ == "__main__":
    main(sys.argv[1])
