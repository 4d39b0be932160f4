"""The analysis of what reached the model: per-run summaries, partial runs, records as draws, prompt texts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from refusal_stability.analysis.prompt_texts import check_prompt_texts
from refusal_stability.analysis.sent_sampling import (
    check_partial,
    describe_run,
    records_as_sent,
    sent_summary,
    text_change_source,
)
from refusal_stability.analysis.tidy import AnalysisInputError

GRID = [(0.0, 1), (0.0, 2), (1.0, 1), (1.0, 2)]


def records(model: str, sent: list[tuple[float | None, int | None]] | None, prompts=("a", "b")) -> pd.DataFrame:
    """Tidy-like rows of one run over the 2 x 2 grid; ``sent`` per epoch (None: unverified)."""
    rows = []
    for prompt in prompts:
        for epoch, (t, s) in enumerate(GRID, start=1):
            st, ss = sent[epoch - 1] if sent else (None, None)
            rows.append(
                {
                    "model": model,
                    "origin": f"{model}.eval",
                    "judge": "heuristic",
                    "scorer": "refusal_judge",
                    "prompt_id": prompt,
                    "epoch": epoch,
                    "temperature": t,
                    "seed": s,
                    "label": "REFUSE" if epoch % 2 else "COMPLY",
                    "sent_temperature": st,
                    "sent_seed": ss,
                    "sent_top_p": None,
                    "sent_verified": sent is not None,
                }
            )
    frame = pd.DataFrame(rows)
    frame["seed"] = frame["seed"].astype("Int64")
    return frame


def test_summaries_per_run():
    frame = pd.concat(
        [
            records("anthropic", [(None, None)] * 4),
            records("openai", GRID),
            records("mock", None),
            records("mixed", [(0.0, 1), (0.0, 2), (None, None), (None, None)]),
        ]
    )
    summary = sent_summary(frame).set_index("model")
    assert summary.loc["anthropic"].tolist() == ["none", "none", "none"]
    assert summary.loc["openai"].tolist() == ["all", "all", "none"]
    assert summary.loc["mock"].tolist() == ["unverified"] * 3
    assert summary.loc["mixed", "temperature_sent"] == "partial"


def test_partial_run_is_an_error_naming_the_log_and_epochs_unless_allowed():
    frame = records("mixed", [(0.0, 1), (0.0, 2), (None, None), (None, None)])
    summary = sent_summary(frame)
    with pytest.raises(AnalysisInputError) as error:
        check_partial(frame, summary)
    message = str(error.value)
    assert "mixed.eval" in message and "sent in epochs 1, 2" in message and "not sent in epochs 3, 4" in message
    assert "--allow-partial-sampling" in message
    notes = check_partial(frame, summary, allow_partial=True)
    assert len(notes) == 2 and all("analysed as given" in note for note in notes)  # temperature and seed


def test_records_as_sent_empty_temperature_and_draw_numbers():
    frame = pd.concat([records("anthropic", [(None, None)] * 4), records("openai", GRID)], ignore_index=True)
    out = records_as_sent(frame, sent_summary(frame))
    anthropic, openai = out[out["model"] == "anthropic"], out[out["model"] == "openai"]
    assert anthropic["temperature"].isna().all()
    assert sorted(anthropic[anthropic["prompt_id"] == "a"]["seed"].tolist()) == [1, 2, 3, 4]  # draws
    assert openai["temperature"].tolist() == frame[frame["model"] == "openai"]["temperature"].tolist()
    assert openai["seed"].tolist() == frame[frame["model"] == "openai"]["seed"].tolist()
    assert not out.duplicated(["model", "prompt_id", "temperature", "seed"]).any()


def test_seed_not_sent_keeps_temperature_and_numbers_draws_within_it():
    frame = records("responses", [(0.0, None), (0.0, None), (1.0, None), (1.0, None)])
    out = records_as_sent(frame, sent_summary(frame))
    assert out["temperature"].tolist() == frame["temperature"].tolist()
    assert out[out["prompt_id"] == "a"]["seed"].tolist() == [1, 2, 1, 2]


def test_describe_and_provenance_source():
    summary = pd.DataFrame(
        [
            {"model": "anthropic", "temperature_sent": "none", "seed_sent": "none", "top_p_sent": "none"},
            {"model": "openai", "temperature_sent": "all", "seed_sent": "all", "top_p_sent": "none"},
        ]
    )
    first = describe_run(summary.iloc[0], n_draws=20)
    assert "no temperature sent (provider default)" in first and "20 draws per prompt" in first
    assert "temperature sent; seed sent" in describe_run(summary.iloc[1])
    provenance = pd.DataFrame({"model": ["anthropic", "openai", "openai"], "temperature": [math.nan, 0.0, 1.0]})
    assert text_change_source(provenance, summary).tolist() == ["provider or sampling", "engine", "sampling"]


def test_runs_with_different_texts_under_shared_ids_are_not_compared_silently():
    comparisons = pd.DataFrame({"a": ["m1", "m1"], "b": ["m2", "m2"], "metric": ["mean_ssi", "flip_pct"]})
    prompts = pd.DataFrame(
        {
            "model": ["m1", "m1", "m2", "m2"],
            "prompt_id": ["p1", "p2", "p1", "p2"],
            "prompt_sha256": ["aaa", "bbb", "aaa", "ccc"],
        }
    )
    logs = {"m1": "one.eval", "m2": "two.eval"}
    with pytest.raises(AnalysisInputError, match=r"one\.eval.*two\.eval.*'p2'.*--allow-different-prompts"):
        check_prompt_texts(comparisons, prompts, logs)
    out = check_prompt_texts(comparisons, prompts, logs, allow=True)
    assert out["prompt_texts_differ"].tolist() == [1, 1]
    same = prompts.assign(prompt_sha256=["aaa", "bbb", "aaa", "bbb"])
    assert check_prompt_texts(comparisons, same, logs)["prompt_texts_differ"].tolist() == [0, 0]
    assert np.array_equal(check_prompt_texts(comparisons, None, logs)["prompt_texts_differ"], [0, 0])


def test_sent_summary_agrees_with_the_per_epoch_definition_on_random_runs() -> None:
    from refusal_stability.definitions.sent_sampling import summarise_sent

    rng = np.random.default_rng(7)
    choices: list[object] = [None, float("nan"), 0.5, 1]
    flags: list[object] = [True, False, None, 1, 0]
    for _ in range(200):
        n = int(rng.integers(1, 6))
        values = [choices[i] for i in rng.integers(0, len(choices), n)]
        verified = [flags[i] for i in rng.integers(0, len(flags), n)]
        frame = pd.DataFrame(
            {
                "model": "m",
                "origin": "m.eval",
                "prompt_id": "a",
                "epoch": range(1, n + 1),
                "sent_temperature": pd.Series(values, dtype=object),
                "sent_seed": None,
                "sent_top_p": None,
                "sent_verified": pd.Series(verified, dtype=object),
            }
        )
        row = sent_summary(frame).iloc[0]
        assert row["temperature_sent"] == summarise_sent(values, verified), (values, verified)
        assert row["seed_sent"] == summarise_sent([None] * n, verified)
