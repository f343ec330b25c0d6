"""Implicit-feedback matrix factorisation by alternating least squares (``implicit``)."""

from __future__ import annotations

from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from ._base import FactorRecommender


class ALS(FactorRecommender):
    """Hu, Koren & Volinsky's weighted matrix factorisation for implicit feedback.

    A purchase count ``c`` is a preference of 1 with confidence ``1 + alpha * c``; items a
    customer never bought are preferences of 0 with confidence 1. Customer and item vectors
    are found by alternating least squares (conjugate gradient), and an item's score for a
    customer is the dot product.

    Parameters
    ----------
    factors : int
        Length of the vectors (default 64).
    regularization : float
        L2 penalty on the vectors (default 20: implicit does not scale it by the number of
        purchases, and 10-50 beat implicit's 0.01 on Online Retail and on the demo chain, where
        small catalogues and few purchases per customer are easily overfitted).
    alpha : float
        Confidence per purchase (default 1).
    iterations : int
        Alternating sweeps (default 10; on Online Retail and the generated chain, 15 gain nothing).
    random_state : int
    """

    def __init__(self, factors: int = 64, regularization: float = 20.0, alpha: float = 1.0,
                 iterations: int = 10, random_state: int = 0):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state

    def _fit(self, matrix, segments) -> None:
        # implicit parallelises over users itself; threaded BLAS underneath only contends.
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(factors=self.factors, regularization=self.regularization, alpha=self.alpha,
                                            iterations=self.iterations, random_state=self.random_state,
                                            calculate_training_loss=False, num_threads=0)
            model.fit(matrix, show_progress=False)
        self.user_factors_, self.item_factors_ = model.user_factors, model.item_factors
