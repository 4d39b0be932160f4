"""Paired run comparisons: bootstrap CIs, Wilcoxon, exact McNemar and Holm on hand-computed tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from refusal_stability.analysis import comparisons


def run(model: str, ssi: list[float], flipped: list[bool], unstable: list[bool], comply: list[float]) -> pd.DataFrame:
    """per_prompt rows p1, p2, ... of one run."""
    return pd.DataFrame(
        {
            "model": model,
            "prompt_id": [f"p{i + 1}" for i in range(len(ssi))],
            "ssi": ssi,
            "flipped": flipped,
            "unstable": unstable,
            "compliance_rate": comply,
        }
    )


T, F = True, False
A = run("a", [1.0, 0.5, 0.75, 1.0, 0.6], [F, T, T, F, T], [F, T, T, F, T], [0.0, 0.5, 0.25, 1.0, 0.4])
B = run("b", [0.5, 0.5, 0.25, 0.75], [T, T, T, T], [T, T, T, T], [0.5, 0.5, 0.75, 0.25])  # no p5


def test_values_diff_and_tests_hand_computed() -> None:
    table = comparisons.compare_runs(pd.concat([B, A]), n_boot=200)
    assert list(table.columns) == comparisons.COMPARISON_COLUMNS
    assert (table["a"] == "a").all() and (table["b"] == "b").all()  # sorted pair order
    assert (table["n_prompts"] == 4).all()  # p5 is not shared
    rows = table.set_index("metric")
    assert list(rows.index) == ["mean_ssi", "flip_pct", "unstable_pct", "comply_pct"]
    ssi = rows.loc["mean_ssi"]
    # shared p1-p4: a 3.25/4, b 2/4; diffs b - a = -0.5, 0, -0.5, -0.25 -> mean -0.3125
    assert (ssi["value_a"], ssi["value_b"], ssi["diff"]) == pytest.approx((0.8125, 0.5, -0.3125))
    # Wilcoxon drops the zero; |d| 0.5, 0.5, 0.25 -> ranks 2.5, 2.5, 1, all negative: W+ = 0 = statistic.
    # Ties -> normal approximation: mean n(n+1)/4 = 3, var 3*4*7/24 - (2^3 - 2)/48 = 3.375
    assert ssi["test"] == "wilcoxon" and ssi["statistic"] == 0.0
    assert ssi["p"] == pytest.approx(2 * stats.norm.sf(3 / math.sqrt(3.375)))
    flip = rows.loc["flip_pct"]
    # flipped a: F T T F, b: T T T T -> 2 discordant, both "b only": two-sided binomial p = 2 * 0.5^2 = 0.5
    assert (flip["value_a"], flip["value_b"], flip["diff"]) == pytest.approx((50.0, 100.0, 50.0))
    assert flip["test"] == "mcnemar_exact" and (flip["statistic"], flip["p"]) == (0.0, pytest.approx(0.5))
    comply = rows.loc["comply_pct"]
    # diffs (b - a) in %: 50, 0, 50, -75 -> mean 6.25; nonzero |d| 50, 50, 75 -> ranks 1.5, 1.5, 3:
    # W+ = 3, W- = 3 -> statistic 3 = mean: z = 0, p = 1
    assert comply["diff"] == pytest.approx(6.25)
    assert (comply["statistic"], comply["p"]) == (3.0, pytest.approx(1.0))


def test_exact_wilcoxon_without_ties() -> None:
    # d = 0.1, 0.2, -0.3, 0.4, 0.5: ranks 1..5, W- = 3 = statistic; subsets of {1..5} summing to <= 3:
    # {}, {1}, {2}, {3}, {1,2} -> P(W <= 3) = 5/32, two-sided p = 10/32
    statistic, p = comparisons.wilcoxon_signed_rank(np.array([0.1, 0.2, -0.3, 0.4, 0.5]))
    assert (statistic, p) == (3.0, pytest.approx(10 / 32))


def test_wilcoxon_large_sample_matches_normal_approximation() -> None:
    rng = np.random.default_rng(3)
    d = rng.integers(-3, 5, size=200) / 4  # many ties and zeros
    statistic, p = comparisons.wilcoxon_signed_rank(d)
    reference = stats.wilcoxon(d[d != 0], method="asymptotic", correction=False)
    assert statistic == pytest.approx(reference.statistic) and p == pytest.approx(reference.pvalue)


def test_all_zero_differences_and_no_discordant_pairs() -> None:
    same = comparisons.compare_runs(pd.concat([A, A.assign(model="z")]), n_boot=50)
    assert (same["p"] == 1.0).all() and same["statistic"].isna().all()
    assert (same["diff"] == 0).all() and (same["ci_low"] == 0).all() and (same["ci_high"] == 0).all()
    assert comparisons.wilcoxon_signed_rank(np.array([0.7 - 0.7, 1e-15])) == (pytest.approx(math.nan, nan_ok=True), 1.0)


def test_mcnemar_exact_hand_computed() -> None:
    # 6 discordant, all "a only": p = 2 * 0.5^6 = 1/32; statistic = min(6, 0) = 0
    a = np.array([T] * 6 + [T, F])
    b = np.array([F] * 6 + [T, F])
    assert comparisons.mcnemar_exact(a, b) == (0.0, pytest.approx(1 / 32))
    # 3 vs 1 discordant: P(X <= 1 | n=4) = 5/16, two-sided 10/16
    assert comparisons.mcnemar_exact(np.array([T, T, T, F]), np.array([F, F, F, T])) == (1.0, pytest.approx(10 / 16))


def test_bootstrap_ci_is_the_paired_percentile_interval() -> None:
    table = comparisons.compare_runs(pd.concat([A, B]), n_boot=300, seed=7).set_index("metric")
    # the definition: resample shared prompts (same draws for every metric), mean difference, percentiles
    diffs = np.array([[-0.5, 0, -0.5, -0.25], [100, 0, 0, 100], [100, 0, 0, 100], [50, 0, 50, -75]]).T
    index = np.random.default_rng(7).integers(0, 4, size=(300, 4))
    expected = np.percentile(diffs[index].mean(axis=1), [2.5, 97.5], axis=0)
    for k, metric in enumerate(comparisons.METRICS):
        assert table.loc[metric, ["ci_low", "ci_high"]].tolist() == pytest.approx(expected[:, k].tolist())
        assert table.loc[metric, "ci_low"] <= table.loc[metric, "diff"] <= table.loc[metric, "ci_high"]
    again = comparisons.compare_runs(pd.concat([A, B]), n_boot=300, seed=7).set_index("metric")
    assert again["ci_low"].equals(table["ci_low"])


def test_holm_hand_computed() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.02 .03 .06 .06
    adjusted = comparisons.holm(np.array([0.01, 0.04, 0.03, 0.005, np.nan]))
    assert adjusted[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02]) and math.isnan(adjusted[4])
    assert comparisons.holm(np.array([0.5, 0.9])) == pytest.approx([1.0, 1.0])  # capped at 1


def test_holm_runs_over_all_pairs_and_metrics() -> None:
    c = run("c", [0.25, 0.5, 0.25, 0.5], [T, T, T, T], [T, T, T, T], [1.0, 1.0, 1.0, 1.0])
    table = comparisons.compare_runs(pd.concat([A, B, c]), n_boot=50)
    assert len(table) == 3 * 4 and set(zip(table["a"], table["b"], strict=True)) == {("a", "b"), ("a", "c"), ("b", "c")}
    assert table["p_holm"].to_numpy() == pytest.approx(comparisons.holm(table["p"].to_numpy()))
    assert (table["p_holm"] >= table["p"]).all()


def test_no_shared_prompts_and_input_errors() -> None:
    other = A.assign(model="o", prompt_id=A["prompt_id"] + "-other")
    assert comparisons.compare_runs(pd.concat([A, other])).empty
    assert list(comparisons.compare_runs(A).columns) == comparisons.COMPARISON_COLUMNS  # one run: no pairs
    with pytest.raises(ValueError, match="one row per"):
        comparisons.compare_runs(pd.concat([A, A]))
    with pytest.raises(ValueError, match="n_boot"):
        comparisons.compare_runs(pd.concat([A, B]), n_boot=0)
