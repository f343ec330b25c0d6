"""Score models work through blocks of users sized by the catalogue, with the same results whatever the block."""

import numpy as np
import pytest

from micromarket.recommend import _base
from micromarket.recommend import BuyAgain, ItemItem, Popularity

from test_models import planted


def test_blocks_shrink_as_the_catalogue_grows():
    assert _base.block_rows(50) == _base.BATCH
    assert _base.block_rows(60_000) * 60_000 * 8 <= _base.BLOCK_BYTES
    assert _base.block_rows(10**9) == 16


@pytest.mark.parametrize("model", [ItemItem, BuyAgain, Popularity])
def test_results_do_not_depend_on_the_block_size(model, monkeypatch):
    train, _, group = planted(n_users=300)
    users = np.arange(train.shape[0])
    fitted = model().fit(train, group)
    whole = fitted.recommend(users, train, n=5, exclude=train)
    monkeypatch.setattr(_base, "BLOCK_BYTES", 8 * 60 * 17)  # 17 users a block: the last block is partial
    assert _base.block_rows(60) == 17
    blocked = fitted.recommend(users, train, n=5, exclude=train)
    assert np.array_equal(whole[0], blocked[0]) and np.allclose(whole[1], blocked[1])
