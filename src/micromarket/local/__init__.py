"""The "localise" stage: micro-markets per area, store catchment or other place, store clusters and
localised assortment."""

from .assortment import Assortment, localised_assortment, save_assortment
from .markets import customer_units, micro_markets, save_micro_markets, wilson_interval
from .stores import store_clusters, store_features

__all__ = ["micro_markets", "save_micro_markets", "customer_units", "wilson_interval", "store_clusters", "store_features",
           "localised_assortment", "save_assortment", "Assortment"]
