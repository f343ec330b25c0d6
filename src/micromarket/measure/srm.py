"""The sample-ratio-mismatch check: were members split in the shares the design asked for?

A campaign that held out 10 % and ends with 11.5 % of its members in the control group has
lost or gained members on one side: a filter applied after assignment, sends that failed for
one kind of customer, a bug in the join. Whatever caused it, the groups are no longer
comparable, and no lift computed on them can be trusted, however narrow its interval. So the
check comes before any result: Pearson's chi-square of the observed group sizes against the
design's shares, flagged below ``p = 0.001`` (the usual threshold: a sound split is flagged
one time in a thousand; Fabijan et al. 2019).

>>> check = sample_ratio_check({"treatment": 9000, "control": 1000}, {"treatment": 0.9, "control": 0.1})
>>> check.flagged
False
>>> sample_ratio_check({"treatment": 8700, "control": 1300}, {"treatment": 0.9, "control": 0.1}).flagged
True

Reference
---------
Fabijan, A., Gupchup, J., Gupta, S., Omhover, J., Qin, W., Vermeer, L. and Dmitriev, P.
(2019). Diagnosing sample ratio mismatch in online controlled experiments. KDD '19.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import chisquare

from ..exceptions import MicromarketError

#: p-value below which a split is flagged.
THRESHOLD = 0.001


@dataclass(frozen=True)
class SampleRatio:
    """The check's result: observed counts and expected shares per group, chi-square, p-value."""

    observed: dict[str, int]
    expected_share: dict[str, float]
    chi2: float
    p_value: float
    threshold: float = THRESHOLD

    @property
    def flagged(self) -> bool:
        """Whether the split is unlikely under the design (p below the threshold)."""
        return bool(self.p_value < self.threshold)

    def message(self) -> str:
        """One line for reports and the CLI."""
        total = sum(self.observed.values())
        shares = ", ".join(f"{group} {count:,} ({count / total:.2%}, expected {self.expected_share[group]:.2%})"
                           for group, count in self.observed.items())
        if self.flagged:
            return (f"sample ratio mismatch (chi-square p = {self.p_value:.2g} < {self.threshold}): {shares}. "
                    "The groups are not the split the design drew; lifts below are not trustworthy until the "
                    "cause (members lost after assignment, a filter on one group) is found.")
        return f"split as designed (chi-square p = {self.p_value:.2g}): {shares}"

    def to_dict(self) -> dict:
        """JSON-ready."""
        return {"observed": self.observed, "expected_share": self.expected_share, "chi2": self.chi2,
                "p_value": self.p_value, "threshold": self.threshold, "flagged": self.flagged}


def sample_ratio_check(observed: dict[str, int], expected_share: dict[str, float],
                       threshold: float = THRESHOLD) -> SampleRatio:
    """Chi-square test of group sizes ``observed`` against the design's ``expected_share``.

    Parameters
    ----------
    observed : dict
        Members per group.
    expected_share : dict
        The design's share per group (same keys; normalised to sum to 1).
    threshold : float
        p-value below which the split is flagged.

    Returns
    -------
    SampleRatio
    """
    if set(observed) != set(expected_share):
        raise MicromarketError(f"groups {sorted(observed)} and expected shares {sorted(expected_share)} differ")
    groups = list(observed)
    counts = np.array([observed[g] for g in groups], dtype=float)
    shares = np.array([expected_share[g] for g in groups], dtype=float)
    if (shares <= 0).any() or counts.sum() <= 0:
        raise MicromarketError("every expected share must be positive and the groups must have members")
    shares = shares / shares.sum()
    statistic, p = chisquare(counts, counts.sum() * shares)
    return SampleRatio({g: int(c) for g, c in zip(groups, counts)}, {g: float(s) for g, s in zip(groups, shares)},
                       float(statistic), float(p), threshold)


__all__ = ["SampleRatio", "sample_ratio_check", "THRESHOLD"]
