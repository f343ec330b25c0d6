"""Confidence sequences: intervals that stay valid however often a running campaign is looked at.

A fixed-horizon 95 % interval covers the truth 95 % of the time *at the one moment it was
planned for*. Looked at every day and acted on the first day it excludes zero, it is wrong far
more often than 5 % of the time. A confidence sequence is a sequence of intervals that cover
the truth at *every* look at once with probability at least 1 - alpha, so a marketer may read
a running campaign's results every morning.

This is the asymptotic confidence sequence of Waudby-Smith et al. (2023), eq. 9, with the
mixing parameter rho of their eq. 161 tuned for ``tuning`` observations, and the always-valid
p-value of eq. 155 (GrowthBook's sequential engine uses the same three formulas, which the
tests check to 1e-6). The price is width: at a fixed look the sequence is wider than the
fixed-horizon interval, least so near ``tuning`` members.

Reference
---------
Waudby-Smith, I., Arbour, D., Sinha, R., Kennedy, E. H. and Ramdas, A. (2023). Time-uniform
central limit theory and asymptotic confidence sequences. arXiv:2103.06476v7.
"""

from __future__ import annotations

import math

#: The number of members the sequence is tightest at, unless a campaign says otherwise.
TUNING = 5000.0


def mixing_rho(alpha: float, tuning: float = TUNING) -> float:
    """The normal mixture's parameter that makes the sequence tightest near ``tuning`` (eq. 161)."""
    log_alpha = -2 * math.log(alpha)
    return math.sqrt((log_alpha + math.log(log_alpha + 1)) / tuning)


def half_width(variance: float, n_total: int, alpha: float, tuning: float = TUNING) -> float:
    """Half-width of the sequence's interval for an estimate with ``variance`` (its squared
    standard error) from ``n_total`` members in all groups."""
    rho = mixing_rho(alpha, tuning)
    scaled = n_total * rho ** 2 + 1
    unit_variance = variance * n_total
    return math.sqrt(unit_variance) * math.sqrt(2 * scaled * math.log(math.sqrt(scaled) / alpha)
                                                / (n_total * rho) ** 2)


def p_value(estimate: float, variance: float, n_total: int, alpha: float, tuning: float = TUNING) -> float:
    """Always-valid p-value of ``estimate`` against zero: the inverse of the mixture e-value, at most 1."""
    rho = mixing_rho(alpha, tuning)
    scaled = n_total * rho ** 2 + 1
    statistic = estimate ** 2 * n_total / variance
    log_evalue = rho ** 2 * statistic / (2 * scaled) - 0.5 * math.log(scaled)
    return min(math.exp(-log_evalue), 1.0)


__all__ = ["TUNING", "mixing_rho", "half_width", "p_value"]
