"""Customer lifetime value models: buy-till-you-die purchase models and the Gamma-Gamma spend model.

All follow scikit-learn's estimator contract and take pandas, Arrow or Ibis tables.
"""

from .beta_geo import BetaGeoFitter
from .gamma_gamma import GammaGammaFitter
from .modified_beta_geo import ModifiedBetaGeoFitter
from .pareto_nbd import ParetoNBDFitter

__all__ = ["BetaGeoFitter", "ParetoNBDFitter", "ModifiedBetaGeoFitter", "GammaGammaFitter"]
