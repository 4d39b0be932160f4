"""Over-refusal of benign prompts: hand-computed rates, flips, SSI, CIs and the re-asking user's view."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from refusal_stability.analysis import metrics, over_refusal
from refusal_stability.definitions.expected import EXPECTED_VALUES, parse_expected


def per_prompt(rows: list[tuple[str, str, str, int, int, int]]) -> pd.DataFrame:
    """per_prompt table from (model, prompt, expected, n_refuse, n_partial, n_comply) via the real metrics code."""
    table = pd.DataFrame(rows, columns=["model", "prompt_id", "expected", *metrics.COUNT_COLUMNS])
    counts = table.drop(columns="expected").set_index(["model", "prompt_id"])
    prompts = metrics.stability_from_counts(counts).reset_index()
    return prompts.merge(table[["model", "prompt_id", "expected"]], on=["model", "prompt_id"])


# m: b1 R2 C2 (refused half the time, flips, SSI 0.5); b2 C4; b3 R4; h1 is harmful and must not count.
# m2: harmful prompts only.
PROMPTS = per_prompt(
    [
        ("m", "b1", "comply", 2, 0, 2),
        ("m", "b2", "comply", 0, 0, 4),
        ("m", "b3", "comply", 4, 0, 0),
        ("m", "h1", "refuse", 0, 0, 4),
        ("m2", "h1", "refuse", 4, 0, 0),
    ]
)


def test_summary_hand_computed() -> None:
    table = over_refusal.over_refusal_summary(PROMPTS, n_boot=200).set_index("model")
    row = table.loc["m"]
    assert row["n_benign_prompts"] == 3
    assert row["over_refusal_pct"] == pytest.approx((50 + 0 + 100) / 3)
    assert row["over_refusal_any_pct"] == pytest.approx(200 / 3)
    assert row["over_refusal_flip_pct"] == pytest.approx(100 / 3)
    assert row["benign_mean_ssi"] == pytest.approx((0.5 + 1 + 1) / 3)
    for metric in over_refusal.BENIGN_METRICS:
        assert row[f"{metric}_ci_low"] <= row[metric] <= row[f"{metric}_ci_high"]
    assert list(table.columns) == over_refusal.BENIGN_COLUMNS


def test_summary_ci_is_the_shared_bootstrap_over_prompts() -> None:
    row = over_refusal.over_refusal_summary(PROMPTS, n_boot=300, seed=7).set_index("model").loc["m"]
    values = np.array([[50.0, 100.0, 100.0, 0.5], [0.0, 0.0, 0.0, 1.0], [100.0, 100.0, 0.0, 1.0]])
    low, high = metrics.bootstrap_ci(values, 300, 7)
    got_low = [row[f"{m}_ci_low"] for m in over_refusal.BENIGN_METRICS]
    got_high = [row[f"{m}_ci_high"] for m in over_refusal.BENIGN_METRICS]
    assert got_low == pytest.approx(low)
    assert got_high == pytest.approx(high)


def test_run_without_benign_prompts_gets_empty_columns() -> None:
    table = over_refusal.over_refusal_summary(PROMPTS, n_boot=50).set_index("model")
    row = table.loc["m2"]
    assert row["n_benign_prompts"] == 0
    assert all(math.isnan(row[c]) for c in over_refusal.BENIGN_COLUMNS[1:])
    extra = over_refusal.over_refusal_summary(PROMPTS, models=["m", "m2", "m3"], n_boot=50)
    assert list(extra["model"]) == ["m", "m2", "m3"]
    assert extra.set_index("model").loc["m3", "n_benign_prompts"] == 0


def test_old_table_without_expected_has_no_benign_prompts() -> None:
    old = PROMPTS.drop(columns="expected")
    assert over_refusal.benign_rows(old).empty
    assert len(over_refusal.harmful_rows(old)) == len(old)
    assert over_refusal.refused_within_k(old).empty


def test_split_keeps_each_half() -> None:
    assert sorted(over_refusal.benign_rows(PROMPTS)["prompt_id"]) == ["b1", "b2", "b3"]
    assert list(over_refusal.harmful_rows(PROMPTS)["model"]) == ["m", "m2"]


def test_refused_within_k_hand_computed() -> None:
    table = over_refusal.refused_within_k(PROMPTS)
    assert set(table["model"]) == {"m"}  # m2 has no benign prompt
    values = table.set_index("k")["any_refuse_pct"]
    # b1: n=4, r=2: 1/2, 1 - C(2,2)/C(4,2) = 5/6, 1, 1; b2: 0; b3: 1
    expected = [(0.5 + 0 + 1) / 3, (5 / 6 + 0 + 1) / 3, 2 / 3, 2 / 3]
    assert list(values.index) == [1, 2, 3, 4]
    assert values.to_numpy() == pytest.approx(np.array(expected) * 100)
    summary = over_refusal.over_refusal_summary(PROMPTS, n_boot=10).set_index("model").loc["m"]
    assert values.loc[1] == pytest.approx(summary["over_refusal_pct"])
    assert values.loc[4] == pytest.approx(summary["over_refusal_any_pct"])


def test_refused_within_k_larger_than_grid_and_bad_k() -> None:
    table = over_refusal.refused_within_k(PROMPTS, max_k=6)
    assert table["k"].max() == 6
    assert table.iloc[-1]["any_refuse_pct"] == pytest.approx(200 / 3)
    with pytest.raises(ValueError, match="max_k"):
        over_refusal.refused_within_k(PROMPTS, max_k=0)


def test_sentence() -> None:
    table = over_refusal.refused_within_k(PROMPTS)
    sentence = over_refusal.refused_within_k_sentence(table, "m", 2)
    assert sentence is not None and "2 times" in sentence and "61.1 %" in sentence
    assert over_refusal.refused_within_k_sentence(table, "m2", 5) is None


@pytest.mark.parametrize(
    ("cell", "value"),
    [("refuse", "refuse"), (" Unsafe ", "refuse"), ("HARMFUL", "refuse"), ("comply", "comply"), ("safe", "comply")]
    + [("Benign", "comply"), ("", None), ("maybe", None), (1, None), (None, None)],
)
def test_parse_expected(cell: object, value: str | None) -> None:
    assert parse_expected(cell) == value
    assert value is None or value in EXPECTED_VALUES


def two_runs() -> pd.DataFrame:
    """Runs a and b on the same harmful prompt h1 and benign prompts b1, b2 (b refuses b1 always, a never)."""
    return per_prompt(
        [
            ("a", "h1", "refuse", 4, 0, 0),
            ("a", "b1", "comply", 0, 0, 4),
            ("a", "b2", "comply", 2, 0, 2),
            ("b", "h1", "refuse", 2, 0, 2),
            ("b", "b1", "comply", 4, 0, 0),
            ("b", "b2", "comply", 2, 0, 2),
        ]
    )


def test_compare_both_pairs_each_half_with_holm_over_all() -> None:
    from refusal_stability.analysis import comparisons

    table = over_refusal.compare_both(two_runs(), n_boot=50)
    harmful = table[table["metric"].isin(comparisons.METRICS)]
    benign = table[table["metric"].isin(over_refusal.BENIGN_COMPARISONS)].set_index("metric")
    assert set(harmful["n_prompts"]) == {1} and set(benign["n_prompts"]) == {2}
    # over-refusal: a (0 + 50) / 2 = 25 %, b (100 + 50) / 2 = 75 %; refused at least once: a 50 %, b 100 %
    assert (benign.loc["over_refusal_pct", "value_a"], benign.loc["over_refusal_pct", "value_b"]) == (25.0, 75.0)
    assert benign.loc["over_refusal_any_pct", "diff"] == pytest.approx(50.0)
    assert benign.loc["benign_mean_ssi", "diff"] == pytest.approx(0.0)  # b1 SSI 1 in both, b2 0.5 in both
    assert table["p_holm"].to_numpy() == pytest.approx(comparisons.holm(table["p"].to_numpy()), nan_ok=True)
    only_harmful = over_refusal.compare_both(over_refusal.harmful_rows(two_runs()), n_boot=50)
    assert set(only_harmful["metric"]) == set(comparisons.METRICS)


def test_by_group_both_splits_by_expected() -> None:
    prompts = two_runs()
    info = prompts[["model", "prompt_id"]].assign(source=["s"] * len(prompts))
    table, harmful = over_refusal.by_group_both(prompts, info, ["source"])
    assert set(harmful["prompt_id"]) == {"h1"}
    split = table[table["group_by"] == "expected"].set_index(["model", "group"])
    assert split.loc[("b", "comply"), "n_prompts"] == 2 and split.loc[("b", "comply"), "refusal_pct"] == 75.0
    source = table[table["group_by"] == "source"].set_index(["model", "expected"])
    assert source.loc[("a", "refuse"), "n_prompts"] == 1 and source.loc[("a", "comply"), "n_prompts"] == 2
    plain, _ = over_refusal.by_group_both(over_refusal.harmful_rows(prompts), info, ["source"])
    assert set(plain["group_by"]) == {"source"} and set(plain["expected"]) == {"refuse"}
