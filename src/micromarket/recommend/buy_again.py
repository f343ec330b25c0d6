"""Buy again: each customer's own most-bought items, the strongest baseline in repeat retail."""

from __future__ import annotations


from ._base import Recommender


class BuyAgain(Recommender):
    """Items ranked by how often this customer bought them, then by popularity.

    Only useful with exclusions that leave older purchases in (``exclude="recent"``); with
    everything bought excluded it is plain popularity.
    """

    def _fit(self, matrix, segments) -> None:
        pass  # the base class counts buyers per item

    def _scores(self, users, history):
        # Popularity below 1 breaks ties and fills the list after the customer's own items.
        return history.toarray() + 0.5 * self.popularity_ / (self.popularity_.max() + 1.0)
