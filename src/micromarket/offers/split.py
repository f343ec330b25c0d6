"""The held-out half that models are checked on.

Each row is held out with probability one half. On small data that can leave a half without
any buyer of some group, and then nothing can be checked (no AUC, no Qini coefficient) or
learnt (calibration folds without a buyer); there the half is drawn within each group
instead, so both halves get their share of every group.
"""

from __future__ import annotations

import numpy as np


def held_out_half(groups: np.ndarray, seed: int, minimum: int = 1) -> np.ndarray:
    """A boolean mask of the held-out rows.

    Parameters
    ----------
    groups : array
        A label per row (the outcome, or arm and outcome joined); every label must get at least
        ``minimum`` rows in each half.
    seed : int
        Seed of the draw.
    minimum : int
        Fewest rows of each label in each half before the draw is redone within the labels.
    """
    groups = np.asarray(groups)
    rng = np.random.default_rng(seed)
    test = rng.random(len(groups)) < 0.5
    labels, codes = np.unique(groups, return_inverse=True)
    held = np.bincount(codes, weights=test, minlength=len(labels))
    total = np.bincount(codes, minlength=len(labels))
    if (held >= minimum).all() and (total - held >= minimum).all():
        return test
    test = np.zeros(len(groups), dtype=bool)
    for code in range(len(labels)):
        rows = np.flatnonzero(codes == code)
        test[rng.permutation(rows)[: len(rows) // 2]] = True
    return test


__all__ = ["held_out_half"]
