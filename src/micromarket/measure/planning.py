"""Planning a holdout before launch: the smallest effect a campaign can detect, and the holdout it needs.

With ``N`` members, a share ``h`` held out and an outcome of standard deviation ``sd`` per
member, the difference of the two groups' means has standard error

    se = sd * sqrt(1 / (N (1 - h)) + 1 / (N h))

and a two-sided test at level ``alpha`` detects a true difference ``d`` with probability

    power = Phi(d / se - z) + Phi(-d / se - z),   z = Phi^-1(1 - alpha / 2)

(the normal approximation, as statsmodels' ``NormalIndPower``; Welch's t differs from it by
well under a percent of the effect once both groups have a few hundred members). The
**minimum detectable effect** is the ``d`` at which the power reaches the target (80 % by
default); the **holdout needed** is the smallest ``h`` whose minimum detectable effect is at
most the effect one hopes for. Both come from the audience's own baseline and spread: what
its members bought in a window as long as the campaign's, before it.

>>> round(minimum_detectable_effect(10_000, 0.1, sd=1.0), 4)
0.0934
>>> round(holdout_share_needed(10_000, effect=0.0934, sd=1.0), 3)
0.1
"""

from __future__ import annotations

import math

from scipy.optimize import brentq
from scipy.stats import norm

from ..exceptions import MicromarketError

#: Power the planner aims for unless told otherwise.
POWER = 0.8
#: Largest holdout the planner proposes: past an even split, more holdout lowers power again.
MAX_HOLDOUT = 0.5


def standard_error(n_total: float, holdout_share: float, sd: float) -> float:
    """Standard error of the treated-minus-control difference of means."""
    _check_share(holdout_share)
    return sd * math.sqrt(1 / (n_total * (1 - holdout_share)) + 1 / (n_total * holdout_share))


def power(effect: float, se: float, alpha: float = 0.05) -> float:
    """Probability that a two-sided test at ``alpha`` finds a true ``effect`` with standard error ``se``."""
    z = norm.ppf(1 - alpha / 2)
    return float(norm.cdf(effect / se - z) + norm.cdf(-effect / se - z))


def minimum_detectable_effect(n_total: float, holdout_share: float, sd: float, alpha: float = 0.05,
                              target_power: float = POWER) -> float:
    """The smallest true difference of means (in the outcome's units) detected with ``target_power``."""
    se = standard_error(n_total, holdout_share, sd)
    if se == 0:
        return 0.0
    # Power rises with the effect; the answer lies between 0 and (z + z_power + 1) standard errors.
    upper = (norm.ppf(1 - alpha / 2) + norm.ppf(target_power) + 1) * se
    return float(brentq(lambda d: power(d, se, alpha) - target_power, 0.0, upper, xtol=1e-12 * max(se, 1e-300)))


def members_needed(effect: float, holdout_share: float, sd: float, alpha: float = 0.05,
                   target_power: float = POWER) -> int:
    """Members in all (treated and held out) needed to detect ``effect`` with ``target_power``."""
    if effect <= 0:
        raise MicromarketError(f"the effect to detect must be positive, got {effect}")
    unit = minimum_detectable_effect(1, holdout_share, sd, alpha, target_power)
    # The minimum detectable effect falls as 1 / sqrt(N).
    return math.ceil((unit / effect) ** 2)


def holdout_share_needed(n_total: float, effect: float, sd: float, alpha: float = 0.05,
                         target_power: float = POWER) -> float | None:
    """The smallest holdout share (up to :data:`MAX_HOLDOUT`) at which ``n_total`` members detect
    ``effect``; None when even an even split cannot."""
    def gap(share):
        return minimum_detectable_effect(n_total, share, sd, alpha, target_power) - effect
    if gap(MAX_HOLDOUT) > 0:
        return None
    low = 1.0 / n_total
    if gap(low) <= 0:
        return low
    return float(brentq(gap, low, MAX_HOLDOUT, xtol=1e-9))


def _check_share(share: float) -> None:
    if not 0 < share < 1:
        raise MicromarketError(f"the holdout share must be between 0 and 1 (exclusive), got {share}")


__all__ = ["POWER", "MAX_HOLDOUT", "standard_error", "power", "minimum_detectable_effect", "members_needed",
           "holdout_share_needed"]
