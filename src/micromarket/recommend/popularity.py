"""Popularity: the same best-sellers for everyone, the baseline every recommender must beat."""

from __future__ import annotations

import numpy as np

from ._base import Recommender


class Popularity(Recommender):
    """Items ranked by how many customers bought them.

    Each customer still gets their own list, because their exclusions (what they just
    bought) differ.
    """

    def _fit(self, matrix, segments) -> None:
        pass  # the base class counts buyers per item

    def _vectors(self, users, history):
        return np.ones((len(users), 1)), self.popularity_[:, None]
