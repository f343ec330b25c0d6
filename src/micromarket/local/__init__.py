"""The "localise" stage: micro-markets per area, store catchment or other place."""

from .markets import customer_units, micro_markets, save_micro_markets, wilson_interval

__all__ = ["micro_markets", "save_micro_markets", "customer_units", "wilson_interval"]
