"""Item-to-item co-occurrence: customers who bought what you bought also bought these."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from implicit.nearest_neighbours import ItemItemRecommender

from ._base import Recommender


class ItemItem(Recommender):
    """Items scored by their co-occurrence with the customer's items.

    Similarity of two items is the cosine of their buyer vectors (customers who bought
    both, over the root of the product of their buyer counts), kept for each item's
    ``neighbours`` most similar items; a customer's score for an item is the sum of its
    similarities to the items they bought. The item itself is left out, so this recommends
    *other* items (see :class:`BuyAgain` for repeats); customers whose items have no
    neighbours left get best-sellers.

    Parameters
    ----------
    neighbours : int
        Similar items kept per item (default 50).
    """

    _fitted_attributes = Recommender._fitted_attributes + ("similarity_",)

    def __init__(self, neighbours: int = 50):
        self.neighbours = neighbours

    def _fit(self, matrix, segments) -> None:
        # Cosine is the dot product of buyer vectors scaled to length 1; implicit finds each
        # item's nearest neighbours in compiled code (+ 1: the item itself is among them).
        # The scaled buyer matrix is made once from the purchase matrix's own structure (implicit
        # needs float64): a copy of tens of millions of entries is the stage's largest array.
        bought = matrix
        if matrix.nnz and matrix.data.min() == 0:  # stored zeros (fit has refused negative counts)
            bought = matrix.copy()
            bought.eliminate_zeros()
        length = np.sqrt(np.bincount(bought.indices, minlength=bought.shape[1])).clip(min=1.0)
        scaled = sp.csr_matrix((1.0 / length[bought.indices], bought.indices, bought.indptr), shape=bought.shape)
        knn = ItemItemRecommender(K=self.neighbours + 1, num_threads=0)
        knn.fit(scaled, show_progress=False)
        similarity = knn.similarity.tocsr()
        similarity.setdiag(0)
        similarity.eliminate_zeros()
        self.similarity_ = similarity

    def _scores(self, users, history):
        scores = ((history > 0).astype(np.float32) @ self.similarity_).toarray()
        return scores + 1e-6 * self.popularity_ / (self.popularity_.max() + 1.0)
