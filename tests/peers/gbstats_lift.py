"""GrowthBook's stats engine on the sums micromarket's lift uses: run by the measure tests with the
peers' own interpreter (`.venv-peers`, made by `make test-deps`; gbstats pins pandas 1.5 and
NumPy 1.26, so it stays out of micromarket's environment).

Reads a JSON list of cases on stdin; each has `treated` and `control` sums (n, sum_y, sum_y2 and,
for CUPED, sum_x, sum_x2, sum_xy), `relative`, `cuped`, `sequential`, `alpha`, `tuning`. Writes a
JSON list of {estimate, ci_low, ci_high, p_value} on stdout.
"""

import json
import sys

from gbstats.frequentist.tests import FrequentistConfig, SequentialConfig, SequentialTwoSidedTTest, TwoSidedTTest
from gbstats.models.statistics import RegressionAdjustedStatistic, SampleMeanStatistic


def statistic(sums, cuped):
    # SampleMeanStatistic for conversions too: fed 0/1 outcomes its variance is the unbiased
    # n p (1 - p) / (n - 1) that micromarket uses (ProportionStatistic divides by n).
    post = SampleMeanStatistic(n=sums["n"], sum=sums["sum_y"], sum_squares=sums["sum_y2"])
    if not cuped:
        return post
    pre = SampleMeanStatistic(n=sums["n"], sum=sums["sum_x"], sum_squares=sums["sum_x2"])
    return RegressionAdjustedStatistic(n=sums["n"], post_statistic=post, pre_statistic=pre,
                                       post_pre_sum_of_products=sums["sum_xy"], theta=0)


def run(case):
    difference = "relative" if case["relative"] else "absolute"
    a, b = statistic(case["control"], case["cuped"]), statistic(case["treated"], case["cuped"])
    if case["sequential"]:
        test = SequentialTwoSidedTTest(a, b, SequentialConfig(difference_type=difference, alpha=case["alpha"],
                                                              sequential_tuning_parameter=case["tuning"]))
    else:
        test = TwoSidedTTest(a, b, FrequentistConfig(difference_type=difference, alpha=case["alpha"]))
    result = test.compute_result()
    return {"estimate": result.expected, "ci_low": result.ci[0], "ci_high": result.ci[1],
            "p_value": result.p_value, "error": result.error_message}


if __name__ == "__main__":
    json.dump([run(case) for case in json.load(sys.stdin)], sys.stdout)
