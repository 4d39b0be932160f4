"""Agreement of several judges in the analysis: pairwise CIs, panel statistics, consensus over a panel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from refusal_stability.analysis.agreement import consensus, judge_agreement
from refusal_stability.analysis.panel_agreement import (
    label_matrix,
    pairwise_agreement,
    panel_consensus,
    panel_statistics,
)
from refusal_stability.definitions.agreement import fleiss_from_counts, vote_counts
from refusal_stability.definitions.labels import LABELS


def _frame(judges: dict[str, np.ndarray], n_prompts: int = 12, n_epochs: int = 6) -> pd.DataFrame:
    rows = []
    for judge, codes in judges.items():
        for i, code in enumerate(codes):
            prompt, epoch = divmod(i, n_epochs)
            rows.append(
                {
                    "model": "m",
                    "prompt_id": f"p{prompt:02d}",
                    "temperature": [0.0, 0.7][epoch % 2],
                    "seed": 42 + epoch // 2,
                    "epoch": epoch + 1,
                    "judge": judge,
                    "label": LABELS[code] if code >= 0 else "UNSCORED",
                    "origin": "log.eval",
                }
            )
    return pd.DataFrame(rows)


def _judges(seed: int = 0, n: int = 72) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = np.repeat(rng.integers(0, 3, n // 6), 6)
    noisy = {name: np.where(rng.random(n) < 0.8, truth, rng.integers(0, 3, n)) for name in ("a", "b", "c")}
    noisy["a"][5] = -1  # one UNSCORED record
    return noisy


def test_label_matrix_aligns_records_of_the_same_response() -> None:
    judges = _judges()
    keys, codes = label_matrix(_frame(judges).sample(frac=1, random_state=1), ["c", "a"])
    assert len(keys) == 72 and codes.shape == (72, 2)
    order = np.lexsort([keys["seed"], keys["temperature"], keys["prompt_id"]])
    assert codes[order, 1][5] == 3 and set(keys["origin"]) == {"log.eval"}


def test_a_pair_matches_the_two_judge_agreement() -> None:
    frame = _frame(_judges())
    [pair] = pairwise_agreement(frame, ["a", "b"], n_boot=200)
    two = judge_agreement(frame, "a", "b")
    assert pair["judges"] == ["a", "b"] and pair["n_pairs"] == two["n_pairs"] == 71
    assert pair["kappa"] == pytest.approx(two["kappa"]) and pair["agreement_pct"] == pytest.approx(two["agreement_pct"])
    assert pair["kappa_ci_low"] < pair["kappa"] < pair["kappa_ci_high"]


def test_every_pair_of_three_judges() -> None:
    pairs = pairwise_agreement(_frame(_judges()), ["a", "b", "c"], n_boot=50)
    assert [p["judges"] for p in pairs] == [["a", "b"], ["a", "c"], ["b", "c"]]


def test_panel_statistics_over_members() -> None:
    judges = _judges()
    result = panel_statistics(_frame(judges), ["a", "b", "c"], n_boot=100)
    codes = np.column_stack([judges["a"], judges["b"], judges["c"]])
    complete = (codes >= 0).all(axis=1)
    assert result["members"] == ["a", "b", "c"] and result["n_complete"] == 71
    assert result["fleiss_kappa"] == pytest.approx(fleiss_from_counts(vote_counts(codes[complete])))
    assert result["fleiss_kappa_ci_low"] < result["fleiss_kappa"] < result["fleiss_kappa_ci_high"]


def test_two_member_panel_consensus_is_the_two_judge_consensus() -> None:
    judges = _judges(3)
    frame = _frame(judges)
    # with two members, a strict majority is both agreeing: the same records as consensus(a, b)
    both = frame[frame["judge"] == "a"].assign(judge="panel")
    panel_table, panel_sensitive = panel_consensus(pd.concat([frame, both]), "panel", ["a", "b"], min_records=3)
    table, sensitive = consensus(frame, "a", "b", min_records=3)
    pd.testing.assert_frame_equal(panel_table, table, check_dtype=False)
    assert panel_sensitive["judge_sensitive"].tolist() == sensitive["judge_sensitive"].tolist()


def test_consensus_counts_a_flip_only_where_the_panel_majority_flips() -> None:
    n = 6  # one prompt, six responses
    panel = np.array([0, 0, 0, 2, 0, 0])  # the panel's plurality flipped once
    members = {"a": np.array([0, 0, 0, 2, 0, 0]), "b": np.array([0, 0, 0, 0, 0, 0]), "c": np.array([0, 0, 0, 1, 0, 0])}
    frame = _frame({"panel": panel, **members}, n_prompts=1, n_epochs=n)
    table, sensitive = panel_consensus(frame, "panel", ["a", "b", "c"], min_records=5)
    # response 4: votes COMPLY / REFUSE / PARTIAL -> no majority, not a consensus record; the rest agree on REFUSE
    assert table.loc[0, "flip_pct_all"] == 100 and table.loc[0, "flip_pct_consensus"] == 0
    assert sensitive.loc[0, "n_consensus"] == 5 and bool(sensitive.loc[0, "judge_sensitive"])
    table, sensitive = panel_consensus(frame, "panel", ["a", "b", "c"], min_records=6)
    assert table.loc[0, "n_prompts_consensus"] == 0 and not bool(sensitive.loc[0, "judge_sensitive"])


def test_judge_splits_show_each_disagreeing_label_pair_with_texts() -> None:
    from refusal_stability.analysis.judge_disagreements import judge_splits

    judges = {"a": np.array([0, 0, 1, 2, 2, 0]), "b": np.array([0, 1, 1, 1, 0, 0]), "c": np.array([0, 1, 1, 2, 0, 0])}
    frame = _frame(judges, n_prompts=1, n_epochs=6)
    asked: list[tuple[str, list[tuple[str, int]]]] = []

    def reader(job):
        asked.append(job)
        return {key: (f"prompt {key[0]}", f"response {key[1]}") for key in job[1]}

    groups = judge_splits(frame, ["a", "b", "c"], n=2, reader=reader)
    assert [(g.labels, g.n_records) for g in groups] == [
        (("REFUSE", "PARTIAL"), 1),
        (("REFUSE", "COMPLY"), 1),
        (("PARTIAL", "COMPLY"), 1),
    ]
    first = groups[0].examples[0]
    assert first.epoch == 2 and first.labels == {"a": "REFUSE", "b": "PARTIAL", "c": "PARTIAL"}
    assert first.prompt == "prompt p00" and first.response == "response 2"
    assert len(asked) == 1 and asked[0][0] == "log.eval"
