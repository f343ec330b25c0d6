"""Scaling a feature table for clustering: log, fill, standardise, weight; stored with the model
so new rows are scaled the same way. Shared by customer segments, area types and store clusters."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..exceptions import SchemaError


@dataclass
class FeatureScaler:
    """Log-transform, fill, standardise and weight a feature table; stored with a segmentation.

    Parameters
    ----------
    features : list of str
    weights : dict, optional
        Weight per feature (default 1); a weight multiplies the standardised column, so
        2 makes a feature count twice as much in the distances.
    loggable : list of str, optional
        Skewed features (money, counts, durations) taken as ``log1p`` where they are never negative.
    """

    features: list[str]
    weights: dict[str, float] = field(default_factory=dict)
    loggable: list[str] = field(default_factory=list)
    logged: list[str] = field(default_factory=list)
    fill: dict[str, float] = field(default_factory=dict)
    mean: dict[str, float] = field(default_factory=dict)
    scale: dict[str, float] = field(default_factory=dict)

    def fit(self, frame: pd.DataFrame) -> "FeatureScaler":
        unknown = set(self.weights) - set(self.features)
        if unknown:
            raise SchemaError(f"weights for features not chosen: {sorted(unknown)}")
        columns = {f: _values(frame, f) for f in self.features}
        self.logged = [f for f, v in columns.items() if f in self.loggable and np.nanmin(v, initial=0.0) >= 0]
        for f in self.features:
            raw = self._raw(f, columns[f])
            self.fill[f] = float(np.nanmedian(raw)) if np.isfinite(raw).any() else 0.0
            filled = np.where(np.isnan(raw), self.fill[f], raw)
            self.mean[f], self.scale[f] = float(filled.mean()), float(filled.std(ddof=1)) or 1.0
        return self

    def _raw(self, feature: str, values: np.ndarray) -> np.ndarray:
        return np.log1p(np.clip(values, 0, None)) if feature in self.logged else values

    def transform(self, frame) -> np.ndarray:
        """The weighted z-scores, shape (rows, features); ``frame`` is pandas or Arrow."""
        X = np.empty((len(frame), len(self.features)))
        for j, f in enumerate(self.features):
            raw = self._raw(f, _values(frame, f))
            X[:, j] = (np.where(np.isnan(raw), self.fill[f], raw) - self.mean[f]) / self.scale[f] * self.weights.get(f, 1.0)
        return X

    def to_dict(self) -> dict:
        return {"features": self.features, "weights": self.weights, "loggable": self.loggable, "logged": self.logged,
                "fill": self.fill, "mean": self.mean, "scale": self.scale}

    @classmethod
    def from_dict(cls, data: dict) -> "FeatureScaler":
        return cls(**data)


def _values(frame, feature: str) -> np.ndarray:
    """A feature column of a pandas or Arrow table as floats (NaN where missing)."""
    names = frame.columns if isinstance(frame, pd.DataFrame) else frame.column_names
    if feature not in names:
        raise SchemaError(f"the data lack feature {feature!r} of this segmentation")
    column = frame[feature]
    if isinstance(frame, pd.DataFrame):
        return column.to_numpy(dtype=float, na_value=np.nan)
    return column.cast("float64").to_numpy(zero_copy_only=False)


__all__ = ["FeatureScaler"]
