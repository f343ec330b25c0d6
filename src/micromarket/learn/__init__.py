"""Learning tools shared by stages: clustering with automatic k and stability, feature scaling,
and naming what sets a group apart (customer segments, area types, store clusters)."""

from .clusters import CustomerClusters
from .scaling import FeatureScaler

__all__ = ["CustomerClusters", "FeatureScaler"]
