"""log 2F1(a, b; a + 1; z), the hypergeometric term of Pareto/NBD, against mpmath.

The reference values were computed once at 50 digits by bench/hypergeometric_reference.py,
whose docstring says how (mpmath is not a dependency of the project).
"""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.special import hyp2f1

from micromarket.clv.pareto_nbd import _SCIPY_Z_LIMIT, _log_hyp2f1_by_quadrature, _log_hyp2f1_c_eq_a_plus_1

REF = json.loads((Path(__file__).parent / "fixtures" / "hypergeometric_reference.json").read_text())


def _relative_error(values, ref):
    # Relative in the log, absolute where the log is below 1 in size.
    return np.abs(values - ref) / np.maximum(1.0, np.abs(ref))


@pytest.mark.parametrize("where", ["near_one", "below_handover"])
def test_log_hyp2f1_matches_mpmath(where):
    a, b, z, ref = (np.array(REF[where][k]) for k in ("a", "b", "z", "log_hyp2f1"))
    assert _relative_error(_log_hyp2f1_c_eq_a_plus_1(a, b, z), ref).max() < 2e-10


def test_quadrature_agrees_with_mpmath_on_both_sides_of_the_handover():
    """The quadrature is exact below the handover too, so the two routes meet without a step."""
    for where in ("near_one", "below_handover"):
        a, b, z, ref = (np.array(REF[where][k]) for k in ("a", "b", "z", "log_hyp2f1"))
        assert _relative_error(_log_hyp2f1_by_quadrature(a, b, z), ref).max() < 2e-10, where


def test_scipy_alone_fails_near_one():
    """Why the quadrature exists: SciPy's hyp2f1 gives NaN or wrong digits above the handover.
    If a SciPy release fixes this, the handover (and the quadrature's cost) can go."""
    a, b, z, ref = (np.array(REF["near_one"][k]) for k in ("a", "b", "z", "log_hyp2f1"))
    assert (z >= _SCIPY_Z_LIMIT).all()
    with np.errstate(invalid="ignore", divide="ignore"):
        scipy_only = (1 - b) * np.log1p(-z) + np.log(hyp2f1(1.0, a + 1 - b, a + 1, z))
    wrong = ~np.isfinite(scipy_only) | (_relative_error(scipy_only, ref) > 1e-6)
    assert wrong.mean() > 0.05
