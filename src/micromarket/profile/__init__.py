"""Differentiate: who each customer is and what each is worth (RFM, CLV, tiers, behaviour)."""

from .build import ProfileResult, build_profile, latest_run
from .rfm import calibration_holdout, rfm_scores, rfm_summary

__all__ = ["build_profile", "ProfileResult", "latest_run", "rfm_summary", "calibration_holdout", "rfm_scores"]
