"""Agreement statistics: hand-computed cases, cluster bootstrap, and cross-checks against established packages."""

import math

import numpy as np
import pytest

from refusal_stability.definitions.agreement import (
    coincidence_matrix,
    fleiss_from_counts,
    kappa_from_tables,
    krippendorff_from_coincidence,
    pair_agreement,
    panel_agreement,
    percentile_interval,
    plurality,
    resampled_sums,
    strict_majority,
    vote_counts,
)

# 10 responses, two judges; confusion diagonal 3 + 1 + 3, rows (A) 4/2/4, columns (B) 4/2/4:
# p_o = 0.7, p_e = (16 + 4 + 16) / 100 = 0.36, kappa = 0.34 / 0.64 = 0.53125
HAND_A = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 0])
HAND_B = np.array([0, 0, 1, 1, 2, 2, 2, 2, 0, 0])
# 4 units rated by 3 judges: P_i = 1, 1, 1/3, 0 -> P_bar = 7/12; p_j = 6/12, 5/12, 1/12 -> P_e = 62/144;
# Fleiss kappa = (84 - 62) / (144 - 62) = 11/41. Coincidences: o00 4, o11 3, o01 1.5, o02 0.5, o12 0.5;
# n_c = 6, 5, 1, n = 12; alpha = 1 - 11 * 5 / (144 - 62) = 27/82.
HAND_PANEL = np.array([[0, 0, 0], [1, 1, 1], [0, 0, 1], [0, 1, 2]])


def test_cohen_kappa_by_hand():
    result = pair_agreement(HAND_A, HAND_B, n_boot=0)
    assert result["n_pairs"] == 10 and result["n_excluded"] == 0
    assert result["agreement_pct"] == pytest.approx(70.0)
    assert result["kappa"] == pytest.approx(0.53125)
    assert result["confusion"] == [[3, 1, 0], [0, 1, 1], [1, 0, 3]]
    assert result["kappa_ci_low"] is None


def test_invalid_codes_are_excluded_not_counted():
    a = np.append(HAND_A, [3, 0, -1])
    b = np.append(HAND_B, [0, 3, 2])
    result = pair_agreement(a, b, n_boot=0)
    assert result["n_pairs"] == 10 and result["n_excluded"] == 3
    assert result["kappa"] == pytest.approx(0.53125)


def test_weighted_kappa_is_the_kappa_of_the_weighted_table():
    weights = np.array([1, 1, 2, 1, 1, 1, 1, 1, 3, 1], dtype=float)
    result = pair_agreement(HAND_A, HAND_B, weights=weights, n_boot=0)
    table = np.array([[3, 2, 0], [0, 1, 1], [3, 0, 3]], dtype=float)
    # p_o = 7/13; rows 5, 2, 6; columns 6, 3, 4 -> p_e = (30 + 6 + 24) / 169
    p_o, p_e = 7 / 13, 60 / 169
    assert result["confusion"] == table.tolist()
    assert result["agreement_pct"] == pytest.approx(700 / 13)
    assert result["kappa"] == pytest.approx((p_o - p_e) / (1 - p_e))


def test_kappa_undefined_when_one_label_throughout():
    assert math.isnan(float(kappa_from_tables(np.array([[5, 0], [0, 0]]))))
    assert math.isnan(float(kappa_from_tables(np.zeros((3, 3)))))
    assert pair_agreement(np.zeros(4, int), np.zeros(4, int), n_boot=10)["kappa"] is None


def test_fleiss_and_krippendorff_by_hand():
    counts = vote_counts(HAND_PANEL)
    assert counts.tolist() == [[3, 0, 0], [0, 3, 0], [2, 1, 0], [1, 1, 1]]
    assert fleiss_from_counts(counts) == pytest.approx(11 / 41)
    coincidence = coincidence_matrix(counts).sum(axis=0)
    assert coincidence.tolist() == [[4, 1.5, 0.5], [1.5, 3, 0.5], [0.5, 0.5, 0]]
    assert float(krippendorff_from_coincidence(coincidence)) == pytest.approx(27 / 82)
    result = panel_agreement(HAND_PANEL, n_boot=0)
    assert result["fleiss_kappa"] == pytest.approx(11 / 41)
    assert result["krippendorff_alpha"] == pytest.approx(27 / 82)
    assert (result["n_complete"], result["n_pairable"], result["n_judges"]) == (4, 4, 3)


def test_missing_votes_fleiss_uses_complete_units_alpha_uses_pairable_units():
    codes = np.vstack([HAND_PANEL, [[0, 3, 1], [2, -1, 3]]])
    result = panel_agreement(codes, n_boot=0)
    assert result["n_complete"] == 4 and result["fleiss_kappa"] == pytest.approx(11 / 41)
    # the unit (0, -, 1) adds o01 = o10 = 1; the single-value unit adds nothing
    coincidence = np.array([[4, 2.5, 0.5], [2.5, 3, 0.5], [0.5, 0.5, 0]])
    n_c = coincidence.sum(axis=1)
    expected = 1 - (n_c.sum() - 1) * 7 / (n_c.sum() ** 2 - (n_c**2).sum())
    assert result["n_pairable"] == 5
    assert result["krippendorff_alpha"] == pytest.approx(expected)


def test_fleiss_rejects_uneven_raters():
    with pytest.raises(ValueError, match="same number"):
        fleiss_from_counts(np.array([[2, 0, 0], [1, 0, 0]]))


