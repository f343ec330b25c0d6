"""The "decide" step: who gets which offer. So far the budget-constrained optimiser."""

from .optimise import Plan, optimise

__all__ = ["optimise", "Plan"]
