"""Lift: the difference a campaign made, treatment against control, with its interval.

For an outcome per member (bought or not, revenue, profit), with means ``m_t`` and ``m_c``,
sample variances ``s_t²`` and ``s_c²`` over ``n_t`` and ``n_c`` members:

- **absolute lift** ``m_t - m_c``, standard error ``sqrt(s_t²/n_t + s_c²/n_c)``, Welch's t
  with Welch-Satterthwaite degrees of freedom (the groups' spreads are not assumed equal: a
  campaign changes the spread of spend as well as its mean);
- **relative lift** ``(m_t - m_c) / m_c``, its variance by the delta method,
  ``s_t²/(m_c² n_t) + s_c² m_t²/(m_c⁴ n_c)``, with the same degrees of freedom;
- **CUPED** (Deng et al. 2013): with a pre-period covariate ``x`` (the same outcome in the
  equally long period before the campaign), each group's mean is taken of
  ``y - theta x``, ``theta`` from both groups together (:func:`.moments.cuped_theta`). The
  expected difference is unchanged (randomisation makes the groups' pre-period means equal in
  expectation) and the variance falls by the squared correlation of ``y`` and ``x``; the
  relative lift stays relative to the control's unadjusted mean.
- **sequential**: the interval and p-value of a confidence sequence
  (:mod:`.sequential`), valid at every look of a running campaign.

The conversion metric uses the same formula as revenue, with the unbiased variance
``n p (1 - p) / (n - 1)``: statsmodels' Welch test and GrowthBook's engine (fed the sums) agree
with it to 1e-6, which the tests check. (GrowthBook's ``ProportionStatistic`` divides by ``n``
instead, a difference of order ``1/n``.)

>>> r = lift([1, 0, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0])
>>> round(r.estimate, 4), r.n_treatment, r.n_control
(0.3333, 3, 3)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import t as student_t

from ..exceptions import MicromarketError
from . import sequential as seq
from .moments import Moments, cuped_theta


@dataclass(frozen=True)
class Lift:
    """One comparison of treatment against control.

    ``estimate`` is absolute (outcome units per member) or relative (a fraction: 0.05 is
    +5 %); ``ci_low``/``ci_high`` bound it at level ``1 - alpha``; ``p_value`` tests it against
    zero. ``sequential`` says the interval is a confidence sequence's (valid at every look),
    ``theta`` is CUPED's coefficient (0 without a covariate). ``note`` says why a figure is NaN
    (too few members, no variation, a control mean of zero for a relative lift).
    """

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    std_error: float
    dof: float
    mean_treatment: float
    mean_control: float
    n_treatment: int
    n_control: int
    alpha: float = 0.05
    relative: bool = False
    sequential: bool = False
    theta: float = 0.0
    note: str = ""

    @property
    def significant(self) -> bool:
        """Whether the interval excludes zero."""
        return bool(self.ci_low > 0 or self.ci_high < 0)

    def scaled(self, factor: float) -> "Lift":
        """The same comparison with estimate and interval multiplied by ``factor`` (per member to a
        campaign's total: incremental revenue is the lift per member times the treated members)."""
        values = asdict(self)
        for name in ("estimate", "ci_low", "ci_high", "std_error"):
            values[name] = values[name] * factor
        if factor < 0:
            values["ci_low"], values["ci_high"] = values["ci_high"], values["ci_low"]
        return Lift(**values)

    def to_dict(self) -> dict:
        """JSON-ready: every field, NaN as None."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def compare(treated: Moments, control: Moments, *, relative: bool = False, cuped: bool = False,
            alpha: float = 0.05, sequential: bool = False, tuning: float = seq.TUNING) -> Lift:
    """Lift of ``treated`` over ``control`` from their sums (see the module).

    Parameters
    ----------
    treated, control : Moments
    relative : bool
        Relative lift (a fraction of the control's mean) instead of the absolute difference.
    cuped : bool
        Adjust with the covariate sums (the pre-period outcome).
    alpha : float
        One minus the interval's level.
    sequential : bool
        A confidence sequence's interval and always-valid p-value (:mod:`.sequential`).
    tuning : float
        Members the sequence is tightest at.

    Returns
    -------
    Lift
    """
    if not 0 < alpha < 1:
        raise MicromarketError(f"alpha must be between 0 and 1, got {alpha}")
    theta = cuped_theta(treated, control) if cuped else 0.0
    mean_t, var_t = treated.adjusted(theta)
    mean_c, var_c = control.adjusted(theta)
    base = dict(mean_treatment=treated.mean, mean_control=control.mean, n_treatment=treated.n,
                n_control=control.n, alpha=alpha, relative=relative, sequential=sequential, theta=theta)
    if treated.n < 2 or control.n < 2:
        return _undefined(base, "fewer than two members in a group")
    if relative and control.mean == 0:
        return _undefined(base, "the control group's mean is 0: a relative lift is undefined")
    if relative:
        estimate = (mean_t - mean_c) / control.mean
        variance = var_t / (control.mean ** 2 * treated.n) + var_c * treated.mean ** 2 / (control.mean ** 4 * control.n)
    else:
        estimate = mean_t - mean_c
        variance = var_t / treated.n + var_c / control.n
    if variance <= 0:
        return _undefined(base, "the outcome does not vary within the groups", estimate)
    dof = _welch_dof(var_t, treated.n, var_c, control.n)
    if sequential:
        width = seq.half_width(variance, treated.n + control.n, alpha, tuning)
        p = seq.p_value(estimate, variance, treated.n + control.n, alpha, tuning)
    else:
        width = float(student_t.ppf(1 - alpha / 2, dof)) * math.sqrt(variance)
        p = float(2 * student_t.sf(abs(estimate) / math.sqrt(variance), dof))
    return Lift(estimate, estimate - width, estimate + width, p, math.sqrt(variance), dof, **base)


def _welch_dof(var_t: float, n_t: int, var_c: float, n_c: float) -> float:
    a, b = var_t / n_t, var_c / n_c
    return (a + b) ** 2 / (a ** 2 / (n_t - 1) + b ** 2 / (n_c - 1))


def _undefined(base: dict, note: str, estimate: float = math.nan) -> Lift:
    nan = math.nan
    return Lift(estimate, nan, nan, nan, nan, nan, note=note, **base)


def lift(y, treatment, covariate=None, relative: bool = False, alpha: float = 0.05, *,
         sequential: bool = False, tuning: float = seq.TUNING) -> Lift:
    """Lift of an outcome between treated (``treatment == 1``) and control (``0``) members.

    Parameters
    ----------
    y : array-like
        Outcome per member: 0/1 for conversion, money for revenue or profit.
    treatment : array-like
        1 for treated members, 0 for control.
    covariate : array-like, optional
        The pre-period outcome per member, for CUPED.
    relative : bool
        Relative lift instead of the absolute difference.
    alpha : float
        One minus the interval's level.
    sequential : bool
        A confidence sequence's interval (valid however often a running campaign is looked at).
    tuning : float
        Members the sequence is tightest at.

    Returns
    -------
    Lift
        ``estimate``, ``ci_low``, ``ci_high``, ``p_value`` and the groups' means and sizes.
    """
    y = np.asarray(y, dtype=float)
    group = np.asarray(treatment)
    if y.ndim != 1 or group.shape != y.shape:
        raise MicromarketError(f"y and treatment must be 1-d arrays of one length, got {y.shape} and {group.shape}")
    if not np.isin(group, (0, 1)).all():
        raise MicromarketError("treatment must be 0 (control) or 1 (treated) for every member")
    x = None if covariate is None else np.asarray(covariate, dtype=float)
    if x is not None and x.shape != y.shape:
        raise MicromarketError(f"covariate must have y's shape {y.shape}, got {x.shape}")
    if np.isnan(y).any() or (x is not None and np.isnan(x).any()):
        raise MicromarketError("y and covariate must not contain NaN")
    treated = group == 1
    pick = (lambda mask: None if x is None else x[mask])
    return compare(Moments.of(y[treated], pick(treated)), Moments.of(y[~treated], pick(~treated)),
                   relative=relative, cuped=x is not None, alpha=alpha, sequential=sequential, tuning=tuning)


__all__ = ["Lift", "lift", "compare"]
