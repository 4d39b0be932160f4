"""Judge agreement, Cohen's kappa and consensus stability on hand-computed frames."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from refusal_stability.analysis import agreement

GRID = [(t, s) for t in (0.0, 1.0) for s in (1, 2, 3)]
ABBR = {"R": "REFUSE", "P": "PARTIAL", "C": "COMPLY", "U": "UNSCORED"}


def rows(model: str, prompt: str, judge: str, labels: str, eval_id: str = "e1") -> list[dict]:
    """One record per grid configuration; labels abbreviated R/P/C/U."""
    return [
        {
            "model": model,
            "prompt_id": prompt,
            "epoch": e + 1,
            "temperature": GRID[e][0],
            "seed": GRID[e][1],
            "judge": judge,
            "label": ABBR[label],
            "eval_id": eval_id,
        }
        for e, label in enumerate(labels)
    ]


def frame(*parts: list[dict]) -> pd.DataFrame:
    """Tidy frame of the given record lists (epoch and seed as Int64)."""
    out = pd.DataFrame([row for part in parts for row in part])
    out["epoch"] = out["epoch"].astype("Int64")
    out["seed"] = out["seed"].astype("Int64")
    return out


def test_kappa_two_by_two() -> None:
    # n=50, p_o = 35/50 = 0.7; rows 25/25, cols 30/20: p_e = (25*30 + 25*20)/2500 = 0.5 -> (0.7-0.5)/0.5 = 0.4
    assert agreement.cohens_kappa(np.array([[20, 5], [10, 15]])) == pytest.approx(0.4)


def test_kappa_three_by_three() -> None:
    # n=10, p_o = 8/10; rows 6,3,1; cols 5,3,2: p_e = (30 + 9 + 2)/100 = 0.41 -> 0.39/0.59
    confusion = np.array([[5, 1, 0], [0, 2, 1], [0, 0, 1]])
    assert agreement.cohens_kappa(confusion) == pytest.approx(0.39 / 0.59)


def test_kappa_perfect_disagreement_and_weighted_table() -> None:
    # p_o = 0, p_e = (2*2 + 2*2)/16 = 0.5 -> -1
    assert agreement.cohens_kappa(np.array([[0, 2], [2, 0]])) == pytest.approx(-1.0)
    # weights scale every cell: kappa unchanged
    assert agreement.cohens_kappa(np.array([[20, 5], [10, 15]]) * 0.25) == pytest.approx(0.4)


def test_kappa_undefined_cases_are_nan_and_bad_shape_raises() -> None:
    assert math.isnan(agreement.cohens_kappa(np.array([[4, 0, 0], [0, 0, 0], [0, 0, 0]])))  # p_e = 1
    assert math.isnan(agreement.cohens_kappa(np.zeros((3, 3))))
    with pytest.raises(ValueError, match="square"):
        agreement.cohens_kappa(np.ones((2, 3)))
    with pytest.raises(ValueError, match="non-negative"):
        agreement.cohens_kappa(np.array([[1, -1], [0, 1]]))


TWO_JUDGES = frame(
    rows("m1", "p1", "A", "RRCU"),
    rows("m1", "p1", "B", "RCCR"),
    rows("m2", "p1", "A", "RRRR"),
    rows("m2", "p1", "B", "RRRR"),
    [{**rows("m2", "p1", "A", "R")[0], "temperature": 2.0}],  # judge B never labelled this configuration
)


def test_judge_agreement_per_model_and_overall() -> None:
    result = agreement.judge_agreement(TWO_JUDGES, "A", "B")
    assert result["judges"] == ["A", "B"]
    m1 = result["per_model"]["m1"]
    # pairs (R,R) (R,C) (C,C) (U,R): the last is excluded; 2 of 3 agree
    assert (m1["n_pairs"], m1["n_excluded"]) == (3, 1)
    assert m1["agreement_pct"] == pytest.approx(200 / 3)
    # rows R 2, C 1; cols R 1, C 2: p_e = (2*1 + 1*2)/9 = 4/9; kappa = (2/3 - 4/9)/(5/9) = 0.4
    assert m1["kappa"] == pytest.approx(0.4)
    assert m1["confusion"]["REFUSE"] == {"REFUSE": 1, "PARTIAL": 0, "COMPLY": 1}
    assert m1["confusion"]["COMPLY"] == {"REFUSE": 0, "PARTIAL": 0, "COMPLY": 1}
    m2 = result["per_model"]["m2"]
    assert (m2["n_pairs"], m2["agreement_pct"], m2["kappa"]) == (4, 100.0, None)  # one label only: undefined
    # overall: 7 valid pairs, RR 5, RC 1, CC 1: p_o = 6/7; rows R 6, C 1; cols R 5, C 2: p_e = 32/49
    assert result["n_pairs"] == 7 and result["n_excluded"] == 1
    assert result["agreement_pct"] == pytest.approx(600 / 7)
    assert result["kappa"] == pytest.approx((6 / 7 - 32 / 49) / (17 / 49))  # = 10/17
    assert result["confusion"]["REFUSE"]["REFUSE"] == 5
    assert (result["n_unpaired_a"], result["n_unpaired_b"]) == (1, 0)


def test_agreement_rows_are_judge_a() -> None:
    swapped = agreement.judge_agreement(TWO_JUDGES, "B", "A")
    assert swapped["per_model"]["m1"]["confusion"]["REFUSE"] == {"REFUSE": 1, "PARTIAL": 0, "COMPLY": 0}
    assert swapped["per_model"]["m1"]["confusion"]["COMPLY"] == {"REFUSE": 1, "PARTIAL": 0, "COMPLY": 1}
    assert (swapped["n_unpaired_a"], swapped["n_unpaired_b"]) == (0, 1)


def test_reruns_pair_in_eval_order_regardless_of_row_order() -> None:
    data = frame(
        rows("m", "p", "A", "C", eval_id="e2"),
        rows("m", "p", "B", "R", eval_id="e1"),
        rows("m", "p", "A", "R", eval_id="e1"),
        rows("m", "p", "B", "C", eval_id="e2"),
    )
    result = agreement.judge_agreement(data, "A", "B")
    assert (result["n_pairs"], result["agreement_pct"]) == (2, 100.0)


def test_pairing_without_epoch_column() -> None:
    data = TWO_JUDGES.drop(columns=["epoch", "eval_id"])
    assert agreement.judge_agreement(data, "A", "B")["n_pairs"] == 7


def test_no_shared_records_and_one_judge_only() -> None:
    other_seed = frame(rows("m", "p", "A", "RR"), rows("m", "p", "B", "RR"))
    other_seed.loc[other_seed["judge"] == "B", "seed"] = 99
    result = agreement.judge_agreement(other_seed, "A", "B")
    assert (result["n_pairs"], result["agreement_pct"], result["kappa"]) == (0, None, None)
    assert result["per_model"] == {}
    assert (result["n_unpaired_a"], result["n_unpaired_b"]) == (2, 2)
    with pytest.raises(ValueError, match="judge 'B' has no records"):
        agreement.judge_agreement(frame(rows("m", "p", "A", "RR")), "A", "B")
    with pytest.raises(ValueError, match="two different judges"):
        agreement.judge_agreement(TWO_JUDGES, "A", "A")


CONSENSUS = frame(
    rows("m1", "sensitive", "A", "RRRRRC"),
    rows("m1", "sensitive", "B", "RRRRRR"),
    rows("m1", "real", "A", "RRRCCC"),
    rows("m1", "real", "B", "RRRCCC"),
    rows("m1", "few", "A", "RCPCRP"),
    rows("m1", "few", "B", "RCRRCR"),
    rows("m1", "stable", "A", "CCCCCC"),
    rows("m1", "stable", "B", "CCCCCU"),
)


def test_consensus_table_hand_computed() -> None:
    table, sensitive = agreement.consensus(CONSENSUS, "A", "B", min_records=3)
    assert list(table.columns) == agreement.CONSENSUS_COLUMNS
    row = table.set_index("model").loc["m1"]
    # all (judge A): SSI 5/6, 1/2, 1/3 (2-2-2), 1 -> mean 2/3; flips: sensitive, real, few -> 75 %
    assert row["n_prompts_all"] == 4
    assert row["mean_ssi_all"] == pytest.approx(2 / 3)
    assert row["flip_pct_all"] == pytest.approx(75.0)
    # consensus: sensitive 5 R (SSI 1), real 6 records (SSI 1/2, flips), few has 2 < 3, stable 5 C (SSI 1)
    assert row["n_prompts_consensus"] == 3
    assert row["mean_ssi_consensus"] == pytest.approx(5 / 6)
    assert row["flip_pct_consensus"] == pytest.approx(100 / 3)
    flags = sensitive.set_index("prompt_id")
    assert flags.loc["sensitive", "judge_sensitive"] and flags.loc["sensitive", "n_consensus"] == 5
    assert not flags.loc["real", "judge_sensitive"] and flags.loc["real", "flipped_consensus"]
    assert not flags.loc["few", "judge_sensitive"] and pd.isna(flags.loc["few", "flipped_consensus"])
    assert flags.loc["few", "n_consensus"] == 2
    assert not flags.loc["stable", "judge_sensitive"] and flags.loc["stable", "n_consensus"] == 5
    assert sensitive["judge_sensitive"].dtype == bool


def test_consensus_min_records_rule_default_five() -> None:
    table, sensitive = agreement.consensus(CONSENSUS, "A", "B")  # min_records=5: "real" (6), sensitive (5), stable (5)
    assert table.loc[0, "n_prompts_consensus"] == 3
    table, sensitive = agreement.consensus(CONSENSUS, "A", "B", min_records=6)  # only "real" qualifies
    assert table.loc[0, "n_prompts_consensus"] == 1
    assert table.loc[0, "mean_ssi_consensus"] == pytest.approx(0.5)
    assert not sensitive["judge_sensitive"].any()  # "sensitive" has 5 < 6 consensus records: cannot tell
    with pytest.raises(ValueError, match="min_records"):
        agreement.consensus(CONSENSUS, "A", "B", min_records=0)


def test_consensus_without_any_agreement_is_nan() -> None:
    data = frame(rows("m", "p", "A", "RRRRRR"), rows("m", "p", "B", "CCCCCC"))
    table, sensitive = agreement.consensus(data, "A", "B")
    assert table.loc[0, "n_prompts_all"] == 1 and table.loc[0, "n_prompts_consensus"] == 0
    assert math.isnan(table.loc[0, "mean_ssi_consensus"]) and math.isnan(table.loc[0, "flip_pct_consensus"])
    assert sensitive.loc[0, "n_consensus"] == 0 and not sensitive.loc[0, "judge_sensitive"]


def test_vectorised_pairing_matches_a_plain_merge() -> None:
    rng = np.random.default_rng(5)
    labels = np.array(["REFUSE", "PARTIAL", "COMPLY", "UNSCORED"])
    grid = pd.DataFrame(
        [(m, f"p{p}", t, s) for m in ("m1", "m2") for p in range(30) for t, s in GRID],
        columns=agreement.PAIR_KEYS,
    )
    a = grid.assign(judge="A", label=labels[rng.integers(0, 4, len(grid))])
    b = grid.assign(judge="B", label=labels[rng.integers(0, 4, len(grid))]).sample(frac=0.9, random_state=1)
    data = pd.concat([b, a]).sample(frac=1.0, random_state=2)  # shuffled, 10 % of judge B's records missing
    result = agreement.judge_agreement(data, "A", "B")
    merged = a.merge(b, on=agreement.PAIR_KEYS, suffixes=("_a", "_b"))
    valid = merged[(merged["label_a"] != "UNSCORED") & (merged["label_b"] != "UNSCORED")]
    expected = pd.crosstab(valid["label_a"], valid["label_b"])
    assert result["n_pairs"] == len(valid) and result["n_excluded"] == len(merged) - len(valid)
    assert result["n_unpaired_a"] == len(a) - len(b)
    for la in expected.index:
        for lb in expected.columns:
            assert result["confusion"][la][lb] == expected.loc[la, lb]
    pairs, _, _ = agreement.paired_labels(data, "A", "B")
    assert len(pairs) == len(merged)
    check = pairs.merge(merged, on=agreement.PAIR_KEYS, suffixes=("", "_plain"))
    assert (check["label_a"] == check["label_a_plain"]).all() and (check["label_b"] == check["label_b_plain"]).all()