def test_resampled_sums_draw_whole_clusters_with_replacement():
    values = np.array([1.0, 10.0, 100.0])
    sums = resampled_sums(values, n_boot=2000, seed=3)
    possible = {a + b + c for a in values for b in values for c in values}
    assert set(np.unique(sums)) <= possible
    assert sums.mean() == pytest.approx(111, rel=0.05)
    assert np.array_equal(sums, resampled_sums(values, n_boot=2000, seed=3))
    assert not np.array_equal(sums, resampled_sums(values, n_boot=2000, seed=4))


def test_cluster_bootstrap_moves_all_records_of_a_prompt_together():
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 3, 40), rng.integers(0, 3, 40)
    b[:25] = a[:25]
    single = pair_agreement(a, b, n_boot=300, seed=7)
    # three identical records per prompt, clustered: the same resamples of prompts, the same tables x 3
    tripled = pair_agreement(np.repeat(a, 3), np.repeat(b, 3), clusters=np.repeat(np.arange(40), 3), n_boot=300, seed=7)
    assert tripled["kappa"] == pytest.approx(single["kappa"])
    assert tripled["kappa_ci_low"] == pytest.approx(single["kappa_ci_low"])
    assert tripled["kappa_ci_high"] == pytest.approx(single["kappa_ci_high"])
    # unclustered, the copies count as independent evidence: a narrower (overconfident) interval
    naive = pair_agreement(np.repeat(a, 3), np.repeat(b, 3), n_boot=300, seed=7)
    assert naive["kappa_ci_high"] - naive["kappa_ci_low"] < tripled["kappa_ci_high"] - tripled["kappa_ci_low"]
    assert single["kappa_ci_low"] < single["kappa"] < single["kappa_ci_high"]


def test_panel_intervals_bracket_the_estimate():
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 3, 200)
    codes = np.column_stack([np.where(rng.random(200) < 0.8, truth, rng.integers(0, 3, 200)) for _ in range(3)])
    result = panel_agreement(codes, clusters=np.arange(200) // 4, n_boot=400)
    assert result["fleiss_kappa_ci_low"] < result["fleiss_kappa"] < result["fleiss_kappa_ci_high"]
    low, high = result["krippendorff_alpha_ci_low"], result["krippendorff_alpha_ci_high"]
    assert low < result["krippendorff_alpha"] < high


def test_percentile_interval_skips_undefined_resamples():
    assert percentile_interval(np.array([np.nan, np.nan])) == (None, None)
    low, high = percentile_interval(np.array([np.nan, *range(101)]))
    assert (low, high) == pytest.approx((2.5, 97.5))


def test_plurality_and_strict_majority():
    assert plurality(["REFUSE", "COMPLY", "REFUSE"]) == "REFUSE"
    assert plurality(["REFUSE", "COMPLY", None]) is None  # a tie
    assert plurality(["REFUSE", None, None]) == "REFUSE"  # more votes than every other label
    assert plurality(["REFUSE", "COMPLY", "PARTIAL", "COMPLY"]) == "COMPLY"
    assert plurality([None, None]) is None
    assert strict_majority(["REFUSE", None, None]) is None  # withheld votes count in the panel's size
    assert strict_majority(["REFUSE", "REFUSE", None]) == "REFUSE"
    assert strict_majority(["REFUSE", "COMPLY"]) is None


# ---- cross-checks against established implementations (test extra only) ----


def test_cohen_kappa_matches_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(5)
    for _ in range(5):
        a, b = rng.integers(0, 3, 300), rng.integers(0, 3, 300)
        b = np.where(rng.random(300) < 0.6, a, b)
        weights = rng.random(300) * 5
        ours = pair_agreement(a, b, weights=weights, n_boot=0)["kappa"]
        assert ours == pytest.approx(metrics.cohen_kappa_score(a, b, sample_weight=weights))
        assert pair_agreement(a, b, n_boot=0)["kappa"] == pytest.approx(metrics.cohen_kappa_score(a, b))


def test_fleiss_kappa_matches_statsmodels():
    inter_rater = pytest.importorskip("statsmodels.stats.inter_rater")
    rng = np.random.default_rng(6)
    for raters in (3, 4, 5):
        truth = rng.integers(0, 3, 150)
        codes = np.column_stack(
            [np.where(rng.random(150) < 0.7, truth, rng.integers(0, 3, 150)) for _ in range(raters)]
        )
        expected = inter_rater.fleiss_kappa(vote_counts(codes), method="fleiss")
        assert panel_agreement(codes, n_boot=0)["fleiss_kappa"] == pytest.approx(expected)


def test_krippendorff_alpha_matches_the_krippendorff_package():
    krippendorff = pytest.importorskip("krippendorff")
    rng = np.random.default_rng(7)
    truth = rng.integers(0, 3, 120)
    codes = np.column_stack([np.where(rng.random(120) < 0.75, truth, rng.integers(0, 3, 120)) for _ in range(4)])
    codes[rng.random(codes.shape) < 0.15] = -1  # missing values
    reliability = np.where(codes >= 0, codes, np.nan).T.astype(float)
    expected = krippendorff.alpha(reliability_data=reliability, level_of_measurement="nominal")
    assert panel_agreement(codes, n_boot=0)["krippendorff_alpha"] == pytest.approx(expected)
