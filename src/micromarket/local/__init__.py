"""The "localise" stage: micro-markets per area, store catchment or other place, store clusters and
localised assortment."""

from .assortment import Assortment, assortment_output, localised_assortment
from .markets import customer_units, micro_markets, micro_markets_output, wilson_interval
from .stores import store_clusters, store_clusters_output, store_features
from .trends import market_trends, trends_output

__all__ = ["micro_markets", "micro_markets_output", "customer_units", "wilson_interval", "store_clusters",
           "store_clusters_output", "store_features", "localised_assortment", "assortment_output", "Assortment",
           "market_trends", "trends_output"]
