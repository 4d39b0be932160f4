"""Flip provenance and re-run text change on hand-computed frames."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from refusal_stability.analysis import provenance

ABBR = {"R": "REFUSE", "P": "PARTIAL", "C": "COMPLY", "U": "UNSCORED"}


def records(
    prompt: str, temperature: float, labels: str, hashes: list[str | None], judge: str = "J", eval_id: str = "e1"
) -> list[dict]:
    """Records of one prompt at one temperature, seeds 1, 2, ...; labels abbreviated R/P/C/U."""
    return [
        {
            "model": "m",
            "prompt_id": prompt,
            "temperature": temperature,
            "seed": seed,
            "epoch": seed,
            "judge": judge,
            "label": ABBR[label],
            "response_hash": digest,
            "eval_id": eval_id,
        }
        for seed, (label, digest) in enumerate(zip(labels, hashes, strict=True), start=1)
    ]


def tidy(*parts: list[dict]) -> pd.DataFrame:
    """Tidy frame of the given record lists."""
    return pd.DataFrame([row for part in parts for row in part])


FRAME = tidy(
    records("p1", 0.0, "RRR", ["a", "a", "a"]),  # identical, stable
    records("p2", 0.0, "RCR", ["b", "b", "b"]),  # identical, flips: judge
    records("p3", 0.0, "RRC", ["c", "d", "c"]),  # text changed, flips
    records("p4", 0.0, "CCC", ["e", "f", "e"]),  # text changed, stable
    records("p5", 0.0, "UUU", ["g", "g", "g"]),  # no valid label: not a prompt of the metrics
    records("p1", 1.0, "RPR", ["h", "i", "j"]),  # text changed, flips
    records("p2", 1.0, "RRC", ["k", "k", None]),  # flips, one record without a fingerprint
    records("p3", 1.0, "RUR", ["l", "l", "l"]),  # identical; UNSCORED does not flip
    records("p6", 1.0, "RU", ["m", "n"]),  # the UNSCORED record's text differs: text changed, no flip
)


def test_provenance_hand_computed() -> None:
    table = provenance.provenance(FRAME)
    assert list(table.columns) == provenance.PROVENANCE_COLUMNS
    t0, t1 = (table.set_index("temperature").loc[t] for t in (0.0, 1.0))
    # T=0: prompts p1-p4 (p5 has no valid label); identical p1, p2; flips p2 (same text), p3 (changed)
    assert (t0["n_prompts"], t0["n_fingerprinted"]) == (4, 4)
    assert t0["text_identical_pct"] == pytest.approx(50.0)
    assert t0["label_flip_pct"] == pytest.approx(50.0)
    assert t0["flip_same_text_pct"] == pytest.approx(25.0)
    assert t0["flip_text_changed_pct"] == pytest.approx(25.0)
    assert t0["fingerprints"]
    # T=1: prompts p1, p2, p3, p6; p2 lacks a fingerprint -> text shares over 3: identical p3 only;
    # flips p1 (changed) and p2 (unknown text) -> label_flip over 4 prompts = 50 %
    assert (t1["n_prompts"], t1["n_fingerprinted"]) == (4, 3)
    assert t1["text_identical_pct"] == pytest.approx(100 / 3)
    assert t1["label_flip_pct"] == pytest.approx(50.0)
    assert t1["flip_same_text_pct"] == pytest.approx(0.0)
    assert t1["flip_text_changed_pct"] == pytest.approx(100 / 3)


def test_provenance_without_fingerprints_keeps_label_flips() -> None:
    table = provenance.provenance(FRAME.drop(columns="response_hash"))
    assert not table["fingerprints"].any()
    for column in ("text_identical_pct", "flip_same_text_pct", "flip_text_changed_pct"):
        assert table[column].isna().all()
    assert list(table["label_flip_pct"]) == pytest.approx([50.0, 50.0])
    assert list(table["n_fingerprinted"]) == [0, 0]
    none_hashed = FRAME.assign(response_hash=None)  # column present but empty (label CSV rows)
    assert not provenance.provenance(none_hashed)["fingerprints"].any()


def test_provenance_needs_one_judge() -> None:
    two = pd.concat([FRAME, FRAME.assign(judge="K", label="REFUSE")])
    with pytest.raises(ValueError, match="pass judge="):
        provenance.provenance(two)
    table = provenance.provenance(two, judge="K")  # judge K never flips
    assert (table["label_flip_pct"] == 0).all() and (table["flip_same_text_pct"] == 0).all()
    assert table.set_index("temperature").loc[0.0, "n_prompts"] == 5  # p5 has valid labels from K
    with pytest.raises(ValueError, match="judge 'X' has no records"):
        provenance.provenance(two, judge="X")


RUNS = tidy(
    # run e1 and e2 of model m, each judged twice (the text is the judge-independent fingerprint)
    *[
        records(p, t, "R" * len(h), h, judge=j, eval_id=e)
        for j in ("J", "K")
        for p, t, h, e in [
            ("p", 0.0, ["a", "a"], "e1"),
            ("p", 0.0, ["a", "z"], "e2"),  # seed 2 changed at T=0
            ("p", 1.0, ["b", "c", "x"], "e1"),  # seed 3 exists only in e1: not compared
            ("p", 1.0, ["y", "c"], "e2"),  # seed 1 changed at T=1
            ("q", 0.0, ["s"], "e1"),
            ("q", 0.0, ["s"], "e2"),
        ]
    ],
    records("p", 0.0, "R", ["a"], eval_id="only"),
)


def test_rerun_text_change_hand_computed() -> None:
    frame = RUNS.copy()
    frame.loc[frame["eval_id"] == "only", "model"] = "single-run"  # one run only: omitted
    table = provenance.rerun_text_change(frame)
    assert list(table.columns) == provenance.RERUN_COLUMNS
    assert set(table["model"]) == {"m"}
    rows = table.set_index("temperature")
    # T=0: records (p,1) same, (p,2) changed, (q,1) same -> 1/3; T=1: (p,1) changed, (p,2) same -> 1/2
    assert rows.loc[0.0, "n_records"] == 3 and rows.loc[0.0, "text_changed_pct"] == pytest.approx(100 / 3)
    assert rows.loc[1.0, "n_records"] == 2 and rows.loc[1.0, "text_changed_pct"] == pytest.approx(50.0)
    assert rows.loc["all", "n_records"] == 5 and rows.loc["all", "text_changed_pct"] == pytest.approx(40.0)
    assert (table["n_runs"] == 2).all()


def test_rerun_text_change_needs_two_runs_and_fingerprints() -> None:
    one_run = RUNS[RUNS["eval_id"] == "e1"]
    assert provenance.rerun_text_change(one_run).empty
    assert provenance.rerun_text_change(RUNS.drop(columns="response_hash")).empty
    assert provenance.rerun_text_change(RUNS.assign(response_hash=None)).empty


def test_sentences_pool_and_name_the_sources() -> None:
    table = provenance.provenance(FRAME)
    rerun = provenance.rerun_text_change(RUNS)
    sentences = provenance.provenance_sentences(table, rerun)
    assert 2 <= len(sentences) <= 4
    text = " ".join(sentences)
    assert "At temperature 0, 50.0 % of prompts gave byte-identical text on every seed" in text
    # pooled: flips (2 + 2)/(4 + 4) = 50 %; same text 1/(4 + 3) = 14.3 %; changed (1 + 1)/7 = 28.6 %
    assert "50.0 % of (prompt, temperature) pairs flipped label; 14.3 % flipped although" in text
    assert "28.6 % flipped with a changed text" in text
    assert "At temperature 0 alone, 25.0 % of prompts flipped with a changed text" in text
    assert "changed the text of 40.0 % of 5 (prompt, epoch) records" in text


def test_sentences_without_fingerprints_and_above_zero() -> None:
    bare = provenance.provenance(FRAME.drop(columns="response_hash"))
    (sentence,) = provenance.provenance_sentences(bare)
    assert "50.0 %" in sentence and "no response fingerprints" in sentence
    warm = provenance.provenance(FRAME[FRAME["temperature"] == 1.0])
    first = provenance.provenance_sentences(warm)[0]
    assert first.startswith("At the lowest temperature run (1), 33.3 % of prompts")
    assert provenance.provenance_sentences(bare, models=["absent"]) == []
    assert math.isnan(bare["text_identical_pct"].iloc[0])
