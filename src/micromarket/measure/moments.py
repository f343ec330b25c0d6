"""Sufficient statistics of one group of campaign members.

Every interval :mod:`micromarket.measure` reports is a function of six sums per group: the
number of members, the sums of the outcome and of its square, and, for CUPED, the sums of the
pre-period covariate, of its square and of the product of the two. The engine computes them
per campaign, arm and segment in one group-by (a million members become a few rows), and
the driver does the statistics on those rows: the same :class:`Moments` come from arrays
(:meth:`Moments.of`) or from a query's aggregates (:meth:`Moments.from_row`), so the array
API and the workspace's results share one formula.

Sums of squares lose digits when the mean is large against the spread; outcomes here are
money per member and conversion indicators, whose means are of the order of their standard
deviation, where double precision leaves ~1e-12 relative error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Moments:
    """Sums over one group: ``n`` members, outcome ``y``, covariate ``x`` (zeros without one).

    >>> m = Moments.of([1.0, 2.0, 3.0])
    >>> m.mean, m.variance
    (2.0, 1.0)
    """

    n: int
    sum_y: float
    sum_y2: float
    sum_x: float = 0.0
    sum_x2: float = 0.0
    sum_xy: float = 0.0

    @classmethod
    def of(cls, y, x=None) -> "Moments":
        """The sums of an outcome array ``y`` and an optional covariate ``x`` of the same length."""
        y = np.asarray(y, dtype=float)
        x = np.zeros_like(y) if x is None else np.asarray(x, dtype=float)
        return cls(int(y.size), float(y.sum()), float(y @ y), float(x.sum()), float(x @ x), float(x @ y))

    @classmethod
    def from_row(cls, row: dict, prefix: str = "") -> "Moments":
        """From a query row with columns ``n, sum_y, sum_y2, sum_x, sum_x2, sum_xy`` (each after
        ``prefix``); missing covariate sums count as zero."""
        def get(name):
            value = row.get(prefix + name)
            return 0.0 if value is None else float(value)
        return cls(int(get("n")), get("sum_y"), get("sum_y2"), get("sum_x"), get("sum_x2"), get("sum_xy"))

    def __add__(self, other: "Moments") -> "Moments":
        return Moments(self.n + other.n, self.sum_y + other.sum_y, self.sum_y2 + other.sum_y2,
                       self.sum_x + other.sum_x, self.sum_x2 + other.sum_x2, self.sum_xy + other.sum_xy)

    @property
    def mean(self) -> float:
        """Mean outcome (0 for an empty group)."""
        return self.sum_y / self.n if self.n else 0.0

    @property
    def covariate_mean(self) -> float:
        """Mean covariate (0 for an empty group)."""
        return self.sum_x / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        """Sample variance of the outcome (divisor ``n - 1``; 0 below two members; clipped at 0,
        where a constant outcome's sums cancel to -1e-17)."""
        return max(self._co(self.sum_y2, self.sum_y, self.sum_y), 0.0)

    @property
    def covariate_variance(self) -> float:
        """Sample variance of the covariate."""
        return max(self._co(self.sum_x2, self.sum_x, self.sum_x), 0.0)

    @property
    def covariance(self) -> float:
        """Sample covariance of outcome and covariate."""
        return self._co(self.sum_xy, self.sum_x, self.sum_y)

    def _co(self, products: float, first: float, second: float) -> float:
        if self.n <= 1:
            return 0.0
        return (products - first * second / self.n) / (self.n - 1)

    def adjusted(self, theta: float) -> tuple[float, float]:
        """Mean and variance of ``y - theta * x`` (CUPED's adjusted outcome, up to a constant)."""
        mean = self.mean - theta * self.covariate_mean
        variance = self.variance + theta ** 2 * self.covariate_variance - 2 * theta * self.covariance
        return mean, max(variance, 0.0)


def cuped_theta(treated: Moments, control: Moments) -> float:
    """CUPED's coefficient: covariance of outcome and pre-period covariate over the covariate's
    variance, both taken over the two groups together (Deng et al. 2013; as GrowthBook does), so
    the adjustment does not depend on which group a member is in. 0 when either is constant."""
    joint = treated + control
    if joint.covariate_variance <= 0 or joint.variance <= 0:
        return 0.0
    return joint.covariance / joint.covariate_variance


__all__ = ["Moments", "cuped_theta"]
