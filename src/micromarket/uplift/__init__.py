"""Uplift models and their evaluation: the incremental effect of contacting a customer,
learnt from randomised campaigns (S-, T-, X-learners and the transformed outcome) and
measured with Qini and uplift curves.

>>> from micromarket.uplift import TLearner, qini_auc_score
"""

from .metrics import (perfect_qini_curve, perfect_uplift_curve, qini_auc_score, qini_curve, uplift_auc_score,
                      uplift_by_decile, uplift_curve)
from ._base import probability_of_one
from .s_learner import SLearner
from .t_learner import TLearner
from .transformed_outcome import TransformedOutcome
from .x_learner import XLearner

__all__ = ["SLearner", "TLearner", "XLearner", "TransformedOutcome", "qini_auc_score", "uplift_auc_score",
           "qini_curve", "uplift_curve", "perfect_qini_curve", "perfect_uplift_curve", "uplift_by_decile",
           "probability_of_one"]
