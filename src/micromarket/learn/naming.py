"""Naming what sets a group apart: standardised differences from the whole, the columns that can
tell groups apart, and unique names. Shared by customer segments, area types and store clusters."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import UNKNOWN_CATEGORY

#: Share columns that name no category: lines whose product has none.
NOT_A_CATEGORY = {f"share:{UNKNOWN_CATEGORY}", f"channel:{UNKNOWN_CATEGORY}"}


def differences(features: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    """Standardised difference of each segment's mean from the whole, per feature (segments x features)."""
    numeric = features.select_dtypes("number")
    return standardised(numeric.groupby(np.asarray(labels)).mean(), numeric)


def informative(numeric: pd.DataFrame, exclude=()) -> list[str]:
    """The columns that can tell segments apart: at least two distinct values, a real
    category, and not in ``exclude`` (features the data do not identify)."""
    return [c for c in numeric.columns
            if c not in NOT_A_CATEGORY and c not in set(exclude) and numeric[c].nunique(dropna=True) > 1]


def standardised(means: pd.DataFrame, numeric: pd.DataFrame) -> pd.DataFrame:
    return ((means - numeric.mean()) / numeric.std().replace(0, np.nan)).fillna(0.0)


def largest_first(diff: pd.Series) -> pd.Series:
    """The differences ordered by size, largest first, sign kept."""
    return diff.reindex(diff.abs().sort_values(ascending=False).index)


def unique_name(name: str, used: set[str]) -> str:
    """``name`` capitalised, with `` (2)``, `` (3)``... if already ``used``; records it as used."""
    name = name[0].upper() + name[1:]
    unique, n = name, 2
    while unique in used:
        unique, n = f"{name} ({n})", n + 1
    used.add(unique)
    return unique


__all__ = ["differences", "standardised", "informative", "largest_first", "unique_name", "NOT_A_CATEGORY"]
