"""Popularity within a segment: best-sellers among customers like this one."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._base import Recommender


class SegmentPopularity(Recommender):
    """Items ranked by their share of buyers in the customer's segment, shrunk towards the
    share among all customers so that small segments do not chase a few purchases.

    Score of item ``i`` in segment ``g``: ``(buyers_gi + prior * share_i) / (size_g + prior)``
    where ``share_i`` is the item's share of buyers overall. Customers without a segment
    (code ``-1``) get the overall shares.

    Parameters
    ----------
    prior : float
        Weight of the overall share, in customers (default 20).
    """

    _fitted_attributes = Recommender._fitted_attributes + ("item_scores_", "segments_")

    def __init__(self, prior: float = 20.0):
        self.prior = prior

    def _fit(self, matrix, segments) -> None:
        if segments is None:
            raise ValueError("SegmentPopularity needs segments: one code per user (-1 for none)")
        segments = np.asarray(segments, dtype=np.int64)
        if len(segments) != matrix.shape[0]:
            raise ValueError(f"segments has {len(segments)} codes for {matrix.shape[0]} users")
        n_segments = int(segments.max()) + 1 if len(segments) else 0
        member = segments >= 0
        one_hot = sp.csr_matrix((np.ones(member.sum()), (segments[member], np.flatnonzero(member))),
                                shape=(n_segments, matrix.shape[0]))
        buyers = np.asarray((one_hot @ (matrix > 0).astype(np.float64)).todense())
        sizes = np.asarray(one_hot.sum(axis=1)).ravel()
        share = self.popularity_ / max(matrix.shape[0], 1)
        within = (buyers + self.prior * share) / (sizes[:, None] + self.prior)
        # One column per segment and a last one, the overall share, for users without one.
        self.item_scores_ = np.vstack([within, share]).T
        self.segments_ = np.where(member, segments, n_segments)

    def _vectors(self, users, history):
        query = np.zeros((len(users), self.item_scores_.shape[1]))
        query[np.arange(len(users)), self.segments_[users]] = 1.0
        return query, self.item_scores_
