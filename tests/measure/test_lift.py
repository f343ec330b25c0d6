"""Lift, CUPED, confidence sequences, the SRM check and the planner: equal to GrowthBook's stats
engine and statsmodels on the same data, and honest in simulation (coverage, false alarms, power)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from statsmodels.regression.linear_model import OLS
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW, ttest_ind

from micromarket.exceptions import MicromarketError
from micromarket.measure import Moments, compare, lift, minimum_detectable_effect, sample_ratio_check
from micromarket.measure.planning import holdout_share_needed, members_needed, power

ROOT = Path(__file__).resolve().parents[2]
PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"


def campaign(rng, n_treated=6000, n_control=1500, effect=0.15):
    """Members with a pre-period spend, a correlated outcome spend, and conversion; the campaign
    raises spend by ``effect`` per member on average and conversion by a few points."""
    n = n_treated + n_control
    treated = np.r_[np.ones(n_treated, int), np.zeros(n_control, int)]
    propensity = rng.gamma(0.6, 1.0, n)                 # how much each member buys, before and after
    basket = rng.lognormal(3.0, 0.6, n)                 # and what a basket of theirs comes to
    pre = rng.poisson(propensity) * basket
    converted = (rng.random(n) < 1 - np.exp(-propensity * (1 + 0.2 * treated))).astype(float)
    spend = converted * basket * rng.lognormal(0.0, 0.3, n) * (1 + effect * treated)
    return treated, converted, spend, pre


def gbstats(cases: list[dict]) -> list[dict]:
    assert PEERS_PYTHON.exists(), "the peers' environment is missing: run `make test-deps` (it makes .venv-peers)"
    done = subprocess.run([str(PEERS_PYTHON), str(ROOT / "tests" / "peers" / "gbstats_lift.py")],
                          input=json.dumps(cases), capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def sums(y, x):
    m = Moments.of(y, x)
    return {"n": m.n, "sum_y": m.sum_y, "sum_y2": m.sum_y2, "sum_x": m.sum_x, "sum_x2": m.sum_x2, "sum_xy": m.sum_xy}


def close(ours, theirs):
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("metric", ["conversion", "revenue"])
def test_equal_to_gbstats_with_and_without_cuped_absolute_relative_and_sequential(metric):
    treated, converted, spend, pre = campaign(np.random.default_rng(3))
    y = converted if metric == "conversion" else spend
    x = (pre > 0).astype(float) if metric == "conversion" else pre
    cases, ours = [], []
    for cuped in (False, True):
        for relative in (False, True):
            for sequential in (False, True):
                cases.append({"treated": sums(y[treated == 1], x[treated == 1]),
                              "control": sums(y[treated == 0], x[treated == 0]), "relative": relative,
                              "cuped": cuped, "sequential": sequential, "alpha": 0.05, "tuning": 5000.0})
                ours.append(lift(y, treated, x if cuped else None, relative=relative, sequential=sequential))
    for case, mine, theirs in zip(cases, ours, gbstats(cases)):
        assert theirs["error"] is None, (case, theirs)
        close([mine.estimate, mine.ci_low, mine.ci_high, mine.p_value],
              [theirs["estimate"], theirs["ci_low"], theirs["ci_high"], theirs["p_value"]])
    # CUPED helped: the pre-period explains part of the outcome, so the interval is narrower.
    plain, adjusted = ours[0], ours[4]
    assert adjusted.ci_high - adjusted.ci_low < 0.95 * (plain.ci_high - plain.ci_low)


@pytest.mark.parametrize("metric", ["conversion", "revenue"])
def test_equal_to_statsmodels_welch_test_with_and_without_cuped(metric):
    treated, converted, spend, pre = campaign(np.random.default_rng(4))
    y = converted if metric == "conversion" else spend
    x = (pre > 0).astype(float) if metric == "conversion" else pre
    # CUPED's theta from statsmodels' own regression of the outcome on the pre-period (both groups).
    theta = OLS(y, np.c_[np.ones_like(x), x]).fit().params[1]
    for cuped, outcome in ((False, y), (True, y - theta * x)):
        t_stat, p, dof = ttest_ind(outcome[treated == 1], outcome[treated == 0], usevar="unequal")
        low, high = CompareMeans(DescrStatsW(outcome[treated == 1]), DescrStatsW(outcome[treated == 0])
                                 ).tconfint_diff(alpha=0.05, usevar="unequal")
        mine = lift(y, treated, x if cuped else None)
        close([mine.estimate, mine.ci_low, mine.ci_high, mine.p_value, mine.dof],
              [(low + high) / 2, low, high, p, dof])
        assert mine.theta == pytest.approx(theta if cuped else 0.0, rel=1e-9)


def test_fixed_horizon_intervals_cover_the_true_lift_95_percent_of_the_time():
    rng = np.random.default_rng(20)
    runs, n_t, n_c, effect = 2000, 3000, 1000, 4.0
    covered = {"absolute": 0, "cuped": 0, "relative": 0}
    for _ in range(runs):
        base = rng.gamma(0.8, 25.0, n_t + n_c)
        pre = rng.poisson(base / 25.0) * 20.0
        y = rng.poisson(base / 25.0) * 20.0 + np.r_[rng.exponential(effect, n_t), np.zeros(n_c)]
        treated = np.r_[np.ones(n_t, int), np.zeros(n_c, int)]
        truth_mean = 0.8 * 25.0 / 25.0 * 20.0        # E[y | control] = E[base] / 25 * 20
        for name, result, truth in (("absolute", lift(y, treated), effect),
                                    ("cuped", lift(y, treated, pre), effect),
                                    ("relative", lift(y, treated, relative=True), effect / truth_mean)):
            covered[name] += result.ci_low <= truth <= result.ci_high
    for name, hits in covered.items():
        assert 0.94 <= hits / runs <= 0.96, (name, hits / runs)


def test_confidence_sequences_cover_at_every_look_where_peeking_at_fixed_intervals_does_not():
    rng = np.random.default_rng(21)
    runs, looks, per_look, effect = 1000, 30, 200, 0.0
    always_sequential = always_fixed = 0
    for _ in range(runs):
        y = rng.exponential(10.0, looks * per_look)
        treated = rng.integers(0, 2, looks * per_look)
        fixed_ok = sequential_ok = True
        for look in range(1, looks + 1):
            upto = look * per_look
            t_sums = Moments.of(y[:upto][treated[:upto] == 1])
            c_sums = Moments.of(y[:upto][treated[:upto] == 0])
            fixed = compare(t_sums, c_sums)
            sequential = compare(t_sums, c_sums, sequential=True)
            fixed_ok &= fixed.ci_low <= effect <= fixed.ci_high
            sequential_ok &= sequential.ci_low <= effect <= sequential.ci_high
        always_fixed += fixed_ok
        always_sequential += sequential_ok
    # Read every day, fixed-horizon 95 % intervals miss the truth on some day far more than 5 % of the time.
    assert always_fixed / runs < 0.85
    # The sequence holds at all 30 looks at once at least 95 % of the time (within simulation error).
    assert always_sequential / runs >= 0.94


def test_sequential_interval_is_wider_than_the_fixed_one_at_a_single_look():
    treated, converted, spend, pre = campaign(np.random.default_rng(5))
    fixed, sequential = lift(spend, treated), lift(spend, treated, sequential=True)
    assert sequential.ci_low < fixed.ci_low and sequential.ci_high > fixed.ci_high
    assert sequential.p_value >= fixed.p_value


def test_srm_check_flags_a_broken_split_and_rarely_a_sound_one():
    rng = np.random.default_rng(22)
    sound = rng.multinomial(20_000, [0.9, 0.1], size=20_000)
    flagged = sum(sample_ratio_check({"t": int(a), "c": int(b)}, {"t": 0.9, "c": 0.1}).flagged for a, b in sound)
    assert 0.0002 <= flagged / len(sound) <= 0.0025, flagged   # ~0.1 % by design
    broken = rng.multinomial(20_000, [0.885, 0.115], size=2_000)   # 1.5 points lost from treatment
    caught = sum(sample_ratio_check({"t": int(a), "c": int(b)}, {"t": 0.9, "c": 0.1}).flagged for a, b in broken)
    assert caught / len(broken) >= 0.99


def test_planner_equals_statsmodels_power_and_its_effect_is_found_80_percent_of_the_time():
    n_total, share, sd = 20_000, 0.1, 35.0
    mde = minimum_detectable_effect(n_total, share, sd)
    # statsmodels' power of the standardised effect at these group sizes is the planner's target.
    peer_power = NormalIndPower().power(effect_size=mde / sd, nobs1=n_total * (1 - share), alpha=0.05,
                                        ratio=share / (1 - share))
    assert peer_power == pytest.approx(0.8, abs=1e-6)
    assert members_needed(mde, share, sd) == pytest.approx(n_total, rel=1e-4)
    assert holdout_share_needed(n_total, mde, sd) == pytest.approx(share, rel=1e-4)
    assert holdout_share_needed(n_total, mde / 10, sd) is None
    rng = np.random.default_rng(23)
    n_c = int(n_total * share)
    found = 0
    for _ in range(1000):
        y_t = rng.normal(mde, sd, n_total - n_c)
        y_c = rng.normal(0.0, sd, n_c)
        found += lift(np.r_[y_t, y_c], np.r_[np.ones(len(y_t), int), np.zeros(n_c, int)]).p_value < 0.05
    assert 0.76 <= found / 1000 <= 0.84
    assert power(mde, mde / 2.8) == pytest.approx(0.8, abs=0.01)


def test_undefined_lifts_say_why_and_bad_input_is_refused():
    assert "control group's mean is 0" in lift([1.0, 2.0, 0.0, 0.0], [1, 1, 0, 0], relative=True).note
    assert "fewer than two" in lift([1.0, 2.0, 0.0], [1, 1, 0]).note
    assert "does not vary" in lift([1.0, 1.0, 0.0, 0.0], [1, 1, 0, 0]).note
    with pytest.raises(MicromarketError, match="0 \\(control\\) or 1"):
        lift([1.0, 2.0], [1, 2])
    with pytest.raises(MicromarketError, match="NaN"):
        lift([1.0, np.nan, 1.0, 2.0], [1, 1, 0, 0])
