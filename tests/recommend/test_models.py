"""Recommenders: the contract, exclusions as a property, recovery of planted tastes, and the
top-N metrics against hand counts and scikit-learn's NDCG."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError
from sklearn.metrics import ndcg_score

from micromarket.recommend import (ALS, BPR, BuyAgain, ItemItem, Popularity, SegmentPopularity, coverage, hits,
                                   ndcg_at_k, precision_at_k, recall_at_k)

FAST = {"als": lambda: ALS(factors=8, iterations=10), "bpr": lambda: BPR(factors=8, iterations=60),
        "item_item": lambda: ItemItem(neighbours=10), "buy_again": BuyAgain, "popularity": Popularity,
        "segment_popularity": SegmentPopularity}


def planted(n_users=600, n_items=60, seed=0):
    """Two tastes: group A buys from items 0-29, group B from 30-59; item 0 and 30 are the
    blocks' best-sellers. Returns (train, test, group) where test holds one more purchase each."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 2, n_users)
    weights = 1.0 / np.arange(1, 31)
    weights /= weights.sum()
    def draw(k):
        items = rng.choice(30, size=(n_users, k), p=weights) + 30 * group[:, None]
        rows = np.repeat(np.arange(n_users), k)
        return sp.csr_matrix((np.ones(rows.size), (rows, items.ravel())), shape=(n_users, n_items))
    return draw(8), draw(3), group


@pytest.mark.parametrize("name", sorted(FAST))
def test_every_model_recovers_the_planted_tastes(name):
    train, test, group = planted()
    model = FAST[name]().fit(train, group)
    users = np.arange(train.shape[0])
    ids, scores = model.recommend(users, train, n=5, exclude=train)
    # Every recommendation is real, new to the customer, and (except for plain popularity,
    # which knows no tastes) from the customer's own block.
    assert (ids >= 0).all() and not hits(ids, train).any()
    assert np.all(np.diff(scores, axis=1) <= 1e-6)
    own_block = (ids // 30) == group[:, None]
    if name in ("popularity", "buy_again"):   # buy-again with everything bought excluded is popularity
        assert own_block.mean() < 0.5
    else:
        assert own_block.mean() > 0.85, name


def test_personal_models_beat_popularity_on_the_held_out_purchases():
    train, test, group = planted(seed=1)
    users = np.flatnonzero(np.diff((test - test.multiply(train > 0)).tocsr().indptr) > 0)
    relevant = (test - test.multiply(train > 0)).tocsr()[users]
    relevant.eliminate_zeros()
    def precision(model):
        ids, _ = model.fit(train, group).recommend(users, train[users], n=5, exclude=train[users])
        return precision_at_k(ids, relevant, 5)
    base = precision(Popularity())
    for name in ("als", "bpr", "item_item", "segment_popularity"):
        assert precision(FAST[name]()) > 1.5 * base, name


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 12), name=st.sampled_from(sorted(FAST)))
def test_exclusions_and_the_allowed_items_are_always_respected(seed, n, name):
    rng = np.random.default_rng(seed)
    n_users, n_items = 30, 10
    train = sp.random(n_users, n_items, density=0.3, random_state=seed, format="csr", data_rvs=lambda k: rng.integers(1, 4, k))
    exclude = sp.random(n_users, n_items, density=0.3, random_state=seed + 1, format="csr")
    allowed = rng.random(n_items) < 0.7
    model = FAST[name]().fit(train, rng.integers(-1, 3, n_users))
    users = np.arange(n_users)
    ids, scores = model.recommend(users, train, n=n, exclude=exclude, allowed=allowed)
    assert ids.shape == scores.shape == (n_users, n)
    for u in users:
        real = ids[u][ids[u] >= 0]
        possible = set(np.flatnonzero(allowed)) - set(exclude[u].indices)
        assert len(set(real)) == len(real)                      # no item twice
        assert set(real) <= possible                            # nothing excluded or out of range
        assert len(real) == min(n, len(possible))               # and the list is as full as it can be
        assert np.isneginf(scores[u][ids[u] < 0]).all()


def test_contract_errors():
    train, _, group = planted(n_users=50)
    with pytest.raises(NotFittedError):
        ALS().recommend([0], train[[0]])
    with pytest.raises(ValueError, match="history has shape"):
        Popularity().fit(train).recommend([0, 1], train[[0]])
    with pytest.raises(ValueError, match="counts >= 0"):
        Popularity().fit(-train)
    with pytest.raises(TypeError, match="scipy.sparse"):
        Popularity().fit(train.toarray())
    with pytest.raises(ValueError, match="needs segments"):
        SegmentPopularity().fit(train)


def test_metrics_by_hand():
    relevant = sp.csr_matrix(np.array([[1, 1, 0, 0, 0], [0, 0, 0, 0, 1]]))
    recommended = np.array([[0, 2, 1], [3, -1, -1]])
    assert hits(recommended, relevant).tolist() == [[True, False, True], [False, False, False]]
    assert precision_at_k(recommended, relevant, 3) == pytest.approx((2 / 3 + 0) / 2)
    assert recall_at_k(recommended, relevant, 3) == pytest.approx((2 / 2 + 0) / 2)
    ideal = 1 + 1 / np.log2(3)
    assert ndcg_at_k(recommended, relevant, 3) == pytest.approx(((1 + 1 / np.log2(4)) / ideal + 0) / 2)
    assert coverage(recommended, 5) == pytest.approx(4 / 5)   # items 0, 1, 2, 3
    with pytest.raises(ValueError, match="at least one relevant"):
        precision_at_k(recommended, sp.csr_matrix((2, 5)), 3)


@pytest.mark.parametrize("k", [1, 3, 10])
def test_ndcg_matches_scikit_learn(k):
    rng = np.random.default_rng(k)
    n_users, n_items = 200, 40
    relevant = (rng.random((n_users, n_items)) < 0.15)
    relevant[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    scores = rng.random((n_users, n_items)) + relevant * rng.random((n_users, n_items))
    ranking = np.argsort(-scores, axis=1)[:, :k]
    assert ndcg_at_k(ranking, sp.csr_matrix(relevant), k) == pytest.approx(ndcg_score(relevant.astype(float), scores, k=k))
