"""Bayesian personalised ranking (``implicit``): factors learnt to rank bought over unbought."""

from __future__ import annotations

from implicit.cpu.bpr import BayesianPersonalizedRanking
from threadpoolctl import threadpool_limits

from ._base import FactorRecommender


class BPR(FactorRecommender):
    """Rendle et al.'s pairwise ranking: for sampled (customer, bought item, unbought item)
    triples, stochastic gradient steps make the bought item score higher.

    Parameters
    ----------
    factors : int
        Length of the vectors, an item bias included (default 64).
    learning_rate : float
    regularization : float
    iterations : int
        Passes over the purchases (default 100).
    random_state : int
    """

    def __init__(self, factors: int = 64, learning_rate: float = 0.01, regularization: float = 0.01,
                 iterations: int = 100, random_state: int = 0):
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.random_state = random_state

    def _fit(self, matrix, segments) -> None:
        with threadpool_limits(1, "blas"):
            model = BayesianPersonalizedRanking(factors=self.factors, learning_rate=self.learning_rate,
                                                regularization=self.regularization, iterations=self.iterations,
                                                random_state=self.random_state, num_threads=0)
            model.fit(matrix, show_progress=False)
        self.user_factors_, self.item_factors_ = model.user_factors, model.item_factors
