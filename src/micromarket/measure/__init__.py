"""Measure and learn: what a campaign earned that would not have been earned anyway.

The statistics work on sufficient sums per group (:mod:`.moments`), from arrays or from the
engine's aggregates: lift with Welch's interval, relative lift by the delta method, CUPED with
a pre-period covariate, confidence sequences for campaigns still running (:mod:`.lift`,
:mod:`.sequential`); the sample-ratio-mismatch check that comes before any result
(:mod:`.srm`); and the holdout planner (:mod:`.planning`).

>>> from micromarket.measure import lift
>>> r = lift([3.0, 0.0, 5.0, 2.0, 0.0, 1.0], [1, 1, 1, 0, 0, 0])
>>> round(r.estimate, 3), r.ci_low < r.estimate < r.ci_high
(1.667, True)
"""

from .lift import Lift, compare, lift
from .moments import Moments, cuped_theta
from .planning import holdout_share_needed, members_needed, minimum_detectable_effect
from .srm import SampleRatio, sample_ratio_check

__all__ = ["lift", "compare", "Lift", "Moments", "cuped_theta", "sample_ratio_check", "SampleRatio",
           "minimum_detectable_effect", "members_needed", "holdout_share_needed"]
