"""Product recommendations: who is likely to buy which items next.

Models share one contract (see :mod:`._base`): ``fit`` on a customers x items matrix of
purchase counts, ``recommend`` the top N per customer with exclusions. Matrix factorisation
(ALS, BPR) comes from ``implicit``; item-to-item co-occurrence uses its nearest-neighbour
code; popularity, popularity within a segment and buy-again are the baselines.

>>> import numpy as np, scipy.sparse as sp
>>> bought = sp.csr_matrix(np.array([[2, 1, 0, 0], [1, 0, 1, 0], [0, 1, 1, 1]]))
>>> ids, _ = Popularity().fit(bought).recommend([0], bought[[0]], n=2, exclude=bought[[0]])
>>> ids.tolist()   # items 0 and 1 are bought already; 2 has two buyers, 3 one
[[2, 3]]
"""

from ._base import Recommender
from .als import ALS
from .bpr import BPR
from .buy_again import BuyAgain
from .item_item import ItemItem
from .metrics import coverage, hits, ndcg_at_k, precision_at_k, precision_per_user, ratio_interval, recall_at_k
from .popularity import Popularity
from .segment_popularity import SegmentPopularity

__all__ = ["Recommender", "ALS", "BPR", "BuyAgain", "ItemItem", "Popularity", "SegmentPopularity",
           "precision_at_k", "precision_per_user", "ratio_interval", "recall_at_k", "ndcg_at_k", "coverage", "hits"]
